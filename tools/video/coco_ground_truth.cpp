#include "tools/video/coco_ground_truth.hpp"

#include <cmath>

namespace tierd::videogen {

namespace {

// Fractions are written with 4 decimals: enough for evaluation, and short.
double four_decimals(double v) {
    return std::round(v * 10000) / 10000;
}

nlohmann::json box(const cv::Rect &r) {
    return nlohmann::json::array({static_cast<double>(r.x), static_cast<double>(r.y),
                                  static_cast<double>(r.width), static_cast<double>(r.height)});
}

} // namespace

AnnotationKind classify_annotation(const ObjectVisibility &seen) {
    const cv::Rect &b = seen.visible_box;
    if (seen.visible_pixels == 0 || b.width < kMinAnnotatedSidePx || b.height < kMinAnnotatedSidePx)
        return AnnotationKind::omitted;
    const double visible_fraction =
        seen.mask_pixels > 0 ? static_cast<double>(seen.visible_pixels) / seen.mask_pixels : 0;
    if (visible_fraction < kMinCountedVisibleFraction || b.width < kMinCountedSidePx ||
        b.height < kMinCountedSidePx)
        return AnnotationKind::ignored;
    return AnnotationKind::counted;
}

CocoGroundTruth::CocoGroundTruth(cv::Size view, std::string video_file)
    : view_(view), video_file_(std::move(video_file)) {}

void CocoGroundTruth::add_frame(int frame, const FrameEffects &effects,
                                const std::vector<SceneObject> &objects,
                                const std::vector<ObjectVisibility> &seen) {
    nlohmann::json kinds = nlohmann::json::array();
    const bool active[] = {effects.pan, effects.blur, effects.light, effects.noise};
    for (size_t k = 0; k < kEffectKinds.size(); ++k)
        if (active[k])
            kinds.push_back(effect_name(kEffectKinds[k]));
    images_.push_back({{"id", frame},
                       {"file_name", video_file_ + "#" + std::to_string(frame)},
                       {"width", view_.width},
                       {"height", view_.height},
                       {"frame_index", frame},
                       {"effects", std::move(kinds)}});

    for (size_t i = 0; i < objects.size(); ++i) {
        const AnnotationKind kind = classify_annotation(seen[i]);
        if (kind == AnnotationKind::omitted)
            continue;
        const SceneObject &o = objects[i];
        const ObjectVisibility &s = seen[i];
        const int category_id = o.item.label + 1;
        const double occluded =
            s.in_view_pixels > 0
                ? static_cast<double>(s.in_view_pixels - s.visible_pixels) / s.in_view_pixels
                : 0;
        const double truncated =
            s.mask_pixels > 0
                ? static_cast<double>(s.mask_pixels - s.in_view_pixels) / s.mask_pixels
                : 0;
        annotations_.push_back({{"id", annotations_.size() + 1},
                                {"image_id", frame},
                                {"category_id", category_id},
                                {"bbox", box(s.visible_box)},
                                {"area", s.visible_pixels},
                                {"iscrowd", kind == AnnotationKind::ignored ? 1 : 0},
                                {"track_id", o.track_id},
                                {"occluded", four_decimals(occluded)},
                                {"truncated", four_decimals(truncated)},
                                {"unoccluded_bbox", box(s.in_view_box)}});
        auto [track, added] = tracks_.try_emplace(o.track_id);
        if (added) {
            track->second.category_id = category_id;
            track->second.fashion_mnist_index = o.item.image_index;
            track->second.first_frame = frame;
        }
        track->second.last_frame = frame;
    }
}

nlohmann::json CocoGroundTruth::document(nlohmann::json info) const {
    nlohmann::json tracks = nlohmann::json::array();
    for (const auto &[id, t] : tracks_)
        tracks.push_back({{"track_id", id},
                          {"category_id", t.category_id},
                          {"fashion_mnist_index", t.fashion_mnist_index},
                          {"first_frame", t.first_frame},
                          {"last_frame", t.last_frame}});
    info["tracks"] = std::move(tracks);
    nlohmann::json categories = nlohmann::json::array();
    for (int c = 0; c < kFashionClasses; ++c)
        categories.push_back(
            {{"id", c + 1}, {"name", kFashionClassNames[c]}, {"supercategory", "fashion"}});
    return {{"info", std::move(info)},
            {"images", images_},
            {"annotations", annotations_},
            {"categories", std::move(categories)}};
}

} // namespace tierd::videogen
