#include "agent/core/commands.hpp"

#include <gtest/gtest.h>

#include <optional>

namespace {

using nlohmann::json;

class CommandTableTest : public ::testing::Test {
  protected:
    json send(const std::string &payload) {
        std::optional<json> reply;
        int replies = 0;
        table.handle(payload, "dev-1", [&](const json &r) {
            reply = r;
            ++replies;
        });
        EXPECT_EQ(replies, 1) << "every request gets exactly one reply";
        return reply.value_or(json());
    }
    tierd::CommandTable table;
};

TEST_F(CommandTableTest, RepliesWithResultAndDeviceId) {
    table.add("echo", [](const json &args) { return args; });
    auto r = send(R"({"op":"echo","args":{"x":1}})");
    EXPECT_EQ(r["ok"], true);
    EXPECT_EQ(r["result"]["x"], 1);
    EXPECT_EQ(r["device_id"], "dev-1");
    EXPECT_EQ(r["v"], 1);
}

TEST_F(CommandTableTest, ErrorRepliesNameTheProblem) {
    table.add("needs-n", [](const json &args) {
        if (!args.contains("n") || !args["n"].is_number_integer())
            throw tierd::CommandError{"invalid_args", "\"n\" must be an integer"};
        return json(args["n"]);
    });
    EXPECT_EQ(send("not json")["error"]["code"], "malformed_json");
    EXPECT_EQ(send("[1,2]")["error"]["code"], "invalid_request");
    EXPECT_EQ(send(R"({"op":5})")["error"]["code"], "invalid_request");
    EXPECT_EQ(send(R"({"op":"needs-n","args":[]})")["error"]["code"], "invalid_args");
    EXPECT_EQ(send(R"({"op":"nope"})")["error"]["code"], "unknown_op");
    auto r = send(R"({"op":"needs-n","args":{"n":"x"}})");
    EXPECT_EQ(r["ok"], false);
    EXPECT_EQ(r["error"]["message"], "\"n\" must be an integer");
}

TEST_F(CommandTableTest, HandlerExceptionsBecomeInternalErrors) {
    table.add("boom", [](const json &) -> json { throw std::runtime_error("disk on fire"); });
    auto r = send(R"({"op":"boom"})");
    EXPECT_EQ(r["error"]["code"], "internal");
    EXPECT_EQ(r["error"]["message"], "disk on fire");
}

TEST_F(CommandTableTest, AsyncHandlerRepliesLater) {
    tierd::CommandTable::Reply saved;
    table.add_async("later", [&](const json &, tierd::CommandTable::Reply reply) { saved = reply; });
    std::optional<json> reply;
    table.handle(R"({"op":"later"})", "dev-1", [&](const json &r) { reply = r; });
    EXPECT_FALSE(reply.has_value());
    saved.ok({{"done", true}});
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ((*reply)["result"]["done"], true);
}

} // namespace
