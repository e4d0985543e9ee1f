#include "agent/core/hal_sampler.hpp"

#include "agent/loop/background_thread.hpp"
#include <spdlog/spdlog.h>

namespace tierd {

// One read in flight: owned by the uv_work_t's data from queue to after-callback.
struct HalSampler::Read {
    uv_work_t work{};
    HalSampler *sampler = nullptr;
    std::shared_ptr<hal::Hal> hal;
    nlohmann::json result;
    std::string error;
};

HalSampler::HalSampler(uv_loop_t *loop, std::shared_ptr<hal::Hal> hal, uint64_t interval_ms)
    : loop_(loop), hal_(std::move(hal)), interval_ms_(interval_ms) {
    uv_timer_init(loop_, &timer_);
    timer_.data = this;
}

void HalSampler::start() {
    uv_timer_start(&timer_, &HalSampler::on_timer, 0, interval_ms_);
}

void HalSampler::reconfigure(std::shared_ptr<hal::Hal> hal, uint64_t interval_ms) {
    if (hal)
        hal_ = std::move(hal); // a read in flight keeps the old one alive until it ends
    if (interval_ms != interval_ms_) {
        interval_ms_ = interval_ms;
        uv_timer_start(&timer_, &HalSampler::on_timer, interval_ms_, interval_ms_);
    }
}

void HalSampler::stop() {
    stopped_ = true;
    uv_timer_stop(&timer_);
    uv_close(reinterpret_cast<uv_handle_t *>(&timer_), nullptr);
}

void HalSampler::on_timer(uv_timer_t *timer) {
    auto *self = static_cast<HalSampler *>(timer->data);
    if (self->read_in_flight_)
        return; // a slow sensor read: skip this tick rather than queue reads up
    auto *read = new Read;
    read->work.data = read;
    read->sampler = self;
    read->hal = self->hal_;
    self->read_in_flight_ = true;
    uv_queue_work(
        self->loop_, &read->work,
        [](uv_work_t *work) { // worker thread
            auto *r = static_cast<Read *>(work->data);
            run_in_background();
            try {
                r->result["hal"] = r->hal->snapshot_json("all");
                auto energy = r->hal->read_energy();
                r->result["energy"] = {{"energy_j", energy.energy_j},
                                       {"power_w", energy.power_w},
                                       {"source", energy.source}};
            } catch (const std::exception &e) {
                r->error = e.what();
            }
        },
        [](uv_work_t *work, int) { // loop thread
            std::unique_ptr<Read> r(static_cast<Read *>(work->data));
            HalSampler *sampler = r->sampler;
            sampler->read_in_flight_ = false;
            if (!r->error.empty()) {
                spdlog::warn("hal: read failed: {}", r->error);
                return;
            }
            if (sampler->stopped_)
                return;
            r->result["sampled_ms"] = uv_now(sampler->loop_);
            sampler->latest_ = std::move(r->result);
            if (sampler->on_sample)
                sampler->on_sample(sampler->latest_);
        });
}

} // namespace tierd
