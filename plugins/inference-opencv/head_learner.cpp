#include "head_learner.hpp"

#include "percent_text.hpp"

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <utility>

namespace inference_opencv {
HeadLearner::HeadLearner(std::shared_ptr<const RecalibratableModel> model, std::string model_name,
                         ToBlob to_blob, std::shared_ptr<const TeacherLabels> labels,
                         std::vector<cv::Mat> holdout, std::vector<int> holdout_labels,
                         Options options)
    : model_(std::move(model)), model_name_(std::move(model_name)), to_blob_(std::move(to_blob)),
      labels_(std::move(labels)), holdout_(std::move(holdout)),
      holdout_labels_(std::move(holdout_labels)), options_(options) {
    if (model_->shipped_head().empty())
        throw std::invalid_argument("the model does not end in a linear layer: no head to learn");
    if (holdout_.size() != holdout_labels_.size())
        throw std::invalid_argument("the held-back buffer needs one label per image");
}

void HeadLearner::operator()(Adaptation &candidate, std::string &note) {
    const auto start = std::chrono::steady_clock::now();
    last_ = Scores{};
    candidate.head = Head{};
    // The latest labels (the data as it is now, as the recalibration): four in five to
    // learn from, the fifth held out to check what was learnt.
    std::vector<cv::Mat> images, held_images;
    std::vector<int> labels, held_labels;
    std::vector<float> weights, held_weights;
    for (auto &l : labels_->snapshot()) {
        if (!l.recent || l.teacher_model == model_name_)
            continue;
        (l.held_out ? held_images : images).push_back(std::move(l.image));
        (l.held_out ? held_labels : labels).push_back(l.label);
        (l.held_out ? held_weights : weights).push_back(l.weight);
    }
    last_.labels = labels.size();
    if (labels.size() < options_.min_labels) {
        note = "head: " + std::to_string(labels.size()) +
               " teacher labels to learn from, fewer "
               "than " +
               std::to_string(options_.min_labels) + ": the shipped head stays";
        return;
    }
    const Head &shipped = model_->shipped_head();
    cv::dnn::Net body = model_->build(candidate.channels);
    const cv::Mat features = head_features(body, shipped.layer, to_blob_(images));
    Head head = fine_tune_head(shipped, features, labels, weights, options_.training);
    last_.trained = true;
    if (!holdout_.empty() && holdout_features_.empty()) {
        cv::dnn::Net net = model_->build();
        holdout_features_ = head_features(net, shipped.layer, to_blob_(holdout_));
        holdout_.clear();
        holdout_.shrink_to_fit();
    }
    std::string guard = "no held-back buffer";
    if (!holdout_features_.empty()) {
        last_.holdout = head_accuracy(head, holdout_features_, holdout_labels_);
        last_.holdout_shipped = head_accuracy(shipped, holdout_features_, holdout_labels_);
        guard = "held-back buffer " + percent(last_.holdout) + " (shipped head " +
                percent(last_.holdout_shipped) + ")";
        last_.refused = last_.holdout < last_.holdout_shipped - options_.max_holdout_drop;
    }
    // Does the head agree better with the teacher's held-out labels than the shipped head
    // on the same recalibrated layers? (It learnt from the others.)
    std::string check = "too few held-out labels to check";
    if (!last_.refused && held_labels.size() >= kMinHeldOut) {
        const cv::Mat held = head_features(body, shipped.layer, to_blob_(held_images));
        last_.agreement = head_accuracy(head, held, held_labels, held_weights);
        last_.agreement_shipped = head_accuracy(shipped, held, held_labels, held_weights);
        check = std::to_string(held_labels.size()) + " held-out labels agree " +
                percent(last_.agreement) + " (shipped head " + percent(last_.agreement_shipped) +
                ")";
        last_.dropped = last_.agreement < last_.agreement_shipped;
    }
    last_.ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (last_.refused) {
        note = "head refused, the shipped head stays: learnt from " +
               std::to_string(labels.size()) + " teacher labels, " + guard + " — more than " +
               percent(options_.max_holdout_drop) + " below: the teacher is not to be trusted";
        return;
    }
    if (last_.dropped) {
        note = "head dropped, the shipped head stays: learnt from " +
               std::to_string(labels.size()) + " teacher labels, " + check;
        return;
    }
    candidate.head = std::move(head);
    note = "head learnt from " + std::to_string(labels.size()) + " teacher labels in " +
           std::to_string(static_cast<long>(last_.ms)) + " ms, " + guard + "; " + check;
}

} // namespace inference_opencv
