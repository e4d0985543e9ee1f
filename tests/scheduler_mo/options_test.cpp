// Option enumeration and predictions on the hand-written fixture, checked against values
// computed by hand; settings parsing.
#include "core/options.hpp"
#include "core/policy.hpp"
#include "fixture.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace scheduler_mo;
using namespace scheduler_mo::testing;

std::vector<std::string> names(const std::vector<Option> &options) {
    std::vector<std::string> out;
    for (const Option &option : options)
        out.push_back(option.name);
    return out;
}

const Option &by_name(const std::vector<Option> &options, const std::string &name) {
    for (const Option &option : options)
        if (option.name == name)
            return option;
    throw std::runtime_error("no option " + name);
}

TEST(Options, EnumeratesEveryAvailablePlacementInStableOrder) {
    ProfileSet profiles = parse_profile_set_text(kFixtureProfiles);
    std::vector<Option> options = enumerate_options(profiles, fixture_settings());
    EXPECT_EQ(names(options), (std::vector<std::string>{
                                  "end:cnn-xs",
                                  "edge:cnn-xs",
                                  "end:resnet-20",
                                  "edge:resnet-20",
                                  "cloud:resnet-20",
                                  "split:edge:resnet-20:5:f16",
                                  "split:edge:resnet-20:5:i8",
                                  "split:cloud:resnet-20:5:f16",
                                  "split:cloud:resnet-20:5:i8",
                                  "cloud:resnet-56",
                              }));
    EXPECT_TRUE(options[0].light);
    EXPECT_TRUE(options[1].light);
    EXPECT_FALSE(options[2].light);
}

TEST(Options, SettingsRestrictTiersModelsAndWire) {
    ProfileSet profiles = parse_profile_set_text(kFixtureProfiles);
    Settings settings = parse_settings(ConfigMap{{"tiers", std::string("end, edge")},
                                                 {"wire", std::string("i8")},
                                                 {"models", std::string("resnet-20,resnet-56")},
                                                 {"reply_bytes", 100.0}});
    EXPECT_EQ(
        names(enumerate_options(profiles, settings)),
        (std::vector<std::string>{"end:resnet-20", "edge:resnet-20", "split:edge:resnet-20:5:i8"}));
    EXPECT_DOUBLE_EQ(settings.reply_bytes, 100);
    // Without the end device no split either: the head runs there.
    settings = parse_settings(ConfigMap{{"tiers", std::string("cloud")}});
    EXPECT_EQ(names(enumerate_options(profiles, settings)),
              (std::vector<std::string>{"cloud:resnet-20", "cloud:resnet-56"}));
    EXPECT_THROW(parse_settings(ConfigMap{{"tiers", std::string("end,fog")}}),
                 std::invalid_argument);
    EXPECT_THROW(parse_settings(ConfigMap{{"tiers", std::string("")}}), std::invalid_argument);
    EXPECT_THROW(parse_settings(ConfigMap{{"wire", std::string("f32")}}), std::invalid_argument);
    EXPECT_THROW(parse_settings(ConfigMap{{"reply_bytes", std::string("lots")}}),
                 std::invalid_argument);
    EXPECT_THROW(parse_settings(ConfigMap{{"light_model", 3.0}}), std::invalid_argument);
}

TEST(Options, HandComputedSplitPrediction) {
    ProfileSet profiles = parse_profile_set_text(kFixtureProfiles);
    std::vector<Option> options = enumerate_options(profiles, fixture_settings());
    const Option &split = by_name(options, "split:edge:resnet-20:5:i8");
    // upload = 1000 values + 8 (scale) + 200 (header) = 1208 B; reply 200 B at 10 Mbit/s:
    // 0.9664 ms up, 0.16 ms back. latency = head 3 + 0.9664 + rtt 5 + queue 1 + tail 0.7
    // + 0.16 = 10.8264 ms. energy = 2 W * 3 ms + 1 W * 0.9664 ms + 0.5 W * 0.16 ms
    // = 7.0464 mJ. accuracy = edge top1 0.92 * int8 agreement 0.99.
    Objectives o = predict(split, fixture_context(), fixture_power());
    EXPECT_NEAR(o.latency_ms, 10.8264, 1e-12);
    EXPECT_NEAR(o.energy_j, 0.0070464, 1e-15);
    EXPECT_DOUBLE_EQ(o.bytes, 1408);
    EXPECT_NEAR(o.accuracy, 0.9108, 1e-15);

    // The same with f16: 2000 + 200 B up (1.76 ms), lossless.
    o = predict(by_name(options, "split:edge:resnet-20:5:f16"), fixture_context(), fixture_power());
    EXPECT_NEAR(o.latency_ms, 3 + 1.76 + 5 + 1 + 0.7 + 0.16, 1e-12);
    EXPECT_DOUBLE_EQ(o.bytes, 2400);
    EXPECT_DOUBLE_EQ(o.accuracy, 0.92);

    // Whole image to the cloud: 784 + 200 B at 20 Mbit/s = 0.3936 ms, reply 0.08 ms; no
    // compute on the device.
    o = predict(by_name(options, "cloud:resnet-56"), fixture_context(), fixture_power());
    EXPECT_NEAR(o.latency_ms, 0.3936 + 40 + 2 + 1.5 + 0.08, 1e-12);
    EXPECT_NEAR(o.energy_j, 1.0 * 0.0003936 + 0.5 * 0.00008, 1e-15);
    EXPECT_DOUBLE_EQ(o.bytes, 1184);
    EXPECT_DOUBLE_EQ(o.accuracy, 0.95);
}

TEST(Options, EndOnlyAndLightModel) {
    ProfileSet profiles = parse_profile_set_text(kFixtureProfiles);
    std::vector<Option> options = enumerate_options(profiles, fixture_settings());
    Context context = fixture_context();
    context.local_queue_ms = 4;
    Objectives o = predict(by_name(options, "end:resnet-20"), context, fixture_power());
    EXPECT_DOUBLE_EQ(o.latency_ms, 14);
    EXPECT_DOUBLE_EQ(o.energy_j, 0.02);
    EXPECT_DOUBLE_EQ(o.bytes, 0);
    EXPECT_DOUBLE_EQ(o.accuracy, 0.92);
    // The pre-classifier's estimate replaces the light model's top1, wherever it runs.
    EXPECT_DOUBLE_EQ(predict(by_name(options, "end:cnn-xs"), context, fixture_power()).accuracy,
                     0.86);
    context.light_ok_probability = 0.99;
    EXPECT_DOUBLE_EQ(predict(by_name(options, "end:cnn-xs"), context, fixture_power()).accuracy,
                     0.99);
    EXPECT_DOUBLE_EQ(predict(by_name(options, "edge:cnn-xs"), context, fixture_power()).accuracy,
                     0.99);
    EXPECT_DOUBLE_EQ(predict(by_name(options, "end:resnet-20"), context, fixture_power()).accuracy,
                     0.92);
}

TEST(Options, FeasibleOnlyWhileTheTierIsUsable) {
    ProfileSet profiles = parse_profile_set_text(kFixtureProfiles);
    std::vector<Option> options = enumerate_options(profiles, fixture_settings());
    Context context = fixture_context();
    context.edge.online = false;
    EXPECT_TRUE(feasible(by_name(options, "end:resnet-20"), context));
    EXPECT_FALSE(feasible(by_name(options, "edge:resnet-20"), context));
    EXPECT_FALSE(feasible(by_name(options, "split:edge:resnet-20:5:f16"), context));
    EXPECT_TRUE(feasible(by_name(options, "cloud:resnet-20"), context));
    context.cloud.bandwidth_bps = 0;
    EXPECT_FALSE(feasible(by_name(options, "cloud:resnet-20"), context));
}

TEST(Options, ReferenceScalesComeFromTheMostAccurateEndModel) {
    ProfileSet profiles = parse_profile_set_text(kFixtureProfiles);
    Scales scales = reference_scales(profiles, fixture_settings(), fixture_power());
    EXPECT_DOUBLE_EQ(scales.latency_ms, 10);
    EXPECT_DOUBLE_EQ(scales.energy_j, 0.02);
    EXPECT_DOUBLE_EQ(scales.bytes, 784);
    EXPECT_DOUBLE_EQ(scales.accuracy, 0.01);
    Settings only_cloud_model;
    only_cloud_model.models = {"resnet-56"};
    scales = reference_scales(profiles, only_cloud_model, fixture_power());
    EXPECT_DOUBLE_EQ(scales.latency_ms, 1);
    EXPECT_DOUBLE_EQ(scales.energy_j, 0.001);
}

// A profile from an agent that also serves a video detector (the profile command writes it
// with "kind": "detector" and "top1": -1): the set parses, the detector keeps its time and
// map50, and it is neither an image's placement option nor the reference; a stream frame's
// options are the detectors'.
TEST(Options, ADetectorInAProfileIsNotAnImageOption) {
    nlohmann::json doc = nlohmann::json::parse(kFixtureProfiles);
    for (const char *tier : {"end", "edge"})
        doc[tier]["models"].push_back({{"name", "det-light"},
                                       {"kind", "detector"},
                                       {"top1", -1},
                                       {"map50", 0.25},
                                       {"input_bytes", 168960},
                                       {"full_ms", 9.8},
                                       {"cuts", nlohmann::json::array()}});
    doc["end"]["models"].back()["full_ms"] = 290.0;
    const ProfileSet profiles = parse_profile_set(doc);
    const ModelProfile *det = profiles.end.find_model("det-light");
    ASSERT_NE(det, nullptr);
    EXPECT_TRUE(det->detector);
    EXPECT_DOUBLE_EQ(det->map50, 0.25);
    EXPECT_DOUBLE_EQ(det->full_ms, 290.0);
    const ProfileSet plain = parse_profile_set_text(kFixtureProfiles);
    EXPECT_EQ(names(enumerate_options(profiles, fixture_settings())),
              names(enumerate_options(plain, fixture_settings())));
    const Scales with = reference_scales(profiles, fixture_settings(), fixture_power());
    const Scales without = reference_scales(plain, fixture_settings(), fixture_power());
    EXPECT_DOUBLE_EQ(with.latency_ms, without.latency_ms);
    EXPECT_DOUBLE_EQ(with.accuracy, without.accuracy);
    // Named in `models`, it still offers nothing to place an image on.
    Settings only_detector;
    only_detector.models = {"det-light"};
    EXPECT_TRUE(enumerate_options(profiles, only_detector).empty());
    // A stream frame's options are the detectors', their accuracy the map50.
    const std::vector<Option> frames =
        enumerate_options(profiles, frame_settings(fixture_settings(), profiles));
    EXPECT_EQ(names(frames), (std::vector<std::string>{"end:det-light", "edge:det-light"}));
    for (const Option &o : frames)
        EXPECT_DOUBLE_EQ(o.top1, 0.25);
    // A classifier's top1 stays in [0, 1]; a detector's kind is spelled one of two ways.
    nlohmann::json bad = doc;
    bad["end"]["models"].back()["kind"] = "segmenter";
    EXPECT_THROW(parse_profile_set(bad), ProfileError);
    bad = doc;
    bad["end"]["models"].back().erase("kind");
    EXPECT_THROW(parse_profile_set(bad), ProfileError); // top1 -1 without "detector"
    bad = doc;
    bad["end"]["models"].back()["map50"] = 2;
    EXPECT_THROW(parse_profile_set(bad), ProfileError);
}

} // namespace
