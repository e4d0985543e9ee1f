#include "plugins/fusion-track/frame_flow.hpp"

#include <opencv2/imgproc.hpp>
#include <opencv2/video/tracking.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

namespace fusion_track {

namespace {

// Seeds per box: a grid of up to kMaxBoxSeedsPerSide^2 points over the central part of the
// box, at least kMinSeedSpacingPx apart (at the flow's scale).
constexpr int kMaxBoxSeedsPerSide = 5;
constexpr float kMinSeedSpacingPx = 3.0f;
constexpr float kSeedCentralFraction = 0.7f;
// A coarse grid is tracked too, for the global shift of boxes with too few points of
// their own (the camera's motion); the rest of max_points goes to the boxes.
constexpr int kGridPoints = 64;

// Writes the downscaled gray copy of `frame` into `gray` (reusing its buffer when the size
// matches: fresh large buffers cost page faults on every frame).
void downscaled_gray(const cv::Mat &frame, double scale, cv::Mat &gray) {
    cv::Mat small;
    if (scale < 1.0)
        cv::resize(frame, small, cv::Size(), scale, scale, cv::INTER_AREA);
    else
        small = frame;
    if (small.channels() == 1)
        small.copyTo(gray);
    else
        cv::cvtColor(small, gray, cv::COLOR_BGR2GRAY);
}

float median_of(std::vector<float> &values) {
    if (values.empty())
        return 0.0f;
    const auto mid = values.begin() + static_cast<std::ptrdiff_t>(values.size() / 2);
    std::nth_element(values.begin(), mid, values.end());
    return *mid;
}

} // namespace

std::vector<cv::Point2f> seed_points(cv::Size small, double scale, std::span<const Box> boxes,
                                     int box_budget, int grid_budget) {
    std::vector<cv::Point2f> points;
    const auto fscale = static_cast<float>(scale);
    const float w = static_cast<float>(small.width), h = static_cast<float>(small.height);
    for (const Box &full : boxes) {
        const float bw = full.width * fscale * kSeedCentralFraction;
        const float bh = full.height * fscale * kSeedCentralFraction;
        const float x0 = full.x * fscale + 0.5f * (full.width * fscale - bw);
        const float y0 = full.y * fscale + 0.5f * (full.height * fscale - bh);
        const int nx = std::clamp(static_cast<int>(bw / kMinSeedSpacingPx), 1, kMaxBoxSeedsPerSide);
        const int ny = std::clamp(static_cast<int>(bh / kMinSeedSpacingPx), 1, kMaxBoxSeedsPerSide);
        if (static_cast<int>(points.size()) + nx * ny > box_budget)
            break;
        for (int j = 0; j < ny; ++j)
            for (int i = 0; i < nx; ++i) {
                const float px = x0 + (static_cast<float>(i) + 0.5f) * bw / static_cast<float>(nx);
                const float py = y0 + (static_cast<float>(j) + 0.5f) * bh / static_cast<float>(ny);
                if (px >= 0 && py >= 0 && px <= w - 1 && py <= h - 1)
                    points.emplace_back(px, py);
            }
    }
    if (grid_budget <= 0)
        return points;
    // The grid step that puts about `grid_budget` points on the image.
    const float step = std::max(2.0f, std::sqrt(w * h / static_cast<float>(grid_budget)));
    for (float y = 0.5f * step; y < h; y += step)
        for (float x = 0.5f * step; x < w; x += step)
            points.emplace_back(x, y);
    return points;
}

void FrameFlow::reset() {
    cache_.clear();
    newest_ = Pyramid{};
}

void FrameFlow::build_pyramid(const cv::Mat &gray, Pyramid &out) const {
    out.top = cv::buildOpticalFlowPyramid(gray, out.levels,
                                          cv::Size(options_.window_px, options_.window_px),
                                          options_.pyramid_levels, true);
}

MotionStep FrameFlow::track(const Pyramid &from, const Pyramid &to, cv::Size small,
                            const std::vector<cv::Point2f> &seeds, int64_t from_frame,
                            int64_t to_frame) const {
    MotionStep step;
    step.from_frame = from_frame;
    step.to_frame = to_frame;
    if (seeds.empty())
        return step;
    const cv::Size window(options_.window_px, options_.window_px);
    const int levels = std::min(from.top, to.top);
    const cv::TermCriteria stop(cv::TermCriteria::COUNT | cv::TermCriteria::EPS, 10, 0.03);
    std::vector<cv::Point2f> ahead, back;
    std::vector<unsigned char> forward_ok, backward_ok;
    std::vector<float> error;
    cv::calcOpticalFlowPyrLK(from.levels, to.levels, seeds, ahead, forward_ok, error, window,
                             levels, stop);
    cv::calcOpticalFlowPyrLK(to.levels, from.levels, ahead, back, backward_ok, error, window,
                             levels, stop);
    const auto inv_x = static_cast<float>(frame_size_.width) / static_cast<float>(small.width);
    const auto inv_y = static_cast<float>(frame_size_.height) / static_cast<float>(small.height);
    const float limit2 = options_.max_forward_backward_px * options_.max_forward_backward_px;
    std::vector<float> dx, dy;
    for (std::size_t i = 0; i < seeds.size(); ++i) {
        if (!forward_ok[i] || !backward_ok[i])
            continue;
        const cv::Point2f d = back[i] - seeds[i];
        if (d.x * d.x + d.y * d.y > limit2)
            continue;
        if (ahead[i].x < 0 || ahead[i].y < 0 || ahead[i].x > static_cast<float>(small.width - 1) ||
            ahead[i].y > static_cast<float>(small.height - 1))
            continue;
        step.from.push_back(Point{seeds[i].x * inv_x, seeds[i].y * inv_y});
        step.to.push_back(Point{ahead[i].x * inv_x, ahead[i].y * inv_y});
        dx.push_back(step.to.back().x - step.from.back().x);
        dy.push_back(step.to.back().y - step.from.back().y);
    }
    step.global_shift = Point{median_of(dx), median_of(dy)};
    return step;
}

std::optional<MotionStep> FrameFlow::advance(const cv::Mat &frame, int64_t frame_index,
                                             std::span<const Box> boxes_of_interest) {
    if (frame.size() != frame_size_)
        reset();
    frame_size_ = frame.size();
    cv::Mat small;
    if (static_cast<int>(cache_.size()) >= std::max(1, options_.cached_frames)) {
        small = std::move(cache_.front().gray); // its buffer is reused
        cache_.pop_front();
    }
    downscaled_gray(frame, options_.scale, small);
    Pyramid &pyramid = spare_;
    build_pyramid(small, pyramid);
    std::optional<MotionStep> step;
    if (!cache_.empty()) {
        const double scale = static_cast<double>(small.cols) / frame.cols;
        const int grid = std::min(kGridPoints, options_.max_points / 2);
        const std::vector<cv::Point2f> seeds =
            seed_points(small.size(), scale, boxes_of_interest, options_.max_points - grid, grid);
        step = track(newest_, pyramid, small.size(), seeds, cache_.back().frame_index, frame_index);
    }
    std::swap(newest_, spare_);
    cache_.push_back(Cached{frame_index, std::move(small)});
    return step;
}

bool FrameFlow::catch_up(std::vector<Box> &boxes, int64_t from, const BoxMotionOptions &motion,
                         std::vector<Point> &velocity, std::vector<int> &unsupported) {
    velocity.assign(boxes.size(), Point{});
    unsupported.assign(boxes.size(), 0);
    const auto start = std::find_if(cache_.begin(), cache_.end(),
                                    [&](const Cached &c) { return c.frame_index == from; });
    if (start == cache_.end())
        return false;
    const auto first = static_cast<std::size_t>(start - cache_.begin());
    const std::size_t span = cache_.size() - 1 - first;
    if (span == 0 || boxes.empty())
        return true;
    // The cached frames to track through: all of them, or evenly spaced ones.
    const std::size_t steps = std::min<std::size_t>(
        span, static_cast<std::size_t>(std::max(1, options_.max_catch_up_steps)));
    std::vector<std::size_t> chain;
    for (std::size_t i = 0; i <= steps; ++i)
        chain.push_back(first + (i * span + steps / 2) / steps);
    chain.back() = cache_.size() - 1;

    const cv::Size small = cache_.back().gray.size();
    const double scale = static_cast<double>(small.width) / frame_size_.width;
    // Two scratch pyramids take turns: the step's start and its end.
    Pyramid *from_pyramid = &catch_up_[0];
    Pyramid *to_pyramid = &catch_up_[1];
    build_pyramid(cache_[chain[0]].gray, *from_pyramid);
    for (std::size_t i = 1; i < chain.size(); ++i) {
        const bool newest = chain[i] == cache_.size() - 1;
        if (!newest)
            build_pyramid(cache_[chain[i]].gray, *to_pyramid);
        const std::vector<cv::Point2f> seeds =
            seed_points(small, scale, boxes, std::numeric_limits<int>::max(), kGridPoints);
        const MotionStep step =
            track(*from_pyramid, newest ? newest_ : *to_pyramid, small, seeds,
                  cache_[chain[i - 1]].frame_index, cache_[chain[i]].frame_index);
        for (std::size_t b = 0; b < boxes.size(); ++b) {
            const BoxMove moved = follow_box(boxes[b], step, motion, velocity[b]);
            boxes[b] = moved.box;
            unsupported[b] = moved.support > 0 ? 0 : unsupported[b] + 1;
        }
        std::swap(from_pyramid, to_pyramid);
    }
    return true;
}

} // namespace fusion_track
