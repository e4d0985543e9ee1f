#include "agent/core/commands.hpp"

namespace tierd {

namespace {
nlohmann::json error_reply(const std::string &code, const std::string &message) {
    return {{"ok", false}, {"error", {{"code", code}, {"message", message}}}};
}
} // namespace

nlohmann::json CommandTable::handle(const std::string &payload,
                                    const std::string &device_id) const {
    nlohmann::json reply = [&]() -> nlohmann::json {
        nlohmann::json request = nlohmann::json::parse(payload, nullptr, false);
        if (request.is_discarded())
            return error_reply("malformed_json", "payload is not valid JSON");
        if (!request.is_object())
            return error_reply("invalid_request", "request must be a JSON object");
        auto op = request.find("op");
        if (op == request.end() || !op->is_string())
            return error_reply("invalid_request", "\"op\" is missing or not a string");
        auto args = request.value("args", nlohmann::json::object());
        if (!args.is_object())
            return error_reply("invalid_args", "\"args\" must be an object");
        auto handler = handlers_.find(op->get<std::string>());
        if (handler == handlers_.end())
            return error_reply("unknown_op", "unknown op \"" + op->get<std::string>() + "\"");
        try {
            return {{"ok", true}, {"op", *op}, {"result", handler->second(args)}};
        } catch (const CommandError &e) {
            return error_reply(e.code, e.message);
        } catch (const std::exception &e) {
            return error_reply("internal", e.what());
        }
    }();
    reply["v"] = 1;
    reply["device_id"] = device_id;
    return reply;
}

} // namespace tierd
