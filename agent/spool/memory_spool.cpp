#include "agent/spool/memory_spool.hpp"

#include <algorithm>
#include <new>

namespace tierd {

MemorySpool::MemorySpool(SpoolOptions options) : SpoolStore(std::move(options)) {
    options_.path.clear();
}

MemorySpool::Append MemorySpool::append(std::string_view topic, std::string_view payload,
                                        std::int64_t now_ms, EntryClass cls) {
    const std::size_t bytes = topic.size() + payload.size();
    switch (make_room(bytes, cls)) {
    case Room::fits: break;
    case Room::refused: return Append::dropped_newest;
    case Room::busy: return Append::busy; // (drops here never fail)
    }
    const std::int64_t seq = last_seq_ + 1;
    try {
        // Each step either completes or leaves the containers as they were.
        auto age = ages_.emplace(now_ms, seq);
        try {
            if (cls == EntryClass::telemetry)
                telemetry_.insert(seq);
            entries_.emplace_hint(entries_.end(), seq,
                                  Held{std::string(topic), std::string(payload), cls, age});
        } catch (...) {
            telemetry_.erase(seq);
            ages_.erase(age);
            throw;
        }
    } catch (const std::bad_alloc &) {
        count_write_failure("out of memory");
        return Append::failed;
    }
    last_seq_ = seq;
    ++stats_.entries;
    stats_.bytes += bytes;
    ++stats_.stored;
    refresh_oldest();
    return Append::stored;
}

std::vector<SpoolEntry> MemorySpool::read_after(std::int64_t after_seq, std::size_t max_entries) {
    std::vector<SpoolEntry> out;
    try {
        out.reserve(std::min(max_entries, entries_.size()));
        for (auto it = entries_.upper_bound(after_seq);
             it != entries_.end() && out.size() < max_entries; ++it)
            out.push_back({it->first, it->second.age->first, it->second.topic, it->second.payload,
                           it->second.cls});
    } catch (const std::bad_alloc &) {
        // What was copied so far is a valid answer; the rest is read next time.
    }
    return out;
}

void MemorySpool::erase(Entries::iterator it, std::uint64_t *counter) {
    stats_.bytes -=
        std::min<std::uint64_t>(stats_.bytes, it->second.topic.size() + it->second.payload.size());
    --stats_.entries;
    ++*counter;
    if (it->second.cls == EntryClass::telemetry)
        telemetry_.erase(it->first);
    ages_.erase(it->second.age);
    entries_.erase(it);
}

void MemorySpool::refresh_oldest() {
    stats_.oldest_ms = ages_.empty() ? 0 : ages_.begin()->first;
}

bool MemorySpool::delivered(std::int64_t seq) {
    auto it = entries_.find(seq);
    if (it == entries_.end())
        return true; // already dropped (drop-oldest, expiry) or delivered twice
    erase(it, &stats_.delivered);
    refresh_oldest();
    return true;
}

bool MemorySpool::rejected(std::int64_t seq, bool oversize) {
    auto it = entries_.find(seq);
    if (it == entries_.end())
        return true;
    erase(it, oversize ? &stats_.oversize : &stats_.rejected);
    refresh_oldest();
    return true;
}

MemorySpool::Dropped MemorySpool::drop_oldest_until(std::uint64_t target) {
    while (stats_.bytes > target && !entries_.empty())
        erase(entries_.begin(), &stats_.dropped_oldest);
    refresh_oldest();
    return Dropped::enough;
}

MemorySpool::Dropped MemorySpool::drop_telemetry_until(std::uint64_t target) {
    while (stats_.bytes > target) {
        if (telemetry_.empty()) {
            refresh_oldest();
            return Dropped::not_enough;
        }
        erase(entries_.find(*telemetry_.begin()), &stats_.dropped_telemetry);
    }
    refresh_oldest();
    return Dropped::enough;
}

std::uint64_t MemorySpool::expire(std::int64_t now_ms, std::size_t max_entries) {
    if (!expiry_due(now_ms))
        return 0;
    const std::int64_t cutoff = now_ms - options_.max_age_ms;
    std::uint64_t n = 0;
    for (; n < max_entries && !ages_.empty() && ages_.begin()->first < cutoff; ++n)
        erase(entries_.find(ages_.begin()->second), &stats_.expired);
    refresh_oldest();
    return n;
}

bool MemorySpool::begin() {
    in_tx_ = true;
    return true;
}

bool MemorySpool::commit() {
    in_tx_ = false;
    return true;
}

void MemorySpool::rollback() {
    in_tx_ = false;
}

} // namespace tierd
