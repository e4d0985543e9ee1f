// Region re-send (DDS-style; docs/feature-fusion.md, "Region re-send"): the end sends a video
// frame small and at a low JPEG quality; the serving tier answers what it is sure of and
// names the regions it is unsure of; the end sends only those, at its usual quality; the
// serving tier pastes them into the low frame, runs its detector again and merges.
// Pure functions any thread may call, and a small thread-safe cache the serving tier keeps
// between the two rounds.
#pragma once

#include <tierd/plugin.h>

#include <opencv2/core.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace tierd {

// The first round's settings, as the end asks for them ([offload] frame_resend...).
struct ResendAsk {
    bool on = false;
    int frame_width = 0, frame_height = 0; // the frame's own size (the low image is smaller)
    float sure = 0.5f;                     // boxes scoring at least this are kept as they are
    float unsure = 0.25f;                  // boxes in [unsure, sure) get their region re-sent
    float margin = 0.25f; // a region is its box grown by this much of its size each side
};

// An unsure box overlapping a sure one by more than this (IoU) is on an object already found.
inline constexpr float kFoundIou = 0.3f;

// The regions of `boxes` (frame pixels) scoring in [unsure, sure) that overlap no sure box
// by more than kFoundIou, each grown by `margin` of its size on every side, clipped to the
// frame, overlapping ones merged into their bounding rectangle (one crop per region: no
// pixel twice). At most `max_regions` (the highest-scoring boxes first); empty when
// nothing is uncertain.
std::vector<cv::Rect> uncertain_regions(const std::vector<tierd_detection> &boxes, float sure,
                                        float unsure, cv::Size frame, float margin = 0.25f,
                                        std::size_t max_regions = 32);

// The final boxes: the first round's whose centre lies in no region, then the second
// round's whose centre lies in one. Best score first.
std::vector<tierd_detection> merge_resend(const std::vector<tierd_detection> &first,
                                          const std::vector<tierd_detection> &second,
                                          const std::vector<cv::Rect> &regions);

// Where the second round's crops go in one image (the "mosaic"): one JPEG header and one
// set of tables for all of them instead of one per crop (a header is ~600 bytes, about
// what a small crop's pixels cost). Shelf packing, tallest first, each crop at a multiple
// of `align` pixels (16: whole 4:2:0 JPEG blocks, so no block mixes two crops) with the
// rows no wider than max(the widest crop, the square root of their area x 1.25), so the
// image stays about square. `at[i]` is where regions[i] goes.
struct Mosaic {
    cv::Size size;
    std::vector<cv::Point> at;
};
Mosaic pack_regions(const std::vector<cv::Rect> &regions, int align = 16);
// The mosaic image of `frame`'s `regions` (BGR or gray as the frame; unused pixels gray).
cv::Mat compose_mosaic(const cv::Mat &frame, const std::vector<cv::Rect> &regions,
                       const Mosaic &mosaic);

// What the serving tier keeps of a first round until the second arrives.
struct ResendState {
    cv::Mat frame;                      // the low image, resized to the frame's size (BGR)
    std::vector<tierd_detection> boxes; // the first round's boxes, frame pixels
    std::vector<cv::Rect> regions;      // the regions asked for
    std::uint64_t expires_ns = 0;       // dropped after this (uv_hrtime clock)
};

// Thread-safe: the loop looks up, workers store. Bounded: the oldest entries go first.
class ResendCache {
  public:
    explicit ResendCache(std::size_t capacity = 64) : capacity_(capacity) {}
    void put(const std::string &key, ResendState state, std::uint64_t now_ns);
    // Takes the entry out (a second round is served once); nullopt when absent or expired.
    std::optional<ResendState> take(const std::string &key, std::uint64_t now_ns);
    std::size_t size() const;

  private:
    void expire(std::uint64_t now_ns); // caller holds mutex_

    mutable std::mutex mutex_;
    std::size_t capacity_;
    std::map<std::string, ResendState> entries_;
};

} // namespace tierd
