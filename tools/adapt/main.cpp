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

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#ifndef TIERD_SOURCE_DIR
#define TIERD_SOURCE_DIR "."
#endif

namespace {

using inference_opencv::batch_rows;
using inference_opencv::LayerStats;
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
    std::size_t labels_per_segment = 0;
    std::string teacher = "truth";
    bool teacher_adapts = false;
    inference_opencv::HeadTraining training;
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
    app.add_option("--labels", labels_per_segment,
                   "fine-tune the head on this many teacher labels per segment (its first "
                   "images; 0 = unsupervised only). Evaluates on each segment's second half "
                   "and reports the oracle (all true labels of the first half) and R")
        ->capture_default_str();
    app.add_option("--teacher", teacher,
                   "who labels: a [[model]] of the manifest (e.g. resnet-20), or 'truth'")
        ->capture_default_str();
    app.add_flag("--teacher-adapts", teacher_adapts,
                 "the teacher recalibrates to the segment's window too");
    app.add_option("--margin", training.margin, "head: logit margin of the targets")
        ->capture_default_str();
    app.add_option("--epochs", training.epochs, "head: passes over the labels")
        ->capture_default_str();
    app.add_option("--learning-rate", training.learning_rate, "head: backpropagation step")
        ->capture_default_str();
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
        // Supervised: a teacher (a model of the manifest, or the stream's true labels) labels
        // the first --labels images of each segment; the head is fine-tuned on them on top
        // of the recalibration. The oracle is the same with the true labels of the whole
        // first half: what the head could reach with every label (R's ceiling).
        const bool supervised = labels_per_segment > 0;
        std::unique_ptr<RecalibratableModel> teacher_model;
        LayerStats teacher_stats;
        if (supervised && teacher != "truth") {
            const inference_opencv::ManifestModel *t = nullptr;
            for (const auto &m : manifest.models)
                if (m.name == teacher)
                    t = &m;
            if (t == nullptr)
                throw std::runtime_error(manifest_path + ": no [[model]] named " + teacher);
            teacher_model = std::make_unique<RecalibratableModel>(t->path);
            if (teacher_adapts)
                teacher_stats = teacher_model->source_statistics(
                    to_blob(clean, {}, manifest.scale, manifest.mean), options.batch);
        }
        if (supervised && model.shipped_head().empty())
            throw std::runtime_error(model_name + " does not end in a linear layer: no head");
        if (supervised)
            std::printf(
                "| segment | evaluated | none | recalibrated | + head on %zu labels of %s%s "
                "| oracle (recalibrated + head, all %s) | R | teacher right | labels "
                "used | head ms | head bytes | clean, none | clean, adapted |\n"
                "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
                labels_per_segment, teacher.c_str(), teacher_adapts ? " (recalibrated)" : "",
                "true labels");
        else
            std::printf("| segment | evaluated | none | adapted | gain (points) | clean, none | "
                        "clean, adapted | adapt ms | update bytes |\n|---|---|---|---|---|---|---|"
                        "---|---|\n");
        nlohmann::json rows = nlohmann::json::array();
        for (const auto &segment : plan.at("segments")) {
            const std::size_t first = segment.at("first"), count = segment.at("count");
            // Supervised runs evaluate on the second half (the oracle learns on the first).
            const std::size_t held = supervised ? count / 2 : samples;
            if (count <= samples || (supervised && labels_per_segment > held)) {
                std::printf("| %s | segment of %zu images is too short for --samples/--labels |\n",
                            segment.at("name").get<std::string>().c_str(), count);
                continue;
            }
            std::vector<std::size_t> adapt_on, evaluate_on, evaluate_sources, labelled;
            std::vector<int> labels;
            for (std::size_t i = first; i < first + samples; ++i)
                adapt_on.push_back(i);
            for (std::size_t i = first; i < first + held; ++i)
                labelled.push_back(i);
            for (std::size_t i = first + std::max(held, samples); i < first + count; ++i) {
                evaluate_on.push_back(i);
                evaluate_sources.push_back(source_index.at(i));
                labels.push_back(stream_labels.at(i));
            }
            const cv::Mat shifted = to_blob(stream, evaluate_on, manifest.scale, manifest.mean);
            const cv::Mat unshifted =
                to_blob(originals, evaluate_sources, manifest.scale, manifest.mean);
            const cv::Mat window = to_blob(stream, adapt_on, manifest.scale, manifest.mean);
            start = std::chrono::steady_clock::now();
            const auto recalibration = model.recalibrate(source_stats, window, options);
            cv::dnn::Net adapted = model.build(recalibration);
            const double adapt_ms = ms_since(start);
            const double none = accuracy(plain, shifted, labels);
            const double after = accuracy(adapted, shifted, labels);
            const double clean_none = accuracy(plain, unshifted, labels);
            const std::size_t bytes = inference_opencv::recalibration_bytes(recalibration);
            const std::string name = segment.at("name").get<std::string>();
            if (!supervised) {
                const double clean_after = accuracy(adapted, unshifted, labels);
                std::printf("| %s | %zu | %.1f | %.1f | %+.1f | %.1f | %.1f | %.0f | %zu |\n",
                            name.c_str(), evaluate_on.size(), 100 * none, 100 * after,
                            100 * (after - none), 100 * clean_none, 100 * clean_after, adapt_ms,
                            bytes);
                std::fflush(stdout);
                rows.push_back({{"segment", name},
                                {"evaluated", evaluate_on.size()},
                                {"samples", samples},
                                {"accuracy_none", none},
                                {"accuracy_adapted", after},
                                {"clean_accuracy_none", clean_none},
                                {"clean_accuracy_adapted", clean_after},
                                {"adapt_ms", adapt_ms},
                                {"update_bytes", bytes}});
                continue;
            }
            // The head's features of the labelled images, through the recalibrated net.
            const cv::Mat labelled_blob = to_blob(stream, labelled, manifest.scale, manifest.mean);
            cv::dnn::Net measuring = model.build(recalibration);
            const cv::Mat features = inference_opencv::head_features(
                measuring, model.shipped_head().layer, labelled_blob);
            std::vector<int> truth, taught;
            std::vector<float> weights;
            for (std::size_t i : labelled)
                truth.push_back(stream_labels.at(i));
            if (teacher_model) {
                cv::dnn::Net t = teacher_model->build(
                    teacher_adapts ? teacher_model->recalibrate(teacher_stats, window, options)
                                   : inference_opencv::Recalibration{});
                t.setInput(batch_rows(labelled_blob, 0, static_cast<int>(labels_per_segment)));
                cv::Mat logits = t.forward();
                logits = logits.reshape(1, logits.size[0]);
                for (int r = 0; r < logits.rows; ++r) {
                    // The label, weighted by the teacher's softmax confidence.
                    cv::Point best;
                    double top = 0;
                    cv::minMaxLoc(logits.row(r), nullptr, &top, nullptr, &best);
                    cv::Mat p;
                    cv::exp(logits.row(r) - top, p);
                    taught.push_back(best.x);
                    weights.push_back(static_cast<float>(1.0 / cv::sum(p)[0]));
                }
            } else {
                taught.assign(truth.begin(), truth.begin() + labels_per_segment);
                weights.assign(labels_per_segment, 1.0f);
            }
            int teacher_right = 0;
            for (std::size_t i = 0; i < labels_per_segment; ++i)
                teacher_right += taught[i] == truth[i];
            start = std::chrono::steady_clock::now();
            const auto head = inference_opencv::fine_tune_head(
                model.shipped_head(), features.rowRange(0, static_cast<int>(labels_per_segment)),
                taught, weights, training);
            const double head_ms = ms_since(start);
            const auto oracle_head = inference_opencv::fine_tune_head(
                model.shipped_head(), features, truth, {}, training);
            cv::dnn::Net tuned = model.build(recalibration, true, head);
            cv::dnn::Net oracle = model.build(recalibration, true, oracle_head);
            const double with_head = accuracy(tuned, shifted, labels);
            const double with_oracle = accuracy(oracle, shifted, labels);
            const double clean_after = accuracy(tuned, unshifted, labels);
            const double regain =
                with_oracle - none > 0.005 ? (with_head - none) / (with_oracle - none) : NAN;
            std::printf("| %s | %zu | %.1f | %.1f | %.1f | %.1f | %.2f | %.1f | %zu | %.0f | %zu | "
                        "%.1f | %.1f |\n",
                        name.c_str(), evaluate_on.size(), 100 * none, 100 * after, 100 * with_head,
                        100 * with_oracle, regain,
                        100.0 * teacher_right / static_cast<double>(labels_per_segment),
                        labels_per_segment, head_ms, inference_opencv::head_bytes(head),
                        100 * clean_none, 100 * clean_after);
            std::fflush(stdout);
            rows.push_back(
                {{"segment", name},
                 {"evaluated", evaluate_on.size()},
                 {"samples", samples},
                 {"teacher", teacher},
                 {"teacher_adapts", teacher_adapts},
                 {"labels", labels_per_segment},
                 {"teacher_accuracy", static_cast<double>(teacher_right) / labels_per_segment},
                 {"accuracy_none", none},
                 {"accuracy_recalibrated", after},
                 {"accuracy_head", with_head},
                 {"accuracy_oracle", with_oracle},
                 {"oracle_labels", labelled.size()},
                 {"regain", std::isnan(regain) ? nlohmann::json() : nlohmann::json(regain)},
                 {"clean_accuracy_none", clean_none},
                 {"clean_accuracy_adapted", clean_after},
                 {"head_ms", head_ms},
                 {"update_bytes", bytes + inference_opencv::head_bytes(head)}});
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
