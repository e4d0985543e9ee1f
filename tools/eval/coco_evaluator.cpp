#include "tools/eval/coco_evaluator.hpp"

#include "tools/eval/box_overlap.hpp"

#include <algorithm>
#include <cfloat>
#include <optional>
#include <unordered_map>

namespace tierd::eval {

namespace {

constexpr std::size_t kMaxDetectionsCount = kMaxDetections.size();
constexpr std::size_t kLargestMaxDetections = kMaxDetections.back();

// COCO's area bounds: 1e5² stands for "no upper bound".
struct AreaBounds {
    double low_px2;
    double high_px2;
};
constexpr std::array<AreaBounds, kAreaRangeCount> kAreaBounds = {{
    {0.0, 1e5 * 1e5},
    {0.0, 32.0 * 32.0},
    {32.0 * 32.0, 96.0 * 96.0},
    {96.0 * 96.0, 1e5 * 1e5},
}};

bool outside(const AreaBounds &bounds, double area_px2) {
    return area_px2 < bounds.low_px2 || area_px2 > bounds.high_px2;
}

// Bit t stands for IoU threshold t.
using ThresholdMask = std::uint16_t;
static_assert(kIouThresholdCount <= 16);
constexpr ThresholdMask kAllThresholds = (1U << kIouThresholdCount) - 1;

// The reference caps an overlap threshold just below 1 so that a perfect box still matches.
constexpr double kHighestMatchThreshold = 1 - 1e-10;

// One detection after the per-image matching, for one category and one area range.
struct MatchedDetection {
    double score;
    std::uint32_t rank_in_image; // 0 = the highest score in its image (and category)
    ThresholdMask matched;       // bit t: matched a ground-truth object at threshold t
    ThresholdMask ignored;       // bit t: counts neither as true nor as false positive
};

// Everything the accumulation needs for one category and one area range.
struct CategoryAreaMatches {
    std::vector<MatchedDetection> detections; // by ascending image id, then by rank
    std::size_t counted_objects = 0;          // ground-truth objects that are not ignored
};

// Items grouped by (category, image) bucket, in input order within a bucket: a counting
// sort, so that grouping stays linear in the number of items.
class Buckets {
  public:
    Buckets(std::size_t bucket_count, const std::vector<std::size_t> &bucket_of_item)
        : offsets_(bucket_count + 1, 0) {
        for (std::size_t bucket : bucket_of_item)
            if (bucket < bucket_count)
                ++offsets_[bucket + 1];
        for (std::size_t b = 0; b < bucket_count; ++b)
            offsets_[b + 1] += offsets_[b];
        items_.resize(offsets_.back());
        std::vector<std::size_t> next(offsets_.begin(), offsets_.end() - 1);
        for (std::size_t item = 0; item < bucket_of_item.size(); ++item)
            if (bucket_of_item[item] < bucket_count)
                items_[next[bucket_of_item[item]]++] = static_cast<std::uint32_t>(item);
    }

    std::span<const std::uint32_t> operator[](std::size_t bucket) const {
        return std::span(items_).subspan(offsets_[bucket], offsets_[bucket + 1] - offsets_[bucket]);
    }

  private:
    std::vector<std::size_t> offsets_;
    std::vector<std::uint32_t> items_;
};

// Where the value for IoU threshold t, category k, area range a and the m-th per-image
// limit lives in CocoEvaluation's tables.
std::size_t table_index(std::size_t t, std::size_t k, std::size_t a, std::size_t m) {
    return ((k * kAreaRangeCount + a) * kMaxDetectionsCount + m) * kIouThresholdCount + t;
}

// Matches one image's detections of one category (already in descending score order and
// cut to the largest limit) to its ground-truth objects of that category, for one area
// range, and appends the outcome to `out`.
void match_image(const GroundTruth &truth, std::span<const std::uint32_t> object_indices,
                 std::span<const Detection> detections,
                 std::span<const std::uint32_t> ranked_detections,
                 const std::vector<double> &overlaps, const AreaBounds &bounds,
                 CategoryAreaMatches &out) {
    const std::size_t object_count = object_indices.size();

    // Objects outside the area range, and crowd regions, are ignored: they are tried only
    // after every counted object, and a detection matched to them counts for nothing.
    std::vector<bool> object_ignored(object_count);
    std::vector<std::uint32_t> trial_order(object_count);
    for (std::size_t g = 0; g < object_count; ++g) {
        const GroundTruthObject &object = truth.objects[object_indices[g]];
        object_ignored[g] = object.is_crowd || outside(bounds, object.area_px2);
        trial_order[g] = static_cast<std::uint32_t>(g);
        if (!object_ignored[g])
            ++out.counted_objects;
    }
    std::stable_partition(trial_order.begin(), trial_order.end(),
                          [&](std::uint32_t g) { return !object_ignored[g]; });

    const std::size_t detection_count = ranked_detections.size();
    std::vector<ThresholdMask> object_taken(object_count, 0);
    std::vector<ThresholdMask> detection_matched(detection_count, 0);
    std::vector<ThresholdMask> detection_ignored(detection_count, 0);
    for (std::size_t t = 0; t < kIouThresholdCount; ++t) {
        const ThresholdMask bit = static_cast<ThresholdMask>(1U << t);
        for (std::size_t d = 0; d < detection_count; ++d) {
            double best = std::min(iou_threshold(t), kHighestMatchThreshold);
            std::optional<std::size_t> match;
            for (std::uint32_t g : trial_order) {
                const bool crowd = truth.objects[object_indices[g]].is_crowd;
                if ((object_taken[g] & bit) != 0 && !crowd)
                    continue; // a counted object is matched at most once; a crowd, any number
                if (match && !object_ignored[*match] && object_ignored[g])
                    break; // a counted object found: never trade it for an ignored one
                const double overlap = overlaps[d * object_count + g];
                if (overlap < best)
                    continue;
                best = overlap; // ">=": of equal overlaps the later object wins, as in COCO
                match = g;
            }
            if (!match)
                continue;
            detection_matched[d] |= bit;
            if (object_ignored[*match])
                detection_ignored[d] |= bit;
            object_taken[*match] |= bit;
        }
    }

    for (std::size_t d = 0; d < detection_count; ++d) {
        const Detection &detection = detections[ranked_detections[d]];
        // An unmatched detection of a size outside the range is not a false positive there.
        if (outside(bounds, box_area(detection.box)))
            detection_ignored[d] |=
                static_cast<ThresholdMask>(~detection_matched[d] & kAllThresholds);
        out.detections.push_back(MatchedDetection{detection.score, static_cast<std::uint32_t>(d),
                                                  detection_matched[d], detection_ignored[d]});
    }
}

// Average precision (the mean of the precision at the 101 recall points) and the recall
// reached, for one category, area range and per-image limit, from all images' matched
// detections.
//
// `score_order` lists the indices of matches.detections by descending score, equal scores in
// their stored order (image order, then rank), like the reference's stable sort. Every area
// range stores the same detections in the same order, so one order serves all of them; and
// the best `max_detections` of each image, taken from it, are in the order a sort of just
// those would give.
void accumulate(const CategoryAreaMatches &matches, const std::vector<std::uint32_t> &score_order,
                std::size_t max_detections, std::size_t k, std::size_t a, std::size_t m,
                CocoEvaluation &evaluation) {
    std::vector<std::uint32_t> ranked;
    ranked.reserve(score_order.size());
    for (std::uint32_t i : score_order)
        if (matches.detections[i].rank_in_image < max_detections)
            ranked.push_back(i);

    const std::size_t n = ranked.size();
    const double counted = static_cast<double>(matches.counted_objects);
    std::vector<double> recall(n);
    std::vector<double> precision(n);
    for (std::size_t t = 0; t < kIouThresholdCount; ++t) {
        const ThresholdMask bit = static_cast<ThresholdMask>(1U << t);
        double true_positives = 0;
        double false_positives = 0;
        for (std::size_t j = 0; j < n; ++j) {
            // An ignored detection keeps its place in the ranking but adds to no count.
            const MatchedDetection &detection = matches.detections[ranked[j]];
            if ((detection.ignored & bit) == 0) {
                if ((detection.matched & bit) != 0)
                    true_positives += 1;
                else
                    false_positives += 1;
            }
            recall[j] = true_positives / counted;
            precision[j] = true_positives / (false_positives + true_positives + DBL_EPSILON);
        }
        evaluation.recall_table[table_index(t, k, a, m)] = n > 0 ? recall[n - 1] : 0.0;

        // The envelope: precision at a rank becomes the best precision at that rank or any
        // later one, so the curve never rises to the right.
        for (std::size_t j = n; j-- > 1;)
            precision[j - 1] = std::max(precision[j - 1], precision[j]);

        // At each recall point, the precision of the first rank that reaches it; 0 if none.
        double precision_sum = 0;
        std::size_t j = 0;
        for (std::size_t r = 0; r < kRecallPointCount; ++r) {
            while (j < n && recall[j] < recall_point(r))
                ++j;
            if (j < n)
                precision_sum += precision[j];
        }
        evaluation.average_precision_table[table_index(t, k, a, m)] =
            precision_sum / static_cast<double>(kRecallPointCount);
    }
}

// The mean of the table entries that are defined (> -1), or -1 if none is; the reference's
// `mean(s[s > -1])`.
class DefinedMean {
  public:
    void add(double value) {
        if (value > -1) {
            sum_ += value;
            ++count_;
        }
    }
    double value() const { return count_ > 0 ? sum_ / static_cast<double>(count_) : -1.0; }

  private:
    double sum_ = 0;
    std::size_t count_ = 0;
};

// Average precision over the categories; all IoU thresholds when `threshold` is empty. The
// reference averages the precision at every point, threshold and category; each defined
// (category, threshold) has all 101 points, so the mean of their APs is the same number.
double mean_precision(const CocoEvaluation &evaluation, std::optional<std::size_t> threshold,
                      AreaRange a, std::size_t m) {
    DefinedMean mean;
    for (std::size_t k = 0; k < evaluation.per_category.size(); ++k)
        for (std::size_t t = 0; t < kIouThresholdCount; ++t)
            if (!threshold || *threshold == t)
                mean.add(evaluation.average_precision(t, k, a, m));
    return mean.value();
}

double mean_recall(const CocoEvaluation &evaluation, AreaRange a, std::size_t m) {
    DefinedMean mean;
    for (std::size_t k = 0; k < evaluation.per_category.size(); ++k)
        for (std::size_t t = 0; t < kIouThresholdCount; ++t)
            mean.add(evaluation.recall(t, k, a, m));
    return mean.value();
}

constexpr std::size_t kThreshold50 = 0; // iou_threshold(0) == 0.50
constexpr std::size_t kThreshold75 = 5; // iou_threshold(5) == 0.75
constexpr std::size_t kMaxDets1 = 0, kMaxDets10 = 1, kMaxDets100 = 2;

CocoSummary summarize(const CocoEvaluation &e) {
    CocoSummary s;
    s.ap50_95 = mean_precision(e, std::nullopt, AreaRange::all, kMaxDets100);
    s.ap50 = mean_precision(e, kThreshold50, AreaRange::all, kMaxDets100);
    s.ap75 = mean_precision(e, kThreshold75, AreaRange::all, kMaxDets100);
    s.ap_small = mean_precision(e, std::nullopt, AreaRange::small, kMaxDets100);
    s.ap_medium = mean_precision(e, std::nullopt, AreaRange::medium, kMaxDets100);
    s.ap_large = mean_precision(e, std::nullopt, AreaRange::large, kMaxDets100);
    s.ar1 = mean_recall(e, AreaRange::all, kMaxDets1);
    s.ar10 = mean_recall(e, AreaRange::all, kMaxDets10);
    s.ar100 = mean_recall(e, AreaRange::all, kMaxDets100);
    s.ar_small = mean_recall(e, AreaRange::small, kMaxDets100);
    s.ar_medium = mean_recall(e, AreaRange::medium, kMaxDets100);
    s.ar_large = mean_recall(e, AreaRange::large, kMaxDets100);
    return s;
}

} // namespace

std::string_view area_range_name(AreaRange range) {
    switch (range) {
    case AreaRange::all: return "all";
    case AreaRange::small: return "small";
    case AreaRange::medium: return "medium";
    case AreaRange::large: return "large";
    }
    return "?";
}

// The reference builds both grids with numpy.linspace: start + i * step, the last point
// set to the end exactly. i / 100.0 would differ from i * 0.01 in the last bit for some i,
// and a recall of exactly 0.07, say, would then fall on the other side of its point.
double iou_threshold(std::size_t i) {
    if (i + 1 == kIouThresholdCount)
        return 0.95;
    return static_cast<double>(i) * ((0.95 - 0.5) / static_cast<double>(kIouThresholdCount - 1)) +
           0.5;
}

double recall_point(std::size_t r) {
    if (r + 1 == kRecallPointCount)
        return 1.0;
    return static_cast<double>(r) * (1.0 / static_cast<double>(kRecallPointCount - 1));
}

std::array<double, 12> CocoSummary::as_array() const {
    return {ap50_95, ap50, ap75,  ap_small, ap_medium, ap_large,
            ar1,     ar10, ar100, ar_small, ar_medium, ar_large};
}

double CocoEvaluation::average_precision(std::size_t t, std::size_t k, AreaRange a,
                                         std::size_t m) const {
    return average_precision_table[table_index(t, k, static_cast<std::size_t>(a), m)];
}

double CocoEvaluation::recall(std::size_t t, std::size_t k, AreaRange a, std::size_t m) const {
    return recall_table[table_index(t, k, static_cast<std::size_t>(a), m)];
}

CocoEvaluation evaluate_coco(const GroundTruth &truth, std::span<const Detection> detections) {
    CocoEvaluation evaluation;

    // Images and categories in ascending id order: the order the reference accumulates in,
    // which decides how equal scores of different images are ranked.
    std::vector<std::int64_t> image_ids = truth.image_ids;
    std::sort(image_ids.begin(), image_ids.end());
    image_ids.erase(std::unique(image_ids.begin(), image_ids.end()), image_ids.end());
    std::vector<Category> categories = truth.categories;
    std::stable_sort(categories.begin(), categories.end(),
                     [](const Category &lhs, const Category &rhs) { return lhs.id < rhs.id; });
    std::unordered_map<std::int64_t, std::size_t> image_index, category_index;
    for (std::size_t i = 0; i < image_ids.size(); ++i)
        image_index.emplace(image_ids[i], i);
    for (std::size_t k = 0; k < categories.size(); ++k)
        category_index.emplace(categories[k].id, k);

    const std::size_t image_count = image_ids.size();
    const std::size_t category_count = categories.size();
    const std::size_t bucket_count = image_count * category_count;
    evaluation.images = image_count;
    evaluation.ground_truth_objects = truth.objects.size();
    evaluation.per_category.resize(category_count);
    for (std::size_t k = 0; k < category_count; ++k)
        evaluation.per_category[k].category = categories[k];

    // Bucket = category * images + image; anything unknown goes to no bucket.
    auto bucket_of = [&](std::int64_t image_id, std::int64_t category_id) -> std::size_t {
        const auto image = image_index.find(image_id);
        const auto category = category_index.find(category_id);
        if (image == image_index.end() || category == category_index.end())
            return bucket_count;
        return category->second * image_count + image->second;
    };
    std::vector<std::size_t> object_bucket(truth.objects.size());
    for (std::size_t o = 0; o < truth.objects.size(); ++o) {
        const GroundTruthObject &object = truth.objects[o];
        object_bucket[o] = bucket_of(object.image_id, object.category_id);
        if (object_bucket[o] < bucket_count) {
            CategoryScore &score = evaluation.per_category[object_bucket[o] / image_count];
            ++(object.is_crowd ? score.crowd_regions : score.ground_truth_objects);
        }
    }
    std::vector<std::size_t> detection_bucket(detections.size());
    for (std::size_t d = 0; d < detections.size(); ++d) {
        detection_bucket[d] = bucket_of(detections[d].image_id, detections[d].category_id);
        if (detection_bucket[d] < bucket_count) {
            ++evaluation.per_category[detection_bucket[d] / image_count].detections;
            ++evaluation.detections_evaluated;
        } else if (!category_index.contains(detections[d].category_id)) {
            ++evaluation.detections_other_category;
        }
    }
    const Buckets objects_by_bucket(bucket_count, object_bucket);
    const Buckets detections_by_bucket(bucket_count, detection_bucket);

    const std::size_t table_size =
        category_count * kAreaRangeCount * kMaxDetectionsCount * kIouThresholdCount;
    evaluation.average_precision_table.assign(table_size, -1.0);
    evaluation.recall_table.assign(table_size, -1.0);

    std::vector<std::uint32_t> ranked;
    std::vector<double> overlaps;
    for (std::size_t k = 0; k < category_count; ++k) {
        std::array<CategoryAreaMatches, kAreaRangeCount> matches;
        for (std::size_t i = 0; i < image_count; ++i) {
            const std::size_t bucket = k * image_count + i;
            const auto object_indices = objects_by_bucket[bucket];
            const auto detection_indices = detections_by_bucket[bucket];
            if (object_indices.empty() && detection_indices.empty())
                continue;

            ranked.assign(detection_indices.begin(), detection_indices.end());
            std::stable_sort(ranked.begin(), ranked.end(),
                             [&](std::uint32_t lhs, std::uint32_t rhs) {
                                 return detections[lhs].score > detections[rhs].score;
                             });
            if (ranked.size() > kLargestMaxDetections)
                ranked.resize(kLargestMaxDetections);

            overlaps.assign(ranked.size() * object_indices.size(), 0.0);
            for (std::size_t d = 0; d < ranked.size(); ++d)
                for (std::size_t g = 0; g < object_indices.size(); ++g) {
                    const GroundTruthObject &object = truth.objects[object_indices[g]];
                    overlaps[d * object_indices.size() + g] =
                        box_overlap(detections[ranked[d]].box, object.box, object.is_crowd);
                }

            for (std::size_t a = 0; a < kAreaRangeCount; ++a)
                match_image(truth, object_indices, detections, ranked, overlaps, kAreaBounds[a],
                            matches[a]);
        }

        const std::vector<MatchedDetection> &matched = matches[0].detections;
        std::vector<std::uint32_t> score_order(matched.size());
        for (std::size_t i = 0; i < score_order.size(); ++i)
            score_order[i] = static_cast<std::uint32_t>(i);
        std::stable_sort(score_order.begin(), score_order.end(),
                         [&](std::uint32_t lhs, std::uint32_t rhs) {
                             return matched[lhs].score > matched[rhs].score;
                         });
        for (std::size_t a = 0; a < kAreaRangeCount; ++a) {
            if (matches[a].counted_objects == 0)
                continue; // no ground truth here: the tables keep -1, left out of the means
            for (std::size_t m = 0; m < kMaxDetectionsCount; ++m)
                accumulate(matches[a], score_order, kMaxDetections[m], k, a, m, evaluation);
        }
    }

    evaluation.summary = summarize(evaluation);
    for (std::size_t k = 0; k < category_count; ++k) {
        CategoryScore &score = evaluation.per_category[k];
        score.ap50 = evaluation.average_precision(kThreshold50, k, AreaRange::all, kMaxDets100);
        DefinedMean over_thresholds;
        for (std::size_t t = 0; t < kIouThresholdCount; ++t)
            over_thresholds.add(evaluation.average_precision(t, k, AreaRange::all, kMaxDets100));
        score.ap50_95 = over_thresholds.value();
    }
    return evaluation;
}

} // namespace tierd::eval
