// read_peer_status: how an end agent reads other agents' retained statuses, which any
// client of the broker may have written.
#include "agent/core/status.hpp"

#include <gtest/gtest.h>

namespace {

using tierd::read_peer_status;

TEST(PeerStatus, AnOnlineLoadedAgentIsServing) {
    auto s = read_peer_status(
        tierd::status_payload({"edge-1", "edge", {}}, true, {{"loaded", nlohmann::json::array()}}));
    ASSERT_TRUE(s);
    EXPECT_EQ(s->device_id, "edge-1");
    EXPECT_TRUE(s->serving);
    EXPECT_EQ(s->role, "edge");
}

TEST(PeerStatus, OfflineOrStillLoadingIsNotServing) {
    auto offline = read_peer_status(tierd::status_payload({"edge-1", "edge", {}}, false));
    ASSERT_TRUE(offline);
    EXPECT_FALSE(offline->serving);
    auto loading =
        read_peer_status(tierd::status_payload({"edge-1", "edge", {}}, true, {{"loading", true}}));
    ASSERT_TRUE(loading);
    EXPECT_FALSE(loading->serving);
    EXPECT_EQ(loading->role, "");
}

// Fields of the wrong type read as "not so"; these once threw out of the MQTT callback.
TEST(PeerStatus, WrongTypesAreNotServingAndNeverThrow) {
    for (const char *payload :
         {R"({"device_id":"x","state":5,"role":"edge"})",
          R"({"device_id":"x","state":{"a":1},"role":"edge"})",
          R"({"device_id":"x","state":"online","role":["edge"]})",
          R"({"device_id":"x","state":"online","role":"edge","plugins":{"loading":"yes"}})",
          R"({"device_id":"x","state":"online"})"}) {
        std::optional<tierd::PeerStatus> s;
        ASSERT_NO_THROW(s = read_peer_status(payload)) << payload;
        ASSERT_TRUE(s) << payload;
        EXPECT_EQ(s->serving,
                  std::string(payload).find(R"("loading":"yes")") != std::string::npos)
            << payload; // only a non-boolean "loading" leaves a well-formed status serving
    }
    // A plugins value that is not an object does not say loading either.
    auto odd = read_peer_status(R"({"device_id":"x","state":"online","role":"edge","plugins":7})");
    ASSERT_TRUE(odd);
    EXPECT_TRUE(odd->serving);
}

TEST(PeerStatus, NoDeviceNoStatus) {
    for (const char *payload : {"", "not json", "[1,2]", "5", R"({"state":"online"})",
                                R"({"device_id":7,"state":"online","role":"edge"})"})
        EXPECT_FALSE(read_peer_status(payload)) << payload;
    // Nesting deeper than a status ever does is refused, not copied.
    EXPECT_FALSE(read_peer_status(R"({"device_id":"x","plugins":)" + std::string(100000, '[') +
                                  std::string(100000, ']') + "}"));
}

} // namespace
