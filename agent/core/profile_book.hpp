// The measured model profiles the scheduler plans with: this agent's own (from its
// `profile` command, kept in <state_dir>/profile.json) and those the edge and cloud
// agents publish, retained, on tierd/v1/dev/<id>/profile. The end's scheduler gets them
// combined as {"end": ..., "edge": ..., "cloud": ...} (ABI 1.2
// tierd_schedule_context.profiles_json), with a generation that changes whenever the
// combination does, so the plugin re-parses only then. Loop thread.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <string>

namespace tierd {

// What is wrong with a profile document ("" when nothing): an object with "models", an
// array of objects each with a string "name", numbers (if present) for "full_ms", and
// "cuts" (if present) an array of objects whose "head_ms" and "tail_ms" are numbers. The
// book reads and scales these fields, so a peer's malformed document must not get in.
std::string profile_document_error(const nlohmann::json &doc);

class ProfileBook {
  public:
    // A monotonic clock in ns (tests pass their own; the default is steady_clock).
    using Clock = std::function<std::uint64_t()>;
    explicit ProfileBook(std::string own_device, Clock clock = {});

    // This agent's profile (a profile_models() document).
    void set_own(nlohmann::json profile);
    const nlohmann::json &own() const { return own_; }

    // A retained profile message from `device`; an empty payload clears it. Returns what
    // is wrong with a malformed one ("" when taken).
    std::string on_message(const std::string &device, const std::string &payload);

    // Which devices are online now, with their roles (the agent's status tracking).
    void set_online(const std::map<std::string, std::string> &online_roles);

    // The combined document and its generation; the pointer stays valid until the next
    // change. Null while this agent has no profile of its own.
    std::pair<const std::string *, std::uint64_t> combined();

    // A whole-model compute time seen in operation on `device` ("" = this agent): a local
    // task's inference, or an offload reply's compute_ms. Each device keeps an EWMA of
    // seen / profiled time; once it moves more than 10% from the factor in use, the
    // combined profile is scaled by it (all of that device's times), so the scheduler
    // follows a device that is slower or busier than when it was profiled.
    //
    // A factor nothing confirms relaxes towards 1 (the profile as measured): from 5 s
    // after a device's last observation it halves its distance to 1 every 20 s. Why: a
    // device the scheduler stopped using because one stall made it look slow is never
    // observed again, so its factor would stay wrong for good; relaxed, the device is
    // tried again, and its next observations say whether it really is slower.
    void observe(const std::string &device, const std::string &model, double ms);

    // Who is in the book: {"own": bool, "remote": {device: tier}, "scale": {device:
    // factor in use}}, for status.
    nlohmann::json summary() const;

  private:
    void changed() { dirty_ = true; }
    void relax(std::uint64_t now_ns);
    const nlohmann::json *profile_of(const std::string &device) const;
    static nlohmann::json scaled(const nlohmann::json &profile, double factor);

    struct Scale {
        double ewma = 1.0;    // seen / profiled
        double applied = 1.0; // the factor the combined document uses
        bool seen = false;
        std::uint64_t observed_ns = 0; // the last observation
        std::uint64_t relaxed_ns = 0;  // relaxed up to this time
    };
    Clock clock_;
    std::uint64_t relax_checked_ns_ = 0;
    std::map<std::string, Scale> scales_; // "" = this agent

    std::string own_device_;
    nlohmann::json own_;
    std::map<std::string, nlohmann::json> remote_; // device -> profile
    std::map<std::string, std::string> online_;    // device -> role
    bool dirty_ = true;
    std::string combined_;
    std::uint64_t generation_ = 0;
};

} // namespace tierd
