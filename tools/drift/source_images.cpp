#include "tools/drift/source_images.hpp"

#include <tierd/idx.hpp>

namespace tierd::drift {

SourceImages read_source_images(const std::string &images_path, const std::string &labels_path) {
    SourceImages source;
    source.images_path = images_path;
    source.labels_path = labels_path;
    tierd::idx::ImageReader reader(images_path);
    source.rows = reader.rows();
    source.cols = reader.cols();
    source.count = reader.count();
    source.pixels = reader.read();
    reader.expect_end();
    source.labels = tierd::idx::read_labels(labels_path, source.count, images_path);
    return source;
}

} // namespace tierd::drift
