#include "agent/core/topic_router.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace tierd {

void TopicRouter::add(std::string name, std::string filter, Match match, Handler handler, int qos) {
    remove(name);
    if (link_ != nullptr)
        link_->subscribe(filter, qos);
    routes_.push_back({std::move(name), std::move(filter), qos, std::move(match), std::move(handler)});
}

bool TopicRouter::remove(const std::string &name) {
    auto it = std::find_if(routes_.begin(), routes_.end(),
                           [&](const Route &r) { return r.name == name; });
    if (it == routes_.end())
        return false;
    // Another route may share the filter (commands on several topics do not; keep it
    // subscribed if so).
    const bool shared = std::count_if(routes_.begin(), routes_.end(), [&](const Route &r) {
                            return r.filter == it->filter;
                        }) > 1;
    if (link_ != nullptr && !shared)
        link_->unsubscribe(it->filter);
    routes_.erase(it);
    return true;
}

bool TopicRouter::has(const std::string &name) const {
    return std::any_of(routes_.begin(), routes_.end(),
                       [&](const Route &r) { return r.name == name; });
}

void TopicRouter::attach(MqttLink *link) {
    link_ = link;
    if (link_ == nullptr)
        return;
    for (const auto &r : routes_)
        link_->subscribe(r.filter, r.qos);
}

void TopicRouter::route(const MqttLink::Message &message) {
    const auto topic = topics::parse_topic(std::string_view(message.topic));
    if (topic)
        for (const auto &r : routes_)
            if (r.match(*topic))
                return r.handler(message, *topic);
    ++unrouted_;
    spdlog::debug("mqtt: no route for a message on {}; dropped", message.topic);
}

TopicRouter::Match TopicRouter::own(topics::DeviceLeaf leaf) const {
    return [leaf, id = device_id_](const topics::Topic &t) {
        return t.kind == topics::TopicKind::device && t.device.leaf == leaf && t.name == id;
    };
}

TopicRouter::Match TopicRouter::every_device(topics::DeviceLeaf leaf) {
    return [leaf](const topics::Topic &t) {
        return t.kind == topics::TopicKind::device && t.device.leaf == leaf;
    };
}

TopicRouter::Match TopicRouter::kind(topics::TopicKind kind) {
    return [kind](const topics::Topic &t) { return t.kind == kind; };
}

TopicRouter::Match TopicRouter::group(std::string group) {
    return [group = std::move(group)](const topics::Topic &t) {
        return t.kind == topics::TopicKind::group_command && t.name == group;
    };
}

} // namespace tierd
