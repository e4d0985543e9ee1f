#include "agent/config/secret_file_check.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>

#include <toml++/toml.h>

namespace tierd {
namespace {

// The file as parsed; nullopt when it does not parse (the loader has said why).
std::optional<toml::table> parse(const std::string &file) {
#if TOML_EXCEPTIONS
    try {
        return toml::parse_file(file);
    } catch (const toml::parse_error &) {
        return std::nullopt;
    }
#else
    auto parsed = toml::parse_file(file);
    if (!parsed)
        return std::nullopt;
    return std::move(parsed).table();
#endif
}

} // namespace

std::optional<std::string> secret_file_warning(const std::string &file,
                                               const std::vector<std::string> &secret_keys) {
    if (file.empty() || file == "<default>")
        return std::nullopt;
    struct stat st {};
    // Checked first: a file only its owner and group can read needs no parse.
    if (stat(file.c_str(), &st) != 0 || (st.st_mode & S_IROTH) == 0)
        return std::nullopt;
    auto doc = parse(file);
    if (!doc)
        return std::nullopt;
    std::vector<std::string> keys{"mqtt.password"};
    keys.insert(keys.end(), secret_keys.begin(), secret_keys.end());
    std::vector<std::string> held;
    for (const auto &key : keys) {
        auto value = doc->at_path(key).value<std::string>();
        if (value && !value->empty() && std::find(held.begin(), held.end(), key) == held.end())
            held.push_back(key);
    }
    if (held.empty())
        return std::nullopt;
    std::string names;
    for (const auto &key : held)
        names += (names.empty() ? "" : ", ") + key;
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return "config file " + file + " holds secrets (" + names +
           ") and is readable by every user (mode " + mode +
           "): chmod 640 (or 600) it so only its owner and group can read it";
}

} // namespace tierd
