#include "plugins/fusion-track/stream_fusion.hpp"

#include <algorithm>
#include <cmath>
#include <tuple>

namespace fusion_track {

namespace {

// A track whose box keeps less than this share of its area inside the image has left it.
constexpr float kMinVisibleFraction = 0.25f;
constexpr float kMinVisibleSidePx = 2.0f;
// A new answer's box inherits the id of an old track of its class it overlaps this much.
constexpr float kSameTrackIou = 0.3f;

Box box_of(const tierd_detection &d) {
    return Box{d.x, d.y, d.width, d.height};
}

Box mix(const Box &a, const Box &b, float weight_b) {
    const float wa = 1.0f - weight_b;
    return Box{wa * a.x + weight_b * b.x, wa * a.y + weight_b * b.y,
               wa * a.width + weight_b * b.width, wa * a.height + weight_b * b.height};
}

// Greedy one-to-one matching of same-class pairs by descending IoU, pairs below
// `threshold` left out. Returns (a index, b index) pairs.
template <class A, class B, class ClassA, class ClassB, class BoxA, class BoxB>
std::vector<std::pair<std::size_t, std::size_t>>
match_by_iou(const std::vector<A> &a, std::span<const B> b, float threshold, ClassA class_a,
             ClassB class_b, BoxA box_a, BoxB box_b) {
    std::vector<std::tuple<float, std::size_t, std::size_t>> pairs;
    for (std::size_t i = 0; i < a.size(); ++i)
        for (std::size_t j = 0; j < b.size(); ++j) {
            if (class_a(a[i]) != class_b(b[j]))
                continue;
            const float iou = box_iou(box_a(a[i]), box_b(b[j]));
            if (iou >= threshold)
                pairs.emplace_back(iou, i, j);
        }
    std::stable_sort(pairs.begin(), pairs.end(),
                     [](const auto &x, const auto &y) { return std::get<0>(x) > std::get<0>(y); });
    std::vector<bool> used_a(a.size(), false), used_b(b.size(), false);
    std::vector<std::pair<std::size_t, std::size_t>> matched;
    for (const auto &[iou, i, j] : pairs) {
        if (used_a[i] || used_b[j])
            continue;
        used_a[i] = used_b[j] = true;
        matched.emplace_back(i, j);
    }
    return matched;
}

} // namespace

void StreamFusion::reset() {
    flow_.reset();
    tracks_.clear();
    applied_sequence_.reset();
    seed_boxes_.clear();
    last_frame_ = -1;
}

void StreamFusion::apply_answer(const UpstreamAnswer &answer, int64_t frame_index,
                                StepResult &result) {
    applied_sequence_ = answer.sequence;
    std::vector<Track> fresh;
    std::vector<Box> boxes;
    fresh.reserve(answer.detections.size());
    for (const tierd_detection &d : answer.detections) {
        if (!(d.width > 0 && d.height > 0))
            continue;
        Track t;
        t.box = Box{d.x * answer.scale_x, d.y * answer.scale_y, d.width * answer.scale_x,
                    d.height * answer.scale_y};
        t.class_id = d.class_id;
        t.score = d.score;
        t.moved = answer.frame_index != frame_index;
        t.id = -1;
        fresh.push_back(t);
        boxes.push_back(t.box);
    }
    std::vector<int> unsupported(boxes.size(), 0);
    std::vector<Point> velocity(boxes.size());
    if (answer.frame_index != frame_index &&
        (answer.frame_index > frame_index ||
         !flow_.catch_up(boxes, answer.frame_index, options_.motion, velocity, unsupported))) {
        tracks_.clear();
        result.answer = AnswerUse::beyond_history;
        return;
    }
    for (std::size_t i = 0; i < fresh.size(); ++i) {
        fresh[i].box = boxes[i];
        fresh[i].unsupported = unsupported[i];
        fresh[i].velocity = velocity[i];
    }
    // The same object keeps its id across answers.
    const auto matched = match_by_iou(
        fresh, std::span<const Track>(tracks_), kSameTrackIou,
        [](const Track &t) { return t.class_id; }, [](const Track &t) { return t.class_id; },
        [](const Track &t) { return t.box; }, [](const Track &t) { return t.box; });
    for (const auto &[i, j] : matched)
        fresh[i].id = tracks_[j].id;
    for (Track &t : fresh)
        if (t.id < 0)
            t.id = next_track_id_++ & 0x7fffffff;
    tracks_ = std::move(fresh);
    result.answer = AnswerUse::applied;
}

StepResult StreamFusion::step(const cv::Mat &frame, int64_t frame_index,
                              std::span<const tierd_detection> local,
                              const std::optional<UpstreamAnswer> &upstream) {
    if (frame_index <= last_frame_)
        reset();
    StepResult result;
    const float width = frame.empty() ? 0.0f : static_cast<float>(frame.cols);
    const float height = frame.empty() ? 0.0f : static_cast<float>(frame.rows);

    // 1-2. This frame's motion; what is tracked moves with it.
    // Points are seeded in the tracks only, best first: they are what moves. The end's own
    // boxes are found again in every frame, so measuring their motion would only spend
    // the point budget (it did: with ~100 local boxes a frame the tracks of low score got
    // no points, and a frame with no tracks cost 2 ms of flow for nothing).
    seed_boxes_.clear();
    std::vector<const Track *> by_score;
    by_score.reserve(tracks_.size());
    for (const Track &t : tracks_)
        by_score.push_back(&t);
    std::stable_sort(by_score.begin(), by_score.end(),
                     [](const Track *a, const Track *b) { return a->score > b->score; });
    for (const Track *t : by_score)
        seed_boxes_.push_back(t->box);
    std::optional<MotionStep> motion;
    if (!frame.empty())
        motion = flow_.advance(frame, frame_index, seed_boxes_);
    else
        flow_.reset();
    if (motion)
        for (Track &t : tracks_) {
            const BoxMove moved = follow_box(t.box, *motion, options_.motion, t.velocity);
            t.box = moved.box;
            t.unsupported = moved.support > 0 ? 0 : t.unsupported + 1;
            t.moved = true;
        }
    last_frame_ = frame_index;

    // 3. The upstream answer: none, expired, new, or the one being tracked.
    double decay = 1.0;
    double unconfirmed = 1.0; // the score factor of local boxes no track confirms
    if (!upstream) {
        tracks_.clear();
        applied_sequence_.reset();
        result.answer = AnswerUse::none;
    } else if (upstream->age_ms > options_.max_age_ms) {
        tracks_.clear();
        applied_sequence_ = upstream->sequence;
        result.answer = AnswerUse::expired;
    } else {
        if (!applied_sequence_ || *applied_sequence_ != upstream->sequence)
            apply_answer(*upstream, frame_index, result);
        else
            result.answer = AnswerUse::tracking;
        // An answer about this very frame (it was placed upstream) has nothing to be stale
        // about: its round trip is no motion. Older answers fade with their age.
        decay = upstream->frame_index == frame_index
                    ? 1.0
                    : std::pow(0.5, std::max(0.0, upstream->age_ms) / options_.score_half_life_ms);
        // The heavy detector's silence about a place counts as much as its boxes do, and
        // fades as they do (by age alone: a box the end sees on the key frame itself may be
        // what the upstream missed).
        const double fresh =
            std::pow(0.5, std::max(0.0, upstream->age_ms) / options_.score_half_life_ms);
        unconfirmed = 1.0 - (1.0 - options_.unconfirmed_local_factor) * fresh;
    }
    if (width > 0 && height > 0)
        std::erase_if(tracks_, [&](const Track &t) {
            const Box seen = clip_box(t.box, width, height);
            return seen.width < kMinVisibleSidePx || seen.height < kMinVisibleSidePx ||
                   box_area(seen) < kMinVisibleFraction * box_area(t.box);
        });

    // 4. Merge tracks and local boxes.
    const auto matched = match_by_iou(
        tracks_, local, options_.iou_threshold, [](const Track &t) { return t.class_id; },
        [](const tierd_detection &d) { return d.class_id; }, [](const Track &t) { return t.box; },
        [](const tierd_detection &d) { return box_of(d); });
    std::vector<bool> track_merged(tracks_.size(), false), local_merged(local.size(), false);
    auto &out = result.detections;
    out.reserve(tracks_.size() + local.size());
    const auto upstream_flags = [](const Track &t) {
        return TIERD_DETECTION_UPSTREAM | (t.moved ? TIERD_DETECTION_PROPAGATED : 0u);
    };
    for (const auto &[i, j] : matched) {
        Track &t = tracks_[i];
        const tierd_detection &l = local[j];
        t.box = mix(t.box, box_of(l), options_.local_weight);
        // Seen by the end's detector too: the track is confirmed, whatever its flow said.
        t.unsupported = 0;
        // Both detectors saw it: the upstream (heavy) detector's score while its answer is
        // fresh, the end's own as it ages. Not the larger of the two: the light detector's
        // confident false positives would then outrank the heavy detector's ranking
        // (replayed with the detectors' own boxes, K = 1: mAP@0.5 0.300 with max() against
        // 0.339 weighted; docs/fusion-track.md).
        const float score = static_cast<float>(decay * t.score + (1.0 - decay) * l.score);
        out.push_back(tierd_detection{t.box.x, t.box.y, t.box.width, t.box.height, t.class_id,
                                      score, t.id, upstream_flags(t)});
        track_merged[i] = local_merged[j] = true;
    }
    for (std::size_t i = 0; i < tracks_.size(); ++i) {
        if (track_merged[i])
            continue;
        const Track &t = tracks_[i];
        const double fade = std::pow(options_.unsupported_factor, t.unsupported);
        out.push_back(tierd_detection{t.box.x, t.box.y, t.box.width, t.box.height, t.class_id,
                                      static_cast<float>(t.score * decay * fade), t.id,
                                      upstream_flags(t)});
    }
    for (std::size_t j = 0; j < local.size(); ++j)
        if (!local_merged[j]) {
            out.push_back(local[j]);
            out.back().score = static_cast<float>(out.back().score * unconfirmed);
        }
    if (width > 0 && height > 0)
        for (tierd_detection &d : out) {
            const Box c = clip_box(box_of(d), width, height);
            d.x = c.x;
            d.y = c.y;
            d.width = c.width;
            d.height = c.height;
        }
    std::erase_if(out, [](const tierd_detection &d) { return !(d.width > 0 && d.height > 0); });
    std::stable_sort(
        out.begin(), out.end(),
        [](const tierd_detection &a, const tierd_detection &b) { return a.score > b.score; });
    result.tracks = static_cast<int>(tracks_.size());
    return result;
}

} // namespace fusion_track
