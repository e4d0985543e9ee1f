#include "agent/core/peer_directory.hpp"

#include "agent/core/status.hpp"

#include <algorithm>

namespace tierd {

bool PeerDirectory::on_status(std::string_view topic_device, const std::string &payload) {
    // An agent still in its start-up plugin load has no inference plugin or offload server
    // yet (requests sent to it would be lost and time out): read_peer_status does not call
    // it serving until the status it republishes after the load.
    auto peer = read_peer_status(payload);
    if (!peer || peer->device_id == own_)
        return false;
    // Only a device's own status topic speaks for it (the shipped ACL lets each device
    // write only its own topics): a document naming another device is ignored.
    if (topic_device != peer->device_id)
        return false;
    if (!peer->serving) {
        online_.erase(peer->device_id);
        return false;
    }
    const bool new_here = online_.count(peer->device_id) == 0;
    online_[peer->device_id] = peer->role;
    return new_here;
}

bool PeerDirectory::tier_online(tierd_tier tier) const {
    const char *role = tier == TIERD_TIER_EDGE    ? "edge"
                       : tier == TIERD_TIER_CLOUD ? "cloud"
                                                  : "end";
    return std::any_of(online_.begin(), online_.end(),
                       [&](const auto &entry) { return entry.second == role; });
}

} // namespace tierd
