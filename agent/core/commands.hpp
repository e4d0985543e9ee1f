// Fleet commands: `{"op": "<name>", "args": {...}}` in, `{"ok": true, "result": ...}` or
// `{"ok": false, "error": {"code": ..., "message": ...}}` out (docs/mqtt.md).
// Every request gets exactly one reply: malformed or unknown ones an error reply.
// Loop thread only.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <string>

namespace tierd {

// Thrown by a handler (or passed to a Reply) for an error reply.
struct CommandError {
    std::string code;
    std::string message;
};

// Arguments a handler requires: the value, or CommandError{"invalid_args"} naming the key.
std::string string_arg(const nlohmann::json &args, const char *key);  // non-empty string
std::uint64_t count_arg(const nlohmann::json &args, const char *key); // integer >= 0

class CommandTable {
  public:
    // Sends the reply document; call exactly once, on the loop thread.
    using Send = std::function<void(const nlohmann::json &reply)>;
    // For handlers that finish later (work on the pool): call with the result, or with
    // a CommandError, exactly once.
    struct Reply {
        std::function<void(const nlohmann::json &result)> ok;
        std::function<void(const CommandError &error)> fail;
    };
    using Handler = std::function<nlohmann::json(const nlohmann::json &args)>;
    using AsyncHandler = std::function<void(const nlohmann::json &args, Reply reply)>;

    void add(const std::string &op, Handler handler);
    void add_async(const std::string &op, AsyncHandler handler);

    // Parses one request payload and replies through `send`, now or later. Never throws.
    void handle(const std::string &payload, const std::string &device_id, Send send) const;

  private:
    std::map<std::string, AsyncHandler> handlers_;
};

} // namespace tierd
