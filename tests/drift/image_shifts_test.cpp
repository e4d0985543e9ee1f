// The shifts on real Fashion-MNIST test images (the first 200 of dataset-fashion-mnist).
#include "tools/drift/image_shifts.hpp"
#include "tools/drift/source_images.hpp"

#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <array>
#include <string>

namespace tierd::drift {
namespace {

constexpr int kImages = 200;

const SourceImages &fashion_mnist() {
    static const SourceImages source =
        read_source_images("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
                           "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz");
    return source;
}

cv::Mat source_image(int index) {
    const SourceImages &s = fashion_mnist();
    return cv::Mat(s.rows, s.cols, CV_8UC1,
                   const_cast<uint8_t *>(s.image(static_cast<uint32_t>(index))))
        .clone();
}

cv::Mat shifted(const std::vector<Shift> &shifts, int severity, int index, uint64_t seed = 7) {
    cv::Mat image = source_image(index);
    SeededRandom random(derive_seed(seed, static_cast<uint64_t>(index)));
    apply_shifts(shifts, severity, image, random);
    return image;
}

// Mean absolute difference from the clean image, 8-bit levels, over the first kImages.
double mean_abs_difference(Shift shift, int severity) {
    double sum = 0;
    for (int i = 0; i < kImages; ++i) {
        const cv::Mat out = shifted({shift}, severity, i);
        sum += cv::norm(out, source_image(i), cv::NORM_L1) / static_cast<double>(out.total());
    }
    return sum / kImages;
}

std::string name(Shift shift) {
    return std::string(shift_name(shift));
}

TEST(ImageShifts, CleanIsTheIdentity) {
    for (int i = 0; i < kImages; ++i)
        ASSERT_EQ(cv::norm(shifted({Shift::clean}, 0, i), source_image(i), cv::NORM_INF), 0)
            << "image " << i;
}

TEST(ImageShifts, EveryShiftChangesImagesAtEverySeverity) {
    for (const Shift shift : kShifts) {
        if (shift == Shift::clean)
            continue;
        for (int severity = kMinSeverity; severity <= kMaxSeverity; ++severity)
            EXPECT_GT(mean_abs_difference(shift, severity), 0.5) << name(shift) << "@" << severity;
    }
}

// The photometric shifts with one parameter per severity, and the geometric ones whose
// bands do not overlap: each severity is further from the clean image than the one below.
TEST(ImageShifts, SeverityIsMonotonicInTheDifferenceFromClean) {
    for (const Shift shift : {Shift::noise, Shift::blur, Shift::contrast, Shift::brightness,
                              Shift::jpeg, Shift::rotation, Shift::scale, Shift::occlusion}) {
        double below = 0;
        for (int severity = kMinSeverity; severity <= kMaxSeverity; ++severity) {
            const double difference = mean_abs_difference(shift, severity);
            EXPECT_GT(difference, below) << name(shift) << "@" << severity;
            below = difference;
        }
    }
}

TEST(ImageShifts, KeepSizeAndType) {
    const cv::Mat odd(33, 20, CV_8UC1, cv::Scalar(90));
    for (const Shift shift : kShifts)
        for (int severity = kMinSeverity; severity <= kMaxSeverity; ++severity) {
            for (const cv::Mat &original : {source_image(0), odd}) {
                cv::Mat image = original.clone();
                SeededRandom random(1);
                apply_shift(shift, severity, image, random);
                EXPECT_EQ(image.size(), original.size()) << name(shift) << "@" << severity;
                EXPECT_EQ(image.type(), CV_8UC1) << name(shift) << "@" << severity;
            }
        }
}

// Occlusion paints one rectangle of one gray level whose area is in the severity's band.
TEST(ImageShifts, OcclusionPaintsOneRectangleInsideTheImage) {
    const std::array<std::pair<double, double>, 5> area = {
        std::pair{0.04, 0.08}, {0.08, 0.12}, {0.12, 0.18}, {0.18, 0.25}, {0.25, 0.35}};
    for (int severity = kMinSeverity; severity <= kMaxSeverity; ++severity)
        for (int i = 0; i < 50; ++i) {
            const cv::Mat clean = source_image(i);
            const cv::Mat out = shifted({Shift::occlusion}, severity, i);
            cv::Mat changed;
            cv::compare(out, clean, changed, cv::CMP_NE);
            if (cv::countNonZero(changed) == 0)
                continue; // the fill equalled the pixels under it
            const cv::Rect box = cv::boundingRect(changed);
            double low = 0, high = 0;
            cv::minMaxLoc(out(box), &low, &high);
            EXPECT_EQ(low, high) << "severity " << severity << " image " << i;
            const double limit = area[static_cast<size_t>(severity - 1)].second * 784;
            EXPECT_LE(box.area(), limit + 28) << "severity " << severity << " image " << i;
        }
}

TEST(ImageShifts, ACombinationAppliesItsShiftsLeftToRight) {
    for (int i = 0; i < 20; ++i) {
        cv::Mat stepwise = source_image(i);
        SeededRandom random(derive_seed(7, static_cast<uint64_t>(i)));
        apply_shift(Shift::rotation, 4, stepwise, random);
        apply_shift(Shift::noise, 4, stepwise, random);
        EXPECT_EQ(cv::norm(shifted({Shift::rotation, Shift::noise}, 4, i), stepwise, cv::NORM_INF),
                  0);
    }
    // Order matters: contrast then brightness is not brightness then contrast.
    EXPECT_GT(cv::norm(shifted({Shift::contrast, Shift::brightness}, 5, 0),
                       shifted({Shift::brightness, Shift::contrast}, 5, 0), cv::NORM_L1),
              0);
}

TEST(ImageShifts, RandomDrawsComeOnlyFromTheGivenStream) {
    for (const Shift shift : {Shift::noise, Shift::rotation, Shift::scale, Shift::occlusion}) {
        EXPECT_EQ(cv::norm(shifted({shift}, 3, 5, 11), shifted({shift}, 3, 5, 11), cv::NORM_INF), 0)
            << name(shift);
        double differs = 0;
        for (int i = 0; i < 10; ++i)
            differs +=
                cv::norm(shifted({shift}, 3, i, 11), shifted({shift}, 3, i, 12), cv::NORM_L1);
        EXPECT_GT(differs, 0) << name(shift);
    }
}

TEST(ImageShifts, RefuseASeverityOutsideOneToFiveAndOtherImageTypes) {
    cv::Mat image = source_image(0);
    SeededRandom random(1);
    EXPECT_THROW(apply_shift(Shift::noise, 0, image, random), std::invalid_argument);
    EXPECT_THROW(apply_shift(Shift::blur, 6, image, random), std::invalid_argument);
    cv::Mat color(28, 28, CV_8UC3, cv::Scalar(1, 2, 3));
    EXPECT_THROW(apply_shift(Shift::noise, 3, color, random), std::invalid_argument);
}

TEST(ImageShifts, ParametersAreRecordedForEveryShiftAndSeverity) {
    EXPECT_TRUE(shift_parameters(Shift::clean, 0).empty());
    EXPECT_EQ(shift_parameters(Shift::noise, 2),
              (std::vector<std::pair<std::string, double>>{{"noise_sigma", 0.08}}));
    EXPECT_EQ(shift_parameters(Shift::jpeg, 5).at(0).second, 7);
    for (const Shift shift : kShifts)
        for (int severity = kMinSeverity; severity <= kMaxSeverity; ++severity)
            EXPECT_EQ(shift_parameters(shift, severity).empty(), shift == Shift::clean);
}

} // namespace
} // namespace tierd::drift
