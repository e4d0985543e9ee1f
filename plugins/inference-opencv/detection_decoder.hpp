// Decodes the outputs of tierd's video detectors (det-light, det-heavy; docs/detectors.md)
// into boxes in the pixels of the original frame. Pure computation on the output
// tensors: no I/O, no global state; any thread (one call per thread at a time on its own
// inputs).
//
// The detectors are one-stage and anchor-free (TTFNet/CenterNet style). For an input of
// W x H pixels and an output stride s, the network gives two tensors of one image:
//   heatmap [1, C, H/s, W/s]: per class, the probability (after the network's sigmoid)
//                             that an object's centre lies in the cell;
//   box     [1, 4, H/s, W/s]: log-distances, in units of s, from the cell's centre to the
//                             box's left, top, right and bottom edges.
// A detection is a cell whose score is at least the threshold and not below any of its 8
// neighbours in the same class (CenterNet's 3x3 max-pool peak test; equal neighbours are
// both kept), decoded as
//   cx = (j + 0.5) * s, cy = (i + 0.5) * s,
//   x1 = cx - exp(l) * s, y1 = cy - exp(t) * s, x2 = cx + exp(r) * s, y2 = cy + exp(b) * s
// (exponents clamped to 8), scaled from input to frame pixels, clipped to the frame, then
// per-class non-maximum suppression (cv::dnn::NMSBoxes) and the top_k by score.
#pragma once

#include <opencv2/core.hpp>

#include <cstddef>
#include <vector>

namespace inference_opencv {

struct DetectionBox {
    float x = 0, y = 0;          // top-left corner, frame pixels
    float width = 0, height = 0; // > 0
    int class_id = 0;            // 0-based (COCO category_id - 1)
    float score = 0;             // 0..1
};

struct DecodeOptions {
    float score_threshold = 0.3f; // candidates below are dropped (0..1)
    float nms_iou = 0.5f;         // per-class NMS overlap threshold (0..1)
    int top_k = 100;              // at most this many detections, best first
};

// `heatmap` and `box`: the network's two outputs for ONE image (4-D, batch 1, float32,
// continuous), shapes as above. `input` is the network's input size (W x H) and `frame`
// the size of the image the boxes are for. Returns detections ordered by descending score
// (ties: ascending class, then cell order). Throws std::invalid_argument when the shapes
// do not fit together (names what), the stride is not a whole number, or a size is empty.
std::vector<DetectionBox> decode_detections(const cv::Mat &heatmap, const cv::Mat &box,
                                            cv::Size input, cv::Size frame,
                                            const DecodeOptions &options);

} // namespace inference_opencv
