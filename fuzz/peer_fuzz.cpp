// libFuzzer harness: the retained messages an end agent reads from other agents, which
// any client of the broker may have written (docs/mqtt.md): statuses on
// tierd/v1/dev/+/status (read_peer_status) and model profiles on tierd/v1/dev/+/profile
// (ProfileBook). The first byte picks which; the rest is the payload. A profile that is
// taken is then used as the agent uses it: marked online, observed (which scales it) and
// combined for the scheduler.
// Properties: never a crash, UB or exception; a serving status has a role; the combined
// document is valid JSON.
#include "agent/core/profile_book.hpp"
#include "agent/core/status.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace {

nlohmann::json own_profile() {
    return {{"v", 1},
            {"device_id", "end-1"},
            {"tier", "end"},
            {"models",
             {{{"name", "m"},
               {"full_ms", 2.0},
               {"cuts", {{{"layer", 3}, {"head_ms", 1.0}, {"tail_ms", 1.0}}}}}}}};
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    if (size == 0)
        return 0;
    const std::string payload(reinterpret_cast<const char *>(data) + 1, size - 1);
    try {
        if (data[0] % 2 == 0) {
            auto status = tierd::read_peer_status(payload);
            if (status && !status->serving && !status->role.empty())
                std::abort(); // a role is only reported for a serving agent
            return 0;
        }
        tierd::ProfileBook book("end-1");
        book.set_own(own_profile());
        const std::string why = book.on_message("edge-1", payload);
        book.set_online({{"edge-1", "edge"}});
        // Slower than profiled, then faster: both scale the profile in use.
        for (double ms : {6.0, 6.0, 6.0, 6.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5})
            for (int i = 0; i < 8; ++i)
                book.observe("edge-1", "m", ms);
        auto [json, generation] = book.combined();
        (void)generation;
        if (json == nullptr)
            std::abort(); // the book has its own profile, so there is always a document
        auto doc = nlohmann::json::parse(*json, nullptr, false);
        if (doc.is_discarded() || !doc.is_object())
            std::abort();
        const bool taken = why.empty() && !payload.empty(); // an empty payload clears
        if (taken != doc["edge"].is_object())
            std::abort(); // a taken profile is in the combination, a refused one is not
        (void)book.summary().dump();
    } catch (...) {
        std::abort(); // an exception here would leave the agent's MQTT callback
    }
    return 0;
}
