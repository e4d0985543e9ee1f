#include "core/scheduler.hpp"

#include "core/pareto.hpp"

#include <cmath>
#include <cstdio>
#include <limits>
#include <stdexcept>

namespace scheduler_mo {

namespace {

constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();

std::size_t remote_slot(Tier tier) {
    return tier == Tier::cloud ? 1 : 0;
}

} // namespace

Scheduler::Scheduler(const ProfileSet &profiles, const Settings &settings, const DevicePower &power,
                     const Policy &policy)
    : options_(enumerate_options(profiles, settings)), settings_(settings), power_(power),
      scales_(reference_scales(profiles, settings, power)) {
    for (double watts : {power.compute_w, power.tx_w, power.rx_w})
        if (!std::isfinite(watts) || watts < 0)
            throw std::invalid_argument("device power: compute_w, tx_w, rx_w must be >= 0");
    if (!std::isfinite(settings.reply_bytes) || settings.reply_bytes < 0)
        throw std::invalid_argument("reply_bytes: must be >= 0");
    if (options_.empty())
        throw std::invalid_argument(
            "no placement option: the allowed tiers' profiles have none of the allowed models");
    set_policy(policy);
}

void Scheduler::set_policy(const Policy &policy) {
    policy.validate();
    policy_ = policy;
    weights_ = policy_.effective_weights();
    forced_ = policy_.force.empty() ? std::nullopt : find(policy_.force);
    rebuild();
    has_last_ = false;
}

std::optional<std::size_t> Scheduler::find(std::string_view name) const {
    for (std::size_t i = 0; i < options_.size(); ++i)
        if (options_[i].name == name)
            return i;
    return std::nullopt;
}

bool Scheduler::feasible(std::size_t index, const Context &context) const {
    return scheduler_mo::feasible(options_[index], context);
}

Objectives Scheduler::predict(std::size_t index, const Context &context) const {
    return scheduler_mo::predict(options_[index], context, power_);
}

double Scheduler::cost(std::size_t index, const Context &context) const {
    return weighted_cost(predict(index, context), cost_factors(weights_, scales_));
}

// Each option's weighted cost split into what is fixed for the policy (intercept, slope
// per unit of x = 1 / bandwidth) and what a context adds to a whole tier: rtt + queue (or
// local_queue_ms on the end device), and for the light model its accuracy term.
void Scheduler::rebuild() {
    const CostFactors f = cost_factors(weights_, scales_);
    const double wl = f.latency, we = f.energy, wb = f.bytes, wa = f.accuracy;
    std::array<std::vector<Line>, 2> lines;
    light_.clear();
    end_best_.reset();
    end_best_cost_ = 0;
    for (std::size_t i = 0; i < options_.size(); ++i) {
        const Option &o = options_[i];
        double bytes = o.upload_bytes + o.reply_bytes;
        double intercept = wl * (o.end_compute_ms + o.remote_compute_ms) +
                           we * (power_.compute_w * o.end_compute_ms / 1000) + wb * bytes;
        double slope = wl * bytes * 8 * 1000 +
                       we * (power_.tx_w * o.upload_bytes * 8 + power_.rx_w * o.reply_bytes * 8);
        if (o.light) {
            light_.push_back({i, intercept, slope});
            continue;
        }
        intercept += wa * (1 - o.top1 * o.wire_factor);
        if (o.tier != Tier::end) {
            lines[remote_slot(o.tier)].push_back({intercept, slope, static_cast<std::uint32_t>(i)});
            continue;
        }
        // End options share local_queue_ms: the cheapest one is the same in every context.
        Context any;
        if (!end_best_ || intercept < end_best_cost_ ||
            (intercept == end_best_cost_ &&
             tie_break_before(predict(i, any), i, predict(*end_best_, any), *end_best_))) {
            end_best_ = i;
            end_best_cost_ = intercept;
        }
    }
    for (std::size_t slot = 0; slot < 2; ++slot)
        remote_[slot] = Remote{LowerEnvelope(std::move(lines[slot])), 0};
}

Decision Scheduler::decide(const Context &context) {
    ++stats_.decisions;
    if (policy_.redecide_threshold > 0 && has_last_ && !moved(context)) {
        ++stats_.cached;
        Decision reused = last_;
        reused.cached = true;
        return reused;
    }
    Decision out;
    std::string prefix;
    if (!apply_force(context, out, prefix)) {
        if (policy_.kind == PolicyKind::weighted || policy_.kind == PolicyKind::latency) {
            ++stats_.incremental;
            out = decide_incremental(context, prefix);
        } else {
            ++stats_.scans;
            out = decide_scan(context, scratch_, prefix);
        }
    }
    if (policy_.redecide_threshold > 0) {
        last_context_ = context;
        last_ = out;
        has_last_ = true;
    }
    return out;
}

Decision Scheduler::decide_exhaustive(const Context &context) const {
    Decision out;
    std::string prefix;
    if (apply_force(context, out, prefix))
        return out;
    std::vector<Candidate> scratch;
    return decide_scan(context, scratch, prefix);
}

std::vector<std::size_t> Scheduler::pareto_front(const Context &context) const {
    std::vector<Candidate> candidates;
    predict_feasible(context, candidates);
    return scheduler_mo::pareto_front(candidates);
}

void Scheduler::predict_feasible(const Context &context, std::vector<Candidate> &out) const {
    out.clear();
    const std::array<TierTerms, 3> terms{tier_terms(Tier::end, context),
                                         tier_terms(Tier::edge, context),
                                         tier_terms(Tier::cloud, context)};
    for (std::size_t i = 0; i < options_.size(); ++i) {
        const Option &option = options_[i];
        if (scheduler_mo::feasible(option, context))
            out.push_back(
                {i, scheduler_mo::predict(option, terms[static_cast<std::size_t>(option.tier)],
                                          context, power_)});
    }
}

Decision Scheduler::decide_incremental(const Context &context, const std::string &prefix) {
    const CostFactors f = cost_factors(weights_, scales_);
    const double wl = f.latency, wa = f.accuracy;
    std::size_t best = kNone;
    double best_cost = 0;
    auto consider = [&](std::size_t index, double cost) {
        // Exact ties are rare (zero weights, identical profiles): only then predict both.
        if (best == kNone || cost < best_cost ||
            (cost == best_cost &&
             tie_break_before(predict(index, context), index, predict(best, context), best))) {
            best = index;
            best_cost = cost;
        }
    };
    if (end_best_)
        consider(*end_best_, end_best_cost_ + wl * context.local_queue_ms);
    std::array<double, 2> x{};
    std::array<double, 2> shift{};
    std::array<bool, 2> up{};
    for (Tier tier : {Tier::edge, Tier::cloud}) {
        std::size_t slot = remote_slot(tier);
        const TierLink &link = context.link(tier);
        up[slot] = usable(link);
        if (!up[slot])
            continue;
        x[slot] = 1 / link.bandwidth_bps;
        shift[slot] = wl * (link.rtt_ms + link.queue_ms);
        Remote &remote = remote_[slot];
        if (remote.envelope.empty())
            continue;
        const Line &line =
            remote.envelope.at(remote.envelope.walk(x[slot], remote.cursor, stats_.walk));
        consider(line.id, line.intercept + line.slope * x[slot] + shift[slot]);
    }
    for (const LightLine &light : light_) {
        const Option &option = options_[light.index];
        double cost = light.intercept + wa * (1 - accuracy(option, context));
        if (option.tier == Tier::end) {
            cost += wl * context.local_queue_ms;
        } else {
            std::size_t slot = remote_slot(option.tier);
            if (!up[slot])
                continue;
            cost += light.slope * x[slot] + shift[slot];
        }
        consider(light.index, cost);
    }
    if (best == kNone)
        return none_feasible(context, prefix);
    return make(best, context, best_cost, prefix, policy_name(policy_.kind));
}

Decision Scheduler::decide_scan(const Context &context, std::vector<Candidate> &scratch,
                                const std::string &prefix) const {
    predict_feasible(context, scratch);
    if (scratch.empty())
        return none_feasible(context, prefix);
    Choice choice = choose(policy_, scales_, context, scratch);
    char label[96];
    switch (policy_.kind) {
    case PolicyKind::lexicographic: {
        std::string order = "lex ";
        for (std::size_t i = 0; i < policy_.order.size(); ++i)
            order += (i > 0 ? ">" : "") + std::string(objective_name(policy_.order[i].objective));
        std::snprintf(label, sizeof label, "%s", order.c_str());
        break;
    }
    case PolicyKind::constraints:
        if (!choice.constraints_met)
            std::snprintf(label, sizeof label, "constraints unmet, least violation %.3g",
                          choice.cost);
        else if (choice.battery_low)
            std::snprintf(label, sizeof label, "battery %.0f%%<%.0f%%, min energy",
                          context.battery_fraction * 100, policy_.battery_floor * 100);
        else
            std::snprintf(label, sizeof label, "constraints, min %s",
                          objective_name(choice.minimised));
        break;
    case PolicyKind::weighted:
    case PolicyKind::latency:
        std::snprintf(label, sizeof label, "%s", policy_name(policy_.kind));
        break;
    }
    Decision out = make(scratch[choice.position].index, context, choice.cost, prefix, label);
    out.constraints_met = choice.constraints_met;
    return out;
}

bool Scheduler::apply_force(const Context &context, Decision &out, std::string &prefix) const {
    if (policy_.force.empty())
        return false;
    if (!forced_) {
        prefix = "force '" + policy_.force + "' unavailable; ";
        return false;
    }
    const Option &option = options_[*forced_];
    if (!feasible(*forced_, context)) {
        prefix = std::string("force: ") + tier_name(option.tier) + " offline; ";
        return false;
    }
    out = make(*forced_, context, cost(*forced_, context), "", "force");
    out.forced = true;
    return true;
}

Decision Scheduler::make(std::size_t index, const Context &context, double cost,
                         const std::string &prefix, const char *label) const {
    Decision out;
    out.valid = true;
    out.index = index;
    out.cost = cost;
    out.predicted = predict(index, context);
    char text[256];
    int n =
        std::snprintf(text, sizeof text, "%s%s: %s lat %.3gms E %.3gmJ acc %.1f%%", prefix.c_str(),
                      label, options_[index].name.c_str(), out.predicted.latency_ms,
                      out.predicted.energy_j * 1000, out.predicted.accuracy * 100);
    std::size_t length = n < 0 ? 0 : static_cast<std::size_t>(n);
    out.reason.assign(text, std::min({length, sizeof text - 1, kReasonMax}));
    return out;
}

Decision Scheduler::none_feasible(const Context &context, const std::string &prefix) const {
    Decision out;
    out.constraints_met = false;
    out.reason = prefix + "no feasible option (";
    out.reason += settings_.use_end ? "end has no model" : "end not allowed";
    for (Tier tier : {Tier::edge, Tier::cloud})
        out.reason += std::string(", ") + tier_name(tier) +
                      (usable(context.link(tier)) ? " has no option" : " offline");
    out.reason += ")";
    if (out.reason.size() > kReasonMax)
        out.reason.resize(kReasonMax);
    return out;
}

bool Scheduler::moved(const Context &now) const {
    const Context &then = last_context_;
    double limit = policy_.redecide_threshold;
    auto far = [limit](double a, double b) { return std::fabs(a - b) > limit * std::fabs(b); };
    for (Tier tier : {Tier::edge, Tier::cloud}) {
        const TierLink &a = now.link(tier);
        const TierLink &b = then.link(tier);
        if (a.online != b.online)
            return true;
        if (a.online && (far(a.bandwidth_bps, b.bandwidth_bps) || far(a.rtt_ms, b.rtt_ms) ||
                         far(a.queue_ms, b.queue_ms)))
            return true;
    }
    return far(now.local_queue_ms, then.local_queue_ms) ||
           far(now.light_ok_probability, then.light_ok_probability) ||
           far(now.battery_fraction, then.battery_fraction);
}

} // namespace scheduler_mo
