// Where the pipeline's images come from: the source plugin ([source] kind, ABI 1.3), read
// ahead on workers into a small buffer the pipeline takes tasks from.
//   pull source (files, cameras): next() in batches of kReadBatch, one batch ahead, up to
//     [source] limit images;
//   message source (the input topic): each message the agent hands to push() is decoded
//     on a worker — by the plugin, or by the host for the offload format "TDI1" — within
//     limits.max_pixels. Messages waiting (buffered, decoding, or running as tasks) are
//     bounded by count and by bytes; beyond either bound workers.overflow decides: reject
//     drops the new message, drop-oldest the oldest buffered image. Every message ends
//     counted: as an image, dropped, undecodable or too_large.
//
// Threads: loop thread, except the plugin calls, which run on libuv's pool.
#pragma once

#include "agent/config/config.hpp"
#include "agent/loop/worker_lane.hpp"
#include "agent/pipeline/source_frame.hpp"

#include <nlohmann/json.hpp>
#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>

namespace tierd {

class FrameIntake {
  public:
    struct Options {
        SourceConfig source;
        std::string device_id;
        std::size_t max_waiting = 128;             // messages waiting, tasks included
        std::size_t max_waiting_bytes = 64u << 20; // their payload or pixel bytes
        std::uint64_t max_pixels = 8u << 20;       // limits.max_pixels
        OverflowPolicy overflow = OverflowPolicy::reject;
    };
    // `source` may be null (the plugin was refused: `failure` says why; the intake reports
    // it and produces nothing). `on_images` runs on the loop whenever images arrive or the
    // source ends. `tasks_running` counts the pipeline's tasks in flight (they count
    // against max_waiting for message sources).
    FrameIntake(uv_loop_t *loop, Options options, std::shared_ptr<PluginInstance> source,
                std::string failure, std::function<void()> on_images,
                std::function<std::size_t()> tasks_running);
    FrameIntake(const FrameIntake &) = delete;
    FrameIntake &operator=(const FrameIntake &) = delete;

    bool is_message_source() const { return message_source_; }
    // Pull sources start reading; a refused plugin is reported as failed.
    void start();
    // One input-topic message (message sources; ignored otherwise and once stopped).
    void push(std::string payload);
    // Counts `n` messages as dropped that never reached push() (held by the agent before
    // the pipeline existed, beyond the same bound).
    void count_dropped(std::uint64_t n) { dropped_ += n; }

    bool has_image() const { return !buffered_.empty(); }
    std::size_t buffered() const { return buffered_.size(); }
    SourceImage take();
    // Reads the next batch if the buffer runs low (pull sources).
    void read_ahead();
    // A pull source that has ended (or failed) with nothing left to hand out.
    bool exhausted() const { return source_done_ && buffered_.empty() && !reading_; }

    void stop();
    // No plugin call or decode of the intake's is still on a worker.
    bool idle() const { return !reading_ && decoder_.idle(); }

    const std::string &state() const { return state_; }
    void set_state(std::string state) { state_ = std::move(state); }
    const std::string &error() const { return error_; }
    std::string description() const;
    // [source] kind as written: "idx", "topic", or a plugin's own kind ("pattern").
    std::string kind_text() const;
    // {"pushed", "dropped", "undecodable", "too_large"} for stats().
    void add_stats(nlohmann::json &stats) const;

    // Images read per worker trip to a pull source.
    static constexpr std::size_t kReadBatch = 32;

  private:
    struct Message {
        std::string payload;
        std::uint64_t seq = 0;
        SourceImage image;
        enum class Outcome { pending, image, undecodable, too_large } outcome = Outcome::pending;
        std::string why;
    };
    void decode(Message &message) const; // worker thread
    void decoded(Message message);       // loop thread
    void add(SourceImage image);
    std::size_t image_bytes(const SourceImage &image) const;

    uv_loop_t *loop_;
    Options options_;
    std::shared_ptr<PluginInstance> source_;
    bool message_source_ = false;
    std::function<void()> on_images_;
    std::function<std::size_t()> tasks_running_;
    WorkerLane<Message> decoder_;

    std::deque<SourceImage> buffered_;
    std::size_t buffered_bytes_ = 0;
    std::size_t decoding_bytes_ = 0;
    bool reading_ = false;
    bool source_done_ = false;
    bool stopping_ = false;
    std::uint64_t taken_ = 0;        // images handed out (for [source] limit)
    std::uint64_t read_ = 0;         // images read from a pull source
    std::string state_ = "starting"; // starting | running | finished | stopped | failed
    std::string error_;
    std::string description_;
    std::uint64_t pushed_ = 0, dropped_ = 0, undecodable_ = 0, too_large_ = 0;
    std::string last_rejection_; // the most recent undecodable or too_large reason
};

} // namespace tierd
