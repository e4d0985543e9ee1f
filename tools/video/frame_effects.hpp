// The image effects a frame gets after its objects are drawn (camera motion blur, lighting,
// sensor noise). They change pixels only, never the ground truth: boxes and masks are those
// of the sharp, unlit, noiseless drawing.
#pragma once

#include <opencv2/core.hpp>

#include <cstdint>

namespace tierd::videogen {

// Linear motion blur: the mean along a line of `length_px` pixels at `angle_deg`
// (0 = horizontal), centred on each pixel. length_px < 2 leaves the image as it is.
void apply_motion_blur(cv::Mat &image, int length_px, double angle_deg);

// pixel' = 255 * gain * (pixel / 255) ^ gamma, saturated, per channel.
void apply_lighting(cv::Mat &image, double gain, double gamma);

// Additive, approximately Gaussian sensor noise, independent per pixel and channel. A tile
// twice the view's size is drawn once from the seed; each frame adds a window of it at an
// offset drawn per frame, so frames get different noise at the cost of one table.
class SensorNoise {
  public:
    SensorNoise(cv::Size view, uint64_t seed);
    // Adds noise of standard deviation `sigma` (8-bit levels) to `image` (CV_8UC3, view size),
    // using the window at (offset_x, offset_y), each in [0, view size).
    void add(cv::Mat &image, double sigma, int offset_x, int offset_y) const;

  private:
    cv::Size view_;
    cv::Mat tile_; // CV_16SC3, 2x the view, unit noise * kUnit
};

} // namespace tierd::videogen
