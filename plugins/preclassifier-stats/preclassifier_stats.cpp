// preclassifier-stats: cheap OpenCV statistics of the task image (on its gray version)
// and a routing hint: HEAVY when the edge density exceeds `heavy_edge_density`.
//
// Features, in order (see feature_names):
//   mean_brightness  mean gray level, 0..255
//   contrast         standard deviation of the gray levels
//   edge_density     fraction of pixels Canny marks as edges, 0..1
//   sharpness        variance of the Laplacian
//   entropy          Shannon entropy of the 256-bin histogram, bits (0..8)
//
// classify() runs on a worker thread; it allocates a few image-sized buffers.
#include <tierd/plugin.hpp>
#include <tierd/plugin_opencv.hpp>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <string>

namespace {

class PreclassifierStats {
  public:
    static constexpr const char *name = "preclassifier-stats";
    static constexpr const char *version = "0.1.0";
    static constexpr const char *description =
        "image statistics (brightness, contrast, edges, sharpness, entropy); HEAVY when edgy";

    static constexpr tierd_config_key config_keys[] = {
        tierd::key_double("heavy_edge_density", "0.15", 0.0, 1.0,
                          "route HEAVY when the Canny edge fraction exceeds this"),
        tierd::key_double("canny_low", "50", 0.0, 1000.0, "Canny hysteresis low threshold"),
        tierd::key_double("canny_high", "150", 0.0, 1000.0, "Canny hysteresis high threshold"),
    };

    static constexpr const char *const feature_names[] = {"mean_brightness", "contrast",
                                                          "edge_density", "sharpness", "entropy"};
    static constexpr size_t feature_count = sizeof(feature_names) / sizeof(feature_names[0]);

    PreclassifierStats(tierd::Host host, const tierd::Config &config)
        : host_(host), settings_(load(config)) {}

    int reload(const tierd::Config &config) {
        settings_ = load(config);
        return TIERD_OK;
    }

    int classify(const tierd_task &task, tierd_preclass_result &out) {
        cv::Mat gray;
        if (int rc = to_gray(task.image, gray); rc != TIERD_OK)
            return rc;

        cv::Scalar mean, stddev;
        cv::meanStdDev(gray, mean, stddev);

        cv::Mat edges;
        cv::Canny(gray, edges, settings_.canny_low, settings_.canny_high);
        const double edge_density =
            static_cast<double>(cv::countNonZero(edges)) / static_cast<double>(gray.total());

        cv::Mat laplacian;
        cv::Laplacian(gray, laplacian, CV_64F);
        cv::Scalar lap_mean, lap_stddev;
        cv::meanStdDev(laplacian, lap_mean, lap_stddev);

        const float values[feature_count] = {
            static_cast<float>(mean[0]), static_cast<float>(stddev[0]),
            static_cast<float>(edge_density), static_cast<float>(lap_stddev[0] * lap_stddev[0]),
            static_cast<float>(entropy(gray))};

        out.route =
            edge_density > settings_.heavy_edge_density ? TIERD_ROUTE_HEAVY : TIERD_ROUTE_LIGHT;
        out.light_ok_probability = -1.0f; // this plugin has no calibrated estimate
        out.feature_names = feature_names;
        host_.counter_add(out.route == TIERD_ROUTE_HEAVY ? "routed_heavy" : "routed_light", 1.0);
        return tierd::write_features(out, values, feature_count);
    }

  private:
    struct Settings {
        double heavy_edge_density = 0.15;
        double canny_low = 50;
        double canny_high = 150;
    };

    static Settings load(const tierd::Config &config) {
        Settings s;
        s.heavy_edge_density = config.get_double("heavy_edge_density");
        s.canny_low = config.get_double("canny_low");
        s.canny_high = config.get_double("canny_high");
        if (s.canny_low > s.canny_high)
            throw tierd::Error(TIERD_ECONFIG, "canny_low must not exceed canny_high");
        return s;
    }

    // A gray view or copy of the task image; TIERD_EINVAL (with a reason) if malformed.
    int to_gray(const tierd_image *image, cv::Mat &gray) const {
        cv::Mat view;
        if (const char *why = tierd::image_view(image, view)) {
            host_.set_error(std::string("classify: ") + why);
            return TIERD_EINVAL;
        }
        if (view.channels() == 1)
            gray = view;
        else
            cv::cvtColor(view, gray,
                         image->format == TIERD_PIXEL_BGR8 ? cv::COLOR_BGR2GRAY
                                                           : cv::COLOR_RGB2GRAY);
        return TIERD_OK;
    }

    static double entropy(const cv::Mat &gray) {
        cv::Mat hist;
        const int channels[] = {0};
        const int bins[] = {256};
        const float range[] = {0.0f, 256.0f};
        const float *ranges[] = {range};
        cv::calcHist(&gray, 1, channels, cv::Mat(), hist, 1, bins, ranges);
        const double total = static_cast<double>(gray.total());
        double h = 0.0;
        for (int i = 0; i < 256; ++i) {
            const double p = static_cast<double>(hist.at<float>(i)) / total;
            if (p > 0.0)
                h -= p * std::log2(p);
        }
        return h;
    }

    tierd::Host host_;
    Settings settings_;
};

} // namespace

TIERD_PLUGIN(PreclassifierStats, TIERD_KIND_PRECLASSIFIER)
