// The pre-classifier's model file: a cv::ml::RTrees forest (LIGHT = 0, HEAVY = 1) plus the
// min-max normalisation of its input features and what it was trained for, in one
// cv::FileStorage file (YAML; ".yml.gz" is gzip-compressed by OpenCV itself):
//
//   tierd_preclass:
//     schema: 1
//     feature_names: [ ... ]        # the order of the forest's inputs
//     feature_min: [ ... ]          # x_norm = (x - min) / (max - min); max == min -> 0
//     feature_max: [ ... ]
//     light_model: "cnn-xs"         # the zoo models the labels came from
//     heavy_model: "resnet-20"
//     threshold: 0.5                # suggested HEAVY threshold on the vote fraction
//   forest: { ...cv::ml::RTrees::write... }
//
// Shared by the plugin and by preclass_train (library tierd_preclass_features).
#pragma once

#include <opencv2/core.hpp>
#include <opencv2/ml.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace tierd::preclass {

struct RfModel {
    std::vector<std::string> feature_names;
    std::vector<float> feature_min;
    std::vector<float> feature_max;
    std::string light_model;
    std::string heavy_model;
    double threshold = 0.5;
    cv::Ptr<cv::ml::RTrees> forest;

    // Reads `path`. Throws std::runtime_error naming the file and what is wrong when it
    // is missing, unreadable, not a pre-classifier file, or inconsistent.
    static RfModel load(const std::string &path);
    // Writes `path` (".gz" suffix: compressed). Throws std::runtime_error on failure.
    void save(const std::string &path) const;

    // Normalise one raw feature row (feature_names order) in place.
    void normalise(float *values, std::size_t count) const;
    // Fraction of the forest's trees that vote HEAVY (class 1) for one RAW feature row.
    double heavy_fraction(const float *raw, std::size_t count) const;
    // Same for already-normalised rows (CV_32F, one sample per row): one value per row.
    std::vector<double> heavy_fractions_normalised(const cv::Mat &rows) const;
};

} // namespace tierd::preclass
