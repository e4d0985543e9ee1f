// Checks every in-tree plugin must pass: one exported symbol, ABI negotiation, a valid
// descriptor and config map, and create/destroy with the declared defaults.
#include "plugin_harness.hpp"

#include <cmath>
#include <cstdio>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace {

struct PluginCase {
    const char *path;
    const char *name;
    tierd_plugin_kind kind;
};

std::vector<PluginCase> plugin_cases() {
    std::vector<PluginCase> cases;
#ifdef SCHEDULER_RULE_PATH
    cases.push_back({SCHEDULER_RULE_PATH, "scheduler-rule", TIERD_KIND_SCHEDULER});
#endif
#ifdef PRECLASSIFIER_STATS_PATH
    cases.push_back({PRECLASSIFIER_STATS_PATH, "preclassifier-stats", TIERD_KIND_PRECLASSIFIER});
#endif
#ifdef INFERENCE_OPENCV_PATH
    cases.push_back({INFERENCE_OPENCV_PATH, "inference-opencv", TIERD_KIND_INFERENCE});
#endif
#ifdef SCHEDULER_MO_PATH
    cases.push_back({SCHEDULER_MO_PATH, "scheduler-mo", TIERD_KIND_SCHEDULER});
#endif
#ifdef FUSION_PASSTHROUGH_PATH
    cases.push_back({FUSION_PASSTHROUGH_PATH, "fusion-passthrough", TIERD_KIND_FUSION});
#endif
    cases.push_back({THROWING_PLUGIN_PATH, "test-throwing", TIERD_KIND_INFERENCE});
    return cases;
}

void PrintTo(const PluginCase &c, std::ostream *os) {
    *os << c.name;
}

class EveryPlugin : public ::testing::TestWithParam<PluginCase> {};

// Dynamic symbols the .so defines, as "<nm type> <name>".
std::vector<std::string> defined_dynamic_symbols(const char *path) {
    std::vector<std::string> out;
    std::string cmd = std::string("nm -D --defined-only '") + path + "' 2>/dev/null";
    FILE *p = popen(cmd.c_str(), "r");
    if (p == nullptr)
        return out;
    char line[1024];
    while (std::fgets(line, sizeof line, p) != nullptr) {
        std::string s(line);
        while (!s.empty() && (s.back() == '\n' || s.back() == '\r'))
            s.pop_back();
        // "<addr> <type> <name>"
        auto sp = s.find(' ');
        if (sp != std::string::npos)
            out.push_back(s.substr(sp + 1));
    }
    pclose(p);
    return out;
}

TEST_P(EveryPlugin, ExportsOnlyTheEntryFunction) {
    auto symbols = defined_dynamic_symbols(GetParam().path);
    if (symbols.empty())
        FAIL() << "nm (binutils) listed no symbols for " << GetParam().path;
    int entries = 0;
    for (const auto &s : symbols) {
        if (s == "T tierd_plugin_entry") {
            ++entries;
            continue;
        }
        // Linker-defined section markers are in every shared object.
        if (s == "B __bss_start" || s == "D _edata" || s == "B _end")
            continue;
        // GCC's STB_GNU_UNIQUE objects ('u', e.g. libstdc++'s function-local statics)
        // are always dynamic; they are data, not an interface.
        EXPECT_EQ(s.rfind("u ", 0), 0u) << "unexpected exported symbol: " << s;
    }
    EXPECT_EQ(entries, 1);
}

TEST_P(EveryPlugin, NegotiatesItsAbiVersion) {
    plugin_test::Library lib(GetParam().path);
    ASSERT_TRUE(lib.ok()) << lib.error();
    const tierd_plugin_descriptor *d = nullptr;
    ASSERT_EQ(lib.negotiate({TIERD_ABI_MAKE(1, 9), TIERD_ABI_MAKE(1, 0)}, &d), TIERD_OK);
    ASSERT_NE(d, nullptr);
    EXPECT_EQ(d->abi_version, TIERD_ABI_VERSION);
    d = nullptr;
    EXPECT_EQ(lib.negotiate({TIERD_ABI_MAKE(2, 0)}, &d), TIERD_EVERSION);
    EXPECT_EQ(d, nullptr);
    EXPECT_EQ(lib.negotiate({}, &d), TIERD_EVERSION);
}

TEST_P(EveryPlugin, DescriptorIsComplete) {
    plugin_test::Library lib(GetParam().path);
    ASSERT_TRUE(lib.ok()) << lib.error();
    const tierd_plugin_descriptor *d = lib.descriptor();
    ASSERT_NE(d, nullptr);
    EXPECT_EQ(d->struct_size, sizeof(tierd_plugin_descriptor));
    EXPECT_EQ(d->kind, GetParam().kind);
    EXPECT_STREQ(d->name, GetParam().name);
    EXPECT_TRUE(std::regex_match(d->name, std::regex("[a-z0-9-]+")));
    ASSERT_NE(d->version, nullptr);
    EXPECT_TRUE(std::regex_match(d->version, std::regex("[0-9]+\\.[0-9]+\\.[0-9]+.*")));
    ASSERT_NE(d->description, nullptr);
    EXPECT_GT(std::strlen(d->description), 0u);
    EXPECT_NE(d->create, nullptr);
    EXPECT_NE(d->destroy, nullptr);
    ASSERT_NE(d->ops, nullptr);
    EXPECT_GT(*static_cast<const uint32_t *>(d->ops), 0u); // every ops table starts with its size
}

// The config map as the host will validate it: each default must itself validate.
TEST_P(EveryPlugin, DeclaredKeysAreValidAndDefaultsValidate) {
    plugin_test::Library lib(GetParam().path);
    ASSERT_TRUE(lib.ok()) << lib.error();
    const tierd_plugin_descriptor *d = lib.descriptor();
    ASSERT_NE(d, nullptr);
    EXPECT_EQ(d->config_key_size, sizeof(tierd_config_key));
    std::set<std::string> names;
    for (uint32_t i = 0; i < d->config_key_count; ++i) {
        const auto &k = d->config_keys[i];
        SCOPED_TRACE(k.name ? k.name : "(null)");
        EXPECT_EQ(k.struct_size, sizeof(tierd_config_key));
        ASSERT_NE(k.name, nullptr);
        EXPECT_TRUE(std::regex_match(k.name, std::regex("[A-Za-z0-9_-]+")));
        EXPECT_TRUE(names.insert(k.name).second) << "duplicate key";
        ASSERT_NE(k.default_value, nullptr);
        ASSERT_NE(k.doc, nullptr);
        EXPECT_GT(std::strlen(k.doc), 0u);
        std::string def = k.default_value;
        double number = 0;
        switch (k.type) {
        case TIERD_CONFIG_BOOL: EXPECT_TRUE(def == "true" || def == "false"); break;
        case TIERD_CONFIG_INT:
            EXPECT_TRUE(std::regex_match(def, std::regex("-?[0-9]+")));
            number = std::stod(def);
            break;
        case TIERD_CONFIG_DOUBLE:
            EXPECT_TRUE(std::regex_match(def, std::regex("-?[0-9]+(\\.[0-9]+)?([eE]-?[0-9]+)?")));
            number = std::stod(def);
            break;
        case TIERD_CONFIG_ENUM: {
            ASSERT_NE(k.choices, nullptr);
            bool found = false;
            for (const char *const *c = k.choices; *c != nullptr; ++c)
                found = found || def == *c;
            EXPECT_TRUE(found) << "default not among the choices";
            break;
        }
        case TIERD_CONFIG_STRING:
        case TIERD_CONFIG_PATH: break;
        default: ADD_FAILURE() << "unknown type " << k.type;
        }
        if (k.type != TIERD_CONFIG_ENUM) {
            EXPECT_EQ(k.choices, nullptr);
        }
        if (k.flags & TIERD_CONFIG_HAS_MIN) {
            EXPECT_GE(number, k.min);
        }
        if (k.flags & TIERD_CONFIG_HAS_MAX) {
            EXPECT_LE(number, k.max);
        }
    }
}

TEST_P(EveryPlugin, CreatesWithDefaultsAndDestroys) {
    plugin_test::Library lib(GetParam().path);
    ASSERT_TRUE(lib.ok()) << lib.error();
    const tierd_plugin_descriptor *d = lib.descriptor();
    ASSERT_NE(d, nullptr);
    plugin_test::Instance instance(d);
    EXPECT_EQ(instance.create_rc(), TIERD_OK) << instance.host().last_error;
    if (d->start != nullptr) {
        EXPECT_EQ(d->start(instance.get()), TIERD_OK);
    }
}

INSTANTIATE_TEST_SUITE_P(Plugins, EveryPlugin, ::testing::ValuesIn(plugin_cases()),
                         [](const ::testing::TestParamInfo<PluginCase> &param_info) {
                             std::string n = param_info.param.name;
                             for (auto &c : n)
                                 if (c == '-')
                                     c = '_';
                             return n;
                         });

} // namespace
