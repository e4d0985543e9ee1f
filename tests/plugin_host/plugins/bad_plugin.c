/* One fusion plugin, broken in the one way its BAD_* definition names: the host must
 * reject each at load (or, for BAD_CREATE_FAILS, at create) with a precise reason. */
#include <stddef.h>

#include <tierd/plugin.h>

static int create(tierd_host *host, const tierd_host_services *services,
                  const tierd_config *config, void **instance_out) {
    (void)config;
#ifdef BAD_CREATE_FAILS
    (void)instance_out;
    services->set_error(host, "model file is corrupt");
    return TIERD_EIO;
#else
    static int instance;
    (void)host;
    (void)services;
    *instance_out = &instance;
    return TIERD_OK;
#endif
}

static void destroy(void *instance) { (void)instance; }

static int fuse(void *instance, const tierd_task *task, const tierd_inference_result *local,
                const tierd_inference_result *remote, tierd_inference_result *out) {
    (void)instance;
    (void)task;
    (void)local;
    (void)remote;
    (void)out;
    return TIERD_OK;
}

#ifdef BAD_SMALL_OPS
static const tierd_fusion_ops ops = {.struct_size = sizeof(uint32_t), .fuse = fuse};
#else
static const tierd_fusion_ops ops = {.struct_size = sizeof(tierd_fusion_ops), .fuse = fuse};
#endif

static const char *const no_choices[] = {NULL};

static const tierd_config_key config_keys[] = {
#if defined(BAD_CONFIG_NAME)
    {sizeof(tierd_config_key), 0, "has space", TIERD_CONFIG_BOOL, "true", 0, 0, NULL, "x"},
#elif defined(BAD_CONFIG_TYPE)
    {sizeof(tierd_config_key), 0, "mode", (tierd_config_type)42, "1", 0, 0, NULL, "x"},
#elif defined(BAD_CONFIG_DEFAULT)
    {sizeof(tierd_config_key), TIERD_CONFIG_HAS_MAX, "threads", TIERD_CONFIG_INT, "64", 0, 8,
     NULL, "x"},
#elif defined(BAD_CONFIG_ENUM)
    {sizeof(tierd_config_key), 0, "backend", TIERD_CONFIG_ENUM, "cpu", 0, 0, no_choices, "x"},
#else
    {sizeof(tierd_config_key), 0, "enabled", TIERD_CONFIG_BOOL, "true", 0, 0, NULL, "x"},
#endif
};

static const tierd_plugin_descriptor descriptor = {
#ifdef BAD_SMALL_DESCRIPTOR
    .struct_size = offsetof(tierd_plugin_descriptor, create),
#else
    .struct_size = sizeof(tierd_plugin_descriptor),
#endif
#ifdef BAD_CLAIMS_NEWER
    .abi_version = TIERD_ABI_MAKE(2, 0),
#else
    .abi_version = TIERD_ABI_VERSION,
#endif
#ifdef BAD_KIND
    .kind = (tierd_plugin_kind)7,
#else
    .kind = TIERD_KIND_FUSION,
#endif
    .name = "test-bad",
    .version = "0.0.1",
    .description = "broken test plugin",
    .config_keys = config_keys,
    .config_key_count = 1,
    .config_key_size = sizeof(tierd_config_key),
    .create = create,
#ifndef BAD_NO_DESTROY
    .destroy = destroy,
#endif
    .ops = &ops,
};

#ifdef BAD_NO_ENTRY
/* Exported, but under a name the host does not look for. */
TIERD_PLUGIN_EXPORT int tierd_plugin_init(const tierd_host_offer *offer,
                                          const tierd_plugin_descriptor **descriptor_out) {
#else
TIERD_PLUGIN_EXPORT int tierd_plugin_entry(const tierd_host_offer *offer,
                                           const tierd_plugin_descriptor **descriptor_out) {
#endif
    /* Some variants leave these unused; referencing them keeps -Werror builds quiet. */
    (void)no_choices;
    (void)descriptor;
    (void)destroy;
#ifdef BAD_REFUSES_VERSION
    /* Built for ABI 2.x: finds no major-2 version in the offer and refuses. */
    uint32_t i;
    for (i = 0; i < offer->abi_version_count; ++i)
        if (TIERD_ABI_MAJOR_OF(offer->abi_versions[i]) == 2)
            break;
    if (i == offer->abi_version_count)
        return TIERD_EVERSION;
#else
    (void)offer;
#endif
#ifdef BAD_NULL_DESCRIPTOR
    *descriptor_out = NULL;
#else
    *descriptor_out = &descriptor;
#endif
    return TIERD_OK;
}
