#include "plugins/fusion-feature/feature_warp.hpp"

#include <opencv2/imgproc.hpp>
#include <opencv2/video/tracking.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <vector>

namespace fusion_feature {

cv::Mat flow_image(const cv::Mat &frame) {
    cv::Mat small, gray;
    cv::resize(frame, small, kFlowSize, 0, 0, cv::INTER_AREA);
    if (small.channels() == 3)
        cv::cvtColor(small, gray, cv::COLOR_BGR2GRAY);
    else
        gray = small;
    return gray;
}

cv::Mat flow_back(const cv::Mat &current, const cv::Mat &key) {
    cv::Mat flow;
    // Pyramid of 3 levels halving each time, a 9-pixel window, 3 iterations: motions of a
    // few tens of flow pixels (10 frames of a moving object) are followed at ~2 ms.
    cv::calcOpticalFlowFarneback(current, key, flow, 0.5, 3, 9, 3, 5, 1.1, 0);
    return flow;
}

double warp_error(const cv::Mat &current, const cv::Mat &key, const cv::Mat &flow,
                  WarpMeasure measure) {
    CV_Assert(current.type() == CV_8UC1 && key.type() == CV_8UC1 && current.size() == key.size());
    cv::Mat moved;
    if (flow.empty()) {
        moved = key;
    } else {
        CV_Assert(flow.type() == CV_32FC2 && flow.size() == current.size());
        cv::Mat map(flow.size(), CV_32FC2);
        for (int y = 0; y < flow.rows; ++y) {
            const auto *f = flow.ptr<cv::Vec2f>(y);
            auto *m = map.ptr<cv::Vec2f>(y);
            for (int x = 0; x < flow.cols; ++x)
                m[x] = cv::Vec2f(static_cast<float>(x) + f[x][0], static_cast<float>(y) + f[x][1]);
        }
        cv::remap(key, moved, map, cv::noArray(), cv::INTER_LINEAR, cv::BORDER_REPLICATE);
    }
    cv::Mat a, b;
    current.convertTo(a, CV_32F);
    moved.convertTo(b, CV_32F, 1.0, cv::mean(current)[0] - cv::mean(moved)[0]);
    cv::Mat difference;
    cv::absdiff(a, b, difference);
    if (measure == WarpMeasure::mean)
        return std::min(1.0, cv::mean(difference)[0] / 255.0);
    // The 8 x 8 blocks' means (20 x 11 at the flow size), the worst tenth averaged.
    constexpr int kBlock = 8;
    cv::Mat blocks;
    cv::resize(
        difference, blocks,
        cv::Size(std::max(1, difference.cols / kBlock), std::max(1, difference.rows / kBlock)), 0,
        0, cv::INTER_AREA);
    std::vector<float> values(blocks.begin<float>(), blocks.end<float>());
    const std::size_t worst = std::max<std::size_t>(1, values.size() / 10);
    std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(worst - 1),
                     values.end(), std::greater<>());
    double sum = 0;
    for (std::size_t i = 0; i < worst; ++i)
        sum += values[i];
    return std::min(1.0, sum / static_cast<double>(worst) / 255.0);
}

void warp_features(const float *key, int channels, int height, int width, const cv::Mat &flow,
                   std::vector<float> &out) {
    const std::size_t plane = static_cast<std::size_t>(height) * width;
    out.assign((static_cast<std::size_t>(channels) + 1) * plane, 0.0f);
    // The sent cells: the map with NaN as 0, and the mask.
    float *mask = out.data() + channels * plane;
    for (std::size_t i = 0; i < plane; ++i)
        mask[i] = std::isnan(key[i]) ? 0.0f : 1.0f;
    for (int c = 0; c < channels; ++c) {
        const float *src = key + c * plane;
        float *dst = out.data() + c * plane;
        for (std::size_t i = 0; i < plane; ++i)
            dst[i] = std::isnan(src[i]) ? 0.0f : src[i];
    }
    if (flow.empty())
        return;
    // The flow on the map's grid, in cells: x = j + fx(j, i) * width / flow width.
    cv::Mat fx, fy, parts[2];
    cv::split(flow, parts);
    cv::resize(parts[0], fx, cv::Size(width, height), 0, 0, cv::INTER_AREA);
    cv::resize(parts[1], fy, cv::Size(width, height), 0, 0, cv::INTER_AREA);
    cv::Mat map_x(height, width, CV_32F), map_y(height, width, CV_32F);
    const float sx = static_cast<float>(width) / static_cast<float>(flow.cols);
    const float sy = static_cast<float>(height) / static_cast<float>(flow.rows);
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x) {
            map_x.at<float>(y, x) = static_cast<float>(x) + fx.at<float>(y, x) * sx;
            map_y.at<float>(y, x) = static_cast<float>(y) + fy.at<float>(y, x) * sy;
        }
    // cv::remap takes up to 4 channels a call: the planes in groups of 4, interleaved.
    std::vector<float> moved(out.size());
    for (int c0 = 0; c0 <= channels; c0 += 4) {
        const int n = std::min(4, channels + 1 - c0);
        std::vector<cv::Mat> group;
        for (int k = 0; k < n; ++k)
            group.emplace_back(height, width, CV_32F, out.data() + (c0 + k) * plane);
        cv::Mat packed, warped;
        cv::merge(group, packed);
        cv::remap(packed, warped, map_x, map_y, cv::INTER_LINEAR, cv::BORDER_REPLICATE);
        std::vector<cv::Mat> back;
        for (int k = 0; k < n; ++k)
            back.emplace_back(height, width, CV_32F, moved.data() + (c0 + k) * plane);
        cv::split(warped, back);
    }
    out.swap(moved);
}

} // namespace fusion_feature
