// Model updates from the fleet (issue 18, section 4; docs/models.md): the models.* commands
// and the activation of a stored version.
//
// An update arrives in chunks (models.update: base64 bytes at an offset), is staged and
// verified by the ModelStore (size, sha256), and is then activated: the inference
// plugin's manifest becomes an overlay naming the new file, through the same config
// change as set-config — the new plugin instance is created and warmed up beside the
// running one and swapped in make-before-break, tasks in flight finish on the old one, and
// a version the plugin cannot load is refused with nothing changed. Before the change the
// running model's accuracy on the held-back buffer ([models] holdout) is measured; after
// it, the new one's; a version more than [models] max_drop_points below is rolled back at
// once (the same change, back) and marked rejected. The same holds for the agreement with
// the teacher on the latest images answered upstream ([models] teacher_images, kept by the
// pipeline with the upstream's answers): more than teacher_drop_points lower, rolled back —
// the check a model that errs where the clean buffer does not look cannot pass. The overlay stays
// as a lasting override of the config source, so a reload or a restart comes up on the same model.
//
// Threads: the commands run on the loop; file work and the accuracy checks on workers,
// one model job at a time (model_busy_), with the store touched only by that job or,
// between jobs, by the loop.
#include "agent/config/config_changes.hpp"
#include "agent/core/agent.hpp"
#include "agent/loop/loop_work.hpp"
#include "agent/pipeline/image_source.hpp"
#include "agent/pipeline/profiler.hpp"
#include "common/base64.hpp"

#include <spdlog/spdlog.h>
#include <tierd/idx.hpp>
#include <toml++/toml.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

namespace tierd {
namespace {

// The held-back buffer: the last `count` images of an IDX file, with their labels.
struct HeldBack {
    std::vector<cv::Mat> images;
    std::vector<int> labels;
    std::string describe;
};

HeldBack read_held_back(const ModelsConfig &c, const std::string &manifest) {
    HeldBack h;
    if (c.holdout_images <= 0)
        return h;
    std::string images = c.holdout, labels = c.holdout_labels;
    if (images.empty() || labels.empty()) {
        const auto doc = toml::parse_file(manifest);
        std::string dir = doc["dataset_dir"].value_or(std::string());
        if (dir.empty())
            throw std::runtime_error(
                "[models] holdout is not set and the manifest names no dataset_dir");
        if (images.empty())
            images = dir + "/t10k-images-idx3-ubyte.gz";
        if (labels.empty())
            labels = dir + "/t10k-labels-idx1-ubyte.gz";
    }
    auto all = read_idx_images(images, std::size_t{1} << 20);
    const auto all_labels = idx::read_labels(labels);
    const std::size_t n =
        std::min({all.size(), all_labels.size(), static_cast<std::size_t>(c.holdout_images)});
    if (n == 0)
        throw std::runtime_error(images + ": no labelled images");
    const std::size_t first = std::min(all.size(), all_labels.size()) - n;
    for (std::size_t i = first; i < first + n; ++i) {
        h.images.push_back(std::move(all[i]));
        h.labels.push_back(all_labels[i]);
    }
    h.describe = std::to_string(n) + " images of " + images;
    return h;
}

std::string percent(double a) {
    char text[16];
    std::snprintf(text, sizeof text, "%.1f%%", 100.0 * a);
    return text;
}

std::string points(double p) {
    char text[16];
    std::snprintf(text, sizeof text, "%.1f", p);
    return text;
}

} // namespace

struct Agent::ModelActivation {
    std::string name, version; // version "" = the shipped model
    bool pinned = false;
    bool check = true; // the held-back check (an operator's rollback skips it)
    CommandTable::Reply reply;
    nlohmann::json extra = nlohmann::json::object(); // more for the reply
    // As it goes:
    std::string inference;        // the inference plugin's name
    std::string running_manifest; // the manifest before the change (the rollback's)
    std::string base_manifest, overlay, previous;
    std::shared_ptr<HeldBack> held_back;
    double before = -1, after = -1;
    std::shared_ptr<HeldBack> teacher; // the latest teacher-labelled images, when enough
    double teacher_before = -1, teacher_after = -1;
    std::string error_code, error;
    std::string why;         // the new version failed its check: rolled back
    std::string store_error; // the store could not record the outcome
    bool any_active = false; // after it: some model runs an update (the override stays)
};

void Agent::register_model_commands() {
    auto store_or_fail = [this]() -> std::shared_ptr<ModelStore> {
        if (!model_store_)
            throw CommandError{"no_state_dir", "model updates are kept under agent.state_dir, "
                                               "which is not set (or its models/ is unusable)"};
        if (model_busy_)
            throw CommandError{"busy", "another model update or activation is running"};
        return model_store_;
    };

    commands_.add("models.list", [this](const nlohmann::json &) {
        nlohmann::json out = model_store_ ? model_store_->to_json()
                                          : nlohmann::json{{"models", nlohmann::json::object()}};
        const std::string inference = config().plugins.inference;
        out["inference"] = inference;
        if (auto t = config().plugin_tables.find(inference); t != config().plugin_tables.end())
            out["manifest"] = t->second["manifest"].value_or(std::string());
        out["busy"] = model_busy_;
        return out;
    });

    commands_.add_async("models.update", [this, store_or_fail](const nlohmann::json &args,
                                                               CommandTable::Reply reply) {
        auto store = store_or_fail();
        const std::string name = string_arg(args, "name");
        const std::string version = string_arg(args, "version");
        const std::string sha256 = string_arg(args, "sha256");
        const std::uint64_t size = count_arg(args, "size");
        const std::uint64_t offset = count_arg(args, "offset");
        auto data = std::make_shared<std::string>(string_arg(args, "data"));
        bool activate = true;
        if (auto a = args.find("activate"); a != args.end()) {
            if (!a->is_boolean())
                throw CommandError{"invalid_args", "\"activate\" must be true or false"};
            activate = a->get<bool>();
        }
        model_busy_ = true;
        auto received = std::make_shared<std::uint64_t>(0);
        auto complete = std::make_shared<bool>(false);
        auto error = std::make_shared<std::optional<CommandError>>();
        auto on_worker = [=] {
            try {
                std::string bytes;
                if (!decode_base64(*data, bytes))
                    throw ModelStoreError{"invalid_args", "\"data\" is not base64"};
                if (offset == 0)
                    store->begin(name, version, sha256, size);
                else if (auto u = store->upload(name, version); !u || u->second != size)
                    throw ModelStoreError{"out_of_order", "no upload of " + name + "@" + version +
                                                              " of " + std::to_string(size) +
                                                              " bytes is in progress"};
                *received = store->append(name, version, offset, bytes);
                if (*received == size) {
                    store->finish(name, version);
                    *complete = true;
                }
            } catch (const ModelStoreError &e) {
                *error = CommandError{e.code, e.message};
            } catch (const std::exception &e) {
                *error = CommandError{"io_error", e.what()};
            }
        };
        auto on_loop = [=, this] {
            model_busy_ = false;
            if (*error)
                return reply.fail(**error);
            nlohmann::json result = {{"name", name},
                                     {"version", version},
                                     {"received", *received},
                                     {"size", size},
                                     {"verified", *complete}};
            if (!*complete)
                return reply.ok(result);
            spdlog::info("models: {} version {} received and verified ({} bytes)", name, version,
                         size);
            const StoredModel *m = store->find(name);
            if (!activate || (m != nullptr && m->pinned)) {
                result["activated"] = false;
                result["why"] = activate ? "the model is pinned (models.unpin)" : "activate: false";
                return reply.ok(result);
            }
            auto a = std::make_shared<ModelActivation>();
            a->name = name;
            a->version = version;
            a->reply = reply;
            a->extra = result;
            model_busy_ = true;
            activate_model(a);
        };
        queue_loop_work(&loop_, on_worker, on_loop, "model update");
    });

    commands_.add_async("models.activate", [this, store_or_fail](const nlohmann::json &args,
                                                                 CommandTable::Reply reply) {
        auto store = store_or_fail();
        auto a = std::make_shared<ModelActivation>();
        a->name = string_arg(args, "name");
        a->version = args.contains("version") && args["version"].is_string()
                         ? args["version"].get<std::string>()
                         : throw CommandError{"invalid_args",
                                              "\"version\" must be a string (\"\" = shipped)"};
        a->pinned = true;
        if (auto c = args.find("check"); c != args.end()) {
            if (!c->is_boolean())
                throw CommandError{"invalid_args", "\"check\" must be true or false"};
            a->check = c->get<bool>();
        }
        if (!a->version.empty()) {
            const StoredModel *m = store->find(a->name);
            if (m == nullptr || m->versions.count(a->version) == 0)
                throw CommandError{"not_found",
                                   a->name + " has no version " + a->version + " here"};
        }
        a->reply = reply;
        model_busy_ = true;
        activate_model(a);
    });

    commands_.add_async("models.rollback", [this, store_or_fail](const nlohmann::json &args,
                                                                 CommandTable::Reply reply) {
        auto store = store_or_fail();
        auto a = std::make_shared<ModelActivation>();
        a->name = string_arg(args, "name");
        const StoredModel *m = store->find(a->name);
        if (m == nullptr || m->active.empty())
            throw CommandError{"not_found", a->name + " runs its shipped model: nothing to roll "
                                                      "back"};
        a->version = m->previous;
        a->pinned = true; // held until models.unpin
        a->check = false; // the operator's call
        a->reply = reply;
        model_busy_ = true;
        activate_model(a);
    });

    commands_.add_async("models.unpin", [this, store_or_fail](const nlohmann::json &args,
                                                              CommandTable::Reply reply) {
        auto store = store_or_fail();
        const std::string name = string_arg(args, "name");
        model_busy_ = true;
        auto error = std::make_shared<std::string>();
        queue_loop_work(
            &loop_,
            [store, name, error] { // store.json is written on a worker
                try {
                    store->unpin(name);
                } catch (const ModelStoreError &e) {
                    *error = e.message;
                }
            },
            [this, name, error, reply] {
                model_busy_ = false;
                if (!error->empty())
                    return reply.fail({"io_error", *error});
                reply.ok({{"name", name}, {"pinned", false}});
            },
            "model unpin");
    });
}

void Agent::activate_model(std::shared_ptr<ModelActivation> a) {
    auto fail = [this, a](const std::string &code, const std::string &message) {
        model_busy_ = false;
        spdlog::warn("models: {} version {} not activated: {}", a->name,
                     a->version.empty() ? "shipped" : a->version, message);
        a->reply.fail({code, message});
    };
    a->inference = config().plugins.inference;
    auto inference = plugins_->current().inference;
    if (a->inference.empty() || !inference)
        return fail("no_inference", "no inference plugin is loaded");
    auto table = config().plugin_tables.find(a->inference);
    const std::string manifest = table == config().plugin_tables.end()
                                     ? ""
                                     : table->second["manifest"].value_or(std::string());
    if (manifest.empty())
        return fail("no_manifest", "[plugin." + a->inference +
                                       "] names no manifest: updates replace a manifest's model");
    a->running_manifest = manifest;
    auto store = model_store_;
    a->base_manifest = store->is_overlay(manifest) && !store->base_manifest().empty()
                           ? store->base_manifest()
                           : manifest;
    const StoredModel *m = store->find(a->name);
    a->previous = m == nullptr ? "" : m->active;
    const ModelsConfig models = config().models;
    auto teacher = a->check ? teacher_samples_ : nullptr;
    auto on_worker = [a, store, inference, models, teacher]() mutable {
        try {
            a->overlay = store->overlay(a->base_manifest, {{a->name, a->version}});
            if (a->check && models.holdout_images > 0) {
                a->held_back = std::make_shared<HeldBack>(read_held_back(models, a->base_manifest));
                a->before =
                    top1_accuracy(*inference, a->name, a->held_back->images, a->held_back->labels);
            }
            if (teacher) {
                const AnsweredSamples::Set set = teacher->get("");
                if (set.samples.size() >= static_cast<std::size_t>(models.teacher_min_images)) {
                    a->teacher = std::make_shared<HeldBack>();
                    for (const auto &sample : set.samples) {
                        a->teacher->images.push_back(sample.image);
                        a->teacher->labels.push_back(sample.label);
                    }
                    a->teacher->describe = std::to_string(set.samples.size()) +
                                           " images answered upstream, their teacher labels";
                    a->teacher_before =
                        top1_accuracy(*inference, a->name, a->teacher->images, a->teacher->labels);
                }
            }
        } catch (const ModelStoreError &e) {
            a->error_code = e.code, a->error = e.message;
        } catch (const std::exception &e) {
            a->error_code = "activation_failed", a->error = e.what();
        }
        inference.reset(); // on the worker: it may be the plugin's last reference
    };
    auto on_loop = [this, a, fail] {
        if (!a->error.empty())
            return fail(a->error_code, a->error);
        auto changed =
            apply_changes(config(), {{"plugin." + a->inference + ".manifest", a->overlay}});
        if (!changed.ok())
            return fail("activation_failed", to_string(changed.errors));
        config_.change_to(
            std::move(*changed.config), [this, a, fail](const std::optional<CommandError> &error) {
                if (error)
                    return fail("activation_failed",
                                "the inference plugin refused the version: " + error->message);
                finish_activation(a);
            });
    };
    queue_loop_work(&loop_, on_worker, on_loop, "model activation");
}

void Agent::finish_activation(std::shared_ptr<ModelActivation> a) {
    auto inference = plugins_->current().inference;
    const double max_drop = config().models.max_drop_points / 100.0;
    const double teacher_drop = config().models.teacher_drop_points / 100.0;
    // The check and the store's record on a worker (it writes store.json); the loop then
    // keeps the new version or changes back, and replies.
    auto on_worker = [a, inference, max_drop, teacher_drop, store = model_store_]() mutable {
        const std::string before_shown =
            a->previous.empty() ? "the shipped model" : "version " + a->previous;
        try {
            if (a->held_back && inference)
                a->after =
                    top1_accuracy(*inference, a->name, a->held_back->images, a->held_back->labels);
            if (a->teacher && inference)
                a->teacher_after =
                    top1_accuracy(*inference, a->name, a->teacher->images, a->teacher->labels);
        } catch (const std::exception &e) {
            a->why = "it failed on the held-back buffer: " + std::string(e.what());
        }
        inference.reset();
        if (a->why.empty() && a->held_back && a->after < a->before - max_drop)
            a->why = "held-back accuracy " + percent(a->after) + " against " + percent(a->before) +
                     " for " + before_shown + " (" + a->held_back->describe + "), more than " +
                     points(100.0 * max_drop) + " points lower";
        if (a->why.empty() && a->teacher && a->teacher_after < a->teacher_before - teacher_drop)
            a->why = "agreement with the teacher " + percent(a->teacher_after) + " against " +
                     percent(a->teacher_before) + " for " + before_shown + " (" +
                     a->teacher->describe + "), more than " + points(100.0 * teacher_drop) +
                     " points lower";
        try {
            if (!a->why.empty()) {
                if (!a->version.empty())
                    store->reject(a->name, a->version, a->why);
            } else {
                store->activate(a->name, a->version, a->pinned, a->base_manifest,
                                a->held_back && !a->version.empty()
                                    ? "held-back " + percent(a->after) + " (" + before_shown + " " +
                                          percent(a->before) + ")"
                                    : std::string());
                a->any_active = store->any_active();
            }
        } catch (const ModelStoreError &e) {
            a->store_error = e.message;
        }
    };
    auto on_loop = [this, a, max_drop, teacher_drop] {
        const std::string shown =
            a->version.empty() ? "the shipped model" : "version " + a->version;
        const std::string before_shown =
            a->previous.empty() ? "the shipped model" : "version " + a->previous;
        if (!a->store_error.empty())
            spdlog::error("models: the store could not record {} of {}: {}", shown, a->name,
                          a->store_error);
        if (!a->why.empty()) {
            spdlog::warn("models: {} {}: {}; rolling back to {}", a->name, shown, a->why,
                         before_shown);
            auto back = apply_changes(
                config(), {{"plugin." + a->inference + ".manifest", a->running_manifest}});
            if (!back.ok()) { // cannot happen: it is the config that ran a moment ago
                model_busy_ = false;
                return a->reply.fail({"internal", to_string(back.errors)});
            }
            config_.change_to(
                std::move(*back.config),
                [this, a, before_shown](const std::optional<CommandError> &error) {
                    model_busy_ = false;
                    if (error)
                        return a->reply.fail({"rollback_failed", a->why + "; and the rollback to " +
                                                                     before_shown +
                                                                     " failed: " + error->message});
                    a->reply.fail({"rolled_back", a->why + ": back to " + before_shown});
                });
            return;
        }
        model_busy_ = false;
        // Later reloads, SIGHUPs and restarts come up on the same model.
        const std::string key = "plugin." + a->inference + ".manifest";
        if (a->any_active)
            config_.set_override(key, nlohmann::json(a->overlay).dump());
        else
            config_.set_override(key, std::nullopt);
        spdlog::info("models: {} now serves {} (was {}){}", a->name, shown, before_shown,
                     a->held_back
                         ? "; held-back " + percent(a->after) + ", was " + percent(a->before)
                         : std::string());
        nlohmann::json result = a->extra;
        result.update({{"name", a->name},
                       {"version", a->version},
                       {"previous", a->previous},
                       {"activated", true},
                       {"pinned", a->pinned},
                       {"manifest", a->overlay}});
        if (a->held_back)
            result["held_back"] = {{"images", a->held_back->images.size()},
                                   {"before", a->before},
                                   {"after", a->after},
                                   {"max_drop_points", 100.0 * max_drop}};
        if (a->teacher)
            result["teacher"] = {{"images", a->teacher->images.size()},
                                 {"before", a->teacher_before},
                                 {"after", a->teacher_after},
                                 {"max_drop_points", 100.0 * teacher_drop}};
        a->reply.ok(result);
    };
    queue_loop_work(&loop_, on_worker, on_loop, "model check");
}

} // namespace tierd
