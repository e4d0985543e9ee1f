// scheduler-mo: places each task by optimising latency, end-device energy, bytes on the
// network and expected accuracy at once, over every placement the tiers' measured
// profiles allow: the whole model on the end, the edge or the cloud, or split at a cut
// point with the head here and the tail upstream (tensor sent as f16 or i8). The policy
// (weighted, lexicographic, constraints, or latency alone as Neurosurgeon does) comes from
// the config and can be changed fleet-wide with the `policy.set` command.
//
// The decision itself lives in core/ (scheduler.hpp): exact incremental re-decision
// through per-tier lower envelopes. This file turns the host's context (ABI 1.2: profiles,
// link estimates, power) into the core's inputs and its answer into a tierd_decision.
//
// Video (ABI 1.4): for a frame of a stream (context->stream) and key_frames != "off", the
// key-frame policy (core/key_frames.hpp) decides instead: the light model here, and on key
// frames the frame also goes up (tierd_decision.key_frame_tier / key_frame_model); it needs
// no profiles. Under key_frames = "off" a stream frame is placed like an image, but among
// the profiled detectors (det-light here or det-light-p40, det-heavy on the edge: one
// decision of model and tier, accuracy = the detector's map50) when the profiles list any.
// Tasks without a stream, and hosts whose context or decision lacks the 1.4 fields, are
// placed as before.
//
// decide() runs on the loop thread. It parses the profiles only when their generation
// changes (a few hundred microseconds, once per profile update); a decision takes
// microseconds.
#include <tierd/plugin.hpp>

#include "core/key_frames.hpp"
#include "core/scheduler.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <cstddef>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

namespace {

using namespace scheduler_mo;

// The plugin's declared keys, as the core's flat map wants them.
ConfigMap to_map(const tierd::Config &config) {
    ConfigMap map;
    for (const char *key : {"policy", "order", "minimise", "force", "tiers", "models", "wire",
                            "light_model", "key_frames", "key_frame_model"})
        map[key] = config.get_string(key);
    for (const char *key : {"key_frame_interval", "key_frame_min_gap", "key_frame_objects_change",
                            "key_frame_max_in_flight", "key_frame_share_window"})
        map[key] = static_cast<double>(config.get_int(key));
    for (const char *key :
         {"w_latency", "w_energy", "w_bytes", "w_accuracy", "tolerance", "deadline_ms",
          "min_accuracy", "max_energy_j", "battery_floor", "redecide_threshold", "reply_bytes",
          "key_frame_max_gap_ms", "key_frame_scene_change", "key_frame_score_floor",
          "key_frame_bytes", "key_frame_max_energy_j", "key_frame_warp_error",
          "key_frame_max_share"})
        map[key] = config.get_double(key);
    return map;
}

class SchedulerMo {
  public:
    static constexpr const char *name = "scheduler-mo";
    static constexpr const char *version = "0.1.0";
    static constexpr const char *description =
        "multi-objective placement (latency, energy, bytes, accuracy) across end, edge and "
        "cloud, whole or split at a cut point, from measured profiles and link estimates";

    static constexpr const char *const policies[] = {"weighted", "lexicographic", "constraints",
                                                     "latency", nullptr};
    static constexpr const char *const objectives[] = {"latency", "energy", "bytes", "accuracy",
                                                       nullptr};
    static constexpr const char *const key_frame_modes[] = {"off", "every", "trigger", "upstream",
                                                            nullptr};
    static constexpr tierd_config_key config_keys[] = {
        tierd::key_enum("policy", "weighted", policies,
                        "weighted (w_* on normalised objectives), lexicographic (order), "
                        "constraints (deadline_ms, min_accuracy, max_energy_j, battery_floor), "
                        "or latency alone (Neurosurgeon-like)"),
        tierd::key_double("w_latency", "1", 0.0, 1e6, "weighted: weight of latency / L0"),
        tierd::key_double("w_energy", "1", 0.0, 1e6, "weighted: weight of end energy / E0"),
        tierd::key_double("w_bytes", "0", 0.0, 1e6, "weighted: weight of network bytes / B0"),
        tierd::key_double("w_accuracy", "1", 0.0, 1e6,
                          "weighted: weight of (1 - accuracy) per point of accuracy"),
        tierd::key_string("order", "latency,energy",
                          "lexicographic: objectives in order, each optionally :tolerance "
                          "(\"latency:0.05,energy\")"),
        tierd::key_double("tolerance", "0.02", 0.0, 10.0,
                          "lexicographic: relative tolerance of an order item without one"),
        tierd::key_double("deadline_ms", "0", 0.0, 1e9, "constraints: latency bound; 0 = none"),
        tierd::key_double("min_accuracy", "0", 0.0, 1.0,
                          "constraints: expected accuracy floor; 0 = none"),
        tierd::key_double("max_energy_j", "0", 0.0, 1e6,
                          "constraints: end energy per task bound; 0 = none"),
        tierd::key_double("battery_floor", "0", 0.0, 1.0,
                          "constraints: below this battery fraction, minimise energy"),
        tierd::key_enum("minimise", "latency", objectives,
                        "constraints: what to minimise among the options that meet them"),
        tierd::key_string("force", "",
                          "pin one option by name (end:M, edge:M, cloud:M, split:edge:M:L:f16 "
                          "...), for benchmarks; \"\" = decide"),
        tierd::key_double("redecide_threshold", "0", 0.0, 10.0,
                          "reuse the last decision while no input moved by more than this "
                          "fraction; 0 = always re-decide (exact)"),
        tierd::key_string("tiers", "end,edge,cloud", "tiers placements may use"),
        tierd::key_string("models", "", "models placements may use; \"\" = all profiled"),
        tierd::key_string("wire", "f16,i8", "encodings a split tensor may travel in"),
        tierd::key_string("light_model", "",
                          "the model the pre-classifier's light_ok_probability is about"),
        tierd::key_double("reply_bytes", "520", 1.0, 1e9,
                          "bytes of an offload reply (~520 with 10 class scores)"),
        tierd::key_double("compute_w", "-1", -1.0, 1e4,
                          "this device's compute power above idle (W); -1 = the host's "
                          "(HAL profile)"),
        tierd::key_double("tx_w", "1.0", 0.0, 1e4,
                          "radio power while sending (W): ~1.0 Wi-Fi, ~2.5 LTE (assumed)"),
        tierd::key_double("rx_w", "0.5", 0.0, 1e4, "radio power while receiving (W)"),
        tierd::key_enum("key_frames", "off", key_frame_modes,
                        "video stream frames: off (placed like any task), every (light model "
                        "here, every key_frame_interval-th frame also sent up), trigger (sent "
                        "up on scene change, low local score, objects entering/leaving or "
                        "max gap, under the link and energy budgets), upstream (every frame "
                        "placed upstream)"),
        tierd::key_int("key_frame_interval", "10", 1, 1e6,
                       "every: K, frames between key frames; trigger: the upload budget is K "
                       "frame intervals"),
        tierd::key_int("key_frame_min_gap", "3", 1, 1e6,
                       "trigger: never fewer frames than this between key frames"),
        tierd::key_double("key_frame_max_gap_ms", "2000", 0.0, 1e9,
                          "trigger: a key frame when the last is older than this; 0 = off"),
        tierd::key_double("key_frame_scene_change", "0.15", 0.0, 1.0,
                          "trigger: a key frame when the scene changed this much (mean "
                          "thumbnail difference, 0..1) since the last; 0 = off"),
        tierd::key_double("key_frame_score_floor", "0.5", 0.0, 1.0,
                          "trigger: a key frame when the local detector's mean score is "
                          "below this; 0 = off"),
        tierd::key_int("key_frame_objects_change", "1", 0, 1e6,
                       "trigger: a key frame when the local box count changed by at least "
                       "this since the last key frame; 0 = off"),
        tierd::key_int("key_frame_max_in_flight", "2", 1, 1e6,
                       "trigger: no key frame while this many are unanswered"),
        tierd::key_double("key_frame_bytes", "0", 0.0, 1e9,
                          "bytes of a key frame on the link; 0 = width x height x 0.15 (JPEG "
                          "~q75)"),
        tierd::key_double("key_frame_max_energy_j", "0", 0.0, 1e6,
                          "trigger: no key frame whose radio energy exceeds this (J); 0 = no "
                          "bound"),
        tierd::key_double("key_frame_warp_error", "0", 0.0, 1.0,
                          "trigger: a key frame when the fused features' warp error (the "
                          "fusion plugin's, 0..1), extrapolated to when the answer would "
                          "arrive, reaches this; 0 = off"),
        tierd::key_double("key_frame_max_share", "0", 0.0, 1.0,
                          "trigger: at most this share of a stream's frames are key frames "
                          "(over any key_frame_share_window frames); 0 = no bound"),
        tierd::key_int("key_frame_share_window", "100", 1, 1e6,
                       "trigger: the frames key_frame_max_share is counted over (the "
                       "budget a still scene saves for a busy one)"),
        tierd::key_string("key_frame_model", "",
                          "the model key frames (and upstream-mode frames) run upstream; \"\" = "
                          "that tier's default"),
    };

    SchedulerMo(tierd::Host host, const tierd::Config &config) : host_(host) { load(config); }

    int reload(const tierd::Config &config) {
        load(config);
        generation_ = ~0ull; // rebuild with the new settings at the next decision
        return TIERD_OK;
    }

    int decide(const tierd_task &task, const tierd_preclass_result *pre,
               const tierd_schedule_context &context, tierd_decision &out) {
        out.split_layer = -1;
        refresh(context);
        const tierd_stream_state *stream = stream_of(context, out);
        if (stream != nullptr && key_frames_->enabled())
            return decide_frame(task, *stream, context, out);
        // A stream frame under key_frames = off is placed like any task, among the
        // profiled detectors when there are any (a classifier does not answer a frame).
        Scheduler *scheduler =
            stream != nullptr && frame_scheduler_ ? frame_scheduler_.get() : scheduler_.get();
        if (scheduler == nullptr) {
            out.tier = TIERD_TIER_END;
            std::snprintf(out.reason, sizeof out.reason, "%s", why_none_.c_str());
            host_.counter_add("no_profiles", 1);
            return TIERD_OK;
        }
        Context c;
        fill_link(c.edge, context.edge);
        fill_link(c.cloud, context.cloud);
        if (has_1_2(context))
            c.local_queue_ms = context.local_queue_ms;
        if (pre != nullptr && pre->light_ok_probability >= 0.0f)
            c.light_ok_probability = pre->light_ok_probability;
        c.battery_fraction = context.battery_fraction;
        const Decision d = scheduler->decide(c);
        if (!d.valid) {
            out.tier = TIERD_TIER_END;
            std::snprintf(out.reason, sizeof out.reason, "mo: no feasible option; %s",
                          d.reason.c_str());
            return TIERD_OK;
        }
        const Option &o = scheduler->options()[d.index];
        out.tier = o.tier == Tier::edge    ? TIERD_TIER_EDGE
                   : o.tier == Tier::cloud ? TIERD_TIER_CLOUD
                                           : TIERD_TIER_END;
        tierd::copy_string(out.model, o.model);
        if (o.split) {
            out.split_layer = o.cut_layer;
            if (out.struct_size >= offsetof(tierd_decision, wire) + sizeof out.wire)
                tierd::copy_string(out.wire, wire_name(o.wire));
        }
        tierd::copy_string(out.reason, d.reason);
        count(o.split ? 3 : static_cast<int>(o.tier));
        return TIERD_OK;
    }

  private:
    // The stream state when the task is a stream frame and both the host's context and
    // decision have the 1.4 fields; else NULL (the task is placed as any other).
    static const tierd_stream_state *stream_of(const tierd_schedule_context &c,
                                               const tierd_decision &out) {
        if (c.struct_size < offsetof(tierd_schedule_context, stream) + sizeof c.stream ||
            out.struct_size <
                offsetof(tierd_decision, key_frame_model) + sizeof out.key_frame_model)
            return nullptr;
        return c.stream;
    }

    // tierd_stream_state as far as the host's struct goes; fields past it stay unknown.
    static StreamState read_stream(const tierd_stream_state &s) {
        StreamState out;
#define SCHEDULER_MO_READ(field)                                                                   \
    if (s.struct_size >= offsetof(tierd_stream_state, field) + sizeof s.field)                     \
    out.field = s.field
        SCHEDULER_MO_READ(frame_index);
        SCHEDULER_MO_READ(last_key_frame);
        SCHEDULER_MO_READ(key_frames_in_flight);
        SCHEDULER_MO_READ(frame_interval_ms);
        SCHEDULER_MO_READ(upstream_age_ms);
        SCHEDULER_MO_READ(local_detections);
        SCHEDULER_MO_READ(local_mean_score);
        SCHEDULER_MO_READ(local_detections_change);
        SCHEDULER_MO_READ(scene_change);
        SCHEDULER_MO_READ(warp_error); // ABI 1.6
        SCHEDULER_MO_READ(warp_error_frame);
        SCHEDULER_MO_READ(warp_error_key_frame);
#undef SCHEDULER_MO_READ
        return out;
    }

    static UpstreamTier read_upstream(const tierd_link_state *state) {
        UpstreamTier out;
        if (state == nullptr)
            return out;
        out.known = true;
        out.connected = state->connected != 0;
        out.bandwidth_bps = state->bandwidth_bps;
        out.rtt_ms = state->rtt_ms;
        if (state->struct_size >= offsetof(tierd_link_state, degraded) + sizeof state->degraded) {
            out.queue_ms = state->queue_ms;
            out.degraded = state->degraded != 0;
        }
        return out;
    }

    static tierd_tier abi_tier(Tier tier) {
        return tier == Tier::edge    ? TIERD_TIER_EDGE
               : tier == Tier::cloud ? TIERD_TIER_CLOUD
                                     : TIERD_TIER_END;
    }

    // A stream frame under key_frames != off: the light model here, and maybe a key frame
    // (or, in upstream mode, the frame placed upstream).
    int decide_frame(const tierd_task &task, const tierd_stream_state &stream,
                     const tierd_schedule_context &context, tierd_decision &out) {
        KeyFrameInput input;
        input.stream = read_stream(stream);
        input.edge = read_upstream(context.edge);
        input.cloud = read_upstream(context.cloud);
        if (task.image != nullptr && task.image->width > 0 && task.image->height > 0)
            input.frame_pixels =
                static_cast<double>(task.image->width) * static_cast<double>(task.image->height);
        // The share budget is per stream, by name (a 1.4 task has one).
        const char *stream_name =
            task.struct_size >= offsetof(tierd_task, stream) + sizeof task.stream ? task.stream
                                                                                  : nullptr;
        const bool budgeted =
            key_frames_->settings().mode == KeyFrameMode::trigger && stream_name != nullptr;
        if (budgeted)
            input.budget = budget_->available(stream_name, input.stream.frame_index);
        const KeyFrameDecision d = key_frames_->decide(input);
        if (budgeted && d.action == KeyFrameAction::key_frame)
            budget_->spend(stream_name, input.stream.frame_index);
        switch (d.action) {
        case KeyFrameAction::upstream:
            out.tier = abi_tier(d.tier);
            tierd::copy_string(out.model, key_frames_->settings().model);
            count(static_cast<int>(d.tier));
            break;
        case KeyFrameAction::key_frame:
            out.key_frame_tier = abi_tier(d.tier);
            tierd::copy_string(out.key_frame_model, key_frames_->settings().model);
            ++pending_[kKeyFrame];
            [[fallthrough]];
        case KeyFrameAction::local:
            out.tier = TIERD_TIER_END;
            tierd::copy_string(out.model, settings_.light_model);
            count(static_cast<int>(Tier::end));
            break;
        }
        tierd::copy_string(out.reason, d.reason);
        return TIERD_OK;
    }

    // Placements by kind (end, edge, cloud, split), handed to the host's metrics every
    // kFlushEvery decisions rather than each time: a decision takes about a microsecond,
    // and the host's counters cost more than that. (The host times decide() itself:
    // status tasks.decide_us.)
    static constexpr int kFlushEvery = 64;
    static constexpr int kKeyFrame = 4; // not a placement: stream frames also sent up
    void count(int kind) {
        ++pending_[kind];
        if (++unflushed_ < kFlushEvery)
            return;
        static constexpr const char *names[] = {"end", "edge", "cloud", "split", "key_frames"};
        for (int i = 0; i < 5; ++i)
            if (pending_[i] > 0)
                host_.counter_add(names[i], pending_[i]);
        host_.counter_add("decisions", unflushed_);
        if (scheduler_)
            host_.gauge_set("options", static_cast<double>(scheduler_->options().size()));
        pending_ = {};
        unflushed_ = 0;
    }
    std::array<double, 5> pending_{};
    int unflushed_ = 0;

    static bool has_1_2(const tierd_schedule_context &c) {
        return c.struct_size >=
               offsetof(tierd_schedule_context, power_source) + sizeof c.power_source;
    }

    static void fill_link(TierLink &link, const tierd_link_state *state) {
        if (state == nullptr)
            return;
        link.online = state->connected != 0;
        link.bandwidth_bps = state->bandwidth_bps;
        link.rtt_ms = state->rtt_ms;
        if (state->struct_size >= offsetof(tierd_link_state, degraded) + sizeof state->degraded)
            link.queue_ms = state->queue_ms;
    }

    void load(const tierd::Config &config) {
        map_ = to_map(config);
        // Parse now so that a bad policy or setting fails create() / reload() with its key.
        // Everything is parsed before anything is replaced: a refused reload() keeps the
        // running settings.
        Policy policy;
        Settings settings;
        std::unique_ptr<KeyFramePolicy> key_frames;
        const double tx_w = config.get_double("tx_w");
        const double rx_w = config.get_double("rx_w");
        try {
            policy = parse_policy(map_);
            settings = parse_settings(map_);
            key_frames = std::make_unique<KeyFramePolicy>(parse_key_frame_settings(map_), settings,
                                                          DevicePower{0, tx_w, rx_w});
        } catch (const std::exception &e) {
            throw tierd::Error(TIERD_ECONFIG, e.what());
        }
        policy_ = policy;
        settings_ = settings;
        budget_ = std::make_unique<KeyFrameBudget>(key_frames->settings().max_share,
                                                   key_frames->settings().share_window);
        key_frames_ = std::move(key_frames);
        key_frames_->set_profiles(profiles_);
        compute_w_ = config.get_double("compute_w");
        tx_w_ = tx_w;
        rx_w_ = rx_w;
    }

    // Rebuilds the core when the profiles (or the power figure) changed.
    void refresh(const tierd_schedule_context &context) {
        if (!has_1_2(context)) {
            why_none_ = "mo: the host gives no profiles (ABI < 1.2); running here";
            return;
        }
        const double compute_w = compute_w_ >= 0.0 ? compute_w_ : context.compute_power_w;
        if (context.profiles_generation == generation_ && compute_w == power_.compute_w)
            return;
        const bool new_profiles = context.profiles_generation != generation_;
        generation_ = context.profiles_generation;
        scheduler_.reset();
        frame_scheduler_.reset();
        if (new_profiles) {
            // The key-frame policy reads the tiers' model lists, with or without a power
            // figure; a document that does not parse leaves it without profiles.
            profiles_.reset();
            if (context.profiles_json != nullptr) {
                try {
                    profiles_ = parse_profile_set_text(context.profiles_json);
                } catch (const std::exception &) {
                    // Reported below, where the scheduler parses the same text.
                }
            }
            key_frames_->set_profiles(profiles_);
        }
        if (context.profiles_json == nullptr) {
            why_none_ = "mo: no profiles yet (run the profile command); running here";
            return;
        }
        if (compute_w < 0.0) {
            why_none_ = "mo: no compute power figure (set compute_w or a HAL profile)";
            return;
        }
        power_ = DevicePower{compute_w, tx_w_, rx_w_};
        try {
            if (!profiles_)
                parse_profile_set_text(context.profiles_json); // throws with the reason
            scheduler_ = std::make_unique<Scheduler>(*profiles_, settings_, power_, policy_);
            host_.info("profiles generation " + std::to_string(generation_) + ": " +
                       std::to_string(scheduler_->options().size()) + " options (power " +
                       std::to_string(compute_w) + " W, " +
                       (compute_w_ >= 0.0                 ? "compute_w"
                        : context.power_source != nullptr ? context.power_source
                                                          : "host") +
                       ")");
        } catch (const std::exception &e) {
            why_none_ = std::string("mo: profiles unusable; running here: ") + e.what();
            host_.warning(why_none_);
        }
        // Stream frames' options, when the profiles list detectors (an agent may serve
        // only detectors: then there are no image options above, and these still are).
        if (profiles_) {
            try {
                frame_scheduler_ = std::make_unique<Scheduler>(
                    *profiles_, frame_settings(settings_, *profiles_), power_, policy_);
                host_.info("profiles generation " + std::to_string(generation_) + ": " +
                           std::to_string(frame_scheduler_->options().size()) +
                           " options for stream frames (detectors)");
            } catch (const std::invalid_argument &) {
                // no detector in the allowed tiers' profiles: frames are placed as images
            }
        }
    }

    tierd::Host host_;
    ConfigMap map_;
    Policy policy_;
    Settings settings_;
    double compute_w_ = -1, tx_w_ = 1.0, rx_w_ = 0.5;
    DevicePower power_{-1, 0, 0};
    uint64_t generation_ = ~0ull;
    std::unique_ptr<Scheduler> scheduler_;       // images: the classifiers' options
    std::unique_ptr<Scheduler> frame_scheduler_; // stream frames: the detectors' options
    std::optional<ProfileSet> profiles_;         // the last parsed profiles, for the key frames
    std::unique_ptr<KeyFramePolicy> key_frames_;
    std::unique_ptr<KeyFrameBudget> budget_; // trigger mode's share budget, per stream
    std::string why_none_ = "mo: no profiles yet";
};

} // namespace

TIERD_PLUGIN(SchedulerMo, TIERD_KIND_SCHEDULER)
