#include "online_recalibration.hpp"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <utility>

namespace inference_opencv {
namespace {

// Learning must not take a core from the workers: this thread runs 10 nice levels below
// the rest of the process (Linux: nice is per thread).
void lower_this_threads_priority() {
    const auto tid = static_cast<id_t>(syscall(SYS_gettid));
    errno = 0;
    const int current = getpriority(PRIO_PROCESS, tid);
    if (errno == 0)
        (void)setpriority(PRIO_PROCESS, tid, std::min(19, current + 10));
}

} // namespace

OnlineRecalibration::OnlineRecalibration(std::shared_ptr<const RecalibratableModel> model,
                                         std::vector<cv::Mat> source, ToBlob to_blob,
                                         Options options, Install install, Log log)
    : model_(std::move(model)), source_(std::move(source)), to_blob_(std::move(to_blob)),
      options_(options), install_(std::move(install)), log_(std::move(log)) {
    if (options_.samples == 0)
        options_.samples = 1;
    if (options_.fresh == 0 || options_.fresh > options_.samples)
        options_.fresh = options_.samples;
    window_.reserve(options_.samples);
    thread_ = std::thread([this] { run(); });
}

OnlineRecalibration::~OnlineRecalibration() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
}

void OnlineRecalibration::observe(const cv::Mat &image) {
    bool full = false;
    {
        std::lock_guard lock(mutex_);
        if (window_.size() < options_.samples) {
            window_.push_back(image.clone());
        } else {
            image.copyTo(window_[next_]); // same size: no allocation
        }
        next_ = (next_ + 1) % options_.samples;
        full = ++fresh_ >= options_.fresh;
    }
    if (full)
        wake_.notify_one();
}

void OnlineRecalibration::run() {
    lower_this_threads_priority();
    LayerStats source_stats;
    try {
        source_stats = model_->source_statistics(to_blob_(source_), options_.recalibration.batch);
    } catch (const std::exception &e) {
        log_(true, std::string("adaptation off: the source statistics failed: ") + e.what());
        return;
    }
    source_.clear();
    source_.shrink_to_fit();
    auto last = std::chrono::steady_clock::now() - options_.interval;
    for (;;) {
        std::vector<cv::Mat> snapshot;
        {
            std::unique_lock lock(mutex_);
            for (;;) {
                if (stopping_)
                    return;
                const auto due = last + options_.interval;
                if (fresh_ >= options_.fresh && std::chrono::steady_clock::now() >= due)
                    break;
                if (fresh_ >= options_.fresh)
                    wake_.wait_until(lock, due);
                else
                    wake_.wait(lock);
            }
            snapshot.reserve(window_.size());
            for (const auto &m : window_)
                snapshot.push_back(m.clone());
            fresh_ = 0;
        }
        const auto start = std::chrono::steady_clock::now();
        last = start;
        try {
            Adaptation candidate;
            candidate.channels =
                model_->recalibrate(source_stats, to_blob_(snapshot), options_.recalibration);
            if (options_.learn) {
                std::string note;
                options_.learn(candidate, note);
                if (!note.empty())
                    log_(false, note);
            }
            Report report;
            report.inputs = snapshot.size();
            report.ms =
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                    .count();
            report.bytes = adaptation_bytes(candidate);
            std::string why;
            const Verdict verdict =
                options_.judge ? options_.judge(candidate, why) : Verdict::install;
            if (verdict == Verdict::install) {
                install_(candidate, report);
            } else if (verdict == Verdict::revert) {
                log_(true, "adaptation refused, back to the shipped model: " + why);
                install_(Adaptation{}, report);
            } else {
                log_(false, "adaptation refused, the model stays as it is: " + why);
            }
        } catch (const std::exception &e) {
            log_(true, std::string("adaptation failed, the model stays as it was: ") + e.what());
        }
    }
}

} // namespace inference_opencv
