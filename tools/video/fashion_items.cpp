#include "tools/video/fashion_items.hpp"

#include <tierd/idx.hpp>

#include <stdexcept>

namespace tierd::videogen {

const std::array<const char *, kFashionClasses> kFashionClassNames = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

std::string_view split_name(Split split) {
    return split == Split::train ? "train" : "test";
}

FashionItems::FashionItems(const std::filesystem::path &dir, Split split) {
    const std::string prefix = split == Split::train ? "train" : "t10k";
    const std::string images_path = (dir / (prefix + "-images-idx3-ubyte.gz")).string();
    const std::string labels_path = (dir / (prefix + "-labels-idx1-ubyte.gz")).string();
    try {
        idx::ImageReader images(images_path);
        if (images.rows() != kFashionSide || images.cols() != kFashionSide)
            throw std::runtime_error(images_path + ": expected 28x28 images");
        pixels_ = images.read();
        images.expect_end();
        labels_ = idx::read_labels(labels_path, images.count(), images_path);
    } catch (const idx::Error &e) {
        if (e.problem() == idx::Problem::cannot_open)
            throw std::runtime_error(std::string(e.what()) +
                                     " (Fashion-MNIST comes with Debian's "
                                     "dataset-fashion-mnist package; or pass --fashion-mnist DIR)");
        throw std::runtime_error(e.what());
    }
    for (uint32_t i = 0; i < labels_.size(); ++i) {
        if (labels_[i] >= kFashionClasses)
            throw std::runtime_error(labels_path + ": label " + std::to_string(labels_[i]) +
                                     " out of range 0..9");
        by_class_[labels_[i]].push_back(i);
    }
    for (int c = 0; c < kFashionClasses; ++c)
        if (by_class_[c].empty())
            throw std::runtime_error(labels_path + ": no image of class " + std::to_string(c));
}

FashionItem FashionItems::pick(SeededRandom &random) const {
    const int label = static_cast<int>(random.uniform_int(0, kFashionClasses - 1));
    const auto &of_class = by_class_[label];
    const uint32_t index =
        of_class[static_cast<std::size_t>(random.uniform_int(0, int64_t(of_class.size()) - 1))];
    return FashionItem{label, index,
                       pixels_.data() + std::size_t{index} * kFashionSide * kFashionSide};
}

} // namespace tierd::videogen
