#include "agent/pipeline/video_stream.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace tierd {
namespace {

// Boxes a local result counts for the trigger inputs, and their mean score.
void local_summary(const tierd_inference_result &r, int &count, double &mean) {
    const std::uint32_t n = tierd_result_detection_count(&r);
    double sum = 0.0;
    for (std::uint32_t i = 0; i < n; ++i)
        sum += r.detections[i].score;
    count = static_cast<int>(n);
    mean = n > 0 ? sum / n : -1.0;
}

} // namespace

std::vector<std::uint8_t> frame_thumbnail(const tierd_image &image) {
    constexpr int tw = VideoStream::kThumbnailWidth, th = VideoStream::kThumbnailHeight;
    std::vector<std::uint8_t> out;
    if (image.data == nullptr || image.width < tw || image.height < th)
        return out;
    out.resize(tw * th);
    const int channels = image.format == TIERD_PIXEL_GRAY8 ? 1 : 3;
    // Each cell's mean over a 4x4 sample grid: enough for a change measure, and the cost
    // does not grow with the frame.
    for (int ty = 0; ty < th; ++ty) {
        for (int tx = 0; tx < tw; ++tx) {
            const int x0 = tx * image.width / tw, x1 = (tx + 1) * image.width / tw;
            const int y0 = ty * image.height / th, y1 = (ty + 1) * image.height / th;
            unsigned sum = 0, n = 0;
            for (int sy = 0; sy < 4; ++sy) {
                const int y = y0 + (y1 - y0) * (2 * sy + 1) / 8;
                const std::uint8_t *row =
                    image.data + static_cast<std::size_t>(y) * image.stride_bytes;
                for (int sx = 0; sx < 4; ++sx) {
                    const int x = x0 + (x1 - x0) * (2 * sx + 1) / 8;
                    const std::uint8_t *p = row + static_cast<std::size_t>(x) * channels;
                    sum += channels == 1 ? p[0] : (p[0] + 2u * p[1] + p[2]) / 4u;
                    ++n;
                }
            }
            out[static_cast<std::size_t>(ty * tw + tx)] = static_cast<std::uint8_t>(sum / n);
        }
    }
    return out;
}

double thumbnail_difference(const std::vector<std::uint8_t> &a,
                            const std::vector<std::uint8_t> &b) {
    if (a.empty() || a.size() != b.size())
        return -1.0;
    unsigned long sum = 0;
    for (std::size_t i = 0; i < a.size(); ++i)
        sum += static_cast<unsigned long>(std::abs(int{a[i]} - int{b[i]}));
    return static_cast<double>(sum) / (255.0 * static_cast<double>(a.size()));
}

void VideoStream::started(std::int64_t frame_index, std::uint64_t now_ns) {
    open_.insert(frame_index);
    ++frames_;
    if (last_start_ns_ != 0) {
        const double ms = static_cast<double>(now_ns - last_start_ns_) / 1e6;
        frame_interval_ms_ = frame_interval_ms_ == 0.0 ? ms : 0.9 * frame_interval_ms_ + 0.1 * ms;
    }
    last_start_ns_ = now_ns;
}

tierd_stream_state VideoStream::state(const Task &task, std::uint64_t now_ns) const {
    tierd_stream_state s{};
    s.struct_size = sizeof s;
    s.frame_index = task.task.frame_index;
    s.last_key_frame = last_key_frame_;
    s.key_frames_in_flight = key_in_flight_;
    s.frame_interval_ms = frame_interval_ms_;
    s.upstream_age_ms =
        answers_.empty()
            ? -1.0
            : static_cast<double>(now_ns - answers_.rbegin()->second.captured_ns) / 1e6;
    int count = last_local_count_;
    double mean = last_local_mean_;
    if (task.local_first && task.local.ok)
        local_summary(task.local.result, count, mean);
    s.local_detections = count;
    s.local_mean_score = mean;
    s.local_detections_change = count >= 0 && key_local_count_ >= 0 ? count - key_local_count_ : 0;
    s.scene_change = thumbnail_difference(task.thumbnail, key_thumbnail_);
    s.warp_error = warp_error_;
    s.warp_error_frame = warp_error_frame_;
    s.warp_error_key_frame = warp_error_key_frame_;
    return s;
}

void VideoStream::fused(std::int64_t frame_index, std::int64_t key_frame, double warp_error) {
    // Frames are fused in order, so the newest call is the newest frame.
    warp_error_ = warp_error;
    warp_error_frame_ = frame_index;
    warp_error_key_frame_ = key_frame;
}

void VideoStream::key_frame_sent(const Task &task) {
    last_key_frame_ = task.task.frame_index;
    ++key_in_flight_;
    ++key_sent_;
    key_thumbnail_ = task.thumbnail;
    int count = last_local_count_;
    double mean = 0.0;
    if (task.local_first && task.local.ok)
        local_summary(task.local.result, count, mean);
    key_local_count_ = count;
}

void VideoStream::upstream_arrived(const Task::Outcome &answer, std::int64_t frame_index,
                                   tierd_tier tier, std::uint64_t captured_ns, std::uint64_t now_ns,
                                   bool key_frame) {
    if (key_frame) {
        ++key_answered_;
        if (key_in_flight_ > 0)
            --key_in_flight_;
    }
    Answer &a = answers_[frame_index];
    a.outcome.copy_from(answer);
    a.tier = tier;
    a.captured_ns = captured_ns;
    a.arrived_ns = now_ns;
    a.sequence = ++upstream_sequence_;
    while (answers_.size() > kAnswersKept)
        answers_.erase(answers_.begin());
}

void VideoStream::ready(TaskPtr task) {
    const std::int64_t index = task->task.frame_index;
    ready_.emplace(index, std::move(task));
}

bool VideoStream::has_next() const {
    return !ready_.empty() && (open_.empty() || ready_.begin()->first <= *open_.begin());
}

TaskPtr VideoStream::take_next() {
    auto it = ready_.begin();
    TaskPtr task = std::move(it->second);
    open_.erase(it->first);
    ready_.erase(it);
    return task;
}

bool VideoStream::upstream_for(std::uint64_t now_ns, std::int64_t frame_index, Task::Outcome &into,
                               tierd_upstream_result &view) const {
    auto it = answers_.upper_bound(frame_index); // the first about a later frame
    if (it == answers_.begin())
        return false;
    --it;
    const Answer &a = it->second;
    into.copy_from(a.outcome);
    view = tierd_upstream_result{};
    view.struct_size = sizeof view;
    view.result = &into.result;
    view.frame_index = it->first;
    view.tier = a.tier;
    view.age_ms = static_cast<double>(now_ns - a.captured_ns) / 1e6;
    view.arrived_ago_ms = static_cast<double>(now_ns - a.arrived_ns) / 1e6;
    view.sequence = a.sequence;
    return true;
}

void VideoStream::saw_local(const tierd_inference_result &local) {
    local_summary(local, last_local_count_, last_local_mean_);
}

nlohmann::json VideoStream::stats(std::uint64_t now_ns) const {
    nlohmann::json j = {{"frames", frames_},
                        {"key_frames",
                         {{"sent", key_sent_},
                          {"answered", key_answered_},
                          {"lost", key_lost_},
                          {"in_flight", key_in_flight_},
                          {"bytes_up", key_bytes_up_},
                          {"bytes_down", key_bytes_down_}}},
                        {"upstream_answers", upstream_sequence_},
                        {"last_key_frame", last_key_frame_}};
    if (!answers_.empty())
        j["upstream_age_ms"] =
            static_cast<double>(now_ns - answers_.rbegin()->second.captured_ns) / 1e6;
    if (warp_error_ >= 0.0)
        j["warp_error"] = {{"value", warp_error_},
                           {"frame", warp_error_frame_},
                           {"key_frame", warp_error_key_frame_}};
    return j;
}

} // namespace tierd
