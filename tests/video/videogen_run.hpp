// Runs the real tierd-videogen binary for the tests: a temporary folder per run, the exit
// status and the messages, and readers for what it wrote (gt.json, frames, label maps).
#pragma once

#include "tests/support/program_run.hpp"

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace tierd::videogen_test {

// A fresh folder under /tmp (removed by its destructor) and a finished run's exit status
// and messages: tests/support/program_run.hpp.
using test_support::TempDir;
using RunResult = test_support::ProgramRun;

// Runs tierd-videogen with `args` (no shell: each element is one argument): the one this
// build made, or the one $TIERD_VIDEOGEN names (to run these tests against another build).
RunResult run_videogen(const std::vector<std::string> &args);

// Runs it with --seed --frames --out `out` plus `extra`, expecting success (a gtest failure
// with its messages otherwise).
RunResult generate(const std::filesystem::path &out, unsigned seed, int frames,
                   const std::vector<std::string> &extra = {});

using test_support::read_bytes;
nlohmann::json read_json(const std::filesystem::path &path);

// Every frame of a video, decoded by OpenCV's ffmpeg backend.
std::vector<cv::Mat> read_frames(const std::filesystem::path &video);

// The payloads of the video chunks ("00dc") of an AVI file, in order: one JPEG per frame
// for MJPG. Empty when the file is not RIFF/AVI.
std::vector<std::vector<unsigned char>> avi_video_chunks(const std::filesystem::path &avi);

// Runs `work` with this process's stderr (fd 2) going to a file, and returns what was
// written there: libjpeg and ffmpeg report damaged data only that way.
std::string capture_stderr(const std::function<void()> &work);

// The label map of `frame` written by --labels (CV_16U: track_id + 1, 0 = no object).
cv::Mat read_labels(const std::filesystem::path &out, int frame);

} // namespace tierd::videogen_test
