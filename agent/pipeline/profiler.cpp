#include "agent/pipeline/profiler.hpp"

#include "agent/common/utc_time.hpp"
#include "agent/pipeline/offload_codec.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <stdexcept>

namespace tierd {
namespace {

constexpr std::uint32_t kMaxScores = 1024;
constexpr int kAgreementImages = 64; // int8 wire agreement is counted over this many

// A task around one image, as the pipeline would build it.
struct ImageTask {
    tierd_image image{};
    tierd_task task{};
    explicit ImageTask(const cv::Mat &m) {
        image.struct_size = sizeof image;
        image.format = m.channels() == 1 ? TIERD_PIXEL_GRAY8 : TIERD_PIXEL_BGR8;
        image.width = m.cols;
        image.height = m.rows;
        image.stride_bytes = static_cast<int32_t>(m.step[0]);
        image.data = m.data;
        task.struct_size = sizeof task;
        task.task_id = "profile";
        task.source = "profile";
        task.image = &image;
    }
};

// A result with its own scores buffer.
struct Result {
    std::vector<float> scores = std::vector<float>(kMaxScores);
    tierd_inference_result out{};
    Result() {
        out.struct_size = sizeof out;
        out.scores = scores.data();
        out.score_capacity = kMaxScores;
    }
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
}

void check(const PluginCallResult &r, const std::string &what) {
    if (!r.ok())
        throw std::runtime_error(what + ": " + r.to_string());
}

// The head's output for one image, as a float tensor.
std::vector<float> run_head(PluginInstance &inference, const cv::Mat &image,
                            const std::string &model, int layer, std::size_t elements,
                            tierd_tensor &tensor, double *ms) {
    std::vector<float> data(elements);
    tensor = tierd_tensor{};
    tensor.struct_size = sizeof tensor;
    tensor.data = data.data();
    tensor.capacity = static_cast<std::uint32_t>(data.size());
    ImageTask t(image);
    Result meta;
    const auto start = std::chrono::steady_clock::now();
    check(inference.infer_head(t.task, model, layer, tensor, meta.out),
          model + " head at cut " + std::to_string(layer));
    if (ms != nullptr)
        *ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                  .count();
    data.resize(tensor.count);
    tensor.data = nullptr; // `data` moves out; the caller points it again
    return data;
}

int run_tail(PluginInstance &inference, const std::string &model, int layer,
             const tierd_tensor &shape_of, std::vector<float> &data, double *ms) {
    tierd_tensor input = shape_of;
    input.data = data.data();
    input.count = input.capacity = static_cast<std::uint32_t>(data.size());
    tierd_task task{};
    task.struct_size = sizeof task;
    task.task_id = "profile";
    task.source = "profile";
    Result r;
    const auto start = std::chrono::steady_clock::now();
    check(inference.infer_tail(task, model, layer, input, r.out),
          model + " tail at cut " + std::to_string(layer));
    if (ms != nullptr)
        *ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                  .count();
    return r.out.top_class;
}

// The tensor as the end would send it with wire "i8", decoded as the tier would.
std::vector<float> int8_round_trip(const tierd_tensor &shape_of, const std::vector<float> &data) {
    OffloadRequest request;
    request.task_id = "profile";
    request.payload = OffloadRequest::Payload::tensor;
    request.cut_layer = 1;
    request.wire = "i8";
    request.shape.assign(shape_of.shape, shape_of.shape + shape_of.rank);
    request.tensor = data;
    std::string error;
    auto decoded = decode_offload_request(encode_offload_request(request), error);
    if (!decoded)
        throw std::runtime_error("int8 tensor round trip: " + error);
    return decoded->tensor;
}

} // namespace

nlohmann::json profile_models(PluginInstance &inference, const ProfileOptions &options) {
    if (options.images.empty())
        throw std::runtime_error("profile: no images to run");
    const std::string text = inference.describe();
    if (text.empty())
        throw std::runtime_error("profile: the inference plugin '" + inference.descriptor().name +
                                 "' does not describe its models (ABI 1.2 describe)");
    const auto description = nlohmann::json::parse(text, nullptr, false);
    if (!description.is_object() || !description.contains("models") ||
        !description["models"].is_array())
        throw std::runtime_error("profile: the inference plugin's description is not valid");
    const int runs = std::max(1, options.runs);
    const double f = std::max(1.0, options.slowdown);
    const std::size_t n_images = options.images.size();
    auto image = [&](int i) -> const cv::Mat & {
        return options.images[static_cast<std::size_t>(i) % n_images];
    };

    nlohmann::json models = nlohmann::json::array();
    for (const auto &m : description["models"]) {
        const std::string name = m.value("name", "");
        // Whole model: one warm-up, then `runs` timed calls.
        std::vector<double> full;
        for (int i = -1; i < runs; ++i) {
            ImageTask t(image(i + 1));
            Result r;
            const auto start = std::chrono::steady_clock::now();
            check(inference.infer(t.task, name, r.out), name);
            if (i >= 0)
                full.push_back(std::chrono::duration<double, std::milli>(
                                   std::chrono::steady_clock::now() - start)
                                   .count());
        }
        nlohmann::json cuts = nlohmann::json::array();
        if (inference.offers_split() && m.contains("cuts"))
            for (const auto &c : m["cuts"]) {
                const int layer = c.value("layer", -1);
                const std::size_t elements = c.value<std::size_t>("elements", 0);
                std::vector<double> head, tail;
                int agree = 0, compared = 0;
                // One warm-up, `runs` timed calls, and agreement over at least
                // kAgreementImages images.
                for (int i = -1; i < std::max(runs, kAgreementImages); ++i) {
                    tierd_tensor shape{};
                    double head_ms = 0, tail_ms = 0;
                    auto data =
                        run_head(inference, image(i + 1), name, layer, elements, shape, &head_ms);
                    const int top = run_tail(inference, name, layer, shape, data, &tail_ms);
                    if (i >= 0 && i < runs) {
                        head.push_back(head_ms);
                        tail.push_back(tail_ms);
                    }
                    auto coarse = int8_round_trip(shape, data);
                    agree += run_tail(inference, name, layer, shape, coarse, nullptr) == top;
                    ++compared;
                }
                cuts.push_back({{"layer", layer},
                                {"elements", elements},
                                {"head_ms", median(head) * f},
                                {"tail_ms", median(tail) * f},
                                {"int8_agreement",
                                 static_cast<double>(agree) / static_cast<double>(compared)}});
            }
        nlohmann::json entry = {{"name", name},
                                {"top1", m.value("top1", -1.0)},
                                {"input_bytes", m.value("input_bytes", 0)},
                                {"full_ms", median(full) * f},
                                {"cuts", cuts}};
        // A detector keeps what it is and its accuracy (scheduler-mo: no top-1 for it).
        if (m.value("kind", "") == "detector") {
            entry["kind"] = "detector";
            entry["map50"] = m.value("map50", -1.0);
        }
        models.push_back(std::move(entry));
    }
    return {{"v", 1},
            {"device_id", options.device_id},
            {"tier", options.tier},
            {"slowdown", f},
            {"runs", runs},
            {"images", n_images},
            {"measured_at", utc_now_iso8601()},
            {"models", models}};
}

double top1_accuracy(PluginInstance &inference, const std::string &model,
                     const std::vector<cv::Mat> &images, const std::vector<int> &labels) {
    if (images.size() != labels.size())
        throw std::runtime_error("top1_accuracy: one label per image");
    if (images.empty())
        return -1.0;
    std::size_t right = 0;
    for (std::size_t i = 0; i < images.size(); ++i) {
        ImageTask t(images[i]);
        Result r;
        check(inference.infer(t.task, model, r.out), model);
        right += r.out.top_class == labels[i];
    }
    return static_cast<double>(right) / static_cast<double>(images.size());
}

} // namespace tierd
