#include "agent/plugin_host/plugin_instance.hpp"

#include <spdlog/spdlog.h>

#include "agent/plugin_host/host_services.hpp"

namespace tierd {
namespace {

template <std::size_t N> void terminate_string(char (&s)[N]) {
    s[N - 1] = '\0';
}

// Resets an inference result for the plugin, keeping the caller's score, detection and
// feature buffers.
void prepare(tierd_inference_result &out) {
    float *scores = out.scores;
    const std::uint32_t capacity = out.score_capacity;
    tierd_detection *detections = out.detections;
    const std::uint32_t detection_capacity = out.detection_capacity;
    tierd_tensor *features = out.features;
    out = tierd_inference_result{};
    out.struct_size = sizeof out;
    out.scores = scores;
    out.score_capacity = scores != nullptr ? capacity : 0;
    out.detections = detections;
    out.detection_capacity = detections != nullptr ? detection_capacity : 0;
    out.features = features;
    out.top_class = -1;
    out.energy_j = -1;
    out.warp_error = -1; // ABI 1.6: "not measured" unless fuse_frame() says otherwise
}

// After the plugin: strings terminated, count within what the buffer holds.
int check(int rc, tierd_inference_result &out, std::string &why) {
    terminate_string(out.model);
    terminate_string(out.energy_source);
    if (rc == TIERD_OK && out.score_count > out.score_capacity) {
        why = "plugin reported " + std::to_string(out.score_count) + " scores for a buffer of " +
              std::to_string(out.score_capacity) + " without returning TIERD_ERANGE";
        out.score_count = out.score_capacity;
        return TIERD_EPLUGIN;
    }
    // Detections past the buffer were never written: the count is clamped, not trusted.
    if (out.detection_count > out.detection_capacity)
        out.detection_count = out.detection_capacity;
    return rc;
}

} // namespace

std::string PluginCallResult::to_string() const {
    std::string out = std::string(tierd_err_name(code)) + " (" + tierd_strerror(code) + ")";
    if (!error.empty())
        out += ": " + error;
    return out;
}

class PluginInstance::WorkerCall {
  public:
    explicit WorkerCall(const PluginInstance &self)
        : self_(self), concurrent_(self.max_concurrent_calls() > 1) {
        if (concurrent_) {
            self_.call_mutex_.lock_shared();
            self_.slots_.acquire();
        } else {
            self_.call_mutex_.lock();
        }
    }
    ~WorkerCall() {
        if (concurrent_) {
            self_.slots_.release();
            self_.call_mutex_.unlock_shared();
        } else {
            self_.call_mutex_.unlock();
        }
    }
    WorkerCall(const WorkerCall &) = delete;
    WorkerCall &operator=(const WorkerCall &) = delete;

  private:
    const PluginInstance &self_;
    const bool concurrent_;
};

PluginInstance::PluginInstance(std::shared_ptr<PluginLibrary> library, HostBackend &backend,
                               unsigned index)
    : library_(std::move(library)),
      host_(std::make_unique<tierd_host>(library_->descriptor().name + "." + std::to_string(index),
                                         library_->descriptor().name, backend)),
      services_(make_host_services(library_->descriptor().abi_version)),
      slots_(static_cast<std::ptrdiff_t>(
          std::min<std::uint32_t>(library_->descriptor().max_concurrent_calls, 1024))) {
    host_->per_thread_errors = library_->descriptor().max_concurrent_calls > 1;
}

PluginInstance::CreateResult PluginInstance::create(std::shared_ptr<PluginLibrary> library,
                                                    const PluginConfigValues &config,
                                                    HostBackend &backend, unsigned index) {
    CreateResult r;
    if (library == nullptr) {
        r.code = TIERD_EINVAL;
        r.error = "no plugin library";
        return r;
    }
    std::unique_ptr<PluginInstance> self(new PluginInstance(std::move(library), backend, index));
    auto fail = [&](int code, const std::string &why) {
        r.code = code;
        r.error = self->name() + ": create failed: " + PluginCallResult{code, why}.to_string();
        return std::move(r);
    };
    if (config.plugin_name != self->descriptor().name)
        return fail(TIERD_ECONFIG, "configuration is for plugin \"" + config.plugin_name + "\"");

    void *state = nullptr;
    self->host_->take_error();
    const int rc =
        self->library_->functions().create(self->host_.get(), &self->services_, &config, &state);
    std::string why = self->host_->take_error();
    if (rc != TIERD_OK)
        // The plugin made no instance, so there is nothing to destroy.
        return fail(rc, why);
    self->state_ = state;
    self->made_ = true;
    r.instance = std::move(self);
    return r;
}

PluginInstance::~PluginInstance() {
    // A failed create() made nothing: destroy() is owed only for a made instance.
    if (!made_)
        return;
    stop();
    std::lock_guard lock(call_mutex_);
    library_->functions().destroy(state_);
    if (std::string why = host_->take_error(); !why.empty())
        spdlog::debug("[{}] destroy: {}", name(), why);
}

bool PluginInstance::running() const {
    std::shared_lock lock(call_mutex_);
    return lifecycle_ == State::running;
}

PluginCallResult PluginInstance::finish(int code) {
    PluginCallResult r{code, host_->take_error()};
    if (code == TIERD_OK)
        r.error.clear(); // a message without an error is stale, not news
    return r;
}

PluginCallResult PluginInstance::start() {
    std::lock_guard lock(call_mutex_);
    if (lifecycle_ != State::created)
        return {TIERD_EBUSY, "start() called twice or after stop()"};
    host_->take_error();
    const auto fn = library_->functions().start;
    const int rc = fn != nullptr ? fn(state_) : TIERD_OK;
    if (rc == TIERD_OK)
        lifecycle_ = State::running;
    return finish(rc);
}

PluginCallResult PluginInstance::reload(const PluginConfigValues &config) {
    std::lock_guard lock(call_mutex_);
    if (lifecycle_ == State::stopped)
        return {TIERD_EBUSY, "instance is stopped"};
    if (config.plugin_name != descriptor().name)
        return {TIERD_ECONFIG, "configuration is for plugin \"" + config.plugin_name + "\""};
    const auto fn = library_->functions().reload;
    if (fn == nullptr)
        return {TIERD_ENOTSUP, "plugin cannot reload; recreate the instance"};
    host_->take_error();
    return finish(fn(state_, &config));
}

void PluginInstance::stop() {
    std::lock_guard lock(call_mutex_);
    const bool was_running = lifecycle_ == State::running;
    lifecycle_ = State::stopped;
    // A plugin never started has nothing in flight to finish.
    if (!was_running || library_->functions().stop == nullptr)
        return;
    host_->take_error();
    library_->functions().stop(state_);
    if (std::string why = host_->take_error(); !why.empty())
        spdlog::debug("[{}] stop: {}", name(), why);
}

bool PluginInstance::may_call(tierd_plugin_kind kind, const char *op,
                              PluginCallResult &refusal) const {
    if (this->kind() != kind) {
        refusal = {TIERD_ENOTSUP, name() + " is a " + plugin_kind_name(this->kind()) +
                                      " plugin; it has no " + op + "()"};
        return false;
    }
    if (lifecycle_ != State::running) {
        refusal = {TIERD_EBUSY, name() + " is not running"};
        return false;
    }
    return true;
}

PluginCallResult PluginInstance::decide(const tierd_task &task, const tierd_preclass_result *pre,
                                        const tierd_schedule_context &context,
                                        tierd_decision &out) {
    std::lock_guard lock(call_mutex_);
    PluginCallResult refusal;
    if (!may_call(TIERD_KIND_SCHEDULER, "decide", refusal))
        return refusal;
    out = tierd_decision{};
    out.struct_size = sizeof out;
    out.split_layer = -1;
    host_->take_error();
    int rc = library_->functions().decide(state_, &task, pre, &context, &out);
    terminate_string(out.model);
    terminate_string(out.reason);
    PluginCallResult r = finish(rc);
    const int tier = static_cast<int>(out.tier);
    if (r.ok() && (tier < TIERD_TIER_END || tier > TIERD_TIER_CLOUD))
        r = {TIERD_EPLUGIN, "decide() returned no valid tier (" + std::to_string(tier) + ")"};
    return r;
}

PluginCallResult PluginInstance::classify(const tierd_task &task, tierd_preclass_result &out) {
    WorkerCall call(*this);
    PluginCallResult refusal;
    if (!may_call(TIERD_KIND_PRECLASSIFIER, "classify", refusal))
        return refusal;
    float *features = out.features;
    const std::uint32_t capacity = features != nullptr ? out.feature_capacity : 0;
    out = tierd_preclass_result{};
    out.struct_size = sizeof out;
    out.features = features;
    out.feature_capacity = capacity;
    out.light_ok_probability = -1;
    host_->take_error();
    const int rc = library_->functions().classify(state_, &task, &out);
    PluginCallResult r = finish(rc);
    if (r.ok() && out.feature_count > out.feature_capacity) {
        r = {TIERD_EPLUGIN, "plugin reported " + std::to_string(out.feature_count) +
                                " features for a buffer of " + std::to_string(capacity) +
                                " without returning TIERD_ERANGE"};
        out.feature_count = capacity;
    }
    return r;
}

PluginCallResult PluginInstance::infer(const tierd_task &task, const std::string &model,
                                       tierd_inference_result &out) {
    WorkerCall call(*this);
    PluginCallResult refusal;
    if (!may_call(TIERD_KIND_INFERENCE, "infer", refusal))
        return refusal;
    prepare(out);
    host_->take_error();
    const int rc = library_->functions().infer(state_, &task, model.c_str(), &out);
    PluginCallResult r = finish(rc);
    std::string why;
    if (int checked = check(rc, out, why); checked != rc)
        r = {checked, why};
    return r;
}

bool PluginInstance::offers_batch() const {
    return library_->descriptor().kind == TIERD_KIND_INFERENCE &&
           library_->functions().infer_batch != nullptr;
}

std::vector<PluginCallResult>
PluginInstance::infer_batch(const std::vector<const tierd_task *> &tasks, const std::string &model,
                            std::vector<tierd_inference_result> &outs, bool *batched) {
    if (batched != nullptr)
        *batched = false;
    if (outs.size() != tasks.size())
        return std::vector<PluginCallResult>(
            tasks.size(), PluginCallResult{TIERD_EINVAL, "infer_batch: one result per task"});
    if (tasks.size() > 1 && offers_batch()) {
        WorkerCall call(*this);
        PluginCallResult refusal;
        if (!may_call(TIERD_KIND_INFERENCE, "infer_batch", refusal))
            return std::vector<PluginCallResult>(tasks.size(), refusal);
        for (auto &out : outs)
            prepare(out);
        host_->take_error();
        const int rc = library_->functions().infer_batch(state_, tasks.data(),
                                                         static_cast<std::uint32_t>(tasks.size()),
                                                         model.c_str(), outs.data());
        PluginCallResult r = finish(rc);
        std::vector<PluginCallResult> results(tasks.size(), r);
        bool all_ok = r.ok();
        for (std::size_t i = 0; i < outs.size(); ++i) {
            std::string why;
            if (int checked = check(rc, outs[i], why); checked != rc) {
                results[i] = {checked, why};
                all_ok = false;
            }
        }
        if (all_ok) {
            if (batched != nullptr)
                *batched = true;
            return results;
        }
        spdlog::debug("plugin {}: infer_batch of {} failed ({}); answering one by one",
                      library_->descriptor().name, tasks.size(), r.to_string());
    }
    std::vector<PluginCallResult> results;
    results.reserve(tasks.size());
    for (std::size_t i = 0; i < tasks.size(); ++i)
        results.push_back(infer(*tasks[i], model, outs[i]));
    return results;
}

std::string PluginInstance::describe() {
    if (kind() != TIERD_KIND_INFERENCE || library_->functions().describe == nullptr)
        return "";
    std::shared_lock lock(call_mutex_); // any thread, and static after create()
    PluginCallResult refusal;
    if (!may_call(TIERD_KIND_INFERENCE, "describe", refusal))
        return "";
    const char *text = library_->functions().describe(state_);
    return text != nullptr ? std::string(text) : std::string();
}

bool PluginInstance::offers_split() const {
    return kind() == TIERD_KIND_INFERENCE && library_->functions().infer_head != nullptr &&
           library_->functions().infer_tail != nullptr;
}

PluginCallResult PluginInstance::infer_head(const tierd_task &task, const std::string &model,
                                            int cut, tierd_tensor &out,
                                            tierd_inference_result &meta) {
    WorkerCall call(*this);
    PluginCallResult refusal;
    if (!may_call(TIERD_KIND_INFERENCE, "infer_head", refusal))
        return refusal;
    if (library_->functions().infer_head == nullptr)
        return {TIERD_ENOTSUP, "the inference plugin has no split execution (infer_head)"};
    prepare(meta);
    float *buffer = out.data;
    const std::uint32_t capacity = out.capacity;
    out = tierd_tensor{};
    out.struct_size = sizeof out;
    out.data = buffer;
    out.capacity = capacity;
    host_->take_error();
    const int rc = library_->functions().infer_head(state_, &task, model.c_str(), cut, &out, &meta);
    PluginCallResult r = finish(rc);
    if (rc == TIERD_OK) {
        std::size_t elements = out.rank >= 1 && out.rank <= 4 ? 1 : 0;
        for (std::uint32_t i = 0; i < out.rank && i < 4; ++i)
            elements *= out.shape[i] > 0 ? static_cast<std::size_t>(out.shape[i]) : 0;
        if (elements == 0 || elements != out.count || out.count > capacity)
            r = {TIERD_EINVAL, "infer_head returned a tensor whose shape, count and buffer "
                               "do not agree"};
    }
    return r;
}

PluginCallResult PluginInstance::infer_tail(const tierd_task &task, const std::string &model,
                                            int cut, const tierd_tensor &input,
                                            tierd_inference_result &out) {
    WorkerCall call(*this);
    PluginCallResult refusal;
    if (!may_call(TIERD_KIND_INFERENCE, "infer_tail", refusal))
        return refusal;
    if (library_->functions().infer_tail == nullptr)
        return {TIERD_ENOTSUP, "the inference plugin has no split execution (infer_tail)"};
    prepare(out);
    host_->take_error();
    const int rc =
        library_->functions().infer_tail(state_, &task, model.c_str(), cut, &input, &out);
    PluginCallResult r = finish(rc);
    std::string why;
    if (int checked = check(rc, out, why); checked != rc)
        r = {checked, why};
    return r;
}

bool PluginInstance::offers_learn() const {
    return kind() == TIERD_KIND_INFERENCE && library_->functions().learn != nullptr;
}

bool PluginInstance::offers_learn_detections() const {
    return offers_learn() && library_->descriptor().abi_version >= TIERD_ABI_MAKE(1, 7);
}

PluginCallResult PluginInstance::learn(const tierd_task &task, const tierd_teacher_label &label) {
    WorkerCall call(*this);
    PluginCallResult refusal;
    if (!may_call(TIERD_KIND_INFERENCE, "learn", refusal))
        return refusal;
    if (library_->functions().learn == nullptr)
        return {TIERD_ENOTSUP, "the inference plugin does not learn"};
    host_->take_error();
    return finish(library_->functions().learn(state_, &task, &label));
}

PluginCallResult PluginInstance::fuse(const tierd_task &task, const tierd_inference_result *local,
                                      const tierd_inference_result *remote,
                                      tierd_inference_result &out) {
    std::lock_guard lock(call_mutex_);
    PluginCallResult refusal;
    if (!may_call(TIERD_KIND_FUSION, "fuse", refusal))
        return refusal;
    if (local == nullptr && remote == nullptr)
        return {TIERD_EINVAL, "fuse() needs a local or a remote result"};
    prepare(out);
    host_->take_error();
    const int rc = library_->functions().fuse(state_, &task, local, remote, &out);
    PluginCallResult r = finish(rc);
    std::string why;
    if (int checked = check(rc, out, why); checked != rc)
        r = {checked, why};
    return r;
}

bool PluginInstance::offers_fuse_frame() const {
    return library_->functions().fuse_frame != nullptr;
}

PluginCallResult PluginInstance::fuse_frame(const tierd_task &task,
                                            const tierd_inference_result *local,
                                            const tierd_upstream_result *upstream,
                                            tierd_inference_result &out) {
    WorkerCall call(*this);
    PluginCallResult refusal;
    if (!may_call(TIERD_KIND_FUSION, "fuse_frame", refusal))
        return refusal;
    if (library_->functions().fuse_frame == nullptr)
        return {TIERD_ENOTSUP, "the fusion plugin has no fuse_frame()"};
    prepare(out);
    host_->take_error();
    const int rc = library_->functions().fuse_frame(state_, &task, local, upstream, &out);
    PluginCallResult r = finish(rc);
    std::string why;
    if (int checked = check(rc, out, why); checked != rc)
        r = {checked, why};
    return r;
}

namespace {

// A frame as the plugin receives it: zero-filled, sized, no label.
void prepare(tierd_frame &out) {
    out = tierd_frame{};
    out.struct_size = sizeof out;
    out.label = -1;
    out.frame_index = -1; // ABI 1.4: not a video frame unless the plugin says so
}

// After the plugin: the id terminated, and a frame the host can read.
PluginCallResult check_frame(PluginCallResult r, tierd_frame &out) {
    terminate_string(out.id);
    if (!r.ok())
        return r;
    const tierd_image &img = out.image;
    const int channels = img.format == TIERD_PIXEL_GRAY8                                    ? 1
                         : img.format == TIERD_PIXEL_BGR8 || img.format == TIERD_PIXEL_RGB8 ? 3
                                                                                            : 0;
    if (img.data == nullptr || img.width <= 0 || img.height <= 0 || channels == 0 ||
        img.stride_bytes < img.width * channels)
        return {TIERD_EPLUGIN, "the source returned a frame without a usable image (data, size, "
                               "format or stride)"};
    return r;
}

} // namespace

bool PluginInstance::is_pull_source() const {
    return kind() == TIERD_KIND_SOURCE && library_->functions().next != nullptr;
}

PluginCallResult PluginInstance::next(tierd_frame &out) {
    WorkerCall call(*this);
    PluginCallResult refusal;
    if (!may_call(TIERD_KIND_SOURCE, "next", refusal))
        return refusal;
    if (library_->functions().next == nullptr)
        return {TIERD_ENOTSUP, name() + " is a message source; it has no next()"};
    prepare(out);
    host_->take_error();
    const int rc = library_->functions().next(state_, &out);
    if (rc == TIERD_EOF)
        return {TIERD_EOF, ""};
    PluginCallResult r = check_frame(finish(rc), out);
    if (rc == TIERD_OK && !r.ok())
        release_frame(out); // the plugin produced it: it still gets it back
    return r;
}

PluginCallResult PluginInstance::decode(const std::string &payload, std::uint64_t max_pixels,
                                        tierd_frame &out) {
    WorkerCall call(*this);
    PluginCallResult refusal;
    if (!may_call(TIERD_KIND_SOURCE, "decode", refusal))
        return refusal;
    if (library_->functions().decode == nullptr)
        return {TIERD_ENOTSUP, name() + " is a pull source; it has no decode()"};
    prepare(out);
    host_->take_error();
    const int rc =
        library_->functions().decode(state_, reinterpret_cast<const std::uint8_t *>(payload.data()),
                                     payload.size(), max_pixels, &out);
    PluginCallResult r = check_frame(finish(rc), out);
    if (rc == TIERD_OK && !r.ok())
        release_frame(out);
    return r;
}

void PluginInstance::release_frame(tierd_frame &frame) {
    if (kind() == TIERD_KIND_SOURCE && library_->functions().release_frame != nullptr)
        library_->functions().release_frame(state_, &frame);
    frame.image.data = nullptr;
}

std::string PluginInstance::describe_source() {
    if (kind() != TIERD_KIND_SOURCE || library_->functions().describe_source == nullptr)
        return "";
    std::shared_lock lock(call_mutex_);
    if (lifecycle_ == State::stopped)
        return "";
    const char *text = library_->functions().describe_source(state_);
    return text != nullptr ? std::string(text) : std::string();
}

} // namespace tierd
