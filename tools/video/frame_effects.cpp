#include "tools/video/frame_effects.hpp"

#include "tools/video/seeded_random.hpp"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <numbers>

namespace tierd::videogen {

namespace {
constexpr double kUnit = 256; // fixed-point scale of the noise tile
}

void apply_motion_blur(cv::Mat &image, int length_px, double angle_deg) {
    if (length_px < 2)
        return;
    const int side = length_px | 1; // odd, so that the kernel has a centre pixel
    cv::Mat line = cv::Mat::zeros(side, side, CV_8U);
    const double radians = angle_deg * std::numbers::pi / 180;
    const double half = (length_px - 1) / 2.0, c = side / 2.0 - 0.5;
    const cv::Point2d d(std::cos(radians) * half, std::sin(radians) * half);
    cv::line(line, cv::Point(cvRound(c - d.x), cvRound(c - d.y)),
             cv::Point(cvRound(c + d.x), cvRound(c + d.y)), cv::Scalar(1), 1, cv::LINE_8);
    cv::Mat kernel;
    line.convertTo(kernel, CV_32F, 1.0 / std::max(1.0, cv::sum(line)[0]));
    cv::filter2D(image, image, -1, kernel, cv::Point(-1, -1), 0, cv::BORDER_REFLECT);
}

void apply_lighting(cv::Mat &image, double gain, double gamma) {
    if (gain == 1 && gamma == 1)
        return;
    cv::Mat table(1, 256, CV_8U);
    for (int v = 0; v < 256; ++v)
        table.at<uint8_t>(v) = cv::saturate_cast<uint8_t>(255 * gain * std::pow(v / 255.0, gamma));
    cv::LUT(image, table, image);
}

SensorNoise::SensorNoise(cv::Size view, uint64_t seed)
    : view_(view), tile_(2 * view.height, 2 * view.width, CV_16SC3) {
    SeededRandom random(seed);
    for (int y = 0; y < tile_.rows; ++y) {
        auto *row = tile_.ptr<int16_t>(y);
        for (int x = 0; x < tile_.cols * 3; ++x)
            row[x] = static_cast<int16_t>(std::lround(random.approx_normal() * kUnit));
    }
}

void SensorNoise::add(cv::Mat &image, double sigma, int offset_x, int offset_y) const {
    if (sigma <= 0)
        return;
    const cv::Mat window = tile_(cv::Rect(offset_x, offset_y, view_.width, view_.height));
    cv::Mat wide;
    image.convertTo(wide, CV_16SC3);
    cv::addWeighted(wide, 1.0, window, sigma / kUnit, 0.0, wide, CV_16S);
    wide.convertTo(image, CV_8UC3);
}

} // namespace tierd::videogen
