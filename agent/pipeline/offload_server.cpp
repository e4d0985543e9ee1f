#include "agent/pipeline/offload_server.hpp"

#include "agent/loop/loop_work.hpp"
#include "agent/pipeline/offload_codec.hpp"

#include <spdlog/spdlog.h>

#include <cstring>
#include <vector>

namespace tierd {
namespace {

constexpr std::uint32_t kMaxScores = 1024;

} // namespace

OffloadServer::OffloadServer(uv_loop_t *loop, std::string device_id, int max_in_flight,
                             InferenceNow inference, Send send, Release release)
    : loop_(loop), device_id_(std::move(device_id)), max_in_flight_(max_in_flight),
      inference_(std::move(inference)), send_(std::move(send)), release_(std::move(release)) {}

void OffloadServer::handle(const std::string &payload, const std::string &response_topic,
                           const std::string &correlation) {
    if (response_topic.empty()) {
        ++bad_;
        spdlog::warn("offload: a request without a response topic was dropped");
        return;
    }
    OffloadReply refusal;
    refusal.device_id = device_id_;
    auto refuse = [&](const char *code, std::string message) {
        refusal.error_code = code;
        refusal.error_message = std::move(message);
        send_(response_topic, encode_offload_reply(refusal), correlation);
    };
    std::string error;
    auto request = decode_offload_request(payload, error);
    if (!request) {
        ++bad_;
        refusal.task_id = correlation;
        return refuse("bad_request", error);
    }
    refusal.task_id = request->task_id;
    if (stopping_)
        return refuse("busy", "the agent is shutting down");
    if (in_flight_ >= max_in_flight_) {
        ++busy_;
        return refuse("busy", std::to_string(in_flight_) + " requests in flight (limit " +
                                  std::to_string(max_in_flight_) + ")");
    }
    auto inference = inference_();
    if (!inference) {
        ++failed_;
        return refuse("no_inference", "no inference plugin is loaded on " + device_id_);
    }

    struct State {
        OffloadRequest request;
        std::shared_ptr<PluginInstance> inference;
        std::string response_topic, correlation;
        OffloadReply reply;
    };
    auto state = std::make_shared<State>();
    state->request = std::move(*request);
    state->inference = std::move(inference);
    state->response_topic = response_topic;
    state->correlation = correlation;
    state->reply.task_id = state->request.task_id;
    state->reply.device_id = device_id_;
    ++in_flight_;

    auto on_worker = [state] {
        const cv::Mat &m = state->request.image;
        tierd_image image{};
        image.struct_size = sizeof image;
        image.format = m.channels() == 1 ? TIERD_PIXEL_GRAY8 : TIERD_PIXEL_BGR8;
        image.width = m.cols;
        image.height = m.rows;
        image.stride_bytes = static_cast<int32_t>(m.step[0]);
        image.data = m.data;
        const std::string source = "offload:" + state->request.device_id;
        tierd_task task{};
        task.struct_size = sizeof task;
        task.task_id = state->request.task_id.c_str();
        task.source = source.c_str();
        task.created_ns = uv_hrtime();
        task.image = &image;
        std::vector<float> scores(kMaxScores);
        tierd_inference_result out{};
        out.scores = scores.data();
        out.score_capacity = kMaxScores;
        auto r = state->inference->infer(task, state->request.model, out);
        OffloadReply &reply = state->reply;
        if (!r.ok()) {
            reply.error_code = "inference_failed";
            reply.error_message = r.to_string();
            return;
        }
        reply.ok = true;
        reply.top_class = out.top_class;
        reply.top_score = out.top_score;
        reply.scores.assign(scores.begin(), scores.begin() + std::min(out.score_count, kMaxScores));
        reply.model = std::string(out.model, strnlen(out.model, sizeof out.model));
        reply.compute_ms = out.compute_ms;
        reply.energy_j = out.energy_j;
        reply.energy_source =
            std::string(out.energy_source, strnlen(out.energy_source, sizeof out.energy_source));
    };
    auto on_loop = [this, state] {
        --in_flight_;
        (state->reply.ok ? served_ : failed_)++;
        send_(state->response_topic, encode_offload_reply(state->reply), state->correlation);
        if (state->inference.use_count() == 1)
            release_(std::move(state->inference));
    };
    queue_loop_work(loop_, std::move(on_worker), std::move(on_loop), "offload request");
}

nlohmann::json OffloadServer::stats() const {
    return {{"served", served_},
            {"failed", failed_},
            {"busy", busy_},
            {"bad", bad_},
            {"in_flight", in_flight_}};
}

} // namespace tierd
