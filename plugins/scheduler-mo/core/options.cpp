#include "core/options.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace scheduler_mo {

const char *wire_name(Wire wire) {
    switch (wire) {
    case Wire::none: return "none";
    case Wire::f16: return "f16";
    case Wire::i8: return "i8";
    }
    return "?";
}

bool Settings::allows(Tier tier) const {
    switch (tier) {
    case Tier::end: return use_end;
    case Tier::edge: return use_edge;
    case Tier::cloud: return use_cloud;
    }
    return false;
}

bool Settings::allows_model(std::string_view name) const {
    return models.empty() || std::find(models.begin(), models.end(), name) != models.end();
}

Settings parse_settings(const ConfigMap &map) {
    Settings settings;
    if (auto tiers = get_string(map, "tiers")) {
        settings.use_end = settings.use_edge = settings.use_cloud = false;
        for (const std::string &item : split_list(*tiers)) {
            std::optional<Tier> tier = parse_tier(item);
            if (!tier)
                throw std::invalid_argument("tiers: unknown tier \"" + item +
                                            "\" (expected end, edge, cloud)");
            (*tier == Tier::end    ? settings.use_end
             : *tier == Tier::edge ? settings.use_edge
                                   : settings.use_cloud) = true;
        }
        if (!settings.use_end && !settings.use_edge && !settings.use_cloud)
            throw std::invalid_argument("tiers: name at least one of end, edge, cloud");
    }
    if (auto models = get_string(map, "models"))
        settings.models = split_list(*models);
    if (auto wire = get_string(map, "wire")) {
        settings.wire_f16 = settings.wire_i8 = false;
        for (const std::string &item : split_list(*wire)) {
            if (item == "f16")
                settings.wire_f16 = true;
            else if (item == "i8")
                settings.wire_i8 = true;
            else
                throw std::invalid_argument("wire: unknown precision \"" + item +
                                            "\" (expected f16, i8)");
        }
    }
    if (auto light = get_string(map, "light_model"))
        settings.light_model = *light;
    if (auto reply = get_number(map, "reply_bytes")) {
        if (*reply < 0)
            throw std::invalid_argument("reply_bytes: must be >= 0");
        settings.reply_bytes = *reply;
    }
    return settings;
}

bool usable(const TierLink &link) {
    return link.online && link.bandwidth_bps > 0 && std::isfinite(link.bandwidth_bps);
}

namespace {

std::string fixed_name(Tier tier, const std::string &model) {
    return std::string(tier_name(tier)) + ":" + model;
}

} // namespace

Settings frame_settings(const Settings &settings, const ProfileSet &profiles) {
    auto profiled_detector = [&profiles](const std::string &name) {
        for (Tier tier : {Tier::end, Tier::edge, Tier::cloud}) {
            const TierProfile *profile = profiles.tier(tier);
            const ModelProfile *model = profile != nullptr ? profile->find_model(name) : nullptr;
            if (model != nullptr && model->detector)
                return true;
        }
        return false;
    };
    Settings frames = settings;
    frames.detectors = true;
    frames.light_model.clear();
    frames.models.clear();
    for (const std::string &name : settings.models)
        if (profiled_detector(name) &&
            std::find(frames.models.begin(), frames.models.end(), name) == frames.models.end())
            frames.models.push_back(name);
    return frames;
}

std::vector<Option> enumerate_options(const ProfileSet &profiles, const Settings &settings) {
    // Models in order of first appearance: the end device's list, then the others'.
    std::vector<std::string> names;
    for (Tier tier : {Tier::end, Tier::edge, Tier::cloud})
        if (const TierProfile *profile = profiles.tier(tier))
            for (const ModelProfile &model : profile->models)
                // Images choose among classifiers, stream frames among detectors.
                if (model.detector == settings.detectors && settings.allows_model(model.name) &&
                    std::find(names.begin(), names.end(), model.name) == names.end())
                    names.push_back(model.name);

    std::vector<Option> options;
    const ModelProfile *none = nullptr;
    for (const std::string &name : names) {
        const ModelProfile *on_end = settings.use_end ? profiles.end.find_model(name) : none;
        bool light = !settings.light_model.empty() && name == settings.light_model;
        if (on_end != nullptr) {
            Option option;
            option.name = fixed_name(Tier::end, name);
            option.model = name;
            option.light = light;
            option.end_compute_ms = on_end->full_ms;
            option.top1 = on_end->accuracy();
            options.push_back(std::move(option));
        }
        for (Tier tier : {Tier::edge, Tier::cloud}) {
            const TierProfile *profile = settings.allows(tier) ? profiles.tier(tier) : nullptr;
            const ModelProfile *remote = profile != nullptr ? profile->find_model(name) : none;
            if (remote == nullptr)
                continue;
            Option option;
            option.name = fixed_name(tier, name);
            option.model = name;
            option.tier = tier;
            option.light = light;
            option.remote_compute_ms = remote->full_ms;
            option.upload_bytes = static_cast<double>(remote->input_bytes) + kRequestHeaderBytes;
            option.reply_bytes = settings.reply_bytes;
            option.top1 = remote->accuracy();
            options.push_back(std::move(option));
        }
        if (on_end == nullptr)
            continue;
        for (Tier tier : {Tier::edge, Tier::cloud}) {
            const TierProfile *profile = settings.allows(tier) ? profiles.tier(tier) : nullptr;
            const ModelProfile *remote = profile != nullptr ? profile->find_model(name) : none;
            if (remote == nullptr)
                continue;
            for (const CutProfile &head : on_end->cuts) {
                const CutProfile *tail = remote->find_cut(head.layer);
                if (tail == nullptr)
                    continue;
                for (Wire wire : {Wire::f16, Wire::i8}) {
                    if (!(wire == Wire::f16 ? settings.wire_f16 : settings.wire_i8))
                        continue;
                    Option option;
                    option.name = "split:" + fixed_name(tier, name) + ":" +
                                  std::to_string(head.layer) + ":" + wire_name(wire);
                    option.model = name;
                    option.tier = tier;
                    option.split = true;
                    option.wire = wire;
                    option.cut_layer = head.layer;
                    option.light = light;
                    option.end_compute_ms = head.head_ms;
                    option.remote_compute_ms = tail->tail_ms;
                    double elements = static_cast<double>(head.elements);
                    option.upload_bytes =
                        (wire == Wire::f16 ? elements * 2 : elements + kInt8ScaleBytes) +
                        kRequestHeaderBytes;
                    option.reply_bytes = settings.reply_bytes;
                    // The answer comes from the tail's tier; int8 agreement is a property
                    // of the head's output, measured where the head runs.
                    option.top1 = remote->top1;
                    option.wire_factor = wire == Wire::i8 ? head.int8_agreement : 1.0;
                    options.push_back(std::move(option));
                }
            }
        }
    }
    return options;
}

} // namespace scheduler_mo
