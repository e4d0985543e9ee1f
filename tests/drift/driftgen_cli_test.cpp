// The real tierd-driftgen binary: its files are what a player (tierd's IDX source, the
// SDK's reader) reads, with exact ground truth, and one seed gives one set of bytes.
#include "driftgen_run.hpp"
#include "tools/drift/source_images.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <tierd/idx.hpp>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>

namespace tierd::drift_test {
namespace {

namespace fs = std::filesystem;
constexpr const char *kImages = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
constexpr const char *kLabels = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";
constexpr const char *kPlan = "clean:300,noise@3:200,blur+contrast@4:200,rotation@5:100,"
                              "scale@2:100,occlusion@5:100,jpeg@5:100,brightness@1:100";

RunResult generate(const fs::path &out, const std::string &plan, uint64_t seed) {
    RunResult r = run_driftgen(
        {"--plan", plan, "--seed", std::to_string(seed), "--out", out.string(), "--quiet"});
    EXPECT_EQ(r.exit_status, 0) << r.err << r.out;
    return r;
}

nlohmann::json read_json(const fs::path &path) {
    return nlohmann::json::parse(read_bytes(path));
}

const drift::SourceImages &fashion_mnist() {
    static const drift::SourceImages source = drift::read_source_images(kImages, kLabels);
    return source;
}

TEST(DriftgenCli, SameSeedGivesTheSameBytesAndAnotherSeedOthers) {
    TempDir dir;
    generate(dir.path / "a", kPlan, 5);
    generate(dir.path / "b", kPlan, 5);
    generate(dir.path / "c", kPlan, 6);
    for (const char *file : {"images-idx3-ubyte", "labels-idx1-ubyte", "segments.json"}) {
        const std::string a = read_bytes(dir.path / "a" / file);
        ASSERT_FALSE(a.empty()) << file;
        EXPECT_EQ(a, read_bytes(dir.path / "b" / file)) << file;
        EXPECT_NE(a, read_bytes(dir.path / "c" / file)) << file;
    }
}

TEST(DriftgenCli, OutputIsReadByTheSdkIdxReaderWithTheSourceLabels) {
    TempDir dir;
    generate(dir.path, kPlan, 11);
    tierd::idx::ImageReader reader((dir.path / "images-idx3-ubyte").string());
    ASSERT_EQ(reader.count(), 1200u);
    ASSERT_EQ(reader.rows(), 28);
    ASSERT_EQ(reader.cols(), 28);
    const std::vector<uint8_t> pixels = reader.read();
    reader.expect_end();
    const std::vector<uint8_t> labels = tierd::idx::read_labels(
        (dir.path / "labels-idx1-ubyte").string(), reader.count(), reader.path());

    const nlohmann::json meta = read_json(dir.path / "segments.json");
    const auto source_index = meta.at("source_index").get<std::vector<uint32_t>>();
    ASSERT_EQ(source_index.size(), 1200u);
    const drift::SourceImages &source = fashion_mnist();
    for (std::size_t i = 0; i < source_index.size(); ++i) {
        ASSERT_LT(source_index[i], source.count);
        ASSERT_EQ(labels[i], source.labels[source_index[i]]) << "image " << i;
    }
    // 1,200 of 10,000: no source image twice.
    EXPECT_EQ(std::set<uint32_t>(source_index.begin(), source_index.end()).size(), 1200u);

    // The clean segment is the source images themselves; every other one differs from them.
    for (const auto &segment : meta.at("segments")) {
        const auto first = segment.at("first").get<std::size_t>();
        const auto count = segment.at("count").get<std::size_t>();
        std::size_t differing = 0;
        for (std::size_t i = first; i < first + count; ++i)
            differing +=
                std::memcmp(pixels.data() + i * 784, source.image(source_index[i]), 784) != 0;
        if (segment.at("name") == "clean")
            EXPECT_EQ(differing, 0u);
        else
            EXPECT_GT(differing, count * 9 / 10) << segment.at("name");
    }
}

TEST(DriftgenCli, SegmentsJsonRecordsEverySegment) {
    TempDir dir;
    generate(dir.path, "clean:3,blur+contrast@4:5,noise:2", 1);
    const nlohmann::json meta = read_json(dir.path / "segments.json");
    EXPECT_EQ(meta.at("schema"), 1);
    EXPECT_EQ(meta.at("seed"), 1);
    EXPECT_EQ(meta.at("count"), 10);
    EXPECT_EQ(meta.at("source").at("images"), kImages);
    const auto &segments = meta.at("segments");
    ASSERT_EQ(segments.size(), 3u);
    EXPECT_EQ(segments[0].at("shifts"), nlohmann::json::array({"clean"}));
    EXPECT_EQ(segments[0].at("severity"), 0);
    EXPECT_EQ(segments[1].at("name"), "blur+contrast@4");
    EXPECT_EQ(segments[1].at("shifts"), nlohmann::json::array({"blur", "contrast"}));
    EXPECT_EQ(segments[1].at("severity"), 4);
    EXPECT_EQ(segments[1].at("first"), 3);
    EXPECT_EQ(segments[1].at("count"), 5);
    EXPECT_EQ(segments[1].at("parameters").at("blur_sigma_px"), 1.25);
    EXPECT_EQ(segments[1].at("parameters").at("contrast_factor"), 0.3);
    EXPECT_EQ(segments[2].at("severity"), 3);
    EXPECT_EQ(segments[2].at("first"), 8);
}

// A longer plan starts with the images of a shorter one: an image depends on its seed,
// position, segment and source image only.
TEST(DriftgenCli, ALongerPlanStartsWithTheShorterPlansImages) {
    TempDir dir;
    generate(dir.path / "short", "noise@4:50,rotation:20", 3);
    generate(dir.path / "long", "noise@4:50,rotation:20,occlusion:30", 3);
    const std::string shorter = read_bytes(dir.path / "short" / "images-idx3-ubyte");
    const std::string longer = read_bytes(dir.path / "long" / "images-idx3-ubyte");
    ASSERT_EQ(shorter.size(), 16 + 70 * 784u);
    ASSERT_EQ(longer.size(), 16 + 100 * 784u);
    EXPECT_EQ(shorter.substr(16), longer.substr(16, 70 * 784));
}

TEST(DriftgenCli, RepeatsSourceImagesOnlyAfterUsingAllOfThem) {
    TempDir dir;
    generate(dir.path, "clean:6000,noise@1:5000", 8);
    const auto source_index =
        read_json(dir.path / "segments.json").at("source_index").get<std::vector<uint32_t>>();
    ASSERT_EQ(source_index.size(), 11000u);
    EXPECT_EQ(std::set<uint32_t>(source_index.begin(), source_index.begin() + 10000).size(),
              10000u);
    EXPECT_EQ(std::set<uint32_t>(source_index.begin() + 10000, source_index.end()).size(), 1000u);
}

TEST(DriftgenCli, RefusesMalformedPlansWithTheSegmentAndExitTwo) {
    TempDir dir;
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"clean:10,fog@2:5", "plan segment 2 'fog@2:5': unknown shift 'fog'"},
        {"noise@0:5", "plan segment 1 'noise@0:5': severity '0' is not one of 1, 2, 3, 4, 5"},
        {"noise@6:5", "severity '6'"},
        {"noise@2:0", "plan segment 1 'noise@2:0': COUNT '0'"},
        {"clean:4,blur@2", "plan segment 2 'blur@2': missing ':COUNT'"},
    };
    for (const auto &[plan, message] : cases) {
        const RunResult r =
            run_driftgen({"--plan", plan, "--seed", "1", "--out", (dir.path / "out").string()});
        EXPECT_EQ(r.exit_status, 2) << plan;
        EXPECT_NE(r.err.find(message), std::string::npos) << plan << " gave: " << r.err;
        EXPECT_FALSE(fs::exists(dir.path / "out")) << plan;
    }
}

TEST(DriftgenCli, AMissingOrBadInputNamesTheFileAndExitsOne) {
    TempDir dir;
    const std::string missing = (dir.path / "no-such-images.gz").string();
    RunResult r = run_driftgen(
        {"--plan", "clean:5", "--out", (dir.path / "out").string(), "--images", missing});
    EXPECT_EQ(r.exit_status, 1);
    EXPECT_NE(r.err.find(missing + ": cannot open"), std::string::npos) << r.err;

    const std::string not_idx = (dir.path / "labels").string();
    std::ofstream(not_idx) << "not an idx file";
    r = run_driftgen(
        {"--plan", "clean:5", "--out", (dir.path / "out").string(), "--labels", not_idx});
    EXPECT_EQ(r.exit_status, 1);
    EXPECT_NE(r.err.find(not_idx + ": not an IDX file"), std::string::npos) << r.err;
}

TEST(DriftgenCli, AnUnwritableOutputNamesThePathAndExitsOne) {
    TempDir dir;
    const fs::path blocker = dir.path / "file";
    std::ofstream(blocker) << "a file where the folder should be";
    const RunResult r = run_driftgen({"--plan", "clean:5", "--out", (blocker / "out").string()});
    EXPECT_EQ(r.exit_status, 1);
    EXPECT_NE(r.err.find((blocker / "out").string()), std::string::npos) << r.err;
}

TEST(DriftgenCli, HelpDescribesThePlanAndTheFiles) {
    const RunResult r = run_driftgen({"--help"});
    EXPECT_EQ(r.exit_status, 0);
    for (const char *part : {"SHIFT[+SHIFT...][@SEVERITY]:COUNT", "occlusion", "--seed", "--images",
                             "segments.json", "source_index", "Exit status"})
        EXPECT_NE(r.out.find(part), std::string::npos) << part;
    const RunResult none = run_driftgen({"--seed", "1"});
    EXPECT_EQ(none.exit_status, 2);
    EXPECT_NE(none.err.find("--plan and --out are required"), std::string::npos) << none.err;
}

TEST(DriftgenCli, ListsTheParametersOfEverySeverity) {
    const RunResult r = run_driftgen({"--list-shifts"});
    EXPECT_EQ(r.exit_status, 0);
    EXPECT_NE(r.out.find("noise@5 noise_sigma=0.26\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("jpeg@1 jpeg_quality=40\n"), std::string::npos) << r.out;
}

} // namespace
} // namespace tierd::drift_test
