// Teacher key frames on the device: video frames this device sent upstream as key frames,
// with the boxes the stronger detector there found (ABI 1.7 learn()), the latest few kept,
// and how well a detector agrees with them — what judges a detector's unsupervised
// adaptation before it goes in (teacher_judge.hpp; docs/adaptation.md, "Detectors").
//
// Agreement is the detector's AP@0.5 with the teacher's confident boxes as the ground
// truth, by tierd-eval's COCO evaluator (tools/eval): a ranking measure as mAP is, so that
// a change the benchmark's mAP would see (boxes found, lost, scored in another order) moves
// it too. The teacher's confidence weighs its labels in three bands: its boxes scoring
// `teacher_min_score` or more are labels; those between `teacher_unsure_score` and that
// are places it is unsure of — a detection there is neither right nor wrong (COCO's crowd
// regions: ignored); below, nothing. A frame where the teacher found nothing still counts:
// every box the detector puts there is a false positive. (A teacher under the same shift
// finds fewer objects, and more of them unsure: without the middle band, a student that
// adapted and finds objects the teacher is unsure of was judged worse than before.)
//
// Threading: add() from any number of worker threads; snapshot() from any thread;
// detection_agreement() on a net that one thread uses.
#pragma once

#include "detection_decoder.hpp"

#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace inference_opencv {

struct TeacherFrame {
    cv::Mat image;                   // the frame at the detector's input size (a copy)
    std::vector<DetectionBox> boxes; // the teacher's, in `image`'s pixels
    std::string teacher_model;       // the model that answered (no judge of itself)
};

class TeacherFrames {
  public:
    // Keeps the latest `capacity` frames (at least 1).
    explicit TeacherFrames(std::size_t capacity);

    // Keeps `frame` resized to `input` and `boxes` (in `frame_size` pixels: the frame the
    // teacher saw) scaled with it; false (nothing kept) for an empty frame or size.
    bool add(const cv::Mat &frame, cv::Size frame_size, const std::vector<DetectionBox> &boxes,
             cv::Size input, std::string teacher_model = {});

    std::vector<TeacherFrame> snapshot() const; // a copy, oldest first
    std::size_t size() const;
    std::uint64_t seen() const; // frames added since the start

  private:
    std::size_t capacity_;
    mutable std::mutex mutex_;
    std::vector<TeacherFrame> ring_;
    std::size_t next_ = 0;
    std::uint64_t seen_ = 0;
};

struct FrameAgreementOptions {
    float teacher_min_score = 0.3f;         // teacher boxes from here on are labels
    float teacher_unsure_score = 0.1f;      // from here to teacher_min_score: ignored regions
    DecodeOptions decode{0.05f, 0.5f, 100}; // the detector's boxes, as mAP is measured
};

// The detector's AP@0.5 (0..1) on `frames` against the teacher's boxes scoring at least
// options.teacher_min_score, its boxes from teacher_unsure_score up to that ignored; -1
// when no frame has a box of the first kind (nothing to measure recall on). `to_blob` turns one
// frame into the net's input; the net must output "heatmap" and "box" (docs/detectors.md). Throws
// what the net or the decoder throws.
double detection_agreement(cv::dnn::Net &net, const std::vector<TeacherFrame> &frames,
                           const std::function<cv::Mat(const cv::Mat &)> &to_blob,
                           const FrameAgreementOptions &options = {});

} // namespace inference_opencv
