#include "core/profiles.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <set>

namespace scheduler_mo {

using nlohmann::json;

const char *tier_name(Tier tier) {
    switch (tier) {
    case Tier::end: return "end";
    case Tier::edge: return "edge";
    case Tier::cloud: return "cloud";
    }
    return "?";
}

std::optional<Tier> parse_tier(std::string_view text) {
    if (text == "end")
        return Tier::end;
    if (text == "edge")
        return Tier::edge;
    if (text == "cloud")
        return Tier::cloud;
    return std::nullopt;
}

const CutProfile *ModelProfile::find_cut(int layer) const {
    for (const CutProfile &cut : cuts)
        if (cut.layer == layer)
            return &cut;
    return nullptr;
}

const ModelProfile *TierProfile::find_model(std::string_view model) const {
    for (const ModelProfile &candidate : models)
        if (candidate.name == model)
            return &candidate;
    return nullptr;
}

const TierProfile *ProfileSet::tier(Tier which) const {
    switch (which) {
    case Tier::end: return &end;
    case Tier::edge: return edge ? &*edge : nullptr;
    case Tier::cloud: return cloud ? &*cloud : nullptr;
    }
    return nullptr;
}

namespace {

[[noreturn]] void fail(const std::string &where, const std::string &what) {
    throw ProfileError(where + ": " + what);
}

std::string shown(const json &value) {
    std::string text = value.dump();
    return text.size() > 40 ? text.substr(0, 37) + "..." : text;
}

const json &member(const json &object, const char *key, const std::string &where) {
    auto it = object.find(key);
    if (it == object.end())
        fail(where, std::string("missing key '") + key + "'");
    return *it;
}

// A finite number in [low, high]; `what` says the range in words for the message.
double number(const json &object, const char *key, const std::string &where, double low,
              double high, const char *what) {
    const json &value = member(object, key, where);
    if (!value.is_number() || !std::isfinite(value.get<double>()) || value.get<double>() < low ||
        value.get<double>() > high)
        fail(where, std::string("key '") + key + "' must be " + what + ", got " + shown(value));
    return value.get<double>();
}

std::int64_t integer(const json &object, const char *key, const std::string &where,
                     std::int64_t low, const char *what) {
    const json &value = member(object, key, where);
    if (!value.is_number_integer() || value.get<std::int64_t>() < low)
        fail(where, std::string("key '") + key + "' must be " + what + ", got " + shown(value));
    return value.get<std::int64_t>();
}

std::string text(const json &object, const char *key, const std::string &where) {
    const json &value = member(object, key, where);
    if (!value.is_string() || value.get<std::string>().empty())
        fail(where,
             std::string("key '") + key + "' must be a non-empty string, got " + shown(value));
    return value.get<std::string>();
}

constexpr double kInf = HUGE_VAL;

CutProfile parse_cut(const json &doc, const std::string &where) {
    if (!doc.is_object())
        fail(where, "must be an object, got " + shown(doc));
    CutProfile cut;
    cut.layer = static_cast<int>(integer(doc, "layer", where, 0, "an integer >= 0"));
    cut.elements = integer(doc, "elements", where, 1, "an integer >= 1");
    cut.head_ms = number(doc, "head_ms", where, 0, kInf, "a number >= 0");
    cut.tail_ms = number(doc, "tail_ms", where, 0, kInf, "a number >= 0");
    cut.int8_agreement = number(doc, "int8_agreement", where, 0, 1, "a number in [0, 1]");
    return cut;
}

ModelProfile parse_model(const json &doc, const std::string &where) {
    if (!doc.is_object())
        fail(where, "must be an object, got " + shown(doc));
    ModelProfile model;
    model.name = text(doc, "name", where);
    // From here on the messages name the model rather than its position.
    std::string at = where + " (model '" + model.name + "')";
    if (auto kind = doc.find("kind"); kind != doc.end() && !kind->is_null()) {
        if (!kind->is_string() || (*kind != "classifier" && *kind != "detector"))
            fail(at, "key 'kind' must be \"classifier\" or \"detector\", got " + shown(*kind));
        model.detector = *kind == "detector";
    }
    if (model.detector) {
        // A detector has no top-1 (the profile command writes -1); its accuracy is map50.
        model.top1 = number(doc, "top1", at, -1, 1, "a number in [-1, 1]");
        if (auto map = doc.find("map50"); map != doc.end() && !map->is_null())
            model.map50 = number(doc, "map50", at, -1, 1, "a number in [-1, 1] (-1: unknown)");
    } else {
        model.top1 = number(doc, "top1", at, 0, 1, "a number in [0, 1]");
    }
    model.input_bytes = integer(doc, "input_bytes", at, 1, "an integer >= 1");
    model.full_ms = number(doc, "full_ms", at, 0, kInf, "a number >= 0");
    auto cuts = doc.find("cuts");
    if (cuts == doc.end() || cuts->is_null())
        return model; // a model that cannot be split
    if (!cuts->is_array())
        fail(at, "key 'cuts' must be an array, got " + shown(*cuts));
    std::set<int> layers;
    for (std::size_t i = 0; i < cuts->size(); ++i) {
        CutProfile cut = parse_cut((*cuts)[i], at + " cuts[" + std::to_string(i) + "]");
        if (!layers.insert(cut.layer).second)
            fail(at, "cut layer " + std::to_string(cut.layer) + " appears twice");
        model.cuts.push_back(cut);
    }
    return model;
}

} // namespace

TierProfile parse_tier_profile(const json &doc, const std::string &where) {
    if (!doc.is_object())
        fail(where, "must be a JSON object, got " + shown(doc));
    TierProfile profile;
    profile.v = static_cast<int>(integer(doc, "v", where, 0, "an integer"));
    if (profile.v != 1)
        fail(where, "unsupported version v=" + std::to_string(profile.v) + " (expected 1)");
    profile.device_id = text(doc, "device_id", where);
    std::string tier = text(doc, "tier", where);
    std::optional<Tier> parsed = parse_tier(tier);
    if (!parsed)
        fail(where, "key 'tier' must be \"end\", \"edge\" or \"cloud\", got \"" + tier + "\"");
    profile.tier = *parsed;
    if (doc.contains("slowdown")) {
        profile.slowdown = number(doc, "slowdown", where, 0, kInf, "a number > 0");
        if (profile.slowdown == 0)
            fail(where, "key 'slowdown' must be a number > 0, got 0");
    }
    if (doc.contains("runs"))
        profile.runs = static_cast<int>(integer(doc, "runs", where, 0, "an integer >= 0"));
    const json &models = member(doc, "models", where);
    if (!models.is_array())
        fail(where, "key 'models' must be an array, got " + shown(models));
    for (std::size_t i = 0; i < models.size(); ++i) {
        ModelProfile model = parse_model(models[i], where + " models[" + std::to_string(i) + "]");
        if (profile.find_model(model.name) != nullptr)
            fail(where, "model '" + model.name + "' appears twice");
        profile.models.push_back(std::move(model));
    }
    return profile;
}

ProfileSet parse_profile_set(const json &doc) {
    if (!doc.is_object())
        fail("profiles", "must be a JSON object {\"end\":..., \"edge\":..., \"cloud\":...}");
    for (auto it = doc.begin(); it != doc.end(); ++it)
        if (!parse_tier(it.key()))
            fail("profiles", "unknown key '" + it.key() + "' (expected end, edge, cloud)");
    ProfileSet set;
    auto one = [&](Tier tier) -> std::optional<TierProfile> {
        std::string key = tier_name(tier);
        auto it = doc.find(key);
        if (it == doc.end() || it->is_null()) {
            if (tier == Tier::end)
                fail("profiles", "missing key 'end' (the end device's profile is required)");
            return std::nullopt;
        }
        TierProfile profile = parse_tier_profile(*it, key + " profile");
        if (profile.tier != tier)
            fail(key + " profile", std::string("says tier \"") + tier_name(profile.tier) +
                                       "\" but is given under '" + key + "'");
        return profile;
    };
    set.end = *one(Tier::end);
    set.edge = one(Tier::edge);
    set.cloud = one(Tier::cloud);
    return set;
}

ProfileSet parse_profile_set_text(std::string_view text) {
    json doc;
    try {
        doc = json::parse(text.begin(), text.end());
    } catch (const json::parse_error &error) {
        fail("profiles", std::string("not valid JSON: ") + error.what());
    }
    return parse_profile_set(doc);
}

} // namespace scheduler_mo
