#include "hal/fs_root.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>

namespace tierd::hal {

std::filesystem::path FsRoot::resolve(const std::filesystem::path &p) const {
    return root_ / p.relative_path();
}

std::optional<std::string> FsRoot::read(const std::filesystem::path &p) const {
    std::ifstream in(resolve(p), std::ios::binary);
    if (!in)
        return std::nullopt;
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad())
        return std::nullopt;
    return ss.str();
}

std::optional<std::string> FsRoot::read_line(const std::filesystem::path &p) const {
    auto text = read(p);
    if (!text)
        return std::nullopt;
    std::string line = text->substr(0, text->find('\n'));
    // device-tree strings end in NUL; sysfs values end in '\n'.
    while (!line.empty() && (line.back() == '\0' || line.back() == ' ' || line.back() == '\r' ||
                             line.back() == '\t'))
        line.pop_back();
    return line;
}

std::optional<long long> FsRoot::read_int(const std::filesystem::path &p) const {
    auto line = read_line(p);
    if (!line || line->empty())
        return std::nullopt;
    long long v = 0;
    auto [ptr, ec] = std::from_chars(line->data(), line->data() + line->size(), v);
    if (ec != std::errc{})
        return std::nullopt;
    return v;
}

std::vector<std::filesystem::path> FsRoot::list(const std::filesystem::path &dir,
                                                const std::string &prefix) const {
    std::vector<std::filesystem::path> out;
    std::error_code ec;
    std::filesystem::directory_iterator it(resolve(dir), ec), end;
    for (; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (name.rfind(prefix, 0) == 0)
            out.push_back(dir / name);
    }
    std::sort(out.begin(), out.end());
    return out;
}

} // namespace tierd::hal
