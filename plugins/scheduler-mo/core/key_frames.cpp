#include "core/key_frames.hpp"

#include "core/setting_checks.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <stdexcept>

namespace scheduler_mo {

const char *key_frame_mode_name(KeyFrameMode mode) {
    switch (mode) {
    case KeyFrameMode::off: return "off";
    case KeyFrameMode::every: return "every";
    case KeyFrameMode::trigger: return "trigger";
    case KeyFrameMode::upstream: return "upstream";
    }
    return "?";
}

std::optional<KeyFrameMode> parse_key_frame_mode(std::string_view text) {
    for (KeyFrameMode mode :
         {KeyFrameMode::off, KeyFrameMode::every, KeyFrameMode::trigger, KeyFrameMode::upstream})
        if (text == key_frame_mode_name(mode))
            return mode;
    return std::nullopt;
}

namespace {

using checks::number_text;
using checks::require;

void at_least(const char *key, double value, double low) {
    require(std::isfinite(value) && value >= low,
            std::string(key) + ": must be >= " + number_text(low) + ", got " + number_text(value));
}

void in_unit(const char *key, double value) {
    require(std::isfinite(value) && value >= 0 && value <= 1,
            std::string(key) + ": must be in [0, 1] (0 = off), got " + number_text(value));
}

// A count from the map: a whole number >= low.
void read_count(const ConfigMap &map, const char *key, std::int64_t low, std::int64_t &field) {
    std::optional<double> value = get_number(map, key);
    if (!value)
        return;
    require(std::floor(*value) == *value,
            std::string(key) + ": must be a whole number, got " + number_text(*value));
    at_least(key, *value, static_cast<double>(low));
    require(*value <= 1e9, std::string(key) + ": must be <= 1e9, got " + number_text(*value));
    field = static_cast<std::int64_t>(*value);
}

// "%.3g" trimmed for reasons: 0.31, 553, 2040.
std::string short_number(double value) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.3g", value);
    return buffer;
}

std::string ms_text(double ms) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.0fms", ms);
    return buffer;
}

void clip(std::string &reason) {
    if (reason.size() > kKeyFrameReasonMax)
        reason.resize(kKeyFrameReasonMax);
}

} // namespace

void KeyFrameSettings::validate() const {
    at_least("key_frame_interval", static_cast<double>(interval), 1);
    at_least("key_frame_min_gap", static_cast<double>(min_gap), 1);
    at_least("key_frame_max_in_flight", static_cast<double>(max_in_flight), 1);
    at_least("key_frame_objects_change", static_cast<double>(objects_change), 0);
    at_least("key_frame_max_gap_ms", max_gap_ms, 0);
    in_unit("key_frame_scene_change", scene_change);
    in_unit("key_frame_score_floor", score_floor);
    at_least("key_frame_bytes", frame_bytes, 0);
    at_least("key_frame_max_energy_j", max_energy_j, 0);
    in_unit("key_frame_warp_error", warp_error);
    in_unit("key_frame_max_share", max_share);
    at_least("key_frame_share_window", static_cast<double>(share_window), 1);
}

KeyFrameSettings parse_key_frame_settings(const ConfigMap &map) {
    KeyFrameSettings s;
    if (auto mode = get_string(map, "key_frames")) {
        std::optional<KeyFrameMode> parsed = parse_key_frame_mode(*mode);
        require(parsed.has_value(), "key_frames: unknown mode \"" + *mode +
                                        "\" (expected off, every, trigger, upstream)");
        s.mode = *parsed;
    }
    read_count(map, "key_frame_interval", 1, s.interval);
    read_count(map, "key_frame_min_gap", 1, s.min_gap);
    read_count(map, "key_frame_max_in_flight", 1, s.max_in_flight);
    read_count(map, "key_frame_objects_change", 0, s.objects_change);
    read_count(map, "key_frame_share_window", 1, s.share_window);
    auto number = [&](const char *key, double &field) {
        if (auto value = get_number(map, key))
            field = *value;
    };
    number("key_frame_max_gap_ms", s.max_gap_ms);
    number("key_frame_scene_change", s.scene_change);
    number("key_frame_score_floor", s.score_floor);
    number("key_frame_bytes", s.frame_bytes);
    number("key_frame_max_energy_j", s.max_energy_j);
    number("key_frame_warp_error", s.warp_error);
    number("key_frame_max_share", s.max_share);
    if (auto model = get_string(map, "key_frame_model"))
        s.model = *model;
    s.validate();
    return s;
}

KeyFramePolicy::KeyFramePolicy(const KeyFrameSettings &settings, const Settings &placement,
                               const DevicePower &power)
    : settings_(settings), placement_(placement), power_(power) {
    settings_.validate();
}

// The best usable upstream tier for this frame, with its predicted upload, answer time and
// radio energy; or why there is none.
KeyFramePolicy::Route KeyFramePolicy::route(const KeyFrameInput &input, double frame_bytes) const {
    Route best;
    std::string why_not;
    for (Tier tier : {Tier::edge, Tier::cloud}) {
        const UpstreamTier &link = input.tier(tier);
        const char *name = tier_name(tier);
        auto skip = [&](const std::string &why) {
            why_not += (why_not.empty() ? "" : ", ") + std::string(name) + " " + why;
        };
        if (!placement_.allows(tier)) {
            skip("not in tiers");
            continue;
        }
        if (!link.known) {
            skip("unknown");
            continue;
        }
        if (!link.connected) {
            skip("offline");
            continue;
        }
        if (link.degraded) {
            skip("degraded");
            continue;
        }
        // The model's compute time there, from the tier's profile. A model that some
        // profile lists must be in this tier's to run here; one no profile lists (say a
        // detector the profile command does not measure) is taken as available.
        double compute_ms = 0;
        if (profiles_ && !settings_.model.empty()) {
            const TierProfile *profile = profiles_->tier(tier);
            const ModelProfile *model =
                profile != nullptr ? profile->find_model(settings_.model) : nullptr;
            bool profiled_somewhere = false;
            for (Tier any : {Tier::end, Tier::edge, Tier::cloud}) {
                const TierProfile *p = profiles_->tier(any);
                profiled_somewhere |= p != nullptr && p->find_model(settings_.model) != nullptr;
            }
            if (model == nullptr && profiled_somewhere) {
                skip("lacks " + settings_.model);
                continue;
            }
            if (model != nullptr)
                compute_ms = model->full_ms;
        }
        Route candidate;
        candidate.ok = true;
        candidate.tier = tier;
        if (link.bandwidth_bps > 0 && std::isfinite(link.bandwidth_bps)) {
            double seconds_per_byte = 8 / link.bandwidth_bps;
            double upload_s = frame_bytes * seconds_per_byte;
            double reply_s = placement_.reply_bytes * seconds_per_byte;
            candidate.upload_ms = upload_s * 1000;
            candidate.answer_ms =
                candidate.upload_ms + link.rtt_ms + link.queue_ms + compute_ms + reply_s * 1000;
            candidate.energy_j = power_.tx_w * upload_s + power_.rx_w * reply_s;
        }
        // Known answer times first, the sooner the better; unknown ones after; ties keep
        // the earlier tier (edge).
        bool better = !best.ok || (candidate.answer_ms >= 0 &&
                                   (best.answer_ms < 0 || candidate.answer_ms < best.answer_ms));
        if (better)
            best = candidate;
    }
    if (!best.ok)
        best.why_not = why_not;
    return best;
}

double KeyFramePolicy::predicted_warp_error(const KeyFrameInput &input, const Route &r) const {
    const StreamState &s = input.stream;
    // Measured, about an answer the stream has (not one a newer key frame will replace),
    // on a frame at or after that key frame.
    if (s.warp_error < 0 || s.warp_error_frame < 0 || s.warp_error_key_frame < 0 ||
        s.warp_error_key_frame < s.last_key_frame || s.warp_error_frame < s.warp_error_key_frame)
        return -1;
    const double gap = static_cast<double>(s.warp_error_frame - s.warp_error_key_frame);
    const double rate = gap >= 1 ? s.warp_error / gap : 0.0;
    // Frames until an answer sent now would be used: those since the measurement, and the
    // answer's round trip (when the link estimate gives one).
    double lead =
        static_cast<double>(std::max<std::int64_t>(0, s.frame_index - s.warp_error_frame));
    if (r.ok && r.answer_ms > 0) {
        const double interval =
            s.frame_interval_ms > 0 ? s.frame_interval_ms : kAssumedFrameIntervalMs;
        lead += r.answer_ms / interval;
    }
    return s.warp_error + rate * lead;
}

std::string KeyFramePolicy::trigger(const KeyFrameInput &input, const Route &r) const {
    const StreamState &s = input.stream;
    if (s.last_key_frame < 0)
        return "first";
    const KeyFrameSettings &k = settings_;
    if (k.max_gap_ms > 0) {
        double interval = s.frame_interval_ms > 0 ? s.frame_interval_ms : kAssumedFrameIntervalMs;
        double gap_ms = static_cast<double>(s.frame_index - s.last_key_frame) * interval;
        if (gap_ms > k.max_gap_ms)
            return "max gap " + ms_text(gap_ms);
    }
    if (k.scene_change > 0 && s.scene_change >= k.scene_change)
        return "scene change " + short_number(s.scene_change);
    if (k.score_floor > 0 && s.local_mean_score >= 0 && s.local_mean_score < k.score_floor)
        return "low score " + short_number(s.local_mean_score);
    if (k.objects_change > 0 && std::llabs(s.local_detections_change) >= k.objects_change) {
        char text[32];
        std::snprintf(text, sizeof text, "objects %+d",
                      static_cast<int>(s.local_detections_change));
        return text;
    }
    if (k.warp_error > 0) {
        const double predicted = predicted_warp_error(input, r);
        if (predicted >= k.warp_error)
            return "warp " + short_number(predicted) + " (" + short_number(s.warp_error) + " at " +
                   std::to_string(s.warp_error_frame) + ")";
    }
    return "";
}

KeyFrameDecision KeyFramePolicy::decide(const KeyFrameInput &input) const {
    KeyFrameDecision out;
    const KeyFrameSettings &k = settings_;
    if (k.mode == KeyFrameMode::off)
        return out;
    const StreamState &s = input.stream;
    out.frame_bytes = k.frame_bytes > 0 ? k.frame_bytes
                      : input.frame_pixels > 0
                          ? input.frame_pixels * kJpegBytesPerPixel
                          : 640.0 * 360.0 * kJpegBytesPerPixel; // the default frame
    auto finish = [&](KeyFrameAction action, const Route &route, const std::string &why) {
        out.action = action;
        out.reason = why;
        if (action != KeyFrameAction::local) {
            out.tier = route.tier;
            out.upload_ms = route.upload_ms;
            out.answer_ms = route.answer_ms;
            out.reason += std::string(" -> ") + tier_name(route.tier);
            if (route.upload_ms >= 0)
                out.reason += " (up " + ms_text(route.upload_ms) + ")";
            else
                out.reason += " (bandwidth unknown)";
        }
        clip(out.reason);
        return out;
    };

    if (k.mode == KeyFrameMode::upstream) {
        Route r = route(input, out.frame_bytes);
        if (!r.ok)
            return finish(KeyFrameAction::local, r,
                          "upstream: no upstream (" + r.why_not + "); here");
        return finish(KeyFrameAction::upstream, r, "upstream: every frame");
    }

    const std::int64_t since = s.frame_index - s.last_key_frame;
    std::string why;
    // The route is worked out once: in trigger mode the warp error trigger needs it first.
    std::optional<Route> r;
    if (k.mode == KeyFrameMode::every) {
        if (s.last_key_frame >= 0 && since < k.interval)
            return finish(KeyFrameAction::local, Route{},
                          "no key frame: " + std::to_string(since) + "/" +
                              std::to_string(k.interval));
        why = s.last_key_frame < 0 ? "first" : "every " + std::to_string(k.interval);
    } else {
        r = route(input, out.frame_bytes);
        why = trigger(input, *r);
        if (why.empty())
            return finish(KeyFrameAction::local, Route{}, "no key frame: no trigger");
        if (s.last_key_frame >= 0 && since < k.min_gap)
            return finish(KeyFrameAction::local, Route{},
                          "no key frame: min gap " + std::to_string(since) + "<" +
                              std::to_string(k.min_gap) + " (" + why + ")");
        if (s.key_frames_in_flight >= static_cast<std::uint64_t>(k.max_in_flight))
            return finish(KeyFrameAction::local, Route{},
                          "no key frame: " + std::to_string(s.key_frames_in_flight) +
                              " in flight (" + why + ")");
        if (input.budget >= 0 && input.budget < 1)
            return finish(KeyFrameAction::local, Route{},
                          "no key frame: share " + short_number(k.max_share) + " spent (" + why +
                              ")");
    }

    if (!r)
        r = route(input, out.frame_bytes);
    const Route &to = *r;
    if (!to.ok)
        return finish(KeyFrameAction::local, to,
                      "no key frame: no upstream (" + to.why_not + "; " + why + ")");
    if (k.mode == KeyFrameMode::trigger && to.upload_ms >= 0) {
        // The upload must be done before an every-K cadence would send the next frame.
        double interval = s.frame_interval_ms > 0 ? s.frame_interval_ms : kAssumedFrameIntervalMs;
        double budget_ms = interval * static_cast<double>(k.interval);
        if (to.upload_ms > budget_ms)
            return finish(KeyFrameAction::local, to,
                          "no key frame: link busy (up " + ms_text(to.upload_ms) + ">" +
                              ms_text(budget_ms) + "; " + why + ")");
        if (k.max_energy_j > 0 && to.energy_j > k.max_energy_j)
            return finish(KeyFrameAction::local, to,
                          "no key frame: energy " + short_number(to.energy_j * 1000) + "mJ>" +
                              short_number(k.max_energy_j * 1000) + "mJ (" + why + ")");
    }
    return finish(KeyFrameAction::key_frame, to, "key frame: " + why);
}

KeyFrameBudget::KeyFrameBudget(double max_share, std::int64_t window)
    : share_(max_share),
      capacity_(std::max(1.0, max_share * static_cast<double>(std::max<std::int64_t>(1, window)))) {
}

KeyFrameBudget::Bucket &KeyFrameBudget::bucket(const std::string &stream,
                                               std::int64_t frame_index) {
    auto it = buckets_.find(stream);
    if (it == buckets_.end()) {
        if (buckets_.size() >= kStreams) {
            auto oldest = buckets_.begin();
            for (auto b = buckets_.begin(); b != buckets_.end(); ++b)
                if (b->second.used < oldest->second.used)
                    oldest = b;
            buckets_.erase(oldest);
        }
        it = buckets_.emplace(stream, Bucket{}).first;
    }
    Bucket &b = it->second;
    b.used = ++clock_;
    if (b.frame < 0 || frame_index < b.frame) { // new, or the stream started over
        b.tokens = 1.0;                         // the first key frame; the rest is earned
        b.frame = frame_index;
    } else {
        b.tokens =
            std::min(capacity_, b.tokens + share_ * static_cast<double>(frame_index - b.frame));
        // Sums of 0.1 miss 1.0 by an ulp: count in billionths, so ten frames make a key frame.
        b.tokens = std::round(b.tokens * 1e9) / 1e9;
        b.frame = frame_index;
    }
    return b;
}

double KeyFrameBudget::available(const std::string &stream, std::int64_t frame_index) {
    if (share_ <= 0)
        return -1;
    return bucket(stream, frame_index).tokens;
}

void KeyFrameBudget::spend(const std::string &stream, std::int64_t frame_index) {
    if (share_ <= 0)
        return;
    Bucket &b = bucket(stream, frame_index);
    b.tokens = std::max(0.0, b.tokens - 1.0);
}

} // namespace scheduler_mo
