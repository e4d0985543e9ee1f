#include "agent/core/commands.hpp"

#include "agent/common/untrusted_json.hpp"

namespace tierd {

std::string string_arg(const nlohmann::json &args, const char *key) {
    auto it = args.find(key);
    if (it == args.end() || !it->is_string() || it->get<std::string>().empty())
        throw CommandError{"invalid_args",
                           std::string("\"") + key + "\" must be a non-empty string"};
    return it->get<std::string>();
}

std::uint64_t count_arg(const nlohmann::json &args, const char *key) {
    auto it = args.find(key);
    if (it == args.end() || !it->is_number_unsigned())
        throw CommandError{"invalid_args",
                           std::string("\"") + key + "\" must be a non-negative integer"};
    return it->get<std::uint64_t>();
}

namespace {

nlohmann::json error_reply(const CommandError &error) {
    return {{"ok", false}, {"error", {{"code", error.code}, {"message", error.message}}}};
}

// Requests nested deeper than this are refused: copies, dump() and the set-config
// conversion recurse once per level, so a 1 MB "[[[[..." request would overflow the stack
// (found by fuzz/command_fuzz.cpp). Real requests nest a handful of levels.
constexpr int kMaxRequestDepth = 64;

nlohmann::json stamped(nlohmann::json reply, const std::string &device_id) {
    reply["v"] = 1;
    reply["device_id"] = device_id;
    return reply;
}

} // namespace

void CommandTable::add(const std::string &op, Handler handler) {
    handlers_[op] = [handler = std::move(handler)](const nlohmann::json &args, Reply reply) {
        reply.ok(handler(args));
    };
}

void CommandTable::add_async(const std::string &op, AsyncHandler handler) {
    handlers_[op] = std::move(handler);
}

void CommandTable::handle(const std::string &payload, const std::string &device_id,
                          Send send) const {
    auto fail = [&](const std::string &code, const std::string &message) {
        send(stamped(error_reply({code, message}), device_id));
    };
    bool too_deep = false;
    nlohmann::json request = parse_untrusted_json(payload, kMaxRequestDepth, &too_deep);
    if (too_deep)
        return fail("invalid_request",
                    "request nests deeper than " + std::to_string(kMaxRequestDepth) + " levels");
    if (request.is_discarded())
        return fail("malformed_json", "payload is not valid JSON");
    if (!request.is_object())
        return fail("invalid_request", "request must be a JSON object");
    auto op = request.find("op");
    if (op == request.end() || !op->is_string())
        return fail("invalid_request", "\"op\" is missing or not a string");
    auto args = request.value("args", nlohmann::json::object());
    if (!args.is_object())
        return fail("invalid_args", "\"args\" must be an object");
    auto handler = handlers_.find(op->get<std::string>());
    if (handler == handlers_.end())
        return fail("unknown_op", "unknown op \"" + op->get<std::string>() + "\"");

    std::string op_name = op->get<std::string>();
    Reply reply{[send, device_id, op_name](const nlohmann::json &result) {
                    send(stamped({{"ok", true}, {"op", op_name}, {"result", result}}, device_id));
                },
                [send, device_id](const CommandError &error) {
                    send(stamped(error_reply(error), device_id));
                }};
    try {
        handler->second(args, reply);
    } catch (const CommandError &e) {
        reply.fail(e);
    } catch (const std::exception &e) {
        reply.fail({"internal", e.what()});
    }
}

} // namespace tierd
