#include "agent/plugin_host/plugin_library.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <filesystem>

namespace tierd {
namespace {

// The 1.0 layouts: a 1.0 plugin keeps handing over the shorter structs. 1.3 appended
// max_concurrent_calls to the descriptor.
constexpr std::size_t kDescriptorLayout10 = offsetof(tierd_plugin_descriptor, max_concurrent_calls);

bool valid_plugin_name(const char *name) {
    if (name == nullptr || *name == '\0')
        return false;
    for (const char *p = name; *p != '\0'; ++p) {
        const char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    return true;
}

std::string offered_versions_text() {
    std::string out;
    for (std::uint32_t v : host_abi_versions()) {
        if (!out.empty())
            out += ", ";
        out += abi_version_string(v);
    }
    return out;
}

// Reads the kind's ops table (its struct_size first, then only what that covers) and
// stores the one function; returns what is wrong, or "".
// Every op table's 1.0 layout: struct_size and one function.
struct Ops10Layout {
    std::uint32_t struct_size;
    void (*fn)();
};

template <typename Ops> std::string copy_ops(const void *ops, Ops &copy) {
    std::uint32_t size = 0;
    std::memcpy(&size, ops, sizeof size);
    if (size < sizeof(Ops10Layout))
        return "ops struct_size " + std::to_string(size) + " is smaller than the ABI 1.0 layout (" +
               std::to_string(sizeof(Ops10Layout)) + " bytes)";
    // Functions a newer minor appended stay NULL when the plugin's table is older.
    copy = Ops{};
    std::memcpy(&copy, ops, std::min<std::size_t>(size, sizeof copy));
    return "";
}

// `whole`, when given, receives the copied table (for optional functions beside `field`).
template <typename Ops, typename Fn>
std::string read_ops(const void *ops, Fn Ops::*field, Fn &out, const char *fn_name,
                     Ops *whole = nullptr) {
    Ops copy{};
    if (std::string error = copy_ops(ops, copy); !error.empty())
        return error;
    if (whole != nullptr)
        *whole = copy;
    out = copy.*field;
    if (out == nullptr)
        return std::string("ops table has no ") + fn_name + " function";
    return "";
}

std::string read_kind_ops(tierd_plugin_kind kind, const void *ops, PluginFunctions &fns) {
    switch (kind) {
    case TIERD_KIND_SCHEDULER:
        return read_ops(ops, &tierd_scheduler_ops::decide, fns.decide, "decide");
    case TIERD_KIND_PRECLASSIFIER:
        return read_ops(ops, &tierd_preclassifier_ops::classify, fns.classify, "classify");
    case TIERD_KIND_INFERENCE: {
        tierd_inference_ops copy{};
        std::string error = read_ops(ops, &tierd_inference_ops::infer, fns.infer, "infer", &copy);
        // Optional functions: NULL when the plugin's table predates them.
        fns.infer_batch = copy.infer_batch; // ABI 1.1
        fns.describe = copy.describe;       // ABI 1.2
        fns.infer_head = copy.infer_head;
        fns.infer_tail = copy.infer_tail;
        fns.learn = copy.learn; // ABI 1.5
        return error;
    }
    case TIERD_KIND_FUSION: {
        tierd_fusion_ops copy{};
        std::string error = read_ops(ops, &tierd_fusion_ops::fuse, fns.fuse, "fuse", &copy);
        fns.fuse_frame = copy.fuse_frame; // ABI 1.4, optional
        return error;
    }
    case TIERD_KIND_SOURCE: {
        tierd_source_ops copy{};
        std::string error =
            read_ops(ops, &tierd_source_ops::release, fns.release_frame, "release", &copy);
        if (!error.empty())
            return error;
        fns.next = copy.next;
        fns.decode = copy.decode;
        fns.describe_source = copy.describe;
        if ((fns.next == nullptr) == (fns.decode == nullptr))
            return "ops table must set exactly one of next (a pull source) and decode (a "
                   "message source)";
        return "";
    }
    }
    return "unknown kind";
}

} // namespace

const std::vector<std::uint32_t> &host_abi_versions() {
    // Newest first; every minor of major 1 so far (minors only appended).
    static const std::vector<std::uint32_t> versions{
        TIERD_ABI_MAKE(1, 7), TIERD_ABI_MAKE(1, 6), TIERD_ABI_MAKE(1, 5), TIERD_ABI_MAKE(1, 4),
        TIERD_ABI_MAKE(1, 3), TIERD_ABI_MAKE(1, 2), TIERD_ABI_MAKE(1, 1), TIERD_ABI_MAKE(1, 0)};
    static_assert(TIERD_ABI_VERSION == TIERD_ABI_MAKE(1, 7), "list the new minor here");
    return versions;
}

std::string abi_version_string(std::uint32_t version) {
    return std::to_string(TIERD_ABI_MAJOR_OF(version)) + "." +
           std::to_string(TIERD_ABI_MINOR_OF(version));
}

const char *plugin_kind_name(tierd_plugin_kind kind) {
    switch (kind) {
    case TIERD_KIND_SCHEDULER: return "scheduler";
    case TIERD_KIND_PRECLASSIFIER: return "preclassifier";
    case TIERD_KIND_INFERENCE: return "inference";
    case TIERD_KIND_FUSION: return "fusion";
    case TIERD_KIND_SOURCE: return "source";
    }
    return "unknown";
}

PluginLibrary::~PluginLibrary() {
    if (handle_ != nullptr)
        dlclose(handle_);
}

PluginLibrary::OpenResult PluginLibrary::open(const std::string &path) {
    auto fail = [&](const std::string &reason) {
        return OpenResult{nullptr, path + ": " + reason};
    };

    std::error_code ec;
    if (!std::filesystem::exists(path, ec))
        return fail("no such file");

    dlerror(); // clear any stale error so the one we read is ours
    void *handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
        const char *why = dlerror();
        return fail(std::string("cannot load: ") + (why != nullptr ? why : "dlopen failed"));
    }
    // From here on the library object owns the handle: every early return dlcloses it.
    std::shared_ptr<PluginLibrary> lib(new PluginLibrary());
    lib->handle_ = handle;
    lib->path_ = path;

    dlerror();
    void *symbol = dlsym(handle, TIERD_PLUGIN_ENTRY_SYMBOL);
    if (symbol == nullptr)
        return fail("no exported " TIERD_PLUGIN_ENTRY_SYMBOL
                    " symbol (not a tierd plugin, or not marked TIERD_PLUGIN_EXPORT)");
    // POSIX guarantees a data pointer from dlsym converts to a function pointer.
    auto entry = reinterpret_cast<tierd_plugin_entry_fn>(symbol);

    const auto &versions = host_abi_versions();
    tierd_host_offer offer{};
    offer.struct_size = sizeof offer;
    offer.abi_version_count = static_cast<std::uint32_t>(versions.size());
    offer.abi_versions = versions.data();
    offer.host_version = TIERD_HOST_VERSION;
    const tierd_plugin_descriptor *d = nullptr;
    const int rc = entry(&offer, &d);
    if (rc == TIERD_EVERSION)
        return fail("plugin speaks no ABI version this host serves (host serves " +
                    offered_versions_text() + ")");
    if (rc != TIERD_OK)
        return fail(std::string(TIERD_PLUGIN_ENTRY_SYMBOL " failed: ") + tierd_err_name(rc) + " (" +
                    tierd_strerror(rc) + ")");
    if (d == nullptr)
        return fail(TIERD_PLUGIN_ENTRY_SYMBOL " returned a NULL descriptor");

    std::uint32_t size = 0;
    std::memcpy(&size, d, sizeof size);
    if (size < kDescriptorLayout10)
        return fail("descriptor struct_size " + std::to_string(size) +
                    " is smaller than the ABI 1.0 layout (" + std::to_string(kDescriptorLayout10) +
                    " bytes)");
    // Read only what the plugin's struct covers; newer fields stay zero.
    tierd_plugin_descriptor raw{};
    std::memcpy(&raw, d, std::min<std::size_t>(size, sizeof raw));

    const auto &offered = host_abi_versions();
    if (std::find(offered.begin(), offered.end(), raw.abi_version) == offered.end())
        return fail("descriptor claims ABI " + abi_version_string(raw.abi_version) +
                    ", which this host did not offer (host serves " + offered_versions_text() +
                    ")");
    const int kind = static_cast<int>(raw.kind);
    const int newest_kind =
        raw.abi_version >= TIERD_ABI_MAKE(1, 3) ? TIERD_KIND_SOURCE : TIERD_KIND_FUSION;
    if (kind < TIERD_KIND_SCHEDULER || kind > newest_kind)
        return fail("unknown plugin kind " + std::to_string(kind) +
                    (kind == TIERD_KIND_SOURCE ? " (sources need ABI 1.3)" : ""));
    if (!valid_plugin_name(raw.name))
        return fail("descriptor name must match [a-z0-9-]+");

    PluginDescriptor &desc = lib->descriptor_;
    desc.abi_version = raw.abi_version;
    desc.kind = raw.kind;
    desc.name = raw.name;
    desc.version = raw.version != nullptr ? raw.version : "";
    desc.description = raw.description != nullptr ? raw.description : "";
    // Zero (a plugin older than 1.3) and 1 both mean one call at a time.
    desc.max_concurrent_calls = std::max<std::uint32_t>(1, raw.max_concurrent_calls);
    const std::string who = "plugin \"" + desc.name + "\": ";

    PluginFunctions &fns = lib->functions_;
    fns.create = raw.create;
    fns.start = raw.start;
    fns.reload = raw.reload;
    fns.stop = raw.stop;
    fns.destroy = raw.destroy;
    if (fns.create == nullptr)
        return fail(who + "descriptor has no create function (required)");
    if (fns.destroy == nullptr)
        return fail(who + "descriptor has no destroy function (required)");
    if (raw.ops == nullptr)
        return fail(who + "descriptor has no ops table for its kind (" +
                    plugin_kind_name(raw.kind) + ")");
    if (std::string problem = read_kind_ops(raw.kind, raw.ops, fns); !problem.empty())
        return fail(who + plugin_kind_name(raw.kind) + " " + problem);

    auto keys = copy_config_keys(raw.config_keys, raw.config_key_count, raw.config_key_size);
    if (!keys.error.empty())
        return fail(who + "invalid config map: " + keys.error);
    desc.config_keys = std::move(keys.keys);
    return {std::move(lib), ""};
}

std::optional<std::string> find_plugin(const std::string &name,
                                       const std::vector<std::string> &search_path) {
    if (!valid_plugin_name(name.c_str()))
        return std::nullopt;
    for (const auto &dir : search_path) {
        if (dir.empty())
            continue;
        std::filesystem::path candidate = std::filesystem::path(dir) / (name + ".so");
        std::error_code ec;
        if (std::filesystem::is_regular_file(candidate, ec))
            return candidate.string();
    }
    return std::nullopt;
}

} // namespace tierd
