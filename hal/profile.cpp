#include "hal/profile.hpp"

#include <stdexcept>
#include <toml++/toml.h>

namespace tierd::hal {

DeviceProfile load_profile_file(const std::filesystem::path &file) {
    toml::table t;
    try {
        t = toml::parse_file(file.string());
    } catch (const toml::parse_error &e) {
        throw std::runtime_error("profile " + file.string() + ": " + std::string(e.description()));
    }
    auto need = [&](const char *key) {
        const auto v = t[key].value<double>();
        if (!v)
            throw std::runtime_error("profile " + file.string() + ": missing number '" + key + "'");
        return *v;
    };
    DeviceProfile p;
    p.name = file.stem().string();
    p.description = t["description"].value_or(std::string{});
    p.idle_power_w = need("idle_power_w");
    p.active_power_w = need("active_power_w");
    p.relative_compute = need("relative_compute");
    p.radio_tx_power_dbm = need("radio_tx_power_dbm");
    if (p.idle_power_w < 0 || p.active_power_w < p.idle_power_w)
        throw std::runtime_error("profile " + file.string() +
                                 ": need 0 <= idle_power_w <= active_power_w");
    return p;
}

DeviceProfile load_profile(const std::string &name,
                           const std::vector<std::filesystem::path> &dirs) {
    for (const auto &dir : dirs) {
        const auto file = dir / (name + ".toml");
        if (std::filesystem::exists(file))
            return load_profile_file(file);
    }
    throw std::runtime_error("device profile '" + name + "' not found");
}

DeviceProfile generic_profile() {
    // Assumption: a small single-board computer; only used for labelled estimates.
    return {"generic", "no profile configured", 3.0, 6.0, 0.1, 20.0};
}

} // namespace tierd::hal
