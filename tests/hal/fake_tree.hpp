#pragma once
// FakeTree: a throw-away sysfs/procfs tree under a unique temp directory.
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

namespace tierd::hal::test {

class FakeTree {
  public:
    FakeTree() {
        std::random_device rd;
        root_ = std::filesystem::temp_directory_path() /
                ("tierd-hal-" + std::to_string(rd()) + std::to_string(rd()));
        std::filesystem::create_directories(root_);
    }
    ~FakeTree() {
        std::error_code ec;
        std::filesystem::remove_all(root_, ec);
    }
    FakeTree(const FakeTree &) = delete;
    FakeTree &operator=(const FakeTree &) = delete;

    // Writes file "rel" (an absolute-looking path like "/proc/stat") under the root.
    void write(const std::string &rel, const std::string &content) const {
        const auto p = root_ / std::filesystem::path(rel).relative_path();
        std::filesystem::create_directories(p.parent_path());
        std::ofstream(p) << content;
    }
    const std::filesystem::path &root() const { return root_; }

  private:
    std::filesystem::path root_;
};

} // namespace tierd::hal::test
