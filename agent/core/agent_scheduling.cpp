// What the agent does for the multi-objective scheduler (docs/mqtt.md, "profile" and
// "policy.set"): measure its model profile, keep it across restarts, publish it for the
// other tiers, and change the scheduler's policy fleet-wide or per group.
#include "agent/config/config_changes.hpp"
#include "agent/core/agent.hpp"
#include "agent/core/status.hpp"
#include "agent/loop/loop_work.hpp"
#include "common/topics.hpp"
#include "agent/pipeline/image_source.hpp"
#include "agent/pipeline/profiler.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace tierd {
namespace {

constexpr int kDefaultRuns = 20;
constexpr int kMaxRuns = 1000;
constexpr std::size_t kProfileImages = 65; // enough for the int8 agreement count

std::vector<cv::Mat> read_images(const std::string &path) {
    auto images = read_idx_images(path, kProfileImages);
    if (images.empty())
        throw std::runtime_error(path + ": no images");
    return images;
}

void write_file(const std::string &path, const std::string &text) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    const std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << text << '\n';
        if (!out.flush())
            throw std::runtime_error("cannot write " + tmp);
    }
    std::filesystem::rename(tmp, path); // a reader never sees half a file
}

} // namespace

std::string Agent::profile_path() const {
    return config().agent.state_dir.empty()
               ? std::string()
               : (std::filesystem::path(config().agent.state_dir) / "profile.json").string();
}

void Agent::load_saved_profile() {
    const std::string path = profile_path();
    if (path.empty() || !std::filesystem::exists(path))
        return;
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    auto doc = nlohmann::json::parse(text.str(), nullptr, false);
    if (!doc.is_object() || !doc.contains("device_id") ||
        doc["device_id"] != options().identity.device_id) {
        spdlog::warn("profile: {} is not this device's profile; run the profile command again",
                     path);
        return;
    }
    if (std::string why = profile_document_error(doc); !why.empty()) {
        spdlog::warn("profile: {} is malformed ({}); run the profile command again", path, why);
        return;
    }
    doc["tier"] = options().identity.role; // the role may have changed since
    profiles_->set_own(std::move(doc));
    spdlog::info("profile: loaded {}", path);
}

void Agent::publish_profile() {
    if (!mqtt_ || !mqtt_->connected() || !profiles_->own().is_object())
        return;
    mqtt_->publish(topics::device_topic(options().identity.device_id, topics::DeviceLeaf::profile), profiles_->own().dump(), 1,
                   true);
}

void Agent::register_scheduling_commands() {
    commands_.add_async("profile", [this](const nlohmann::json &args, CommandTable::Reply reply) {
        if (profiling_)
            throw CommandError{"busy", "a profile command is already running"};
        int runs = kDefaultRuns;
        if (args.contains("runs")) {
            // Compared as int64: get<int>() of 4294967301 would truncate it to 5.
            if (!args["runs"].is_number_integer() || args["runs"].get<std::int64_t>() < 1 ||
                args["runs"].get<std::int64_t>() > kMaxRuns)
                throw CommandError{"invalid_args", "\"runs\" must be an integer 1..1000"};
            runs = args["runs"].get<int>();
        }
        std::string images = config().source.kind == SourceKind::idx ? config().source.path : "";
        if (args.contains("images")) {
            if (!args["images"].is_string())
                throw CommandError{"invalid_args", "\"images\" must be an IDX file path"};
            images = args["images"].get<std::string>();
        }
        if (images.empty())
            throw CommandError{"invalid_args",
                               "the profile needs input images: pass \"images\" (an IDX file) "
                               "or run with [source] kind = \"idx\""};
        auto inference = plugins_->current().inference;
        if (!inference)
            throw CommandError{"no_inference", "no inference plugin is loaded"};
        profiling_ = true;
        ProfileOptions profile;
        profile.device_id = options().identity.device_id;
        profile.tier = options().identity.role;
        profile.runs = runs;
        profile.slowdown = config().pipeline.emulate_slowdown;
        auto result = std::make_shared<nlohmann::json>();
        auto error = std::make_shared<std::string>();
        auto on_worker = [inference, profile, images, result, error,
                          path = profile_path()]() mutable {
            const auto start = std::chrono::steady_clock::now();
            try {
                profile.images = read_images(images);
                *result = profile_models(*inference, profile);
                (*result)["seconds"] =
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
                if (!path.empty())
                    write_file(path, result->dump(1));
            } catch (const std::exception &e) {
                *error = e.what();
            }
            // Dropped here, on the worker: if the plugin was unloaded meanwhile this is
            // its last reference, and its stop() and destroy() must not run on the loop.
            inference.reset();
        };
        auto on_loop = [this, result, error, reply] {
            profiling_ = false;
            if (!error->empty())
                return reply.fail({"profile_failed", *error});
            profiles_->set_own(*result);
            publish_profile();
            std::size_t cuts = 0;
            for (const auto &m : (*result)["models"])
                cuts += m["cuts"].size();
            spdlog::info("profile: {} models, {} cut points measured", (*result)["models"].size(),
                         cuts);
            nlohmann::json out = *result;
            out["file"] =
                profile_path().empty() ? nlohmann::json() : nlohmann::json(profile_path());
            reply.ok(out);
        };
        queue_loop_work(&loop_, std::move(on_worker), std::move(on_loop), "profile");
    });

    // policy.set: sugar over set-config for the running scheduler's table, so a console
    // can retarget the fleet (tierd/v1/fleet/cmd) or a group without knowing the plugin.
    commands_.add_async(
        "policy.set", [this](const nlohmann::json &args, CommandTable::Reply reply) {
            auto policy = args.find("policy");
            if (policy == args.end() || !policy->is_object() || policy->empty())
                throw CommandError{"invalid_args",
                                   "\"policy\" must be a non-empty object of the scheduler's keys, "
                                   "e.g. {\"policy\": \"weighted\", \"w_energy\": 1}"};
            const std::string scheduler = config().plugins.scheduler;
            if (scheduler.empty())
                throw CommandError{"no_scheduler", "no scheduler plugin is configured"};
            nlohmann::json changes = nlohmann::json::object();
            for (const auto &[key, value] : policy->items())
                changes["plugin." + scheduler + "." + key] = value;
            auto result = apply_changes(config(), changes);
            if (!result.ok()) {
                std::string message = to_string(result.errors);
                if (!message.empty() && message.back() == '\n')
                    message.pop_back();
                throw CommandError{"config_invalid", message};
            }
            auto applied = nlohmann::json::array();
            for (const auto &[key, value] : changes.items())
                applied.push_back(key);
            config_.change_to(std::move(*result.config),
                      [reply, applied, scheduler](const std::optional<CommandError> &error) {
                          if (error)
                              return reply.fail(*error);
                          reply.ok({{"scheduler", scheduler}, {"applied", applied}});
                      });
        });
}

} // namespace tierd
