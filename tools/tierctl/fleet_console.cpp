#include "tools/tierctl/fleet_console.hpp"

#include "common/topics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <random>
#include <set>

namespace tierctl {

namespace {

// The broker sends a subscription's retained messages right after its SUBACK, before
// anything published later; if a marker does not come back (an ACL, say), a quiet
// period ends the wait instead.
constexpr auto kMarkerWait = std::chrono::seconds(3);

std::string random_token() {
    static std::mt19937_64 rng{std::random_device{}()};
    return fmt::format("{:016x}", rng());
}

double ms_between(Clock::time_point from, Clock::time_point to) {
    return std::chrono::duration<double, std::milli>(to - from).count();
}

} // namespace

FleetConsole::FleetConsole(const ConnectionOptions &options)
    : session_(std::make_unique<BrokerSession>(options)),
      // A topic level from the client id: wildcards and separators would change the topic.
      reply_topic_(
          tierd::topics::console_reply_topic(tierd::topics::topic_level_from(options.client_id))),
      marker_("marker-" + random_token()) {
    session_->on_message = [this](const InboundMessage &m) { on_message(m); };
    // QoS 1 for replies (they are the answers we wait for); statuses at QoS 0 keep the
    // retained backlog and the marker in one ordered stream.
    session_->subscribe({reply_topic_}, 1);
    session_->subscribe({std::string(tierd::topics::kEveryStatusFilter)}, 0);
    read_retained_statuses();
}

FleetConsole::~FleetConsole() {
    session_->close();
}

void FleetConsole::on_message(const InboundMessage &message) {
    if (fleet_.apply(message.topic, message.payload))
        return;
    if (message.topic != reply_topic_)
        return;
    if (message.correlation_data == marker_) {
        marker_seen_ = true;
        return;
    }
    auto it = inbox_.find(message.correlation_data);
    if (it != inbox_.end()) // replies to requests of another run are not ours to show
        it->second.push_back({message.payload, Clock::now()});
}

void FleetConsole::read_retained_statuses() {
    session_->publish(reply_topic_, "", 0, {}, marker_);
    if (session_->pump_until(Clock::now() + kMarkerWait, [this] { return marker_seen_; }))
        return;
    size_t seen = fleet_.devices().size();
    auto quiet_until = Clock::now() + std::chrono::milliseconds(500);
    session_->pump_until(Clock::now() + kMarkerWait, [&] {
        if (fleet_.devices().size() != seen) {
            seen = fleet_.devices().size();
            quiet_until = Clock::now() + std::chrono::milliseconds(500);
        }
        return Clock::now() >= quiet_until;
    });
}

std::string FleetConsole::send(const std::string &topic, const std::string &op,
                               const nlohmann::json &args) {
    nlohmann::json request = {{"op", op}};
    if (args.is_object() && !args.empty())
        request["args"] = args;
    std::string correlation = random_token();
    inbox_[correlation];
    session_->publish(topic, request.dump(), 1, reply_topic_, correlation);
    return correlation;
}

std::map<std::string, std::vector<std::string>>
FleetConsole::device_groups(Clock::time_point deadline) {
    std::map<std::string, std::vector<std::string>> groups;
    std::set<std::string> to_ask;
    for (const auto &[id, status] : fleet_.devices()) {
        if (status.groups)
            groups[id] = *status.groups;
        else if (status.online())
            to_ask.insert(id);
    }
    if (to_ask.empty())
        return groups;
    std::string correlation = send(Target{Target::Kind::fleet, {}}.topic(), "get-config", {});
    std::set<std::string> answered;
    session_->pump_until(deadline, [&] {
        for (const auto &arrival : inbox_[correlation]) {
            auto reply = nlohmann::json::parse(arrival.payload, nullptr, false);
            if (!reply.is_object() || !reply.contains("device_id") ||
                !reply["device_id"].is_string() || reply.value("ok", nlohmann::json()) != true)
                continue;
            std::string id = reply["device_id"].get<std::string>();
            auto list = reply.value("result", nlohmann::json::object())
                            .value("agent", nlohmann::json::object())
                            .value("groups", nlohmann::json::array());
            if (!list.is_array())
                continue;
            answered.insert(id);
            auto &mine = groups[id];
            for (const auto &g : list)
                if (g.is_string())
                    mine.push_back(g.get<std::string>());
        }
        inbox_[correlation].clear();
        return std::includes(answered.begin(), answered.end(), to_ask.begin(), to_ask.end());
    });
    inbox_.erase(correlation);
    return groups;
}

std::vector<std::string> FleetConsole::group_members(const std::string &group,
                                                     Clock::time_point deadline,
                                                     std::vector<std::string> &unknown) {
    auto groups = device_groups(deadline);
    std::vector<std::string> members;
    for (const auto &[id, status] : fleet_.devices()) {
        auto it = groups.find(id);
        if (it == groups.end())
            unknown.push_back(id);
        else if (std::count(it->second.begin(), it->second.end(), group))
            members.push_back(id);
    }
    return members;
}

CommandOutcome FleetConsole::run(const Target &target, const std::string &op,
                                 const nlohmann::json &args, std::chrono::milliseconds timeout) {
    const auto started = Clock::now();
    const auto deadline = started + timeout;
    CommandOutcome outcome;
    outcome.op = op;
    outcome.args = args.is_null() ? nlohmann::json::object() : args;
    outcome.target = target;
    switch (target.kind) {
    case Target::Kind::device: outcome.expected = {target.name}; break;
    case Target::Kind::fleet:
        for (const auto &[id, status] : fleet_.devices())
            outcome.expected.push_back(id);
        break;
    case Target::Kind::group:
        outcome.expected = group_members(target.name, deadline, outcome.membership_unknown);
        break;
    }
    const std::set<std::string> expected(outcome.expected.begin(), outcome.expected.end());
    const auto sent_at = Clock::now();
    const std::string correlation = send(target.topic(), op, outcome.args);

    std::set<std::string> answered;
    auto take_arrivals = [&] {
        for (const auto &arrival : inbox_[correlation]) {
            ReplyRecord record;
            record.latency_ms = ms_between(sent_at, arrival.at);
            record.reply = nlohmann::json::parse(arrival.payload, nullptr, false);
            if (record.reply.is_discarded()) {
                record.reply = nullptr;
                record.problem = "bad reply: not JSON";
            } else if (!record.reply.is_object() || !record.reply.contains("device_id") ||
                       !record.reply["device_id"].is_string()) {
                record.problem = "bad reply: no device_id";
            } else {
                record.device_id = record.reply["device_id"].get<std::string>();
                auto ok = record.reply.find("ok");
                record.ok = ok != record.reply.end() && ok->is_boolean() && ok->get<bool>();
                if (!answered.insert(record.device_id).second)
                    continue; // "exactly one per request": a duplicate is the broker's QoS 1
            }
            record.expected = expected.count(record.device_id) > 0;
            outcome.replies.push_back(std::move(record));
        }
        inbox_[correlation].clear();
    };
    // Waiting for a device its status calls offline is pointless: it has no session.
    auto waiting_for = [&](const std::string &id) {
        const DeviceStatus *status = fleet_.find(id);
        return !answered.count(id) && !(status && status->state == "offline");
    };
    session_->pump_until(deadline, [&] {
        take_arrivals();
        return std::none_of(outcome.expected.begin(), outcome.expected.end(), waiting_for);
    });
    take_arrivals();
    inbox_.erase(correlation);

    for (const auto &id : outcome.expected)
        if (!answered.count(id)) {
            const DeviceStatus *status = fleet_.find(id);
            outcome.missing.push_back({id, status ? status->state : "unknown"});
        }
    outcome.elapsed_ms = ms_between(started, Clock::now());
    return outcome;
}

} // namespace tierctl
