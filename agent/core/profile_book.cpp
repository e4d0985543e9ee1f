#include "agent/core/profile_book.hpp"

namespace tierd {

void ProfileBook::set_own(nlohmann::json profile) {
    own_ = std::move(profile);
    changed();
}

std::string ProfileBook::on_message(const std::string &device, const std::string &payload) {
    if (device == own_device_)
        return "";
    if (payload.empty()) {
        if (remote_.erase(device) > 0)
            changed();
        return "";
    }
    auto doc = nlohmann::json::parse(payload, nullptr, false);
    if (!doc.is_object() || !doc.contains("tier") || !doc["tier"].is_string() ||
        !doc.contains("models") || !doc["models"].is_array())
        return "not a profile document (needs \"tier\" and \"models\")";
    remote_[device] = std::move(doc);
    changed();
    return "";
}

void ProfileBook::set_online(const std::map<std::string, std::string> &online_roles) {
    if (online_roles == online_)
        return;
    online_ = online_roles;
    changed();
}

std::pair<const std::string *, std::uint64_t> ProfileBook::combined() {
    if (dirty_) {
        dirty_ = false;
        nlohmann::json doc = {{"end", own_.is_object() ? own_ : nlohmann::json()},
                              {"edge", nullptr},
                              {"cloud", nullptr}};
        // One profile per upstream tier: the first online agent of that role that published
        // one (agents of one tier share requests, so they should be alike).
        // Without its own profile this agent cannot predict its share of any placement.
        const bool any = own_.is_object();
        for (const auto &[device, role] : online_) {
            auto it = remote_.find(device);
            if (it == remote_.end() || (role != "edge" && role != "cloud") || !doc[role].is_null())
                continue;
            doc[role] = it->second;
        }
        std::string text = any ? doc.dump() : std::string();
        if (text != combined_) {
            combined_ = std::move(text);
            ++generation_;
        }
    }
    return {combined_.empty() ? nullptr : &combined_, generation_};
}

nlohmann::json ProfileBook::summary() const {
    nlohmann::json remote = nlohmann::json::object();
    for (const auto &[device, doc] : remote_)
        remote[device] = doc.value("tier", "");
    return {{"own", own_.is_object()}, {"remote", remote}};
}

} // namespace tierd
