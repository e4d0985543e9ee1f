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
// `[spool] storage = "memory"` (and the entries held while this file cannot be used) do
// not go through SQLite: MemorySpool (memory_spool.hpp) keeps the same contract
// (spool_store.hpp) in plain containers.
//
// Threads: one thread at a time (the spool writer's). Not copyable.
#pragma once

#include "agent/spool/spool_store.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace tierd {

// The spool file could not be opened for a reason that may pass (another process holds
// a lock, the -wal or -shm cannot be opened, an I/O error, no permission): the file was
// left as it is. The spool writer holds entries in memory and tries again.
class SpoolUnavailable : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

class Spool final : public SpoolStore {
  public:
    // Opens (or creates) the spool file at options.path (not ""; an in-memory store is a
    // MemorySpool). A file proven corrupt (SQLite says SQLITE_CORRUPT or SQLITE_NOTADB, or
    // its quick_check fails) is renamed to <path>.corrupt-<unix time> (kept for
    // inspection) and a new one is created. Any other failure throws SpoolUnavailable
    // naming the path and the reason, and leaves the file alone. Entries from an earlier
    // run whose time is in the future or before kSpoolClockFloorMs are counted as created
    // now (spool_clock.hpp).
    explicit Spool(SpoolOptions options);
    ~Spool() override;

    // Beyond SpoolStore's contract: a full disk refuses new entries (counted in
    // write_failed) until the spool has shrunk to half of what it held then, except under
    // drop-oldest, which frees the oldest segment and tries once more.
    Append append(std::string_view topic, std::string_view payload, std::int64_t now_ms,
                  EntryClass cls = EntryClass::result) override;
    std::vector<SpoolEntry> read_after(std::int64_t after_seq, std::size_t max_entries) override;
    bool delivered(std::int64_t seq) override;
    bool rejected(std::int64_t seq, bool oversize = false) override;
    std::uint64_t expire(std::int64_t now_ms, std::size_t max_entries = 4096) override;

    bool begin() override;
    bool commit() override;
    void rollback() override;
    int last_rc() const override { return last_rc_; }
    // Whether `rc` may pass on its own (a lock, an I/O error): worth trying again later.
    static bool transient(int rc);
    // Disk full: give back the reserve file and checkpoint, so that deliveries (deletes,
    // which need WAL space too) can go on and free the spool. Outside a transaction.
    void on_disk_full() override;

    std::string where() const override { return options_.path; }

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
    Dropped drop_oldest_until(std::uint64_t target) override;
    Dropped drop_telemetry_until(std::uint64_t target) override;
    // Deletes rows (seq, bytes) one by one; returns how many went, their bytes added to
    // *bytes_deleted (stops at the first failure: last_rc_).
    std::size_t delete_rows(const std::vector<std::pair<std::int64_t, std::int64_t>> &rows,
                            std::uint64_t *bytes_deleted);
    bool insert(std::string_view topic, std::string_view payload, std::int64_t now_ms,
                EntryClass cls);
    void make_reserve();

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
    std::int64_t saved_last_seq_ = 0;
    int last_rc_ = 0;
    // Set when a write found the disk full: new entries are refused (counted) until the
    // spool has shrunk to half of what it held then.
    bool disk_full_ = false;
    std::uint64_t disk_full_bytes_ = 0;
};

} // namespace tierd
