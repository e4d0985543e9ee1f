#include "agent/pipeline/offload_server.hpp"

#include "agent/loop/loop_work.hpp"
#include "agent/pipeline/offload_codec.hpp"
#include "agent/pipeline/region_resend.hpp"

#include <opencv2/imgproc.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <thread>
#include <vector>

namespace tierd {
namespace {

constexpr std::uint32_t kMaxScores = 1024;
constexpr std::uint32_t kMaxDetections = 256; // boxes a reply carries at most
// Floats a feature map may take before the plugin asks for more (TIERD_ERANGE): det-heavy's
// p8 map is 64 x 44 x 80 = 225,280.
constexpr std::uint32_t kFeatureFloats = 256 * 1024;

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
    // A detector's boxes (ABI 1.4), in pixels of the image the request carried.
    const std::uint32_t boxes = tierd_result_detection_count(&out);
    if (boxes > 0 || (out.detections != nullptr && out.image_width > 0)) {
        reply.detections.assign(out.detections, out.detections + boxes);
        reply.image_width = out.image_width;
        reply.image_height = out.image_height;
    }
}

// The map a detector handed out, encoded into the reply (worker thread). A model with no
// feature map (count 0, or not [C, H, W]) answers without one: the end fuses nothing then.
void attach_features(OffloadReply &reply, FeatureCompression compression, const tierd_tensor &map,
                     const tierd_inference_result &out) {
    if (map.count == 0 || map.rank != 3)
        return;
    const int c = map.shape[0], h = map.shape[1], w = map.shape[2];
    try {
        std::vector<std::uint8_t> cells;
        if (compression == FeatureCompression::regions)
            cells = feature_region_cells(out.detections, tierd_result_detection_count(&out),
                                         out.image_width, out.image_height, h, w);
        reply.feature_bytes = encode_feature_map(map.data, c, h, w, compression, cells);
        reply.features = compression;
        reply.feature_shape = {c, h, w};
    } catch (const std::exception &e) {
        spdlog::warn("offload: the feature map of {} is not sent: {}", reply.task_id, e.what());
    }
}

// Split tails: one infer_tail() per request (worker thread).
template <class Batch> void run_tails(Batch &batch, PluginInstance &inference) {
    std::vector<float> scores(kMaxScores);
    for (auto &r : batch) {
        const OffloadRequest &req = r->header.request;
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
    std::vector<std::vector<tierd_detection>> boxes(n,
                                                    std::vector<tierd_detection>(kMaxDetections));
    std::vector<tierd_inference_result> outs(n);
    // Feature maps for the requests that ask for one (feature fusion on the end).
    std::vector<std::vector<float>> maps(n);
    std::vector<tierd_tensor> tensors(n);
    for (std::size_t i = 0; i < n; ++i) {
        const OffloadRequest &req = batch[i]->header.request;
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
        outs[i].detections = boxes[i].data();
        outs[i].detection_capacity = kMaxDetections;
        if (req.features != FeatureCompression::none) {
            maps[i].resize(kFeatureFloats);
            tensors[i].struct_size = sizeof(tierd_tensor);
            tensors[i].data = maps[i].data();
            tensors[i].capacity = kFeatureFloats;
            outs[i].features = &tensors[i];
        }
    }
    bool batched = false;
    auto results = inference.infer_batch(task_ptrs, model, outs, &batched);
    used_batch = batched;
    for (std::size_t i = 0; i < n; ++i) {
        // A map larger than the buffer: once more, alone, with the room it asked for.
        if (results[i].code == TIERD_ERANGE && outs[i].features != nullptr &&
            tensors[i].count > tensors[i].capacity && tensors[i].count <= kFeatureMaxValues) {
            maps[i].resize(tensors[i].count);
            tensors[i].data = maps[i].data();
            tensors[i].capacity = tensors[i].count;
            std::vector<tierd_inference_result> one{outs[i]};
            bool unused = false;
            auto again = inference.infer_batch({task_ptrs[i]}, model, one, &unused);
            results[i] = again[0];
            outs[i] = one[0];
        }
        fill_reply(batch[i]->reply, results[i], outs[i]);
        if (outs[i].features != nullptr && batch[i]->reply.ok)
            attach_features(batch[i]->reply, batch[i]->header.request.features, tensors[i],
                            outs[i]);
    }
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

// The key a re-send round is kept under: the asking device and its task.
std::string resend_key(const OffloadRequest &r) {
    return r.device_id + "\n" + r.task_id;
}

// Region re-send, before the inference (worker): a first round's small frame is resized
// back to the frame's size; a second round's regions are pasted into the first round's
// frame (kept in `cache`), so that both run as whole images. False (and the reply's error
// set) when the second round has nothing to paste into.
bool prepare_resend(OffloadRequest &r, ResendCache &cache, ResendState &first,
                    OffloadReply &reply) {
    if (r.resend.on) {
        cv::Mat frame;
        cv::resize(r.image, frame, cv::Size(r.resend.frame_width, r.resend.frame_height), 0, 0,
                   cv::INTER_LINEAR);
        r.image = frame;
        return true;
    }
    if (r.payload != OffloadRequest::Payload::regions)
        return true;
    auto kept = cache.take(resend_key(r), uv_hrtime());
    if (!kept) {
        reply.error_code = "resend_expired";
        reply.error_message =
            "no first round of " + r.task_id + " is kept here (expired, or never asked for)";
        return false;
    }
    first = std::move(*kept);
    cv::Mat composite = first.frame.clone();
    const cv::Rect whole(0, 0, composite.cols, composite.rows);
    for (std::size_t i = 0; i < r.regions.size(); ++i) {
        const cv::Rect &rect = r.regions[i];
        if ((rect & whole) != rect || r.region_images[i].type() != composite.type()) {
            reply.error_code = "bad_request";
            reply.error_message = "region " + std::to_string(i) + " is not inside the frame";
            return false;
        }
        r.region_images[i].copyTo(composite(rect));
    }
    r.image = composite;
    return true;
}

// Region re-send, after the inference (worker): a first round that is unsure of some
// boxes keeps its frame and asks for their regions; a second round's boxes replace the
// first round's inside the regions.
void finish_resend(OffloadRequest &r, ResendCache &cache, ResendState &first, OffloadReply &reply,
                   uint64_t arrived_ns) {
    if (!reply.ok)
        return;
    if (r.resend.on) {
        const cv::Size size(r.resend.frame_width, r.resend.frame_height);
        auto regions = uncertain_regions(reply.detections, r.resend.sure, r.resend.unsure, size,
                                         r.resend.margin);
        if (regions.empty())
            return; // sure of everything: final
        ResendState keep;
        keep.frame = r.image;
        keep.boxes = reply.detections;
        keep.regions = regions;
        // Kept for the end's budget (at least 2 s): a second round later than that is moot.
        const double keep_ms = std::max(2000.0, r.budget_ms);
        keep.expires_ns = arrived_ns + static_cast<uint64_t>(keep_ms * 1e6);
        cache.put(resend_key(r), std::move(keep), uv_hrtime());
        reply.resend = std::move(regions);
    } else if (r.payload == OffloadRequest::Payload::regions) {
        reply.detections = merge_resend(first.boxes, reply.detections, first.regions);
        reply.image_width = first.frame.cols;
        reply.image_height = first.frame.rows;
    }
}

// One batch on a worker: decode the bodies, run the inference, then free the large
// buffers here rather than on the loop. A request whose body cannot be decoded (memory)
// keeps the reply set before the job: inference_failed.
template <class Batch>
void run_batch(Batch &batch, PluginInstance &inference, const std::string &model, double slowdown,
               bool &used_batch, AnsweredSamples *keeper, ResendCache &resends) {
    Batch ready;
    std::map<const void *, ResendState> firsts; // second rounds: their first round
    for (auto &r : batch) {
        try {
            decode_offload_body(r->header, r->payload);
            if (prepare_resend(r->header.request, resends, firsts[r.get()], r->reply))
                ready.push_back(r);
        } catch (const std::exception &e) {
            r->reply.error_message = std::string("decoding the request failed: ") + e.what();
        }
        std::string().swap(r->payload);
    }
    if (!ready.empty()) {
        const uint64_t started = uv_hrtime();
        for (auto &r : ready)
            r->reply.queue_ms = static_cast<double>(started - r->arrived_ns) / 1e6;
        if (ready[0]->header.request.payload == OffloadRequest::Payload::tensor)
            run_tails(ready, inference);
        else
            run_images(ready, inference, model, used_batch);
        emulate_slowdown(ready, slowdown, started);
        for (auto &r : ready)
            finish_resend(r->header.request, resends, firsts[r.get()], r->reply, r->arrived_ns);
        if (keeper)
            for (auto &r : ready)
                if (r->reply.ok && r->reply.top_class >= 0)
                    keeper->keep(r->header.request.device_id, r->header.request.image,
                                 r->reply.top_class, r->reply.top_score, r->header.request.task_id);
    }
    for (auto &r : batch) {
        r->header.request.image.release();
        std::vector<float>().swap(r->header.request.tensor);
        r->header.request.region_images.clear();
    }
}

std::string megabytes(std::size_t bytes) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f MB", static_cast<double>(bytes) / 1e6);
    return text;
}

} // namespace

// One accepted request, from its arrival to its reply.
struct OffloadServer::Request {
    // header.request holds the header's fields; its image or tensor is filled on the
    // worker that runs the request's batch, from `payload`.
    OffloadRequestHeader header;
    std::string payload;     // the message as received, until its body is decoded
    std::size_t bytes = 0;   // charged against max_in_flight_bytes while accepted
    uint64_t arrived_ns = 0; // when this agent received it (the end's clock is not ours)
    std::string response_topic, correlation;
    OffloadReply reply;
    // Requests batch together when this matches: the model, and for split tensors the cut.
    std::string batch_key() const {
        return header.request.model + "#" + std::to_string(header.request.cut_layer);
    }
};

OffloadServer::OffloadServer(uv_loop_t *loop, std::string device_id, Limits limits,
                             InferenceNow inference, Send send, Release release)
    : loop_(loop), device_id_(std::move(device_id)), limits_(limits),
      inference_(std::move(inference)), send_(std::move(send)), release_(std::move(release)) {
    limits_.batch_max = std::max(1, limits_.batch_max);
    limits_.jobs = std::max(1, limits_.jobs);
}

void OffloadServer::handle(std::string payload, const std::string &response_topic,
                           const std::string &correlation) {
    ++received_;
    if (response_topic.empty()) {
        ++bad_;
        spdlog::warn("offload: a request without a response topic was dropped");
        return;
    }
    OffloadReply refusal;
    refusal.device_id = device_id_;
    refusal.task_id = correlation;
    auto refuse = [&](uint64_t &counter, const char *code, std::string message) {
        ++counter;
        refusal.error_code = code;
        refusal.error_message = std::move(message);
        send_(response_topic, encode_offload_reply(refusal), correlation);
    };
    // The header only: its cost does not grow with the body, which a worker copies.
    std::string error;
    auto header = decode_offload_header(payload, error);
    if (!header)
        return refuse(bad_, "bad_request", error);
    const OffloadRequest &request = header->request;
    refusal.task_id = request.task_id;
    if (request.payload == OffloadRequest::Payload::probe) {
        // A link probe measures the network: answered at once, no inference.
        OffloadReply pong;
        pong.task_id = request.task_id;
        pong.device_id = device_id_;
        pong.ok = true;
        pong.probe = true;
        pong.queue_depth = static_cast<int>(waiting_.size());
        ++probes_;
        send_(response_topic, encode_offload_reply(pong), correlation);
        return;
    }
    if (stopping_)
        return refuse(shutting_down_, "shutting_down",
                      "the agent is shutting down and takes no new requests");
    if (request.payload == OffloadRequest::Payload::image && request.resend.on &&
        static_cast<std::int64_t>(request.resend.frame_width) * request.resend.frame_height >
            limits_.max_pixels)
        return refuse(too_large_, "too_large",
                      "the re-send frame has more pixels than this agent's limit of " +
                          std::to_string(limits_.max_pixels) + " (limits.max_pixels)");
    if (request.payload == OffloadRequest::Payload::image &&
        header->image_pixels() > limits_.max_pixels)
        return refuse(too_large_, "too_large",
                      "image " + std::to_string(header->image_width) + "x" +
                          std::to_string(header->image_height) + " has " +
                          std::to_string(header->image_pixels()) +
                          " pixels, over this agent's limit of " +
                          std::to_string(limits_.max_pixels) + " (limits.max_pixels)");
    // What the request holds here: its payload until the worker decodes it, then the
    // decoded body (for an i8 tensor four times the payload).
    const std::size_t bytes = std::max(payload.size(), header->decoded_bytes);
    if (bytes > limits_.max_in_flight_bytes)
        return refuse(too_large_, "too_large",
                      "the request takes " + megabytes(bytes) + " here, over the " +
                          megabytes(limits_.max_in_flight_bytes) +
                          " this agent holds for all requests at once");
    if (!inference_())
        return refuse(no_inference_, "no_inference",
                      "no inference plugin is loaded on " + device_id_);
    if (in_flight_ >= limits_.max_in_flight)
        return refuse(busy_, "busy",
                      std::to_string(in_flight_) + " requests in flight (limit " +
                          std::to_string(limits_.max_in_flight) + ")");
    if (in_flight_bytes_ + bytes > limits_.max_in_flight_bytes) {
        ++busy_bytes_;
        return refuse(busy_, "busy",
                      megabytes(in_flight_bytes_) + " of requests in flight; this one's " +
                          megabytes(bytes) + " would pass the limit of " +
                          megabytes(limits_.max_in_flight_bytes));
    }
    auto r = std::make_shared<Request>();
    r->header = std::move(*header);
    r->payload = std::move(payload);
    r->bytes = bytes;
    r->response_topic = response_topic;
    r->correlation = correlation;
    r->reply.task_id = r->header.request.task_id;
    r->reply.device_id = device_id_;
    r->arrived_ns = uv_hrtime();
    ++in_flight_;
    in_flight_bytes_ += bytes;
    waiting_.push_back(std::move(r));
    dispatch();
}

void OffloadServer::answer(Request &r) {
    --in_flight_;
    in_flight_bytes_ -= r.bytes;
    r.bytes = 0;
    send_(r.response_topic, encode_offload_reply(r.reply), r.correlation);
}

void OffloadServer::refuse_waiting(const char *code, const std::string &message,
                                   uint64_t &counter) {
    Batch doomed(std::make_move_iterator(waiting_.begin()),
                 std::make_move_iterator(waiting_.end()));
    waiting_.clear();
    for (auto &r : doomed) {
        r->reply.error_code = code;
        r->reply.error_message = message;
        ++counter;
        answer(*r);
    }
    // Their payloads (up to max_in_flight_bytes) are freed on a worker.
    if (!doomed.empty())
        queue_loop_work(
            loop_, [doomed = std::move(doomed)]() mutable { doomed.clear(); }, {},
            "offload discard");
}

void OffloadServer::release(std::shared_ptr<PluginInstance> instance) {
    if (!instance)
        return;
    if (release_)
        return release_(std::move(instance));
    queue_loop_work(
        loop_, [instance = std::move(instance)]() mutable { instance.reset(); }, {},
        "offload release");
}

void OffloadServer::dispatch() {
    // Once stopping, waiting requests were answered and new ones are refused: nothing
    // new starts.
    while (!stopping_ && !waiting_.empty() && jobs_running_ < limits_.jobs) {
        auto inference = inference_();
        if (!inference) // unloaded while they waited
            return refuse_waiting("no_inference", "no inference plugin is loaded on " + device_id_,
                                  no_inference_);
        // A request that waited here past its budget is answered at once: the end has
        // given up on it and run the task itself, so computing it would be wasted.
        const uint64_t now = uv_hrtime();
        Batch expired;
        for (auto it = waiting_.begin(); it != waiting_.end();) {
            Request &w = **it;
            const double budget_ms = w.header.request.budget_ms;
            const double waited_ms = static_cast<double>(now - w.arrived_ns) / 1e6;
            if (budget_ms <= 0.0 || waited_ms < budget_ms) {
                ++it;
                continue;
            }
            w.reply.error_code = "deadline_exceeded";
            w.reply.error_message = "waited " + std::to_string(waited_ms) +
                                    " ms here; the end waits " + std::to_string(budget_ms) +
                                    " ms from its publish (budget_ms)";
            ++expired_;
            answer(w);
            expired.push_back(std::move(*it));
            it = waiting_.erase(it);
        }
        if (!expired.empty())
            queue_loop_work(
                loop_, [expired = std::move(expired)]() mutable { expired.clear(); }, {},
                "offload discard");
        if (waiting_.empty())
            return;
        // The oldest waiting request and the others for the same model, up to batch_max.
        auto batch = std::make_shared<Batch>();
        const std::string model = waiting_.front()->header.request.model;
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
        for (auto &r : *batch) {
            r->reply.queue_depth = depth;
            // Stays when the job fails before answering (an exception on the worker).
            r->reply.error_code = "inference_failed";
            r->reply.error_message = "the inference job failed on " + device_id_;
        }
        auto used_batch = std::make_shared<bool>(false);
        // The job's reference to the instance lives in `held`, not in the lambdas: the
        // loop hands it to release() (a worker drops it), so when the plugin was unloaded
        // meanwhile its teardown never runs on the loop.
        auto held = std::make_shared<std::shared_ptr<PluginInstance>>(std::move(inference));
        auto on_worker = [batch, held, model, used_batch, slowdown = limits_.slowdown,
                          keeper = keeper_, resends = resends_] {
            run_batch(*batch, **held, model, slowdown, *used_batch, keeper.get(), *resends);
        };
        auto on_loop = [this, batch, held, used_batch] {
            --jobs_running_;
            ++batches_;
            if (*used_batch)
                batched_ += batch->size();
            largest_batch_ = std::max<uint64_t>(largest_batch_, batch->size());
            for (auto &r : *batch) {
                (r->reply.ok ? served_ : failed_)++;
                answer(*r);
            }
            release(std::move(*held));
            dispatch();
            finish_stop_when_idle(); // last: its callback may destroy the server
        };
        queue_loop_work(loop_, std::move(on_worker), std::move(on_loop), "offload batch");
    }
}

void OffloadServer::stop(std::function<void()> done) {
    stopping_ = true;
    if (done)
        stop_done_.push_back(std::move(done));
    refuse_waiting("shutting_down", "the agent is shutting down; this request was not started",
                   shutting_down_);
    finish_stop_when_idle(); // last: its callback may destroy the server
}

void OffloadServer::finish_stop_when_idle() {
    if (!stopping_ || jobs_running_ > 0 || stop_done_.empty())
        return;
    auto done = std::move(stop_done_);
    stop_done_.clear();
    for (auto &d : done)
        d();
}

nlohmann::json OffloadServer::stats() const {
    return {{"received", received_},
            {"served", served_},
            {"failed", failed_},
            {"busy", busy_},
            {"busy_bytes", busy_bytes_},
            {"bad", bad_},
            {"too_large", too_large_},
            {"no_inference", no_inference_},
            {"shutting_down", shutting_down_},
            {"expired", expired_},
            {"probes", probes_},
            {"in_flight", in_flight_},
            {"in_flight_bytes", in_flight_bytes_},
            {"waiting", waiting_.size()},
            {"batches", batches_},
            {"batched", batched_},
            {"largest_batch", largest_batch_},
            {"stopping", stopping_}};
}

} // namespace tierd
