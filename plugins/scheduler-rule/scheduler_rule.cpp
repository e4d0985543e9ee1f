// scheduler-rule: places every task by one fixed rule.
//
//   always-end    run on this device with `light_model`
//   always-edge   run on the edge tier with `heavy_model`
//   always-cloud  run on the cloud tier with `heavy_model`
//   by-route      the pre-classifier said HEAVY and the edge tier is connected -> edge with
//                 `heavy_model`; anything else -> this device with `light_model`
//   by-confidence the cascade: the local model already answered (agent option
//                 [pipeline] local_first = true, ABI 1.1 tierd_task.local_result) and its
//                 top softmax score is below `confidence_threshold`, and the edge tier is
//                 connected -> edge with `heavy_model`; anything else -> this device (the
//                 local answer is kept). With `min_upstream_share` > 0, also the answers
//                 among that least confident share of the last `share_window` go up, above
//                 the threshold or not: a model that adapted or was updated and grew surer
//                 of itself keeps sending its hardest tasks to the teacher, instead of
//                 keeping answers a fixed threshold now lets through (docs/scheduling.md)
//
// decide() runs on the loop thread and only compares a few values (and, with a share,
// selects in a window of a few hundred scores): it never blocks.
#include <tierd/plugin.hpp>

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

namespace {

class SchedulerRule {
  public:
    static constexpr const char *name = "scheduler-rule";
    static constexpr const char *version = "0.1.0";
    static constexpr const char *description =
        "places tasks by a fixed rule (always-end/edge/cloud, by the pre-classifier's route, "
        "or by the local model's confidence)";

    static constexpr const char *const rules[] = {"always-end", "always-edge",   "always-cloud",
                                                  "by-route",   "by-confidence", nullptr};
    static constexpr tierd_config_key config_keys[] = {
        tierd::key_enum("rule", "by-route", rules,
                        "always-end, always-edge, always-cloud, by-route (HEAVY and edge "
                        "connected -> edge, else end), or by-confidence (local model's top "
                        "score < confidence_threshold and edge connected -> edge; needs "
                        "[pipeline] local_first = true)"),
        tierd::key_double("confidence_threshold", "0.95", 0.0, 1.0,
                          "by-confidence: offload when the local top softmax score is below "
                          "this"),
        tierd::key_double("min_upstream_share", "0", 0.0, 1.0,
                          "by-confidence: also offload the answers among this least confident "
                          "share of the last share_window, above the threshold or not (0 = "
                          "off): a model that adapted and grew surer keeps sending its hardest "
                          "tasks up"),
        tierd::key_int("share_window", "200", 20, 100000,
                       "by-confidence: local answers min_upstream_share is taken over"),
        tierd::key_string("light_model", "",
                          "model for tasks kept on this device; \"\" = the inference default"),
        tierd::key_string("heavy_model", "",
                          "model for tasks sent upstream; \"\" = the inference default"),
    };

    SchedulerRule(tierd::Host host, const tierd::Config &config)
        : host_(host), settings_(load(config)) {}

    // A bad value leaves the running settings untouched; the recent scores stay.
    int reload(const tierd::Config &config) {
        settings_ = load(config);
        if (recent_.size() > settings_.share_window) { // a smaller window starts over
            recent_.clear();
            next_ = 0;
        }
        return TIERD_OK;
    }

    int decide(const tierd_task &task, const tierd_preclass_result *pre,
               const tierd_schedule_context &context, tierd_decision &out) {
        out.split_layer = -1;
        switch (settings_.rule) {
        case Rule::always_end:
            place(out, TIERD_TIER_END, settings_.light_model, "rule always-end");
            break;
        case Rule::always_edge:
            place(out, TIERD_TIER_EDGE, settings_.heavy_model,
                  edge_connected(context) ? "rule always-edge"
                                          : "rule always-edge (edge not connected now)");
            break;
        case Rule::always_cloud:
            place(out, TIERD_TIER_CLOUD, settings_.heavy_model,
                  context.cloud && context.cloud->connected
                      ? "rule always-cloud"
                      : "rule always-cloud (cloud not connected now)");
            break;
        case Rule::by_route:
            if (pre == nullptr)
                place(out, TIERD_TIER_END, settings_.light_model,
                      "by-route: no pre-classifier result");
            else if (pre->route != TIERD_ROUTE_HEAVY)
                place(out, TIERD_TIER_END, settings_.light_model,
                      pre->route == TIERD_ROUTE_LIGHT ? "by-route: route LIGHT"
                                                      : "by-route: route UNKNOWN");
            else if (!edge_connected(context))
                place(out, TIERD_TIER_END, settings_.light_model,
                      context.edge ? "by-route: route HEAVY but edge not connected"
                                   : "by-route: route HEAVY but no edge tier known");
            else
                place(out, TIERD_TIER_EDGE, settings_.heavy_model,
                      "by-route: route HEAVY and edge connected");
            break;
        case Rule::by_confidence: by_confidence(task, context, out); break;
        }
        host_.counter_add(out.tier == TIERD_TIER_END    ? "decisions_end"
                          : out.tier == TIERD_TIER_EDGE ? "decisions_edge"
                                                        : "decisions_cloud",
                          1.0);
        return TIERD_OK;
    }

  private:
    enum class Rule { always_end, always_edge, always_cloud, by_route, by_confidence };

    struct Settings {
        Rule rule = Rule::by_route;
        double confidence_threshold = 0.95;
        double min_upstream_share = 0.0;
        std::size_t share_window = 200;
        std::string light_model;
        std::string heavy_model;
    };

    static Settings load(const tierd::Config &config) {
        Settings s;
        s.rule = parse_rule(config.get_string("rule"));
        s.light_model = config.get_string("light_model");
        s.heavy_model = config.get_string("heavy_model");
        s.confidence_threshold = config.get_double("confidence_threshold");
        s.min_upstream_share = config.get_double("min_upstream_share");
        s.share_window = static_cast<std::size_t>(config.get_int("share_window"));
        constexpr size_t limit = sizeof(tierd_decision{}.model) - 1; // 63
        if (s.light_model.size() > limit || s.heavy_model.size() > limit)
            throw tierd::Error(TIERD_ECONFIG,
                               "light_model/heavy_model: model names are limited to 63 bytes");
        return s;
    }

    static Rule parse_rule(const std::string &rule) {
        if (rule == "always-end")
            return Rule::always_end;
        if (rule == "always-edge")
            return Rule::always_edge;
        if (rule == "always-cloud")
            return Rule::always_cloud;
        if (rule == "by-route")
            return Rule::by_route;
        if (rule == "by-confidence")
            return Rule::by_confidence;
        throw tierd::Error(TIERD_ECONFIG, "rule: unknown value '" + rule + "'");
    }
    void by_confidence(const tierd_task &task, const tierd_schedule_context &context,
                       tierd_decision &out) {
        const tierd_inference_result *local = tierd_task_local_result(&task);
        if (local == nullptr)
            return place(out, TIERD_TIER_END, settings_.light_model,
                         "by-confidence: no local result (set [pipeline] local_first = true)");
        const bool unsure = local->top_score < settings_.confidence_threshold;
        // Every answer joins the window, the unsure ones too.
        const bool in_share = among_least_confident(local->top_score) && !unsure;
        if (!unsure && !in_share)
            return place(out, TIERD_TIER_END, settings_.light_model,
                         "by-confidence: local model confident");
        if (!edge_connected(context))
            return place(out, TIERD_TIER_END, settings_.light_model,
                         unsure ? "by-confidence: local model unsure but edge not connected"
                                : "by-confidence: among the least confident share but edge not "
                                  "connected");
        if (in_share)
            host_.counter_add("decisions_share", 1.0);
        place(out, TIERD_TIER_EDGE, settings_.heavy_model,
              unsure ? "by-confidence: local model unsure and edge connected"
                     : "by-confidence: among the least confident share of recent answers");
    }

    // Keeps `score` in the window and says whether it is below the min_upstream_share
    // quantile of the window (at least 20 scores in it; off when the share is 0).
    bool among_least_confident(float score) {
        if (settings_.min_upstream_share <= 0.0)
            return false;
        if (recent_.size() < settings_.share_window)
            recent_.push_back(score);
        else
            recent_[next_] = score;
        next_ = (next_ + 1) % settings_.share_window;
        if (recent_.size() < kMinScores)
            return false;
        sorted_.assign(recent_.begin(), recent_.end());
        const auto k = static_cast<std::size_t>(settings_.min_upstream_share *
                                                static_cast<double>(sorted_.size()));
        if (k == 0)
            return false;
        std::nth_element(sorted_.begin(), sorted_.begin() + static_cast<std::ptrdiff_t>(k - 1),
                         sorted_.end());
        return score <= sorted_[k - 1];
    }
    static constexpr std::size_t kMinScores = 20; // fewer: the quantile says little

    static bool edge_connected(const tierd_schedule_context &context) {
        return context.edge != nullptr && context.edge->connected != 0;
    }
    static void place(tierd_decision &out, tierd_tier tier, const std::string &model,
                      const char *reason) {
        out.tier = tier;
        tierd::copy_string(out.model, model);
        tierd::copy_string(out.reason, reason);
    }

    tierd::Host host_;
    Settings settings_;
    std::vector<float> recent_; // the last share_window local top scores (a ring)
    std::size_t next_ = 0;
    std::vector<float> sorted_; // scratch for the quantile
};

} // namespace

TIERD_PLUGIN(SchedulerRule, TIERD_KIND_SCHEDULER)
