/* A well-behaved inference plugin for the host tests: a config map with one key of
 * each kind, and an infer() that exercises the services (publish, metrics, HAL, energy)
 * so the tests can see every call arrive on the host side. */
#define _POSIX_C_SOURCE 200809L
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tierd/plugin.h>

typedef struct state {
    tierd_host *host;
    const tierd_host_services *services;
    int64_t threads;
    double scale;
    int warmup;
    char backend[16];
    char label[48];
    atomic_int in_call; /* detects two calls at once, which the host must never make */
} state;

static const char *const backend_choices[] = {"cpu", "cuda", NULL};

static const tierd_config_key config_keys[] = {
    {sizeof(tierd_config_key), TIERD_CONFIG_HAS_MIN | TIERD_CONFIG_HAS_MAX, "threads",
     TIERD_CONFIG_INT, "4", 1, 16, NULL, "Worker threads for inference."},
    {sizeof(tierd_config_key), 0, "backend", TIERD_CONFIG_ENUM, "cpu", 0, 0, backend_choices,
     "Compute backend."},
    {sizeof(tierd_config_key), 0, "warmup", TIERD_CONFIG_BOOL, "true", 0, 0, NULL,
     "Run one dummy inference at start."},
    {sizeof(tierd_config_key), TIERD_CONFIG_MUST_EXIST, "model", TIERD_CONFIG_PATH, "", 0, 0,
     NULL, "Model file."},
    {sizeof(tierd_config_key), 0, "label", TIERD_CONFIG_STRING, "good \"one\"", 0, 0, NULL,
     "Name reported as the model."},
    {sizeof(tierd_config_key), TIERD_CONFIG_HAS_MIN, "scale", TIERD_CONFIG_DOUBLE, "0.5", 0, 0,
     NULL, "Score scale."},
    {sizeof(tierd_config_key), TIERD_CONFIG_SECRET, "token", TIERD_CONFIG_STRING, "", 0, 0, NULL,
     "API token."},
};

static int create(tierd_host *host, const tierd_host_services *services,
                  const tierd_config *config, void **instance_out) {
    const char *backend = NULL;
    const char *label = NULL;
    state *s = calloc(1, sizeof *s);
    if (s == NULL)
        return TIERD_ENOMEM;
    s->host = host;
    s->services = services;
    if (services->config_int(config, "threads", &s->threads) != TIERD_OK ||
        services->config_double(config, "scale", &s->scale) != TIERD_OK ||
        services->config_bool(config, "warmup", &s->warmup) != TIERD_OK ||
        services->config_string(config, "backend", &backend) != TIERD_OK ||
        services->config_string(config, "label", &label) != TIERD_OK) {
        services->set_error(host, "config accessor failed");
        free(s);
        return TIERD_ECONFIG;
    }
    snprintf(s->backend, sizeof s->backend, "%s", backend);
    snprintf(s->label, sizeof s->label, "%s", label);
    services->log(host, TIERD_LOG_INFO, "created");
    services->counter_add(host, "creates", 1);
    *instance_out = s;
    return TIERD_OK;
}

static int start(void *instance) {
    state *s = instance;
    s->services->gauge_set(s->host, "threads", (double)s->threads);
    return TIERD_OK;
}

static void destroy(void *instance) { free(instance); }

static int infer(void *instance, const tierd_task *task, const char *model,
                 tierd_inference_result *out) {
    state *s = instance;
    const tierd_host_services *sv = s->services;
    char payload[128];
    uint32_t i;
    int rc = TIERD_OK;
    (void)task;
    if (atomic_fetch_add(&s->in_call, 1) != 0) {
        sv->set_error(s->host, "two calls at once");
        atomic_fetch_sub(&s->in_call, 1);
        return TIERD_EPLUGIN;
    }
    if (model != NULL && strcmp(model, "broken") == 0) {
        sv->set_error(s->host, "no such model: broken");
        rc = TIERD_ENOENT;
    } else if (model != NULL && strcmp(model, "slow") == 0) {
        struct timespec pause = {0, 200000}; /* widens the window for overlapping calls */
        nanosleep(&pause, NULL);
    } else if (model != NULL && strcmp(model, "hal") == 0) {
        char *json = NULL;
        tierd_energy_reading reading;
        memset(&reading, 0, sizeof reading);
        reading.struct_size = sizeof reading;
        rc = sv->hal_json(s->host, "cpu", &json);
        if (rc == TIERD_OK) {
            sv->publish(s->host, "hal", json, strlen(json), 0, 1);
            sv->free(json);
        }
        if (rc == TIERD_OK)
            rc = sv->energy_read(s->host, &reading);
        out->energy_j = reading.energy_j;
        snprintf(out->energy_source, sizeof out->energy_source, "%s", reading.source);
    }
    if (rc == TIERD_OK) {
        for (i = 0; i < 3 && i < out->score_capacity; ++i)
            out->scores[i] = (float)(s->scale * (i + 1));
        out->score_count = 3;
        out->top_class = 2;
        out->top_score = (float)(s->scale * 3);
        snprintf(out->model, sizeof out->model, "%s", s->label);
        snprintf(payload, sizeof payload, "{\"threads\":%d,\"backend\":\"%s\"}", (int)s->threads,
                 s->backend);
        sv->publish(s->host, "result", payload, strlen(payload), 1, 0);
        sv->counter_add(s->host, "inferences", 1);
        if (out->score_capacity < 3)
            rc = TIERD_ERANGE;
    }
    atomic_fetch_sub(&s->in_call, 1);
    return rc;
}

static const tierd_inference_ops ops = {.struct_size = sizeof(tierd_inference_ops), .infer = infer};

static const tierd_plugin_descriptor descriptor = {
    .struct_size = sizeof(tierd_plugin_descriptor),
    .abi_version = TIERD_ABI_VERSION,
    .kind = TIERD_KIND_INFERENCE,
    .name = "test-good",
    .version = "1.2.3",
    .description = "well-behaved test plugin",
    .config_keys = config_keys,
    .config_key_count = sizeof config_keys / sizeof config_keys[0],
    .config_key_size = sizeof(tierd_config_key),
    .create = create,
    .start = start,
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
