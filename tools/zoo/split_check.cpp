// split_check: check split execution sub-models (head/tail ONNX pairs) against the full
// model through OpenCV's DNN module and report the result as JSON on stdout.
//
//   split_check [--data DIR] [--limit N] [--batch N] [--threads N] --scale S --mean M
//               --full FILE [--cut ID HEAD TAIL TENSOR]...
//
// For each --cut: loads HEAD and TAIL with cv::dnn::readNetFromONNX, feeds the first N
// test images (default 256; normalised as blobFromImages(images, S, Size(28, 28),
// Scalar(M))) through the head, feeds the head's output into the tail's input named
// TENSOR, and compares the tail's output with the full model's: max |difference| and the
// number of images whose argmax differs. Batches of --batch images (default 100; the
// last one is smaller, so the dynamic batch axis is exercised). Reports the head output's
// per-image shape (without the batch axis). A cut that OpenCV cannot load or run is
// reported with "ok": false and an "error"; the other cuts are still checked.
// Used by tools/zoo/split.py (choosing the cuts) and tests/zoo/check_split.py (ctest
// zoo_split). Exit status: 0 the checks ran (read "ok" per cut), 1 the full model failed,
// 2 bad arguments or data.
#include <opencv2/core.hpp>
#include <opencv2/core/utility.hpp>
#include <opencv2/dnn.hpp>

#include <tierd/idx.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

struct Cut {
    std::string id, head, tail, tensor;
};

struct Options {
    std::string data = "/usr/share/datasets/fashion-mnist";
    std::string full;
    long limit = 256;
    int batch = 100;
    int threads = 2;
    double scale = 0, mean = 0;
    bool have_scale = false, have_mean = false;
    std::vector<Cut> cuts;
};

[[noreturn]] void usage(const std::string &why) {
    std::cerr << "split_check: " << why << "\n"
              << "usage: split_check [--data DIR] [--limit N] [--batch N] [--threads N]\n"
              << "                   --scale S --mean M --full FILE\n"
              << "                   [--cut ID HEAD TAIL TENSOR]...\n";
    std::exit(2);
}

Options parse(int argc, char **argv) {
    Options o;
    auto need = [&](int i, int n) {
        if (i + n >= argc)
            usage(std::string(argv[i]) + " needs " + std::to_string(n) + " value(s)");
    };
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        try {
            if (a == "--data") {
                need(i, 1);
                o.data = argv[++i];
            } else if (a == "--limit") {
                need(i, 1);
                o.limit = std::stol(argv[++i]);
            } else if (a == "--batch") {
                need(i, 1);
                o.batch = std::stoi(argv[++i]);
            } else if (a == "--threads") {
                need(i, 1);
                o.threads = std::stoi(argv[++i]);
            } else if (a == "--scale") {
                need(i, 1);
                o.scale = std::stod(argv[++i]);
                o.have_scale = true;
            } else if (a == "--mean") {
                need(i, 1);
                o.mean = std::stod(argv[++i]);
                o.have_mean = true;
            } else if (a == "--full") {
                need(i, 1);
                o.full = argv[++i];
            } else if (a == "--cut") {
                need(i, 4);
                Cut c;
                c.id = argv[++i];
                c.head = argv[++i];
                c.tail = argv[++i];
                c.tensor = argv[++i];
                o.cuts.push_back(c);
            } else if (a == "-h" || a == "--help") {
                usage("help");
            } else {
                usage("unknown argument " + a);
            }
        } catch (const std::logic_error &) {
            usage("bad number after " + a);
        }
    }
    if (o.full.empty())
        usage("no --full given");
    if (!o.have_scale || !o.have_mean)
        usage("--scale and --mean are required");
    if (o.limit < 1 || o.batch < 1 || o.threads < 1)
        usage("--limit, --batch and --threads must be >= 1");
    return o;
}

std::string json_str(const std::string &s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (c == '\n' || c == '\r' || c == '\t') {
            out += ' ';
        } else if (static_cast<unsigned char>(c) < 0x20) {
            out += '?';
        } else {
            out += c;
        }
    }
    return out + "\"";
}

std::string num(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    return buf;
}

cv::dnn::Net load(const std::string &file) {
    cv::dnn::Net net = cv::dnn::readNetFromONNX(file);
    if (net.empty())
        throw std::runtime_error("OpenCV returned an empty network for " + file);
    net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
    net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
    return net;
}

// Shape of one image's slice of a [N, ...] blob, as a JSON list.
std::string per_image_shape(const cv::Mat &m) {
    std::string s = "[";
    for (int d = 1; d < m.dims; ++d)
        s += (d > 1 ? ", " : "") + std::to_string(m.size[d]);
    return s + "]";
}

struct CutResult {
    bool ok = false;
    std::string error, head_shape = "[]";
    double max_diff = 0;
    size_t argmax_mismatch = 0;
};

int argmax10(const float *z) {
    return int(std::max_element(z, z + 10) - z);
}

CutResult check_cut(const Cut &c, const std::vector<cv::Mat> &blobs,
                    const std::vector<cv::Mat> &full_out) {
    CutResult r;
    try {
        cv::dnn::Net head = load(c.head);
        cv::dnn::Net tail = load(c.tail);
        std::string shape;
        for (size_t b = 0; b < blobs.size(); ++b) {
            head.setInput(blobs[b]);
            cv::Mat mid = head.forward().clone();
            if (mid.dims < 2 || mid.size[0] != blobs[b].size[0])
                throw std::runtime_error("head output has no batch axis of the input's size");
            const std::string s = per_image_shape(mid);
            if (shape.empty())
                shape = s;
            else if (s != shape)
                throw std::runtime_error("head output shape changes with the batch size: " + shape +
                                         " vs " + s);
            tail.setInput(mid, c.tensor);
            cv::Mat out = tail.forward();
            const cv::Mat &ref = full_out[b];
            if (out.dims != 2 || out.rows != ref.rows || out.cols != 10)
                throw std::runtime_error("tail output is not [N,10]");
            for (int i = 0; i < out.rows; ++i) {
                const float *z = out.ptr<float>(i);
                const float *w = ref.ptr<float>(i);
                for (int k = 0; k < 10; ++k)
                    r.max_diff = std::max(r.max_diff, std::fabs(double(z[k]) - double(w[k])));
                if (argmax10(z) != argmax10(w))
                    ++r.argmax_mismatch;
            }
        }
        r.head_shape = shape.empty() ? "[]" : shape;
        r.ok = true;
    } catch (const cv::Exception &e) {
        r.error = std::string("OpenCV: ") + e.what();
    } catch (const std::exception &e) {
        r.error = e.what();
    }
    return r;
}

} // namespace

int main(int argc, char **argv) {
    const Options o = parse(argc, argv);
    cv::setNumThreads(o.threads);

    std::vector<unsigned char> pixels;
    size_t n = 0;
    try {
        tierd::idx::ImageReader reader(o.data + "/t10k-images-idx3-ubyte.gz");
        if (reader.rows() != 28 || reader.cols() != 28) {
            std::cerr << "split_check: test images are not 28x28\n";
            return 2;
        }
        n = std::min<size_t>(reader.count(), size_t(o.limit));
        pixels = reader.read(n);
    } catch (const std::exception &e) {
        std::cerr << "split_check: " << e.what() << "\n";
        return 2;
    }
    std::vector<cv::Mat> blobs;
    for (size_t b = 0; b < n; b += size_t(o.batch)) {
        std::vector<cv::Mat> part;
        for (size_t i = b; i < std::min(n, b + size_t(o.batch)); ++i)
            part.emplace_back(28, 28, CV_8UC1, pixels.data() + i * 784); // views, no copy
        blobs.push_back(cv::dnn::blobFromImages(part, o.scale, cv::Size(28, 28), cv::Scalar(o.mean),
                                                /*swapRB=*/false,
                                                /*crop=*/false, CV_32F));
    }

    std::vector<cv::Mat> full_out;
    try {
        cv::dnn::Net full = load(o.full);
        for (const cv::Mat &blob : blobs) {
            full.setInput(blob);
            cv::Mat out = full.forward().clone();
            if (out.dims != 2 || out.rows != blob.size[0] || out.cols != 10)
                throw std::runtime_error("full model output is not [N,10]");
            full_out.push_back(out);
        }
    } catch (const std::exception &e) {
        std::cerr << "split_check: full model " << o.full << ": " << e.what() << "\n";
        return 1;
    }

    std::ostringstream js;
    js << "{\"full\": " << json_str(o.full) << ", \"images\": " << n
       << ", \"opencv\": " << json_str(CV_VERSION) << ", \"cuts\": [";
    for (size_t ci = 0; ci < o.cuts.size(); ++ci) {
        const Cut &c = o.cuts[ci];
        const CutResult r = check_cut(c, blobs, full_out);
        js << (ci ? ",\n  " : "\n  ") << "{\"id\": " << json_str(c.id)
           << ", \"ok\": " << (r.ok ? "true" : "false") << ", \"error\": " << json_str(r.error)
           << ", \"max_diff\": " << num(r.max_diff)
           << ", \"argmax_mismatch\": " << r.argmax_mismatch << ", \"head_shape\": " << r.head_shape
           << "}";
        std::cerr << "split_check: cut " << c.id << ": "
                  << (r.ok ? "max diff " + num(r.max_diff) : "FAILED: " + r.error) << "\n";
    }
    js << "\n]}\n";
    std::cout << js.str();
    return 0;
}
