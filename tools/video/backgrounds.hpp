// The natural still images behind the objects: a fixed list from Debian's opencv-doc
// package (/usr/share/doc/opencv-doc/examples/data), split like the objects — a training
// video only uses the train list, a test video only the test list — so that test scenes
// are new to a detector trained on training videos.
#pragma once

#include "tools/video/fashion_items.hpp"

#include <opencv2/core.hpp>

#include <filesystem>
#include <span>
#include <string>

namespace tierd::videogen {

// The file names, in the order a seed indexes them. Changing either list changes videos:
// bump kGeneratorVersion (video_generator.hpp) when you do.
std::span<const char *const> background_names(Split split);

// Reads `dir`/`name` (or `name`.gz: Debian compresses some files under /usr/share/doc) as a
// BGR image. Throws std::runtime_error naming the file and the opencv-doc package.
cv::Mat load_background(const std::filesystem::path &dir, const std::string &name);

} // namespace tierd::videogen
