#include "model_manifest.hpp"

#include <openssl/evp.h>
#include <toml++/toml.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <stdexcept>

namespace inference_opencv {
namespace {

// The most values a cut tensor may hold: the offload wire's limit
// (kOffloadMaxTensorElements in agent/pipeline/offload_codec.hpp).
constexpr std::size_t kMaxCutElements = 16u * 1024 * 1024;

[[noreturn]] void fail(const std::string &file, const toml::node *node, const std::string &what) {
    std::string where = file;
    if (node != nullptr && node->source().begin)
        where += ":" + std::to_string(node->source().begin.line) + ":" +
                 std::to_string(node->source().begin.column);
    throw std::runtime_error(where + ": " + what);
}

// An input_shape entry as an int, 0 when it is not an integer within 1..INT_MAX.
// value_exact: toml++'s value<int64_t>() converts a float such as 1.2e84 with a cast
// that is undefined behaviour out of range (found by fuzz/manifest_fuzz.cpp).
int shape_int(const toml::node &node) {
    const int64_t v = node.value_exact<int64_t>().value_or(0);
    return v > 0 && v <= std::numeric_limits<int>::max() ? static_cast<int>(v) : 0;
}

ManifestCut read_cut(const std::string &path, const std::filesystem::path &dir,
                     const std::string &model, const toml::node &node) {
    const toml::table *t = node.as_table();
    const std::string what = "model '" + model + "': cut: ";
    if (t == nullptr)
        fail(path, &node, what + "expected a table");
    ManifestCut cut;
    auto layer = (*t)["layer"].value_exact<int64_t>(); // exact: see shape_int
    auto head = (*t)["head"].value<std::string>();
    auto tail = (*t)["tail"].value<std::string>();
    auto head_sha = (*t)["head_sha256"].value<std::string>();
    auto tail_sha = (*t)["tail_sha256"].value<std::string>();
    const toml::array *shape = (*t)["shape"].as_array();
    // layer <= INT_MAX: a larger one used to wrap to 0 or below in the int (found by
    // fuzz/manifest_fuzz.cpp).
    if (!layer || *layer <= 0 || *layer > std::numeric_limits<int>::max() || !head || !tail ||
        !head_sha || head_sha->size() != 64 || !tail_sha || tail_sha->size() != 64 ||
        shape == nullptr || shape->empty() || shape->size() > 4)
        fail(path, &node,
             what + "needs layer > 0, head, tail, 64-digit head_sha256 and tail_sha256, and a "
                    "shape of 1 to 4 dimensions");
    cut.layer = static_cast<int>(*layer);
    cut.elements = 1;
    for (const auto &d : *shape) {
        const int64_t v = d.value_exact<int64_t>().value_or(0);
        if (v <= 0 || v > 65536)
            fail(path, &d, what + "shape: dimensions must be 1..65536");
        cut.shape.push_back(static_cast<int>(v));
        cut.elements *= static_cast<std::size_t>(v);
        // Four dimensions of 65536 made 2^64, which wrapped to 0 elements (found by
        // fuzz/manifest_fuzz.cpp); no cut tensor is near this, nor could it be sent.
        if (cut.elements > kMaxCutElements)
            fail(path, shape,
                 what + "shape: more than " + std::to_string(kMaxCutElements) + " elements");
    }
    cut.tensor = (*t)["tensor"].value_or(std::string());
    cut.head_path = (dir / *head).string();
    cut.tail_path = (dir / *tail).string();
    cut.head_sha256 = *head_sha;
    cut.tail_sha256 = *tail_sha;
    return cut;
}

ManifestDetector read_detector(const std::string &path, const std::filesystem::path &dir,
                               const toml::node &node) {
    const toml::table *t = node.as_table();
    if (t == nullptr)
        fail(path, &node, "detector: expected a table");
    ManifestDetector d;
    auto name = (*t)["name"].value<std::string>();
    auto file = (*t)["file"].value<std::string>();
    auto sha = (*t)["sha256"].value<std::string>();
    if (!name || !file || !sha || sha->size() != 64)
        fail(path, &node, "detector: needs name, file and a 64-digit sha256");
    const std::string what = "detector '" + *name + "': ";
    const toml::array *shape = (*t)["input_shape"].as_array();
    if (shape == nullptr || shape->size() != 4)
        fail(path, &node, what + "input_shape: expected [N, C, H, W]");
    d.channels = shape_int(*shape->get(1));
    d.height = shape_int(*shape->get(2));
    d.width = shape_int(*shape->get(3));
    if (d.channels != 3 || d.width <= 0 || d.width > 8192 || d.height <= 0 || d.height > 8192)
        fail(path, shape, what + "input_shape: expected 3 channels and 1..8192 pixels a side");
    auto scale = (*t)["scale"].value<double>();
    auto mean = (*t)["mean"].value<double>();
    if (!scale || !mean)
        fail(path, &node, what + "scale and mean: expected numbers");
    const int64_t stride = (*t)["stride"].value_exact<int64_t>().value_or(0);
    const int64_t classes = (*t)["classes"].value_exact<int64_t>().value_or(0);
    if (stride <= 0 || stride > 256 || d.width % stride != 0 || d.height % stride != 0)
        fail(path, &node, what + "stride: expected 1..256 dividing the input width and height");
    if (classes <= 0 || classes > 100000)
        fail(path, &node, what + "classes: expected the number of classes (1..100000)");
    d.name = *name;
    d.path = (dir / *file).string();
    d.sha256 = *sha;
    d.scale = *scale;
    d.mean = *mean;
    d.stride = static_cast<int>(stride);
    d.classes = static_cast<int>(classes);
    d.map50 = (*t)["map50"].value_or(-1.0);
    if (const auto *features = (*t).get("features")) {
        const auto layer = features->value<std::string>();
        if (!layer || layer->empty())
            fail(path, features, what + "features: expected the name of a layer (a string)");
        d.features = *layer;
    }
    return d;
}

} // namespace

Manifest read_manifest(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw std::runtime_error(path + ": cannot be opened");
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return parse_manifest(text, path);
}

Manifest parse_manifest(std::string_view text, const std::string &path) {
    toml::table doc;
    try {
        doc = toml::parse(text, path);
    } catch (const toml::parse_error &e) {
        throw std::runtime_error(path + ":" + std::to_string(e.source().begin.line) + ": " +
                                 std::string(e.description()));
    }
    Manifest m;
    const toml::array *shape = doc["input_shape"].as_array();
    if (shape == nullptr || shape->size() != 4)
        fail(path, doc.get("input_shape"), "input_shape: expected [N, C, H, W]");
    m.channels = shape_int(*shape->get(1));
    m.height = shape_int(*shape->get(2));
    m.width = shape_int(*shape->get(3));
    if (m.channels != 1 && m.channels != 3)
        fail(path, doc.get("input_shape"), "input_shape: channels must be 1 or 3");
    if (m.width <= 0 || m.height <= 0)
        fail(path, doc.get("input_shape"), "input_shape: height and width must be positive");
    auto scale = doc["scale"].value<double>();
    auto mean = doc["mean"].value<double>();
    if (!scale || !mean)
        fail(path, nullptr, "scale and mean: expected numbers");
    m.scale = *scale;
    m.mean = *mean;
    m.dataset_dir = doc["dataset_dir"].value_or(std::string());
    const toml::array *models = doc["model"].as_array();
    if (models == nullptr || models->empty())
        fail(path, doc.get("model"), "no [[model]] entries");
    const std::filesystem::path dir = std::filesystem::path(path).parent_path();
    for (const auto &node : *models) {
        const toml::table *t = node.as_table();
        if (t == nullptr)
            fail(path, &node, "model: expected a table");
        ManifestModel entry;
        auto name = (*t)["name"].value<std::string>();
        auto file = (*t)["file"].value<std::string>();
        auto sha = (*t)["sha256"].value<std::string>();
        if (!name || !file || !sha || sha->size() != 64)
            fail(path, &node, "model: needs name, file and a 64-digit sha256");
        entry.name = *name;
        entry.path = (dir / *file).string();
        entry.sha256 = *sha;
        entry.top1 = (*t)["top1"].value_or(-1.0);
        entry.precision = (*t)["precision"].value_or(std::string("fp32"));
        if (entry.precision != "fp32" && entry.precision != "int8")
            fail(path, t->get("precision"),
                 "model '" + entry.name + "': precision: expected \"fp32\" or \"int8\", got \"" +
                     entry.precision + "\"");
        entry.parent = (*t)["parent"].value_or(std::string());
        entry.method = (*t)["method"].value_or(std::string());
        if (const toml::node *cuts_node = t->get("cut")) {
            const toml::array *cuts = cuts_node->as_array();
            if (cuts == nullptr)
                fail(path, cuts_node, "model '" + entry.name + "': cut: expected [[model.cut]]");
            for (const auto &c : *cuts)
                entry.cuts.push_back(read_cut(path, dir, entry.name, c));
        }
        m.models.push_back(std::move(entry));
    }
    if (const toml::node *detectors_node = doc.get("detector")) {
        const toml::array *detectors = detectors_node->as_array();
        if (detectors == nullptr)
            fail(path, detectors_node, "detector: expected [[detector]] tables");
        for (const auto &node : *detectors)
            m.detectors.push_back(read_detector(path, dir, node));
    }
    return m;
}

std::string file_sha256(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw std::runtime_error(path + ": cannot be opened");
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
        throw std::runtime_error("sha256: cannot initialise the digest");
    std::array<char, 1 << 16> buf{};
    while (in) {
        in.read(buf.data(), buf.size());
        if (in.gcount() > 0)
            EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(in.gcount()));
    }
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx.get(), digest.data(), &len);
    std::string hex;
    char two[3];
    for (unsigned int i = 0; i < len; ++i) {
        std::snprintf(two, sizeof two, "%02x", digest[i]);
        hex += two;
    }
    return hex;
}

} // namespace inference_opencv
