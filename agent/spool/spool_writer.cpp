#include "agent/spool/spool_writer.hpp"

#include "agent/loop/background_thread.hpp"
#include "agent/spool/memory_spool.hpp"
#include "agent/spool/spool_clock.hpp"

#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>

namespace tierd {

namespace {

constexpr std::chrono::milliseconds kTick{1000}; // expiry, retried deletes
constexpr std::chrono::milliseconds kRetryMin{50}, kRetryMax{2000};
constexpr std::chrono::milliseconds kReopenMin{1000}, kReopenMax{30000};
// At shutdown, how long writes that keep failing for a reason that may pass are retried.
constexpr std::chrono::milliseconds kFinalRetries{3000};
constexpr std::size_t kMoveChunk = 1024;

void add_counters(SpoolStats &to, const SpoolStats &from) {
    to.recovered += from.recovered;
    to.stored += from.stored;
    to.delivered += from.delivered;
    to.dropped_oldest += from.dropped_oldest;
    to.dropped_newest += from.dropped_newest;
    to.dropped_telemetry += from.dropped_telemetry;
    to.expired += from.expired;
    to.write_failed += from.write_failed;
    to.rejected += from.rejected;
    to.oversize += from.oversize;
    to.over_bound += from.over_bound;
}

bool corrupt_code(int rc) {
    return (rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB;
}

std::unique_ptr<SpoolStore> in_memory(const SpoolOptions &o) {
    return std::make_unique<MemorySpool>(o);
}

} // namespace

SpoolWriter::SpoolWriter(SpoolOptions options, Wake wake)
    : file_options_(std::move(options)), wake_(std::move(wake)) {
    report_.where = file_options_.path.empty() ? "memory" : file_options_.path;
    thread_ = std::thread([this] {
        run_in_background();
        open_file();
        run();
    });
}

SpoolWriter::SpoolWriter(std::unique_ptr<SpoolStore> spool, Wake wake)
    : store_(std::move(spool)), wake_(std::move(wake)) {
    file_options_ = store_->options();
    report_.where = store_->where();
    report_.stats = store_->stats();
    thread_ = std::thread([this] {
        run_in_background();
        run();
    });
}

SpoolWriter::~SpoolWriter() {
    {
        std::lock_guard lk(mu_);
        stopping_ = true;
    }
    work_cv_.notify_one();
    thread_.join();
}

void SpoolWriter::push(Command c) {
    bool idle;
    {
        std::lock_guard lk(mu_);
        queue_.push_back(std::move(c));
        idle = waiting_;
    }
    // A writer at work takes the queue at its next turn: no wake-up call needed.
    if (idle)
        work_cv_.notify_one();
}

void SpoolWriter::put(std::string topic, std::string payload, EntryClass cls,
                      std::int64_t created_ms) {
    Command c;
    c.kind = Command::Kind::put;
    c.topic = std::move(topic);
    c.payload = std::move(payload);
    c.cls = cls;
    c.created_ms = created_ms;
    push(std::move(c));
}

void SpoolWriter::delivered(std::uint64_t generation, std::int64_t seq) {
    Command c;
    c.kind = Command::Kind::delivered;
    c.generation = generation;
    c.seq = seq;
    push(std::move(c));
}

void SpoolWriter::rejected(std::uint64_t generation, std::int64_t seq, bool oversize) {
    Command c;
    c.kind = oversize ? Command::Kind::oversize : Command::Kind::rejected;
    c.generation = generation;
    c.seq = seq;
    push(std::move(c));
}

void SpoolWriter::read(std::uint64_t read_id, std::uint64_t generation, std::int64_t after_seq,
                       std::size_t max_entries) {
    bool idle;
    {
        std::lock_guard lk(mu_);
        read_ = Read{true, read_id, generation, after_seq, max_entries};
        read_changed_ = true;
        idle = waiting_;
    }
    if (idle)
        work_cv_.notify_one();
}

void SpoolWriter::cancel_read() {
    std::lock_guard lk(mu_);
    read_.wanted = false;
}

void SpoolWriter::quiet() {
    std::lock_guard lk(mu_);
    quiet_ = true;
}

void SpoolWriter::detach() {
    std::lock_guard lk(mu_);
    detached_ = true;
}

SpoolReport SpoolWriter::take() {
    std::lock_guard lk(mu_);
    SpoolReport r;
    r.stats = report_.stats;
    r.generation = report_.generation;
    r.where = report_.where;
    r.unavailable = report_.unavailable;
    r.failing = report_.failing;
    r.commands_done = report_.commands_done;
    r.puts_done = report_.puts_done;
    r.put_bytes_done = report_.put_bytes_done;
    r.undeleted = report_.undeleted;
    r.batches = report_.batches;
    if (answer_ready_) {
        r.answered = true;
        r.read_id = report_.read_id;
        r.entries = std::move(report_.entries);
        report_.entries.clear();
        answer_ready_ = false;
    }
    return r;
}

bool SpoolWriter::wait_done(std::uint64_t commands, std::chrono::milliseconds timeout) {
    std::unique_lock lk(mu_);
    return done_cv_.wait_for(lk, timeout, [&] { return shared_commands_done_ >= commands; });
}

void SpoolWriter::open_file() {
    if (file_options_.path.empty()) {
        store_ = in_memory(file_options_);
        return;
    }
    try {
        store_ = std::make_unique<Spool>(file_options_);
    } catch (const std::exception &e) {
        // Not proven corrupt (that would have been kept aside and a new file started):
        // locked, an unusable -wal, an I/O error. Nothing is moved; entries wait in memory.
        unavailable_ = e.what();
        spdlog::error("spool: {}; holding entries in memory meanwhile and trying the file "
                      "again",
                      unavailable_);
        store_ = in_memory(file_options_);
        want_file_ = true;
        reopen_at_ = Clock::now() + reopen_backoff_;
    }
}

bool SpoolWriter::move_memory_into(SpoolStore &file) {
    if (store_->stats().entries == 0)
        return true;
    if (!file.begin())
        return false;
    std::int64_t after = 0;
    for (;;) {
        auto chunk = store_->read_after(after, kMoveChunk);
        if (chunk.empty())
            break;
        for (const auto &e : chunk)
            if (file.adopt(e) == Spool::Append::busy) {
                file.rollback();
                return false;
            }
        after = chunk.back().seq;
    }
    return file.commit();
}

void SpoolWriter::try_file_again() {
    try {
        auto file = std::make_unique<Spool>(file_options_);
        const auto held = store_->stats().entries;
        if (!move_memory_into(*file)) {
            unavailable_ = file_options_.path +
                           ": opened, but the entries held in memory could "
                           "not be written to it: " +
                           sqlite3_errstr(file->last_rc());
            reopen_backoff_ = std::min(reopen_backoff_ * 2, kReopenMax);
            reopen_at_ = Clock::now() + reopen_backoff_;
            return;
        }
        add_counters(retired_, store_->stats());
        store_ = std::move(file);
        want_file_ = false;
        unavailable_.clear();
        ++generation_;
        reopen_backoff_ = kReopenMin;
        spdlog::info("spool {}: usable again; the {} entries held in memory meanwhile are in it",
                     file_options_.path, held);
    } catch (const std::exception &e) {
        unavailable_ = e.what();
        reopen_backoff_ = std::min(reopen_backoff_ * 2, kReopenMax);
        reopen_at_ = Clock::now() + reopen_backoff_;
    }
}

// A statement said the file is corrupt: open it again (the open checks it and keeps a
// corrupt file aside, starting a new one). The held commands then go to the new file.
void SpoolWriter::replace_corrupt_file() {
    if (want_file_ || file_options_.path.empty())
        return;
    spdlog::error("spool {}: SQLite reports the file corrupt; checking it again",
                  file_options_.path);
    add_counters(retired_, store_->stats());
    retired_.recovered -= store_->stats().recovered; // the reopened file counts its own
    store_.reset();
    ++generation_;
    open_file();
}

bool SpoolWriter::apply_in_transaction(Command &c) {
    switch (c.kind) {
    case Command::Kind::put:
        return store_->append(c.topic, c.payload, c.created_ms, c.cls) != Spool::Append::busy;
    case Command::Kind::delivered: return c.generation != generation_ || store_->delivered(c.seq);
    case Command::Kind::rejected:
    case Command::Kind::oversize:
        return c.generation != generation_ ||
               store_->rejected(c.seq, c.kind == Command::Kind::oversize);
    }
    return true;
}

bool SpoolWriter::apply_one(Command &c) {
    switch (c.kind) {
    case Command::Kind::put:
        return store_->append(c.topic, c.payload, c.created_ms, c.cls) != Spool::Append::busy;
    case Command::Kind::delivered:
    case Command::Kind::rejected:
    case Command::Kind::oversize: {
        if (c.generation != generation_)
            return true;
        const bool done = c.kind == Command::Kind::delivered
                              ? store_->delivered(c.seq)
                              : store_->rejected(c.seq, c.kind == Command::Kind::oversize);
        // A delete that failed (a full disk, a lock) is retried every second; later
        // commands need not wait for it.
        if (!done)
            undeleted_.push_back({c.generation, c.seq, c.kind});
        return true;
    }
    }
    return true;
}

std::size_t SpoolWriter::apply(std::vector<Command> &batch) {
    auto done = [this](const Command &c) {
        ++commands_done_;
        if (c.kind == Command::Kind::put) {
            ++puts_done_;
            put_bytes_done_ += c.topic.size() + c.payload.size();
        }
    };
    if (store_->begin()) {
        bool ok = true;
        for (auto &c : batch)
            if (!apply_in_transaction(c)) {
                ok = false;
                break;
            }
        if (ok && store_->commit()) {
            ++batches_;
            for (const auto &c : batch)
                done(c);
            failing_.clear();
            retry_backoff_ = kRetryMin;
            return batch.size();
        }
        store_->rollback();
    }
    // One by one: a full disk costs only what does not fit; a lock or an I/O error stops
    // here and the rest waits for a retry, in order.
    const int rc = store_->last_rc();
    if ((rc & 0xff) == SQLITE_FULL)
        store_->on_disk_full();
    if (corrupt_code(rc))
        replace_corrupt_file();
    std::size_t n = 0;
    for (; n < batch.size(); ++n) {
        if (!apply_one(batch[n]))
            break;
        done(batch[n]);
    }
    if (n < batch.size()) {
        note_failure(store_->last_rc());
        retry_at_ = Clock::now() + retry_backoff_;
        retry_backoff_ = std::min(retry_backoff_ * 2, kRetryMax);
    } else {
        failing_.clear();
        retry_backoff_ = kRetryMin;
    }
    return n;
}

void SpoolWriter::note_failure(int rc) {
    std::string why = std::string(sqlite3_errstr(rc)) + " (retrying; nothing is dropped)";
    if (failing_.empty())
        spdlog::warn("spool {}: writes fail: {}", store_->where(), why);
    failing_ = std::move(why);
}

void SpoolWriter::retry_undeleted() {
    if (undeleted_.empty())
        return;
    std::vector<Undeleted> retry;
    retry.swap(undeleted_);
    for (const auto &u : retry) {
        if (u.generation != generation_)
            continue; // that store is gone; the entry was sent again from the new one
        const bool done = u.kind == Command::Kind::delivered
                              ? store_->delivered(u.seq)
                              : store_->rejected(u.seq, u.kind == Command::Kind::oversize);
        if (!done)
            undeleted_.push_back(u);
    }
}

SpoolStats SpoolWriter::combined() const {
    SpoolStats s = store_->stats();
    add_counters(s, retired_);
    return s;
}

void SpoolWriter::run() {
    next_tick_ = Clock::now() + kTick;
    Clock::time_point stop_deadline{};
    std::unique_lock lk(mu_);
    bool first = true;
    for (;;) {
        const bool initial = first;
        first = false;
        if (!initial) {
            auto deadline = next_tick_;
            if (!pending_.empty())
                deadline = std::min(deadline, retry_at_);
            if (want_file_)
                deadline = std::min(deadline, reopen_at_);
            waiting_ = true;
            work_cv_.wait_until(lk, deadline, [&] {
                return read_changed_ || stopping_ || !queue_.empty() ||
                       (!pending_.empty() && Clock::now() >= retry_at_);
            });
            waiting_ = false;
        }
        const bool stopping = stopping_;
        if (stopping && stop_deadline == Clock::time_point{})
            stop_deadline = Clock::now() + kFinalRetries;
        // The loop waits for this lock in put(): hold it for O(1) only.
        std::deque<Command> incoming;
        incoming.swap(queue_);
        const Read rd = read_;
        read_changed_ = false;
        lk.unlock();

        bool changed = initial;
        const auto done_before = commands_done_;
        for (auto &c : incoming)
            pending_.push_back(std::move(c));
        incoming.clear();
        const auto now = Clock::now();
        if (want_file_ && (now >= reopen_at_ || stopping)) {
            const auto gen = generation_;
            try_file_again();
            changed = changed || gen != generation_;
        }
        if (!pending_.empty() && now >= retry_at_) {
            // One transaction per cycle, then the read and the report: deliveries need not
            // wait for a long backlog to be written.
            std::vector<Command> batch;
            std::size_t bytes = 0;
            while (!pending_.empty() && batch.size() < kMaxBatchCommands &&
                   bytes < kMaxBatchBytes) {
                bytes += pending_.front().payload.size();
                batch.push_back(std::move(pending_.front()));
                pending_.pop_front();
            }
            const std::size_t n = apply(batch);
            pending_.insert(pending_.begin(),
                            std::make_move_iterator(batch.begin() + static_cast<std::ptrdiff_t>(n)),
                            std::make_move_iterator(batch.end()));
            changed = true;
        }
        if (now >= next_tick_) {
            next_tick_ = now + kTick;
            const auto undeleted = undeleted_.size();
            retry_undeleted();
            std::uint64_t expired = 0;
            const auto now_ms = spool_now_ms();
            if (store_->expiry_due(now_ms) && store_->begin()) {
                expired = store_->expire(now_ms);
                if (!store_->commit())
                    expired = 0;
            }
            if (expired > 0)
                spdlog::warn("spool: {} entries older than {} s dropped undelivered", expired,
                             store_->options().max_age_ms / 1000);
            changed = changed || expired > 0 || undeleted != undeleted_.size();
        }
        std::vector<SpoolEntry> answer;
        if (rd.wanted && rd.generation == generation_ && store_->has_after(rd.after))
            answer = store_->read_after(rd.after, rd.max);
        // At shutdown, writes that keep failing are given up after a while (logged).
        if (stopping && !pending_.empty() && !failing_.empty() && Clock::now() >= stop_deadline) {
            std::uint64_t puts = 0;
            for (const auto &c : pending_)
                puts += c.kind == Command::Kind::put ? 1 : 0;
            retired_.write_failed += puts;
            spdlog::error("spool {}: {} entries could not be written before the agent stopped "
                          "({}); they are lost (counted in spool.write_failed)",
                          store_->where(), puts, failing_);
            commands_done_ += pending_.size();
            pending_.clear();
            changed = true;
        }

        lk.lock();
        report_.stats = combined();
        report_.generation = generation_;
        report_.where = file_options_.path.empty() ? "memory" : file_options_.path;
        report_.unavailable = unavailable_;
        report_.failing = failing_;
        report_.commands_done = commands_done_;
        report_.puts_done = puts_done_;
        report_.put_bytes_done = put_bytes_done_;
        report_.undeleted = undeleted_.size();
        report_.batches = batches_;
        shared_commands_done_ = commands_done_;
        const bool answered = !answer.empty();
        if (answered) {
            report_.read_id = rd.id;
            report_.entries = std::move(answer);
            answer_ready_ = true;
            if (read_.id == rd.id)
                read_.wanted = false;
        }
        done_cv_.notify_all();
        const bool for_commands = commands_done_ != done_before || answered;
        if (!detached_ && (changed || answered) && (!quiet_ || for_commands))
            wake_();
        if (stopping_ && queue_.empty() && pending_.empty())
            break;
    }
    lk.unlock();
    finish();
}

void SpoolWriter::finish() {
    if (want_file_ && store_->stats().entries > 0) {
        try_file_again();
        if (want_file_)
            spdlog::error("spool: {} entries held in memory could not be written to {} ({}); "
                          "they are lost",
                          store_->stats().entries, file_options_.path, unavailable_);
    }
    store_.reset();
}

} // namespace tierd
