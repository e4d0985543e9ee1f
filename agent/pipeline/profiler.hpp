// The `profile` command's measurement: how long each model the inference plugin serves
// takes on this tier — whole, and split at each of its cut points (head to the cut,
// tail from it) — and how often sending the crossing tensor as int8 changes the answer.
// The multi-objective scheduler predicts every placement from these figures, so they
// are measured on the tier that will run the work, never assumed (docs/plugins.md,
// "Profiles").
//
// Worker thread: it runs many inferences and may take seconds.
#pragma once

#include "agent/plugin_host/plugin_instance.hpp"

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include <string>
#include <vector>

namespace tierd {

struct ProfileOptions {
    std::string device_id;
    std::string tier;            // "end", "edge" or "cloud"
    int runs = 20;               // timed calls per figure; the median is kept (int8 agreement
                                 // is counted over at least 64 images)
    double slowdown = 1.0;       // [pipeline] emulate_slowdown: times are multiplied by it
    std::vector<cv::Mat> images; // inputs (8-bit gray or BGR); at least one
};

// {"v":1, "device_id", "tier", "slowdown", "runs", "images", "measured_at" (UTC ISO
//  8601), "models": [{"name", "top1", "input_bytes", "full_ms",
//  "cuts": [{"layer", "elements", "head_ms", "tail_ms", "int8_agreement"}]}]}
// Throws std::runtime_error when the plugin cannot describe itself or a model fails.
nlohmann::json profile_models(PluginInstance &inference, const ProfileOptions &options);

// Top-1 accuracy (0..1) of `model` on labelled images through the plugin's infer(), one
// image per call: how a model update is checked on the held-back buffer (docs/models.md).
// Throws std::runtime_error when a call fails or the sizes differ; -1 for no images.
double top1_accuracy(PluginInstance &inference, const std::string &model,
                     const std::vector<cv::Mat> &images, const std::vector<int> &labels);

} // namespace tierd
