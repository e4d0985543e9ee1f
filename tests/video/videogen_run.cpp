#include "videogen_run.hpp"

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

extern char **environ;

namespace tierd::videogen_test {

TempDir::TempDir() {
    char templ[] = "/tmp/tierd-videogen-XXXXXX";
    const char *made = mkdtemp(templ);
    if (made == nullptr)
        throw std::runtime_error("mkdtemp failed");
    path = made;
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
}

std::string read_bytes(const std::filesystem::path &path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    return bytes.str();
}

RunResult run_videogen(const std::vector<std::string> &args) {
    TempDir logs;
    const std::string out_path = (logs.path / "stdout").string();
    const std::string err_path = (logs.path / "stderr").string();
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT, 0644);
    const char *other = std::getenv("TIERD_VIDEOGEN");
    std::vector<std::string> argv_strings = {other != nullptr ? other : TIERD_VIDEOGEN_PATH};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char *> argv;
    for (auto &a : argv_strings)
        argv.push_back(a.data());
    argv.push_back(nullptr);

    RunResult result;
    pid_t pid = 0;
    const int spawned = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) {
        result.err = "posix_spawn failed";
        return result;
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status))
        result.exit_status = WEXITSTATUS(status);
    result.out = read_bytes(out_path);
    result.err = read_bytes(err_path);
    return result;
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
