#include "agent/pipeline/region_resend.hpp"

#include <algorithm>
#include <cmath>

namespace tierd {
namespace {

bool centre_in(const tierd_detection &d, const cv::Rect &r) {
    const float cx = d.x + d.width / 2, cy = d.y + d.height / 2;
    return cx >= static_cast<float>(r.x) && cx < static_cast<float>(r.x + r.width) &&
           cy >= static_cast<float>(r.y) && cy < static_cast<float>(r.y + r.height);
}

float iou(const tierd_detection &a, const tierd_detection &b) {
    const float x1 = std::max(a.x, b.x), y1 = std::max(a.y, b.y);
    const float x2 = std::min(a.x + a.width, b.x + b.width);
    const float y2 = std::min(a.y + a.height, b.y + b.height);
    const float inter = std::max(0.0f, x2 - x1) * std::max(0.0f, y2 - y1);
    const float uni = a.width * a.height + b.width * b.height - inter;
    return uni > 0 ? inter / uni : 0.0f;
}

} // namespace

std::vector<cv::Rect> uncertain_regions(const std::vector<tierd_detection> &boxes, float sure,
                                        float unsure, cv::Size frame, float margin,
                                        std::size_t max_regions) {
    // An unsure box on an object a sure box already found (another class's guess, a
    // second box of it) asks for nothing new: DDS drops proposals that overlap a confident
    // detection the same way.
    auto already_found = [&](const tierd_detection &d) {
        for (const tierd_detection &s : boxes)
            if (s.score >= sure && iou(s, d) > kFoundIou)
                return true;
        return false;
    };
    std::vector<tierd_detection> asked;
    for (const tierd_detection &d : boxes)
        if (d.score >= unsure && d.score < sure && d.width > 0 && d.height > 0 && !already_found(d))
            asked.push_back(d);
    std::stable_sort(asked.begin(), asked.end(),
                     [](const auto &a, const auto &b) { return a.score > b.score; });
    if (asked.size() > max_regions)
        asked.resize(max_regions);
    const cv::Rect whole(0, 0, frame.width, frame.height);
    std::vector<cv::Rect> rects;
    for (const tierd_detection &d : asked) {
        const float mx = margin * d.width, my = margin * d.height;
        const int x1 = static_cast<int>(std::floor(d.x - mx));
        const int y1 = static_cast<int>(std::floor(d.y - my));
        const int x2 = static_cast<int>(std::ceil(d.x + d.width + mx));
        const int y2 = static_cast<int>(std::ceil(d.y + d.height + my));
        const cv::Rect r = cv::Rect(x1, y1, x2 - x1, y2 - y1) & whole;
        if (r.area() > 0)
            rects.push_back(r);
    }
    // Merge until no two overlap.
    for (bool merged = true; merged;) {
        merged = false;
        for (std::size_t i = 0; i < rects.size() && !merged; ++i)
            for (std::size_t j = i + 1; j < rects.size() && !merged; ++j)
                if ((rects[i] & rects[j]).area() > 0) {
                    rects[i] |= rects[j];
                    rects.erase(rects.begin() + static_cast<std::ptrdiff_t>(j));
                    merged = true;
                }
    }
    return rects;
}

std::vector<tierd_detection> merge_resend(const std::vector<tierd_detection> &first,
                                          const std::vector<tierd_detection> &second,
                                          const std::vector<cv::Rect> &regions) {
    auto in_any = [&](const tierd_detection &d) {
        return std::any_of(regions.begin(), regions.end(),
                           [&](const cv::Rect &r) { return centre_in(d, r); });
    };
    std::vector<tierd_detection> out;
    for (const tierd_detection &d : first)
        if (!in_any(d))
            out.push_back(d);
    for (const tierd_detection &d : second)
        if (in_any(d))
            out.push_back(d);
    std::stable_sort(out.begin(), out.end(),
                     [](const auto &a, const auto &b) { return a.score > b.score; });
    return out;
}

void ResendCache::put(const std::string &key, ResendState state, std::uint64_t now_ns) {
    std::lock_guard lock(mutex_);
    expire(now_ns);
    while (entries_.size() >= capacity_ && !entries_.empty()) {
        auto oldest =
            std::min_element(entries_.begin(), entries_.end(), [](const auto &a, const auto &b) {
                return a.second.expires_ns < b.second.expires_ns;
            });
        entries_.erase(oldest);
    }
    entries_[key] = std::move(state);
}

std::optional<ResendState> ResendCache::take(const std::string &key, std::uint64_t now_ns) {
    std::lock_guard lock(mutex_);
    expire(now_ns);
    auto it = entries_.find(key);
    if (it == entries_.end())
        return std::nullopt;
    ResendState s = std::move(it->second);
    entries_.erase(it);
    return s;
}

std::size_t ResendCache::size() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
}

void ResendCache::expire(std::uint64_t now_ns) {
    for (auto it = entries_.begin(); it != entries_.end();)
        it = it->second.expires_ns <= now_ns ? entries_.erase(it) : std::next(it);
}

Mosaic pack_regions(const std::vector<cv::Rect> &regions, int align) {
    Mosaic m;
    m.at.assign(regions.size(), cv::Point());
    if (regions.empty())
        return m;
    align = std::max(1, align);
    auto up = [align](int v) { return (v + align - 1) / align * align; };
    double area = 0;
    int widest = 0;
    for (const cv::Rect &r : regions) {
        area += static_cast<double>(up(r.width)) * up(r.height);
        widest = std::max(widest, up(r.width));
    }
    const int row_width = std::max(widest, up(static_cast<int>(std::sqrt(area * 1.25))));
    std::vector<std::size_t> order(regions.size());
    for (std::size_t i = 0; i < order.size(); ++i)
        order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        return regions[a].height > regions[b].height;
    });
    int x = 0, y = 0, shelf = 0, width = 0;
    for (std::size_t i : order) {
        const int w = up(regions[i].width), h = up(regions[i].height);
        if (x > 0 && x + w > row_width) { // the next shelf
            y += shelf;
            x = 0;
            shelf = 0;
        }
        m.at[i] = cv::Point(x, y);
        x += w;
        shelf = std::max(shelf, h);
        width = std::max(width, x);
    }
    m.size = cv::Size(width, y + shelf);
    return m;
}

cv::Mat compose_mosaic(const cv::Mat &frame, const std::vector<cv::Rect> &regions,
                       const Mosaic &mosaic) {
    cv::Mat out(mosaic.size, frame.type(), cv::Scalar::all(128));
    for (std::size_t i = 0; i < regions.size() && i < mosaic.at.size(); ++i)
        frame(regions[i]).copyTo(out(cv::Rect(mosaic.at[i], regions[i].size())));
    return out;
}

} // namespace tierd
