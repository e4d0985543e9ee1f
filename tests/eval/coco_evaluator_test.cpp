// evaluate_coco on small cases whose numbers are derived by hand in the comments, one COCO
// rule per test. Notation: "ranked" lists the detections of a category over all images by
// descending score, each a TP (true positive), FP (false positive) or ign (ignored: counts
// as neither); precision and recall are taken after each rank; the envelope replaces each
// precision by the best at that rank or later; a recall point r (0, 0.01, ..., 1) reads the
// envelope at the first rank whose recall is >= r, 0 if none; AP is the mean over the 101
// points.
#include "tools/eval/coco_evaluator.hpp"

#include <gtest/gtest.h>

#include <optional>

namespace tierd::eval {
namespace {

constexpr std::size_t kMax100 = 2; // index of 100 in kMaxDetections

// Scores are sums of 101 (or 1010) terms and precisions carry the reference's + 2.2e-16 in
// their denominator, so an exact fraction comes out within a few 1e-15; the cases below
// tell right from wrong by at least 1e-3.
#define EXPECT_SCORE(actual, expected) EXPECT_NEAR(actual, expected, 1e-12)

// A dataset under construction: images 1..image_count, the given categories.
class Case {
  public:
    explicit Case(std::size_t image_count = 1, std::vector<Category> categories = {{1, "thing"}}) {
        for (std::size_t i = 1; i <= image_count; ++i)
            truth_.image_ids.push_back(static_cast<std::int64_t>(i));
        truth_.categories = std::move(categories);
    }

    // An object whose area is its box's unless `area_px2` says otherwise.
    Case &object(Box box, std::int64_t image = 1, std::int64_t category = 1, bool crowd = false,
                 std::optional<double> area_px2 = std::nullopt) {
        truth_.objects.push_back(
            GroundTruthObject{image, category, box, area_px2.value_or(box_area(box)), crowd});
        return *this;
    }
    Case &crowd(Box box, std::int64_t image = 1, std::int64_t category = 1) {
        return object(box, image, category, true);
    }
    Case &detect(Box box, double score, std::int64_t image = 1, std::int64_t category = 1) {
        detections_.push_back(Detection{image, category, box, score});
        return *this;
    }

    CocoEvaluation evaluate() const { return evaluate_coco(truth_, detections_); }

  private:
    GroundTruth truth_;
    std::vector<Detection> detections_;
};

constexpr Box kBox{0, 0, 100, 100};       // area 10000: large
constexpr Box kFarAway{300, 300, 50, 50}; // overlaps nothing in these cases; area 2500

TEST(CocoEvaluator, PerfectDetectionsScoreOneEverywhere) {
    // One small (10×10), one medium (50×50) and one large (200×200) object in two images
    // and two categories, each detected exactly: every rank is a TP, precision 1 at every
    // recall point, recall 1 with any per-image limit.
    Case c(2, {{1, "a"}, {2, "b"}});
    c.object({0, 0, 10, 10}, 1, 1).detect({0, 0, 10, 10}, 0.9, 1, 1);
    c.object({100, 100, 50, 50}, 1, 2).detect({100, 100, 50, 50}, 0.8, 1, 2);
    c.object({0, 0, 200, 200}, 2, 1).detect({0, 0, 200, 200}, 0.7, 2, 1);
    const CocoEvaluation e = c.evaluate();
    for (double value : e.summary.as_array())
        EXPECT_SCORE(value, 1.0);
    ASSERT_EQ(e.per_category.size(), 2u);
    EXPECT_SCORE(e.per_category[0].ap50, 1.0);
    EXPECT_SCORE(e.per_category[1].ap50_95, 1.0);
    EXPECT_EQ(e.per_category[0].ground_truth_objects, 2u);
    EXPECT_EQ(e.per_category[0].detections, 2u);
}

TEST(CocoEvaluator, FalsePositiveAboveTheTruePositiveHalvesPrecision) {
    // Ranked FP (0.9), TP (0.8): precision [0, 1/2], recall [0, 1]; envelope [1/2, 1/2];
    // all 101 points read 1/2, at every IoU threshold (the TP is exact): AP = 0.5.
    // With one detection per image only the FP is left: AR@1 = 0.
    const CocoEvaluation e = Case().object(kBox).detect(kFarAway, 0.9).detect(kBox, 0.8).evaluate();
    EXPECT_SCORE(e.summary.ap50, 0.5);
    EXPECT_SCORE(e.summary.ap50_95, 0.5);
    EXPECT_SCORE(e.summary.ar100, 1.0);
    EXPECT_SCORE(e.summary.ar1, 0.0);
}

TEST(CocoEvaluator, FalsePositiveBelowTheLastTruePositiveCostsNothing) {
    // Ranked TP, FP: precision [1, 1/2], recall [1, 1]; every point reads rank 1: AP = 1.
    const CocoEvaluation e = Case().object(kBox).detect(kFarAway, 0.8).detect(kBox, 0.9).evaluate();
    EXPECT_SCORE(e.summary.ap50, 1.0);
    EXPECT_SCORE(e.summary.ap50_95, 1.0);
}

TEST(CocoEvaluator, DuplicateDetectionIsAFalsePositive) {
    // Objects A, B; detections: A exact (0.9), A again (0.8), B exact (0.7). The duplicate
    // finds A taken: FP. Ranked TP, FP, TP: precision [1, 1/2, 2/3], recall [1/2, 1/2, 1];
    // envelope [1, 2/3, 2/3]. Points 0.00..0.50 (51) read 1, points 0.51..1.00 (50) read
    // 2/3: AP = (51 + 50 * 2/3) / 101 = 253/303 = 0.834983..., at every threshold.
    const Box a{0, 0, 100, 100}, b{200, 0, 100, 100};
    const CocoEvaluation e =
        Case().object(a).object(b).detect(a, 0.9).detect(a, 0.8).detect(b, 0.7).evaluate();
    EXPECT_SCORE(e.summary.ap50, 253.0 / 303.0);
    EXPECT_SCORE(e.summary.ap50_95, 253.0 / 303.0);
    EXPECT_SCORE(e.recall(0, 0, AreaRange::all, kMax100), 1.0);
}

TEST(CocoEvaluator, OverlapOfExactlyTheThresholdMatches) {
    // The detection [0,0,100,55] covers 55% of the object: IoU = 5500/10000 = 0.55 exactly.
    // It matches at 0.50 and 0.55 (>=) and at none of 0.60..0.95, where it is the only
    // rank, an FP: AP = 1 at 2 thresholds, 0 at 8. mAP@[.5:.95] = 2/10 = 0.2; AR likewise.
    const CocoEvaluation e = Case().object(kBox).detect({0, 0, 100, 55}, 0.9).evaluate();
    EXPECT_SCORE(e.summary.ap50, 1.0);
    EXPECT_SCORE(e.summary.ap50_95, 0.2);
    EXPECT_SCORE(e.summary.ap75, 0.0);
    EXPECT_SCORE(e.summary.ar100, 0.2);
    EXPECT_SCORE(e.average_precision(1, 0, AreaRange::all, kMax100), 1.0); // at 0.55
    EXPECT_SCORE(e.average_precision(2, 0, AreaRange::all, kMax100), 0.0); // at 0.60
}

TEST(CocoEvaluator, GreedyMatchTakesTheFreeObjectOfHighestOverlap) {
    // A = [0,0,100,100], B = [20,0,100,100]. D1 = [15,0,100,100] (0.9) overlaps A by
    // 8500/11500 = 0.739 and B by 9500/10500 = 0.905: it takes B at thresholds up to 0.90.
    // D2 = A exactly (0.8) then takes A at every threshold. At 0.50..0.90 (9 thresholds)
    // both are TPs: AP 1. At 0.95 D1 matches nothing: ranked FP, TP, precision [0, 1/2],
    // recall [0, 1/2], envelope 1/2 up to recall 1/2: 51 points read 1/2, 50 read 0, so
    // AP(0.95) = 25.5/101. mAP@[.5:.95] = (9 + 25.5/101) / 10.
    // (Taking the first object over the threshold instead would pair D1 with A and leave D2
    // on B at IoU 8000/12000 = 0.667, an FP from 0.70 up.)
    const CocoEvaluation e = Case()
                                 .object({0, 0, 100, 100})
                                 .object({20, 0, 100, 100})
                                 .detect({15, 0, 100, 100}, 0.9)
                                 .detect({0, 0, 100, 100}, 0.8)
                                 .evaluate();
    EXPECT_SCORE(e.summary.ap50, 1.0);
    EXPECT_SCORE(e.summary.ap75, 1.0);
    EXPECT_SCORE(e.summary.ap50_95, (9.0 + 25.5 / 101.0) / 10.0);
}

TEST(CocoEvaluator, EqualScoresKeepTheirInputOrder) {
    // Both detections score 0.5. FP first in the input: ranked FP, TP, AP = 1/2 (as in
    // FalsePositiveAboveTheTruePositiveHalvesPrecision); TP first: AP = 1.
    EXPECT_SCORE(
        Case().object(kBox).detect(kFarAway, 0.5).detect(kBox, 0.5).evaluate().summary.ap50, 0.5);
    EXPECT_SCORE(
        Case().object(kBox).detect(kBox, 0.5).detect(kFarAway, 0.5).evaluate().summary.ap50, 1.0);
}

TEST(CocoEvaluator, EqualScoresAcrossImagesRankByImageId) {
    // Image 1: an FP at 0.5; image 2: a TP at 0.5 on its one object. Over all images, equal
    // scores rank in ascending image id: FP, TP, AP = 1/2, however the input is ordered.
    Case c(2);
    c.object(kBox, 2).detect(kBox, 0.5, 2).detect(kFarAway, 0.5, 1);
    EXPECT_SCORE(c.evaluate().summary.ap50, 0.5);
}

TEST(CocoEvaluator, DetectionsOnACrowdAreNeitherTrueNorFalsePositives) {
    // Object A = [0,0,50,50]; crowd region C = [100,100,200,200]. D1, D2 lie inside C
    // (overlap with a crowd = intersection / detection area = 1) and both match it: a crowd
    // takes any number of detections, and they are ignored. D3 = A exactly. Ranked ign,
    // ign, TP: precision [0, 0, 1], recall [0, 0, 1]; envelope 1: AP = 1.
    const Box a{0, 0, 50, 50}, region{100, 100, 200, 200};
    const CocoEvaluation e = Case()
                                 .object(a)
                                 .crowd(region)
                                 .detect({110, 110, 20, 20}, 0.9)
                                 .detect({150, 150, 20, 20}, 0.8)
                                 .detect(a, 0.7)
                                 .evaluate();
    EXPECT_SCORE(e.summary.ap50, 1.0);
    EXPECT_SCORE(e.summary.ap50_95, 1.0);
    EXPECT_EQ(e.per_category[0].ground_truth_objects, 1u);
    EXPECT_EQ(e.per_category[0].crowd_regions, 1u);

    // The same region as an ordinary object: D1, D2 overlap it by 400/40000 = 0.01, FPs.
    // Ranked FP, FP, TP with 2 objects: precision [0, 0, 1/3], recall [0, 0, 1/2];
    // envelope 1/3 up to recall 1/2: 51 points read 1/3, AP = 17/101.
    const CocoEvaluation without_crowd = Case()
                                             .object(a)
                                             .object(region)
                                             .detect({110, 110, 20, 20}, 0.9)
                                             .detect({150, 150, 20, 20}, 0.8)
                                             .detect(a, 0.7)
                                             .evaluate();
    EXPECT_SCORE(without_crowd.summary.ap50, 17.0 / 101.0);
}

TEST(CocoEvaluator, CrowdIsMatchedOnlyWhenNoCountedObjectQualifies) {
    // Object A = [0,0,100,100] inside crowd C = [0,0,200,200]. D = [0,0,100,72] overlaps
    // A by 0.72 and C by 1 (it lies inside C). Counted objects are tried first and win: at
    // 0.50..0.70 (5 thresholds) D is a TP on A, AP 1. At 0.75..0.95 A does not qualify, D
    // falls to C and is ignored, A is missed: AP 0. mAP@[.5:.95] = 0.5.
    const CocoEvaluation e =
        Case().object(kBox).crowd({0, 0, 200, 200}).detect({0, 0, 100, 72}, 0.9).evaluate();
    EXPECT_SCORE(e.summary.ap50, 1.0);
    EXPECT_SCORE(e.summary.ap75, 0.0);
    EXPECT_SCORE(e.summary.ap50_95, 0.5);
}

TEST(CocoEvaluator, CategoryWithOnlyACrowdIsLeftOutOfTheMean) {
    // Category 2 has a crowd region and no counted object: -1, not 0, and mAP is category
    // 1's alone.
    Case c(1, {{1, "a"}, {2, "b"}});
    c.object(kBox, 1, 1).detect(kBox, 0.9, 1, 1).crowd({0, 0, 200, 200}, 1, 2);
    const CocoEvaluation e = c.evaluate();
    EXPECT_SCORE(e.summary.ap50_95, 1.0);
    EXPECT_SCORE(e.per_category[1].ap50, -1.0);
}

TEST(CocoEvaluator, AreaRangesIgnoreObjectsAndUnmatchedDetectionsOfOtherSizes) {
    // Small object S = [0,0,10,10] (100 px²), large object L = [100,100,200,200] (40000);
    // detections: F = [400,0,10,10] matching nothing (0.9), S exactly (0.8), L exactly (0.7).
    // all:    ranked FP, TP, TP: precision [0, 1/2, 2/3], recall [0, 1/2, 1]; envelope 2/3
    //         everywhere: AP = 2/3.
    // small:  L is ignored, so its detection (matched to it) is ignored; F is small: an FP.
    //         Ranked FP, TP, ign: envelope 1/2: AP = 1/2.
    // large:  S is ignored and so is its detection; F is unmatched and outside the range:
    //         ignored. Ranked ign, ign, TP: AP = 1.
    // medium: no object: -1.
    const Box small{0, 0, 10, 10}, large{100, 100, 200, 200};
    const CocoEvaluation e = Case()
                                 .object(small)
                                 .object(large)
                                 .detect({400, 0, 10, 10}, 0.9)
                                 .detect(small, 0.8)
                                 .detect(large, 0.7)
                                 .evaluate();
    EXPECT_SCORE(e.summary.ap50_95, 2.0 / 3.0);
    EXPECT_SCORE(e.summary.ap_small, 0.5);
    EXPECT_SCORE(e.summary.ap_medium, -1.0);
    EXPECT_SCORE(e.summary.ap_large, 1.0);
    EXPECT_SCORE(e.summary.ar_small, 1.0);
    EXPECT_SCORE(e.summary.ar_medium, -1.0);
    EXPECT_SCORE(e.summary.ar_large, 1.0);
}

TEST(CocoEvaluator, AreaRangeReadsTheAnnotationsArea) {
    // A 100×100 box whose annotation says 500 px² (a thin object in its box) is small;
    // its exact detection is a TP there. In the large range the object is ignored and so
    // is the detection matched to it: no counted object, -1.
    const CocoEvaluation e = Case().object(kBox, 1, 1, false, 500.0).detect(kBox, 0.9).evaluate();
    EXPECT_SCORE(e.summary.ap_small, 1.0);
    EXPECT_SCORE(e.summary.ap_large, -1.0);
    // Area bounds are inclusive: 32² is both small and medium.
    const CocoEvaluation edge =
        Case().object({0, 0, 32, 32}).detect({0, 0, 32, 32}, 0.9).evaluate();
    EXPECT_SCORE(edge.summary.ap_small, 1.0);
    EXPECT_SCORE(edge.summary.ap_medium, 1.0);
}

TEST(CocoEvaluator, PerImageDetectionLimitKeepsEachImagesBest) {
    // Image 1: objects A, B; detections F (FP, 0.9), A (0.8), B (0.7). Image 2: object C,
    // detected exactly (0.95). With 1 detection per image: F and C, recall 1/3 at every
    // threshold: AR@1 = 1/3. With 10: all found, AR@10 = 1.
    const Box a{0, 0, 100, 100}, b{200, 0, 100, 100};
    Case c(2);
    c.object(a).object(b).detect(kFarAway, 0.9).detect(a, 0.8).detect(b, 0.7);
    c.object(a, 2).detect(a, 0.95, 2);
    const CocoEvaluation e = c.evaluate();
    EXPECT_SCORE(e.summary.ar1, 1.0 / 3.0);
    EXPECT_SCORE(e.summary.ar10, 1.0);
    EXPECT_SCORE(e.summary.ar100, 1.0);
}

TEST(CocoEvaluator, OnlyTheBest100DetectionsOfAnImageCount) {
    // 100 FPs score above the one TP: it is 101st and dropped. Nothing found: AP 0, AR 0.
    // With 99 FPs the TP is 100th: recall 1, precision 1/100 at that rank; the envelope
    // carries 1/100 to every point: AP = 0.01.
    auto case_with_false_positives = [](int count) {
        Case c;
        c.object(kBox);
        for (int i = 0; i < count; ++i)
            c.detect({1000.0 + 20 * i, 0, 10, 10}, 0.9 - 0.001 * i);
        c.detect(kBox, 0.1);
        return c.evaluate();
    };
    const CocoEvaluation over = case_with_false_positives(100);
    EXPECT_SCORE(over.summary.ap50, 0.0);
    EXPECT_SCORE(over.summary.ar100, 0.0);
    const CocoEvaluation within = case_with_false_positives(99);
    EXPECT_SCORE(within.summary.ap50, 0.01);
    EXPECT_SCORE(within.summary.ar100, 1.0);
}

TEST(CocoEvaluator, CategoryWithoutGroundTruthIsLeftOut) {
    // Category 2 has only (false) detections and no object: its AP is -1 and the mean is
    // category 1's, 1. Were it 0, mAP would be 1/2.
    Case c(1, {{1, "a"}, {2, "b"}});
    c.object(kBox, 1, 1).detect(kBox, 0.9, 1, 1).detect(kBox, 0.8, 1, 2);
    const CocoEvaluation e = c.evaluate();
    EXPECT_SCORE(e.summary.ap50, 1.0);
    EXPECT_SCORE(e.summary.ap50_95, 1.0);
    EXPECT_SCORE(e.per_category[1].ap50, -1.0);
    EXPECT_SCORE(e.per_category[1].ap50_95, -1.0);
    EXPECT_EQ(e.per_category[1].detections, 1u);
}

TEST(CocoEvaluator, MissedCategoryCountsAsZero) {
    // Both categories have an object; only category 1's is found: mAP = (1 + 0) / 2.
    Case c(1, {{1, "a"}, {2, "b"}});
    c.object(kBox, 1, 1).object(kBox, 1, 2).detect(kBox, 0.9, 1, 1);
    EXPECT_SCORE(c.evaluate().summary.ap50, 0.5);
}

TEST(CocoEvaluator, PrecisionEnvelopeLiftsEarlierRanks) {
    // Objects A, B; ranked FP, TP, TP: precision [0, 1/2, 2/3], recall [0, 1/2, 1]. Without
    // the envelope point 0 would read 0 and points to 0.50 would read 1/2; with it every
    // point reads 2/3: AP = 2/3.
    const Box a{0, 0, 100, 100}, b{200, 0, 100, 100};
    const CocoEvaluation e =
        Case().object(a).object(b).detect(kFarAway, 0.9).detect(a, 0.8).detect(b, 0.7).evaluate();
    EXPECT_SCORE(e.summary.ap50, 2.0 / 3.0);
}

TEST(CocoEvaluator, EmptyResultsScoreZero) {
    // Objects of every size and no detection: recall 0, precision 0 at every point; every
    // AP and AR is 0 (not -1: the categories have ground truth).
    const CocoEvaluation e = Case()
                                 .object({0, 0, 10, 10})
                                 .object({100, 0, 50, 50})
                                 .object({200, 0, 200, 200})
                                 .evaluate();
    for (double value : e.summary.as_array())
        EXPECT_SCORE(value, 0.0);
    EXPECT_SCORE(e.per_category[0].ap50, 0.0);
}

TEST(CocoEvaluator, WithoutGroundTruthEveryNumberIsUndefined) {
    const CocoEvaluation e = Case().detect(kBox, 0.9).evaluate();
    for (double value : e.summary.as_array())
        EXPECT_SCORE(value, -1.0);
}

TEST(CocoEvaluator, DetectionsOfAnUnknownCategoryAreLeftOutAndCounted) {
    const CocoEvaluation e =
        Case().object(kBox).detect(kBox, 0.9).detect(kBox, 0.95, 1, 99).evaluate();
    EXPECT_SCORE(e.summary.ap50_95, 1.0);
    EXPECT_EQ(e.detections_other_category, 1u);
    EXPECT_EQ(e.detections_evaluated, 1u);
}

TEST(CocoEvaluator, PerCategoryScoresComeInAscendingIdOrder) {
    Case c(1, {{7, "seven"}, {3, "three"}});
    c.object(kBox, 1, 3).detect(kBox, 0.9, 1, 3).object(kBox, 1, 7);
    const CocoEvaluation e = c.evaluate();
    ASSERT_EQ(e.per_category.size(), 2u);
    EXPECT_EQ(e.per_category[0].category.name, "three");
    EXPECT_SCORE(e.per_category[0].ap50, 1.0);
    EXPECT_EQ(e.per_category[1].category.name, "seven");
    EXPECT_SCORE(e.per_category[1].ap50, 0.0);
}

TEST(CocoEvaluator, GridsHaveTheReferencesFloatingPointValues) {
    // numpy.linspace computes start + i * step: 0.01 * i, not i / 100 (they differ in the
    // last bit for 10 of the points, e.g. 0.5700000000000001 vs 0.57); the 9th IoU
    // threshold is 0.8999999999999999.
    for (std::size_t r = 0; r + 1 < kRecallPointCount; ++r)
        EXPECT_EQ(recall_point(r), static_cast<double>(r) * 0.01) << r;
    EXPECT_EQ(recall_point(100), 1.0);
    EXPECT_EQ(iou_threshold(0), 0.5);
    EXPECT_EQ(iou_threshold(5), 0.75);
    EXPECT_EQ(iou_threshold(8), 0.8999999999999999);
    EXPECT_EQ(iou_threshold(9), 0.95);
}

TEST(CocoEvaluator, RecallOf57PercentDoesNotReachThe057PointAsInTheReference) {
    // 100 small objects, 57 found exactly, nothing else: ranked TP x57, precision 1, final
    // recall 57/100 = 0.57. The reference's point 57 is 0.5700000000000001 > 0.57, so
    // points 0..56 read 1 and points 57..100 read 0: AP = 57/101, not 58/101.
    Case c;
    for (int i = 0; i < 100; ++i) {
        const Box box{20.0 * i, 0, 10, 10};
        c.object(box);
        if (i < 57)
            c.detect(box, 0.9);
    }
    EXPECT_SCORE(c.evaluate().summary.ap50, 57.0 / 101.0);
}

} // namespace
} // namespace tierd::eval
