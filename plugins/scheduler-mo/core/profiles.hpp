// The scheduler's inputs measured per tier: one profile document per tier, written by that
// tier's profiling command, and the set of the three.
//
//   {"v":1,"device_id":"edge-1","tier":"edge","slowdown":1.0,"runs":20,
//    "models":[{"name":"resnet-20","top1":0.9244,"input_bytes":784,"full_ms":0.71,
//      "cuts":[{"layer":12,"elements":3136,"head_ms":0.2,"tail_ms":0.5,
//               "int8_agreement":0.995}]},
//      {"name":"det-light","kind":"detector","top1":-1,"map50":0.25,"input_bytes":168960,
//       "full_ms":9.8,"cuts":[]}]}
//
// A model (or a cut) is available on a tier when it appears in that tier's profile. Times
// are used as measured: `slowdown` and `runs` describe how they were measured and are kept
// for display only.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace scheduler_mo {

enum class Tier : std::uint8_t { end = 0, edge = 1, cloud = 2 };

const char *tier_name(Tier tier);
std::optional<Tier> parse_tier(std::string_view text);

struct CutProfile {
    int layer = 0;
    std::int64_t elements = 0; // values in the tensor that crosses the cut
    double head_ms = 0;        // input -> cut on this tier
    double tail_ms = 0;        // cut -> output on this tier
    double int8_agreement = 1; // share of images whose top class survives an int8 tensor
};

struct ModelProfile {
    std::string name;
    // A video detector ("kind": "detector"): it has no top-1 ("top1" may be -1) and its
    // accuracy is "map50" (-1 = unknown). Images are placed among classifiers, stream frames
    // (key_frames = off) among detectors; key-frame scheduling reads detectors' times.
    bool detector = false;
    double map50 = -1;
    double top1 = 0;
    std::int64_t input_bytes = 0;
    double full_ms = 0;
    std::vector<CutProfile> cuts;

    const CutProfile *find_cut(int layer) const;
    // What an option built on it expects to get right: a classifier's top-1, a detector's
    // mAP@0.5 (0 where its profile does not know it).
    double accuracy() const { return detector ? std::max(0.0, map50) : top1; }
};

struct TierProfile {
    int v = 1;
    std::string device_id;
    Tier tier = Tier::end;
    double slowdown = 1;
    int runs = 0;
    std::vector<ModelProfile> models;

    const ModelProfile *find_model(std::string_view name) const;
};

// {"end": {...}, "edge": {...}|null, "cloud": {...}|null}
struct ProfileSet {
    TierProfile end;
    std::optional<TierProfile> edge;
    std::optional<TierProfile> cloud;

    const TierProfile *tier(Tier which) const;
};

// Every parse failure: the message names the tier, the model (and cut) and the key.
class ProfileError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// One tier's document. `where` prefixes the messages (e.g. "edge profile").
TierProfile parse_tier_profile(const nlohmann::json &doc, const std::string &where = "profile");
ProfileSet parse_profile_set(const nlohmann::json &doc);
// The same from text; a JSON syntax error is a ProfileError too.
ProfileSet parse_profile_set_text(std::string_view text);

} // namespace scheduler_mo
