#include "tests/support/program_run.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>

extern char **environ;

namespace tierd::test_support {

TempDir::TempDir(const std::string &prefix) {
    std::string templ = "/tmp/" + prefix + "-XXXXXX";
    const char *made = mkdtemp(templ.data());
    if (made == nullptr)
        throw std::runtime_error("mkdtemp " + templ + " failed");
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

ProgramRun run_program(const std::string &program, const std::vector<std::string> &args) {
    TempDir logs("tierd-run");
    const std::string out_path = (logs.path / "stdout").string();
    const std::string err_path = (logs.path / "stderr").string();
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT, 0644);
    std::vector<std::string> argv_strings = {program};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char *> argv;
    for (auto &a : argv_strings)
        argv.push_back(a.data());
    argv.push_back(nullptr);

    ProgramRun result;
    pid_t pid = 0;
    const int spawned = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) {
        result.err = "posix_spawn " + program + " failed: " + std::to_string(spawned);
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

} // namespace tierd::test_support
