#include "rf_model.hpp"

#include <filesystem>
#include <stdexcept>

namespace tierd::preclass {
namespace {

[[noreturn]] void fail(const std::string &path, const std::string &what) {
    throw std::runtime_error("pre-classifier model '" + path + "': " + what);
}

} // namespace

RfModel RfModel::load(const std::string &path) {
    RfModel m;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec))
        fail(path, "no such file");
    try {
        cv::FileStorage fs(path, cv::FileStorage::READ);
        if (!fs.isOpened())
            fail(path, "cannot open or parse it as an OpenCV YAML/XML/JSON file");
        const cv::FileNode meta = fs["tierd_preclass"];
        if (meta.empty() || !meta.isMap())
            fail(path, "no 'tierd_preclass' section (not a preclass_train output?)");
        if (static_cast<int>(meta["schema"]) != 1)
            fail(path, "unsupported schema (want 1)");
        meta["feature_names"] >> m.feature_names;
        meta["feature_min"] >> m.feature_min;
        meta["feature_max"] >> m.feature_max;
        meta["light_model"] >> m.light_model;
        meta["heavy_model"] >> m.heavy_model;
        if (!meta["threshold"].empty())
            meta["threshold"] >> m.threshold;
        if (m.feature_names.empty() || m.feature_min.size() != m.feature_names.size() ||
            m.feature_max.size() != m.feature_names.size())
            fail(path, "feature_names, feature_min and feature_max missing or of different "
                       "lengths");
        const cv::FileNode forest = fs["forest"];
        if (forest.empty() || !forest.isMap())
            fail(path, "no 'forest' section");
        m.forest = cv::ml::RTrees::create();
        m.forest->read(forest);
    } catch (const cv::Exception &e) {
        fail(path, std::string("OpenCV could not read it: ") + e.what());
    }
    if (!m.forest->isTrained() || !m.forest->isClassifier())
        fail(path, "the forest is empty or not a classifier");
    if (m.forest->getVarCount() != static_cast<int>(m.feature_names.size()))
        fail(path, "the forest takes " + std::to_string(m.forest->getVarCount()) +
                       " inputs but the file names " + std::to_string(m.feature_names.size()) +
                       " features");
    return m;
}

void RfModel::save(const std::string &path) const {
    if (forest.empty() || !forest->isTrained())
        throw std::runtime_error("save: the forest is not trained");
    cv::FileStorage fs(path, cv::FileStorage::WRITE);
    if (!fs.isOpened())
        throw std::runtime_error("save: cannot write '" + path + "'");
    fs << "tierd_preclass"
       << "{";
    fs << "schema" << 1;
    fs << "feature_names" << feature_names;
    fs << "feature_min" << feature_min;
    fs << "feature_max" << feature_max;
    fs << "light_model" << light_model;
    fs << "heavy_model" << heavy_model;
    fs << "threshold" << threshold;
    fs << "}";
    fs << "forest"
       << "{";
    forest->write(fs);
    fs << "}";
    fs.release();
}

void RfModel::normalise(float *values, std::size_t count) const {
    for (std::size_t i = 0; i < count && i < feature_min.size(); ++i) {
        const float span = feature_max[i] - feature_min[i];
        values[i] = span > 0.0f ? (values[i] - feature_min[i]) / span : 0.0f;
    }
}

std::vector<double> RfModel::heavy_fractions_normalised(const cv::Mat &rows) const {
    cv::Mat votes;
    forest->getVotes(rows, votes, 0);
    // Row 0: the class labels; then one row of per-class vote counts per sample.
    int heavy_col = -1;
    for (int j = 0; j < votes.cols; ++j)
        if (votes.at<int>(0, j) == 1)
            heavy_col = j;
    std::vector<double> out(static_cast<std::size_t>(rows.rows), 0.0);
    if (heavy_col < 0)
        return out; // trained on LIGHT only: never HEAVY
    for (int i = 0; i < rows.rows; ++i) {
        int total = 0;
        for (int j = 0; j < votes.cols; ++j)
            total += votes.at<int>(i + 1, j);
        out[static_cast<std::size_t>(i)] =
            total > 0 ? static_cast<double>(votes.at<int>(i + 1, heavy_col)) / total : 0.0;
    }
    return out;
}

double RfModel::heavy_fraction(const float *raw, std::size_t count) const {
    if (count != feature_names.size())
        throw std::invalid_argument("heavy_fraction: got " + std::to_string(count) +
                                    " features, the model takes " +
                                    std::to_string(feature_names.size()));
    cv::Mat row(1, static_cast<int>(count), CV_32F);
    for (std::size_t i = 0; i < count; ++i)
        row.at<float>(0, static_cast<int>(i)) = raw[i];
    normalise(row.ptr<float>(0), count);
    return heavy_fractions_normalised(row)[0];
}

} // namespace tierd::preclass
