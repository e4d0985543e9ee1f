// Moving a key frame's feature map to a later frame (docs/feature-fusion.md): dense optical
// flow from the later frame back to the key frame, then each cell of the map samples where
// the flow says it came from — Deep Feature Flow's propagation (Zhu et al., CVPR'17), with
// OpenCV's Farneback flow in place of a flow network. Pure functions; any thread.
#pragma once

#include <opencv2/core.hpp>

#include <vector>

namespace fusion_feature {

// The size the flow runs at: a quarter of det-light's 320 x 176 input each way is 2 flow
// pixels per cell of the 80 x 44 map, and costs about 2 ms here (bench/fusion).
inline const cv::Size kFlowSize{160, 88};

// A frame as the flow wants it: gray, resized to kFlowSize (area interpolation).
cv::Mat flow_image(const cv::Mat &frame_bgr_or_gray);

// Farneback flow from `current` to `key` (both flow_image()s): flow(y, x) is where pixel
// (x, y) of the current frame was in the key frame, minus (x, y). CV_32FC2, kFlowSize.
cv::Mat flow_back(const cv::Mat &current, const cv::Mat &key);

// How the residual of a warp is summed up into one number.
enum class WarpMeasure {
    mean,         // over the whole frame
    worst_blocks, // over the worst tenth of its 8 x 8 blocks (local changes count fully)
};

// How well `flow` (flow_back(current, key), or empty: no motion) carries `key` onto
// `current` (both flow_image()s): the absolute difference, in [0, 1] of the gray range,
// between `current` and `key` sampled where the flow says each pixel came from, after
// taking out the difference of their mean brightness (a light change is not motion),
// averaged as `measure` says. Near 0 when the motion was followed; raised by motion the
// flow missed, objects that appeared or left, blur and noise. The fusion plugin reports it
// as ABI 1.6's warp_error.
double warp_error(const cv::Mat &current, const cv::Mat &key, const cv::Mat &flow,
                  WarpMeasure measure = WarpMeasure::mean);

// `key` ([channels][height][width] floats, NaN = a cell the sender left out) moved by
// `flow` (flow_back(), any size: resampled to the map's grid) into `out`, resized to
// (channels + 1) * height * width: the map's channels with cells not sent as 0, then a
// mask channel, 1 where the cell was sent, both bilinearly sampled (borders replicated).
// An empty flow moves nothing (the frame is the key frame).
void warp_features(const float *key, int channels, int height, int width, const cv::Mat &flow,
                   std::vector<float> &out);

} // namespace fusion_feature
