#include "agent/pipeline/result_sink.hpp"

#include "agent/loop/loop_work.hpp"
#include "agent/pipeline/json_writer.hpp"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace tierd {
namespace {

const char *tier_name(tierd_tier tier) {
    switch (tier) {
    case TIERD_TIER_END: return "end";
    case TIERD_TIER_EDGE: return "edge";
    case TIERD_TIER_CLOUD: return "cloud";
    }
    return "end";
}

const char *route_name(tierd_route route) {
    switch (route) {
    case TIERD_ROUTE_LIGHT: return "light";
    case TIERD_ROUTE_HEAVY: return "heavy";
    case TIERD_ROUTE_UNKNOWN: break;
    }
    return "unknown";
}

std::string fixed_string(const char *text, std::size_t size) {
    return std::string(text, strnlen(text, size));
}

// A result's boxes as COCO-style objects (tierd-eval reads them as they are):
// [{"bbox": [x, y, w, h], "category_id": class + 1, "score", "track_id"?, "upstream"?,
//   "propagated"?}], keys sorted as JsonWriter requires.
void append_detections(std::string &out, const tierd_inference_result &r) {
    const std::uint32_t n = tierd_result_detection_count(&r);
    out += '[';
    for (std::uint32_t i = 0; i < n; ++i) {
        const tierd_detection &d = r.detections[i];
        if (i > 0)
            out += ',';
        out += "{\"bbox\":[";
        JsonWriter::append_double(out, d.x);
        out += ',';
        JsonWriter::append_double(out, d.y);
        out += ',';
        JsonWriter::append_double(out, d.width);
        out += ',';
        JsonWriter::append_double(out, d.height);
        out += "],\"category_id\":";
        out += std::to_string(d.class_id + 1);
        if (d.flags & TIERD_DETECTION_PROPAGATED)
            out += ",\"propagated\":true";
        out += ",\"score\":";
        JsonWriter::append_double(out, d.score);
        if (d.track_id >= 0) {
            out += ",\"track_id\":";
            out += std::to_string(d.track_id);
        }
        if (d.flags & TIERD_DETECTION_UPSTREAM)
            out += ",\"upstream\":true";
        out += '}';
    }
    out += ']';
}

// Whether any box of the answer came from an upstream tier (the fusion may hold an
// answer and still drop its boxes, e.g. as too old).
bool has_upstream_box(const tierd_inference_result &r) {
    const std::uint32_t n = tierd_result_detection_count(&r);
    for (std::uint32_t i = 0; i < n; ++i)
        if (r.detections[i].flags & TIERD_DETECTION_UPSTREAM)
            return true;
    return false;
}

bool is_detection_result(const tierd_inference_result &r) {
    return tierd_result_detection_count(&r) > 0 || (r.detections != nullptr && r.image_width > 0);
}

} // namespace

ResultSink::ResultSink(uv_loop_t *loop, Options options, Publish publish)
    : loop_(loop), options_(std::move(options)), publish_(std::move(publish)) {}

ResultSink::~ResultSink() {
    if (jsonl_ != nullptr)
        std::fclose(jsonl_);
}

std::string ResultSink::document(const Task &task, bool ok, tierd_tier ran_on,
                                 double total_ms) const {
    // Keys in sorted order (json_writer.hpp): the document reads as it did when built
    // as an nlohmann::json object.
    const tierd_inference_result &r = task.answer();
    std::string out;
    out.reserve(640);
    JsonWriter w(out);
    if (task.remote.ok)
        w.unsigned_integer("bytes_received", task.offload.bytes_received);
    w.unsigned_integer("bytes_sent", task.offload.bytes_sent);
    if (ok) {
        w.number("compute_ms", r.compute_ms);
        if (task.in.label >= 0)
            w.boolean("correct", r.top_class == task.in.label);
    }
    const bool detections = ok && is_detection_result(r);
    if (detections) {
        std::string boxes;
        append_detections(boxes, r);
        w.raw("detections", boxes);
    }
    w.string("device_id", options_.device_id);
    if (options_.emulate_slowdown > 1.0)
        w.number("emulated_slowdown", options_.emulate_slowdown);
    if (ok && r.energy_j >= 0.0) {
        w.number("energy_j", r.energy_j);
        w.string("energy_source", fixed_string(r.energy_source, sizeof r.energy_source));
    }
    if (!ok)
        w.string("error", task.error.empty() ? "no result" : task.error);
    if (!task.offload.fallback.empty())
        w.string("fallback", task.offload.fallback);
    if (task.task.frame_index >= 0)
        w.integer("frame", task.task.frame_index);
    if (task.in.label >= 0)
        w.integer("label", task.in.label);
    if (task.pre.ok && task.pre.result.light_ok_probability >= 0.0f)
        w.number("light_ok_probability", task.pre.result.light_ok_probability);
    if (task.local_first)
        w.boolean("local_first", true);
    if (ok)
        w.string("model", fixed_string(r.model, sizeof r.model));
    if (task.remote.ok) {
        w.number("offload_ms", task.offload.ms);
        w.string("offloaded_to", task.offload.device);
    }
    w.boolean("ok", ok);
    w.string("reason", fixed_string(task.decision.reason, sizeof task.decision.reason));
    w.string("requested_tier", tier_name(task.decision.tier));
    if (task.pre.ok)
        w.string("route", route_name(task.pre.result.route));
    w.string("source", task.source);
    if (task.split) {
        const std::string wire = fixed_string(task.decision.wire, sizeof task.decision.wire);
        w.begin_object("split");
        if (task.head.energy_j >= 0.0)
            w.number("head_energy_j", task.head.energy_j);
        w.number("head_ms", task.head.ms);
        w.integer("layer", task.decision.split_layer);
        w.string("wire", wire.empty() ? "f16" : wire);
        w.end_object();
    }
    w.string("task_id", task.task_id);
    w.string("tier", tier_name(ran_on));
    w.begin_object("timing_ms");
    if (task.fuse_ms >= 0.0)
        w.number("fuse", task.fuse_ms);
    w.number("inference", task.infer_ms);
    w.number("preclassify", task.pre.ms);
    w.number("total", total_ms);
    w.end_object();
    if (ok) {
        w.integer("top_class", r.top_class);
        w.number("top_score", r.top_score);
    }
    w.integer("v", 1);
    if (!task.stream.empty()) {
        // What the stream's fusion had: the upstream answer it was handed (which frame,
        // how old), or none — then this result is the end's own ("light_only").
        w.begin_object("video");
        w.boolean("key_frame", task.decision.key_frame_tier != 0);
        w.boolean("light_only", !task.remote.ok && !has_upstream_box(r));
        w.string("stream", task.stream);
        if (task.upstream_unreachable)
            w.boolean("unreachable", true);
        if (task.have_upstream_view) {
            w.begin_object("upstream");
            w.number("age_ms", task.upstream_view.age_ms);
            w.integer("frame", task.upstream_view.frame_index);
            w.string("tier", tier_name(task.upstream_view.tier));
            if (task.fused.ok && task.fused.result.warp_error >= 0.0)
                w.number("warp_error", task.fused.result.warp_error);
            w.end_object();
        }
        w.end_object();
    }
    w.finish();
    return out;
}

void ResultSink::write(const Task &task) {
    const double total_ms = static_cast<double>(uv_hrtime() - task.start_ns) / 1e6;
    const bool ok = task.error.empty() && task.answered();
    const tierd_tier ran_on = task.remote.ok ? task.decision.tier : options_.local_tier;
    if (!task.offload.fallback.empty())
        ++fallbacks_;
    if (ok) {
        const tierd_inference_result &r = task.answer();
        if (task.in.label >= 0) {
            ++labelled_;
            correct_ += r.top_class == task.in.label ? 1 : 0;
        }
        ++done_;
        ++by_tier_[ran_on];
        total_ms_sum_ += total_ms;
        if (task.infer_ms + task.head.ms > 0.0) {
            compute_ms_sum_ += task.infer_ms + task.head.ms;
            ++local_computed_;
        }
    } else {
        ++failed_;
    }
    if (!options_.results.publish && options_.results.jsonl.empty())
        return;
    std::string line = document(task, ok, ran_on, total_ms);
    if (options_.results.publish)
        publish_(line);
    if (!options_.results.jsonl.empty())
        write_jsonl(std::move(line) + "\n");
}

void ResultSink::write_jsonl(std::string line) {
    jsonl_pending_ += line;
    if (jsonl_writing_)
        return;
    jsonl_writing_ = true;
    auto chunk = std::make_shared<std::string>(std::move(jsonl_pending_));
    jsonl_pending_.clear();
    auto error = std::make_shared<std::string>();
    queue_loop_work(
        loop_,
        [this, chunk, error] {
            // Only this job touches jsonl_ while jsonl_writing_ is set.
            if (jsonl_ == nullptr)
                jsonl_ = std::fopen(options_.results.jsonl.c_str(), "a");
            if (jsonl_ == nullptr ||
                std::fwrite(chunk->data(), 1, chunk->size(), jsonl_) != chunk->size() ||
                std::fflush(jsonl_) != 0)
                *error = options_.results.jsonl + ": " + std::strerror(errno);
        },
        [this, error] {
            jsonl_writing_ = false;
            if (!error->empty())
                spdlog::error("results: cannot write {}", *error);
            if (!jsonl_pending_.empty())
                return write_jsonl(std::string());
            if (when_idle_)
                std::exchange(when_idle_, nullptr)();
        },
        "results file");
}

void ResultSink::when_idle(std::function<void()> done) {
    if (idle())
        return done();
    when_idle_ = std::move(done);
}

void ResultSink::add_stats(nlohmann::json &stats) const {
    stats["done"] = done_;
    stats["failed"] = failed_;
    stats["by_tier"] = {{"end", by_tier_[TIERD_TIER_END]},
                        {"edge", by_tier_[TIERD_TIER_EDGE]},
                        {"cloud", by_tier_[TIERD_TIER_CLOUD]}};
    stats["fallbacks"] = fallbacks_;
    stats["labelled"] = labelled_;
    stats["correct"] = correct_;
    stats["mean_ms"] = done_ ? total_ms_sum_ / static_cast<double>(done_) : 0.0;
    if (labelled_ > 0)
        stats["top1"] = static_cast<double>(correct_) / static_cast<double>(labelled_);
}

} // namespace tierd
