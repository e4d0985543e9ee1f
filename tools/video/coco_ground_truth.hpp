// The video's ground truth as a COCO detection file (docs/video.md has the format): one
// image per frame, one annotation per object a detector can be asked to find, the 10
// Fashion-MNIST categories. Which objects get an annotation is decided here, once:
//   - omitted: nothing visible, or a visible box under kMinAnnotatedSidePx on a side;
//   - iscrowd 1 (COCO's "ignore": neither a miss nor a false positive when found): less
//     than kMinCountedVisibleFraction of the object's mask visible (hidden by nearer
//     objects or outside the frame), or a visible box under kMinCountedSidePx on a side;
//   - iscrowd 0 otherwise.
#pragma once

#include "tools/video/effects_plan.hpp"
#include "tools/video/frame_composer.hpp"
#include "tools/video/object_scene.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <vector>

namespace tierd::videogen {

constexpr int kMinAnnotatedSidePx = 4;
constexpr int kMinCountedSidePx = 8;
constexpr double kMinCountedVisibleFraction = 0.3;

enum class AnnotationKind { omitted, ignored, counted };
AnnotationKind classify_annotation(const ObjectVisibility &seen);

class CocoGroundTruth {
  public:
    // `video_file`: the video's file name, for the images' file_name ("video.avi#12").
    CocoGroundTruth(cv::Size view, std::string video_file);

    // Frames come in order, from 0. `objects` and `seen` are in the same order.
    void add_frame(int frame, const FrameEffects &effects, const std::vector<SceneObject> &objects,
                   const std::vector<ObjectVisibility> &seen);

    // The whole file; `info` becomes its "info", with "tracks" added (one entry per track
    // that got at least one annotation).
    nlohmann::json document(nlohmann::json info) const;

    std::size_t annotation_count() const { return annotations_.size(); }

  private:
    struct Track {
        int category_id = 0;
        uint32_t fashion_mnist_index = 0;
        int first_frame = 0, last_frame = 0;
    };

    cv::Size view_;
    std::string video_file_;
    nlohmann::json images_ = nlohmann::json::array();
    nlohmann::json annotations_ = nlohmann::json::array();
    std::map<int, Track> tracks_;
};

} // namespace tierd::videogen
