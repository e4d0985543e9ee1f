#include "driftgen_run.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

extern char **environ;

namespace tierd::drift_test {

TempDir::TempDir() {
    char templ[] = "/tmp/tierd-driftgen-XXXXXX";
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

RunResult run_driftgen(const std::vector<std::string> &args) {
    TempDir logs;
    const std::string out_path = (logs.path / "stdout").string();
    const std::string err_path = (logs.path / "stderr").string();
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT, 0644);
    const char *other = std::getenv("TIERD_DRIFTGEN");
    std::vector<std::string> argv_strings = {other != nullptr ? other : TIERD_DRIFTGEN_PATH};
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

} // namespace tierd::drift_test
