#include "videogen_run.hpp"

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace tierd::videogen_test {

RunResult run_videogen(const std::vector<std::string> &args) {
    const char *other = std::getenv("TIERD_VIDEOGEN");
    return test_support::run_program(other != nullptr ? other : TIERD_VIDEOGEN_PATH, args);
}

RunResult generate(const std::filesystem::path &out, unsigned seed, int frames,
                   const std::vector<std::string> &extra) {
    std::vector<std::string> args = {
        "--seed", std::to_string(seed), "--frames", std::to_string(frames),
        "--out",  out.string(),         "--quiet"};
    args.insert(args.end(), extra.begin(), extra.end());
    RunResult r = run_videogen(args);
    EXPECT_EQ(r.exit_status, 0) << r.err << r.out;
    return r;
}

nlohmann::json read_json(const std::filesystem::path &path) {
    return nlohmann::json::parse(read_bytes(path));
}

std::vector<cv::Mat> read_frames(const std::filesystem::path &video) {
    cv::VideoCapture capture(video.string(), cv::CAP_FFMPEG);
    std::vector<cv::Mat> frames;
    cv::Mat frame;
    while (capture.read(frame))
        frames.push_back(frame.clone());
    return frames;
}

namespace {

uint32_t le32(const std::string &bytes, size_t at) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i)
        v = (v << 8) | static_cast<unsigned char>(bytes[at + static_cast<size_t>(i)]);
    return v;
}

// Walks the RIFF chunks in [begin, end), descending into RIFF and LIST chunks.
void collect_chunks(const std::string &bytes, size_t begin, size_t end,
                    std::vector<std::vector<unsigned char>> &out) {
    size_t at = begin;
    while (at + 8 <= end) {
        const std::string id = bytes.substr(at, 4);
        const size_t size = le32(bytes, at + 4);
        const size_t payload = at + 8;
        if (payload + size > end)
            return;
        if (id == "RIFF" || id == "LIST")
            collect_chunks(bytes, payload + 4, payload + size, out);
        else if (id.size() == 4 && id[2] == 'd' && id[3] == 'c')
            out.emplace_back(bytes.begin() + static_cast<std::ptrdiff_t>(payload),
                             bytes.begin() + static_cast<std::ptrdiff_t>(payload + size));
        at = payload + size + (size & 1);
    }
}

} // namespace

std::vector<std::vector<unsigned char>> avi_video_chunks(const std::filesystem::path &avi) {
    const std::string bytes = read_bytes(avi);
    std::vector<std::vector<unsigned char>> chunks;
    if (bytes.size() < 12 || bytes.compare(0, 4, "RIFF") != 0 || bytes.compare(8, 4, "AVI ") != 0)
        return chunks;
    collect_chunks(bytes, 0, bytes.size(), chunks);
    return chunks;
}

std::string capture_stderr(const std::function<void()> &work) {
    TempDir dir;
    const std::string path = (dir.path / "stderr").string();
    std::fflush(stderr);
    const int saved = dup(2);
    const int file = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(file, 2);
    work();
    std::fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(file);
    return read_bytes(path);
}

cv::Mat read_labels(const std::filesystem::path &out, int frame) {
    char name[32];
    std::snprintf(name, sizeof name, "%06d.png", frame);
    return cv::imread((out / "labels" / name).string(), cv::IMREAD_UNCHANGED);
}

} // namespace tierd::videogen_test
