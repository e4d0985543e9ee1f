/*
 * tierd/plugin.h — the C ABI between the tierd agent (the "host") and its plugins.
 *
 * This is the one header a plugin needs. It is plain C so that plugins can be written
 * in any language with a C FFI and built with any compiler; nothing here exposes a C++
 * type, throws, or lets memory allocated on one side be freed on the other (except
 * through the explicit free function in the services table).
 *
 * ---------------------------------------------------------------------------------
 * Compatibility rule
 *   An ABI version is (major << 16 | minor). Same major = compatible: a host serves
 *   every minor of a major it knows. Minors only *append* fields to structs and
 *   functions to tables; a major bump may change anything. Every struct that crosses
 *   the boundary starts with `struct_size`, set by whoever fills it in, and the reader
 *   reads only the fields that size covers. So a plugin built against 1.0 keeps
 *   loading in a 1.3 host, and a 1.3 plugin in a 1.0 host sees NULL/0 where the newer
 *   fields would be.
 *
 * Negotiation (both ways, as in mosquitto's plugin interface)
 *   The host calls the plugin's one exported symbol, `tierd_plugin_entry`, with the
 *   list of ABI versions it serves. The plugin answers with a descriptor whose
 *   `abi_version` is one of them, or returns TIERD_EVERSION to refuse.
 *
 * Threads (as in libuv: one loop thread, one thread-safe entry)
 *   The host runs one event-loop thread that owns all agent state, and a bounded
 *   pool of worker threads. Each callback below says which of the two calls it and
 *   whether it may block. "Loop thread, must not block" means: return in well under a
 *   millisecond, no file or network I/O, no sleeping, no waiting on locks held by
 *   workers. The host never calls two callbacks of the same instance at the same time,
 *   with one exception a plugin opts into (ABI 1.3): when its descriptor's
 *   max_concurrent_calls is N > 1, up to N worker-thread ops (classify, infer,
 *   infer_batch, infer_head, infer_tail, next, decode) of one instance may run at once,
 *   each on its own worker; lifecycle callbacks (create, start, reload, stop, destroy)
 *   still never overlap anything, and loop-thread ops never overlap each other.
 *
 * Pointers
 *   "borrowed": valid only for the duration of the call; copy what you keep.
 *   "static":   must stay valid until the plugin is unloaded (string literals, static
 *               tables).
 *   "transferred": ownership moves; the text says who frees it and with what.
 *   Strings are NUL-terminated UTF-8.
 *
 * Errors
 *   Functions return 0 (TIERD_OK) or a negative TIERD_E* code. A plugin can attach a
 *   human-readable reason with services->set_error() before returning an error; the
 *   host logs it and reports it in status and command replies.
 * ---------------------------------------------------------------------------------
 */
#ifndef TIERD_PLUGIN_H
#define TIERD_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Versions ------------------------------------------------------------------- */

/* Written without casts so the macros stay warning-free in C++ (-Wold-style-cast). */
#define TIERD_ABI_MAKE(major, minor) ((major)*65536u + (minor))
#define TIERD_ABI_MAJOR_OF(version) ((version) >> 16)
#define TIERD_ABI_MINOR_OF(version) ((version)&0xffffu)

/* The ABI this header describes. A plugin compiled against it speaks this version. */
#define TIERD_ABI_MAJOR 1
#define TIERD_ABI_MINOR 7
/* History: 1.0 first release. 1.1 appends tierd_task.local_result and
 * tierd_inference_ops.infer_batch. 1.2 adds split execution (tierd_tensor,
 * tierd_inference_ops.describe/infer_head/infer_tail, tierd_decision.wire) and the
 * multi-objective scheduler's inputs (tierd_link_state's spread and queue fields,
 * tierd_schedule_context's profiles, power and local queue time). 1.3 adds the fifth
 * plugin kind, sources (TIERD_KIND_SOURCE, tierd_frame, tierd_source_ops, TIERD_EOF),
 * and tierd_plugin_descriptor.max_concurrent_calls (worker-thread ops of one instance
 * may run in parallel when the plugin says so). 1.4 adds video object detection:
 * tierd_detection, tierd_inference_result's detections and features,
 * tierd_task's stream and frame_index, tierd_decision's key frame, tierd_stream_state in
 * tierd_schedule_context, and tierd_fusion_ops.fuse_frame with tierd_upstream_result.
 * 1.5 adds learning on the device: tierd_teacher_label and tierd_inference_ops.learn.
 * 1.6 adds adaptive key frames: tierd_inference_result.warp_error (a fusion plugin says
 * how well it carried the upstream answer to the frame) and tierd_stream_state's
 * warp_error fields (the scheduler sees the newest). 1.7 extends learn() to detectors: a
 * plugin that speaks 1.7 also gets the upstream's boxes for each video key frame it
 * detected on (tierd_teacher_label with label -1; see learn()). */
#define TIERD_ABI_VERSION TIERD_ABI_MAKE(TIERD_ABI_MAJOR, TIERD_ABI_MINOR)

/* The one symbol a plugin exports. Build plugins with -fvisibility=hidden and mark
 * only this function with TIERD_PLUGIN_EXPORT. */
#define TIERD_PLUGIN_ENTRY_SYMBOL "tierd_plugin_entry"

#if defined(_WIN32)
#define TIERD_PLUGIN_EXPORT __declspec(dllexport)
#else
#define TIERD_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

/* ---- Errors --------------------------------------------------------------------- */

typedef enum tierd_error {
    TIERD_OK = 0,
    TIERD_EINVAL = -1,    /* an argument or input is invalid */
    TIERD_ENOMEM = -2,    /* out of memory */
    TIERD_EVERSION = -3,  /* no ABI version in common */
    TIERD_ENOTSUP = -4,   /* operation not supported by this plugin or host */
    TIERD_EIO = -5,       /* file, device or network I/O failed */
    TIERD_ENOENT = -6,    /* a named thing (model, key, file) does not exist */
    TIERD_ERANGE = -7,    /* a caller-provided buffer is too small, or a value out of range */
    TIERD_EBUSY = -8,     /* temporarily unable; try again later */
    TIERD_ETIMEDOUT = -9, /* a deadline passed */
    TIERD_EPLUGIN = -10,  /* the plugin failed internally (see its set_error message) */
    TIERD_ECONFIG = -11,  /* configuration rejected */
    TIERD_EOF = -12       /* (ABI 1.3) a source has no more frames */
} tierd_error;

/* Short text for an error code. Returns a static string; unknown codes give
 * "unknown error". Any thread. */
static inline const char *tierd_strerror(int err) {
    switch (err) {
    case TIERD_OK: return "success";
    case TIERD_EINVAL: return "invalid argument";
    case TIERD_ENOMEM: return "out of memory";
    case TIERD_EVERSION: return "no compatible ABI version";
    case TIERD_ENOTSUP: return "operation not supported";
    case TIERD_EIO: return "input/output error";
    case TIERD_ENOENT: return "no such entry";
    case TIERD_ERANGE: return "buffer too small or value out of range";
    case TIERD_EBUSY: return "resource busy";
    case TIERD_ETIMEDOUT: return "timed out";
    case TIERD_EPLUGIN: return "plugin failure";
    case TIERD_ECONFIG: return "invalid configuration";
    case TIERD_EOF: return "end of stream";
    default: return "unknown error";
    }
}

/* Symbolic name of an error code ("TIERD_EINVAL"); static string. Any thread. */
static inline const char *tierd_err_name(int err) {
    switch (err) {
    case TIERD_OK: return "TIERD_OK";
    case TIERD_EINVAL: return "TIERD_EINVAL";
    case TIERD_ENOMEM: return "TIERD_ENOMEM";
    case TIERD_EVERSION: return "TIERD_EVERSION";
    case TIERD_ENOTSUP: return "TIERD_ENOTSUP";
    case TIERD_EIO: return "TIERD_EIO";
    case TIERD_ENOENT: return "TIERD_ENOENT";
    case TIERD_ERANGE: return "TIERD_ERANGE";
    case TIERD_EBUSY: return "TIERD_EBUSY";
    case TIERD_ETIMEDOUT: return "TIERD_ETIMEDOUT";
    case TIERD_EPLUGIN: return "TIERD_EPLUGIN";
    case TIERD_ECONFIG: return "TIERD_ECONFIG";
    case TIERD_EOF: return "TIERD_EOF";
    default: return "TIERD_EUNKNOWN";
    }
}

/* ---- Plugin kinds --------------------------------------------------------------- */

typedef enum tierd_plugin_kind {
    TIERD_KIND_SCHEDULER = 1,     /* decides where and with which model a task runs */
    TIERD_KIND_PRECLASSIFIER = 2, /* cheap per-input features and a routing hint */
    TIERD_KIND_INFERENCE = 3,     /* runs a model on an input */
    TIERD_KIND_FUSION = 4,        /* combines local and remote results */
    TIERD_KIND_SOURCE = 5         /* (ABI 1.3) produces the images tasks are made of */
} tierd_plugin_kind;

/* ---- Opaque host objects -------------------------------------------------------- */

/* One per plugin instance, created by the host before create() and valid until
 * destroy() returns. Pass it back to every services function so the host knows
 * which instance is talking (log prefix, metric namespace, error slot). */
typedef struct tierd_host tierd_host;

/* The plugin's resolved configuration (its TOML table after validation, with every
 * declared key present: the file's value or the declared default). Borrowed: valid
 * only during the create() or reload() call it is passed to. */
typedef struct tierd_config tierd_config;

/* ---- Declared configuration keys (the plugin's config map) ---------------------- */

typedef enum tierd_config_type {
    TIERD_CONFIG_BOOL = 1,   /* TOML boolean */
    TIERD_CONFIG_INT = 2,    /* TOML integer (int64), range checked with min/max */
    TIERD_CONFIG_DOUBLE = 3, /* TOML float or integer, range checked with min/max */
    TIERD_CONFIG_STRING = 4, /* TOML string */
    TIERD_CONFIG_ENUM = 5,   /* TOML string, one of `choices` */
    TIERD_CONFIG_PATH = 6    /* TOML string naming a file; "" means unset */
} tierd_config_type;

/* Flags on a tierd_config_key. */
#define TIERD_CONFIG_HAS_MIN 0x1u    /* `min` is enforced */
#define TIERD_CONFIG_HAS_MAX 0x2u    /* `max` is enforced */
#define TIERD_CONFIG_SECRET 0x4u     /* value never logged, shown as "<redacted>" */
#define TIERD_CONFIG_MUST_EXIST 0x8u /* PATH: a non-empty value must name a readable file */

/* One key the plugin accepts in its `[plugin.<name>]` table. The host validates the
 * table against these before create(): unknown keys, wrong types, values out of range
 * or not among the choices are reported with file:line:column, and --check-config
 * catches them. --print-default-config renders the same declarations as TOML.
 * All pointers are static. */
typedef struct tierd_config_key {
    uint32_t struct_size; /* sizeof(tierd_config_key) as the plugin was compiled */
    uint32_t flags;       /* TIERD_CONFIG_* flags */
    const char *name;     /* bare TOML key: [A-Za-z0-9_-]+ */
    tierd_config_type type;
    /* Default, written as the value would be in TOML but without quotes for strings:
     * "true", "4", "0.25", "cpu", "" (empty string). Must itself validate. */
    const char *default_value;
    double min; /* with TIERD_CONFIG_HAS_MIN */
    double max; /* with TIERD_CONFIG_HAS_MAX */
    /* ENUM: NULL-terminated list of the accepted strings; NULL otherwise. */
    const char *const *choices;
    const char *doc; /* one line, shown as the comment above the key */
} tierd_config_key;

/* ---- Data that flows through the pipeline --------------------------------------- */

typedef enum tierd_pixel_format {
    TIERD_PIXEL_GRAY8 = 1, /* 1 byte per pixel */
    TIERD_PIXEL_BGR8 = 2,  /* 3 bytes per pixel, OpenCV order */
    TIERD_PIXEL_RGB8 = 3   /* 3 bytes per pixel */
} tierd_pixel_format;

/* An image in host memory. Always borrowed by the plugin that receives it. */
typedef struct tierd_image {
    uint32_t struct_size;
    tierd_pixel_format format;
    int32_t width;
    int32_t height;
    int32_t stride_bytes; /* bytes from one row to the next, >= width * bytes per pixel */
    const uint8_t *data;  /* height * stride_bytes bytes */
} tierd_image;

typedef enum tierd_tier {
    TIERD_TIER_END = 1,  /* this device, the producer of the task */
    TIERD_TIER_EDGE = 2, /* an edge server, one network hop away */
    TIERD_TIER_CLOUD = 3 /* a cloud worker, beyond the edge */
} tierd_tier;

struct tierd_inference_result; /* defined below */

/* ABI 1.2. A float32 tensor for one image (no batch axis): the activation that crosses
 * a split point between the end (which runs a model's head) and the edge or cloud
 * (which runs its tail). Row-major (C order), shape[0] outermost.
 * As an input (infer_tail) everything is borrowed for the call and read-only.
 * As an output (infer_head) the host owns `data` and sets `capacity`; the plugin writes
 * rank, shape, count and up to capacity floats. If the tensor needs more than capacity,
 * the plugin sets count to the number needed and returns TIERD_ERANGE; the host may
 * retry with a larger buffer. */
typedef struct tierd_tensor {
    uint32_t struct_size;
    uint32_t rank;     /* 1..4 */
    int32_t shape[4];  /* shape[0..rank-1], each >= 1 */
    float *data;       /* count floats */
    uint32_t capacity; /* floats available at data (outputs; set by the host) */
    uint32_t count;    /* product of the shape */
} tierd_tensor;

/* ABI 1.4. One object found in an image: an axis-aligned box in pixels of the image the
 * result is about (tierd_inference_result.image_width x image_height; origin top-left,
 * x to the right, y down), its class and its confidence. This layout is frozen for the
 * whole of major 1 (arrays of it cross the boundary with no per-element struct_size):
 * anything a later minor adds per detection goes into a separate, parallel array. */
typedef struct tierd_detection {
    float x, y;          /* top-left corner */
    float width, height; /* > 0 */
    int32_t class_id;    /* 0-based index into the model's classes (COCO category_id - 1) */
    float score;         /* confidence in [0, 1] */
    int32_t track_id;    /* the same object across frames, as a tracker says; -1 = none */
    uint32_t flags;      /* TIERD_DETECTION_* bits; 0 = found in this image by this model */
} tierd_detection;

/* tierd_detection.flags */
#define TIERD_DETECTION_UPSTREAM 0x1u   /* comes from an upstream tier's result */
#define TIERD_DETECTION_PROPAGATED 0x2u /* moved from an earlier frame (flow, tracker) */

/* One unit of work (an image, a video frame). Borrowed by every callback. */
typedef struct tierd_task {
    uint32_t struct_size;
    const char *task_id;  /* unique per device */
    const char *source;   /* where it came from: "file:...", "camera0", "cmd" */
    uint64_t created_ns;  /* monotonic clock (services->monotonic_ns) */
    uint64_t deadline_ns; /* monotonic; 0 = none */
    const tierd_image *image;
    void *reserved[4];
    /* ABI 1.1. The local model's result, when the host ran it before this callback
     * ([pipeline] local_first = true: the pre-classifier and the scheduler see it); NULL
     * otherwise, and always NULL in the inference plugin's own infer(). Borrowed for the
     * call, read-only, like the task. A 1.0 host does not have the field: read it with
     * tierd_task_local_result(), which checks struct_size. */
    const struct tierd_inference_result *local_result;
    /* ABI 1.4 (check struct_size). Video: the stream the frame belongs to (the source's
     * name, e.g. "video.avi", "camera0"; tasks of one stream share it) and the frame's
     * 0-based position in it, or NULL and -1 for a task that is not part of a stream.
     * `captured_ns` is the frame's capture time (monotonic), 0 if unknown. */
    const char *stream;
    int64_t frame_index;
    uint64_t captured_ns;
} tierd_task;

/* task->local_result when the host's struct has the field (ABI >= 1.1), else NULL.
 * Any thread. */
static inline const struct tierd_inference_result *tierd_task_local_result(const tierd_task *task) {
    if (task == NULL ||
        task->struct_size < offsetof(tierd_task, local_result) + sizeof(task->local_result))
        return NULL;
    return task->local_result;
}

typedef enum tierd_route {
    TIERD_ROUTE_UNKNOWN = 0, /* no opinion */
    TIERD_ROUTE_LIGHT = 1,   /* a light (local) model should do */
    TIERD_ROUTE_HEAVY = 2    /* needs a stronger model (usually upstream) */
} tierd_route;

/* What a pre-classifier found. The host allocates `features` (feature_capacity
 * floats) and keeps ownership; the plugin writes up to feature_capacity values and
 * sets feature_count. If it has more features than fit, it writes what fits, sets
 * feature_count to the number it has and returns TIERD_ERANGE. */
typedef struct tierd_preclass_result {
    uint32_t struct_size;
    float *features;           /* host-owned buffer, borrowed for the call */
    uint32_t feature_capacity; /* set by the host */
    uint32_t feature_count;    /* set by the plugin */
    /* Static array of feature_count names (the plugin's own table), or NULL. */
    const char *const *feature_names;
    tierd_route route;          /* the plugin's hint */
    float light_ok_probability; /* P(light model answers right) in [0,1], or -1 if unknown */
} tierd_preclass_result;

/* ABI 1.4. Where a video stream stands when the scheduler decides on one of its frames:
 * what a key-frame policy weighs (time since the last key frame, whether answers are
 * still on their way, how sure the end's own detector is, how much the scene changed).
 * Filled by the host; borrowed for the decide() call. */
typedef struct tierd_stream_state {
    uint32_t struct_size;
    int64_t frame_index;           /* this frame's position in the stream */
    int64_t last_key_frame;        /* frame_index of the last frame sent up, -1 = none yet */
    uint32_t key_frames_in_flight; /* sent up and not yet answered (or timed out) */
    double frame_interval_ms;      /* measured time between frames (EWMA); 0 if unknown */
    /* Age of the newest upstream result now: time since the frame it is about was
     * captured; < 0 when none has arrived. */
    double upstream_age_ms;
    /* The end's own detector on this frame (the host ran it first: local_first) or, when
     * it has not, on the previous frame: how many boxes at or above the fusion's score
     * threshold, their mean score, and the change in that count since the last key frame
     * (objects entering or leaving). -1 / -1 / 0 when unknown. */
    int32_t local_detections;
    double local_mean_score;
    int32_t local_detections_change;
    /* How different this frame is from the last key frame: the mean absolute difference
     * of 32x18 gray thumbnails, 0 (same) .. 1 (black vs white); < 0 when unknown. */
    double scene_change;
    /* ABI 1.6 (check struct_size). The newest warp error the fusion plugin reported for
     * this stream (tierd_inference_result.warp_error): measured on frame
     * warp_error_frame (an earlier frame: fusion runs after the decision) with the answer
     * about key frame warp_error_key_frame. -1 / -1 / -1 when none has been reported (no
     * answer fused yet, or a fusion plugin that does not measure it). */
    double warp_error;
    int64_t warp_error_frame;
    int64_t warp_error_key_frame;
} tierd_stream_state;

/* The network link to one upstream tier, as the host currently estimates it. */
typedef struct tierd_link_state {
    uint32_t struct_size;
    int32_t connected;    /* 1 if the tier is reachable now */
    double bandwidth_bps; /* estimated upload rate; 0 if unknown */
    double rtt_ms;        /* estimated; 0 if unknown */
    /* ABI 1.2 (check struct_size). Estimates are EWMAs over link probes and real
     * offload round trips; the spreads are their exponentially weighted standard
     * deviations. */
    double bandwidth_stddev_bps; /* 0 if unknown */
    double rtt_stddev_ms;        /* 0 if unknown */
    double queue_ms;             /* expected wait inside the tier before compute; 0 if unknown */
    int32_t queue_depth;         /* requests waiting there at the last reply; -1 if unknown */
    int32_t degraded;            /* 1 after repeated timeouts, until a reply arrives */
} tierd_link_state;

/* What the scheduler may look at besides the task. Borrowed. */
typedef struct tierd_schedule_context {
    uint32_t struct_size;
    tierd_tier local_tier;         /* the role of this agent */
    const tierd_link_state *edge;  /* NULL if no edge tier is known */
    const tierd_link_state *cloud; /* NULL if no cloud tier is known */
    double battery_fraction;       /* 0..1, or -1 on mains / unknown */
    uint32_t local_queue_depth;    /* tasks waiting for the local worker pool */
    void *reserved[4];
    /* ABI 1.2 (check struct_size before reading). */
    /* Measured model profiles of every tier, as one JSON document (docs/plugins.md,
     * "Profiles"): {"end": {...}, "edge": {...}|null, "cloud": {...}|null}, each the
     * tier's `profile` command output. NULL when no profile exists yet. Borrowed for the
     * call; it changes only when profiles_generation does, so parse it once per
     * generation and keep the parsed form. */
    const char *profiles_json;
    uint64_t profiles_generation;
    double local_queue_ms;  /* expected wait for a local worker before compute starts */
    double compute_power_w; /* this device's power while computing, above idle; < 0 unknown */
    /* Where compute_power_w comes from: "measured:<sensor>" or "estimated:<profile>". */
    const char *power_source;
    /* ABI 1.4 (check struct_size). The task's video stream, or NULL when the task is not
     * a frame of one (task->stream == NULL). */
    const tierd_stream_state *stream;
} tierd_schedule_context;

/* A placement. The host zero-fills it and sets struct_size; the plugin fills in. */
typedef struct tierd_decision {
    uint32_t struct_size;
    tierd_tier tier;     /* where the (tail of the) task runs */
    int32_t split_layer; /* -1 = no split; else the head runs locally up to this layer */
    char model[64];      /* model name; "" = the inference plugin's default */
    char reason[128];    /* short human-readable why, for logs and task records */
    /* ABI 1.2. With split_layer >= 0 (a cut `layer` the inference plugin's describe()
     * lists for `model`): how the crossing tensor travels, "f16" or "i8" (docs/mqtt.md,
     * "Offload"); "" = f16. The host zero-fills it; a 1.1 host has no such field
     * (struct_size tells). */
    char wire[8];
    /* ABI 1.4. Key frame: with `tier` = TIERD_TIER_END, also send this frame to
     * `key_frame_tier` (TIERD_TIER_EDGE or _CLOUD; 0 = no key frame) to run
     * `key_frame_model` there ("" = that tier's default). The local result is not held
     * for the answer: it goes out at once, and the answer, when it arrives, is handed to
     * the fusion plugin with the stream's later frames (tierd_upstream_result). The
     * host zero-fills both fields; ignored for a task that is not a stream frame. */
    tierd_tier key_frame_tier;
    char key_frame_model[64];
} tierd_decision;

/* An inference outcome. The host allocates `scores` and keeps ownership; the plugin
 * writes up to score_capacity class scores (ERANGE rule as for features). */
typedef struct tierd_inference_result {
    uint32_t struct_size;
    float *scores;           /* host-owned buffer, borrowed for the call */
    uint32_t score_capacity; /* set by the host */
    uint32_t score_count;    /* set by the plugin: number of classes */
    int32_t top_class;       /* argmax, or -1 if none */
    float top_score;         /* softmax probability of top_class */
    char model[64];          /* model that produced it */
    double compute_ms;       /* wall time of the inference itself */
    double energy_j;         /* energy attributed to it; < 0 if unknown */
    /* Where energy_j comes from: "measured:<sensor>" or "estimated:<profile>". */
    char energy_source[64];
    /* ABI 1.4 (check struct_size; read these through the helpers below). Detection: the
     * host owns `detections` (detection_capacity entries; NULL and 0 when it wants none)
     * and the plugin writes at most detection_capacity of them — when it found more, the
     * highest-scoring ones — and sets detection_count. A classifier leaves
     * detection_count 0. image_width x image_height is the size of the image the boxes
     * are about (the task's image for infer(); the plugin sets it whenever it writes
     * detections). A detector sets score_count 0 and top_class -1 unless it also
     * classifies the image as a whole. */
    tierd_detection *detections;
    uint32_t detection_capacity;
    uint32_t detection_count;
    int32_t image_width;
    int32_t image_height;
    /* ABI 1.4. Features, when the host asks for them (non-NULL): the model's feature map
     * for this image, e.g. for feature-level fusion; buffer rule as in tierd_tensor (host
     * owns data and sets capacity; TIERD_ERANGE with count = floats needed). NULL = not
     * asked; a plugin that has none leaves count 0. A detector writes [C, H, W] (rank 3,
     * its grid covering the whole image).
     * As input (a fusion plugin's `local` and `upstream->result`, borrowed for the call,
     * read-only): the host's copy of such a map, or NULL / count 0 when there is none. An
     * upstream map that travelled with only some cells (docs/feature-fusion.md, "regions")
     * has NaN in every channel of the cells not sent. */
    tierd_tensor *features;
    /* ABI 1.6 (check struct_size; write it with tierd_result_set_warp_error). Written by a
     * fusion plugin's fuse_frame() only: how far the upstream answer it used for this frame
     * had to be carried — the absolute difference, in gray levels scaled to [0, 1],
     * between this frame and the answer's key frame moved onto it by the plugin's motion
     * estimate, averaged over the frame or the part the plugin documents (fusion-feature:
     * the whole frame, or its worst tenth of blocks). 0 on the key frame itself; motion
     * the plugin could not follow and objects that appeared or left raise it. A plugin
     * that stays in [0, 1] with one meaning per configuration lets one threshold serve
     * (scheduler-mo's key_frame_warp_error). The host sets -1 before the call: "not
     * measured" (no upstream answer used, or a plugin that does not measure it); the
     * host hands the newest value to the scheduler (tierd_stream_state.warp_error), where
     * a key-frame policy may send a new key frame when it grows. Ignored elsewhere. */
    double warp_error;
} tierd_inference_result;

/* Sets out->warp_error when the host's struct has the field (ABI >= 1.6); a no-op on an
 * older host. Any thread. */
static inline void tierd_result_set_warp_error(struct tierd_inference_result *out, double value) {
    if (out != NULL &&
        out->struct_size >= offsetof(tierd_inference_result, warp_error) + sizeof(out->warp_error))
        out->warp_error = value;
}

/* The detection buffer of `result` when the struct has the 1.4 fields, else NULL
 * (capacity 0). Any thread. */
static inline tierd_detection *tierd_result_detections(struct tierd_inference_result *result,
                                                       uint32_t *capacity) {
    if (result == NULL || result->struct_size < offsetof(struct tierd_inference_result, features) +
                                                    sizeof(result->features)) {
        if (capacity != NULL)
            *capacity = 0;
        return NULL;
    }
    if (capacity != NULL)
        *capacity = result->detections != NULL ? result->detection_capacity : 0;
    return result->detections;
}

/* How many detections a (1.4 or older) result carries; 0 for an older struct. */
static inline uint32_t tierd_result_detection_count(const struct tierd_inference_result *result) {
    if (result == NULL || result->detections == NULL ||
        result->struct_size <
            offsetof(struct tierd_inference_result, features) + sizeof(result->features))
        return 0;
    return result->detection_count < result->detection_capacity ? result->detection_count
                                                                : result->detection_capacity;
}

/* ---- Kind-specific operations --------------------------------------------------- */

typedef struct tierd_scheduler_ops {
    uint32_t struct_size;
    /* Decide where `task` runs. `pre` is the pre-classifier's result or NULL.
     * Loop thread; must not block. All inputs borrowed; `out` host-owned. */
    int (*decide)(void *instance, const tierd_task *task, const tierd_preclass_result *pre,
                  const tierd_schedule_context *context, tierd_decision *out);
} tierd_scheduler_ops;

typedef struct tierd_preclassifier_ops {
    uint32_t struct_size;
    /* Compute features of task->image and a routing hint. Worker thread; may block.
     * Inputs borrowed; `out` host-owned (see tierd_preclass_result). */
    int (*classify)(void *instance, const tierd_task *task, tierd_preclass_result *out);
} tierd_preclassifier_ops;

/* ABI 1.5. A label for learning on the device: the answer a stronger model (the teacher)
 * gave for a task this device placed upstream, with what the host knows of it. Borrowed
 * for the learn() call, read-only; copy what you keep. */
typedef struct tierd_teacher_label {
    uint32_t struct_size;
    /* The teacher's class (its top_class), >= 0. ABI 1.7: -1 for a video key frame's
     * detections — the teacher's boxes are then answer->detections (read them with
     * tierd_result_detections(); detection_count may be 0: "nothing here" is a label too),
     * in the pixels of answer->image_width x answer->image_height. */
    int32_t label;
    /* How far to trust the label (a teacher suffers from a shift of the data too), 0..1:
     * for a class its softmax probability; for detections the mean score of its boxes (0
     * when it found none). */
    float confidence;
    const char *device; /* the device that answered, e.g. "edge-1" */
    const char *model;  /* the teacher's model there */
    /* The teacher's whole answer (its scores, score_count of them), for distillation;
     * never NULL. */
    const struct tierd_inference_result *answer;
    /* The device's own answer to the task, when it computed one ([pipeline] local_first,
     * or a copy sent up for its label alone); else NULL. */
    const struct tierd_inference_result *local;
} tierd_teacher_label;

typedef struct tierd_inference_ops {
    uint32_t struct_size;
    /* Run `model` (NULL or "" = the plugin's default) on task->image.
     * Worker thread; may block. Inputs borrowed; `out` host-owned. */
    int (*infer)(void *instance, const tierd_task *task, const char *model,
                 tierd_inference_result *out);
    /* ABI 1.1, optional (NULL: the host calls infer() once per task). Run `model` on
     * `count` (>= 1) tasks at once — one forward pass where the model allows — and fill
     * outs[0..count-1], each prepared by the host as for infer() (its own scores buffer).
     * TIERD_OK means every task has its result; any error is for the whole batch, and the
     * host then answers the tasks one by one with infer(). A result's compute_ms and
     * energy_j are its share of the batch (the batch's total divided by count).
     * Worker thread; may block. `tasks` and what they point to are borrowed; `outs` is a
     * host-owned array of `count` results. */
    int (*infer_batch)(void *instance, const tierd_task *const *tasks, uint32_t count,
                       const char *model, tierd_inference_result *outs);

    /* ABI 1.2, optional (NULL: no split execution, and the host's profiler only times
     * whole models it is told about). What this instance serves, as static JSON:
     *   {"default": "<model>", "models": [{"name", "top1", "input_bytes",
     *     "cuts": [{"layer", "shape": [..], "elements"}]}]}
     * `layer` identifies a cut point of that model (the manifest's [[model.cut]]).
     * The string is owned by the instance and stays valid and unchanged until destroy().
     * Any thread. */
    const char *(*describe)(void *instance);
    /* ABI 1.2, optional. Split execution, end side: run `model` on task->image from its
     * input up to cut `cut_layer` and write the crossing tensor to `out` (see
     * tierd_tensor for the buffer rule). `meta` gets compute_ms, energy_j,
     * energy_source and model as in infer(); its scores are not written
     * (score_count 0, top_class -1). TIERD_ENOENT: no such model or cut here.
     * Worker thread; may block. Inputs borrowed; `out` and `meta` host-owned. */
    int (*infer_head)(void *instance, const tierd_task *task, const char *model, int32_t cut_layer,
                      tierd_tensor *out, tierd_inference_result *meta);
    /* ABI 1.2, optional. Split execution, edge/cloud side: run `model` from cut
     * `cut_layer` to its output on `input` and fill `out` as infer() does. task->image
     * is NULL here (only the tensor travelled). TIERD_ENOENT: no such model or cut
     * here; TIERD_EINVAL: the tensor's shape is not the cut's.
     * Worker thread; may block. Inputs borrowed; `out` host-owned. */
    int (*infer_tail)(void *instance, const tierd_task *task, const char *model, int32_t cut_layer,
                      const tierd_tensor *input, tierd_inference_result *out);
    /* ABI 1.5, optional (NULL: the plugin does not learn; the host then keeps no image for
     * it). A teacher's label for task->image, a classification the host placed upstream
     * and got answered (after the task's result went out: learning never delays a
     * result), or answered here and sent up for its label alone ([pipeline]
     * label_budget_per_hour). ABI 1.7: to a plugin that speaks 1.7 (only), also each video
     * key frame the host sent upstream for a stream this plugin detects on, with the
     * teacher's boxes (label -1, see tierd_teacher_label) and `local` NULL; a plugin built
     * for 1.5 or 1.6 is never handed one. The plugin may keep a copy (the image and `label` are borrowed for
     * the call) to adapt its models with — how, when and within what bounds is its own; it must not
     * let a worse model replace a better one on the strength of labels alone (a teacher can be
     * wrong). Return TIERD_OK whether it kept the sample or not; an error is logged and counted,
     * and the host goes on. The host calls learn() for at most a few tasks at a time and skips (and
     * counts) tasks while those wait. Worker thread; may block briefly (copying), not for training:
     * train on a thread of the plugin's own. Inputs borrowed. */
    int (*learn)(void *instance, const tierd_task *task, const tierd_teacher_label *label);
} tierd_inference_ops;

/* ABI 1.4. The newest upstream result of a video stream, as handed to fuse_frame(): an
 * answer about an EARLIER frame (a key frame), which the plugin moves to the current one.
 * Borrowed for the call, read-only. */
typedef struct tierd_upstream_result {
    uint32_t struct_size;
    const struct tierd_inference_result *result; /* its boxes are in key-frame pixels */
    int64_t frame_index;                         /* the key frame the result is about */
    tierd_tier tier;                             /* who computed it */
    /* Time from the key frame's capture to this call, and from the answer's arrival on
     * the end to this call (both >= 0). The answer was not known before it arrived: the
     * host hands it only to frames it fuses after the arrival. */
    double age_ms;
    double arrived_ago_ms;
    /* Counts the stream's upstream answers: a new value means a new answer. */
    uint64_t sequence;
} tierd_upstream_result;

typedef struct tierd_fusion_ops {
    uint32_t struct_size;
    /* Combine the local and the remote result (either may be NULL, not both) into
     * `out`. Loop thread; must not block. Inputs borrowed; `out` host-owned, its
     * scores buffer provided as in tierd_inference_result. */
    int (*fuse)(void *instance, const tierd_task *task, const tierd_inference_result *local,
                const tierd_inference_result *remote, tierd_inference_result *out);
    /* ABI 1.4, optional (NULL: stream frames go through fuse() like any task). Fuse one
     * frame of a video stream: `local` is the end's own result for it (NULL when it ran
     * nowhere here, e.g. the frame itself was placed upstream: then `upstream` is that
     * frame's own answer), `upstream` the newest upstream answer that has arrived (NULL:
     * none yet, or the upstream is unreachable). The plugin keeps what it needs across
     * frames (previous image, tracks); task->image is the current frame.
     * Order: the host calls it for the frames of one stream in frame_index order, one at
     * a time, every frame exactly once (a frame whose work failed everywhere comes with
     * `local` NULL, and `upstream` may be NULL too: the plugin still answers, e.g. with
     * the boxes it tracks); calls for different streams may run concurrently only if
     * max_concurrent_calls > 1. Worker thread; may block (optical flow, tracking).
     * Inputs borrowed; `out` host-owned as in tierd_inference_result, with a detection
     * buffer. */
    int (*fuse_frame)(void *instance, const tierd_task *task, const tierd_inference_result *local,
                      const tierd_upstream_result *upstream, tierd_inference_result *out);
} tierd_fusion_ops;

/* ABI 1.3. One image a source produced (a file, a video frame, a message). The host
 * zero-fills it, sets struct_size and label = -1, and passes it to next() or decode();
 * the plugin fills in the rest.
 * Ownership: image.data (the pixels) belongs to the plugin and must stay valid and
 * unchanged until the host hands the frame back through release() — the host reads the
 * pixels on any thread meanwhile (no copy is made). `id` is copied by the host when the
 * call returns. `owner` is the plugin's own (e.g. the buffer to free in release()). */
typedef struct tierd_frame {
    uint32_t struct_size;
    tierd_image image; /* GRAY8, BGR8 or RGB8; its struct_size set by the plugin */
    /* Unique within the source, e.g. "t10k-images-idx3-ubyte.gz#17"; "" = the host
     * names it: "<kind>#<n>" for a pull source, "input#<n>" for a message. NUL-terminated. */
    char id[128];
    int32_t label;        /* the true class when the source knows it, else -1 */
    uint64_t captured_ns; /* monotonic (services->monotonic_ns) capture time; 0 = unknown */
    void *owner;          /* the plugin's: passed back with the frame to release() */
    void *reserved[4];
    /* ABI 1.4. A video source sets the frame's 0-based position in its stream; the
     * host's default, -1 (which an older plugin never touches), means "not a video frame"
     * (files of a directory, messages). Tasks made of frames
     * with an index become a stream (tierd_task.stream = the source's name) and get the
     * stream treatment: in-order fusion, key frames, stream state for the scheduler. */
    int64_t frame_index;
} tierd_frame;

/* ABI 1.3. A source: where an end agent's tasks come from. The [source] table's `kind`
 * picks the plugin ("idx" = plugin "source-idx", "v4l2" = "source-v4l2"), and its `path`
 * and `labels` keys reach the plugin as its own config keys of those names when it
 * declares them. Open files and devices in create() or start() (worker thread); a
 * create() that fails is reported as the source's error and the agent serves on.
 * A source is one of two shapes; set exactly one of next and decode:
 *   pull     (files, cameras): the host calls next() on a worker whenever it wants
 *            frames (a few at a time, ahead of the tasks), at the pace [source] rate_hz
 *            and the pipeline's room allow.
 *   message  (the device's input topic, tierd/v1/dev/<id>/input): the host subscribes
 *            and calls decode() on a worker with each message's payload. */
typedef struct tierd_source_ops {
    uint32_t struct_size;
    /* Pull: the next frame into `out`. Worker thread; may block (a file read, waiting
     * for a camera), but not forever: the host's drain at shutdown waits for it.
     * Returns TIERD_OK with a frame, TIERD_EOF at the end of the stream (next() is not
     * called again), or an error with services->set_error(): the host reports the
     * source as failed with that reason and stops pulling. NULL for a message source. */
    int (*next)(void *instance, tierd_frame *out);
    /* Message: decode one message (`payload`, `size` bytes, borrowed for the call) into
     * `out`. The bytes are untrusted (any client of the broker may publish them): an
     * image whose header says more than `max_pixels` pixels (width x height) must be
     * refused BEFORE any decoder allocates for it, with TIERD_ERANGE and a reason
     * ("30000x30000 = 900000000 pixels, limit 16777216"); the host counts it as
     * too_large. TIERD_EINVAL: not an image this source takes (counted undecodable).
     * Worker thread; may block briefly. NULL for a pull source. */
    int (*decode)(void *instance, const uint8_t *payload, size_t size, uint64_t max_pixels,
                  tierd_frame *out);
    /* The host is done with a frame that next() or decode() returned TIERD_OK for: free
     * what it holds. Called exactly once per such frame, always before stop() (a frame
     * in use keeps the instance running). Any thread; must not block; it may run while
     * another thread is inside next() or decode() (the one exception to "never two
     * callbacks at once"), so it must touch nothing those use. Required. */
    void (*release)(void *instance, tierd_frame *frame);
    /* One line for logs and status, e.g. "idx:/data/t10k.gz (10000 images 28x28,
     * labelled)". Owned by the instance; valid and unchanged until destroy(). NULL (or a
     * NULL result) = the host describes it as "<kind>:<path>". Any thread. Optional. */
    const char *(*describe)(void *instance);
} tierd_source_ops;

/* ---- Services the host offers ---------------------------------------------------- */

typedef enum tierd_log_level {
    TIERD_LOG_DEBUG = 1,
    TIERD_LOG_INFO = 2,
    TIERD_LOG_WARNING = 3,
    TIERD_LOG_ERROR = 4
} tierd_log_level;

/* An energy counter reading from the HAL. */
typedef struct tierd_energy_reading {
    uint32_t struct_size;
    double energy_j; /* monotonic total since an arbitrary origin; differences matter */
    double power_w;  /* latest power, < 0 if unknown */
    /* "measured:<sensor>" or "estimated:<profile>" */
    char source[64];
} tierd_energy_reading;

/* The host's function table, passed to create(). Static for the plugin's lifetime.
 * Check struct_size before using a function added after 1.0 (none yet). */
typedef struct tierd_host_services {
    uint32_t struct_size;
    uint32_t abi_version; /* the version negotiated for this plugin */

    /* Log one line, prefixed by the instance name ("inference-opencv.0").
     * Any thread; does not block. `message` borrowed. */
    void (*log)(tierd_host *host, tierd_log_level level, const char *message);

    /* Attach a reason to the error the current callback is about to return. The host
     * copies it and shows it with the error in logs, status and command replies.
     * Any thread; `message` borrowed. */
    void (*set_error)(tierd_host *host, const char *message);

    /* Metrics, published in telemetry under the instance's name. Names are
     * [a-z0-9_]+ and borrowed. Any thread; do not block. */
    void (*counter_add)(tierd_host *host, const char *name, double delta);
    void (*gauge_set)(tierd_host *host, const char *name, double value);

    /* Clocks in nanoseconds: monotonic (for durations, deadlines) and wall (UTC since
     * the epoch). Any thread. */
    uint64_t (*monotonic_ns)(tierd_host *host);
    uint64_t (*realtime_ns)(tierd_host *host);

    /* The HAL's current view of `section` ("board", "cpu", "memory", "thermal",
     * "power", "gpu", or "all") as JSON. On success *json_out is transferred to the
     * caller: free it with services->free. Worker threads only: it reads sysfs. */
    int (*hal_json)(tierd_host *host, const char *section, char **json_out);

    /* Read this device's energy counter. Worker threads only: it reads sysfs.
     * `out->struct_size` must be set by the caller. */
    int (*energy_read)(tierd_host *host, tierd_energy_reading *out);

    /* Publish on tierd/v1/dev/<device-id>/plugin/<plugin-name>/<subtopic>.
     * The host copies `subtopic` and `payload` before returning (both borrowed);
     * delivery happens later on the loop thread. qos 0..2. Any thread. */
    int (*publish)(tierd_host *host, const char *subtopic, const void *payload, size_t payload_len,
                   int qos, int retain);

    /* Run `fn(arg)` on the loop thread soon. The only way to get back onto the loop
     * from a thread the plugin made. Any thread; calls are never merged; `arg` is
     * the plugin's. Returns TIERD_EBUSY when the host is shutting down (then fn is
     * never called). */
    int (*post)(tierd_host *host, void (*fn)(void *arg), void *arg);

    /* Free memory the host transferred to the plugin (hal_json output). Any thread. */
    void (*free)(void *ptr);

    /* Read a declared key from a tierd_config. Only valid during create()/reload().
     * Returns TIERD_ENOENT for an undeclared key, TIERD_EINVAL for a type mismatch
     * (STRING, ENUM and PATH keys are read with config_string). Strings are borrowed
     * for the duration of the create()/reload() call: copy them. */
    int (*config_bool)(const tierd_config *config, const char *key, int *out);
    int (*config_int)(const tierd_config *config, const char *key, int64_t *out);
    int (*config_double)(const tierd_config *config, const char *key, double *out);
    int (*config_string)(const tierd_config *config, const char *key, const char **out);

    void *reserved[8];

    /* ABI 1.3 (read it only when struct_size covers it). How many worker threads the
     * host runs plugin ops on: the most worker-thread ops in flight at once, all
     * instances together. A plugin that parallelises inside an op sizes itself by it, so
     * that workers x its threads do not exceed the cores (e.g. OpenCV threads per call =
     * cores / min(worker_threads, max_concurrent_calls)). */
    uint32_t worker_threads;
} tierd_host_services;

/* ---- The descriptor a plugin returns -------------------------------------------- */

/*
 * Lifecycle, driven by the host:
 *   entry → create → start → (reload)* → stop → destroy → dlclose
 * create() and destroy() run on a worker thread and may block (load a model, join a
 * thread). start(), stop() and reload() run on a worker thread too and may block.
 * The kind's ops run as their comments say. After stop() begins, no op is called
 * again; destroy() is the last call the host makes into the instance.
 */
typedef struct tierd_plugin_descriptor {
    uint32_t struct_size; /* sizeof(tierd_plugin_descriptor) as compiled */
    uint32_t abi_version; /* one of the versions the host offered */
    tierd_plugin_kind kind;
    const char *name;        /* static; [a-z0-9-]+, unique on the search path */
    const char *version;     /* static; the plugin's own version, e.g. "1.2.0" */
    const char *description; /* static; one line */

    /* The config map: `config_key_count` entries, each `config_key_size` bytes apart
     * (pass sizeof(tierd_config_key)); static. May be NULL when count is 0. */
    const tierd_config_key *config_keys;
    uint32_t config_key_count;
    uint32_t config_key_size;

    /* Make an instance. `host` and `services` stay valid until destroy() returns;
     * `config` is borrowed for this call. On success set *instance_out to the
     * plugin's own state (opaque to the host, freed by destroy) and return 0.
     * On failure return a TIERD_E* code, ideally after services->set_error().
     * Worker thread; may block. Required. */
    int (*create)(tierd_host *host, const tierd_host_services *services, const tierd_config *config,
                  void **instance_out);

    /* Begin work (threads, timers). Worker thread; may block. Optional (NULL). */
    int (*start)(void *instance);

    /* Apply a new, already validated config without losing state. Return
     * TIERD_ENOTSUP (or leave NULL) to make the host recreate the instance instead.
     * Worker thread; may block. Optional. */
    int (*reload)(void *instance, const tierd_config *config);

    /* Finish in-flight work; no op is called after this begins. Worker thread;
     * may block (bounded: the host's drain timeout applies). Optional. */
    void (*stop)(void *instance);

    /* Free the instance. Worker thread; may block. Required. */
    void (*destroy)(void *instance);

    /* The kind's operation table: tierd_scheduler_ops, tierd_preclassifier_ops,
     * tierd_inference_ops, tierd_fusion_ops or tierd_source_ops, matching `kind`. Static. */
    const void *ops;

    void *reserved[4];

    /* ABI 1.3 (the host reads it only when struct_size covers it). How many of this
     * instance's worker-thread ops (classify, infer, infer_batch, infer_head, infer_tail,
     * next, decode) the host may run at the same time, each on its own worker thread:
     * 0 or 1 = one at a time (as before 1.3). A plugin that sets N > 1 must make those
     * ops safe to run concurrently (e.g. one cv::dnn::Net per concurrent call), and its
     * services->set_error() calls then report the error of the calling thread's op.
     * Lifecycle callbacks never overlap anything. */
    uint32_t max_concurrent_calls;
} tierd_plugin_descriptor;

/* ---- The entry point ------------------------------------------------------------- */

/* What the host offers. Borrowed for the call. */
typedef struct tierd_host_offer {
    uint32_t struct_size;
    uint32_t abi_version_count;
    const uint32_t *abi_versions; /* the versions the host serves, newest first */
    const char *host_version;     /* tierd's version string, e.g. "0.1.0" */
} tierd_host_offer;

/*
 * The one exported function. The host calls it once after dlopen, on a worker
 * thread. Pick an ABI version from `offer` (normally: the first one whose major is
 * yours and whose minor is at least the one you need), set *descriptor_out to a
 * static descriptor whose abi_version is that version, and return 0. Return
 * TIERD_EVERSION if none suits. Must not block or allocate anything the host would
 * have to free.
 */
typedef int (*tierd_plugin_entry_fn)(const tierd_host_offer *offer,
                                     const tierd_plugin_descriptor **descriptor_out);

/* The version a plugin built against this header should answer with: its own
 * TIERD_ABI_VERSION, provided the host offers some version with the same major and a
 * minor at least as new (a newer host serves older minors of its major). Returns 0
 * when the host offers nothing compatible. A convenience for entry functions. */
static inline uint32_t tierd_pick_abi_version(const tierd_host_offer *offer) {
    uint32_t i;
    if (offer == NULL || offer->abi_versions == NULL)
        return 0;
    for (i = 0; i < offer->abi_version_count; ++i) {
        uint32_t v = offer->abi_versions[i];
        if (TIERD_ABI_MAJOR_OF(v) == TIERD_ABI_MAJOR && v >= TIERD_ABI_VERSION)
            return TIERD_ABI_VERSION;
    }
    return 0;
}

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* TIERD_PLUGIN_H */
