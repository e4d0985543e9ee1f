#include "agent/core/profile_book.hpp"

#include "agent/common/untrusted_json.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace tierd {

namespace {

constexpr double kScaleAlpha = 0.1;    // EWMA weight of one observation
constexpr double kScaleMove = 0.10;    // re-plan when the factor moved this much
constexpr double kScaleBounds = 100.0; // ignore observations off by more than this
// A factor no observation confirms relaxes towards 1 from this long after the last one,
// with this half-life; combined() looks at most once per kRelaxCheckNs.
constexpr std::uint64_t kRelaxAfterNs = 5'000'000'000ULL;
constexpr double kRelaxHalfLifeNs = 20e9;
constexpr std::uint64_t kRelaxCheckNs = 1'000'000'000ULL;

// A present key must be a number (json::value() throws on anything else, null included);
// an absent one is read as its default.
bool number_or_absent(const nlohmann::json &object, const char *key) {
    auto it = object.find(key);
    return it == object.end() || it->is_number();
}

} // namespace

std::string profile_document_error(const nlohmann::json &doc) {
    if (!doc.is_object())
        return "not a JSON object";
    auto models = doc.find("models");
    if (models == doc.end() || !models->is_array())
        return "\"models\" must be an array";
    for (std::size_t i = 0; i < models->size(); ++i) {
        const auto &m = (*models)[i];
        const std::string at = "models[" + std::to_string(i) + "]";
        if (!m.is_object() || !m.contains("name") || !m["name"].is_string())
            return at + " must be an object with a string \"name\"";
        if (!number_or_absent(m, "full_ms"))
            return at + ".full_ms must be a number";
        auto cuts = m.find("cuts");
        if (cuts == m.end() || cuts->is_null())
            continue;
        if (!cuts->is_array())
            return at + ".cuts must be an array";
        for (const auto &c : *cuts)
            if (!c.is_object() || !number_or_absent(c, "head_ms") ||
                !number_or_absent(c, "tail_ms"))
                return at + ".cuts: each cut must be an object whose head_ms and tail_ms are "
                            "numbers";
    }
    return "";
}

ProfileBook::ProfileBook(std::string own_device, Clock clock)
    : clock_(clock ? std::move(clock) : Clock([] {
          return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                std::chrono::steady_clock::now().time_since_epoch())
                                                .count());
      })),
      own_device_(std::move(own_device)) {}

void ProfileBook::set_own(nlohmann::json profile) {
    own_ = std::move(profile);
    scales_.erase(""); // a fresh measurement
    changed();
}

const nlohmann::json *ProfileBook::profile_of(const std::string &device) const {
    if (device.empty() || device == own_device_)
        return own_.is_object() ? &own_ : nullptr;
    auto it = remote_.find(device);
    return it == remote_.end() ? nullptr : &it->second;
}

void ProfileBook::observe(const std::string &device, const std::string &model, double ms) {
    const nlohmann::json *profile = profile_of(device);
    if (profile == nullptr || !(ms > 0.0))
        return;
    double profiled = -1.0;
    for (const auto &m : (*profile)["models"])
        if (m.value("name", "") == model)
            profiled = m.value("full_ms", -1.0);
    if (!(profiled > 0.0))
        return;
    const double ratio = ms / profiled;
    if (ratio > kScaleBounds || ratio < 1.0 / kScaleBounds)
        return; // a stall or a clock oddity, not the device's speed
    Scale &s = scales_[device == own_device_ ? std::string() : device];
    s.ewma = s.seen ? s.ewma + kScaleAlpha * (ratio - s.ewma) : ratio;
    s.seen = true;
    s.observed_ns = s.relaxed_ns = clock_();
    if (std::abs(s.ewma - s.applied) > kScaleMove * s.applied) {
        s.applied = s.ewma;
        changed();
    }
}

nlohmann::json ProfileBook::scaled(const nlohmann::json &profile, double factor) {
    if (factor == 1.0)
        return profile;
    nlohmann::json out = profile;
    for (auto &m : out["models"]) {
        m["full_ms"] = m.value("full_ms", 0.0) * factor;
        for (auto &c : m["cuts"]) {
            c["head_ms"] = c.value("head_ms", 0.0) * factor;
            c["tail_ms"] = c.value("tail_ms", 0.0) * factor;
        }
    }
    out["scale"] = factor;
    return out;
}

std::string ProfileBook::on_message(const std::string &device, const std::string &payload) {
    if (device == own_device_)
        return "";
    if (payload.empty()) {
        if (remote_.erase(device) > 0)
            changed();
        return "";
    }
    // A profile nests 4 levels; deeper is refused before the book copies or dumps it (both
    // recurse per level).
    auto doc = parse_untrusted_json(payload, 16);
    if (std::string why = profile_document_error(doc); !why.empty())
        return "not a profile document: " + why;
    if (!doc.contains("tier") || !doc["tier"].is_string())
        return "not a profile document: \"tier\" must be a string";
    remote_[device] = std::move(doc);
    changed();
    return "";
}

void ProfileBook::set_online(const std::map<std::string, std::string> &online_roles) {
    if (online_roles == online_)
        return;
    online_ = online_roles;
    changed();
}

void ProfileBook::relax(std::uint64_t now_ns) {
    for (auto &[device, s] : scales_) {
        const std::uint64_t from = std::max(s.observed_ns + kRelaxAfterNs, s.relaxed_ns);
        if (now_ns <= from)
            continue;
        s.ewma = 1.0 + (s.ewma - 1.0) * std::pow(0.5, static_cast<double>(now_ns - from) /
                                                           kRelaxHalfLifeNs);
        s.relaxed_ns = now_ns;
        if (std::abs(s.ewma - s.applied) > kScaleMove * s.applied) {
            s.applied = s.ewma;
            changed();
        }
    }
}

std::pair<const std::string *, std::uint64_t> ProfileBook::combined() {
    // Called for every decision: the relaxation is looked at once a second.
    if (!scales_.empty()) {
        const std::uint64_t now = clock_();
        if (now - relax_checked_ns_ >= kRelaxCheckNs) {
            relax_checked_ns_ = now;
            relax(now);
        }
    }
    if (dirty_) {
        dirty_ = false;
        auto factor = [this](const std::string &device) {
            auto it = scales_.find(device);
            return it == scales_.end() ? 1.0 : it->second.applied;
        };
        nlohmann::json doc = {
            {"end", own_.is_object() ? scaled(own_, factor("")) : nlohmann::json()},
            {"edge", nullptr},
            {"cloud", nullptr}};
        // One profile per upstream tier: the first online agent of that role that published
        // one (agents of one tier share requests, so they should be alike).
        // Without its own profile this agent cannot predict its share of any placement.
        const bool any = own_.is_object();
        for (const auto &[device, role] : online_) {
            auto it = remote_.find(device);
            if (it == remote_.end() || (role != "edge" && role != "cloud") || !doc[role].is_null())
                continue;
            doc[role] = scaled(it->second, factor(device));
        }
        std::string text = any ? doc.dump() : std::string();
        if (text != combined_) {
            combined_ = std::move(text);
            ++generation_;
        }
    }
    return {combined_.empty() ? nullptr : &combined_, generation_};
}

nlohmann::json ProfileBook::summary() const {
    nlohmann::json remote = nlohmann::json::object();
    for (const auto &[device, doc] : remote_)
        remote[device] = doc.value("tier", "");
    nlohmann::json scale = nlohmann::json::object();
    for (const auto &[device, s] : scales_)
        scale[device.empty() ? own_device_ : device] = s.applied;
    return {{"own", own_.is_object()}, {"remote", remote}, {"scale", scale}};
}

} // namespace tierd
