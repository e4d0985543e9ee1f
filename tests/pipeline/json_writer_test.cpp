// The result documents are written by JsonWriter instead of built as nlohmann::json and
// dumped; consumers must not see the difference: byte for byte the same text.
#include "agent/pipeline/json_writer.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <string>

namespace tierd {
namespace {

std::string nlohmann_text(const nlohmann::json &doc) {
    return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

TEST(JsonWriter, StringsAreEscapedAsNlohmannDoes) {
    const std::string cases[] = {
        "", "plain", "quote \" backslash \\ slash /", "\b\f\n\r\t", std::string("nul\0x", 5),
        "\x01\x1f\x7f", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
        "bad \xff byte", "cut \xe2\x82", "overlong \xc0\xaf", "surrogate \xed\xa0\x80",
        "beyond \xf4\x90\x80\x80", "lone \x80 continuation"};
    for (const auto &c : cases) {
        std::string ours;
        JsonWriter::append_string(ours, c);
        EXPECT_EQ(ours, nlohmann_text(nlohmann::json(c))) << "for " << nlohmann_text(c);
    }
}

TEST(JsonWriter, DoublesAreWrittenAsNlohmannDoes) {
    const double cases[] = {0.0, -0.0, 1.0, -3.0, 0.5, 0.1, 1e-5, 1.5e-7, 123456789.0,
                            1e15, 1e16, 1e17, 2.5e300, 0.9042014479637146, 0.041682999999999026,
                            std::numeric_limits<double>::min(), std::numeric_limits<double>::max(),
                            std::numeric_limits<double>::quiet_NaN(),
                            std::numeric_limits<double>::infinity()};
    for (double v : cases) {
        std::string ours;
        JsonWriter::append_double(ours, v);
        EXPECT_EQ(ours, nlohmann_text(nlohmann::json(v))) << v;
    }
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    std::uniform_int_distribution<int> exponent(-30, 30);
    for (int i = 0; i < 20000; ++i) {
        const float f = static_cast<float>(unit(rng)); // scores are floats, widened
        const double d = unit(rng) * std::pow(10.0, exponent(rng));
        for (double v : {static_cast<double>(f), d}) {
            std::string ours;
            JsonWriter::append_double(ours, v);
            ASSERT_EQ(ours, nlohmann_text(nlohmann::json(v))) << v;
        }
    }
}

TEST(JsonWriter, AnObjectReadsAsNlohmannsDumpOfTheSameKeys) {
    nlohmann::json doc = {{"a_count", 18446744073709551615u},
                          {"b_bool", true},
                          {"c_neg", -42},
                          {"d_nested", {{"x", 0.25}, {"y", "why"}}},
                          {"e_text", "t\xffx"},
                          {"v", 1}};
    std::string out;
    JsonWriter w(out);
    w.unsigned_integer("a_count", 18446744073709551615u);
    w.boolean("b_bool", true);
    w.integer("c_neg", -42);
    w.begin_object("d_nested");
    w.number("x", 0.25);
    w.string("y", "why");
    w.end_object();
    w.string("e_text", "t\xffx");
    w.integer("v", 1);
    w.finish();
    EXPECT_EQ(out, nlohmann_text(doc));
    EXPECT_EQ(nlohmann::json::parse(out), nlohmann::json::parse(nlohmann_text(doc)));
}

} // namespace
} // namespace tierd
