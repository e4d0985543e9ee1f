// The model zoo's manifest (models/manifest.toml, written by tools/zoo): which models
// exist, their files and sha256, and the input normalisation they share. Read once in
// create() (worker thread).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace inference_opencv {

// A split point of a model (the manifest's [[model.cut]], written by tools/zoo/split.py):
// the head sub-model runs the input up to the crossing tensor, the tail from it on.
struct ManifestCut {
    int layer = 0;          // nodes in the head (the cut's id within its model)
    std::string tensor;     // the crossing tensor's name in the full model
    std::vector<int> shape; // of the crossing tensor for one image (no batch axis)
    std::size_t elements = 0;
    std::string head_path, head_sha256;
    std::string tail_path, tail_sha256;
};

struct ManifestModel {
    std::string name;
    std::string path;   // absolute or relative to the working directory
    std::string sha256; // lowercase hex
    double top1 = -1.0; // accuracy on the test split; -1 when the manifest has none
    std::vector<ManifestCut> cuts;
    // "int8": the plugin quantizes this entry's (float) file at load with
    // cv::dnn::Net::quantize, so one agent serves a model in both precisions (tools/compress
    // writes such entries; OpenCV 4.6 loads no int8 ONNX file). "fp32" otherwise.
    std::string precision = "fp32";
    // Lineage, for display (tools/compress): the model it was made from and how; "" = none.
    std::string parent, method;
};

// A video object detector (the manifest's [[detector]], written by tools/detect; see
// docs/detectors.md): its own input geometry and normalisation, two outputs ("heatmap"
// [1, classes, H/stride, W/stride] and "box" [1, 4, H/stride, W/stride]) that
// detection_decoder.hpp decodes.
struct ManifestDetector {
    std::string name;
    std::string path;                        // absolute or relative to the working directory
    std::string sha256;                      // lowercase hex
    int width = 0, height = 0, channels = 3; // network input, BGR when channels = 3
    double scale = 1.0 / 255.0;              // x = (pixel - mean) * scale
    double mean = 0.0;
    int stride = 0;      // input pixels per output cell
    int classes = 0;     // heatmap channels (class_id 0..classes-1)
    double map50 = -1.0; // mAP@0.5 on the test videos; -1 when the manifest has none
    // The layer (OpenCV DNN name) whose output is the detector's feature map, handed out
    // when the host asks for features (tierd_inference_result.features, e.g. for feature
    // fusion, docs/feature-fusion.md); "" = it offers none.
    std::string features;
};

struct Manifest {
    int width = 28, height = 28, channels = 1;
    double scale = 1.0 / 255.0; // x = (pixel - mean) * scale
    double mean = 0.0;
    std::string dataset_dir; // where the training data was (optional; "" when absent)
    std::vector<ManifestModel> models;
    std::vector<ManifestDetector> detectors; // [[detector]] tables; may be empty
};

// Parses the manifest at `path`; model files are resolved against its directory. Throws
// std::runtime_error naming the file, line and key on anything malformed.
Manifest read_manifest(const std::string &path);

// The same from the manifest's text; `path` names it in errors and is the directory
// model files are resolved against (read_manifest reads the file and calls this).
Manifest parse_manifest(std::string_view text, const std::string &path);

// Lowercase hex sha256 of the file's bytes; throws std::runtime_error if unreadable.
std::string file_sha256(const std::string &path);

} // namespace inference_opencv
