// libFuzzer harness: one fleet command request (docs/mqtt.md, "Commands") as the agent
// handles it. CommandTable::handle parses the payload, checks op and args and builds the
// error replies; the handlers below do what the agent's do with their args without an
// agent: set-config's changes go through apply_changes onto the default config (the
// same validation a real set-config runs), plugins.load/unload check "name".
// Properties: never a crash or UB, exactly one reply per request, and every reply
// serialises for the wire.
#include "agent/config/config_changes.hpp"
#include "agent/config/config_json.hpp"
#include "agent/config/default_config.hpp"
#include "agent/core/commands.hpp"
#include "agent/core/status.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace {

const tierd::Config &default_config() {
    static const tierd::Config config = *tierd::load_default_config().config;
    return config;
}

tierd::CommandTable make_table() {
    tierd::CommandTable table;
    table.add("ping", [](const nlohmann::json &) { return nlohmann::json{{"pong", true}}; });
    table.add("set-config", [](const nlohmann::json &args) {
        auto changes = args.find("changes");
        if (changes == args.end() || !changes->is_object() || changes->empty())
            throw tierd::CommandError{"invalid_args", "\"changes\" must be a non-empty object"};
        auto result = tierd::apply_changes(default_config(), *changes);
        if (!result.ok())
            throw tierd::CommandError{"config_invalid", tierd::to_string(result.errors)};
        auto applied = nlohmann::json::array();
        for (const auto &item : changes->items())
            applied.push_back(item.key());
        // The running config's JSON view (get-config) of what was accepted.
        return nlohmann::json{{"applied", applied}, {"config", tierd::to_json(*result.config)}};
    });
    auto name_op = [](const nlohmann::json &args) {
        auto it = args.find("name");
        if (it == args.end() || !it->is_string() || it->get<std::string>().empty())
            throw tierd::CommandError{"invalid_args", "\"name\" must be a non-empty string"};
        return nlohmann::json{{"name", *it}};
    };
    table.add("plugins.load", name_op);
    table.add("plugins.unload", name_op);
    return table;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    static const tierd::CommandTable table = make_table();
    const std::string payload(reinterpret_cast<const char *>(data), size);
    int replies = 0;
    table.handle(payload, "fuzz-device", [&](const nlohmann::json &reply) {
        ++replies;
        if (!reply.is_object() || !reply.at("ok").is_boolean() || reply.at("v") != 1)
            std::abort();
        (void)tierd::wire_json(reply); // never throws, whatever bytes the request held
    });
    if (replies != 1)
        std::abort(); // every request gets exactly one reply, never silence
    return 0;
}
