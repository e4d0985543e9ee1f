#include "teacher_judge.hpp"

#include "percent_text.hpp"

#include <algorithm>
#include <cstdio>
#include <utility>

namespace inference_opencv {
TeacherJudge::TeacherJudge(std::shared_ptr<const RecalibratableModel> model, std::string model_name,
                           ToBlob to_blob, std::shared_ptr<const TeacherLabels> labels,
                           std::size_t min_labels, bool held_out_only)
    : model_(std::move(model)), model_name_(std::move(model_name)), to_blob_(std::move(to_blob)),
      labels_(std::move(labels)), min_labels_(std::max<std::size_t>(1, min_labels)),
      held_out_only_(held_out_only) {}

OnlineRecalibration::Verdict TeacherJudge::operator()(const Adaptation &candidate,
                                                      std::string &why) {
    using Verdict = OnlineRecalibration::Verdict;
    std::vector<TeacherLabel> labels;
    for (auto &l : labels_->snapshot())
        if (l.recent && l.teacher_model != model_name_ && (l.held_out || !held_out_only_))
            labels.push_back(std::move(l));
    last_ = Scores{};
    last_.labels = labels.size();
    last_.head = !candidate.head.empty();
    cv::dnn::Net next = model_->build(candidate);
    if (labels.size() < min_labels_) {
        why = std::to_string(labels.size()) + (held_out_only_ ? " held-out" : "") +
              " teacher labels, fewer than " + std::to_string(min_labels_) + ": installed unjudged";
        installed_ = std::move(next); // what the next candidate is judged against
        return last_.verdict = Verdict::install;
    }
    last_.judged = true;
    if (shipped_.empty())
        shipped_ = model_->build();
    last_.candidate = weighted_agreement(next, labels, to_blob_);
    last_.shipped = weighted_agreement(shipped_, labels, to_blob_);
    last_.installed =
        installed_.empty() ? last_.shipped : weighted_agreement(installed_, labels, to_blob_);
    why = std::to_string(labels.size()) + (held_out_only_ ? " held-out" : "") +
          " teacher labels agree " + percent(last_.candidate) + " with the new " +
          (last_.head ? "recalibration and head, " : "recalibration, ") + percent(last_.installed) +
          " with the model now, " + percent(last_.shipped) + " with the model as shipped";
    if (last_.candidate + kMargin >= std::max(last_.installed, last_.shipped)) {
        installed_ = std::move(next);
        return last_.verdict = Verdict::install;
    }
    if (!installed_.empty() && last_.shipped >= last_.installed) {
        installed_ = cv::dnn::Net();
        return last_.verdict = Verdict::revert;
    }
    return last_.verdict = Verdict::keep;
}

} // namespace inference_opencv
