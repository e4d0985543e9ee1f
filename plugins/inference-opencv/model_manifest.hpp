// The model zoo's manifest (models/manifest.toml, written by tools/zoo): which models
// exist, their files and sha256, and the input normalisation they share. Read once in
// create() (worker thread).
#pragma once

#include <string>
#include <vector>

namespace inference_opencv {

struct ManifestModel {
    std::string name;
    std::string path;   // absolute or relative to the working directory
    std::string sha256; // lowercase hex
};

struct Manifest {
    int width = 28, height = 28, channels = 1;
    double scale = 1.0 / 255.0; // x = (pixel - mean) * scale
    double mean = 0.0;
    std::vector<ManifestModel> models;
};

// Parses the manifest at `path`; model files are resolved against its directory. Throws
// std::runtime_error naming the file, line and key on anything malformed.
Manifest read_manifest(const std::string &path);

// Lowercase hex sha256 of the file's bytes; throws std::runtime_error if unreadable.
std::string file_sha256(const std::string &path);

} // namespace inference_opencv
