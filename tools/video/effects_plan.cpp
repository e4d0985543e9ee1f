#include "tools/video/effects_plan.hpp"

#include <algorithm>
#include <cmath>

namespace tierd::videogen {

std::string_view effect_name(EffectKind kind) {
    switch (kind) {
    case EffectKind::pan: return "pan";
    case EffectKind::blur: return "blur";
    case EffectKind::light: return "light";
    case EffectKind::noise: return "noise";
    }
    return "?";
}

namespace {

constexpr int kPanRampFrames = 6;

// How far into its ramp a pan is at `offset` frames into a segment of `length`: 0..1.
double pan_ramp(int offset, int length) {
    const int edge = std::min(offset + 1, length - offset);
    return std::min(1.0, static_cast<double>(edge) / kPanRampFrames);
}

int round_to_int(double v) {
    return static_cast<int>(std::floor(v + 0.5));
}

} // namespace

EffectsPlan::EffectsPlan(int frames, int view_width, int view_height, int world_width,
                         int world_height, SeededRandom &random)
    : frames_(static_cast<size_t>(std::max(frames, 0))) {
    for (EffectKind kind : kEffectKinds)
        plan_timeline(kind, frames, random);
    plan_camera(view_width, view_height, world_width, world_height, random);
    std::stable_sort(segments_.begin(), segments_.end(),
                     [](const auto &a, const auto &b) { return a.first_frame < b.first_frame; });

    // Lighting ramps start where the previous one ended and hold afterwards.
    double gain = 1, gamma = 1;
    int at = 0;
    for (const EffectSegment &s : segments_) {
        if (s.kind != EffectKind::light)
            continue;
        for (; at < s.first_frame; ++at)
            frames_[at].gain = gain, frames_[at].gamma = gamma;
        const int length = s.last_frame - s.first_frame + 1;
        for (int i = 0; i < length; ++i, ++at) {
            const double t = static_cast<double>(i + 1) / length;
            frames_[at].gain = gain + (s.gain_to - gain) * t;
            frames_[at].gamma = gamma + (s.gamma_to - gamma) * t;
            frames_[at].light = true;
        }
        gain = s.gain_to, gamma = s.gamma_to;
    }
    for (; at < frames; ++at)
        frames_[at].gain = gain, frames_[at].gamma = gamma;

    for (const EffectSegment &s : segments_)
        for (int f = s.first_frame; f <= s.last_frame; ++f) {
            FrameEffects &e = frames_[f];
            if (s.kind == EffectKind::blur) {
                e.blur = true;
                e.blur_length_px = s.blur_length_px;
                e.blur_angle_deg = s.blur_angle_deg;
            } else if (s.kind == EffectKind::noise) {
                e.noise = true;
                e.noise_sigma = s.noise_sigma;
            }
        }
}

void EffectsPlan::plan_timeline(EffectKind kind, int frames, SeededRandom &random) {
    // Per seed and kind: how long the quiet stretches between segments may get, so that some
    // videos are busy and others calm.
    const int longest_gap = static_cast<int>(random.uniform_int(40, 200));
    int at = static_cast<int>(random.uniform_int(0, 60));
    while (at < frames) {
        EffectSegment s;
        s.kind = kind;
        s.first_frame = at;
        s.last_frame = std::min(at + static_cast<int>(random.uniform_int(20, 90)) - 1, frames - 1);
        switch (kind) {
        case EffectKind::pan: break; // its velocity needs the camera: plan_camera
        case EffectKind::blur:
            s.blur_length_px = static_cast<int>(random.uniform_int(3, 13));
            s.blur_angle_deg = random.uniform(0, 180);
            break;
        case EffectKind::light:
            s.gain_to = random.uniform(0.55, 1.45);
            s.gamma_to = random.uniform(0.7, 1.4);
            break;
        case EffectKind::noise: s.noise_sigma = random.uniform(3, 14); break;
        }
        segments_.push_back(s);
        at = s.last_frame + 1 + static_cast<int>(random.uniform_int(10, longest_gap));
    }
}

void EffectsPlan::plan_camera(int view_width, int view_height, int world_width, int world_height,
                              SeededRandom &random) {
    const double max_x = world_width - view_width, max_y = world_height - view_height;
    double x = random.uniform(0, max_x), y = random.uniform(0, max_y);

    // A pan's velocity fits the room left in its direction (flipped towards the larger side
    // when needed), so the view never hits the background's edge; pans with next to no room
    // are dropped.
    auto fit = [](double speed, double position, double limit, int length) {
        const double ahead = speed >= 0 ? limit - position : position;
        const double behind = speed >= 0 ? position : limit - position;
        if (ahead < std::fabs(speed) * length && behind > ahead)
            speed = -speed;
        const double room = std::max(std::max(ahead, behind), 0.0);
        const double cap = room / length;
        return std::clamp(speed, -cap, cap);
    };

    std::vector<EffectSegment> kept;
    int frame = 0;
    auto hold_until = [&](int end) {
        for (; frame < end; ++frame) {
            frames_[frame].camera_x = round_to_int(x);
            frames_[frame].camera_y = round_to_int(y);
        }
    };
    for (EffectSegment s : segments_) {
        if (s.kind != EffectKind::pan) {
            kept.push_back(s);
            continue;
        }
        const int length = s.last_frame - s.first_frame + 1;
        const double wanted_dx = random.uniform(0.5, 3.5) * (random.chance(0.5) ? 1 : -1);
        const double wanted_dy = random.symmetric(1.2);
        s.pan_dx = fit(wanted_dx, x, max_x, length);
        s.pan_dy = fit(wanted_dy, y, max_y, length);
        if (std::fabs(s.pan_dx) < 0.25 && std::fabs(s.pan_dy) < 0.25)
            continue; // no room to pan: this segment is dropped
        kept.push_back(s);
        hold_until(s.first_frame);
        for (int i = 0; i < length; ++i, ++frame) {
            frames_[frame].camera_x = round_to_int(x);
            frames_[frame].camera_y = round_to_int(y);
            frames_[frame].pan = true;
            const double ramp = pan_ramp(i, length);
            x = std::clamp(x + s.pan_dx * ramp, 0.0, max_x);
            y = std::clamp(y + s.pan_dy * ramp, 0.0, max_y);
        }
    }
    hold_until(static_cast<int>(frames_.size()));
    segments_ = std::move(kept);
}

} // namespace tierd::videogen
