// What a spool store is, whatever holds its entries: an ordered set of (topic, payload)
// entries bounded by bytes and by age, with the counters the status reports. Two stores
// implement it: Spool (spool.hpp: an SQLite file that outlives the process) and
// MemorySpool (memory_spool.hpp: `[spool] storage = "memory"`, and what holds entries
// while the file cannot be used). The rules both follow — which entry makes room under
// each when_full policy, what is counted where — are written once, here (make_room()), so
// the two cannot drift apart; tests/spool/spool_test.cpp holds both to them.
//
// Threads: one thread at a time (the spool writer's, spool_writer.hpp). Not copyable.
#pragma once

#include "agent/config/config.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tierd {

struct SpoolOptions {
    // The SQLite file; "" = in memory (MemorySpool; lost when the process ends).
    std::string path;
    std::int64_t max_bytes = std::int64_t{256} << 20;
    std::int64_t segment_bytes = std::int64_t{16} << 20;
    std::int64_t max_age_ms = 0; // 0 = no time to live
    SpoolWhenFull when_full = SpoolWhenFull::drop_oldest;
    SpoolSync sync = SpoolSync::normal;
    // How long a statement waits for another process's lock before it fails (SQLITE_BUSY).
    int busy_timeout_ms = 500;
};

// What an entry is, for the bound: under when_full = "block" results wait for room (the
// source stops) while telemetry never goes beyond the bound (the oldest telemetry, or the
// new sample, is dropped instead). Stored with the entry.
enum class EntryClass : int { result = 0, telemetry = 1 };

struct SpoolEntry {
    std::int64_t seq = 0; // strictly increasing, never reused
    std::int64_t created_ms = 0;
    std::string topic;
    std::string payload;
    EntryClass cls = EntryClass::result;
};

// Counters since the store was opened (this process), plus what it holds now.
struct SpoolStats {
    std::uint64_t entries = 0;           // held now
    std::uint64_t bytes = 0;             // payload + topic bytes held now
    std::int64_t oldest_ms = 0;          // the least created_ms held; 0 = empty
    std::uint64_t recovered = 0;         // entries found at open (from before a restart)
    std::uint64_t stored = 0;            // appended
    std::uint64_t delivered = 0;         // acknowledged by the broker and deleted
    std::uint64_t dropped_oldest = 0;    // deleted undelivered to make room (drop-oldest)
    std::uint64_t dropped_newest = 0;    // refused because full (drop-newest)
    std::uint64_t dropped_telemetry = 0; // telemetry dropped to stay in the bound (block)
    std::uint64_t expired = 0;           // deleted undelivered past max_age
    std::uint64_t write_failed = 0;      // could not be written (disk full, I/O error, memory)
    std::uint64_t rejected = 0;          // refused for good by the broker, deleted
    std::uint64_t oversize = 0;          // larger than the broker accepts, deleted
    std::uint64_t over_bound = 0;        // stored beyond max_bytes under when_full = block
};

class SpoolStore {
  public:
    virtual ~SpoolStore() = default;
    SpoolStore(const SpoolStore &) = delete;
    SpoolStore &operator=(const SpoolStore &) = delete;

    enum class Append {
        stored,
        dropped_newest, // full and when_full = drop-newest (or telemetry under block)
        failed,         // the write failed (disk full, a bad entry, no memory): not stored,
                        // counted in write_failed
        busy            // not stored now for a reason that may pass (locked, I/O error, or
                        // a statement failed inside a transaction): not counted, try again
    };
    // Stores an entry at the end, created at `now_ms` (spool_clock.hpp). Under drop-oldest,
    // makes room first by deleting the oldest entries (at least segment_bytes of them, like
    // dropping a segment); under drop-newest a full store refuses the new entry; under block
    // a result is stored beyond the bound (the caller stops its source: has_room()) and
    // telemetry replaces the oldest telemetry (or is dropped) so as to stay in it.
    virtual Append append(std::string_view topic, std::string_view payload, std::int64_t now_ms,
                          EntryClass cls = EntryClass::result) = 0;
    // Stores an entry taken over from another store (the memory that held it while a file
    // could not be used), keeping its time and class; as append(), but not counted in
    // `stored` again.
    Append adopt(const SpoolEntry &entry);
    // The seq the last stored entry got (0 before any).
    std::int64_t last_seq() const { return last_seq_; }

    // Up to `max_entries` entries with seq > after_seq, oldest (lowest seq) first.
    virtual std::vector<SpoolEntry> read_after(std::int64_t after_seq, std::size_t max_entries) = 0;
    // Whether an entry with seq > after_seq may exist (no I/O).
    bool has_after(std::int64_t after_seq) const { return last_seq_ > after_seq; }

    // The broker acknowledged the entry: delete it and count it. An entry already gone
    // (dropped, expired, delivered twice) is a no-op. False when the delete was not done (a
    // full disk, a lock): the caller tries again.
    virtual bool delivered(std::int64_t seq) = 0;
    // The entry can never be delivered: the broker refused it for good, or it is larger
    // than the broker accepts (`oversize`). Delete it and count it. False as delivered().
    virtual bool rejected(std::int64_t seq, bool oversize = false) = 0;

    // Deletes entries created before now_ms - max_age (if max_age is set), least
    // created_ms first, at most `max_entries` per call; returns how many.
    virtual std::uint64_t expire(std::int64_t now_ms, std::size_t max_entries = 4096) = 0;
    // Whether the oldest entry is at least max_age old at now_ms (no I/O).
    bool expiry_due(std::int64_t now_ms) const {
        return options_.max_age_ms > 0 && stats_.entries > 0 &&
               stats_.oldest_ms <= now_ms - options_.max_age_ms;
    }

    // Whether an entry of `bytes` fits under max_bytes now.
    bool has_room(std::size_t bytes = 0) const {
        return stats_.bytes + bytes <= static_cast<std::uint64_t>(options_.max_bytes);
    }

    // Groups what follows into one transaction (one commit, one fsync with sync = full).
    // If a statement inside fails, it returns busy/false and the caller calls rollback()
    // and does the work again without a transaction; commit() that fails rolls back
    // itself. Either way the counters return to what they were at begin().
    virtual bool begin() = 0;
    virtual bool commit() = 0;
    virtual void rollback() = 0;
    bool in_transaction() const { return in_tx_; }
    // The SQLite result code (extended) of the last failed statement; 0 (SQLITE_OK) for a
    // store that has none.
    virtual int last_rc() const { return 0; }
    // Disk full: give back what the store keeps in reserve so that deletes can go on.
    virtual void on_disk_full() {}

    const SpoolStats &stats() const { return stats_; }
    const SpoolOptions &options() const { return options_; }
    // Where it lives, for logs and status: the path or "memory".
    virtual std::string where() const = 0;

  protected:
    explicit SpoolStore(SpoolOptions options) : options_(std::move(options)) {}

    // How the oldest entries (or the oldest telemetry) could be deleted to make room.
    enum class Dropped {
        enough,     // held bytes are now <= the target
        not_enough, // there was not enough of them (those there were are gone, counted)
        failed      // a statement failed (last_rc())
    };
    // Deletes entries, lowest seq first, until held bytes <= target; counts them in
    // dropped_oldest and keeps entries/bytes/oldest_ms.
    virtual Dropped drop_oldest_until(std::uint64_t target) = 0;
    // As drop_oldest_until() for telemetry entries only; counts them in dropped_telemetry.
    virtual Dropped drop_telemetry_until(std::uint64_t target) = 0;

    // The bound's rules for a new entry of `need` bytes, applied before it is stored:
    // `fits` (room was made, or the policy stores it beyond the bound: counted in
    // over_bound), `refused` (drop-newest, or telemetry that cannot stay in the bound:
    // counted) or `busy` (a delete failed inside a transaction: try again).
    enum class Room { fits, refused, busy };
    Room make_room(std::size_t need, EntryClass cls);

    // Counts an entry that could not be stored; logs the first of a series, then at most
    // a count a minute.
    void count_write_failure(const char *why);

    SpoolOptions options_;
    SpoolStats stats_;
    std::int64_t last_seq_ = 0;
    bool in_tx_ = false;

  private:
    std::uint64_t unlogged_failures_ = 0;
    std::chrono::steady_clock::time_point last_failure_log_{};
};

} // namespace tierd
