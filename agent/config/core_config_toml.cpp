#include "agent/config/core_config_toml.hpp"

#include "agent/config/core_config_keys.hpp"

namespace tierd {

std::string render_core_config_toml() {
    std::string out = "# tierd agent configuration. Every key is shown with its default value.\n"
                      "# Override any key on the command line with --set section.key=value.\n"
                      "# Generated from the agent's key table (agent/config/core_config_keys.cpp)"
                      " by\n# `tierd --print-default-config`; edit the table, not this file.\n";
    for (const auto &section : core_config_sections()) {
        out += "\n" + comment_lines(section.doc) + "[" + section.name + "]\n";
        for (std::size_t i = 0; i < section.keys.size(); ++i)
            out += (i > 0 ? "\n" : "") + render_key_toml(section.keys[i].key);
    }
    out += "\n" + comment_lines("Per-plugin settings go in [plugin.<name>] tables. Each plugin "
                                "declares the keys it accepts; the agent checks a table against "
                                "them before the plugin starts (unknown keys, types, ranges, "
                                "choices), and --check-config does the same.");
    return out;
}

} // namespace tierd
