// What the video fusion plugins (fusion-track, fusion-feature) do alike with the results
// they are handed and the one they write: copy who computed it, write boxes into the
// host's buffer. Header-only; any thread (each call touches only its arguments).
#pragma once

#include <tierd/plugin.hpp>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

namespace fusion_track {

// A fixed-size char field as a string, up to its first NUL (or its whole size).
inline std::string bounded(const char *text, std::size_t size) {
    return std::string(text, strnlen(text, size));
}

// `from`'s model, compute time and energy (with its source) into `out`: the fused result
// names the result it is built on.
inline void copy_identity(const tierd_inference_result &from, tierd_inference_result &out) {
    tierd::copy_string(out.model, bounded(from.model, sizeof from.model));
    out.compute_ms = from.compute_ms;
    out.energy_j = from.energy_j;
    tierd::copy_string(out.energy_source, bounded(from.energy_source, sizeof from.energy_source));
}

// `detections` (best first) into the host's buffer of `out`: as many as fit.
inline void write_detections(tierd_inference_result &out,
                             const std::vector<tierd_detection> &detections) {
    uint32_t capacity = 0;
    tierd_detection *buffer = tierd_result_detections(&out, &capacity);
    if (buffer == nullptr)
        return;
    const auto n = static_cast<uint32_t>(std::min<std::size_t>(capacity, detections.size()));
    std::copy_n(detections.begin(), n, buffer);
    out.detection_count = n;
}

} // namespace fusion_track
