// Supervised adaptation of a classifier's head — its last linear layer — to labelled
// images, on the device, with OpenCV's ml module (issue 18, section 3; docs/adaptation.md,
// "Fine-tuning the head").
//
// Why OpenCV ml and not libtorch. The end devices run OpenCV already; its ml module is
// one more library of the same package set (libopencv-ml406: 0.5 MB installed, Debian 12)
// and trains a linear layer on a few hundred samples in tens of milliseconds. libtorch
// (libtorch1.13: 131 MB installed, with FFmpeg, oneDNN and glog among its dependencies)
// would be the largest thing on a 1 GB ARM board, to train the same ~4,000 numbers. What
// OpenCV ml cannot do is backpropagate through the ONNX graph, so on the device only the
// head learns; the layers before it are recalibrated without labels
// (channel_recalibration.hpp).
//
// How. The head's input features are read from the net (a forward pass up to the layer
// that feeds the head). cv::ml::ANN_MLP, a one-layer perceptron with identity activation,
// is loaded with the shipped head's weights (through its documented storage format, the
// only way to set them: it has no setter) and trained on with UPDATE_WEIGHTS, so training
// starts from what the model knows. ANN_MLP minimises squared error, not cross-entropy;
// its targets are the head's own logits for the sample with the label's logit lifted
// above every other by `margin` (and the others lowered to leave that margin): a
// squared-hinge fit that changes only what the label contradicts and keeps what the
// model knew of the other classes. The trained weights go back into a net built from the model's
// bytes before its first forward pass, like the recalibration's.
//
// Threading: the functions are pure; a Net is used by one thread.
#pragma once

#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace inference_opencv {

// The weights of a classifier's last linear layer (ONNX Gemm / MatMul + Add, OpenCV's
// InnerProduct): logits = features * weights^T + bias.
struct Head {
    std::string layer; // the layer's name in the net; empty: no head (the shipped one)
    cv::Mat weights;   // outputs x inputs, CV_32F
    cv::Mat bias;      // 1 x outputs, CV_32F
    bool empty() const { return layer.empty(); }
};

struct HeadTraining {
    double margin = 3.0;         // how far the label's logit must stand above the others
    int epochs = 30;             // passes over the samples
    double learning_rate = 1e-4; // ANN_MLP's backpropagation step (dw_scale)
    double momentum = 0.5;       // ANN_MLP's moment_scale
};

// The net's head: the InnerProduct layer with constant weights whose output is the net's
// output; "" when there is none (a net that ends in anything else has no head to tune).
std::string find_head_layer(cv::dnn::Net &net);

// The name of the layer whose output the head takes.
std::string head_input_layer(cv::dnn::Net &net, const std::string &head_layer);

// The head's weights as the net holds them (copies). Throws std::invalid_argument when
// `layer` is not an InnerProduct with constant weights.
Head read_head(cv::dnn::Net &net, const std::string &layer);

// Puts `head` into the net, in place of its weights: call before the net's first forward
// pass. Throws std::invalid_argument when the layer is missing or the shapes differ.
void write_head(cv::dnn::Net &net, const Head &head);

// The head's input features of `images` (an NCHW blob as the model takes it): one row per
// image, CV_32F, through `net` as it is (recalibrated or not).
cv::Mat head_features(cv::dnn::Net &net, const std::string &head_layer, const cv::Mat &images,
                      int batch = 256);

// The head's logits for feature rows: N x outputs.
cv::Mat head_logits(const Head &head, const cv::Mat &features);

// Fraction of rows whose top logit is the label, weighted (empty `weights`: all 1);
// -1 when there are no rows.
double head_accuracy(const Head &head, const cv::Mat &features, const std::vector<int> &labels,
                     const std::vector<float> &weights = {});

// `start` trained on feature rows with their labels (each weighted by `weights`, e.g. the
// teacher's confidence; empty = all 1). Labels outside 0..outputs-1 are skipped. Returns
// `start` unchanged when no row is usable. Throws std::invalid_argument on mismatched sizes.
Head fine_tune_head(const Head &start, const cv::Mat &features, const std::vector<int> &labels,
                    const std::vector<float> &weights, const HeadTraining &training = {});

// Bytes of a head update as sent or stored: its weights and bias as float32.
std::size_t head_bytes(const Head &head);

} // namespace inference_opencv
