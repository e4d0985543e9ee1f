#include "teacher_judge.hpp"

#include "percent_text.hpp"

#include <algorithm>
#include <cstdio>
#include <utility>

namespace inference_opencv {
TeacherJudge::TeacherJudge(std::shared_ptr<const RecalibratableModel> model, std::string model_name,
                           ToBlob to_blob, std::shared_ptr<const TeacherLabels> labels,
                           std::size_t min_labels, bool held_out_only)
    : TeacherJudge(
          std::move(model),
          [model_name = std::move(model_name), to_blob = std::move(to_blob),
           labels = std::move(labels), held_out_only] {
              auto kept = std::make_shared<std::vector<TeacherLabel>>();
              for (auto &l : labels->snapshot())
                  if (l.recent && l.teacher_model != model_name && (l.held_out || !held_out_only))
                      kept->push_back(std::move(l));
              Labels out;
              out.count = kept->size();
              out.noun = held_out_only ? "held-out teacher labels" : "teacher labels";
              out.agreement = [kept, to_blob](cv::dnn::Net &net) {
                  return weighted_agreement(net, *kept, to_blob);
              };
              return out;
          },
          min_labels) {}

TeacherJudge::TeacherJudge(std::shared_ptr<const RecalibratableModel> model, TakeLabels take,
                           std::size_t min_labels, double margin)
    : model_(std::move(model)), take_(std::move(take)),
      min_labels_(std::max<std::size_t>(1, min_labels)), margin_(margin) {}

OnlineRecalibration::Verdict TeacherJudge::operator()(const Adaptation &candidate,
                                                      std::string &why) {
    using Verdict = OnlineRecalibration::Verdict;
    const Labels labels = take_();
    last_ = Scores{};
    last_.labels = labels.count;
    last_.head = !candidate.head.empty();
    cv::dnn::Net next = model_->build(candidate);
    if (labels.count < min_labels_) {
        why = std::to_string(labels.count) + " " + labels.noun + ", fewer than " +
              std::to_string(min_labels_) + ": installed unjudged";
        installed_ = std::move(next); // what the next candidate is judged against
        return last_.verdict = Verdict::install;
    }
    last_.judged = true;
    if (shipped_.empty())
        shipped_ = model_->build();
    last_.candidate = labels.agreement(next);
    last_.shipped = labels.agreement(shipped_);
    last_.installed = installed_.empty() ? last_.shipped : labels.agreement(installed_);
    why = std::to_string(labels.count) + " " + labels.noun + " agree " + percent(last_.candidate) +
          " with the new " + (last_.head ? "recalibration and head, " : "recalibration, ") +
          percent(last_.installed) + " with the model now, " + percent(last_.shipped) +
          " with the model as shipped";
    if (last_.candidate + margin_ >= std::max(last_.installed, last_.shipped)) {
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
