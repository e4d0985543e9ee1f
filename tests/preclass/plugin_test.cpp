// preclassifier-rf: loads the committed forest, routes real Fashion-MNIST test images,
// and fails create() clearly on a missing, corrupt or mismatched model file.
#include "features.hpp"
#include "plugin_harness.hpp"
#include "rf_model.hpp"

#include <tierd/idx.hpp>
#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using plugin_test::Instance;
using plugin_test::TaskImage;

const std::string kModel = PRECLASS_MODEL_DIR "/rf.yml.gz";
const std::string kConfModel = PRECLASS_MODEL_DIR "/rf-conf.yml.gz";

std::string read_gz(const std::string &path) {
    gzFile f = gzopen(path.c_str(), "rb");
    if (f == nullptr)
        return {};
    std::string out;
    char buf[1 << 16];
    int n = 0;
    while ((n = gzread(f, buf, sizeof buf)) > 0)
        out.append(buf, static_cast<std::size_t>(n));
    gzclose(f);
    return out;
}

// The first `count` 28x28 images of the test split (empty if the dataset is missing).
std::vector<std::vector<uint8_t>> test_images(std::size_t count) {
    std::vector<std::vector<uint8_t>> out;
    try {
        tierd::idx::ImageReader images(FASHION_MNIST_DIR "/t10k-images-idx3-ubyte.gz");
        while (out.size() < count && !images.at_end()) {
            out.emplace_back(images.image_bytes());
            images.next(out.back().data());
        }
    } catch (const tierd::idx::Error &e) {
        if (e.problem() != tierd::idx::Problem::cannot_open)
            throw;
    }
    return out;
}

// Column `correct` of a model's outcome file (test split): the zoo's, or a compressed
// variant's (models/compressed/outcomes, tools/compress/ship.py).
std::vector<bool> correct(const std::string &model) {
    std::string path = ZOO_OUTCOMES_DIR "/" + model + "-test.csv.gz";
    if (!fs::exists(path))
        path = COMPRESSED_OUTCOMES_DIR "/" + model + "-test.csv.gz";
    std::istringstream in(read_gz(path));
    std::string line;
    std::getline(in, line);
    std::vector<bool> out;
    long index = 0;
    int label = 0, pred = 0, ok = 0;
    while (std::getline(in, line))
        if (std::sscanf(line.c_str(), "%ld,%d,%d,%d", &index, &label, &pred, &ok) == 4)
            out.push_back(ok != 0);
    return out;
}

std::string temp_file(const std::string &name, const std::string &content) {
    const fs::path p =
        fs::temp_directory_path() / ("preclass_test_" + std::to_string(::getpid()) + "_" + name);
    std::ofstream(p, std::ios::binary) << content;
    return p.string();
}

class PreclassifierRf : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_TRUE(lib_.ok()) << lib_.error();
        d_ = lib_.descriptor();
        ASSERT_NE(d_, nullptr);
        ASSERT_TRUE(fs::exists(kModel)) << kModel << " missing: run tools/preclass/build.sh";
    }
    int classify(Instance &inst, const tierd_task &task, uint32_t capacity = 16) {
        features_.assign(16, -99.0f);
        out_ = tierd_preclass_result{};
        out_.struct_size = sizeof out_;
        out_.features = features_.data();
        out_.feature_capacity = capacity;
        return inst.ops<tierd_preclassifier_ops>()->classify(inst.get(), &task, &out_);
    }

    plugin_test::Library lib_{PRECLASSIFIER_RF_PATH};
    const tierd_plugin_descriptor *d_ = nullptr;
    std::vector<float> features_;
    tierd_preclass_result out_{};
};

TEST_F(PreclassifierRf, DescriptorDeclaresModelAndThreshold) {
    EXPECT_STREQ(d_->name, "preclassifier-rf");
    EXPECT_EQ(d_->kind, TIERD_KIND_PRECLASSIFIER);
    ASSERT_EQ(d_->config_key_count, 2u);
    EXPECT_STREQ(d_->config_keys[0].name, "model");
    EXPECT_EQ(d_->config_keys[0].type, TIERD_CONFIG_PATH);
    EXPECT_TRUE(d_->config_keys[0].flags & TIERD_CONFIG_MUST_EXIST);
    EXPECT_STREQ(d_->config_keys[1].name, "threshold");
    EXPECT_EQ(d_->config_keys[1].type, TIERD_CONFIG_DOUBLE);
}

TEST_F(PreclassifierRf, RoutesRealTestImagesLikeTheModelFile) {
    const auto images = test_images(1000);
    if (images.empty())
        FAIL() << "dataset-fashion-mnist is not installed (scripts/install-deps.sh installs it)";
    Instance inst(d_, {{"model", kModel}});
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    EXPECT_TRUE(inst.host().logged("loaded")) << "no load log line";

    const auto model = tierd::preclass::RfModel::load(kModel);
    const auto light = correct(model.light_model);
    const auto heavy = correct(model.heavy_model);
    ASSERT_GE(light.size(), images.size());
    ASSERT_GE(heavy.size(), images.size());

    std::size_t routed_heavy = 0, light_ok = 0, routed_ok = 0;
    for (std::size_t i = 0; i < images.size(); ++i) {
        TaskImage t(images[i], 28, 28, TIERD_PIXEL_GRAY8);
        ASSERT_EQ(classify(inst, t.task), TIERD_OK) << inst.host().last_error;
        ASSERT_EQ(out_.feature_count, 7u);
        ASSERT_NE(out_.feature_names, nullptr);
        EXPECT_STREQ(out_.feature_names[0], "n_keypoints");
        ASSERT_TRUE(out_.route == TIERD_ROUTE_LIGHT || out_.route == TIERD_ROUTE_HEAVY);
        ASSERT_GE(out_.light_ok_probability, 0.0f);
        ASSERT_LE(out_.light_ok_probability, 1.0f);
        // Same features and vote as the library used for training.
        const cv::Mat img(28, 28, CV_8UC1, const_cast<uint8_t *>(images[i].data()));
        const auto f = tierd::preclass::compute_features(img);
        for (std::size_t k = 0; k < f.size(); ++k)
            ASSERT_EQ(features_[k], f[k]) << "image " << i << " feature " << k;
        const double p_heavy = model.heavy_fraction(f.data(), f.size());
        ASSERT_FLOAT_EQ(out_.light_ok_probability, static_cast<float>(1.0 - p_heavy));
        ASSERT_EQ(out_.route == TIERD_ROUTE_HEAVY, p_heavy > model.threshold);
        const bool h = out_.route == TIERD_ROUTE_HEAVY;
        routed_heavy += h;
        light_ok += light[i];
        routed_ok += h ? heavy[i] : light[i];
    }
    EXPECT_EQ(inst.host().counters["routed_heavy"], static_cast<double>(routed_heavy));
    EXPECT_EQ(inst.host().counters["routed_light"],
              static_cast<double>(images.size() - routed_heavy));
    // It sends some but not all images upstream, and that beats the light model alone.
    EXPECT_GT(routed_heavy, images.size() / 20);
    EXPECT_LT(routed_heavy, images.size() * 3 / 4);
    EXPECT_GT(routed_ok, light_ok) << "routed " << routed_ok << " vs light-only " << light_ok;
}

TEST_F(PreclassifierRf, ThresholdFromConfigOverridesTheModels) {
    const auto images = test_images(200);
    if (images.empty())
        FAIL() << "dataset-fashion-mnist is not installed (scripts/install-deps.sh installs it)";
    auto heavy_count = [&](const char *threshold) {
        Instance inst(d_, {{"model", kModel}, {"threshold", threshold}});
        EXPECT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
        std::size_t n = 0;
        for (const auto &px : images) {
            TaskImage t(px, 28, 28, TIERD_PIXEL_GRAY8);
            EXPECT_EQ(classify(inst, t.task), TIERD_OK);
            n += out_.route == TIERD_ROUTE_HEAVY;
        }
        return n;
    };
    EXPECT_EQ(heavy_count("1"), 0u); // a vote fraction never exceeds 1
    EXPECT_GT(heavy_count("0"), heavy_count("-1"));
}

// What --check-config accepts, create() accepts: the declared range of `threshold` is
// [-1, 1] and every negative value means the model file's own threshold. (create() used
// to refuse -1 < t < 0, which the host's check had already passed: the daemon then
// refused the plugin at start after `tierd --check-config` said ok.)
TEST_F(PreclassifierRf, EveryDeclaredThresholdIsAcceptedAndNegativeMeansTheModels) {
    const tierd_config_key &key = d_->config_keys[1];
    ASSERT_STREQ(key.name, "threshold");
    ASSERT_TRUE((key.flags & TIERD_CONFIG_HAS_MIN) && (key.flags & TIERD_CONFIG_HAS_MAX));
    const auto images = test_images(200);
    if (images.empty())
        FAIL() << "dataset-fashion-mnist is not installed (scripts/install-deps.sh installs it)";
    auto routes = [&](const std::string &threshold) {
        Instance inst(d_, {{"model", kModel}, {"threshold", threshold}});
        EXPECT_EQ(inst.create_rc(), TIERD_OK)
            << "threshold = " << threshold << ": " << inst.host().last_error;
        std::vector<int> out;
        if (inst.create_rc() != TIERD_OK)
            return out;
        for (const auto &px : images) {
            TaskImage t(px, 28, 28, TIERD_PIXEL_GRAY8);
            EXPECT_EQ(classify(inst, t.task), TIERD_OK);
            out.push_back(out_.route);
        }
        return out;
    };
    const auto models_own = routes("-1");
    ASSERT_EQ(models_own.size(), images.size());
    // The declared range in eighths, ends included: each value must create.
    for (int step = 0; step <= 8; ++step) {
        const double t = key.min + (key.max - key.min) * step / 8.0;
        std::ostringstream text;
        text << t;
        const auto got = routes(text.str());
        if (t < 0.0) {
            EXPECT_EQ(got, models_own) << "threshold = " << t;
        }
    }
    EXPECT_EQ(routes("-0.5"), models_own);
    EXPECT_EQ(routes("-0.001"), models_own);
}

TEST_F(PreclassifierRf, ColourImagesWork) {
    Instance inst(d_, {{"model", kModel}});
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    std::vector<uint8_t> px(32 * 32 * 3, 0);
    for (int y = 8; y < 24; ++y)
        for (int x = 10; x < 20; ++x)
            for (int c = 0; c < 3; ++c)
                px[static_cast<std::size_t>((y * 32 + x) * 3 + c)] = 200;
    TaskImage bgr(px, 32, 32, TIERD_PIXEL_BGR8);
    ASSERT_EQ(classify(inst, bgr.task), TIERD_OK) << inst.host().last_error;
    EXPECT_NEAR(features_[1], 10.0f / 16.0f, 1e-6); // aspect_ratio
    TaskImage rgb(px, 32, 32, TIERD_PIXEL_RGB8);
    ASSERT_EQ(classify(inst, rgb.task), TIERD_OK);
}

TEST_F(PreclassifierRf, SmallFeatureBufferIsErangeAndBadImageEinval) {
    Instance inst(d_, {{"model", kModel}});
    ASSERT_EQ(inst.create_rc(), TIERD_OK);
    std::vector<uint8_t> px(28 * 28, 0);
    TaskImage t(px, 28, 28, TIERD_PIXEL_GRAY8);
    EXPECT_EQ(classify(inst, t.task, 3), TIERD_ERANGE);
    EXPECT_EQ(out_.feature_count, 7u);
    EXPECT_EQ(features_[3], -99.0f);
    tierd_task empty{};
    empty.struct_size = sizeof empty;
    EXPECT_EQ(classify(inst, empty), TIERD_EINVAL);
    EXPECT_NE(inst.host().last_error.find("no image"), std::string::npos);
}

TEST_F(PreclassifierRf, NoModelIsAConfigError) {
    Instance inst(d_); // model defaults to ""
    EXPECT_EQ(inst.create_rc(), TIERD_ECONFIG);
    EXPECT_NE(inst.host().last_error.find("'model'"), std::string::npos) << inst.host().last_error;
}

TEST_F(PreclassifierRf, MissingModelFileFailsCreate) {
    const std::string path = "/nonexistent/preclass/rf.yml.gz";
    Instance inst(d_, {{"model", path}});
    EXPECT_EQ(inst.create_rc(), TIERD_ENOENT);
    EXPECT_NE(inst.host().last_error.find("no such file"), std::string::npos);
    EXPECT_NE(inst.host().last_error.find(path), std::string::npos) << inst.host().last_error;
}

TEST_F(PreclassifierRf, CorruptModelFileFailsCreateWithAMessage) {
    const std::string garbage =
        temp_file("garbage.yml", "%YAML:1.0\n{[ not: valid: yaml\n\x01\x02");
    {
        Instance inst(d_, {{"model", garbage}});
        EXPECT_EQ(inst.create_rc(), TIERD_EIO);
        EXPECT_NE(inst.host().last_error.find(garbage), std::string::npos)
            << inst.host().last_error;
    }
    const std::string other = temp_file("other.yml", "%YAML:1.0\n---\nsomething: 1\n");
    {
        Instance inst(d_, {{"model", other}});
        EXPECT_EQ(inst.create_rc(), TIERD_EIO);
        EXPECT_NE(inst.host().last_error.find("tierd_preclass"), std::string::npos)
            << inst.host().last_error;
    }
    // The real file cut in half: a truncated gzip stream.
    const std::string whole = [] {
        std::ifstream in(kModel, std::ios::binary);
        return std::string(std::istreambuf_iterator<char>(in), {});
    }();
    const std::string cut = temp_file("cut.yml.gz", whole.substr(0, whole.size() / 2));
    {
        Instance inst(d_, {{"model", cut}});
        EXPECT_NE(inst.create_rc(), TIERD_OK);
        EXPECT_NE(inst.host().last_error.find(cut), std::string::npos) << inst.host().last_error;
    }
    fs::remove(garbage);
    fs::remove(other);
    fs::remove(cut);
}

TEST_F(PreclassifierRf, ConfidenceForestReadsTheLocalResult) {
    ASSERT_TRUE(fs::exists(kConfModel)) << kConfModel << " missing (tools/preclass/build.sh)";
    Instance inst(d_, {{"model", kConfModel}});
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    const auto model = tierd::preclass::RfModel::load(kConfModel);
    ASSERT_EQ(model.feature_names.size(), 3u);
    std::vector<uint8_t> px(28 * 28, 0);
    TaskImage t(px, 28, 28, TIERD_PIXEL_GRAY8);

    // Without the light model's answer the forest cannot run: a clear error.
    EXPECT_EQ(classify(inst, t.task), TIERD_EINVAL);
    EXPECT_NE(inst.host().last_error.find("local_first"), std::string::npos)
        << inst.host().last_error;

    // With it: p_max, margin and entropy of its scores are features 7..9, and the vote is
    // the forest's on exactly those.
    std::vector<float> scores = {0.05f, 0.6f, 0.25f, 0.1f};
    tierd_inference_result local{};
    local.struct_size = sizeof local;
    local.scores = scores.data();
    local.score_capacity = local.score_count = 4;
    local.top_class = 1;
    local.top_score = 0.6f;
    t.task.local_result = &local;
    ASSERT_EQ(classify(inst, t.task), TIERD_OK) << inst.host().last_error;
    ASSERT_EQ(out_.feature_count, 10u);
    EXPECT_STREQ(out_.feature_names[7], "p_max");
    EXPECT_STREQ(out_.feature_names[9], "entropy");
    const double entropy = -(0.05 * std::log(0.05) + 0.6 * std::log(0.6) + 0.25 * std::log(0.25) +
                             0.1 * std::log(0.1));
    EXPECT_FLOAT_EQ(features_[7], 0.6f);
    EXPECT_FLOAT_EQ(features_[8], 0.35f);
    EXPECT_NEAR(features_[9], entropy, 1e-5);
    const float row[3] = {features_[7], features_[8], features_[9]};
    EXPECT_FLOAT_EQ(out_.light_ok_probability,
                    static_cast<float>(1.0 - model.heavy_fraction(row, 3)));
    EXPECT_GT(inst.host().counters["features_ms"], 0.0);
    EXPECT_GT(inst.host().counters["forest_ms"], 0.0);

    // A host with the ABI 1.0 task layout has no local_result field: it is not read.
    t.task.struct_size = offsetof(tierd_task, local_result);
    EXPECT_EQ(classify(inst, t.task), TIERD_EINVAL);
}

TEST_F(PreclassifierRf, ForestOverAnUnknownFeatureIsRejected) {
    auto m = tierd::preclass::RfModel::load(kModel);
    m.feature_names[3] = "hue1"; // the paper's name; this plugin computes intensity1
    const std::string path = temp_file("hue.yml.gz", "");
    m.save(path);
    Instance inst(d_, {{"model", path}});
    EXPECT_EQ(inst.create_rc(), TIERD_ECONFIG);
    EXPECT_NE(inst.host().last_error.find("'hue1'"), std::string::npos) << inst.host().last_error;
    fs::remove(path);
}

// The third committed forest: the plugin's 7 image features, then the light model's
// confidence, under the names the plugin gives them; its threshold is a vote fraction.
TEST(PreclassModels, PaperConfForestTakesThePapersSevenThenConfidence) {
    const auto m = tierd::preclass::RfModel::load(PRECLASS_MODEL_DIR "/rf-paper-conf.yml.gz");
    const std::vector<std::string> want = {"n_keypoints",
                                           "aspect_ratio",
                                           "area_by_perim",
                                           "intensity1",
                                           "edge_length1",
                                           "contrast",
                                           "avg_perceived_brightness",
                                           "p_max",
                                           "margin",
                                           "entropy"};
    EXPECT_EQ(m.feature_names, want);
    EXPECT_GE(m.threshold, 0.0);
    EXPECT_LE(m.threshold, 1.0);
    EXPECT_EQ(m.light_model, tierd::preclass::RfModel::load(kModel).light_model);
}

} // namespace
