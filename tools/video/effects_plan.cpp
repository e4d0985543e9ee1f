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
                         int world_height, uint64_t seed)
    : frames_(static_cast<size_t>(std::max(frames, 0))) {
    std::vector<EffectSegment> all;
    for (size_t k = 0; k < kEffectKinds.size(); ++k) {
        const EffectKind kind = kEffectKinds[k];
        SeededRandom random(derive_seed(seed, k));
        std::vector<EffectSegment> timeline = plan_timeline(kind, frames, random);
        if (kind == EffectKind::pan)
            plan_camera(timeline, view_width, view_height, world_width, world_height,
                        derive_seed(seed, kEffectKinds.size()));
        if (kind == EffectKind::light)
            plan_lighting(timeline);
        all.insert(all.end(), timeline.begin(), timeline.end());
    }
    std::stable_sort(all.begin(), all.end(),
                     [](const auto &a, const auto &b) { return a.first_frame < b.first_frame; });
    segments_ = std::move(all);

    for (const EffectSegment &s : segments_)
        for (int f = s.first_frame; f <= s.last_frame; ++f) {
            FrameEffects &e = frames_[static_cast<size_t>(f)];
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

std::vector<EffectSegment> EffectsPlan::plan_timeline(EffectKind kind, int frames,
                                                      SeededRandom &random) {
    // Per seed and kind: how long the quiet stretches between segments may get, so that some
    // videos are busy and others calm.
    const int longest_gap = static_cast<int>(random.uniform_int(40, 200));
    std::vector<EffectSegment> timeline;
    int at = static_cast<int>(random.uniform_int(0, 60));
    while (at < frames) {
        EffectSegment s;
        s.kind = kind;
        s.first_frame = at;
        s.planned_frames = static_cast<int>(random.uniform_int(20, 90));
        s.last_frame = std::min(at + s.planned_frames - 1, frames - 1);
        switch (kind) {
        case EffectKind::pan:
            // At full speed; plan_camera fits them to the room the camera has.
            s.pan_dx = random.uniform(0.5, 3.5) * (random.chance(0.5) ? 1 : -1);
            s.pan_dy = random.symmetric(1.2);
            break;
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
        timeline.push_back(s);
        at += s.planned_frames + static_cast<int>(random.uniform_int(10, longest_gap));
    }
    return timeline;
}

void EffectsPlan::plan_camera(std::vector<EffectSegment> &pans, int view_width, int view_height,
                              int world_width, int world_height, uint64_t start_seed) {
    const double max_x = world_width - view_width, max_y = world_height - view_height;
    SeededRandom start(start_seed); // its own stream: the pan timeline's length varies
    double x = start.uniform(0, max_x), y = start.uniform(0, max_y);

    // A pan's velocity fits the room left in its direction (flipped towards the larger side
    // when needed), so the view never hits the background's edge; pans with next to no room
    // are dropped. Planned lengths, not the clipped ones, so the end of the video changes
    // nothing before it.
    auto fit = [](double speed, double position, double limit, int length) {
        const double ahead = speed >= 0 ? limit - position : position;
        const double behind = speed >= 0 ? position : limit - position;
        if (ahead < std::fabs(speed) * length && behind > ahead)
            speed = -speed;
        const double room = std::max(std::max(ahead, behind), 0.0);
        const double cap = room / length;
        return std::clamp(speed, -cap, cap);
    };

    const int frames = static_cast<int>(frames_.size());
    int frame = 0;
    auto hold_until = [&](int end) {
        for (; frame < std::min(end, frames); ++frame) {
            frames_[static_cast<size_t>(frame)].camera_x = round_to_int(x);
            frames_[static_cast<size_t>(frame)].camera_y = round_to_int(y);
        }
    };
    std::vector<EffectSegment> kept;
    for (EffectSegment s : pans) {
        const int length = s.planned_frames;
        s.pan_dx = fit(s.pan_dx, x, max_x, length);
        s.pan_dy = fit(s.pan_dy, y, max_y, length);
        if (std::fabs(s.pan_dx) < 0.25 && std::fabs(s.pan_dy) < 0.25)
            continue; // no room to pan: this segment is dropped
        kept.push_back(s);
        hold_until(s.first_frame);
        for (int i = 0; i < length; ++i, ++frame) {
            if (frame < frames) {
                FrameEffects &e = frames_[static_cast<size_t>(frame)];
                e.camera_x = round_to_int(x);
                e.camera_y = round_to_int(y);
                e.pan = true;
            }
            const double ramp = pan_ramp(i, length);
            x = std::clamp(x + s.pan_dx * ramp, 0.0, max_x);
            y = std::clamp(y + s.pan_dy * ramp, 0.0, max_y);
        }
    }
    hold_until(frames);
    pans = std::move(kept);
}

void EffectsPlan::plan_lighting(const std::vector<EffectSegment> &ramps) {
    // Each ramp starts where the previous one ended (1, 1 before the first) and its values
    // hold until the next one.
    const int frames = static_cast<int>(frames_.size());
    double gain = 1, gamma = 1;
    int at = 0;
    auto hold_until = [&](int end) {
        for (; at < std::min(end, frames); ++at) {
            frames_[static_cast<size_t>(at)].gain = gain;
            frames_[static_cast<size_t>(at)].gamma = gamma;
        }
    };
    for (const EffectSegment &s : ramps) {
        hold_until(s.first_frame);
        for (int i = 0; i < s.planned_frames && at < frames; ++i, ++at) {
            const double t = static_cast<double>(i + 1) / s.planned_frames;
            FrameEffects &e = frames_[static_cast<size_t>(at)];
            e.gain = gain + (s.gain_to - gain) * t;
            e.gamma = gamma + (s.gamma_to - gamma) * t;
            e.light = true;
        }
        gain = s.gain_to, gamma = s.gamma_to;
    }
    hold_until(frames);
}

} // namespace tierd::videogen
