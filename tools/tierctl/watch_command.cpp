// `tierctl watch [DEVICE...]`: telemetry and status changes as they arrive, one line each.
#include "common/topics.hpp"
#include "tools/tierctl/broker_session.hpp"
#include "tools/tierctl/console_cli.hpp"
#include "tools/tierctl/exit_codes.hpp"
#include "tools/tierctl/fleet_status.hpp"

#include <fmt/format.h>

#include <chrono>
#include <csignal>
#include <ctime>
#include <iostream>

namespace tierctl {

namespace {

volatile std::sig_atomic_t g_stop_signal = 0;

void on_stop_signal(int signum) {
    g_stop_signal = signum;
}

// SIGINT/SIGTERM end the watch cleanly; no SA_RESTART, so a waiting select() returns.
void install_stop_handlers() {
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
}

struct WatchOptions {
    std::vector<std::string> devices;
    long count = 0;        // telemetry documents to show; 0 = unbounded
    double duration_s = 0; // 0 = unbounded
};

std::string local_time_now() {
    auto now = std::chrono::system_clock::now();
    auto seconds = std::chrono::system_clock::to_time_t(now);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
    std::tm tm{};
    localtime_r(&seconds, &tm);
    char buffer[32];
    std::strftime(buffer, sizeof buffer, "%H:%M:%S", &tm);
    return fmt::format("{}.{:03d}", buffer, static_cast<int>(ms.count()));
}

std::string iso_time_now() {
    auto now = std::chrono::system_clock::now();
    auto seconds = std::chrono::system_clock::to_time_t(now);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    char buffer[32];
    std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S", &tm);
    return fmt::format("{}.{:03d}Z", buffer, static_cast<int>(ms.count()));
}

const nlohmann::json *at(const nlohmann::json &doc, std::initializer_list<const char *> path) {
    const nlohmann::json *node = &doc;
    for (const char *key : path) {
        if (!node->is_object() || !node->contains(key))
            return nullptr;
        node = &(*node)[key];
    }
    return node;
}

// One line of the telemetry document's headline numbers; --json has the whole document.
std::string telemetry_summary(const nlohmann::json &doc) {
    std::vector<std::string> parts;
    auto number = [&](std::initializer_list<const char *> path) -> std::optional<double> {
        const nlohmann::json *v = at(doc, path);
        return v && v->is_number() ? std::optional<double>(v->get<double>()) : std::nullopt;
    };
    if (auto role = at(doc, {"role"}); role && role->is_string())
        parts.push_back("role=" + role->get<std::string>());
    if (auto v = number({"uptime_s"}))
        parts.push_back(fmt::format("uptime={:.1f}s", *v));
    if (auto v = number({"hal", "cpu", "load"}))
        parts.push_back(fmt::format("cpu={:.0f}%", *v * 100));
    auto total = number({"hal", "memory", "total_bytes"});
    auto available = number({"hal", "memory", "available_bytes"});
    if (total && available && *total > 0)
        parts.push_back(fmt::format("mem={:.0f}%", 100.0 * (1.0 - *available / *total)));
    if (const auto *zones = at(doc, {"hal", "thermal"}); zones && zones->is_array()) {
        double hottest = -1e9;
        for (const auto &z : *zones)
            if (z.is_object() && z.contains("temp_c") && z["temp_c"].is_number())
                hottest = std::max(hottest, z["temp_c"].get<double>());
        if (hottest > -1e9)
            parts.push_back(fmt::format("temp={:.1f}C", hottest));
    }
    if (auto v = number({"energy", "power_w"}))
        parts.push_back(fmt::format("power={:.2f}W", *v));
    if (auto v = number({"energy", "energy_j"}))
        parts.push_back(fmt::format("energy={:.2f}J", *v));
    if (auto source = at(doc, {"energy", "source"}); source && source->is_string())
        parts.push_back("(" + source->get<std::string>() + ")");
    if (auto plugins = at(doc, {"plugins"}); plugins && plugins->is_object() && !plugins->empty()) {
        std::vector<std::string> names;
        for (const auto &[name, metrics] : plugins->items())
            names.push_back(name);
        parts.push_back(fmt::format("plugins={}", fmt::join(names, ",")));
    }
    return fmt::format("{}", fmt::join(parts, " "));
}

int run_watch(const GlobalOptions &globals, const WatchOptions &options) {
    for (const auto &device : options.devices)
        if (!tierd::topics::is_topic_level(device))
            throw UsageError("device \"" + device + "\" is not a valid name (no '/', '+', '#')");
    BrokerSession session(globals.resolve());
    install_stop_handlers();
    long telemetry_seen = 0;
    session.on_message = [&](const InboundMessage &m) {
        if (m.retained) // the current statuses, not changes: `tierctl devices` shows them
            return;
        using tierd::topics::DeviceLeaf;
        auto topic = tierd::topics::parse_device_topic(m.topic);
        if (!topic || (topic->leaf != DeviceLeaf::telemetry && topic->leaf != DeviceLeaf::status))
            return;
        const std::string kind(tierd::topics::leaf_name(topic->leaf));
        const std::string device(topic->device_id);
        if (options.count > 0 && telemetry_seen >= options.count)
            return;
        auto doc = nlohmann::json::parse(m.payload, nullptr, false);
        if (globals.json) {
            nlohmann::json line = {{"time", iso_time_now()}, {"kind", kind}, {"device_id", device}};
            line["doc"] = doc.is_discarded() ? nlohmann::json(m.payload) : doc;
            std::cout << line.dump() << std::endl;
        } else if (kind == "telemetry") {
            std::cout << fmt::format("{} {} telemetry {}", local_time_now(), device,
                                     doc.is_discarded() ? "(not JSON)" : telemetry_summary(doc))
                      << std::endl;
        } else {
            FleetStatus one;
            one.apply(m.topic, m.payload);
            const DeviceStatus *s = one.find(device);
            std::cout << fmt::format("{} {} status {}", local_time_now(), device,
                                     s ? s->state : "cleared")
                      << (s && !s->role.empty() ? " role=" + s->role : "")
                      << (s && !s->version.empty() ? " version=" + s->version : "") << std::endl;
        }
        if (kind == "telemetry")
            ++telemetry_seen;
    };
    std::vector<std::string> filters;
    if (options.devices.empty()) {
        filters = {std::string(tierd::topics::kEveryTelemetryFilter),
                   std::string(tierd::topics::kEveryStatusFilter)};
    } else {
        for (const auto &device : options.devices) {
            filters.push_back(
                tierd::topics::device_topic(device, tierd::topics::DeviceLeaf::telemetry));
            filters.push_back(
                tierd::topics::device_topic(device, tierd::topics::DeviceLeaf::status));
        }
    }
    session.subscribe(filters, 0);

    auto deadline = options.duration_s > 0
                        ? Clock::now() + std::chrono::milliseconds(
                                             static_cast<long>(options.duration_s * 1000.0))
                        : Clock::time_point::max();
    // pump_until wakes at least every 50 ms, so a signal is seen promptly.
    session.pump_until(deadline, [&] {
        return g_stop_signal != 0 || (options.count > 0 && telemetry_seen >= options.count);
    });
    session.close();
    if (g_stop_signal == 0 && options.count > 0 && telemetry_seen < options.count) {
        std::cerr << fmt::format("tierctl: {} of {} telemetry documents within {} s\n",
                                 telemetry_seen, options.count, options.duration_s);
        return kExitFailure;
    }
    return kExitOk;
}

} // namespace

Runner add_watch_command(CLI::App &app, const GlobalOptions &globals) {
    auto options = std::make_shared<WatchOptions>();
    auto *command = app.add_subcommand(
        "watch", "Show telemetry and status changes as they arrive, one line each, until "
                 "Ctrl-C (SIGINT/SIGTERM end it with exit 0); --json: one JSON object per line");
    command->add_option("devices", options->devices, "Devices to watch (default: all)");
    command
        ->add_option("--count,-n", options->count,
                     "Stop after N telemetry documents (exit 1 if --duration ends first)")
        ->check(CLI::PositiveNumber);
    command->add_option("--duration,-d", options->duration_s, "Stop after S seconds")
        ->check(CLI::PositiveNumber);
    command->footer(kExitCodesHelp);
    return [&globals, options] { return run_watch(globals, *options); };
}

} // namespace tierctl
