// Which component handles which MQTT topic: one table, built from the contract's topic
// names (common/topics.hpp), that subscribes each route on the agent's link and hands
// every incoming message to the one route that matches it, after parsing its topic once.
//
// Routes are added and removed while the agent runs (the offload server's requests exist
// only while it can serve them); the link renews every subscription at each reconnect.
//
// Threads: loop thread only.
#pragma once

#include "agent/core/mqtt_link.hpp"
#include "common/topics.hpp"

#include <functional>
#include <string>
#include <vector>

namespace tierd {

class TopicRouter {
  public:
    // The message and its topic, parsed (views into message.topic).
    using Handler = std::function<void(const MqttLink::Message &, const topics::Topic &)>;
    // Which parsed topics a route takes.
    using Match = std::function<bool(const topics::Topic &)>;

    explicit TopicRouter(std::string device_id) : device_id_(std::move(device_id)) {}

    // Routes are named so they can be removed; `filter` is subscribed at `qos` on the link
    // set by attach() (now, if attached).
    void add(std::string name, std::string filter, Match match, Handler handler, int qos = 1);
    // Unsubscribes and drops the route; false when there is none of that name.
    bool remove(const std::string &name);
    bool has(const std::string &name) const;

    // The link the routes subscribe on; every route is subscribed on it now.
    void attach(MqttLink *link);

    // Hands `message` to the first route that matches it; a topic no route takes (or one
    // outside the contract) is counted and dropped.
    void route(const MqttLink::Message &message);

    // Matchers for the common cases.
    // tierd/v1/dev/<this device>/<leaf>
    Match own(topics::DeviceLeaf leaf) const;
    // tierd/v1/dev/<any device>/<leaf>
    static Match every_device(topics::DeviceLeaf leaf);
    static Match kind(topics::TopicKind kind);
    // tierd/v1/group/<group>/cmd
    static Match group(std::string group);

    std::uint64_t unrouted() const { return unrouted_; }

  private:
    struct Route {
        std::string name, filter;
        int qos;
        Match match;
        Handler handler;
    };
    std::string device_id_;
    MqttLink *link_ = nullptr;
    std::vector<Route> routes_;
    std::uint64_t unrouted_ = 0;
};

} // namespace tierd
