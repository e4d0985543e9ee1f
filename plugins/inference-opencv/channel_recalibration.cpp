#include "channel_recalibration.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <set>
#include <stdexcept>

namespace inference_opencv {
namespace {

std::vector<uchar> read_bytes(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw std::runtime_error(path + ": cannot open");
    std::vector<uchar> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
    if (in.bad())
        throw std::runtime_error(path + ": read error");
    return bytes;
}

// Output channels of a convolution: its weights are [out, in / groups, kh, kw].
int output_channels(const cv::Ptr<cv::dnn::Layer> &layer) {
    if (layer->blobs.empty() || layer->blobs[0].dims < 2)
        return -1;
    return layer->blobs[0].size[0];
}

// Adds one forward pass's output (N x C x ...) to per-channel sums.
void accumulate(const cv::Mat &out, std::vector<double> &sum, std::vector<double> &squares,
                double &count_per_channel) {
    const int n = out.size[0];
    const int channels = out.dims >= 2 ? out.size[1] : 1;
    const std::size_t plane = out.total() / (static_cast<std::size_t>(n) * channels);
    if (sum.empty()) {
        sum.assign(channels, 0.0);
        squares.assign(channels, 0.0);
    }
    const float *p = out.ptr<float>();
    for (int i = 0; i < n; ++i)
        for (int c = 0; c < channels; ++c) {
            double s = 0.0, q = 0.0;
            for (std::size_t k = 0; k < plane; ++k, ++p) {
                s += *p;
                q += static_cast<double>(*p) * *p;
            }
            sum[c] += s;
            squares[c] += q;
        }
    count_per_channel += static_cast<double>(n) * static_cast<double>(plane);
}

// The convolutions that make a net's answers: those whose output reaches a net output
// through layers without weights only (activations, reshapes, identities) — a detector's
// heatmap and box convolutions. They had no BatchNorm to fold (a prediction layer has
// none in any of our exports), so re-estimating one would not undo a shift but move the
// answers themselves (measured: a recalibrated det-light agreed far less with the
// teacher's boxes until they were left out).
std::set<std::string> prediction_convolutions(cv::dnn::Net &net) {
    std::set<std::string> found;
    std::vector<int> todo = net.getUnconnectedOutLayers(); // from each output, backwards
    std::set<int> seen;
    while (!todo.empty()) {
        const int id = todo.back();
        todo.pop_back();
        if (id <= 0 || !seen.insert(id).second) // 0 is the net's input
            continue;
        const auto layer = net.getLayer(id);
        if (layer->type == "Convolution") {
            found.insert(layer->name);
        } else if (layer->blobs.empty()) { // past an activation, reshape or identity
            for (const auto &input : net.getLayerInputs(id))
                todo.push_back(net.getLayerId(input->name));
        }
    }
    return found;
}

} // namespace

RecalibratableModel::RecalibratableModel(const std::string &onnx_path)
    : bytes_(read_bytes(onnx_path)) {
    cv::dnn::Net net;
    try {
        net = cv::dnn::readNetFromONNX(bytes_);
    } catch (const cv::Exception &e) {
        throw std::runtime_error(onnx_path + ": OpenCV cannot import it: " + e.what());
    }
    const std::set<std::string> predictions = prediction_convolutions(net);
    for (const auto &name : net.getLayerNames()) {
        const auto layer = net.getLayer(name);
        // Convolutions whose weights are constants of the graph (all of the zoo's); one
        // fed its weights at run time has nothing to fold a map into.
        if (layer->type == "Convolution" && output_channels(layer) > 0 && !predictions.count(name))
            convolutions_.push_back(name);
    }
    if (const std::string head = find_head_layer(net); !head.empty())
        head_ = read_head(net, head);
}

cv::dnn::Net RecalibratableModel::build(const Recalibration &recalibration, bool fusion,
                                        const Head &head) const {
    cv::dnn::Net net = cv::dnn::readNetFromONNX(bytes_);
    net.enableFusion(fusion);
    write_head(net, head);
    for (const auto &[name, affine] : recalibration) {
        if (net.getLayerId(name) < 0)
            throw std::invalid_argument("recalibration names no layer of the model: " + name);
        const auto layer = net.getLayer(name);
        const int channels = output_channels(layer);
        if (layer->type != "Convolution" || channels <= 0)
            throw std::invalid_argument("recalibration names a layer that is not a "
                                        "convolution with constant weights: " +
                                        name);
        if (affine.scale.size() != static_cast<std::size_t>(channels) ||
            affine.shift.size() != static_cast<std::size_t>(channels))
            throw std::invalid_argument("recalibration of " + name + " has " +
                                        std::to_string(affine.scale.size()) +
                                        " channels; the layer has " + std::to_string(channels));
        // Copies: the imported blobs may share memory with the importer's.
        cv::Mat weights = layer->blobs[0].clone();
        cv::Mat rows = weights.reshape(1, channels);
        for (int c = 0; c < channels; ++c)
            rows.row(c) *= affine.scale[c];
        cv::Mat bias(1, channels, CV_32F, cv::Scalar(0));
        if (layer->blobs.size() >= 2) {
            if (layer->blobs[1].total() != static_cast<std::size_t>(channels))
                throw std::invalid_argument(name + ": bias size differs from its channels");
            layer->blobs[1].reshape(1, 1).convertTo(bias, CV_32F);
        }
        for (int c = 0; c < channels; ++c)
            bias.at<float>(0, c) = affine.scale[c] * bias.at<float>(0, c) + affine.shift[c];
        layer->blobs[0] = weights;
        if (layer->blobs.size() >= 2)
            layer->blobs[1] = bias.reshape(1, layer->blobs[1].dims, layer->blobs[1].size.p);
        else
            layer->blobs.push_back(bias);
    }
    return net;
}

LayerStats RecalibratableModel::measure(const cv::Mat &images,
                                        const std::vector<std::string> &layers,
                                        const Recalibration &recalibration, int batch) const {
    if (images.dims != 4 || images.size[0] == 0)
        throw std::invalid_argument("measure: images must be a non-empty NCHW blob");
    if (layers.empty())
        return {};
    cv::dnn::Net net = build(recalibration, false);
    const int n = images.size[0];
    batch = std::max(1, batch);
    std::vector<std::vector<double>> sums(layers.size()), squares(layers.size());
    std::vector<double> counts(layers.size(), 0.0);
    const std::vector<cv::String> names(layers.begin(), layers.end());
    for (int first = 0; first < n; first += batch) {
        net.setInput(batch_rows(images, first, std::min(n, first + batch)));
        std::vector<cv::Mat> outs;
        net.forward(outs, names);
        for (std::size_t l = 0; l < layers.size(); ++l)
            accumulate(outs[l], sums[l], squares[l], counts[l]);
    }
    LayerStats stats;
    for (std::size_t l = 0; l < layers.size(); ++l) {
        ChannelStats &s = stats[layers[l]];
        const std::size_t channels = sums[l].size();
        s.mean.resize(channels);
        s.variance.resize(channels);
        for (std::size_t c = 0; c < channels; ++c) {
            s.mean[c] = sums[l][c] / counts[l];
            s.variance[c] = std::max(0.0, squares[l][c] / counts[l] - s.mean[c] * s.mean[c]);
        }
    }
    return stats;
}

Recalibration RecalibratableModel::recalibrate(const LayerStats &source,
                                               const cv::Mat &target_images,
                                               const RecalibrationOptions &options) const {
    if (options.prior_weight < 0.0 || options.prior_weight > 1.0)
        throw std::invalid_argument("prior_weight must be within 0..1");
    for (const auto &name : convolutions_)
        if (source.find(name) == source.end())
            throw std::invalid_argument("source statistics lack layer " + name);
    auto affine_for = [&](const std::string &name, const ChannelStats &target) {
        const ChannelStats &s = source.at(name);
        if (s.mean.size() != target.mean.size())
            throw std::invalid_argument("source statistics of " + name +
                                        " have another channel count");
        ChannelAffine a;
        const double w = options.prior_weight;
        for (std::size_t c = 0; c < s.mean.size(); ++c) {
            const double mean = w * s.mean[c] + (1.0 - w) * target.mean[c];
            const double variance = w * s.variance[c] + (1.0 - w) * target.variance[c];
            const double scale =
                std::sqrt((s.variance[c] + options.epsilon) / (variance + options.epsilon));
            a.scale.push_back(static_cast<float>(scale));
            a.shift.push_back(static_cast<float>(s.mean[c] - scale * mean));
        }
        return a;
    };
    Recalibration result;
    if (!options.sequential) {
        const LayerStats target = measure(target_images, convolutions_, {}, options.batch);
        for (const auto &name : convolutions_)
            result[name] = affine_for(name, target.at(name));
        return result;
    }
    for (const auto &name : convolutions_) {
        const LayerStats target = measure(target_images, {name}, result, options.batch);
        result[name] = affine_for(name, target.at(name));
    }
    return result;
}

cv::Mat batch_rows(const cv::Mat &blob, int first, int last) {
    std::vector<cv::Range> ranges(static_cast<std::size_t>(blob.dims), cv::Range::all());
    ranges[0] = cv::Range(first, last);
    return blob(ranges.data()).clone();
}

std::size_t recalibration_bytes(const Recalibration &recalibration) {
    std::size_t bytes = 0;
    for (const auto &[name, affine] : recalibration)
        bytes += (affine.scale.size() + affine.shift.size()) * sizeof(float);
    return bytes;
}

std::size_t adaptation_bytes(const Adaptation &adaptation) {
    return recalibration_bytes(adaptation.channels) + head_bytes(adaptation.head);
}

} // namespace inference_opencv
