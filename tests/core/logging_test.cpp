#include "agent/core/logging.hpp"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

namespace {

TEST(Logging, SecretsNeverReachTheLog) {
    tierd::setup_logging();
    tierd::set_log_secrets({"s3cr3t-pw", ""});
    testing::internal::CaptureStderr();
    spdlog::warn("connecting with password s3cr3t-pw and again s3cr3t-pw");
    spdlog::default_logger()->flush();
    std::string out = testing::internal::GetCapturedStderr();
    EXPECT_EQ(out.find("s3cr3t-pw"), std::string::npos) << out;
    EXPECT_NE(out.find("password <redacted> and again <redacted>"), std::string::npos) << out;
}

TEST(Logging, LinesWithoutSecretsPassUnchanged) {
    tierd::setup_logging();
    tierd::set_log_secrets({"s3cr3t-pw"});
    testing::internal::CaptureStderr();
    spdlog::info("mqtt: connected to 127.0.0.1:1883");
    spdlog::default_logger()->flush();
    std::string out = testing::internal::GetCapturedStderr();
    EXPECT_NE(out.find("mqtt: connected to 127.0.0.1:1883"), std::string::npos) << out;
}

} // namespace
