// Fleet commands: `{"op": "<name>", "args": {...}}` in, `{"ok": true, "result": ...}` or
// `{"ok": false, "error": {"code": ..., "message": ...}}` out (docs/mqtt.md).
// Every request gets exactly one reply: malformed or unknown ones an error reply.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <string>

namespace tierd {

// A handler returns the result, or throws CommandError for an error reply.
struct CommandError {
    std::string code;
    std::string message;
};

class CommandTable {
  public:
    using Handler = std::function<nlohmann::json(const nlohmann::json &args)>;

    void add(const std::string &op, Handler handler) { handlers_[op] = std::move(handler); }

    // Parses one request payload and returns the reply document. Never throws.
    nlohmann::json handle(const std::string &payload, const std::string &device_id) const;

  private:
    std::map<std::string, Handler> handlers_;
};

} // namespace tierd
