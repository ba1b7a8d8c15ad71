/*
 * policy/config_tls.c - the checks of the TLS keys: tls-listen, tls-cert-file,
 * tls-key-file, tls-min-version, upstream-ca-file, and how they go with listen.
 *
 * Owns:     nothing; every value goes into the config being parsed (config_int.h).
 * Entry:    ag_config__parse_tls_*(), ag_config__parse_upstream_ca_file(),
 *           ag_config__tls_finish().
 * Not here: reading the files and checking that the key matches the certificate
 *           (gateway/base/tls.c, at load: policy never does I/O).
 * Spec:     CONTRACT.md section 10; docs/tls.md; docs/config.md.
 */
#include "config_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

void ag_config__parse_tls_listen(struct config_ctx *c, const char *path, json_t *v)
{
    ag_config__parse_listen_list(c, path, v, &c->cfg->tls_listen, &c->cfg->n_tls_listen);
}

/* A file path: a non-empty printable string, kept as written (opened at load). */
static void config_parse_file(struct config_ctx *c, const char *path, json_t *v, char **out)
{
    const char *s;
    size_t n;

    if (!ag_config__get_string(c, path, v, &s, &n))
        return;
    if (n == 0 || !ag_config__all_printable(s, n, true)) {
        ag_config__problem(c, path, "expected the path of a PEM file");
        return;
    }
    *out = ag_config__strndup(c, s, n);
}

void ag_config__parse_tls_cert_file(struct config_ctx *c, const char *path, json_t *v)
{
    config_parse_file(c, path, v, &c->cfg->tls_cert_file);
}

void ag_config__parse_tls_key_file(struct config_ctx *c, const char *path, json_t *v)
{
    config_parse_file(c, path, v, &c->cfg->tls_key_file);
}

void ag_config__parse_upstream_ca_file(struct config_ctx *c, const char *path, json_t *v)
{
    config_parse_file(c, path, v, &c->cfg->upstream_ca_file);
}

void ag_config__parse_tls_min_version(struct config_ctx *c, const char *path, json_t *v)
{
    const char *s;
    size_t n;

    if (!ag_config__get_string(c, path, v, &s, &n))
        return;
    if (strcmp(s, "1.2") == 0)
        c->cfg->tls_min_version = 12;
    else if (strcmp(s, "1.3") == 0)
        c->cfg->tls_min_version = 13;
    else
        ag_config__problem(c, path, "expected \"1.2\" or \"1.3\"");
}

/* Whether some upstream of <cfg> is https. */
static bool config_any_https(const struct ag_config *cfg)
{
    if (cfg->upstream_tls)
        return true;
    for (size_t i = 0; i < cfg->n_routes; i++)
        if (cfg->routes[i].upstream_tls)
            return true;
    return false;
}

void ag_config__tls_finish(struct config_ctx *c, json_t *root)
{
    struct ag_config *cfg = c->cfg;
    json_t *listen = json_object_get(root, "listen");

    if (cfg->n_tls_listen > 0) {
        if (cfg->tls_cert_file == NULL && json_object_get(root, "tls-cert-file") == NULL)
            ag_config__problem(c, "tls-cert-file", "required with tls-listen");
        if (cfg->tls_key_file == NULL && json_object_get(root, "tls-key-file") == NULL)
            ag_config__problem(c, "tls-key-file", "required with tls-listen");
    } else {
        if (json_is_array(listen) && json_array_size(listen) == 0)
            ag_config__problem(c, "listen", "must not be an empty array (unless tls-listen is set)");
        if (json_is_array(json_object_get(root, "tls-listen")))
            ag_config__problem(c, "tls-listen", "must not be an empty array");
        if (cfg->tls_cert_file != NULL)
            ag_config__problem(c, "tls-cert-file", "set, but tls-listen is not");
        if (cfg->tls_key_file != NULL)
            ag_config__problem(c, "tls-key-file", "set, but tls-listen is not");
    }
    if (cfg->upstream_ca_file != NULL && !config_any_https(cfg))
        ag_config__problem(c, "upstream-ca-file", "set, but no upstream is https://");
    /* SO_REUSEPORT would let both bind and split the connections between them */
    for (size_t i = 0; i < cfg->n_tls_listen; i++)
        for (size_t j = 0; j < cfg->n_listen; j++) {
            const struct ag_listen_addr *a = &cfg->tls_listen[i], *b = &cfg->listen[j];
            if (a->host != NULL && b->host != NULL && a->port != NULL && b->port != NULL &&
                strcmp(a->port, b->port) == 0 && strcasecmp(a->host, b->host) == 0) {
                char p[48];
                snprintf(p, sizeof(p), "tls-listen[%zu]", i);
                ag_config__problem(c, p, "same address as listen[%zu]", j);
            }
        }
}
