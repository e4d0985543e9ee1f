#include "model_manifest.hpp"

#include <openssl/evp.h>
#include <toml++/toml.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>

namespace inference_opencv {
namespace {

[[noreturn]] void fail(const std::string &file, const toml::node *node, const std::string &what) {
    std::string where = file;
    if (node != nullptr && node->source().begin)
        where += ":" + std::to_string(node->source().begin.line) + ":" +
                 std::to_string(node->source().begin.column);
    throw std::runtime_error(where + ": " + what);
}

} // namespace

Manifest read_manifest(const std::string &path) {
    toml::table doc;
    try {
        doc = toml::parse_file(path);
    } catch (const toml::parse_error &e) {
        throw std::runtime_error(path + ":" + std::to_string(e.source().begin.line) + ": " +
                                 std::string(e.description()));
    }
    Manifest m;
    const toml::array *shape = doc["input_shape"].as_array();
    if (shape == nullptr || shape->size() != 4)
        fail(path, doc.get("input_shape"), "input_shape: expected [N, C, H, W]");
    m.channels = static_cast<int>(shape->get(1)->value_or<int64_t>(0));
    m.height = static_cast<int>(shape->get(2)->value_or<int64_t>(0));
    m.width = static_cast<int>(shape->get(3)->value_or<int64_t>(0));
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
        m.models.push_back(std::move(entry));
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
