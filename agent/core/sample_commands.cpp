// The labelled samples a serving tier keeps of the images it answered ([offload]
// keep_answered; agent/pipeline/answered_samples.hpp), for the fine-tuning job that trains
// a device's model on them and pushes it back (models.update; docs/adaptation.md):
//
//   samples.list                         -> {"capacity", "kept", "skipped", "devices": {id: n}}
//   samples.get {"device", "max"?}       -> {"device", "count", "rows", "cols",
//                                            "images_idx": base64, "labels_idx": base64,
//                                            "scores": [...], "task_ids": [...]}
//
// samples.get's copy and encoding (up to keep_answered images) run on a worker.
#include "agent/core/agent.hpp"
#include "agent/loop/loop_work.hpp"
#include "common/base64.hpp"

#include <memory>

namespace tierd {

void Agent::register_sample_commands() {
    commands_.add("samples.list", [this](const nlohmann::json &) {
        nlohmann::json devices = nlohmann::json::object();
        for (const auto &[id, n] : answered_samples_->counts())
            devices[id] = n;
        return nlohmann::json{{"capacity", answered_samples_->capacity()},
                              {"kept", answered_samples_->kept_total()},
                              {"skipped", answered_samples_->skipped_total()},
                              {"devices", devices}};
    });

    commands_.add_async(
        "samples.get", [this](const nlohmann::json &args, CommandTable::Reply reply) {
            const std::string device = string_arg(args, "device");
            std::uint64_t max = 0;
            if (args.contains("max"))
                max = count_arg(args, "max");
            if (answered_samples_->capacity() == 0)
                throw CommandError{"not_keeping", "this agent keeps no answered images "
                                                  "([offload] keep_answered = 0, or role end)"};
            auto keeper = answered_samples_;
            auto result = std::make_shared<nlohmann::json>();
            auto on_worker = [keeper, device, max, result] {
                const AnsweredSamples::Set set = keeper->get(device, static_cast<std::size_t>(max));
                nlohmann::json scores = nlohmann::json::array(), tasks = nlohmann::json::array();
                for (const auto &s : set.samples) {
                    scores.push_back(s.score);
                    tasks.push_back(s.task_id);
                }
                *result = {{"device", device},
                           {"count", set.samples.size()},
                           {"rows", set.rows},
                           {"cols", set.cols},
                           {"images_idx", encode_base64(idx_images(set))},
                           {"labels_idx", encode_base64(idx_labels(set))},
                           {"scores", std::move(scores)},
                           {"task_ids", std::move(tasks)}};
            };
            auto on_loop = [reply, result] { reply.ok(*result); };
            queue_loop_work(&loop_, on_worker, on_loop, "samples.get");
        });
}

} // namespace tierd
