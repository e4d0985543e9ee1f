#include "teacher_labels.hpp"

#include <algorithm>
#include <utility>

namespace inference_opencv {

TeacherLabels::TeacherLabels(std::size_t capacity)
    : recent_capacity_(std::max<std::size_t>(1, capacity / 2)),
      sample_capacity_(std::max<std::size_t>(1, capacity - capacity / 2)) {
    recent_.reserve(recent_capacity_);
    sample_.reserve(sample_capacity_);
}

bool TeacherLabels::add(const cv::Mat &image, int label, float weight, std::string teacher_model) {
    if (image.empty() || label < 0 || !(weight > 0.0f))
        return false;
    TeacherLabel entry{image.clone(), label, std::min(weight, 1.0f), std::move(teacher_model)};
    std::lock_guard lock(mutex_);
    entry.held_out = seen_ % kHeldOutEvery == 0;
    ++seen_;
    if (recent_.size() < recent_capacity_) {
        recent_.push_back(std::move(entry));
        return true;
    }
    // The ring's oldest leaves it for the reservoir: kept with probability k / n over
    // the n labels evicted so far (algorithm R), replacing a random one.
    TeacherLabel evicted = std::exchange(recent_[next_recent_], std::move(entry));
    next_recent_ = (next_recent_ + 1) % recent_capacity_;
    ++evicted_;
    if (sample_.size() < sample_capacity_) {
        sample_.push_back(std::move(evicted));
    } else {
        std::uniform_int_distribution<std::uint64_t> pick(0, evicted_ - 1);
        const std::uint64_t slot = pick(random_);
        if (slot < sample_capacity_)
            sample_[static_cast<std::size_t>(slot)] = std::move(evicted);
    }
    return true;
}

std::vector<TeacherLabel> TeacherLabels::snapshot() const {
    std::lock_guard lock(mutex_);
    std::vector<TeacherLabel> out;
    out.reserve(recent_.size() + sample_.size());
    for (const auto *part : {&recent_, &sample_})
        for (const auto &l : *part)
            out.push_back({l.image.clone(), l.label, l.weight, l.teacher_model, l.held_out,
                           part == &recent_});
    return out;
}

std::size_t TeacherLabels::size() const {
    std::lock_guard lock(mutex_);
    return recent_.size() + sample_.size();
}

std::uint64_t TeacherLabels::seen() const {
    std::lock_guard lock(mutex_);
    return seen_;
}

double weighted_agreement(cv::dnn::Net &net, const std::vector<TeacherLabel> &labels,
                          const std::function<cv::Mat(const std::vector<cv::Mat> &)> &to_blob,
                          std::size_t batch) {
    if (labels.empty())
        return -1.0;
    batch = std::max<std::size_t>(1, batch);
    double agreed = 0.0, total = 0.0;
    std::vector<cv::Mat> images;
    for (std::size_t start = 0; start < labels.size(); start += batch) {
        const std::size_t end = std::min(labels.size(), start + batch);
        images.clear();
        for (std::size_t i = start; i < end; ++i)
            images.push_back(labels[i].image);
        net.setInput(to_blob(images));
        const cv::Mat out = net.forward();
        const cv::Mat rows = out.reshape(1, static_cast<int>(end - start));
        for (std::size_t i = start; i < end; ++i) {
            cv::Point top;
            cv::minMaxLoc(rows.row(static_cast<int>(i - start)), nullptr, nullptr, nullptr, &top);
            total += labels[i].weight;
            if (top.x == labels[i].label)
                agreed += labels[i].weight;
        }
    }
    return total > 0.0 ? agreed / total : -1.0;
}

} // namespace inference_opencv
