// The durable spool: an ordered store of (topic, payload) entries that outlives the
// process, bounded by bytes and by age. Results (and durable telemetry) are written here
// before they are published and deleted only once the broker has acknowledged them
// (outbox.hpp), so a broker outage, a crash or a restart loses nothing that was stored.
//
// Storage is SQLite in WAL mode rather than an own append-only segment log: SQLite gives
// atomic appends and deletes that survive kill -9 (and, with sync = full, power loss),
// recovers its own journal after a crash, and reuses freed pages, all from a library
// every target device already has; a segment log would need its own framing, checksums,
// recovery scan and compaction. The cost, on the loop thread with sync = normal: ~30 us
// per append and ~100 us per result with its read-back and delete (bench/spool.sh,
// bench/results/spool.md, measured on a loaded 2-core VM).
//
// Threads: one thread only (the agent's loop). Not copyable.
#pragma once

#include "agent/config/config.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace tierd {

struct SpoolOptions {
    std::string path; // the SQLite file; "" = in memory (lost when the process ends)
    std::int64_t max_bytes = std::int64_t{256} << 20;
    std::int64_t segment_bytes = std::int64_t{16} << 20;
    std::int64_t max_age_ms = 0; // 0 = no time to live
    SpoolWhenFull when_full = SpoolWhenFull::drop_oldest;
    SpoolSync sync = SpoolSync::normal;
};

struct SpoolEntry {
    std::int64_t seq = 0; // strictly increasing, never reused
    std::int64_t created_ms = 0;
    std::string topic;
    std::string payload;
};

// Counters since the spool was opened (this process), plus what it holds now.
struct SpoolStats {
    std::uint64_t entries = 0;        // held now
    std::uint64_t bytes = 0;          // payload + topic bytes held now
    std::int64_t oldest_ms = 0;       // created_ms of the oldest entry; 0 = empty
    std::uint64_t recovered = 0;      // entries found at open (from before a restart)
    std::uint64_t stored = 0;         // appended
    std::uint64_t delivered = 0;      // acknowledged by the broker and deleted
    std::uint64_t dropped_oldest = 0; // deleted undelivered to make room (drop-oldest)
    std::uint64_t dropped_newest = 0; // refused because full (drop-newest)
    std::uint64_t expired = 0;        // deleted undelivered past max_age
    std::uint64_t write_failed = 0;   // could not be written (disk full, I/O error)
    std::uint64_t rejected = 0;       // the broker refused them (PUBACK >= 0x80), deleted
    std::uint64_t over_bound = 0;     // stored beyond max_bytes under when_full = block
};

class Spool {
  public:
    // Opens (or creates) the spool. A file that is not a readable spool is renamed to
    // <path>.corrupt-<unix time> (kept for inspection) and a new one is created; an
    // unusable directory throws std::runtime_error naming the path and the reason.
    explicit Spool(SpoolOptions options);
    ~Spool();
    Spool(const Spool &) = delete;
    Spool &operator=(const Spool &) = delete;

    enum class Append {
        stored,
        dropped_newest, // full and when_full = drop-newest: the entry was not stored
        failed          // the write failed (disk full, I/O error): not stored, counted
    };
    // Stores an entry at the end. Under drop-oldest, makes room first by deleting the
    // oldest entries (at least segment_bytes of them, like dropping a segment); under
    // block it stores beyond the bound (the caller stops its source: has_room()).
    Append append(std::string_view topic, std::string_view payload, std::int64_t now_ms);

    // Up to `max_entries` entries with seq > after_seq, oldest first.
    std::vector<SpoolEntry> read_after(std::int64_t after_seq, std::size_t max_entries);

    // The broker acknowledged the entry: delete it. An entry already gone is a no-op.
    // False when the delete failed (e.g. the disk is full): the caller tries again later.
    bool delivered(std::int64_t seq);
    // The broker refused the entry for good: delete it and count it.
    void rejected(std::int64_t seq);

    // Deletes entries older than max_age (if set); returns how many.
    std::uint64_t expire(std::int64_t now_ms);

    // Whether an entry of `bytes` fits under max_bytes now.
    bool has_room(std::size_t bytes = 0) const;

    const SpoolStats &stats() const { return stats_; }
    const SpoolOptions &options() const { return options_; }
    // Where it lives, for logs and status: the path or "memory".
    std::string where() const { return options_.path.empty() ? "memory" : options_.path; }

  private:
    void open_db();
    void prepare();
    void close_db();
    void load_totals();
    void refresh_oldest();
    // 1 deleted, 0 already gone, -1 the delete failed.
    int remove(std::int64_t seq, std::uint64_t *counter);
    // Deletes oldest entries until held bytes <= target; returns false on a DB error.
    bool drop_oldest_until(std::uint64_t target);
    bool insert(std::string_view topic, std::string_view payload, std::int64_t now_ms,
                std::int64_t *rc_out);
    // Disk full: give back the reserve file and checkpoint, so that deliveries (deletes,
    // which need WAL space too) can go on and free the spool.
    void on_disk_full();
    void make_reserve();

    SpoolOptions options_;
    SpoolStats stats_;
    sqlite3 *db_ = nullptr;
    sqlite3_stmt *insert_ = nullptr;
    sqlite3_stmt *select_after_ = nullptr;
    sqlite3_stmt *delete_one_ = nullptr;
    sqlite3_stmt *select_oldest_ = nullptr;
    bool warned_write_ = false;
    // Set when a write found the disk full: new entries are refused (counted) until the
    // spool has shrunk to half of what it held then.
    bool disk_full_ = false;
    std::uint64_t disk_full_bytes_ = 0;
};

} // namespace tierd
