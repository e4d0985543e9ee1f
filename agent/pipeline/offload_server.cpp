#include "agent/pipeline/offload_server.hpp"

#include "agent/loop/loop_work.hpp"
#include "agent/pipeline/offload_codec.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

namespace tierd {
namespace {

constexpr std::uint32_t kMaxScores = 1024;

// The reply for one answered request (worker thread; touches only that request).
void fill_reply(OffloadReply &reply, const PluginCallResult &result,
                const tierd_inference_result &out) {
    if (!result.ok()) {
        // A tier without the asked-for split sub-model says so; the end falls back.
        reply.error_code = result.code == TIERD_ENOENT ? "no_model" : "inference_failed";
        reply.error_message = result.to_string();
        return;
    }
    reply.ok = true;
    reply.top_class = out.top_class;
    reply.top_score = out.top_score;
    reply.scores.assign(out.scores, out.scores + std::min(out.score_count, out.score_capacity));
    reply.model = std::string(out.model, strnlen(out.model, sizeof out.model));
    reply.compute_ms = out.compute_ms;
    reply.energy_j = out.energy_j;
    reply.energy_source =
        std::string(out.energy_source, strnlen(out.energy_source, sizeof out.energy_source));
}

// Split tails: one infer_tail() per request (worker thread).
template <class Batch> void run_tails(Batch &batch, PluginInstance &inference) {
    std::vector<float> scores(kMaxScores);
    for (auto &r : batch) {
        const OffloadRequest &req = r->request;
        const std::string source = "offload:" + req.device_id;
        tierd_task task{};
        task.struct_size = sizeof task;
        task.task_id = req.task_id.c_str();
        task.source = source.c_str();
        task.created_ns = uv_hrtime();
        tierd_tensor input{};
        input.struct_size = sizeof input;
        input.rank = static_cast<uint32_t>(std::min<std::size_t>(req.shape.size(), 4));
        for (uint32_t i = 0; i < input.rank; ++i)
            input.shape[i] = req.shape[i];
        input.data = const_cast<float *>(req.tensor.data()); // read-only by the ABI's rule
        input.count = static_cast<uint32_t>(req.tensor.size());
        input.capacity = input.count;
        tierd_inference_result out{};
        out.struct_size = sizeof out;
        out.scores = scores.data();
        out.score_capacity = kMaxScores;
        auto result = inference.infer_tail(task, req.model, req.cut_layer, input, out);
        r->reply.cut_layer = req.cut_layer;
        fill_reply(r->reply, result, out);
    }
}

// Whole images: one infer_batch() call (worker thread).
template <class Batch>
void run_images(Batch &batch, PluginInstance &inference, const std::string &model,
                bool &used_batch) {
    const std::size_t n = batch.size();
    std::vector<tierd_image> images(n);
    std::vector<tierd_task> tasks(n);
    std::vector<std::string> sources(n);
    std::vector<const tierd_task *> task_ptrs(n);
    std::vector<std::vector<float>> scores(n, std::vector<float>(kMaxScores));
    std::vector<tierd_inference_result> outs(n);
    for (std::size_t i = 0; i < n; ++i) {
        const OffloadRequest &req = batch[i]->request;
        const cv::Mat &m = req.image;
        images[i].struct_size = sizeof(tierd_image);
        images[i].format = m.channels() == 1 ? TIERD_PIXEL_GRAY8 : TIERD_PIXEL_BGR8;
        images[i].width = m.cols;
        images[i].height = m.rows;
        images[i].stride_bytes = static_cast<int32_t>(m.step[0]);
        images[i].data = m.data;
        sources[i] = "offload:" + req.device_id;
        tasks[i].struct_size = sizeof(tierd_task);
        tasks[i].task_id = req.task_id.c_str();
        tasks[i].source = sources[i].c_str();
        tasks[i].created_ns = uv_hrtime();
        tasks[i].image = &images[i];
        task_ptrs[i] = &tasks[i];
        outs[i].scores = scores[i].data();
        outs[i].score_capacity = kMaxScores;
    }
    bool batched = false;
    auto results = inference.infer_batch(task_ptrs, model, outs, &batched);
    used_batch = batched;
    for (std::size_t i = 0; i < n; ++i)
        fill_reply(batch[i]->reply, results[i], outs[i]);
}

// A tier that stands in for a slower machine: the batch's compute takes `slowdown` times
// its real time (worker thread; sleeps the difference).
template <class Batch> void emulate_slowdown(Batch &batch, double slowdown, uint64_t started) {
    if (slowdown <= 1.0)
        return;
    const double real_ms = static_cast<double>(uv_hrtime() - started) / 1e6;
    std::this_thread::sleep_for(
        std::chrono::duration<double, std::milli>(real_ms * (slowdown - 1.0)));
    for (auto &r : batch)
        r->reply.compute_ms *= slowdown;
}

} // namespace

// One accepted request, from its arrival to its reply.
struct OffloadServer::Request {
    OffloadRequest request;
    uint64_t arrived_ns = 0; // when this agent received it (the end's clock is not ours)
    std::string response_topic, correlation;
    OffloadReply reply;
    // Requests batch together when this matches: the model, and for split tensors the cut.
    std::string batch_key() const {
        return request.model + "#" + std::to_string(request.cut_layer);
    }
};

OffloadServer::OffloadServer(uv_loop_t *loop, std::string device_id, Limits limits,
                             InferenceNow inference, Send send, Release release)
    : loop_(loop), device_id_(std::move(device_id)), limits_(limits),
      inference_(std::move(inference)), send_(std::move(send)), release_(std::move(release)) {
    limits_.batch_max = std::max(1, limits_.batch_max);
    limits_.jobs = std::max(1, limits_.jobs);
}

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
    if (request->payload == OffloadRequest::Payload::probe) {
        // A link probe measures the network: answered at once, no inference.
        OffloadReply pong;
        pong.task_id = request->task_id;
        pong.device_id = device_id_;
        pong.ok = true;
        pong.probe = true;
        pong.queue_depth = static_cast<int>(waiting_.size());
        ++probes_;
        send_(response_topic, encode_offload_reply(pong), correlation);
        return;
    }
    if (stopping_)
        return refuse("busy", "the agent is shutting down");
    if (in_flight_ >= limits_.max_in_flight) {
        ++busy_;
        return refuse("busy", std::to_string(in_flight_) + " requests in flight (limit " +
                                  std::to_string(limits_.max_in_flight) + ")");
    }
    if (!inference_()) {
        ++failed_;
        return refuse("no_inference", "no inference plugin is loaded on " + device_id_);
    }
    auto r = std::make_shared<Request>();
    r->request = std::move(*request);
    r->response_topic = response_topic;
    r->correlation = correlation;
    r->reply.task_id = r->request.task_id;
    r->reply.device_id = device_id_;
    r->arrived_ns = uv_hrtime();
    ++in_flight_;
    waiting_.push_back(std::move(r));
    dispatch();
}

void OffloadServer::dispatch() {
    while (!waiting_.empty() && jobs_running_ < limits_.jobs) {
        auto inference = inference_();
        if (!inference) { // unloaded while they waited
            for (auto &r : waiting_) {
                r->reply.error_code = "no_inference";
                r->reply.error_message = "no inference plugin is loaded on " + device_id_;
                --in_flight_;
                ++failed_;
                send_(r->response_topic, encode_offload_reply(r->reply), r->correlation);
            }
            waiting_.clear();
            return;
        }
        // A request that waited here past its deadline is answered at once: the end has
        // given up on it and run the task itself, so computing it would be wasted.
        const uint64_t now = uv_hrtime();
        for (auto it = waiting_.begin(); it != waiting_.end();) {
            const Request &w = **it;
            const double waited_ms = static_cast<double>(now - w.arrived_ns) / 1e6;
            if (w.request.deadline_ms <= 0.0 || waited_ms < w.request.deadline_ms) {
                ++it;
                continue;
            }
            (*it)->reply.error_code = "deadline_exceeded";
            (*it)->reply.error_message = "waited " + std::to_string(waited_ms) +
                                         " ms here; the deadline was " +
                                         std::to_string(w.request.deadline_ms) + " ms";
            --in_flight_;
            ++expired_;
            send_((*it)->response_topic, encode_offload_reply((*it)->reply), (*it)->correlation);
            it = waiting_.erase(it);
        }
        if (waiting_.empty())
            return;
        // The oldest waiting request and the others for the same model, up to batch_max.
        auto batch = std::make_shared<std::vector<std::shared_ptr<Request>>>();
        const std::string model = waiting_.front()->request.model;
        const std::string key = waiting_.front()->batch_key();
        for (auto it = waiting_.begin();
             it != waiting_.end() && batch->size() < static_cast<std::size_t>(limits_.batch_max);) {
            if ((*it)->batch_key() == key) {
                batch->push_back(std::move(*it));
                it = waiting_.erase(it);
            } else {
                ++it;
            }
        }
        ++jobs_running_;
        const int depth = static_cast<int>(waiting_.size());
        for (auto &r : *batch)
            r->reply.queue_depth = depth;
        auto used_batch = std::make_shared<bool>(false);
        auto on_worker = [batch, inference, model, used_batch, slowdown = limits_.slowdown] {
            const uint64_t started = uv_hrtime();
            for (auto &r : *batch)
                r->reply.queue_ms = static_cast<double>(started - r->arrived_ns) / 1e6;
            if ((*batch)[0]->request.payload == OffloadRequest::Payload::tensor)
                run_tails(*batch, *inference);
            else
                run_images(*batch, *inference, model, *used_batch);
            emulate_slowdown(*batch, slowdown, started);
        };
        auto on_loop = [this, batch, inference, used_batch]() mutable {
            --jobs_running_;
            ++batches_;
            if (*used_batch)
                batched_ += batch->size();
            largest_batch_ = std::max<uint64_t>(largest_batch_, batch->size());
            for (auto &r : *batch) {
                --in_flight_;
                (r->reply.ok ? served_ : failed_)++;
                send_(r->response_topic, encode_offload_reply(r->reply), r->correlation);
            }
            if (inference.use_count() == 1)
                release_(std::move(inference));
            dispatch();
        };
        queue_loop_work(loop_, std::move(on_worker), std::move(on_loop), "offload batch");
    }
}

nlohmann::json OffloadServer::stats() const {
    return {{"served", served_},   {"failed", failed_},       {"busy", busy_},
            {"bad", bad_},         {"in_flight", in_flight_}, {"waiting", waiting_.size()},
            {"batches", batches_}, {"batched", batched_},     {"largest_batch", largest_batch_},
            {"expired", expired_}, {"probes", probes_}};
}

} // namespace tierd
