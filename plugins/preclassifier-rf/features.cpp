// The 7 image-complexity features (see features.hpp for the list).
//
// Choices this implementation makes where the paper is silent or does not apply:
// - n_keypoints: the paper counts keypoints of a detector; Debian's small OpenCV
//   packages here ship no features2d headers (no FAST/ORB), so we count Shi-Tomasi
//   corners from imgproc (cv::goodFeaturesToTrack: no limit on the count, quality level
//   0.01, minimum distance 1 px, 3x3 block). A flat image has none.
// - main object: the largest external contour (by cv::contourArea) of the Otsu-binarised
//   gray image, foreground = brighter than the threshold (Fashion-MNIST objects are bright
//   on black). aspect_ratio = bounding-box width / height; area_by_perim = contourArea /
//   arcLength(closed). Contours run through pixel centres, so a filled w x h rectangle
//   gives area (w-1)(h-1) and perimeter 2((w-1)+(h-1)). No contour: both are 0.
// - intensity1 replaces the paper's hue1: on grayscale input there is no hue, so we take
//   the first of 7 equal bins over 0..255 of the INTENSITY histogram, normalised to a
//   fraction of the pixels (the share of near-black pixels, gray level < 256/7). Colour
//   input uses the same intensity histogram of its gray version, so a model trained on
//   gray images sees the same feature.
// - edge_length1: edges by cv::Canny (thresholds 50/150, 3x3 Sobel), their contours by
//   cv::findContours (all contours, no approximation), each contour's length by
//   arcLength(closed); a 7-bin histogram over [0, 2*(width+height)) (the image's own
//   perimeter; longer contours fall in the last bin), normalised to a fraction of the
//   contours. No edges: 0.
// - contrast: standard deviation of the gray levels (population, as cv::meanStdDev).
// - avg_perceived_brightness: the mean over pixels of sqrt(0.241 R^2 + 0.691 G^2 +
//   0.068 B^2) (the "HSP" perceived brightness); for gray input R = G = B, so it is the
//   mean gray level.
#include "features.hpp"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

namespace tierd::preclass {
namespace {

constexpr double kCannyLow = 50.0;
constexpr double kCannyHigh = 150.0;
constexpr double kCornerQuality = 0.01;
constexpr double kCornerMinDistance = 1.0;
constexpr int kCornerBlockSize = 3;

float count_keypoints(const cv::Mat &gray) {
    std::vector<cv::Point2f> corners;
    cv::goodFeaturesToTrack(gray, corners, 0, kCornerQuality, kCornerMinDistance, cv::noArray(),
                            kCornerBlockSize);
    return static_cast<float>(corners.size());
}

void main_object(const cv::Mat &gray, float &aspect_ratio, float &area_by_perim) {
    aspect_ratio = 0.0f;
    area_by_perim = 0.0f;
    cv::Mat binary;
    cv::threshold(gray, binary, 0.0, 255.0, cv::THRESH_BINARY | cv::THRESH_OTSU);
    std::vector<std::vector<cv::Point>> contours;
    cv::findContours(binary, contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_NONE);
    if (contours.empty())
        return;
    std::size_t best = 0;
    double best_area = -1.0;
    for (std::size_t i = 0; i < contours.size(); ++i) {
        const double a = cv::contourArea(contours[i]);
        if (a > best_area) {
            best_area = a;
            best = i;
        }
    }
    const cv::Rect box = cv::boundingRect(contours[best]);
    aspect_ratio = static_cast<float>(box.width) / static_cast<float>(box.height);
    const double perimeter = cv::arcLength(contours[best], true);
    if (perimeter > 0.0)
        area_by_perim = static_cast<float>(best_area / perimeter);
}

float intensity_bin1(const cv::Mat &gray) {
    cv::Mat hist;
    const int channels[] = {0};
    const int bins[] = {kHistBins};
    const float range[] = {0.0f, 256.0f};
    const float *ranges[] = {range};
    cv::calcHist(&gray, 1, channels, cv::Mat(), hist, 1, bins, ranges);
    return static_cast<float>(static_cast<double>(hist.at<float>(0)) /
                              static_cast<double>(gray.total()));
}

float edge_length_bin1(const cv::Mat &gray) {
    cv::Mat edges;
    cv::Canny(gray, edges, kCannyLow, kCannyHigh);
    std::vector<std::vector<cv::Point>> contours;
    cv::findContours(edges, contours, cv::RETR_LIST, cv::CHAIN_APPROX_NONE);
    if (contours.empty())
        return 0.0f;
    const double upper = 2.0 * (gray.cols + gray.rows);
    const double bin_width = upper / kHistBins;
    std::size_t first = 0;
    for (const auto &c : contours)
        if (cv::arcLength(c, true) < bin_width)
            ++first;
    return static_cast<float>(static_cast<double>(first) / static_cast<double>(contours.size()));
}

double perceived_brightness(const cv::Mat &bgr) {
    double sum = 0.0;
    for (int y = 0; y < bgr.rows; ++y) {
        const auto *row = bgr.ptr<cv::Vec3b>(y);
        for (int x = 0; x < bgr.cols; ++x) {
            const double b = row[x][0], g = row[x][1], r = row[x][2];
            sum += std::sqrt(0.241 * r * r + 0.691 * g * g + 0.068 * b * b);
        }
    }
    return sum / static_cast<double>(bgr.total());
}

} // namespace

Features compute_features(const cv::Mat &image) {
    if (image.empty())
        throw std::invalid_argument("compute_features: empty image");
    cv::Mat gray, bgr;
    switch (image.type()) {
    case CV_8UC1: gray = image; break;
    case CV_8UC3:
        bgr = image;
        cv::cvtColor(image, gray, cv::COLOR_BGR2GRAY);
        break;
    case CV_8UC4:
        cv::cvtColor(image, bgr, cv::COLOR_BGRA2BGR);
        cv::cvtColor(image, gray, cv::COLOR_BGRA2GRAY);
        break;
    default:
        throw std::invalid_argument("compute_features: need an 8-bit 1-, 3- or 4-channel image");
    }

    Features f{};
    f[0] = count_keypoints(gray);
    main_object(gray, f[1], f[2]);
    f[3] = intensity_bin1(gray);
    f[4] = edge_length_bin1(gray);
    cv::Scalar mean, stddev;
    cv::meanStdDev(gray, mean, stddev);
    f[5] = static_cast<float>(stddev[0]);
    f[6] = static_cast<float>(bgr.empty() ? mean[0] : perceived_brightness(bgr));
    return f;
}

Features compute_features_rgb(const cv::Mat &rgb) {
    if (rgb.type() != CV_8UC3)
        throw std::invalid_argument("compute_features_rgb: need an 8-bit 3-channel image");
    cv::Mat bgr;
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
    return compute_features(bgr);
}

} // namespace tierd::preclass
