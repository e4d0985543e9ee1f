// The per-frame camera and image effects of one video, planned up front from the seed:
// segments of camera pan, motion blur, lighting change and sensor noise. Each kind has its
// own timeline (on/off segments of random length), so kinds overlap freely. The camera
// path matters for the ground truth (objects live in background coordinates), so it uses
// only +, -, * on doubles; the rest only changes pixels.
#pragma once

#include "tools/video/seeded_random.hpp"

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

namespace tierd::videogen {

enum class EffectKind { pan, blur, light, noise };
constexpr std::array<EffectKind, 4> kEffectKinds = {EffectKind::pan, EffectKind::blur,
                                                    EffectKind::light, EffectKind::noise};
std::string_view effect_name(EffectKind kind);

// One segment: frames [first_frame, last_frame] of one kind, with its parameters.
struct EffectSegment {
    EffectKind kind = EffectKind::pan;
    int first_frame = 0;
    int last_frame = 0;     // the video's last frame where the video ends first
    int planned_frames = 0; // its length as planned: ramps run over this many frames
    // pan: camera velocity at full speed, px/frame (it ramps up and down over 6 frames).
    double pan_dx = 0, pan_dy = 0;
    // blur: length of the linear motion-blur kernel, px, and its direction, degrees.
    int blur_length_px = 0;
    double blur_angle_deg = 0;
    // light: gain and gamma at the end of the ramp (they start where the last ramp ended
    // and stay after it): pixel' = 255 * gain * (pixel / 255) ^ gamma.
    double gain_to = 1, gamma_to = 1;
    // noise: standard deviation of the additive noise, in 8-bit levels.
    double noise_sigma = 0;
};

// What one frame gets.
struct FrameEffects {
    int camera_x = 0, camera_y = 0; // top-left of the view in background pixels
    bool pan = false, blur = false, light = false, noise = false; // segment kinds active
    int blur_length_px = 0;
    double blur_angle_deg = 0;
    double gain = 1, gamma = 1; // always applied (1, 1 = unchanged)
    double noise_sigma = 0;
};

// Every kind draws from its own stream and plans its segments in time order, and nothing
// depends on how many frames follow: the plan of a video's first N frames is the plan of
// the N-frame video of the same seed (so a short clip is the start of the long video).
class EffectsPlan {
  public:
    // `world_*`: the background's size; the view (`view_*`) stays inside it.
    EffectsPlan(int frames, int view_width, int view_height, int world_width, int world_height,
                uint64_t seed);

    const FrameEffects &frame(int index) const { return frames_[static_cast<size_t>(index)]; }
    const std::vector<EffectSegment> &segments() const { return segments_; }

  private:
    // The segments of one kind, in time order, up to the video's end.
    std::vector<EffectSegment> plan_timeline(EffectKind kind, int frames, SeededRandom &random);
    void plan_camera(std::vector<EffectSegment> &pans, int view_width, int view_height,
                     int world_width, int world_height, uint64_t start_seed);
    void plan_lighting(const std::vector<EffectSegment> &ramps);

    std::vector<FrameEffects> frames_;
    std::vector<EffectSegment> segments_;
};

} // namespace tierd::videogen
