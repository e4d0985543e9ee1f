// nas_search: hardware-aware architecture search for Fashion-MNIST (issue 19).
//
// Search space ("resnet-elastic-v1"). A CIFAR-style ResNet with 3 stages of BasicBlocks, as in
// Once-for-All: the 28x28 gray input is resized (bilinear, inside the network) to res in
// {20, 24, 28}; stage s has depth d_s in 1..3 blocks and c_s = round(base_s * m_s) channels,
// base = (16, 32, 64), m_s in {0.5, 0.75, 1.0}; block j of stage s uses kernel k in {3, 5} for
// both of its convs. Stem 3x3 conv 1->c1 at res x res; the first block of stages 2 and 3 has
// stride 2 (H -> ceil(H/2)) and a 1x1 shortcut conv whenever stride != 1 or cin != c_s; head is
// global average pool + FC c3->10. BN is folded at export, so every conv has a bias. Kernel
// entries of blocks j >= d_s do not exist in the network and are canonicalised to 3. pagmo sees
// 16 integer genes: res, depth-1 (3), width index (3), kernel index (9, block j of stage s at
// 7+3s+j). layers_of() is the one walk of an architecture (kind, k, cin, cout, H_out, W_out,
// MACs, params) that both models and the output use; nas.py re-implements it for export only.
//
// Latency model, one per device. ms ~ w . (MMACs of 3x3 convs, MMACs of 5x5 convs, MMACs of
// 1x1 convs, MMACs of the FC, number of conv layers, millions of conv output elements, 1): the
// cost of a small CNN on a CPU is close to linear in the MACs per kernel shape (5x5 and 3x3 run
// at different efficiencies, differently per device), plus a per-layer dispatch overhead and a
// memory-traffic term, plus a constant. Negative per-unit costs are meaningless, so the six
// cost coefficients are fitted by non-negative least squares (Lawson-Hanson active set, the
// unconstrained subproblems solved by cv::solve DECOMP_SVD, columns scaled to unit RMS and a
// 1e-6 ridge for stability); the constant is free (eliminated exactly by weighted centering).
// Rows are weighted by 1/ms, i.e. the fit minimises squared *relative* error, which is what
// the holdout MAPE measures and keeps the fast subnets (the ones that matter on a slow
// device) from being swamped by the large ones.
//
// Accuracy predictor: ridge regression on one-hot res (3), depth per stage, width multiplier
// per stage, active 5x5 blocks per stage, ln(total MACs) and a constant. A few hundred
// supernet-measured subnets cannot support anything richer, and a linear model in these
// features ranks subnets well, which is all NSGA-II needs. Features are standardised, the
// constant is not penalised (objective: mean squared error + lambda * |beta|^2), lambda is
// chosen from {1e-4, 1e-3, 1e-2, 1e-1, 1} by leave-one-out on the fitting set (10-fold, fold
// = index mod 10, above 200 samples); the coefficients are reported in raw feature units so a
// prediction is one dot product, clipped to [0, 1].
//
// Validation: samples with "holdout": true are only validated on; without any, every 4th
// sample (file order) is held out, both models are validated, then refitted on all samples
// for the search. Search: per device, pagmo::nsga2 on {pred_ms, 1 - pred_acc}; the first
// non-dominated front of the final population is decoded, canonicalised, deduplicated and
// sorted by predicted latency. Everything is deterministic for a given seed and input.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <pagmo/algorithms/nsga2.hpp>
#include <pagmo/population.hpp>
#include <pagmo/problem.hpp>
#include <pagmo/types.hpp>
#include <pagmo/utils/multi_objective.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

using ojson = nlohmann::ordered_json;

constexpr const char *kSpace = "resnet-elastic-v1";
constexpr std::array<int, 3> kRes{20, 24, 28};
constexpr std::array<double, 3> kWidth{0.5, 0.75, 1.0};
constexpr std::array<int, 3> kBase{16, 32, 64};
constexpr std::array<int, 2> kKernel{3, 5};
constexpr int kClasses = 10;
constexpr std::size_t kGenes = 16;

// Bad input: reported on stderr, exit status 2.
struct InputError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// ---------------------------------------------------------------------------------------------
// Architecture, encoding, canonical form
// ---------------------------------------------------------------------------------------------

struct Arch {
    int res_idx = 2;                   // index into kRes
    std::array<int, 3> depth{3, 3, 3}; // 1..3
    std::array<int, 3> width_idx{2, 2, 2};
    std::array<std::array<int, 3>, 3> kernel_idx{}; // index into kKernel

    int res() const { return kRes[static_cast<std::size_t>(res_idx)]; }
    int channels(std::size_t s) const {
        return static_cast<int>(
            std::lround(kBase[s] * kWidth[static_cast<std::size_t>(width_idx[s])]));
    }
    int kernel(std::size_t s, std::size_t j) const {
        return kKernel[static_cast<std::size_t>(kernel_idx[s][j])];
    }
};

Arch canonical(Arch a) {
    for (std::size_t s = 0; s < 3; ++s)
        for (std::size_t j = static_cast<std::size_t>(a.depth[s]); j < 3; ++j)
            a.kernel_idx[s][j] = 0;
    return a;
}

std::array<int, kGenes> genes_of(const Arch &a) {
    std::array<int, kGenes> g{};
    g[0] = a.res_idx;
    for (std::size_t s = 0; s < 3; ++s) {
        g[1 + s] = a.depth[s] - 1;
        g[4 + s] = a.width_idx[s];
        for (std::size_t j = 0; j < 3; ++j)
            g[7 + 3 * s + j] = a.kernel_idx[s][j];
    }
    return g;
}

Arch decode(const pagmo::vector_double &x) {
    auto gene = [&x](std::size_t i, int hi) {
        return std::clamp(static_cast<int>(std::lround(x[i])), 0, hi);
    };
    Arch a;
    a.res_idx = gene(0, 2);
    for (std::size_t s = 0; s < 3; ++s) {
        a.depth[s] = gene(1 + s, 2) + 1;
        a.width_idx[s] = gene(4 + s, 2);
        for (std::size_t j = 0; j < 3; ++j)
            a.kernel_idx[s][j] = gene(7 + 3 * s + j, 1);
    }
    return a;
}

Arch resnet20() {
    return Arch{};
} // res 28, depth 3,3,3, width 1,1,1, all 3x3

ojson arch_json(const Arch &a) {
    ojson j;
    j["res"] = a.res();
    j["depth"] = {a.depth[0], a.depth[1], a.depth[2]};
    ojson w = ojson::array();
    ojson k = ojson::array();
    for (std::size_t s = 0; s < 3; ++s) {
        w.push_back(kWidth[static_cast<std::size_t>(a.width_idx[s])]);
        k.push_back({a.kernel(s, 0), a.kernel(s, 1), a.kernel(s, 2)});
    }
    j["width"] = w;
    j["kernel"] = k;
    return j;
}

// Compact form for the stderr summary: r24 d2-3-1 w.75-1-.5 k35/335/3
std::string arch_short(const Arch &a) {
    static const char *wname[] = {".5", ".75", "1"};
    std::ostringstream os;
    os << 'r' << a.res() << " d" << a.depth[0] << '-' << a.depth[1] << '-' << a.depth[2] << " w"
       << wname[a.width_idx[0]] << '-' << wname[a.width_idx[1]] << '-' << wname[a.width_idx[2]]
       << " k";
    for (std::size_t s = 0; s < 3; ++s) {
        if (s)
            os << '/';
        for (std::size_t j = 0; j < static_cast<std::size_t>(a.depth[s]); ++j)
            os << a.kernel(s, j);
    }
    return os.str();
}

// ---------------------------------------------------------------------------------------------
// The one walk of an architecture: layers with their shapes, MACs and parameters
// ---------------------------------------------------------------------------------------------

enum class LayerKind { Conv, Fc };

struct Layer {
    LayerKind kind = LayerKind::Conv;
    int k = 1; // kernel size (1 for the FC)
    int stride = 1;
    int cin = 0;
    int cout = 0;
    int h_out = 1;
    int w_out = 1;
    std::int64_t macs = 0;
    std::int64_t params = 0; // weights + bias (BN folded into every conv)
};

Layer conv_layer(int k, int stride, int cin, int cout, int h_in) {
    Layer l;
    l.kind = LayerKind::Conv;
    l.k = k;
    l.stride = stride;
    l.cin = cin;
    l.cout = cout;
    const int pad = k / 2;
    l.h_out = (h_in + 2 * pad - k) / stride + 1; // = ceil(h_in / stride) for odd k
    l.w_out = l.h_out;
    const std::int64_t weights = std::int64_t{k} * k * cin * cout;
    l.macs = weights * l.h_out * l.w_out;
    l.params = weights + cout;
    return l;
}

std::vector<Layer> layers_of(const Arch &a) {
    std::vector<Layer> layers;
    int h = a.res();
    int cin = 1;
    layers.push_back(conv_layer(3, 1, cin, a.channels(0), h)); // stem
    cin = a.channels(0);
    for (std::size_t s = 0; s < 3; ++s) {
        const int c = a.channels(s);
        for (std::size_t j = 0; j < static_cast<std::size_t>(a.depth[s]); ++j) {
            const int k = a.kernel(s, j);
            const int stride = (j == 0 && s > 0) ? 2 : 1;
            const Layer c1 = conv_layer(k, stride, cin, c, h);
            const Layer c2 = conv_layer(k, 1, c, c, c1.h_out);
            layers.push_back(c1);
            layers.push_back(c2);
            if (stride != 1 || cin != c)
                layers.push_back(conv_layer(1, stride, cin, c, h));
            h = c1.h_out;
            cin = c;
        }
    }
    Layer fc;
    fc.kind = LayerKind::Fc;
    fc.cin = cin;
    fc.cout = kClasses;
    fc.macs = std::int64_t{cin} * kClasses;
    fc.params = fc.macs + kClasses;
    layers.push_back(fc);
    return layers;
}

struct ArchStats {
    std::int64_t macs = 0;
    std::int64_t params = 0;
    std::int64_t macs_k3 = 0;
    std::int64_t macs_k5 = 0;
    std::int64_t macs_k1 = 0;
    std::int64_t macs_fc = 0;
    std::int64_t conv_layers = 0;
    std::int64_t act_elems = 0; // output elements of all conv layers
};

ArchStats stats_of(const Arch &a) {
    ArchStats st;
    for (const Layer &l : layers_of(a)) {
        st.macs += l.macs;
        st.params += l.params;
        if (l.kind == LayerKind::Fc) {
            st.macs_fc += l.macs;
            continue;
        }
        ++st.conv_layers;
        st.act_elems += std::int64_t{l.cout} * l.h_out * l.w_out;
        if (l.k == 3)
            st.macs_k3 += l.macs;
        else if (l.k == 5)
            st.macs_k5 += l.macs;
        else
            st.macs_k1 += l.macs;
    }
    return st;
}

// ---------------------------------------------------------------------------------------------
// Features
// ---------------------------------------------------------------------------------------------

const std::vector<std::string> kLatencyFeatures{
    "mmacs_3x3", "mmacs_5x5", "mmacs_1x1", "mmacs_fc", "conv_layers", "mact_elems", "const"};

std::vector<double> latency_features(const Arch &a) {
    const ArchStats st = stats_of(a);
    auto m = [](std::int64_t v) { return static_cast<double>(v) * 1e-6; };
    return {m(st.macs_k3),
            m(st.macs_k5),
            m(st.macs_k1),
            m(st.macs_fc),
            static_cast<double>(st.conv_layers),
            m(st.act_elems),
            1.0};
}

const std::vector<std::string> kAccuracyFeatures{
    "res_20",  "res_24",  "res_28",      "depth_1",     "depth_2",     "depth_3",  "width_1",
    "width_2", "width_3", "k5_blocks_1", "k5_blocks_2", "k5_blocks_3", "log_macs", "const"};

std::vector<double> accuracy_features(const Arch &a) {
    std::vector<double> f(kAccuracyFeatures.size(), 0.0);
    f[static_cast<std::size_t>(a.res_idx)] = 1.0;
    for (std::size_t s = 0; s < 3; ++s) {
        f[3 + s] = a.depth[s];
        f[6 + s] = kWidth[static_cast<std::size_t>(a.width_idx[s])];
        int k5 = 0;
        for (std::size_t j = 0; j < static_cast<std::size_t>(a.depth[s]); ++j)
            k5 += a.kernel_idx[s][j];
        f[9 + s] = k5;
    }
    f[12] = std::log(static_cast<double>(stats_of(a).macs));
    f[13] = 1.0;
    return f;
}

double dot(const std::vector<double> &w, const std::vector<double> &x) {
    double s = 0.0;
    for (std::size_t i = 0; i < w.size(); ++i)
        s += w[i] * x[i];
    return s;
}

// ---------------------------------------------------------------------------------------------
// Fitting
// ---------------------------------------------------------------------------------------------

// Least squares min |A x - b| (A m x n, any rank) by SVD.
std::vector<double> lstsq(const std::vector<std::vector<double>> &rows,
                          const std::vector<double> &b, const std::vector<std::size_t> &cols) {
    cv::Mat A(static_cast<int>(rows.size()), static_cast<int>(cols.size()), CV_64F);
    cv::Mat B(static_cast<int>(rows.size()), 1, CV_64F);
    for (std::size_t i = 0; i < rows.size(); ++i) {
        for (std::size_t c = 0; c < cols.size(); ++c)
            A.at<double>(static_cast<int>(i), static_cast<int>(c)) = rows[i][cols[c]];
        B.at<double>(static_cast<int>(i)) = b[i];
    }
    cv::Mat X;
    cv::solve(A, B, X, cv::DECOMP_SVD);
    std::vector<double> x(cols.size());
    for (std::size_t c = 0; c < cols.size(); ++c)
        x[c] = X.at<double>(static_cast<int>(c));
    return x;
}

// Lawson-Hanson active-set NNLS: min |A x - b|, x >= 0.
std::vector<double> nnls(const std::vector<std::vector<double>> &rows, const std::vector<double> &b,
                         std::size_t n) {
    std::vector<double> x(n, 0.0);
    std::vector<bool> passive(n, false);
    const double tol = 1e-10 * static_cast<double>(rows.size() + 1);
    auto gradient = [&]() {
        std::vector<double> g(n, 0.0);
        for (std::size_t i = 0; i < rows.size(); ++i) {
            const double r = b[i] - dot(rows[i], x);
            for (std::size_t j = 0; j < n; ++j)
                g[j] += rows[i][j] * r;
        }
        return g;
    };
    for (std::size_t outer = 0; outer < 3 * n + 10; ++outer) {
        const std::vector<double> g = gradient();
        std::size_t t = n;
        double best = tol;
        for (std::size_t j = 0; j < n; ++j)
            if (!passive[j] && g[j] > best) {
                best = g[j];
                t = j;
            }
        if (t == n)
            break;
        passive[t] = true;
        for (std::size_t inner = 0; inner < 3 * n + 10; ++inner) {
            std::vector<std::size_t> cols;
            for (std::size_t j = 0; j < n; ++j)
                if (passive[j])
                    cols.push_back(j);
            if (cols.empty())
                break;
            const std::vector<double> s = lstsq(rows, b, cols);
            bool feasible = true;
            for (double v : s)
                feasible = feasible && v > 0.0;
            if (feasible) {
                for (std::size_t c = 0; c < cols.size(); ++c)
                    x[cols[c]] = s[c];
                break;
            }
            double alpha = 1.0;
            for (std::size_t c = 0; c < cols.size(); ++c)
                if (s[c] <= 0.0) {
                    const double xj = x[cols[c]];
                    alpha = std::min(alpha, xj / (xj - s[c]));
                }
            for (std::size_t c = 0; c < cols.size(); ++c) {
                const std::size_t j = cols[c];
                x[j] += alpha * (s[c] - x[j]);
                if (x[j] <= tol) {
                    x[j] = 0.0;
                    passive[j] = false;
                }
            }
        }
    }
    return x;
}

constexpr double kNnlsRidge = 1e-6;

struct LatencyModel {
    std::vector<double> w = std::vector<double>(kLatencyFeatures.size(), 0.0);
    double predict(const Arch &a) const { return dot(w, latency_features(a)); }
};

// Relative-error NNLS with a free constant: minimise sum ((y - x.w - c) / y)^2, w >= 0.
LatencyModel fit_latency(const std::vector<std::vector<double>> &feats,
                         const std::vector<double> &ms) {
    const std::size_t nc = kLatencyFeatures.size() - 1; // constrained coefficients
    const std::size_t m = feats.size();
    std::vector<double> omega(m);
    double osum = 0.0;
    for (std::size_t i = 0; i < m; ++i) {
        omega[i] = 1.0 / (ms[i] * ms[i]);
        osum += omega[i];
    }
    std::vector<double> xbar(nc, 0.0);
    double ybar = 0.0;
    for (std::size_t i = 0; i < m; ++i) {
        for (std::size_t j = 0; j < nc; ++j)
            xbar[j] += omega[i] * feats[i][j] / osum;
        ybar += omega[i] * ms[i] / osum;
    }
    std::vector<std::vector<double>> rows(m, std::vector<double>(nc));
    std::vector<double> rhs(m);
    std::vector<double> scale(nc, 0.0);
    for (std::size_t i = 0; i < m; ++i) {
        const double v = 1.0 / ms[i];
        for (std::size_t j = 0; j < nc; ++j) {
            rows[i][j] = v * (feats[i][j] - xbar[j]);
            scale[j] += rows[i][j] * rows[i][j];
        }
        rhs[i] = v * (ms[i] - ybar);
    }
    for (std::size_t j = 0; j < nc; ++j)
        scale[j] = std::sqrt(scale[j] / static_cast<double>(m));
    for (std::size_t i = 0; i < m; ++i)
        for (std::size_t j = 0; j < nc; ++j)
            rows[i][j] = scale[j] > 0.0 ? rows[i][j] / scale[j] : 0.0;
    // Ridge rows sqrt(lambda * m) * I on the unit-RMS columns.
    const double rr = std::sqrt(kNnlsRidge * static_cast<double>(m));
    for (std::size_t j = 0; j < nc; ++j) {
        std::vector<double> r(nc, 0.0);
        r[j] = rr;
        rows.push_back(std::move(r));
        rhs.push_back(0.0);
    }
    const std::vector<double> z = nnls(rows, rhs, nc);
    LatencyModel model;
    double c = ybar;
    for (std::size_t j = 0; j < nc; ++j) {
        model.w[j] = scale[j] > 0.0 ? z[j] / scale[j] : 0.0;
        c -= model.w[j] * xbar[j];
    }
    model.w[nc] = c;
    return model;
}

struct AccuracyModel {
    std::vector<double> w = std::vector<double>(kAccuracyFeatures.size(), 0.0);
    double lambda = 0.0;
    double predict(const Arch &a) const {
        return std::clamp(dot(w, accuracy_features(a)), 0.0, 1.0);
    }
};

// Ridge with standardised features, unpenalised constant; coefficients in raw units.
AccuracyModel fit_ridge(const std::vector<std::vector<double>> &feats, const std::vector<double> &y,
                        double lambda) {
    const std::size_t nf = kAccuracyFeatures.size() - 1;
    const std::size_t m = feats.size();
    const double dm = static_cast<double>(m);
    std::vector<double> mu(nf, 0.0);
    std::vector<double> sd(nf, 0.0);
    double ymu = 0.0;
    for (std::size_t i = 0; i < m; ++i) {
        for (std::size_t j = 0; j < nf; ++j)
            mu[j] += feats[i][j] / dm;
        ymu += y[i] / dm;
    }
    for (std::size_t i = 0; i < m; ++i)
        for (std::size_t j = 0; j < nf; ++j)
            sd[j] += (feats[i][j] - mu[j]) * (feats[i][j] - mu[j]) / dm;
    for (double &v : sd)
        v = std::sqrt(v);
    cv::Mat G = cv::Mat::zeros(static_cast<int>(nf), static_cast<int>(nf), CV_64F);
    cv::Mat r = cv::Mat::zeros(static_cast<int>(nf), 1, CV_64F);
    std::vector<double> z(nf);
    for (std::size_t i = 0; i < m; ++i) {
        for (std::size_t j = 0; j < nf; ++j)
            z[j] = sd[j] > 1e-12 ? (feats[i][j] - mu[j]) / sd[j] : 0.0;
        for (std::size_t p = 0; p < nf; ++p) {
            r.at<double>(static_cast<int>(p)) += z[p] * (y[i] - ymu) / dm;
            for (std::size_t q = 0; q < nf; ++q)
                G.at<double>(static_cast<int>(p), static_cast<int>(q)) += z[p] * z[q] / dm;
        }
    }
    for (std::size_t p = 0; p < nf; ++p)
        G.at<double>(static_cast<int>(p), static_cast<int>(p)) += lambda;
    cv::Mat beta;
    cv::solve(G, r, beta, cv::DECOMP_SVD);
    AccuracyModel model;
    model.lambda = lambda;
    double c = ymu;
    for (std::size_t j = 0; j < nf; ++j) {
        model.w[j] = sd[j] > 1e-12 ? beta.at<double>(static_cast<int>(j)) / sd[j] : 0.0;
        c -= model.w[j] * mu[j];
    }
    model.w[nf] = c;
    return model;
}

constexpr std::array<double, 5> kLambdas{1e-4, 1e-3, 1e-2, 1e-1, 1.0};

struct RidgeSelection {
    AccuracyModel model;
    std::string method;
    std::vector<std::pair<double, double>> cv_mse; // (lambda, mse)
};

RidgeSelection fit_accuracy(const std::vector<std::vector<double>> &feats,
                            const std::vector<double> &y) {
    const std::size_t m = feats.size();
    const std::size_t folds = m <= 200 ? m : 10;
    RidgeSelection sel;
    sel.method = m <= 200 ? "leave-one-out" : "10-fold (fold = index mod 10)";
    double best_mse = std::numeric_limits<double>::infinity();
    double best_lambda = kLambdas.back();
    for (double lambda : kLambdas) {
        double sse = 0.0;
        for (std::size_t f = 0; f < folds; ++f) {
            std::vector<std::vector<double>> tf;
            std::vector<double> ty;
            for (std::size_t i = 0; i < m; ++i)
                if (i % folds != f) {
                    tf.push_back(feats[i]);
                    ty.push_back(y[i]);
                }
            const AccuracyModel fm = fit_ridge(tf, ty, lambda);
            for (std::size_t i = f; i < m; i += folds) {
                const double e = std::clamp(dot(fm.w, feats[i]), 0.0, 1.0) - y[i];
                sse += e * e;
            }
        }
        const double mse = sse / static_cast<double>(m);
        sel.cv_mse.emplace_back(lambda, mse);
        if (mse < best_mse) {
            best_mse = mse;
            best_lambda = lambda;
        }
    }
    sel.model = fit_ridge(feats, y, best_lambda);
    return sel;
}

// ---------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------

std::vector<double> ranks(const std::vector<double> &v) {
    std::vector<std::size_t> idx(v.size());
    std::iota(idx.begin(), idx.end(), std::size_t{0});
    std::stable_sort(idx.begin(), idx.end(),
                     [&v](std::size_t a, std::size_t b) { return v[a] < v[b]; });
    std::vector<double> r(v.size());
    for (std::size_t i = 0; i < idx.size();) {
        std::size_t e = i;
        while (e + 1 < idx.size() && v[idx[e + 1]] == v[idx[i]])
            ++e;
        const double avg = 0.5 * static_cast<double>(i + e) + 1.0;
        for (std::size_t q = i; q <= e; ++q)
            r[idx[q]] = avg;
        i = e + 1;
    }
    return r;
}

double spearman(const std::vector<double> &a, const std::vector<double> &b) {
    if (a.size() < 2)
        return std::numeric_limits<double>::quiet_NaN();
    const std::vector<double> ra = ranks(a);
    const std::vector<double> rb = ranks(b);
    const double n = static_cast<double>(a.size());
    const double ma = std::accumulate(ra.begin(), ra.end(), 0.0) / n;
    const double mb = std::accumulate(rb.begin(), rb.end(), 0.0) / n;
    double sab = 0.0, saa = 0.0, sbb = 0.0;
    for (std::size_t i = 0; i < ra.size(); ++i) {
        sab += (ra[i] - ma) * (rb[i] - mb);
        saa += (ra[i] - ma) * (ra[i] - ma);
        sbb += (rb[i] - mb) * (rb[i] - mb);
    }
    if (saa <= 0.0 || sbb <= 0.0)
        return std::numeric_limits<double>::quiet_NaN();
    return sab / std::sqrt(saa * sbb);
}

ojson num(double v) {
    return std::isfinite(v) ? ojson(v) : ojson(nullptr);
}

struct LatencyMetrics {
    std::size_t n = 0;
    double mape = std::numeric_limits<double>::quiet_NaN();
    double max_abs = std::numeric_limits<double>::quiet_NaN();
    double rho = std::numeric_limits<double>::quiet_NaN();
    ojson json() const {
        return {{"n", n},
                {"mape_pct", num(mape)},
                {"max_abs_pct", num(max_abs)},
                {"spearman", num(rho)}};
    }
};

LatencyMetrics latency_metrics(const LatencyModel &model, const std::vector<Arch> &archs,
                               const std::vector<double> &ms) {
    LatencyMetrics lm;
    lm.n = archs.size();
    if (archs.empty())
        return lm;
    std::vector<double> pred(archs.size());
    double sum = 0.0, worst = 0.0;
    for (std::size_t i = 0; i < archs.size(); ++i) {
        pred[i] = model.predict(archs[i]);
        const double pct = 100.0 * std::abs(pred[i] - ms[i]) / ms[i];
        sum += pct;
        worst = std::max(worst, pct);
    }
    lm.mape = sum / static_cast<double>(archs.size());
    lm.max_abs = worst;
    lm.rho = spearman(pred, ms);
    return lm;
}

struct AccuracyMetrics {
    std::size_t n = 0;
    double mae_points = std::numeric_limits<double>::quiet_NaN();
    double rho = std::numeric_limits<double>::quiet_NaN();
    ojson json() const {
        return {{"n", n}, {"mae_points", num(mae_points)}, {"spearman", num(rho)}};
    }
};

AccuracyMetrics accuracy_metrics(const AccuracyModel &model, const std::vector<Arch> &archs,
                                 const std::vector<double> &acc) {
    AccuracyMetrics am;
    am.n = archs.size();
    if (archs.empty())
        return am;
    std::vector<double> pred(archs.size());
    double sum = 0.0;
    for (std::size_t i = 0; i < archs.size(); ++i) {
        pred[i] = model.predict(archs[i]);
        sum += std::abs(pred[i] - acc[i]);
    }
    am.mae_points = 100.0 * sum / static_cast<double>(archs.size());
    am.rho = spearman(pred, acc);
    return am;
}

// ---------------------------------------------------------------------------------------------
// Input
// ---------------------------------------------------------------------------------------------

struct Sample {
    Arch arch;
    std::optional<double> acc;
    std::map<std::string, double> ms;
    bool holdout = false;
};

struct SamplesFile {
    std::string space;
    std::vector<std::pair<std::string, ojson>> devices; // file order
    std::vector<Sample> samples;
};

std::string short_dump(const ojson &v) {
    std::string s = v.dump();
    return s.size() > 60 ? s.substr(0, 57) + "..." : s;
}

int int_in(const ojson &v, const std::string &where, std::initializer_list<int> allowed) {
    std::ostringstream want;
    bool first = true;
    for (int a : allowed) {
        want << (first ? "" : ", ") << a;
        first = false;
    }
    if (!v.is_number())
        throw InputError(where + ": " + short_dump(v) + " is not a number (one of " + want.str() +
                         ")");
    const double d = v.get<double>();
    for (int a : allowed)
        if (d == a)
            return a;
    throw InputError(where + ": " + short_dump(v) + " is not one of " + want.str());
}

const ojson &member(const ojson &obj, const char *key, const std::string &where) {
    if (!obj.is_object() || !obj.contains(key))
        throw InputError(where + ": missing key \"" + key + "\"");
    return obj.at(key);
}

const ojson &array3(const ojson &obj, const char *key, const std::string &where) {
    const ojson &v = member(obj, key, where);
    if (!v.is_array() || v.size() != 3)
        throw InputError(where + "." + key + ": " + short_dump(v) +
                         " is not an array of 3 (one per stage)");
    return v;
}

Arch parse_arch(const ojson &j, const std::string &where) {
    if (!j.is_object())
        throw InputError(where + ": " + short_dump(j) + " is not an object");
    Arch a;
    const int res = int_in(member(j, "res", where), where + ".res", {20, 24, 28});
    a.res_idx = res == 20 ? 0 : res == 24 ? 1 : 2;
    const ojson &depth = array3(j, "depth", where);
    const ojson &width = array3(j, "width", where);
    const ojson &kernel = array3(j, "kernel", where);
    for (std::size_t s = 0; s < 3; ++s) {
        const std::string is = "[" + std::to_string(s) + "]";
        a.depth[s] = int_in(depth[s], where + ".depth" + is, {1, 2, 3});
        const ojson &w = width[s];
        bool ok = false;
        if (w.is_number())
            for (std::size_t q = 0; q < kWidth.size(); ++q)
                if (std::abs(w.get<double>() - kWidth[q]) < 1e-9) {
                    a.width_idx[s] = static_cast<int>(q);
                    ok = true;
                }
        if (!ok)
            throw InputError(where + ".width" + is + ": " + short_dump(w) +
                             " is not one of 0.5, 0.75, 1.0");
        const ojson &ks = kernel[s];
        if (!ks.is_array() || ks.size() != 3)
            throw InputError(where + ".kernel" + is + ": " + short_dump(ks) +
                             " is not an array of 3 kernel sizes (one per block)");
        for (std::size_t q = 0; q < 3; ++q)
            a.kernel_idx[s][q] =
                int_in(ks[q], where + ".kernel" + is + "[" + std::to_string(q) + "]", {3, 5}) == 5
                    ? 1
                    : 0;
    }
    return canonical(a);
}

SamplesFile read_samples(const std::string &path) {
    std::ifstream in(path);
    if (!in)
        throw InputError(path + ": cannot open the samples file");
    ojson root;
    try {
        root = ojson::parse(in);
    } catch (const ojson::parse_error &e) {
        throw InputError(path + ": malformed JSON: " + e.what());
    }
    if (!root.is_object())
        throw InputError(path + ": top level is not a JSON object");
    SamplesFile sf;
    const ojson &space = member(root, "space", path);
    if (!space.is_string() || space.get<std::string>() != kSpace)
        throw InputError(path + ": space: " + short_dump(space) + " is not \"" + kSpace + "\"");
    sf.space = kSpace;
    const ojson &devices = member(root, "devices", path);
    if (!devices.is_object() || devices.empty())
        throw InputError(path + ": devices: not a non-empty object of device profiles");
    for (const auto &[name, profile] : devices.items())
        sf.devices.emplace_back(name, profile);
    const ojson &samples = member(root, "samples", path);
    if (!samples.is_array())
        throw InputError(path + ": samples: not an array");
    for (std::size_t i = 0; i < samples.size(); ++i) {
        const std::string where = "samples[" + std::to_string(i) + "]";
        const ojson &js = samples[i];
        if (!js.is_object())
            throw InputError(where + ": not an object");
        Sample s;
        s.arch = parse_arch(member(js, "arch", where), where + ".arch");
        if (js.contains("acc") && !js.at("acc").is_null()) {
            const ojson &acc = js.at("acc");
            if (!acc.is_number() || acc.get<double>() < 0.0 || acc.get<double>() > 1.0)
                throw InputError(where + ".acc: " + short_dump(acc) +
                                 " is not a number in [0, 1] (a fraction, not percent)");
            s.acc = acc.get<double>();
        }
        if (js.contains("ms") && !js.at("ms").is_null()) {
            const ojson &ms = js.at("ms");
            if (!ms.is_object())
                throw InputError(where + ".ms: not an object {device: milliseconds}");
            for (const auto &[dev, v] : ms.items()) {
                if (!devices.contains(dev))
                    throw InputError(where + ".ms." + dev + ": device not listed in \"devices\"");
                if (!v.is_number() || !(v.get<double>() > 0.0) || !std::isfinite(v.get<double>()))
                    throw InputError(where + ".ms." + dev + ": " + short_dump(v) +
                                     " is not a positive number of milliseconds");
                s.ms[dev] = v.get<double>();
            }
        }
        if (js.contains("holdout")) {
            if (!js.at("holdout").is_boolean())
                throw InputError(where + ".holdout: " + short_dump(js.at("holdout")) +
                                 " is not true/false");
            s.holdout = js.at("holdout").get<bool>();
        }
        if (js.contains("macs") && !js.at("macs").is_null()) {
            // Optional: the writer's own MAC count must agree with layers_of().
            const ojson &macs = js.at("macs");
            const std::int64_t ours = stats_of(s.arch).macs;
            if (!macs.is_number() || macs.get<double>() != static_cast<double>(ours))
                throw InputError(where + ".macs: " + short_dump(macs) +
                                 " != " + std::to_string(ours) +
                                 " from nas_search's layer walk (the two disagree on the network)");
        }
        if (!s.acc && s.ms.empty())
            throw InputError(where + ": has neither \"acc\" nor any \"ms\"");
        sf.samples.push_back(std::move(s));
    }
    return sf;
}

// ---------------------------------------------------------------------------------------------
// Search
// ---------------------------------------------------------------------------------------------

struct NasProblem {
    LatencyModel latency;
    AccuracyModel accuracy;

    pagmo::vector_double fitness(const pagmo::vector_double &x) const {
        const Arch a = decode(x);
        return {latency.predict(a), 1.0 - accuracy.predict(a)};
    }
    std::pair<pagmo::vector_double, pagmo::vector_double> get_bounds() const {
        pagmo::vector_double lb(kGenes, 0.0);
        pagmo::vector_double ub(kGenes, 1.0);
        for (std::size_t i = 0; i < 7; ++i)
            ub[i] = 2.0;
        return {lb, ub};
    }
    pagmo::vector_double::size_type get_nobj() const { return 2; }
    pagmo::vector_double::size_type get_nix() const { return kGenes; }
    std::string get_name() const { return "tierd nas resnet-elastic-v1"; }
};

struct Candidate {
    Arch arch;
    double ms = 0.0;
    double acc = 0.0;
};

ojson candidate_json(const Candidate &c) {
    const ArchStats st = stats_of(c.arch);
    return {{"arch", arch_json(c.arch)},
            {"pred_ms", c.ms},
            {"pred_acc", c.acc},
            {"macs", st.macs},
            {"params", st.params}};
}

// Picks along a front sorted by latency: the fastest, the most accurate, and the rest nearest to
// latencies evenly spaced in log(ms) between the two, so that the picks cover the latency budgets
// evenly (a dense stretch of the front does not draw most of them). Only members with
// ms <= max_ms are eligible: a variant slower than the model it replaces is of no use.
std::vector<std::size_t> pick_spread(const std::vector<Candidate> &front, std::size_t k,
                                     double max_ms) {
    std::vector<std::size_t> eligible;
    for (std::size_t i = 0; i < front.size(); ++i)
        if (front[i].ms <= max_ms)
            eligible.push_back(i);
    if (eligible.empty())
        return {};
    std::set<std::size_t> chosen{eligible.front()};
    std::size_t best = eligible.front();
    for (std::size_t i : eligible)
        if (front[i].acc > front[best].acc)
            best = i;
    chosen.insert(best);
    if (k >= eligible.size())
        return eligible;
    const double lo = std::log(std::max(front[eligible.front()].ms, 1e-12));
    const double hi = std::log(std::max(front[best].ms, 1e-12));
    for (std::size_t q = 1; q + 1 < k && chosen.size() < k; ++q) {
        const double target = lo + (hi - lo) * static_cast<double>(q) / static_cast<double>(k - 1);
        std::size_t pickidx = front.size();
        double dist = std::numeric_limits<double>::infinity();
        for (std::size_t i : eligible) {
            const double dd = std::abs(std::log(std::max(front[i].ms, 1e-12)) - target);
            if (!chosen.count(i) && dd < dist) {
                dist = dd;
                pickidx = i;
            }
        }
        if (pickidx < front.size())
            chosen.insert(pickidx);
    }
    return {chosen.begin(), chosen.end()};
}

struct SearchResult {
    std::vector<Candidate> pareto;
    std::vector<std::size_t> picked;
    unsigned long long evaluations = 0;
};

SearchResult run_search(const NasProblem &udp, unsigned pop_size, unsigned gens, unsigned seed,
                        std::size_t pick, double max_ms) {
    pagmo::problem prob{udp};
    pagmo::population pop{prob, pop_size, seed};
    const pagmo::algorithm algo{pagmo::nsga2{gens, 0.95, 10.0, 1.0 / 16.0, 50.0, seed}};
    pop = algo.evolve(pop);
    SearchResult res;
    res.evaluations = pop.get_problem().get_fevals();
    const auto fronts = pagmo::fast_non_dominated_sorting(pop.get_f());
    const auto &first = std::get<0>(fronts).front();
    std::set<std::array<int, kGenes>> seen;
    for (auto idx : first) {
        Candidate c;
        c.arch = canonical(decode(pop.get_x()[idx]));
        if (!seen.insert(genes_of(c.arch)).second)
            continue;
        c.ms = udp.latency.predict(c.arch);
        c.acc = udp.accuracy.predict(c.arch);
        res.pareto.push_back(c);
    }
    std::sort(res.pareto.begin(), res.pareto.end(), [](const Candidate &a, const Candidate &b) {
        if (a.ms != b.ms)
            return a.ms < b.ms;
        if (a.acc != b.acc)
            return a.acc > b.acc;
        return genes_of(a.arch) < genes_of(b.arch);
    });
    res.picked = pick_spread(res.pareto, pick, max_ms);
    return res;
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

ojson coefficients_json(const std::vector<double> &w) {
    ojson a = ojson::array();
    for (double v : w)
        a.push_back(v);
    return a;
}

int run(const std::string &samples_path, const std::string &out_path, unsigned seed,
        unsigned pop_size, unsigned gens, std::size_t pick, double max_ref) {
    const SamplesFile sf = read_samples(samples_path);
    const std::size_t ns = sf.samples.size();
    const bool flagged = std::any_of(sf.samples.begin(), sf.samples.end(),
                                     [](const Sample &s) { return s.holdout; });
    std::vector<bool> is_holdout(ns);
    for (std::size_t i = 0; i < ns; ++i)
        is_holdout[i] = flagged ? sf.samples[i].holdout : (i % 4 == 3);
    const bool refit = !flagged;

    // Enough fitting samples for every model, before any work is done.
    for (const auto &entry : sf.devices) {
        const std::string &dev = entry.first;
        std::size_t n = 0;
        for (std::size_t i = 0; i < ns; ++i)
            n += (!is_holdout[i] && sf.samples[i].ms.count(dev)) ? 1 : 0;
        if (n < kLatencyFeatures.size())
            throw InputError(samples_path + ": samples[*].ms." + dev + ": " + std::to_string(n) +
                             " fitting samples for device \"" + dev + "\", need at least " +
                             std::to_string(kLatencyFeatures.size()) +
                             " (the number of latency-model features)");
    }

    // Accuracy model.
    const auto acc_t0 = std::chrono::steady_clock::now();
    std::vector<Arch> acc_fit_a, acc_ho_a, acc_all_a;
    std::vector<double> acc_fit_y, acc_ho_y, acc_all_y;
    for (std::size_t i = 0; i < ns; ++i) {
        const Sample &s = sf.samples[i];
        if (!s.acc)
            continue;
        (is_holdout[i] ? acc_ho_a : acc_fit_a).push_back(s.arch);
        (is_holdout[i] ? acc_ho_y : acc_fit_y).push_back(*s.acc);
        acc_all_a.push_back(s.arch);
        acc_all_y.push_back(*s.acc);
    }
    if (acc_fit_a.size() < kAccuracyFeatures.size())
        throw InputError(samples_path + ": samples[*].acc: " + std::to_string(acc_fit_a.size()) +
                         " fitting samples carry \"acc\", need at least " +
                         std::to_string(kAccuracyFeatures.size()) +
                         " (the number of accuracy-model features)");
    auto acc_feats = [](const std::vector<Arch> &as) {
        std::vector<std::vector<double>> f;
        for (const Arch &a : as)
            f.push_back(accuracy_features(a));
        return f;
    };
    const RidgeSelection acc_val = fit_accuracy(acc_feats(acc_fit_a), acc_fit_y);
    const RidgeSelection acc_final =
        refit ? fit_accuracy(acc_feats(acc_all_a), acc_all_y) : acc_val;
    const double acc_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - acc_t0).count();
    const AccuracyMetrics acc_fit_m = accuracy_metrics(acc_val.model, acc_fit_a, acc_fit_y);
    const AccuracyMetrics acc_ho_m = accuracy_metrics(acc_val.model, acc_ho_a, acc_ho_y);

    ojson out;
    out["space"] = sf.space;
    out["seed"] = seed;
    out["pop"] = pop_size;
    out["gens"] = gens;
    out["pick"] = pick;
    out["pick_max_reference_ratio"] = max_ref > 0.0 ? ojson(max_ref) : ojson(nullptr);
    out["n_samples"] = ns;
    out["holdout_mode"] = flagged ? "flagged" : "every_4th";
    out["refit_on_all"] = refit;
    ojson am;
    am["features"] = kAccuracyFeatures;
    am["coefficients"] = coefficients_json(acc_final.model.w);
    am["lambda"] = acc_final.model.lambda;
    am["lambda_selection"] = acc_final.method;
    ojson cvj = ojson::array();
    for (const auto &[l, mse] : acc_final.cv_mse)
        cvj.push_back({{"lambda", l}, {"mse", mse}});
    am["cv"] = cvj;
    am["n_search_fit"] = refit ? acc_all_a.size() : acc_fit_a.size();
    if (refit) {
        am["validation_coefficients"] = coefficients_json(acc_val.model.w);
        am["validation_lambda"] = acc_val.model.lambda;
    }
    am["fit"] = acc_fit_m.json();
    am["holdout"] = acc_ho_m.json();
    am["fit_seconds"] = acc_seconds;
    out["accuracy_model"] = am;

    std::cerr << "nas_search: " << ns << " samples, holdout "
              << (flagged ? "flagged in the file" : "every 4th sample")
              << (refit ? ", models refitted on all samples for the search" : "") << "\n";
    std::cerr << "  accuracy: lambda " << acc_final.model.lambda << " (" << acc_final.method
              << "), fit n=" << acc_fit_m.n << " MAE " << acc_fit_m.mae_points
              << " pts, holdout n=" << acc_ho_m.n << " MAE " << acc_ho_m.mae_points
              << " pts Spearman " << acc_ho_m.rho << "\n";

    ojson devices_out = ojson::object();
    const Arch ref = resnet20();
    for (const auto &[dev, profile] : sf.devices) {
        const auto t0 = std::chrono::steady_clock::now();
        std::vector<Arch> fit_a, ho_a, all_a;
        std::vector<double> fit_y, ho_y, all_y;
        for (std::size_t i = 0; i < ns; ++i) {
            const Sample &s = sf.samples[i];
            const auto it = s.ms.find(dev);
            if (it == s.ms.end())
                continue;
            (is_holdout[i] ? ho_a : fit_a).push_back(s.arch);
            (is_holdout[i] ? ho_y : fit_y).push_back(it->second);
            all_a.push_back(s.arch);
            all_y.push_back(it->second);
        }
        auto lat_feats = [](const std::vector<Arch> &as) {
            std::vector<std::vector<double>> f;
            for (const Arch &a : as)
                f.push_back(latency_features(a));
            return f;
        };
        const LatencyModel val = fit_latency(lat_feats(fit_a), fit_y);
        const LatencyModel fin = refit ? fit_latency(lat_feats(all_a), all_y) : val;
        const LatencyMetrics fit_m = latency_metrics(val, fit_a, fit_y);
        const LatencyMetrics ho_m = latency_metrics(val, ho_a, ho_y);

        NasProblem udp;
        udp.latency = fin;
        udp.accuracy = acc_final.model;
        // Picks no slower than max_ref x the reference's predicted latency (0: no ceiling).
        const double max_ms =
            max_ref > 0.0 ? max_ref * fin.predict(ref) : std::numeric_limits<double>::infinity();
        const SearchResult sr = run_search(udp, pop_size, gens, seed, pick, max_ms);
        const double secs =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

        ojson d;
        d["profile"] = profile;
        ojson lm;
        lm["features"] = kLatencyFeatures;
        lm["coefficients"] = coefficients_json(fin.w);
        lm["method"] = "nnls (Lawson-Hanson), relative error, free constant";
        if (refit)
            lm["validation_coefficients"] = coefficients_json(val.w);
        lm["n_fit"] = fit_a.size();
        lm["n_holdout"] = ho_a.size();
        lm["n_search_fit"] = refit ? all_a.size() : fit_a.size();
        lm["fit"] = fit_m.json();
        lm["holdout"] = ho_m.json();
        d["latency_model"] = lm;
        d["search_seconds"] = secs;
        d["evaluations"] = sr.evaluations;
        ojson pareto = ojson::array();
        for (const Candidate &c : sr.pareto)
            pareto.push_back(candidate_json(c));
        d["pareto"] = pareto;
        ojson picked = ojson::array();
        for (std::size_t i : sr.picked)
            picked.push_back(candidate_json(sr.pareto[i]));
        d["picked"] = picked;
        d["pick_max_ms"] = std::isfinite(max_ms) ? ojson(max_ms) : ojson(nullptr);
        d["reference"] =
            candidate_json(Candidate{ref, fin.predict(ref), acc_final.model.predict(ref)});
        devices_out[dev] = d;

        std::cerr << "  " << dev << ": latency fit n=" << fit_m.n << " MAPE " << fit_m.mape
                  << "%, holdout n=" << ho_m.n << " MAPE " << ho_m.mape << "% max " << ho_m.max_abs
                  << "% Spearman " << ho_m.rho << "\n    coefficients:";
        for (std::size_t j = 0; j < kLatencyFeatures.size(); ++j)
            std::cerr << ' ' << kLatencyFeatures[j] << '=' << fin.w[j];
        std::cerr << "\n    search " << secs << " s, " << sr.evaluations << " evaluations, "
                  << sr.pareto.size() << " on the front; reference ResNet-20 " << fin.predict(ref)
                  << " ms acc " << acc_final.model.predict(ref) << "\n";
        for (std::size_t i : sr.picked) {
            const Candidate &c = sr.pareto[i];
            char line[64];
            std::snprintf(line, sizeof line, "    pick %8.3f ms  acc %.4f  ", c.ms, c.acc);
            std::cerr << line << arch_short(c.arch) << "\n";
        }
    }
    out["devices"] = devices_out;

    const std::string text = out.dump(2) + "\n";
    if (out_path == "-") {
        std::cout << text;
        std::cout.flush();
    } else {
        std::ofstream f(out_path);
        if (!f)
            throw std::runtime_error(out_path + ": cannot open for writing");
        f << text;
        if (!f)
            throw std::runtime_error(out_path + ": write failed");
    }
    return 0;
}

} // namespace

int main(int argc, char **argv) {
    CLI::App app{
        "nas_search: hardware-aware architecture search over resnet-elastic-v1 (Fashion-MNIST).\n"
        "Reads measured subnets (--samples), fits per device a non-negative linear latency model\n"
        "(MACs of 3x3/5x5/1x1 convs and FC, conv layers, activations, constant) and one ridge\n"
        "accuracy predictor, validates both on held-out samples (\"holdout\": true, else every\n"
        "4th sample, then refits on all), and runs pagmo2 NSGA-II per device on {predicted ms,\n"
        "1 - predicted accuracy}. Writes the Pareto fronts, K picks spread along each front and\n"
        "the ResNet-20 reference as JSON; a summary goes to stderr. Exit 2 on bad input."};
    std::string samples;
    std::string out_path = "-";
    unsigned seed = 19;
    unsigned pop_size = 64;
    unsigned gens = 200;
    std::size_t pick = 6;
    double max_ref = 0.0;
    app.add_option("--samples", samples,
                   "samples JSON: {space, devices: {name: profile}, samples: [{arch, acc?, "
                   "ms?: {device: ms}, holdout?}]}")
        ->required();
    app.add_option("--out", out_path, "output JSON file ('-' = stdout)")->capture_default_str();
    app.add_option("--seed", seed, "seed of the population and of NSGA-II")->capture_default_str();
    app.add_option("--pop", pop_size, "population size (multiple of 4, >= 8)")
        ->capture_default_str();
    app.add_option("--gens", gens, "NSGA-II generations")->capture_default_str();
    app.add_option("--pick", pick,
                   "architectures picked along each front (fastest, most accurate, the rest "
                   "nearest to latencies evenly spaced in log(ms); >= 2)")
        ->capture_default_str();
    app.add_option("--pick-max-reference", max_ref,
                   "pick only front members predicted no slower than this many times the "
                   "ResNet-20 reference on the device (0 = no ceiling)")
        ->capture_default_str();
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp &e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp &e) {
        return app.exit(e);
    } catch (const CLI::ParseError &e) {
        app.exit(e);
        return 2;
    }
    if (pop_size < 8 || pop_size % 4 != 0) {
        std::cerr << "nas_search: --pop " << pop_size << ": must be a multiple of 4 and >= 8\n";
        return 2;
    }
    if (pick < 2) {
        std::cerr << "nas_search: --pick " << pick << ": must be >= 2\n";
        return 2;
    }
    if (!(max_ref >= 0.0) || !std::isfinite(max_ref)) {
        std::cerr << "nas_search: --pick-max-reference " << max_ref << ": must be >= 0\n";
        return 2;
    }
    try {
        return run(samples, out_path, seed, pop_size, gens, pick, max_ref);
    } catch (const InputError &e) {
        std::cerr << "nas_search: error: " << e.what() << "\n";
        return 2;
    } catch (const std::exception &e) {
        std::cerr << "nas_search: failed: " << e.what() << "\n";
        return 1;
    }
}
