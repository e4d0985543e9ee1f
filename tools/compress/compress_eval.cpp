// compress_eval: measures Fashion-MNIST classifiers (ONNX, input [N,1,28,28] float, output
// logits [N,10]) through OpenCV DNN in C++, for the model-compression benchmark (issue 19).
// One JSON document on stdout; progress and errors on stderr.
//
//   compress_eval [--data DIR] [--split test|train] [--limit N] [--scale S] [--mean M]
//                 [--threads 1,2] [--time-images N] [--warmup N] [--repeats R]
//                 [--int8 CALIB_N] [--int8-only] [--memory] [--layers]
//                 --model NAME=FILE [--model NAME=FILE ...]
//
// Per model one row per precision: "fp32" (the file as loaded) and, with --int8 N, "int8":
// cv::dnn::Net::quantize on ONE blob of the first N training images (OpenCV 4.6 throws on a
// list of batches). A row measures:
//   top1      accuracy over the split's first --limit images, batch-100 forwards.
//   ms        per thread count (cv::setNumThreads): batch-1 setInput + forward on real
//             images, blobs built beforehand. A shared 2-core machine is noisy, so each
//             thread count runs --repeats rounds of --time-images timed forwards after
//             --warmup untimed ones, and the round with the lowest mean is reported: noise
//             only ever adds time, so the fastest round is the best estimate of the cost.
//   bytes, sha256, flops   of the file; flops = Net::getFLOPS({1,1,28,28}) of the fp32
//             graph (OpenCV 4.6 ignores a convolution's groups, so grouped/depthwise convs
//             are over-counted).
//   peak_rss_mb, model_rss_mb, inference_peak_rss_mb   (--memory) measured in a fresh
//             child process per row (this executable again, hidden --memory-probe): in one
//             process the allocator keeps what earlier rows freed, and VmHWM never goes
//             down, so rows would pollute each other. The child reads VmRSS, loads the net
//             (and quantizes), runs 200 batch-1 forwards of a zero image on one thread and
//             reports VmHWM (whole process, OpenCV's libraries included) = peak_rss_mb,
//             VmHWM minus the VmRSS before loading = model_rss_mb. Where the kernel allows
//             resetting VmHWM (/proc/self/clear_refs), inference_peak_rss_mb is the peak
//             during the forwards alone, after loading and quantizing (which for int8 keeps
//             an fp32 copy and calibration activations for a while).
//   layers    (--layers) per thread count, per-layer times from Net::getPerfProfile over
//             200 batch-1 forwards: the median as "ms" (robust to preemption), the mean as
//             "ms_mean"; layers fused into others (0 ms) are left out.
//
// Normalisation as the model manifest: x = (pixel - mean) * scale through
// cv::dnn::blobFromImages. A row that cannot be measured carries "error" instead of figures
// and the other rows are still measured. Exit status: 0 done (an int8 row whose quantization
// failed included: OpenCV 4.6 cannot quantize every graph); 1 a model file OpenCV cannot
// load or run, or no row measured at all; 2 bad arguments, a missing model file or
// unreadable data (nothing measured).
#include "common/sha256.hpp"
#include <tierd/idx.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/core/utility.hpp>
#include <opencv2/dnn.hpp>

#include <malloc.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numeric>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char **environ;

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr int kAccuracyBatch = 100;
constexpr int kProfileRuns = 200;     // forwards averaged for --layers
constexpr int kMemoryProbeRuns = 200; // forwards in the --memory child

struct ModelSpec {
    std::string name, file;
};

struct Normalisation {
    double scale = 1.0 / 90.0;
    double mean = 73.0;
};

struct Options {
    std::string data = "/usr/share/datasets/fashion-mnist";
    std::string split = "test";
    long limit = -1;
    Normalisation norm;
    std::vector<int> threads{1, 2};
    int time_images = 1000;
    int warmup = 50;
    int repeats = 3;
    int int8_calib = 0;
    bool int8_only = false;
    bool memory = false;
    bool layers = false;
    std::vector<ModelSpec> models;
    std::vector<std::string> probe; // hidden: FILE PRECISION CALIB_N
};

// A split's first images and labels; images() gives 28x28 CV_8U views into pixels.
struct Dataset {
    std::vector<uint8_t> pixels, labels;
    std::vector<cv::Mat> images;
};

double ms_since(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

double rounded(double value, int digits) {
    const double factor = std::pow(10.0, digits);
    return std::round(value * factor) / factor;
}

// ---------------------------------------------------------------- arguments

ModelSpec parse_model_spec(const std::string &text) {
    const auto eq = text.find('=');
    if (eq == std::string::npos)
        return {std::filesystem::path(text).stem().string(), text};
    return {text.substr(0, eq), text.substr(eq + 1)};
}

// A range check that --help does not spell out (the option's text says it).
CLI::Validator in_range(int low, int high) {
    return CLI::Range(low, high).description("");
}

void add_options(CLI::App &app, Options &o, std::vector<std::string> &model_texts) {
    app.add_option("--data", o.data, "Fashion-MNIST IDX directory (t10k-*/train-*-ubyte.gz)")
        ->type_name("DIR")
        ->capture_default_str();
    app.add_option("--split", o.split, "split for top1 and the timing images: test or train")
        ->type_name("SPLIT")
        ->check(CLI::IsMember({"test", "train"}).description(""))
        ->capture_default_str();
    app.add_option("--limit", o.limit, "top1 over the split's first N images (default: all)")
        ->type_name("N")
        ->check(in_range(1, 60000));
    app.add_option("--scale", o.norm.scale, "normalisation: x = (pixel - mean) * scale")
        ->type_name("S")
        ->capture_default_str();
    app.add_option("--mean", o.norm.mean, "normalisation mean")
        ->type_name("M")
        ->capture_default_str();
    app.add_option("--threads", o.threads, "thread counts to time at, comma-separated (1,2)")
        ->type_name("LIST")
        ->delimiter(',')
        ->check(in_range(1, 256));
    app.add_option("--time-images", o.time_images,
                   "timed batch-1 forwards per round, one per image of the split")
        ->type_name("N")
        ->check(in_range(1, 1000000))
        ->capture_default_str();
    app.add_option("--warmup", o.warmup, "untimed batch-1 forwards before timing")
        ->type_name("N")
        ->check(in_range(0, 1000000))
        ->capture_default_str();
    app.add_option("--repeats", o.repeats, "timing rounds; the round with the lowest mean counts")
        ->type_name("R")
        ->check(in_range(1, 100))
        ->capture_default_str();
    app.add_option("--int8", o.int8_calib,
                   "also an int8 row per model: Net::quantize calibrated on the first CALIB_N "
                   "training images")
        ->type_name("CALIB_N")
        ->check(in_range(1, 60000));
    app.add_flag("--int8-only", o.int8_only, "only the int8 rows (needs --int8)");
    app.add_flag("--memory", o.memory,
                 "peak_rss_mb and model_rss_mb per row, measured in a fresh child process");
    app.add_flag("--layers", o.layers, "per-layer times (Net::getPerfProfile) per thread count");
    app.add_option("--model", model_texts,
                   "ONNX classifier to measure, input [N,1,28,28], logits [N,10]; repeatable; "
                   "FILE alone is named after the file")
        ->type_name("NAME=FILE")
        ->required()
        ->allow_extra_args(false);
    app.add_option("--memory-probe", o.probe, "internal: FILE PRECISION CALIB_N")
        ->expected(3)
        ->group("");
    app.footer(
        "Output: one JSON document on stdout, a row per model and precision (fp32, int8):\n"
        "top1, images, ms {THREADS: ms_mean, ms_p50, ms_p90}, bytes, sha256, flops,\n"
        "peak_rss_mb, model_rss_mb, layers {THREADS: [name, type, ms]}; a row OpenCV\n"
        "cannot load or quantize has \"error\" instead. Exit status: 0 done, 1 a model\n"
        "OpenCV cannot load or run, 2 bad arguments, missing model file or unreadable data.");
}

// Exits with 0 for --help, 2 for bad arguments.
Options parse_arguments(int argc, char **argv) {
    CLI::App app{"compress_eval: top-1, batch-1 latency per thread count, size, FLOPs, memory "
                 "and per-layer times of Fashion-MNIST ONNX classifiers through OpenCV DNN, fp32 "
                 "and int8; JSON on stdout"};
    Options o;
    std::vector<std::string> model_texts;
    add_options(app, o, model_texts);
    try {
        // The memory probe child gets no --model: accept that before CLI11 insists.
        const bool probe =
            std::find(argv + 1, argv + argc, std::string("--memory-probe")) != argv + argc;
        if (probe)
            app.get_option("--model")->required(false);
        app.parse(argc, argv);
    } catch (const CLI::ParseError &e) {
        std::exit(app.exit(e) == 0 ? 0 : 2);
    }
    if (o.int8_only && o.int8_calib == 0) {
        std::cerr << "compress_eval: --int8-only needs --int8 CALIB_N\n";
        std::exit(2);
    }
    for (const auto &text : model_texts)
        o.models.push_back(parse_model_spec(text));
    return o;
}

// Missing model files are an argument error: say which, before measuring anything.
bool model_files_exist(const std::vector<ModelSpec> &models) {
    bool ok = true;
    for (const auto &m : models) {
        if (m.name.empty() || m.file.empty()) {
            std::cerr << "compress_eval: --model wants NAME=FILE\n";
            ok = false;
        } else if (!std::filesystem::is_regular_file(m.file)) {
            std::cerr << "compress_eval: model " << m.name << ": " << m.file << ": no such file\n";
            ok = false;
        }
    }
    return ok;
}

// ---------------------------------------------------------------- data

// The first max_images images of a split (all if fewer); throws tierd::idx::Error.
Dataset load_split(const std::string &dir, const std::string &split, size_t max_images) {
    const std::string prefix = split == "train" ? "train" : "t10k";
    tierd::idx::ImageReader reader(dir + "/" + prefix + "-images-idx3-ubyte.gz");
    if (reader.rows() != 28 || reader.cols() != 28)
        throw std::runtime_error(reader.path() + ": images are not 28x28");
    Dataset d;
    d.labels = tierd::idx::read_labels(dir + "/" + prefix + "-labels-idx1-ubyte.gz", reader.count(),
                                       reader.path());
    d.pixels = reader.read(std::min<size_t>(max_images, reader.count()));
    const size_t n = d.pixels.size() / 784;
    d.labels.resize(n);
    d.images.reserve(n);
    for (size_t i = 0; i < n; ++i)
        d.images.emplace_back(28, 28, CV_8UC1, d.pixels.data() + i * 784); // views, no copy
    return d;
}

cv::Mat make_blob(const std::vector<cv::Mat> &images, size_t begin, size_t end,
                  const Normalisation &norm) {
    const std::vector<cv::Mat> part(images.begin() + long(begin), images.begin() + long(end));
    return cv::dnn::blobFromImages(part, norm.scale, cv::Size(28, 28), cv::Scalar(norm.mean),
                                   /*swapRB=*/false, /*crop=*/false, CV_32F);
}

// ---------------------------------------------------------------- nets

void use_opencv_cpu(cv::dnn::Net &net) {
    net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
    net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
}

// Throws cv::Exception (or std::runtime_error) when OpenCV cannot load the file.
cv::dnn::Net load_fp32(const std::string &file) {
    cv::dnn::Net net = cv::dnn::readNetFromONNX(file);
    if (net.empty())
        throw std::runtime_error("OpenCV read an empty network");
    use_opencv_cpu(net);
    return net;
}

// Throws cv::Exception when OpenCV cannot quantize the net.
cv::dnn::Net quantize_int8(cv::dnn::Net &fp32, const cv::Mat &calib_blob) {
    cv::dnn::Net int8 = fp32.quantize(calib_blob, CV_32F, CV_32F);
    use_opencv_cpu(int8);
    return int8;
}

// The net a row measures: the file's, or its quantization.
cv::dnn::Net load_net(const std::string &file, const std::string &precision,
                      const cv::Mat &calib_blob) {
    cv::dnn::Net fp32 = load_fp32(file);
    return precision == "int8" ? quantize_int8(fp32, calib_blob) : fp32;
}

double top1(cv::dnn::Net &net, const Dataset &d, size_t count, const Normalisation &norm) {
    size_t correct = 0;
    for (size_t begin = 0; begin < count; begin += kAccuracyBatch) {
        const size_t end = std::min(count, begin + kAccuracyBatch);
        net.setInput(make_blob(d.images, begin, end, norm));
        const cv::Mat logits = net.forward();
        if (logits.dims != 2 || size_t(logits.rows) != end - begin || logits.cols != 10)
            throw std::runtime_error("output is not [N,10] logits");
        for (size_t i = begin; i < end; ++i) {
            const float *z = logits.ptr<float>(int(i - begin));
            correct += size_t(std::max_element(z, z + 10) - z) == d.labels[i];
        }
    }
    return double(correct) / double(count);
}

// ---------------------------------------------------------------- timing

// Milliseconds of a series of forwards, in run order.
struct Samples {
    std::vector<double> ms;
    double mean() const { return std::accumulate(ms.begin(), ms.end(), 0.0) / double(ms.size()); }
};

// Nearest-rank percentile, p in (0, 1].
double percentile(std::vector<double> ms, double p) {
    std::sort(ms.begin(), ms.end());
    const auto rank = size_t(std::ceil(p * double(ms.size())));
    return ms[std::clamp<size_t>(rank, 1, ms.size()) - 1];
}

Samples time_round(cv::dnn::Net &net, const std::vector<cv::Mat> &blobs) {
    Samples round;
    round.ms.reserve(blobs.size());
    for (const auto &blob : blobs) {
        const auto start = Clock::now();
        net.setInput(blob);
        net.forward();
        round.ms.push_back(ms_since(start));
    }
    return round;
}

json time_batch1(cv::dnn::Net &net, const std::vector<cv::Mat> &blobs, const Options &o) {
    for (int i = 0; i < o.warmup; ++i) {
        net.setInput(blobs[size_t(i) % blobs.size()]);
        net.forward();
    }
    Samples best;
    for (int r = 0; r < o.repeats; ++r) {
        Samples round = time_round(net, blobs);
        if (best.ms.empty() || round.mean() < best.mean())
            best = std::move(round);
    }
    return {{"ms_mean", rounded(best.mean(), 5)},
            {"ms_p50", rounded(percentile(best.ms, 0.5), 5)},
            {"ms_p90", rounded(percentile(best.ms, 0.9), 5)}};
}

// Per-layer ms over kProfileRuns batch-1 forwards: "ms" the median (one preemption on a
// shared machine costs more than a small model's whole forward, and would dominate a mean),
// "ms_mean" the mean. getPerfProfile() covers the last forward only; its vector is indexed
// by layer id - 1 (id 0 is the input layer), the order in which getLayerNames() lists them.
// Layers fused into others take 0 ms and are left out.
json profile_layers(cv::dnn::Net &net, const std::vector<cv::Mat> &blobs) {
    const std::vector<cv::String> names = net.getLayerNames();
    std::vector<std::vector<double>> layer_ms(names.size());
    const double ms_per_tick = 1000.0 / cv::getTickFrequency();
    for (int run = 0; run < kProfileRuns; ++run) {
        net.setInput(blobs[size_t(run) % blobs.size()]);
        net.forward();
        std::vector<double> ticks;
        net.getPerfProfile(ticks);
        if (ticks.size() != names.size())
            throw std::runtime_error("getPerfProfile does not list every layer");
        for (size_t i = 0; i < names.size(); ++i)
            layer_ms[i].push_back(ticks[i] * ms_per_tick);
    }
    json layers = json::array();
    for (size_t i = 0; i < names.size(); ++i) {
        const Samples runs{layer_ms[i]};
        if (runs.mean() <= 0)
            continue;
        layers.push_back({{"name", names[i]},
                          {"type", net.getLayer(net.getLayerId(names[i]))->type},
                          {"ms", rounded(percentile(runs.ms, 0.5), 6)},
                          {"ms_mean", rounded(runs.mean(), 6)}});
    }
    return layers;
}

// ---------------------------------------------------------------- memory

// A "Field:   123 kB" line of /proc/self/status, in kB; -1 if absent.
long proc_status_kb(const std::string &field) {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind(field + ":", 0) == 0)
            return std::stol(line.substr(field.size() + 1));
    }
    return -1;
}

// Linux >= 4.0: writing 5 to clear_refs sets VmHWM back to the current VmRSS.
bool reset_peak_rss() {
    std::ofstream clear_refs("/proc/self/clear_refs");
    clear_refs << "5" << std::flush;
    return bool(clear_refs);
}

// The child's side of --memory: prints one JSON line with the kB figures. Exit 0, or 1 with
// the reason on stderr.
int run_memory_probe(const Options &o) {
    const std::string &file = o.probe[0], &precision = o.probe[1];
    const int calib_n = std::stoi(o.probe[2]);
    cv::setNumThreads(1);
    cv::Mat calib_blob;
    if (precision == "int8") {
        const Dataset calib = load_split(o.data, "train", size_t(calib_n));
        calib_blob = make_blob(calib.images, 0, calib.images.size(), o.norm);
    }
    const long rss_before_kb = proc_status_kb("VmRSS");
    cv::dnn::Net net = load_net(file, precision, calib_blob);
    const cv::Mat zero(std::vector<int>{1, 1, 28, 28}, CV_32F, cv::Scalar(0));
    net.setInput(zero);
    net.forward(); // first forward allocates the activations
    calib_blob.release();
    malloc_trim(0);
    const long prepared_hwm_kb = proc_status_kb("VmHWM");
    const bool reset = reset_peak_rss();
    for (int i = 0; i < kMemoryProbeRuns; ++i) {
        net.setInput(zero);
        net.forward();
    }
    const long inference_hwm_kb = proc_status_kb("VmHWM");
    json out = {{"rss_before_kb", rss_before_kb},
                {"hwm_kb", std::max(prepared_hwm_kb, inference_hwm_kb)}};
    if (reset)
        out["inference_hwm_kb"] = inference_hwm_kb;
    std::cout << out.dump() << std::endl;
    return 0;
}

struct ChildResult {
    int status = -1; // exit status, or -1 when it did not exit normally
    std::string out;
};

// Runs argv[0] with argv, waits, and returns its exit status and stdout (stderr passes).
ChildResult run_child(const std::vector<std::string> &args) {
    int fds[2];
    if (pipe(fds) != 0)
        throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    std::vector<char *> argv;
    for (const auto &a : args)
        argv.push_back(const_cast<char *>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid = 0;
    const int spawn_error =
        posix_spawn(&pid, args[0].c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    ChildResult result;
    char buffer[4096];
    ssize_t got = 0;
    while ((got = read(fds[0], buffer, sizeof buffer)) > 0)
        result.out.append(buffer, size_t(got));
    close(fds[0]);
    if (spawn_error != 0)
        throw std::runtime_error("cannot run " + args[0]);
    int wait_status = 0;
    waitpid(pid, &wait_status, 0);
    if (WIFEXITED(wait_status))
        result.status = WEXITSTATUS(wait_status);
    return result;
}

double kb_to_mb(long kb) {
    return rounded(double(kb) / 1024.0, 2);
}

// The child's kB figures for one row; throws std::runtime_error if it fails.
json run_memory_probe_child(const std::string &file, const std::string &precision,
                            const Options &o) {
    std::ostringstream scale, mean;
    scale.precision(17);
    mean.precision(17);
    scale << o.norm.scale;
    mean << o.norm.mean;
    const ChildResult child = run_child({"/proc/self/exe", "--memory-probe", file, precision,
                                         std::to_string(o.int8_calib), "--data", o.data, "--scale",
                                         scale.str(), "--mean", mean.str()});
    if (child.status != 0)
        throw std::runtime_error("memory probe failed (exit " + std::to_string(child.status) + ")");
    return json::parse(child.out);
}

// Adds peak_rss_mb, model_rss_mb (and inference_peak_rss_mb) to row, or "memory_error".
void measure_memory(json &row, const std::string &file, const std::string &precision,
                    const Options &o) {
    try {
        const json kb = run_memory_probe_child(file, precision, o);
        const long hwm_kb = kb.at("hwm_kb").get<long>();
        row["peak_rss_mb"] = kb_to_mb(hwm_kb);
        row["model_rss_mb"] = kb_to_mb(hwm_kb - kb.at("rss_before_kb").get<long>());
        if (kb.contains("inference_hwm_kb"))
            row["inference_peak_rss_mb"] = kb_to_mb(kb.at("inference_hwm_kb").get<long>());
    } catch (const std::exception &e) {
        std::cerr << "compress_eval: " << file << " " << precision << ": " << e.what() << "\n";
        row["memory_error"] = e.what();
    }
}

// ---------------------------------------------------------------- rows

struct Inputs {
    Dataset eval;                  // the split's first max(limit, time_images) images
    size_t top1_images = 0;        // how many of them count for top1
    std::vector<cv::Mat> b1_blobs; // batch-1 blobs for timing
    cv::Mat calib_blob;            // --int8: the first N training images, one blob
};

void measure_timing(json &row, cv::dnn::Net &net, const Inputs &in, const Options &o) {
    json ms = json::object(), layers = json::object();
    for (int threads : o.threads) {
        cv::setNumThreads(threads);
        ms[std::to_string(threads)] = time_batch1(net, in.b1_blobs, o);
        if (o.layers)
            layers[std::to_string(threads)] = profile_layers(net, in.b1_blobs);
    }
    row["ms"] = ms;
    if (o.layers)
        row["layers"] = layers;
}

// Why a row has no figures: a file OpenCV cannot load or run counts against the exit status;
// a failed quantization (OpenCV 4.6 cannot quantize every graph) is a finding, not an error.
enum class RowOutcome { measured, model_error, quantize_error };

struct Row {
    json fields;
    RowOutcome outcome = RowOutcome::measured;
};

Row failed_row(json fields, RowOutcome outcome, std::string why) {
    while (!why.empty() && std::isspace(static_cast<unsigned char>(why.back())))
        why.pop_back(); // cv::Exception::what() ends in a newline
    std::cerr << "compress_eval: " << fields["model"].get<std::string>() << " "
              << fields["precision"].get<std::string>() << ": " << fields["file"].get<std::string>()
              << ": " << why << "\n";
    fields["error"] = why;
    return {fields, outcome};
}

Row measure_row(const ModelSpec &m, const std::string &precision, const Inputs &in,
                const Options &o) {
    json row = {{"model", m.name}, {"file", m.file}, {"precision", precision}};
    std::cerr << "compress_eval: measuring " << m.name << " " << precision << "\n";
    cv::dnn::Net net;
    try {
        net = load_fp32(m.file);
        row["flops"] = net.getFLOPS(cv::dnn::MatShape{1, 1, 28, 28});
    } catch (const std::exception &e) {
        return failed_row(row, RowOutcome::model_error, std::string("cannot load: ") + e.what());
    }
    if (precision == "int8") {
        try {
            net = quantize_int8(net, in.calib_blob);
        } catch (const std::exception &e) {
            return failed_row(row, RowOutcome::quantize_error,
                              std::string("cannot quantize: ") + e.what());
        }
    }
    try {
        cv::setNumThreads(*std::max_element(o.threads.begin(), o.threads.end()));
        row["top1"] = rounded(top1(net, in.eval, in.top1_images, o.norm), 6);
        row["images"] = in.top1_images;
        measure_timing(row, net, in, o);
    } catch (const std::exception &e) {
        return failed_row(row, RowOutcome::model_error, std::string("cannot run: ") + e.what());
    }
    row["bytes"] = std::filesystem::file_size(m.file);
    row["sha256"] = tierd::sha256_file_hex(m.file);
    if (o.memory)
        measure_memory(row, m.file, precision, o);
    return {row, RowOutcome::measured};
}

Inputs prepare_inputs(const Options &o) {
    Inputs in;
    const size_t limit = o.limit > 0 ? size_t(o.limit) : SIZE_MAX;
    in.eval = load_split(o.data, o.split, std::max(limit, size_t(o.time_images)));
    in.top1_images = std::min(limit, in.eval.images.size());
    const size_t timed = std::min(size_t(o.time_images), in.eval.images.size());
    for (size_t i = 0; i < timed; ++i)
        in.b1_blobs.push_back(make_blob(in.eval.images, i, i + 1, o.norm));
    if (o.int8_calib > 0) {
        const Dataset calib = load_split(o.data, "train", size_t(o.int8_calib));
        in.calib_blob = make_blob(calib.images, 0, calib.images.size(), o.norm);
    }
    return in;
}

std::string cpu_model() {
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line;
    while (std::getline(cpuinfo, line)) {
        if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos)
            return line.substr(line.find(':') + 2);
    }
    return "unknown";
}

json report_header(const Options &o, const Inputs &in) {
    std::ostringstream rule;
    rule << "per thread count: " << o.warmup << " untimed batch-1 forwards, then " << o.repeats
         << " rounds of " << in.b1_blobs.size()
         << " timed batch-1 forwards (setInput + forward); the round with the lowest mean is "
            "reported";
    json header = {
        {"tool", "compress_eval"},
        {"opencv", CV_VERSION},
        {"machine", {{"cpu", cpu_model()}, {"cores", std::thread::hardware_concurrency()}}},
        {"split", o.split},
        {"images", in.top1_images},
        {"normalisation", {{"scale", o.norm.scale}, {"mean", o.norm.mean}}},
        {"timing_rule", rule.str()}};
    if (o.int8_calib > 0)
        header["int8_calibration_images"] = o.int8_calib;
    return header;
}

} // namespace

int main(int argc, char **argv) {
    const Options o = parse_arguments(argc, argv);
    if (!o.probe.empty()) {
        try {
            return run_memory_probe(o);
        } catch (const std::exception &e) {
            std::cerr << "compress_eval: memory probe: " << o.probe[0] << ": " << e.what() << "\n";
            return 1;
        }
    }
    if (!model_files_exist(o.models))
        return 2;
    Inputs in;
    try {
        in = prepare_inputs(o);
    } catch (const std::exception &e) {
        std::cerr << "compress_eval: " << e.what() << "\n";
        return 2;
    }
    json doc = report_header(o, in);
    doc["rows"] = json::array();
    std::vector<std::string> precisions;
    if (!o.int8_only)
        precisions.push_back("fp32");
    if (o.int8_calib > 0)
        precisions.push_back("int8");
    size_t measured = 0, model_errors = 0;
    for (const auto &m : o.models) {
        for (const auto &precision : precisions) {
            Row row = measure_row(m, precision, in, o);
            measured += row.outcome == RowOutcome::measured;
            model_errors += row.outcome == RowOutcome::model_error;
            doc["rows"].push_back(std::move(row.fields));
        }
    }
    std::cout << doc.dump(2) << std::endl;
    return measured == 0 || model_errors > 0 ? 1 : 0;
}
