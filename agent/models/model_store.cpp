#include "agent/models/model_store.hpp"

#include "agent/common/utc_time.hpp"
#include "common/sha256.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

namespace tierd {
namespace fs = std::filesystem;
namespace {

constexpr std::uint64_t kSpareBytes = 1 << 20;

// Names and versions become file names: letters, digits, '.', '_', '-'; not "." or "..".
bool safe_component(const std::string &s) {
    if (s.empty() || s.size() > 64 || s[0] == '.')
        return false;
    for (char c : s)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-')
            return false;
    return true;
}

bool hex_digest(const std::string &s) {
    if (s.size() != 64)
        return false;
    for (char c : s)
        if (!std::isxdigit(static_cast<unsigned char>(c)) ||
            std::isupper(static_cast<unsigned char>(c)))
            return false;
    return true;
}

// Written whole: a reader (or a restart) sees the old file or the new one.
void write_atomically(const fs::path &path, const std::string &text) {
    const fs::path tmp = path.string() + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out << text;
        if (!out.flush())
            throw ModelStoreError{"io_error", "cannot write " + tmp.string()};
    }
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec)
        throw ModelStoreError{"io_error", "cannot rename " + tmp.string() + ": " + ec.message()};
}

std::string key(const std::string &name, const std::string &version) {
    return name + "@" + version;
}

} // namespace

std::string sha256_of_file(const std::string &path) {
    try {
        return sha256_file_hex(path);
    } catch (const std::runtime_error &e) {
        throw ModelStoreError{"io_error", e.what()};
    }
}

ModelStore::ModelStore(std::string dir) : dir_(std::move(dir)) {
    std::error_code ec;
    fs::create_directories(fs::path(dir_) / "staging", ec);
    if (ec)
        throw ModelStoreError{"io_error", "cannot create " + dir_ + ": " + ec.message()};
    const fs::path file = fs::path(dir_) / "store.json";
    if (!fs::exists(file))
        return;
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    const auto doc = nlohmann::json::parse(text.str(), nullptr, false);
    try {
        if (!doc.is_object() || !doc.contains("models") || !doc["models"].is_object())
            throw std::runtime_error("not a store");
        base_manifest_ = doc.value("base_manifest", "");
        for (const auto &[name, m] : doc["models"].items()) {
            StoredModel s;
            s.active = m.value("active", "");
            s.previous = m.value("previous", "");
            s.pinned = m.value("pinned", false);
            const nlohmann::json versions = m.value("versions", nlohmann::json::object());
            for (const auto &[version, v] : versions.items())
                s.versions[version] = ModelVersion{
                    v.at("sha256").get<std::string>(), v.at("bytes").get<std::uint64_t>(),
                    v.value("received_at", ""), v.value("rejected", false), v.value("note", "")};
            if (safe_component(name))
                models_[name] = std::move(s);
        }
    } catch (const std::exception &) {
        models_.clear();
        fs::rename(file, fs::path(dir_) / "store.json.corrupt", ec);
    }
}

std::vector<std::string> ModelStore::recover() {
    std::lock_guard lock(mutex_);
    std::vector<std::string> done;
    std::error_code ec;
    for (const auto &entry : fs::directory_iterator(fs::path(dir_) / "staging", ec)) {
        done.push_back("discarded an unfinished upload: " + entry.path().filename().string());
        fs::remove(entry.path(), ec);
    }
    uploads_.clear();
    bool changed = false;
    for (auto &[name, m] : models_) {
        for (const std::string *candidate : {&m.active, &m.previous}) {
            if (candidate->empty())
                break;
            const auto v = m.versions.find(*candidate);
            std::string why;
            try {
                if (v == m.versions.end())
                    why = "it is not in the store";
                else if (fs::file_size(file(name, *candidate)) != v->second.bytes ||
                         sha256_of_file(file(name, *candidate)) != v->second.sha256)
                    why = "its file does not match its sha256";
            } catch (const std::exception &e) {
                why = e.what();
            } catch (const ModelStoreError &e) {
                why = e.message;
            }
            if (why.empty()) {
                if (candidate != &m.active) {
                    done.push_back(name + ": back to version " + *candidate);
                    m.active = *candidate;
                    m.previous.clear();
                    changed = true;
                }
                break;
            }
            done.push_back(name + ": version " + *candidate + " cannot serve (" + why + ")");
            if (v != m.versions.end())
                v->second.rejected = true, v->second.note = why;
            if (candidate == &m.previous || m.previous.empty()) {
                done.push_back(name + ": back to the shipped model");
                m.active.clear();
                m.previous.clear();
                changed = true;
                break;
            }
        }
    }
    if (changed)
        save();
    return done;
}

std::string ModelStore::staging_path(const std::string &name, const std::string &version) const {
    return (fs::path(dir_) / "staging" / (key(name, version) + ".part")).string();
}

std::string ModelStore::file(const std::string &name, const std::string &version) const {
    return (fs::path(dir_) / name / (version + ".onnx")).string();
}

void ModelStore::begin(const std::string &name, const std::string &version,
                       const std::string &sha256, std::uint64_t size) {
    std::lock_guard lock(mutex_);
    if (!safe_component(name) || !safe_component(version))
        throw ModelStoreError{"invalid_args", "\"name\" and \"version\" must be 1-64 letters, "
                                              "digits, '.', '_' or '-' (not starting with '.')"};
    if (!hex_digest(sha256))
        throw ModelStoreError{"invalid_args", "\"sha256\" must be 64 lowercase hex digits"};
    if (size == 0)
        throw ModelStoreError{"invalid_args", "\"size\" must be above 0"};
    if (auto m = models_.find(name); m != models_.end())
        if (auto v = m->second.versions.find(version); v != m->second.versions.end()) {
            if (v->second.sha256 != sha256)
                throw ModelStoreError{"exists", name + " version " + version +
                                                    " is stored with other bytes (sha256 " +
                                                    v->second.sha256 + "): give it a new version"};
        }
    std::error_code ec;
    const auto space = fs::space(dir_, ec);
    if (ec)
        throw ModelStoreError{"io_error",
                              "cannot read the free space of " + dir_ + ": " + ec.message()};
    if (space.available < 2 * size + kSpareBytes)
        throw ModelStoreError{"no_space", std::to_string(size) + " bytes need " +
                                              std::to_string(2 * size + kSpareBytes) + " free in " +
                                              dir_ + "; " + std::to_string(space.available) +
                                              " are"};
    std::ofstream out(staging_path(name, version), std::ios::binary | std::ios::trunc);
    if (!out)
        throw ModelStoreError{"io_error", "cannot create " + staging_path(name, version)};
    uploads_[key(name, version)] = Upload{sha256, size, 0};
}

std::uint64_t ModelStore::append(const std::string &name, const std::string &version,
                                 std::uint64_t offset, const std::string &bytes) {
    std::lock_guard lock(mutex_);
    auto u = uploads_.find(key(name, version));
    if (u == uploads_.end())
        throw ModelStoreError{"out_of_order", "no upload of " + key(name, version) +
                                                  " is in progress: send offset 0 first"};
    if (offset != u->second.received)
        throw ModelStoreError{"out_of_order", "expected offset " +
                                                  std::to_string(u->second.received) + ", got " +
                                                  std::to_string(offset)};
    if (u->second.received + bytes.size() > u->second.size)
        throw ModelStoreError{"invalid_args", "the chunk runs past \"size\" (" +
                                                  std::to_string(u->second.size) + " bytes)"};
    std::ofstream out(staging_path(name, version), std::ios::binary | std::ios::app);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out.flush()) {
        uploads_.erase(u);
        throw ModelStoreError{"io_error", "cannot write " + staging_path(name, version)};
    }
    u->second.received += bytes.size();
    return u->second.received;
}

void ModelStore::finish(const std::string &name, const std::string &version) {
    std::lock_guard lock(mutex_);
    auto u = uploads_.find(key(name, version));
    if (u == uploads_.end() || u->second.received != u->second.size)
        throw ModelStoreError{"out_of_order", key(name, version) + " is not complete"};
    const Upload upload = u->second;
    uploads_.erase(u);
    const std::string part = staging_path(name, version);
    std::error_code ec;
    const std::string digest = sha256_of_file(part);
    if (digest != upload.sha256) {
        fs::remove(part, ec);
        throw ModelStoreError{"verify_failed", key(name, version) + ": the bytes have sha256 " +
                                                   digest + ", the update says " + upload.sha256 +
                                                   "; discarded"};
    }
    fs::create_directories(fs::path(dir_) / name, ec);
    fs::rename(part, file(name, version), ec);
    if (ec)
        throw ModelStoreError{"io_error", "cannot move " + part + " into place: " + ec.message()};
    auto &m = models_[name];
    m.versions[version] = ModelVersion{upload.sha256, upload.size, utc_now_iso8601(), false, ""};
    save();
}

std::optional<std::pair<std::uint64_t, std::uint64_t>>
ModelStore::upload(const std::string &name, const std::string &version) const {
    std::lock_guard lock(mutex_);
    auto u = uploads_.find(key(name, version));
    if (u == uploads_.end())
        return std::nullopt;
    return std::make_pair(u->second.received, u->second.size);
}

void ModelStore::activate(const std::string &name, const std::string &version, bool pinned,
                          const std::string &base_manifest, const std::string &note) {
    std::lock_guard lock(mutex_);
    auto &m = models_[name];
    if (!version.empty()) {
        auto v = m.versions.find(version);
        if (v == m.versions.end())
            throw ModelStoreError{"not_found", name + " has no version " + version + " here"};
    }
    if (m.active != version)
        m.previous = m.active;
    m.active = version;
    m.pinned = pinned;
    if (!version.empty()) {
        m.versions[version].rejected = false;
        if (!note.empty())
            m.versions[version].note = note;
    }
    if (!base_manifest.empty())
        base_manifest_ = base_manifest;
    save();
}

void ModelStore::reject(const std::string &name, const std::string &version,
                        const std::string &why) {
    std::lock_guard lock(mutex_);
    auto m = models_.find(name);
    if (m == models_.end())
        return;
    if (auto v = m->second.versions.find(version); v != m->second.versions.end()) {
        v->second.rejected = true;
        v->second.note = why;
        save();
    }
}

void ModelStore::unpin(const std::string &name) {
    std::lock_guard lock(mutex_);
    if (auto m = models_.find(name); m != models_.end() && m->second.pinned) {
        m->second.pinned = false;
        save();
    }
}

const StoredModel *ModelStore::find(const std::string &name) const {
    std::lock_guard lock(mutex_);
    auto m = models_.find(name);
    return m == models_.end() ? nullptr : &m->second;
}

bool ModelStore::any_active() const {
    std::lock_guard lock(mutex_);
    for (const auto &[name, m] : models_)
        if (!m.active.empty())
            return true;
    return false;
}

std::string ModelStore::overlay(const std::string &base_manifest,
                                const std::map<std::string, std::string> &also) const {
    std::lock_guard lock(mutex_);
    toml::table doc;
    try {
        doc = toml::parse_file(base_manifest);
    } catch (const toml::parse_error &e) {
        throw ModelStoreError{"io_error", base_manifest + ": " + std::string(e.description())};
    }
    const fs::path base_dir = fs::absolute(fs::path(base_manifest)).parent_path();
    // The overlay lives elsewhere: every relative path of the base becomes absolute.
    auto absolute = [&](toml::table &t, const char *k) {
        if (auto *s = t[k].as_string(); s != nullptr && fs::path(s->get()).is_relative())
            *s = (base_dir / s->get()).string();
    };
    absolute(doc, "dataset_dir");
    std::map<std::string, std::string> wanted;
    for (const auto &[name, m] : models_)
        if (!m.active.empty())
            wanted[name] = m.active;
    for (const auto &[name, version] : also)
        wanted[name] = version;
    std::map<std::string, bool> seen;
    for (const char *kind : {"model", "detector"}) {
        auto *array = doc[kind].as_array();
        if (array == nullptr)
            continue;
        for (auto &node : *array) {
            auto *t = node.as_table();
            if (t == nullptr)
                continue;
            absolute(*t, "file");
            if (auto *cuts = (*t)["cut"].as_array())
                for (auto &c : *cuts)
                    if (auto *ct = c.as_table()) {
                        absolute(*ct, "head");
                        absolute(*ct, "tail");
                    }
            const std::string name = (*t)["name"].value_or(std::string());
            auto w = wanted.find(name);
            if (w == wanted.end() || w->second.empty())
                continue;
            const auto m = models_.find(name);
            const ModelVersion *v = nullptr;
            if (m != models_.end())
                if (auto found = m->second.versions.find(w->second);
                    found != m->second.versions.end())
                    v = &found->second;
            if (v == nullptr)
                throw ModelStoreError{"not_found", name + " has no version " + w->second + " here"};
            t->insert_or_assign("file", file(name, w->second));
            t->insert_or_assign("sha256", v->sha256);
            t->insert_or_assign("bytes", static_cast<std::int64_t>(v->bytes));
            t->insert_or_assign("version", w->second);
            t->erase("cut"); // the shipped model's split files do not fit the new one
            for (const char *measured : {"top1", "top1_first1000", "outcomes"})
                t->erase(measured);
            seen[name] = true;
        }
    }
    for (const auto &[name, version] : wanted)
        if (!version.empty() && !seen[name])
            throw ModelStoreError{"invalid_args", base_manifest + " has no model named " + name};
    std::ostringstream text;
    text << "# Generated by tierd's model store (docs/models.md) from " << base_manifest
         << "; do not edit.\n"
         << doc << "\n";
    const std::string body = text.str();
    const std::size_t hash = std::hash<std::string>{}(body);
    char name[48];
    std::snprintf(name, sizeof name, "manifest-%016zx.toml", hash);
    const fs::path path = fs::path(dir_) / name;
    write_atomically(path, body);
    // Keep the overlays still named by a config (this one and the one before); older go.
    std::error_code ec;
    std::vector<fs::directory_entry> overlays;
    for (const auto &entry : fs::directory_iterator(dir_, ec))
        if (entry.path().filename().string().rfind("manifest-", 0) == 0)
            overlays.push_back(entry);
    std::sort(overlays.begin(), overlays.end(), [](const auto &a, const auto &b) {
        return a.last_write_time() > b.last_write_time();
    });
    for (std::size_t i = 4; i < overlays.size(); ++i)
        fs::remove(overlays[i].path(), ec);
    return path.string();
}

nlohmann::json ModelStore::to_json() const {
    std::lock_guard lock(mutex_);
    return json_locked();
}

nlohmann::json ModelStore::json_locked() const {
    nlohmann::json models = nlohmann::json::object();
    for (const auto &[name, m] : models_) {
        nlohmann::json versions = nlohmann::json::object();
        for (const auto &[version, v] : m.versions)
            versions[version] = {{"sha256", v.sha256},
                                 {"bytes", v.bytes},
                                 {"received_at", v.received_at},
                                 {"rejected", v.rejected},
                                 {"note", v.note}};
        models[name] = {{"active", m.active},
                        {"previous", m.previous},
                        {"pinned", m.pinned},
                        {"versions", versions}};
    }
    nlohmann::json uploads = nlohmann::json::array();
    for (const auto &[k, u] : uploads_)
        uploads.push_back({{"upload", k}, {"received", u.received}, {"size", u.size}});
    return {{"models", models}, {"uploads", uploads}, {"base_manifest", base_manifest_}};
}

bool ModelStore::is_overlay(const std::string &path) const {
    const fs::path p(path);
    return p.parent_path() == fs::path(dir_) && p.filename().string().rfind("manifest-", 0) == 0;
}

void ModelStore::save() const {
    nlohmann::json doc = json_locked();
    doc.erase("uploads");
    doc["base_manifest"] = base_manifest_;
    write_atomically(fs::path(dir_) / "store.json", doc.dump(1) + "\n");
}

} // namespace tierd
