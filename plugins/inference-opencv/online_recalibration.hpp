// Online channel recalibration in the inference plugin: a model adapts, without labels, to
// the inputs it has been seeing (`[plugin.inference-opencv] adapt = "recalibrate"`;
// docs/adaptation.md, "In the agent").
//
// infer() hands each input image to observe(), which keeps the most recent `samples` of
// them. A thread of this object's own, at a lower priority than the workers, computes the
// source statistics once (from clean images), then, whenever `fresh` new inputs have
// arrived and `interval` has passed since the last time, recalibrates the model to the
// window (channel_recalibration.hpp), asks the judge, if any (teacher labels:
// teacher_labels.hpp), and hands the result to `install`, which builds the
// adapted nets and swaps them in make-before-break: a call already running finishes on the
// net it has, the next one gets an adapted net. Nothing a task waits for runs on that
// thread.
//
// Threading: observe() from any number of worker threads at once; install runs on the
// adaptation thread. The destructor stops and joins the thread (an adaptation in progress
// finishes first); destroy it before what `install` touches.
#pragma once

#include "channel_recalibration.hpp"

#include <opencv2/core.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace inference_opencv {

class OnlineRecalibration {
  public:
    // What a judge says of a new adaptation: install it, keep the model as it is, or
    // go back to the model as it was shipped (an empty Adaptation).
    enum class Verdict { install, keep, revert };
    // Adds what labels teach to a new adaptation before it is judged (on the adaptation
    // thread): its head (head_learner.hpp); says what it did in `note` (logged when not
    // empty). Unset = recalibration only.
    using Learn = std::function<void(Adaptation &candidate, std::string &note)>;
    // Judges a new adaptation before it is installed (on the adaptation thread), and
    // says why in `why`; unset = every one is installed.
    using Judge = std::function<Verdict(const Adaptation &candidate, std::string &why)>;

    struct Options {
        std::size_t samples = 256; // inputs per adaptation (the window)
        // New inputs that start the next adaptation; 0 = `samples` (the window renewed).
        // Fewer: the window slides, and the first adaptation comes once this many are in.
        std::size_t fresh = 0;
        std::chrono::milliseconds interval{0}; // at least this long between adaptations
        RecalibrationOptions recalibration;    // prior weight, epsilon
        Learn learn;
        Judge judge;
    };
    // What one adaptation did, for the log and the counters.
    struct Report {
        std::size_t inputs = 0; // images it adapted on
        double ms = 0.0;        // measuring, recalibrating and learning, not the install
        std::size_t bytes = 0;  // adaptation_bytes()
    };
    // Images (as observe() got them) -> the NCHW blob the model takes.
    using ToBlob = std::function<cv::Mat(const std::vector<cv::Mat> &)>;
    // Builds and swaps in the adapted nets; throws to refuse (logged by `log`).
    using Install = std::function<void(const Adaptation &, const Report &)>;
    // Messages for the plugin's log: (true = warning, text).
    using Log = std::function<void(bool, const std::string &)>;

    // `source` are clean images of the kind the model was trained on (its statistics are
    // the reference). Starts the thread.
    OnlineRecalibration(std::shared_ptr<const RecalibratableModel> model,
                        std::vector<cv::Mat> source, ToBlob to_blob, Options options,
                        Install install, Log log);
    ~OnlineRecalibration();
    OnlineRecalibration(const OnlineRecalibration &) = delete;
    OnlineRecalibration &operator=(const OnlineRecalibration &) = delete;

    // Keeps a copy of `image` in the window (the oldest drops out once it is full).
    void observe(const cv::Mat &image);

  private:
    void run();

    std::shared_ptr<const RecalibratableModel> model_;
    std::vector<cv::Mat> source_; // released once its statistics are measured
    ToBlob to_blob_;
    Options options_;
    Install install_;
    Log log_;

    std::mutex mutex_;
    std::condition_variable wake_;
    std::vector<cv::Mat> window_; // ring of the last `samples` images
    std::size_t next_ = 0;        // where the next image goes in the ring
    std::size_t fresh_ = 0;       // images observed since the last adaptation took its copy
    bool stopping_ = false;
    std::thread thread_; // last: starts after everything above is set
};

} // namespace inference_opencv
