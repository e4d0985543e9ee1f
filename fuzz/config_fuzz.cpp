// libFuzzer harness: a config file's text as `tierd --check-config` and SIGHUP reload
// read it (load_config_text: TOML parse, --set overrides, validation of every section,
// errors with file:line:column), then the JSON view get-config and status show.
// Lines starting with "#--set " (TOML comments, so corpus files stay valid TOML) are
// also applied as `--set KEY=VALUE` overrides, so the override parser is fuzzed too.
// Properties: never a crash or UB; a config is either accepted or has errors.
#include "agent/config/config_json.hpp"
#include "agent/config/config_loader.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char *>(data), size);
    std::vector<std::string> overrides;
    constexpr std::string_view kSet = "#--set ";
    for (std::size_t at = 0; at < text.size();) {
        std::size_t end = text.find('\n', at);
        if (end == std::string_view::npos)
            end = text.size();
        const std::string_view line = text.substr(at, end - at);
        if (line.substr(0, kSet.size()) == kSet)
            overrides.emplace_back(line.substr(kSet.size()));
        at = end + 1;
    }
    auto result = tierd::load_config_text(text, "fuzz.toml", overrides);
    if (result.ok() == !result.errors.empty())
        std::abort(); // either a Config or errors, never both or neither
    if (result.ok()) {
        (void)tierd::to_json(*result.config).dump();
        (void)tierd::secret_values(*result.config);
    } else {
        (void)tierd::to_string(result.errors);
    }
    return 0;
}
