// Unsupervised adaptation of a convolutional net to shifted input: each convolution's
// output channels are brought back to the statistics they had on the data the model was
// trained for (issue 18, section 3; docs/adaptation.md).
//
// Why this form. BatchNorm re-estimation (Li et al., "AdaBN"; Schneider et al. 2020)
// recomputes each BatchNorm layer's mean and variance on the new data. Our ONNX exports
// fold BatchNorm into the preceding convolution (tools/zoo), and OpenCV 4.6 fuses what is
// left on import, so there is no BatchNorm layer to re-estimate. But re-estimation only
// re-standardises each channel: for a folded convolution y = BN(conv(x)), re-estimating
// the BatchNorm on the target data gives gamma * (z - mean_t) / std_t + beta, which is
// (y - mean_t(y)) * std_s(y) / std_t(y) + mean_s(y), where mean_s, std_s are y's
// statistics on the source data (there y has mean beta and standard deviation |gamma|).
// So measuring each convolution's output per channel on clean data once, and on target
// data when adapting, and folding the per-channel affine map a * y + b back into the
// convolution's weights and bias, is BatchNorm re-estimation exactly, without the
// BatchNorm parameters. The nets are built from the model's bytes in memory and the
// changed weights set (cv::dnn::Net::setParam) before their first forward pass, which is
// when OpenCV prepares a convolution's weights.
//
// Threading: the functions here are pure (no shared state); a Net is used by one thread.
#pragma once

#include "head_finetune.hpp"

#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace inference_opencv {

// Per-channel statistics of one layer's output over a set of images (batch, rows and
// columns pooled).
struct ChannelStats {
    std::vector<double> mean;
    std::vector<double> variance;
};
// Per layer name, in the net's layer order.
using LayerStats = std::map<std::string, ChannelStats>;

// The per-channel affine map y' = scale * y + shift folded into one convolution.
struct ChannelAffine {
    std::vector<float> scale;
    std::vector<float> shift;
};
// Per convolution layer name; layers absent are unchanged.
using Recalibration = std::map<std::string, ChannelAffine>;

// All an adaptation changes in a shipped model: per-channel maps folded into its
// convolutions (no labels needed) and, learnt from labels, its head (head_finetune.hpp).
// Default: the model as shipped.
struct Adaptation {
    Recalibration channels;
    Head head; // empty: the shipped head
};

struct RecalibrationOptions {
    // Weight of the source statistics mixed into the target ones (0 = target only, as
    // plain re-estimation; Schneider et al. use a prior for small target sets): the
    // mean and variance used are w * source + (1 - w) * target.
    double prior_weight = 0.0;
    // Added to variances before the square root, as BatchNorm's epsilon.
    double epsilon = 1e-5;
    // true: layer by layer, each measured through the layers before it as already
    // recalibrated (what re-estimating every BatchNorm in train mode does; one forward pass
    // up to each convolution); false: all layers from one pass of the unchanged net.
    bool sequential = true;
    // Images per forward pass while measuring.
    int batch = 256;
};

// A model's bytes (an ONNX file as read) with the nets built from it. Holds no Net.
class RecalibratableModel {
  public:
    // Reads the file; throws std::runtime_error naming it when unreadable or when OpenCV
    // cannot import it.
    explicit RecalibratableModel(const std::string &onnx_path);

    // The names of the convolution layers it recalibrates, in the net's order (OpenCV's
    // import order, which is topological for ONNX): all but the prediction layers, the
    // convolutions whose output reaches a net output through layers without weights (a
    // detector's heatmap and box convolutions; they had no BatchNorm).
    const std::vector<std::string> &convolutions() const { return convolutions_; }

    // The classifier's last linear layer (head_finetune.hpp) as shipped; empty when the
    // net does not end in one.
    const Head &shipped_head() const { return head_; }

    // A fresh net with `recalibration` folded into its convolutions and `head` (unless
    // empty) in place of the shipped head, fusion as asked (measuring needs it off so that
    // a convolution's output is not its activation's). Throws std::invalid_argument when
    // the recalibration names an unknown layer or its channel count differs from the
    // layer's output channels, or the head does not fit.
    cv::dnn::Net build(const Recalibration &recalibration = {}, bool fusion = true,
                       const Head &head = {}) const;
    cv::dnn::Net build(const Adaptation &adaptation) const {
        return build(adaptation.channels, true, adaptation.head);
    }

    // Per-channel statistics of the given layers' outputs over `images` (an NCHW float
    // blob as the model takes it), through the net with `recalibration` applied.
    LayerStats measure(const cv::Mat &images, const std::vector<std::string> &layers,
                       const Recalibration &recalibration = {}, int batch = 256) const;

    // Statistics of every convolution's output on the data the model was trained for.
    LayerStats source_statistics(const cv::Mat &images, int batch = 256) const {
        return measure(images, convolutions_, {}, batch);
    }

    // The recalibration that gives every convolution's output, on `target_images`, the
    // per-channel mean and variance it has on the source data (see the file comment).
    // `source` must hold every convolution (source_statistics).
    Recalibration recalibrate(const LayerStats &source, const cv::Mat &target_images,
                              const RecalibrationOptions &options = {}) const;

  private:
    std::vector<uchar> bytes_;
    std::vector<std::string> convolutions_;
    Head head_;
};

// Images first..last-1 of an NCHW blob, as a blob of their own (a copy: a net's input must
// be continuous).
cv::Mat batch_rows(const cv::Mat &blob, int first, int last);

// Bytes of a recalibration as sent or stored: two float32 per channel.
std::size_t recalibration_bytes(const Recalibration &recalibration);
// ... and of a whole adaptation (with its head's weights, head_bytes()).
std::size_t adaptation_bytes(const Adaptation &adaptation);

} // namespace inference_opencv
