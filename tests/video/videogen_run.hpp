// Runs the real tierd-videogen binary for the tests: a temporary folder per run, the exit
// status and the messages, and readers for what it wrote (gt.json, frames, label maps).
#pragma once

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace tierd::videogen_test {

// A fresh folder under /tmp, removed with everything in it by the destructor.
struct TempDir {
    TempDir();
    ~TempDir();
    TempDir(const TempDir &) = delete;
    TempDir &operator=(const TempDir &) = delete;
    std::filesystem::path path;
};

struct RunResult {
    int exit_status = -1; // -1: did not exit normally
    std::string out, err;
};

// Runs tierd-videogen with `args` (no shell: each element is one argument).
RunResult run_videogen(const std::vector<std::string> &args);

// Runs it with --seed --frames --out `out` plus `extra`, expecting success (a gtest failure
// with its messages otherwise).
RunResult generate(const std::filesystem::path &out, unsigned seed, int frames,
                   const std::vector<std::string> &extra = {});

std::string read_bytes(const std::filesystem::path &path);
nlohmann::json read_json(const std::filesystem::path &path);

// Every frame of a video, decoded by OpenCV's ffmpeg backend.
std::vector<cv::Mat> read_frames(const std::filesystem::path &video);

// The label map of `frame` written by --labels (CV_16U: track_id + 1, 0 = no object).
cv::Mat read_labels(const std::filesystem::path &out, int frame);

} // namespace tierd::videogen_test
