// The services table the host hands to create(): logging, errors, metrics, clocks, the
// HAL, MQTT, the loop, and config accessors, each a C function over tierd_host.
#pragma once

#include <cstdint>

#include <tierd/plugin.h>

namespace tierd {

// A filled table for a plugin that negotiated `abi_version`. None of its functions
// throws; each returns TIERD_EINVAL for NULL arguments where it returns a code.
tierd_host_services make_host_services(std::uint32_t abi_version);

} // namespace tierd
