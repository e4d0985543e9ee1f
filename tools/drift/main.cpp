// tierd-driftgen — Fashion-MNIST test images under distribution shifts, in segments, with
// exact ground truth, as IDX files any IDX source plays (docs/drift.md).
// Exit status: 0 done, 1 failure (input unreadable, output not writable), 2 bad arguments.
#include "tools/drift/drift_stream.hpp"
#include "tools/drift/idx_writer.hpp"
#include "tools/drift/image_shifts.hpp"
#include "tools/drift/segments_json.hpp"
#include "tools/drift/shift_plan.hpp"
#include "tools/drift/source_images.hpp"

#include <CLI/CLI.hpp>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <system_error>

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

constexpr const char *kDefaultImages =
    "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
constexpr const char *kDefaultLabels =
    "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";

// The severity table, one line per shift and severity (the same values segments.json
// records).
void print_shift_table() {
    using namespace tierd::drift;
    for (const Shift shift : kShifts) {
        if (shift == Shift::clean)
            continue;
        for (int severity = kMinSeverity; severity <= kMaxSeverity; ++severity) {
            std::cout << shift_name(shift) << '@' << severity;
            for (const auto &[name, value] : shift_parameters(shift, severity))
                std::cout << ' ' << name << '=' << value;
            std::cout << '\n';
        }
    }
}

} // namespace

int main(int argc, char **argv) {
    namespace drift = tierd::drift;
    CLI::App app{"tierd-driftgen — Fashion-MNIST images under distribution shifts (noise, blur, "
                 "contrast, brightness, JPEG, rotation, scale, occlusion and combinations), in "
                 "segments, with exact ground truth, as IDX files"};
    app.footer(
        "PLAN: comma-separated segments SHIFT[+SHIFT...][@SEVERITY]:COUNT, e.g.\n"
        "  clean:1000,noise@3:500,blur+contrast@4:500,rotation@5:500\n"
        "Shifts: clean (unchanged; no severity, no partner), noise (additive Gaussian), blur\n"
        "(Gaussian), contrast (reduced), brightness (raised), jpeg (re-encoded at low quality),\n"
        "rotation, scale (zoom in or shrink with a black border), occlusion (a rectangle of\n"
        "one random gray level). '+' applies several, left to right, at one severity.\n"
        "SEVERITY 1..5 (default 3); the parameters of each: --list-shifts, docs/drift.md.\n"
        "Images are taken from the source in a seeded random order, without repeats until\n"
        "the source is used up. Writes OUT/images-idx3-ubyte, OUT/labels-idx1-ubyte\n"
        "(uncompressed IDX) and OUT/segments.json (segments, first index, count, parameters,\n"
        "and source_index: the source image of every output image). The same seed, plan and\n"
        "input give byte-identical files.\n"
        "Exit status: 0 done, 1 failure (input unreadable, output not writable), 2 bad\n"
        "arguments or plan.\nManual: docs/drift.md.\n");

    std::string plan_text, out_dir;
    std::string images = kDefaultImages, labels = kDefaultLabels;
    uint64_t seed = 0;
    bool quiet = false, list_shifts = false;
    app.add_option("--plan", plan_text, "The segments (see PLAN below)");
    app.add_option("--seed", seed,
                   "Seed, 0..2^64-1: the output is a function of it, the plan "
                   "and the input")
        ->check(CLI::Validator(
            [](std::string &value) { // CLI11 would wrap "-1" to 2^64 - 1
                return value.starts_with('-') ? std::string("must be 0..2^64-1") : std::string();
            },
            "", "unsigned"))
        ->capture_default_str();
    app.add_option("--out", out_dir, "Output folder (created if missing)");
    app.add_option("--images", images, "IDX images to draw from (gzipped or raw)")
        ->capture_default_str();
    app.add_option("--labels", labels, "Their IDX labels (gzipped or raw)")->capture_default_str();
    app.add_flag("--list-shifts", list_shifts,
                 "Print every shift's parameters at each severity and exit");
    app.add_flag("--quiet,-q", quiet, "Print nothing when done");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError &e) {
        // --help ends here with 0; every real parse error is a usage error.
        return app.exit(e) == 0 ? kExitOk : kExitUsage;
    }
    if (list_shifts) {
        print_shift_table();
        return kExitOk;
    }
    if (plan_text.empty() || out_dir.empty()) {
        std::cerr << "tierd-driftgen: --plan and --out are required\nRun with --help for more "
                     "information.\n";
        return kExitUsage;
    }

    std::vector<drift::Segment> plan;
    try {
        plan = drift::parse_plan(plan_text);
    } catch (const drift::PlanError &e) {
        std::cerr << "tierd-driftgen: " << e.what() << "\nRun with --help for more information.\n";
        return kExitUsage;
    }

    try {
        const auto started = std::chrono::steady_clock::now();
        const drift::SourceImages source = drift::read_source_images(images, labels);
        const std::filesystem::path out = out_dir;
        std::error_code error;
        std::filesystem::create_directories(out, error);
        if (error)
            throw std::runtime_error(out.string() + ": cannot create folder: " + error.message());

        // segments.json is written last: its presence says the IDX files beside it are
        // whole and of this run, so an earlier run's copy goes first.
        std::filesystem::remove(out / "segments.json", error);
        if (error)
            throw std::runtime_error((out / "segments.json").string() +
                                     ": cannot remove: " + error.message());

        const uint64_t total = drift::total_images(plan);
        const auto count = static_cast<uint32_t>(total); // parse_plan bounds it
        drift::IdxWriter image_file(
            out / "images-idx3-ubyte",
            {count, static_cast<uint32_t>(source.rows), static_cast<uint32_t>(source.cols)});
        drift::IdxWriter label_file(out / "labels-idx1-ubyte", {count});
        const std::vector<uint32_t> source_index =
            drift::generate_drift(source, plan, seed, [&](const drift::DriftedImage &image) {
                image_file.append(image.pixels);
                label_file.append(&image.label);
            });
        image_file.finish();
        label_file.finish();
        drift::write_segments_json(out / "segments.json",
                                   drift::describe_stream(source, plan, plan_text, seed),
                                   source_index);

        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        if (!quiet)
            std::cout << "tierd-driftgen: " << out.string() << ": " << total << " images in "
                      << plan.size() << " segments from " << source.count << " source images, "
                      << seconds << " s\n";
        return kExitOk;
    } catch (const std::exception &e) {
        std::cerr << "tierd-driftgen: " << e.what() << "\n";
        return kExitFailure;
    }
}
