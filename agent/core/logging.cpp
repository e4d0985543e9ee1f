#include "agent/core/logging.hpp"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/systemd_sink.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <mutex>

namespace tierd {

namespace {

constexpr std::string_view kRedacted = "<redacted>";

// Forwards each line to the real sink with every secret replaced. base_sink's mutex
// also guards `secrets_`.
class RedactingSink : public spdlog::sinks::base_sink<std::mutex> {
  public:
    explicit RedactingSink(spdlog::sink_ptr inner) : inner_(std::move(inner)) {}

    void set_secrets(std::vector<std::string> secrets) {
        std::lock_guard<std::mutex> lock(mutex_);
        secrets_ = std::move(secrets);
    }

  protected:
    void sink_it_(const spdlog::details::log_msg &msg) override {
        std::string text(msg.payload.data(), msg.payload.size());
        for (const auto &secret : secrets_) {
            for (auto at = text.find(secret); at != std::string::npos;
                 at = text.find(secret, at + kRedacted.size()))
                text.replace(at, secret.size(), kRedacted);
        }
        spdlog::details::log_msg copy(msg);
        copy.payload = text;
        inner_->log(copy);
    }
    void flush_() override { inner_->flush(); }

  private:
    spdlog::sink_ptr inner_;
    std::vector<std::string> secrets_;
};

std::shared_ptr<RedactingSink> g_redactor;

} // namespace

void setup_logging() {
    spdlog::sink_ptr inner;
    // systemd sets JOURNAL_STREAM for services whose stderr it connects to the journal;
    // then native journal entries keep each line's priority.
    if (std::getenv("JOURNAL_STREAM") != nullptr)
        inner = std::make_shared<spdlog::sinks::systemd_sink_mt>("tierd");
    else
        inner = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    g_redactor = std::make_shared<RedactingSink>(inner);
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("tierd", g_redactor));
    if (std::getenv("JOURNAL_STREAM") == nullptr)
        spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
}

void set_log_secrets(std::vector<std::string> secrets) {
    std::erase_if(secrets, [](const std::string &s) { return s.empty(); });
    if (g_redactor)
        g_redactor->set_secrets(std::move(secrets));
}

} // namespace tierd
