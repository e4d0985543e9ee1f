// The spool's own thread: every call of the spool store (appends, deletes, reads for
// delivery, expiry; for a file also checkpoints, the reserve file, opening and re-opening
// it) runs here, never on the agent's loop. The loop hands it commands through a queue and
// reads its reports (SpoolReport) after a wake-up. With storage = "memory" (MemorySpool)
// the writer's work per command is a container operation; the thread stays, so that the
// loop's side is the same for both stores and a file can take over the memory's entries.
//
// Batching: the writer takes whatever has queued up (up to kMaxBatchCommands commands or
// kMaxBatchBytes of payload) and applies it in one transaction — one commit, one fsync
// with sync = "full" — so the cost per entry falls as the rate rises. If the transaction
// fails it does the same commands one by one: a full disk then costs only the entries that
// do not fit (counted), a lock or an I/O error keeps the rest queued and retried with
// backoff (nothing is dropped for a reason that may pass).
//
// The file: opened on this thread. A file that cannot be used now (locked by another
// process, an unusable -wal, an I/O error: SpoolUnavailable) is left as it is; entries are
// held in a MemorySpool meanwhile (same bounds) and the file is tried again with
// backoff (1 s doubling to 30 s). When it opens, what memory holds is moved into it (after
// the file's own older entries) and the generation changes: seqs handed out before
// belong to the old store, and the loop re-reads from the oldest.
//
// Threads: the public methods are called from one thread (the loop), except that
// take() and wait_done() must not race each other; `wake` is called on the writer thread.
#pragma once

#include "agent/spool/spool.hpp"
#include "agent/spool/spool_store.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tierd {

// What the writer tells the loop. Counters are cumulative for this process.
struct SpoolReport {
    SpoolStats stats;                // all stores of this run together; entries/bytes: now
    std::uint64_t generation = 0;    // seqs are valid within one generation
    std::string where;               // the path, or "memory"
    std::string unavailable;         // why the configured file is not in use now ("" = it is)
    std::string failing;             // why writes are being retried now ("" = they are not)
    std::uint64_t commands_done = 0; // puts, deliveries and refusals applied (in order)
    std::uint64_t puts_done = 0;     // of which puts (stored, dropped or failed)
    std::uint64_t put_bytes_done = 0;
    std::uint64_t undeleted = 0; // acknowledged entries whose delete is being retried
    std::uint64_t batches = 0;   // transactions committed
    // The answer to the latest read(), once entries after its seq exist.
    bool answered = false;
    std::uint64_t read_id = 0;
    std::vector<SpoolEntry> entries;
};

class SpoolWriter {
  public:
    // Called on the writer thread when a new report is ready; must be thread-safe
    // (uv_async_send). Not called after quiet() except for commands' results.
    using Wake = std::function<void()>;

    // Opens `options.path` on the writer thread (retrying as above); "" = a MemorySpool.
    SpoolWriter(SpoolOptions options, Wake wake);
    // Takes a store already open (it moves to the writer thread; no re-opening).
    SpoolWriter(std::unique_ptr<SpoolStore> spool, Wake wake);
    // Applies every command given (a few seconds at most for a file that stays locked;
    // what could not be written then is logged), then ends the thread. Blocks.
    ~SpoolWriter();
    SpoolWriter(const SpoolWriter &) = delete;
    SpoolWriter &operator=(const SpoolWriter &) = delete;

    static constexpr std::size_t kMaxBatchCommands = 2048;
    static constexpr std::size_t kMaxBatchBytes = std::size_t{8} << 20;

    // Commands, applied in the order given. Each returns at once.
    void put(std::string topic, std::string payload, EntryClass cls, std::int64_t created_ms);
    void delivered(std::uint64_t generation, std::int64_t seq);
    void rejected(std::uint64_t generation, std::int64_t seq, bool oversize);
    // Asks for up to `max_entries` entries with seq > after_seq of `generation`. Answered
    // (SpoolReport::answered) as soon as there are some; a later read() replaces it.
    void read(std::uint64_t read_id, std::uint64_t generation, std::int64_t after_seq,
              std::size_t max_entries);
    void cancel_read();
    // From now on wake only for commands' results (the loop is shutting down).
    void quiet();
    // Never call wake again (the loop is gone).
    void detach();

    // The latest report; the entries of an answered read are moved out with it.
    SpoolReport take();
    // Blocks until `commands` commands (counted from the first) are applied or the timeout
    // passes; true when they are.
    bool wait_done(std::uint64_t commands, std::chrono::milliseconds timeout);

  private:
    struct Command {
        enum class Kind { put, delivered, rejected, oversize } kind = Kind::put;
        std::uint64_t generation = 0;
        std::int64_t seq = 0;
        std::int64_t created_ms = 0;
        EntryClass cls = EntryClass::result;
        std::string topic, payload;
    };
    struct Read {
        bool wanted = false;
        std::uint64_t id = 0, generation = 0;
        std::int64_t after = 0;
        std::size_t max = 0;
    };
    using Clock = std::chrono::steady_clock;

    void push(Command c);
    void run();
    void open_file();
    void try_file_again();
    bool move_memory_into(SpoolStore &file);
    // Applies a batch; returns how many of its commands are done (the rest are held).
    std::size_t apply(std::vector<Command> &batch);
    // One command outside a transaction: false when it must be tried again later.
    bool apply_one(Command &c);
    // One command inside a transaction: false when the transaction must be abandoned.
    bool apply_in_transaction(Command &c);
    void retry_undeleted();
    void note_failure(int rc);
    void replace_corrupt_file();
    SpoolStats combined() const;
    void finish();

    // Writer-thread state.
    std::unique_ptr<SpoolStore> store_;
    SpoolOptions file_options_;
    bool want_file_ = false; // the file is configured but not in use (store_ is memory)
    Clock::time_point reopen_at_{};
    std::chrono::milliseconds reopen_backoff_{1000};
    // Commands taken from the queue and not yet applied, in order; after a failure that
    // may pass, applied again from retry_at_ on.
    std::deque<Command> pending_;
    Clock::time_point retry_at_{};
    std::chrono::milliseconds retry_backoff_{50};
    Clock::time_point next_tick_{};
    struct Undeleted {
        std::uint64_t generation;
        std::int64_t seq;
        Command::Kind kind;
    };
    std::vector<Undeleted> undeleted_;
    SpoolStats retired_; // counters of stores no longer in use
    std::uint64_t generation_ = 0;
    std::string unavailable_, failing_;
    std::uint64_t commands_done_ = 0, puts_done_ = 0, put_bytes_done_ = 0, batches_ = 0;

    // Shared with the loop, under mu_.
    std::mutex mu_;
    std::condition_variable work_cv_; // the writer waits for commands
    std::condition_variable done_cv_; // wait_done() waits for the writer
    std::deque<Command> queue_;
    Read read_;
    bool read_changed_ = false;
    bool waiting_ = false; // the writer waits for work_cv_
    bool stopping_ = false;
    bool quiet_ = false;
    bool detached_ = false;
    SpoolReport report_;
    bool answer_ready_ = false;
    std::uint64_t shared_commands_done_ = 0;
    Wake wake_;
    std::thread thread_;
};

} // namespace tierd
