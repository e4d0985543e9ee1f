// The work an agent's role does, wired to the rest: the end's pipeline (when [source]
// names a source) and the offload server of an edge or cloud agent. An offload server
// subscribes to its tier's requests only while it can serve them — after the start-up
// plugin load, with an inference plugin running, in the edge or cloud role — so that the
// broker hands requests to agents that can answer them (issue 15, item 1).
#include "agent/core/agent.hpp"
#include "agent/core/status.hpp"
#include "common/topics.hpp"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <algorithm>
#include <thread>
#include <utility>

namespace tierd {
namespace {

// Worker threads for inference jobs at once on an edge/cloud agent: half the worker pool
// (main.cpp sizes it to workers.threads, or one per core), leaving the rest for telemetry,
// plugin jobs and decoding. Requests that wait meanwhile are batched.
int serving_jobs(int threads) {
    const int pool =
        threads > 0 ? threads : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
    return std::max(1, pool / 2);
}

// libuv's pool threads: the most worker-thread plugin calls that can run at once.
int pool_threads(int threads) {
    return threads > 0 ? threads
                       : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

tierd_tier local_tier(Role role) {
    return role == Role::end    ? TIERD_TIER_END
           : role == Role::edge ? TIERD_TIER_EDGE
                                : TIERD_TIER_CLOUD;
}

constexpr const char *kOffloadRoute = "offload/requests";

} // namespace

void Agent::load_plugins_at_start() {
    // Config changes wait until the start-up load is done: both replace the plugin set.
    std::string why;
    config_.begin(why);
    plugins_->load_at_start(
        std::move(*initial_plugins_), [this] { return shutting_down_; },
        [this] {
            config_.end();
            std::string status = "STATUS=running, " + std::to_string(plugins_->running().size()) +
                                 " plugin(s) loaded, " +
                                 std::to_string(plugins_->refused().size()) + " refused";
            sd_notify(0, ("READY=1\n" + status).c_str());
        });
    initial_plugins_.reset();
}

void Agent::update_work() {
    if (shutting_down_)
        return;
    // After every config change, not only when a pipeline starts: [models] teacher_images
    // changes without one.
    teacher_samples_->set_capacity(static_cast<std::size_t>(config().models.teacher_images));
    start_pipeline();
    if (pipeline_ && pipeline_->takes_messages() && router_ && !router_->has("input"))
        add_input_route();
    update_offload_serving();
}

void Agent::update_offload_serving() {
    if (!router_ || shutting_down_)
        return;
    const bool serving_role = config().agent.role != Role::end;
    if (serving_role && !offload_server_) {
        OffloadServer::Limits limits{config().offload.max_in_flight, config().offload.batch_max,
                                     serving_jobs(config().workers.threads),
                                     config().pipeline.emulate_slowdown};
        limits.max_in_flight_bytes = static_cast<std::size_t>(config().limits.max_queued_bytes);
        limits.max_pixels = config().limits.max_pixels;
        offload_server_ = std::make_unique<OffloadServer>(
            &loop_, options().identity.device_id, limits,
            [this] { return plugins_->current().inference; },
            [this](const std::string &topic, const std::string &payload,
                   const std::string &correlation) {
                // QoS 0, as the requests (docs/mqtt.md, "Budget and delivery"): a reply is
                // of use only while the end waits. It also keeps the serving agent's own
                // QoS 1 messages few, and libmosquitto reads as many packets per call as
                // it has QoS 1/2 messages in flight: with a reply per request that was
                // up to 16 large requests read in one go, holding the loop for ms.
                if (mqtt_)
                    mqtt_->publish(topic, payload, 0, false, correlation);
            },
            [this](std::shared_ptr<PluginInstance> instance) {
                plugins_->release(std::move(instance));
            });
    }
    if (offload_server_) {
        answered_samples_->set_capacity(
            serving_role ? static_cast<std::size_t>(config().offload.keep_answered) : 0);
        offload_server_->set_answered_samples(answered_samples_);
    }
    if (!serving_role && offload_server_) {
        // A role change to end: what the server holds is answered, then it goes.
        OffloadServer *server = offload_server_.get();
        retired_servers_.push_back(std::move(offload_server_));
        server->stop([this, server] {
            std::erase_if(retired_servers_, [server](const auto &s) { return s.get() == server; });
        });
    }
    // Subscribed only while it can answer: the plugins are loaded and one of them infers.
    const bool can_serve = offload_server_ && !plugins_->loading() && plugins_->current().inference;
    const std::string role = options().identity.role;
    if (can_serve && !router_->has(kOffloadRoute)) {
        router_->add(
            kOffloadRoute, topics::offload_request_share_filter(role),
            [role](const topics::Topic &t) {
                return t.kind == topics::TopicKind::offload_request && t.name == role;
            },
            [this](const MqttLink::Message &m, const topics::Topic &) {
                if (offload_server_)
                    offload_server_->handle(m.payload, m.response_topic, m.correlation_data);
            });
        spdlog::info("offload: serving {} requests", role);
    } else if (!can_serve && router_->has(kOffloadRoute)) {
        router_->remove(kOffloadRoute);
        spdlog::info("offload: not serving requests ({})",
                     !offload_server_ ? "role is end" : "no inference plugin");
    }
}

bool Agent::offload_subscribed() const {
    return router_ && router_->has(kOffloadRoute);
}

void Agent::stop_offload_server(std::function<void()> done) {
    if (router_)
        router_->remove(kOffloadRoute);
    if (!offload_server_)
        return done();
    offload_server_->stop(std::move(done));
}

void Agent::start_pipeline() {
    if (config().source.kind == SourceKind::none || pipeline_)
        return;
    const Config &c = config();
    PipelineOptions o;
    o.source = c.source;
    o.results = c.results;
    o.max_in_flight = c.workers.queue_limit;
    o.overflow = c.workers.overflow;
    o.offload_timeout_ms = static_cast<int>(c.offload.timeout_ms);
    o.local_first = c.pipeline.local_first;
    o.emulate_slowdown = c.pipeline.emulate_slowdown;
    o.label_budget_per_hour = c.pipeline.label_budget_per_hour;
    o.probe_interval_ms = static_cast<int>(c.offload.probe_interval_ms);
    o.frame_jpeg_quality = c.offload.frame_jpeg_quality;
    o.frame_resend = c.offload.frame_resend;
    o.frame_low_scale = c.offload.frame_low_scale;
    o.frame_low_quality = c.offload.frame_low_quality;
    o.resend_sure = c.offload.resend_sure;
    o.resend_unsure = c.offload.resend_unsure;
    o.resend_mosaic = c.offload.resend_mosaic;
    o.resend_margin = c.offload.resend_margin;
    o.frame_features = c.offload.frame_features == FrameFeatures::whole ? FeatureCompression::whole
                       : c.offload.frame_features == FrameFeatures::regions
                           ? FeatureCompression::regions
                           : FeatureCompression::none;
    o.workers = pool_threads(c.workers.threads);
    o.max_batch = static_cast<std::size_t>(std::max(1, c.offload.batch_max));
    o.max_pixels = static_cast<std::uint64_t>(c.limits.max_pixels);
    o.max_waiting_bytes = static_cast<std::size_t>(c.limits.max_queued_bytes);
    // The HAL profile's figures stand for this device's compute power (no sensor reads
    // power per task); the scheduler is told where the number comes from.
    if (device_profile_.active_power_w > device_profile_.idle_power_w) {
        o.compute_power_w = device_profile_.active_power_w - device_profile_.idle_power_w;
        o.power_source = "estimated:" + device_profile_.name;
    }
    o.device_id = options().identity.device_id;
    o.local_tier = local_tier(c.agent.role);
    // The source plugin ([source] kind), or why it is not running: the pipeline reports a
    // refused source as failed and serves nothing.
    auto source = plugins_->current().source;
    const std::string failure = source ? std::string() : plugins_->refusal("source");
    pipeline_ = std::make_unique<Pipeline>(
        &loop_, std::move(o), [this] { return plugins_->current(); },
        // Every result goes through the durable spool, also during the drain at shutdown.
        [this](const std::string &payload) {
            outbox_->put(
                topics::device_topic(options().identity.device_id, topics::DeviceLeaf::results),
                payload);
        },
        [this](std::shared_ptr<PluginInstance> instance) {
            plugins_->release(std::move(instance));
        },
        std::move(source), failure);
    // The teacher labels outlive a pipeline restart (they are about the device's data).
    pipeline_->set_teacher_samples(teacher_samples_);
    pipeline_->set_upstream(Upstream{
        [this](tierd_tier tier) { return peers_->tier_online(tier); },
        [this](tierd_tier tier, const std::string &payload, const std::string &correlation) {
            if (!mqtt_ || !mqtt_->connected() || shutting_down_)
                return false;
            // QoS 0: a request the end has given up on (its timeout ran here) must not be
            // sent again by the client after a reconnect (docs/mqtt.md, "Offload").
            const char *role = tier == TIERD_TIER_CLOUD ? "cloud" : "edge";
            return mqtt_->publish(
                       topics::offload_request_topic(role), payload, 0, false, correlation,
                       topics::device_topic(options().identity.device_id,
                                            topics::DeviceLeaf::offload_reply)) == MOSQ_ERR_SUCCESS;
        },
        [this] { return profiles_->combined(); },
        [this](const std::string &device, const std::string &model, double ms) {
            profiles_->observe(device, model, ms);
        }});
    // [spool] when_full = "block": no new task while the spool is over its bound.
    if (c.spool.when_full == SpoolWhenFull::block)
        pipeline_->set_admission([this] { return outbox_->has_room(); });
    for (auto &payload : early_inputs_)
        pipeline_->push(std::move(payload));
    early_inputs_.clear();
    early_inputs_.shrink_to_fit();
    pipeline_->count_dropped(std::exchange(early_inputs_dropped_, 0));
    pipeline_->start_probing();
    pipeline_waiting_ = true;
    arm_pipeline_start(subscribed_ ? kStatusSettleMs : kStartWithoutBrokerMs);
}

void Agent::arm_pipeline_start(uint64_t delay_ms) {
    if (!pipeline_waiting_ || shutting_down_)
        return;
    if (!pipeline_start_timer_) {
        uv_timer_init(&loop_, &pipeline_start_);
        pipeline_start_.data = this;
        pipeline_start_timer_ = true;
    }
    uv_timer_start(
        &pipeline_start_,
        [](uv_timer_t *t) {
            auto *self = static_cast<Agent *>(t->data);
            if (!self->pipeline_waiting_ || self->shutting_down_ || !self->pipeline_)
                return;
            self->pipeline_waiting_ = false;
            self->pipeline_->start();
        },
        delay_ms, 0);
}

} // namespace tierd
