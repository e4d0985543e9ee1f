// The serving side of offload (roles edge and cloud): requests arrive on the tier's
// shared subscription, run on this agent's inference plugin on a worker, and the reply
// goes to the request's response topic with its correlation data. Any number of agents
// of one tier share the requests (MQTT 5 shared subscription). Loop thread, except the
// body decoding and the inference, which run on workers.
//
// Admission (on the loop, from the header alone): a request is refused at once when it
// cannot be answered usefully — malformed (bad_request), an image over max_pixels or a
// request over the byte bound by itself (too_large), no inference plugin (no_inference),
// the server stopping (shutting_down), or too many requests or bytes already accepted
// (busy). Link probes are answered at once, without inference.
//
// Batching: at most `jobs` inference jobs run at once; accepted requests wait, and the
// next free job takes up to `batch_max` waiting requests for the same model (and cut) as
// one batch: it decodes their bodies, then runs one infer_batch() call (ABI 1.1, when the
// plugin offers it) or one infer_tail() per split tensor (ABI 1.2; a tier without the
// sub-model answers `no_model`). So an idle server answers a lone request at once, and a
// loaded one amortises each forward pass. A request that waited here longer than its
// budget_ms is answered `deadline_exceeded` without being computed. Replies carry
// queue_ms (arrival to inference start) and queue_depth for the end's scheduler.
//
// Every request with a response topic gets exactly one reply; every request is counted
// once in stats() (see there).
#pragma once

#include "agent/pipeline/answered_samples.hpp"
#include "agent/pipeline/region_resend.hpp"
#include "agent/plugin_host/plugin_instance.hpp"

#include <nlohmann/json.hpp>
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace tierd {

class OffloadServer {
  public:
    // The inference plugin instance to use now, or null. What it returns must be owned
    // elsewhere too (the agent's plugin set), so that the copy the server takes is never
    // the last one while on the loop.
    using InferenceNow = std::function<std::shared_ptr<PluginInstance>()>;
    // Publishes `payload` on `topic` with `correlation` (loop thread).
    using Send = std::function<void(const std::string &topic, const std::string &payload,
                                    const std::string &correlation)>;
    // Drops a reference to an instance on a worker: if it is the last one, the plugin's
    // stop(), destroy() and dlclose() run there, never on the loop. The server hands back
    // through this every reference it took for a batch. Empty: the server queues that
    // work on libuv's pool itself.
    using Release = std::function<void(std::shared_ptr<PluginInstance>)>;

    // New fields go at the end: callers initialise the first ones by position.
    struct Limits {
        int max_in_flight = 64; // accepted and not yet answered; more are refused "busy"
        int batch_max = 16;     // requests per inference call
        int jobs = 2;           // inference jobs running at once
        // [pipeline] emulate_slowdown: a tier standing in for a slower machine takes this
        // many times the real compute time (the job sleeps the difference).
        double slowdown = 1.0;
        // Bytes of the requests accepted and not yet answered: each counts the larger of
        // its payload and its decoded body. A request that would pass this is refused
        // "busy" (counted in busy and busy_bytes); one over it by itself "too_large".
        std::size_t max_in_flight_bytes = std::size_t{64} * 1024 * 1024;
        // [limits] max_pixels: an image request whose width x height is larger is refused
        // "too_large", from its header, before anything is allocated for it.
        std::int64_t max_pixels = 16'777'216;
    };
    OffloadServer(uv_loop_t *loop, std::string device_id, Limits limits, InferenceNow inference,
                  Send send, Release release);

    // One request message (loop thread). Never throws. Every request with a response
    // topic gets exactly one reply: a result, or an error (bad_request, too_large, busy,
    // no_inference, shutting_down, no_model, inference_failed, deadline_exceeded); one
    // without a response topic is counted "bad" and dropped. Only the header is read here;
    // the body is copied on a worker (pass the payload by std::move to spare a copy).
    void handle(std::string payload, const std::string &response_topic,
                const std::string &correlation);

    // Stops serving (loop thread): new requests are answered "shutting_down" at once;
    // requests waiting (not started) are answered "shutting_down" now, so their ends run
    // them at once; running batches finish and send their replies; then `done` runs on
    // the loop — before stop() returns when no batch runs. `done` is the last thing the
    // server does in that callback, so it may destroy the server. Keep the MQTT
    // connection up until `done`: the replies go out through it. Calling stop() again
    // adds another `done` (each runs once).
    void stop(std::function<void()> done = {});

    // Where the answered images are kept as labelled samples ([offload] keep_answered;
    // answered_samples.hpp), or null. Loop thread; batches started before keep with the
    // keeper they started with.
    void set_answered_samples(std::shared_ptr<AnsweredSamples> keeper) {
        keeper_ = std::move(keeper);
    }

    // Every request is counted once: received = served + failed + busy + bad + too_large
    //   + no_inference + shutting_down + expired + probes + in_flight.
    // {"received", "served" (answered with a result), "failed" (inference_failed or
    //  no_model), "busy" (of them "busy_bytes": over max_in_flight_bytes), "bad"
    //  (bad_request, or no response topic), "too_large", "no_inference", "shutting_down",
    //  "expired" (deadline_exceeded), "probes", "in_flight", "in_flight_bytes", "waiting",
    //  "batches", "batched", "largest_batch", "stopping"}
    nlohmann::json stats() const;

  private:
    struct Request;
    using Batch = std::vector<std::shared_ptr<Request>>;

    void dispatch();
    // Sends `r`'s reply and forgets it (it was accepted: in_flight and its bytes drop).
    void answer(Request &r);
    // Answers every waiting request with `code` (counted in `counter`).
    void refuse_waiting(const char *code, const std::string &message, uint64_t &counter);
    void release(std::shared_ptr<PluginInstance> instance);
    // Runs the stop() callbacks once nothing runs.
    void finish_stop_when_idle();

    uv_loop_t *loop_;
    std::string device_id_;
    Limits limits_;
    std::deque<std::shared_ptr<Request>> waiting_;
    int jobs_running_ = 0;
    InferenceNow inference_;
    Send send_;
    Release release_;
    std::shared_ptr<AnsweredSamples> keeper_;
    // Region re-send: first rounds kept until their second round (workers store and take).
    std::shared_ptr<ResendCache> resends_ = std::make_shared<ResendCache>();
    bool stopping_ = false;
    std::vector<std::function<void()>> stop_done_;
    int in_flight_ = 0;
    std::size_t in_flight_bytes_ = 0;
    uint64_t received_ = 0, served_ = 0, failed_ = 0, busy_ = 0, busy_bytes_ = 0, bad_ = 0,
             too_large_ = 0, no_inference_ = 0, shutting_down_ = 0, expired_ = 0, probes_ = 0;
    uint64_t batches_ = 0, batched_ = 0, largest_batch_ = 0;
};

} // namespace tierd
