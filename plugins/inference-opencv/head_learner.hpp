// HeadLearner: the supervised step of on-device adaptation (`adapt = "recalibrate+head"`;
// docs/adaptation.md, "Fine-tuning the head"). Each new recalibration of a model gets a
// head fine-tuned on the teacher labels the device has collected (teacher_labels.hpp;
// head_finetune.hpp does the training), before the TeacherJudge sees it.
//
// - It learns from the latest labels (the replay buffer's ring: the data as it is now,
//   which the recalibration adapts to) that are not held out and not the model's own (a
//   teacher running a model of the same name), their features read through the
//   candidate's recalibrated net, starting each time from the shipped head, so learning
//   does not compound.
// - The held-out fifth checks it: a head that agrees less with them than the shipped head
//   on the same recalibrated layers is dropped (the teacher itself says it did not help).
// - The guard: a held-back buffer of images with true labels, of the kind the model was
//   trained on (the operator's; by default part of the dataset's training split that the
//   source statistics do not use). A new head whose accuracy there falls more than
//   `max_holdout_drop` below the shipped head's is refused, and the candidate goes on with
//   the shipped head: a teacher that is wrong — shifted, broken or poisoned — cannot teach
//   the device to forget what it knew. The held-back features are read through the
//   shipped net, which is what a recalibrated net makes of shifted input (the
//   recalibration gives every channel back its source statistics).
//
// Threading: call from one thread at a time (the adaptation thread); labels may be added
// meanwhile.
#pragma once

#include "channel_recalibration.hpp"
#include "head_finetune.hpp"
#include "teacher_labels.hpp"

#include <opencv2/core.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace inference_opencv {

class HeadLearner {
  public:
    static constexpr std::size_t kMinHeldOut = 8; // fewer: no agreement check
    struct Options {
        std::size_t min_labels = 32;    // fewer labels to learn from: no head
        double max_holdout_drop = 0.02; // the guard, as a fraction (0.02 = 2 points)
        HeadTraining training;
    };
    // What the last call did.
    struct Scores {
        std::size_t labels = 0;                            // learnt from
        double holdout = -1.0, holdout_shipped = -1.0;     // accuracy on the held-back buffer
        double ms = 0.0;                                   // features and training
        bool trained = false;                              // a head was fitted
        bool refused = false;                              // ... and the guard refused it
        double agreement = -1.0, agreement_shipped = -1.0; // with the held-out labels
        bool dropped = false; // ... it agreed less with them than the shipped head
    };
    using ToBlob = std::function<cv::Mat(const std::vector<cv::Mat> &)>;

    // `holdout` / `holdout_labels`: the held-back buffer (may be empty: no guard).
    // Throws std::invalid_argument when the model has no head or the sizes differ.
    HeadLearner(std::shared_ptr<const RecalibratableModel> model, std::string model_name,
                ToBlob to_blob, std::shared_ptr<const TeacherLabels> labels,
                std::vector<cv::Mat> holdout, std::vector<int> holdout_labels, Options options);

    // Fits `candidate.head` on the labels through `candidate.channels`; leaves it empty
    // (the shipped head) with too few labels or when the guard refuses it. `note` says
    // what happened.
    void operator()(Adaptation &candidate, std::string &note);

    const Scores &last() const { return last_; }

  private:
    std::shared_ptr<const RecalibratableModel> model_;
    std::string model_name_;
    ToBlob to_blob_;
    std::shared_ptr<const TeacherLabels> labels_;
    std::vector<cv::Mat> holdout_; // released once its features are read
    std::vector<int> holdout_labels_;
    cv::Mat holdout_features_; // through the shipped net, read on first use
    Options options_;
    Scores last_;
};

} // namespace inference_opencv
