// The durable spool: an ordered store of (topic, payload) entries that outlives the
// process, bounded by bytes and by age. Results (and durable telemetry) are written here
// before they are published and deleted only once the broker has acknowledged them
// (outbox.hpp), so a broker outage, a crash or a restart loses nothing that was stored.
//
// Storage is SQLite in WAL mode rather than an own append-only segment log: SQLite gives
// atomic appends and deletes that survive kill -9 (and, with sync = full, power loss),
// recovers its own journal after a crash, and reuses freed pages, all from a library
// every target device already has; a segment log would need its own framing, checksums,
// recovery scan and compaction. Every call may do file I/O and wait (a busy timeout, an
// fsync): the agent calls it only from the spool's writer thread (spool_writer.hpp),
// which groups many appends and deletes into one transaction.
//
// Threads: one thread at a time (the spool writer's). Not copyable.
#pragma once

#include "agent/config/config.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
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

// Counters since the spool was opened (this process), plus what it holds now.
struct SpoolStats {
    std::uint64_t entries = 0;           // held now
    std::uint64_t bytes = 0;             // payload + topic bytes held now
    std::int64_t oldest_ms = 0;          // created_ms of the oldest entry; 0 = empty
    std::uint64_t recovered = 0;         // entries found at open (from before a restart)
    std::uint64_t stored = 0;            // appended
    std::uint64_t delivered = 0;         // acknowledged by the broker and deleted
    std::uint64_t dropped_oldest = 0;    // deleted undelivered to make room (drop-oldest)
    std::uint64_t dropped_newest = 0;    // refused because full (drop-newest)
    std::uint64_t dropped_telemetry = 0; // telemetry dropped to stay in the bound (block)
    std::uint64_t expired = 0;           // deleted undelivered past max_age
    std::uint64_t write_failed = 0;      // could not be written (disk full, I/O error)
    std::uint64_t rejected = 0;          // refused for good by the broker, deleted
    std::uint64_t oversize = 0;          // larger than the broker accepts, deleted
    std::uint64_t over_bound = 0;        // stored beyond max_bytes under when_full = block
};

// The spool file could not be opened for a reason that may pass (another process holds
// a lock, the -wal or -shm cannot be opened, an I/O error, no permission): the file was
// left as it is. The spool writer holds entries in memory and tries again.
class SpoolUnavailable : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

class Spool {
  public:
    // Opens (or creates) the spool. A file proven corrupt (SQLite says SQLITE_CORRUPT or
    // SQLITE_NOTADB, or its quick_check fails) is renamed to <path>.corrupt-<unix time>
    // (kept for inspection) and a new one is created. Any other failure throws
    // SpoolUnavailable naming the path and the reason, and leaves the file alone.
    // Entries from an earlier run whose time is in the future or before
    // kSpoolClockFloorMs are counted as created now (spool_clock.hpp).
    explicit Spool(SpoolOptions options);
    ~Spool();
    Spool(const Spool &) = delete;
    Spool &operator=(const Spool &) = delete;

    enum class Append {
        stored,
        dropped_newest, // full and when_full = drop-newest (or telemetry under block)
        failed,         // the write failed (disk full, a bad entry): not stored, counted
        busy            // not stored now for a reason that may pass (locked, I/O error, or
                        // a statement failed inside a transaction): not counted, try again
    };
    // Stores an entry at the end. Under drop-oldest, makes room first by deleting the
    // oldest entries (at least segment_bytes of them, like dropping a segment); under
    // block a result is stored beyond the bound (the caller stops its source: has_room())
    // and telemetry replaces the oldest telemetry (or is dropped) so as to stay in it.
    Append append(std::string_view topic, std::string_view payload, std::int64_t now_ms,
                  EntryClass cls = EntryClass::result);
    // Stores an entry taken over from another store (the memory that held it while this
    // file could not be used), keeping its time and class; as append(), but not counted
    // in `stored` again.
    Append adopt(const SpoolEntry &entry);
    // The seq the last stored entry got (0 before any).
    std::int64_t last_seq() const { return last_seq_; }

    // Up to `max_entries` entries with seq > after_seq, oldest first.
    std::vector<SpoolEntry> read_after(std::int64_t after_seq, std::size_t max_entries);
    // Whether an entry with seq > after_seq exists.
    bool has_after(std::int64_t after_seq) const { return last_seq_ > after_seq; }

    // The broker acknowledged the entry: delete it. An entry already gone is a no-op.
    // False when the delete was not done (a full disk, a lock): the caller tries again.
    bool delivered(std::int64_t seq);
    // The entry can never be delivered: the broker refused it for good, or it is larger
    // than the broker accepts (`oversize`). Delete it and count it. False as delivered().
    bool rejected(std::int64_t seq, bool oversize = false);

    // Deletes entries older than max_age (if set), at most `max_entries` per call; returns
    // how many.
    std::uint64_t expire(std::int64_t now_ms, std::size_t max_entries = 4096);

    // Whether expire(now_ms) would delete something (no I/O).
    bool expiry_due(std::int64_t now_ms) const {
        return options_.max_age_ms > 0 && stats_.entries > 0 &&
               stats_.oldest_ms <= now_ms - options_.max_age_ms;
    }

    // Whether an entry of `bytes` fits under max_bytes now.
    bool has_room(std::size_t bytes = 0) const;

    // Groups what follows into one transaction (one commit, one fsync with sync = full).
    // If a statement inside fails, it returns busy/false and the caller calls rollback()
    // and does the work again without a transaction; commit() that fails rolls back
    // itself. Either way the counters return to what they were at begin().
    bool begin();
    bool commit();
    void rollback();
    bool in_transaction() const { return in_tx_; }
    // The SQLite result code (extended) of the last failed statement.
    int last_rc() const { return last_rc_; }
    // Whether `rc` may pass on its own (a lock, an I/O error): worth trying again later.
    static bool transient(int rc);
    // Disk full: give back the reserve file and checkpoint, so that deliveries (deletes,
    // which need WAL space too) can go on and free the spool. Outside a transaction.
    void on_disk_full();

    const SpoolStats &stats() const { return stats_; }
    const SpoolOptions &options() const { return options_; }
    // Where it lives, for logs and status: the path or "memory".
    std::string where() const { return options_.path.empty() ? "memory" : options_.path; }

  private:
    void open_db();
    void migrate_schema();
    void normalize_ages();
    void prepare();
    void close_db();
    void load_totals();
    void refresh_oldest();
    // 1 deleted, 0 already gone, -1 the delete failed (last_rc_).
    int remove(std::int64_t seq, std::uint64_t *counter);
    // Deletes oldest entries until held bytes <= target; returns false on a DB error.
    bool drop_oldest_until(std::uint64_t target);
    // Deletes the oldest telemetry until held bytes <= target; false when there is not
    // enough telemetry (or on a DB error).
    bool drop_telemetry_until(std::uint64_t target);
    // Deletes rows (seq, bytes) one by one; returns how many went, their bytes added to
    // *bytes_deleted (stops at the first failure: last_rc_).
    std::size_t delete_rows(const std::vector<std::pair<std::int64_t, std::int64_t>> &rows,
                            std::uint64_t *bytes_deleted);
    bool insert(std::string_view topic, std::string_view payload, std::int64_t now_ms,
                EntryClass cls);
    void make_reserve();
    // Counts an entry that could not be stored; logs the first of a series.
    void count_write_failure(int rc);

    SpoolOptions options_;
    SpoolStats stats_;
    SpoolStats saved_stats_; // at begin()
    sqlite3 *db_ = nullptr;
    sqlite3_stmt *insert_ = nullptr;
    sqlite3_stmt *select_after_ = nullptr;
    sqlite3_stmt *select_bytes_ = nullptr;
    sqlite3_stmt *delete_one_ = nullptr;
    sqlite3_stmt *select_oldest_ = nullptr;
    sqlite3_stmt *select_telemetry_ = nullptr;
    sqlite3_stmt *select_expired_ = nullptr;
    sqlite3_stmt *select_min_created_ = nullptr;
    std::int64_t last_seq_ = 0;
    std::int64_t saved_last_seq_ = 0;
    int last_rc_ = 0;
    bool in_tx_ = false;
    std::uint64_t unlogged_failures_ = 0;
    std::chrono::steady_clock::time_point last_failure_log_{};
    // Set when a write found the disk full: new entries are refused (counted) until the
    // spool has shrunk to half of what it held then.
    bool disk_full_ = false;
    std::uint64_t disk_full_bytes_ = 0;
};

} // namespace tierd
