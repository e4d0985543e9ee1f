// tierd-videogen — writes a synthetic video with exact COCO ground truth (docs/video.md).
// Exit status: 0 done, 1 failure (missing input data, unwritable output), 2 bad arguments.
#include "tools/video/video_generator.hpp"

#include <CLI/CLI.hpp>

#include <chrono>
#include <iostream>

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

} // namespace

int main(int argc, char **argv) {
    using tierd::videogen::Split;
    CLI::App app{"tierd-videogen — synthetic video of moving Fashion-MNIST objects over natural "
                 "backgrounds, with COCO ground truth"};
    app.footer("Writes OUT/video.avi (or .mp4) and OUT/gt.json. Same seed and options, same "
               "files.\nExit status: 0 done, 1 failure (input data missing, output not "
               "writable), 2 bad arguments.\nManual: docs/video.md.\n");

    tierd::videogen::VideoOptions o;
    std::string fashion_dir = o.fashion_mnist_dir.string();
    std::string backgrounds_dir = o.backgrounds_dir.string();
    std::string out_dir;

    app.add_option("--seed", o.seed,
                   "Seed, 0..2^64-1: the video is a function of it and the options")
        ->required()
        ->check(CLI::Validator(
            [](std::string &value) { // CLI11 would wrap "-1" to 2^64 - 1
                return value.starts_with('-') ? std::string("must be 0..2^64-1") : std::string();
            },
            "", "unsigned"));
    app.add_option("--frames", o.frames, "Number of frames")->required();
    app.add_option("--out", out_dir, "Output folder (created if missing)")->required();
    std::string split = "test";
    app.add_option("--split", split,
                   "Which Fashion-MNIST images and backgrounds: train (train-* files) or test "
                   "(t10k-* files)")
        ->check(CLI::IsMember({"train", "test"}))
        ->capture_default_str();
    app.add_option("--width", o.width, "Frame width, px (even)")->capture_default_str();
    app.add_option("--height", o.height, "Frame height, px (even)")->capture_default_str();
    app.add_option("--fps", o.fps, "Frames per second")->capture_default_str();
    app.add_option("--codec", o.codec,
                   "mjpg (Motion JPEG in AVI), ffv1 (lossless, AVI), mp4v or avc1 (MP4); all "
                   "through OpenCV's ffmpeg backend")
        ->capture_default_str();
    app.add_option("--min-objects", o.min_objects,
                   "New objects enter while fewer are present (in view or entering)")
        ->capture_default_str();
    app.add_option("--max-objects", o.max_objects, "No new objects while this many exist")
        ->capture_default_str();
    app.add_option("--fashion-mnist", fashion_dir,
                   "Folder of the Fashion-MNIST IDX files (Debian: dataset-fashion-mnist)")
        ->capture_default_str();
    app.add_option("--backgrounds", backgrounds_dir,
                   "Folder of the background images (Debian: opencv-doc)")
        ->capture_default_str();
    app.add_flag("--background-only", o.background_only,
                 "Testing aid: draw no objects (gt.json still says where they are)");
    app.add_flag("--labels", o.write_labels,
                 "Testing aid: also write OUT/labels/NNNNNN.png, 16-bit, track_id + 1 where "
                 "that object is visible");
    bool quiet = false;
    app.add_flag("--quiet,-q", quiet, "Print nothing when done");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError &e) {
        // --help ends here with 0; every real parse error is a usage error.
        return app.exit(e) == 0 ? kExitOk : kExitUsage;
    }
    o.out_dir = out_dir;
    o.split = split == "train" ? Split::train : Split::test;
    o.fashion_mnist_dir = fashion_dir;
    o.backgrounds_dir = backgrounds_dir;

    try {
        tierd::videogen::check_options(o);
        const auto started = std::chrono::steady_clock::now();
        const auto summary = tierd::videogen::generate_video(o);
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        if (!quiet)
            std::cout << "tierd-videogen: " << summary.video_path.string() << " and "
                      << summary.gt_path.string() << ": " << summary.frames << " frames, "
                      << summary.annotations << " annotations, " << summary.tracks
                      << " tracks, background " << summary.background << ", " << seconds << " s\n";
        return kExitOk;
    } catch (const tierd::videogen::UsageError &e) {
        std::cerr << "tierd-videogen: " << e.what() << "\nRun with --help for more information.\n";
        return kExitUsage;
    } catch (const std::exception &e) {
        std::cerr << "tierd-videogen: " << e.what() << "\n";
        return kExitFailure;
    }
}
