#include "tools/drift/segments_json.hpp"

#include "tools/drift/image_shifts.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <system_error>

namespace tierd::drift {

nlohmann::ordered_json describe_stream(const SourceImages &source, const std::vector<Segment> &plan,
                                       const std::string &plan_text, uint64_t seed) {
    nlohmann::ordered_json segments = nlohmann::ordered_json::array();
    uint64_t first = 0;
    for (const Segment &s : plan) {
        nlohmann::ordered_json shifts = nlohmann::ordered_json::array();
        for (const Shift shift : s.shifts)
            shifts.push_back(std::string(shift_name(shift)));
        nlohmann::ordered_json parameters = nlohmann::ordered_json::object();
        for (const Shift shift : s.shifts)
            for (const auto &[name, value] : shift_parameters(shift, s.severity))
                parameters[name] = value;
        segments.push_back({{"name", s.name()},
                            {"shifts", shifts},
                            {"severity", s.severity},
                            {"first", first},
                            {"count", s.count},
                            {"parameters", parameters}});
        first += s.count;
    }
    return {
        {"schema", kSegmentsSchema},
        {"generator", "tierd-driftgen"},
        {"seed", seed},
        {"plan", plan_text},
        {"source",
         {{"images", source.images_path}, {"labels", source.labels_path}, {"count", source.count}}},
        {"images", "images-idx3-ubyte"},
        {"labels", "labels-idx1-ubyte"},
        {"count", first},
        {"rows", source.rows},
        {"cols", source.cols},
        {"segments", segments}};
}

void write_segments_json(const std::filesystem::path &path,
                         const nlohmann::ordered_json &description,
                         const std::vector<uint32_t> &source_index) {
    // Pretty-printed, except the long array, which goes on one line at the end.
    std::string text = description.dump(2);
    text.pop_back(); // the closing '}'
    while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
        text.pop_back();
    text += ",\n  \"source_index\": [";
    for (std::size_t i = 0; i < source_index.size(); ++i) {
        if (i > 0)
            text += ',';
        text += std::to_string(source_index[i]);
    }
    text += "]\n}\n";

    const std::filesystem::path partial = path.string() + ".partial";
    {
        std::ofstream out(partial, std::ios::binary | std::ios::trunc);
        if (out)
            out.write(text.data(), static_cast<std::streamsize>(text.size()));
        if (out)
            out.close();
        if (!out) {
            const std::string why = std::strerror(errno);
            std::error_code ignored;
            std::filesystem::remove(partial, ignored);
            throw std::runtime_error(partial.string() + ": cannot write: " + why);
        }
    }
    std::error_code error;
    std::filesystem::rename(partial, path, error);
    if (error)
        throw std::runtime_error(path.string() + ": cannot write: " + error.message());
}

} // namespace tierd::drift
