#include "agent/spool/spool.hpp"

#include "agent/spool/spool_clock.hpp"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace tierd {

namespace {

// One row per entry; AUTOINCREMENT keeps seq strictly increasing across deletes and
// restarts, so delivery order is seq order. `kind` (EntryClass) came later: files of
// older versions get it added as a result (0).
constexpr const char *kSchema = "CREATE TABLE IF NOT EXISTS spool ("
                                " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
                                " created_ms INTEGER NOT NULL,"
                                " topic TEXT NOT NULL,"
                                " payload BLOB NOT NULL,"
                                " bytes INTEGER NOT NULL,"
                                " kind INTEGER NOT NULL DEFAULT 0)";
// Expiry finds old entries by time without scanning the table; the bound under block
// finds the oldest telemetry without scanning the results.
constexpr const char *kIndexes =
    "CREATE INDEX IF NOT EXISTS spool_created ON spool(created_ms);"
    "CREATE INDEX IF NOT EXISTS spool_telemetry ON spool(seq) WHERE kind = 1";

// A file of this size lies next to a spool file, to be given back when the disk fills:
// in WAL mode even a delete needs to write, so a completely full disk could otherwise
// keep delivered entries from being deleted.
constexpr std::size_t kReserveBytes = 1 << 20;

// Rows deleted per statement when dropping or expiring: bounds each step's work.
constexpr int kDeleteChunk = 512;

// An error while opening: `corrupt` when SQLite proved the file is not a usable database.
struct OpenError : std::runtime_error {
    bool corrupt;
    OpenError(const std::string &what, bool is_corrupt)
        : std::runtime_error(what), corrupt(is_corrupt) {}
};

bool corrupt_code(int rc) {
    return (rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB;
}

void exec(sqlite3 *db, const char *sql) {
    char *msg = nullptr;
    int rc = sqlite3_exec(db, sql, nullptr, nullptr, &msg);
    if (rc != SQLITE_OK) {
        std::string why = msg ? msg : sqlite3_errmsg(db);
        sqlite3_free(msg);
        throw OpenError(std::string(sql).substr(0, 40) + ": " + why, corrupt_code(rc));
    }
}

// Resets a statement when the scope ends, so it never holds a read lock.
struct StmtReset {
    sqlite3_stmt *s;
    ~StmtReset() {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    }
};

} // namespace

bool Spool::transient(int rc) {
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
    case SQLITE_NOMEM:
    case SQLITE_READONLY:
    case SQLITE_PERM: return true;
    default: return false;
    }
}

Spool::Spool(SpoolOptions options) : SpoolStore(std::move(options)) {
    if (options_.path.empty())
        throw std::invalid_argument("spool: a file store needs a path (in memory: MemorySpool)");
    try {
        open_db();
    } catch (const OpenError &first) {
        close_db();
        std::error_code ec;
        if (!first.corrupt || !std::filesystem::exists(options_.path, ec))
            throw SpoolUnavailable("spool " + options_.path + ": " + first.what());
        // A file proven corrupt is kept aside, never deleted: it may hold results someone
        // wants to recover by hand.
        std::string aside = options_.path + ".corrupt-" +
                            std::to_string(static_cast<long long>(std::time(nullptr)));
        std::filesystem::rename(options_.path, aside, ec);
        if (ec)
            throw SpoolUnavailable("spool " + options_.path + ": " + first.what() +
                                   "; cannot move it aside: " + ec.message());
        for (const char *suffix : {"-wal", "-shm"})
            std::filesystem::rename(options_.path + suffix, aside + suffix, ec);
        spdlog::error("spool {}: corrupt ({}); kept as {}, starting a new one", options_.path,
                      first.what(), aside);
        try {
            open_db();
        } catch (const OpenError &second) {
            close_db();
            throw SpoolUnavailable("spool " + options_.path + ": " + second.what());
        }
    }
    stats_.recovered = stats_.entries;
    if (stats_.entries > 0)
        spdlog::info("spool {}: {} entries ({} bytes) from before, to be delivered", where(),
                     stats_.entries, stats_.bytes);
}

Spool::~Spool() {
    if (in_tx_)
        rollback();
    close_db();
}

void Spool::open_db() {
    {
        auto dir = std::filesystem::path(options_.path).parent_path();
        std::error_code ec;
        if (!dir.empty())
            std::filesystem::create_directories(dir, ec);
    }
    int rc =
        sqlite3_open_v2(options_.path.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK)
        throw OpenError(db_ ? std::string("open: ") + sqlite3_errmsg(db_) : "open: out of memory",
                        corrupt_code(rc));
    sqlite3_extended_result_codes(db_, 1);
    // Another process (a backup, an operator's sqlite3 shell) may hold a lock for a moment.
    sqlite3_busy_timeout(db_, options_.busy_timeout_ms);
    // WAL: an append is one sequential write, readers never block the writer, and a crash
    // leaves either the whole commit or none of it.
    exec(db_, "PRAGMA journal_mode=WAL");
    // Checkpoint every 256 pages (1 MiB with 4 KiB pages) and truncate the WAL back to at
    // most 4 MiB: the spool's own files stay small on small disks.
    exec(db_, "PRAGMA wal_autocheckpoint=256");
    exec(db_, "PRAGMA journal_size_limit=4194304");
    exec(db_, options_.sync == SpoolSync::full ? "PRAGMA synchronous=FULL"
                                               : "PRAGMA synchronous=NORMAL");
    exec(db_, kSchema);
    migrate_schema();
    exec(db_, kIndexes);
    // Proof that the file is a database we can use: its pages read back whole. The spool
    // is at most max_bytes; this runs on the writer thread, once per open.
    {
        sqlite3_stmt *s = nullptr;
        rc = sqlite3_prepare_v2(db_, "PRAGMA quick_check(1)", -1, &s, nullptr);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(s);
        std::string verdict =
            rc == SQLITE_ROW ? reinterpret_cast<const char *>(sqlite3_column_text(s, 0)) : "";
        sqlite3_finalize(s);
        if (rc != SQLITE_ROW)
            throw OpenError(std::string("quick_check: ") + sqlite3_errmsg(db_), corrupt_code(rc));
        if (verdict != "ok")
            throw OpenError("quick_check: " + verdict, true);
    }
    normalize_ages();
    prepare();
    load_totals();
    make_reserve();
}

void Spool::migrate_schema() {
    sqlite3_stmt *s = nullptr;
    bool has_kind = false;
    int rc = sqlite3_prepare_v2(db_, "PRAGMA table_info(spool)", -1, &s, nullptr);
    while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const auto *name = reinterpret_cast<const char *>(sqlite3_column_text(s, 1));
        has_kind = has_kind || (name && std::string_view(name) == "kind");
        rc = SQLITE_OK;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE && rc != SQLITE_OK)
        throw OpenError(std::string("table_info: ") + sqlite3_errmsg(db_), corrupt_code(rc));
    if (!has_kind)
        exec(db_, "ALTER TABLE spool ADD COLUMN kind INTEGER NOT NULL DEFAULT 0");
}

// The rule for times stored by earlier runs (spool_clock.hpp): an entry whose time is in
// the future, or before the clock floor, was timed by a clock that was wrong then or is
// wrong now; its age is unknown, so it counts from now (it gets a whole max_age more).
void Spool::normalize_ages() {
    sqlite3_stmt *s = nullptr;
    int rc = sqlite3_prepare_v2(
        db_, "UPDATE spool SET created_ms = ?1 WHERE created_ms > ?1 OR created_ms < ?2", -1, &s,
        nullptr);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, spool_now_ms());
        sqlite3_bind_int64(s, 2, kSpoolClockFloorMs);
        rc = sqlite3_step(s);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE)
        throw OpenError(std::string("setting the time of entries: ") + sqlite3_errmsg(db_),
                        corrupt_code(rc));
    if (const int n = sqlite3_changes(db_); n > 0)
        spdlog::info("spool {}: {} entries from before had a time in the future or before "
                     "2024 (the clock was not set); their age counts from now",
                     where(), n);
}

void Spool::make_reserve() {
    const std::string reserve = options_.path + ".reserve";
    std::error_code ec;
    if (std::filesystem::file_size(reserve, ec) == kReserveBytes)
        return;
    std::ofstream f(reserve, std::ios::binary | std::ios::trunc);
    const std::string block(64 * 1024, '\0');
    for (std::size_t n = 0; f && n < kReserveBytes; n += block.size())
        f.write(block.data(), static_cast<std::streamsize>(block.size()));
    f.close();
    if (!f || std::filesystem::file_size(reserve, ec) != kReserveBytes)
        std::filesystem::remove(reserve, ec); // no room for it now; tried again later
}

void Spool::on_disk_full() {
    if (!disk_full_)
        disk_full_bytes_ = stats_.bytes;
    disk_full_ = true;
    std::error_code ec;
    std::filesystem::remove(options_.path + ".reserve", ec);
    if (!in_tx_)
        sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
}

void Spool::prepare() {
    auto p = [this](const char *sql, sqlite3_stmt **out) {
        int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, out, nullptr);
        if (rc != SQLITE_OK)
            throw OpenError(std::string("prepare: ") + sqlite3_errmsg(db_), corrupt_code(rc));
    };
    p("INSERT INTO spool(created_ms, topic, payload, bytes, kind) VALUES(?1, ?2, ?3, ?4, ?5)",
      &insert_);
    p("SELECT seq, created_ms, topic, payload, kind FROM spool WHERE seq > ?1 ORDER BY seq "
      "LIMIT ?2",
      &select_after_);
    // A delete is two statements, not DELETE ... RETURNING: with RETURNING the commit of
    // an autocommit delete happens in sqlite3_reset, and a failure there (a full disk)
    // would go unseen.
    p("SELECT bytes FROM spool WHERE seq = ?1", &select_bytes_);
    p("DELETE FROM spool WHERE seq = ?1", &delete_one_);
    p("SELECT seq, bytes FROM spool ORDER BY seq LIMIT 512", &select_oldest_);
    p("SELECT seq, bytes FROM spool WHERE kind = 1 ORDER BY seq LIMIT 64", &select_telemetry_);
    p("SELECT min(created_ms) FROM spool", &select_min_created_);
    p("SELECT seq, bytes FROM spool WHERE created_ms < ?1 ORDER BY created_ms LIMIT ?2",
      &select_expired_);
}

void Spool::close_db() {
    for (auto **s : {&insert_, &select_after_, &select_bytes_, &delete_one_, &select_oldest_,
                     &select_telemetry_, &select_expired_, &select_min_created_}) {
        sqlite3_finalize(*s);
        *s = nullptr;
    }
    if (db_)
        sqlite3_close(db_);
    db_ = nullptr;
}

void Spool::load_totals() {
    sqlite3_stmt *s = nullptr;
    int rc = sqlite3_prepare_v2(db_,
                                "SELECT count(*), coalesce(sum(bytes), 0), "
                                "coalesce(min(created_ms), 0), coalesce(max(seq), 0) FROM spool",
                                -1, &s, nullptr);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        stats_.entries = static_cast<std::uint64_t>(sqlite3_column_int64(s, 0));
        stats_.bytes = static_cast<std::uint64_t>(sqlite3_column_int64(s, 1));
        stats_.oldest_ms = sqlite3_column_int64(s, 2);
        last_seq_ = sqlite3_column_int64(s, 3);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW)
        throw OpenError(std::string("reading the spool: ") + sqlite3_errmsg(db_), corrupt_code(rc));
    // AUTOINCREMENT: a seq once used is never given again, even if its row is gone.
    s = nullptr;
    if (sqlite3_prepare_v2(db_, "SELECT seq FROM sqlite_sequence WHERE name = 'spool'", -1, &s,
                           nullptr) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        last_seq_ = std::max<std::int64_t>(last_seq_, sqlite3_column_int64(s, 0));
    sqlite3_finalize(s);
}

bool Spool::begin() {
    if (in_tx_)
        return true;
    int rc = sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) {
        last_rc_ = sqlite3_extended_errcode(db_);
        return false;
    }
    saved_stats_ = stats_;
    saved_last_seq_ = last_seq_;
    in_tx_ = true;
    return true;
}

bool Spool::commit() {
    if (!in_tx_)
        return true;
    int rc = sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) {
        last_rc_ = sqlite3_extended_errcode(db_);
        rollback();
        return false;
    }
    in_tx_ = false;
    if (disk_full_ && stats_.bytes <= disk_full_bytes_ / 2) {
        disk_full_ = false; // room again: take new entries, and put the reserve back
        make_reserve();
    }
    return true;
}

void Spool::rollback() {
    if (!in_tx_)
        return;
    // After some errors SQLite has rolled back already; then this is a harmless error.
    if (!sqlite3_get_autocommit(db_))
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    stats_ = saved_stats_;
    last_seq_ = saved_last_seq_;
    in_tx_ = false;
}

bool Spool::insert(std::string_view topic, std::string_view payload, std::int64_t now_ms,
                   EntryClass cls) {
    StmtReset reset{insert_};
    const auto bytes = static_cast<std::int64_t>(topic.size() + payload.size());
    sqlite3_bind_int64(insert_, 1, now_ms);
    sqlite3_bind_text(insert_, 2, topic.data(), static_cast<int>(topic.size()), SQLITE_STATIC);
    sqlite3_bind_blob(insert_, 3, payload.data(), static_cast<int>(payload.size()), SQLITE_STATIC);
    sqlite3_bind_int64(insert_, 4, bytes);
    sqlite3_bind_int(insert_, 5, static_cast<int>(cls));
    int rc = sqlite3_step(insert_);
    if (rc != SQLITE_DONE) {
        last_rc_ = sqlite3_extended_errcode(db_);
        return false;
    }
    last_seq_ = sqlite3_last_insert_rowid(db_);
    // The least time held: an adopted entry may be older than those already here.
    if (stats_.entries == 0 || now_ms < stats_.oldest_ms)
        stats_.oldest_ms = now_ms;
    ++stats_.entries;
    stats_.bytes += static_cast<std::uint64_t>(bytes);
    ++stats_.stored;
    return true;
}

Spool::Append Spool::append(std::string_view topic, std::string_view payload, std::int64_t now_ms,
                            EntryClass cls) {
    switch (make_room(topic.size() + payload.size(), cls)) {
    case Room::fits: break;
    case Room::refused: return Append::dropped_newest;
    case Room::busy: return Append::busy;
    }
    if (disk_full_ && stats_.bytes > disk_full_bytes_ / 2 &&
        options_.when_full != SpoolWhenFull::drop_oldest) {
        count_write_failure(sqlite3_errstr(SQLITE_FULL));
        return Append::failed;
    }
    last_rc_ = SQLITE_OK;
    if (insert(topic, payload, now_ms, cls))
        return Append::stored;
    int rc = last_rc_;
    // Inside a transaction SQLite may have rolled the whole of it back: the caller does
    // the work again statement by statement.
    if (in_tx_)
        return Append::busy;
    if (transient(rc) && (rc & 0xff) != SQLITE_FULL)
        return Append::busy;
    if ((rc & 0xff) == SQLITE_FULL)
        on_disk_full();
    // Disk full (or another write error): under drop-oldest, free the oldest segment and
    // try once more; otherwise the new entry is the one lost. Never a crash.
    if ((rc & 0xff) == SQLITE_FULL && options_.when_full == SpoolWhenFull::drop_oldest &&
        stats_.entries > 0) {
        const std::uint64_t seg = static_cast<std::uint64_t>(options_.segment_bytes);
        drop_oldest_until(stats_.bytes > seg ? stats_.bytes - seg : 0);
        if (insert(topic, payload, now_ms, cls))
            return Append::stored;
        rc = last_rc_;
    }
    count_write_failure(sqlite3_errstr(rc));
    return Append::failed;
}

std::vector<SpoolEntry> Spool::read_after(std::int64_t after_seq, std::size_t max_entries) {
    std::vector<SpoolEntry> out;
    StmtReset reset{select_after_};
    sqlite3_bind_int64(select_after_, 1, after_seq);
    sqlite3_bind_int64(select_after_, 2, static_cast<std::int64_t>(max_entries));
    int rc;
    while ((rc = sqlite3_step(select_after_)) == SQLITE_ROW) {
        SpoolEntry e;
        e.seq = sqlite3_column_int64(select_after_, 0);
        e.created_ms = sqlite3_column_int64(select_after_, 1);
        const auto *t = sqlite3_column_text(select_after_, 2);
        e.topic.assign(reinterpret_cast<const char *>(t),
                       static_cast<std::size_t>(sqlite3_column_bytes(select_after_, 2)));
        const auto *p = static_cast<const char *>(sqlite3_column_blob(select_after_, 3));
        e.payload.assign(p ? p : "",
                         static_cast<std::size_t>(sqlite3_column_bytes(select_after_, 3)));
        e.cls =
            sqlite3_column_int(select_after_, 4) == 1 ? EntryClass::telemetry : EntryClass::result;
        out.push_back(std::move(e));
    }
    if (rc != SQLITE_DONE)
        last_rc_ = sqlite3_extended_errcode(db_);
    return out;
}

int Spool::remove(std::int64_t seq, std::uint64_t *counter) {
    std::int64_t bytes = 0;
    {
        StmtReset reset{select_bytes_};
        sqlite3_bind_int64(select_bytes_, 1, seq);
        int rc = sqlite3_step(select_bytes_);
        if (rc == SQLITE_DONE)
            return 0; // already dropped (drop-oldest, expiry) or delivered twice
        if (rc != SQLITE_ROW) {
            last_rc_ = sqlite3_extended_errcode(db_);
            return -1;
        }
        bytes = sqlite3_column_int64(select_bytes_, 0);
    }
    for (int attempt = 0;; ++attempt) {
        StmtReset reset{delete_one_};
        sqlite3_bind_int64(delete_one_, 1, seq);
        // Without RETURNING an autocommit delete commits inside sqlite3_step, so its
        // result says whether the row is really gone.
        int rc = sqlite3_step(delete_one_);
        if (rc == SQLITE_DONE)
            break;
        last_rc_ = sqlite3_extended_errcode(db_);
        if ((rc & 0xff) == SQLITE_FULL && !in_tx_ && attempt == 0) {
            on_disk_full();
            continue;
        }
        return -1;
    }
    --stats_.entries;
    stats_.bytes -= std::min(stats_.bytes, static_cast<std::uint64_t>(bytes));
    if (counter)
        ++*counter;
    if (stats_.entries == 0)
        stats_.oldest_ms = 0;
    if (!in_tx_ && disk_full_ && stats_.bytes <= disk_full_bytes_ / 2) {
        disk_full_ = false; // room again: take new entries, and put the reserve back
        make_reserve();
    }
    return 1;
}

bool Spool::delivered(std::int64_t seq) {
    const int r = remove(seq, &stats_.delivered);
    if (r > 0)
        refresh_oldest();
    return r >= 0;
}

bool Spool::rejected(std::int64_t seq, bool oversize) {
    const int r = remove(seq, oversize ? &stats_.oversize : &stats_.rejected);
    if (r > 0)
        refresh_oldest();
    return r >= 0;
}

// The oldest entry's time, by the index on created_ms: O(log n), unlike a full count.
// (Not the time of the lowest seq: entries from an earlier run whose time was unknown
// count from the open, later than entries stored after them.)
void Spool::refresh_oldest() {
    stats_.oldest_ms = 0;
    if (stats_.entries == 0)
        return;
    StmtReset reset{select_min_created_};
    if (sqlite3_step(select_min_created_) == SQLITE_ROW)
        stats_.oldest_ms = sqlite3_column_int64(select_min_created_, 0);
}

std::size_t Spool::delete_rows(const std::vector<std::pair<std::int64_t, std::int64_t>> &rows,
                               std::uint64_t *bytes_deleted) {
    std::size_t n = 0;
    for (const auto &[seq, bytes] : rows) {
        StmtReset reset{delete_one_};
        sqlite3_bind_int64(delete_one_, 1, seq);
        if (sqlite3_step(delete_one_) != SQLITE_DONE) {
            last_rc_ = sqlite3_extended_errcode(db_);
            break;
        }
        ++n;
        *bytes_deleted += static_cast<std::uint64_t>(bytes);
    }
    return n;
}

Spool::Dropped Spool::drop_oldest_until(std::uint64_t target) {
    while (stats_.bytes > target && stats_.entries > 0) {
        std::int64_t last = -1;
        std::uint64_t freed = 0, count = 0;
        {
            StmtReset reset{select_oldest_};
            while (stats_.bytes - freed > target && count < kDeleteChunk &&
                   sqlite3_step(select_oldest_) == SQLITE_ROW) {
                last = sqlite3_column_int64(select_oldest_, 0);
                freed += static_cast<std::uint64_t>(sqlite3_column_int64(select_oldest_, 1));
                ++count;
            }
        }
        if (last < 0) {
            last_rc_ = sqlite3_extended_errcode(db_);
            return Dropped::failed;
        }
        sqlite3_stmt *del = nullptr;
        sqlite3_prepare_v2(db_, "DELETE FROM spool WHERE seq <= ?1", -1, &del, nullptr);
        sqlite3_bind_int64(del, 1, last);
        int rc = del ? sqlite3_step(del) : SQLITE_ERROR;
        sqlite3_finalize(del);
        if (rc != SQLITE_DONE) {
            last_rc_ = sqlite3_extended_errcode(db_);
            return Dropped::failed;
        }
        stats_.dropped_oldest += count;
        stats_.entries -= std::min(stats_.entries, count);
        stats_.bytes -= std::min(stats_.bytes, freed);
    }
    refresh_oldest();
    return Dropped::enough;
}

Spool::Dropped Spool::drop_telemetry_until(std::uint64_t target) {
    last_rc_ = SQLITE_OK;
    while (stats_.bytes > target) {
        std::vector<std::pair<std::int64_t, std::int64_t>> rows;
        std::uint64_t found = 0;
        {
            StmtReset reset{select_telemetry_};
            while (stats_.bytes - found > target && sqlite3_step(select_telemetry_) == SQLITE_ROW) {
                rows.emplace_back(sqlite3_column_int64(select_telemetry_, 0),
                                  sqlite3_column_int64(select_telemetry_, 1));
                found += static_cast<std::uint64_t>(rows.back().second);
            }
        }
        if (rows.empty()) {
            refresh_oldest();           // some telemetry may be gone, the oldest among it
            return Dropped::not_enough; // no telemetry left to make way
        }
        std::uint64_t freed = 0;
        const std::size_t n = delete_rows(rows, &freed);
        stats_.dropped_telemetry += n;
        stats_.entries -= std::min<std::uint64_t>(stats_.entries, n);
        stats_.bytes -= std::min(stats_.bytes, freed);
        if (n < rows.size())
            return Dropped::failed;
    }
    refresh_oldest();
    return Dropped::enough;
}

std::uint64_t Spool::expire(std::int64_t now_ms, std::size_t max_entries) {
    if (options_.max_age_ms <= 0 || stats_.entries == 0 ||
        stats_.oldest_ms > now_ms - options_.max_age_ms)
        return 0;
    const std::int64_t cutoff = now_ms - options_.max_age_ms;
    std::uint64_t total = 0;
    while (total < max_entries) {
        std::vector<std::pair<std::int64_t, std::int64_t>> rows;
        {
            StmtReset reset{select_expired_};
            sqlite3_bind_int64(select_expired_, 1, cutoff);
            sqlite3_bind_int64(select_expired_, 2,
                               static_cast<std::int64_t>(
                                   std::min<std::size_t>(kDeleteChunk, max_entries - total)));
            while (sqlite3_step(select_expired_) == SQLITE_ROW)
                rows.emplace_back(sqlite3_column_int64(select_expired_, 0),
                                  sqlite3_column_int64(select_expired_, 1));
        }
        std::uint64_t freed = 0;
        const std::size_t n = rows.empty() ? 0 : delete_rows(rows, &freed);
        total += n;
        stats_.expired += n;
        stats_.entries -= std::min<std::uint64_t>(stats_.entries, n);
        stats_.bytes -= std::min(stats_.bytes, freed);
        if (n == 0 || n < rows.size())
            break;
    }
    if (total > 0)
        refresh_oldest();
    return total;
}

} // namespace tierd
