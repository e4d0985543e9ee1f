// The serving side of offload (roles edge and cloud): requests arrive on the tier's
// shared subscription, run on this agent's inference plugin on a worker, and the reply
// goes to the request's response topic with its correlation data. Any number of agents
// of one tier share the requests (MQTT 5 shared subscription). Loop thread, except the
// inference itself.
//
// Batching: at most `jobs` inference jobs run at once; requests that arrive meanwhile
// wait, and the next free job takes up to `batch_max` waiting requests for the same model
// as one batch (one infer_batch() call, ABI 1.1, when the plugin offers it). So an idle
// server answers a lone request at once, and a loaded one amortises each forward pass.
//
// Split execution (ABI 1.2): a request carrying a model's crossing tensor runs that
// model's tail (infer_tail); a tier without the sub-model answers `no_model` and the end
// runs the task itself. Link probes are answered at once, without inference. Replies
// carry queue_ms (arrival to compute start) and queue_depth for the end's scheduler.
#pragma once

#include "agent/plugin_host/plugin_instance.hpp"

#include <nlohmann/json.hpp>
#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>

namespace tierd {

class OffloadServer {
  public:
    using InferenceNow = std::function<std::shared_ptr<PluginInstance>()>;
    // Publishes `payload` on `topic` with `correlation` (loop thread).
    using Send = std::function<void(const std::string &topic, const std::string &payload,
                                    const std::string &correlation)>;
    using Release = std::function<void(std::shared_ptr<PluginInstance>)>;

    struct Limits {
        int max_in_flight = 64; // accepted and not yet answered; more are refused "busy"
        int batch_max = 16;     // requests per inference call
        int jobs = 2;           // inference jobs running at once
        // [pipeline] emulate_slowdown: a tier standing in for a slower machine takes this
        // many times the real compute time (the job sleeps the difference).
        double slowdown = 1.0;
    };
    OffloadServer(uv_loop_t *loop, std::string device_id, Limits limits, InferenceNow inference,
                  Send send, Release release);

    // One request message. Never throws; every request with a response topic gets one
    // reply (a result, or an error: bad_request, busy, no_inference, inference_failed).
    void handle(const std::string &payload, const std::string &response_topic,
                const std::string &correlation);
    // Stop taking requests; in-flight ones still reply.
    void stop() { stopping_ = true; }

    // {"served", "failed", "busy", "bad", "in_flight", "waiting", "batches", "batched",
    //  "largest_batch", "expired"}
    nlohmann::json stats() const;

  private:
    struct Request;
    void dispatch();

    uv_loop_t *loop_;
    std::string device_id_;
    Limits limits_;
    std::deque<std::shared_ptr<Request>> waiting_;
    int jobs_running_ = 0;
    uint64_t batches_ = 0, batched_ = 0, largest_batch_ = 0, expired_ = 0, probes_ = 0;
    InferenceNow inference_;
    Send send_;
    Release release_;
    bool stopping_ = false;
    int in_flight_ = 0;
    uint64_t served_ = 0, failed_ = 0, busy_ = 0, bad_ = 0;
};

} // namespace tierd
