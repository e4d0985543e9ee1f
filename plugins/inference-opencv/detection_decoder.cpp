#include "detection_decoder.hpp"

#include <opencv2/dnn.hpp>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace inference_opencv {
namespace {

// exp() of a larger log-distance is beyond any frame (e^8 = 2981 strides); clamping keeps
// a wild output finite instead of producing inf boxes.
constexpr float kMaxLogDistance = 8.0f;

struct Candidate {
    DetectionBox box;
    int cell = 0; // i * cols + j, for a deterministic order among equal scores
};

void check_blob(const cv::Mat &m, const char *name) {
    if (m.dims != 4 || m.size[0] != 1 || m.type() != CV_32F || !m.isContinuous())
        throw std::invalid_argument(std::string(name) +
                                    ": expected a continuous float32 4-D tensor of batch 1");
}

// True when v is not below any of the (up to 8) neighbours of (i, j) in `plane`.
bool is_peak(const float *plane, int rows, int cols, int i, int j, float v) {
    for (int di = -1; di <= 1; ++di) {
        const int y = i + di;
        if (y < 0 || y >= rows)
            continue;
        for (int dj = -1; dj <= 1; ++dj) {
            const int x = j + dj;
            if (x < 0 || x >= cols || (di == 0 && dj == 0))
                continue;
            if (plane[y * cols + x] > v)
                return false;
        }
    }
    return true;
}

} // namespace

std::vector<DetectionBox> decode_detections(const cv::Mat &heatmap, const cv::Mat &box,
                                            cv::Size input, cv::Size frame,
                                            const DecodeOptions &options) {
    check_blob(heatmap, "heatmap");
    check_blob(box, "box");
    const int classes = heatmap.size[1];
    const int rows = heatmap.size[2];
    const int cols = heatmap.size[3];
    if (box.size[1] != 4 || box.size[2] != rows || box.size[3] != cols)
        throw std::invalid_argument("box: expected [1, 4, " + std::to_string(rows) + ", " +
                                    std::to_string(cols) + "] to match the heatmap");
    if (input.width <= 0 || input.height <= 0 || frame.width <= 0 || frame.height <= 0)
        throw std::invalid_argument("input and frame sizes must be positive");
    if (input.width % cols != 0 || input.height % rows != 0 ||
        input.width / cols != input.height / rows)
        throw std::invalid_argument("input " + std::to_string(input.width) + "x" +
                                    std::to_string(input.height) +
                                    " is not a whole stride of the " + std::to_string(cols) + "x" +
                                    std::to_string(rows) + " output");
    const float stride = static_cast<float>(input.width / cols);
    const float sx = static_cast<float>(frame.width) / static_cast<float>(input.width);
    const float sy = static_cast<float>(frame.height) / static_cast<float>(input.height);
    const auto fw = static_cast<float>(frame.width);
    const auto fh = static_cast<float>(frame.height);
    const std::size_t plane = static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols);
    const float *hm = heatmap.ptr<float>();
    const float *bx = box.ptr<float>();

    std::vector<Candidate> kept;
    std::vector<Candidate> candidates;
    std::vector<cv::Rect2d> rects;
    std::vector<float> scores;
    std::vector<int> survivors;
    for (int c = 0; c < classes; ++c) {
        const float *p = hm + static_cast<std::size_t>(c) * plane;
        candidates.clear();
        for (int i = 0; i < rows; ++i) {
            for (int j = 0; j < cols; ++j) {
                const float v = p[i * cols + j];
                // !(v >= t) also drops NaN scores.
                if (!(v >= options.score_threshold) || !is_peak(p, rows, cols, i, j, v))
                    continue;
                const std::size_t at = static_cast<std::size_t>(i) * cols + j;
                auto dist = [&](int k) {
                    return std::exp(std::min(bx[k * plane + at], kMaxLogDistance)) * stride;
                };
                const float cx = (static_cast<float>(j) + 0.5f) * stride;
                const float cy = (static_cast<float>(i) + 0.5f) * stride;
                const float x1 = std::clamp((cx - dist(0)) * sx, 0.0f, fw);
                const float y1 = std::clamp((cy - dist(1)) * sy, 0.0f, fh);
                const float x2 = std::clamp((cx + dist(2)) * sx, 0.0f, fw);
                const float y2 = std::clamp((cy + dist(3)) * sy, 0.0f, fh);
                if (!(x2 > x1) || !(y2 > y1))
                    continue; // empty after clipping, or NaN distances
                Candidate cand;
                cand.box = DetectionBox{x1, y1, x2 - x1, y2 - y1, c, v};
                cand.cell = static_cast<int>(at);
                candidates.push_back(cand);
            }
        }
        if (candidates.empty())
            continue;
        rects.clear();
        scores.clear();
        for (const auto &cand : candidates) {
            rects.emplace_back(cand.box.x, cand.box.y, cand.box.width, cand.box.height);
            scores.push_back(cand.box.score);
        }
        survivors.clear();
        // The threshold is applied above (score >= threshold); NMSBoxes keeps only scores
        // strictly above its own and asserts it is >= 0, so it gets 0 (a cell scoring
        // exactly 0 is never a detection).
        cv::dnn::NMSBoxes(rects, scores, 0.0f, options.nms_iou, survivors);
        for (int k : survivors)
            kept.push_back(candidates[static_cast<std::size_t>(k)]);
    }
    std::sort(kept.begin(), kept.end(), [](const Candidate &a, const Candidate &b) {
        if (a.box.score != b.box.score)
            return a.box.score > b.box.score;
        if (a.box.class_id != b.box.class_id)
            return a.box.class_id < b.box.class_id;
        return a.cell < b.cell;
    });
    const std::size_t limit = static_cast<std::size_t>(std::max(options.top_k, 0));
    std::vector<DetectionBox> out;
    out.reserve(std::min(limit, kept.size()));
    for (std::size_t k = 0; k < kept.size() && k < limit; ++k)
        out.push_back(kept[k].box);
    return out;
}

} // namespace inference_opencv
