#include "agent/config/core_config_keys.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <type_traits>

namespace tierd {
namespace {

// ---- The enums' values, in the order their choices are listed. to_string names each.

constexpr std::array<Role, 3> all_values(Role) {
    return {Role::end, Role::edge, Role::cloud};
}
constexpr std::array<LogLevel, 4> all_values(LogLevel) {
    return {LogLevel::debug, LogLevel::info, LogLevel::warning, LogLevel::error};
}
constexpr std::array<OverflowPolicy, 2> all_values(OverflowPolicy) {
    return {OverflowPolicy::reject, OverflowPolicy::drop_oldest};
}
constexpr std::array<SpoolStorage, 2> all_values(SpoolStorage) {
    return {SpoolStorage::file, SpoolStorage::memory};
}
constexpr std::array<SpoolWhenFull, 3> all_values(SpoolWhenFull) {
    return {SpoolWhenFull::drop_oldest, SpoolWhenFull::drop_newest, SpoolWhenFull::block};
}
constexpr std::array<SpoolSync, 2> all_values(SpoolSync) {
    return {SpoolSync::normal, SpoolSync::full};
}
constexpr std::array<FrameFeatures, 3> all_values(FrameFeatures) {
    return {FrameFeatures::none, FrameFeatures::whole, FrameFeatures::regions};
}

// The kinds a [source] names without a plugin of its own name (SourceKind::plugin).
constexpr std::array<SourceKind, 5> builtin_source_kinds() {
    return {SourceKind::none, SourceKind::idx, SourceKind::directory, SourceKind::video,
            SourceKind::topic};
}

// ---- From a field's C++ type to the key's type, and values both ways.

template <typename T> struct FieldType;
template <> struct FieldType<bool> { static constexpr tierd_config_type type = TIERD_CONFIG_BOOL; };
template <> struct FieldType<int> { static constexpr tierd_config_type type = TIERD_CONFIG_INT; };
template <> struct FieldType<std::int64_t> {
    static constexpr tierd_config_type type = TIERD_CONFIG_INT;
};
template <> struct FieldType<double> {
    static constexpr tierd_config_type type = TIERD_CONFIG_DOUBLE;
};
template <> struct FieldType<std::string> {
    static constexpr tierd_config_type type = TIERD_CONFIG_STRING;
};
template <> struct FieldType<std::vector<std::string>> {
    static constexpr tierd_config_type type = TIERD_CONFIG_STRING;
};

template <typename T> void assign(T &field, const ConfigValue &value) {
    if constexpr (std::is_enum_v<T>) {
        const auto &name = std::get<std::string>(value);
        for (T v : all_values(T{}))
            if (to_string(v) == name)
                field = v;
    } else if constexpr (std::is_same_v<T, int>) {
        field = static_cast<int>(std::get<std::int64_t>(value));
    } else {
        field = std::get<T>(value);
    }
}

template <typename T> ConfigValue value_of(const T &field) {
    if constexpr (std::is_enum_v<T>)
        return std::string(to_string(field));
    else if constexpr (std::is_same_v<T, int>)
        return static_cast<std::int64_t>(field);
    else
        return field;
}

// The field `Member` of the section `Section` of a Config.
template <auto Section, auto Member> struct Field {
    static void store(Config &c, const ConfigValue &v) { assign((c.*Section).*Member, v); }
    static ConfigValue load(const Config &c) { return value_of((c.*Section).*Member); }
    using Type = std::remove_cvref_t<decltype(std::declval<Config &>().*Section.*Member)>;
};

// A key under construction: key<&Config::mqtt, &MqttConfig::port>("port", "...").range(...).
struct Decl {
    CoreConfigKey k;

    Decl &range(double lo, double hi) {
        k.key.min = lo;
        k.key.max = hi;
        k.key.flags |= TIERD_CONFIG_HAS_MIN | TIERD_CONFIG_HAS_MAX;
        return *this;
    }
    // A file path; with `must_exist`, a non-empty value must name a readable file.
    Decl &path(bool must_exist = false) {
        k.key.type = TIERD_CONFIG_PATH;
        if (must_exist)
            k.key.flags |= TIERD_CONFIG_MUST_EXIST;
        return *this;
    }
    Decl &secret() {
        k.key.flags |= TIERD_CONFIG_SECRET;
        return *this;
    }
    Decl &rule(ValueRule r) {
        k.rule = r;
        return *this;
    }
};

template <auto Section, auto Member> Decl key(std::string name, std::string doc) {
    using F = Field<Section, Member>;
    using T = typename F::Type;
    Decl d;
    d.k.key.name = std::move(name);
    d.k.key.doc = std::move(doc);
    d.k.store = &F::store;
    d.k.load = &F::load;
    if constexpr (std::is_enum_v<T>) {
        d.k.key.type = TIERD_CONFIG_ENUM;
        for (T v : all_values(T{}))
            d.k.key.choices.emplace_back(to_string(v));
    } else {
        d.k.key.type = FieldType<T>::type;
        d.k.key.list = std::is_same_v<T, std::vector<std::string>>;
    }
    return d;
}

// ---- Value rules.

bool chars_ok(std::string_view s, std::string_view extra, bool allow_upper) {
    return std::all_of(s.begin(), s.end(), [&](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               (allow_upper && c >= 'A' && c <= 'Z') || extra.find(c) != std::string_view::npos;
    });
}

std::string device_id_rule(const std::string &v) {
    return chars_ok(v, "_.-", true) ? ""
                                    : "invalid value '" + v + "', expected [A-Za-z0-9_.-]+ or \"\"";
}

std::string group_rule(const std::string &v) {
    return !v.empty() && chars_ok(v, "_-", false)
               ? ""
               : "invalid value '" + v + "', expected [a-z0-9_-]+";
}

std::string not_empty_rule(const std::string &v) {
    return v.empty() ? "must not be empty" : "";
}

std::string non_empty_path_rule(const std::string &v) {
    return v.empty() ? "invalid value '', expected a non-empty path" : "";
}

std::string plugin_name_rule(const std::string &v) {
    return chars_ok(v, "-", false)
               ? ""
               : "invalid plugin name '" + v + "', expected [a-z0-9-]+ or \"\" for none";
}

// A built-in kind, or a plugin's: [a-z0-9][a-z0-9-]* (the plugin is "source-<kind>").
std::string source_kind_rule(const std::string &v) {
    const bool plugin_kind = !v.empty() && v.front() != '-' && chars_ok(v, "-", false);
    if (plugin_kind)
        return "";
    std::string names;
    for (SourceKind k : builtin_source_kinds())
        names += "'" + std::string(to_string(k)) + "', ";
    return "invalid value '" + v + "', expected one of " + names +
           "or a source plugin's kind ([a-z0-9][a-z0-9-]*, served by source-<kind>)";
}

void store_source_kind(Config &c, const ConfigValue &value) {
    const auto &name = std::get<std::string>(value);
    c.source.kind_name = name;
    c.source.kind = SourceKind::plugin;
    for (SourceKind k : builtin_source_kinds())
        if (to_string(k) == name)
            c.source.kind = k;
}

ConfigValue load_source_kind(const Config &c) {
    // A built-in kind set in code (kind alone) still shows its own name.
    return c.source.kind == SourceKind::plugin ? c.source.kind_name
                                               : std::string(to_string(c.source.kind));
}

Decl source_kind_key(std::string doc) {
    Decl d;
    d.k.key.name = "kind";
    d.k.key.type = TIERD_CONFIG_STRING;
    d.k.key.doc = std::move(doc);
    d.k.rule = &source_kind_rule;
    d.k.store = &store_source_kind;
    d.k.load = &load_source_kind;
    return d;
}

constexpr double kTiB = double(std::int64_t{1} << 40);

std::vector<CoreConfigSection> build_sections() {
    std::vector<CoreConfigSection> s;
    s.push_back({"agent", "Who this agent is and where it stands in the hierarchy.", {}});
    auto *keys = &s.back().keys;
    auto add = [&](Decl d) { keys->push_back(std::move(d.k)); };
    add(key<&Config::agent, &AgentConfig::device_id>(
            "device_id", "Device identifier used in MQTT topics; \"\" = use the hostname. "
                         "Characters: [A-Za-z0-9_.-]")
            .rule(&device_id_rule));
    add(key<&Config::agent, &AgentConfig::role>("role", "Role of this node in the hierarchy."));
    add(key<&Config::agent, &AgentConfig::groups>(
            "groups", "Group memberships for group-addressed commands; each matches [a-z0-9_-]+.")
            .rule(&group_rule));
    add(key<&Config::agent, &AgentConfig::log_level>("log_level", "Log verbosity."));
    add(key<&Config::agent, &AgentConfig::drain_timeout_ms>(
            "drain_timeout_ms",
            "How long shutdown waits for in-flight work to finish, in milliseconds.")
            .range(0, 600000));
    add(key<&Config::agent, &AgentConfig::state_dir>(
            "state_dir", "Where the agent keeps what must outlive a restart (its measured model "
                         "profile, the spool); \"\" = nothing.")
            .path());

    s.push_back({"workers", "Worker threads and the end agent's task bound.", {}});
    keys = &s.back().keys;
    add(key<&Config::workers, &WorkersConfig::threads>(
            "threads", "Worker threads (libuv's pool, sized at start); 0 = one per CPU core.")
            .range(0, 64));
    add(key<&Config::workers, &WorkersConfig::queue_limit>(
            "queue_limit",
            "End agent: tasks in its pipeline at once, from the source to the result. Input-topic "
            "messages wait (running or buffered) up to twice this many; then `overflow` "
            "applies. File and camera sources are read only as tasks finish. Edge and cloud "
            "agents do not use it: see offload.max_in_flight.")
            .range(1, 100000));
    add(key<&Config::workers, &WorkersConfig::overflow>(
        "overflow", "When twice queue_limit input-topic messages wait: \"reject\" drops the new "
                    "message, \"drop-oldest\" drops the oldest waiting one instead; either is "
                    "counted in status (tasks.dropped)."));

    s.push_back({"mqtt", "The broker and how to reach it.", {}});
    keys = &s.back().keys;
    add(key<&Config::mqtt, &MqttConfig::host>("host", "Broker host name or address.")
            .rule(&not_empty_rule));
    add(key<&Config::mqtt, &MqttConfig::port>("port", "Broker port.").range(1, 65535));
    add(key<&Config::mqtt, &MqttConfig::keepalive_s>("keepalive_s",
                                                     "MQTT keepalive interval in seconds.")
            .range(5, 3600));
    add(key<&Config::mqtt, &MqttConfig::username>("username",
                                                  "Broker user name; \"\" = anonymous."));
    add(key<&Config::mqtt, &MqttConfig::password>("password", "Broker password.").secret());
    add(key<&Config::mqtt, &MqttConfig::tls_ca_file>(
            "tls_ca_file", "CA bundle for TLS; \"\" = no TLS (and no client certificate).")
            .path(true));
    add(key<&Config::mqtt, &MqttConfig::tls_cert_file>(
            "tls_cert_file", "Client certificate for mutual TLS, with tls_key_file and "
                             "tls_ca_file; \"\" = none.")
            .path(true));
    add(key<&Config::mqtt, &MqttConfig::tls_key_file>(
            "tls_key_file", "Client private key for mutual TLS, with tls_cert_file; \"\" = none.")
            .path(true));
    add(key<&Config::mqtt, &MqttConfig::reconnect_min_ms>(
            "reconnect_min_ms", "Initial reconnect back-off in milliseconds.")
            .range(10, 600000));
    add(key<&Config::mqtt, &MqttConfig::reconnect_max_ms>(
            "reconnect_max_ms",
            "Maximum reconnect back-off in milliseconds; at least reconnect_min_ms.")
            .range(10, 600000));
    add(key<&Config::mqtt, &MqttConfig::tcp_user_timeout_ms>(
            "tcp_user_timeout_ms",
            "How long data sent to the broker may stay unacknowledged before the connection "
            "counts as lost and is made again (TCP_USER_TIMEOUT), in milliseconds; 0 = the "
            "kernel's default (it retransmits, backing off, for about 15 minutes, and data "
            "sent meanwhile waits behind). A link cut then ends in a reconnect, which is "
            "quick once the link is back.")
            .range(0, 600000));
    add(key<&Config::mqtt, &MqttConfig::failure_reminder_s>(
            "failure_reminder_s",
            "While connection attempts keep failing the same way, the log repeats it at most "
            "this often, in seconds, with the count of attempts since (the first failure, "
            "and a new kind of failure, are logged at once).")
            .range(1, 86400));
    add(key<&Config::mqtt, &MqttConfig::qos>("qos", "QoS for published messages.").range(0, 2));

    s.push_back({"telemetry", "Samples of this device's state, published at an interval.", {}});
    keys = &s.back().keys;
    add(key<&Config::telemetry, &TelemetryConfig::interval_ms>(
            "interval_ms", "Telemetry publish interval in milliseconds.")
            .range(100, 3600000));
    add(key<&Config::telemetry, &TelemetryConfig::durable>(
        "durable", "Send telemetry through the durable spool (QoS 1, kept while the broker is "
                   "away, like results) instead of at QoS 0, where a sample missed while "
                   "offline is gone."));

    s.push_back({"hal", "The hardware abstraction layer.", {}});
    keys = &s.back().keys;
    add(key<&Config::hal, &HalConfig::root>(
            "root", "Filesystem root the HAL reads from (for tests and containers).")
            .path());
    add(key<&Config::hal, &HalConfig::profile>(
        "profile", "Hardware profile name: <name>.toml in profile_dirs, then the installed "
                   "profiles; --check-config fails when none is found."));
    add(key<&Config::hal, &HalConfig::profile_dirs>(
            "profile_dirs", "Extra directories searched for hardware profiles, before the "
                            "built-in ones.")
            .path()
            .rule(&non_empty_path_rule));

    s.push_back({"source", "Where an end agent's tasks come from.", {}});
    keys = &s.back().keys;
    add(source_kind_key(
        "\"none\", \"idx\" (an IDX image file, .gz or raw, e.g. Fashion-MNIST's "
        "t10k-images-idx3-ubyte.gz), \"directory\" (image files, in name order), \"video\" (a "
        "video file, or a camera by its index: path = \"0\"), \"topic\" (images published to "
        "tierd/v1/dev/<id>/input: PNG/JPEG/BMP/PGM bytes, or the offload format), or another "
        "kind [a-z0-9][a-z0-9-]* served by the source plugin source-<kind>."));
    add(key<&Config::source, &SourceConfig::path>(
        "path", "The file, directory, or camera index the source reads; idx, directory and "
                "video need one."));
    add(key<&Config::source, &SourceConfig::labels>(
            "labels",
            "kind = \"idx\": the matching IDX labels file, so results say whether they were "
            "right.")
            .path(true));
    add(key<&Config::source, &SourceConfig::limit>("limit", "Stop after this many images; 0 = all.")
            .range(0, kTiB));
    add(key<&Config::source, &SourceConfig::rate_hz>(
            "rate_hz", "Images per second; 0 = as fast as the pipeline takes them.")
            .range(0, 100000));

    s.push_back({"results", "Where each finished task's result goes.", {}});
    keys = &s.back().keys;
    add(key<&Config::results, &ResultsConfig::jsonl>(
            "jsonl", "Append one JSON line per finished task to this file; \"\" = no file.")
            .path());
    add(key<&Config::results, &ResultsConfig::publish>(
        "publish", "Publish each result on tierd/v1/dev/<id>/results."));

    s.push_back({"spool",
                 "Results (and durable telemetry) are stored here before they are published, "
                 "and deleted only when the broker has acknowledged them (QoS 1): nothing is "
                 "lost while the broker is unreachable or across a crash or restart "
                 "(docs/mqtt.md, Delivery).",
                 {}});
    keys = &s.back().keys;
    add(key<&Config::spool, &SpoolConfig::storage>(
        "storage", "\"file\" (SQLite in WAL mode) or \"memory\" (lost when the agent stops)."));
    add(key<&Config::spool, &SpoolConfig::path>(
            "path",
            "The spool file; \"\" = <agent.state_dir>/spool.db, or memory when state_dir is "
            "\"\".")
            .path());
    add(key<&Config::spool, &SpoolConfig::max_bytes>("max_bytes",
                                                     "Bound on the payload and topic bytes held.")
            .range(double(std::int64_t{1} << 16), kTiB));
    add(key<&Config::spool, &SpoolConfig::segment_bytes>(
            "segment_bytes",
            "With when_full = \"drop-oldest\", how much of the oldest data is freed at once.")
            .range(double(std::int64_t{1} << 12), double(std::int64_t{1} << 36)));
    add(key<&Config::spool, &SpoolConfig::max_age_s>(
            "max_age_s",
            "Entries older than this many seconds are dropped undelivered; 0 = kept until "
            "delivered.")
            .range(0, double(std::int64_t{10} * 365 * 86400)));
    add(key<&Config::spool, &SpoolConfig::when_full>(
        "when_full", "When max_bytes is reached or the disk is full: drop the oldest entries, "
                     "drop the new entry, or block (the source waits; input-topic images "
                     "beyond the buffer are dropped)."));
    add(key<&Config::spool, &SpoolConfig::sync>(
        "sync", "\"normal\": survives a crash of the agent (kill -9), may lose the last entries "
                "on power loss; \"full\": every batch of writes is fsynced when it commits "
                "(survives power loss; one fsync per batch, on the spool's own thread)."));
    add(key<&Config::spool, &SpoolConfig::window>(
            "window", "Entries published and not yet acknowledged at once (kept below the "
                      "broker's Receive Maximum, less a quarter left for the agent's own "
                      "messages).")
            .range(1, 1000));

    s.push_back({"pipeline", "How an end agent runs a task.", {}});
    keys = &s.back().keys;
    add(key<&Config::pipeline, &PipelineConfig::local_first>(
        "local_first",
        "End: run the local model before the scheduler decides, so the pre-classifier and the "
        "scheduler see its answer and confidence, and a failed offload keeps it (no second "
        "run)."));
    add(key<&Config::pipeline, &PipelineConfig::emulate_slowdown>(
            "emulate_slowdown",
            "Emulate a slower device: local compute stages take this many times their real "
            "duration (the worker sleeps the difference); 1 = off. For benchmarks only.")
            .range(1, 10000));
    add(key<&Config::pipeline, &PipelineConfig::label_budget_per_hour>(
            "label_budget_per_hour",
            "End: images the local model answered that are also sent to the edge (else the "
            "cloud) for the teacher's label, which the inference plugin learns from "
            "(learn(), ABI 1.5; docs/adaptation.md) — at most this many an hour, spread "
            "evenly; 0 = none. The cascade's offloads are labels already: this adds "
            "labels of images the local model was sure of.")
            .range(0, 3.6e6));

    s.push_back({"offload", "Work sent up the hierarchy (end) and served (edge, cloud).", {}});
    keys = &s.back().keys;
    add(key<&Config::offload, &OffloadConfig::timeout_ms>(
            "timeout_ms", "End: how long to wait for an edge/cloud reply before running the "
                          "task here, in milliseconds.")
            .range(10, 600000));
    add(key<&Config::offload, &OffloadConfig::max_in_flight>(
            "max_in_flight", "Edge/cloud: offload requests served at once; more are answered "
                             "\"busy\".")
            .range(1, 10000));
    add(key<&Config::offload, &OffloadConfig::batch_max>(
            "batch_max", "Edge/cloud: requests that wait while the inference jobs are busy run "
                         "together as one batch of up to this many (one forward pass); 1 = no "
                         "batching.")
            .range(1, 256));
    add(key<&Config::offload, &OffloadConfig::probe_interval_ms>(
            "probe_interval_ms",
            "End: how old, in milliseconds, the bandwidth and RTT estimates of the link to "
            "an online edge/cloud tier may grow before a probe refreshes them (0 = no "
            "probes). Real offload round trips are the first source: a busy link is hardly "
            "probed.")
            .range(0, 600000));
    add(key<&Config::offload, &OffloadConfig::frame_jpeg_quality>(
            "frame_jpeg_quality",
            "End: a video frame placed upstream (or sent up as a key frame) travels as a JPEG "
            "of this quality, 1-100; 0 = raw pixels (3 bytes a pixel). Images that are not "
            "video frames always travel as raw pixels.")
            .range(0, 100));
    add(key<&Config::offload, &OffloadConfig::frame_features>(
        "frame_features",
        "End: feature fusion (docs/feature-fusion.md). With \"whole\" or \"regions\", each "
        "video frame sent up asks the upstream detector for its feature map as well (8 bits "
        "a value, deflated: the whole map, or only the cells inside its own boxes), and the "
        "end's detector hands out its own map with each frame, for a fusion plugin that "
        "fuses them (fusion-feature). \"none\": boxes only."));
    add(key<&Config::offload, &OffloadConfig::frame_resend>(
        "frame_resend",
        "End: region re-send (DDS-style; docs/feature-fusion.md). A video frame sent up "
        "travels first resized by frame_low_scale at JPEG quality frame_low_quality; the "
        "serving tier answers the boxes it is sure of (score >= resend_sure) and asks for "
        "the regions of those in [resend_unsure, resend_sure), which follow at "
        "frame_jpeg_quality; its boxes there replace the first round's. Fewer bytes up for "
        "about the same boxes."));
    add(key<&Config::offload, &OffloadConfig::frame_low_scale>(
            "frame_low_scale", "End, frame_resend: the first round's size, a fraction of "
                               "the frame's (each side).")
            .range(0.1, 1.0));
    add(key<&Config::offload, &OffloadConfig::frame_low_quality>(
            "frame_low_quality", "End, frame_resend: the first round's JPEG quality (1-100).")
            .range(1, 100));
    add(key<&Config::offload, &OffloadConfig::resend_sure>(
            "resend_sure", "End, frame_resend: boxes scoring at least this in the first "
                           "round are kept as they are.")
            .range(0, 1));
    add(key<&Config::offload, &OffloadConfig::resend_unsure>(
            "resend_unsure", "End, frame_resend: boxes scoring in [resend_unsure, "
                             "resend_sure) in the first round have their region (plus a "
                             "quarter of its size each side) sent again; at most resend_sure.")
            .range(0, 1));
    add(key<&Config::offload, &OffloadConfig::resend_margin>(
            "resend_margin", "End, frame_resend: each region asked for again is its box grown "
                             "by this fraction of its size on every side (context for the "
                             "detector; more bytes).")
            .range(0, 1));
    add(key<&Config::offload, &OffloadConfig::resend_mosaic>(
        "resend_mosaic",
        "End, frame_resend: the regions asked for again travel packed into one JPEG (one "
        "header and one set of tables instead of one per region: ~600 bytes saved a "
        "region). false: one JPEG per region, for a serving tier older than the mosaic."));
    add(key<&Config::offload, &OffloadConfig::keep_answered>(
            "keep_answered",
            "Edge/cloud: the last this many single-channel images (of up to 256x256 pixels) "
            "answered are kept in memory "
            "per requesting device (at most 64 devices), each with this tier's answer as its "
            "label, for a fine-tuning job that trains that device's model on them "
            "(samples.get, tierctl samples; docs/adaptation.md). 0 = none kept. 28x28 images "
            "take 0.8 KB each.")
            .range(0, 100000));

    s.push_back(
        {"limits", "Bounds on untrusted input, sized for a device with 1 GB of memory.", {}});
    keys = &s.back().keys;
    add(key<&Config::limits, &LimitsConfig::max_pixels>(
            "max_pixels",
            "Largest image (width x height, as its header says) taken from the input topic or "
            "in an offload request; a larger one is refused as too_large before anything is "
            "decoded. 16777216 = 16 megapixels (a 4K frame is 8.3).")
            .range(1, 1073741824));
    add(key<&Config::limits, &LimitsConfig::max_queued_bytes>(
            "max_queued_bytes",
            "Bytes of input-topic messages waiting to become tasks (end), and of offload "
            "requests accepted and not yet answered (edge, cloud); past it new ones are "
            "dropped (end, workers.overflow decides which) or answered busy (edge, cloud).")
            .range(65536, 68719476736));

    s.push_back({"plugins", "Which plugin fills each slot, and where plugins are found.", {}});
    keys = &s.back().keys;
    add(key<&Config::plugins, &PluginsConfig::search_path>(
            "search_path", "Directories searched for plugins; empty = the default search path.")
            .path());
    add(key<&Config::plugins, &PluginsConfig::scheduler>("scheduler",
                                                         "Scheduler plugin; \"\" = none.")
            .rule(&plugin_name_rule));
    add(key<&Config::plugins, &PluginsConfig::preclassifier>("preclassifier",
                                                             "Pre-classifier plugin; \"\" = none.")
            .rule(&plugin_name_rule));
    add(key<&Config::plugins, &PluginsConfig::inference>("inference",
                                                         "Inference plugin; \"\" = none.")
            .rule(&plugin_name_rule));
    add(key<&Config::plugins, &PluginsConfig::fusion>("fusion", "Fusion plugin; \"\" = none.")
            .rule(&plugin_name_rule));

    s.push_back({"models",
                 "Model updates from the fleet (models.update; kept under "
                 "<agent.state_dir>/models): an activated version is checked on a held-back "
                 "buffer of labelled images and rolled back when it does worse there than the "
                 "version it replaced (docs/models.md).",
                 {}});
    keys = &s.back().keys;
    add(key<&Config::models, &ModelsConfig::holdout>(
            "holdout", "IDX images of the held-back buffer; \"\" = the inference plugin "
                       "manifest's dataset_dir/t10k-images-idx3-ubyte.gz.")
            .path());
    add(key<&Config::models, &ModelsConfig::holdout_labels>(
            "holdout_labels", "IDX labels of holdout; \"\" = the manifest's "
                              "dataset_dir/t10k-labels-idx1-ubyte.gz.")
            .path());
    add(key<&Config::models, &ModelsConfig::holdout_images>(
            "holdout_images", "How many images of the held-back buffer (the file's last ones); "
                              "0 = no check.")
            .range(0, 100000));
    add(key<&Config::models, &ModelsConfig::max_drop_points>(
            "max_drop_points", "An activated version more than this many accuracy points below "
                               "the one it replaced on the held-back buffer is rolled back.")
            .range(0, 100));
    add(key<&Config::models, &ModelsConfig::teacher_images>(
            "teacher_images",
            "The last this many gray images (up to 256x256) answered upstream (edge, cloud) "
            "are kept with the "
            "upstream's answer, their teacher label; an activated version that agrees with "
            "those labels more than teacher_drop_points less than the version it replaced is "
            "rolled back. 0 = none kept, no such check. 28x28 images take 0.8 KB each.")
            .range(0, 100000));
    add(key<&Config::models, &ModelsConfig::teacher_min_images>(
            "teacher_min_images", "Fewer teacher-labelled images kept than this at an "
                                  "activation: the teacher check is skipped (too few to tell).")
            .range(1, 100000));
    add(key<&Config::models, &ModelsConfig::teacher_drop_points>(
            "teacher_drop_points", "An activated version agreeing with the teacher labels more "
                                   "than this many points less than the one it replaced is "
                                   "rolled back.")
            .range(0, 100));

    // Defaults: what a default-built Config holds.
    const Config defaults;
    for (auto &section : s)
        for (auto &k : section.keys)
            k.key.default_value = k.load(defaults);
    return s;
}

} // namespace

const CoreConfigKey *CoreConfigSection::find(std::string_view key_name) const {
    auto it = std::find_if(keys.begin(), keys.end(),
                           [&](const CoreConfigKey &k) { return k.key.name == key_name; });
    return it == keys.end() ? nullptr : &*it;
}

const std::vector<CoreConfigSection> &core_config_sections() {
    static const std::vector<CoreConfigSection> sections = build_sections();
    return sections;
}

} // namespace tierd
