// libFuzzer harness: the offload wire format (agent/pipeline/offload_codec.hpp) as the
// serving tier and the end agent decode it: every input goes through
// decode_offload_request ("TDI1" | length | JSON header | body: image, tensor or probe)
// and decode_offload_reply (JSON).
// Properties: never a crash or UB; a request that decodes encodes again and decodes to
// the same kind, task, image size or tensor shape; a reply that decodes encodes again.
#include "agent/pipeline/offload_codec.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace {

void round_trip(const tierd::OffloadRequest &r) {
    if (r.payload == tierd::OffloadRequest::Payload::tensor && r.wire == "i8")
        for (float x : r.tensor)
            if (!std::isfinite(x))
                return; // encode refuses these by contract (see the header)
    std::string error;
    auto again = tierd::decode_offload_request(tierd::encode_offload_request(r), error);
    if (!again || again->payload != r.payload || again->task_id != r.task_id ||
        again->device_id != r.device_id || again->model != r.model)
        std::abort();
    switch (r.payload) {
    case tierd::OffloadRequest::Payload::image:
        if (again->image.size() != r.image.size() || again->image.type() != r.image.type())
            std::abort();
        break;
    case tierd::OffloadRequest::Payload::tensor:
        if (again->shape != r.shape || again->tensor.size() != r.tensor.size() ||
            again->cut_layer != r.cut_layer || again->wire != r.wire)
            std::abort();
        break;
    case tierd::OffloadRequest::Payload::probe:
        if (again->pad != r.pad)
            std::abort();
        break;
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    const std::string payload(reinterpret_cast<const char *>(data), size);
    std::string error;
    if (auto request = tierd::decode_offload_request(payload, error))
        round_trip(*request);
    else if (error.empty())
        std::abort(); // a refusal always says why
    error.clear();
    if (auto reply = tierd::decode_offload_reply(payload, error))
        (void)tierd::encode_offload_reply(*reply);
    else if (error.empty())
        std::abort();
    return 0;
}
