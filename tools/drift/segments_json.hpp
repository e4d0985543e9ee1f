// OUT/segments.json: the ground truth of a drift stream besides its labels — the plan's
// segments (shifts, severity, their parameters, first output index, count) and the source
// image of every output image. Schema in docs/drift.md ("segments.json").
#pragma once

#include "tools/drift/shift_plan.hpp"
#include "tools/drift/source_images.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace tierd::drift {

constexpr int kSegmentsSchema = 1;

// The document without "source_index" (the part a person reads).
nlohmann::ordered_json describe_stream(const SourceImages &source, const std::vector<Segment> &plan,
                                       const std::string &plan_text, uint64_t seed);

// Writes describe_stream(...) plus "source_index" (one line) to `path`, through
// "<path>.partial" and a rename. Throws std::runtime_error "<path>: cannot write: <why>".
void write_segments_json(const std::filesystem::path &path,
                         const nlohmann::ordered_json &description,
                         const std::vector<uint32_t> &source_index);

} // namespace tierd::drift
