// A console session: the broker connection, the fleet's retained statuses, and commands
// with MQTT 5 request/response (a response topic of this session's own, correlation
// data per request), as docs/mqtt.md describes them.
#pragma once

#include "tools/tierctl/broker_session.hpp"
#include "tools/tierctl/command_outcome.hpp"
#include "tools/tierctl/fleet_status.hpp"

#include <chrono>
#include <map>
#include <memory>

namespace tierctl {

class FleetConsole {
  public:
    // Connects, subscribes to the statuses and this session's reply topic, and waits
    // until the broker has sent every retained status (see read_retained_statuses).
    explicit FleetConsole(const ConnectionOptions &options);
    ~FleetConsole();

    const FleetStatus &fleet() const { return fleet_; }

    // Sends {"op", "args"} to the target's topic and collects the replies until every
    // expected device that is not offline has answered, or the timeout. Expected: the
    // device itself; every device with a status (--all); the group's members (--group).
    CommandOutcome run(const Target &target, const std::string &op, const nlohmann::json &args,
                       std::chrono::milliseconds timeout);

    // Each device's groups: from its status when it carries them; v1 statuses do not, so
    // online devices are asked for their running config (get-config on the fleet topic)
    // until all answered or the deadline. Devices missing from the map: unknown.
    std::map<std::string, std::vector<std::string>> device_groups(Clock::time_point deadline);

  private:
    struct Arrival {
        std::string payload;
        Clock::time_point at;
    };

    void on_message(const InboundMessage &message);
    void read_retained_statuses();
    // Sends the request and returns its correlation data; replies collect in inbox_.
    std::string send(const std::string &topic, const std::string &op, const nlohmann::json &args);
    // The devices a group command should reach, from device_groups.
    std::vector<std::string> group_members(const std::string &group, Clock::time_point deadline,
                                           std::vector<std::string> &membership_unknown);

    std::unique_ptr<BrokerSession> session_;
    FleetStatus fleet_;
    std::string reply_topic_;
    std::string marker_;
    bool marker_seen_ = false;
    std::map<std::string, std::vector<Arrival>> inbox_; // by correlation data
};

} // namespace tierctl
