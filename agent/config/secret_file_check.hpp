// Warns when a config file that holds secrets can be read by every user of the machine:
// the MQTT password (or a plugin's token) would then be one `cat` away for any local
// account, which the redaction in logs, status and get-config cannot help.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace tierd {

// The warning for config `file` when the file itself sets a non-empty secret —
// mqtt.password, or one of `secret_keys` (dotted paths; plugin keys declared secret are
// "plugin.<name>.<key>") — and its mode grants read to "other" (S_IROTH). nullopt when
// it does not, when `file` is "" or "<default>", or when it cannot be read or parsed (the
// loader reports that). The text names the file, its mode and the keys, never a value.
std::optional<std::string> secret_file_warning(const std::string &file,
                                               const std::vector<std::string> &secret_keys = {});

// Appends "plugin.<name>.<key>" for each key that `values` (a plugin's validated table,
// tierd_config) declares secret. A template so the config library needs no plugin host.
template <class PluginValues>
void add_plugin_secret_keys(std::vector<std::string> &keys, const PluginValues &values) {
    for (const auto &[key, entry] : values.entries)
        if (entry.secret)
            keys.push_back("plugin." + values.plugin_name + "." + key);
}

} // namespace tierd
