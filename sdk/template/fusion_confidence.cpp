// fusion-confidence: a tierd fusion plugin. When both a local and a remote result are
// available, the remote one wins only if its top score beats the local top score by at
// least `margin`; otherwise the (cheaper, already computed) local result stands. With
// only one result, that one is passed on.
//
// fuse() runs on the agent's loop thread: it only compares and copies, never blocks.
#include <tierd/plugin.hpp>

#include <cstdint>
#include <cstring>

namespace {

class FusionConfidence {
  public:
    // The name must equal the file name without ".so": tierd_add_plugin(fusion-confidence).
    static constexpr const char *name = "fusion-confidence";
    static constexpr const char *version = "0.1.0";
    static constexpr const char *description =
        "keeps the local result unless the remote one is more confident by a margin";

    // The one key of [plugin.fusion-confidence]; tierd validates it before create().
    static constexpr tierd_config_key config_keys[] = {
        tierd::key_double("margin", "0.1", 0.0, 1.0,
                          "the remote result wins when its top score exceeds the local "
                          "top score by at least this much"),
    };

    // create(): worker thread, may block. The Config is valid only here: keep copies.
    FusionConfidence(tierd::Host host, const tierd::Config &config)
        : host_(host), margin_(config.get_double("margin")) {}

    // fuse(): loop thread, must not block. Either input may be NULL, never both.
    int fuse(const tierd_task *, const tierd_inference_result *local,
             const tierd_inference_result *remote, tierd_inference_result &out) {
        const tierd_inference_result *pick = local;
        if (local == nullptr ||
            (remote != nullptr && remote->top_score >= local->top_score + margin_))
            pick = remote;
        if (pick == nullptr) {
            host_.set_error("fuse: neither a local nor a remote result");
            return TIERD_EINVAL;
        }
        host_.counter_add(pick == remote ? "picked_remote" : "picked_local", 1.0);
        return copy_result(*pick, out);
    }

  private:
    // Copies `from` into the host-owned `out`, its scores within out's capacity.
    static int copy_result(const tierd_inference_result &from, tierd_inference_result &out) {
        out.top_class = from.top_class;
        out.top_score = from.top_score;
        out.compute_ms = from.compute_ms;
        out.energy_j = from.energy_j;
        std::memcpy(out.model, from.model, sizeof out.model);
        out.model[sizeof out.model - 1] = '\0';
        std::memcpy(out.energy_source, from.energy_source, sizeof out.energy_source);
        out.energy_source[sizeof out.energy_source - 1] = '\0';
        // The source may itself have been cut at its capacity (the ERANGE rule).
        uint32_t have = from.scores != nullptr ? from.score_count : 0;
        if (have > from.score_capacity)
            have = from.score_capacity;
        return tierd::write_scores(out, from.scores, have);
    }

    tierd::Host host_;
    double margin_;
};

} // namespace

TIERD_PLUGIN(FusionConfidence, TIERD_KIND_FUSION)
