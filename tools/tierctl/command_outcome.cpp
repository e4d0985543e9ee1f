#include "tools/tierctl/command_outcome.hpp"

#include "common/topics.hpp"
#include "tools/tierctl/exit_codes.hpp"

namespace tierctl {

std::string Target::topic() const {
    switch (kind) {
    case Kind::device: return tierd::topics::device_topic(name, tierd::topics::DeviceLeaf::cmd);
    case Kind::group: return tierd::topics::group_command_topic(name);
    case Kind::fleet: break;
    }
    return std::string(tierd::topics::kFleetCommand);
}

std::string Target::describe() const {
    switch (kind) {
    case Kind::device: return "device " + name;
    case Kind::group: return "group " + name;
    case Kind::fleet: break;
    }
    return "the fleet";
}

nlohmann::json Target::to_json() const {
    static const char *kinds[] = {"device", "group", "fleet"};
    nlohmann::json j = {{"kind", kinds[static_cast<int>(kind)]}, {"topic", topic()}};
    if (kind != Kind::fleet)
        j["name"] = name;
    return j;
}

std::string ReplyRecord::error_text() const {
    if (!problem.empty())
        return problem;
    if (ok)
        return {};
    const auto error = reply.value("error", nlohmann::json::object());
    if (!error.is_object())
        return "error reply without an error object";
    auto text = [&](const char *key) {
        auto it = error.find(key);
        return it != error.end() && it->is_string() ? it->get<std::string>() : std::string("?");
    };
    return text("code") + ": " + text("message");
}

size_t CommandOutcome::ok_count() const {
    size_t n = 0;
    for (const auto &r : replies)
        n += r.ok ? 1 : 0;
    return n;
}

int CommandOutcome::exit_code() const {
    if (ok_count() == 0)
        return kExitFailure;
    bool all_ok = missing.empty();
    for (const auto &r : replies)
        all_ok = all_ok && r.ok;
    return all_ok ? kExitOk : kExitPartial;
}

nlohmann::json CommandOutcome::to_json() const {
    nlohmann::json replies_json = nlohmann::json::array();
    for (const auto &r : replies) {
        nlohmann::json j = {{"device_id", r.device_id},
                            {"ok", r.ok},
                            {"expected", r.expected},
                            {"latency_ms", r.latency_ms},
                            {"reply", r.reply}};
        if (!r.problem.empty())
            j["problem"] = r.problem;
        replies_json.push_back(std::move(j));
    }
    nlohmann::json missing_json = nlohmann::json::array();
    for (const auto &m : missing)
        missing_json.push_back({{"device_id", m.device_id}, {"state", m.state}});
    nlohmann::json unexpected = nlohmann::json::array();
    for (const auto &r : replies)
        if (!r.expected)
            unexpected.push_back(r.device_id);
    nlohmann::json j = {{"op", op},
                        {"args", args},
                        {"target", target.to_json()},
                        {"expected", expected},
                        {"replies", replies_json},
                        {"missing", missing_json},
                        {"unexpected", unexpected},
                        {"elapsed_ms", elapsed_ms},
                        {"exit_code", exit_code()}};
    if (!membership_unknown.empty())
        j["membership_unknown"] = membership_unknown;
    return j;
}

} // namespace tierctl
