// fusion-passthrough: no real fusion; copies the preferred available result (`prefer`:
// remote or local) into the output, scores within the host's capacity.
//
// fuse() runs on the loop thread and only copies memory: it never blocks.
#include <tierd/plugin.hpp>

#include <string>

namespace {

class FusionPassthrough {
  public:
    static constexpr const char *name = "fusion-passthrough";
    static constexpr const char *version = "0.1.0";
    static constexpr const char *description =
        "passes through the preferred available result (remote or local)";

    static constexpr const char *const preferences[] = {"remote", "local", nullptr};
    static constexpr tierd_config_key config_keys[] = {
        tierd::key_enum("prefer", "remote", preferences,
                        "which result wins when both are available: remote or local"),
    };

    FusionPassthrough(tierd::Host host, const tierd::Config &config)
        : host_(host), prefer_remote_(load(config)) {}

    int reload(const tierd::Config &config) {
        prefer_remote_ = load(config);
        return TIERD_OK;
    }

    int fuse(const tierd_task *, const tierd_inference_result *local,
             const tierd_inference_result *remote, tierd_inference_result &out) {
        const tierd_inference_result *first = prefer_remote_ ? remote : local;
        const tierd_inference_result *second = prefer_remote_ ? local : remote;
        const tierd_inference_result *pick = first != nullptr ? first : second;
        if (pick == nullptr) {
            host_.set_error("fuse: neither a local nor a remote result");
            return TIERD_EINVAL;
        }
        host_.counter_add(pick == remote ? "picked_remote" : "picked_local", 1.0);

        out.top_class = pick->top_class;
        out.top_score = pick->top_score;
        tierd::copy_string(out.model,
                           std::string(pick->model, strnlen(pick->model, sizeof pick->model)));
        out.compute_ms = pick->compute_ms;
        out.energy_j = pick->energy_j;
        tierd::copy_string(out.energy_source,
                           std::string(pick->energy_source,
                                       strnlen(pick->energy_source, sizeof pick->energy_source)));
        // The scores the source actually holds: it may itself have been cut at its capacity.
        uint32_t have = pick->scores != nullptr ? pick->score_count : 0;
        if (have > pick->score_capacity)
            have = pick->score_capacity;
        return tierd::write_scores(out, pick->scores, have);
    }

  private:
    static bool load(const tierd::Config &config) {
        const std::string prefer = config.get_string("prefer");
        if (prefer != "remote" && prefer != "local")
            throw tierd::Error(TIERD_ECONFIG, "prefer: unknown value '" + prefer + "'");
        return prefer == "remote";
    }

    tierd::Host host_;
    bool prefer_remote_ = true;
};

} // namespace

TIERD_PLUGIN(FusionPassthrough, TIERD_KIND_FUSION)
