#include "agent/config/config_json.hpp"

#include <sstream>

namespace tierd {
namespace {

nlohmann::json table_to_json(const toml::table &t) {
    std::ostringstream ss;
    ss << toml::json_formatter{t};
    return nlohmann::json::parse(ss.str(), nullptr, false);
}

std::string redact(const std::string &secret) {
    return secret.empty() ? "" : kRedacted;
}

} // namespace

nlohmann::json to_json(const Config &c) {
    nlohmann::json j;
    j["agent"] = {{"device_id", c.agent.device_id},
                  {"role", to_string(c.agent.role)},
                  {"groups", c.agent.groups},
                  {"log_level", to_string(c.agent.log_level)},
                  {"drain_timeout_ms", c.agent.drain_timeout_ms},
                  {"state_dir", c.agent.state_dir}};
    j["workers"] = {{"threads", c.workers.threads},
                    {"queue_limit", c.workers.queue_limit},
                    {"overflow", to_string(c.workers.overflow)}};
    j["mqtt"] = {{"host", c.mqtt.host},
                 {"port", c.mqtt.port},
                 {"keepalive_s", c.mqtt.keepalive_s},
                 {"username", c.mqtt.username},
                 {"password", redact(c.mqtt.password)},
                 {"tls_ca_file", c.mqtt.tls_ca_file},
                 {"tls_cert_file", c.mqtt.tls_cert_file},
                 {"tls_key_file", c.mqtt.tls_key_file},
                 {"reconnect_min_ms", c.mqtt.reconnect_min_ms},
                 {"reconnect_max_ms", c.mqtt.reconnect_max_ms},
                 {"qos", c.mqtt.qos}};
    j["telemetry"] = {{"interval_ms", c.telemetry.interval_ms}, {"durable", c.telemetry.durable}};
    j["hal"] = {
        {"root", c.hal.root}, {"profile", c.hal.profile}, {"profile_dirs", c.hal.profile_dirs}};
    j["source"] = {{"kind", to_string(c.source.kind)},
                   {"path", c.source.path},
                   {"labels", c.source.labels},
                   {"limit", c.source.limit},
                   {"rate_hz", c.source.rate_hz}};
    j["offload"] = {{"timeout_ms", c.offload.timeout_ms},
                    {"max_in_flight", c.offload.max_in_flight},
                    {"batch_max", c.offload.batch_max},
                    {"probe_interval_ms", c.offload.probe_interval_ms}};
    j["pipeline"] = {{"local_first", c.pipeline.local_first},
                     {"emulate_slowdown", c.pipeline.emulate_slowdown}};
    j["results"] = {{"jsonl", c.results.jsonl}, {"publish", c.results.publish}};
    j["spool"] = {{"storage", to_string(c.spool.storage)},
                  {"path", c.spool.path},
                  {"max_bytes", c.spool.max_bytes},
                  {"segment_bytes", c.spool.segment_bytes},
                  {"max_age_s", c.spool.max_age_s},
                  {"when_full", to_string(c.spool.when_full)},
                  {"sync", to_string(c.spool.sync)},
                  {"window", c.spool.window}};
    j["plugins"] = {{"search_path", c.plugins.search_path},
                    {"scheduler", c.plugins.scheduler},
                    {"preclassifier", c.plugins.preclassifier},
                    {"inference", c.plugins.inference},
                    {"fusion", c.plugins.fusion}};
    nlohmann::json plugin = nlohmann::json::object();
    for (const auto &[name, table] : c.plugin_tables)
        plugin[name] = table_to_json(table);
    j["plugin"] = std::move(plugin);
    return j;
}

std::vector<std::string> secret_values(const Config &c) {
    std::vector<std::string> out;
    if (!c.mqtt.password.empty())
        out.push_back(c.mqtt.password);
    return out;
}

} // namespace tierd
