#include "tests/mqtt/mqtt_test_support.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

namespace tierd::mqtt_test {

namespace {
sockaddr_in loopback(int port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

bool accepts_connections(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    sockaddr_in a = loopback(port);
    bool ok = connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0;
    close(fd);
    return ok;
}
} // namespace

int free_port() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a = loopback(0);
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len) != 0) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    close(fd);
    return ntohs(a.sin_port);
}

Broker::Broker(std::string extra_conf, int port)
    : extra_conf_(std::move(extra_conf)), port_(port ? port : free_port()) {
    char templ[] = "/tmp/tierd-mqtt-test-XXXXXX";
    dir_ = mkdtemp(templ);
}

Broker::~Broker() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
}

bool Broker::start() {
    const passwd *me = getpwuid(getuid());
    {
        std::ofstream conf(dir_ + "/mosquitto.conf");
        conf << "listener " << port_ << " 127.0.0.1\n"
             << "allow_anonymous true\npersistence false\nlog_dest stderr\n"
             << "user " << (me ? me->pw_name : "root") << "\n"
             << extra_conf_ << "\n";
    }
    std::string conf = dir_ + "/mosquitto.conf", log = dir_ + "/mosquitto.log";
    pid_ = fork();
    if (pid_ == 0) {
        FILE *out = std::freopen(log.c_str(), "w", stderr);
        (void)out;
        execlp("mosquitto", "mosquitto", "-c", conf.c_str(), static_cast<char *>(nullptr));
        _exit(127);
    }
    if (pid_ < 0)
        return false;
    for (int i = 0; i < 200; ++i) {
        if (accepts_connections(port_))
            return true;
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return false;
        }
        usleep(50 * 1000);
    }
    return false;
}

void Broker::stop() {
    if (pid_ <= 0)
        return;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
}

std::string Broker::log() const {
    std::ifstream in(dir_ + "/mosquitto.log");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

DnsServer::DnsServer(bool answer, int delay_ms) : answer_(answer), delay_ms_(delay_ms) {
    fd_ = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a = loopback(53);
    if (fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0) {
        close(fd_);
        fd_ = -1;
    }
    if (fd_ >= 0)
        thread_ = std::thread([this] { serve(); });
}

DnsServer::~DnsServer() {
    stopping_ = true;
    if (thread_.joinable())
        thread_.join();
    if (fd_ >= 0)
        close(fd_);
}

void DnsServer::serve() {
    while (!stopping_) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        unsigned char q[512];
        sockaddr_in from{};
        socklen_t from_len = sizeof from;
        ssize_t n = recvfrom(fd_, q, sizeof q, 0, reinterpret_cast<sockaddr *>(&from), &from_len);
        if (n < 12)
            continue;
        ++queries_;
        if (!answer_)
            continue;
        // Header (12 bytes), then the question: labels up to a zero byte, type, class.
        size_t at = 12;
        while (at < static_cast<size_t>(n) && q[at] != 0)
            at += q[at] + 1u;
        if (at + 5 > static_cast<size_t>(n))
            continue;
        bool is_a = q[at + 1] == 0 && q[at + 2] == 1;
        size_t question_end = at + 5;
        std::vector<unsigned char> r(q, q + question_end);
        r[2] = 0x81; // a response, recursion desired
        r[3] = 0x80; // recursion available, no error
        r[4] = 0, r[5] = 1;
        r[6] = 0, r[7] = is_a ? 1 : 0;
        r[8] = r[9] = r[10] = r[11] = 0;
        if (is_a) {
            const unsigned char answer[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 127, 0, 0, 1};
            r.insert(r.end(), std::begin(answer), std::end(answer));
        }
        for (int waited = 0; waited < delay_ms_ && !stopping_; waited += 10)
            usleep(10 * 1000);
        sendto(fd_, r.data(), r.size(), 0, reinterpret_cast<sockaddr *>(&from), from_len);
    }
}

LogCapture::LogCapture()
    : out_(std::make_shared<std::ostringstream>()), previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(*out_);
    auto logger = std::make_shared<spdlog::logger>("test", sink);
    logger->set_level(spdlog::level::debug);
    spdlog::set_default_logger(logger);
}

LogCapture::~LogCapture() {
    spdlog::set_default_logger(previous_);
}

std::string LogCapture::text() const {
    spdlog::default_logger()->flush();
    return out_->str();
}

int LogCapture::count(const std::string &needle) const {
    std::istringstream in(text());
    int n = 0;
    for (std::string line; std::getline(in, line);)
        n += line.find(needle) != std::string::npos ? 1 : 0;
    return n;
}

bool run_until(uv_loop_t *loop, const std::function<bool()> &done,
               std::chrono::milliseconds deadline) {
    struct State {
        const std::function<bool()> &done;
        uint64_t end_ms;
    } state{done, uv_now(loop) + static_cast<uint64_t>(deadline.count())};
    if (done())
        return true;
    uv_timer_t check{};
    uv_timer_init(loop, &check);
    check.data = &state;
    uv_timer_start(
        &check,
        [](uv_timer_t *t) {
            auto *s = static_cast<State *>(t->data);
            if (s->done() || uv_now(t->loop) >= s->end_ms)
                uv_stop(t->loop);
        },
        5, 5);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_close(reinterpret_cast<uv_handle_t *>(&check), nullptr);
    uv_run(loop, UV_RUN_NOWAIT);
    return done();
}

} // namespace tierd::mqtt_test
