// Which other agents are online and able to take work, as an end agent learns it from
// their retained status documents (tierd/v1/dev/+/status). Any client of the broker may
// publish there, so nothing in a status is trusted beyond what it can say about the
// device whose topic it came on.
//
// Threads: loop thread only.
#pragma once

#include <tierd/plugin.h>

#include <map>
#include <string>
#include <string_view>

namespace tierd {

class PeerDirectory {
  public:
    explicit PeerDirectory(std::string own_device_id) : own_(std::move(own_device_id)) {}

    // A status document from tierd/v1/dev/<topic_device>/status. Returns true when that
    // device has just become one that can take work (the end probes its link then).
    bool on_status(std::string_view topic_device, const std::string &payload);

    // Whether an agent of `tier` is online and past its start-up plugin load.
    bool tier_online(tierd_tier tier) const;
    // device id -> role, of those online and serving.
    const std::map<std::string, std::string> &online() const { return online_; }

  private:
    std::string own_;
    std::map<std::string, std::string> online_;
};

} // namespace tierd
