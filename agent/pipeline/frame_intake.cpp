#include "agent/pipeline/frame_intake.hpp"

#include "agent/pipeline/offload_codec.hpp"
#include "common/topics.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace tierd {
namespace {

// RGB8 frames become BGR8 here, the one colour order the rest of the host uses.
cv::Mat to_bgr(const cv::Mat &rgb) {
    cv::Mat bgr(rgb.rows, rgb.cols, CV_8UC3);
    const int from_to[] = {0, 2, 1, 1, 2, 0};
    cv::mixChannels(&rgb, 1, &bgr, 1, from_to, 3);
    return bgr;
}

} // namespace

FrameIntake::FrameIntake(uv_loop_t *loop, Options options, std::shared_ptr<PluginInstance> source,
                         std::string failure, std::function<void()> on_images,
                         std::function<std::size_t()> tasks_running)
    : loop_(loop), options_(std::move(options)), source_(std::move(source)),
      message_source_(options_.source.kind == SourceKind::topic ||
                      (source_ && !source_->is_pull_source())),
      on_images_(std::move(on_images)), tasks_running_(std::move(tasks_running)),
      decoder_(
          loop, source_ ? std::min(source_->max_concurrent_calls(), 64u) : 1u, 8,
          [this](std::vector<Message> &batch) {
              for (auto &m : batch)
                  decode(m);
          },
          [this](Message m) { decoded(std::move(m)); }, "input decode"),
      error_(std::move(failure)) {}

std::string FrameIntake::kind_text() const {
    return options_.source.kind == SourceKind::plugin
               ? options_.source.kind_name
               : std::string(to_string(options_.source.kind));
}

std::string FrameIntake::description() const {
    if (!description_.empty())
        return description_;
    if (message_source_)
        return "topic:" + topics::device_topic(options_.device_id, topics::DeviceLeaf::input);
    return kind_text() + ":" + options_.source.path;
}

void FrameIntake::start() {
    if (!source_) {
        state_ = "failed";
        if (error_.empty())
            error_ = "no source plugin is running";
        spdlog::error("source: {}", error_);
        return;
    }
    description_ = source_->describe_source();
    if (description_.empty())
        description_ = description();
    state_ = "running";
    spdlog::info("source: {}", description_);
    read_ahead();
}

void FrameIntake::push(std::string payload) {
    if (stopping_ || !message_source_)
        return;
    ++pushed_;
    const std::size_t waiting = buffered_.size() + decoder_.pending() + decoder_.running() +
                                (tasks_running_ ? tasks_running_() : 0);
    const bool over_count = waiting >= options_.max_waiting;
    const bool over_bytes =
        buffered_bytes_ + decoding_bytes_ + payload.size() > options_.max_waiting_bytes;
    if (over_count || over_bytes) {
        // drop-oldest makes room by evicting buffered images, oldest first, when that is
        // enough; what is decoding or running cannot be taken back.
        bool room = false;
        if (options_.overflow == OverflowPolicy::drop_oldest) {
            while (!buffered_.empty()) {
                buffered_bytes_ -= image_bytes(buffered_.front());
                buffered_.pop_front();
                ++dropped_;
                const std::size_t now_waiting = waiting - (over_count ? 1 : 0);
                if (now_waiting < options_.max_waiting &&
                    buffered_bytes_ + decoding_bytes_ + payload.size() <=
                        options_.max_waiting_bytes) {
                    room = true;
                    break;
                }
            }
        }
        if (!room) {
            ++dropped_;
            return;
        }
    }
    decoding_bytes_ += payload.size();
    Message m;
    m.seq = pushed_ - 1;
    m.payload = std::move(payload);
    decoder_.push(std::move(m));
}

// Worker thread: the message's image, by the host's codec ("TDI1") or the plugin's.
void FrameIntake::decode(Message &m) const {
    if (m.payload.rfind("TDI1", 0) == 0) {
        std::string error;
        auto request = decode_offload_request(m.payload, error);
        if (!request || request->image.empty()) {
            m.outcome = Message::Outcome::undecodable;
            m.why = request ? "an offload request without an image" : error;
            return;
        }
        const std::uint64_t pixels = static_cast<std::uint64_t>(request->image.total());
        if (options_.max_pixels > 0 && pixels > options_.max_pixels) {
            m.outcome = Message::Outcome::too_large;
            m.why = std::to_string(request->image.cols) + "x" +
                    std::to_string(request->image.rows) + " = " + std::to_string(pixels) +
                    " pixels, over the limit of " + std::to_string(options_.max_pixels) +
                    " (limits.max_pixels)";
            return;
        }
        m.image.image = request->image;
        m.image.format = request->image.channels() == 1 ? TIERD_PIXEL_GRAY8 : TIERD_PIXEL_BGR8;
        m.image.id = request->task_id;
        m.outcome = Message::Outcome::image;
        return;
    }
    if (!source_) {
        m.outcome = Message::Outcome::undecodable;
        m.why = "no source plugin decodes images";
        return;
    }
    tierd_frame frame{};
    auto r = source_->decode(m.payload, options_.max_pixels, frame);
    if (!r.ok()) {
        m.outcome =
            r.code == TIERD_ERANGE ? Message::Outcome::too_large : Message::Outcome::undecodable;
        m.why = r.error.empty() ? r.to_string() : r.error;
        return;
    }
    m.image = SourceImage::from_frame(source_, frame);
    if (m.image.id.empty())
        m.image.id = "input#" + std::to_string(m.seq);
    m.outcome = Message::Outcome::image;
}

void FrameIntake::decoded(Message m) {
    decoding_bytes_ -= std::min(decoding_bytes_, m.payload.size());
    switch (m.outcome) {
    case Message::Outcome::image:
        if (stopping_)
            return;
        add(std::move(m.image));
        on_images_();
        return;
    case Message::Outcome::too_large:
        ++too_large_;
        spdlog::warn("source: an input message was refused as too_large: {}", m.why);
        break;
    case Message::Outcome::undecodable:
    case Message::Outcome::pending:
        ++undecodable_;
        spdlog::warn("source: an input message is not a decodable image ({}); dropped", m.why);
        break;
    }
    last_rejection_ = std::move(m.why);
}

std::size_t FrameIntake::image_bytes(const SourceImage &image) const {
    return image.image.total() * image.image.elemSize();
}

void FrameIntake::add(SourceImage image) {
    if (image.format == TIERD_PIXEL_RGB8) {
        image.image = to_bgr(image.image);
        image.format = TIERD_PIXEL_BGR8;
        image.lease.reset();
    }
    buffered_bytes_ += image_bytes(image);
    buffered_.push_back(std::move(image));
}

SourceImage FrameIntake::take() {
    SourceImage image = std::move(buffered_.front());
    buffered_.pop_front();
    buffered_bytes_ -= std::min(buffered_bytes_, image_bytes(image));
    ++taken_;
    return image;
}

void FrameIntake::read_ahead() {
    if (message_source_ || reading_ || source_done_ || stopping_ || !source_ ||
        state_ != "running" || buffered_.size() >= kReadBatch)
        return;
    const std::uint64_t limit = static_cast<std::uint64_t>(options_.source.limit);
    std::size_t want = kReadBatch;
    if (limit > 0) {
        const std::uint64_t read = taken_ + buffered_.size();
        if (read >= limit) {
            source_done_ = true;
            return;
        }
        want = static_cast<std::size_t>(std::min<std::uint64_t>(want, limit - read));
    }
    reading_ = true;
    struct Batch {
        std::vector<SourceImage> images;
        std::string error;
        bool end = false;
    };
    auto batch = std::make_shared<Batch>();
    queue_loop_work(
        loop_,
        [src = source_, batch, want] {
            while (batch->images.size() < want) {
                tierd_frame frame{};
                auto r = src->next(frame);
                if (r.code == TIERD_EOF) {
                    batch->end = true;
                    break;
                }
                if (!r.ok()) {
                    batch->error = r.error.empty() ? r.to_string() : r.error;
                    batch->end = true;
                    break;
                }
                batch->images.push_back(SourceImage::from_frame(src, frame));
            }
        },
        [this, batch] {
            reading_ = false;
            for (auto &image : batch->images) {
                // A frame the plugin left unnamed is named by its place in the stream.
                if (image.id.empty())
                    image.id = kind_text() + "#" + std::to_string(read_);
                ++read_;
                add(std::move(image));
            }
            if (!batch->error.empty()) {
                error_ = batch->error;
                spdlog::error("source: {}", error_);
            }
            if (batch->end)
                source_done_ = true;
            on_images_();
        },
        "source read");
}

void FrameIntake::stop() {
    stopping_ = true;
    buffered_.clear();
    buffered_bytes_ = 0;
    if (state_ == "running" || state_ == "starting")
        state_ = "stopped";
}

void FrameIntake::add_stats(nlohmann::json &stats) const {
    stats["pushed"] = pushed_;
    stats["dropped"] = dropped_;
    stats["undecodable"] = undecodable_;
    stats["too_large"] = too_large_;
}

} // namespace tierd
