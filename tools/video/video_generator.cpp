#include "tools/video/video_generator.hpp"

#include "tools/video/backgrounds.hpp"
#include "tools/video/coco_ground_truth.hpp"
#include "tools/video/effects_plan.hpp"
#include "tools/video/frame_composer.hpp"
#include "tools/video/frame_effects.hpp"
#include "tools/video/object_scene.hpp"
#include "tools/video/seeded_random.hpp"
#include "tools/video/sprite_raster.hpp"
#include "tools/video/video_sink.hpp"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <system_error>

namespace tierd::videogen {

namespace {

// Independent random streams, so that e.g. drawing more noise never moves an object.
enum Stream : uint64_t {
    kSceneStream = 1, // the background
    kObjectStream = 2,
    kNoiseStream = 3,
    kNoiseOffsets = 4,
    kEffectsStream = 5, // segments and camera (EffectsPlan derives one stream per kind)
};

// The seed of everything in one video: the user's seed mixed with the split, so that train
// and test videos of the same seed share nothing.
uint64_t video_seed(const VideoOptions &o) {
    return derive_seed(o.seed, o.split == Split::train ? 0x747261696eULL : 0x74657374ULL);
}

// The background, scaled to cover 1.3x the view (times a zoom of 1 to 1.4 per seed) so the
// camera has room to pan, and mirrored for half of the seeds.
struct World {
    cv::Mat image;
    std::string name;
    double scale = 1;
    bool mirrored = false;
};

World make_world(const VideoOptions &o, SeededRandom &random) {
    const auto names = background_names(o.split);
    World world;
    world.name = names[static_cast<size_t>(random.uniform_int(0, int64_t(names.size()) - 1))];
    world.mirrored = random.chance(0.5);
    const double zoom = random.uniform(1.0, 1.4);
    const cv::Mat source = load_background(o.backgrounds_dir, world.name);
    const double cover = std::max(1.3 * o.width / source.cols, 1.3 * o.height / source.rows);
    world.scale = cover * zoom;
    const cv::Size size(static_cast<int>(std::ceil(source.cols * world.scale)),
                        static_cast<int>(std::ceil(source.rows * world.scale)));
    cv::resize(source, world.image, size, 0, 0,
               world.scale < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
    if (world.mirrored)
        cv::flip(world.image, world.image, 1);
    return world;
}

nlohmann::json segment_json(const EffectSegment &s) {
    nlohmann::json j = {{"kind", effect_name(s.kind)},
                        {"first_frame", s.first_frame},
                        {"last_frame", s.last_frame},
                        {"planned_frames", s.planned_frames}};
    switch (s.kind) {
    case EffectKind::pan: j["dx_px_per_frame"] = s.pan_dx, j["dy_px_per_frame"] = s.pan_dy; break;
    case EffectKind::blur:
        j["length_px"] = s.blur_length_px, j["angle_deg"] = s.blur_angle_deg;
        break;
    case EffectKind::light: j["gain_to"] = s.gain_to, j["gamma_to"] = s.gamma_to; break;
    case EffectKind::noise: j["sigma"] = s.noise_sigma; break;
    }
    return j;
}

void write_text_file(const std::filesystem::path &path, const std::string &text) {
    // Written whole under a temporary name, then renamed: a reader never sees half a file.
    std::filesystem::path partial = path;
    partial += ".partial";
    {
        std::ofstream out(partial, std::ios::binary | std::ios::trunc);
        out << text;
        out.flush();
        if (!out)
            throw std::runtime_error(partial.string() + ": cannot write");
    }
    std::error_code ec;
    std::filesystem::rename(partial, path, ec);
    if (ec)
        throw std::runtime_error(path.string() + ": cannot write: " + ec.message());
}

} // namespace

void check_options(const VideoOptions &o) {
    auto require = [](bool ok, const std::string &message) {
        if (!ok)
            throw UsageError(message);
    };
    require(o.frames >= 1 && o.frames <= 1000000, "--frames must be 1..1000000");
    require(o.width >= 64 && o.width <= 3840 && o.width % 2 == 0,
            "--width must be even and 64..3840");
    require(o.height >= 64 && o.height <= 2160 && o.height % 2 == 0,
            "--height must be even and 64..2160");
    require(o.fps >= 1 && o.fps <= 240, "--fps must be 1..240");
    require(o.max_objects >= 1 && o.max_objects <= 32, "--max-objects must be 1..32");
    require(o.min_objects >= 0 && o.min_objects <= o.max_objects,
            "--min-objects must be 0..--max-objects");
    require(find_video_codec(o.codec) != nullptr,
            "--codec must be one of mjpg, ffv1, mp4v, avc1 (got '" + o.codec + "')");
    require(!o.out_dir.empty(), "--out is required");
}

GenerationSummary generate_video(const VideoOptions &o) {
    check_options(o);
    const VideoCodec &codec = *find_video_codec(o.codec);
    const cv::Size view(o.width, o.height);

    // Inputs first: a missing dataset fails before anything is written.
    const FashionItems items(o.fashion_mnist_dir, o.split);
    const uint64_t seed = video_seed(o);
    SeededRandom scene_random(derive_seed(seed, kSceneStream));
    const World world = make_world(o, scene_random);
    const EffectsPlan plan(o.frames, o.width, o.height, world.image.cols, world.image.rows,
                           derive_seed(seed, kEffectsStream));

    std::error_code ec;
    std::filesystem::create_directories(o.out_dir, ec);
    if (ec)
        throw std::runtime_error(o.out_dir.string() + ": cannot create: " + ec.message());
    const std::filesystem::path labels_dir = o.out_dir / "labels";
    if (o.write_labels) {
        std::filesystem::create_directories(labels_dir, ec);
        if (ec)
            throw std::runtime_error(labels_dir.string() + ": cannot create: " + ec.message());
    }

    GenerationSummary summary;
    summary.video_path = o.out_dir / codec.file_name;
    summary.gt_path = o.out_dir / "gt.json";
    summary.background = world.name;
    VideoSink sink(summary.video_path, codec, o.fps, view);

    SceneLimits limits;
    limits.view_width = o.width, limits.view_height = o.height;
    limits.min_objects = o.min_objects, limits.max_objects = o.max_objects;
    ObjectScene scene(items, derive_seed(seed, kObjectStream), limits);

    bool any_noise = false;
    for (const EffectSegment &s : plan.segments())
        any_noise = any_noise || s.kind == EffectKind::noise;
    std::unique_ptr<SensorNoise> noise;
    if (any_noise)
        noise = std::make_unique<SensorNoise>(view, derive_seed(seed, kNoiseStream));
    SeededRandom noise_offsets(derive_seed(seed, kNoiseOffsets));

    CocoGroundTruth truth(view, codec.file_name);
    for (int f = 0; f < o.frames; ++f) {
        const FrameEffects &fx = plan.frame(f);
        if (f == 0) {
            scene.start(fx.camera_x, fx.camera_y);
        } else {
            const FrameEffects &before = plan.frame(f - 1);
            scene.advance(f, fx.camera_x, fx.camera_y, fx.camera_x - before.camera_x,
                          fx.camera_y - before.camera_y);
        }
        ComposedFrame frame = compose_frame(world.image, fx.camera_x, fx.camera_y, view,
                                            scene.objects(), !o.background_only);
        if (fx.blur)
            apply_motion_blur(frame.image, fx.blur_length_px, fx.blur_angle_deg);
        apply_lighting(frame.image, fx.gain, fx.gamma);
        const int offset_x = static_cast<int>(noise_offsets.uniform_int(0, o.width - 1));
        const int offset_y = static_cast<int>(noise_offsets.uniform_int(0, o.height - 1));
        if (fx.noise && noise)
            noise->add(frame.image, fx.noise_sigma, offset_x, offset_y);
        sink.write(frame.image);

        truth.add_frame(f, fx, scene.objects(), frame.objects);
        if (o.write_labels) {
            // 16-bit PNG: track_id + 1 where that object is visible, 0 elsewhere.
            cv::Mat labels(view, CV_16U);
            std::vector<int> track_of(scene.objects().size() + 1, -1);
            for (size_t i = 0; i < scene.objects().size(); ++i)
                track_of[i + 1] = scene.objects()[i].track_id;
            for (int y = 0; y < view.height; ++y) {
                const int *in = frame.labels.ptr<int>(y);
                auto *out = labels.ptr<uint16_t>(y);
                for (int x = 0; x < view.width; ++x)
                    out[x] = in[x] == 0 ? 0 : cv::saturate_cast<uint16_t>(track_of[in[x]] + 1);
            }
            char name[32];
            std::snprintf(name, sizeof name, "%06d.png", f);
            if (!cv::imwrite((labels_dir / name).string(), labels))
                throw std::runtime_error((labels_dir / name).string() + ": cannot write");
        }
    }
    sink.close();

    nlohmann::json segments = nlohmann::json::array();
    for (const EffectSegment &s : plan.segments())
        segments.push_back(segment_json(s));
    nlohmann::json info = {{"description", "tierd-videogen synthetic video (docs/video.md)"},
                           {"generator", "tierd-videogen"},
                           {"generator_version", kGeneratorVersion},
                           {"seed", o.seed},
                           {"split", split_name(o.split)},
                           {"frames", o.frames},
                           {"fps", o.fps},
                           {"width", o.width},
                           {"height", o.height},
                           {"codec", codec.name},
                           {"video", codec.file_name},
                           {"background",
                            {{"file", world.name},
                             {"package", "opencv-doc"},
                             {"scale", world.scale},
                             {"mirrored", world.mirrored}}},
                           {"objects", {{"min", o.min_objects}, {"max", o.max_objects}}},
                           {"annotation_rules",
                            {{"mask_alpha_min", kMaskAlpha},
                             {"omitted_below_side_px", kMinAnnotatedSidePx},
                             {"crowd_below_side_px", kMinCountedSidePx},
                             {"crowd_below_visible_fraction", kMinCountedVisibleFraction}}},
                           {"segments", std::move(segments)}};
    write_text_file(summary.gt_path, truth.document(std::move(info)).dump() + "\n");

    summary.frames = o.frames;
    summary.annotations = truth.annotation_count();
    summary.tracks = scene.tracks_created();
    return summary;
}

} // namespace tierd::videogen
