/*
 * policy/config_users.c - the checks of the user-facing keys: rate-limits (and the
 * lockout), passwords, trusted-proxies, role-scopes, password-reset, api-key-header.
 *
 * Owns:     nothing; every value goes into the config being parsed (config_int.h).
 * Entry:    ag_config__parse_<key>() from the key table; ag_config_trusted_proxy().
 * Not here: counting requests (store/ratelimit.c), hashing (policy/password.c).
 * Spec:     docs/users.md; docs/config.md "rate-limits".
 */
#include "config_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
/* ------------------------------------------------------------------------------------------
 * Rate limits and the login lockout
 * ------------------------------------------------------------------------------------------ */

/*
 * Parses the object <v> at <path> whose two integer members are <k1> (>= 0) and
 * <k2> (>= 1, seconds) into *<o1> and *<o2>; absent members keep their value.
 */
static void config_parse_pair(struct config_ctx *c, const char *path, json_t *v, const char *k1,
                              long *o1, const char *k2, long *o2)
{
    const char *const names[] = {k1, k2};
    char kpath[AG_ERR_LINE];
    const char *key;
    long long x;
    json_t *e;

    if (!json_is_object(v)) {
        ag_config__problem(c, path, "expected an object {\"%s\": N, \"%s\": SECONDS}", k1, k2);
        return;
    }
    json_object_foreach(v, key, e)
    {
        bool first = strcmp(key, k1) == 0;

        if (!first && strcmp(key, k2) != 0) {
            ag_config__unknown_key(c, path, key, names, 2);
            continue;
        }
        snprintf(kpath, sizeof(kpath), "%s.%s", path, key);
        if (ag_config__get_int(c, kpath, e, first ? 0 : 1, first ? 1000000000LL : CONFIG_YEAR, &x))
            *(first ? o1 : o2) = (long)x;
    }
}

void ag_config__parse_rate_limits(struct config_ctx *c, const char *path, json_t *v)
{
    struct ag_config *cfg = c->cfg;
    const char *const names[] = {"login",         "register", "refresh",  "token-new",
                                 "login-account", "reset",    "sessions", "invalid-signatures",
                                 "audit",         "lockout",  "invalid-signatures-per-connection"};
    struct ag_rate *rates[] = {&cfg->rl_login,         &cfg->rl_register,
                               &cfg->rl_refresh,       &cfg->rl_token_new,
                               &cfg->rl_login_account, &cfg->rl_reset,
                               &cfg->rl_sessions,      &cfg->rl_bad_sigs,
                               &cfg->rl_audit};
    char kpath[AG_ERR_LINE];
    const char *key;
    long long x;
    json_t *e;

    if (json_is_boolean(v)) {
        cfg->rate_limits = json_is_true(v);
        return;
    }
    if (!json_is_object(v)) {
        ag_config__problem(c, path, "expected true, false or an object");
        return;
    }
    json_object_foreach(v, key, e)
    {
        size_t i = 0;

        if (!ag_config__member(c, path, key, names, CONFIG_ARRAY_LEN(names), &i, kpath))
            continue;
        if (i < CONFIG_ARRAY_LEN(rates))
            config_parse_pair(c, kpath, e, "limit", &rates[i]->limit, "window", &rates[i]->window);
        else if (strcmp(key, "lockout") == 0)
            config_parse_pair(c, kpath, e, "failures", &cfg->lockout_failures, "seconds",
                              &cfg->lockout_seconds);
        else if (ag_config__get_int(c, kpath, e, 0, 1000000000LL, &x))
            cfg->bad_sigs_per_conn = (long)x; /* docs/keys.md "Floods of invalid tokens" */
    }
}

/* ------------------------------------------------------------------------------------------
 * Users: passwords, proxies, scopes, password reset (docs/users.md)
 * ------------------------------------------------------------------------------------------ */

void ag_config__parse_passwords(struct config_ctx *c, const char *path, json_t *v)
{
    static const char *const names[] = {"min-length", "max-length", "argon2-iterations",
                                        "argon2-memory-kib"};
    static const long long lo[] = {1, 8, 1, 8}, hi[] = {1024, 4096, 100, 4194304};
    struct ag_pwparams *pw = &c->cfg->passwords;
    char kpath[AG_ERR_LINE];
    const char *key;
    long long x;
    json_t *e;

    if (!json_is_object(v)) {
        ag_config__problem(c, path, "expected an object {\"min-length\": N, ...}");
        return;
    }
    json_object_foreach(v, key, e)
    {
        size_t i = 0;

        if (!ag_config__member(c, path, key, names, CONFIG_ARRAY_LEN(names), &i, kpath))
            continue;
        if (!ag_config__get_int(c, kpath, e, lo[i], hi[i], &x))
            continue;
        switch (i) {
        case 0: pw->min_len = (size_t)x; break;
        case 1: pw->max_len = (size_t)x; break;
        case 2: pw->opslimit = (unsigned long long)x; break;
        default: pw->memlimit = (size_t)x * 1024; break;
        }
    }
}

/* Parses "ADDR" or "ADDR/BITS" (IPv4 or IPv6) into <out>; false when malformed. */
static bool config_parse_cidr(const char *s, struct ag_cidr *out)
{
    char buf[INET6_ADDRSTRLEN + 8];
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    unsigned max;

    if (alen == 0 || alen >= INET6_ADDRSTRLEN)
        return false;
    memcpy(buf, s, alen);
    buf[alen] = '\0';
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, buf, out->addr) == 1)
        out->family = AF_INET, max = 32;
    else if (inet_pton(AF_INET6, buf, out->addr) == 1)
        out->family = AF_INET6, max = 128;
    else
        return false;
    out->bits = max;
    if (slash != NULL) {
        char *end;
        unsigned long b;

        if (!ag_config__is_digit((unsigned char)slash[1]) || strlen(slash + 1) > 3)
            return false;
        b = strtoul(slash + 1, &end, 10);
        if (*end != '\0' || b > max)
            return false;
        out->bits = (unsigned)b;
    }
    for (unsigned i = out->bits; i < max; i++) /* clear the host bits */
        out->addr[i / 8] &= (unsigned char)~(0x80u >> (i % 8));
    return true;
}

void ag_config__parse_trusted_proxies(struct config_ctx *c, const char *path, json_t *v)
{
    struct ag_config *cfg = c->cfg;
    char ipath[AG_ERR_LINE];
    size_t i;
    json_t *e;

    if (ag_config__array_new(c, path, v, "an array of addresses (\"10.0.0.0/8\", \"::1\")", NULL,
                             sizeof(*cfg->trusted_proxies), (void **)&cfg->trusted_proxies,
                             NULL) == 0)
        return;
    json_array_foreach(v, i, e)
    {
        const char *s;
        size_t n;

        if (!ag_config__item_string(c, path, i, e, ipath, &s, &n))
            continue;
        if (strlen(s) != n || !config_parse_cidr(s, &cfg->trusted_proxies[cfg->n_trusted_proxies]))
            ag_config__problem(c, ipath, "expected an IPv4 or IPv6 address, optionally /BITS");
        else
            cfg->n_trusted_proxies++;
    }
}

bool ag_config_trusted_proxy(const struct ag_config *cfg, int family, const void *addr)
{
    const unsigned char *a = addr;

    for (size_t i = 0; i < cfg->n_trusted_proxies; i++) {
        const struct ag_cidr *r = &cfg->trusted_proxies[i];
        unsigned full = r->bits / 8, rest = r->bits % 8;

        if (r->family != family || memcmp(r->addr, a, full) != 0)
            continue;
        if (rest == 0 || ((a[full] ^ r->addr[full]) & (unsigned char)(0xff00u >> rest)) == 0)
            return true;
    }
    return false;
}

void ag_config__parse_role_scopes(struct config_ctx *c, const char *path, json_t *v)
{
    struct ag_config *cfg = c->cfg;
    char kpath[AG_ERR_LINE];
    const char *key;
    json_t *e;

    if (!json_is_object(v)) {
        ag_config__problem(c, path, "expected an object {\"ROLE\": [\"SCOPE\", ...]}");
        return;
    }
    if (json_object_size(v) == 0)
        return;
    cfg->role_scopes = ag_config__calloc(c, json_object_size(v), sizeof(*cfg->role_scopes));
    if (cfg->role_scopes == NULL)
        return;
    json_object_foreach(v, key, e)
    {
        struct ag_role_scopes *rs = &cfg->role_scopes[cfg->n_role_scopes];
        char shown[80];

        snprintf(kpath, sizeof(kpath), "%s.%s", path,
                 ag_config__printable(key, shown, sizeof(shown)));
        if (!ag_config__word_ok(CONFIG_W_ROLE, key, strlen(key))) {
            ag_config__problem(c, kpath,
                               "a role must be non-empty, without spaces, control "
                               "characters or ','");
            continue;
        }
        if ((rs->role = ag_config__strndup(c, key, strlen(key))) == NULL)
            return;
        cfg->n_role_scopes++;
        ag_config__parse_words(c, kpath, e, CONFIG_W_SCOPE, &rs->scopes, &rs->n_scopes);
    }
}

/* "http://HOST:PORT/PATH": where password reset links are POSTed (docs/users.md). */
static void config_parse_reset_webhook(struct config_ctx *c, const char *path, json_t *v)
{
    struct ag_config *cfg = c->cfg;
    const char *s, *slash;
    struct ag_str host;
    unsigned port = 80;
    char buf[300];
    size_t n;

    if (json_is_null(v))
        return;
    if (!ag_config__get_string(c, path, v, &s, &n))
        return;
    if (n < 7 || strncasecmp(s, "http://", 7) != 0 || strlen(s) != n || n > 2048 ||
        !ag_config__all_printable(s, n, false)) {
        ag_config__problem(c, path, "expected \"http://HOST:PORT/PATH\" (https is not supported)");
        return;
    }
    slash = strchr(s + 7, '/');
    if (slash == NULL)
        slash = s + n;
    if (memchr(s + 7, '@', (size_t)(slash - s - 7)) != NULL ||
        ag_config__split_hostport(s + 7, (size_t)(slash - s - 7), true, &host, &port) !=
            CONFIG_HP_OK) {
        ag_config__problem(c, path, "expected \"http://HOST:PORT/PATH\" (no credentials)");
        return;
    }
    cfg->reset_webhook = ag_config__strndup(c, s, n);
    cfg->reset_webhook_host = ag_config__strndup(c, host.p, host.len);
    snprintf(buf, sizeof(buf), "%u", port);
    cfg->reset_webhook_port = ag_config__strndup(c, buf, strlen(buf));
    cfg->reset_webhook_path =
        ag_config__strndup(c, *slash ? slash : "/", *slash ? strlen(slash) : 1);
}

void ag_config__parse_password_reset(struct config_ctx *c, const char *path, json_t *v)
{
    static const char *const names[] = {"ttl", "webhook"};
    char kpath[AG_ERR_LINE];
    const char *key;
    long long x;
    json_t *e;

    if (!json_is_object(v)) {
        ag_config__problem(c, path, "expected an object {\"ttl\": SECONDS, \"webhook\": URL}");
        return;
    }
    json_object_foreach(v, key, e)
    {
        snprintf(kpath, sizeof(kpath), "%s.%s", path, key);
        if (strcmp(key, "ttl") == 0) {
            if (ag_config__get_int(c, kpath, e, 60, 86400, &x))
                c->cfg->reset_ttl = (long)x;
        } else if (strcmp(key, "webhook") == 0) {
            config_parse_reset_webhook(c, kpath, e);
        } else {
            ag_config__unknown_key(c, path, key, names, CONFIG_ARRAY_LEN(names));
        }
    }
}

/* api-key-header: the field that carries an API key (docs/api-keys.md). */
void ag_config__parse_api_key_header(struct config_ctx *c, const char *path, json_t *v)
{
    const char *s;
    size_t n;

    if (!ag_config__get_string(c, path, v, &s, &n) || !ag_config__header_name_ok(c, path, s, n))
        return;
    AG_FREE(c->cfg->api_key_header);
    c->cfg->api_key_header = ag_config__strndup(c, s, n);
}
