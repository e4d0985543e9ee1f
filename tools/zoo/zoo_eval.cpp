// zoo_eval: run Fashion-MNIST models through OpenCV's DNN module and report top-1,
// FLOPs and time per image as JSON on stdout; optionally write per-image outcomes.
//
//   zoo_eval [--data DIR] [--split test|train] [--limit N] [--threads N] [--batch N]
//            [--time-images N] [--outcomes DIR] [--dump-logits DIR K]
//            --model NAME FILE SCALE MEAN [--model ...]
//
// Each image is normalised exactly as the manifest says, through
// cv::dnn::blobFromImages(images, SCALE, Size(28, 28), Scalar(MEAN)): x = (pixel - MEAN) *
// SCALE. --outcomes writes DIR/NAME-SPLIT.csv.gz (index,label,pred,correct,p_max,p_2nd,
// entropy; softmax of the logits). --dump-logits writes the first K images' logits as
// little-endian float32 to DIR/NAME.opencv.f32. Exit status 2: bad arguments or data.
#include <opencv2/core.hpp>
#include <opencv2/core/utility.hpp>
#include <opencv2/dnn.hpp>

#include <tierd/idx.hpp>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

struct ModelSpec {
  std::string name, file;
  double scale = 1.0, mean = 0.0;
};

struct Options {
  std::string data = "/usr/share/datasets/fashion-mnist";
  std::string split = "test";
  std::string outcomes, dump_dir;
  int dump_count = 0;
  long limit = -1;
  int threads = 2;
  int batch = 100;
  int time_images = 300;
  std::vector<ModelSpec> models;
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "zoo_eval: " << why << "\n"
            << "usage: zoo_eval [--data DIR] [--split test|train] [--limit N] [--threads N]\n"
            << "                [--batch N] [--time-images N] [--outcomes DIR]\n"
            << "                [--dump-logits DIR K] --model NAME FILE SCALE MEAN [...]\n";
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  auto need = [&](int i, int n) {
    if (i + n >= argc) usage(std::string(argv[i]) + " needs " + std::to_string(n) + " value(s)");
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    try {
      if (a == "--data") { need(i, 1); o.data = argv[++i]; }
      else if (a == "--split") { need(i, 1); o.split = argv[++i]; }
      else if (a == "--limit") { need(i, 1); o.limit = std::stol(argv[++i]); }
      else if (a == "--threads") { need(i, 1); o.threads = std::stoi(argv[++i]); }
      else if (a == "--batch") { need(i, 1); o.batch = std::stoi(argv[++i]); }
      else if (a == "--time-images") { need(i, 1); o.time_images = std::stoi(argv[++i]); }
      else if (a == "--outcomes") { need(i, 1); o.outcomes = argv[++i]; }
      else if (a == "--dump-logits") {
        need(i, 2);
        o.dump_dir = argv[++i];
        o.dump_count = std::stoi(argv[++i]);
      } else if (a == "--model") {
        need(i, 4);
        ModelSpec m;
        m.name = argv[++i];
        m.file = argv[++i];
        m.scale = std::stod(argv[++i]);
        m.mean = std::stod(argv[++i]);
        o.models.push_back(m);
      } else if (a == "-h" || a == "--help") {
        usage("help");
      } else {
        usage("unknown argument " + a);
      }
    } catch (const std::logic_error&) {
      usage("bad number after " + a);
    }
  }
  if (o.models.empty()) usage("no --model given");
  if (o.split != "test" && o.split != "train") usage("--split must be test or train");
  if (o.batch < 1 || o.threads < 1) usage("--batch and --threads must be >= 1");
  return o;
}

std::string json_str(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// Builds the NCHW blob for images [begin, end) with the manifest's normalisation.
cv::Mat make_blob(const std::vector<cv::Mat>& images, size_t begin, size_t end,
                  const ModelSpec& m) {
  std::vector<cv::Mat> part(images.begin() + long(begin), images.begin() + long(end));
  return cv::dnn::blobFromImages(part, m.scale, cv::Size(28, 28), cv::Scalar(m.mean),
                                 /*swapRB=*/false, /*crop=*/false, CV_32F);
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  cv::setNumThreads(o.threads);

  const std::string prefix = o.split == "train" ? "train" : "t10k";
  std::vector<unsigned char> pixels, labels;
  size_t n = 0;
  try {
    tierd::idx::ImageReader reader(o.data + "/" + prefix + "-images-idx3-ubyte.gz");
    if (reader.rows() != 28 || reader.cols() != 28)
      throw std::runtime_error(reader.path() + ": images are not 28x28");
    labels = tierd::idx::read_labels(o.data + "/" + prefix + "-labels-idx1-ubyte.gz",
                                     reader.count(), reader.path());
    n = reader.count();
    if (o.limit >= 0 && size_t(o.limit) < n) n = size_t(o.limit);
    pixels = reader.read(n);
    if (n == reader.count()) reader.expect_end();
  } catch (const std::exception& e) {
    std::cerr << "zoo_eval: " << e.what() << "\n";
    return 2;
  }
  std::vector<cv::Mat> images;
  images.reserve(n);
  for (size_t i = 0; i < n; ++i)
    images.emplace_back(28, 28, CV_8UC1, pixels.data() + i * 784);  // views, no copy

  std::ostringstream js;
  js.setf(std::ios::fixed);
  js << "{\"split\": " << json_str(o.split) << ", \"images\": " << n
     << ", \"threads\": " << o.threads << ", \"batch\": " << o.batch
     << ", \"opencv\": " << json_str(CV_VERSION) << ", \"models\": [";

  for (size_t mi = 0; mi < o.models.size(); ++mi) {
    const ModelSpec& m = o.models[mi];
    cv::dnn::Net net;
    try {
      net = cv::dnn::readNetFromONNX(m.file);
    } catch (const cv::Exception& e) {
      std::cerr << "zoo_eval: " << m.name << ": OpenCV cannot load " << m.file << ": " << e.what()
                << "\n";
      return 1;
    }
    net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
    net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
    const int64 flops = net.getFLOPS(cv::dnn::MatShape{1, 1, 28, 28});

    gzFile out = nullptr;
    if (!o.outcomes.empty()) {
      std::string path = o.outcomes + "/" + m.name + "-" + o.split + ".csv.gz";
      out = gzopen(path.c_str(), "wb9");  // header mtime stays 0: byte-reproducible
      if (!out) {
        std::cerr << "zoo_eval: cannot write " << path << "\n";
        return 1;
      }
      gzputs(out, "index,label,pred,correct,p_max,p_2nd,entropy\n");
    }
    std::vector<float> dump;

    size_t correct = 0;
    double batch_ms = 0;
    for (size_t b = 0; b < n; b += size_t(o.batch)) {
      const size_t e = std::min(n, b + size_t(o.batch));
      cv::Mat blob = make_blob(images, b, e, m);
      net.setInput(blob);
      auto t0 = std::chrono::steady_clock::now();
      cv::Mat logits = net.forward();
      batch_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                      .count();
      if (logits.dims != 2 || size_t(logits.rows) != e - b || logits.cols != 10) {
        std::cerr << "zoo_eval: " << m.name << ": unexpected output shape\n";
        return 1;
      }
      for (size_t i = b; i < e; ++i) {
        const float* z = logits.ptr<float>(int(i - b));
        if (dump.size() < size_t(o.dump_count) * 10) dump.insert(dump.end(), z, z + 10);
        int pred = int(std::max_element(z, z + 10) - z);
        double zmax = z[pred], sum = 0, p[10];
        for (int c = 0; c < 10; ++c) sum += (p[c] = std::exp(double(z[c]) - zmax));
        double p1 = 0, p2 = 0, ent = 0;
        for (int c = 0; c < 10; ++c) {
          p[c] /= sum;
          if (p[c] > 0) ent -= p[c] * std::log(p[c]);
          if (p[c] > p1) { p2 = p1; p1 = p[c]; }
          else if (p[c] > p2) { p2 = p[c]; }
        }
        const bool ok = pred == labels[i];
        correct += ok;
        if (out) {
          char line[96];
          std::snprintf(line, sizeof line, "%zu,%d,%d,%d,%.4f,%.4f,%.4f\n", i, int(labels[i]),
                        pred, int(ok), p1, p2, ent);
          gzputs(out, line);
        }
      }
    }
    if (out && gzclose(out) != Z_OK) {
      std::cerr << "zoo_eval: error writing outcomes for " << m.name << "\n";
      return 1;
    }
    if (!o.dump_dir.empty()) {
      std::ofstream f(o.dump_dir + "/" + m.name + ".opencv.f32", std::ios::binary);
      f.write(reinterpret_cast<const char*>(dump.data()), std::streamsize(dump.size() * 4));
      if (!f) {
        std::cerr << "zoo_eval: cannot write logits dump for " << m.name << "\n";
        return 1;
      }
    }

    // Batch-1 latency: warm-up, then the first time_images images one by one.
    double b1_ms = 0;
    const size_t tn = std::min(n, size_t(std::max(0, o.time_images)));
    if (tn > 0) {
      for (size_t i = 0; i < std::min<size_t>(tn, 20); ++i) {
        net.setInput(make_blob(images, i, i + 1, m));
        net.forward();
      }
      auto t0 = std::chrono::steady_clock::now();
      for (size_t i = 0; i < tn; ++i) {
        net.setInput(make_blob(images, i, i + 1, m));
        net.forward();
      }
      b1_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                  .count() / double(tn);
    }

    js << (mi ? ", " : "") << "{\"name\": " << json_str(m.name) << ", \"file\": " << json_str(m.file)
       << ", \"images\": " << n << ", \"correct\": " << correct << std::setprecision(6)
       << ", \"top1\": " << (n ? double(correct) / double(n) : 0.0) << ", \"flops\": " << flops
       << ", \"ms_per_image_batch\": " << (n ? batch_ms / double(n) : 0.0)
       << ", \"ms_per_image_b1\": " << b1_ms << "}";
    std::cerr << "zoo_eval: " << m.name << " " << o.split << ": " << correct << "/" << n
              << " correct\n";
  }
  js << "]}\n";
  std::cout << js.str();
  return 0;
}
