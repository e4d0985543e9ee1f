// tierd-adapt-eval: how much of a model's accuracy unsupervised channel recalibration
// (BatchNorm re-estimation on folded models; plugins/inference-opencv/
// channel_recalibration.hpp) wins back on a drifting stream from tierd-driftgen.
//
// For each segment of the stream: the model adapts on the segment's first --samples
// images, unlabeled; accuracy is then measured on the rest of the segment (images it did
// not adapt on) with and without the adaptation, and on the same source images unshifted
// (what the adapted model does if the data turns clean again before it re-adapts).
// docs/adaptation.md.
#include "calibration.hpp"
#include "channel_recalibration.hpp"
#include "model_manifest.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <opencv2/core/utility.hpp>
#include <opencv2/dnn.hpp>
#include <tierd/idx.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <string>
#include <vector>

#ifndef TIERD_SOURCE_DIR
#define TIERD_SOURCE_DIR "."
#endif

namespace {

using inference_opencv::RecalibratableModel;

using Images = std::vector<cv::Mat>; // CV_8UC1, as inference_opencv::read_idx_images gives

// An NCHW float blob of the selected images (all when `which` is empty), normalised as the
// manifest says.
cv::Mat to_blob(const Images &images, const std::vector<std::size_t> &which, double scale,
                double mean) {
    Images chosen;
    for (std::size_t i : which)
        chosen.push_back(images.at(i));
    const Images &use = which.empty() ? images : chosen;
    return cv::dnn::blobFromImages(use, scale, use.at(0).size(), cv::Scalar(mean));
}

double accuracy(cv::dnn::Net &net, const cv::Mat &blob, const std::vector<int> &labels) {
    const int n = blob.size[0];
    int correct = 0;
    for (int first = 0; first < n; first += 256) {
        net.setInput(inference_opencv::batch_rows(blob, first, std::min(n, first + 256)));
        cv::Mat logits = net.forward();
        logits = logits.reshape(1, logits.size[0]);
        for (int r = 0; r < logits.rows; ++r) {
            cv::Point best;
            cv::minMaxLoc(logits.row(r), nullptr, nullptr, nullptr, &best);
            correct += best.x == labels[first + r];
        }
    }
    return n == 0 ? 0.0 : static_cast<double>(correct) / n;
}

double ms_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
        .count();
}

} // namespace

int main(int argc, char **argv) {
    CLI::App app{"tierd-adapt-eval: accuracy of a zoo model on a tierd-driftgen stream, "
                 "with and without unsupervised channel recalibration (docs/adaptation.md)"};
    std::string model_name, drift_dir, json_out;
    std::string manifest_path = std::string(TIERD_SOURCE_DIR) + "/models/manifest.toml";
    std::string source_path = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";
    std::size_t source_count = 2000, samples = 256;
    int threads = 1;
    inference_opencv::RecalibrationOptions options;
    bool one_pass = false;
    app.add_option("--model", model_name, "a [[model]] of the manifest, e.g. resnet-20")
        ->required();
    app.add_option("--drift", drift_dir, "a tierd-driftgen output folder (segments.json)")
        ->required()
        ->check(CLI::ExistingDirectory);
    app.add_option("--manifest", manifest_path, "the model manifest")
        ->capture_default_str()
        ->check(CLI::ExistingFile);
    app.add_option("--source-images", source_path,
                   "clean images the source statistics are measured on (the training split)")
        ->capture_default_str();
    app.add_option("--source-count", source_count, "how many of them")
        ->capture_default_str()
        ->check(CLI::Range(std::size_t{1}, std::size_t{60000}));
    app.add_option("--samples", samples, "unlabeled images of a segment the model adapts on")
        ->capture_default_str()
        ->check(CLI::Range(std::size_t{1}, std::size_t{100000}));
    app.add_option("--prior", options.prior_weight,
                   "weight of the source statistics mixed into the target's (0..1)")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 1.0));
    app.add_flag("--one-pass", one_pass,
                 "measure every layer in one pass of the unchanged net (default: layer by "
                 "layer through the layers already recalibrated)");
    app.add_option("--threads", threads, "OpenCV threads")->capture_default_str();
    app.add_option("--json", json_out, "also write the rows as JSON to this file");
    CLI11_PARSE(app, argc, argv);
    options.sequential = !one_pass;
    cv::setNumThreads(threads);

    try {
        const auto manifest = inference_opencv::read_manifest(manifest_path);
        const inference_opencv::ManifestModel *spec = nullptr;
        for (const auto &m : manifest.models)
            if (m.name == model_name)
                spec = &m;
        if (spec == nullptr)
            throw std::runtime_error(manifest_path + ": no [[model]] named " + model_name);

        std::ifstream segments_file(drift_dir + "/segments.json");
        if (!segments_file)
            throw std::runtime_error(drift_dir + "/segments.json: cannot open");
        const auto plan = nlohmann::json::parse(segments_file);
        constexpr int all = std::numeric_limits<int>::max();
        const Images stream = inference_opencv::read_idx_images(
            drift_dir + "/" + plan.at("images").get<std::string>(), all);
        const auto stream_labels =
            tierd::idx::read_labels(drift_dir + "/" + plan.at("labels").get<std::string>());
        const Images originals = inference_opencv::read_idx_images(
            plan.at("source").at("images").get<std::string>(), all);
        const auto source_index = plan.at("source_index").get<std::vector<std::size_t>>();

        RecalibratableModel model(spec->path);
        const Images clean =
            inference_opencv::read_idx_images(source_path, static_cast<int>(source_count));
        auto start = std::chrono::steady_clock::now();
        const auto source_stats = model.source_statistics(
            to_blob(clean, {}, manifest.scale, manifest.mean), options.batch);
        const double source_ms = ms_since(start);
        cv::dnn::Net plain = model.build();

        std::printf("model %s (%zu convolutions), source statistics from %zu images in %.0f ms; "
                    "adapting on %zu images per segment, %s, prior %.2f, %d thread(s)\n\n",
                    model_name.c_str(), model.convolutions().size(), clean.size(), source_ms,
                    samples, options.sequential ? "layer by layer" : "one pass",
                    options.prior_weight, threads);
        std::printf("| segment | evaluated | none | adapted | gain (points) | clean, none | "
                    "clean, adapted | adapt ms | update bytes |\n|---|---|---|---|---|---|---|"
                    "---|---|\n");
        nlohmann::json rows = nlohmann::json::array();
        for (const auto &segment : plan.at("segments")) {
            const std::size_t first = segment.at("first"), count = segment.at("count");
            if (count <= samples) {
                std::printf("| %s | segment of %zu images is not longer than --samples |\n",
                            segment.at("name").get<std::string>().c_str(), count);
                continue;
            }
            std::vector<std::size_t> adapt_on, evaluate_on, evaluate_sources;
            std::vector<int> labels;
            for (std::size_t i = first; i < first + samples; ++i)
                adapt_on.push_back(i);
            for (std::size_t i = first + samples; i < first + count; ++i) {
                evaluate_on.push_back(i);
                evaluate_sources.push_back(source_index.at(i));
                labels.push_back(stream_labels.at(i));
            }
            const cv::Mat shifted = to_blob(stream, evaluate_on, manifest.scale, manifest.mean);
            const cv::Mat unshifted =
                to_blob(originals, evaluate_sources, manifest.scale, manifest.mean);
            start = std::chrono::steady_clock::now();
            const auto recalibration = model.recalibrate(
                source_stats, to_blob(stream, adapt_on, manifest.scale, manifest.mean), options);
            cv::dnn::Net adapted = model.build(recalibration);
            const double adapt_ms = ms_since(start);
            const double none = accuracy(plain, shifted, labels);
            const double after = accuracy(adapted, shifted, labels);
            const double clean_none = accuracy(plain, unshifted, labels);
            const double clean_after = accuracy(adapted, unshifted, labels);
            const std::size_t bytes = inference_opencv::recalibration_bytes(recalibration);
            std::printf("| %s | %zu | %.1f | %.1f | %+.1f | %.1f | %.1f | %.0f | %zu |\n",
                        segment.at("name").get<std::string>().c_str(), evaluate_on.size(),
                        100 * none, 100 * after, 100 * (after - none), 100 * clean_none,
                        100 * clean_after, adapt_ms, bytes);
            std::fflush(stdout);
            rows.push_back({{"segment", segment.at("name")},
                            {"evaluated", evaluate_on.size()},
                            {"samples", samples},
                            {"accuracy_none", none},
                            {"accuracy_adapted", after},
                            {"clean_accuracy_none", clean_none},
                            {"clean_accuracy_adapted", clean_after},
                            {"adapt_ms", adapt_ms},
                            {"update_bytes", bytes}});
        }
        if (!json_out.empty()) {
            nlohmann::json doc = {{"model", model_name},
                                  {"convolutions", model.convolutions().size()},
                                  {"source_count", clean.size()},
                                  {"samples", samples},
                                  {"sequential", options.sequential},
                                  {"prior_weight", options.prior_weight},
                                  {"threads", threads},
                                  {"plan", plan.at("plan")},
                                  {"seed", plan.at("seed")},
                                  {"rows", rows}};
            std::ofstream(json_out) << doc.dump(2) << "\n";
        }
    } catch (const std::exception &e) {
        std::cerr << "tierd-adapt-eval: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
