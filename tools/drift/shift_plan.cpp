#include "tools/drift/shift_plan.hpp"

#include <charconv>

namespace tierd::drift {

namespace {

constexpr std::array<std::string_view, kShifts.size()> kNames = {
    "clean", "noise", "blur", "contrast", "brightness", "jpeg", "rotation", "scale", "occlusion"};

std::string_view trim(std::string_view text) {
    const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
    while (!text.empty() && is_space(text.front()))
        text.remove_prefix(1);
    while (!text.empty() && is_space(text.back()))
        text.remove_suffix(1);
    return text;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
    std::vector<std::string_view> parts;
    for (;;) {
        const auto at = text.find(separator);
        parts.push_back(text.substr(0, at));
        if (at == std::string_view::npos)
            return parts;
        text.remove_prefix(at + 1);
    }
}

// A decimal number of digits only (no sign, no spaces inside), or nothing.
std::optional<uint64_t> parse_unsigned(std::string_view text) {
    if (text.empty())
        return std::nullopt;
    uint64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size())
        return std::nullopt;
    return value;
}

std::string known_shifts() {
    std::string list;
    for (const auto name : kNames) {
        if (!list.empty())
            list += ", ";
        list += name;
    }
    return list;
}

Segment parse_segment(std::string_view text, std::size_t position) {
    const std::string where =
        "plan segment " + std::to_string(position) + " '" + std::string(text) + "': ";
    if (text.empty())
        throw PlanError(where + "empty segment (two commas in a row, or a comma at an end?)");
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos)
        throw PlanError(where +
                        "missing ':COUNT' (a segment is SHIFT[+SHIFT...][@SEVERITY]:COUNT)");

    Segment segment;
    segment.text = std::string(text);
    const std::string_view count_text = trim(text.substr(colon + 1));
    const auto count = parse_unsigned(count_text);
    if (!count || *count == 0 || *count > kMaxImages)
        throw PlanError(where + "COUNT '" + std::string(count_text) +
                        "' is not an image count 1.." + std::to_string(kMaxImages));
    segment.count = static_cast<uint32_t>(*count);

    std::string_view shifts_text = trim(text.substr(0, colon));
    bool severity_given = false;
    if (const auto at = shifts_text.find('@'); at != std::string_view::npos) {
        const std::string_view severity_text = trim(shifts_text.substr(at + 1));
        const auto severity = parse_unsigned(severity_text);
        if (!severity || *severity < kMinSeverity || *severity > kMaxSeverity)
            throw PlanError(where + "severity '" + std::string(severity_text) +
                            "' is not one of 1, 2, 3, 4, 5");
        segment.severity = static_cast<int>(*severity);
        severity_given = true;
        shifts_text = trim(shifts_text.substr(0, at));
    }

    for (const auto part : split(shifts_text, '+')) {
        const std::string_view name = trim(part);
        if (name.empty())
            throw PlanError(where + "a shift name is missing (before ':', '@' or around '+')");
        const auto shift = shift_from_name(name);
        if (!shift)
            throw PlanError(where + "unknown shift '" + std::string(name) +
                            "' (known: " + known_shifts() + ")");
        for (const Shift seen : segment.shifts)
            if (seen == *shift)
                throw PlanError(where + "shift '" + std::string(name) + "' appears twice");
        segment.shifts.push_back(*shift);
    }
    const bool has_clean = [&] {
        for (const Shift s : segment.shifts)
            if (s == Shift::clean)
                return true;
        return false;
    }();
    if (has_clean && segment.shifts.size() > 1)
        throw PlanError(where + "'clean' cannot be combined with other shifts");
    if (has_clean && severity_given)
        throw PlanError(where + "'clean' takes no severity");
    if (has_clean)
        segment.severity = 0;
    return segment;
}

} // namespace

std::string_view shift_name(Shift shift) {
    return kNames[static_cast<std::size_t>(shift)];
}

std::optional<Shift> shift_from_name(std::string_view name) {
    for (std::size_t i = 0; i < kNames.size(); ++i)
        if (kNames[i] == name)
            return kShifts[i];
    return std::nullopt;
}

std::string Segment::name() const {
    std::string out;
    for (const Shift s : shifts) {
        if (!out.empty())
            out += '+';
        out += shift_name(s);
    }
    if (severity > 0)
        out += "@" + std::to_string(severity);
    return out;
}

std::vector<Segment> parse_plan(std::string_view plan) {
    if (trim(plan).empty())
        throw PlanError("plan is empty (expected SHIFT[+SHIFT...][@SEVERITY]:COUNT,...)");
    std::vector<Segment> segments;
    uint64_t total = 0;
    std::size_t position = 0;
    for (const auto part : split(plan, ',')) {
        ++position;
        segments.push_back(parse_segment(trim(part), position));
        total += segments.back().count;
        if (total > kMaxImages)
            throw PlanError("plan: " + std::to_string(total) + " images by segment " +
                            std::to_string(position) + ", more than the " +
                            std::to_string(kMaxImages) + " allowed");
    }
    return segments;
}

uint64_t total_images(const std::vector<Segment> &segments) {
    uint64_t total = 0;
    for (const auto &s : segments)
        total += s.count;
    return total;
}

} // namespace tierd::drift
