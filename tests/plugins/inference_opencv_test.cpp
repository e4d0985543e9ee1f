// inference-opencv: a real ONNX model, written by make_test_model.py, gives the scores
// computed here by hand; bad or missing models fail create() with a reason.
#include "plugin_harness.hpp"

#include "agent/pipeline/offload_codec.hpp"

#include <nlohmann/json.hpp>

#include <tierd/idx.hpp>

#include <iostream>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

namespace {

namespace fs = std::filesystem;
using plugin_test::Instance;
using plugin_test::Overrides;
using plugin_test::TaskImage;

constexpr int kSide = 28;
constexpr int kPixels = kSide * kSide;
constexpr int kClasses = 10;

// The model's weights, as make_test_model.py's docstring defines them.
double weight(int i, int c) {
    return ((i * 7 + c * 13) % 17 - 8) / 100.0;
}
double bias(int c) {
    return c / 10.0;
}

// A fixed 28x28 gray image: a dim varied background, bright where (7i) mod 17 == 11, the
// pixels on which class 3's weights peak, so class 3 wins clearly (p ~ 0.39, next ~ 0.26).
constexpr int kExpectedTop = 3;
std::vector<uint8_t> test_image() {
    std::vector<uint8_t> px(kPixels);
    for (int i = 0; i < kPixels; ++i)
        px[i] = static_cast<uint8_t>((i * 7) % 17 == 11 ? 200 : (i * 37 + 11) % 64);
    return px;
}

// softmax(W·x + b) with x = pixel / 255 (the plugin's default scale, mean 0).
std::vector<double> expected_scores(const std::vector<uint8_t> &px) {
    std::vector<double> logits(kClasses);
    for (int c = 0; c < kClasses; ++c) {
        double sum = bias(c);
        for (int i = 0; i < kPixels; ++i)
            sum += px[i] / 255.0 * weight(i, c);
        logits[c] = sum;
    }
    const double max = *std::max_element(logits.begin(), logits.end());
    double total = 0;
    for (double &l : logits) {
        l = std::exp(l - max);
        total += l;
    }
    for (double &l : logits)
        l /= total;
    return logits;
}

// The first `count` images of an IDX file, as pixel vectors (the SDK's reader).
std::vector<std::vector<uint8_t>> inference_opencv_test_images(const std::string &path, int count) {
    std::vector<std::vector<uint8_t>> out;
    tierd::idx::ImageReader images(path);
    while (static_cast<int>(out.size()) < count && !images.at_end()) {
        std::vector<uint8_t> px(images.image_bytes());
        images.next(px.data());
        out.push_back(std::move(px));
    }
    return out;
}

// (model, cut layers) from the plugin's describe() JSON.
std::vector<std::pair<std::string, std::vector<int>>> described_cuts(const std::string &json) {
    std::vector<std::pair<std::string, std::vector<int>>> out;
    const auto doc = nlohmann::json::parse(json); // named: the loop refers into it
    for (const auto &m : doc["models"]) {
        std::vector<int> layers;
        for (const auto &c : m["cuts"])
            layers.push_back(c["layer"].get<int>());
        out.emplace_back(m["name"].get<std::string>(), layers);
    }
    return out;
}

// The tensor as the tier receives it: encoded by the end with `wire`, decoded there.
std::vector<float> wire_round_trip(const tierd_tensor &shape, const std::vector<float> &values,
                                   const std::string &wire) {
    tierd::OffloadRequest r;
    r.task_id = "t";
    r.payload = tierd::OffloadRequest::Payload::tensor;
    r.cut_layer = 1;
    r.wire = wire;
    r.shape.assign(shape.shape, shape.shape + shape.rank);
    r.tensor = values;
    std::string error;
    auto decoded = tierd::decode_offload_request(tierd::encode_offload_request(r), error);
    EXPECT_TRUE(decoded.has_value()) << error;
    return decoded ? decoded->tensor : std::vector<float>();
}

class InferenceOpenCV : public ::testing::Test {
  protected:
    // Writes the model once for the suite; records why it could not.
    static void SetUpTestSuite() {
        dir_ = fs::temp_directory_path() /
               ("tierd-inference-opencv-test-" + std::to_string(::getpid()));
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        const std::string python = TEST_PYTHON;
        if (std::system((python + " -c 'import onnx' >/dev/null 2>&1").c_str()) != 0) {
            missing_dep_ =
                python +
                " cannot import onnx (scripts/install-deps.sh installs python3-onnx), so the test "
                "model cannot be written";
            return;
        }
        const std::string cmd = python + " '" + MAKE_TEST_MODEL_SCRIPT + "' '" + model_path() +
                                "' >'" + (dir_ / "make.log").string() + "' 2>&1";
        if (std::system(cmd.c_str()) != 0 || !fs::exists(model_path())) {
            std::ifstream log(dir_ / "make.log");
            const std::string output((std::istreambuf_iterator<char>(log)), {});
            setup_error_ = "could not write the test model: " + cmd + "\n" + output;
        }
    }
    static void TearDownTestSuite() {
        std::error_code ignored;
        fs::remove_all(dir_, ignored);
    }

    void SetUp() override {
        ASSERT_TRUE(lib_.ok()) << lib_.error();
        d_ = lib_.descriptor();
        ASSERT_NE(d_, nullptr);
    }

    static std::string model_path() { return (dir_ / "tiny_classifier.onnx").string(); }

    // The test model's input: 28x28, one channel, default scale and mean.
    static Overrides model_config(const std::string &path) {
        return {{"model", path},
                {"input_width", "28"},
                {"input_height", "28"},
                {"input_channels", "1"}};
    }

    int infer(Instance &inst, const tierd_task &task, const char *model = "",
              uint32_t capacity = 16) {
        scores_.assign(16, -1.0f);
        out_ = tierd_inference_result{};
        out_.struct_size = sizeof out_;
        out_.scores = scores_.data();
        out_.score_capacity = capacity;
        return inst.ops<tierd_inference_ops>()->infer(inst.get(), &task, model, &out_);
    }

    void expect_scores(const std::vector<double> &want) {
        ASSERT_EQ(out_.score_count, static_cast<uint32_t>(want.size()));
        double sum = 0;
        for (size_t c = 0; c < want.size(); ++c) {
            EXPECT_NEAR(scores_[c], want[c], 1e-4) << "class " << c;
            sum += scores_[c];
        }
        EXPECT_NEAR(sum, 1.0, 1e-4);
        const auto top = std::max_element(want.begin(), want.end()) - want.begin();
        EXPECT_EQ(out_.top_class, top);
        EXPECT_NEAR(out_.top_score, want[static_cast<size_t>(top)], 1e-4);
    }

    static inline fs::path dir_;
    static inline std::string missing_dep_; // set when python3-onnx is missing
    static inline std::string setup_error_; // set when writing the model failed

    plugin_test::Library lib_{INFERENCE_OPENCV_PATH};
    const tierd_plugin_descriptor *d_ = nullptr;
    std::vector<float> scores_;
    tierd_inference_result out_{};
};

#define REQUIRE_MODEL()                                                                            \
    do {                                                                                           \
        ASSERT_EQ(missing_dep_, "");                                                               \
        ASSERT_EQ(setup_error_, "");                                                               \
    } while (0)

TEST_F(InferenceOpenCV, ScoresAreTheSoftmaxOfTheLinearModel) {
    REQUIRE_MODEL();
    Instance inst(d_, model_config(model_path()));
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    EXPECT_TRUE(inst.host().logged("loaded model"));

    const std::vector<uint8_t> px = test_image();
    TaskImage t(px, kSide, kSide, TIERD_PIXEL_GRAY8);
    ASSERT_EQ(infer(inst, t.task), TIERD_OK) << inst.host().last_error;
    expect_scores(expected_scores(px));
    EXPECT_EQ(out_.top_class, kExpectedTop);
    EXPECT_EQ(scores_[kClasses], -1.0f); // nothing written past the classes
    EXPECT_STREQ(out_.model, "tiny_classifier");
    EXPECT_GT(out_.compute_ms, 0.0);
    EXPECT_DOUBLE_EQ(out_.energy_j, 0.5); // two reads of the harness's counter, 0.5 J apart
    EXPECT_STREQ(out_.energy_source, "measured:test-sensor");
    EXPECT_EQ(inst.host().counters["inferences"], 1.0);
    EXPECT_EQ(inst.host().gauges["last_compute_ms"], out_.compute_ms);
}

TEST_F(InferenceOpenCV, BatchGivesEachImageItsOwnAnswer) {
    REQUIRE_MODEL();
    Instance inst(d_, model_config(model_path()));
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    const auto *ops = inst.ops<tierd_inference_ops>();
    ASSERT_GE(ops->struct_size, sizeof(tierd_inference_ops));
    ASSERT_NE(ops->infer_batch, nullptr) << "inference-opencv offers infer_batch (ABI 1.1)";

    const std::vector<uint8_t> img = test_image();
    const std::vector<uint8_t> black(kPixels, 0);
    std::vector<uint8_t> bgr;
    for (uint8_t g : img)
        bgr.insert(bgr.end(), {g, g, g});
    TaskImage a(img, kSide, kSide, TIERD_PIXEL_GRAY8), b(black, kSide, kSide, TIERD_PIXEL_GRAY8),
        c(bgr, kSide, kSide, TIERD_PIXEL_BGR8);
    const tierd_task *tasks[3] = {&a.task, &b.task, &c.task};
    std::vector<std::vector<float>> scores(3, std::vector<float>(16, -1.0f));
    tierd_inference_result outs[3]{};
    for (int i = 0; i < 3; ++i) {
        outs[i].struct_size = sizeof outs[i];
        outs[i].scores = scores[static_cast<size_t>(i)].data();
        outs[i].score_capacity = 16;
    }
    ASSERT_EQ(ops->infer_batch(inst.get(), tasks, 3, "", outs), TIERD_OK) << inst.host().last_error;
    const std::vector<std::vector<double>> want = {expected_scores(img), expected_scores(black),
                                                   expected_scores(img)};
    for (size_t i = 0; i < 3; ++i) {
        ASSERT_EQ(outs[i].score_count, static_cast<uint32_t>(kClasses)) << "image " << i;
        for (size_t k = 0; k < want[i].size(); ++k)
            EXPECT_NEAR(scores[i][k], want[i][k], 1e-4) << "image " << i << " class " << k;
        EXPECT_STREQ(outs[i].model, "tiny_classifier");
        EXPECT_GT(outs[i].compute_ms, 0.0);
    }
    EXPECT_EQ(outs[0].top_class, kExpectedTop);
    EXPECT_EQ(outs[1].top_class, kClasses - 1);
    EXPECT_EQ(inst.host().counters["inferences"], 3.0);
    EXPECT_EQ(inst.host().counters["batches"], 1.0);
    EXPECT_EQ(inst.host().gauges["last_batch_size"], 3.0);
    // A model it does not serve fails the whole batch, with the reason.
    EXPECT_EQ(ops->infer_batch(inst.get(), tasks, 3, "resnet50", outs), TIERD_ENOENT);
    EXPECT_NE(inst.host().last_error.find("resnet50"), std::string::npos);
}

TEST_F(InferenceOpenCV, ColorImagesAreConvertedToTheModelsOneChannel) {
    REQUIRE_MODEL();
    Instance inst(d_, model_config(model_path()));
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    const std::vector<uint8_t> gray = test_image();
    std::vector<uint8_t> bgr;
    for (uint8_t g : gray)
        bgr.insert(bgr.end(), {g, g, g});
    TaskImage t(bgr, kSide, kSide, TIERD_PIXEL_BGR8);
    ASSERT_EQ(infer(inst, t.task), TIERD_OK) << inst.host().last_error;
    expect_scores(expected_scores(gray));
}

TEST_F(InferenceOpenCV, AnotherImageGivesAnotherAnswer) {
    REQUIRE_MODEL();
    Instance inst(d_, model_config(model_path()));
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    // All black: the weights drop out and the scores are softmax(b).
    const std::vector<uint8_t> black(kPixels, 0);
    TaskImage t(black, kSide, kSide, TIERD_PIXEL_GRAY8);
    ASSERT_EQ(infer(inst, t.task), TIERD_OK) << inst.host().last_error;
    expect_scores(expected_scores(black));
    EXPECT_EQ(out_.top_class, kClasses - 1);
}

TEST_F(InferenceOpenCV, ServesOnlyTheModelItLoaded) {
    REQUIRE_MODEL();
    Instance inst(d_, model_config(model_path()));
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    const std::vector<uint8_t> px = test_image();
    TaskImage t(px, kSide, kSide, TIERD_PIXEL_GRAY8);
    EXPECT_EQ(infer(inst, t.task, "tiny_classifier"), TIERD_OK) << inst.host().last_error;
    EXPECT_EQ(infer(inst, t.task, nullptr), TIERD_OK) << inst.host().last_error;
    EXPECT_EQ(infer(inst, t.task, "resnet50"), TIERD_ENOENT);
    EXPECT_NE(inst.host().last_error.find("'resnet50' is not loaded"), std::string::npos)
        << inst.host().last_error;
}

TEST_F(InferenceOpenCV, SmallScoreBufferIsErange) {
    REQUIRE_MODEL();
    Instance inst(d_, model_config(model_path()));
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    const std::vector<uint8_t> px = test_image();
    TaskImage t(px, kSide, kSide, TIERD_PIXEL_GRAY8);
    EXPECT_EQ(infer(inst, t.task, "", 4), TIERD_ERANGE);
    EXPECT_EQ(out_.score_count, static_cast<uint32_t>(kClasses));
    const std::vector<double> want = expected_scores(px);
    for (int c = 0; c < 4; ++c)
        EXPECT_NEAR(scores_[c], want[c], 1e-4);
    EXPECT_EQ(scores_[4], -1.0f);
}

TEST_F(InferenceOpenCV, RejectsATaskWithoutAnImage) {
    REQUIRE_MODEL();
    Instance inst(d_, model_config(model_path()));
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    tierd_task task{};
    task.struct_size = sizeof task;
    task.task_id = "t1";
    EXPECT_EQ(infer(inst, task), TIERD_EINVAL);
    EXPECT_NE(inst.host().last_error.find("no image"), std::string::npos);
}

TEST_F(InferenceOpenCV, MissingModelFileFailsCreate) {
    const std::string path = "/nonexistent/dir/missing.onnx";
    Instance inst(d_, model_config(path));
    EXPECT_EQ(inst.create_rc(), TIERD_ENOENT);
    EXPECT_NE(inst.host().last_error.find("'" + path + "' cannot be opened"), std::string::npos)
        << inst.host().last_error;
}

TEST_F(InferenceOpenCV, CorruptModelFileFailsCreate) {
    ASSERT_TRUE(fs::is_directory(dir_));
    const std::string path = (dir_ / "corrupt.onnx").string();
    {
        std::mt19937 rng(1234);
        std::ofstream f(path, std::ios::binary);
        for (int i = 0; i < 4096; ++i)
            f.put(static_cast<char>(rng() & 0xff));
    }
    Instance inst(d_, model_config(path));
    EXPECT_EQ(inst.create_rc(), TIERD_EIO) << inst.host().last_error;
    EXPECT_NE(inst.host().last_error.find("cannot load model '" + path + "'"), std::string::npos)
        << inst.host().last_error;
}

TEST_F(InferenceOpenCV, WithoutAModelInferFailsWithAReason) {
    Instance inst(d_, {{"model", ""}});
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    EXPECT_TRUE(inst.host().logged("no model configured"));
    const std::vector<uint8_t> px = test_image();
    TaskImage t(px, kSide, kSide, TIERD_PIXEL_GRAY8);
    EXPECT_EQ(infer(inst, t.task), TIERD_ENOENT);
    EXPECT_NE(inst.host().last_error.find("no model loaded"), std::string::npos)
        << inst.host().last_error;
    EXPECT_EQ(out_.score_count, 0u);
    EXPECT_EQ(inst.host().counters.count("inferences"), 0u);
}

// A manifest like models/manifest.toml naming the test model twice (as "a" and "b", the
// second with `sha` as its digest), with scale 1/255 and mean 0.
// The file's sha256 by Python's hashlib (not the plugin's own code); "" on failure.
std::string python_sha256(const fs::path &dir, const std::string &file) {
    const std::string cmd =
        std::string(TEST_PYTHON) +
        " -c 'import hashlib,sys; "
        "print(hashlib.sha256(open(sys.argv[1],\"rb\").read()).hexdigest())' '" +
        file + "' > '" + (dir / "sha.txt").string() + "'";
    if (std::system(cmd.c_str()) != 0)
        return "";
    std::string sha;
    std::ifstream(dir / "sha.txt") >> sha;
    return sha;
}

std::string write_manifest(const fs::path &dir, const std::string &model,
                           const std::string &sha_b) {
    const std::string sha = python_sha256(dir, model);
    if (sha.empty())
        return "";
    const fs::path path = dir / "manifest.toml";
    std::ofstream f(path);
    f << "schema = 1\ninput_shape = [1, 1, 28, 28]\nscale = " << 1.0 / 255.0 << "\nmean = 0.0\n"
      << "[[model]]\nname = \"a\"\nfile = \"" << fs::path(model).filename().string()
      << "\"\nsha256 = \"" << sha << "\"\n"
      << "[[model]]\nname = \"b\"\nfile = \"" << fs::path(model).filename().string()
      << "\"\nsha256 = \"" << (sha_b.empty() ? sha : sha_b) << "\"\n";
    return path.string();
}

TEST_F(InferenceOpenCV, ManifestModelsLoadByNameWithTheirInputSettings) {
    REQUIRE_MODEL();
    const std::string manifest = write_manifest(dir_, model_path(), "");
    ASSERT_FALSE(manifest.empty());
    // No input_* keys: the manifest's 1x28x28 input and scale apply.
    Instance inst(d_, {{"manifest", manifest}, {"default_model", "b"}});
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    const std::vector<uint8_t> px = test_image();
    TaskImage t(px, kSide, kSide, TIERD_PIXEL_GRAY8);
    ASSERT_EQ(infer(inst, t.task), TIERD_OK) << inst.host().last_error;
    EXPECT_STREQ(out_.model, "b");
    expect_scores(expected_scores(px));
    ASSERT_EQ(infer(inst, t.task, "a"), TIERD_OK) << inst.host().last_error;
    EXPECT_STREQ(out_.model, "a");
    EXPECT_EQ(infer(inst, t.task, "c"), TIERD_ENOENT);
    EXPECT_NE(inst.host().last_error.find("serves a, b"), std::string::npos)
        << inst.host().last_error;
}

TEST_F(InferenceOpenCV, ManifestShaMismatchFailsCreateAndNamesTheFile) {
    REQUIRE_MODEL();
    const std::string manifest = write_manifest(dir_, model_path(), std::string(64, '0'));
    ASSERT_FALSE(manifest.empty());
    Instance inst(d_, {{"manifest", manifest}});
    EXPECT_EQ(inst.create_rc(), TIERD_EIO);
    EXPECT_NE(inst.host().last_error.find("model 'b'"), std::string::npos)
        << inst.host().last_error;
    EXPECT_NE(inst.host().last_error.find("corrupt or replaced"), std::string::npos)
        << inst.host().last_error;
    // Loading only the intact entry works.
    Instance only_a(d_, {{"manifest", manifest}, {"models", "a"}});
    EXPECT_EQ(only_a.create_rc(), TIERD_OK) << only_a.host().last_error;
    Instance unknown(d_, {{"manifest", manifest}, {"models", "a, zzz"}});
    EXPECT_EQ(unknown.create_rc(), TIERD_ENOENT);
    EXPECT_NE(unknown.host().last_error.find("'zzz' is not in"), std::string::npos)
        << unknown.host().last_error;
}

// int8 through cv::dnn::Net::quantize on every zoo model: each either quantizes and then
// agrees with its fp32 self on most test images, or is refused with a reason (ENOTSUP).
TEST_F(InferenceOpenCV, ZooModelsQuantizeToInt8OrSayWhyNot) {
    const std::string data = "/usr/share/datasets/fashion-mnist";
    const std::string manifest = std::string(ZOO_MODELS_DIR) + "/manifest.toml";
    if (!fs::exists(data + "/t10k-images-idx3-ubyte.gz") || !fs::exists(manifest))
        FAIL() << "needs dataset-fashion-mnist (scripts/install-deps.sh) and models/manifest.toml";
    auto images = inference_opencv_test_images(data + "/t10k-images-idx3-ubyte.gz", 200);
    ASSERT_EQ(images.size(), 200u);
    for (const char *name : {"cnn-xs", "lenet-s", "mobilenet-s", "shufflenet-s", "resnet-8",
                             "resnet-14", "resnet-20"}) {
        Instance fp32(d_, {{"manifest", manifest}, {"models", name}});
        ASSERT_EQ(fp32.create_rc(), TIERD_OK) << fp32.host().last_error;
        Instance int8(d_, {{"manifest", manifest},
                           {"models", name},
                           {"precision", "int8"},
                           {"calibration", data + "/train-images-idx3-ubyte.gz"},
                           {"calibration_images", "64"}});
        if (int8.create_rc() != TIERD_OK) {
            EXPECT_EQ(int8.create_rc(), TIERD_ENOTSUP) << int8.host().last_error;
            EXPECT_NE(int8.host().last_error.find("cannot quantize model"), std::string::npos);
            continue;
        }
        int agree = 0;
        for (const auto &px : images) {
            TaskImage t(px, kSide, kSide, TIERD_PIXEL_GRAY8);
            ASSERT_EQ(infer(fp32, t.task), TIERD_OK) << fp32.host().last_error;
            const int a = out_.top_class;
            ASSERT_EQ(infer(int8, t.task, name), TIERD_OK) << int8.host().last_error;
            EXPECT_EQ(std::string(out_.model), std::string(name) + "-int8");
            agree += out_.top_class == a ? 1 : 0;
        }
        EXPECT_GE(agree, 190) << name << ": int8 agrees with fp32 on " << agree << " of 200";
        std::cout << "[ int8     ] " << name << ": agrees with fp32 on " << agree << " of 200\n";
    }
}

// A manifest entry with precision = "int8" (tools/compress writes them) is the same float
// file quantized at load, served under its own name beside the float entry, calibrated on
// the manifest's training split when no calibration file is set; any other precision is a
// configuration error naming the model and the key.
TEST_F(InferenceOpenCV, ManifestInt8EntriesQuantizeAtLoadBesideTheirFloatSelves) {
    const std::string data = "/usr/share/datasets/fashion-mnist";
    const fs::path model = fs::path(ZOO_MODELS_DIR) / "cnn-xs.onnx";
    if (!fs::exists(data + "/train-images-idx3-ubyte.gz") || !fs::exists(model))
        FAIL() << "needs dataset-fashion-mnist (scripts/install-deps.sh) and models/cnn-xs.onnx";
    fs::copy_file(model, dir_ / "cnn-xs.onnx");
    const std::string sha = python_sha256(dir_, (dir_ / "cnn-xs.onnx").string());
    ASSERT_EQ(sha.size(), 64u);
    auto write = [&](const std::string &precision) {
        std::ofstream f(dir_ / "manifest.toml");
        f << "schema = 1\ninput_shape = [1, 1, 28, 28]\nscale = " << 1.0 / 90.0
          << "\nmean = 73.0\ndataset_dir = \"" << data << "\"\n"
          << "[[model]]\nname = \"xs\"\nfile = \"cnn-xs.onnx\"\nsha256 = \"" << sha << "\"\n"
          << "[[model]]\nname = \"xs-q\"\nfile = \"cnn-xs.onnx\"\nsha256 = \"" << sha
          << "\"\nprecision = \"" << precision << "\"\nparent = \"xs\"\n";
        return (dir_ / "manifest.toml").string();
    };
    Instance inst(d_, {{"manifest", write("int8")}, {"calibration_images", "64"}});
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    auto images = inference_opencv_test_images(data + "/t10k-images-idx3-ubyte.gz", 100);
    ASSERT_EQ(images.size(), 100u);
    int agree = 0;
    for (const auto &px : images) {
        TaskImage t(px, kSide, kSide, TIERD_PIXEL_GRAY8);
        ASSERT_EQ(infer(inst, t.task, "xs"), TIERD_OK) << inst.host().last_error;
        EXPECT_STREQ(out_.model, "xs");
        const int a = out_.top_class;
        ASSERT_EQ(infer(inst, t.task, "xs-q"), TIERD_OK) << inst.host().last_error;
        EXPECT_STREQ(out_.model, "xs-q");
        agree += out_.top_class == a ? 1 : 0;
    }
    EXPECT_GE(agree, 95) << "int8 agrees with fp32 on " << agree << " of 100";
    const auto *ops = inst.ops<tierd_inference_ops>();
    ASSERT_NE(ops->describe, nullptr);
    EXPECT_NE(std::string(ops->describe(inst.get())).find("xs-q"), std::string::npos);

    // Without calibration images an int8 entry is left out when all models load (the float
    // one still serves), and is an error when named.
    std::string text;
    {
        std::ifstream in(write("int8"));
        text.assign(std::istreambuf_iterator<char>(in), {});
    }
    const std::string from = "dataset_dir = \"" + data + "\"";
    text.replace(text.find(from), from.size(),
                 "dataset_dir = \"" + (dir_ / "none").string() + "\"");
    std::ofstream(dir_ / "manifest.toml") << text;
    Instance all(d_, {{"manifest", (dir_ / "manifest.toml").string()}});
    ASSERT_EQ(all.create_rc(), TIERD_OK) << all.host().last_error;
    const std::vector<uint8_t> px = images.front();
    TaskImage one(px, kSide, kSide, TIERD_PIXEL_GRAY8);
    EXPECT_EQ(infer(all, one.task, "xs"), TIERD_OK);
    EXPECT_EQ(infer(all, one.task, "xs-q"), TIERD_ENOENT);
    Instance named(d_, {{"manifest", (dir_ / "manifest.toml").string()}, {"models", "xs,xs-q"}});
    EXPECT_EQ(named.create_rc(), TIERD_EIO) << named.host().last_error;
    EXPECT_NE(named.host().last_error.find("calibration"), std::string::npos)
        << named.host().last_error;

    Instance bad(d_, {{"manifest", write("int4")}});
    EXPECT_EQ(bad.create_rc(), TIERD_ECONFIG);
    EXPECT_NE(bad.host().last_error.find("precision"), std::string::npos) << bad.host().last_error;
    EXPECT_NE(bad.host().last_error.find("int4"), std::string::npos) << bad.host().last_error;
}

} // namespace

// Split execution (ABI 1.2) on every cut the manifest lists: infer_head on the end, the
// tensor through the offload codec's f16 and i8 encodings (what travels on the wire),
// infer_tail on the tier. The fp32 split equals the whole model within 1e-4; the f16 one
// keeps the answer on nearly every image, i8 on most.
TEST_F(InferenceOpenCV, EverySplitOfEveryZooModelAnswersLikeTheWholeModel) {
    const std::string data = "/usr/share/datasets/fashion-mnist";
    const std::string manifest = std::string(ZOO_MODELS_DIR) + "/manifest.toml";
    if (!fs::exists(data + "/t10k-images-idx3-ubyte.gz") || !fs::exists(manifest))
        FAIL() << "needs dataset-fashion-mnist (scripts/install-deps.sh) and models/manifest.toml";
    auto images = inference_opencv_test_images(data + "/t10k-images-idx3-ubyte.gz", 50);
    ASSERT_EQ(images.size(), 50u);
    Instance inst(d_, {{"manifest", manifest}});
    ASSERT_EQ(inst.create_rc(), TIERD_OK) << inst.host().last_error;
    const auto *ops = inst.ops<tierd_inference_ops>();
    ASSERT_NE(ops->describe, nullptr);
    ASSERT_NE(ops->infer_head, nullptr);
    ASSERT_NE(ops->infer_tail, nullptr);
    const std::string described = ops->describe(inst.get());
    int cuts_checked = 0;
    for (const auto &m : described_cuts(described)) {
        for (int layer : m.second) {
            int agree_f16 = 0, agree_i8 = 0;
            double max_diff = 0;
            for (const auto &px : images) {
                TaskImage t(px, kSide, kSide, TIERD_PIXEL_GRAY8);
                ASSERT_EQ(infer(inst, t.task, m.first.c_str()), TIERD_OK);
                const std::vector<float> whole(scores_.begin(), scores_.begin() + 10);
                const int top = out_.top_class;

                std::vector<float> buffer(1 << 16);
                tierd_tensor head{};
                head.struct_size = sizeof head;
                head.data = buffer.data();
                head.capacity = static_cast<uint32_t>(buffer.size());
                tierd_inference_result meta{};
                meta.struct_size = sizeof meta;
                ASSERT_EQ(
                    ops->infer_head(inst.get(), &t.task, m.first.c_str(), layer, &head, &meta),
                    TIERD_OK)
                    << m.first << " cut " << layer << ": " << inst.host().last_error;
                buffer.resize(head.count);
                auto tail = [&](const std::vector<float> &values) {
                    tierd_tensor in = head;
                    in.data = const_cast<float *>(values.data());
                    in.count = in.capacity = static_cast<uint32_t>(values.size());
                    scores_.assign(16, -1.0f);
                    out_ = tierd_inference_result{};
                    out_.struct_size = sizeof out_;
                    out_.scores = scores_.data();
                    out_.score_capacity = 16;
                    EXPECT_EQ(
                        ops->infer_tail(inst.get(), &t.task, m.first.c_str(), layer, &in, &out_),
                        TIERD_OK)
                        << m.first << " cut " << layer << ": " << inst.host().last_error;
                    return out_.top_class;
                };
                EXPECT_EQ(tail(buffer), top);
                for (int c = 0; c < 10; ++c)
                    max_diff = std::max(max_diff, std::fabs(double(scores_[c]) - whole[c]));
                agree_f16 += tail(wire_round_trip(head, buffer, "f16")) == top;
                agree_i8 += tail(wire_round_trip(head, buffer, "i8")) == top;
            }
            EXPECT_LT(max_diff, 1e-4) << m.first << " cut " << layer;
            EXPECT_GE(agree_f16, 49) << m.first << " cut " << layer;
            EXPECT_GE(agree_i8, 45) << m.first << " cut " << layer;
            std::cout << "[ split    ] " << m.first << " cut " << layer << ": max diff " << max_diff
                      << ", f16 agrees " << agree_f16 << "/50, i8 " << agree_i8 << "/50\n";
            ++cuts_checked;
        }
    }
    EXPECT_GE(cuts_checked, 40);
    // Unknown cut: ENOENT with a reason; a tensor of the wrong shape: EINVAL.
    const std::vector<uint8_t> px = test_image();
    TaskImage t(px, kSide, kSide, TIERD_PIXEL_GRAY8);
    std::vector<float> buffer(1 << 16);
    tierd_tensor head{};
    head.struct_size = sizeof head;
    head.data = buffer.data();
    head.capacity = static_cast<uint32_t>(buffer.size());
    tierd_inference_result meta{};
    meta.struct_size = sizeof meta;
    EXPECT_EQ(ops->infer_head(inst.get(), &t.task, "cnn-xs", 999, &head, &meta), TIERD_ENOENT);
    EXPECT_NE(inst.host().last_error.find("no cut 999"), std::string::npos);
    ASSERT_EQ(ops->infer_head(inst.get(), &t.task, "cnn-xs", 2, &head, &meta), TIERD_OK);
    head.shape[0] += 1;
    scores_.assign(16, -1.0f);
    out_ = tierd_inference_result{};
    out_.struct_size = sizeof out_;
    out_.scores = scores_.data();
    out_.score_capacity = 16;
    EXPECT_EQ(ops->infer_tail(inst.get(), &t.task, "cnn-xs", 2, &head, &out_), TIERD_EINVAL);
    // A buffer too small: ERANGE with the count it needs.
    head.capacity = 10;
    EXPECT_EQ(ops->infer_head(inst.get(), &t.task, "cnn-xs", 2, &head, &meta), TIERD_ERANGE);
    EXPECT_EQ(head.count, 784u);
}
