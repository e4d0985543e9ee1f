// The serving side of offload (roles edge and cloud): requests arrive on the tier's
// shared subscription, run on this agent's inference plugin on a worker, and the reply
// goes to the request's response topic with its correlation data. Any number of agents
// of one tier share the requests (MQTT 5 shared subscription). Loop thread, except the
// inference itself.
#pragma once

#include "agent/plugin_host/plugin_instance.hpp"

#include <nlohmann/json.hpp>
#include <uv.h>

#include <cstdint>
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

    OffloadServer(uv_loop_t *loop, std::string device_id, int max_in_flight, InferenceNow inference,
                  Send send, Release release);

    // One request message. Never throws; every request with a response topic gets one
    // reply (a result, or an error: bad_request, busy, no_inference, inference_failed).
    void handle(const std::string &payload, const std::string &response_topic,
                const std::string &correlation);
    // Stop taking requests; in-flight ones still reply.
    void stop() { stopping_ = true; }

    // {"served", "failed", "busy", "bad", "in_flight"}
    nlohmann::json stats() const;

  private:
    uv_loop_t *loop_;
    std::string device_id_;
    int max_in_flight_;
    InferenceNow inference_;
    Send send_;
    Release release_;
    bool stopping_ = false;
    int in_flight_ = 0;
    uint64_t served_ = 0, failed_ = 0, busy_ = 0, bad_ = 0;
};

} // namespace tierd
