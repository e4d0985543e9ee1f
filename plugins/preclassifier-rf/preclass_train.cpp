// preclass_train: trains the Edge-based pre-classifier (Ren et al. 2020, Algorithms 1 and 2)
// from the model zoo's per-image outcomes, evaluates it, and writes the model files and a
// report.
//
//   preclass_train [--models DIR] [--data DIR] [--out DIR] [--trees N] [--depth N]
//                  [--folds K] [--min-sample N] [--no-balance]
//
//   --models  the zoo: manifest.toml and outcomes/*.csv.gz        (default: models)
//   --data    Fashion-MNIST IDX files (gzip)     (default: /usr/share/datasets/fashion-mnist)
//   --out     where rf.yml.gz, rf-conf.yml.gz, rf.json and report.md go
//                                                                  (default: models/preclass)
//
// Labels (Algorithms 1 and 2):
//   light = the zoo model with the fewest FLOPs (Algorithm 1: the fastest on the device);
//   heavy = the model with the most correct answers on the TRAIN images the light model
//           gets wrong (Algorithm 2);
//   target = HEAVY (1) when the light model is wrong and the heavy one right, else LIGHT
//            (0): the cheapest model that answers right, the light one when neither does.
// Feature sets compared (ablation):
//   paper      the 7 image features of features.hpp (what the plugin computes);
//   conf       our extension: the light model's own confidence on the image (max softmax
//              p_max, margin p_max - p_2nd, entropy), from the zoo's outcome files;
//   paper+conf both.
// Each set: K-fold cross-validation on the train split (out-of-fold vote fractions give
// P/R/F1 and the F1-best threshold), then a forest on the whole train split evaluated on
// the test split (routed top-1 vs light-only, heavy-only and oracle).
// Deterministic: fixed fold shuffle, OpenCV's RTrees uses a fixed RNG seed.
#include "features.hpp"
#include "rf_model.hpp"

#include <opencv2/core.hpp>
#include <opencv2/ml.hpp>
#include <toml++/toml.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using tierd::preclass::RfModel;

namespace {

struct Options {
    std::string models = "models";
    std::string data = "/usr/share/datasets/fashion-mnist";
    std::string out = "models/preclass";
    int trees = 50;
    int depth = 6;
    int folds = 10;
    int min_sample = 20;
    bool balance = true;
};

struct Outcome {
    int label = 0;
    int pred = 0;
    bool correct = false;
    float p_max = 0, p_2nd = 0, entropy = 0;
};

struct ZooModel {
    std::string name;
    double flops = 0;
    std::vector<Outcome> train, test;
};

std::vector<unsigned char> read_gz(const std::string &path) {
    gzFile f = gzopen(path.c_str(), "rb");
    if (f == nullptr)
        throw std::runtime_error("cannot open " + path);
    std::vector<unsigned char> out;
    unsigned char buf[1 << 16];
    int n = 0;
    while ((n = gzread(f, buf, sizeof buf)) > 0)
        out.insert(out.end(), buf, buf + n);
    const bool bad = n < 0;
    gzclose(f);
    if (bad)
        throw std::runtime_error("read error in " + path);
    return out;
}

// IDX images: magic 0x00000803, count, rows, cols (big-endian), then uint8 pixels.
std::vector<cv::Mat> read_idx_images(const std::string &path) {
    const auto raw = read_gz(path);
    auto be32 = [&](std::size_t at) {
        return static_cast<uint32_t>(raw[at]) << 24 | static_cast<uint32_t>(raw[at + 1]) << 16 |
               static_cast<uint32_t>(raw[at + 2]) << 8 | static_cast<uint32_t>(raw[at + 3]);
    };
    if (raw.size() < 16 || be32(0) != 0x803)
        throw std::runtime_error(path + ": not an IDX uint8 3-D file");
    const uint32_t n = be32(4), rows = be32(8), cols = be32(12);
    if (raw.size() != 16 + static_cast<std::size_t>(n) * rows * cols)
        throw std::runtime_error(path + ": size does not match its header");
    std::vector<cv::Mat> images;
    images.reserve(n);
    for (uint32_t i = 0; i < n; ++i) {
        cv::Mat m(static_cast<int>(rows), static_cast<int>(cols), CV_8UC1);
        std::copy_n(raw.data() + 16 + static_cast<std::size_t>(i) * rows * cols, rows * cols,
                    m.data);
        images.push_back(m);
    }
    return images;
}

// index,label,pred,correct,p_max,p_2nd,entropy
std::vector<Outcome> read_outcomes(const std::string &path) {
    const auto raw = read_gz(path);
    std::istringstream in(std::string(raw.begin(), raw.end()));
    std::string line;
    if (!std::getline(in, line) || line.rfind("index,label,pred,correct", 0) != 0)
        throw std::runtime_error(path + ": unexpected header");
    std::vector<Outcome> out;
    while (std::getline(in, line)) {
        if (line.empty())
            continue;
        long index = 0;
        int correct = 0;
        Outcome o;
        if (std::sscanf(line.c_str(), "%ld,%d,%d,%d,%f,%f,%f", &index, &o.label, &o.pred, &correct,
                        &o.p_max, &o.p_2nd, &o.entropy) != 7 ||
            index != static_cast<long>(out.size()))
            throw std::runtime_error(path + ": bad line " + std::to_string(out.size() + 2));
        o.correct = correct != 0;
        out.push_back(o);
    }
    return out;
}

std::vector<ZooModel> read_zoo(const std::string &dir) {
    const auto manifest = toml::parse_file(dir + "/manifest.toml");
    const auto *models = manifest["model"].as_array();
    if (models == nullptr || models->empty())
        throw std::runtime_error(dir + "/manifest.toml: no [[model]] entries");
    std::vector<ZooModel> zoo;
    for (const auto &node : *models) {
        const auto &t = *node.as_table();
        ZooModel m;
        m.name = t["name"].value_or(std::string());
        m.flops = t["flops"].value_or(0.0);
        const std::string train = t["outcomes_train"].value_or(std::string());
        const std::string test = t["outcomes_test"].value_or(std::string());
        if (m.name.empty() || m.flops <= 0 || train.empty() || test.empty())
            throw std::runtime_error("manifest: model entry without name, flops or outcomes");
        m.train = read_outcomes(dir + "/" + train);
        m.test = read_outcomes(dir + "/" + test);
        zoo.push_back(std::move(m));
    }
    return zoo;
}

// ---- Metrics ---------------------------------------------------------------------------

struct Prf {
    double precision = 0, recall = 0, f1 = 0, heavy_share = 0;
};

Prf prf(const std::vector<int> &y, const std::vector<double> &score, double threshold) {
    std::size_t tp = 0, fp = 0, fn = 0, pos = 0;
    for (std::size_t i = 0; i < y.size(); ++i) {
        const bool p = score[i] > threshold;
        pos += p;
        tp += p && y[i] == 1;
        fp += p && y[i] == 0;
        fn += !p && y[i] == 1;
    }
    Prf r;
    r.precision = tp + fp ? static_cast<double>(tp) / static_cast<double>(tp + fp) : 0.0;
    r.recall = tp + fn ? static_cast<double>(tp) / static_cast<double>(tp + fn) : 0.0;
    r.f1 = r.precision + r.recall > 0 ? 2 * r.precision * r.recall / (r.precision + r.recall) : 0.0;
    r.heavy_share = static_cast<double>(pos) / static_cast<double>(y.size());
    return r;
}

// Thresholds tried: the vote fraction moves in steps of 1/trees.
std::vector<double> thresholds(int trees) {
    std::vector<double> t;
    for (int k = 0; k < trees; ++k)
        t.push_back((k + 0.5) / trees);
    return t;
}

double routed_top1(const std::vector<Outcome> &light, const std::vector<Outcome> &heavy,
                   const std::vector<double> &score, double threshold) {
    std::size_t ok = 0;
    for (std::size_t i = 0; i < light.size(); ++i)
        ok += score[i] > threshold ? heavy[i].correct : light[i].correct;
    return static_cast<double>(ok) / static_cast<double>(light.size());
}

// ---- Feature matrices -------------------------------------------------------------------

struct FeatureSet {
    std::string name;
    std::vector<std::string> names;
    cv::Mat train, test; // CV_32F, one row per image (raw, not normalised)
};

cv::Mat image_features(const std::vector<cv::Mat> &images) {
    cv::Mat x(static_cast<int>(images.size()), tierd::preclass::kFeatureCount, CV_32F);
    cv::parallel_for_(cv::Range(0, static_cast<int>(images.size())), [&](const cv::Range &r) {
        for (int i = r.start; i < r.end; ++i) {
            const auto f = tierd::preclass::compute_features(images[static_cast<std::size_t>(i)]);
            std::copy(f.begin(), f.end(), x.ptr<float>(i));
        }
    });
    return x;
}

cv::Mat conf_features(const std::vector<Outcome> &light) {
    cv::Mat x(static_cast<int>(light.size()), 3, CV_32F);
    for (std::size_t i = 0; i < light.size(); ++i) {
        float *row = x.ptr<float>(static_cast<int>(i));
        row[0] = light[i].p_max;
        row[1] = light[i].p_max - light[i].p_2nd;
        row[2] = light[i].entropy;
    }
    return x;
}

void min_max(const cv::Mat &x, std::vector<float> &lo, std::vector<float> &hi) {
    lo.assign(static_cast<std::size_t>(x.cols), 0.0f);
    hi.assign(static_cast<std::size_t>(x.cols), 0.0f);
    for (int j = 0; j < x.cols; ++j) {
        double a = 0, b = 0;
        cv::minMaxLoc(x.col(j), &a, &b);
        lo[static_cast<std::size_t>(j)] = static_cast<float>(a);
        hi[static_cast<std::size_t>(j)] = static_cast<float>(b);
    }
}

cv::Mat normalised(const RfModel &m, const cv::Mat &x) {
    cv::Mat out = x.clone();
    for (int i = 0; i < out.rows; ++i)
        m.normalise(out.ptr<float>(i), static_cast<std::size_t>(out.cols));
    return out;
}

cv::Ptr<cv::ml::RTrees> train_forest(const Options &o, const cv::Mat &x,
                                     const std::vector<int> &y) {
    const auto heavy = static_cast<double>(std::count(y.begin(), y.end(), 1));
    const double light = static_cast<double>(y.size()) - heavy;
    auto rt = cv::ml::RTrees::create();
    rt->setMaxDepth(o.depth);
    rt->setMinSampleCount(o.min_sample);
    rt->setRegressionAccuracy(0);
    rt->setUseSurrogates(false);
    rt->setMaxCategories(2);
    rt->setCVFolds(0);
    rt->setCalculateVarImportance(true);
    rt->setActiveVarCount(0); // sqrt(number of features) per split
    rt->setTermCriteria(cv::TermCriteria(cv::TermCriteria::MAX_ITER, o.trees, 0.0));
    if (o.balance && heavy > 0) // class weights so that both classes weigh the same
        rt->setPriors(cv::Mat_<float>({1, 2}, {1.0f, static_cast<float>(light / heavy)}));
    cv::Mat responses(static_cast<int>(y.size()), 1, CV_32S);
    for (std::size_t i = 0; i < y.size(); ++i)
        responses.at<int>(static_cast<int>(i)) = y[i];
    rt->train(cv::ml::TrainData::create(x, cv::ml::ROW_SAMPLE, responses));
    return rt;
}

RfModel fit(const Options &o, const FeatureSet &fset, const cv::Mat &x, const std::vector<int> &y) {
    RfModel m;
    m.feature_names = fset.names;
    min_max(x, m.feature_min, m.feature_max);
    m.forest = train_forest(o, normalised(m, x), y);
    return m;
}

std::vector<double> scores(const RfModel &m, const cv::Mat &x) {
    return m.heavy_fractions_normalised(normalised(m, x));
}

struct Result {
    std::string name;
    std::vector<std::string> features;
    Prf cv_at_half, cv_best, test_at_best;
    double best_threshold = 0.5;
    double test_top1 = 0, test_heavy_share = 0;
    std::vector<float> importance;
    std::vector<double> test_score;
    RfModel model;
    double train_seconds = 0;
};

Result evaluate(const Options &o, const FeatureSet &fset, const std::vector<int> &y_train,
                const std::vector<int> &y_test, const std::vector<Outcome> &light_test,
                const std::vector<Outcome> &heavy_test) {
    Result r;
    r.name = fset.name;
    r.features = fset.names;
    const int n = fset.train.rows;

    // Folds: a fixed permutation (own Fisher-Yates on a fixed-seed LCG: portable).
    std::vector<int> order(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i)
        order[static_cast<std::size_t>(i)] = i;
    uint64_t state = 0x9e3779b97f4a7c15ull;
    for (int i = n - 1; i > 0; --i) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        const int j = static_cast<int>((state >> 33) % static_cast<uint64_t>(i + 1));
        std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(j)]);
    }
    std::vector<double> oof(static_cast<std::size_t>(n), 0.0);
    const auto t0 = std::chrono::steady_clock::now();
    for (int k = 0; k < o.folds; ++k) {
        std::vector<int> tr, te;
        for (int i = 0; i < n; ++i)
            (i % o.folds == k ? te : tr).push_back(order[static_cast<std::size_t>(i)]);
        cv::Mat xtr(static_cast<int>(tr.size()), fset.train.cols, CV_32F);
        cv::Mat xte(static_cast<int>(te.size()), fset.train.cols, CV_32F);
        std::vector<int> ytr;
        for (std::size_t i = 0; i < tr.size(); ++i) {
            fset.train.row(tr[i]).copyTo(xtr.row(static_cast<int>(i)));
            ytr.push_back(y_train[static_cast<std::size_t>(tr[i])]);
        }
        for (std::size_t i = 0; i < te.size(); ++i)
            fset.train.row(te[i]).copyTo(xte.row(static_cast<int>(i)));
        const RfModel m = fit(o, fset, xtr, ytr);
        const auto s = scores(m, xte);
        for (std::size_t i = 0; i < te.size(); ++i)
            oof[static_cast<std::size_t>(te[i])] = s[i];
    }
    r.cv_at_half = prf(y_train, oof, 0.5);
    r.cv_best = r.cv_at_half;
    for (double t : thresholds(o.trees)) {
        const Prf p = prf(y_train, oof, t);
        if (p.f1 > r.cv_best.f1) {
            r.cv_best = p;
            r.best_threshold = t;
        }
    }

    r.model = fit(o, fset, fset.train, y_train);
    r.model.threshold = r.best_threshold;
    r.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    cv::Mat imp = r.model.forest->getVarImportance();
    for (int j = 0; j < static_cast<int>(imp.total()); ++j)
        r.importance.push_back(imp.at<float>(j));
    r.test_score = scores(r.model, fset.test);
    r.test_at_best = prf(y_test, r.test_score, r.best_threshold);
    r.test_top1 = routed_top1(light_test, heavy_test, r.test_score, r.best_threshold);
    r.test_heavy_share = r.test_at_best.heavy_share;
    return r;
}

// Pearson correlation between columns of x.
cv::Mat pearson(const cv::Mat &x) {
    cv::Mat cov, mean;
    cv::calcCovarMatrix(x, cov, mean, cv::COVAR_NORMAL | cv::COVAR_ROWS, CV_64F);
    cv::Mat r(cov.size(), CV_64F);
    for (int i = 0; i < cov.rows; ++i)
        for (int j = 0; j < cov.cols; ++j) {
            const double d = std::sqrt(cov.at<double>(i, i) * cov.at<double>(j, j));
            r.at<double>(i, j) = d > 0 ? cov.at<double>(i, j) / d : 0.0;
        }
    return r;
}

std::string pct(double v, int digits = 2) {
    std::ostringstream s;
    s << std::fixed << std::setprecision(digits) << 100.0 * v << "%";
    return s.str();
}
std::string num(double v, int digits = 3) {
    std::ostringstream s;
    s << std::fixed << std::setprecision(digits) << v;
    return s.str();
}

std::string json_list(const std::vector<std::string> &v) {
    std::string s = "[";
    for (std::size_t i = 0; i < v.size(); ++i)
        s += (i ? ", \"" : "\"") + v[i] + "\"";
    return s + "]";
}
std::string json_list(const std::vector<float> &v) {
    std::ostringstream s;
    s << "[" << std::setprecision(9);
    for (std::size_t i = 0; i < v.size(); ++i)
        s << (i ? ", " : "") << v[i];
    s << "]";
    return s.str();
}

Options parse(int argc, char **argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc)
                throw std::runtime_error(a + " needs a value");
            return argv[++i];
        };
        if (a == "--models")
            o.models = value();
        else if (a == "--data")
            o.data = value();
        else if (a == "--out")
            o.out = value();
        else if (a == "--trees")
            o.trees = std::stoi(value());
        else if (a == "--depth")
            o.depth = std::stoi(value());
        else if (a == "--folds")
            o.folds = std::stoi(value());
        else if (a == "--min-sample")
            o.min_sample = std::stoi(value());
        else if (a == "--no-balance")
            o.balance = false;
        else if (a == "-h" || a == "--help") {
            std::cout << "usage: preclass_train [--models DIR] [--data DIR] [--out DIR] "
                         "[--trees N] [--depth N] [--folds K] [--min-sample N] [--no-balance]\n";
            std::exit(0);
        } else
            throw std::runtime_error("unknown option " + a);
    }
    if (o.trees < 1 || o.depth < 1 || o.folds < 2 || o.min_sample < 1)
        throw std::runtime_error("--trees, --depth, --min-sample must be >= 1, --folds >= 2");
    return o;
}

int run(const Options &o) {
    const auto t_start = std::chrono::steady_clock::now();
    auto zoo = read_zoo(o.models);

    // Algorithm 1: the light (device) model is the cheapest one.
    std::size_t li = 0;
    for (std::size_t i = 1; i < zoo.size(); ++i)
        if (zoo[i].flops < zoo[li].flops)
            li = i;
    const ZooModel &light = zoo[li];
    // Algorithm 2: the heavy (edge) model is the most accurate on the light model's misses.
    std::vector<std::pair<std::string, std::size_t>> rescue;
    std::size_t hi = li == 0 ? 1 : 0, best_rescue = 0;
    for (std::size_t i = 0; i < zoo.size(); ++i) {
        if (i == li)
            continue;
        std::size_t r = 0;
        for (std::size_t k = 0; k < light.train.size(); ++k)
            r += !light.train[k].correct && zoo[i].train[k].correct;
        rescue.emplace_back(zoo[i].name, r);
        if (r > best_rescue) {
            best_rescue = r;
            hi = i;
        }
    }
    const ZooModel &heavy = zoo[hi];
    std::size_t light_wrong = 0;
    for (const auto &x : light.train)
        light_wrong += !x.correct;

    auto labels = [&](const std::vector<Outcome> &l, const std::vector<Outcome> &h) {
        std::vector<int> y(l.size());
        for (std::size_t i = 0; i < l.size(); ++i)
            y[i] = !l[i].correct && h[i].correct ? 1 : 0;
        return y;
    };
    const auto y_train = labels(light.train, heavy.train);
    const auto y_test = labels(light.test, heavy.test);

    std::cerr << "light " << light.name << ", heavy " << heavy.name << "; reading images\n";
    const auto train_images = read_idx_images(o.data + "/train-images-idx3-ubyte.gz");
    const auto test_images = read_idx_images(o.data + "/t10k-images-idx3-ubyte.gz");
    if (train_images.size() != light.train.size() || test_images.size() != light.test.size())
        throw std::runtime_error("image counts differ from the outcome files");
    const auto t_feat = std::chrono::steady_clock::now();
    FeatureSet paper{"paper", {}, image_features(train_images), image_features(test_images)};
    const double feat_us =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t_feat)
            .count() /
        static_cast<double>(train_images.size() + test_images.size());
    for (const char *name : tierd::preclass::kFeatureNames)
        paper.names.emplace_back(name);
    FeatureSet conf{"conf",
                    {"p_max", "margin", "entropy"},
                    conf_features(light.train),
                    conf_features(light.test)};
    FeatureSet both{"paper+conf", paper.names, {}, {}};
    both.names.insert(both.names.end(), conf.names.begin(), conf.names.end());
    cv::hconcat(paper.train, conf.train, both.train);
    cv::hconcat(paper.test, conf.test, both.test);

    std::vector<Result> results;
    for (const FeatureSet *f : {&paper, &conf, &both}) {
        std::cerr << "training " << f->name << " (" << o.folds << "-fold CV + final)\n";
        results.push_back(evaluate(o, *f, y_train, y_test, light.test, heavy.test));
    }

    // Save: rf.yml.gz (paper features: what the plugin computes), rf-conf.yml.gz.
    fs::create_directories(o.out);
    for (auto &r : results) {
        r.model.light_model = light.name;
        r.model.heavy_model = heavy.name;
    }
    const std::string rf_path = o.out + "/rf.yml.gz";
    const std::string conf_path = o.out + "/rf-conf.yml.gz";
    results[0].model.save(rf_path);
    results[1].model.save(conf_path);
    // Round trip: the saved file must predict what the in-memory forest does.
    {
        const RfModel back = RfModel::load(rf_path);
        const auto s = scores(back, paper.test);
        if (s != results[0].test_score)
            throw std::runtime_error("reloaded model predicts differently");
    }

    // Test-split reference points.
    const std::size_t nt = light.test.size();
    std::size_t l_ok = 0, h_ok = 0, oracle_ok = 0, y1 = 0;
    for (std::size_t i = 0; i < nt; ++i) {
        l_ok += light.test[i].correct;
        h_ok += heavy.test[i].correct;
        oracle_ok += light.test[i].correct || heavy.test[i].correct;
        y1 += y_test[i];
    }
    const double light_top1 = static_cast<double>(l_ok) / nt;
    const double heavy_top1 = static_cast<double>(h_ok) / nt;
    const double oracle_top1 = static_cast<double>(oracle_ok) / nt;

    {
        std::ofstream js(o.out + "/rf.json");
        const RfModel &m = results[0].model;
        js << "{\n  \"schema\": 1,\n  \"model\": \"rf.yml.gz\",\n"
           << "  \"dataset\": \"fashion-mnist\",\n"
           << "  \"light_model\": \"" << light.name << "\",\n"
           << "  \"heavy_model\": \"" << heavy.name << "\",\n"
           << "  \"label\": \"HEAVY(1) when the light model is wrong and the heavy right\",\n"
           << "  \"feature_names\": " << json_list(m.feature_names) << ",\n"
           << "  \"feature_min\": " << json_list(m.feature_min) << ",\n"
           << "  \"feature_max\": " << json_list(m.feature_max) << ",\n"
           << "  \"normalisation\": \"x = (raw - min) / (max - min)\",\n"
           << "  \"threshold\": " << m.threshold << ",\n"
           << "  \"trees\": " << o.trees << ",\n  \"max_depth\": " << o.depth << ",\n"
           << "  \"min_sample_count\": " << o.min_sample << ",\n"
           << "  \"balanced_priors\": " << (o.balance ? "true" : "false") << ",\n"
           << "  \"conf_model\": \"rf-conf.yml.gz\",\n"
           << "  \"conf_feature_names\": " << json_list(results[1].model.feature_names)
           << ",\n  \"conf_threshold\": " << results[1].model.threshold << "\n}\n";
    }

    std::ofstream md(o.out + "/report.md");
    md << "# Pre-classifier (preclassifier-rf): training report\n\n"
       << "Generated by `tools/preclass/build.sh` (`preclass_train --trees " << o.trees
       << " --depth " << o.depth << " --folds " << o.folds << " --min-sample " << o.min_sample
       << (o.balance ? "" : " --no-balance") << "`); do not edit.\n\n"
       << "## Models (Algorithms 1 and 2)\n\n"
       << "- Light (device) model, the fewest FLOPs: **" << light.name << "** ("
       << num(light.flops / 1e6, 3) << " MFLOPs), wrong on " << light_wrong << " of "
       << light.train.size() << " train images.\n"
       << "- Heavy (edge) model, the most correct on those misses: **" << heavy.name << "** ("
       << num(heavy.flops / 1e6, 1) << " MFLOPs).\n\n"
       << "| candidate | light's train misses it gets right |\n|---|---|\n";
    for (const auto &[name, r] : rescue)
        md << "| " << name << " | " << r << " (" << pct(static_cast<double>(r) / light_wrong, 1)
           << ") |\n";
    md << "\nLabel: HEAVY (1) when the light model is wrong and the heavy right, else LIGHT (0). "
       << "HEAVY share: train "
       << pct(std::count(y_train.begin(), y_train.end(), 1) / static_cast<double>(y_train.size()))
       << ", test " << pct(static_cast<double>(y1) / nt) << ".\n\n"
       << "## Forest\n\ncv::ml::RTrees, " << o.trees << " trees, max depth " << o.depth << ", min "
       << o.min_sample << " samples per split, sqrt(#features) variables per split, "
       << (o.balance ? "class priors 1 : (#LIGHT/#HEAVY) (balanced)" : "no class priors")
       << "; inputs min-max normalised on the train split (min/max stored with the model). "
       << "Route HEAVY when the fraction of trees voting HEAVY exceeds the threshold; the "
       << "threshold stored is the one with the best out-of-fold F1 of HEAVY.\n\n"
       << "Feature extraction: " << num(feat_us, 1) << " µs per 28x28 image (all 7 features, "
       << "this machine, " << cv::getNumThreads() << " OpenCV threads over images).\n\n"
       << "## " << o.folds << "-fold cross-validation on the train split (class HEAVY)\n\n"
       << "| features | P @0.5 | R @0.5 | F1 @0.5 | best threshold | P | R | F1 | routed HEAVY |\n"
       << "|---|---|---|---|---|---|---|---|---|\n";
    for (const auto &r : results)
        md << "| " << r.name << " | " << num(r.cv_at_half.precision) << " | "
           << num(r.cv_at_half.recall) << " | " << num(r.cv_at_half.f1) << " | "
           << num(r.best_threshold, 2) << " | " << num(r.cv_best.precision) << " | "
           << num(r.cv_best.recall) << " | " << num(r.cv_best.f1) << " | "
           << pct(r.cv_best.heavy_share, 1) << " |\n";
    md << "\n## Test split (10,000 images), forest trained on the whole train split\n\n"
       << "| row | top-1 | % of oracle | sent to heavy | P | R | F1 "
          "|\n|---|---|---|---|---|---|---|\n"
       << "| light only (" << light.name << ") | " << pct(light_top1) << " | "
       << pct(light_top1 / oracle_top1, 1) << " | 0% | | | |\n"
       << "| heavy only (" << heavy.name << ") | " << pct(heavy_top1) << " | "
       << pct(heavy_top1 / oracle_top1, 1) << " | 100% | | | |\n";
    for (const auto &r : results)
        md << "| routed, " << r.name << " features (t=" << num(r.best_threshold, 2) << ") | "
           << pct(r.test_top1) << " | " << pct(r.test_top1 / oracle_top1, 1) << " | "
           << pct(r.test_heavy_share, 1) << " | " << num(r.test_at_best.precision) << " | "
           << num(r.test_at_best.recall) << " | " << num(r.test_at_best.f1) << " |\n";
    md << "| oracle | " << pct(oracle_top1) << " | 100% | " << pct(static_cast<double>(y1) / nt, 1)
       << " | | | |\n\n"
       << "### Threshold sweep on the test split (routed top-1 / share sent to heavy)\n\n"
       << "| threshold |";
    for (const auto &r : results)
        md << " " << r.name << " |";
    md << "\n|---|";
    for (std::size_t i = 0; i < results.size(); ++i)
        md << "---|";
    md << "\n";
    for (double t : {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9}) {
        md << "| " << num(t, 1) << " |";
        for (const auto &r : results)
            md << " " << pct(routed_top1(light.test, heavy.test, r.test_score, t)) << " / "
               << pct(prf(y_test, r.test_score, t).heavy_share, 1) << " |";
        md << "\n";
    }
    md << "\n## Feature importance (RTrees variable importance, final forests)\n\n";
    for (const auto &r : results) {
        md << "**" << r.name << "**: ";
        std::vector<std::size_t> idx(r.features.size());
        for (std::size_t i = 0; i < idx.size(); ++i)
            idx[i] = i;
        std::sort(idx.begin(), idx.end(),
                  [&](std::size_t a, std::size_t b) { return r.importance[a] > r.importance[b]; });
        for (std::size_t k = 0; k < idx.size(); ++k)
            md << (k ? ", " : "") << r.features[idx[k]] << " " << num(r.importance[idx[k]], 4);
        md << "\n\n";
    }
    const cv::Mat corr = pearson(paper.train);
    md << "## Pearson correlation of the 7 image features (train split)\n\n"
       << "The paper drops one of each pair with |r| > 0.75.\n\n|  |";
    for (const auto &n : paper.names)
        md << " " << n << " |";
    md << "\n|---|";
    for (std::size_t i = 0; i < paper.names.size(); ++i)
        md << "---|";
    md << "\n";
    std::vector<std::string> high;
    for (int i = 0; i < corr.rows; ++i) {
        md << "| " << paper.names[static_cast<std::size_t>(i)] << " |";
        for (int j = 0; j < corr.cols; ++j) {
            md << " " << num(corr.at<double>(i, j), 2) << " |";
            if (j > i && std::abs(corr.at<double>(i, j)) > 0.75)
                high.push_back(paper.names[static_cast<std::size_t>(i)] + " / " +
                               paper.names[static_cast<std::size_t>(j)]);
        }
        md << "\n";
    }
    md << "\nPairs above 0.75: " << (high.empty() ? std::string("none") : "");
    for (std::size_t i = 0; i < high.size(); ++i)
        md << (i ? ", " : "") << high[i];
    md << ".\n\n## Files\n\n"
       << "- `rf.yml.gz` (" << fs::file_size(rf_path) << " B): the paper-feature forest, what "
       << "plugins/preclassifier-rf loads (`model = \".../rf.yml.gz\"`).\n"
       << "- `rf-conf.yml.gz` (" << fs::file_size(conf_path) << " B): the confidence-feature "
       << "forest (inputs: the light model's p_max, margin, entropy; no plugin computes them "
       << "yet).\n- `rf.json`: normalisation, thresholds and the models the labels came from.\n\n"
       << "Total time "
       << num(std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count(), 0)
       << " s (varies by machine and load; the rest of this report is deterministic).\n";
    md.close();
    std::cout << std::ifstream(o.out + "/report.md").rdbuf();
    return 0;
}

} // namespace

int main(int argc, char **argv) {
    try {
        return run(parse(argc, argv));
    } catch (const std::exception &e) {
        std::cerr << "preclass_train: " << e.what() << "\n";
        return 1;
    }
}
