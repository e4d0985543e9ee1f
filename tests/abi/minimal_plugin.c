/* A minimal fusion plugin in plain C: proves plugin.h compiles as C and that one
 * exported entry symbol is all a plugin needs. Prefers the remote result. */
#include <string.h>
#include <tierd/plugin.h>

static int create(tierd_host *host, const tierd_host_services *services,
                  const tierd_config *config, void **instance_out) {
    (void)host; (void)services; (void)config;
    static int state;
    *instance_out = &state;
    return TIERD_OK;
}

static void destroy(void *instance) { (void)instance; }

static int fuse(void *instance, const tierd_task *task, const tierd_inference_result *local,
                const tierd_inference_result *remote, tierd_inference_result *out) {
    const tierd_inference_result *pick = remote ? remote : local;
    (void)instance; (void)task;
    if (pick == NULL)
        return TIERD_EINVAL;
    out->top_class = pick->top_class;
    out->top_score = pick->top_score;
    memcpy(out->model, pick->model, sizeof out->model);
    return TIERD_OK;
}

static const tierd_fusion_ops ops = {.struct_size = sizeof(tierd_fusion_ops), .fuse = fuse};

static const tierd_plugin_descriptor descriptor = {
    .struct_size = sizeof(tierd_plugin_descriptor),
    .abi_version = TIERD_ABI_VERSION,
    .kind = TIERD_KIND_FUSION,
    .name = "minimal-c",
    .version = "1.0.0",
    .description = "test plugin written in C",
    .config_key_size = sizeof(tierd_config_key),
    .create = create,
    .destroy = destroy,
    .ops = &ops,
};

TIERD_PLUGIN_EXPORT int tierd_plugin_entry(const tierd_host_offer *offer,
                                           const tierd_plugin_descriptor **descriptor_out) {
    if (tierd_pick_abi_version(offer) == 0)
        return TIERD_EVERSION;
    *descriptor_out = &descriptor;
    return TIERD_OK;
}
