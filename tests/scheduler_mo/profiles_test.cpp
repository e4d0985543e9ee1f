// Profile documents: the fixture parses as written; every kind of bad input fails with a
// message that names the tier, the model (and cut) and the key.
#include "core/profiles.hpp"
#include "fixture.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <string>

namespace {

using nlohmann::json;
using scheduler_mo::parse_profile_set;
using scheduler_mo::parse_profile_set_text;
using scheduler_mo::ProfileError;
using scheduler_mo::ProfileSet;
using scheduler_mo::Tier;
using scheduler_mo::testing::kFixtureProfiles;

TEST(Profiles, FixtureParses) {
    ProfileSet set = parse_profile_set_text(kFixtureProfiles);
    EXPECT_EQ(set.end.device_id, "pi-1");
    EXPECT_EQ(set.end.tier, Tier::end);
    EXPECT_EQ(set.end.runs, 20);
    ASSERT_EQ(set.end.models.size(), 2u);
    const auto *resnet = set.end.find_model("resnet-20");
    ASSERT_NE(resnet, nullptr);
    EXPECT_DOUBLE_EQ(resnet->top1, 0.92);
    EXPECT_EQ(resnet->input_bytes, 784);
    ASSERT_NE(resnet->find_cut(5), nullptr);
    EXPECT_EQ(resnet->find_cut(5)->elements, 1000);
    EXPECT_DOUBLE_EQ(resnet->find_cut(5)->int8_agreement, 0.99);
    EXPECT_EQ(resnet->find_cut(6), nullptr);
    ASSERT_TRUE(set.edge.has_value());
    ASSERT_TRUE(set.cloud.has_value());
    EXPECT_EQ(set.tier(Tier::cloud)->find_model("resnet-56")->full_ms, 1.5);
    // cuts may be left out: a model that cannot be split.
    EXPECT_TRUE(set.edge->find_model("cnn-xs")->cuts.empty());
}

TEST(Profiles, RemoteTiersMayBeNullOrAbsent) {
    json doc = json::parse(kFixtureProfiles);
    doc["edge"] = nullptr;
    doc.erase("cloud");
    ProfileSet set = parse_profile_set(doc);
    EXPECT_FALSE(set.edge.has_value());
    EXPECT_FALSE(set.cloud.has_value());
    EXPECT_EQ(set.tier(Tier::edge), nullptr);
}

// Applies `edit` to the fixture and expects a ProfileError whose message holds every one
// of `parts`.
void expect_error(const std::function<void(json &)> &edit,
                  std::initializer_list<const char *> parts) {
    json doc = json::parse(kFixtureProfiles);
    edit(doc);
    try {
        parse_profile_set(doc);
        ADD_FAILURE() << "no error for " << doc.dump();
    } catch (const ProfileError &error) {
        std::string message = error.what();
        for (const char *part : parts)
            EXPECT_NE(message.find(part), std::string::npos)
                << "'" << part << "' not in: " << message;
    }
}

TEST(Profiles, ErrorsNameTheProblem) {
    expect_error([](json &d) { d["edge"]["models"][1].erase("top1"); },
                 {"edge profile", "model 'resnet-20'", "missing key 'top1'"});
    expect_error([](json &d) { d["end"]["models"][1]["full_ms"] = "fast"; },
                 {"end profile", "model 'resnet-20'", "full_ms", "\"fast\""});
    expect_error([](json &d) { d["end"]["models"][1]["cuts"][0]["head_ms"] = -1; },
                 {"model 'resnet-20'", "cuts[0]", "head_ms", ">= 0"});
    expect_error([](json &d) { d["cloud"]["models"][0]["cuts"][0]["int8_agreement"] = 1.5; },
                 {"cloud profile", "int8_agreement", "[0, 1]"});
    expect_error([](json &d) { d["end"]["models"][0]["input_bytes"] = 78.4; },
                 {"model 'cnn-xs'", "input_bytes", "integer"});
    expect_error([](json &d) { d["edge"]["models"][0].erase("name"); },
                 {"edge profile models[0]", "missing key 'name'"});
    expect_error([](json &d) { d["edge"]["tier"] = "cloud"; },
                 {"edge profile", "says tier \"cloud\""});
    expect_error([](json &d) { d["edge"]["tier"] = "fog"; }, {"edge profile", "key 'tier'"});
    expect_error([](json &d) { d["fog"] = d["edge"]; }, {"unknown key 'fog'"});
    expect_error([](json &d) { d.erase("end"); }, {"missing key 'end'"});
    expect_error([](json &d) { d["end"]["v"] = 2; }, {"end profile", "unsupported version"});
    expect_error([](json &d) { d["end"]["models"].push_back(d["end"]["models"][0]); },
                 {"end profile", "model 'cnn-xs' appears twice"});
    expect_error(
        [](json &d) { d["end"]["models"][1]["cuts"].push_back(d["end"]["models"][1]["cuts"][0]); },
        {"model 'resnet-20'", "cut layer 5 appears twice"});
    expect_error([](json &d) { d["cloud"]["models"] = json::object(); },
                 {"cloud profile", "'models' must be an array"});
    expect_error([](json &d) { d["edge"]["slowdown"] = 0; }, {"edge profile", "slowdown"});
}

TEST(Profiles, InvalidJsonSaysSo) {
    try {
        parse_profile_set_text("{\"end\": {");
        ADD_FAILURE() << "no error";
    } catch (const ProfileError &error) {
        EXPECT_NE(std::string(error.what()).find("not valid JSON"), std::string::npos)
            << error.what();
    }
}

} // namespace
