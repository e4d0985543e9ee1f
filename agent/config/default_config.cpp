#include "agent/config/default_config.hpp"

namespace tierd {

LoadResult load_default_config(const std::vector<std::string> &overrides) {
    return load_config_text(default_config_text(), "<default>", overrides);
}

} // namespace tierd
