// The objects of the synthetic videos: Fashion-MNIST items (28x28 gray, black background,
// 10 classes), read from Debian's dataset-fashion-mnist. Which file a video draws from is
// the train/test split: a training video only ever shows train-* images, a test video only
// t10k-* images, so no test object is ever seen in training.
#pragma once

#include "tools/video/seeded_random.hpp"

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace tierd::videogen {

enum class Split { train, test };

std::string_view split_name(Split split);

constexpr int kFashionSide = 28; // pixels per side of one Fashion-MNIST image
constexpr int kFashionClasses = 10;

// The class names, index = Fashion-MNIST label (COCO category id = label + 1).
extern const std::array<const char *, kFashionClasses> kFashionClassNames;

// One item: its label, its index in the split's IDX file, its 28x28 pixels (row-major).
struct FashionItem {
    int label = 0;
    uint32_t image_index = 0;
    const uint8_t *pixels = nullptr; // borrowed from the FashionItems that returned it
};

// All images of one split, in memory (t10k: 7.8 MB, train: 47 MB).
class FashionItems {
  public:
    // Reads <dir>/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz. Throws
    // std::runtime_error naming the file (and the Debian package when it is missing).
    FashionItems(const std::filesystem::path &dir, Split split);

    // A class uniformly among the 10, then an image of that class uniformly.
    FashionItem pick(SeededRandom &random) const;

    std::size_t count() const { return labels_.size(); }

  private:
    std::vector<uint8_t> pixels_;
    std::vector<uint8_t> labels_;
    std::array<std::vector<uint32_t>, kFashionClasses> by_class_;
};

} // namespace tierd::videogen
