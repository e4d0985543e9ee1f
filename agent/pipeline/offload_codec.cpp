#include "agent/pipeline/offload_codec.hpp"

#include "agent/pipeline/jpeg_codec.hpp"

#include "agent/common/untrusted_json.hpp"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace tierd {
namespace {

constexpr char kMagic[4] = {'T', 'D', 'I', '1'};
constexpr char kReplyMagic[4] = {'T', 'D', 'R', '1'}; // a reply with a feature map
constexpr std::int64_t kMaxPixels = 64LL * 1000 * 1000;
constexpr std::uint32_t kMaxHeader = 64 * 1024;

std::string dump(const nlohmann::json &j) {
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Wire JSON nested deeper than this is refused (agent/common/untrusted_json.hpp): a 60 kB
// header of "[[[[..." overflowed the stack while the error message quoted it (found by
// fuzz/offload_fuzz.cpp). The formats here nest 3 levels at most.
constexpr int kMaxJsonDepth = 32;

template <typename It> nlohmann::json parse_wire_json(It first, It last) {
    return parse_untrusted_json(first, last, kMaxJsonDepth);
}

// `v` as an integer within [lo, hi] (|lo|, |hi| <= 2^53); throws std::out_of_range
// naming `what` otherwise. nlohmann's get<int64_t>() / get<int>() of a number outside the
// type's range is undefined behaviour ("width": 1e300, "top_class": 1e30; found by
// fuzz/offload_fuzz.cpp), so integer fields from the wire are read through this. A float
// within range is truncated, as get<int>() did.
std::int64_t integer_within(const nlohmann::json &v, const std::string &what, std::int64_t lo,
                            std::int64_t hi) {
    bool ok = false;
    std::int64_t x = 0;
    if (v.is_number_unsigned()) {
        const auto u = v.get<std::uint64_t>();
        ok = u <= static_cast<std::uint64_t>(hi);
        x = static_cast<std::int64_t>(u);
    } else if (v.is_number_integer()) {
        x = v.get<std::int64_t>();
        ok = true;
    } else if (v.is_number_float()) {
        const double d = v.get<double>();
        ok = d >= static_cast<double>(lo) && d <= static_cast<double>(hi); // false for NaN
        if (ok)
            x = static_cast<std::int64_t>(d);
    }
    if (!ok || x < lo || x > hi)
        throw std::out_of_range(what + " " + dump(v) + " is not an integer within " +
                                std::to_string(lo) + " to " + std::to_string(hi));
    return x;
}

// An optional int member: `fallback` when absent, else within int's range (see above).
int int_member(const nlohmann::json &j, const char *key, int fallback) {
    auto it = j.find(key);
    if (it == j.end())
        return fallback;
    return static_cast<int>(
        integer_within(*it, key, std::numeric_limits<int>::min(), std::numeric_limits<int>::max()));
}

// "TDI1" | header length | header; the caller appends `body` bytes after it.
std::string frame(const nlohmann::json &header, std::size_t body) {
    const std::string h = dump(header);
    std::string out;
    out.reserve(8 + h.size() + body);
    out.append(kMagic, 4);
    const auto len = static_cast<std::uint32_t>(h.size());
    const char be[4] = {static_cast<char>(len >> 24), static_cast<char>(len >> 16),
                        static_cast<char>(len >> 8), static_cast<char>(len)};
    out.append(be, 4);
    out += h;
    return out;
}

// Elements of `shape` when it is a valid per-image tensor shape, else 0 (and `error`).
std::size_t shape_elements(const std::vector<std::int64_t> &shape, std::string &error) {
    if (shape.empty() || shape.size() > kOffloadMaxTensorRank) {
        error = "tensor shape has rank " + std::to_string(shape.size()) + ", expected 1 to " +
                std::to_string(kOffloadMaxTensorRank);
        return 0;
    }
    std::size_t n = 1;
    for (std::int64_t d : shape) {
        if (d < 1 || d > kOffloadMaxTensorDim) {
            error = "tensor dimension " + std::to_string(d) + " is not within 1 to " +
                    std::to_string(kOffloadMaxTensorDim);
            return 0;
        }
        n *= static_cast<std::size_t>(d);
        if (n > kOffloadMaxTensorElements) {
            error =
                "tensor has more than " + std::to_string(kOffloadMaxTensorElements) + " elements";
            return 0;
        }
    }
    return n;
}

// The request's budget, sent under both names (older serving agents read deadline_ms).
double budget_of(const OffloadRequest &request) {
    return request.budget_ms;
}

// What every request that asks for work says: who asks, for which model, and how long it
// waits ("deadline_ms" repeats the budget for serving agents that predate "budget_ms").
// nlohmann::json orders an object's keys, so the encoders add the rest in any order.
nlohmann::json work_header(const OffloadRequest &request) {
    return {{"v", 1},
            {"task_id", request.task_id},
            {"device_id", request.device_id},
            {"model", request.model},
            {"budget_ms", budget_of(request)},
            {"deadline_ms", budget_of(request)}};
}

std::string encode_image(const OffloadRequest &request) {
    const cv::Mat &frame_image = request.image;
    if (frame_image.depth() != CV_8U ||
        (frame_image.channels() != 1 && frame_image.channels() != 3))
        throw std::invalid_argument("offload: image must be 8-bit gray or BGR");
    // Region re-send's first round: a small, low-quality copy of the frame.
    const bool resend = request.resend.on;
    if (resend && !(request.low_scale > 0.0 && request.low_scale <= 1.0))
        throw std::invalid_argument("offload: low_scale must be in (0, 1]");
    cv::Mat small;
    if (resend && request.low_scale < 1.0)
        cv::resize(frame_image, small, cv::Size(), request.low_scale, request.low_scale,
                   cv::INTER_AREA);
    const cv::Mat &m = small.empty() ? frame_image : small;
    const int quality = resend ? std::clamp(request.low_quality, 1, 100) : request.jpeg_quality;
    if (quality > 0) {
        std::string jpeg = encode_jpeg(m, quality);
        nlohmann::json header = work_header(request);
        header["format"] = "jpeg";
        header["channels"] = m.channels();
        header["width"] = m.cols;
        header["height"] = m.rows;
        if (request.features != FeatureCompression::none)
            header["features"] = to_string(request.features);
        if (resend)
            header["resend"] = {{"frame", {frame_image.cols, frame_image.rows}},
                                {"sure", request.resend.sure},
                                {"unsure", request.resend.unsure},
                                {"margin", request.resend.margin}};
        std::string out = frame(header, jpeg.size());
        out += jpeg;
        return out;
    }
    nlohmann::json header = work_header(request);
    header["format"] = m.channels() == 1 ? "gray8" : "bgr8";
    header["width"] = m.cols;
    header["height"] = m.rows;
    if (request.features != FeatureCompression::none)
        header["features"] = to_string(request.features);
    const std::size_t row =
        static_cast<std::size_t>(m.cols) * static_cast<std::size_t>(m.channels());
    std::string out = frame(header, row * static_cast<std::size_t>(m.rows));
    for (int y = 0; y < m.rows; ++y)
        out.append(reinterpret_cast<const char *>(m.ptr(y)), row);
    return out;
}

std::string encode_tensor(const OffloadRequest &request) {
    const std::size_t width = tensor_wire_bytes(1, request.wire);
    if (width == 0)
        throw std::invalid_argument("offload: tensor wire \"" + request.wire +
                                    "\" is not f16 or i8");
    if (request.cut_layer < 0)
        throw std::invalid_argument("offload: tensor cut layer is negative");
    std::string error;
    const std::size_t n = shape_elements(
        std::vector<std::int64_t>(request.shape.begin(), request.shape.end()), error);
    if (n == 0)
        throw std::invalid_argument("offload: " + error);
    if (request.tensor.size() != n)
        throw std::invalid_argument("offload: tensor has " + std::to_string(request.tensor.size()) +
                                    " values, its shape " + std::to_string(n));
    nlohmann::json header = work_header(request);
    header["payload"] = "tensor";
    header["cut"] = request.cut_layer;
    header["dtype"] = request.wire;
    header["shape"] = request.shape;
    const float *x = request.tensor.data();
    if (width == 2) {
        std::string out = frame(header, 2 * n);
        const std::size_t at = out.size();
        out.resize(at + 2 * n);
        char *p = out.data() + at;
        for (std::size_t i = 0; i < n; ++i) {
            const std::uint16_t h = float_to_half(x[i]);
            p[2 * i] = static_cast<char>(h & 0xff);
            p[2 * i + 1] = static_cast<char>(h >> 8);
        }
        return out;
    }
    for (std::size_t i = 0; i < n; ++i)
        if (!std::isfinite(x[i]))
            throw std::invalid_argument("offload: an i8 tensor value is not finite");
    float scale = request.scale;
    if (!(scale > 0.0f) || !std::isfinite(scale))
        scale = i8_scale(x, n);
    header["scale"] = scale;
    std::string out = frame(header, n);
    const std::size_t at = out.size();
    out.resize(at + n);
    char *p = out.data() + at;
    for (std::size_t i = 0; i < n; ++i) {
        const float q = std::clamp(std::round(x[i] / scale), -127.0f, 127.0f);
        p[i] = static_cast<char>(static_cast<std::int8_t>(q));
    }
    return out;
}

std::string encode_regions(const OffloadRequest &request) {
    const bool mosaic = !request.mosaic_jpeg.empty();
    if (request.regions.empty() || request.regions.size() > kOffloadMaxRegions ||
        request.regions.size() != (mosaic ? request.mosaic_at.size() : request.region_jpegs.size()))
        throw std::invalid_argument("offload: 1 to " + std::to_string(kOffloadMaxRegions) +
                                    " regions, one JPEG or mosaic place each");
    nlohmann::json list = nlohmann::json::array();
    std::size_t body = 0;
    for (std::size_t i = 0; i < request.regions.size(); ++i) {
        const cv::Rect &r = request.regions[i];
        if (mosaic) {
            list.push_back(
                {r.x, r.y, r.width, r.height, request.mosaic_at[i].x, request.mosaic_at[i].y});
        } else {
            list.push_back({r.x, r.y, r.width, r.height, request.region_jpegs[i].size()});
            body += request.region_jpegs[i].size();
        }
    }
    nlohmann::json header = work_header(request);
    header["payload"] = "regions";
    header["regions"] = std::move(list);
    if (mosaic) {
        header["mosaic"] = {request.mosaic_size.width, request.mosaic_size.height,
                            request.mosaic_jpeg.size()};
        return frame(header, request.mosaic_jpeg.size()) + request.mosaic_jpeg;
    }
    std::string out = frame(header, body);
    for (const std::string &j : request.region_jpegs)
        out += j;
    return out;
}

std::string encode_probe(const OffloadRequest &request) {
    if (request.pad > kOffloadMaxProbePad)
        throw std::invalid_argument("offload: probe pad " + std::to_string(request.pad) +
                                    " is over " + std::to_string(kOffloadMaxProbePad) + " bytes");
    const nlohmann::json header = {{"v", 1},
                                   {"task_id", request.task_id},
                                   {"device_id", request.device_id},
                                   {"payload", "probe"},
                                   {"pad", request.pad}};
    std::string out = frame(header, request.pad);
    out.append(request.pad, '\0');
    return out;
}

// Image header: format and size, checked against the body (its length; for a JPEG, the
// size in its own header, read without decoding the pixels).
bool check_image(const nlohmann::json &header, std::string_view body, OffloadRequestHeader &h,
                 std::string &error) {
    const std::size_t size = body.size();
    const std::string format = header.at("format").get<std::string>();
    if (header.contains("features")) {
        const auto features = parse_feature_compression(header.at("features").get<std::string>());
        if (!features) {
            error = "features must be \"none\", \"whole\" or \"regions\"";
            return false;
        }
        h.request.features = *features;
    }
    if (header.contains("resend")) {
        const nlohmann::json &rs = header.at("resend");
        const nlohmann::json &fr = rs.at("frame");
        if (!fr.is_array() || fr.size() != 2) {
            error = "resend: frame must be [width, height]";
            return false;
        }
        ResendAsk &ask = h.request.resend;
        ask.on = true;
        ask.frame_width = static_cast<int>(integer_within(fr[0], "resend frame width", 1, 65536));
        ask.frame_height = static_cast<int>(integer_within(fr[1], "resend frame height", 1, 65536));
        ask.sure = rs.at("sure").get<float>();
        ask.unsure = rs.at("unsure").get<float>();
        if (!(ask.unsure >= 0.0f && ask.unsure <= ask.sure && ask.sure <= 1.0f)) {
            error = "resend: expected 0 <= unsure <= sure <= 1";
            return false;
        }
        ask.margin = rs.value("margin", 0.25f); // absent: an end older than the field
        if (!(ask.margin >= 0.0f && ask.margin <= 1.0f)) {
            error = "resend: margin must be within 0 and 1";
            return false;
        }
        if (static_cast<std::int64_t>(ask.frame_width) * ask.frame_height > kMaxPixels) {
            error = "resend: the frame is over 64 megapixels";
            return false;
        }
    }
    // Each side bounded first, so that w * h cannot overflow.
    const std::int64_t w =
        integer_within(header.at("width"), "image width", -kMaxPixels - 1, kMaxPixels + 1);
    const std::int64_t hgt =
        integer_within(header.at("height"), "image height", -kMaxPixels - 1, kMaxPixels + 1);
    const bool jpeg = format == "jpeg";
    int channels = format == "gray8" ? 1 : format == "bgr8" ? 3 : 0;
    if (jpeg)
        channels = static_cast<int>(
            integer_within(header.value("channels", nlohmann::json(3)), "channels", 1, 3));
    if (channels != 1 && channels != 3) {
        error = jpeg ? "jpeg channels must be 1 or 3"
                     : "format \"" + format + "\" is not gray8, bgr8 or jpeg";
        return false;
    }
    if (w <= 0 || hgt <= 0 || w * hgt > kMaxPixels) {
        error = "image size " + std::to_string(w) + "x" + std::to_string(hgt) +
                " is empty or over 64 megapixels";
        return false;
    }
    const std::size_t need = static_cast<std::size_t>(w * hgt * channels);
    if (jpeg) {
        int jw = 0, jh = 0, jc = 0;
        if (!read_jpeg_header(body, jw, jh, jc, error))
            return false;
        if (jw != w || jh != hgt || jc != channels) {
            error = "the JPEG is " + std::to_string(jw) + "x" + std::to_string(jh) + " with " +
                    std::to_string(jc) + " channels, the header says " + std::to_string(w) + "x" +
                    std::to_string(hgt) + " with " + std::to_string(channels);
            return false;
        }
        h.jpeg = true;
    } else if (size != need) {
        error = "pixel data is " + std::to_string(size) + " bytes, expected " +
                std::to_string(need) + " for " + format + " " + std::to_string(w) + "x" +
                std::to_string(hgt);
        return false;
    }
    h.image_width = static_cast<int>(w);
    h.image_height = static_cast<int>(hgt);
    h.image_channels = channels;
    h.decoded_bytes = need;
    return true;
}

// Tensor header: cut, dtype, shape and scale, checked against the body's `size` bytes.
bool check_tensor(const nlohmann::json &header, std::size_t size, OffloadRequestHeader &h,
                  std::string &error) {
    OffloadRequest &r = h.request;
    const nlohmann::json &cut = header.at("cut");
    if (!cut.is_number_integer() || cut.get<std::int64_t>() < 0 ||
        cut.get<std::int64_t>() > std::numeric_limits<int>::max()) {
        error = "tensor cut " + dump(cut) + " is not a layer index >= 0";
        return false;
    }
    r.cut_layer = cut.get<int>();
    r.wire = header.at("dtype").get<std::string>();
    const std::size_t width = tensor_wire_bytes(1, r.wire);
    if (width == 0) {
        error = "tensor dtype \"" + r.wire + "\" is not f16 or i8";
        return false;
    }
    const nlohmann::json &shape = header.at("shape");
    if (!shape.is_array()) {
        error = "tensor shape is not an array";
        return false;
    }
    std::vector<std::int64_t> dims;
    for (const auto &d : shape) {
        if (!d.is_number_integer()) {
            error = "tensor shape " + dump(shape) + " holds a value that is not an integer";
            return false;
        }
        dims.push_back(d.get<std::int64_t>());
    }
    const std::size_t n = shape_elements(dims, error);
    if (n == 0)
        return false;
    if (size != n * width) {
        error = "tensor data is " + std::to_string(size) + " bytes, expected " +
                std::to_string(n * width) + " for " + r.wire + " " + dump(shape);
        return false;
    }
    r.shape.assign(dims.begin(), dims.end());
    h.decoded_bytes = n * sizeof(float);
    if (width == 2)
        return true;
    const nlohmann::json &scale = header.at("scale");
    const float s = scale.is_number() ? scale.get<float>() : 0.0f;
    if (!std::isfinite(s) || !(s > 0.0f)) {
        error = "tensor scale " + dump(scale) + " is not a finite number > 0";
        return false;
    }
    r.scale = s;
    return true;
}

// The rectangle a region entry starts with: [x, y, w, h, ...] within 16 bits (throws as
// integer_within does).
cv::Rect region_rect(const nlohmann::json &e) {
    return {static_cast<int>(integer_within(e[0], "region x", 0, 65535)),
            static_cast<int>(integer_within(e[1], "region y", 0, 65535)),
            static_cast<int>(integer_within(e[2], "region width", 1, 65536)),
            static_cast<int>(integer_within(e[3], "region height", 1, 65536))};
}

// Mosaic regions header: "mosaic": [W, H, bytes] and each region [x, y, w, h, mx, my], its
// pixels at (mx, my) of the body's one JPEG (3 channels, exactly W x H, `bytes` long),
// inside it.
bool check_mosaic(const nlohmann::json &header, const nlohmann::json &list, std::string_view body,
                  OffloadRequestHeader &h, std::string &error) {
    const nlohmann::json &size = header.at("mosaic");
    if (!size.is_array() || size.size() != 3) {
        error = "mosaic is not [width, height, bytes]";
        return false;
    }
    if (integer_within(size[2], "mosaic bytes", 1, 1LL << 30) !=
        static_cast<std::int64_t>(body.size())) {
        error = "the mosaic's JPEG is " + dump(size[2]) + " bytes, the body " +
                std::to_string(body.size());
        return false;
    }
    const cv::Size mosaic(static_cast<int>(integer_within(size[0], "mosaic width", 1, 65536)),
                          static_cast<int>(integer_within(size[1], "mosaic height", 1, 65536)));
    if (static_cast<double>(mosaic.width) * mosaic.height > kMaxPixels) {
        error = "the mosaic holds over 64 megapixels";
        return false;
    }
    int jw = 0, jh = 0, jc = 0;
    if (!read_jpeg_header(body, jw, jh, jc, error))
        return false;
    if (jw != mosaic.width || jh != mosaic.height || jc != 3) {
        error = "the mosaic's JPEG is " + std::to_string(jw) + "x" + std::to_string(jh) +
                ", its header says " + std::to_string(mosaic.width) + "x" +
                std::to_string(mosaic.height);
        return false;
    }
    const cv::Rect inside(0, 0, mosaic.width, mosaic.height);
    for (const auto &e : list) {
        if (!e.is_array() || e.size() != 6) {
            error = "a mosaic region is not [x, y, width, height, mosaic x, mosaic y]";
            return false;
        }
        const cv::Rect r = region_rect(e);
        const cv::Point at(static_cast<int>(integer_within(e[4], "region mosaic x", 0, 65535)),
                           static_cast<int>(integer_within(e[5], "region mosaic y", 0, 65535)));
        if ((cv::Rect(at, r.size()) & inside) != cv::Rect(at, r.size())) {
            error = "a region lies outside the mosaic";
            return false;
        }
        h.request.regions.push_back(r);
        h.request.mosaic_at.push_back(at);
    }
    h.request.mosaic_size = mosaic;
    h.decoded_bytes = static_cast<std::size_t>(mosaic.width) * mosaic.height * 3;
    return true;
}

// Regions header: each [x, y, w, h, bytes] a rectangle with a JPEG of exactly w x h (3
// channels) whose bytes follow in order; the bytes add up to the body. Or a mosaic.
bool check_regions(const nlohmann::json &header, std::string_view body, OffloadRequestHeader &h,
                   std::string &error) {
    const nlohmann::json &list = header.at("regions");
    if (!list.is_array() || list.empty() || list.size() > kOffloadMaxRegions) {
        error = "regions must be an array of 1 to " + std::to_string(kOffloadMaxRegions);
        return false;
    }
    if (header.contains("mosaic"))
        return check_mosaic(header, list, body, h, error);
    std::size_t at = 0, pixels = 0;
    for (const auto &e : list) {
        if (!e.is_array() || e.size() != 5) {
            error = "a region is not [x, y, width, height, bytes]";
            return false;
        }
        const cv::Rect r = region_rect(e);
        const auto n = static_cast<std::size_t>(integer_within(e[4], "region bytes", 1, 1LL << 30));
        if (n > body.size() - at) {
            error = "region JPEGs run past the body";
            return false;
        }
        int jw = 0, jh = 0, jc = 0;
        if (!read_jpeg_header(body.substr(at, n), jw, jh, jc, error))
            return false;
        if (jw != r.width || jh != r.height || jc != 3) {
            error = "a region's JPEG is " + std::to_string(jw) + "x" + std::to_string(jh) +
                    ", its rectangle " + std::to_string(r.width) + "x" + std::to_string(r.height);
            return false;
        }
        pixels += static_cast<std::size_t>(r.width) * r.height;
        if (pixels > static_cast<std::size_t>(kMaxPixels)) {
            error = "the regions hold over 64 megapixels";
            return false;
        }
        h.request.regions.push_back(r);
        h.region_bytes.push_back(n);
        at += n;
    }
    if (at != body.size()) {
        error = "region JPEGs are " + std::to_string(at) + " bytes, the body " +
                std::to_string(body.size());
        return false;
    }
    h.decoded_bytes = pixels * 3;
    return true;
}

bool check_probe(const nlohmann::json &header, std::size_t size, OffloadRequest &r,
                 std::string &error) {
    const nlohmann::json &pad = header.at("pad");
    if (!pad.is_number_integer() || pad.get<std::int64_t>() < 0 ||
        pad.get<std::int64_t>() > static_cast<std::int64_t>(kOffloadMaxProbePad)) {
        error = "probe pad " + dump(pad) + " is not within 0 to " +
                std::to_string(kOffloadMaxProbePad) + " bytes";
        return false;
    }
    r.pad = pad.get<std::size_t>();
    if (size != r.pad) {
        error = "probe body is " + std::to_string(size) + " bytes, expected pad " +
                std::to_string(r.pad);
        return false;
    }
    return true;
}

// The end's budget: "budget_ms", else the older name "deadline_ms", else none (0). A
// value <= 0 means none, as it always did; one that is not a finite number is refused.
double budget_from(const nlohmann::json &header) {
    for (const char *key : {"budget_ms", "deadline_ms"}) {
        auto it = header.find(key);
        if (it == header.end())
            continue;
        if (!it->is_number() || !std::isfinite(it->get<double>()))
            throw std::out_of_range(std::string(key) + " " + dump(*it) + " is not a finite number");
        return std::max(0.0, it->get<double>());
    }
    return 0.0;
}

} // namespace

std::size_t tensor_wire_bytes(std::size_t elements, const std::string &wire) {
    if (wire == "f16")
        return 2 * elements;
    if (wire == "i8")
        return elements;
    return 0;
}

std::uint16_t float_to_half(float value) {
    std::uint32_t x;
    std::memcpy(&x, &value, sizeof x);
    const auto sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
    const std::uint32_t abs = x & 0x7fffffffu;
    if (abs >= 0x7f800000u) // infinity, or NaN (kept quiet, with the payload's top bits)
        return static_cast<std::uint16_t>(
            sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u | ((abs >> 13) & 0x3ffu) : 0u));
    if (abs >= 0x47800000u) // >= 65536: past the largest half even before rounding
        return static_cast<std::uint16_t>(sign | 0x7c00u);
    const std::uint32_t exponent = abs >> 23;
    std::uint32_t mantissa = (abs & 0x7fffffu) | 0x800000u;
    std::uint32_t shift, base;
    if (exponent >= 113) { // a normal half: keep 10 of the 23 mantissa bits
        shift = 13;
        base = (exponent - 112) << 10;
        mantissa &= 0x7fffffu;
    } else { // a subnormal half (or zero): count units of 2^-24
        if (exponent < 102)
            return sign; // below 2^-25, rounds to zero
        shift = 126 - exponent;
        base = 0;
    }
    std::uint32_t q = mantissa >> shift;
    const std::uint32_t rest = mantissa & ((1u << shift) - 1);
    const std::uint32_t half = 1u << (shift - 1);
    if (rest > half || (rest == half && (q & 1u)))
        ++q; // a carry moves into the exponent, up to infinity at 65520
    return static_cast<std::uint16_t>(sign | (base + q));
}

float half_to_float(std::uint16_t half) {
    const std::uint32_t sign = static_cast<std::uint32_t>(half & 0x8000u) << 16;
    const std::uint32_t exponent = (half >> 10) & 0x1fu;
    std::uint32_t mantissa = half & 0x3ffu;
    std::uint32_t x;
    if (exponent == 0x1f) {
        x = sign | 0x7f800000u | (mantissa << 13);
    } else if (exponent != 0) {
        x = sign | ((exponent + 112) << 23) | (mantissa << 13);
    } else if (mantissa == 0) {
        x = sign;
    } else { // subnormal: normalise
        std::uint32_t e = 113;
        while (!(mantissa & 0x400u)) {
            mantissa <<= 1;
            --e;
        }
        x = sign | (e << 23) | ((mantissa & 0x3ffu) << 13);
    }
    float f;
    std::memcpy(&f, &x, sizeof f);
    return f;
}

float i8_scale(const float *values, std::size_t n) {
    float m = 0.0f;
    for (std::size_t i = 0; i < n; ++i)
        m = std::max(m, std::fabs(values[i]));
    return m > 0.0f ? m / 127.0f : 1.0f;
}

std::string encode_offload_request(const OffloadRequest &request) {
    switch (request.payload) {
    case OffloadRequest::Payload::tensor: return encode_tensor(request);
    case OffloadRequest::Payload::probe: return encode_probe(request);
    case OffloadRequest::Payload::regions: return encode_regions(request);
    case OffloadRequest::Payload::image: break;
    }
    return encode_image(request);
}

std::optional<OffloadRequestHeader> decode_offload_header(std::string_view payload,
                                                          std::string &error) {
    if (payload.size() < 8 || std::memcmp(payload.data(), kMagic, 4) != 0) {
        error = "not an offload request (expected the magic \"TDI1\")";
        return std::nullopt;
    }
    const auto *p = reinterpret_cast<const unsigned char *>(payload.data());
    const std::uint32_t len = (std::uint32_t{p[4]} << 24) | (std::uint32_t{p[5]} << 16) |
                              (std::uint32_t{p[6]} << 8) | p[7];
    if (len > kMaxHeader || 8 + std::size_t{len} > payload.size()) {
        error = "header length " + std::to_string(len) + " runs past the payload";
        return std::nullopt;
    }
    auto header = parse_wire_json(payload.begin() + 8, payload.begin() + 8 + len);
    if (header.is_discarded() || !header.is_object()) {
        error = "header is not a JSON object (or nests too deep)";
        return std::nullopt;
    }
    const std::size_t size = payload.size() - 8 - len;
    OffloadRequestHeader h;
    h.body_offset = 8 + std::size_t{len};
    OffloadRequest &r = h.request;
    try {
        r.task_id = header.at("task_id").get<std::string>();
        r.device_id = header.value("device_id", std::string());
        r.model = header.value("model", std::string());
        r.budget_ms = budget_from(header);
        const std::string kind = header.value("payload", std::string("image"));
        bool good = false;
        if (kind == "image") {
            r.payload = OffloadRequest::Payload::image;
            good = check_image(header, payload.substr(8 + std::size_t{len}), h, error);
        } else if (kind == "tensor") {
            r.payload = OffloadRequest::Payload::tensor;
            good = check_tensor(header, size, h, error);
        } else if (kind == "probe") {
            r.payload = OffloadRequest::Payload::probe;
            good = check_probe(header, size, r, error);
        } else if (kind == "regions") {
            r.payload = OffloadRequest::Payload::regions;
            good = check_regions(header, payload.substr(8 + std::size_t{len}), h, error);
        } else {
            error = "payload \"" + kind + "\" is not image, tensor, probe or regions";
        }
        if (!good)
            return std::nullopt;
    } catch (const nlohmann::json::exception &e) {
        error = std::string("header: ") + e.what();
        return std::nullopt;
    } catch (const std::out_of_range &e) { // integer_within, budget_from
        error = std::string("header: ") + e.what();
        return std::nullopt;
    }
    if (r.task_id.empty()) {
        error = "header: task_id is empty";
        return std::nullopt;
    }
    return h;
}

void decode_offload_body(OffloadRequestHeader &header, std::string_view payload) {
    OffloadRequest &r = header.request;
    const char *body = payload.data() + header.body_offset;
    switch (r.payload) {
    case OffloadRequest::Payload::image:
        if (header.jpeg) {
            std::string error;
            if (!decode_jpeg(payload.substr(header.body_offset), header.image_width,
                             header.image_height, r.image, error))
                throw std::runtime_error(error);
            break;
        }
        r.image = cv::Mat(header.image_height, header.image_width, CV_8UC(header.image_channels));
        std::memcpy(r.image.data, body, header.decoded_bytes);
        break;
    case OffloadRequest::Payload::tensor: {
        const std::size_t n = header.decoded_bytes / sizeof(float);
        r.tensor.resize(n);
        const auto *q = reinterpret_cast<const unsigned char *>(body);
        if (r.wire == "f16") {
            for (std::size_t i = 0; i < n; ++i)
                r.tensor[i] =
                    half_to_float(static_cast<std::uint16_t>(q[2 * i] | (q[2 * i + 1] << 8)));
        } else {
            for (std::size_t i = 0; i < n; ++i)
                r.tensor[i] = static_cast<float>(static_cast<std::int8_t>(q[i])) * r.scale;
        }
        break;
    }
    case OffloadRequest::Payload::probe: break; // the pad is not read
    case OffloadRequest::Payload::regions: {
        std::size_t at = header.body_offset;
        r.region_images.resize(r.regions.size());
        if (r.mosaic_size.area() > 0) {
            cv::Mat mosaic;
            std::string error;
            if (!decode_jpeg(payload.substr(at), r.mosaic_size.width, r.mosaic_size.height, mosaic,
                             error))
                throw std::runtime_error("mosaic: " + error);
            for (std::size_t i = 0; i < r.regions.size(); ++i)
                r.region_images[i] = mosaic(cv::Rect(r.mosaic_at[i], r.regions[i].size())).clone();
            break;
        }
        for (std::size_t i = 0; i < r.regions.size(); ++i) {
            std::string error;
            if (!decode_jpeg(payload.substr(at, header.region_bytes[i]), r.regions[i].width,
                             r.regions[i].height, r.region_images[i], error))
                throw std::runtime_error("region " + std::to_string(i) + ": " + error);
            at += header.region_bytes[i];
        }
        break;
    }
    }
}

std::optional<OffloadRequest> decode_offload_request(std::string_view payload, std::string &error) {
    auto header = decode_offload_header(payload, error);
    if (!header)
        return std::nullopt;
    try {
        decode_offload_body(*header, payload);
    } catch (const std::runtime_error &e) { // a JPEG corrupt past its header
        error = e.what();
        return std::nullopt;
    }
    return std::move(header->request);
}

std::string encode_offload_reply(const OffloadReply &reply) {
    nlohmann::json j = {
        {"v", 1}, {"task_id", reply.task_id}, {"device_id", reply.device_id}, {"ok", reply.ok}};
    if (reply.ok) {
        j["top_class"] = reply.top_class;
        j["top_score"] = reply.top_score;
        j["scores"] = reply.scores;
        j["model"] = reply.model;
        j["compute_ms"] = reply.compute_ms;
        if (reply.energy_j >= 0.0) {
            j["energy_j"] = reply.energy_j;
            j["energy_source"] = reply.energy_source;
        }
    } else {
        j["error"] = {{"code", reply.error_code}, {"message", reply.error_message}};
    }
    if (reply.queue_ms >= 0.0)
        j["queue_ms"] = reply.queue_ms;
    if (reply.queue_depth >= 0)
        j["queue_depth"] = reply.queue_depth;
    if (reply.probe)
        j["probe"] = true;
    if (reply.cut_layer >= 0)
        j["cut"] = reply.cut_layer;
    if (reply.ok && (!reply.detections.empty() || reply.image_width > 0)) {
        nlohmann::json boxes = nlohmann::json::array();
        for (const tierd_detection &d : reply.detections)
            boxes.push_back({d.x, d.y, d.width, d.height, d.class_id, d.score});
        j["detections"] = std::move(boxes);
        j["image_size"] = {reply.image_width, reply.image_height};
    }
    if (reply.ok && !reply.resend.empty()) {
        nlohmann::json list = nlohmann::json::array();
        for (const cv::Rect &r : reply.resend)
            list.push_back({r.x, r.y, r.width, r.height});
        j["resend"] = std::move(list);
    }
    if (reply.ok && reply.features != FeatureCompression::none) {
        // A feature map travels as bytes after the JSON: "TDR1" | header length | header |
        // the encoded map (feature_codec.hpp).
        j["features"] = {{"compression", to_string(reply.features)},
                         {"shape", reply.feature_shape},
                         {"bytes", reply.feature_bytes.size()}};
        const std::string header = dump(j);
        std::string out(kReplyMagic, sizeof kReplyMagic);
        const auto n = static_cast<std::uint32_t>(header.size());
        for (int shift = 24; shift >= 0; shift -= 8)
            out.push_back(static_cast<char>((n >> shift) & 0xff));
        out += header;
        out += reply.feature_bytes;
        return out;
    }
    return dump(j);
}

// A reply's "features" (see OffloadReply) and the bytes after the header.
static bool decode_reply_features(const nlohmann::json &j, std::string_view body, OffloadReply &r,
                                  std::string &error) {
    const nlohmann::json &f = j.at("features");
    const auto compression = parse_feature_compression(f.at("compression").get<std::string>());
    const nlohmann::json &shape = f.at("shape");
    if (!compression || *compression == FeatureCompression::none || !shape.is_array() ||
        shape.size() != 3) {
        error = "reply: features need a compression (whole or regions) and a shape [C, H, W]";
        return false;
    }
    r.feature_shape = {
        static_cast<int>(integer_within(shape[0], "feature channels", 1, kFeatureMaxChannels)),
        static_cast<int>(integer_within(shape[1], "feature height", 1, kFeatureMaxSide)),
        static_cast<int>(integer_within(shape[2], "feature width", 1, kFeatureMaxSide))};
    if (static_cast<std::size_t>(r.feature_shape[0]) * r.feature_shape[1] * r.feature_shape[2] >
        kFeatureMaxValues) {
        error = "reply: feature map too large";
        return false;
    }
    if (static_cast<std::size_t>(integer_within(f.at("bytes"), "feature bytes", 0, 1LL << 32)) !=
        body.size()) {
        error = "reply: feature bytes do not match the payload's length";
        return false;
    }
    r.features = *compression;
    r.feature_bytes.assign(body.data(), body.size());
    return true;
}

// A reply's "detections" and "image_size" (see OffloadReply): every box six finite
// numbers with a positive size, a class >= 0 and a score in [0, 1].
static bool decode_detections(const nlohmann::json &j, OffloadReply &r, std::string &error) {
    const nlohmann::json &boxes = j.at("detections");
    const nlohmann::json &size = j.at("image_size");
    if (!boxes.is_array() || boxes.size() > kOffloadMaxDetections || !size.is_array() ||
        size.size() != 2) {
        error = "reply: detections must be an array of at most " +
                std::to_string(kOffloadMaxDetections) + " boxes, with image_size [w, h]";
        return false;
    }
    r.image_width = static_cast<int>(integer_within(size[0], "image width", 1, kMaxPixels));
    r.image_height = static_cast<int>(integer_within(size[1], "image height", 1, kMaxPixels));
    r.detections.reserve(boxes.size());
    for (const auto &b : boxes) {
        if (!b.is_array() || b.size() != 6) {
            error = "reply: a detection is not [x, y, width, height, class_id, score]";
            return false;
        }
        tierd_detection d{};
        d.x = b[0].get<float>();
        d.y = b[1].get<float>();
        d.width = b[2].get<float>();
        d.height = b[3].get<float>();
        d.class_id = static_cast<int32_t>(integer_within(b[4], "class_id", 0, 1 << 20));
        d.score = b[5].get<float>();
        d.track_id = -1;
        d.flags = TIERD_DETECTION_UPSTREAM;
        if (!std::isfinite(d.x) || !std::isfinite(d.y) || !(d.width > 0.0f) || !(d.height > 0.0f) ||
            !std::isfinite(d.width) || !std::isfinite(d.height) ||
            !(d.score >= 0.0f && d.score <= 1.0f)) {
            error = "reply: a detection has a non-finite or empty box, or a score outside [0, 1]";
            return false;
        }
        r.detections.push_back(d);
    }
    return true;
}

std::optional<OffloadReply> decode_offload_reply(const std::string &payload, std::string &error) {
    // A JSON document, or (with a feature map) "TDR1" | header length | header | bytes.
    std::string_view header(payload), body;
    if (payload.size() >= 4 && std::memcmp(payload.data(), kReplyMagic, 4) == 0) {
        if (payload.size() < 8) {
            error = "reply: truncated before its header length";
            return std::nullopt;
        }
        std::uint32_t n = 0;
        for (int i = 4; i < 8; ++i)
            n = (n << 8) | static_cast<std::uint8_t>(payload[i]);
        if (n > payload.size() - 8) {
            error = "reply: header length past the end";
            return std::nullopt;
        }
        header = std::string_view(payload).substr(8, n);
        body = std::string_view(payload).substr(8 + n);
    }
    auto j = parse_wire_json(header.begin(), header.end());
    if (j.is_discarded() || !j.is_object()) {
        error = "reply is not a JSON object";
        return std::nullopt;
    }
    OffloadReply r;
    try {
        r.task_id = j.at("task_id").get<std::string>();
        r.device_id = j.value("device_id", std::string());
        r.ok = j.at("ok").get<bool>();
        r.probe = j.value("probe", false);
        if (r.ok) {
            r.top_class = r.probe
                              ? int_member(j, "top_class", -1)
                              : static_cast<int>(integer_within(j.at("top_class"), "top_class",
                                                                std::numeric_limits<int>::min(),
                                                                std::numeric_limits<int>::max()));
            r.top_score = r.probe ? j.value("top_score", 0.0f) : j.at("top_score").get<float>();
            r.scores = j.value("scores", std::vector<float>{});
            r.model = j.value("model", std::string());
            r.compute_ms = j.value("compute_ms", 0.0);
            r.energy_j = j.value("energy_j", -1.0);
            r.energy_source = j.value("energy_source", std::string());
        } else {
            r.error_code = j.at("error").value("code", std::string("unknown"));
            r.error_message = j.at("error").value("message", std::string());
        }
        r.queue_ms = j.value("queue_ms", -1.0);
        if (!(r.queue_ms >= 0.0))
            r.queue_ms = -1.0; // negative or NaN: unknown
        r.queue_depth = std::max(int_member(j, "queue_depth", -1), -1);
        r.cut_layer = std::max(int_member(j, "cut", -1), -1);
        if (r.ok && j.contains("detections") && !decode_detections(j, r, error))
            return std::nullopt;
        if (j.contains("features") != (header.size() != payload.size())) {
            error = "reply: feature bytes without a \"features\" header, or the reverse";
            return std::nullopt;
        }
        if (r.ok && j.contains("features") && !decode_reply_features(j, body, r, error))
            return std::nullopt;
        if (r.ok && j.contains("resend")) {
            const nlohmann::json &list = j.at("resend");
            if (!list.is_array() || list.size() > kOffloadMaxRegions) {
                error = "reply: resend must be an array of at most " +
                        std::to_string(kOffloadMaxRegions) + " regions";
                return std::nullopt;
            }
            for (const auto &e : list) {
                if (!e.is_array() || e.size() != 4) {
                    error = "reply: a resend region is not [x, y, width, height]";
                    return std::nullopt;
                }
                r.resend.emplace_back(
                    static_cast<int>(integer_within(e[0], "region x", 0, 65535)),
                    static_cast<int>(integer_within(e[1], "region y", 0, 65535)),
                    static_cast<int>(integer_within(e[2], "region width", 1, 65536)),
                    static_cast<int>(integer_within(e[3], "region height", 1, 65536)));
            }
        }
    } catch (const nlohmann::json::exception &e) {
        error = std::string("reply: ") + e.what();
        return std::nullopt;
    } catch (const std::out_of_range &e) { // integer_within
        error = std::string("reply: ") + e.what();
        return std::nullopt;
    }
    return r;
}

} // namespace tierd
