// Draws one frame before its effects: the view's crop of the background with the objects
// alpha-blended over it far to near, and measures what of each object is visible. The
// measurements are the ground truth, so they come from the same masks the drawing uses.
#pragma once

#include "tools/video/object_scene.hpp"

#include <opencv2/core.hpp>

#include <vector>

namespace tierd::videogen {

// What the frame shows of one object. Boxes are in view pixels, [x, x + width) etc.
struct ObjectVisibility {
    int mask_pixels = 0;    // the whole sprite mask, in view or not
    int in_view_pixels = 0; // the mask inside the view, hidden or not
    int visible_pixels = 0; // the mask inside the view and not under a nearer object
    cv::Rect in_view_box;   // extent of the in-view mask (empty when none)
    cv::Rect visible_box;   // extent of the visible mask (empty when none)
};

struct ComposedFrame {
    cv::Mat image;  // CV_8UC3, BGR, view size
    cv::Mat labels; // CV_32S, view size: index into the objects + 1 of the visible object, 0 = none
    std::vector<ObjectVisibility> objects; // same order as the scene's objects
};

// `world`: the background, CV_8UC3, at least (camera + view) in size. With draw_objects
// false the objects are measured (labels and visibility as usual) but not drawn: the
// background-only rendering the tests compare against.
ComposedFrame compose_frame(const cv::Mat &world, int camera_x, int camera_y, cv::Size view,
                            const std::vector<SceneObject> &objects, bool draw_objects);

} // namespace tierd::videogen
