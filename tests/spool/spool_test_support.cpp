#include "spool_test_support.hpp"

#include "agent/spool/memory_spool.hpp"
#include "agent/spool/spool.hpp"

#include <mqtt_protocol.h>
#include <sqlite3.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <thread>
#include <vector>

namespace tierd::spool_test {

TempDir::TempDir() {
    char tmpl[] = "/tmp/tierd-spool-XXXXXX";
    path = mkdtemp(tmpl);
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
}

SmallDisk::SmallDisk(std::size_t bytes) {
    char tmpl[] = "/tmp/tierd-spool-disk-XXXXXX";
    path = mkdtemp(tmpl);
    const std::string opts = "size=" + std::to_string(bytes);
    mounted = geteuid() == 0 && ::mount("tmpfs", path.c_str(), "tmpfs", 0, opts.c_str()) == 0;
}

SmallDisk::~SmallDisk() {
    if (mounted) {
        // Files of a spool just closed may be released a moment later.
        for (int i = 0; i < 50 && ::umount2(path.c_str(), 0) != 0; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
}

std::filesystem::path SmallDisk::fill(const std::string &name) const {
    const auto file = path / name;
    std::FILE *f = std::fopen(file.c_str(), "ab");
    const std::vector<char> block(4096, 0);
    if (f) {
        while (std::fwrite(block.data(), 1, block.size(), f) == block.size() &&
               std::fflush(f) == 0) {
        }
        std::fclose(f);
    }
    return file;
}

namespace {
int free_port() {
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(s, reinterpret_cast<sockaddr *>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(s, reinterpret_cast<sockaddr *>(&a), &len);
    ::close(s);
    return ntohs(a.sin_port);
}

std::string user_name() {
    const passwd *pw = ::getpwuid(::geteuid());
    return pw ? pw->pw_name : "root";
}

bool accepts(int port) {
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = ::connect(s, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0;
    ::close(s);
    return ok;
}
} // namespace

Broker::Broker(std::string extra_conf) : extra_conf_(std::move(extra_conf)), port_(free_port()) {}

Broker::~Broker() {
    kill();
}

bool Broker::start() {
    const auto conf = dir_.path / "mosquitto.conf";
    {
        std::ofstream f(conf);
        f << "listener " << port_ << " 127.0.0.1\nallow_anonymous true\npersistence false\n"
          << "user " << user_name() << "\n"
          << extra_conf_ << "\n";
    }
    const auto log = dir_.path / "mosquitto.log";
    pid_ = ::fork();
    if (pid_ == 0) {
        std::freopen(log.c_str(), "a", stdout);
        std::freopen(log.c_str(), "a", stderr);
        ::execlp("mosquitto", "mosquitto", "-c", conf.c_str(), static_cast<char *>(nullptr));
        ::_exit(127);
    }
    for (int i = 0; i < 100; ++i) {
        if (accepts(port_))
            return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
}

void Broker::stop() {
    if (pid_ <= 0)
        return;
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
}

void Broker::kill() {
    if (pid_ <= 0)
        return;
    ::kill(pid_, SIGCONT);
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
}

void Broker::freeze() {
    if (pid_ > 0)
        ::kill(pid_, SIGSTOP);
}

void Broker::thaw() {
    if (pid_ > 0)
        ::kill(pid_, SIGCONT);
}

Client::Client(int port, std::string id) : port_(port) {
    mosquitto_lib_init();
    mosq_ = mosquitto_new(id.empty() ? nullptr : id.c_str(), true, this);
    mosquitto_int_option(mosq_, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_int_option(mosq_, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_connect_v5_callback_set(mosq_, &Client::on_connect_cb);
    mosquitto_disconnect_v5_callback_set(mosq_, &Client::on_disconnect_cb);
    mosquitto_publish_v5_callback_set(mosq_, &Client::on_publish_cb);
}

Client::~Client() {
    mosquitto_destroy(mosq_);
}

bool Client::connect() {
    const int rc = mosquitto_connect_bind_v5(mosq_, "127.0.0.1", port_, 5, nullptr, nullptr);
    if (rc != MOSQ_ERR_SUCCESS)
        ADD_FAILURE() << "connect: " << mosquitto_strerror(rc);
    return rc == MOSQ_ERR_SUCCESS;
}

void Client::reconnect() {
    mosquitto_reconnect(mosq_);
}

void Client::loop(int timeout_ms) {
    int rc = mosquitto_loop(mosq_, timeout_ms, 1);
    if (rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST) {
        connected_ = false;
        std::this_thread::sleep_for(std::chrono::milliseconds(timeout_ms));
    }
}

int Client::publish(const std::string &topic, const std::string &payload, int *mid) {
    if (!connected_)
        return MOSQ_ERR_NO_CONN;
    int rc = mosquitto_publish_v5(mosq_, mid, topic.c_str(), static_cast<int>(payload.size()),
                                  payload.data(), 1, false, nullptr);
    if (rc == MOSQ_ERR_SUCCESS && mid)
        outstanding_.insert(*mid);
    return rc;
}

void Client::on_connect_cb(mosquitto *, void *obj, int rc, int, const mosquitto_property *props) {
    auto *self = static_cast<Client *>(obj);
    if (rc != 0)
        return;
    self->connected_ = true;
    uint16_t receive_maximum = 0;
    mosquitto_property_read_int16(props, MQTT_PROP_RECEIVE_MAXIMUM, &receive_maximum, false);
    if (self->on_connected)
        self->on_connected(receive_maximum);
}

void Client::on_disconnect_cb(mosquitto *, void *obj, int, const mosquitto_property *) {
    static_cast<Client *>(obj)->connected_ = false;
}

void Client::on_publish_cb(mosquitto *, void *obj, int mid, int reason,
                           const mosquitto_property *) {
    auto *self = static_cast<Client *>(obj);
    self->outstanding_.erase(mid);
    if (self->on_published)
        self->on_published(mid, reason);
}

TestLoop::TestLoop() {
    uv_loop_init(&loop);
    uv_timer_init(&loop, &agent_);
    uv_timer_start(
        &agent_, [](uv_timer_t *) {}, 3600 * 1000, 3600 * 1000);
}

TestLoop::~TestLoop() {
    uv_close(reinterpret_cast<uv_handle_t *>(&agent_), nullptr);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
}

bool run_until(uv_loop_t *loop, Client *client, const std::function<bool()> &done,
               std::chrono::milliseconds deadline) {
    const auto end = std::chrono::steady_clock::now() + deadline;
    while (!done()) {
        if (std::chrono::steady_clock::now() > end)
            return false;
        uv_run(loop, UV_RUN_NOWAIT);
        if (client)
            client->loop(2);
        else
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

std::string payload_of(const std::string &tag, std::size_t size) {
    std::string s = tag + ":";
    s.resize(std::max(size, s.size()), 'x');
    return s;
}

std::int64_t rows_on_disk(const std::string &path) {
    sqlite3 *db = nullptr;
    std::int64_t n = -1;
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
        sqlite3_busy_timeout(db, 2000);
        sqlite3_stmt *s = nullptr;
        if (sqlite3_prepare_v2(db, "SELECT count(*) FROM spool", -1, &s, nullptr) == SQLITE_OK &&
            sqlite3_step(s) == SQLITE_ROW)
            n = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
    }
    sqlite3_close(db);
    return n;
}

SpoolOptions options_for(Store s, const TempDir &dir, SpoolOptions o) {
    o.path = s == Store::file ? (dir.path / "spool.db").string() : std::string();
    return o;
}

std::unique_ptr<SpoolStore> open_store(Store s, const TempDir &dir, SpoolOptions o) {
    o = options_for(s, dir, std::move(o));
    if (s == Store::file)
        return std::make_unique<Spool>(o);
    return std::make_unique<MemorySpool>(o);
}

} // namespace tierd::spool_test
