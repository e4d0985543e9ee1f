// The end's side of offload: a task the scheduler placed on another tier goes there as an
// offload request (offload_codec.hpp) and waits for the reply, until the offload timeout;
// the link estimates (link_estimator.hpp) that real round trips and link probes feed,
// which the scheduler reads.
//
// Probes cost what they measure: they share the end's one MQTT connection (and uplink)
// with the tasks' requests. So real round trips are the first source; a tier is probed
// only for what they do not keep fresh (LinkEstimator::probe_need, with
// probe_interval_ms as the age limit); at most one probe is in flight on the connection
// (the edge's never queues behind the cloud's, nor a large behind a small); none is sent
// while an offload waits for its reply, unless the estimate is three intervals old; the
// large probe of a pair is sized to take kProbeTransferMs at the slowest estimate of the
// shared uplink; and after each probe the next waits until the probes have taken at most
// kProbeShare of the link's time.
//
// A request or probe sent while earlier messages were still on the uplink waited behind
// them; that wait is not the link's round trip. UplinkBacklog models it (the messages one
// after the other at the current estimates) and every sample is taken with it subtracted,
// so that a stream whose round trip is longer than its period (every request "crowded")
// still samples the link with each reply. A wrong estimate makes the modelled wait wrong
// in the direction that pulls the next sample toward the truth (too fast an estimate: too
// short a wait subtracted, the sample comes out slower).
//
// Every task handed to send() comes back exactly once through `answered`: with the
// remote answer (task->remote.ok), or with task->offload.fallback saying why it must run
// here instead ("broker-unreachable", "timeout", "upstream-error: ...",
// "encode-failed: ...", "stopping").
//
// Threads: loop thread. Requests whose encoding is large (big images, split tensors) are
// encoded on a worker.
#pragma once

#include "agent/pipeline/link_estimator.hpp"
#include "agent/pipeline/offload_codec.hpp"
#include "agent/pipeline/shared_hop.hpp"
#include "agent/pipeline/task.hpp"

#include <nlohmann/json.hpp>
#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tierd {

// How the end reaches the other tiers (the agent fills it in; unset = never offload).
struct Upstream {
    // Whether an agent of `tier` is online now (also the scheduler's link state).
    std::function<bool(tierd_tier)> online;
    // Publishes an encoded request for `tier`; false when it cannot go out now.
    std::function<bool(tierd_tier, const std::string &payload, const std::string &correlation)>
        send;
    // The tiers' measured model profiles for the scheduler (ABI 1.2
    // tierd_schedule_context.profiles_json) and their generation; null = none.
    std::function<std::pair<const std::string *, uint64_t>()> profiles;
    // A whole-model compute time seen on `device` ("" = here), so that the profiles
    // follow what the devices really take (ProfileBook::observe); may be null.
    std::function<void(const std::string &device, const std::string &model, double ms)>
        observed_compute;
};

// The end's uplink as a queue: the messages the OffloadClient puts on its one connection
// (requests, probes) leave one after the other, each taking bytes * 8 / bandwidth (payload
// bytes, as LinkEstimator::predict_ms counts them: its bandwidth is one of payload, with
// the framing's share in it), at the current estimate of its tier's link (the edge's and
// the cloud's paths share the end's uplink, their first hop). From that: how long a
// message waited behind the ones sent before it. The estimates are read when the wait is
// asked for, not when the messages were sent, so that a correction reaches the older
// messages too; and an answered message had left the uplink by its answer's arrival less
// the time at the serving agent and the rtt (left()), which bounds what too slow an
// estimate makes of the messages sent before a recovery. Messages the client does not see
// (results, telemetry, PUBACKs) are not in it. Pure computation, time passed in (ns,
// monotonic); loop thread.
class UplinkBacklog {
  public:
    // At most this many messages are kept (the oldest go first), bounding a reply's work.
    static constexpr std::size_t kMaxMessages = 256;

    // Records a message of `bytes` of payload for `tier` put on the uplink at sent_ns (not
    // before the last one recorded); returns its number for wait_ms() and left().
    std::uint64_t add(tierd_tier tier, std::size_t bytes, std::uint64_t sent_ns);
    // Message `number` had left the uplink by left_by_ns (an answer proves it).
    void left(std::uint64_t number, std::uint64_t left_by_ns);
    // Milliseconds message `number` waited behind the messages recorded before it, each
    // taking its airtime at bps(its tier) (<= 0: unknown, no time) unless it is known to
    // have left earlier; 0 when `number` has been forgotten.
    double wait_ms(std::uint64_t number, const std::function<double(tierd_tier)> &bps) const;
    // Forgets the messages sent before `ns` (their replies are past any timeout).
    void forget_before(std::uint64_t ns);
    void clear() { messages_.clear(); }
    std::size_t size() const { return messages_.size(); }

  private:
    struct Message {
        std::uint64_t number;
        tierd_tier tier;
        std::size_t bytes;
        std::uint64_t sent_ns;
        std::uint64_t left_by_ns = 0; // 0: not known
    };
    // In sending order, numbered consecutively: messages_[i].number == front's + i.
    std::deque<Message> messages_;
    std::uint64_t next_number_ = 0;
};

class OffloadClient {
  public:
    struct Options {
        std::string device_id;
        int timeout_ms = 1000; // how long an upstream reply may take
        // How old an estimate of each online tier's link may grow before a probe
        // refreshes it (real round trips refresh it for free); 0 = no probes.
        int probe_interval_ms = 1000;
        // Region re-send ([offload] frame_resend...; region_resend.hpp): a video frame
        // travels small (low_scale) at low_quality first; the regions the serving tier asks
        // for again follow at the frame's own JPEG quality.
        bool frame_resend = false;
        double low_scale = 0.65;
        int low_quality = 50;
        float resend_sure = 0.5f, resend_unsure = 0.25f;
        bool resend_mosaic = true;   // the second round as one mosaic JPEG (pack_regions())
        float resend_margin = 0.25f; // regions: boxes grown by this much of their size
    };
    using Answered = std::function<void(TaskPtr task)>;

    OffloadClient(uv_loop_t *loop, Options options, Answered answered);
    OffloadClient(const OffloadClient &) = delete;
    OffloadClient &operator=(const OffloadClient &) = delete;

    void set_upstream(Upstream upstream) { upstream_ = std::move(upstream); }
    const Upstream &upstream() const { return upstream_; }
    // An agent of `tier` is online and a request could be sent.
    bool can_send(tierd_tier tier) const;
    // can_send(), and the link to `tier` is not degraded (timeouts in a row: a link cut
    // that the MQTT connection has not noticed yet).
    bool answering(tierd_tier tier) const;

    // Initialises the timers; call once before anything else is sent.
    void start();
    // Starts the link probes (idempotent), ahead of the first tasks if wanted.
    void start_probing();
    // Probes now, e.g. when a tier has just come online.
    void probe_now();

    // The scheduler's view of the link to `tier`.
    tierd_link_state link_state(tierd_tier tier, std::uint64_t now_ns) const;

    // Sends `task` (its decision; its head tensor when split) to decision.tier.
    void send(TaskPtr task);
    // A message on the device's offload/reply topic.
    void on_reply(const std::string &payload);

    // Stops: tasks waiting for a reply come back through `answered` with fallback
    // "stopping"; timers close. `closed` runs on the loop once they have.
    void stop(std::function<void()> closed);
    // Nothing of the client's is on a worker or waiting for a timer to close.
    bool idle() const { return encoding_ == 0 && closing_ == 0; }

    std::size_t pending() const { return pending_.size(); }
    // "offload_pending", "late_replies", "links" for the pipeline's stats.
    void add_stats(nlohmann::json &stats) const;

  private:
    struct Probe; // below
    // Runs `encode` (which may throw) on the loop when the body is small, else on a worker,
    // then publishes the payload for `task`.
    void encode_and_publish(TaskPtr task, std::function<std::string()> encode,
                            std::size_t body_bytes);
    // Sends `payload` for `task` and waits for its reply: a first request (its deadline
    // starts), or a second round of region re-send (task.offload.resend_regions > 0: its
    // bytes add up, the first deadline stays).
    void publish(TaskPtr task, std::string payload);
    // Region re-send: the second round of `task` with the regions its reply asked for.
    void send_regions(TaskPtr task, const std::vector<cv::Rect> &regions);
    // A successful final reply into task.remote, then `answered`.
    void finish_reply(TaskPtr task, OffloadReply reply, std::vector<float> features);
    void give_back(TaskPtr task, std::string fallback);
    static void on_sweep(uv_timer_t *timer);
    static void on_probe_tick(uv_timer_t *timer);
    void probe_tick();
    void on_probe_reply(const std::string &id);
    // Sends one probe of `pad` bytes to `tier` as probe_ (its stage and figures filled in
    // from `probe`); false when it cannot go out.
    bool send_probe(tierd_tier tier, std::size_t pad, Probe probe);
    // The large probe's pad: kProbeTransferMs at the slowest known uplink estimate.
    std::size_t large_probe_pad(std::uint64_t now_ns) const;
    static int tier_slot(tierd_tier tier) { return tier == TIERD_TIER_CLOUD ? 1 : 0; }
    LinkEstimator &link(tierd_tier tier) { return links_[tier_slot(tier)]; }
    const LinkEstimator &link(tierd_tier tier) const { return links_[tier_slot(tier)]; }
    void closed_one();

    uv_loop_t *loop_;
    Options options_;
    Answered answered_;
    Upstream upstream_;
    bool started_ = false;
    bool stopping_ = false;
    int encoding_ = 0; // requests being encoded, or replies' feature maps decoded, on a worker
    int closing_ = 0;  // timers whose close callback has not run
    std::function<void()> closed_;

    // Tasks waiting for an upstream reply, by task id; a timer sweeps their deadlines.
    std::map<std::string, TaskPtr> pending_;
    uv_timer_t sweep_timer_{};
    bool sweeping_ = false;
    std::uint64_t late_replies_ = 0;
    std::uint64_t resend_rounds_ = 0; // second rounds of region re-send sent

    // The messages on the end's uplink, and each pending task's number there (erased with
    // the task's reply, timeout or stop): a reply's sample is taken without the wait
    // behind the messages sent before it.
    UplinkBacklog uplink_;
    std::map<std::string, std::uint64_t> uplink_number_;
    // The modelled wait of uplink message `number`, at the current estimates.
    double uplink_wait_ms(std::uint64_t number) const;
    // Message `number` to `tier` was answered now after remote_ms at the serving agent.
    void uplink_answered(std::uint64_t number, tierd_tier tier, double remote_ms,
                         std::uint64_t now_ns);

    // Link estimates for the edge [0] and the cloud [1].
    LinkEstimator links_[2];
    // A drop of the shared first hop that one tier's samples show bounds the other's
    // bandwidth (link_state) and asks for its probe, until it is measured again.
    SharedHopBound shared_hop_;
    // Both estimates now, in slot order.
    void estimates(std::uint64_t now_ns, LinkEstimator::Estimate (&out)[2]) const;
    // After a sample of either link: shared_hop_ sees it.
    void observe_links(std::uint64_t now_ns);
    // The one probe in flight on the end's connection, if any. A bandwidth measurement is
    // two probes, one after the other: first a canary of a sixteenth of the large pad (a
    // link far slower than estimated shows in it, and it holds such a link 16 times less
    // long than the large one would), then the large one, or, when the canary came back
    // kProbeTransferMs later than the estimates predict (and the large one is at least
    // kCanaryMinLargePad), an empty one; the pair's difference is the sample. While an
    // offload waits for its reply the pair does not go on (its difference would read the
    // traffic's replies on the downlink as the link's): the canary alone is then taken as
    // an offload's round trip is (LinkEstimator::on_offload), a bandwidth sample on a slow
    // link and an rtt sample that checks the bandwidth on a fast one, unless the bandwidth
    // is still unknown (then the pair goes on). Round trips are taken less their modelled
    // wait on the uplink.
    struct Probe {
        enum class Stage { lone, canary, second } stage = Stage::lone;
        std::string id;
        tierd_tier tier = TIERD_TIER_EDGE;
        std::size_t bytes = 0; // the request's payload
        std::uint64_t sent_ns = 0;
        std::uint64_t uplink_number = 0; // in uplink_
        std::size_t large_pad = 0;       // canary: the pad of the large probe planned after it
        double first_rtt_ms = -1.0;      // second: the canary's round trip (less its uplink
                                         // wait) and payload
        std::size_t first_bytes = 0;
    };
    std::optional<Probe> probe_;
    std::uint64_t probe_quiet_until_ns_ = 0; // pacing: no probe before this
    std::uint64_t probes_sent_[2] = {0, 0}, probe_bytes_[2] = {0, 0};
    uv_timer_t probe_timer_{};
    bool probing_ = false;
    std::uint64_t probe_seq_ = 0;
    int next_tier_ = 0; // 0: the edge is looked at first, 1: the cloud
};

} // namespace tierd
