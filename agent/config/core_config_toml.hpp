// config/tierd.toml's core part, rendered from the key table (core_config_keys.hpp): every
// core key at its default with its doc, range or choices. The [plugin.<name>] sections
// that follow in the file are rendered from the default plugins' own declarations
// (plugin_host's default_config_with_plugins), after kPluginSectionsHeading.
#pragma once

#include <string>
#include <string_view>

namespace tierd {

// The comment line that opens the plugin-rendered part of config/tierd.toml.
inline constexpr std::string_view kPluginSectionsHeading =
    "# ---- Generated from each default plugin's declared keys";

// The text config/tierd.toml begins with: a header, each core section with its keys,
// and the paragraph about [plugin.<name>] tables; the next line is kPluginSectionsHeading.
// A test checks the committed file against it; `ninja regenerate-default-config` (tierd
// --print-default-config) rewrites the file.
std::string render_core_config_toml();

} // namespace tierd
