// A real mosquitto broker for one test: listening only on a free loopback port, in a
// temporary directory, stopped (SIGTERM, then reaped) when the object goes away.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>

extern char **environ;

namespace test_support {

class BrokerProcess {
  public:
    BrokerProcess() {
        dir_ = std::filesystem::temp_directory_path() /
               ("tierd_broker_" + std::to_string(::getpid()) + "_" + std::to_string(counter()++));
        std::filesystem::create_directories(dir_);
        port_ = free_port();
        const std::string conf = (dir_ / "mosquitto.conf").string();
        std::ofstream(conf) << "listener " << port_ << " 127.0.0.1\n"
                            << "allow_anonymous true\npersistence false\n";
        const std::string log = (dir_ / "mosquitto.log").string();
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT, 0644);
        posix_spawn_file_actions_adddup2(&actions, 1, 2);
        std::string program = "mosquitto", flag = "-c";
        char *argv[] = {program.data(), flag.data(), const_cast<char *>(conf.c_str()), nullptr};
        const int rc = posix_spawnp(&pid_, "mosquitto", &actions, nullptr, argv, environ);
        posix_spawn_file_actions_destroy(&actions);
        if (rc != 0)
            throw std::runtime_error("cannot start mosquitto (is it installed?)");
        // Ready when it accepts a TCP connection; a deadline, not a fixed sleep.
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!accepts_connections()) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                throw std::runtime_error("mosquitto exited at start; see " + log);
            }
            if (std::chrono::steady_clock::now() > deadline)
                throw std::runtime_error("mosquitto did not listen within 10 s; see " + log);
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }
    ~BrokerProcess() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            int status = 0;
            ::waitpid(pid_, &status, 0);
        }
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    BrokerProcess(const BrokerProcess &) = delete;
    BrokerProcess &operator=(const BrokerProcess &) = delete;

    int port() const { return port_; }

  private:
    static int &counter() {
        static int n = 0;
        return n;
    }

    static int free_port() {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        if (::bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0 ||
            ::getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len) != 0) {
            ::close(fd);
            throw std::runtime_error("no free loopback port");
        }
        ::close(fd);
        return ntohs(addr.sin_port);
    }

    bool accepts_connections() const {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<uint16_t>(port_));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        const bool ok = ::connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) == 0;
        ::close(fd);
        return ok;
    }

    std::filesystem::path dir_;
    int port_ = 0;
    pid_t pid_ = -1;
};

} // namespace test_support
