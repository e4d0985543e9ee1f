#include "agent/pipeline/answered_samples.hpp"

#include <algorithm>

namespace tierd {

void AnsweredSamples::set_capacity(std::size_t capacity) {
    std::lock_guard lock(mutex_);
    capacity_ = capacity;
    if (capacity_ == 0) {
        devices_.clear();
        return;
    }
    for (auto &[id, d] : devices_)
        while (d.samples.size() > capacity_)
            d.samples.pop_front();
}

std::size_t AnsweredSamples::capacity() const {
    std::lock_guard lock(mutex_);
    return capacity_;
}

bool AnsweredSamples::keep(const std::string &device_id, const cv::Mat &image, int label,
                           float score, const std::string &task_id) {
    std::lock_guard lock(mutex_);
    if (capacity_ == 0 || label < 0 || label > 255)
        return false;
    if (image.empty() || image.type() != CV_8UC1 || image.total() > std::size_t{kMaxPixels}) {
        ++skipped_;
        return false;
    }
    auto it = devices_.find(device_id);
    if (it == devices_.end()) {
        if (devices_.size() >= kMaxDevices) {
            auto stalest = std::min_element(devices_.begin(), devices_.end(),
                                            [](const auto &a, const auto &b) {
                                                return a.second.last_kept < b.second.last_kept;
                                            });
            devices_.erase(stalest);
        }
        it = devices_.emplace(device_id, Device{}).first;
    }
    Device &d = it->second;
    if (d.rows != image.rows || d.cols != image.cols) {
        // A device whose inputs changed size (a new model, a new camera) starts over: an
        // IDX file holds one size.
        d.samples.clear();
        d.rows = image.rows;
        d.cols = image.cols;
    }
    d.samples.push_back(Sample{image.clone(), label, score, task_id});
    while (d.samples.size() > capacity_)
        d.samples.pop_front();
    d.last_kept = ++sequence_;
    ++kept_;
    return true;
}

AnsweredSamples::Set AnsweredSamples::get(const std::string &device_id, std::size_t max) const {
    std::lock_guard lock(mutex_);
    Set set;
    set.device_id = device_id;
    auto it = devices_.find(device_id);
    if (it == devices_.end())
        return set;
    const Device &d = it->second;
    set.rows = d.rows;
    set.cols = d.cols;
    const std::size_t n = max == 0 ? d.samples.size() : std::min(max, d.samples.size());
    set.samples.assign(d.samples.end() - static_cast<std::ptrdiff_t>(n), d.samples.end());
    return set;
}

std::map<std::string, std::size_t> AnsweredSamples::counts() const {
    std::lock_guard lock(mutex_);
    std::map<std::string, std::size_t> out;
    for (const auto &[id, d] : devices_)
        out[id] = d.samples.size();
    return out;
}

std::uint64_t AnsweredSamples::kept_total() const {
    std::lock_guard lock(mutex_);
    return kept_;
}

std::uint64_t AnsweredSamples::skipped_total() const {
    std::lock_guard lock(mutex_);
    return skipped_;
}

namespace {

void put_u32(std::string &out, std::uint32_t v) {
    out.push_back(static_cast<char>(v >> 24));
    out.push_back(static_cast<char>(v >> 16));
    out.push_back(static_cast<char>(v >> 8));
    out.push_back(static_cast<char>(v));
}

} // namespace

std::string idx_images(const AnsweredSamples::Set &set) {
    std::string out{'\0', '\0', '\x08', '\x03'};
    put_u32(out, static_cast<std::uint32_t>(set.samples.size()));
    put_u32(out, static_cast<std::uint32_t>(set.rows));
    put_u32(out, static_cast<std::uint32_t>(set.cols));
    out.reserve(out.size() + set.samples.size() * static_cast<std::size_t>(set.rows * set.cols));
    for (const auto &s : set.samples)
        for (int r = 0; r < s.image.rows; ++r)
            out.append(reinterpret_cast<const char *>(s.image.ptr(r)),
                       static_cast<std::size_t>(s.image.cols));
    return out;
}

std::string idx_labels(const AnsweredSamples::Set &set) {
    std::string out{'\0', '\0', '\x08', '\x01'};
    put_u32(out, static_cast<std::uint32_t>(set.samples.size()));
    for (const auto &s : set.samples)
        out.push_back(static_cast<char>(static_cast<unsigned char>(s.label)));
    return out;
}

} // namespace tierd
