// The offload wire format (docs/mqtt.md, "Offload"): an end agent sends an image to the
// edge or cloud tier as one binary MQTT message, and gets a JSON reply.
//
// Request payload:  "TDI1" | header length (uint32, big-endian) | header (JSON, UTF-8) |
//                   pixels (height rows of width * channels bytes, no padding)
// Header:           {"v":1, "task_id", "device_id", "model", "format": "gray8"|"bgr8",
//                    "width", "height", "deadline_ms"}
// Pure functions; any thread.
#pragma once

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include <optional>
#include <string>
#include <vector>

namespace tierd {

struct OffloadRequest {
    std::string task_id;
    std::string device_id;  // the end agent that asks
    std::string model;      // "" = the serving tier's default
    double deadline_ms = 0; // time left when sent; 0 = none
    cv::Mat image;          // CV_8UC1 or CV_8UC3 (BGR)
};

// Encodes `request` (image continuous or not). Throws std::invalid_argument for an image
// that is not 8-bit gray or BGR.
std::string encode_offload_request(const OffloadRequest &request);

// Decodes a request payload; on failure returns nullopt and sets `error` to what is wrong
// (bad magic, header length past the end, header not JSON or missing a field, pixel
// bytes not matching width x height x channels, an image over 64 megapixels).
std::optional<OffloadRequest> decode_offload_request(const std::string &payload,
                                                     std::string &error);

struct OffloadReply {
    std::string task_id;
    std::string device_id; // the tier that answered
    bool ok = false;
    std::string error_code, error_message; // when !ok
    int top_class = -1;
    float top_score = 0.0f;
    std::vector<float> scores;
    std::string model;
    double compute_ms = 0.0;
    double energy_j = -1.0;
    std::string energy_source;
};

std::string encode_offload_reply(const OffloadReply &reply);
// Nullopt (and `error`) for a payload that is not a reply document.
std::optional<OffloadReply> decode_offload_reply(const std::string &payload, std::string &error);

} // namespace tierd
