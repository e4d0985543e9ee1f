// tierd-detect-run: runs one of tierd's video detectors over a video through OpenCV DNN,
// the C++ path the inference-opencv plugin takes (blobFromImage, forward, the plugin's
// decoder), and writes the detections as JSON Lines for `tierd-eval map` plus the time
// per frame. docs/detectors.md.
//
//   tierd-detect-run --model models/det-light.onnx --input 320x176 --video DIR/video.avi
//                    --out run.jsonl [--threads 1] [--score 0.05] [--nms 0.5] [--top-k 100]
//                    [--frames N] [--int8 CALIBRATION_VIDEO [--calib-frames 16]]
//
// Prints one JSON object on stdout: frames, ms per frame (mean and median) for the network
// (blobFromImage + setInput + forward) and for decoding, detections written, threads, and
// the process's peak resident memory (VmHWM: model, video decoding and OpenCV included).
// The first frame is run once more before timing starts (OpenCV allocates on the first
// forward). --int8 runs the network quantized by cv::dnn::Net::quantize (int8 weights and
// activations, float in and out), calibrated on the first --calib-frames frames of another
// video (a training video: never the one measured). Exit status: 0 done, 1 bad input
// (unreadable model or video, a network OpenCV cannot quantize), 2 bad arguments.
#include "plugins/inference-opencv/detection_decoder.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/core/utility.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/videoio.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// VmHWM of /proc/self/status in MB, -1 where it cannot be read. The process's own figure:
// a parent's getrusage would count the parent's memory copied at fork.
double peak_rss_mb() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmHWM:", 0) == 0)
            return std::stod(line.substr(6)) / 1024.0;
    }
    return -1.0;
}

double median(std::vector<double> v) {
    if (v.empty())
        return 0.0;
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// The output named `name` of a network: Net::quantize appends a dequantize layer to each of
// the float net's outputs and names it "dequantize/<name>" (forwarding "<name>" itself
// returns the int8 values).
std::string output_name(const cv::dnn::Net &net, const std::string &name) {
    for (const std::string &out : net.getUnconnectedOutLayersNames())
        if (out == "dequantize/" + name)
            return out;
    return name;
}

bool parse_size(const std::string &text, cv::Size &out) {
    int w = 0, h = 0;
    char x = 0;
    char extra = 0;
    if (std::sscanf(text.c_str(), "%d%c%d%c", &w, &x, &h, &extra) != 3 || x != 'x' || w <= 0 ||
        h <= 0 || w > 8192 || h > 8192)
        return false;
    out = cv::Size(w, h);
    return true;
}

} // namespace

int main(int argc, char **argv) {
    CLI::App app{"run a tierd video detector over a video through OpenCV DNN; write JSON Lines "
                 "for tierd-eval"};
    std::string model_path, input_text, video_path, out_path;
    int threads = 1;
    int max_frames = 0;
    std::string calib_video;
    int calib_frames = 16;
    inference_opencv::DecodeOptions options;
    options.score_threshold = 0.05f; // COCO evaluation wants the low-score tail too
    app.add_option("--model", model_path, "detector ONNX file")->required();
    app.add_option("--input", input_text, "network input WxH, e.g. 320x176")->required();
    app.add_option("--video", video_path, "video file (any OpenCV backend reads)")->required();
    app.add_option("--out", out_path, "results JSON Lines to write")->required();
    app.add_option("--threads", threads, "OpenCV threads (cv::setNumThreads)")
        ->check(CLI::Range(1, 64));
    app.add_option("--score", options.score_threshold, "score threshold")
        ->check(CLI::Range(0.0, 1.0));
    app.add_option("--nms", options.nms_iou, "per-class NMS IoU threshold")
        ->check(CLI::Range(0.0, 1.0));
    app.add_option("--top-k", options.top_k, "detections per frame at most")
        ->check(CLI::Range(1, 10000));
    app.add_option("--frames", max_frames, "stop after this many frames (0 = all)")
        ->check(CLI::Range(0, 1000000000));
    app.add_option("--int8", calib_video,
                   "quantize to int8 (cv::dnn::Net::quantize), calibrated on this video's first "
                   "frames");
    app.add_option("--calib-frames", calib_frames, "calibration frames for --int8")
        ->check(CLI::Range(1, 256))
        ->capture_default_str();
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError &e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    cv::Size input;
    if (!parse_size(input_text, input)) {
        std::cerr << "tierd-detect-run: --input: expected WxH, got '" << input_text << "'\n";
        return 2;
    }

    cv::setNumThreads(threads);
    cv::dnn::Net net;
    try {
        net = cv::dnn::readNet(model_path);
    } catch (const cv::Exception &e) {
        std::cerr << "tierd-detect-run: " << model_path << ": cannot be loaded: " << e.what()
                  << "\n";
        return 1;
    }
    if (net.empty()) {
        std::cerr << "tierd-detect-run: " << model_path << ": cannot be loaded\n";
        return 1;
    }
    net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
    net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
    if (!calib_video.empty()) {
        cv::VideoCapture calib(calib_video, cv::CAP_FFMPEG);
        std::vector<cv::Mat> frames;
        cv::Mat f;
        while (static_cast<int>(frames.size()) < calib_frames && calib.read(f) && !f.empty())
            frames.push_back(f.clone());
        if (frames.empty()) {
            std::cerr << "tierd-detect-run: --int8 " << calib_video << ": no frame read\n";
            return 1;
        }
        try {
            // One blob of all the frames: OpenCV 4.6 takes one calibration blob per input.
            const std::vector<cv::Mat> calib_blobs{
                cv::dnn::blobFromImages(frames, 1.0 / 255.0, input)};
            net = net.quantize(calib_blobs, CV_32F, CV_32F);
        } catch (const cv::Exception &e) {
            std::cerr << "tierd-detect-run: " << model_path
                      << ": OpenCV cannot quantize it: " << e.what() << "\n";
            return 1;
        }
        calib_frames = static_cast<int>(frames.size());
    }
    cv::VideoCapture video(video_path, cv::CAP_FFMPEG);
    if (!video.isOpened()) {
        std::cerr << "tierd-detect-run: " << video_path << ": cannot be opened as a video\n";
        return 1;
    }
    std::ofstream out(out_path, std::ios::trunc);
    if (!out) {
        std::cerr << "tierd-detect-run: " << out_path << ": cannot be written\n";
        return 1;
    }

    const std::vector<std::string> outputs = {output_name(net, "heatmap"), output_name(net, "box")};
    std::vector<double> net_ms, decode_ms;
    std::size_t detections = 0;
    cv::Mat frame, blob;
    std::vector<cv::Mat> result;
    for (int index = 0; max_frames == 0 || index < max_frames; ++index) {
        if (!video.read(frame) || frame.empty())
            break;
        if (index == 0) { // warm-up, not timed
            net.setInput(cv::dnn::blobFromImage(frame, 1.0 / 255.0, input));
            net.forward(result, outputs);
        }
        auto t0 = Clock::now();
        blob = cv::dnn::blobFromImage(frame, 1.0 / 255.0, input);
        net.setInput(blob);
        try {
            net.forward(result, outputs);
        } catch (const cv::Exception &e) {
            std::cerr << "tierd-detect-run: " << model_path
                      << ": forward failed (outputs 'heatmap' and 'box' expected): " << e.what()
                      << "\n";
            return 1;
        }
        net_ms.push_back(ms_since(t0));
        t0 = Clock::now();
        std::vector<inference_opencv::DetectionBox> boxes;
        try {
            boxes = inference_opencv::decode_detections(result[0], result[1], input, frame.size(),
                                                        options);
        } catch (const std::exception &e) {
            std::cerr << "tierd-detect-run: " << model_path << ": " << e.what() << "\n";
            return 1;
        }
        decode_ms.push_back(ms_since(t0));
        nlohmann::json line;
        line["frame"] = index;
        nlohmann::json list = nlohmann::json::array();
        for (const auto &b : boxes)
            list.push_back({{"bbox", {b.x, b.y, b.width, b.height}},
                            {"category_id", b.class_id + 1},
                            {"score", b.score}});
        detections += boxes.size();
        line["detections"] = std::move(list);
        out << line.dump() << '\n';
    }
    out.close();
    if (!out) {
        std::cerr << "tierd-detect-run: " << out_path << ": write failed\n";
        return 1;
    }
    double net_sum = 0, decode_sum = 0;
    for (double v : net_ms)
        net_sum += v;
    for (double v : decode_ms)
        decode_sum += v;
    const double n = std::max<double>(1.0, static_cast<double>(net_ms.size()));
    nlohmann::json summary = {
        {"model", model_path},
        {"video", video_path},
        {"input", {input.width, input.height}},
        {"threads", threads},
        {"precision", calib_video.empty() ? "fp32" : "int8"},
        {"calibration", calib_video.empty()
                            ? nlohmann::json(nullptr)
                            : nlohmann::json{{"video", calib_video}, {"frames", calib_frames}}},
        {"frames", net_ms.size()},
        {"detections", detections},
        {"net_ms_mean", net_sum / n},
        {"net_ms_p50", median(net_ms)},
        {"decode_ms_mean", decode_sum / n},
        {"ms_per_frame", (net_sum + decode_sum) / n},
        {"peak_rss_mb", peak_rss_mb()}};
    std::cout << summary.dump() << std::endl;
    return 0;
}
