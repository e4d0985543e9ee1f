// libFuzzer harness: the offload wire format (agent/pipeline/offload_codec.hpp) as the
// serving tier and the end agent decode it: every input goes through
// decode_offload_request ("TDI1" | length | JSON header | body: image, tensor or probe),
// its two halves as the serving agent calls them (decode_offload_header on the loop,
// decode_offload_body on a worker), and decode_offload_reply (JSON).
// Properties: never a crash or UB; the header half accepts exactly what the whole does
// (except a JPEG body corrupt past its header: the body half then throws
// std::runtime_error and the whole refuses) and the two halves give the same request; a request that decodes encodes again and
// decodes to the same kind, task, budget, image size or tensor shape; a reply that
// decodes encodes again.
#include "agent/pipeline/offload_codec.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

namespace {

void round_trip(const tierd::OffloadRequest &r) {
    // A decoded regions request holds the decoded crops, not their JPEG bytes: there is
    // nothing to encode it from (halves_agree checks it).
    if (r.payload == tierd::OffloadRequest::Payload::regions)
        return;
    if (r.payload == tierd::OffloadRequest::Payload::tensor && r.wire == "i8")
        for (float x : r.tensor)
            if (!std::isfinite(x))
                return; // encode refuses these by contract (see the header)
    std::string error;
    auto again = tierd::decode_offload_request(tierd::encode_offload_request(r), error);
    if (!again || again->payload != r.payload || again->task_id != r.task_id ||
        again->device_id != r.device_id || again->model != r.model ||
        again->budget_ms != r.budget_ms)
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
    case tierd::OffloadRequest::Payload::regions: break; // returned above
    }
}

// The serving agent's path: header, then body, as decode_offload_request.
void halves_agree(const std::string &payload, const tierd::OffloadRequest *whole) {
    std::string error;
    auto header = tierd::decode_offload_header(payload, error);
    if (!header && whole != nullptr)
        std::abort();
    if (!header)
        return;
    if (header->request.payload == tierd::OffloadRequest::Payload::image &&
        header->decoded_bytes != static_cast<std::size_t>(header->image_pixels()) *
                                     static_cast<std::size_t>(header->image_channels))
        std::abort();
    bool body_refused = false;
    try {
        tierd::decode_offload_body(*header, payload);
    } catch (const std::runtime_error &) {
        body_refused = true;
    }
    const bool jpeg_body =
        header->jpeg || header->request.payload == tierd::OffloadRequest::Payload::regions;
    if (body_refused != (whole == nullptr) || (body_refused && !jpeg_body))
        std::abort(); // only a JPEG's body may refuse, and then the whole refuses too
    if (body_refused)
        return;
    const tierd::OffloadRequest &r = header->request;
    // Bytes, not floats: a NaN is not equal to itself.
    if (r.task_id != whole->task_id || r.tensor.size() != whole->tensor.size() ||
        (!r.tensor.empty() && std::memcmp(r.tensor.data(), whole->tensor.data(),
                                          r.tensor.size() * sizeof(float)) != 0) ||
        r.image.size() != whole->image.size() || r.image.type() != whole->image.type() ||
        r.regions != whole->regions || r.region_images.size() != whole->region_images.size())
        std::abort();
    for (std::size_t i = 0; i < r.regions.size(); ++i)
        if (r.region_images[i].size() != r.regions[i].size())
            std::abort(); // each crop is its rectangle's size
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    const std::string payload(reinterpret_cast<const char *>(data), size);
    std::string error;
    auto request = tierd::decode_offload_request(payload, error);
    if (request)
        round_trip(*request);
    else if (error.empty())
        std::abort(); // a refusal always says why
    halves_agree(payload, request ? &*request : nullptr);
    error.clear();
    if (auto reply = tierd::decode_offload_reply(payload, error))
        (void)tierd::encode_offload_reply(*reply);
    else if (error.empty())
        std::abort();
    return 0;
}
