// Writes the seeds that only tierd's own code can make: offload requests and replies
// encoded by the real codec (corpus/offload/), and a JPEG and "TDI1" image for the input
// topic (corpus/image/). Usage: fuzz_make_seeds <fuzz/corpus dir>. The output is
// committed; re-run it after changing the wire format (fuzz/make_corpus.py does the rest).
#include "agent/pipeline/jpeg_codec.hpp"
#include "agent/pipeline/offload_codec.hpp"
#include "agent/pipeline/region_resend.hpp"

#include <opencv2/imgcodecs.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

void write(const std::filesystem::path &dir, const std::string &name, const std::string &bytes) {
    std::filesystem::create_directories(dir);
    std::ofstream(dir / name, std::ios::binary) << bytes;
}

cv::Mat gradient(int rows, int cols, int type) {
    cv::Mat m(rows, cols, type);
    for (int i = 0; i < static_cast<int>(m.total() * m.elemSize()); ++i)
        m.data[i] = static_cast<unsigned char>(i * 7);
    return m;
}

} // namespace

int main(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s <fuzz/corpus dir>\n", argv[0]);
        return 2;
    }
    const std::filesystem::path out = argv[1];
    const auto offload = out / "offload";
    using tierd::OffloadRequest;

    OffloadRequest image;
    image.task_id = "cam-17-1733-41";
    image.device_id = "cam-17";
    image.model = "resnet-8";
    image.budget_ms = 250;
    image.image = gradient(28, 28, CV_8UC1);
    const std::string gray = tierd::encode_offload_request(image);
    write(offload, "req-image-gray8.bin", gray);
    image.image = gradient(4, 5, CV_8UC3);
    write(offload, "req-image-bgr8.bin", tierd::encode_offload_request(image));
    // A video frame as an end sends it up (ABI 1.4): a small JPEG, so mutations reach
    // libjpeg's header and entropy decoding within the fuzzer's 8 kB.
    image.image = gradient(16, 8, CV_8UC3);
    image.jpeg_quality = 75;
    write(offload, "req-image-jpeg.bin", tierd::encode_offload_request(image));
    // Feature fusion and region re-send's first round (issue 17): the same frame asking
    // for the edge's feature map, and sent small with "resend".
    image.features = tierd::FeatureCompression::regions;
    image.resend = tierd::ResendAsk{true, 16, 8, 0.5f, 0.25f};
    image.low_scale = 0.5;
    write(offload, "req-image-resend.bin", tierd::encode_offload_request(image));
    image.features = tierd::FeatureCompression::none;
    image.resend = tierd::ResendAsk{};
    image.jpeg_quality = 0;
    // Region re-send's second round: two small JPEG crops.
    OffloadRequest regions;
    regions.payload = OffloadRequest::Payload::regions;
    regions.task_id = "cam-17-1733-41";
    regions.device_id = "cam-17";
    regions.regions = {cv::Rect(0, 0, 8, 8), cv::Rect(8, 0, 8, 8)};
    regions.region_jpegs = {tierd::encode_jpeg(gradient(8, 8, CV_8UC3), 75),
                            tierd::encode_jpeg(gradient(8, 8, CV_8UC3), 50)};
    write(offload, "req-regions.bin", tierd::encode_offload_request(regions));
    // The same as one mosaic JPEG (pack_regions: side by side on 16-pixel blocks).
    const tierd::Mosaic mosaic = tierd::pack_regions(regions.regions);
    regions.mosaic_size = mosaic.size;
    regions.mosaic_at = mosaic.at;
    regions.mosaic_jpeg = tierd::encode_jpeg(
        tierd::compose_mosaic(gradient(8, 16, CV_8UC3), regions.regions, mosaic), 75);
    write(offload, "req-regions-mosaic.bin", tierd::encode_offload_request(regions));

    OffloadRequest tensor;
    tensor.payload = OffloadRequest::Payload::tensor;
    tensor.task_id = "cam-17-1733-42";
    tensor.device_id = "cam-17";
    tensor.model = "resnet-8";
    tensor.cut_layer = 5;
    tensor.shape = {2, 3, 3};
    for (int i = 0; i < 18; ++i)
        tensor.tensor.push_back(static_cast<float>(i - 9) * 0.37f);
    tensor.wire = "f16";
    write(offload, "req-tensor-f16.bin", tierd::encode_offload_request(tensor));
    tensor.wire = "i8";
    write(offload, "req-tensor-i8.bin", tierd::encode_offload_request(tensor));

    OffloadRequest probe;
    probe.payload = OffloadRequest::Payload::probe;
    probe.task_id = "probe-1";
    probe.device_id = "cam-17";
    probe.pad = 16;
    write(offload, "req-probe.bin", tierd::encode_offload_request(probe));

    tierd::OffloadReply reply;
    reply.task_id = "cam-17-1733-41";
    reply.device_id = "edge-2";
    reply.ok = true;
    reply.top_class = 3;
    reply.top_score = 0.91f;
    reply.scores = {0.01f, 0.0f, 0.02f, 0.91f, 0.01f, 0.0f, 0.05f, 0.0f, 0.0f, 0.0f};
    reply.model = "resnet-8";
    reply.compute_ms = 0.7;
    reply.energy_j = 0.0021;
    reply.energy_source = "estimated:x86-edge-server";
    reply.queue_ms = 1.5;
    reply.queue_depth = 2;
    reply.cut_layer = 5;
    write(offload, "reply-ok.json", tierd::encode_offload_reply(reply));
    tierd::OffloadReply failed;
    failed.task_id = "cam-17-1733-43";
    failed.device_id = "edge-2";
    failed.error_code = "no_model";
    failed.error_message = "model \"x\" is not loaded";
    write(offload, "reply-error.json", tierd::encode_offload_reply(failed));
    tierd::OffloadReply pong;
    pong.task_id = "probe-1";
    pong.device_id = "edge-2";
    pong.ok = true;
    pong.probe = true;
    write(offload, "reply-probe.json", tierd::encode_offload_reply(pong));
    // A detector's reply with a feature map ("TDR1", feature_codec.hpp) and one asking for
    // regions again.
    tierd::OffloadReply mapped;
    mapped.task_id = "cam-17-1733-41";
    mapped.device_id = "edge-2";
    mapped.ok = true;
    mapped.detections = {{1, 2, 3, 4, 5, 0.5f, -1, 0}};
    mapped.image_width = 16;
    mapped.image_height = 8;
    const std::vector<float> map = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    mapped.features = tierd::FeatureCompression::whole;
    mapped.feature_shape = {3, 2, 2};
    mapped.feature_bytes =
        tierd::encode_feature_map(map.data(), 3, 2, 2, tierd::FeatureCompression::whole);
    mapped.resend = {cv::Rect(0, 0, 8, 8)};
    write(offload, "reply-features.bin", tierd::encode_offload_reply(mapped));

    const auto images = out / "image";
    write(images, "tdi1-gray28.bin", gray);
    std::vector<unsigned char> jpeg;
    cv::imencode(".jpg", gradient(8, 8, CV_8UC3), jpeg, {cv::IMWRITE_JPEG_QUALITY, 50});
    write(images, "bgr8.jpg", std::string(jpeg.begin(), jpeg.end()));
    return 0;
}
