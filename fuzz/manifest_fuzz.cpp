// libFuzzer harness: the model zoo manifest (models/manifest.toml) as the
// inference-opencv plugin reads it in create() (parse_manifest: TOML, input_shape,
// scale/mean, [[model]] and [[model.cut]] tables). model_manifest.cpp is compiled into
// the harness: the plugin is a MODULE, not a library to link.
// Properties: never a crash or UB; anything malformed is a std::runtime_error; an
// accepted manifest has the promised shape (channels 1 or 3, positive size, models).
#include "plugins/inference-opencv/model_manifest.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char *>(data), size);
    try {
        const auto m = inference_opencv::parse_manifest(text, "/fuzz/models/manifest.toml");
        if ((m.channels != 1 && m.channels != 3) || m.width <= 0 || m.height <= 0 ||
            m.models.empty())
            std::abort();
        for (const auto &model : m.models)
            for (const auto &cut : model.cuts) {
                std::size_t elements = 1;
                for (int d : cut.shape)
                    elements *= static_cast<std::size_t>(d);
                if (cut.layer <= 0 || cut.shape.empty() || cut.shape.size() > 4 ||
                    cut.elements != elements || elements == 0)
                    std::abort();
            }
    } catch (const std::runtime_error &) {
        // a refusal: what a malformed manifest must give
    }
    return 0;
}
