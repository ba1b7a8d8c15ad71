/*
 * policy/config.c - the JSON configuration parser's core: the key table, defaults, the
 * environment, cross-key checks and freeing. Collects every problem as one line.
 *
 * Owns:     the struct ag_config it returns (one reference) and every string under it.
 * Entry:    ag_config_parse(), ag_config_ref(), ag_config_unref().
 * Not here: one key's checks (config_keys.c, config_rules.c, config_cors.c, config_users.c),
 *           the problem reporting, did-you-mean and typed getters every key's parser uses
 *           (config_base.c), reading the file or the environment (gateway/main.c), using
 *           the values.
 * Spec:     CONTRACT.md section 3; docs/config.md lists every key, default and message.
 */
#include "config.h"

#include <jansson.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_int.h"

/* ------------------------------------------------------------------------------------------
 * The key table
 * ------------------------------------------------------------------------------------------ */

typedef void config_parse_fn(struct config_ctx *c, const char *path, json_t *v);

enum config_kind {
    CONFIG_K_CUSTOM = 0,  /* .parse does the work */
    CONFIG_K_BOOL = 1,    /* bool */
    CONFIG_K_SECONDS = 2, /* double, > 0 and <= 86400 */
    CONFIG_K_INT = 3,     /* int in [min, max] */
    CONFIG_K_LONG = 4,    /* long in [min, max] */
    CONFIG_K_SIZE = 5,    /* size_t in [min, max] */
    CONFIG_K_ULL = 6,     /* unsigned long long in [min, max] */
};

struct config_key {
    const char *name;
    enum config_kind kind;
    size_t off; /* of the field in struct ag_config, for every kind but CUSTOM */
    long long min, max;
    config_parse_fn *parse;
};

#define CONFIG_KEY_FN(n, fn)                                                                       \
    {                                                                                              \
        .name = (n), .kind = CONFIG_K_CUSTOM, .parse = (fn)                                        \
    }
#define CONFIG_KEY_AT(n, k, f, lo, hi)                                                             \
    {                                                                                              \
        .name = (n), .kind = (k), .off = offsetof(struct ag_config, f), .min = (lo), .max = (hi)   \
    }

/* Every key the file may hold, in the order of docs/config.md. */
static const struct config_key config_keys[] = {
    CONFIG_KEY_FN("app-name", ag_config__parse_app_name),
    CONFIG_KEY_FN("master-token", ag_config__parse_master_token),
    CONFIG_KEY_FN("cryptography-key", ag_config__parse_crypto_key),
    CONFIG_KEY_FN("keys", ag_config__parse_keys),
    CONFIG_KEY_FN("upstream-assertion", ag_config__parse_upstream_assertion),
    CONFIG_KEY_FN("master-token-paths", ag_config__parse_master_paths),
    CONFIG_KEY_FN("access-token-paths", ag_config__parse_access_paths),
    CONFIG_KEY_FN("headers", ag_config__parse_headers),
    CONFIG_KEY_FN("listen", ag_config__parse_listen),
    CONFIG_KEY_FN("upstream", ag_config__parse_upstream),
    CONFIG_KEY_FN("redis", ag_config__parse_redis),
    CONFIG_KEY_FN("redis-sentinel", ag_config__parse_redis_sentinel),
    CONFIG_KEY_FN("auth-prefix", ag_config__parse_auth_prefix),
    CONFIG_KEY_AT("workers", CONFIG_K_INT, workers, 0, 256),
    CONFIG_KEY_FN("access-log", ag_config__parse_access_log),
    CONFIG_KEY_AT("upstream-timeout", CONFIG_K_SECONDS, upstream_timeout, 0, 0),
    CONFIG_KEY_AT("access-token-ttl", CONFIG_K_LONG, access_token_ttl, 1, CONFIG_YEAR),
    CONFIG_KEY_AT("refresh-token-ttl", CONFIG_K_LONG, refresh_token_ttl, 1, 10 * CONFIG_YEAR),
    CONFIG_KEY_AT("token-new-requires-master", CONFIG_K_BOOL, token_new_requires_master, 0, 0),
    CONFIG_KEY_AT("accept-header", CONFIG_K_BOOL, accept_header, 0, 0),
    CONFIG_KEY_AT("accept-cookie", CONFIG_K_BOOL, accept_cookie, 0, 0),
    CONFIG_KEY_AT("set-cookie-on-login", CONFIG_K_BOOL, set_cookie_on_login, 0, 0),
    CONFIG_KEY_AT("cookie-secure", CONFIG_K_BOOL, cookie_secure, 0, 0),
    CONFIG_KEY_FN("cookie-samesite", ag_config__parse_samesite),
    CONFIG_KEY_FN("rate-limits", ag_config__parse_rate_limits),
    CONFIG_KEY_AT("registration", CONFIG_K_BOOL, registration, 0, 0),
    CONFIG_KEY_FN("passwords", ag_config__parse_passwords),
    CONFIG_KEY_AT("hash-threads", CONFIG_K_INT, hash_threads, 0, 256),
    CONFIG_KEY_FN("trusted-proxies", ag_config__parse_trusted_proxies),
    CONFIG_KEY_FN("role-scopes", ag_config__parse_role_scopes),
    CONFIG_KEY_FN("password-reset", ag_config__parse_password_reset),
    CONFIG_KEY_AT("audit-stream-max", CONFIG_K_LONG, audit_stream_max, 0, 100000000),
    CONFIG_KEY_AT("max-sessions-per-user", CONFIG_K_LONG, max_sessions, 1, 1000),
    CONFIG_KEY_AT("client-header-timeout", CONFIG_K_SECONDS, client_header_timeout, 0, 0),
    CONFIG_KEY_AT("client-timeout", CONFIG_K_SECONDS, client_timeout, 0, 0),
    CONFIG_KEY_AT("keepalive-timeout", CONFIG_K_SECONDS, keepalive_timeout, 0, 0),
    CONFIG_KEY_AT("upstream-connect-timeout", CONFIG_K_SECONDS, upstream_connect_timeout, 0, 0),
    CONFIG_KEY_AT("tunnel-timeout", CONFIG_K_SECONDS, tunnel_timeout, 0, 0),
    CONFIG_KEY_AT("drain-timeout", CONFIG_K_SECONDS, drain_timeout, 0, 0),
    CONFIG_KEY_AT("max-header-size", CONFIG_K_SIZE, max_header_size, 1024, 81920),
    CONFIG_KEY_AT("max-headers", CONFIG_K_SIZE, max_headers, 8, 1000),
    CONFIG_KEY_AT("max-body-size", CONFIG_K_ULL, max_body_size, 0, LLONG_MAX),
    CONFIG_KEY_AT("upstream-pool-size", CONFIG_K_SIZE, upstream_pool_size, 0, 100000),
    CONFIG_KEY_AT("allow-path-semicolon", CONFIG_K_BOOL, allow_path_semicolon, 0, 0),
    CONFIG_KEY_AT("deny-by-default", CONFIG_K_BOOL, deny_by_default, 0, 0),
    CONFIG_KEY_FN("public-paths", ag_config__parse_public_paths),
    CONFIG_KEY_FN("rules", ag_config__parse_rules),
    CONFIG_KEY_FN("routes", ag_config__parse_routes),
    CONFIG_KEY_FN("token-issuer", ag_config__parse_token_issuer),
    CONFIG_KEY_FN("token-audience", ag_config__parse_token_audience),
    CONFIG_KEY_FN("legacy-tokens", ag_config__parse_legacy_tokens),
    CONFIG_KEY_AT("token-leeway", CONFIG_K_LONG, token_leeway, 0, 3600),
    CONFIG_KEY_AT("token-exp-leeway", CONFIG_K_LONG, token_exp_leeway, 0, 3600),
    CONFIG_KEY_AT("token-max-size", CONFIG_K_SIZE, token_max_size, 512, 65536),
    CONFIG_KEY_AT("token-cache-size", CONFIG_K_SIZE, token_cache_size, 0, 1000000),
    /* API keys (docs/api-keys.md) */
    CONFIG_KEY_FN("api-key-header", ag_config__parse_api_key_header),
    CONFIG_KEY_AT("api-keys-per-user", CONFIG_K_LONG, api_keys_per_user, 1, 1000),
    CONFIG_KEY_AT("api-key-cache-size", CONFIG_K_SIZE, api_key_cache_size, 16, 1000000),
    CONFIG_KEY_AT("api-key-lookups", CONFIG_K_LONG, api_key_lookups, 0, 1000000),
    CONFIG_KEY_AT("forward-credentials", CONFIG_K_BOOL, forward_credentials, 0, 0),
    CONFIG_KEY_AT("forward-authorization", CONFIG_K_BOOL, forward_authorization, 0, 0),
    CONFIG_KEY_FN("identity-headers", ag_config__parse_identity_headers),
    CONFIG_KEY_FN("user-fields", ag_config__parse_user_fields),
    CONFIG_KEY_FN("token-claims", ag_config__parse_token_claims),
    CONFIG_KEY_FN("cors", ag_config__parse_cors),
    CONFIG_KEY_FN("metrics-listen", ag_config__parse_metrics_listen),
    CONFIG_KEY_FN("log-format", ag_config__parse_log_format),
    CONFIG_KEY_FN("tls-listen", ag_config__parse_tls_listen),
    CONFIG_KEY_FN("tls-cert-file", ag_config__parse_tls_cert_file),
    CONFIG_KEY_FN("tls-key-file", ag_config__parse_tls_key_file),
    CONFIG_KEY_FN("tls-min-version", ag_config__parse_tls_min_version),
    CONFIG_KEY_FN("upstream-ca-file", ag_config__parse_upstream_ca_file),
    /* Several instances (docs/operations.md) */
    CONFIG_KEY_AT("redis-min-replicas-ack", CONFIG_K_INT, redis_min_replicas_ack, 0, 64),
};

/* Checks the value <v> of the top-level key <key> and stores it in <c>->cfg. */
static void config_parse_key(struct config_ctx *c, const char *key, json_t *v)
{
    const char *names[CONFIG_ARRAY_LEN(config_keys)];
    const struct config_key *k = NULL;
    char *field;
    long long x;
    double d;
    bool b;

    if (strcmp(key, "database-api-url") == 0) {
        ag_config__problem(c, key, "not supported; authgate keeps its state in Redis: use 'redis'");
        return;
    }
    for (size_t i = 0; i < CONFIG_ARRAY_LEN(config_keys); i++) {
        names[i] = config_keys[i].name;
        if (strcmp(key, names[i]) == 0)
            k = &config_keys[i];
    }
    if (k == NULL) {
        ag_config__unknown_key(c, NULL, key, names, CONFIG_ARRAY_LEN(names));
        return;
    }
    field = (char *)c->cfg + k->off;
    switch (k->kind) {
    case CONFIG_K_CUSTOM:
        k->parse(c, k->name, v);
        break;
    case CONFIG_K_BOOL:
        if (ag_config__get_bool(c, k->name, v, &b))
            *(bool *)field = b;
        break;
    case CONFIG_K_SECONDS:
        if (ag_config__get_seconds(c, k->name, v, &d))
            *(double *)field = d;
        break;
    case CONFIG_K_INT:
    case CONFIG_K_LONG:
    case CONFIG_K_SIZE:
    case CONFIG_K_ULL:
        if (!ag_config__get_int(c, k->name, v, k->min, k->max, &x))
            break;
        if (k->kind == CONFIG_K_INT)
            *(int *)field = (int)x;
        else if (k->kind == CONFIG_K_LONG)
            *(long *)field = (long)x;
        else if (k->kind == CONFIG_K_SIZE)
            *(size_t *)field = (size_t)x;
        else
            *(unsigned long long *)field = (unsigned long long)x;
        break;
    }
}

/* ------------------------------------------------------------------------------------------
 * Defaults, environment, cross-key checks
 * ------------------------------------------------------------------------------------------ */

/* Returns a new config holding one reference and every scalar default, or NULL. */
static struct ag_config *config_new(void)
{
    struct ag_config *cfg = calloc(1, sizeof(*cfg));

    if (cfg == NULL)
        return NULL;
    atomic_init(&cfg->_refs, 1);
    cfg->workers = 0;
    cfg->upstream_timeout = 60;
    cfg->tls_min_version = 12;
    cfg->access_token_ttl = 900;
    cfg->refresh_token_ttl = 604800;
    cfg->token_new_requires_master = true;
    cfg->accept_header = true;
    cfg->accept_cookie = true;
    cfg->set_cookie_on_login = true;
    cfg->cookie_secure = true;
    cfg->cookie_samesite = AG_SAMESITE_LAX;
    cfg->rate_limits = true;
    cfg->rl_login = (struct ag_rate){10, 60};
    cfg->rl_register = (struct ag_rate){5, 3600};
    cfg->rl_refresh = (struct ag_rate){60, 60};
    cfg->rl_token_new = (struct ag_rate){30, 60};
    cfg->lockout_failures = 5;
    cfg->lockout_seconds = 900;
    cfg->rl_login_account = (struct ag_rate){5, 60};
    cfg->rl_reset = (struct ag_rate){5, 3600};
    cfg->rl_sessions = (struct ag_rate){30, 60};
    cfg->rl_bad_sigs = (struct ag_rate){32, 1};
    cfg->bad_sigs_per_conn = 8;
    cfg->rl_audit = (struct ag_rate){600, 60};
    cfg->registration = true;
    cfg->passwords = (struct ag_pwparams){.opslimit = 2, .memlimit = 19456 * 1024,
                                          .min_len = 8, .max_len = 128};
    cfg->reset_ttl = 900;
    cfg->audit_stream_max = 100000;
    cfg->max_sessions = 100;
    cfg->client_header_timeout = 10;
    cfg->client_timeout = 60;
    cfg->keepalive_timeout = 75;
    cfg->upstream_connect_timeout = 5;
    cfg->tunnel_timeout = 3600;
    cfg->drain_timeout = 10;
    cfg->max_header_size = 16384;
    cfg->max_headers = 100;
    cfg->max_body_size = 1073741824ULL;
    cfg->upstream_pool_size = 64;
    cfg->allow_path_semicolon = false;
    cfg->deny_by_default = false;
    cfg->token_leeway = 30;
    cfg->token_exp_leeway = 0; /* exp: no skew, the gateway issues and checks with one clock */
    cfg->token_max_size = 8192;
    cfg->token_cache_size = 4096;
    cfg->api_keys_per_user = 20;
    cfg->api_key_cache_size = 4096;
    cfg->api_key_lookups = 20;
    cfg->forward_credentials = false;
    cfg->forward_authorization = false;
    cfg->cors.max_age = 600;
    return cfg;
}

/* Sets *<field> to a copy of <def> when the file left it unset. */
static void config_default_str(struct config_ctx *c, char **field, const char *def)
{
    if (*field == NULL)
        *field = ag_config__strndup(c, def, strlen(def));
}

/*
 * Takes master-token and cryptography-key from <env> when <root> leaves them out
 * (the file wins even when its value is bad). An empty variable counts as unset,
 * as `KEY=` in a .env file means. Whether a missing key is a problem is judged with
 * the ring (ag_config__keys_finish()).
 */
static void config_apply_env(struct config_ctx *c, json_t *root, const struct ag_config_env *env)
{
    struct ag_config *cfg = c->cfg;
    const char *mt = env != NULL ? env->master_token : NULL;
    const char *ck = env != NULL ? env->cryptography_key : NULL;

    if (json_object_get(root, "master-token") == NULL && mt != NULL && mt[0] != '\0' &&
        ag_config__check_master_token(c, "MASTER_TOKEN ", mt, strlen(mt))) {
        cfg->master_token_len = strlen(mt);
        cfg->master_token = ag_config__strndup(c, mt, cfg->master_token_len);
    }
    if (json_object_get(root, "cryptography-key") != NULL)
        return;
    if (ck != NULL && ck[0] != '\0') {
        if (!ag_config__check_crypto_key(c, "CRYPTOGRAPHY_KEY ", ck, strlen(ck)))
            return;
        cfg->crypto_key_len = strlen(ck);
        cfg->crypto_key = ag_config__strndup(c, ck, cfg->crypto_key_len);
    }
}

/*
 * The four identity header names must differ from each other and from every
 * name in "headers" (ignoring case, '_' and '.' read as '-'): the gateway would
 * otherwise send one name twice, or let a configured value pose as identity.
 */
static void config_check_identity_names(struct config_ctx *c)
{
    struct ag_config *cfg = c->cfg;
    const char *const keys[] = {"subject", "client-id", "scopes", "roles"};
    const char *const vals[] = {cfg->identity.subject, cfg->identity.client_id,
                                cfg->identity.scopes, cfg->identity.roles};
    char ipath[AG_ERR_LINE], shown[80];

    for (size_t i = 0; i < CONFIG_ARRAY_LEN(vals); i++) {
        if (vals[i] == NULL)
            continue;
        snprintf(ipath, sizeof(ipath), "identity-headers.%s", keys[i]);
        for (size_t j = 0; j < i; j++)
            if (vals[j] != NULL && ag_hdr_name_eq(ag_str_c(vals[i]), vals[j]))
                ag_config__problem(c, ipath, "same header name as identity-headers.%s", keys[j]);
        for (size_t h = 0; h < cfg->n_headers; h++)
            if (cfg->headers[h].name != NULL &&
                ag_hdr_name_eq(ag_str_c(vals[i]), cfg->headers[h].name))
                ag_config__problem(
                    c, ipath, "same header name as headers.%s (the gateway sets it)",
                    ag_config__printable(cfg->headers[h].name, shown, sizeof(shown)));
    }
}

/* metrics-listen must be none of the <n> addresses of <list> (the key <key>). */
static void config_check_metrics_listen(struct config_ctx *c, const char *key,
                                        const struct ag_listen_addr *list, size_t n)
{
    const struct ag_listen_addr *m = &c->cfg->metrics_listen;

    for (size_t i = 0; m->port != NULL && i < n; i++)
        if (list[i].host != NULL && list[i].port != NULL && strcmp(list[i].port, m->port) == 0 &&
            strcasecmp(list[i].host, m->host) == 0)
            ag_config__problem(c, "metrics-listen", "same address as %s[%zu]: the main "
                               "listeners never serve /metrics", key, i);
}

/* Fills the string defaults and checks what involves more than one key of <root>. */
static void config_finish(struct config_ctx *c, json_t *root)
{
    struct ag_config *cfg = c->cfg;

    if (json_object_get(root, "upstream") == NULL)
        ag_config__problem(c, "upstream", "required (\"http://HOST:PORT\" of the application)");
    /* fastauth-api's README example uses one string for both: whoever may call a master
     * path could then mint tokens for any identity (CONTRACT.md section 3) */
    if (cfg->crypto_key != NULL && cfg->master_token != NULL &&
        cfg->crypto_key_len == cfg->master_token_len &&
        sodium_memcmp(cfg->crypto_key, cfg->master_token, cfg->crypto_key_len) == 0)
        ag_config__problem(c, "cryptography-key",
                           "must differ from master-token (whoever holds the master token "
                           "could sign tokens); `authgate keygen` makes one");
    if (cfg->cookie_samesite == AG_SAMESITE_NONE && !cfg->cookie_secure)
        ag_config__problem(c, "cookie-samesite",
                           "\"none\" needs cookie-secure true (browsers refuse SameSite=None "
                           "cookies without Secure)");
    config_default_str(c, &cfg->app_name, "authgate");
    if (cfg->redis_sentinel != NULL && json_object_get(root, "redis") != NULL)
        ag_config__problem(c, "redis-sentinel", "set either 'redis' or 'redis-sentinel', not both");
    if (cfg->redis_sentinel == NULL)
        config_default_str(c, &cfg->redis_url, "redis://127.0.0.1:6379/0");
    config_default_str(c, &cfg->auth_prefix, "/auth");
    config_default_str(c, &cfg->access_log, "stderr");
    if (cfg->app_name != NULL)
        config_default_str(c, &cfg->token_issuer, cfg->app_name);
    config_default_str(c, &cfg->identity.subject, "X-Auth-Subject");
    config_default_str(c, &cfg->identity.client_id, "X-Auth-Client-Id");
    config_default_str(c, &cfg->identity.scopes, "X-Auth-Scopes");
    config_default_str(c, &cfg->identity.roles, "X-Auth-Roles");
    config_default_str(c, &cfg->api_key_header, "X-API-Key");
    config_check_identity_names(c);
    ag_config__user_fields_finish(c);
    ag_config__assertion_finish(c, root);
    if (cfg->passwords.max_len < cfg->passwords.min_len)
        ag_config__problem(c, "passwords.max-length", "must be at least passwords.min-length (%zu)",
                           cfg->passwords.min_len);
    ag_config__tls_finish(c, root);
    if (json_object_get(root, "listen") == NULL) {
        if ((cfg->listen = ag_config__calloc(c, 1, sizeof(*cfg->listen))) == NULL)
            return;
        cfg->n_listen = 1;
        cfg->listen[0].host = ag_config__strndup(c, "127.0.0.1", 9);
        cfg->listen[0].port = ag_config__strndup(c, "8080", 4);
    }
    config_check_metrics_listen(c, "listen", cfg->listen, cfg->n_listen);
    config_check_metrics_listen(c, "tls-listen", cfg->tls_listen, cfg->n_tls_listen);
}

/* Zeroes the <len> bytes of *<p> (a secret) and frees it; *<p> becomes NULL. */
static void config_free_secret(char **p, size_t len)
{
    if (*p != NULL)
        sodium_memzero(*p, len);
    AG_FREE(*p);
}

/* Frees the <n> strings of *<v> and the array; *<v> becomes NULL. */
static void config_free_list(char ***v, size_t n)
{
    for (size_t i = 0; *v != NULL && i < n; i++)
        AG_FREE((*v)[i]);
    AG_FREE(*v);
}

/* Frees <cfg> and everything under it, zeroing the secrets; NULL is allowed. */
static void config_free(struct ag_config *cfg)
{
    if (cfg == NULL)
        return;
    AG_FREE(cfg->source);
    AG_FREE(cfg->app_name);
    AG_FREE(cfg->api_key_header);
    config_free_secret(&cfg->master_token, cfg->master_token_len);
    config_free_secret(&cfg->crypto_key, cfg->crypto_key_len);
    ag_config__keys_free(cfg);
    for (size_t i = 0; i < cfg->n_master_paths; i++)
        AG_FREE(cfg->master_paths[i]);
    AG_FREE(cfg->master_paths);
    for (size_t i = 0; i < cfg->n_access_paths; i++)
        AG_FREE(cfg->access_paths[i]);
    AG_FREE(cfg->access_paths);
    for (size_t i = 0; i < cfg->n_headers; i++) {
        AG_FREE(cfg->headers[i].name);
        AG_FREE(cfg->headers[i].value);
    }
    AG_FREE(cfg->headers);
    for (size_t i = 0; i < cfg->n_listen; i++) {
        AG_FREE(cfg->listen[i].host);
        AG_FREE(cfg->listen[i].port);
    }
    AG_FREE(cfg->listen);
    AG_FREE(cfg->metrics_listen.host);
    AG_FREE(cfg->metrics_listen.port);
    for (size_t i = 0; i < cfg->n_tls_listen; i++) {
        AG_FREE(cfg->tls_listen[i].host);
        AG_FREE(cfg->tls_listen[i].port);
    }
    AG_FREE(cfg->tls_listen);
    AG_FREE(cfg->tls_cert_file);
    AG_FREE(cfg->tls_key_file);
    AG_FREE(cfg->upstream_ca_file);
    AG_FREE(cfg->upstream_host);
    AG_FREE(cfg->upstream_port);
    AG_FREE(cfg->upstream_hostport);
    /* the URL may carry the Redis password */
    config_free_secret(&cfg->redis_url, cfg->redis_url ? strlen(cfg->redis_url) : 0);
    if (cfg->redis_sentinel != NULL) {
        struct ag_redis_sentinel *rs = cfg->redis_sentinel;

        AG_FREE(rs->master);
        config_free_list(&rs->sentinels, rs->n_sentinels);
        config_free_secret(&rs->password, rs->password ? strlen(rs->password) : 0);
        config_free_secret(&rs->sentinel_password,
                           rs->sentinel_password ? strlen(rs->sentinel_password) : 0);
        AG_FREE(cfg->redis_sentinel);
    }
    AG_FREE(cfg->auth_prefix);
    AG_FREE(cfg->access_log);
    for (size_t i = 0; i < cfg->n_public_paths; i++)
        AG_FREE(cfg->public_paths[i]);
    AG_FREE(cfg->public_paths);
    for (size_t i = 0; i < cfg->n_rules; i++) {
        struct ag_rule *r = &cfg->rules[i];

        AG_FREE(r->prefix);
        for (size_t k = 0; k < r->n_methods; k++)
            AG_FREE(r->methods[k]);
        AG_FREE(r->methods);
        for (size_t k = 0; k < r->n_scopes; k++)
            AG_FREE(r->scopes[k]);
        AG_FREE(r->scopes);
        for (size_t k = 0; k < r->n_roles; k++)
            AG_FREE(r->roles[k]);
        AG_FREE(r->roles);
    }
    AG_FREE(cfg->rules);
    AG_FREE(cfg->trusted_proxies);
    for (size_t i = 0; i < cfg->n_role_scopes; i++) {
        AG_FREE(cfg->role_scopes[i].role);
        config_free_list(&cfg->role_scopes[i].scopes, cfg->role_scopes[i].n_scopes);
    }
    AG_FREE(cfg->role_scopes);
    AG_FREE(cfg->reset_webhook);
    AG_FREE(cfg->reset_webhook_host);
    AG_FREE(cfg->reset_webhook_port);
    AG_FREE(cfg->reset_webhook_path);
    for (size_t i = 0; i < cfg->n_routes; i++) {
        AG_FREE(cfg->routes[i].prefix);
        AG_FREE(cfg->routes[i].upstream_host);
        AG_FREE(cfg->routes[i].upstream_port);
        AG_FREE(cfg->routes[i].upstream_hostport);
    }
    AG_FREE(cfg->routes);
    AG_FREE(cfg->token_issuer);
    AG_FREE(cfg->token_audience);
    AG_FREE(cfg->identity.subject);
    AG_FREE(cfg->identity.client_id);
    AG_FREE(cfg->identity.scopes);
    AG_FREE(cfg->identity.roles);
    for (size_t i = 0; i < cfg->n_user_fields; i++) {
        AG_FREE(cfg->user_fields[i].name);
        AG_FREE(cfg->user_fields[i].header);
    }
    AG_FREE(cfg->user_fields);
    config_free_list(&cfg->token_claims, cfg->n_token_claims);
    config_free_list(&cfg->field_headers, 2 * cfg->n_field_headers);
    config_free_list(&cfg->cors.origins, cfg->cors.n_origins);
    config_free_list(&cfg->cors.methods, cfg->cors.n_methods);
    config_free_list(&cfg->cors.headers, cfg->cors.n_headers);
    AG_FREE(cfg->cors.methods_line);
    AG_FREE(cfg->cors.expose_line);
    free(cfg);
}

/* ------------------------------------------------------------------------------------------
 * Entry points
 * ------------------------------------------------------------------------------------------ */

/*
 * Parses <json,len> (any bytes; NULL with <len> 0 reads as empty) as the config
 * file <source> (NULL: "(config)"), with <env> (may be NULL) as the fallback for
 * master-token and cryptography-key. Every problem is one line in <err> (may be
 * NULL); the keys are checked in file order, then the cross-key rules. Returns a
 * new config with one reference, or NULL when there was any problem or memory ran
 * out. Nothing in <json> or <env> is kept.
 */
struct ag_config *ag_config_parse(const char *json, size_t len, const char *source,
                                  const struct ag_config_env *env, unsigned flags,
                                  struct ag_err *err)
{
    struct config_ctx c = {.err = err, .source = source != NULL ? source : "(config)"};
    json_t *root = NULL, *v;
    json_error_t jerr;
    const char *key;
    char text[200];

    root =
        json_loadb(json != NULL ? json : "", json != NULL ? len : 0, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        ag_err_add(err, "%s:%d:%d: %s", c.source, jerr.line, jerr.column,
                   ag_config__printable(jerr.text, text, sizeof(text)));
        c.problems++;
        goto out;
    }
    if (!json_is_object(root)) {
        ag_config__problem(&c, NULL, "the top level must be a JSON object {...}");
        goto out;
    }
    c.cfg = config_new();
    if (c.cfg == NULL) {
        c.oom = true;
        goto out;
    }
    json_object_foreach(root, key, v)
    {
        config_parse_key(&c, key, v);
    }
    config_apply_env(&c, root, env);
    /* A key given but refused is reported as such, not also as missing. */
    ag_config__keys_finish(&c, root,
                           !(flags & AG_CONFIG_F_NO_KEY_CHECK) &&
                               json_object_get(root, "cryptography-key") == NULL &&
                               (env == NULL || env->cryptography_key == NULL ||
                                env->cryptography_key[0] == '\0'));
    config_finish(&c, root);
    c.cfg->source = ag_config__strndup(&c, c.source, strlen(c.source));
out:
    if (c.oom)
        ag_config__problem(&c, NULL, "out of memory");
    json_decref(root);
    if (c.problems > 0) {
        config_free(c.cfg);
        c.cfg = NULL;
    }
    return c.cfg;
}

/* Takes one more reference on <cfg> (not NULL); any thread may call it. Returns <cfg>. */
struct ag_config *ag_config_ref(struct ag_config *cfg)
{
    atomic_fetch_add_explicit(&cfg->_refs, 1, memory_order_relaxed);
    return cfg;
}

/*
 * Drops one reference on <cfg> (NULL is allowed); the last one frees the config
 * and everything under it, zeroing master-token, cryptography-key and the Redis
 * URL first. The acquire/release pair orders every reader's last use before free.
 */
void ag_config_unref(struct ag_config *cfg)
{
    if (cfg == NULL)
        return;
    if (atomic_fetch_sub_explicit(&cfg->_refs, 1, memory_order_acq_rel) == 1)
        config_free(cfg);
}
