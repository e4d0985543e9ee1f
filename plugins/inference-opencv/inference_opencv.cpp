// inference-opencv: runs one model (ONNX, Caffe, TensorFlow, ... whatever cv::dnn::readNet
// reads) on the task image and returns softmax class scores, or, for a video detector of
// the manifest's [[detector]] tables (docs/detectors.md), the objects it finds: boxes in
// the task image's pixels written into the result's detection buffer (ABI 1.4).
//
// create() loads the model and runs one warm-up forward (worker thread; may take a
// while). infer() runs on worker threads, several at once (max_concurrent_calls): a
// cv::dnn::Net takes one caller at a time, so each model keeps a small pool of nets — one
// per caller running at that moment, loaded again from the file on first need — and
// each call borrows one. int8 models (quantized once, at create) and split sub-models
// take one caller at a time.
//
// adapt = "recalibrate": float classifiers and detectors adapt to the inputs they see,
// without labels (online_recalibration.hpp, docs/adaptation.md), judged by the teacher's
// answers when there are some (class labels, or key-frame boxes: teacher_frames.hpp); the
// adapted nets replace a model's pool make-before-break, so a call holds the pool it
// started with (Lease keeps it alive).
#include <tierd/plugin.hpp>
#include <tierd/plugin_opencv.hpp>

#include "calibration.hpp"
#include "channel_recalibration.hpp"
#include "detection_decoder.hpp"
#include "head_learner.hpp"
#include "model_manifest.hpp"
#include "online_recalibration.hpp"
#include "teacher_frames.hpp"
#include "teacher_judge.hpp"
#include "teacher_labels.hpp"

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/core/ocl.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <tierd/idx.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

class InferenceOpenCV {
  public:
    static constexpr const char *name = "inference-opencv";
    static constexpr const char *version = "0.1.0";
    static constexpr const char *description =
        "runs a model with OpenCV DNN (ONNX and others) and returns softmax scores";
    // Worker ops the host may run at once (ABI 1.3): one net per caller, see NetPool.
    static constexpr uint32_t max_concurrent_calls = 8;

    static constexpr const char *const backends[] = {"cpu", "opencl", "cuda", nullptr};
    static constexpr const char *const precisions[] = {"fp32", "int8", nullptr};
    static constexpr const char *const adapt_modes[] = {"off", "recalibrate", "recalibrate+head",
                                                        nullptr};
    static constexpr tierd_config_key config_keys[] = {
        tierd::key_path("model", "",
                        "model file for cv::dnn::readNet; \"\" = none (or use manifest)",
                        TIERD_CONFIG_MUST_EXIST),
        tierd::key_path("manifest", "",
                        "model zoo manifest (models/manifest.toml); its input settings replace "
                        "the input_* / scale / mean keys, and each file's sha256 is checked",
                        TIERD_CONFIG_MUST_EXIST),
        tierd::key_string("models", "",
                          "with manifest: comma-separated model names to load; \"\" = all"),
        tierd::key_string("default_model", "",
                          "the model infer() runs when the task names none; \"\" = the first"),
        tierd::key_int("input_width", "224", 1, 8192, "network input width in pixels"),
        tierd::key_int("input_height", "224", 1, 8192, "network input height in pixels"),
        tierd::key_int("input_channels", "3", 1, 3,
                       "1 = feed the gray image, 3 = feed BGR (RGB with swap_rb)"),
        tierd::key_double("scale", "0.00392156862745098", 0.0, 1e6,
                          "pixel multiplier after mean subtraction (default 1/255)"),
        tierd::key_double("mean", "0", -1e6, 1e6, "value subtracted from every channel"),
        tierd::key_bool("swap_rb", "false", "swap the first and last channel (BGR -> RGB)"),
        tierd::key_bool("softmax", "true",
                        "apply softmax to the output; false if the model already ends in one"),
        tierd::key_enum("backend", "cpu", backends,
                        "cpu, opencl or cuda; falls back to cpu when unavailable"),
        tierd::key_int("threads", "0", 0, 64,
                       "OpenCV threads per call (process-wide); 0 = the cores divided by the "
                       "calls the host runs at once (1 per call when workers fill the cores)"),
        tierd::key_enum("precision", "fp32", precisions,
                        "fp32, or int8: each model quantized with cv::dnn::Net::quantize on the "
                        "calibration images (served as <name>-int8)"),
        tierd::key_path("calibration", "",
                        "precision = int8, or a manifest entry with precision = \"int8\": IDX "
                        "image file whose first images calibrate the quantization (gzipped or "
                        "raw); \"\" = the manifest's dataset_dir training split for such entries",
                        TIERD_CONFIG_MUST_EXIST),
        tierd::key_int("calibration_images", "128", 1, 10000,
                       "int8 (either way): how many calibration images to use"),
        tierd::key_double("score_threshold", "0.3", 0.0, 1.0,
                          "detectors: boxes scoring below are dropped"),
        tierd::key_double("nms_iou", "0.5", 0.0, 1.0,
                          "detectors: per-class non-maximum suppression overlap"),
        tierd::key_int("max_detections", "100", 1, 10000,
                       "detectors: at most this many boxes per image, best first (and no "
                       "more than the host's buffer holds)"),
        tierd::key_enum("adapt", "off", adapt_modes,
                        "recalibrate: float classifiers and detectors adapt to their recent "
                        "inputs without labels (BatchNorm re-estimation; docs/adaptation.md); "
                        "recalibrate+head: and their last linear layer learns from the "
                        "teacher labels (the edge's or cloud's answers), guarded by a held-back "
                        "buffer"),
        tierd::key_int("adapt_samples", "256", 8, 100000,
                       "adapt: inputs per adaptation (the most recent ones)"),
        tierd::key_int("adapt_interval_ms", "10000", 0, 86400000,
                       "adapt: at least this long between two adaptations"),
        tierd::key_path("adapt_source", "",
                        "adapt: IDX file of clean images the model was trained on (the "
                        "reference statistics); \"\" = the manifest's dataset_dir/"
                        "train-images-idx3-ubyte.gz",
                        TIERD_CONFIG_MUST_EXIST),
        tierd::key_int("adapt_source_images", "1000", 16, 60000, "adapt: how many of those images"),
        tierd::key_int("adapt_labels", "512", 0, 100000,
                       "adapt: teacher labels kept (the edge's or cloud's answers to the "
                       "tasks sent there; half the latest, half a sample of all) to judge "
                       "each adaptation by; 0 = none, every adaptation is installed"),
        tierd::key_int("adapt_min_labels", "32", 1, 100000,
                       "adapt: below this many teacher labels an adaptation is installed "
                       "unjudged (and a head learns from no fewer)"),
        tierd::key_path("adapt_holdout", "",
                        "adapt = recalibrate+head: IDX file of the held-back buffer, images "
                        "with true labels of the kind the model was trained on; \"\" = the "
                        "manifest's dataset_dir/train-images-idx3-ubyte.gz, after the "
                        "adapt_source_images ones",
                        TIERD_CONFIG_MUST_EXIST),
        tierd::key_path("adapt_holdout_labels", "",
                        "adapt = recalibrate+head: IDX labels of adapt_holdout; \"\" = the "
                        "manifest's dataset_dir/train-labels-idx1-ubyte.gz",
                        TIERD_CONFIG_MUST_EXIST),
        tierd::key_int("adapt_holdout_images", "500", 0, 60000,
                       "adapt = recalibrate+head: images of the held-back buffer; 0 = no "
                       "guard (a head is judged by the teacher's held-out labels alone)"),
        tierd::key_double("adapt_holdout_drop", "2", 0.0, 100.0,
                          "adapt = recalibrate+head: a learnt head more than this many points "
                          "below the shipped one on the held-back buffer is refused"),
        tierd::key_path("adapt_detector_source", "",
                        "adapt, detectors: a video (or an image sequence OpenCV reads, e.g. "
                        "frames/%04d.png), or a directory of videos, of clean scenes of the "
                        "kind the detector was trained on (the reference statistics: several "
                        "scenes, as training had; tierd-videogen --split train writes them); "
                        "required when a detector adapts"),
        tierd::key_int("adapt_detector_source_frames", "64", 8, 10000,
                       "adapt, detectors: frames taken from adapt_detector_source, spread "
                       "evenly over it"),
        tierd::key_int("adapt_detector_samples", "64", 8, 4096,
                       "adapt, detectors: frames per adaptation (the most recent ones kept); "
                       "an adaptation starts once a quarter of them are new"),
        tierd::key_int("adapt_detector_every", "10", 1, 10000,
                       "adapt, detectors: one frame in this many is kept, so that the frames "
                       "adapted on span the scene (adapt_detector_samples x this), not its "
                       "last seconds"),
        tierd::key_int("adapt_key_frames", "32", 0, 10000,
                       "adapt, detectors: teacher key frames kept (the frames sent upstream "
                       "with the boxes the edge or cloud found, ABI 1.7) to judge each "
                       "adaptation by; 0 = none, every adaptation is installed"),
        tierd::key_int("adapt_min_key_frames", "8", 1, 10000,
                       "adapt, detectors: below this many teacher key frames an adaptation "
                       "is installed unjudged"),
        tierd::key_double("adapt_teacher_score", "0.3", 0.0, 1.0,
                          "adapt, detectors: the teacher's boxes scoring this or more are labels"),
        tierd::key_double("adapt_teacher_unsure_score", "0.1", 0.0, 1.0,
                          "adapt, detectors: the teacher's boxes scoring from this up to "
                          "adapt_teacher_score are places it is unsure of: a detection there "
                          "counts neither way"),
    };

    InferenceOpenCV(tierd::Host host, const tierd::Config &config) : host_(host) {
        settings_.model_path = config.get_string("model");
        settings_.width = static_cast<int>(config.get_int("input_width"));
        settings_.height = static_cast<int>(config.get_int("input_height"));
        settings_.channels = static_cast<int>(config.get_int("input_channels"));
        if (settings_.channels != 1 && settings_.channels != 3)
            throw tierd::Error(TIERD_ECONFIG, "input_channels must be 1 or 3");
        settings_.scale = config.get_double("scale");
        settings_.mean = config.get_double("mean");
        settings_.swap_rb = config.get_bool("swap_rb");
        settings_.softmax = config.get_bool("softmax");
        decode_.score_threshold = static_cast<float>(config.get_double("score_threshold"));
        decode_.nms_iou = static_cast<float>(config.get_double("nms_iou"));
        decode_.top_k = static_cast<int>(config.get_int("max_detections"));
        const std::string backend = config.get_string("backend");
        const int64_t threads = config.get_int("threads");
        if (threads > 0) {
            cv::setNumThreads(static_cast<int>(threads));
        } else if (const uint32_t workers = host.worker_threads(); workers > 1) {
            // Workers x OpenCV threads no more than the cores: each parallel call gets its
            // share (no oversubscription; a small model runs fastest on one thread).
            const unsigned callers = std::min<unsigned>(workers, max_concurrent_calls);
            const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
            cv::setNumThreads(static_cast<int>(std::max(1u, cores / callers)));
        }

        calibration_path_ = config.get_string("calibration");
        calibration_images_ = static_cast<int>(config.get_int("calibration_images"));
        if (config.get_string("precision") == "int8") {
            if (calibration_path_.empty())
                throw tierd::Error(TIERD_ECONFIG, "precision = \"int8\" needs a calibration file");
            read_calibration(calibration_path_);
            int8_ = true;
        }
        const std::string manifest = config.get_string("manifest");
        if (!manifest.empty()) {
            if (!settings_.model_path.empty())
                throw tierd::Error(TIERD_ECONFIG, "set either model or manifest, not both");
            load_from_manifest(manifest, config.get_string("models"), backend);
        } else if (!settings_.model_path.empty()) {
            load(stem(settings_.model_path), settings_.model_path, backend, classifier_input(),
                 /*detector=*/false, "", int8_);
        } else {
            host_.warning("no model configured ([plugin.inference-opencv] model and manifest "
                          "are \"\"): infer will fail until one is set");
            return;
        }
        const std::string wanted = config.get_string("default_model");
        default_ = wanted.empty() ? 0 : find(wanted);
        if (default_ < 0)
            throw tierd::Error(TIERD_ECONFIG, "default_model '" + wanted + "' is not loaded");
        backend_ = backend;
        describe_ = make_description();
        if (config.get_string("adapt") != "off")
            start_adaptation(config);
    }

    // ABI 1.2: the models served and their cut points (static after create()).
    const char *describe() const { return describe_.c_str(); }

    // ABI 1.5: a teacher's answer for an image this device sent upstream. With adapt on
    // it joins the labels each adaptation is judged by (and, with "recalibrate+head", the
    // labels heads learn from); otherwise ignored. ABI 1.7: label -1 is a video key
    // frame with the teacher's boxes, kept to judge the detectors' adaptations.
    int learn(const tierd_task &task, const tierd_teacher_label &label) {
        if (label.label < 0)
            return learn_key_frame(task, label);
        if (!teacher_labels_ || loaded_.empty())
            return TIERD_OK;
        cv::Mat input;
        if (int rc = to_input(task.image, loaded_[static_cast<size_t>(default_)].input, input);
            rc != TIERD_OK)
            return rc;
        if (teacher_labels_->add(input, label.label, label.confidence,
                                 label.model != nullptr ? label.model : ""))
            host_.counter_add("teacher_labels", 1.0);
        return TIERD_OK;
    }

    // ABI 1.7: a key frame's teacher boxes, for every detector that adapts and keeps
    // teacher key frames (each at its own input size).
    int learn_key_frame(const tierd_task &task, const tierd_teacher_label &label) {
        if (label.answer == nullptr)
            return TIERD_OK;
        bool wanted = false;
        for (const auto &entry : loaded_)
            wanted = wanted || entry.teacher_frames != nullptr;
        if (!wanted)
            return TIERD_OK;
        cv::Mat frame;
        if (int rc = to_input(task.image, Input{0, 0, 3, 1.0, 0.0, false}, frame); rc != TIERD_OK)
            return rc;
        auto *answer = const_cast<tierd_inference_result *>(label.answer);
        uint32_t capacity = 0;
        const tierd_detection *found = tierd_result_detections(answer, &capacity);
        const uint32_t count = std::min(tierd_result_detection_count(answer), capacity);
        std::vector<inference_opencv::DetectionBox> boxes;
        for (uint32_t i = 0; i < count && found != nullptr; ++i)
            boxes.push_back({found[i].x, found[i].y, found[i].width, found[i].height,
                             found[i].class_id, found[i].score});
        // The boxes are in the pixels of the image the teacher answered for: this frame,
        // unless the answer says otherwise.
        cv::Size teacher_size = frame.size();
        if (answer->struct_size >=
                offsetof(tierd_inference_result, image_height) + sizeof answer->image_height &&
            answer->image_width > 0 && answer->image_height > 0)
            teacher_size = cv::Size(answer->image_width, answer->image_height);
        for (auto &entry : loaded_)
            if (entry.teacher_frames != nullptr &&
                entry.teacher_frames->add(frame, teacher_size, boxes,
                                          cv::Size(entry.input.width, entry.input.height),
                                          label.model != nullptr ? label.model : ""))
                host_.counter_add("teacher_key_frames", 1.0);
        return TIERD_OK;
    }

    // ABI 1.2, end side of a split: the model's head up to cut `layer` on the task image.
    int infer_head(const tierd_task &task, const char *model, int32_t layer, tierd_tensor &out,
                   tierd_inference_result &meta) {
        std::lock_guard lock(split_mutex_); // split sub-models take one caller at a time
        Split *split = nullptr;
        if (int rc = find_split(model, layer, split); rc != TIERD_OK)
            return rc;
        if (int rc = ensure_loaded(*split, split->head, split->cut.head_path,
                                   split->cut.head_sha256, "head");
            rc != TIERD_OK)
            return rc;
        cv::Mat input;
        if (int rc = to_input(task.image, classifier_input(), input); rc != TIERD_OK)
            return rc;
        const Measure m = measure([&] {
            split->head.setInput(cv::dnn::blobFromImage(
                input, settings_.scale, cv::Size(settings_.width, settings_.height),
                cv::Scalar::all(settings_.mean), settings_.swap_rb, false, CV_32F));
            split->output = split->head.forward();
        });
        const cv::Mat &t = split->output;
        if (t.total() != split->cut.elements) {
            host_.set_error("head of '" + split->model + "' at cut " + std::to_string(layer) +
                            " produced " + std::to_string(t.total()) +
                            " values, the manifest says " + std::to_string(split->cut.elements));
            return TIERD_EPLUGIN;
        }
        out.rank = static_cast<uint32_t>(split->cut.shape.size());
        for (std::size_t i = 0; i < split->cut.shape.size(); ++i)
            out.shape[i] = split->cut.shape[i];
        out.count = static_cast<uint32_t>(split->cut.elements);
        if (out.capacity < out.count || out.data == nullptr)
            return TIERD_ERANGE;
        cv::Mat flat = t.reshape(1, 1);
        std::copy(flat.begin<float>(), flat.end<float>(), out.data);
        meta.top_class = -1;
        meta.score_count = 0;
        fill_meta(meta, split->model, m, 1);
        host_.counter_add("heads", 1.0);
        return TIERD_OK;
    }

    // ABI 1.2, edge/cloud side of a split: the model's tail from cut `layer` on `input`.
    int infer_tail(const tierd_task &, const char *model, int32_t layer, const tierd_tensor &input,
                   tierd_inference_result &out) {
        std::lock_guard lock(split_mutex_);
        Split *split = nullptr;
        if (int rc = find_split(model, layer, split); rc != TIERD_OK)
            return rc;
        std::vector<int> dims{1};
        std::size_t elements = 1;
        for (uint32_t i = 0; i < input.rank && i < 4; ++i) {
            dims.push_back(input.shape[i]);
            elements *= static_cast<std::size_t>(std::max(input.shape[i], 0));
        }
        if (std::vector<int>(dims.begin() + 1, dims.end()) != split->cut.shape ||
            elements != input.count || input.data == nullptr) {
            host_.set_error("tail of '" + split->model + "' at cut " + std::to_string(layer) +
                            ": the tensor's shape is not the cut's");
            return TIERD_EINVAL;
        }
        if (int rc = ensure_loaded(*split, split->tail, split->cut.tail_path,
                                   split->cut.tail_sha256, "tail");
            rc != TIERD_OK)
            return rc;
        // The net reads the blob during forward() only; the input stays borrowed.
        cv::Mat blob(static_cast<int>(dims.size()), dims.data(), CV_32F, input.data);
        cv::Mat output;
        const Measure m = measure([&] {
            split->tail.setInput(blob);
            output = split->tail.forward();
        });
        std::vector<float> scores = to_scores(output);
        if (scores.empty()) {
            host_.set_error("the tail produced no scores");
            return TIERD_EPLUGIN;
        }
        const auto top = std::max_element(scores.begin(), scores.end());
        out.top_class = static_cast<int32_t>(top - scores.begin());
        out.top_score = *top;
        fill_meta(out, split->model, m, 1);
        host_.counter_add("tails", 1.0);
        return tierd::write_scores(out, scores.data(), scores.size());
    }

    int infer(const tierd_task &task, const char *model, tierd_inference_result &out) {
        const tierd_task *one = &task;
        return run(&one, 1, model, &out);
    }

    // ABI 1.1: several tasks in one forward pass (the images become one NCHW blob).
    int infer_batch(const tierd_task *const *tasks, uint32_t count, const char *model,
                    tierd_inference_result *outs) {
        return run(tasks, count, model, outs);
    }

  private:
    int run(const tierd_task *const *tasks, uint32_t count, const char *model,
            tierd_inference_result *outs) {
        if (loaded_.empty()) {
            host_.set_error("no model loaded: set [plugin.inference-opencv] model or manifest");
            return TIERD_ENOENT;
        }
        const int index = model != nullptr && model[0] != '\0' ? find(model) : default_;
        if (index < 0) {
            host_.set_error(std::string("model '") + model +
                            "' is not loaded; this instance "
                            "serves " +
                            loaded_names());
            return TIERD_ENOENT;
        }
        Loaded &chosen = loaded_[static_cast<size_t>(index)];
        if (chosen.detector)
            return detect(tasks, count, chosen, outs);
        NetPool::Lease lease = pool_of(chosen)->acquire();
        Replica &r = *lease;
        const Input &in = chosen.input;
        r.inputs.resize(count);
        for (uint32_t i = 0; i < count; ++i)
            if (int rc = to_input(tasks[i]->image, in, r.inputs[i]); rc != TIERD_OK)
                return rc;
        if (chosen.adapter != nullptr)
            for (const auto &input : r.inputs)
                chosen.adapter->observe(input);

        cv::Mat output;
        const Measure m = measure([&] {
            // Into the replica's own blob: no allocation once its size is known.
            cv::dnn::blobFromImages(r.inputs, r.blob, in.scale, cv::Size(in.width, in.height),
                                    cv::Scalar::all(in.mean), in.swap_rb, false, CV_32F);
            r.net.setInput(r.blob);
            output = r.net.forward();
        });
        r.inputs.clear();
        if (output.empty() || output.total() % count != 0) {
            host_.set_error("the model produced " + std::to_string(output.total()) +
                            " values for a batch of " +
                            std::to_string(static_cast<std::size_t>(count)));
            return TIERD_EPLUGIN;
        }
        // One row of class scores per image; time and energy shared equally.
        const cv::Mat rows = output.reshape(1, static_cast<int>(count));
        const double share_ms = m.ms / count;
        int rc = TIERD_OK;
        for (uint32_t i = 0; i < count; ++i) {
            tierd_inference_result &out = outs[i];
            std::vector<float> scores = to_scores(rows.row(static_cast<int>(i)));
            const auto top = std::max_element(scores.begin(), scores.end());
            out.top_class = static_cast<int32_t>(top - scores.begin());
            out.top_score = *top;
            fill_meta(out, chosen.name, m, count);
            if (int w = tierd::write_scores(out, scores.data(), scores.size()); w != TIERD_OK)
                rc = w;
        }
        host_.counter_add("inferences", static_cast<double>(count));
        host_.counter_add("batches", 1.0);
        host_.gauge_set("last_compute_ms", share_ms);
        host_.gauge_set("last_batch_size", static_cast<double>(count));
        return rc;
    }

    // Wall time and HAL energy of one forward pass.
    struct Measure {
        double ms = 0.0;
        double energy_j = -1.0; // < 0 when the HAL has no reading
        std::string source;
    };
    template <class Fn> Measure measure(Fn &&fn) {
        tierd_energy_reading before{}, after{};
        before.struct_size = after.struct_size = sizeof before;
        const bool have_before = host_.energy_read(before) == TIERD_OK;
        const uint64_t t0 = host_.monotonic_ns();
        fn();
        const uint64_t t1 = host_.monotonic_ns();
        Measure m;
        m.ms = static_cast<double>(t1 - t0) / 1e6;
        if (have_before && host_.energy_read(after) == TIERD_OK) {
            m.energy_j = after.energy_j - before.energy_j;
            m.source = std::string(after.source, strnlen(after.source, sizeof after.source));
        }
        return m;
    }
    // compute_ms, energy and model of a result that is one of `share` sharing the pass.
    static void fill_meta(tierd_inference_result &out, const std::string &model, const Measure &m,
                          uint32_t share) {
        tierd::copy_string(out.model, model);
        out.compute_ms = m.ms / share;
        out.energy_j = m.energy_j >= 0.0 ? m.energy_j / share : -1.0;
        tierd::copy_string(out.energy_source, m.energy_j >= 0.0 ? m.source : std::string());
    }

    // A cut point of a loaded model; its sub-models load on first use (the host serialises
    // calls, so no lock is needed).
    struct Split {
        std::string model;
        inference_opencv::ManifestCut cut;
        cv::dnn::Net head, tail;
        cv::Mat output; // the head's last output (reused buffer)
    };

    int find_split(const char *model, int32_t layer, Split *&found) {
        const int index = model != nullptr && model[0] != '\0' ? find(model) : default_;
        const std::string wanted =
            index >= 0 ? loaded_[static_cast<std::size_t>(index)].name : std::string(model);
        for (auto &s : splits_)
            if (s.model == wanted && s.cut.layer == layer) {
                found = &s;
                return TIERD_OK;
            }
        host_.set_error("model '" + wanted + "' has no cut " + std::to_string(layer) +
                        " here (split sub-models come from the manifest's [[model.cut]])");
        return TIERD_ENOENT;
    }

    int ensure_loaded(Split &split, cv::dnn::Net &net, const std::string &path,
                      const std::string &sha, const char *part) {
        if (!net.empty())
            return TIERD_OK;
        try {
            const std::string actual = inference_opencv::file_sha256(path);
            if (actual != sha) {
                host_.set_error(std::string(part) + " of '" + split.model + "' cut " +
                                std::to_string(split.cut.layer) + ": " + path + " has sha256 " +
                                actual + ", the manifest says " + sha);
                return TIERD_EIO;
            }
            net = cv::dnn::readNet(path);
            select_backend(net, backend_);
        } catch (const std::exception &e) {
            host_.set_error(std::string("cannot load ") + part + " '" + path + "': " + e.what());
            net = cv::dnn::Net();
            return TIERD_EIO;
        }
        return TIERD_OK;
    }

    std::string make_description() const {
        nlohmann::json models = nlohmann::json::array();
        for (const auto &l : loaded_) {
            nlohmann::json cuts = nlohmann::json::array();
            for (const auto &s : splits_)
                if (s.model == l.name)
                    cuts.push_back({{"layer", s.cut.layer},
                                    {"shape", s.cut.shape},
                                    {"elements", s.cut.elements}});
            nlohmann::json entry = {
                {"name", l.name},
                {"top1", l.top1},
                {"input_bytes", l.input.width * l.input.height * l.input.channels},
                {"cuts", cuts}};
            if (l.detector) { // additive keys: classifiers' entries are unchanged
                entry["kind"] = "detector";
                entry["input"] = {l.input.width, l.input.height};
                entry["map50"] = l.map50;
            }
            models.push_back(std::move(entry));
        }
        return nlohmann::json{{"default", loaded_.empty()
                                              ? std::string()
                                              : loaded_[static_cast<std::size_t>(default_)].name},
                              {"models", models}}
            .dump();
    }

    struct Settings {
        std::string model_path;
        int width = 224;
        int height = 224;
        int channels = 3;
        double scale = 1.0 / 255.0;
        double mean = 0.0;
        bool swap_rb = false;
        bool softmax = true;
    };

    static std::string stem(const std::string &path) {
        const size_t slash = path.find_last_of('/');
        std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
        const size_t dot = base.find_last_of('.');
        if (dot != std::string::npos && dot > 0)
            base.erase(dot);
        return base;
    }

    // What a model is fed: size, channels and normalisation (blobFromImage's arguments).
    struct Input {
        int width = 224, height = 224, channels = 3;
        double scale = 1.0 / 255.0;
        double mean = 0.0;
        bool swap_rb = false;
    };
    Input classifier_input() const {
        return Input{settings_.width, settings_.height, settings_.channels,
                     settings_.scale, settings_.mean,   settings_.swap_rb};
    }

    // One net and the buffers of a call that uses it.
    struct Replica {
        cv::dnn::Net net;
        cv::Mat blob;
        std::vector<cv::Mat> inputs;
        std::vector<cv::Mat> outputs; // a detector's heatmap and box
        cv::Mat resized;              // a detector's frame at its input size, to adapt on
    };

    // A model's nets: one per caller running at once. A caller borrows a free one, or
    // makes a new one (`make`; none for int8, whose one net the callers take in turn).
    class NetPool : public std::enable_shared_from_this<NetPool> {
      public:
        using Make = std::function<std::unique_ptr<Replica>()>;
        NetPool(std::unique_ptr<Replica> first, Make make) : make_(std::move(make)) {
            free_.push_back(std::move(first));
        }
        class Lease {
          public:
            Lease(std::shared_ptr<NetPool> pool, std::unique_ptr<Replica> r)
                : pool_(std::move(pool)), r_(std::move(r)) {}
            Lease(Lease &&) = default;
            ~Lease() {
                if (r_)
                    pool_->give_back(std::move(r_));
            }
            Replica &operator*() const { return *r_; }

          private:
            std::shared_ptr<NetPool> pool_; // a pool replaced meanwhile lives until then
            std::unique_ptr<Replica> r_;
        };
        Lease acquire() {
            std::unique_lock lock(mutex_);
            if (free_.empty() && make_) {
                lock.unlock(); // loading a net takes a while: others keep running
                return Lease(shared_from_this(), make_());
            }
            available_.wait(lock, [this] { return !free_.empty(); });
            auto r = std::move(free_.back());
            free_.pop_back();
            return Lease(shared_from_this(), std::move(r));
        }

      private:
        void give_back(std::unique_ptr<Replica> r) {
            {
                std::lock_guard lock(mutex_);
                free_.push_back(std::move(r));
            }
            available_.notify_one();
        }
        std::mutex mutex_;
        std::condition_variable available_;
        std::vector<std::unique_ptr<Replica>> free_;
        Make make_;
    };

    struct Loaded {
        std::string name;
        std::string path;              // the model file
        std::string backend;           // the backend its nets run on
        std::shared_ptr<NetPool> pool; // replaced by adaptation: read it through pool_of()
        inference_opencv::OnlineRecalibration *adapter = nullptr; // adapt = "recalibrate"
        // A detector that adapts: the teacher's key frames its adaptations are judged by
        // (adapt_key_frames > 0), added to by learn() (ABI 1.7).
        std::shared_ptr<inference_opencv::TeacherFrames> teacher_frames;
        std::uint64_t observe_every = 1; // a detector's window keeps one frame in this many
        // Frames seen, for observe_every (behind a pointer: Loaded lives in a vector).
        std::unique_ptr<std::atomic<std::uint64_t>> observed =
            std::make_unique<std::atomic<std::uint64_t>>(0);
        double top1 = -1.0;
        Input input;
        bool int8 = false;     // quantized at load (precision = "int8", or the manifest's)
        bool detector = false; // a [[detector]]: infer() returns boxes (detect())
        double map50 = -1.0;
        std::string features; // a detector's feature layer ("" = none offered)
    };

    // The model's current pool; without adaptation it never changes after create().
    std::shared_ptr<NetPool> pool_of(const Loaded &loaded) const {
        if (adapters_.empty()) // set in create(), before any call
            return loaded.pool;
        std::lock_guard lock(pools_mutex_);
        return loaded.pool;
    }

    // adapt = "recalibrate": one OnlineRecalibration per float classifier and per detector
    // (int8 nets and split sub-models keep their weights).
    void start_adaptation(const tierd::Config &config) {
        const auto label_capacity = static_cast<std::size_t>(config.get_int("adapt_labels"));
        const auto min_labels = static_cast<std::size_t>(config.get_int("adapt_min_labels"));
        const bool learn_heads = config.get_string("adapt") == "recalibrate+head";
        std::string source; // the classifiers' clean images, read when the first one adapts
        std::vector<cv::Mat> clean;
        HeldBack held_back;
        bool classifiers_prepared = false;
        for (auto &entry : loaded_) {
            if (entry.int8) {
                host_.info("adapt: '" + entry.name +
                           "' keeps its weights (int8 nets do not adapt)");
                continue;
            }
            if (entry.detector) {
                start_detector_adaptation(entry, config);
                continue;
            }
            if (!classifiers_prepared) {
                classifiers_prepared = true;
                source = config.get_string("adapt_source");
                if (source.empty() && !dataset_dir_.empty())
                    source = dataset_dir_ + "/train-images-idx3-ubyte.gz";
                if (source.empty())
                    throw tierd::Error(TIERD_ECONFIG,
                                       "adapt = \"recalibrate\" needs adapt_source (clean images "
                                       "the model was trained on) when the manifest names no "
                                       "dataset_dir");
                try {
                    clean = inference_opencv::read_idx_images(
                        source, static_cast<int>(config.get_int("adapt_source_images")));
                } catch (const std::exception &e) {
                    throw tierd::Error(TIERD_EIO, std::string("adapt_source: ") + e.what());
                }
                if (label_capacity > 0)
                    teacher_labels_ =
                        std::make_shared<inference_opencv::TeacherLabels>(label_capacity);
                if (learn_heads && !teacher_labels_)
                    throw tierd::Error(TIERD_ECONFIG,
                                       "adapt = \"recalibrate+head\" learns from teacher "
                                       "labels: adapt_labels must be above 0");
                if (learn_heads)
                    held_back = read_held_back(config, source);
            }
            inference_opencv::OnlineRecalibration::Options options;
            options.samples = static_cast<std::size_t>(config.get_int("adapt_samples"));
            options.interval = std::chrono::milliseconds(config.get_int("adapt_interval_ms"));
            auto model = recalibratable(entry);
            const auto to_blob = blob_maker(entry.input);
            if (learn_heads && model->shipped_head().empty()) {
                host_.warning("adapt: '" + entry.name +
                              "' does not end in a linear layer: it "
                              "recalibrates, no head learns");
            } else if (learn_heads) {
                inference_opencv::HeadLearner::Options head_options;
                head_options.min_labels = min_labels;
                head_options.max_holdout_drop = config.get_double("adapt_holdout_drop") / 100.0;
                auto learner = std::make_shared<inference_opencv::HeadLearner>(
                    model, entry.name, to_blob, teacher_labels_, held_back.images, held_back.labels,
                    head_options);
                options.learn = [this, learner](inference_opencv::Adaptation &candidate,
                                                std::string &note) {
                    (*learner)(candidate, note);
                    report_head(learner->last());
                };
            }
            // With heads learning, the teacher judges what it taught (the head, on its
            // held-out labels: head_learner.hpp) and the held-back buffer guards it; the
            // recalibration, which needs no teacher, goes in as it is — a teacher that
            // suffers from the shift would keep it out (docs/adaptation.md).
            if (teacher_labels_ && !options.learn)
                options.judge = judged_by(std::make_shared<inference_opencv::TeacherJudge>(
                    model, entry.name, to_blob, teacher_labels_, min_labels));
            start_adapter(entry, model, clean, to_blob, options);
        }
    }

    // A detector adapts the same way, on its recent frames, with clean frames from
    // adapt_detector_source as the reference, judged by the teacher's key-frame boxes
    // (teacher_frames.hpp) when adapt_key_frames > 0.
    void start_detector_adaptation(Loaded &entry, const tierd::Config &config) {
        const std::string source = config.get_string("adapt_detector_source");
        if (source.empty())
            throw tierd::Error(TIERD_ECONFIG,
                               "adapt: detector '" + entry.name +
                                   "' needs adapt_detector_source (a video of the clean scenes "
                                   "it was trained on; tierd-videogen --split train writes one)");
        if (!std::filesystem::exists(source)) // a directory is allowed: checked here
            throw tierd::Error(TIERD_ECONFIG,
                               "adapt_detector_source: no file or directory at '" + source + "'");
        const Input in = entry.input;
        const cv::Size size(in.width, in.height);
        std::vector<cv::Mat> clean;
        try {
            clean = read_clean_frames(
                source, static_cast<std::size_t>(config.get_int("adapt_detector_source_frames")),
                size);
        } catch (const std::exception &e) {
            throw tierd::Error(TIERD_EIO, std::string("adapt_detector_source: ") + e.what());
        }
        inference_opencv::OnlineRecalibration::Options options;
        options.samples = static_cast<std::size_t>(config.get_int("adapt_detector_samples"));
        options.fresh = std::max<std::size_t>(1, options.samples / 4);
        options.interval = std::chrono::milliseconds(config.get_int("adapt_interval_ms"));
        entry.observe_every = static_cast<std::uint64_t>(config.get_int("adapt_detector_every"));
        options.recalibration.batch = 8; // a detector's activations are large: few frames a pass
        auto model = recalibratable(entry);
        const auto to_blob = blob_maker(in);
        const auto capacity = static_cast<std::size_t>(config.get_int("adapt_key_frames"));
        if (capacity > 0) {
            auto frames = std::make_shared<inference_opencv::TeacherFrames>(capacity);
            entry.teacher_frames = frames;
            inference_opencv::FrameAgreementOptions agreement;
            agreement.teacher_min_score =
                static_cast<float>(config.get_double("adapt_teacher_score"));
            agreement.teacher_unsure_score =
                static_cast<float>(config.get_double("adapt_teacher_unsure_score"));
            agreement.decode.nms_iou = decode_.nms_iou;
            options.judge = judged_by(std::make_shared<inference_opencv::TeacherJudge>(
                model, key_frame_labels(frames, entry.name, to_blob, agreement),
                static_cast<std::size_t>(config.get_int("adapt_min_key_frames")), kDetectorMargin));
        }
        if (config.get_string("adapt") == "recalibrate+head")
            host_.info("adapt: detector '" + entry.name + "' recalibrates only (no head learns)");
        start_adapter(entry, model, clean, to_blob, options);
    }

    // The labels a detector's adaptation is judged by: the teacher's key frames kept now,
    // but those `model_name` itself answered (a model is no judge of itself); counted by the
    // frames with a label box (what recall is measured on).
    static inference_opencv::TeacherJudge::TakeLabels
    key_frame_labels(std::shared_ptr<const inference_opencv::TeacherFrames> frames,
                     std::string model_name, inference_opencv::OnlineRecalibration::ToBlob to_blob,
                     inference_opencv::FrameAgreementOptions agreement) {
        return [frames = std::move(frames), model_name = std::move(model_name),
                to_blob = std::move(to_blob), agreement] {
            auto kept = std::make_shared<std::vector<inference_opencv::TeacherFrame>>();
            std::size_t with_boxes = 0;
            for (auto &f : frames->snapshot()) {
                if (f.teacher_model == model_name)
                    continue;
                with_boxes += std::any_of(f.boxes.begin(), f.boxes.end(), [&](const auto &b) {
                    return b.score >= agreement.teacher_min_score;
                });
                kept->push_back(std::move(f));
            }
            inference_opencv::TeacherJudge::Labels labels;
            labels.count = with_boxes;
            labels.noun = "teacher key frames with boxes";
            labels.agreement = [kept, to_blob, agreement](cv::dnn::Net &net) {
                auto one = [&to_blob](const cv::Mat &image) { return to_blob({image}); };
                return inference_opencv::detection_agreement(net, *kept, one, agreement);
            };
            return labels;
        };
    }

    // A model's input as a blob: images -> NCHW float with its size and normalisation.
    static inference_opencv::OnlineRecalibration::ToBlob blob_maker(const Input &in) {
        return [in](const std::vector<cv::Mat> &images) {
            return cv::dnn::blobFromImages(images, in.scale, cv::Size(in.width, in.height),
                                           cv::Scalar::all(in.mean), in.swap_rb, false, CV_32F);
        };
    }

    // How much lower (AP@0.5, 0..1) a detector's adaptation may agree with the teacher's
    // key frames than the model now and still count as "as well": AP on a few dozen
    // frames moves by about this much between two runs of the same model on other frames.
    static constexpr double kDetectorMargin = 0.01;

    std::shared_ptr<const inference_opencv::RecalibratableModel>
    recalibratable(const Loaded &entry) {
        try {
            return std::make_shared<inference_opencv::RecalibratableModel>(entry.path);
        } catch (const std::exception &e) {
            throw tierd::Error(TIERD_EIO, "adapt: '" + entry.name + "': " + e.what());
        }
    }

    inference_opencv::OnlineRecalibration::Judge
    judged_by(std::shared_ptr<inference_opencv::TeacherJudge> judge) {
        return [this, judge](const inference_opencv::Adaptation &candidate, std::string &why) {
            const auto verdict = (*judge)(candidate, why);
            report_judgement(judge->last());
            return verdict;
        };
    }

    // Starts `entry`'s adaptation thread; its adaptations replace the entry's pool
    // make-before-break.
    void start_adapter(Loaded &entry,
                       std::shared_ptr<const inference_opencv::RecalibratableModel> model,
                       const std::vector<cv::Mat> &clean,
                       inference_opencv::OnlineRecalibration::ToBlob to_blob,
                       const inference_opencv::OnlineRecalibration::Options &options) {
        Loaded *target = &entry; // loaded_ does not change after create()
        auto install = [this, model,
                        target](const inference_opencv::Adaptation &adaptation,
                                const inference_opencv::OnlineRecalibration::Report &report) {
            const Input input = target->input;
            const std::string backend = target->backend;
            const bool detector = target->detector;
            NetPool::Make make = [this, model, adaptation, input, backend, detector] {
                auto r = std::make_unique<Replica>();
                r->net = model->build(adaptation);
                select_backend(r->net, backend);
                warm_up(r->net, input, detector);
                host_.counter_add("nets_loaded", 1.0);
                return r;
            };
            // Make before break: the first adapted net is ready before the swap.
            auto pool = std::make_shared<NetPool>(make(), make);
            {
                std::lock_guard lock(pools_mutex_);
                target->pool.swap(pool);
            }
            host_.counter_add("adaptations", 1.0);
            host_.gauge_set("last_adapt_ms", report.ms);
            host_.info("adapted '" + target->name + "' to its last " +
                       std::to_string(report.inputs) + " inputs in " +
                       std::to_string(static_cast<long>(report.ms)) + " ms (" +
                       std::to_string(report.bytes) +
                       (adaptation.head.empty() ? " bytes of per-channel maps)"
                                                : " bytes of per-channel maps and head)"));
        }; // the old pool goes when its last running call gives its net back
        auto log = [this](bool warning, const std::string &text) {
            if (warning)
                host_.warning(text);
            else
                host_.info(text);
        };
        adapters_.push_back(std::make_unique<inference_opencv::OnlineRecalibration>(
            model, clean, std::move(to_blob), options, install, log));
        entry.adapter = adapters_.back().get();
        host_.info("adapt: '" + entry.name + "' recalibrates" +
                   (options.learn ? " and learns its head" : "") +
                   (options.judge ? ", judged by the teacher's answers," : "") + " every " +
                   std::to_string(options.fresh > 0 ? options.fresh : options.samples) +
                   " new inputs, on the last " + std::to_string(options.samples) +
                   " (at most every " + std::to_string(options.interval.count()) + " ms)");
    }

    // `count` frames spread evenly over the video (or image sequence) at `path`, or over
    // every video in the directory `path` (in name order, an equal share each), resized to
    // `size`. Throws std::runtime_error naming the file when one cannot be read or there
    // are no frames.
    static std::vector<cv::Mat> read_clean_frames(const std::string &path, std::size_t count,
                                                  cv::Size size) {
        std::vector<std::string> videos;
        if (std::filesystem::is_directory(path)) {
            for (const auto &file : std::filesystem::directory_iterator(path))
                if (file.is_regular_file())
                    videos.push_back(file.path().string());
            std::sort(videos.begin(), videos.end());
            if (videos.empty())
                throw std::runtime_error("the directory '" + path + "' has no videos");
        } else {
            videos.push_back(path);
        }
        const std::size_t share = (count + videos.size() - 1) / videos.size();
        std::vector<cv::Mat> frames;
        for (const auto &file : videos) {
            cv::VideoCapture video(file);
            if (!video.isOpened())
                throw std::runtime_error("'" + file + "' is not a video OpenCV can read");
            const double total = video.get(cv::CAP_PROP_FRAME_COUNT);
            const std::size_t step =
                total > 0 ? std::max<std::size_t>(1, static_cast<std::size_t>(total) / share) : 1;
            cv::Mat frame;
            std::size_t taken = 0;
            for (std::size_t i = 0; taken < share && frames.size() < count && video.read(frame);
                 ++i)
                if (i % step == 0) {
                    cv::Mat resized;
                    cv::resize(frame, resized, size, 0, 0, cv::INTER_LINEAR);
                    frames.push_back(std::move(resized));
                    ++taken;
                }
            if (taken == 0)
                throw std::runtime_error("'" + file + "' has no frames");
        }
        return frames;
    }

    // adapt = "recalibrate+head": the held-back buffer that guards every learnt head
    // (head_learner.hpp). By default the dataset's training images after the ones the
    // source statistics come from.
    struct HeldBack {
        std::vector<cv::Mat> images;
        std::vector<int> labels;
    };
    HeldBack read_held_back(const tierd::Config &config, const std::string &source) const {
        const auto count = static_cast<std::size_t>(config.get_int("adapt_holdout_images"));
        HeldBack held;
        if (count == 0) {
            host_.warning("adapt: adapt_holdout_images = 0: learnt heads are judged by the "
                          "teacher's own held-out labels alone (a wrong teacher goes unseen)");
            return held;
        }
        std::string images = config.get_string("adapt_holdout");
        std::string labels = config.get_string("adapt_holdout_labels");
        if (images.empty() && !dataset_dir_.empty())
            images = dataset_dir_ + "/train-images-idx3-ubyte.gz";
        if (labels.empty() && !dataset_dir_.empty())
            labels = dataset_dir_ + "/train-labels-idx1-ubyte.gz";
        if (images.empty() || labels.empty())
            throw tierd::Error(TIERD_ECONFIG,
                               "adapt = \"recalibrate+head\" needs adapt_holdout and "
                               "adapt_holdout_labels (or adapt_holdout_images = 0) when the "
                               "manifest names no dataset_dir");
        // Not the images the source statistics are measured on, when it is the same file.
        const std::size_t skip =
            images == source ? static_cast<std::size_t>(config.get_int("adapt_source_images")) : 0;
        try {
            auto all = inference_opencv::read_idx_images(images, static_cast<int>(skip + count));
            const auto all_labels = tierd::idx::read_labels(labels);
            if (all.size() < skip + count || all_labels.size() < skip + count)
                throw std::runtime_error("fewer than " + std::to_string(skip + count) +
                                         " images with labels (" + std::to_string(skip) +
                                         " skipped: the source statistics')");
            for (std::size_t i = skip; i < skip + count; ++i) {
                held.images.push_back(std::move(all[i]));
                held.labels.push_back(all_labels[i]);
            }
        } catch (const std::exception &e) {
            throw tierd::Error(TIERD_EIO, std::string("adapt_holdout: ") + e.what());
        }
        return held;
    }

    // A head's learning as the plugin's metrics.
    void report_head(const inference_opencv::HeadLearner::Scores &scores) {
        if (!scores.trained)
            return;
        host_.counter_add("heads_learnt", 1.0);
        host_.gauge_set("last_head_ms", scores.ms);
        if (scores.holdout >= 0) {
            host_.gauge_set("head_holdout_accuracy", scores.holdout);
            host_.gauge_set("head_holdout_accuracy_shipped", scores.holdout_shipped);
        }
        if (scores.refused)
            host_.counter_add("heads_refused", 1.0);
        if (scores.dropped)
            host_.counter_add("heads_dropped", 1.0);
        if (scores.agreement >= 0) {
            host_.gauge_set("head_teacher_agreement", scores.agreement);
            host_.gauge_set("head_teacher_agreement_shipped", scores.agreement_shipped);
        }
    }

    // A judgement's figures as the plugin's metrics.
    void report_judgement(const inference_opencv::TeacherJudge::Scores &scores) {
        using Verdict = inference_opencv::OnlineRecalibration::Verdict;
        if (!scores.judged) {
            host_.counter_add("adaptations_unjudged", 1.0);
            return;
        }
        host_.gauge_set("teacher_agreement", scores.candidate);
        host_.gauge_set("teacher_agreement_shipped", scores.shipped);
        if (scores.verdict != Verdict::install)
            host_.counter_add("adaptations_refused", 1.0);
        if (scores.verdict == Verdict::revert)
            host_.counter_add("adaptations_reverted", 1.0);
    }

    // A detector on each task's image, one forward pass per image (the images may differ in
    // size; the boxes are in each image's own pixels). The result carries the boxes in the
    // host's detection buffer (ABI 1.4; the best `detection_capacity` when there are
    // more), score_count 0, top_class -1 and top_score = the best box's score (0 when none
    // was found), so a scheduler reading top_score sees the frame's confidence.
    int detect(const tierd_task *const *tasks, uint32_t count, Loaded &chosen,
               tierd_inference_result *outs) {
        NetPool::Lease lease = pool_of(chosen)->acquire();
        Replica &r = *lease;
        const Input &in = chosen.input;
        static const std::vector<std::string> kOutputs = {"heatmap", "box"};
        // With the feature layer as a third output when the host asks for features.
        const std::vector<std::string> with_features = {"heatmap", "box", chosen.features};
        for (uint32_t i = 0; i < count; ++i) {
            tierd_inference_result &out = outs[i];
            uint32_t capacity = 0;
            tierd_detection *buffer = tierd_result_detections(&out, &capacity);
            if (out.struct_size <
                offsetof(tierd_inference_result, features) + sizeof out.features) {
                host_.set_error("model '" + chosen.name +
                                "' is a detector: its boxes need an ABI 1.4 result (the host's "
                                "tierd_inference_result has no detection buffer)");
                return TIERD_ENOTSUP;
            }
            cv::Mat image;
            if (int rc = to_input(tasks[i]->image, in, image); rc != TIERD_OK)
                return rc;
            // The window keeps one frame in observe_every, at the net's size: frames seconds
            // apart show the scene, consecutive ones mostly the objects in it now (measured
            // offline: the longer the span of 64 frames, the better; docs/adaptation.md).
            if (chosen.adapter != nullptr && (*chosen.observed)++ % chosen.observe_every == 0) {
                cv::resize(image, r.resized, cv::Size(in.width, in.height), 0, 0, cv::INTER_LINEAR);
                chosen.adapter->observe(r.resized);
            }
            std::vector<inference_opencv::DetectionBox> boxes;
            const bool features = out.features != nullptr && !chosen.features.empty();
            try {
                const Measure m = measure([&] {
                    cv::dnn::blobFromImage(image, r.blob, in.scale, cv::Size(in.width, in.height),
                                           cv::Scalar::all(in.mean), in.swap_rb, false, CV_32F);
                    r.net.setInput(r.blob);
                    r.net.forward(r.outputs, features ? with_features : kOutputs);
                    boxes = inference_opencv::decode_detections(r.outputs[0], r.outputs[1],
                                                                cv::Size(in.width, in.height),
                                                                image.size(), decode_);
                });
                fill_meta(out, chosen.name, m, 1);
                host_.gauge_set("last_compute_ms", m.ms);
            } catch (const std::exception &e) {
                host_.set_error("detector '" + chosen.name + "': " + e.what());
                return TIERD_EPLUGIN;
            }
            const std::size_t n = std::min<std::size_t>(boxes.size(), buffer ? capacity : 0);
            for (std::size_t k = 0; k < n; ++k) {
                const auto &b = boxes[k];
                buffer[k] =
                    tierd_detection{b.x, b.y, b.width, b.height, b.class_id, b.score, -1, 0};
            }
            if (out.features != nullptr) {
                out.features->count = 0;
                if (features)
                    if (int rc = write_features(chosen.name, r.outputs[2], *out.features);
                        rc != TIERD_OK)
                        return rc;
            }
            out.detection_count = static_cast<uint32_t>(n);
            out.image_width = image.cols;
            out.image_height = image.rows;
            out.score_count = 0;
            out.top_class = -1;
            out.top_score = boxes.empty() ? 0.0f : boxes.front().score;
            host_.counter_add("detections", static_cast<double>(n));
        }
        host_.counter_add("inferences", static_cast<double>(count));
        host_.counter_add("batches", 1.0);
        return TIERD_OK;
    }

    // A feature map [1, C, H, W] into the host's tensor as [C, H, W] (the buffer rule of
    // tierd_tensor: TIERD_ERANGE with count = the floats needed when it is too small).
    int write_features(const std::string &model, const cv::Mat &map, tierd_tensor &out) const {
        if (map.dims != 4 || map.size[0] != 1 || map.type() != CV_32F) {
            host_.set_error("detector '" + model +
                            "': its feature layer is not a [1, C, H, W] "
                            "float map");
            return TIERD_EPLUGIN;
        }
        const std::size_t n = map.total();
        out.rank = 3;
        out.shape[0] = map.size[1];
        out.shape[1] = map.size[2];
        out.shape[2] = map.size[3];
        out.shape[3] = 0;
        out.count = static_cast<uint32_t>(n);
        if (out.data == nullptr || out.capacity < n)
            return TIERD_ERANGE;
        const cv::Mat flat = map.isContinuous() ? map : map.clone();
        std::memcpy(out.data, flat.ptr<float>(), n * sizeof(float));
        return TIERD_OK;
    }

    int find(const std::string &model_name) const {
        for (size_t i = 0; i < loaded_.size(); ++i)
            if (loaded_[i].name == model_name || loaded_[i].name == model_name + "-int8")
                return static_cast<int>(i);
        return -1;
    }

    std::string loaded_names() const {
        std::string out;
        for (const auto &l : loaded_)
            out += (out.empty() ? "" : ", ") + l.name;
        return out;
    }

    void read_calibration(const std::string &path) {
        try {
            calibration_ = inference_opencv::read_idx_images(path, calibration_images_);
        } catch (const std::exception &e) {
            throw tierd::Error(TIERD_EIO, std::string("calibration: ") + e.what());
        }
    }

    // A manifest entry with precision = "int8" is quantized at load: its calibration
    // images are the `calibration` file's, else the manifest's training split.
    void ensure_calibration(const std::string &model_name) {
        if (!calibration_.empty())
            return;
        std::string path = calibration_path_;
        if (path.empty() && !dataset_dir_.empty())
            path = dataset_dir_ + "/train-images-idx3-ubyte.gz";
        if (path.empty())
            throw tierd::Error(TIERD_ECONFIG, "model '" + model_name +
                                                  "' is int8 in the manifest: set calibration "
                                                  "(an IDX image file), the manifest has no "
                                                  "dataset_dir");
        read_calibration(path);
    }

    void load_from_manifest(const std::string &manifest_path, const std::string &wanted,
                            const std::string &backend) {
        inference_opencv::Manifest manifest;
        try {
            manifest = inference_opencv::read_manifest(manifest_path);
        } catch (const std::exception &e) {
            throw tierd::Error(TIERD_ECONFIG, std::string("manifest: ") + e.what());
        }
        settings_.width = manifest.width;
        settings_.height = manifest.height;
        settings_.channels = manifest.channels;
        settings_.scale = manifest.scale;
        settings_.mean = manifest.mean;
        dataset_dir_ = manifest.dataset_dir;
        std::vector<std::string> names;
        for (size_t start = 0; start <= wanted.size();) {
            size_t comma = wanted.find(',', start);
            if (comma == std::string::npos)
                comma = wanted.size();
            std::string n = wanted.substr(start, comma - start);
            n.erase(0, n.find_first_not_of(' '));
            n.erase(n.find_last_not_of(' ') + 1);
            if (!n.empty())
                names.push_back(n);
            start = comma + 1;
        }
        for (const auto &n : names) {
            bool known = false;
            for (const auto &m : manifest.models)
                known = known || m.name == n;
            for (const auto &d : manifest.detectors)
                known = known || d.name == n;
            if (!known)
                throw tierd::Error(TIERD_ENOENT, "model '" + n + "' is not in " + manifest_path);
        }
        auto named = [&](const std::string &n) {
            return std::find(names.begin(), names.end(), n) != names.end();
        };
        auto check_sha = [&](const std::string &model_name, const std::string &path,
                             const std::string &sha) {
            std::string actual;
            try {
                actual = inference_opencv::file_sha256(path);
            } catch (const std::exception &e) {
                throw tierd::Error(TIERD_ENOENT, "model '" + model_name + "': " + e.what());
            }
            if (actual != sha)
                throw tierd::Error(TIERD_EIO, "model '" + model_name + "': " + path +
                                                  " has sha256 " + actual + ", the manifest says " +
                                                  sha + " (corrupt or replaced file)");
        };
        for (const auto &m : manifest.models) {
            if (!names.empty() && !named(m.name))
                continue;
            check_sha(m.name, m.path, m.sha256);
            const bool int8_entry = m.precision == "int8";
            try {
                if (int8_entry)
                    ensure_calibration(m.name);
                load(m.name, m.path, backend, classifier_input(), /*detector=*/false, "",
                     int8_ || int8_entry);
            } catch (const tierd::Error &e) {
                // Loading "all": an int8 variant without calibration images (a device
                // without the dataset) or that OpenCV cannot quantize is left out, and the
                // rest still serve; named in `models`, it is an error.
                if (!int8_entry || named(m.name))
                    throw;
                host_.warning("model '" + m.name + "' (int8) not loaded: " + e.what());
                continue;
            }
            loaded_.back().top1 = m.top1;
            // Split sub-models run the float model: an int8 instance serves none.
            if (!loaded_.back().int8)
                for (const auto &c : m.cuts)
                    splits_.push_back(Split{m.name, c, {}, {}, {}});
        }
        // Detectors load only when `models` names them: a manifest that gains [[detector]]
        // tables changes nothing for configurations written before.
        for (const auto &d : manifest.detectors) {
            if (!named(d.name))
                continue;
            check_sha(d.name, d.path, d.sha256);
            const Input in{d.width, d.height, d.channels, d.scale, d.mean, false};
            load(d.name, d.path, backend, in, /*detector=*/true, d.features);
            loaded_.back().map50 = d.map50;
        }
    }

    void load(const std::string &model_name, const std::string &path, const std::string &backend,
              const Input &in, bool detector = false, const std::string &features = "",
              bool quantize = false) { // quantize: int8 via Net::quantize (classifiers only)
        Loaded entry;
        entry.name = model_name;
        entry.path = path;
        entry.input = in;
        entry.detector = detector;
        entry.features = features;
        auto first = std::make_unique<Replica>();
        cv::dnn::Net &net = first->net;
        if (!std::ifstream(path).good())
            throw tierd::Error(TIERD_ENOENT, "model file '" + path + "' cannot be opened");
        try {
            net = cv::dnn::readNet(path);
        } catch (const cv::Exception &e) {
            throw tierd::Error(TIERD_EIO, "cannot load model '" + path + "': " + e.what());
        }
        if (net.empty())
            throw tierd::Error(TIERD_EIO,
                               "cannot load model '" + path + "': OpenCV read no layers");
        if (!features.empty() && net.getLayerId(features) < 0)
            throw tierd::Error(TIERD_EINVAL, "detector '" + model_name + "': its features layer '" +
                                                 features + "' is not in '" + path + "'");
        if (quantize && !detector) {
            // One calibration blob for the network's one input (a list of batches throws).
            cv::Mat blob = cv::dnn::blobFromImages(
                calibration_, settings_.scale, cv::Size(settings_.width, settings_.height),
                cv::Scalar::all(settings_.mean), settings_.swap_rb, false, CV_32F);
            try {
                // Float in and out: the int8 arithmetic stays inside the network.
                net = net.quantize(blob, CV_32F, CV_32F);
            } catch (const cv::Exception &e) {
                throw tierd::Error(TIERD_ENOTSUP, "OpenCV " CV_VERSION " cannot quantize model '" +
                                                      model_name + "': " + e.what());
            }
            // precision = "int8" for all: served beside nothing, under a derived name; a
            // manifest int8 entry is named by the manifest.
            if (int8_)
                entry.name = model_name + "-int8";
            entry.int8 = true;
        }

        const std::string used = select_backend(net, backend);
        try {
            warm_up(net, in, detector);
        } catch (const cv::Exception &e) {
            if (used == "cpu")
                throw tierd::Error(TIERD_EIO, "warm-up forward of '" + path + "' (input " +
                                                  input_shape(in) + ") failed: " + e.what());
            host_.warning("backend " + used + " failed the warm-up (" + e.what() +
                          "); falling back to cpu");
            select_backend(net, "cpu");
            try {
                warm_up(net, in, detector);
            } catch (const cv::Exception &e2) {
                throw tierd::Error(TIERD_EIO, "warm-up forward of '" + path + "' (input " +
                                                  input_shape(in) + ") failed: " + e2.what());
            }
        }
        entry.backend = used;
        host_.info("loaded " + std::string(detector ? "detector" : "model") + " '" + path +
                   "' as '" + entry.name + "' (input " + input_shape(in) + ", backend " + used +
                   ")");
        // More nets of a float model load from the same file when callers overlap; the
        // first one proved the file and the backend.
        NetPool::Make make;
        if (!entry.int8)
            make = [this, path, used, in, detector] {
                auto r = std::make_unique<Replica>();
                r->net = cv::dnn::readNet(path);
                select_backend(r->net, used);
                warm_up(r->net, in, detector);
                host_.counter_add("nets_loaded", 1.0);
                return r;
            };
        entry.pool = std::make_shared<NetPool>(std::move(first), std::move(make));
        loaded_.push_back(std::move(entry));
    }

    // Sets the preferable backend/target; returns the one actually chosen.
    std::string select_backend(cv::dnn::Net &net, const std::string &wanted) {
        using cv::dnn::Backend;
        using cv::dnn::Target;
        auto available = [](Backend b, Target t) {
            for (const auto &pair : cv::dnn::getAvailableBackends())
                if (pair.first == b && pair.second == t)
                    return true;
            return false;
        };
        if (wanted == "cuda") {
            if (available(cv::dnn::DNN_BACKEND_CUDA, cv::dnn::DNN_TARGET_CUDA)) {
                net.setPreferableBackend(cv::dnn::DNN_BACKEND_CUDA);
                net.setPreferableTarget(cv::dnn::DNN_TARGET_CUDA);
                return "cuda";
            }
            host_.warning("backend cuda is not available in this OpenCV build; using cpu");
        } else if (wanted == "opencl") {
            if (cv::ocl::haveOpenCL() &&
                available(cv::dnn::DNN_BACKEND_OPENCV, cv::dnn::DNN_TARGET_OPENCL)) {
                net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
                net.setPreferableTarget(cv::dnn::DNN_TARGET_OPENCL);
                return "opencl";
            }
            host_.warning("backend opencl is not available (no OpenCL device or support); "
                          "using cpu");
        }
        net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
        net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
        return "cpu";
    }

    // One forward of a blank input; a detector must also have its two named outputs.
    static void warm_up(cv::dnn::Net &net, const Input &in, bool detector) {
        cv::Mat blank(in.height, in.width, CV_8UC(in.channels), cv::Scalar::all(0));
        net.setInput(cv::dnn::blobFromImage(blank, in.scale, cv::Size(), cv::Scalar::all(in.mean),
                                            in.swap_rb, false, CV_32F));
        if (detector) {
            std::vector<cv::Mat> outs;
            net.forward(outs, std::vector<std::string>{"heatmap", "box"});
        } else {
            (void)net.forward();
        }
    }

    static std::string input_shape(const Input &in) {
        return std::to_string(in.channels) + "x" + std::to_string(in.height) + "x" +
               std::to_string(in.width);
    }

    // The task image with the configured channel count (a view when it already fits).
    int to_input(const tierd_image *image, const Input &in, cv::Mat &input) const {
        cv::Mat view;
        if (const char *why = tierd::image_view(image, view)) {
            host_.set_error(std::string("infer: ") + why);
            return TIERD_EINVAL;
        }
        const int channels = view.channels();
        if (in.channels == 1) {
            if (channels == 1)
                input = view;
            else
                cv::cvtColor(view, input,
                             image->format == TIERD_PIXEL_BGR8 ? cv::COLOR_BGR2GRAY
                                                               : cv::COLOR_RGB2GRAY);
        } else {
            if (image->format == TIERD_PIXEL_BGR8)
                input = view;
            else if (image->format == TIERD_PIXEL_RGB8)
                cv::cvtColor(view, input, cv::COLOR_RGB2BGR);
            else
                cv::cvtColor(view, input, cv::COLOR_GRAY2BGR);
        }
        return TIERD_OK;
    }

    // The output as one vector of class scores (softmax unless configured off).
    std::vector<float> to_scores(const cv::Mat &output) const {
        cv::Mat flat;
        output.reshape(1, 1).convertTo(flat, CV_32F);
        std::vector<float> scores(flat.begin<float>(), flat.end<float>());
        if (settings_.softmax && !scores.empty()) {
            const float max = *std::max_element(scores.begin(), scores.end());
            double sum = 0.0;
            for (float &s : scores) {
                s = std::exp(s - max);
                sum += s;
            }
            for (float &s : scores)
                s = static_cast<float>(s / sum);
        }
        return scores;
    }

    tierd::Host host_;
    Settings settings_;
    std::vector<Loaded> loaded_; // in load order; infer() picks by name
    bool int8_ = false;
    std::vector<cv::Mat> calibration_; // int8: the calibration images
    std::string calibration_path_;     // the `calibration` key
    int calibration_images_ = 128;
    int default_ = 0;
    std::string backend_ = "cpu";
    std::vector<Split> splits_;
    std::mutex split_mutex_;
    inference_opencv::DecodeOptions decode_; // detectors' score threshold, NMS, top-K
    std::string describe_;
    std::string dataset_dir_;        // the manifest's, for adapt_source's default
    mutable std::mutex pools_mutex_; // Loaded::pool while adaptation may replace it
    // adapt = "recalibrate" with adapt_labels > 0: the teacher labels learn() keeps.
    std::shared_ptr<inference_opencv::TeacherLabels> teacher_labels_;
    // Last: destroyed first, so that no adaptation thread outlives what it installs into.
    std::vector<std::unique_ptr<inference_opencv::OnlineRecalibration>> adapters_;
};

} // namespace

TIERD_PLUGIN(InferenceOpenCV, TIERD_KIND_INFERENCE)
