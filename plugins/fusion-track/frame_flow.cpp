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
// When the boxes' regions of interest together cover more than this share of the frame,
// one LK call over the whole frame is cheaper than one per box.
constexpr double kWholeFrameShare = 0.6;

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
                                     int budget) {
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
        if (static_cast<int>(points.size()) + nx * ny > budget)
            break;
        for (int j = 0; j < ny; ++j)
            for (int i = 0; i < nx; ++i) {
                const float px = x0 + (static_cast<float>(i) + 0.5f) * bw / static_cast<float>(nx);
                const float py = y0 + (static_cast<float>(j) + 0.5f) * bh / static_cast<float>(ny);
                if (px >= 0 && py >= 0 && px <= w - 1 && py <= h - 1)
                    points.emplace_back(px, py);
            }
    }
    return points;
}

void FrameFlow::reset() {
    cache_.clear();
}

MotionStep FrameFlow::track_boxes(const Cached &from, const Cached &to, std::span<const Box> boxes,
                                  int64_t frames) const {
    MotionStep step;
    step.from_frame = from.frame_index;
    step.to_frame = to.frame_index;
    const cv::Size small = from.gray.size();
    const double scale = static_cast<double>(small.width) / frame_size_.width;
    const cv::Rect image(0, 0, small.width, small.height);
    // Each box's seeds and region of interest (at the flow's scale).
    const auto reach = static_cast<float>(
        options_.window_px + options_.max_motion_px_per_frame *
                                 static_cast<float>(std::max<int64_t>(1, frames)) * scale);
    std::vector<std::vector<cv::Point2f>> seeds;
    std::vector<cv::Rect> regions;
    double covered = 0;
    int budget = options_.max_points;
    for (const Box &box : boxes) {
        std::vector<cv::Point2f> own = seed_points(small, scale, std::span(&box, 1), budget);
        if (own.empty())
            continue;
        budget -= static_cast<int>(own.size());
        const cv::Rect around = cv::boundingRect(own);
        const cv::Rect region =
            cv::Rect(
                cv::Point(static_cast<int>(std::floor(static_cast<float>(around.x) - reach)),
                          static_cast<int>(std::floor(static_cast<float>(around.y) - reach))),
                cv::Point(static_cast<int>(std::ceil(static_cast<float>(around.br().x) + reach)),
                          static_cast<int>(std::ceil(static_cast<float>(around.br().y) + reach)))) &
            image;
        covered += region.area();
        seeds.push_back(std::move(own));
        regions.push_back(region);
    }
    if (covered > kWholeFrameShare * image.area()) {
        std::vector<cv::Point2f> all;
        for (const auto &own : seeds)
            all.insert(all.end(), own.begin(), own.end());
        seeds.assign(1, std::move(all));
        regions.assign(1, image);
    }

    const cv::Size window(options_.window_px, options_.window_px);
    const cv::TermCriteria stop(cv::TermCriteria::COUNT | cv::TermCriteria::EPS, 10, 0.03);
    const float limit2 = options_.max_forward_backward_px * options_.max_forward_backward_px;
    const auto inv_x = static_cast<float>(frame_size_.width) / static_cast<float>(small.width);
    const auto inv_y = static_cast<float>(frame_size_.height) / static_cast<float>(small.height);
    std::vector<cv::Point2f> start, ahead, back;
    std::vector<unsigned char> forward_ok, backward_ok;
    std::vector<float> error, dx, dy;
    for (std::size_t r = 0; r < regions.size(); ++r) {
        const cv::Rect &region = regions[r];
        if (seeds[r].empty() || region.width < 2 || region.height < 2)
            continue;
        const cv::Point2f origin(static_cast<float>(region.x), static_cast<float>(region.y));
        start.clear();
        for (const cv::Point2f &p : seeds[r])
            start.push_back(p - origin);
        // A region's LK follows its points within it: a point that leaves it is dropped.
        const cv::Mat a = from.gray(region), b = to.gray(region);
        cv::calcOpticalFlowPyrLK(a, b, start, ahead, forward_ok, error, window,
                                 options_.pyramid_levels, stop);
        cv::calcOpticalFlowPyrLK(b, a, ahead, back, backward_ok, error, window,
                                 options_.pyramid_levels, stop);
        for (std::size_t i = 0; i < start.size(); ++i) {
            if (!forward_ok[i] || !backward_ok[i])
                continue;
            const cv::Point2f d = back[i] - start[i];
            if (d.x * d.x + d.y * d.y > limit2)
                continue;
            if (ahead[i].x < 0 || ahead[i].y < 0 ||
                ahead[i].x > static_cast<float>(region.width - 1) ||
                ahead[i].y > static_cast<float>(region.height - 1))
                continue;
            const cv::Point2f p0 = start[i] + origin, p1 = ahead[i] + origin;
            step.from.push_back(Point{p0.x * inv_x, p0.y * inv_y});
            step.to.push_back(Point{p1.x * inv_x, p1.y * inv_y});
            dx.push_back(step.to.back().x - step.from.back().x);
            dy.push_back(step.to.back().y - step.from.back().y);
        }
    }
    step.global_shift = Point{median_of(dx), median_of(dy)};
    return step;
}

std::optional<MotionStep> FrameFlow::advance(const cv::Mat &frame, int64_t frame_index,
                                             std::span<const Box> boxes) {
    if (frame.size() != frame_size_)
        reset();
    frame_size_ = frame.size();
    Cached next{frame_index, cv::Mat()};
    if (static_cast<int>(cache_.size()) >= std::max(1, options_.cached_frames)) {
        next.gray = std::move(cache_.front().gray); // its buffer is reused
        cache_.pop_front();
    }
    downscaled_gray(frame, options_.scale, next.gray);
    std::optional<MotionStep> step;
    if (!cache_.empty())
        step = track_boxes(cache_.back(), next, boxes, frame_index - cache_.back().frame_index);
    cache_.push_back(std::move(next));
    return step;
}

bool FrameFlow::catch_up(std::vector<Box> &boxes, int64_t from, const BoxMotionOptions &motion,
                         std::vector<Point> &velocity, std::vector<int> &unsupported) const {
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
    for (std::size_t i = 1; i < chain.size(); ++i) {
        const Cached &a = cache_[chain[i - 1]], &b = cache_[chain[i]];
        const MotionStep step = track_boxes(a, b, boxes, b.frame_index - a.frame_index);
        for (std::size_t k = 0; k < boxes.size(); ++k) {
            const BoxMove moved = follow_box(boxes[k], step, motion, velocity[k]);
            boxes[k] = moved.box;
            unsupported[k] = moved.support > 0 ? 0 : unsupported[k] + 1;
        }
    }
    return true;
}

} // namespace fusion_track
