// ProfileBook: what the end's scheduler gets as profiles_json — its own profile plus one
// per online upstream tier — and a generation that changes exactly when that does.
#include "agent/core/profile_book.hpp"

#include <gtest/gtest.h>

namespace {

using tierd::ProfileBook;

nlohmann::json profile(const std::string &device, const std::string &tier) {
    return {{"v", 1}, {"device_id", device}, {"tier", tier}, {"models", nlohmann::json::array()}};
}

TEST(ProfileBook, NothingUntilThisAgentHasItsOwnProfile) {
    ProfileBook book("end-1");
    ASSERT_EQ(book.on_message("edge-1", profile("edge-1", "edge").dump()), "");
    book.set_online({{"edge-1", "edge"}});
    EXPECT_EQ(book.combined().first, nullptr);
    book.set_own(profile("end-1", "end"));
    auto [json, generation] = book.combined();
    ASSERT_NE(json, nullptr);
    auto doc = nlohmann::json::parse(*json);
    EXPECT_EQ(doc["end"]["device_id"], "end-1");
    EXPECT_EQ(doc["edge"]["device_id"], "edge-1");
    EXPECT_TRUE(doc["cloud"].is_null());
    EXPECT_GT(generation, 0u);
}

TEST(ProfileBook, OnlyOnlineAgentsCountAndTheGenerationFollowsChanges) {
    ProfileBook book("end-1");
    book.set_own(profile("end-1", "end"));
    book.on_message("edge-1", profile("edge-1", "edge").dump());
    book.on_message("cloud-1", profile("cloud-1", "cloud").dump());
    const uint64_t g0 = book.combined().second;
    // Nobody online: only the end's own.
    EXPECT_TRUE(nlohmann::json::parse(*book.combined().first)["edge"].is_null());
    EXPECT_EQ(book.combined().second, g0); // unchanged inputs, same generation
    book.set_online({{"edge-1", "edge"}, {"cloud-1", "cloud"}});
    auto [json, g1] = book.combined();
    EXPECT_GT(g1, g0);
    auto doc = nlohmann::json::parse(*json);
    EXPECT_EQ(doc["edge"]["device_id"], "edge-1");
    EXPECT_EQ(doc["cloud"]["device_id"], "cloud-1");
    // The edge goes offline: its profile drops out.
    book.set_online({{"cloud-1", "cloud"}});
    auto [json2, g2] = book.combined();
    EXPECT_GT(g2, g1);
    EXPECT_TRUE(nlohmann::json::parse(*json2)["edge"].is_null());
    // An empty retained message clears a profile.
    book.on_message("cloud-1", "");
    EXPECT_TRUE(nlohmann::json::parse(*book.combined().first)["cloud"].is_null());
}

TEST(ProfileBook, MalformedProfilesAreRefusedWithAReason) {
    ProfileBook book("end-1");
    EXPECT_NE(book.on_message("edge-1", "not json"), "");
    EXPECT_NE(book.on_message("edge-1", R"({"tier": "edge"})"), "");
    EXPECT_EQ(book.summary()["remote"].size(), 0u);
    // Its own retained profile coming back from the broker is not a remote one.
    EXPECT_EQ(book.on_message("end-1", profile("end-1", "end").dump()), "");
    EXPECT_EQ(book.summary()["remote"].size(), 0u);
}

// Models the book reads and scales must have the shape it reads them with: these once
// got in and made json::value() throw in observe() or combined(), which ended the agent
// (an exception out of an MQTT callback). Each is refused with the field it gets wrong.
TEST(ProfileBook, ProfilesWithMalformedModelsAreRefused) {
    ProfileBook book("end-1");
    nlohmann::json own = profile("end-1", "end");
    own["models"] = {{{"name", "m"}, {"full_ms", 10.0}}};
    book.set_own(own);
    book.set_online({{"edge-1", "edge"}});
    const std::pair<const char *, const char *> bad[] = {
        {R"([5])", "models[0] must be an object"},
        {R"([{"full_ms": 3}])", "models[0] must be an object"},
        {R"([{"name": 7}])", "models[0] must be an object"},
        {R"([{"name": "m", "full_ms": "fast"}])", "models[0].full_ms"},
        {R"([{"name": "m", "full_ms": null}])", "models[0].full_ms"},
        {R"([{"name": "m", "cuts": 3}])", "models[0].cuts must be an array"},
        {R"([{"name": "m", "cuts": [1]}])", "models[0].cuts"},
        {R"([{"name": "m", "cuts": [{"head_ms": "x"}]}])", "models[0].cuts"},
        {R"([{"name": "m"}, {"name": "n", "cuts": [{"tail_ms": [1]}]}])", "models[1].cuts"},
    };
    for (const auto &[models, reason] : bad) {
        nlohmann::json doc = profile("edge-1", "edge");
        doc["models"] = nlohmann::json::parse(models);
        const std::string why = book.on_message("edge-1", doc.dump());
        EXPECT_NE(why.find(reason), std::string::npos) << models << " -> " << why;
    }
    EXPECT_EQ(book.summary()["remote"].size(), 0u);
    // Deep nesting in a key the book does not read: the copy in combined() and dump()
    // would recurse once per level, so it is refused at parse time.
    const std::string deep = R"({"tier":"edge","models":[{"name":"m","x":)" +
                             std::string(200000, '[') + std::string(200000, ']') + "}]}";
    EXPECT_NE(book.on_message("edge-1", deep), "");
    // A well-formed one is taken, and observing and scaling it works.
    nlohmann::json good = profile("edge-1", "edge");
    good["models"] = {
        {{"name", "m"}, {"full_ms", 2.0}, {"cuts", {{{"head_ms", 1.0}, {"tail_ms", 1.0}}}}},
        {{"name", "no-times"}, {"cuts", nullptr}}};
    ASSERT_EQ(book.on_message("edge-1", good.dump()), "");
    for (int i = 0; i < 40; ++i)
        book.observe("edge-1", "m", 6.0);
    auto doc = nlohmann::json::parse(*book.combined().first);
    EXPECT_NEAR(doc["edge"]["models"][0]["full_ms"].get<double>(), 6.0, 0.6);
}

} // namespace

namespace {

// Compute times seen in operation scale a device's profile once they drift past 10%.
TEST(ProfileBook, ObservedComputeTimesScaleTheProfile) {
    ProfileBook book("end-1");
    nlohmann::json own = profile("end-1", "end");
    own["models"] = {{{"name", "m"},
                      {"full_ms", 10.0},
                      {"cuts", {{{"layer", 3}, {"head_ms", 4.0}, {"tail_ms", 6.0}}}}}};
    book.set_own(own);
    const uint64_t g0 = book.combined().second;
    book.observe("", "m", 10.5); // 5% off: no re-plan
    EXPECT_EQ(book.combined().second, g0);
    book.observe("", "other-model", 100.0); // not profiled: ignored
    book.observe("", "m", 1e6);             // absurd: ignored
    EXPECT_EQ(book.combined().second, g0);
    for (int i = 0; i < 40; ++i)
        book.observe("end-1", "m", 20.0); // twice as slow as profiled
    auto [json, g1] = book.combined();
    EXPECT_GT(g1, g0);
    auto doc = nlohmann::json::parse(*json);
    const double f = doc["end"]["scale"].get<double>();
    EXPECT_NEAR(f, 2.0, 0.2);
    EXPECT_NEAR(doc["end"]["models"][0]["full_ms"].get<double>(), 10.0 * f, 1e-9);
    EXPECT_NEAR(doc["end"]["models"][0]["cuts"][0]["head_ms"].get<double>(), 4.0 * f, 1e-9);
    EXPECT_NEAR(book.summary()["scale"]["end-1"].get<double>(), f, 1e-12);
    // A new measurement starts again from the profile as measured.
    book.set_own(own);
    EXPECT_FALSE(nlohmann::json::parse(*book.combined().first)["end"].contains("scale"));
}

// A factor nothing confirms any more (the scheduler stopped using the device after one
// stall made it look slow) relaxes back towards the profile, so the device is tried again.
TEST(ProfileBook, AnUnconfirmedFactorRelaxesTowardsTheProfile) {
    std::uint64_t now = 1'000'000'000ULL;
    ProfileBook book("end-1", [&] { return now; });
    nlohmann::json own = profile("end-1", "end");
    own["models"] = {{{"name", "m"}, {"full_ms", 10.0}}};
    book.set_own(own);
    auto scale = [&] {
        const auto doc = nlohmann::json::parse(*book.combined().first);
        return doc["end"].value("scale", 1.0);
    };
    for (int i = 0; i < 40; ++i)
        book.observe("", "m", 30.0); // three times the profile
    EXPECT_NEAR(scale(), 3.0, 0.3);
    now += 4'000'000'000ULL; // within 5 s of the last observation: kept
    EXPECT_NEAR(scale(), 3.0, 0.3);
    now += 21'000'000'000ULL; // 20 s past those 5 s: half way back
    EXPECT_NEAR(scale(), 2.0, 0.25);
    now += 100'000'000'000ULL;
    EXPECT_LT(scale(), 1.2);
    // Observed again: the device's real speed wins at once.
    for (int i = 0; i < 40; ++i)
        book.observe("", "m", 30.0);
    EXPECT_NEAR(scale(), 3.0, 0.3);
    // A device observed all along does not relax.
    for (int i = 0; i < 60; ++i) {
        now += 1'000'000'000ULL;
        book.observe("", "m", 30.0);
    }
    EXPECT_NEAR(scale(), 3.0, 0.3);
}

} // namespace
