// The retained device status document and the topics it lives on (docs/mqtt.md).
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace tierd {

struct DeviceIdentity {
    std::string device_id;
    std::string role; // end | edge | cloud
    // Group memberships, in the status so that a console can address a group and know
    // whom to expect (tierctl --group), offline members included.
    std::vector<std::string> groups;
};

// JSON text for the wire. Strings from plugins or files may hold invalid UTF-8 (an
// OpenCV message quoting a corrupt file): such bytes become U+FFFD instead of throwing.
std::string wire_json(const nlohmann::json &doc);


// {"v":1,"state":"online"|"offline","device_id":...,"role":...,"version":...}, plus
// "plugins" when `plugins` is not null (the will, written at connect time, has none).
std::string status_payload(const DeviceIdentity &identity, bool online,
                           const nlohmann::json &plugins = nullptr);

// Another agent's status as an end agent reads it (tierd/v1/dev/+/status; any client of
// the broker may have published it, so nothing in it is trusted).
struct PeerStatus {
    std::string device_id;
    // Online, with a role, and past its start-up plugin load: it can take offloads.
    bool serving = false;
    std::string role; // "" unless serving
};

// Reads a status payload; nullopt when it names no device (not JSON, not an object, no
// string device_id). Never throws.
std::optional<PeerStatus> read_peer_status(const std::string &payload);

} // namespace tierd
