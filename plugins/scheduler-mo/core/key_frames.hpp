// Key-frame scheduling for video streams (issue 16, part 4): per frame of a stream, the
// end's light model runs here, and on key frames the frame is also sent up (edge or
// cloud) for the heavy model, whose answer the fusion plugin applies to later frames.
//
// Modes (`key_frames`):
//   off       no key frames: stream frames are placed like any task (the weighted/...
//             policies over the profiles; `force` / `tiers` pin placements).
//   every     a key frame when frame_index - last_key_frame >= key_frame_interval (K), or
//             none yet (the Deep Feature Flow cadence). Only reachability is checked, so
//             a benchmark's K row is an exact cadence while the link is up.
//   trigger   a key frame when one of
//               - none yet, or the last is older than key_frame_max_gap_ms (frames x
//                 frame_interval_ms; 40 ms per frame while the host does not know it),
//               - scene_change >= key_frame_scene_change,
//               - local_mean_score < key_frame_score_floor (the light detector is unsure),
//               - |local_detections_change| >= key_frame_objects_change (objects entering
//                 or leaving),
//               - the fused features' warp error, as it will be when this key frame's
//                 answer could arrive, reaches key_frame_warp_error (ABI 1.6; below),
//             and none of these vetoes holds:
//               - fewer than key_frame_min_gap frames since the last key frame,
//               - key_frames_in_flight >= key_frame_max_in_flight,
//               - the predicted upload of the frame (key_frame_bytes, or width x height x
//                 0.15 bytes: a JPEG at about quality 75) takes longer than K frame
//                 intervals (the time until an `every` cadence would send the next one),
//               - its radio energy tx_w x upload_s + rx_w x reply_s exceeds
//                 key_frame_max_energy_j (0 = no bound),
//               - the stream's share budget is spent (key_frame_max_share, 0 = no
//                 bound; a token bucket per stream, KeyFrameBudget, below): at most that
//                 share of the frames go up (plus the first), and a still stretch of up to
//                 key_frame_share_window frames saves its key frames for a busy one; the
//                 triggers decide WHEN the budget is spent.
//             Each trigger threshold (max gap, scene change, score floor, objects
//             change, warp error) is off at 0.
//             The warp error trigger (adaptive key frames with features): the fusion
//             plugin reports how far it had to carry the last answer (the residual of the
//             key frame moved onto the frame by its flow, 0..1) on frame f about key frame
//             k. It grows as the answer ages; the policy assumes it keeps growing at its
//             rate so far, warp / (f - k) per frame, and predicts it for the frame on which
//             an answer sent now would first be used: warp + rate x (frames since f + the
//             answer's predicted round trip in frames, from the link estimate). A slow link
//             thus sends earlier; a still scene (warp ~ 0) waits for the max gap. A warp
//             error about an answer older than the last key frame is not used (the newer
//             answer is on its way).
//   upstream  every frame placed upstream, nothing here (the "heavy-every-frame" row);
//             while no upstream tier is usable, the frame runs here with the light model.
// In every mode a key frame needs a usable upstream tier: allowed by `tiers`, known to the
// host, connected, not degraded, and able to run key_frame_model (a model that some
// tier's profile lists must be in this tier's; one no profile lists, say a detector the
// profile command does not measure, is taken as available). Among usable tiers the one
// whose answer is predicted back first wins (upload + rtt + queue + the model's full_ms
// from the tier's profile when known + reply_bytes back); a tier without a bandwidth
// estimate ranks after those with one (its upload time is unknown, so the upload budget
// and energy vetoes do not apply to it), edge before cloud on ties.
//
// Pure C++ with no plugin ABI (like the rest of core/); the plugin fills the inputs from
// tierd_stream_state and the link states. decide() is const and keeps no state: the host's
// stream state carries what it needs (last key frame, key frames in flight), so one policy
// serves every stream; set_profiles() must not run concurrently with decide().
#pragma once

#include "core/config_map.hpp"
#include "core/options.hpp"
#include "core/profiles.hpp"

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace scheduler_mo {

enum class KeyFrameMode : std::uint8_t { off, every, trigger, upstream };
const char *key_frame_mode_name(KeyFrameMode mode);
std::optional<KeyFrameMode> parse_key_frame_mode(std::string_view text);

// A frame as JPEG at quality 75 is about 0.15 bytes per pixel: cv::imencode q75 over every
// 10th frame gave 0.152 for opencv-doc's vtest.avi (768x576) and 0.153 for a 100-frame
// tierd-videogen clip (seed 101, 640x360). A configured key_frame_bytes replaces it.
inline constexpr double kJpegBytesPerPixel = 0.15;
// The frame period assumed while the host has not measured one (25 fps).
inline constexpr double kAssumedFrameIntervalMs = 40;

struct KeyFrameSettings {
    KeyFrameMode mode = KeyFrameMode::off;
    std::int64_t interval = 10;      // key_frame_interval: K, frames (>= 1)
    std::int64_t min_gap = 3;        // key_frame_min_gap: frames (>= 1)
    double max_gap_ms = 2000;        // key_frame_max_gap_ms; 0 = off
    double scene_change = 0.15;      // key_frame_scene_change, 0..1; 0 = off
    double score_floor = 0.5;        // key_frame_score_floor, 0..1; 0 = off
    std::int64_t objects_change = 1; // key_frame_objects_change; 0 = off
    std::int64_t max_in_flight = 2;  // key_frame_max_in_flight (>= 1)
    double frame_bytes = 0;          // key_frame_bytes; 0 = pixels x kJpegBytesPerPixel
    double max_energy_j = 0;         // key_frame_max_energy_j; 0 = no bound
    double warp_error = 0;           // key_frame_warp_error, 0..1; 0 = off
    double max_share = 0;            // key_frame_max_share, 0..1; 0 = no bound
    std::int64_t share_window = 100; // key_frame_share_window: frames (>= 1)
    std::string model;               // key_frame_model; "" = the tier's default

    // Throws std::invalid_argument naming the key.
    void validate() const;
};

// Keys: key_frames (off|every|trigger|upstream), key_frame_interval, key_frame_min_gap,
// key_frame_max_gap_ms, key_frame_scene_change, key_frame_score_floor,
// key_frame_objects_change, key_frame_max_in_flight, key_frame_bytes,
// key_frame_max_energy_j, key_frame_warp_error, key_frame_max_share,
// key_frame_share_window, key_frame_model. Absent keys keep their defaults; other keys are
// ignored. Validated; errors (std::invalid_argument) name the key and the bad value.
KeyFrameSettings parse_key_frame_settings(const ConfigMap &map);

// tierd_stream_state as the core reads it; the defaults are the header's "unknown".
struct StreamState {
    std::int64_t frame_index = 0;
    std::int64_t last_key_frame = -1; // -1 = none yet
    std::uint32_t key_frames_in_flight = 0;
    double frame_interval_ms = 0; // 0 = unknown
    double upstream_age_ms = -1;  // < 0 = none
    std::int32_t local_detections = -1;
    double local_mean_score = -1; // < 0 = unknown
    std::int32_t local_detections_change = 0;
    double scene_change = -1; // < 0 = unknown
    // ABI 1.6: the fusion plugin's newest warp error, on frame warp_error_frame with the
    // answer about warp_error_key_frame; < 0 = none.
    double warp_error = -1;
    std::int64_t warp_error_frame = -1;
    std::int64_t warp_error_key_frame = -1;
};

// One upstream tier as the key-frame policy sees it.
struct UpstreamTier {
    bool known = false; // the host knows the tier (a link state exists)
    bool connected = false;
    bool degraded = false;
    double bandwidth_bps = 0; // 0 = unknown
    double rtt_ms = 0;
    double queue_ms = 0;
};

struct KeyFrameInput {
    StreamState stream;
    UpstreamTier edge;
    UpstreamTier cloud;
    double frame_pixels = 0; // width x height of the frame; 0 = unknown
    // Key frames the stream's share budget allows now (KeyFrameBudget::available); < 0 =
    // no budget. Below 1 vetoes a trigger-mode key frame.
    double budget = -1;
    const UpstreamTier &tier(Tier which) const { return which == Tier::cloud ? cloud : edge; }
};

enum class KeyFrameAction : std::uint8_t {
    local,     // the light model here, nothing sent up
    key_frame, // the light model here, and the frame sent up to `tier`
    upstream   // the frame placed on `tier` only (mode upstream)
};

struct KeyFrameDecision {
    KeyFrameAction action = KeyFrameAction::local;
    Tier tier = Tier::end;  // edge or cloud for key_frame / upstream
    double frame_bytes = 0; // what the upload was predicted with
    double upload_ms = -1;  // predicted; < 0 = unknown
    double answer_ms = -1;  // predicted round trip of the key frame; < 0 = unknown
    std::string reason;     // at most kKeyFrameReasonMax characters
};

inline constexpr std::size_t kKeyFrameReasonMax = 120;

class KeyFramePolicy {
  public:
    // `settings` is validated (throws std::invalid_argument naming the key).
    KeyFramePolicy(const KeyFrameSettings &settings, const Settings &placement,
                   const DevicePower &power);

    const KeyFrameSettings &settings() const { return settings_; }
    bool enabled() const { return settings_.mode != KeyFrameMode::off; }

    // The measured profiles (for the tiers' model lists and compute times); nullptr or
    // none = unknown, every allowed tier may run key_frame_model.
    void set_profiles(const std::optional<ProfileSet> &profiles) { profiles_ = profiles; }

    // The decision for one frame. With mode off: action local and an empty reason (the
    // caller places the frame as any task).
    KeyFrameDecision decide(const KeyFrameInput &input) const;

  private:
    struct Route {
        bool ok = false;
        Tier tier = Tier::end;
        double upload_ms = -1;
        double answer_ms = -1;
        double energy_j = -1;
        std::string why_not; // when !ok
    };
    Route route(const KeyFrameInput &input, double frame_bytes) const;
    // Why a data-driven trigger fires, or "" (mode trigger).
    // `r` is route()'s choice for this frame (the warp error trigger uses its answer time).
    std::string trigger(const KeyFrameInput &input, const Route &r) const;
    // The warp error predicted for the first frame an answer sent by route `r` would
    // serve, or < 0 when the stream has none to go by (see the warp error trigger above).
    double predicted_warp_error(const KeyFrameInput &input, const Route &r) const;

    KeyFrameSettings settings_;
    Settings placement_;
    DevicePower power_;
    std::optional<ProfileSet> profiles_;
};

// The share budget of trigger mode, per stream: a token bucket that starts with one token
// (the first key frame), gains max_share of a key frame per frame and holds at most
// max(1, max_share x window), so the first n frames of a stream hold at most
// 1 + max_share x n key frames, and a still stretch saves up to `window` frames' worth
// for a busy one. Keyed by stream name; the least recently used of more than kStreams
// streams is forgotten (it starts over if it comes back), and so is a stream whose
// frame_index goes backwards (it started over).
// Not thread-safe: the plugin calls it from decide() (the loop thread).
class KeyFrameBudget {
  public:
    static constexpr std::size_t kStreams = 256;

    // max_share 0 = no budget (available() is -1).
    KeyFrameBudget(double max_share, std::int64_t window);

    // Key frames the budget allows at this frame of `stream` (fractional; >= 1 allows one).
    double available(const std::string &stream, std::int64_t frame_index);
    // A key frame was decided at this frame: one token spent.
    void spend(const std::string &stream, std::int64_t frame_index);

  private:
    struct Bucket {
        double tokens = 0;
        std::int64_t frame = -1; // the frame `tokens` is counted to
        std::uint64_t used = 0;  // recency, for forgetting
    };
    Bucket &bucket(const std::string &stream, std::int64_t frame_index);

    double share_ = 0, capacity_ = 1;
    std::uint64_t clock_ = 0;
    std::map<std::string, Bucket, std::less<>> buckets_;
};

} // namespace scheduler_mo
