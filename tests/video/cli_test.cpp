// The command line: --help, bad arguments (exit 2 with a message naming the problem),
// missing inputs and unwritable output (exit 1 naming the file), writes nothing on error.
#include "videogen_run.hpp"

#include <gtest/gtest.h>

#include <fstream>

namespace tierd::videogen_test {
namespace {

TEST(VideogenCli, HelpNamesTheOptions) {
    const RunResult r = run_videogen({"--help"});
    EXPECT_EQ(r.exit_status, 0);
    for (const char *option : {"--seed", "--frames", "--out", "--split", "--codec", "--width"})
        EXPECT_NE(r.out.find(option), std::string::npos) << option;
}

struct BadArguments {
    std::vector<std::string> args;
    std::string message; // a part of what stderr must say
};

TEST(VideogenCli, BadArgumentsExitWithStatus2AndSayWhy) {
    TempDir out;
    const std::string dir = (out.path / "v").string();
    const std::vector<BadArguments> cases = {
        {{"--frames", "10", "--out", dir}, "--seed"},
        {{"--seed", "1", "--out", dir}, "--frames"},
        {{"--seed", "1", "--frames", "10"}, "--out"},
        {{"--seed", "x", "--frames", "10", "--out", dir}, "--seed"},
        {{"--seed", "-1", "--frames", "10", "--out", dir}, "--seed"},
        {{"--seed", "1", "--frames", "0", "--out", dir}, "--frames must be"},
        {{"--seed", "1", "--frames", "10", "--out", dir, "--width", "641"}, "--width must be"},
        {{"--seed", "1", "--frames", "10", "--out", dir, "--height", "32"}, "--height must be"},
        {{"--seed", "1", "--frames", "10", "--out", dir, "--fps", "0"}, "--fps must be"},
        {{"--seed", "1", "--frames", "10", "--out", dir, "--codec", "gif"}, "--codec must be"},
        {{"--seed", "1", "--frames", "10", "--out", dir, "--split", "val"}, "--split"},
        {{"--seed", "1", "--frames", "10", "--out", dir, "--min-objects", "9"}, "--min-objects"},
        {{"--seed", "1", "--frames", "10", "--out", dir, "--bogus"}, "--bogus"},
    };
    for (const auto &c : cases) {
        const RunResult r = run_videogen(c.args);
        std::string line;
        for (const auto &a : c.args)
            line += a + " ";
        EXPECT_EQ(r.exit_status, 2) << line << "\n" << r.err;
        EXPECT_NE(r.err.find(c.message), std::string::npos) << line << "\nstderr: " << r.err;
    }
    EXPECT_FALSE(std::filesystem::exists(dir)) << "nothing written on a usage error";
}

TEST(VideogenCli, UnwritableOutputExitsWithStatus1) {
    TempDir tmp;
    const auto file = tmp.path / "a-file";
    std::ofstream(file) << "x";
    const RunResult r =
        run_videogen({"--seed", "1", "--frames", "2", "--out", (file / "video").string()});
    EXPECT_EQ(r.exit_status, 1) << r.err;
    EXPECT_NE(r.err.find("a-file"), std::string::npos) << r.err;
}

TEST(VideogenCli, MissingInputDataNamesTheDebianPackage) {
    TempDir tmp;
    RunResult r = run_videogen({"--seed", "1", "--frames", "2", "--out", (tmp.path / "a").string(),
                                "--fashion-mnist", (tmp.path / "none").string()});
    EXPECT_EQ(r.exit_status, 1);
    EXPECT_NE(r.err.find("dataset-fashion-mnist"), std::string::npos) << r.err;
    r = run_videogen({"--seed", "1", "--frames", "2", "--out", (tmp.path / "b").string(),
                      "--backgrounds", (tmp.path / "none").string()});
    EXPECT_EQ(r.exit_status, 1);
    EXPECT_NE(r.err.find("opencv-doc"), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(tmp.path / "b" / "gt.json"));
}

TEST(VideogenCli, OtherSizesAndCodecsWork) {
    TempDir out;
    generate(out.path, 2, 5,
             {"--width", "320", "--height", "240", "--fps", "10", "--codec", "mp4v"});
    const auto frames = read_frames(out.path / "video.mp4");
    ASSERT_EQ(frames.size(), 5u);
    EXPECT_EQ(frames[0].size(), cv::Size(320, 240));
    const auto gt = read_json(out.path / "gt.json");
    EXPECT_EQ(gt["images"][0]["file_name"], "video.mp4#0");
    EXPECT_EQ(gt["info"]["fps"], 10.0);
}

} // namespace
} // namespace tierd::videogen_test
