// The offload wire format (docs/mqtt.md, "Offload"): an end agent sends a task to the
// edge or cloud tier as one binary MQTT message, and gets a JSON reply.
//
// Request payload:  "TDI1" | header length (uint32, big-endian) | header (JSON, UTF-8) | body
// Header, common:   {"v":1, "task_id", "device_id", "payload"?: "image"|"tensor"|"probe"}
//                   ("payload" absent = "image", so older ends are understood unchanged)
//   image:          + "model", "format": "gray8"|"bgr8"|"jpeg", "width", "height",
//                   "budget_ms"; body = pixels (height rows of width * channels bytes, no
//                   padding), or for "jpeg" a JPEG of that size with "channels" (1|3)
//                   components, decoded to gray8 or bgr8
//   tensor:         + "model", "budget_ms", "cut", "dtype": "f16"|"i8", "shape": [...],
//                   "scale" (i8 only); body = the tensor crossing the model's cut,
//                   row-major, batch 1 implied: f16 = IEEE 754 binary16 little-endian,
//                   i8 = int8 q with x = q * scale (symmetric, scale = max|x| / 127)
//   probe:          + "pad": N; body = N bytes (zeros) that the serving agent ignores
// An image request may add "features": "whole" | "regions": the serving tier's feature
// map of the image comes back with the reply (OffloadReply::features); and "resend":
// {"frame": [w, h], "sure", "unsure"}: the image is a small, low-quality copy of a frame of
// that size, and the reply may ask for regions of it again (OffloadReply::resend).
//   regions:        + "model", "budget_ms", "regions": [[x, y, w, h, bytes], ...]; body =
//                   one JPEG (3 channels, exactly w x h) per region, in order: the second
//                   round of region re-send (region_resend.hpp), same task_id; or, with
//                   "mosaic": [W, H, bytes], "regions": [[x, y, w, h, mx, my], ...] and a
//                   body of one JPEG (3 channels, W x H) holding each region at (mx, my)
// "budget_ms" is how long the end waits for the reply, counted from its publish (below);
// encoders repeat it as "deadline_ms", its older name, which decoders read when
// "budget_ms" is absent.
// Decoding comes in two halves, so that a server can refuse or queue a request on its
// event loop and copy the body on a worker: decode_offload_header (cost grows with the
// header only) and decode_offload_body. Pure functions; any thread.
#pragma once

#include "agent/pipeline/feature_codec.hpp"
#include "agent/pipeline/region_resend.hpp"

#include <tierd/plugin.h>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tierd {

// Limits a decoder enforces on tensor and probe payloads.
inline constexpr std::size_t kOffloadMaxTensorRank = 4;
inline constexpr std::int64_t kOffloadMaxTensorDim = 65536;
inline constexpr std::size_t kOffloadMaxTensorElements = 16u * 1024 * 1024;
inline constexpr std::size_t kOffloadMaxProbePad = 1024 * 1024;

struct OffloadRequest {
    enum class Payload { image, tensor, probe, regions };

    std::string task_id;
    std::string device_id; // the end agent that asks
    std::string model;     // "" = the serving tier's default (image, tensor)
    // How long the end waits for the reply, counted from its publish (image, tensor):
    // a reply later than that is of no use, the end has run the task itself. 0 = no
    // bound. The serving agent cannot see the publish time (the two clocks are not one),
    // so it counts from the request's arrival: a lower bound of the time used.
    double budget_ms = 0;
    Payload payload = Payload::image;

    // Payload::image
    cv::Mat image; // CV_8UC1 or CV_8UC3 (BGR)
    // On encode: > 0 sends the image as a JPEG of this quality (1..100), 0 as raw pixels.
    int jpeg_quality = 0;
    // The serving tier's feature map wanted with the answer ("features": "whole" |
    // "regions"; absent = none), for feature fusion on the end (feature_codec.hpp).
    FeatureCompression features = FeatureCompression::none;
    // Region re-send, first round: `image` is the whole frame; on encode it travels resized
    // by `low_scale` (0 < low_scale <= 1) as a JPEG of `low_quality` (1..100), with
    // "resend" in the header (frame size and thresholds); on decode `image` is that small
    // copy and `resend` says what the frame was.
    ResendAsk resend;
    double low_scale = 1.0;
    int low_quality = 50;

    // Payload::regions: the second round. Encode: `regions` (frame pixels) and their JPEGs
    // in `region_jpegs`; decode: `regions` and the decoded crops in `region_images` (BGR).
    std::vector<cv::Rect> regions;
    std::vector<std::string> region_jpegs;
    std::vector<cv::Mat> region_images;
    // Or, encoded as one image (region_resend.hpp, pack_regions()): when mosaic_jpeg is
    // set, it is sent in place of region_jpegs, with region i at mosaic_at[i] of an image
    // of mosaic_size. Decoding fills region_images either way (and these, for a mosaic).
    cv::Size mosaic_size;
    std::vector<cv::Point> mosaic_at;
    std::string mosaic_jpeg;

    // Payload::tensor: the end ran the model's head up to a cut, the serving tier runs
    // the tail from `tensor`.
    int cut_layer = -1;        // the manifest's cut `layer`, >= 0
    std::string wire;          // "f16" or "i8"
    std::vector<int> shape;    // per image (batch 1 implied), rank 1..4
    std::vector<float> tensor; // float32 values, row-major; given on encode, filled on decode
    float scale = 0.0f;        // i8: on decode the header's scale; on encode 0 = computed
                               // as max|x| / 127 (1 if all zero), > 0 = this scale (values
                               // beyond 127 * scale are clamped)

    // Payload::probe: a link probe, answered without inference.
    std::size_t pad = 0; // body bytes, <= kOffloadMaxProbePad
};

// Encodes `request` by its `payload`: the image (continuous or not), the tensor in its
// wire type, or a probe with `pad` zero bytes. Throws std::invalid_argument for an image
// that is not 8-bit gray or BGR, a tensor whose wire, shape, cut or size is invalid (or an
// i8 tensor with a value that is not finite), or a probe over kOffloadMaxProbePad.
std::string encode_offload_request(const OffloadRequest &request);

// A request whose header is read and checked, its body not yet copied.
struct OffloadRequestHeader {
    // Every header field; image and tensor are still empty (pad and scale are set).
    OffloadRequest request;
    std::size_t body_offset = 0; // where the body starts in the payload
    // Payload::image: the size the header gives (checked against the body's length).
    int image_width = 0, image_height = 0, image_channels = 0;
    bool jpeg = false; // the body is a JPEG (its header already checked against the size)
    std::vector<std::size_t> region_bytes; // Payload::regions: each region's JPEG bytes
    // Bytes the decoded body takes: the image's pixels x channels, or the tensor's
    // elements x 4 (float32); 0 for a probe.
    std::size_t decoded_bytes = 0;

    std::int64_t image_pixels() const {
        return static_cast<std::int64_t>(image_width) * image_height;
    }
};

// The first half of decoding: the header, and every check decode_offload_request makes,
// including the body's length against the sizes the header gives; the body's bytes are
// not read. On failure returns nullopt and sets `error` to what is wrong (bad magic,
// header length past the end, header not JSON or missing a field, a budget that is not
// a number, an unknown payload kind, pixel bytes not matching width x height x channels,
// an image over 64 megapixels, a tensor shape out of range, tensor bytes not matching the
// shape and dtype, a bad i8 scale or cut, a probe body not matching `pad`).
std::optional<OffloadRequestHeader> decode_offload_header(std::string_view payload,
                                                          std::string &error);

// The second half: copies the image or tensor out of the body of `payload`, which must be
// the payload `header` was decoded from, into header.request. Cannot fail (but for
// std::bad_alloc), except for a JPEG whose data is corrupt past its header: then it
// throws std::runtime_error saying so. Its cost grows with the body: a worker's job.
void decode_offload_body(OffloadRequestHeader &header, std::string_view payload);

// Both halves: the request, or nullopt and `error` as decode_offload_header says (or as
// decode_offload_body throws, for a JPEG corrupt past its header).
std::optional<OffloadRequest> decode_offload_request(std::string_view payload, std::string &error);

// Body bytes of a tensor of `elements` values sent as `wire` ("f16": 2 each, "i8": 1 each);
// 0 for any other wire.
std::size_t tensor_wire_bytes(std::size_t elements, const std::string &wire);

// IEEE 754 binary32 <-> binary16, round to nearest even; subnormals, infinities and NaN
// are kept (a value of magnitude >= 65520 becomes infinity).
std::uint16_t float_to_half(float value);
float half_to_float(std::uint16_t half);

// The i8 wire's scale for `n` values: max|x| / 127, or 1 when all are zero.
float i8_scale(const float *values, std::size_t n);

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
    // For the end's scheduler; each is sent only when known (>= 0, or true), ok or not.
    double queue_ms = -1; // waited at the serving agent before its inference started
    int queue_depth = -1; // requests waiting there when this one was answered
    bool probe = false;   // the answer to a probe request (ok, no inference)
    int cut_layer = -1;   // echo of a tensor request's cut
    // Region re-send: the regions (frame pixels) the serving tier is unsure of and wants
    // again at the end's quality (a first round's reply; "resend": [[x, y, w, h], ...]).
    // Empty: the reply is final.
    std::vector<cv::Rect> resend;
    // A detector's boxes (ABI 1.4), in pixels of the image_width x image_height image the
    // request carried; on the wire "detections": [[x, y, width, height, class_id, score],
    // ...] and "image_size": [width, height], both absent when there are none.
    std::vector<tierd_detection> detections;
    int image_width = 0, image_height = 0;
    // The detector's feature map, when the request asked for one and the model has one:
    // `feature_bytes` encoded as feature_codec.hpp says, of shape [C, H, W]. On the wire the
    // reply is then "TDR1" | header length (uint32, big-endian) | the JSON document with
    // "features": {"compression", "shape", "bytes"} | the bytes; otherwise plain JSON.
    FeatureCompression features = FeatureCompression::none;
    std::vector<int> feature_shape;
    std::string feature_bytes;
};

// At most this many detections a reply may carry; a decoder refuses more.
inline constexpr std::size_t kOffloadMaxDetections = 4096;
// At most this many regions a re-send round names.
inline constexpr std::size_t kOffloadMaxRegions = 64;

std::string encode_offload_reply(const OffloadReply &reply);
// Nullopt (and `error`) for a payload that is not a reply document. A probe reply needs
// no result fields.
std::optional<OffloadReply> decode_offload_reply(const std::string &payload, std::string &error);

} // namespace tierd
