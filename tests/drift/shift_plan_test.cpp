#include "tools/drift/shift_plan.hpp"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

namespace tierd::drift {
namespace {

// Parsing `plan` fails with a message holding every one of `parts`.
void expect_refused(const std::string &plan, std::initializer_list<std::string> parts) {
    try {
        parse_plan(plan);
        ADD_FAILURE() << "accepted: " << plan;
    } catch (const PlanError &e) {
        const std::string message = e.what();
        for (const auto &part : parts)
            EXPECT_NE(message.find(part), std::string::npos)
                << "'" << plan << "' gave: " << message << " (expected '" << part << "')";
    }
}

TEST(ShiftPlan, ParsesShiftsSeverityAndCountOfEverySegment) {
    const auto plan = parse_plan("clean:1000,noise@3:500,blur+contrast@4:20,rotation@5:7");
    ASSERT_EQ(plan.size(), 4u);
    EXPECT_EQ(plan[0].shifts, std::vector<Shift>{Shift::clean});
    EXPECT_EQ(plan[0].severity, 0);
    EXPECT_EQ(plan[0].count, 1000u);
    EXPECT_EQ(plan[1].shifts, std::vector<Shift>{Shift::noise});
    EXPECT_EQ(plan[1].severity, 3);
    EXPECT_EQ(plan[1].count, 500u);
    EXPECT_EQ(plan[2].shifts, (std::vector<Shift>{Shift::blur, Shift::contrast}));
    EXPECT_EQ(plan[2].severity, 4);
    EXPECT_EQ(plan[2].name(), "blur+contrast@4");
    EXPECT_EQ(plan[3].shifts, std::vector<Shift>{Shift::rotation});
    EXPECT_EQ(plan[3].severity, 5);
    EXPECT_EQ(total_images(plan), 1527u);
}

TEST(ShiftPlan, KnowsEveryShiftByName) {
    for (const Shift shift : kShifts) {
        const auto plan = parse_plan(std::string(shift_name(shift)) + ":2");
        ASSERT_EQ(plan.size(), 1u);
        EXPECT_EQ(plan[0].shifts, std::vector<Shift>{shift});
    }
    EXPECT_EQ(parse_plan("jpeg+brightness+scale+occlusion@1:3")[0].shifts.size(), 4u);
}

TEST(ShiftPlan, SeverityDefaultsToThree) {
    EXPECT_EQ(parse_plan("noise:5")[0].severity, kDefaultSeverity);
    EXPECT_EQ(parse_plan("noise:5")[0].name(), "noise@3");
}

TEST(ShiftPlan, AllowsSpacesAroundParts) {
    const auto plan = parse_plan(" clean : 3 , blur + noise @ 2 : 4 ");
    ASSERT_EQ(plan.size(), 2u);
    EXPECT_EQ(plan[1].shifts, (std::vector<Shift>{Shift::blur, Shift::noise}));
    EXPECT_EQ(plan[1].severity, 2);
    EXPECT_EQ(plan[1].count, 4u);
}

TEST(ShiftPlan, RefusesAnUnknownShiftNamingTheSegment) {
    expect_refused("clean:10,nois@3:5", {"segment 2", "'nois@3:5'", "unknown shift 'nois'"});
    expect_refused("blur+fog:5", {"segment 1", "unknown shift 'fog'"});
}

TEST(ShiftPlan, RefusesSeverityOutsideOneToFive) {
    expect_refused("noise@0:5", {"segment 1", "severity '0'"});
    expect_refused("clean:1,noise@6:5", {"segment 2", "severity '6'"});
    expect_refused("noise@-1:5", {"severity '-1'"});
    expect_refused("noise@:5", {"severity ''"});
    expect_refused("noise@high:5", {"severity 'high'"});
}

TEST(ShiftPlan, RefusesACountThatIsNotPositive) {
    expect_refused("noise@2:0", {"segment 1", "COUNT '0'"});
    expect_refused("noise@2:-4", {"COUNT '-4'"});
    expect_refused("noise@2:", {"COUNT ''"});
    expect_refused("noise@2:1e3", {"COUNT '1e3'"});
    expect_refused("noise:10000001", {"COUNT '10000001'"});
}

TEST(ShiftPlan, RefusesAMissingColon) {
    expect_refused("clean:5,noise@3", {"segment 2", "missing ':COUNT'"});
    expect_refused("blur", {"missing ':COUNT'"});
}

TEST(ShiftPlan, RefusesEmptyPlansAndSegments) {
    expect_refused("", {"plan is empty"});
    expect_refused("  ", {"plan is empty"});
    expect_refused("clean:5,,noise:3", {"segment 2", "empty segment"});
    expect_refused("clean:5,", {"segment 2", "empty segment"});
    expect_refused("+noise:3", {"shift name is missing"});
    expect_refused("@2:3", {"shift name is missing"});
}

TEST(ShiftPlan, RefusesARepeatedShiftAndCleanWithOthers) {
    expect_refused("noise+blur+noise@2:3", {"'noise' appears twice"});
    expect_refused("clean+blur:3", {"'clean' cannot be combined"});
    expect_refused("clean@2:3", {"'clean' takes no severity"});
}

TEST(ShiftPlan, RefusesATotalAboveTheBound) {
    expect_refused("clean:6000000,noise:6000000", {"segment 2", "more than the"});
}

} // namespace
} // namespace tierd::drift
