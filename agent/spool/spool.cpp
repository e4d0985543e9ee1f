#include "agent/spool/spool.hpp"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace tierd {

namespace {

// One row per entry; AUTOINCREMENT keeps seq strictly increasing across deletes and
// restarts, so delivery order is seq order.
constexpr const char *kSchema = "CREATE TABLE IF NOT EXISTS spool ("
                                " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
                                " created_ms INTEGER NOT NULL,"
                                " topic TEXT NOT NULL,"
                                " payload BLOB NOT NULL,"
                                " bytes INTEGER NOT NULL)";

// A file of this size lies next to a spool file, to be given back when the disk fills:
// in WAL mode even a delete needs to write, so a completely full disk could otherwise
// keep delivered entries from being deleted.
constexpr std::size_t kReserveBytes = 1 << 20;

std::string db_error(sqlite3 *db, const std::string &what) {
    return what + ": " + (db ? sqlite3_errmsg(db) : "out of memory");
}

void exec(sqlite3 *db, const char *sql) {
    char *msg = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
        std::string why = msg ? msg : sqlite3_errmsg(db);
        sqlite3_free(msg);
        throw std::runtime_error(std::string(sql).substr(0, 40) + ": " + why);
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

Spool::Spool(SpoolOptions options) : options_(std::move(options)) {
    try {
        open_db();
    } catch (const std::exception &first) {
        if (options_.path.empty())
            throw;
        close_db();
        std::error_code ec;
        if (!std::filesystem::exists(options_.path, ec))
            throw std::runtime_error("spool " + options_.path + ": " + first.what());
        // A file we cannot use as a spool is kept aside, never deleted: it may hold
        // results someone wants to recover by hand.
        std::string aside = options_.path + ".corrupt-" +
                            std::to_string(static_cast<long long>(std::time(nullptr)));
        std::filesystem::rename(options_.path, aside, ec);
        for (const char *suffix : {"-wal", "-shm"})
            std::filesystem::rename(options_.path + suffix, aside + suffix, ec);
        spdlog::error("spool {}: not a usable spool ({}); kept as {}, starting a new one",
                      options_.path, first.what(), aside);
        open_db();
    }
    load_totals();
    stats_.recovered = stats_.entries;
    if (stats_.entries > 0)
        spdlog::info("spool {}: {} entries ({} bytes) from before, to be delivered", where(),
                     stats_.entries, stats_.bytes);
}

Spool::~Spool() {
    close_db();
}

void Spool::open_db() {
    const std::string name = options_.path.empty() ? ":memory:" : options_.path;
    if (!options_.path.empty()) {
        auto dir = std::filesystem::path(options_.path).parent_path();
        std::error_code ec;
        if (!dir.empty())
            std::filesystem::create_directories(dir, ec);
    }
    int rc =
        sqlite3_open_v2(name.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK)
        throw std::runtime_error(db_error(db_, "open"));
    sqlite3_extended_result_codes(db_, 1);
    if (!options_.path.empty()) {
        // WAL: an append is one sequential write, readers never block the writer, and a
        // crash leaves either the whole commit or none of it.
        exec(db_, "PRAGMA journal_mode=WAL");
        // Checkpoint every 256 pages (1 MiB with 4 KiB pages) and truncate the WAL back
        // to at most 4 MiB: the spool's own files stay small on small disks.
        exec(db_, "PRAGMA wal_autocheckpoint=256");
        exec(db_, "PRAGMA journal_size_limit=4194304");
    }
    exec(db_, options_.sync == SpoolSync::full ? "PRAGMA synchronous=FULL"
                                               : "PRAGMA synchronous=NORMAL");
    exec(db_, kSchema);
    // Reading the schema back proves the file is a database we can use.
    exec(db_, "SELECT count(*) FROM spool");
    prepare();
    make_reserve();
}

void Spool::make_reserve() {
    if (options_.path.empty())
        return;
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
    if (!options_.path.empty()) {
        std::error_code ec;
        std::filesystem::remove(options_.path + ".reserve", ec);
    }
    sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
}

void Spool::prepare() {
    auto p = [this](const char *sql, sqlite3_stmt **out) {
        if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, out, nullptr) != SQLITE_OK)
            throw std::runtime_error(db_error(db_, "prepare"));
    };
    p("INSERT INTO spool(created_ms, topic, payload, bytes) VALUES(?1, ?2, ?3, ?4)", &insert_);
    p("SELECT seq, created_ms, topic, payload FROM spool WHERE seq > ?1 ORDER BY seq LIMIT ?2",
      &select_after_);
    // One statement per delivery on the loop thread: the delete says what it freed.
    p("DELETE FROM spool WHERE seq = ?1 RETURNING bytes", &delete_one_);
    p("SELECT seq, bytes, created_ms FROM spool ORDER BY seq LIMIT 512", &select_oldest_);
}

void Spool::close_db() {
    for (auto **s : {&insert_, &select_after_, &delete_one_, &select_oldest_}) {
        sqlite3_finalize(*s);
        *s = nullptr;
    }
    if (db_)
        sqlite3_close(db_);
    db_ = nullptr;
}

void Spool::load_totals() {
    sqlite3_stmt *s = nullptr;
    sqlite3_prepare_v2(
        db_, "SELECT count(*), coalesce(sum(bytes), 0), coalesce(min(created_ms), 0) FROM spool",
        -1, &s, nullptr);
    if (s && sqlite3_step(s) == SQLITE_ROW) {
        stats_.entries = static_cast<std::uint64_t>(sqlite3_column_int64(s, 0));
        stats_.bytes = static_cast<std::uint64_t>(sqlite3_column_int64(s, 1));
        stats_.oldest_ms = sqlite3_column_int64(s, 2);
    }
    sqlite3_finalize(s);
}

bool Spool::has_room(std::size_t bytes) const {
    return stats_.bytes + bytes <= static_cast<std::uint64_t>(options_.max_bytes);
}

bool Spool::insert(std::string_view topic, std::string_view payload, std::int64_t now_ms,
                   std::int64_t *rc_out) {
    StmtReset reset{insert_};
    const auto bytes = static_cast<std::int64_t>(topic.size() + payload.size());
    sqlite3_bind_int64(insert_, 1, now_ms);
    sqlite3_bind_text(insert_, 2, topic.data(), static_cast<int>(topic.size()), SQLITE_STATIC);
    sqlite3_bind_blob(insert_, 3, payload.data(), static_cast<int>(payload.size()), SQLITE_STATIC);
    sqlite3_bind_int64(insert_, 4, bytes);
    int rc = sqlite3_step(insert_);
    *rc_out = rc;
    if (rc != SQLITE_DONE)
        return false;
    if (stats_.entries == 0)
        stats_.oldest_ms = now_ms;
    ++stats_.entries;
    stats_.bytes += static_cast<std::uint64_t>(bytes);
    ++stats_.stored;
    return true;
}

Spool::Append Spool::append(std::string_view topic, std::string_view payload, std::int64_t now_ms) {
    const std::size_t need = topic.size() + payload.size();
    const auto max = static_cast<std::uint64_t>(options_.max_bytes);
    if (!has_room(need)) {
        switch (options_.when_full) {
        case SpoolWhenFull::drop_newest: ++stats_.dropped_newest; return Append::dropped_newest;
        case SpoolWhenFull::block: ++stats_.over_bound; break;
        case SpoolWhenFull::drop_oldest: {
            // Free a segment's worth at once (as a segment log drops a whole segment), so
            // that a full spool does not delete on every append.
            const std::uint64_t seg = std::min<std::uint64_t>(
                static_cast<std::uint64_t>(options_.segment_bytes), max / 2);
            const std::uint64_t target = max > need + seg ? max - need - seg : 0;
            drop_oldest_until(target);
            break;
        }
        }
    }
    if (disk_full_ && stats_.bytes > disk_full_bytes_ / 2 &&
        options_.when_full != SpoolWhenFull::drop_oldest) {
        ++stats_.write_failed;
        return Append::failed;
    }
    std::int64_t rc = 0;
    if (insert(topic, payload, now_ms, &rc))
        return Append::stored;
    if ((rc & 0xff) == SQLITE_FULL)
        on_disk_full();
    // Disk full (or another write error): under drop-oldest, free the oldest segment and
    // try once more; otherwise the new entry is the one lost. Never a crash.
    if ((rc & 0xff) == SQLITE_FULL && options_.when_full == SpoolWhenFull::drop_oldest &&
        stats_.entries > 0) {
        const std::uint64_t seg = static_cast<std::uint64_t>(options_.segment_bytes);
        drop_oldest_until(stats_.bytes > seg ? stats_.bytes - seg : 0);
        if (insert(topic, payload, now_ms, &rc))
            return Append::stored;
    }
    ++stats_.write_failed;
    if (!warned_write_) {
        spdlog::error("spool {}: cannot store an entry: {} (counted in spool.write_failed; "
                      "further failures are not logged until one succeeds)",
                      where(), sqlite3_errstr(static_cast<int>(rc)));
        warned_write_ = true;
    }
    return Append::failed;
}

std::vector<SpoolEntry> Spool::read_after(std::int64_t after_seq, std::size_t max_entries) {
    std::vector<SpoolEntry> out;
    StmtReset reset{select_after_};
    sqlite3_bind_int64(select_after_, 1, after_seq);
    sqlite3_bind_int64(select_after_, 2, static_cast<std::int64_t>(max_entries));
    while (sqlite3_step(select_after_) == SQLITE_ROW) {
        SpoolEntry e;
        e.seq = sqlite3_column_int64(select_after_, 0);
        e.created_ms = sqlite3_column_int64(select_after_, 1);
        const auto *t = sqlite3_column_text(select_after_, 2);
        e.topic.assign(reinterpret_cast<const char *>(t),
                       static_cast<std::size_t>(sqlite3_column_bytes(select_after_, 2)));
        const auto *p = static_cast<const char *>(sqlite3_column_blob(select_after_, 3));
        e.payload.assign(p ? p : "",
                         static_cast<std::size_t>(sqlite3_column_bytes(select_after_, 3)));
        out.push_back(std::move(e));
    }
    if (warned_write_ && !out.empty())
        warned_write_ = false;
    return out;
}

int Spool::remove(std::int64_t seq, std::uint64_t *counter) {
    StmtReset reset{delete_one_};
    sqlite3_bind_int64(delete_one_, 1, seq);
    int rc = sqlite3_step(delete_one_);
    if ((rc & 0xff) == SQLITE_FULL) {
        on_disk_full();
        sqlite3_reset(delete_one_);
        rc = sqlite3_step(delete_one_);
    }
    if (rc == SQLITE_DONE)
        return 0; // already dropped (drop-oldest, expiry) or delivered twice
    if (rc != SQLITE_ROW)
        return -1;
    const std::int64_t bytes = sqlite3_column_int64(delete_one_, 0);
    --stats_.entries;
    stats_.bytes -= std::min(stats_.bytes, static_cast<std::uint64_t>(bytes));
    if (counter)
        ++*counter;
    if (stats_.entries == 0)
        stats_.oldest_ms = 0;
    if (disk_full_ && stats_.bytes <= disk_full_bytes_ / 2) {
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

void Spool::rejected(std::int64_t seq) {
    if (remove(seq, &stats_.rejected) > 0)
        refresh_oldest();
}

// The oldest entry's time, by the primary key: O(log n), unlike a full count.
void Spool::refresh_oldest() {
    stats_.oldest_ms = 0;
    if (stats_.entries == 0)
        return;
    StmtReset reset{select_oldest_};
    if (sqlite3_step(select_oldest_) == SQLITE_ROW)
        stats_.oldest_ms = sqlite3_column_int64(select_oldest_, 2);
}

bool Spool::drop_oldest_until(std::uint64_t target) {
    while (stats_.bytes > target && stats_.entries > 0) {
        std::int64_t last = -1;
        std::uint64_t freed = 0, count = 0;
        {
            StmtReset reset{select_oldest_};
            while (stats_.bytes - freed > target && sqlite3_step(select_oldest_) == SQLITE_ROW) {
                last = sqlite3_column_int64(select_oldest_, 0);
                freed += static_cast<std::uint64_t>(sqlite3_column_int64(select_oldest_, 1));
                ++count;
            }
        }
        if (last < 0)
            return false;
        sqlite3_stmt *del = nullptr;
        sqlite3_prepare_v2(db_, "DELETE FROM spool WHERE seq <= ?1", -1, &del, nullptr);
        sqlite3_bind_int64(del, 1, last);
        int rc = del ? sqlite3_step(del) : SQLITE_ERROR;
        sqlite3_finalize(del);
        if (rc != SQLITE_DONE)
            return false;
        stats_.dropped_oldest += count;
        stats_.entries -= std::min(stats_.entries, count);
        stats_.bytes -= std::min(stats_.bytes, freed);
    }
    refresh_oldest();
    return true;
}

std::uint64_t Spool::expire(std::int64_t now_ms) {
    if (options_.max_age_ms <= 0 || stats_.entries == 0 ||
        stats_.oldest_ms > now_ms - options_.max_age_ms)
        return 0;
    const std::int64_t cutoff = now_ms - options_.max_age_ms;
    sqlite3_stmt *s = nullptr;
    sqlite3_prepare_v2(db_,
                       "SELECT count(*), coalesce(sum(bytes), 0) FROM spool WHERE created_ms < ?1",
                       -1, &s, nullptr);
    sqlite3_bind_int64(s, 1, cutoff);
    std::uint64_t n = 0, bytes = 0;
    if (s && sqlite3_step(s) == SQLITE_ROW) {
        n = static_cast<std::uint64_t>(sqlite3_column_int64(s, 0));
        bytes = static_cast<std::uint64_t>(sqlite3_column_int64(s, 1));
    }
    sqlite3_finalize(s);
    if (n == 0)
        return 0;
    sqlite3_prepare_v2(db_, "DELETE FROM spool WHERE created_ms < ?1", -1, &s, nullptr);
    sqlite3_bind_int64(s, 1, cutoff);
    int rc = s ? sqlite3_step(s) : SQLITE_ERROR;
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE)
        return 0;
    stats_.expired += n;
    stats_.entries -= std::min(stats_.entries, n);
    stats_.bytes -= std::min(stats_.bytes, bytes);
    refresh_oldest();
    return n;
}

} // namespace tierd
