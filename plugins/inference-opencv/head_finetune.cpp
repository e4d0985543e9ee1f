#include "head_finetune.hpp"

#include "channel_recalibration.hpp" // batch_rows

#include <opencv2/ml.hpp>

#include <algorithm>
#include <stdexcept>

namespace inference_opencv {
namespace {

bool is_linear_with_weights(const cv::Ptr<cv::dnn::Layer> &layer) {
    return layer->type == "InnerProduct" && !layer->blobs.empty() && layer->blobs[0].dims == 2;
}

// An ANN_MLP with one layer (inputs -> outputs, identity activation, no scaling) holding
// `head`, written in the format ANN_MLP::save() writes and read back: ANN_MLP has no
// setter for its weights. Its weights are (inputs + 1) x outputs, the last row the bias.
cv::Ptr<cv::ml::ANN_MLP> perceptron_from(const Head &head, const HeadTraining &training,
                                         int steps) {
    const int inputs = head.weights.cols, outputs = head.weights.rows;
    cv::FileStorage fs(".yml", cv::FileStorage::WRITE | cv::FileStorage::MEMORY);
    fs << "opencv_ml_ann_mlp"
       << "{";
    fs << "format" << 3;
    fs << "layer_sizes" << std::vector<int>{inputs, outputs};
    fs << "activation_function"
       << "IDENTITY";
    fs << "min_val" << 0.0 << "max_val" << 0.0 << "min_val1" << 0.0 << "max_val1" << 0.0;
    fs << "training_params"
       << "{";
    fs << "train_method"
       << "BACKPROP";
    fs << "dw_scale" << training.learning_rate << "moment_scale" << training.momentum;
    fs << "term_criteria"
       << "{"
       << "epsilon" << 1e-12 << "iterations" << steps << "}";
    fs << "}";
    std::vector<double> identity_inputs, identity_outputs;
    for (int i = 0; i < inputs; ++i)
        identity_inputs.insert(identity_inputs.end(), {1.0, 0.0}); // scale, shift
    for (int o = 0; o < outputs; ++o)
        identity_outputs.insert(identity_outputs.end(), {1.0, 0.0});
    fs << "input_scale" << identity_inputs;
    fs << "output_scale" << identity_outputs;
    fs << "inv_output_scale" << identity_outputs;
    std::vector<double> layer;
    layer.reserve(static_cast<std::size_t>(inputs + 1) * outputs);
    for (int i = 0; i < inputs; ++i)
        for (int o = 0; o < outputs; ++o)
            layer.push_back(head.weights.at<float>(o, i));
    for (int o = 0; o < outputs; ++o)
        layer.push_back(head.bias.at<float>(0, o));
    fs << "weights"
       << "[" << layer << "]";
    fs << "}";
    return cv::Algorithm::loadFromString<cv::ml::ANN_MLP>(fs.releaseAndGetString(),
                                                          "opencv_ml_ann_mlp");
}

} // namespace

std::string find_head_layer(cv::dnn::Net &net) {
    const auto outputs = net.getUnconnectedOutLayersNames();
    if (outputs.size() != 1)
        return {};
    // The ONNX importer ends a graph whose output is named by the exporter ("logits") with
    // an Identity layer of that name; the head is the layer it passes on.
    int id = net.getLayerId(outputs[0]);
    for (int hops = 0; id >= 0 && hops < 4; ++hops) {
        const auto layer = net.getLayer(id);
        if (is_linear_with_weights(layer))
            return layer->name;
        if (layer->type != "Identity")
            return {};
        const auto inputs = net.getLayerInputs(id);
        if (inputs.size() != 1 || inputs[0].empty())
            return {};
        id = net.getLayerId(inputs[0]->name);
    }
    return {};
}

std::string head_input_layer(cv::dnn::Net &net, const std::string &head_layer) {
    const int id = net.getLayerId(head_layer);
    if (id < 0)
        throw std::invalid_argument("no layer " + head_layer);
    const auto inputs = net.getLayerInputs(id);
    if (inputs.size() != 1 || inputs[0].empty())
        throw std::invalid_argument(head_layer + " does not take exactly one input");
    return inputs[0]->name;
}

Head read_head(cv::dnn::Net &net, const std::string &layer_name) {
    if (net.getLayerId(layer_name) < 0)
        throw std::invalid_argument("no layer " + layer_name);
    const auto layer = net.getLayer(layer_name);
    if (!is_linear_with_weights(layer))
        throw std::invalid_argument(layer_name + " is not a linear layer with constant weights");
    Head head;
    head.layer = layer_name;
    layer->blobs[0].convertTo(head.weights, CV_32F);
    const int outputs = head.weights.rows;
    if (layer->blobs.size() >= 2 && layer->blobs[1].total() == static_cast<std::size_t>(outputs))
        layer->blobs[1].reshape(1, 1).convertTo(head.bias, CV_32F);
    else
        head.bias = cv::Mat::zeros(1, outputs, CV_32F);
    return head;
}

void write_head(cv::dnn::Net &net, const Head &head) {
    if (head.empty())
        return;
    if (net.getLayerId(head.layer) < 0)
        throw std::invalid_argument("the head names no layer of the model: " + head.layer);
    const auto layer = net.getLayer(head.layer);
    if (!is_linear_with_weights(layer) || layer->blobs[0].size() != head.weights.size() ||
        head.bias.total() != static_cast<std::size_t>(head.weights.rows))
        throw std::invalid_argument("the head does not fit layer " + head.layer);
    // In place: OpenCV's InnerProduct keeps a view of these buffers from its construction,
    // so a new Mat in blobs[] would not be seen.
    head.weights.convertTo(layer->blobs[0], layer->blobs[0].type());
    if (layer->blobs.size() >= 2) {
        cv::Mat bias = layer->blobs[1];
        head.bias.reshape(1, bias.dims, bias.size.p).convertTo(bias, bias.type());
    } else if (cv::countNonZero(head.bias) > 0) {
        throw std::invalid_argument(head.layer + " has no bias to set");
    }
}

cv::Mat head_features(cv::dnn::Net &net, const std::string &head_layer, const cv::Mat &images,
                      int batch) {
    if (images.dims != 4 || images.size[0] == 0)
        throw std::invalid_argument("head_features: images must be a non-empty NCHW blob");
    const std::string input = head_input_layer(net, head_layer);
    const int n = images.size[0];
    batch = std::max(1, batch);
    cv::Mat features;
    for (int first = 0; first < n; first += batch) {
        const int last = std::min(n, first + batch);
        net.setInput(batch_rows(images, first, last));
        cv::Mat out = net.forward(input);
        cv::Mat rows = out.reshape(1, last - first);
        if (features.empty())
            features.create(n, rows.cols, CV_32F);
        rows.convertTo(features.rowRange(first, last), CV_32F);
    }
    return features;
}

cv::Mat head_logits(const Head &head, const cv::Mat &features) {
    cv::Mat logits;
    cv::gemm(features, head.weights, 1.0, cv::repeat(head.bias, features.rows, 1), 1.0, logits,
             cv::GEMM_2_T);
    return logits;
}

double head_accuracy(const Head &head, const cv::Mat &features, const std::vector<int> &labels,
                     const std::vector<float> &weights) {
    if (features.rows == 0)
        return -1.0;
    if (labels.size() != static_cast<std::size_t>(features.rows) ||
        (!weights.empty() && weights.size() != labels.size()))
        throw std::invalid_argument("head_accuracy: one label (and weight) per row");
    const cv::Mat logits = head_logits(head, features);
    double right = 0.0, all = 0.0;
    for (int r = 0; r < logits.rows; ++r) {
        cv::Point best;
        cv::minMaxLoc(logits.row(r), nullptr, nullptr, nullptr, &best);
        const double w = weights.empty() ? 1.0 : weights[r];
        all += w;
        right += best.x == labels[r] ? w : 0.0;
    }
    return all > 0 ? right / all : -1.0;
}

Head fine_tune_head(const Head &start, const cv::Mat &features, const std::vector<int> &labels,
                    const std::vector<float> &weights, const HeadTraining &training) {
    if (labels.size() != static_cast<std::size_t>(features.rows) ||
        (!weights.empty() && weights.size() != labels.size()))
        throw std::invalid_argument("fine_tune_head: one label (and weight) per feature row");
    if (features.cols != start.weights.cols)
        throw std::invalid_argument("fine_tune_head: features have " +
                                    std::to_string(features.cols) + " columns, the head takes " +
                                    std::to_string(start.weights.cols));
    const int outputs = start.weights.rows;
    const cv::Mat logits = head_logits(start, features);
    cv::Mat samples, targets;
    std::vector<float> sample_weights;
    for (int r = 0; r < features.rows; ++r) {
        const int label = labels[r];
        const float w = weights.empty() ? 1.0f : weights[r];
        if (label < 0 || label >= outputs || !(w > 0.0f))
            continue;
        // The head's own logits, with the label lifted `margin` above the best other class
        // (meeting it half way) and the others that stand too close pushed down.
        cv::Mat target = logits.row(r).clone();
        float other = -1e30f;
        for (int o = 0; o < outputs; ++o)
            if (o != label)
                other = std::max(other, target.at<float>(0, o));
        const auto margin = static_cast<float>(training.margin);
        float &own = target.at<float>(0, label);
        own = std::max(own, 0.5f * (own + other) + 0.5f * margin);
        for (int o = 0; o < outputs; ++o)
            if (o != label)
                target.at<float>(0, o) = std::min(target.at<float>(0, o), own - margin);
        samples.push_back(features.row(r));
        targets.push_back(target);
        sample_weights.push_back(w);
    }
    if (samples.empty())
        return start;
    const int steps = std::max(1, training.epochs);
    auto perceptron = perceptron_from(start, training, steps);
    auto data = cv::ml::TrainData::create(samples, cv::ml::ROW_SAMPLE, targets, cv::noArray(),
                                          cv::noArray(), cv::Mat(sample_weights, true));
    perceptron->train(data, cv::ml::ANN_MLP::UPDATE_WEIGHTS | cv::ml::ANN_MLP::NO_INPUT_SCALE |
                                cv::ml::ANN_MLP::NO_OUTPUT_SCALE);
    const cv::Mat trained = perceptron->getWeights(1); // (inputs + 1) x outputs, CV_64F
    Head tuned = start;
    tuned.weights = cv::Mat(outputs, start.weights.cols, CV_32F);
    tuned.bias = cv::Mat(1, outputs, CV_32F);
    for (int o = 0; o < outputs; ++o) {
        for (int i = 0; i < start.weights.cols; ++i)
            tuned.weights.at<float>(o, i) = static_cast<float>(trained.at<double>(i, o));
        tuned.bias.at<float>(0, o) = static_cast<float>(trained.at<double>(start.weights.cols, o));
    }
    return tuned;
}

std::size_t head_bytes(const Head &head) {
    return head.empty() ? 0 : (head.weights.total() + head.bias.total()) * sizeof(float);
}

} // namespace inference_opencv
