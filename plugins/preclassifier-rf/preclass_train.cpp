// preclass_train: trains the Edge-based pre-classifier (Ren et al. 2020, Algorithms 1 and 2,
// section 4.4 feature selection, section 5.2 classifier comparison) from the model zoo's
// per-image outcomes, evaluates it, and writes the model files and a report.
//
//   preclass_train [--models DIR] [--data DIR] [--out DIR] [--trees N] [--depth N]
//                  [--folds K] [--min-sample N] [--no-balance] [--ablation-folds K]
//                  [--svm-rows N] [--selection-rows N] [--no-selection] [--no-compare]
//
//   --models  the zoo: manifest.toml and outcomes/*.csv.gz        (default: models)
//   --data    Fashion-MNIST IDX files (gzip)     (default: /usr/share/datasets/fashion-mnist)
//   --out     where rf.yml.gz, rf-conf.yml.gz, rf-paper-conf.yml.gz, rf.json and report.md
//             go                                                   (default: models/preclass)
//   --ablation-folds  folds of the selection's ablation CVs                     (default: 5)
//   --svm-rows        rows of each training fold the SVM trains on           (default: 10000)
//   --selection-rows  train rows RFE and the ablation use (fixed-seed subsample; 0 = all)
//                                                                             (default: 30000)
//   --no-selection, --no-compare  skip the feature selection / classifier comparison
//
// Labels (Algorithms 1 and 2):
//   light = the zoo model with the fewest FLOPs (Algorithm 1: the fastest on the device;
//           ties go to the one right on more training images);
//   heavy = the model with the most correct answers on the TRAIN images the light model
//           gets wrong (Algorithm 2);
//   target = HEAVY (1) when the light model is wrong and the heavy one right, else LIGHT
//            (0): the cheapest model that answers right, the light one when neither does.
// Feature selection (section 4.4, on the train split): the 29 candidates of
// candidate_features.hpp; Pearson filter |r| > 0.75; RFE (RTrees variable importance) and
// chi-square ranks; ablation CVs of the top 10; the 7 whose removal costs the most survive.
// Forests (feature sets paper, conf = the light model's p_max, margin, entropy, and
// paper+conf): K-fold CV on the train split (out-of-fold vote fractions give P/R/F1 and the
// thresholds), then a forest on the whole train split evaluated on the test split.
// Stored threshold: the fewest images sent to HEAVY whose out-of-fold routed top-1 is
// within 0.1 percentage point of the best over 0.00..1.00 (step 0.01).
// Classifier comparison (section 5.2): RF, KNN, AdaBoost and an RBF SVM, same folds.
// Deterministic: fixed fold shuffles and subsamples; the thread's cv::theRNG(), which RTrees
// draws from, is reseeded before each model; folds run in parallel, each writing its own rows.
#include "candidate_features.hpp"
#include "features.hpp"
#include "rf_model.hpp"

#include <opencv2/core.hpp>
#include <opencv2/ml.hpp>
#include <tierd/idx.hpp>
#include <toml++/toml.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <mutex>
#include <numeric>
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
    int ablation_folds = 5;
    int svm_rows = 10000;
    int selection_rows = 30000;
    bool selection = true;
    bool compare = true;
};

// Classifier-comparison settings (not options: the report states them).
constexpr int kKnnMaxK = 15;
constexpr int kBoostWeak = 100;
constexpr int kBoostDepth = 2;
constexpr double kSvmC = 1.0;
constexpr double kPearsonLimit = 0.75;
constexpr int kChiBins = 10;
constexpr std::size_t kTopRanked = 10;
constexpr std::size_t kSurvivors = 7;
constexpr double kTop1Slack = 0.001; // 0.1 percentage point
constexpr int kTimingImages = 2000;

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

// Every image of an IDX file (the SDK's reader: gzipped or raw, errors name the file).
std::vector<cv::Mat> read_idx_images(const std::string &path) {
    tierd::idx::ImageReader reader(path);
    std::vector<cv::Mat> images;
    images.reserve(reader.count());
    while (!reader.at_end()) {
        cv::Mat m(reader.rows(), reader.cols(), CV_8UC1);
        reader.next(m.data);
        images.push_back(m);
    }
    reader.expect_end();
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
        // An int8 entry (tools/compress) is another entry's file quantized at load: the same
        // FLOPs and nearly the same answers, and no outcomes of its own.
        if (t["precision"].value_or(std::string("fp32")) == "int8")
            continue;
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
    double macro_f1 = 0; // mean of the F1 of HEAVY and the F1 of LIGHT
};

double f1_of(std::size_t tp, std::size_t fp, std::size_t fn) {
    return tp ? 2.0 * static_cast<double>(tp) / static_cast<double>(2 * tp + fp + fn) : 0.0;
}

// HEAVY when score > threshold.
Prf prf(const std::vector<int> &y, const std::vector<double> &score, double threshold) {
    std::size_t tp = 0, fp = 0, fn = 0, tn = 0;
    for (std::size_t i = 0; i < y.size(); ++i) {
        const bool p = score[i] > threshold;
        tp += p && y[i] == 1;
        fp += p && y[i] == 0;
        fn += !p && y[i] == 1;
        tn += !p && y[i] == 0;
    }
    Prf r;
    r.precision = tp + fp ? static_cast<double>(tp) / static_cast<double>(tp + fp) : 0.0;
    r.recall = tp + fn ? static_cast<double>(tp) / static_cast<double>(tp + fn) : 0.0;
    r.f1 = f1_of(tp, fp, fn);
    r.macro_f1 = (r.f1 + f1_of(tn, fn, fp)) / 2.0;
    r.heavy_share = static_cast<double>(tp + fp) / static_cast<double>(y.size());
    return r;
}

// Vote-fraction thresholds of a forest: the fraction moves in steps of 1/trees.
std::vector<double> vote_thresholds(int trees) {
    std::vector<double> t;
    for (int k = 0; k < trees; ++k)
        t.push_back((k + 0.5) / trees);
    return t;
}

// The F1-best threshold of a forest's vote fractions (the lowest on ties).
double f1_best_vote_threshold(const Options &o, const std::vector<int> &y,
                              const std::vector<double> &score) {
    double best_t = 0.5, best_f1 = prf(y, score, 0.5).f1;
    for (double t : vote_thresholds(o.trees)) {
        const double f = prf(y, score, t).f1;
        if (f > best_f1) {
            best_f1 = f;
            best_t = t;
        }
    }
    return best_t;
}

// The F1-best threshold of any score: cut between consecutive distinct scores (midpoint),
// or below them all; the highest cut on ties.
double f1_best_threshold(const std::vector<int> &y, const std::vector<double> &score) {
    std::vector<std::size_t> idx(y.size());
    std::iota(idx.begin(), idx.end(), std::size_t{0});
    std::sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) {
        return score[a] != score[b] ? score[a] > score[b] : a < b;
    });
    const auto positives = static_cast<std::size_t>(std::count(y.begin(), y.end(), 1));
    std::size_t tp = 0, fp = 0;
    double best_f1 = -1, best_t = score.empty() ? 0.5 : score[idx[0]] + 1.0;
    for (std::size_t k = 0; k < idx.size(); ++k) {
        (y[idx[k]] == 1 ? tp : fp) += 1;
        if (k + 1 < idx.size() && score[idx[k + 1]] == score[idx[k]])
            continue;
        const double f = f1_of(tp, fp, positives - tp);
        if (f > best_f1) {
            best_f1 = f;
            best_t = k + 1 < idx.size() ? (score[idx[k]] + score[idx[k + 1]]) / 2.0
                                        : score[idx[k]] - 1.0;
        }
    }
    return best_t;
}

// Routed top-1: the light model's answer where the image stays LIGHT, the heavy one's where
// it is sent HEAVY.
struct Routing {
    double threshold = 0, top1 = 0, sent = 0;
};

template <class Sent>
Routing route(const std::vector<Outcome> &light, const std::vector<Outcome> &heavy, double t,
              Sent sent) {
    std::size_t ok = 0, n_sent = 0;
    for (std::size_t i = 0; i < light.size(); ++i) {
        const bool h = sent(i, t);
        n_sent += h;
        ok += h ? heavy[i].correct : light[i].correct;
    }
    const auto n = static_cast<double>(light.size());
    return {t, static_cast<double>(ok) / n, static_cast<double>(n_sent) / n};
}

// The top-1 rule: over t = 0.00..1.00 (step 0.01), the fewest images sent among the
// thresholds whose routed top-1 is within kTop1Slack of the best (the lowest t on ties).
template <class Sent>
Routing top1_threshold(const std::vector<Outcome> &light, const std::vector<Outcome> &heavy,
                       Sent sent) {
    std::vector<Routing> sweep;
    for (int k = 0; k <= 100; ++k)
        sweep.push_back(route(light, heavy, k / 100.0, sent));
    double best = 0;
    for (const auto &r : sweep)
        best = std::max(best, r.top1);
    Routing pick = sweep.front();
    bool found = false;
    for (const auto &r : sweep)
        if (r.top1 >= best - kTop1Slack - 1e-12 && (!found || r.sent < pick.sent)) {
            pick = r;
            found = true;
        }
    return pick;
}

auto score_above(const std::vector<double> &score) {
    return [&score](std::size_t i, double t) { return score[i] > t; };
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

cv::Mat candidate_features(const std::vector<cv::Mat> &images) {
    using tierd::preclass::kCandidateCount;
    cv::Mat x(static_cast<int>(images.size()), static_cast<int>(kCandidateCount), CV_32F);
    cv::parallel_for_(cv::Range(0, static_cast<int>(images.size())), [&](const cv::Range &r) {
        for (int i = r.start; i < r.end; ++i) {
            const auto f = tierd::preclass::compute_candidates(images[static_cast<std::size_t>(i)]);
            std::copy(f.begin(), f.end(), x.ptr<float>(i));
        }
    });
    return x;
}

cv::Mat columns(const cv::Mat &x, const std::vector<std::size_t> &cols) {
    cv::Mat out(x.rows, static_cast<int>(cols.size()), CV_32F);
    for (std::size_t j = 0; j < cols.size(); ++j)
        x.col(static_cast<int>(cols[j])).copyTo(out.col(static_cast<int>(j)));
    return out;
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

cv::Mat rows_of(const cv::Mat &x, const std::vector<int> &rows) {
    cv::Mat out(static_cast<int>(rows.size()), x.cols, x.type());
    for (std::size_t i = 0; i < rows.size(); ++i)
        x.row(rows[i]).copyTo(out.row(static_cast<int>(i)));
    return out;
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

// Min-max scaling fitted on `fit_on`, as RfModel stores it.
RfModel scaling(const cv::Mat &fit_on) {
    RfModel s;
    min_max(fit_on, s.feature_min, s.feature_max);
    return s;
}

cv::Mat responses_of(const std::vector<int> &y) {
    cv::Mat r(static_cast<int>(y.size()), 1, CV_32S);
    for (std::size_t i = 0; i < y.size(); ++i)
        r.at<int>(static_cast<int>(i)) = y[i];
    return r;
}

double heavy_weight(const std::vector<int> &y) {
    const auto heavy = static_cast<double>(std::count(y.begin(), y.end(), 1));
    return heavy > 0 ? (static_cast<double>(y.size()) - heavy) / heavy : 1.0;
}

// ---- Folds and cross-validation ----------------------------------------------------------

// K folds over n rows from a fixed permutation (own Fisher-Yates on a fixed-seed LCG:
// portable); row order inside a fold follows the permutation.
struct Folds {
    std::vector<std::vector<int>> train, test;
};

std::vector<int> permutation(int n, uint64_t seed) {
    std::vector<int> order(static_cast<std::size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    uint64_t state = seed;
    for (int i = n - 1; i > 0; --i) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        const int j = static_cast<int>((state >> 33) % static_cast<uint64_t>(i + 1));
        std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(j)]);
    }
    return order;
}

Folds make_folds(int n, int k) {
    const auto order = permutation(n, 0x9e3779b97f4a7c15ull);
    Folds f;
    f.train.resize(static_cast<std::size_t>(k));
    f.test.resize(static_cast<std::size_t>(k));
    for (int i = 0; i < n; ++i)
        (f.test[static_cast<std::size_t>(i % k)]).push_back(order[static_cast<std::size_t>(i)]);
    for (int fold = 0; fold < k; ++fold)
        for (int i = 0; i < n; ++i)
            if (i % k != fold)
                f.train[static_cast<std::size_t>(fold)].push_back(
                    order[static_cast<std::size_t>(i)]);
    return f;
}

// A scorer trains on (xtr, ytr) and scores xte: one or more score vectors (variants, e.g.
// KNN's k), higher = more HEAVY.
using Scorer = std::function<std::vector<std::vector<double>>(
    const cv::Mat &xtr, const std::vector<int> &ytr, const cv::Mat &xte)>;

// Out-of-fold scores of every row, one vector per variant. Folds run in parallel (each
// writes only its own rows; OpenCV runs nested parallel loops serially).
std::vector<std::vector<double>> cross_validate(const cv::Mat &x, const std::vector<int> &y,
                                                const Folds &folds, const Scorer &scorer) {
    std::vector<std::vector<double>> oof;
    std::mutex lock;
    std::string error;
    const int k = static_cast<int>(folds.test.size());
    cv::parallel_for_(
        cv::Range(0, k),
        [&](const cv::Range &range) {
            for (int fold = range.start; fold < range.end; ++fold) {
                try {
                    const auto &tr = folds.train[static_cast<std::size_t>(fold)];
                    const auto &te = folds.test[static_cast<std::size_t>(fold)];
                    std::vector<int> ytr;
                    for (int i : tr)
                        ytr.push_back(y[static_cast<std::size_t>(i)]);
                    const auto s = scorer(rows_of(x, tr), ytr, rows_of(x, te));
                    const std::lock_guard<std::mutex> g(lock);
                    if (oof.empty())
                        oof.assign(s.size(), std::vector<double>(y.size(), 0.0));
                    for (std::size_t v = 0; v < s.size(); ++v)
                        for (std::size_t i = 0; i < te.size(); ++i)
                            oof[v][static_cast<std::size_t>(te[i])] = s[v][i];
                } catch (const std::exception &e) {
                    const std::lock_guard<std::mutex> g(lock);
                    error = e.what();
                }
            }
        },
        k);
    if (!error.empty())
        throw std::runtime_error("cross-validation: " + error);
    return oof;
}

// ---- Classifiers ----------------------------------------------------------------------------

// OpenCV's RTrees draws its bootstrap samples and split variables from cv::theRNG(), the
// calling thread's RNG: reseeding it before each training makes every model independent of
// which thread trained it and of what ran there before (folds train in parallel).
void reseed_thread_rng() {
    cv::theRNG() = cv::RNG(0xffffffffu);
}

cv::Ptr<cv::ml::RTrees> train_forest(const Options &o, const cv::Mat &x,
                                     const std::vector<int> &y) {
    reseed_thread_rng();
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
    if (o.balance) // class weights so that both classes weigh the same
        rt->setPriors(cv::Mat_<float>({1, 2}, {1.0f, static_cast<float>(heavy_weight(y))}));
    rt->train(cv::ml::TrainData::create(x, cv::ml::ROW_SAMPLE, responses_of(y)));
    return rt;
}

RfModel fit(const Options &o, const std::vector<std::string> &names, const cv::Mat &x,
            const std::vector<int> &y) {
    RfModel m = scaling(x);
    m.feature_names = names;
    m.forest = train_forest(o, normalised(m, x), y);
    return m;
}

std::vector<double> scores(const RfModel &m, const cv::Mat &x) {
    return m.heavy_fractions_normalised(normalised(m, x));
}

Scorer rf_scorer(const Options &o, const std::vector<std::string> &names) {
    return [&o, names](const cv::Mat &xtr, const std::vector<int> &ytr, const cv::Mat &xte) {
        return std::vector<std::vector<double>>{scores(fit(o, names, xtr, ytr), xte)};
    };
}

// KNN (brute force, Euclidean on min-max-normalised features): for k = 1, 3, ..., kKnnMaxK
// the share of HEAVY among the k nearest training rows.
Scorer knn_scorer() {
    return [](const cv::Mat &xtr, const std::vector<int> &ytr, const cv::Mat &xte) {
        const RfModel s = scaling(xtr);
        auto knn = cv::ml::KNearest::create();
        knn->setAlgorithmType(cv::ml::KNearest::BRUTE_FORCE);
        knn->setIsClassifier(true);
        knn->setDefaultK(kKnnMaxK);
        knn->train(
            cv::ml::TrainData::create(normalised(s, xtr), cv::ml::ROW_SAMPLE, responses_of(ytr)));
        cv::Mat result, neighbours, dist;
        knn->findNearest(normalised(s, xte), kKnnMaxK, result, neighbours, dist);
        std::vector<std::vector<double>> out;
        for (int k = 1; k <= kKnnMaxK; k += 2) {
            std::vector<double> v(static_cast<std::size_t>(xte.rows));
            for (int i = 0; i < xte.rows; ++i) {
                double heavy = 0;
                for (int j = 0; j < k; ++j) // sorted by distance, nearest first
                    heavy += neighbours.at<float>(i, j) > 0.5f;
                v[static_cast<std::size_t>(i)] = heavy / k;
            }
            out.push_back(std::move(v));
        }
        return out;
    };
}

// +1 when a larger RAW_OUTPUT means class 1 (HEAVY), -1 when it means class 0, judged by
// the model's own class predictions on `probe` (OpenCV's sign conventions differ by model).
double heavy_sign(const cv::ml::StatModel &m, const cv::Mat &probe) {
    cv::Mat cls, raw;
    m.predict(probe, cls);
    m.predict(probe, raw, cv::ml::StatModel::RAW_OUTPUT);
    int agree = 0, disagree = 0;
    for (int i = 0; i < probe.rows; ++i) {
        const bool heavy = cls.at<float>(i) > 0.5f;
        const float r = raw.at<float>(i);
        if (r == 0.0f)
            continue;
        ((r > 0) == heavy ? agree : disagree) += 1;
    }
    return agree >= disagree ? 1.0 : -1.0;
}

std::vector<double> raw_scores(const cv::ml::StatModel &m, const cv::Mat &x, double sign) {
    cv::Mat raw;
    m.predict(x, raw, cv::ml::StatModel::RAW_OUTPUT);
    std::vector<double> v(static_cast<std::size_t>(x.rows));
    for (int i = 0; i < x.rows; ++i)
        v[static_cast<std::size_t>(i)] = sign * raw.at<float>(i);
    return v;
}

// Discrete AdaBoost of depth-kBoostDepth trees, balanced priors; score = the weighted vote.
Scorer boost_scorer() {
    return [](const cv::Mat &xtr, const std::vector<int> &ytr, const cv::Mat &xte) {
        const RfModel s = scaling(xtr);
        const cv::Mat ntr = normalised(s, xtr);
        reseed_thread_rng();
        auto b = cv::ml::Boost::create();
        b->setBoostType(cv::ml::Boost::DISCRETE);
        b->setWeakCount(kBoostWeak);
        b->setMaxDepth(kBoostDepth);
        b->setWeightTrimRate(0);
        b->setUseSurrogates(false);
        b->setCVFolds(0);
        b->setPriors(cv::Mat_<float>({1, 2}, {1.0f, static_cast<float>(heavy_weight(ytr))}));
        b->train(cv::ml::TrainData::create(ntr, cv::ml::ROW_SAMPLE, responses_of(ytr)));
        const double sign = heavy_sign(*b, ntr.rowRange(0, std::min(ntr.rows, 2000)));
        return std::vector<std::vector<double>>{raw_scores(*b, normalised(s, xte), sign)};
    };
}

// RBF C-SVM (C = kSvmC, gamma = 1 / (#features * variance of the scaled inputs), as
// scikit-learn's "scale"), balanced class weights, trained on `rows` rows of the training
// fold (a fixed-seed subsample: the solver is quadratic in the rows); score = the decision
// value.
Scorer svm_scorer(int rows) {
    return [rows](const cv::Mat &xtr, const std::vector<int> &ytr, const cv::Mat &xte) {
        auto pick = permutation(xtr.rows, 0x5eed5eed12345ull);
        pick.resize(static_cast<std::size_t>(std::min(rows, xtr.rows)));
        std::sort(pick.begin(), pick.end());
        const cv::Mat sub = rows_of(xtr, pick);
        std::vector<int> ysub;
        for (int i : pick)
            ysub.push_back(ytr[static_cast<std::size_t>(i)]);
        const RfModel s = scaling(sub);
        const cv::Mat nsub = normalised(s, sub);
        cv::Scalar mean, stddev;
        cv::meanStdDev(nsub.reshape(1, 1), mean, stddev);
        const double var = stddev[0] * stddev[0];
        reseed_thread_rng();
        auto svm = cv::ml::SVM::create();
        svm->setType(cv::ml::SVM::C_SVC);
        svm->setKernel(cv::ml::SVM::RBF);
        svm->setC(kSvmC);
        svm->setGamma(var > 0 ? 1.0 / (nsub.cols * var) : 1.0);
        svm->setClassWeights(cv::Mat_<double>({2, 1}, {1.0, heavy_weight(ysub)}));
        svm->setTermCriteria(
            cv::TermCriteria(cv::TermCriteria::MAX_ITER + cv::TermCriteria::EPS, 100000, 1e-3));
        svm->train(cv::ml::TrainData::create(nsub, cv::ml::ROW_SAMPLE, responses_of(ysub)));
        const double sign = heavy_sign(*svm, nsub);
        return std::vector<std::vector<double>>{raw_scores(*svm, normalised(s, xte), sign)};
    };
}

// ---- One feature set: CV, thresholds, final forest, test split ------------------------------

struct Result {
    std::string name;
    std::vector<std::string> features;
    std::vector<double> oof; // out-of-fold vote fractions on the train split
    Prf cv_at_half, cv_at_f1;
    double f1_threshold = 0.5;
    Routing cv_route_f1, cv_route_top1; // out-of-fold routing at the two thresholds
    std::vector<double> test_score;
    Prf test_prf_f1, test_prf_top1;
    Routing test_route_f1, test_route_top1;
    std::vector<float> importance;
    RfModel model;
};

Result evaluate(const Options &o, const FeatureSet &fset, const Folds &folds,
                const std::vector<int> &y_train, const std::vector<int> &y_test,
                const ZooModel &light, const ZooModel &heavy) {
    Result r;
    r.name = fset.name;
    r.features = fset.names;
    r.oof = cross_validate(fset.train, y_train, folds, rf_scorer(o, fset.names))[0];
    r.cv_at_half = prf(y_train, r.oof, 0.5);
    r.f1_threshold = f1_best_vote_threshold(o, y_train, r.oof);
    r.cv_at_f1 = prf(y_train, r.oof, r.f1_threshold);
    r.cv_route_f1 = route(light.train, heavy.train, r.f1_threshold, score_above(r.oof));
    r.cv_route_top1 = top1_threshold(light.train, heavy.train, score_above(r.oof));

    r.model = fit(o, fset.names, fset.train, y_train);
    // Stored: the classifier's own operating point (best out-of-fold F1 of HEAVY). The
    // top-1 rule's threshold is reported beside it: for a router weaker than the heavy
    // model alone it sends most images, which defeats the point of routing.
    r.model.threshold = r.f1_threshold;
    r.model.light_model = light.name;
    r.model.heavy_model = heavy.name;
    const cv::Mat imp = r.model.forest->getVarImportance();
    for (int j = 0; j < static_cast<int>(imp.total()); ++j)
        r.importance.push_back(imp.at<float>(j));
    r.test_score = scores(r.model, fset.test);
    r.test_prf_f1 = prf(y_test, r.test_score, r.f1_threshold);
    r.test_prf_top1 = prf(y_test, r.test_score, r.cv_route_top1.threshold);
    r.test_route_f1 = route(light.test, heavy.test, r.f1_threshold, score_above(r.test_score));
    r.test_route_top1 =
        route(light.test, heavy.test, r.cv_route_top1.threshold, score_above(r.test_score));
    return r;
}

// ---- Feature selection (section 4.4) ------------------------------------------------------

struct Selection {
    cv::Mat r; // Pearson, 29 x 29
    tierd::preclass::CorrelationFilter filter;
    std::vector<std::size_t> rfe_rank;  // candidate indices, best first
    std::vector<double> rfe_importance; // per candidate: importance when it was eliminated
    std::vector<double> chi;            // per candidate
    std::vector<std::size_t> chi_rank;  // candidate indices, best first
    std::vector<std::size_t> top;       // the kTopRanked best by RFE rank + chi-square rank
    double f1_top = 0;
    std::vector<double> f1_without; // per member of `top`
    std::vector<double> f1_first_k; // k = 1 .. top.size()
    std::vector<std::size_t> survivors;
    double f1_survivors = 0, f1_paper = 0;
    double seconds = 0;
};

std::vector<std::string> candidate_names(const std::vector<std::size_t> &idx) {
    std::vector<std::string> n;
    for (auto i : idx)
        n.emplace_back(tierd::preclass::kCandidateNames[i]);
    return n;
}

// Best out-of-fold F1 of HEAVY of a forest over the candidates `idx`.
double cv_f1(const Options &o, const cv::Mat &cand, const std::vector<int> &y, const Folds &folds,
             const std::vector<std::size_t> &idx) {
    const auto oof =
        cross_validate(columns(cand, idx), y, folds, rf_scorer(o, candidate_names(idx)))[0];
    return prf(y, oof, f1_best_vote_threshold(o, y, oof)).f1;
}

// Pearson and chi-square use the whole train split; RFE and the ablation, which train many
// forests, a fixed-seed subsample of o.selection_rows rows.
Selection select_features(const Options &o, const cv::Mat &all, const std::vector<int> &y_all,
                          const std::vector<std::size_t> &paper) {
    using namespace tierd::preclass;
    const auto t0 = std::chrono::steady_clock::now();
    Selection s;
    s.r = pearson_matrix(all);
    cv::Mat cand = all;
    std::vector<int> y = y_all;
    if (o.selection_rows > 0 && o.selection_rows < all.rows) {
        auto pick = permutation(all.rows, 0x5e1ec7ed0full);
        pick.resize(static_cast<std::size_t>(o.selection_rows));
        std::sort(pick.begin(), pick.end());
        cand = rows_of(all, pick);
        y.clear();
        for (int i : pick)
            y.push_back(y_all[static_cast<std::size_t>(i)]);
    }
    std::vector<bool> prefer(kCandidateCount, false);
    for (auto i : paper)
        prefer[i] = true;
    s.filter = correlation_filter(s.r, kPearsonLimit, prefer);

    std::cerr << "selection: RFE over " << s.filter.kept.size() << " features\n";
    s.rfe_importance.assign(kCandidateCount, 0.0);
    std::vector<std::size_t> alive = s.filter.kept, removed;
    while (alive.size() > 1) {
        const RfModel m = fit(o, candidate_names(alive), columns(cand, alive), y);
        const cv::Mat imp = m.forest->getVarImportance();
        std::size_t worst = 0;
        for (std::size_t j = 1; j < alive.size(); ++j)
            if (imp.at<float>(static_cast<int>(j)) <= imp.at<float>(static_cast<int>(worst)))
                worst = j;
        s.rfe_importance[alive[worst]] = imp.at<float>(static_cast<int>(worst));
        removed.push_back(alive[worst]);
        alive.erase(alive.begin() + static_cast<std::ptrdiff_t>(worst));
    }
    removed.push_back(alive.front());
    s.rfe_importance[alive.front()] = 1.0;
    s.rfe_rank.assign(removed.rbegin(), removed.rend());

    const auto chi = chi_square(columns(all, s.filter.kept), y_all, kChiBins);
    s.chi.assign(kCandidateCount, 0.0);
    for (std::size_t j = 0; j < chi.size(); ++j)
        s.chi[s.filter.kept[j]] = chi[j];
    s.chi_rank = s.filter.kept;
    std::stable_sort(s.chi_rank.begin(), s.chi_rank.end(),
                     [&](std::size_t a, std::size_t b) { return s.chi[a] > s.chi[b]; });

    auto pos = [](const std::vector<std::size_t> &v, std::size_t c) {
        return static_cast<std::size_t>(std::find(v.begin(), v.end(), c) - v.begin());
    };
    std::vector<std::size_t> combined = s.rfe_rank;
    std::stable_sort(combined.begin(), combined.end(), [&](std::size_t a, std::size_t b) {
        return pos(s.rfe_rank, a) + pos(s.chi_rank, a) < pos(s.rfe_rank, b) + pos(s.chi_rank, b);
    });
    s.top.assign(combined.begin(), combined.begin() + static_cast<std::ptrdiff_t>(
                                                          std::min(kTopRanked, combined.size())));

    const Folds folds = make_folds(cand.rows, o.ablation_folds);
    std::cerr << "selection: ablation (" << o.ablation_folds << "-fold CVs)\n";
    s.f1_top = cv_f1(o, cand, y, folds, s.top);
    for (std::size_t j = 0; j < s.top.size(); ++j) {
        auto without = s.top;
        without.erase(without.begin() + static_cast<std::ptrdiff_t>(j));
        s.f1_without.push_back(cv_f1(o, cand, y, folds, without));
    }
    for (std::size_t k = 1; k < s.top.size(); ++k)
        s.f1_first_k.push_back(cv_f1(
            o, cand, y, folds, {s.top.begin(), s.top.begin() + static_cast<std::ptrdiff_t>(k)}));
    s.f1_first_k.push_back(s.f1_top);

    // Survivors: the kSurvivors whose removal costs the most F1 (ties: the better ranked).
    std::vector<std::size_t> order(s.top.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        return s.f1_top - s.f1_without[a] > s.f1_top - s.f1_without[b];
    });
    order.resize(std::min(kSurvivors, order.size()));
    std::sort(order.begin(), order.end());
    for (auto j : order)
        s.survivors.push_back(s.top[j]);
    s.f1_survivors = cv_f1(o, cand, y, folds, s.survivors);
    s.f1_paper = cv_f1(o, cand, y, folds, paper);
    s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return s;
}

// ---- Classifier comparison (section 5.2) ---------------------------------------------------

struct ClassifierRow {
    std::string features, name, params;
    double threshold = 0;
    Prf cv;         // at the F1-best out-of-fold threshold
    Prf at_default; // at the classifier's own decision rule
    double seconds = 0;
};

ClassifierRow classifier_row(const std::string &features, const std::string &name,
                             const std::string &params, const std::vector<int> &y,
                             const std::vector<double> &oof, double default_threshold,
                             double seconds) {
    ClassifierRow c;
    c.features = features;
    c.name = name;
    c.params = params;
    c.threshold = f1_best_threshold(y, oof);
    c.cv = prf(y, oof, c.threshold);
    c.at_default = prf(y, oof, default_threshold);
    c.seconds = seconds;
    return c;
}

struct Comparison {
    std::vector<ClassifierRow> rows;
    std::map<std::string, std::vector<double>> knn_f1; // feature set -> F1 for k = 1, 3, ...
};

void compare_classifiers(const Options &o, const FeatureSet &fset, const Result &rf,
                         const Folds &folds, const std::vector<int> &y, Comparison &out) {
    auto since = [](std::chrono::steady_clock::time_point t) {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
    };
    std::ostringstream rf_params;
    rf_params << o.trees << " trees, max depth " << o.depth << ", min " << o.min_sample
              << " samples/split, sqrt(#features) vars/split"
              << (o.balance ? ", balanced priors" : "");
    out.rows.push_back(classifier_row(fset.name, "rf", rf_params.str(), y, rf.oof, 0.5, 0.0));

    std::cerr << "compare " << fset.name << ": knn\n";
    auto t = std::chrono::steady_clock::now();
    const auto knn = cross_validate(fset.train, y, folds, knn_scorer());
    const double knn_s = since(t);
    std::size_t best = 0;
    auto &f1s = out.knn_f1[fset.name];
    for (std::size_t v = 0; v < knn.size(); ++v) {
        f1s.push_back(prf(y, knn[v], f1_best_threshold(y, knn[v])).f1);
        if (f1s[v] > f1s[best])
            best = v;
    }
    const int k = static_cast<int>(2 * best + 1);
    out.rows.push_back(classifier_row(fset.name, "knn",
                                      "k=" + std::to_string(k) + " (best F1 of odd k 1.." +
                                          std::to_string(kKnnMaxK) +
                                          "), brute force, Euclidean on min-max-scaled features",
                                      y, knn[best], 0.5, knn_s));

    std::cerr << "compare " << fset.name << ": adaboost\n";
    t = std::chrono::steady_clock::now();
    const auto boost = cross_validate(fset.train, y, folds, boost_scorer())[0];
    out.rows.push_back(classifier_row(fset.name, "adaboost",
                                      "discrete AdaBoost, " + std::to_string(kBoostWeak) +
                                          " trees of depth " + std::to_string(kBoostDepth) +
                                          ", balanced priors",
                                      y, boost, 0.0, since(t)));

    std::cerr << "compare " << fset.name << ": svm\n";
    t = std::chrono::steady_clock::now();
    const auto svm = cross_validate(fset.train, y, folds, svm_scorer(o.svm_rows))[0];
    std::ostringstream svm_params;
    svm_params << "RBF C-SVM, C=" << kSvmC
               << ", gamma=1/(#features*var) (scikit-learn 'scale'), balanced class weights, "
               << "trained on " << o.svm_rows << " rows of each training fold (fixed seed); "
               << "binary label: one-vs-rest = one SVM";
    out.rows.push_back(
        classifier_row(fset.name, "ovr-svm", svm_params.str(), y, svm, 0.0, since(t)));
}

// ---- Output helpers ---------------------------------------------------------------------------

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
std::string jnum(double v) {
    std::ostringstream s;
    s << std::setprecision(6) << v;
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
std::string joined(const std::vector<std::string> &v, const std::string &sep = ", ") {
    std::string s;
    for (std::size_t i = 0; i < v.size(); ++i)
        s += (i ? sep : "") + v[i];
    return s;
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
        else if (a == "--ablation-folds")
            o.ablation_folds = std::stoi(value());
        else if (a == "--svm-rows")
            o.svm_rows = std::stoi(value());
        else if (a == "--selection-rows")
            o.selection_rows = std::stoi(value());
        else if (a == "--no-selection")
            o.selection = false;
        else if (a == "--no-compare")
            o.compare = false;
        else if (a == "-h" || a == "--help") {
            std::cout
                << "usage: preclass_train [--models DIR] [--data DIR] [--out DIR] "
                   "[--trees N] [--depth N] [--folds K] [--min-sample N] [--no-balance] "
                   "[--ablation-folds K] [--svm-rows N] [--selection-rows N] [--no-selection] "
                   "[--no-compare]\n";
            std::exit(0);
        } else
            throw std::runtime_error("unknown option " + a);
    }
    if (o.trees < 1 || o.depth < 1 || o.folds < 2 || o.min_sample < 1 || o.ablation_folds < 2 ||
        o.svm_rows < 10 || o.selection_rows < 0)
        throw std::runtime_error("--trees, --depth, --min-sample must be >= 1, --folds and "
                                 "--ablation-folds >= 2, --svm-rows >= 10, --selection-rows >= 0");
    return o;
}

// ---- The run -------------------------------------------------------------------------------

// Per-image cost on one thread (µs).
struct StageTimes {
    double features = 0, candidates = 0, forest = 0, forest_paper_conf = 0;
};

StageTimes time_stages(const std::vector<cv::Mat> &images, const Result &paper,
                       const FeatureSet &paper_set, const Result &both,
                       const FeatureSet &both_set) {
    const int previous = cv::getNumThreads();
    cv::setNumThreads(1);
    const int n = std::min(kTimingImages, static_cast<int>(images.size()));
    auto per_image = [n](auto &&body) {
        const auto t0 = std::chrono::steady_clock::now();
        double sink = 0;
        for (int i = 0; i < n; ++i)
            sink += body(i);
        const double us =
            std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0)
                .count();
        return sink >= 0 ? us / n : us / n; // keep `sink` alive
    };
    StageTimes t;
    t.features = per_image([&](int i) {
        return tierd::preclass::compute_features(images[static_cast<std::size_t>(i)])[0];
    });
    t.candidates = per_image([&](int i) {
        return tierd::preclass::compute_candidates(images[static_cast<std::size_t>(i)])[0];
    });
    t.forest = per_image([&](int i) {
        return paper.model.heavy_fraction(paper_set.test.ptr<float>(i),
                                          static_cast<std::size_t>(paper_set.test.cols));
    });
    t.forest_paper_conf = per_image([&](int i) {
        return both.model.heavy_fraction(both_set.test.ptr<float>(i),
                                         static_cast<std::size_t>(both_set.test.cols));
    });
    cv::setNumThreads(previous);
    return t;
}

int run(const Options &o) {
    using tierd::preclass::kCandidateCount;
    using tierd::preclass::kCandidateNames;
    const auto t_start = std::chrono::steady_clock::now();
    auto zoo = read_zoo(o.models);

    // Algorithm 1: the light (device) model is the cheapest one; among equally cheap ones
    // (a zoo architecture and its distilled copy) the one right on more training images.
    auto train_correct = [](const ZooModel &m) {
        return std::count_if(m.train.begin(), m.train.end(),
                             [](const Outcome &x) { return x.correct; });
    };
    std::size_t li = 0;
    for (std::size_t i = 1; i < zoo.size(); ++i)
        if (zoo[i].flops < zoo[li].flops ||
            (zoo[i].flops == zoo[li].flops && train_correct(zoo[i]) > train_correct(zoo[li])))
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
    std::cerr << "computing the " << kCandidateCount << " candidate features\n";
    const cv::Mat cand_train = candidate_features(train_images);
    std::vector<std::size_t> paper_idx;
    FeatureSet paper{"paper", {}, {}, image_features(test_images)};
    for (const char *name : tierd::preclass::kFeatureNames) {
        paper.names.emplace_back(name);
        paper_idx.push_back(tierd::preclass::candidate_index(name));
    }
    paper.train = columns(cand_train, paper_idx); // compute_candidates reuses compute_features
    FeatureSet conf{"conf",
                    {"p_max", "margin", "entropy"},
                    conf_features(light.train),
                    conf_features(light.test)};
    FeatureSet both{"paper+conf", paper.names, {}, {}};
    both.names.insert(both.names.end(), conf.names.begin(), conf.names.end());
    cv::hconcat(paper.train, conf.train, both.train);
    cv::hconcat(paper.test, conf.test, both.test);

    Selection sel;
    if (o.selection)
        sel = select_features(o, cand_train, y_train, paper_idx);

    const Folds folds = make_folds(paper.train.rows, o.folds);
    std::vector<Result> results;
    for (const FeatureSet *f : {&paper, &conf, &both}) {
        std::cerr << "training " << f->name << " (" << o.folds << "-fold CV + final)\n";
        results.push_back(evaluate(o, *f, folds, y_train, y_test, light, heavy));
    }
    const Result &r_paper = results[0], &r_both = results[2];

    Comparison cmp;
    if (o.compare) {
        compare_classifiers(o, paper, r_paper, folds, y_train, cmp);
        compare_classifiers(o, both, r_both, folds, y_train, cmp);
    }

    // Cascade baseline: HEAVY when the light model's p_max < t (no forest).
    auto p_max_below = [](const std::vector<Outcome> &l) {
        return [&l](std::size_t i, double t) { return l[i].p_max < t; };
    };
    const Routing cascade_train =
        top1_threshold(light.train, heavy.train, p_max_below(light.train));
    const Routing cascade_test =
        route(light.test, heavy.test, cascade_train.threshold, p_max_below(light.test));

    // Save the three forests; each must predict after a reload what it did in memory.
    fs::create_directories(o.out);
    const std::vector<std::string> files = {"rf.yml.gz", "rf-conf.yml.gz", "rf-paper-conf.yml.gz"};
    const std::vector<const FeatureSet *> sets = {&paper, &conf, &both};
    for (std::size_t i = 0; i < results.size(); ++i) {
        const std::string path = o.out + "/" + files[i];
        results[i].model.save(path);
        const RfModel back = RfModel::load(path);
        if (scores(back, sets[i]->test) != results[i].test_score ||
            back.threshold != results[i].model.threshold)
            throw std::runtime_error(path + ": the reloaded model predicts differently");
    }
    const StageTimes stage = time_stages(test_images, r_paper, paper, r_both, both);

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

    const std::string threshold_rule =
        "threshold with the best out-of-fold F1 of HEAVY on the train split (over the "
        "forest's vote-fraction steps, the lowest on ties)";
    const std::string top1_rule =
        "fewest images sent to HEAVY among t = 0.00..1.00 (step 0.01) whose out-of-fold "
        "routed top-1 on the train split is within 0.1 percentage point of the best";
    {
        std::ofstream js(o.out + "/rf.json");
        const RfModel &m = r_paper.model;
        js << "{\n  \"schema\": 1,\n  \"model\": \"rf.yml.gz\",\n"
           << "  \"dataset\": \"fashion-mnist\",\n"
           << "  \"light_model\": \"" << light.name << "\",\n"
           << "  \"heavy_model\": \"" << heavy.name << "\",\n"
           << "  \"label\": \"HEAVY(1) when the light model is wrong and the heavy right\",\n"
           << "  \"feature_names\": " << json_list(m.feature_names) << ",\n"
           << "  \"feature_min\": " << json_list(m.feature_min) << ",\n"
           << "  \"feature_max\": " << json_list(m.feature_max) << ",\n"
           << "  \"normalisation\": \"x = (raw - min) / (max - min)\",\n"
           << "  \"threshold\": " << jnum(m.threshold) << ",\n"
           << "  \"threshold_f1\": " << jnum(r_paper.f1_threshold) << ",\n"
           << "  \"threshold_top1\": " << jnum(r_paper.cv_route_top1.threshold) << ",\n"
           << "  \"threshold_top1_rule\": \"" << top1_rule << "\",\n"
           << "  \"threshold_rule\": \"" << threshold_rule << "\",\n"
           << "  \"trees\": " << o.trees << ",\n  \"max_depth\": " << o.depth << ",\n"
           << "  \"min_sample_count\": " << o.min_sample << ",\n"
           << "  \"balanced_priors\": " << (o.balance ? "true" : "false") << ",\n"
           << "  \"conf_model\": \"rf-conf.yml.gz\",\n"
           << "  \"conf_feature_names\": " << json_list(results[1].model.feature_names) << ",\n"
           << "  \"conf_threshold\": " << jnum(results[1].model.threshold) << ",\n"
           << "  \"conf_threshold_f1\": " << jnum(results[1].f1_threshold) << ",\n"
           << "  \"paper_conf_model\": \"rf-paper-conf.yml.gz\",\n"
           << "  \"paper_conf_feature_names\": " << json_list(r_both.model.feature_names)
           << ",\n  \"paper_conf_threshold\": " << jnum(r_both.model.threshold) << ",\n"
           << "  \"paper_conf_threshold_f1\": " << jnum(r_both.f1_threshold) << ",\n"
           << "  \"conf_inputs\": \"p_max = max softmax of the light model, margin = p_max - "
              "second-largest softmax, entropy = -sum p ln p (natural log), softmax of the "
              "logits as tools/zoo/zoo_eval.cpp computes them\",\n"
           << "  \"models\": [\n";
        for (std::size_t i = 0; i < results.size(); ++i) {
            const Result &r = results[i];
            js << "    {\"file\": \"" << files[i] << "\", \"features\": \"" << r.name
               << "\", \"feature_names\": " << json_list(r.model.feature_names)
               << ", \"threshold\": " << jnum(r.model.threshold)
               << ", \"threshold_f1\": " << jnum(r.f1_threshold)
               << ", \"threshold_top1\": " << jnum(r.cv_route_top1.threshold)
               << ", \"cv_f1\": " << jnum(r.cv_at_f1.f1)
               << ", \"cv_top1_at_threshold_top1\": " << jnum(r.cv_route_top1.top1)
               << ", \"cv_sent_at_threshold_top1\": " << jnum(r.cv_route_top1.sent)
               << ", \"test_top1_at_threshold_top1\": " << jnum(r.test_route_top1.top1)
               << ", \"test_sent_at_threshold_top1\": " << jnum(r.test_route_top1.sent)
               << ", \"test_top1_at_threshold_f1\": " << jnum(r.test_route_f1.top1)
               << ", \"test_sent_at_threshold_f1\": " << jnum(r.test_route_f1.sent) << "}"
               << (i + 1 < results.size() ? "," : "") << "\n";
        }
        js << "  ],\n  \"cascade\": {\"rule\": \"HEAVY when the light model's p_max < t\", "
           << "\"threshold\": " << jnum(cascade_train.threshold)
           << ", \"train_top1\": " << jnum(cascade_train.top1)
           << ", \"train_sent\": " << jnum(cascade_train.sent)
           << ", \"test_top1\": " << jnum(cascade_test.top1)
           << ", \"test_sent\": " << jnum(cascade_test.sent) << "},\n"
           << "  \"test_reference\": {\"light_top1\": " << jnum(light_top1)
           << ", \"heavy_top1\": " << jnum(heavy_top1) << ", \"oracle_top1\": " << jnum(oracle_top1)
           << "},\n";
        js << "  \"cv_classifiers\": [";
        for (std::size_t i = 0; i < cmp.rows.size(); ++i) {
            const auto &c = cmp.rows[i];
            js << (i ? ",\n" : "\n") << "    {\"features\": \"" << c.features << "\", \"name\": \""
               << c.name << "\", \"params\": \"" << c.params
               << "\", \"precision\": " << jnum(c.cv.precision)
               << ", \"recall\": " << jnum(c.cv.recall) << ", \"f1\": " << jnum(c.cv.f1)
               << ", \"macro_f1\": " << jnum(c.cv.macro_f1)
               << ", \"threshold\": " << jnum(c.threshold)
               << ", \"heavy_share\": " << jnum(c.cv.heavy_share)
               << ", \"f1_default_rule\": " << jnum(c.at_default.f1) << "}";
        }
        js << (cmp.rows.empty() ? "],\n" : "\n  ],\n");
        js << "  \"cv_protocol\": \"" << o.folds
           << "-fold CV on the train split (fixed permutation); precision/recall/f1 of HEAVY "
              "and macro_f1 at the threshold on the classifier's score with the best "
              "out-of-fold F1 of HEAVY\",\n";
        js << "  \"selection\": {";
        if (o.selection) {
            std::vector<std::string> all(kCandidateNames, kCandidateNames + kCandidateCount);
            js << "\n    \"candidates\": " << json_list(all) << ",\n"
               << "    \"after_pearson\": " << json_list(candidate_names(sel.filter.kept))
               << ",\n    \"rfe_rank\": " << json_list(candidate_names(sel.rfe_rank))
               << ",\n    \"chi2_rank\": " << json_list(candidate_names(sel.chi_rank))
               << ",\n    \"top10\": " << json_list(candidate_names(sel.top))
               << ",\n    \"survivors\": " << json_list(candidate_names(sel.survivors))
               << ",\n    \"pearson_limit\": " << kPearsonLimit << ",\n    \"dropped\": [";
            for (std::size_t i = 0; i < sel.filter.dropped.size(); ++i) {
                const auto &d = sel.filter.dropped[i];
                js << (i ? ", " : "") << "{\"dropped\": \"" << kCandidateNames[d.dropped]
                   << "\", \"kept\": \"" << kCandidateNames[d.kept] << "\", \"r\": " << jnum(d.r)
                   << "}";
            }
            js << "],\n    \"ablation_folds\": " << o.ablation_folds
               << ",\n    \"cv_f1_top10\": " << jnum(sel.f1_top)
               << ",\n    \"cv_f1_survivors\": " << jnum(sel.f1_survivors)
               << ",\n    \"cv_f1_paper7\": " << jnum(sel.f1_paper) << "\n  ";
        }
        js << "},\n  \"stage_us\": {\"features\": " << num(stage.features, 1)
           << ", \"forest\": " << num(stage.forest, 1)
           << ", \"forest_paper_conf\": " << num(stage.forest_paper_conf, 1)
           << ", \"candidates\": " << num(stage.candidates, 1) << "}\n}\n";
    }

    std::ofstream md(o.out + "/report.md");
    md << "# Pre-classifier (preclassifier-rf): training report\n\n"
       << "Generated by `tools/preclass/build.sh` (`preclass_train --trees " << o.trees
       << " --depth " << o.depth << " --folds " << o.folds << " --min-sample " << o.min_sample
       << " --ablation-folds " << o.ablation_folds << " --svm-rows " << o.svm_rows
       << " --selection-rows " << o.selection_rows << (o.balance ? "" : " --no-balance")
       << "`); do not edit.\n\n"
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
       << ", test " << pct(static_cast<double>(y1) / nt) << ".\n\n";

    if (o.selection) {
        const std::string subsample =
            o.selection_rows > 0 && static_cast<std::size_t>(o.selection_rows) < y_train.size()
                ? "a fixed-seed subsample of " + std::to_string(o.selection_rows) +
                      " train images (the RFE and ablation forests would not fit the time "
                      "budget on all 60,000)"
                : std::string("the whole train split");
        md << "## Feature selection (the paper's section 4.4, on the train split)\n\n"
           << "**Candidates.** The paper's 29 (Table 2), computed by "
           << "`plugins/preclassifier-rf/candidate_features.cpp`; the 7 the plugin computes "
           << "come from `features.cpp` unchanged. Fashion-MNIST is 28x28 grayscale, so: "
           << "hue1..7 are replaced by **intensity1..7** (the 7 equal bins of the gray-level "
           << "histogram); edge_angle1..7 (SimpleCV's Hough-line angles, few or no lines on "
           << "28x28 images) are replaced by the histogram of **edge orientations at Canny edge "
           << "pixels** (Sobel gradient direction + 90°, folded to [0°, 180°), 7 bins); "
           << "edge_length1..7 are the 7 bins of the Canny-contour length histogram whose "
           << "first bin is the plugin's edge_length1; n_keypoints counts Shi-Tomasi corners "
           << "(no features2d here). On gray input **perceived_brightness_rms equals "
           << "brightness_rms and avg_brightness equals avg_perceived_brightness exactly** "
           << "(R = G = B and the perceived-brightness weights sum to 1), so two pairs "
           << "correlate with r = 1.\n\n"
           << "**Step 1: Pearson.** Drop one of each pair with |r| > " << kPearsonLimit
           << ": repeatedly take the pair with the largest |r| and drop the member with the "
           << "larger mean |r| to the remaining features (caret's findCorrelation); on an "
           << "exact tie keep the plugin's feature. " << sel.filter.kept.size() << " of "
           << kCandidateCount << " remain (the paper kept 16).\n\n"
           << "| dropped | correlated with (kept at that step) | r |\n|---|---|---|\n";
        for (const auto &d : sel.filter.dropped)
            md << "| " << kCandidateNames[d.dropped] << " | " << kCandidateNames[d.kept] << " | "
               << num(d.r, 3) << " |\n";
        md << "\nRemaining: " << joined(candidate_names(sel.filter.kept)) << ".\n\n"
           << "**Step 2: ranking.** RFE: train the forest (the settings below) on " << subsample
           << " over the remaining features, eliminate the one with the lowest "
           << "RTrees variable importance, repeat; rank 1 = eliminated last. Chi-square: each "
           << "feature min-max normalised on the whole train split, cut into " << kChiBins
           << " equal bins, chi-square of the bins x label table. The paper keeps the top 10 "
           << "of 'RFE and chi-square' without saying how the two combine; here: the 10 best "
           << "by the sum of the two ranks (ties: the better RFE rank).\n\n"
           << "| feature | RFE rank | importance when eliminated | chi-square rank | "
              "chi-square | top 10 | paper's 7 |\n|---|---|---|---|---|---|---|\n";
        for (std::size_t k = 0; k < sel.rfe_rank.size(); ++k) {
            const std::size_t c = sel.rfe_rank[k];
            const auto chi_pos =
                std::find(sel.chi_rank.begin(), sel.chi_rank.end(), c) - sel.chi_rank.begin();
            const bool in_top = std::find(sel.top.begin(), sel.top.end(), c) != sel.top.end();
            const bool in_paper =
                std::find(paper_idx.begin(), paper_idx.end(), c) != paper_idx.end();
            md << "| " << kCandidateNames[c] << " | " << k + 1 << " | "
               << (k == 0 ? std::string("(last)") : num(sel.rfe_importance[c], 4)) << " | "
               << chi_pos + 1 << " | " << num(sel.chi[c], 1) << " | " << (in_top ? "yes" : "")
               << " | " << (in_paper ? "yes" : "") << " |\n";
        }
        md << "\n**Step 3: ablation.** F1 of HEAVY of the forest, " << o.ablation_folds
           << "-fold CV on " << subsample << " (out-of-fold, at the F1-best vote threshold; the "
           << "paper plots accuracy, which the 92% LIGHT majority makes uninformative here). "
           << "All 10: F1 " << num(sel.f1_top) << ".\n\n"
           << "| feature (top-10 order) | F1 without it | F1 lost | F1 of the first k |\n"
           << "|---|---|---|---|\n";
        for (std::size_t j = 0; j < sel.top.size(); ++j)
            md << "| " << j + 1 << ". " << kCandidateNames[sel.top[j]] << " | "
               << num(sel.f1_without[j]) << " | " << num(sel.f1_top - sel.f1_without[j], 4)
               << " | k=" << j + 1 << ": " << num(sel.f1_first_k[j]) << " |\n";
        std::vector<std::string> kept_paper, lost_paper, new_ones;
        for (auto c : paper_idx)
            (std::find(sel.survivors.begin(), sel.survivors.end(), c) != sel.survivors.end()
                 ? kept_paper
                 : lost_paper)
                .emplace_back(kCandidateNames[c]);
        for (auto c : sel.survivors)
            if (std::find(paper_idx.begin(), paper_idx.end(), c) == paper_idx.end())
                new_ones.emplace_back(kCandidateNames[c]);
        md << "\n**Survivors** (the " << kSurvivors
           << " whose removal costs the most F1): " << joined(candidate_names(sel.survivors))
           << ". CV F1 (same " << o.ablation_folds << "-fold protocol): survivors "
           << num(sel.f1_survivors) << ", the paper's 7 " << num(sel.f1_paper) << ", all top 10 "
           << num(sel.f1_top) << ".\n\n"
           << "Against the paper's 7 (n_keypoints, aspect_ratio, area_by_perim, hue1 -> "
           << "intensity1, edge_length1, contrast, avg_perceived_brightness): kept "
           << (kept_paper.empty() ? "none" : joined(kept_paper)) << "; not kept "
           << (lost_paper.empty() ? "none" : joined(lost_paper)) << "; new "
           << (new_ones.empty() ? "none" : joined(new_ones)) << ". "
           << (lost_paper.empty() && new_ones.empty()
                   ? "The selection reproduces the paper's set on this data."
                   : "The selection keeps a different set on this data; the plugin still "
                     "computes the paper's 7 (rf.yml.gz), the figures above are what the "
                     "other set would gain or lose.")
           << " Selection took " << num(sel.seconds, 0) << " s.\n\n";
    }

    md << "## Forest\n\ncv::ml::RTrees, " << o.trees << " trees, max depth " << o.depth << ", min "
       << o.min_sample << " samples per split, sqrt(#features) variables per split, "
       << (o.balance ? "class priors 1 : (#LIGHT/#HEAVY) (balanced)" : "no class priors")
       << "; inputs min-max normalised on the train split (min/max stored with the model). "
       << "Route HEAVY when the fraction of trees voting HEAVY exceeds the threshold.\n\n"
       << "Threshold stored in each forest: the " << threshold_rule
       << ". Reported beside it, the **top-1 rule**: the " << top1_rule
       << " (routed top-1: the light model's answer where routed LIGHT, the heavy one's where "
       << "routed HEAVY). For these forests the top-1 rule sends most images (no forest's "
       << "routing beats the heavy model alone), so it is not what the files store; set the "
       << "plugin's `threshold` to use it.\n\n"
       << "## " << o.folds << "-fold cross-validation on the train split (class HEAVY)\n\n"
       << "| features | P @0.5 | R @0.5 | F1 @0.5 | F1-best t | P | R | F1 | sent | routed "
          "top-1 | top-1 rule t | routed top-1 | sent |\n"
       << "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
    for (const auto &r : results)
        md << "| " << r.name << " | " << num(r.cv_at_half.precision) << " | "
           << num(r.cv_at_half.recall) << " | " << num(r.cv_at_half.f1) << " | "
           << num(r.f1_threshold, 2) << " | " << num(r.cv_at_f1.precision) << " | "
           << num(r.cv_at_f1.recall) << " | " << num(r.cv_at_f1.f1) << " | "
           << pct(r.cv_route_f1.sent, 1) << " | " << pct(r.cv_route_f1.top1) << " | "
           << num(r.cv_route_top1.threshold, 2) << " | " << pct(r.cv_route_top1.top1) << " | "
           << pct(r.cv_route_top1.sent, 1) << " |\n";
    md << "| cascade: light p_max < t | | | | | | | | | | " << num(cascade_train.threshold, 2)
       << " | " << pct(cascade_train.top1) << " | " << pct(cascade_train.sent, 1) << " |\n\n";

    if (o.compare) {
        md << "## Classifier comparison (the paper's section 5.2), " << o.folds
           << "-fold CV on the train split\n\n"
           << "Same folds for all. Precision/recall/F1 of HEAVY and macro-F1 (mean of the F1 of "
           << "HEAVY and of LIGHT) at the threshold on each classifier's score with the best "
           << "out-of-fold F1 of HEAVY (score: RF the HEAVY vote fraction, KNN the HEAVY share "
           << "of the k neighbours, AdaBoost the weighted vote, SVM the decision value); "
           << "'F1 default' is at the classifier's own rule (RF votes > 0.5, KNN majority, "
           << "AdaBoost and SVM sign). With our binary label a one-vs-rest SVM is a single "
           << "SVM. The SVM trains on " << o.svm_rows << " rows of each training fold "
           << "(fixed-seed subsample; the solver is quadratic in the rows) and is evaluated "
           << "on the whole held-out fold; the others train on the whole training fold. "
           << "AdaBoost uses trees (OpenCV's Boost has no SVM base learner; the paper's best "
           << "AdaBoost used SVMs).\n\n"
           << "| features | classifier | P | R | F1 | macro-F1 | sent | F1 default | CV s | "
              "params |\n|---|---|---|---|---|---|---|---|---|---|\n";
        for (const auto &c : cmp.rows)
            md << "| " << c.features << " | " << c.name << " | " << num(c.cv.precision) << " | "
               << num(c.cv.recall) << " | " << num(c.cv.f1) << " | " << num(c.cv.macro_f1) << " | "
               << pct(c.cv.heavy_share, 1) << " | " << num(c.at_default.f1) << " | "
               << (c.name == "rf" ? std::string("(above)") : num(c.seconds, 0)) << " | " << c.params
               << " |\n";
        md << "\nKNN, F1 of HEAVY by k:\n\n| features |";
        for (int k = 1; k <= kKnnMaxK; k += 2)
            md << " k=" << k << " |";
        md << "\n|---|";
        for (int k = 1; k <= kKnnMaxK; k += 2)
            md << "---|";
        md << "\n";
        for (const auto &[name, f1s] : cmp.knn_f1) {
            md << "| " << name << " |";
            for (double f : f1s)
                md << " " << num(f) << " |";
            md << "\n";
        }
        md << "\nThe paper's multi-class label (the best zoo model per image given time and "
           << "top-1, where one-vs-rest is meaningful) is not done: our zoo's times are per "
           << "model, not per image, so that label reduces to 'the cheapest zoo model that "
           << "is right', and one-vs-rest over its 7 classes would cost 7 RBF SVMs per fold "
           << "and feature set, beyond this tool's time budget.\n\n";
    }

    md << "## Test split (10,000 images), forests trained on the whole train split\n\n"
       << "| row | top-1 | % of oracle | sent to heavy | P | R | F1 |\n"
       << "|---|---|---|---|---|---|---|\n"
       << "| light only (" << light.name << ") | " << pct(light_top1) << " | "
       << pct(light_top1 / oracle_top1, 1) << " | 0% | | | |\n"
       << "| heavy only (" << heavy.name << ") | " << pct(heavy_top1) << " | "
       << pct(heavy_top1 / oracle_top1, 1) << " | 100% | | | |\n";
    for (std::size_t i = 0; i < results.size(); ++i) {
        const auto &r = results[i];
        md << "| " << files[i] << ", " << r.name << ", **F1-best t=" << num(r.f1_threshold, 2)
           << "** (stored) | " << pct(r.test_route_f1.top1) << " | "
           << pct(r.test_route_f1.top1 / oracle_top1, 1) << " | " << pct(r.test_route_f1.sent, 1)
           << " | " << num(r.test_prf_f1.precision) << " | " << num(r.test_prf_f1.recall) << " | "
           << num(r.test_prf_f1.f1) << " |\n"
           << "| " << files[i] << ", " << r.name
           << ", top-1 rule t=" << num(r.cv_route_top1.threshold, 2) << " | "
           << pct(r.test_route_top1.top1) << " | " << pct(r.test_route_top1.top1 / oracle_top1, 1)
           << " | " << pct(r.test_route_top1.sent, 1) << " | " << num(r.test_prf_top1.precision)
           << " | " << num(r.test_prf_top1.recall) << " | " << num(r.test_prf_top1.f1) << " |\n";
    }
    {
        std::vector<double> cascade_score(nt);
        for (std::size_t i = 0; i < nt; ++i)
            cascade_score[i] = light.test[i].p_max < cascade_train.threshold ? 1.0 : 0.0;
        const Prf c = prf(y_test, cascade_score, 0.5);
        md << "| cascade: light p_max < t, t=" << num(cascade_train.threshold, 2)
           << " (same rule, no forest) | " << pct(cascade_test.top1) << " | "
           << pct(cascade_test.top1 / oracle_top1, 1) << " | " << pct(cascade_test.sent, 1) << " | "
           << num(c.precision) << " | " << num(c.recall) << " | " << num(c.f1) << " |\n";
    }
    md << "| oracle | " << pct(oracle_top1) << " | 100% | " << pct(static_cast<double>(y1) / nt, 1)
       << " | | | |\n\n"
       << "### Threshold sweep on the test split (routed top-1 / share sent to heavy)\n\n"
       << "| threshold |";
    for (const auto &r : results)
        md << " " << r.name << " |";
    md << " cascade (p_max < t) |\n|---|";
    for (std::size_t i = 0; i <= results.size(); ++i)
        md << "---|";
    md << "\n";
    for (double t : {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95}) {
        md << "| " << num(t, 2) << " |";
        for (const auto &r : results) {
            const Routing x = route(light.test, heavy.test, t, score_above(r.test_score));
            md << " " << pct(x.top1) << " / " << pct(x.sent, 1) << " |";
        }
        const Routing c = route(light.test, heavy.test, t, p_max_below(light.test));
        md << " " << pct(c.top1) << " / " << pct(c.sent, 1) << " |\n";
    }
    md << "\n## Feature importance (RTrees variable importance, final forests)\n\n";
    for (const auto &r : results) {
        md << "**" << r.name << "**: ";
        std::vector<std::size_t> idx(r.features.size());
        std::iota(idx.begin(), idx.end(), std::size_t{0});
        std::sort(idx.begin(), idx.end(),
                  [&](std::size_t a, std::size_t b) { return r.importance[a] > r.importance[b]; });
        for (std::size_t k = 0; k < idx.size(); ++k)
            md << (k ? ", " : "") << r.features[idx[k]] << " " << num(r.importance[idx[k]], 4);
        md << "\n\n";
    }
    const cv::Mat corr = tierd::preclass::pearson_matrix(paper.train);
    md << "## Pearson correlation of the 7 image features (train split)\n\n|  |";
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
            if (j > i && std::abs(corr.at<double>(i, j)) > kPearsonLimit)
                high.push_back(paper.names[static_cast<std::size_t>(i)] + " / " +
                               paper.names[static_cast<std::size_t>(j)]);
        }
        md << "\n";
    }
    md << "\nPairs of the paper's 7 above 0.75 on this data: "
       << (high.empty() ? std::string("none") : joined(high))
       << " (the paper's own 7 had none above 0.75 on ImageNet).\n\n"
       << "## Cost per image (one thread, this machine; varies by machine and load)\n\n"
       << "| stage | µs per 28x28 image |\n|---|---|\n"
       << "| the plugin's 7 features (compute_features) | " << num(stage.features, 1) << " |\n"
       << "| all 29 candidates (compute_candidates) | " << num(stage.candidates, 1) << " |\n"
       << "| paper forest (RfModel::heavy_fraction, rf.yml.gz) | " << num(stage.forest, 1) << " |\n"
       << "| paper+conf forest (rf-paper-conf.yml.gz) | " << num(stage.forest_paper_conf, 1)
       << " |\n\n"
       << "## Files\n\n";
    for (std::size_t i = 0; i < results.size(); ++i)
        md << "- `" << files[i] << "` (" << fs::file_size(o.out + "/" + files[i]) << " B): inputs "
           << joined(results[i].model.feature_names) << "; threshold "
           << num(results[i].model.threshold, 2) << " (F1-best).\n";
    md << "- `rf.json`: normalisation, thresholds, the selection, the classifier comparison "
       << "and the per-image costs, for scripts.\n\n"
       << "rf.yml.gz is what plugins/preclassifier-rf loads. The conf inputs are the light "
       << "model's softmax as tools/zoo/zoo_eval.cpp computes it: p_max the largest "
       << "probability, margin = p_max - the second largest, entropy = -sum p ln p in "
       << "**nats** (natural log; 0 .. ln 10 = 2.303 for 10 classes); the outcome files "
       << "round them to 4 decimals.\n\n"
       << "## What differs from the paper\n\n"
       << "- Data: Fashion-MNIST (28x28 gray, 60k train / 10k test) instead of ImageNet "
          "validation photos; our zoo instead of 12 ImageNet CNNs; label HEAVY/LIGHT from "
          "correctness only (our zoo's times are per model, so 'given time' adds nothing per "
          "image).\n"
       << "- Features: hue -> intensity bins, edge angles from edge-pixel orientations, "
          "Shi-Tomasi corners for keypoints (see the selection section); two brightness "
          "pairs coincide on gray input.\n"
       << "- Selection: F1 of HEAVY instead of accuracy in the ablation; how RFE and "
          "chi-square combine into one top 10 is our choice (sum of ranks); RFE and the "
          "ablation run on "
       << o.selection_rows << " train images (0 = all) and the ablation CVs use "
       << o.ablation_folds << " folds, to fit the time budget.\n"
       << "- Classifiers: OpenCV ml instead of scikit-learn; AdaBoost over trees (no SVM base "
          "learner); SVM on a subsample; binary label, so one-vs-rest is one SVM.\n"
       << "- Thresholds: the paper routes by the forest's majority vote; we store the "
          "F1-best vote threshold (our classes are balanced by priors, not by resampling).\n\n"
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
