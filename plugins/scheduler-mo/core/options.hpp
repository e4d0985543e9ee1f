// The placements the scheduler chooses among and what each is predicted to cost.
//
// Options, for each model m (in the order the profiles list them: end, then models only the
// edge or cloud has):
//   end:m                       the whole model on this device
//   edge:m, cloud:m             the whole image sent up, the whole model there
//   split:edge:m:L:w, split:cloud:m:L:w
//                               layers up to cut L on this device, the tensor sent as w
//                               (f16 or i8), the rest on that tier
// A split needs the cut in both the end profile (head) and the remote one (tail), and both
// tiers allowed. The index of an option in enumerate_options() is stable for given
// profiles and settings.
//
// Predictions (x = 1 / bandwidth_bps of the remote tier):
//   latency_ms  end:   local_queue_ms + full_ms[end]
//               other: head_ms[end] (split) + upload_ms + rtt_ms + queue_ms + tail_ms or
//                      full_ms[tier] + reply_ms
//               where upload_ms = upload_bytes * 8 * 1000 * x and the reply uses the same
//               (upload) bandwidth: we only measure one direction, and replies are small.
//               The head of a split does not wait for local_queue_ms: it is short, and
//               leaving it out keeps every remote option's cost a line in x alone.
//   energy_j    on this device only: compute_w * end_ms / 1000 + tx_w * upload_s
//               + rx_w * reply_s
//   bytes       upload + reply; upload = input_bytes + 200 (whole image) or
//               elements * 2 (f16) / elements + 8 (i8, plus the scale) + 200 (split)
//   accuracy    top1 of the tier that produces the answer, times int8_agreement for an i8
//               split; for the light model, light_ok_probability replaces top1 when known.
// An option is infeasible while its remote tier is offline (or has no usable bandwidth).
#pragma once

#include "core/config_map.hpp"
#include "core/profiles.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace scheduler_mo {

enum class Wire : std::uint8_t { none, f16, i8 };
const char *wire_name(Wire wire);

// The whole-image request and split tensor header on the wire.
inline constexpr double kRequestHeaderBytes = 200;
// An int8 tensor carries its scale and zero point.
inline constexpr double kInt8ScaleBytes = 8;

struct Settings {
    bool use_end = true;
    bool use_edge = true;
    bool use_cloud = true;
    std::vector<std::string> models; // empty = every model in the profiles
    bool wire_f16 = true;
    bool wire_i8 = true;
    std::string light_model; // the model light_ok_probability refers to; "" = none
    double reply_bytes = 200;
    // Not a configuration key: set for the options of a video stream's frames, which choose
    // among the profiles' detectors (an option's top1 is then the detector's map50)
    // instead of their classifiers.
    bool detectors = false;

    bool allows(Tier tier) const;
    bool allows_model(std::string_view name) const;
};

// Keys: tiers ("end,edge,cloud"), models ("a,b"; "" = all), wire ("f16,i8"), light_model,
// reply_bytes. Absent keys keep their defaults; other keys are ignored. Throws
// std::invalid_argument naming the key.
Settings parse_settings(const ConfigMap &map);

// The settings for a stream's frames: detectors only; `models` keeps the detectors it
// names (none named: every profiled detector); no light model.
Settings frame_settings(const Settings &settings, const ProfileSet &profiles);

// The end device's power above idle, in watts.
struct DevicePower {
    double compute_w = 0;
    double tx_w = 0;
    double rx_w = 0;
};

struct TierLink {
    bool online = false;
    double bandwidth_bps = 0; // upload
    double rtt_ms = 0;
    double queue_ms = 0; // expected wait at that tier
};

struct Context {
    TierLink edge;
    TierLink cloud;
    double local_queue_ms = 0;        // expected wait for the local worker
    double light_ok_probability = -1; // < 0: unknown
    double battery_fraction = -1;     // < 0: mains or unknown

    const TierLink &link(Tier tier) const { return tier == Tier::cloud ? cloud : edge; }
};

// Online with a finite positive bandwidth.
bool usable(const TierLink &link);

struct Option {
    std::string name;
    std::string model;
    Tier tier = Tier::end; // where the model, or its tail, runs
    bool split = false;
    Wire wire = Wire::none;
    int cut_layer = -1;
    bool light = false; // the light model: its accuracy follows light_ok_probability
    // The context-free parts of the prediction.
    double end_compute_ms = 0;    // on this device: the whole model or the head
    double remote_compute_ms = 0; // on the remote tier: the whole model or the tail
    double upload_bytes = 0;      // 0 for end options
    double reply_bytes = 0;       // 0 for end options
    double top1 = 0;
    double wire_factor = 1; // int8_agreement for an i8 split
};

struct Objectives {
    double latency_ms = 0;
    double energy_j = 0;
    double bytes = 0;
    double accuracy = 0;
};

std::vector<Option> enumerate_options(const ProfileSet &profiles, const Settings &settings);

inline bool feasible(const Option &option, const Context &context) {
    return option.tier == Tier::end || usable(context.link(option.tier));
}

// The accuracy an option answers with in this context.
inline double accuracy(const Option &option, const Context &context) {
    double top1 = option.light && context.light_ok_probability >= 0 ? context.light_ok_probability
                                                                    : option.top1;
    return top1 * option.wire_factor;
}

// What a context adds to the prediction of every option of one tier: worked out once per
// tier when many options are predicted (a scan), with the same arithmetic as one at a time.
struct TierTerms {
    double seconds_per_byte = 0; // 8 / bandwidth_bps; 0 on the end device
    double wait_ms = 0;          // rtt_ms + queue_ms, or local_queue_ms on the end device
};

inline TierTerms tier_terms(Tier tier, const Context &context) {
    if (tier == Tier::end)
        return TierTerms{0, context.local_queue_ms};
    const TierLink &link = context.link(tier);
    return TierTerms{8 / link.bandwidth_bps, link.rtt_ms + link.queue_ms};
}

// Meaningful for feasible options only; `terms` = tier_terms(option.tier, context).
inline Objectives predict(const Option &option, const TierTerms &terms, const Context &context,
                          const DevicePower &power) {
    double upload_s = option.upload_bytes * terms.seconds_per_byte;
    double reply_s = option.reply_bytes * terms.seconds_per_byte;
    Objectives out;
    out.latency_ms = option.end_compute_ms + upload_s * 1000 + terms.wait_ms +
                     option.remote_compute_ms + reply_s * 1000;
    out.energy_j = power.compute_w * option.end_compute_ms / 1000 + power.tx_w * upload_s +
                   power.rx_w * reply_s;
    out.bytes = option.upload_bytes + option.reply_bytes;
    out.accuracy = accuracy(option, context);
    return out;
}

inline Objectives predict(const Option &option, const Context &context, const DevicePower &power) {
    return predict(option, tier_terms(option.tier, context), context, power);
}

} // namespace scheduler_mo
