// preclassifier-rf: the Edge-based pre-classifier of Ren et al. (2020) as a tierd plugin.
// Computes the 7 image-complexity features (features.hpp) of the task image and asks a
// cv::ml::RTrees forest, trained by preclass_train on the zoo's outcomes, whether the
// light model will do (LIGHT) or the image needs the heavy model (HEAVY).
//
// Our extension: a forest may also take the light model's own confidence on the image —
// p_max (top softmax score), margin (p_max minus the second score) and entropy (natural
// log, as tools/zoo/zoo_eval computes it). Those come from the light model's answer, which
// the agent passes in tierd_task.local_result (ABI 1.1) when [pipeline] local_first = true.
// The forest file lists the features it takes; this plugin computes only what it needs.
//
// Config:
//   model      a forest file written by preclass_train (models/preclass/rf.yml.gz: paper
//              features; rf-paper-conf.yml.gz: paper + confidence; rf-conf.yml.gz:
//              confidence only); required: a missing, unreadable or wrong file fails
//              create() with the reason
//   threshold  route HEAVY when the fraction of trees voting HEAVY exceeds it (0..1); any
//              negative value (the default, -1) uses the threshold stored in the model
//              file. Every value of the declared range [-1, 1] is accepted by create(), so
//              a config that passes --check-config also starts.
//
// Result: features (raw, not normalised): the 7 image features, then p_max, margin,
// entropy when the task carries a local result (feature_count 7 or 10); route; and
// light_ok_probability = 1 - (fraction of trees voting HEAVY). The forest was trained with
// balanced class priors, so that fraction ranks images well but is not a calibrated
// probability. Counters: routed_light, routed_heavy, features_ms and forest_ms (summed
// wall time of the two steps, for the per-stage overhead split).
//
// classify() runs on a worker thread; the forest is read-only after create(), so
// concurrent instances are safe; one instance is never called concurrently.
#include "features.hpp"
#include "rf_model.hpp"

#include <tierd/plugin.hpp>
#include <tierd/plugin_opencv.hpp>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <vector>

namespace {

using tierd::preclass::kFeatureCount;
using tierd::preclass::kFeatureNames;

// Every feature this plugin can compute: the 7 image features, then the light model's
// confidence. Static: the result's feature_names points here.
constexpr std::size_t kConfidenceCount = 3;
constexpr std::size_t kAllCount = kFeatureCount + kConfidenceCount;
constexpr std::array<const char *, kAllCount> kAllNames = {
    kFeatureNames[0], kFeatureNames[1], kFeatureNames[2], kFeatureNames[3], kFeatureNames[4],
    kFeatureNames[5], kFeatureNames[6], "p_max",          "margin",         "entropy"};

// p_max, margin, entropy of a softmax score vector (the light model's answer).
std::array<float, kConfidenceCount> confidence(const tierd_inference_result &r) {
    float first = 0.0f, second = 0.0f;
    double entropy = 0.0;
    for (uint32_t i = 0; i < r.score_count && i < r.score_capacity; ++i) {
        const float p = r.scores[i];
        if (p > first) {
            second = first;
            first = p;
        } else if (p > second) {
            second = p;
        }
        if (p > 0.0f)
            entropy -= static_cast<double>(p) * std::log(static_cast<double>(p));
    }
    return {first, first - second, static_cast<float>(entropy)};
}

class PreclassifierRf {
  public:
    static constexpr const char *name = "preclassifier-rf";
    static constexpr const char *version = "0.1.0";
    static constexpr const char *description =
        "random forest over 7 image-complexity features (Ren et al. 2020), optionally with the "
        "light model's confidence; LIGHT or HEAVY";

    static constexpr tierd_config_key config_keys[] = {
        tierd::key_path("model", "",
                        "forest file written by preclass_train (rf.yml.gz, rf-paper-conf.yml.gz)",
                        TIERD_CONFIG_MUST_EXIST),
        tierd::key_double("threshold", "-1", -1.0, 1.0,
                          "HEAVY when the HEAVY vote fraction exceeds this (0..1); "
                          "negative (-1) = the threshold stored in the model"),
    };

    PreclassifierRf(tierd::Host host, const tierd::Config &config) : host_(host) { load(config); }

    int reload(const tierd::Config &config) {
        load(config);
        return TIERD_OK;
    }

    int classify(const tierd_task &task, tierd_preclass_result &out) {
        cv::Mat image;
        if (int rc = wrap(task.image, image); rc != TIERD_OK)
            return rc;
        std::array<float, kAllCount> all{};
        std::size_t count = kFeatureCount;
        const uint64_t t0 = host_.monotonic_ns();
        const auto f = image.type() == CV_8UC3 && task.image->format == TIERD_PIXEL_RGB8
                           ? tierd::preclass::compute_features_rgb(image)
                           : tierd::preclass::compute_features(image);
        std::copy(f.begin(), f.end(), all.begin());
        const tierd_inference_result *local = tierd_task_local_result(&task);
        if (local != nullptr && local->scores != nullptr && local->score_count > 0) {
            const auto c = confidence(*local);
            std::copy(c.begin(), c.end(), all.begin() + kFeatureCount);
            count = kAllCount;
        } else if (needs_confidence_) {
            host_.set_error("the forest takes the light model's confidence (p_max, margin, "
                            "entropy) but the task has no local result: set [pipeline] "
                            "local_first = true");
            return TIERD_EINVAL;
        }
        const uint64_t t1 = host_.monotonic_ns();
        std::vector<float> row(inputs_.size());
        for (std::size_t i = 0; i < inputs_.size(); ++i)
            row[i] = all[inputs_[i]];
        const double heavy = model_.heavy_fraction(row.data(), row.size());
        const uint64_t t2 = host_.monotonic_ns();
        host_.counter_add("features_ms", static_cast<double>(t1 - t0) / 1e6);
        host_.counter_add("forest_ms", static_cast<double>(t2 - t1) / 1e6);
        out.route = heavy > threshold_ ? TIERD_ROUTE_HEAVY : TIERD_ROUTE_LIGHT;
        out.light_ok_probability = static_cast<float>(1.0 - heavy);
        out.feature_names = kAllNames.data();
        host_.counter_add(out.route == TIERD_ROUTE_HEAVY ? "routed_heavy" : "routed_light", 1.0);
        return tierd::write_features(out, all.data(), count);
    }

  private:
    void load(const tierd::Config &config) {
        const std::string path = config.get_string("model");
        if (path.empty())
            throw tierd::Error(TIERD_ECONFIG, "'model' must name a preclass_train forest file "
                                              "(e.g. models/preclass/rf.yml.gz)");
        tierd::preclass::RfModel m;
        try {
            m = tierd::preclass::RfModel::load(path);
        } catch (const std::exception &e) {
            const bool missing = std::string(e.what()).find("no such file") != std::string::npos;
            throw tierd::Error(missing ? TIERD_ENOENT : TIERD_EIO, e.what());
        }
        // The forest's inputs, in its order, as indexes into kAllNames.
        std::vector<std::size_t> inputs;
        bool needs_confidence = false;
        for (const std::string &wanted : m.feature_names) {
            const auto it = std::find_if(kAllNames.begin(), kAllNames.end(),
                                         [&](const char *known) { return wanted == known; });
            if (it == kAllNames.end())
                throw tierd::Error(TIERD_ECONFIG, "model '" + path + "' takes feature '" + wanted +
                                                      "', which this plugin does not compute "
                                                      "(it computes the 7 image features and "
                                                      "p_max, margin, entropy)");
            inputs.push_back(static_cast<std::size_t>(it - kAllNames.begin()));
            needs_confidence = needs_confidence || inputs.back() >= kFeatureCount;
        }
        // The host has checked the declared range [-1, 1]; every value in it is taken here,
        // so that what --check-config accepts also starts. A vote fraction is never below 0,
        // so any negative value stands for "the model file's threshold" (-1 by convention).
        const double t = config.get_double("threshold");
        threshold_ = t < 0.0 ? m.threshold : t;
        model_ = std::move(m);
        inputs_ = std::move(inputs);
        needs_confidence_ = needs_confidence;
        host_.info("loaded " + path + " (light " + model_.light_model + ", heavy " +
                   model_.heavy_model + ", " + std::to_string(model_.forest->getRoots().size()) +
                   " trees, " + std::to_string(inputs_.size()) + " features" +
                   (needs_confidence_ ? " incl. the light model's confidence" : "") +
                   ", threshold " + std::to_string(threshold_) + ")");
    }

    // A view of the task image; TIERD_EINVAL (with a reason) if malformed.
    int wrap(const tierd_image *image, cv::Mat &out) const {
        if (const char *why = tierd::image_view(image, out)) {
            host_.set_error(std::string("classify: ") + why);
            return TIERD_EINVAL;
        }
        return TIERD_OK;
    }

    tierd::Host host_;
    tierd::preclass::RfModel model_;
    std::vector<std::size_t> inputs_; // the forest's inputs as indexes into kAllNames
    bool needs_confidence_ = false;
    double threshold_ = 0.5;
};

} // namespace

TIERD_PLUGIN(PreclassifierRf, TIERD_KIND_PRECLASSIFIER)
