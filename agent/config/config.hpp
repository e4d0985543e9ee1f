// Typed tierd configuration, produced by the loader from a validated TOML document.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

namespace tierd {

enum class Role { end, edge, cloud };
enum class LogLevel { debug, info, warning, error };
enum class OverflowPolicy { reject, drop_oldest };

constexpr std::string_view to_string(Role r) {
    switch (r) {
    case Role::end: return "end";
    case Role::edge: return "edge";
    case Role::cloud: return "cloud";
    }
    return "?";
}

constexpr std::string_view to_string(LogLevel l) {
    switch (l) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warning: return "warning";
    case LogLevel::error: return "error";
    }
    return "?";
}

constexpr std::string_view to_string(OverflowPolicy o) {
    switch (o) {
    case OverflowPolicy::reject: return "reject";
    case OverflowPolicy::drop_oldest: return "drop-oldest";
    }
    return "?";
}

struct AgentConfig {
    std::string device_id; // "" = hostname
    Role role = Role::end;
    std::vector<std::string> groups;
    LogLevel log_level = LogLevel::info;
    std::int64_t drain_timeout_ms = 5000;
    // Where the agent keeps what must outlive a restart (its measured model profile,
    // profile.json); "" = nothing is kept.
    std::string state_dir;
};

struct WorkersConfig {
    int threads = 0; // 0 = one per core
    int queue_limit = 64;
    OverflowPolicy overflow = OverflowPolicy::reject;
};

struct MqttConfig {
    std::string host = "127.0.0.1";
    int port = 1883;
    int keepalive_s = 30;
    std::string username;
    std::string password; // secret
    std::string tls_ca_file;
    std::string tls_cert_file;
    std::string tls_key_file;
    std::int64_t reconnect_min_ms = 500;
    std::int64_t reconnect_max_ms = 30000;
    // How long sent data may stay unacknowledged before the connection counts as lost
    // (TCP_USER_TIMEOUT); 0 = the kernel's default (retransmissions for ~15 minutes).
    // 10 s: after a 10 s link cut the end fused again 1.0-1.4 s after the link returned,
    // against 4.7 s (Wi-Fi) and > 6 s (4G) with the kernel's default (bench/video).
    std::int64_t tcp_user_timeout_ms = 10000;
    // While connection attempts keep failing the same way, how often the log says so
    // again (with the count of failed attempts); the first failure is logged at once.
    std::int64_t failure_reminder_s = 30;
    int qos = 1;
};

struct TelemetryConfig {
    std::int64_t interval_ms = 10000;
    // Telemetry goes through the durable spool (like results) instead of at QoS 0.
    bool durable = false;
};

struct HalConfig {
    std::string root = "/";
    std::string profile = "x86-edge-server";
    std::vector<std::string> profile_dirs;
};

// Where the end agent's tasks come from (agent/pipeline/image_source.hpp). `plugin`: any
// other kind, served by the source plugin "source-<kind>" (SourceConfig::kind_name).
enum class SourceKind { none, idx, directory, video, topic, plugin };

constexpr std::string_view to_string(SourceKind k) {
    switch (k) {
    case SourceKind::none: return "none";
    case SourceKind::idx: return "idx";
    case SourceKind::directory: return "directory";
    case SourceKind::video: return "video";
    case SourceKind::topic: return "topic";
    case SourceKind::plugin: return "plugin";
    }
    return "?";
}

struct SourceConfig {
    SourceKind kind = SourceKind::none;
    // source.kind as written: a built-in name ("idx") or a source plugin's kind
    // ([a-z0-9][a-z0-9-]*, kind = SourceKind::plugin).
    std::string kind_name = "none";
    std::string path;       // IDX images file (.gz or raw), directory, video file or camera index
    std::string labels;     // IDX labels file for kind = idx; "" = none
    std::int64_t limit = 0; // stop after this many images; 0 = all
    double rate_hz = 0.0;   // images per second; 0 = as fast as the pipeline takes them
};

// The plugin that serves `source`: "source-" + its kind ("source-idx", "source-rtsp"), or
// "" for kind = none. Code that sets `kind` alone (kind_name left stale) gets the name
// of `kind` for a built-in.
inline std::string source_plugin_name(const SourceConfig &source) {
    switch (source.kind) {
    case SourceKind::none: return "";
    case SourceKind::plugin: return "source-" + source.kind_name;
    case SourceKind::idx:
    case SourceKind::directory:
    case SourceKind::video:
    case SourceKind::topic: break;
    }
    return "source-" + std::string(to_string(source.kind));
}

// [offload] frame_features: what of the upstream detector's feature map comes back with a
// video frame sent up (feature fusion, docs/feature-fusion.md).
enum class FrameFeatures { none, whole, regions };

constexpr std::string_view to_string(FrameFeatures f) {
    switch (f) {
    case FrameFeatures::none: return "none";
    case FrameFeatures::whole: return "whole";
    case FrameFeatures::regions: return "regions";
    }
    return "?";
}

struct OffloadConfig {
    std::int64_t timeout_ms = 1000; // end: how long an upstream reply may take
    int max_in_flight = 64;         // edge/cloud: requests served at once; more get "busy"
    int batch_max = 16;             // edge/cloud: waiting requests run as one batch, up to this
    std::int64_t probe_interval_ms = 1000; // end: link probes to each online tier; 0 = none
    int frame_jpeg_quality = 75; // end: a video frame travels up as a JPEG of this quality; 0 = raw
    // end: the upstream's feature map asked for with each video frame sent up, and the end's
    // own asked of its detector, for a fusion plugin that fuses features
    FrameFeatures frame_features = FrameFeatures::none;
    // end: region re-send (DDS-style) of video frames sent up: small and rough first, then
    // the regions the serving tier is unsure of at frame_jpeg_quality
    bool frame_resend = false;
    double frame_low_scale = 0.65;
    int frame_low_quality = 50;
    double resend_sure = 0.5, resend_unsure = 0.25;
    bool resend_mosaic = true;   // the second round's crops as one JPEG
    double resend_margin = 0.25; // a region is its box grown by this much each side
    // edge/cloud: the last this many images answered are kept per requesting device, with
    // the answers, for fine-tuning that device's model (samples.get); 0 = none kept
    int keep_answered = 0;
};

// Bounds on untrusted input, so that no message can take a small device's memory
// (docs/config.md, [limits]).
struct LimitsConfig {
    // Images from the input topic and offload requests: more pixels (width x height, as
    // the header states them) are refused "too_large" before anything is decoded.
    std::int64_t max_pixels = 16'777'216;
    // Bytes of input-topic messages waiting (end) and of offload requests accepted and not
    // yet answered (edge, cloud); beyond it new ones are dropped (end) or answered "busy".
    std::int64_t max_queued_bytes = std::int64_t{64} << 20;
};

// How the end's pipeline runs a task (docs/config.md, [pipeline]).
struct PipelineConfig {
    // Run the local (light) model before the scheduler decides, so the pre-classifier and
    // the scheduler see its result (tierd_task.local_result, ABI 1.1) and a task whose
    // offload fails keeps that result instead of running again.
    bool local_first = false;
    // Emulates a slower device: each local compute stage (pre-classifier, inference)
    // takes this many times its real duration (the worker sleeps the difference).
    // 1 = off. For benchmarks that stand in for a weaker board; results say it is on.
    double emulate_slowdown = 1.0;
    // End: images the local model answered that are also sent up, for the teacher's
    // label only (the inference plugin's learn(), ABI 1.5), at most this many an hour,
    // spread evenly; 0 = none (the cascade's own offloads are labels already).
    double label_budget_per_hour = 0.0;
};

struct ResultsConfig {
    std::string jsonl;   // append one JSON line per finished task; "" = no file
    bool publish = true; // publish each result on tierd/v1/dev/<id>/results
};

// The durable spool results (and durable telemetry) pass through (docs/config.md, [spool]).
enum class SpoolStorage { file, memory };
enum class SpoolWhenFull { drop_oldest, drop_newest, block };
enum class SpoolSync { normal, full };

constexpr std::string_view to_string(SpoolStorage s) {
    return s == SpoolStorage::memory ? "memory" : "file";
}
constexpr std::string_view to_string(SpoolWhenFull w) {
    switch (w) {
    case SpoolWhenFull::drop_oldest: return "drop-oldest";
    case SpoolWhenFull::drop_newest: return "drop-newest";
    case SpoolWhenFull::block: return "block";
    }
    return "?";
}
constexpr std::string_view to_string(SpoolSync s) {
    return s == SpoolSync::full ? "full" : "normal";
}

struct SpoolConfig {
    SpoolStorage storage = SpoolStorage::file;
    std::string path;                                    // "" = <agent.state_dir>/spool.db
    std::int64_t max_bytes = std::int64_t{256} << 20;    // payload + topic bytes held
    std::int64_t segment_bytes = std::int64_t{16} << 20; // drop-oldest frees this much at once
    std::int64_t max_age_s = 0;                          // time to live; 0 = until delivered
    SpoolWhenFull when_full = SpoolWhenFull::drop_oldest;
    SpoolSync sync = SpoolSync::normal;
    int window = 32; // entries published and not yet acknowledged at once
};

struct PluginsConfig {
    std::vector<std::string> search_path; // empty = default
    std::string scheduler = "scheduler-rule";
    std::string preclassifier = "preclassifier-stats";
    std::string inference = "inference-opencv";
    std::string fusion = "fusion-passthrough";
};

// Model updates from the fleet (docs/models.md): the held-back buffer of labelled images an
// activated version must not do worse on than the one it replaces.
struct ModelsConfig {
    std::string holdout;        // IDX images; "" = the inference manifest's dataset_dir test split
    std::string holdout_labels; // IDX labels; "" = likewise
    int holdout_images = 500;   // the last ones of the file; 0 = no check
    double max_drop_points = 2.0;
    // The second check: agreement with the teacher on the latest images answered upstream
    // (their teacher labels, kept by the agent); 0 = none kept, no check.
    int teacher_images = 500;
    int teacher_min_images = 100;     // fewer kept at activation: no teacher check
    double teacher_drop_points = 5.0; // agreement this many points lower: rolled back
};

struct Config {
    AgentConfig agent;
    WorkersConfig workers;
    MqttConfig mqtt;
    TelemetryConfig telemetry;
    HalConfig hal;
    SourceConfig source;
    ResultsConfig results;
    SpoolConfig spool;
    OffloadConfig offload;
    LimitsConfig limits;
    PipelineConfig pipeline;
    PluginsConfig plugins;
    ModelsConfig models;
    // [plugin.<name>] tables, kept raw; validated by the plugin host.
    std::map<std::string, toml::table> plugin_tables;
    // Where the configuration came from (file path or "<default>").
    std::string source_file;
    // The validated document (overrides applied) this Config was built from.
    toml::table document;
};

} // namespace tierd
