#include "tools/drift/image_shifts.hpp"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>

namespace tierd::drift {

namespace {

// The per-severity tables, index 0 = severity 1. Why these values: docs/drift.md,
// "Severities". Photometric shifts follow CIFAR-10-C / ImageNet-C (Hendrycks & Dietterich,
// ICLR'19), whose CIFAR values suit 28x28 images; the geometric ones are ours (those
// benchmarks have no rotation/scale/occlusion), as non-overlapping bands so that every
// image at severity k+1 is shifted more than any at severity k.
// Standard deviation of the noise, as a fraction of the 8-bit range (x 255 = levels).
constexpr std::array<double, 5> kNoiseSigma = {0.04, 0.08, 0.12, 0.18, 0.26};
constexpr std::array<double, 5> kBlurSigmaPx = {0.5, 0.75, 1.0, 1.25, 1.5};
constexpr std::array<double, 5> kContrastFactor = {0.75, 0.5, 0.4, 0.3, 0.15};
// Added to every pixel, as a fraction of the 8-bit range (x 255 = levels).
constexpr std::array<double, 5> kBrightnessOffset = {0.1, 0.2, 0.3, 0.4, 0.5};
constexpr std::array<int, 5> kJpegQuality = {40, 25, 15, 10, 7};

struct Band {
    double min, max;
};
constexpr std::array<Band, 5> kRotationDeg = {Band{5, 10}, Band{10, 20}, Band{20, 30}, Band{30, 45},
                                              Band{45, 60}};
// Zoom factor; half the images are shrunk by its inverse instead.
constexpr std::array<Band, 5> kScaleFactor = {Band{1.05, 1.1}, Band{1.1, 1.2}, Band{1.2, 1.3},
                                              Band{1.3, 1.45}, Band{1.45, 1.6}};
// Fraction of the image's area the rectangle covers.
constexpr std::array<Band, 5> kOcclusionArea = {
    Band{0.04, 0.08}, Band{0.08, 0.12}, Band{0.12, 0.18}, Band{0.18, 0.25}, Band{0.25, 0.35}};
constexpr Band kOcclusionAspect = {0.5, 2.0}; // width / height

std::size_t level(int severity) {
    if (severity < kMinSeverity || severity > kMaxSeverity)
        throw std::invalid_argument("severity " + std::to_string(severity) + " is not 1..5");
    return static_cast<std::size_t>(severity - 1);
}

uint8_t to_u8(double value) {
    // Round half up, saturate: the same on every IEEE machine (no rounding-mode state).
    const double rounded = std::floor(value + 0.5);
    return static_cast<uint8_t>(std::clamp(rounded, 0.0, 255.0));
}

void add_gaussian_noise(cv::Mat &image, double sigma, SeededRandom &random) {
    for (int y = 0; y < image.rows; ++y) {
        auto *row = image.ptr<uint8_t>(y);
        for (int x = 0; x < image.cols; ++x)
            row[x] = to_u8(row[x] + sigma * random.approx_normal());
    }
}

void gaussian_blur(cv::Mat &image, double sigma_px) {
    const int radius = static_cast<int>(std::ceil(3 * sigma_px));
    cv::Mat out;
    // OpenCV's 8-bit Gaussian blur is its bit-exact fixed-point path; black borders are
    // what Fashion-MNIST's background is.
    cv::GaussianBlur(image, out, cv::Size(2 * radius + 1, 2 * radius + 1), sigma_px, sigma_px,
                     cv::BORDER_CONSTANT);
    image = out;
}

void reduce_contrast(cv::Mat &image, double factor) {
    double sum = 0;
    for (int y = 0; y < image.rows; ++y) {
        const auto *row = image.ptr<uint8_t>(y);
        for (int x = 0; x < image.cols; ++x)
            sum += row[x];
    }
    const double mean = sum / static_cast<double>(image.total());
    for (int y = 0; y < image.rows; ++y) {
        auto *row = image.ptr<uint8_t>(y);
        for (int x = 0; x < image.cols; ++x)
            row[x] = to_u8((row[x] - mean) * factor + mean);
    }
}

void brighten(cv::Mat &image, double offset) {
    for (int y = 0; y < image.rows; ++y) {
        auto *row = image.ptr<uint8_t>(y);
        for (int x = 0; x < image.cols; ++x)
            row[x] = to_u8(row[x] + offset);
    }
}

void jpeg_roundtrip(cv::Mat &image, int quality) {
    std::vector<uint8_t> bytes;
    if (!cv::imencode(".jpg", image, bytes, {cv::IMWRITE_JPEG_QUALITY, quality}))
        throw std::runtime_error("JPEG encoding failed (OpenCV imgcodecs without libjpeg?)");
    cv::Mat decoded = cv::imdecode(bytes, cv::IMREAD_GRAYSCALE);
    if (decoded.empty() || decoded.size() != image.size())
        throw std::runtime_error("JPEG decoding failed");
    image = decoded;
}

// Maps the image through the 2x3 matrix `forward` (source -> output coordinates),
// bilinear, with black where the output falls outside the source.
void warp(cv::Mat &image, const cv::Matx23d &forward) {
    cv::Mat out;
    cv::warpAffine(image, out, cv::Mat(forward), image.size(), cv::INTER_LINEAR,
                   cv::BORDER_CONSTANT, cv::Scalar(0));
    image = out;
}

cv::Point2d centre(const cv::Mat &image) {
    return {(image.cols - 1) * 0.5, (image.rows - 1) * 0.5};
}

void rotate(cv::Mat &image, Band degrees, SeededRandom &random) {
    double angle = random.uniform(degrees.min, degrees.max);
    if (random.chance(0.5))
        angle = -angle;
    warp(image, cv::getRotationMatrix2D(centre(image), angle, 1.0));
}

void rescale(cv::Mat &image, Band zoom, SeededRandom &random) {
    double factor = random.uniform(zoom.min, zoom.max);
    if (random.chance(0.5))
        factor = 1.0 / factor; // shrink, with a black border
    const cv::Point2d c = centre(image);
    warp(image, cv::Matx23d(factor, 0, c.x * (1 - factor), 0, factor, c.y * (1 - factor)));
}

void occlude(cv::Mat &image, Band area, SeededRandom &random) {
    const double fraction = random.uniform(area.min, area.max);
    const double aspect = random.uniform(kOcclusionAspect.min, kOcclusionAspect.max);
    const double pixels = fraction * static_cast<double>(image.total());
    // width * height = pixels, width / height = aspect, each clipped to the image.
    const int width =
        std::clamp(static_cast<int>(std::floor(std::sqrt(pixels * aspect) + 0.5)), 1, image.cols);
    const int height =
        std::clamp(static_cast<int>(std::floor(pixels / width + 0.5)), 1, image.rows);
    const int x = static_cast<int>(random.uniform_int(0, image.cols - width));
    const int y = static_cast<int>(random.uniform_int(0, image.rows - height));
    const auto fill = static_cast<uint8_t>(random.uniform_int(0, 255));
    image(cv::Rect(x, y, width, height)).setTo(cv::Scalar(fill));
}

} // namespace

std::vector<std::pair<std::string, double>> shift_parameters(Shift shift, int severity) {
    if (shift == Shift::clean)
        return {};
    const std::size_t i = level(severity);
    switch (shift) {
    case Shift::clean: break;
    case Shift::noise: return {{"noise_sigma", kNoiseSigma[i]}};
    case Shift::blur: return {{"blur_sigma_px", kBlurSigmaPx[i]}};
    case Shift::contrast: return {{"contrast_factor", kContrastFactor[i]}};
    case Shift::brightness: return {{"brightness_offset", kBrightnessOffset[i]}};
    case Shift::jpeg: return {{"jpeg_quality", kJpegQuality[i]}};
    case Shift::rotation:
        return {{"rotation_min_deg", kRotationDeg[i].min},
                {"rotation_max_deg", kRotationDeg[i].max}};
    case Shift::scale:
        return {{"zoom_factor_min", kScaleFactor[i].min}, {"zoom_factor_max", kScaleFactor[i].max}};
    case Shift::occlusion:
        return {{"occlusion_area_min", kOcclusionArea[i].min},
                {"occlusion_area_max", kOcclusionArea[i].max},
                {"occlusion_aspect_min", kOcclusionAspect.min},
                {"occlusion_aspect_max", kOcclusionAspect.max}};
    }
    return {};
}

void apply_shift(Shift shift, int severity, cv::Mat &image, SeededRandom &random) {
    if (image.type() != CV_8UC1 || image.empty())
        throw std::invalid_argument("a shift needs a non-empty 8-bit gray image");
    if (shift == Shift::clean)
        return;
    const std::size_t i = level(severity);
    switch (shift) {
    case Shift::clean: break;
    case Shift::noise: add_gaussian_noise(image, kNoiseSigma[i] * 255, random); break;
    case Shift::blur: gaussian_blur(image, kBlurSigmaPx[i]); break;
    case Shift::contrast: reduce_contrast(image, kContrastFactor[i]); break;
    case Shift::brightness: brighten(image, kBrightnessOffset[i] * 255); break;
    case Shift::jpeg: jpeg_roundtrip(image, kJpegQuality[i]); break;
    case Shift::rotation: rotate(image, kRotationDeg[i], random); break;
    case Shift::scale: rescale(image, kScaleFactor[i], random); break;
    case Shift::occlusion: occlude(image, kOcclusionArea[i], random); break;
    }
}

void apply_shifts(const std::vector<Shift> &shifts, int severity, cv::Mat &image,
                  SeededRandom &random) {
    for (const Shift shift : shifts)
        apply_shift(shift, severity, image, random);
}

} // namespace tierd::drift
