// fusion-replay: runs a fusion plugin's fuse_frame() offline over a video, as the agent
// would call it for a stream, with recorded detector results (docs/fusion-track.md):
//
//   fusion-replay --video DIR/video.avi --light light.jsonl --heavy heavy.jsonl
//                 --key-period 10 --delay 5 --out fused.jsonl [--plugin PATH]
//                 [--set key=value ...] [--fps R] [--frames N] [--capacity N]
//
// Frame n gets `local` = the light results of frame n (none with --light none), and
// `upstream` = the newest heavy answer that has arrived: key frames are 0, K, 2K, ...; the
// answer about key frame k arrives before frame k + D is fused (D = --delay, in frames), so
// nothing is used before it could have arrived; its age is (n - k) frame intervals. With
// --baseline held the plugin is not run and each frame gets that answer's boxes as they
// were (key frames without tracking). Writes one JSON line per frame for `tierd-eval map`
// and prints a JSON summary with the time per fuse_frame() call (one thread unless --set
// threads=N). Exit status: 0 done, 1 bad input, 2 bad arguments.
#include "plugins/fusion-track/replay_host.hpp"
#include "plugins/fusion-track/replay_inputs.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/videoio.hpp>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

namespace {

using fusion_replay::FrameDetections;

// CPU time of the calling thread: what a call costs when it does not wait for a core (the
// wall time also counts time the thread was runnable but not running on a loaded machine).
double thread_cpu_ms() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) * 1e-6;
}

double percentile(std::vector<double> values, double p) {
    if (values.empty())
        return 0.0;
    std::sort(values.begin(), values.end());
    const auto rank =
        static_cast<std::size_t>(p / 100.0 * static_cast<double>(values.size() - 1) + 0.5);
    return values[std::min(rank, values.size() - 1)];
}

// A result struct around detections the tool owns.
tierd_inference_result result_of(std::vector<tierd_detection> &boxes, int width, int height,
                                 const char *model) {
    tierd_inference_result r{};
    r.struct_size = sizeof r;
    r.top_class = -1;
    r.energy_j = -1;
    std::snprintf(r.model, sizeof r.model, "%s", model);
    r.detections = boxes.data();
    r.detection_capacity = static_cast<uint32_t>(boxes.size());
    r.detection_count = r.detection_capacity;
    r.image_width = width;
    r.image_height = height;
    return r;
}

} // namespace

int main(int argc, char **argv) {
    CLI::App app{"replay a video through a fusion plugin's fuse_frame() with recorded light "
                 "and heavy detector results; write fused JSON Lines for tierd-eval"};
    std::string video_path, light_path, heavy_path, out_path, baseline = "none";
    std::string plugin_path = FUSION_TRACK_DEFAULT_PATH;
    std::vector<std::string> sets;
    int key_period = 10, delay = 5, max_frames = 0, capacity = 100;
    double fps = 0;
    std::string stream = "replay";
    app.add_option("--video", video_path, "the video the results are about")->required();
    app.add_option("--light", light_path, "light (end) detector results, JSON Lines; 'none'")
        ->required();
    app.add_option("--heavy", heavy_path, "heavy (upstream) detector results, JSON Lines")
        ->required();
    app.add_option("--out", out_path, "fused results to write, JSON Lines")->required();
    app.add_option("--key-period", key_period, "a key frame every K frames (0: none)")
        ->check(CLI::Range(0, 1000000));
    app.add_option("--delay", delay, "frames between a key frame and its answer's arrival")
        ->check(CLI::Range(0, 1000000));
    app.add_option("--plugin", plugin_path, "the fusion plugin .so");
    app.add_option("--set", sets, "plugin config key=value (repeatable)");
    app.add_option("--fps", fps, "frame rate for ages (default: the video's)")
        ->check(CLI::Range(0.1, 1000.0));
    app.add_option("--frames", max_frames, "stop after this many frames (0 = all)")
        ->check(CLI::Range(0, 1000000000));
    app.add_option("--capacity", capacity, "the host's detection buffer per frame")
        ->check(CLI::Range(1, 100000));
    app.add_option("--stream", stream, "the stream name tasks carry");
    app.add_option("--baseline", baseline,
                   "none: run the plugin; held: the newest arrived heavy answer, unmoved")
        ->check(CLI::IsMember({"none", "held"}));
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError &e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    std::map<std::string, std::string> overrides{{"threads", "1"}};
    for (const std::string &s : sets) {
        const auto eq = s.find('=');
        if (eq == std::string::npos || eq == 0) {
            std::cerr << "fusion-replay: --set " << s << ": expected key=value\n";
            return 2;
        }
        overrides[s.substr(0, eq)] = s.substr(eq + 1);
    }

    try {
        const FrameDetections light = light_path == "none"
                                          ? FrameDetections{}
                                          : fusion_replay::read_detections_jsonl(light_path);
        const FrameDetections heavy = fusion_replay::read_detections_jsonl(heavy_path);
        cv::VideoCapture video(video_path, cv::CAP_FFMPEG);
        if (!video.isOpened())
            throw fusion_replay::ReplayError(video_path + ": cannot be opened as a video");
        if (fps <= 0)
            fps = video.get(cv::CAP_PROP_FPS) > 0 ? video.get(cv::CAP_PROP_FPS) : 25.0;
        const double frame_ms = 1000.0 / fps;
        std::ofstream out(out_path, std::ios::trunc);
        if (!out)
            throw fusion_replay::ReplayError(out_path + ": cannot be written");

        std::unique_ptr<fusion_replay::PluginHost> host;
        if (baseline == "none")
            host = std::make_unique<fusion_replay::PluginHost>(plugin_path, overrides);

        std::vector<double> fuse_ms, fuse_cpu_ms;
        std::vector<tierd_detection> out_boxes(static_cast<std::size_t>(capacity));
        float scores[1] = {0};
        std::size_t detections_written = 0, key_frames = 0;
        cv::Mat frame;
        for (int64_t n = 0; max_frames == 0 || n < max_frames; ++n) {
            if (!video.read(frame) || frame.empty())
                break;
            if (key_period > 0 && n % key_period == 0)
                ++key_frames;
            // The newest key frame whose answer has arrived by frame n.
            int64_t key = -1;
            if (key_period > 0 && n >= delay)
                key = ((n - delay) / key_period) * key_period;
            std::vector<tierd_detection> heavy_boxes, light_boxes;
            if (key >= 0) {
                auto it = heavy.find(key);
                if (it != heavy.end())
                    heavy_boxes = it->second;
            }
            auto lit = light.find(n);
            if (lit != light.end())
                light_boxes = lit->second;

            uint32_t count = 0;
            if (baseline == "held") {
                count = static_cast<uint32_t>(
                    std::min<std::size_t>(heavy_boxes.size(), out_boxes.size()));
                std::stable_sort(heavy_boxes.begin(), heavy_boxes.end(),
                                 [](const auto &a, const auto &b) { return a.score > b.score; });
                std::copy_n(heavy_boxes.begin(), count, out_boxes.begin());
            } else {
                tierd_image image{sizeof(tierd_image),
                                  TIERD_PIXEL_BGR8,
                                  frame.cols,
                                  frame.rows,
                                  static_cast<int32_t>(frame.step[0]),
                                  frame.data};
                const std::string task_id = stream + "#" + std::to_string(n);
                tierd_task task{};
                task.struct_size = sizeof task;
                task.task_id = task_id.c_str();
                task.source = stream.c_str();
                task.image = &image;
                task.stream = stream.c_str();
                task.frame_index = n;
                tierd_inference_result local_result =
                    result_of(light_boxes, frame.cols, frame.rows, "light");
                tierd_inference_result heavy_result =
                    result_of(heavy_boxes, frame.cols, frame.rows, "heavy");
                tierd_upstream_result upstream{};
                upstream.struct_size = sizeof upstream;
                upstream.result = &heavy_result;
                upstream.frame_index = key;
                upstream.tier = TIERD_TIER_EDGE;
                upstream.age_ms = static_cast<double>(n - key) * frame_ms;
                upstream.arrived_ago_ms = static_cast<double>(n - key - delay) * frame_ms;
                upstream.sequence = static_cast<uint64_t>(key / std::max(1, key_period)) + 1;
                tierd_inference_result fused{};
                fused.struct_size = sizeof fused;
                fused.scores = scores;
                fused.score_capacity = 1;
                fused.detections = out_boxes.data();
                fused.detection_capacity = static_cast<uint32_t>(out_boxes.size());
                const double cpu0 = thread_cpu_ms();
                const auto t0 = std::chrono::steady_clock::now();
                const int rc = host->fusion().fuse_frame(
                    host->instance(), &task, light_path == "none" ? nullptr : &local_result,
                    key >= 0 ? &upstream : nullptr, &fused);
                fuse_ms.push_back(
                    std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                        .count());
                fuse_cpu_ms.push_back(thread_cpu_ms() - cpu0);
                if (rc != TIERD_OK)
                    throw fusion_replay::ReplayError("frame " + std::to_string(n) +
                                                     ": fuse_frame failed: " + tierd_strerror(rc) +
                                                     ": " + host->last_error());
                count = std::min(fused.detection_count, fused.detection_capacity);
            }
            fusion_replay::write_detections_line(out, n, out_boxes.data(), count);
            detections_written += count;
        }
        out.close();
        if (!out)
            throw fusion_replay::ReplayError(out_path + ": write failed");

        double sum = 0, cpu_sum = 0;
        for (double v : fuse_ms)
            sum += v;
        for (double v : fuse_cpu_ms)
            cpu_sum += v;
        nlohmann::json summary = {
            {"video", video_path},
            {"baseline", baseline},
            {"frames", fuse_ms.empty() ? static_cast<std::size_t>(0) : fuse_ms.size()},
            {"key_period", key_period},
            {"delay_frames", delay},
            {"key_frames", key_frames},
            {"detections", detections_written},
            {"fuse_ms_mean", fuse_ms.empty() ? 0.0 : sum / static_cast<double>(fuse_ms.size())},
            {"fuse_ms_p50", percentile(fuse_ms, 50)},
            {"fuse_ms_p90", percentile(fuse_ms, 90)},
            {"fuse_ms_p99", percentile(fuse_ms, 99)},
            {"fuse_ms_max", percentile(fuse_ms, 100)},
            {"fuse_cpu_ms_mean",
             fuse_cpu_ms.empty() ? 0.0 : cpu_sum / static_cast<double>(fuse_cpu_ms.size())},
            {"fuse_cpu_ms_p50", percentile(fuse_cpu_ms, 50)},
            {"fuse_cpu_ms_p99", percentile(fuse_cpu_ms, 99)},
            {"config", overrides}};
        if (host)
            summary["plugin_counters"] = host->counters();
        std::cout << summary.dump() << std::endl;
    } catch (const std::exception &e) {
        std::cerr << "fusion-replay: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
