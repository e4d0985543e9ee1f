// The per-stream state of a video fusion plugin (fusion-track, fusion-feature): one State per
// stream name, at most `capacity` of them — a new stream beyond that drops the least
// recently fused one. Not thread-safe: the plugins call it from fuse_frame(), one call at a
// time (max_concurrent_calls 1).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>

namespace fusion_track {

template <class State> class StreamTable {
  public:
    void set_capacity(std::size_t capacity) { capacity_ = std::max<std::size_t>(1, capacity); }
    void clear() { entries_.clear(); }

    // The state of `stream`, made by `make()` on its first frame. `dropped` is set when
    // another stream's state was dropped to make room.
    template <class Make> State &get(const std::string &stream, Make make, bool &dropped) {
        dropped = false;
        ++clock_;
        auto it = entries_.find(stream);
        if (it == entries_.end()) {
            if (entries_.size() >= capacity_) {
                entries_.erase(std::min_element(
                    entries_.begin(), entries_.end(),
                    [](const auto &a, const auto &b) { return a.second.used < b.second.used; }));
                dropped = true;
            }
            it = entries_.emplace(stream, Entry{make(), 0}).first;
        }
        it->second.used = clock_;
        return it->second.state;
    }

  private:
    struct Entry {
        State state;
        std::uint64_t used = 0; // clock_ when last fused
    };
    std::map<std::string, Entry> entries_;
    std::size_t capacity_ = 8;
    std::uint64_t clock_ = 0;
};

} // namespace fusion_track
