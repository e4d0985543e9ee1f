// The 29 candidate features (see candidate_features.hpp for the order).
//
// The paper extracts them with SimpleCV and PIL on colour ImageNet photos; Fashion-MNIST is
// 28x28 grayscale. Definitions here:
// - n_keypoints, aspect_ratio, area_by_perim, intensity1, edge_length1, contrast,
//   avg_perceived_brightness: compute_features() (features.cpp), unchanged.
// - brightness_rms: root mean square of the gray levels (PIL ImageStat rms of the "L"
//   image); avg_brightness: their mean (PIL's mean of "L").
// - perceived_brightness_rms: sqrt(0.241 R_rms^2 + 0.691 G_rms^2 + 0.068 B_rms^2) over the
//   channels' rms. On gray input R = G = B and the weights sum to 1, so it equals
//   brightness_rms exactly, and avg_brightness equals avg_perceived_brightness exactly:
//   two candidate pairs carry one value each on this data (the paper drops the same
//   features for correlations of 0.98 and 0.91).
// - intensity1..7 replace hue1..7 (no hue on grayscale): the 7 equal bins over 0..255 of
//   the gray-level histogram, as fractions of the pixels; intensity1 is features.cpp's.
// - edge_length1..7: the 7-bin histogram whose first bin is features.cpp's edge_length1
//   (Canny 50/150 edge contours, lengths by arcLength, bins of 2(w+h)/7 px, longer
//   contours in the last bin), as fractions of the contours; no edges: all 0.
// - edge_angle1..7 replace SimpleCV's histogram of Hough-line angles (findLines), which
//   finds few or no lines on 28x28 images: the orientation of the edge (the gradient
//   direction + 90 degrees, folded to [0, 180)) at each Canny edge pixel, from 3x3 Sobel
//   derivatives, in 7 equal bins, as fractions of the edge pixels; no edges: all 0.
#include "candidate_features.hpp"

#include "features.hpp"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace tierd::preclass {

const char *const kCandidateNames[kCandidateCount] = {"n_keypoints",
                                                      "brightness_rms",
                                                      "perceived_brightness_rms",
                                                      "edge_length1",
                                                      "edge_length2",
                                                      "edge_length3",
                                                      "edge_length4",
                                                      "edge_length5",
                                                      "edge_length6",
                                                      "edge_length7",
                                                      "area_by_perim",
                                                      "intensity1",
                                                      "intensity2",
                                                      "intensity3",
                                                      "intensity4",
                                                      "intensity5",
                                                      "intensity6",
                                                      "intensity7",
                                                      "avg_brightness",
                                                      "avg_perceived_brightness",
                                                      "contrast",
                                                      "edge_angle1",
                                                      "edge_angle2",
                                                      "edge_angle3",
                                                      "edge_angle4",
                                                      "edge_angle5",
                                                      "edge_angle6",
                                                      "edge_angle7",
                                                      "aspect_ratio"};

namespace {

// Must match features.cpp (tests/preclass checks that the shared bins agree).
constexpr double kCannyLow = 50.0;
constexpr double kCannyHigh = 150.0;
constexpr double kPi = 3.14159265358979323846;

enum : std::size_t {
    kKeypoints = 0,
    kBrightnessRms = 1,
    kPerceivedBrightnessRms = 2,
    kEdgeLength = 3, // 7 bins
    kAreaByPerim = 10,
    kIntensity = 11, // 7 bins
    kAvgBrightness = 18,
    kAvgPerceivedBrightness = 19,
    kContrast = 20,
    kEdgeAngle = 21, // 7 bins
    kAspectRatio = 28
};
static_assert(kAspectRatio + 1 == kCandidateCount);

double rms(const cv::Mat &channel) {
    double sum = 0.0;
    for (int y = 0; y < channel.rows; ++y) {
        const auto *row = channel.ptr<unsigned char>(y);
        for (int x = 0; x < channel.cols; ++x)
            sum += static_cast<double>(row[x]) * row[x];
    }
    return std::sqrt(sum / static_cast<double>(channel.total()));
}

void intensity_histogram(const cv::Mat &gray, float *out) {
    cv::Mat hist;
    const int channels[] = {0};
    const int bins[] = {kHistBins};
    const float range[] = {0.0f, 256.0f};
    const float *ranges[] = {range};
    cv::calcHist(&gray, 1, channels, cv::Mat(), hist, 1, bins, ranges);
    for (int b = 0; b < kHistBins; ++b)
        out[b] = static_cast<float>(static_cast<double>(hist.at<float>(b)) /
                                    static_cast<double>(gray.total()));
}

void edge_histograms(const cv::Mat &gray, float *lengths, float *angles) {
    std::fill(lengths, lengths + kHistBins, 0.0f);
    std::fill(angles, angles + kHistBins, 0.0f);
    cv::Mat edges;
    cv::Canny(gray, edges, kCannyLow, kCannyHigh);

    cv::Mat dx, dy;
    cv::Sobel(gray, dx, CV_32F, 1, 0, 3);
    cv::Sobel(gray, dy, CV_32F, 0, 1, 3);
    std::size_t pixels = 0;
    std::array<std::size_t, kHistBins> angle_count{};
    for (int y = 0; y < edges.rows; ++y)
        for (int x = 0; x < edges.cols; ++x) {
            if (edges.at<unsigned char>(y, x) == 0)
                continue;
            const double gradient =
                std::atan2(static_cast<double>(dy.at<float>(y, x)), dx.at<float>(y, x));
            double edge_deg = std::fmod(gradient * 180.0 / kPi + 90.0 + 360.0, 180.0);
            const int b = std::min(kHistBins - 1, static_cast<int>(edge_deg * kHistBins / 180.0));
            ++angle_count[static_cast<std::size_t>(b)];
            ++pixels;
        }
    for (int b = 0; b < kHistBins && pixels > 0; ++b)
        angles[b] =
            static_cast<float>(static_cast<double>(angle_count[static_cast<std::size_t>(b)]) /
                               static_cast<double>(pixels));

    std::vector<std::vector<cv::Point>> contours;
    cv::findContours(edges, contours, cv::RETR_LIST, cv::CHAIN_APPROX_NONE);
    if (contours.empty())
        return;
    const double bin_width = 2.0 * (gray.cols + gray.rows) / kHistBins;
    std::array<std::size_t, kHistBins> length_count{};
    for (const auto &c : contours) {
        const double len = cv::arcLength(c, true);
        int b = 0; // the same comparison as features.cpp's first bin: len < bin_width
        while (b < kHistBins - 1 && len >= (b + 1) * bin_width)
            ++b;
        ++length_count[static_cast<std::size_t>(b)];
    }
    for (int b = 0; b < kHistBins; ++b)
        lengths[b] =
            static_cast<float>(static_cast<double>(length_count[static_cast<std::size_t>(b)]) /
                               static_cast<double>(contours.size()));
}

} // namespace

CandidateFeatures compute_candidates(const cv::Mat &image) {
    if (image.empty())
        throw std::invalid_argument("compute_candidates: empty image");
    cv::Mat gray;
    std::array<double, 3> channel_rms{}; // B, G, R
    switch (image.type()) {
    case CV_8UC1:
        gray = image;
        channel_rms.fill(rms(gray));
        break;
    case CV_8UC3: {
        cv::cvtColor(image, gray, cv::COLOR_BGR2GRAY);
        std::vector<cv::Mat> planes;
        cv::split(image, planes);
        for (std::size_t c = 0; c < 3; ++c)
            channel_rms[c] = rms(planes[c]);
        break;
    }
    default: throw std::invalid_argument("compute_candidates: need an 8-bit 1- or 3-channel image");
    }

    const Features paper = compute_features(image);
    CandidateFeatures f{};
    f[kKeypoints] = paper[0];
    f[kAspectRatio] = paper[1];
    f[kAreaByPerim] = paper[2];
    f[kContrast] = paper[5];
    f[kAvgPerceivedBrightness] = paper[6];
    f[kBrightnessRms] = static_cast<float>(rms(gray));
    const double b = channel_rms[0], g = channel_rms[1], r = channel_rms[2];
    f[kPerceivedBrightnessRms] =
        static_cast<float>(std::sqrt(0.241 * r * r + 0.691 * g * g + 0.068 * b * b));
    f[kAvgBrightness] = static_cast<float>(cv::mean(gray)[0]);
    intensity_histogram(gray, &f[kIntensity]);
    edge_histograms(gray, &f[kEdgeLength], &f[kEdgeAngle]);
    // The shared first bins come from features.cpp itself.
    f[kIntensity] = paper[3];
    f[kEdgeLength] = paper[4];
    return f;
}

std::size_t candidate_index(const std::string &name) {
    for (std::size_t i = 0; i < kCandidateCount; ++i)
        if (name == kCandidateNames[i])
            return i;
    throw std::out_of_range("not a candidate feature: " + name);
}

cv::Mat pearson_matrix(const cv::Mat &x) {
    cv::Mat x64;
    x.convertTo(x64, CV_64F);
    cv::Mat cov, mean;
    cv::calcCovarMatrix(x64, cov, mean, cv::COVAR_NORMAL | cv::COVAR_ROWS, CV_64F);
    cv::Mat r(cov.size(), CV_64F);
    for (int i = 0; i < cov.rows; ++i)
        for (int j = 0; j < cov.cols; ++j) {
            const double d = std::sqrt(cov.at<double>(i, i) * cov.at<double>(j, j));
            r.at<double>(i, j) = i == j ? 1.0 : d > 0 ? cov.at<double>(i, j) / d : 0.0;
        }
    return r;
}

CorrelationFilter correlation_filter(const cv::Mat &r, double limit,
                                     const std::vector<bool> &prefer) {
    const int n = r.rows;
    std::vector<bool> alive(static_cast<std::size_t>(n), true);
    auto preferred = [&](int i) {
        return static_cast<std::size_t>(i) < prefer.size() && prefer[static_cast<std::size_t>(i)];
    };
    auto mean_abs = [&](int i) {
        double s = 0;
        int m = 0;
        for (int j = 0; j < n; ++j)
            if (j != i && alive[static_cast<std::size_t>(j)]) {
                s += std::abs(r.at<double>(i, j));
                ++m;
            }
        return m > 0 ? s / m : 0.0;
    };
    CorrelationFilter out;
    for (;;) {
        int bi = -1, bj = -1;
        double best = limit;
        for (int i = 0; i < n; ++i)
            for (int j = i + 1; j < n; ++j)
                if (alive[static_cast<std::size_t>(i)] && alive[static_cast<std::size_t>(j)] &&
                    std::abs(r.at<double>(i, j)) > best) {
                    best = std::abs(r.at<double>(i, j));
                    bi = i;
                    bj = j;
                }
        if (bi < 0)
            break;
        const double mi = mean_abs(bi), mj = mean_abs(bj);
        int drop = bj; // the later column, all else equal
        if (mi > mj)
            drop = bi;
        else if (mi == mj && preferred(bj) && !preferred(bi))
            drop = bi;
        const int keep = drop == bi ? bj : bi;
        alive[static_cast<std::size_t>(drop)] = false;
        out.dropped.push_back(
            {static_cast<std::size_t>(drop), static_cast<std::size_t>(keep), r.at<double>(bi, bj)});
    }
    for (int i = 0; i < n; ++i)
        if (alive[static_cast<std::size_t>(i)])
            out.kept.push_back(static_cast<std::size_t>(i));
    return out;
}

std::vector<double> chi_square(const cv::Mat &x, const std::vector<int> &y, int bins) {
    if (x.rows != static_cast<int>(y.size()) || bins < 2)
        throw std::invalid_argument("chi_square: one label per row and >= 2 bins");
    cv::Mat x64;
    x.convertTo(x64, CV_64F);
    std::vector<double> out;
    const double n = static_cast<double>(x.rows);
    for (int j = 0; j < x64.cols; ++j) {
        double lo = 0, hi = 0;
        cv::minMaxLoc(x64.col(j), &lo, &hi);
        if (!(hi > lo)) {
            out.push_back(0.0);
            continue;
        }
        std::vector<double> count(static_cast<std::size_t>(bins) * 2, 0.0);
        for (int i = 0; i < x64.rows; ++i) {
            const double v = (x64.at<double>(i, j) - lo) / (hi - lo);
            const int b = std::min(bins - 1, static_cast<int>(v * bins));
            count[static_cast<std::size_t>(b * 2 + (y[static_cast<std::size_t>(i)] ? 1 : 0))] +=
                1.0;
        }
        double col[2] = {0, 0};
        for (int b = 0; b < bins; ++b)
            for (int c = 0; c < 2; ++c)
                col[c] += count[static_cast<std::size_t>(b * 2 + c)];
        double chi = 0;
        for (int b = 0; b < bins; ++b) {
            const double row =
                count[static_cast<std::size_t>(b * 2)] + count[static_cast<std::size_t>(b * 2 + 1)];
            for (int c = 0; c < 2; ++c) {
                const double e = row * col[c] / n;
                if (e > 0) {
                    const double d = count[static_cast<std::size_t>(b * 2 + c)] - e;
                    chi += d * d / e;
                }
            }
        }
        out.push_back(chi);
    }
    return out;
}

} // namespace tierd::preclass
