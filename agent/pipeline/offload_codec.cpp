#include "agent/pipeline/offload_codec.hpp"

#include <cstdint>
#include <cstring>
#include <stdexcept>

namespace tierd {
namespace {

constexpr char kMagic[4] = {'T', 'D', 'I', '1'};
constexpr std::int64_t kMaxPixels = 64LL * 1000 * 1000;
constexpr std::uint32_t kMaxHeader = 64 * 1024;

} // namespace

std::string encode_offload_request(const OffloadRequest &request) {
    const cv::Mat &m = request.image;
    if (m.depth() != CV_8U || (m.channels() != 1 && m.channels() != 3))
        throw std::invalid_argument("offload: image must be 8-bit gray or BGR");
    nlohmann::json header = {{"v", 1},
                             {"task_id", request.task_id},
                             {"device_id", request.device_id},
                             {"model", request.model},
                             {"format", m.channels() == 1 ? "gray8" : "bgr8"},
                             {"width", m.cols},
                             {"height", m.rows},
                             {"deadline_ms", request.deadline_ms}};
    const std::string h = header.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    const std::size_t row =
        static_cast<std::size_t>(m.cols) * static_cast<std::size_t>(m.channels());
    std::string out;
    out.reserve(8 + h.size() + row * static_cast<std::size_t>(m.rows));
    out.append(kMagic, 4);
    const auto len = static_cast<std::uint32_t>(h.size());
    const char be[4] = {static_cast<char>(len >> 24), static_cast<char>(len >> 16),
                        static_cast<char>(len >> 8), static_cast<char>(len)};
    out.append(be, 4);
    out += h;
    for (int y = 0; y < m.rows; ++y)
        out.append(reinterpret_cast<const char *>(m.ptr(y)), row);
    return out;
}

std::optional<OffloadRequest> decode_offload_request(const std::string &payload,
                                                     std::string &error) {
    if (payload.size() < 8 || std::memcmp(payload.data(), kMagic, 4) != 0) {
        error = "not an offload request (expected the magic \"TDI1\")";
        return std::nullopt;
    }
    const auto *p = reinterpret_cast<const unsigned char *>(payload.data());
    const std::uint32_t len = (std::uint32_t{p[4]} << 24) | (std::uint32_t{p[5]} << 16) |
                              (std::uint32_t{p[6]} << 8) | p[7];
    if (len > kMaxHeader || 8 + std::size_t{len} > payload.size()) {
        error = "header length " + std::to_string(len) + " runs past the payload";
        return std::nullopt;
    }
    auto header =
        nlohmann::json::parse(payload.begin() + 8, payload.begin() + 8 + len, nullptr, false);
    if (header.is_discarded() || !header.is_object()) {
        error = "header is not a JSON object";
        return std::nullopt;
    }
    OffloadRequest r;
    try {
        r.task_id = header.at("task_id").get<std::string>();
        r.device_id = header.value("device_id", std::string());
        r.model = header.value("model", std::string());
        r.deadline_ms = header.value("deadline_ms", 0.0);
        const std::string format = header.at("format").get<std::string>();
        const std::int64_t w = header.at("width").get<std::int64_t>();
        const std::int64_t h = header.at("height").get<std::int64_t>();
        int channels = format == "gray8" ? 1 : format == "bgr8" ? 3 : 0;
        if (channels == 0) {
            error = "format \"" + format + "\" is not gray8 or bgr8";
            return std::nullopt;
        }
        if (w <= 0 || h <= 0 || w * h > kMaxPixels) {
            error = "image size " + std::to_string(w) + "x" + std::to_string(h) +
                    " is empty or over 64 megapixels";
            return std::nullopt;
        }
        const std::size_t need = static_cast<std::size_t>(w * h * channels);
        if (payload.size() - 8 - len != need) {
            error = "pixel data is " + std::to_string(payload.size() - 8 - len) +
                    " bytes, expected " + std::to_string(need) + " for " + format + " " +
                    std::to_string(w) + "x" + std::to_string(h);
            return std::nullopt;
        }
        r.image = cv::Mat(static_cast<int>(h), static_cast<int>(w), CV_8UC(channels));
        std::memcpy(r.image.data, payload.data() + 8 + len, need);
    } catch (const nlohmann::json::exception &e) {
        error = std::string("header: ") + e.what();
        return std::nullopt;
    }
    if (r.task_id.empty()) {
        error = "header: task_id is empty";
        return std::nullopt;
    }
    return r;
}

std::string encode_offload_reply(const OffloadReply &reply) {
    nlohmann::json j = {
        {"v", 1}, {"task_id", reply.task_id}, {"device_id", reply.device_id}, {"ok", reply.ok}};
    if (reply.ok) {
        j["top_class"] = reply.top_class;
        j["top_score"] = reply.top_score;
        j["scores"] = reply.scores;
        j["model"] = reply.model;
        j["compute_ms"] = reply.compute_ms;
        if (reply.energy_j >= 0.0) {
            j["energy_j"] = reply.energy_j;
            j["energy_source"] = reply.energy_source;
        }
    } else {
        j["error"] = {{"code", reply.error_code}, {"message", reply.error_message}};
    }
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<OffloadReply> decode_offload_reply(const std::string &payload, std::string &error) {
    auto j = nlohmann::json::parse(payload, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        error = "reply is not a JSON object";
        return std::nullopt;
    }
    OffloadReply r;
    try {
        r.task_id = j.at("task_id").get<std::string>();
        r.device_id = j.value("device_id", std::string());
        r.ok = j.at("ok").get<bool>();
        if (r.ok) {
            r.top_class = j.at("top_class").get<int>();
            r.top_score = j.at("top_score").get<float>();
            r.scores = j.value("scores", std::vector<float>{});
            r.model = j.value("model", std::string());
            r.compute_ms = j.value("compute_ms", 0.0);
            r.energy_j = j.value("energy_j", -1.0);
            r.energy_source = j.value("energy_source", std::string());
        } else {
            r.error_code = j.at("error").value("code", std::string("unknown"));
            r.error_message = j.at("error").value("message", std::string());
        }
    } catch (const nlohmann::json::exception &e) {
        error = std::string("reply: ") + e.what();
        return std::nullopt;
    }
    return r;
}

} // namespace tierd
