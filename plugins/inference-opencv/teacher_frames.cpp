#include "teacher_frames.hpp"

#include "tools/eval/coco_evaluator.hpp"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <set>
#include <utility>

namespace inference_opencv {

TeacherFrames::TeacherFrames(std::size_t capacity) : capacity_(std::max<std::size_t>(1, capacity)) {
    ring_.reserve(capacity_);
}

bool TeacherFrames::add(const cv::Mat &frame, cv::Size frame_size,
                        const std::vector<DetectionBox> &boxes, cv::Size input,
                        std::string teacher_model) {
    if (frame.empty() || frame_size.area() <= 0 || input.area() <= 0)
        return false;
    TeacherFrame kept;
    cv::resize(frame, kept.image, input, 0, 0, cv::INTER_LINEAR);
    const float sx = static_cast<float>(input.width) / static_cast<float>(frame_size.width);
    const float sy = static_cast<float>(input.height) / static_cast<float>(frame_size.height);
    kept.boxes.reserve(boxes.size());
    for (DetectionBox b : boxes) {
        b.x *= sx;
        b.width *= sx;
        b.y *= sy;
        b.height *= sy;
        kept.boxes.push_back(b);
    }
    kept.teacher_model = std::move(teacher_model);
    std::lock_guard lock(mutex_);
    if (ring_.size() < capacity_)
        ring_.push_back(std::move(kept));
    else
        ring_[next_] = std::move(kept);
    next_ = (next_ + 1) % capacity_;
    ++seen_;
    return true;
}

std::vector<TeacherFrame> TeacherFrames::snapshot() const {
    std::lock_guard lock(mutex_);
    std::vector<TeacherFrame> out;
    out.reserve(ring_.size());
    // Oldest first: from the slot the next frame overwrites, once the ring is full.
    const std::size_t first = ring_.size() < capacity_ ? 0 : next_;
    for (std::size_t i = 0; i < ring_.size(); ++i)
        out.push_back(ring_[(first + i) % ring_.size()]);
    return out;
}

std::size_t TeacherFrames::size() const {
    std::lock_guard lock(mutex_);
    return ring_.size();
}

std::uint64_t TeacherFrames::seen() const {
    std::lock_guard lock(mutex_);
    return seen_;
}

double detection_agreement(cv::dnn::Net &net, const std::vector<TeacherFrame> &frames,
                           const std::function<cv::Mat(const cv::Mat &)> &to_blob,
                           const FrameAgreementOptions &options) {
    namespace eval = tierd::eval;
    eval::GroundTruth truth;
    std::vector<eval::Detection> found;
    std::set<std::int64_t> categories;
    std::size_t labels = 0; // boxes of the first band
    static const std::vector<std::string> kOutputs = {"heatmap", "box"};
    std::vector<cv::Mat> outputs;
    for (std::size_t i = 0; i < frames.size(); ++i) {
        const auto id = static_cast<std::int64_t>(i);
        truth.image_ids.push_back(id);
        for (const auto &b : frames[i].boxes) {
            if (b.score < std::min(options.teacher_unsure_score, options.teacher_min_score))
                continue;
            eval::GroundTruthObject object;
            object.image_id = id;
            object.category_id = b.class_id + 1;
            object.box = {b.x, b.y, b.width, b.height};
            object.area_px2 = eval::box_area(object.box);
            object.is_crowd = b.score < options.teacher_min_score; // unsure: ignored
            labels += object.is_crowd ? 0 : 1;
            truth.objects.push_back(object);
            categories.insert(object.category_id);
        }
        const cv::Mat &image = frames[i].image;
        net.setInput(to_blob(image));
        net.forward(outputs, kOutputs);
        for (const auto &b :
             decode_detections(outputs[0], outputs[1], image.size(), image.size(), options.decode))
            found.push_back({id, b.class_id + 1, {b.x, b.y, b.width, b.height}, b.score});
    }
    if (labels == 0)
        return -1.0;
    for (std::int64_t c : categories)
        truth.categories.push_back({c, {}});
    const eval::CocoEvaluation result = eval::evaluate_coco(truth, found);
    return std::max(0.0, result.summary.ap50);
}

} // namespace inference_opencv
