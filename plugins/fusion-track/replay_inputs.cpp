#include "plugins/fusion-track/replay_inputs.hpp"

#include "plugins/fusion-track/replay_host.hpp"

#include <nlohmann/json.hpp>

#include <fstream>

namespace fusion_replay {

FrameDetections read_detections_jsonl(const std::string &path) {
    std::ifstream in(path);
    if (!in)
        throw ReplayError(path + ": cannot be read");
    FrameDetections frames;
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
        if (line.find_first_not_of(" \t\r") == std::string::npos)
            continue;
        const std::string where = path + ":" + std::to_string(number) + ": ";
        try {
            const nlohmann::json doc = nlohmann::json::parse(line);
            if (!doc.contains("detections"))
                continue;
            auto &list = frames[doc.at("frame").get<int64_t>()];
            for (const auto &d : doc.at("detections")) {
                const auto &bbox = d.at("bbox");
                if (!bbox.is_array() || bbox.size() != 4)
                    throw ReplayError(where + "bbox: expected [x, y, w, h]");
                tierd_detection det{};
                det.x = bbox[0].get<float>();
                det.y = bbox[1].get<float>();
                det.width = bbox[2].get<float>();
                det.height = bbox[3].get<float>();
                det.class_id = d.at("category_id").get<int32_t>() - 1;
                det.score = d.at("score").get<float>();
                det.track_id = -1;
                det.flags = 0;
                list.push_back(det);
            }
        } catch (const nlohmann::json::exception &e) {
            throw ReplayError(where + e.what());
        }
    }
    return frames;
}

void write_detections_line(std::ostream &out, int64_t frame, const tierd_detection *detections,
                           uint32_t count) {
    nlohmann::json list = nlohmann::json::array();
    for (uint32_t i = 0; i < count; ++i) {
        const tierd_detection &d = detections[i];
        list.push_back({{"bbox", {d.x, d.y, d.width, d.height}},
                        {"category_id", d.class_id + 1},
                        {"score", d.score},
                        {"track_id", d.track_id},
                        {"flags", d.flags}});
    }
    out << nlohmann::json{{"frame", frame}, {"detections", std::move(list)}}.dump() << '\n';
}

} // namespace fusion_replay
