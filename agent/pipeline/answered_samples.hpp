// What a serving tier (edge, cloud) keeps of the images it answered, per requesting
// device: the labelled samples a fine-tuning job on this tier trains that device's model
// with (docs/adaptation.md, "Whole-model fine-tuning on the edge"). The cascade sends up
// exactly the images the end's model is unsure of, and this tier's answer is their
// teacher label, so the training data costs no extra upload.
//
// Bounded: the last `capacity` images per device (older ones drop first) and at most
// kMaxDevices devices (the one answered longest ago drops first). Only single-channel
// images of at most kMaxPixels are kept, all of one size per device (the first kept sets it; a
// device whose images change size starts over): classifier inputs, which IDX files hold. Video
// frames and split tensors are not kept.
//
// Thread-safe: keep() runs on the offload server's workers, the rest on the loop.
#pragma once

#include <opencv2/core.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace tierd {

class AnsweredSamples {
  public:
    static constexpr std::size_t kMaxDevices = 64;
    // Larger images are not kept (counted skipped): classifier inputs are small, and the
    // bound keeps the memory at capacity x 64 KB per device at most.
    static constexpr int kMaxPixels = 256 * 256;

    struct Sample {
        cv::Mat image; // CV_8UC1, owned (a copy)
        int label = -1;
        float score = 0.0f; // the answer's top score
        std::string task_id;
    };
    // One device's samples, oldest first.
    struct Set {
        std::string device_id;
        int rows = 0, cols = 0;
        std::vector<Sample> samples;
    };

    explicit AnsweredSamples(std::size_t capacity = 0) : capacity_(capacity) {}

    // Images per device kept from now on; 0 = keep nothing (and forget what was kept).
    void set_capacity(std::size_t capacity);
    std::size_t capacity() const;

    // Keeps `image` (copied when it qualifies: one channel, at most kMaxPixels; a new size
    // starts the device over) answered
    // with `label` for `device_id`. Returns whether it was kept.
    bool keep(const std::string &device_id, const cv::Mat &image, int label, float score,
              const std::string &task_id);

    // A copy of the last `max` (0 = all) samples kept for `device_id`; empty when none.
    Set get(const std::string &device_id, std::size_t max = 0) const;

    // Images kept per device now.
    std::map<std::string, std::size_t> counts() const;
    // Since start: images kept, and images not kept for their format or size.
    std::uint64_t kept_total() const;
    std::uint64_t skipped_total() const;

  private:
    struct Device {
        int rows = 0, cols = 0;
        std::deque<Sample> samples;
        std::uint64_t last_kept = 0; // sequence number, for evicting the stalest device
    };

    mutable std::mutex mutex_;
    std::size_t capacity_;
    std::map<std::string, Device> devices_;
    std::uint64_t sequence_ = 0, kept_ = 0, skipped_ = 0;
};

// The IDX files of a set (unsigned bytes, big-endian sizes): images [n, rows, cols] and
// labels [n]. What tools/adapt/finetune.py and every Fashion-MNIST reader take.
std::string idx_images(const AnsweredSamples::Set &set);
std::string idx_labels(const AnsweredSamples::Set &set);

} // namespace tierd
