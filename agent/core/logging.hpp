// Where log lines go: the journal (with priorities) when systemd started us, else
// human-readable lines on stderr.
#pragma once

namespace tierd {

// Installs the default logger. Call once, before anything logs.
void setup_logging();

} // namespace tierd
