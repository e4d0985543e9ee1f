// The baseline of bench/local_path: the plainest way to classify Fashion-MNIST with
// OpenCV DNN — read the net, then for each image blobFromImage, setInput, forward (batch
// 1) — timed over the whole test split. What tierd's local path is compared with.
//
// The input is normalised as the zoo's manifest says (x = (pixel - 73) / 90).
//
// raw_loop MODEL.onnx IMAGES.idx[.gz] THREADS [LIMIT]  ->  one JSON line on stdout:
//   {"model", "threads", "images", "seconds", "images_per_s", "top_class_sum"}
#include <tierd/idx.hpp>

#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

// models/manifest.toml's input settings.
constexpr double kScale = 0.011111111111111112;
constexpr double kMean = 73.0;

int main(int argc, char **argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: raw_loop MODEL.onnx IMAGES.idx[.gz] THREADS [LIMIT]\n");
        return 2;
    }
    const std::string model = argv[1], images_path = argv[2];
    const int threads = std::atoi(argv[3]);
    const std::size_t limit = argc > 4 ? std::strtoull(argv[4], nullptr, 10) : 0;
    cv::setNumThreads(threads);
    tierd::idx::ImageReader reader(images_path);
    std::vector<cv::Mat> images;
    while (!reader.at_end() && (limit == 0 || images.size() < limit)) {
        cv::Mat m(reader.rows(), reader.cols(), CV_8UC1);
        reader.next(m.data);
        images.push_back(m);
    }
    cv::dnn::Net net = cv::dnn::readNet(model);
    net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
    net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
    // Warm-up, as tierd's plugin does at create().
    for (int i = 0; i < 20; ++i) {
        net.setInput(cv::dnn::blobFromImage(images[0], kScale, cv::Size(), cv::Scalar(kMean)));
        net.forward();
    }
    long sum = 0; // keeps the work observable
    const auto start = std::chrono::steady_clock::now();
    for (const auto &img : images) {
        net.setInput(cv::dnn::blobFromImage(img, kScale, cv::Size(), cv::Scalar(kMean)));
        cv::Mat out = net.forward();
        cv::Point top;
        cv::minMaxLoc(out.reshape(1, 1), nullptr, nullptr, nullptr, &top);
        sum += top.x;
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("{\"model\":\"%s\",\"threads\":%d,\"images\":%zu,\"seconds\":%.6f,"
                "\"images_per_s\":%.1f,\"top_class_sum\":%ld}\n",
                model.c_str(), threads, images.size(), seconds,
                static_cast<double>(images.size()) / seconds, sum);
    return 0;
}
