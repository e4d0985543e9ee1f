// TeacherJudge: decides whether a model's new adaptation (online_recalibration.hpp: a
// recalibration, and a head learnt from labels) goes in, by the teacher's answers the
// device has collected: class labels for a classifier (teacher_labels.hpp), key-frame
// boxes for a detector (teacher_frames.hpp). What "agreement" is comes with the labels
// (Labels below); the rule is the same for both.
//
// Only the latest labels judge (the replay buffer's ring, not its sample of all): an
// adaptation follows the data as it is now, and judged on images of a segment the data
// has left it would be kept out for fitting the present (measured: bench/adapt/run.sh kept
// the brightness adaptation out this way). Forgetting is the held-back buffer's to catch
// (head_learner.hpp), and a recalibration re-adapts when the data changes back.
//
// An adaptation goes in when its answers agree with the labels (weighted by the
// teacher's confidence) at least as well as the model installed now and the model as
// shipped, within the margin (what a few hundred labels cannot tell apart). When it does
// worse, the installed model stays — unless that one does worse than the shipped model
// too, and then the shipped model comes back. So labels never let a worse model in, and a
// model that adapted itself (without labels) into doing worse than it was shipped is
// rolled back once labels show it. Labels the model itself gave (a teacher running a model
// of the same name) are left out; with fewer than `min_labels` others, an adaptation
// goes in unjudged, as it would without a judge. `held_out_only`: only the held-out labels
// judge (for a candidate with a head learnt from the others; the plugin checks its heads
// in the HeadLearner instead).
//
// Threading: call it from one thread at a time (the adaptation thread); the labels may be
// added to meanwhile.
#pragma once

#include "channel_recalibration.hpp"
#include "online_recalibration.hpp"
#include "teacher_labels.hpp"

#include <opencv2/dnn.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace inference_opencv {

class TeacherJudge {
  public:
    static constexpr double kMargin = 0.01;

    // The labels one judgement uses, taken when it starts: how many there are, what to call
    // them in the log ("teacher labels"), and a net's agreement with them, 0..1 (higher =
    // agrees more).
    struct Labels {
        std::size_t count = 0;
        std::string noun;
        std::function<double(cv::dnn::Net &)> agreement;
    };
    using TakeLabels = std::function<Labels()>;

    // What one judgement measured (agreements 0..1, -1 when not measured).
    struct Scores {
        std::size_t labels = 0;
        double candidate = -1, installed = -1, shipped = -1;
        OnlineRecalibration::Verdict verdict = OnlineRecalibration::Verdict::install;
        bool head = false;   // the candidate had a learnt head
        bool judged = false; // false: too few labels, installed unjudged
    };
    using ToBlob = std::function<cv::Mat(const std::vector<cv::Mat> &)>;

    // A classifier's judge: the recent teacher labels not given by `model_name` itself,
    // agreement = weighted_agreement().
    TeacherJudge(std::shared_ptr<const RecalibratableModel> model, std::string model_name,
                 ToBlob to_blob, std::shared_ptr<const TeacherLabels> labels,
                 std::size_t min_labels, bool held_out_only = false);
    // Any model's judge, by the labels `take` gives; `margin`: how much lower a candidate's
    // agreement may be and still count as "as well".
    TeacherJudge(std::shared_ptr<const RecalibratableModel> model, TakeLabels take,
                 std::size_t min_labels, double margin = kMargin);

    // The verdict on `candidate`; `why` says what the labels showed.
    OnlineRecalibration::Verdict operator()(const Adaptation &candidate, std::string &why);

    // The last judgement's figures.
    const Scores &last() const { return last_; }

  private:
    std::shared_ptr<const RecalibratableModel> model_;
    TakeLabels take_;
    std::size_t min_labels_;
    double margin_;
    cv::dnn::Net shipped_, installed_; // built on first use; installed_ empty = shipped
    Scores last_;
};

} // namespace inference_opencv
