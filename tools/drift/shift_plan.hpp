// The plan of a drifting stream: segments of images under one shift (or a combination of
// shifts) at one severity, written `SHIFT[+SHIFT...][@SEVERITY]:COUNT` and separated by
// commas, e.g. "clean:1000,noise@3:500,blur+contrast@4:500" (docs/drift.md).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace tierd::drift {

// One kind of distribution shift. `clean` leaves an image as it is and takes no partner.
enum class Shift { clean, noise, blur, contrast, brightness, jpeg, rotation, scale, occlusion };
constexpr std::array<Shift, 9> kShifts = {Shift::clean,    Shift::noise,      Shift::blur,
                                          Shift::contrast, Shift::brightness, Shift::jpeg,
                                          Shift::rotation, Shift::scale,      Shift::occlusion};

constexpr int kMinSeverity = 1;
constexpr int kMaxSeverity = 5;
constexpr int kDefaultSeverity = 3;
// A bound on the plan's total (and so on one COUNT): 10 million 28x28 images are 7.8 GB
// of IDX and a segments.json of about 80 MB, far beyond any test stream; the bound keeps
// counts inside uint32_t (IDX headers).
constexpr uint64_t kMaxImages = 10'000'000;

// The plan's name of a shift ("noise", ...).
std::string_view shift_name(Shift shift);
// The shift a plan names, or nothing.
std::optional<Shift> shift_from_name(std::string_view name);

struct Segment {
    std::vector<Shift> shifts;       // applied left to right; {clean} for the clean segment
    int severity = kDefaultSeverity; // 1..5; 0 for clean (it has none)
    uint32_t count = 0;              // images in the segment, >= 1
    std::string text;                // the segment as written in the plan (trimmed)
    // "blur+contrast@4": the canonical name (severity always written, none for clean).
    std::string name() const;
};

// A plan that does not parse. what() names the segment (1-based position and its text)
// and what is wrong with it.
class PlanError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Parses a whole plan. Spaces around segments and their parts are allowed. Throws
// PlanError for an empty plan or segment, a missing ':', an unknown or repeated shift,
// clean combined with another shift or given a severity (it has none), a severity outside
// 1..5 or not a number, a COUNT
// that is not a positive integer, or a total above kMaxImages.
std::vector<Segment> parse_plan(std::string_view plan);

// The sum of the segments' counts.
uint64_t total_images(const std::vector<Segment> &segments);

} // namespace tierd::drift
