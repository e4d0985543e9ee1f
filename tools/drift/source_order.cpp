#include "tools/drift/source_order.hpp"

#include "tools/drift/image_shifts.hpp" // SeededRandom, derive_seed

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <utility>

namespace tierd::drift {

std::vector<uint32_t> draw_source_order(uint32_t source_count, uint64_t total,
                                        uint64_t order_seed) {
    if (source_count == 0)
        throw std::invalid_argument("draw_source_order: no source images");
    std::vector<uint32_t> order;
    order.reserve(total);
    std::vector<uint32_t> epoch(source_count);
    for (uint64_t e = 0; order.size() < total; ++e) {
        std::iota(epoch.begin(), epoch.end(), 0u);
        SeededRandom random(derive_seed(order_seed, e));
        for (uint32_t i = source_count - 1; i > 0; --i) {
            const auto j = static_cast<uint32_t>(random.uniform_int(0, i));
            std::swap(epoch[i], epoch[j]);
        }
        const uint64_t take = std::min<uint64_t>(source_count, total - order.size());
        order.insert(order.end(), epoch.begin(), epoch.begin() + static_cast<std::ptrdiff_t>(take));
    }
    return order;
}

} // namespace tierd::drift
