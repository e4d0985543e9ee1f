// The image operations of the shifts, with their per-severity parameters (the table and
// the reasons for each value are in docs/drift.md). Every operation maps a gray 8-bit image
// to a gray 8-bit image of the same size, so combinations compose like a real pipeline
// (each stage rounds to 8 bits, as a camera or codec would).
#pragma once

#include "tools/drift/shift_plan.hpp"
#include "tools/video/seeded_random.hpp"

#include <opencv2/core.hpp>

#include <string>
#include <utility>
#include <vector>

namespace tierd::drift {

// The generator's random numbers: std::mt19937_64 with integer/IEEE-only mappings
// (tools/video/seeded_random.hpp), so one seed gives one stream with any C++ library.
using SeededRandom = tierd::videogen::SeededRandom;
using tierd::videogen::derive_seed;

// The parameters a shift uses at a severity, by name (e.g. {"noise_sigma", 0.08}: a
// fraction of the 8-bit range; units in docs/drift.md), for segments.json and
// --list-shifts. A range is a _min/_max pair: each image draws its value inside it. Empty
// for clean.
std::vector<std::pair<std::string, double>> shift_parameters(Shift shift, int severity);

// Applies `shift` at `severity` (1..5; ignored by clean) to `image` (CV_8UC1, any size),
// in place. Per-image random choices (noise, angle, zoom direction, rectangle) come from
// `random`, in a fixed order, so one stream gives one result. The image keeps its size
// and type. Throws std::invalid_argument for another image type or a severity outside
// 1..5, std::runtime_error if the JPEG codec fails.
void apply_shift(Shift shift, int severity, cv::Mat &image, SeededRandom &random);

// Applies each shift of `shifts` in turn (left to right), all at `severity`.
void apply_shifts(const std::vector<Shift> &shifts, int severity, cv::Mat &image,
                  SeededRandom &random);

} // namespace tierd::drift
