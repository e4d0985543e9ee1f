// preclassifier-rf: the Edge-based pre-classifier of Ren et al. (2020) as a tierd plugin.
// Computes the 7 image-complexity features (features.hpp) of the task image and asks a
// cv::ml::RTrees forest, trained by preclass_train on the zoo's outcomes, whether the
// light model will do (LIGHT) or the image needs the heavy model (HEAVY).
//
// Config:
//   model      the forest file written by preclass_train (models/preclass/rf.yml.gz);
//              required: a missing, unreadable or wrong file fails create() with the reason
//   threshold  route HEAVY when the fraction of trees voting HEAVY exceeds it; a negative
//              value (the default) uses the threshold stored in the model file
//
// Result: features (raw, not normalised) in features.hpp order, route, and
// light_ok_probability = 1 - (fraction of trees voting HEAVY). The forest was trained with
// balanced class priors, so that fraction ranks images well but is not a calibrated
// probability.
//
// classify() runs on a worker thread; the forest is read-only after create(), so
// concurrent instances are safe; one instance is never called concurrently.
#include "features.hpp"
#include "rf_model.hpp"

#include <tierd/plugin.hpp>
#include <tierd/plugin_opencv.hpp>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <string>

namespace {

using tierd::preclass::kFeatureCount;
using tierd::preclass::kFeatureNames;

class PreclassifierRf {
  public:
    static constexpr const char *name = "preclassifier-rf";
    static constexpr const char *version = "0.1.0";
    static constexpr const char *description =
        "random forest over 7 image-complexity features (Ren et al. 2020); LIGHT or HEAVY";

    static constexpr tierd_config_key config_keys[] = {
        tierd::key_path("model", "", "forest file written by preclass_train (rf.yml.gz)",
                        TIERD_CONFIG_MUST_EXIST),
        tierd::key_double("threshold", "-1", -1.0, 1.0,
                          "HEAVY when the HEAVY vote fraction exceeds this (0..1); "
                          "-1 = the threshold stored in the model"),
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
        const auto f = image.type() == CV_8UC3 && task.image->format == TIERD_PIXEL_RGB8
                           ? tierd::preclass::compute_features_rgb(image)
                           : tierd::preclass::compute_features(image);
        const double heavy = model_.heavy_fraction(f.data(), f.size());
        out.route = heavy > threshold_ ? TIERD_ROUTE_HEAVY : TIERD_ROUTE_LIGHT;
        out.light_ok_probability = static_cast<float>(1.0 - heavy);
        out.feature_names = kFeatureNames;
        host_.counter_add(out.route == TIERD_ROUTE_HEAVY ? "routed_heavy" : "routed_light", 1.0);
        return tierd::write_features(out, f.data(), f.size());
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
        if (m.feature_names.size() != kFeatureCount)
            throw tierd::Error(TIERD_ECONFIG, "model '" + path + "' takes " +
                                                  std::to_string(m.feature_names.size()) +
                                                  " features; this plugin computes the 7 "
                                                  "image features");
        for (std::size_t i = 0; i < kFeatureCount; ++i)
            if (m.feature_names[i] != kFeatureNames[i])
                throw tierd::Error(TIERD_ECONFIG, "model '" + path + "' feature " +
                                                      std::to_string(i) + " is '" +
                                                      m.feature_names[i] + "', expected '" +
                                                      kFeatureNames[i] + "'");
        const double t = config.get_double("threshold");
        if (t > 1.0 || (t < 0.0 && t != -1.0))
            throw tierd::Error(TIERD_ECONFIG, "threshold must be in 0..1, or -1");
        threshold_ = t < 0.0 ? m.threshold : t;
        model_ = std::move(m);
        host_.info("loaded " + path + " (light " + model_.light_model + ", heavy " +
                   model_.heavy_model + ", " + std::to_string(model_.forest->getRoots().size()) +
                   " trees, threshold " + std::to_string(threshold_) + ")");
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
    double threshold_ = 0.5;
};

} // namespace

TIERD_PLUGIN(PreclassifierRf, TIERD_KIND_PRECLASSIFIER)
