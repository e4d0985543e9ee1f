// Teacher labels on the device: the images this device sent upstream with the class the
// stronger model there answered (ABI 1.5 learn()), kept in a bounded replay buffer, and
// the agreement of a model with them — what lets an adaptation in only when it does not
// make the model worse.
//
// The buffer keeps two halves: the most recent labels (a ring: the data as it is now) and
// a uniform sample of every label seen so far (reservoir sampling, Vitter's algorithm R,
// with a fixed seed: the data as it has been, so a model judged on it is not judged on the
// last minutes only). Each label carries the teacher's confidence as its weight: a teacher
// suffers from a data shift too, and its unsure answers count less.
//
// Threading: add() from any number of worker threads; snapshot() from any thread.
#pragma once

#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <vector>

namespace inference_opencv {

struct TeacherLabel {
    cv::Mat image;             // a copy, as the model's input takes it (before scaling)
    int label = -1;            // the teacher's class
    float weight = 0;          // its confidence, 0..1
    std::string teacher_model; // the model that answered (a model is no judge of itself)
    // Every kHeldOutEvery-th label added: never trained on (head_learner.hpp), so that a
    // model whose head learnt from the others can be judged on these.
    bool held_out = false;
    // In the ring of the latest labels (the data as it is now), not the sample of all.
    bool recent = false;
};

class TeacherLabels {
  public:
    static constexpr std::uint64_t kHeldOutEvery = 5;

    // `capacity` labels in all (at least 2): half recent, half a sample of all.
    explicit TeacherLabels(std::size_t capacity);

    // Keeps a copy of `image` with its label; false (nothing kept) for an empty image, a
    // negative label or a weight that is not above 0 (weights above 1 count as 1).
    bool add(const cv::Mat &image, int label, float weight, std::string teacher_model = {});

    // A copy of what is kept now (recent first).
    std::vector<TeacherLabel> snapshot() const;

    std::size_t size() const;
    std::uint64_t seen() const; // labels added since the start

  private:
    std::size_t recent_capacity_, sample_capacity_;
    mutable std::mutex mutex_;
    std::vector<TeacherLabel> recent_; // ring
    std::size_t next_recent_ = 0;
    std::vector<TeacherLabel> sample_; // reservoir of every label evicted from the ring
    std::uint64_t evicted_ = 0;
    std::uint64_t seen_ = 0;
    std::mt19937_64 random_{0x7e1d};
};

// How well a net's answers agree with the labels: the labels' weights summed where the
// net's top class is the label, over all their weights (0..1); -1 when `labels` is
// empty. `to_blob` turns images into the net's input, `batch` images per forward pass.
double weighted_agreement(cv::dnn::Net &net, const std::vector<TeacherLabel> &labels,
                          const std::function<cv::Mat(const std::vector<cv::Mat> &)> &to_blob,
                          std::size_t batch = 64);

} // namespace inference_opencv
