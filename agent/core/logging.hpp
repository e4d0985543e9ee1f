// Where log lines go: the journal (with priorities) when systemd started us, else
// human-readable lines on stderr. Every line passes a redaction filter first, so a
// secret from the config (the MQTT password) never reaches a log, whoever logs it.
#pragma once

#include <string>
#include <vector>

namespace tierd {

// Installs the default logger. Call once, before anything logs.
void setup_logging();

// Replaces the set of strings to redact (non-empty secret values). Any thread.
void set_log_secrets(std::vector<std::string> secrets);

} // namespace tierd
