// The spool in memory: `[spool] storage = "memory"`, and what holds entries while the spool
// file cannot be used (spool_writer.hpp moves them into the file when it opens). Entries
// are lost when the process ends.
//
// It keeps SpoolStore's whole contract (seq strictly increasing and never reused, the same
// bound rules, expiry by created_ms, the same counters) in plain containers rather than an
// SQLite ":memory:" database: at the agent's rate every result is put and, after its
// PUBACK, deleted, and SQLite's statement machinery for that cost more CPU than a light
// model's inference (issue 14). Here a put is two node insertions and a copy of the bytes,
// a delivery two node erasures: O(log n), no I/O, no failure but running out of memory.
//
// Transactions: nothing here can fail halfway (out of memory refuses the one entry, counted
// in write_failed, and changes nothing else), so begin()/commit() only mark the
// transaction and rollback() has nothing to undo.
//
// Threads: one thread at a time (the spool writer's). Not copyable.
#pragma once

#include "agent/spool/spool_store.hpp"

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tierd {

class MemorySpool final : public SpoolStore {
  public:
    // options.path is ignored (where() says "memory").
    explicit MemorySpool(SpoolOptions options);

    Append append(std::string_view topic, std::string_view payload, std::int64_t now_ms,
                  EntryClass cls = EntryClass::result) override;
    std::vector<SpoolEntry> read_after(std::int64_t after_seq, std::size_t max_entries) override;
    bool delivered(std::int64_t seq) override;
    bool rejected(std::int64_t seq, bool oversize = false) override;
    std::uint64_t expire(std::int64_t now_ms, std::size_t max_entries = 4096) override;

    bool begin() override;
    bool commit() override;
    void rollback() override;

    std::string where() const override { return "memory"; }

  private:
    // (created_ms, seq): the order expiry deletes in, and oldest_ms at its front. Times
    // need not follow seq (a caller may store any time), so they have their own index.
    using Ages = std::multiset<std::pair<std::int64_t, std::int64_t>>;
    struct Held {
        std::string topic;
        std::string payload;
        EntryClass cls;
        Ages::iterator age;
    };
    using Entries = std::map<std::int64_t, Held>; // by seq

    Dropped drop_oldest_until(std::uint64_t target) override;
    Dropped drop_telemetry_until(std::uint64_t target) override;
    // Deletes the entry, adds one to *counter, and keeps entries/bytes/oldest_ms.
    void erase(Entries::iterator it, std::uint64_t *counter);
    void refresh_oldest();

    Entries entries_;
    Ages ages_;
    std::set<std::int64_t> telemetry_; // seqs of telemetry entries, for block's bound
};

} // namespace tierd
