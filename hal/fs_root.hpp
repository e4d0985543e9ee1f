#pragma once
// FsRoot: every sysfs/procfs read goes through here so tests can use a fake tree.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace tierd::hal {

class FsRoot {
  public:
    explicit FsRoot(std::filesystem::path root = "/") : root_(std::move(root)) {}

    // Absolute path of an absolute-looking path ("/proc/stat") under the root.
    std::filesystem::path resolve(const std::filesystem::path &p) const;
    // Whole file, or nullopt when missing/unreadable (absent sensors are normal).
    std::optional<std::string> read(const std::filesystem::path &p) const;
    // First line with trailing whitespace/NULs stripped (sysfs and device-tree style).
    std::optional<std::string> read_line(const std::filesystem::path &p) const;
    // File parsed as a signed integer; nullopt when missing or not a number.
    std::optional<long long> read_int(const std::filesystem::path &p) const;
    // Entries of dir whose names start with prefix, sorted; returned as root-relative paths.
    std::vector<std::filesystem::path> list(const std::filesystem::path &dir,
                                            const std::string &prefix) const;
    const std::filesystem::path &root() const { return root_; }

  private:
    std::filesystem::path root_;
};

} // namespace tierd::hal
