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
#include <stdint.h>
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

/*
 * Opens the object <v> at <path> whose members become entries (role-scopes, user-fields):
 * a new zeroed table of one <size> slot per member at *<out>. Returns the member count;
 * 0 when there is nothing to parse (problem "expected <what>" when not an object, or a
 * member count above <max>).
 */
static size_t config_object_new(struct config_ctx *c, const char *path, json_t *v,
                                const char *what, size_t max, size_t size, void **out)
{
    if (!json_is_object(v)) {
        ag_config__problem(c, path, "expected %s", what);
        return 0;
    }
    if (json_object_size(v) > max) {
        ag_config__problem(c, path, "at most %zu entries", max);
        return 0;
    }
    if (json_object_size(v) == 0 || (*out = ag_config__calloc(c, json_object_size(v), size)) == NULL)
        return 0;
    return json_object_size(v);
}

/* "<path>.<key>" into <kpath> (AG_ERR_LINE bytes), <key> made printable. */
static const char *config_member_path(char *kpath, const char *path, const char *key)
{
    char shown[80];

    snprintf(kpath, AG_ERR_LINE, "%s.%s", path, ag_config__printable(key, shown, sizeof(shown)));
    return kpath;
}

void ag_config__parse_role_scopes(struct config_ctx *c, const char *path, json_t *v)
{
    struct ag_config *cfg = c->cfg;
    char kpath[AG_ERR_LINE];
    const char *key;
    json_t *e;

    if (config_object_new(c, path, v, "an object {\"ROLE\": [\"SCOPE\", ...]}", SIZE_MAX,
                          sizeof(*cfg->role_scopes), (void **)&cfg->role_scopes) == 0)
        return;
    json_object_foreach(v, key, e)
    {
        struct ag_role_scopes *rs = &cfg->role_scopes[cfg->n_role_scopes];

        config_member_path(kpath, path, key);
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

/* ------------------------------------------------------------------------------------------
 * Custom user fields, token-claims and their identity headers (docs/users.md "Custom fields")
 * ------------------------------------------------------------------------------------------ */

#define CONFIG_UFIELDS_MAX 32     /* declared fields */
#define CONFIG_UFIELD_NAME_MAX 64 /* bytes of a field name */

/*
 * Names a custom field may not take: the built-in members of the user object, the
 * members of the bodies that carry fields (register, PATCH /me, login), and what the
 * store keeps in the user record.
 */
static const char *const config_ufield_reserved[] = {
    "id",       "email",        "username",   "password",         "is_active",
    "is_staff", "is_superuser", "roles",      "created_at",       "current_password",
    "new_password", "username_or_email", "hash", "fields", "failures", "locked_until",
    "password_changed_at", "scope", "scopes", "grant_type", "client_id", "client_secret",
    "refresh_token", "access_token",
};

/* Claims the gateway writes or reads itself: a custom field cannot become one. */
static const char *const config_claim_reserved[] = {
    "sub", "exp", "iat", "nbf", "jti", "iss", "aud", "type", "sid", "fam", "roles", "scope",
    "scopes", "scp", "client_id", "sub_type", "pwh", "alg", "kid", "typ", "method", "path",
    "azp", "email", "username",
};

static bool config_in(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

/* [A-Za-z][A-Za-z0-9_]*, 1..CONFIG_UFIELD_NAME_MAX bytes. */
static bool config_ufield_name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > CONFIG_UFIELD_NAME_MAX || !((s[0] | 0x20) >= 'a' && (s[0] | 0x20) <= 'z'))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!ag_config__is_alnum((unsigned char)s[i]) && s[i] != '_')
            return false;
    return true;
}

/* One field's declaration <v> at <path> into <f> (its name already set). */
static void config_parse_ufield(struct config_ctx *c, const char *path, json_t *v,
                                struct ag_user_field *f)
{
    static const char *const names[] = {"type", "required", "max-length"};
    char kpath[AG_ERR_LINE];
    const char *key, *s;
    json_t *e;
    long long x;
    size_t n;

    f->max_len = 255;
    if (!json_is_object(v)) {
        ag_config__problem(c, path, "expected an object {\"type\": \"string\"|\"integer\"|"
                                    "\"boolean\", \"required\": BOOL, \"max-length\": N}");
        return;
    }
    json_object_foreach(v, key, e)
    {
        size_t i = 0;

        if (!ag_config__member(c, path, key, names, CONFIG_ARRAY_LEN(names), &i, kpath))
            continue;
        if (i == 1) {
            ag_config__get_bool(c, kpath, e, &f->required);
        } else if (i == 2) {
            if (ag_config__get_int(c, kpath, e, 1, 4096, &x))
                f->max_len = (size_t)x;
        } else if (ag_config__get_string(c, kpath, e, &s, &n)) {
            if (strcmp(s, "string") == 0)
                f->type = AG_UFIELD_STRING;
            else if (strcmp(s, "integer") == 0)
                f->type = AG_UFIELD_INTEGER;
            else if (strcmp(s, "boolean") == 0)
                f->type = AG_UFIELD_BOOLEAN;
            else
                ag_config__problem(c, kpath, "expected \"string\", \"integer\" or \"boolean\"");
        }
    }
    if (json_object_get(v, "type") == NULL)
        ag_config__problem(c, path, "\"type\" is required (\"string\", \"integer\" or \"boolean\")");
    if (json_object_get(v, "max-length") != NULL && f->type != 0 && f->type != AG_UFIELD_STRING)
        ag_config__problem(c, path, "\"max-length\" is for strings only");
}

static int config_ufield_cmp(const void *a, const void *b)
{
    return strcmp(((const struct ag_user_field *)a)->name, ((const struct ag_user_field *)b)->name);
}

void ag_config__parse_user_fields(struct config_ctx *c, const char *path, json_t *v)
{
    struct ag_config *cfg = c->cfg;
    char kpath[AG_ERR_LINE];
    const char *key;
    json_t *e;

    if (config_object_new(c, path, v, "an object {\"NAME\": {\"type\": ...}}", CONFIG_UFIELDS_MAX,
                          sizeof(*cfg->user_fields), (void **)&cfg->user_fields) == 0)
        return;
    json_object_foreach(v, key, e)
    {
        struct ag_user_field *f = &cfg->user_fields[cfg->n_user_fields];

        config_member_path(kpath, path, key);
        if (!config_ufield_name_ok(key)) {
            ag_config__problem(c, kpath, "a field name is a letter, then letters, digits or "
                                         "'_', at most %d bytes", CONFIG_UFIELD_NAME_MAX);
            continue;
        }
        if (config_in(key, config_ufield_reserved, CONFIG_ARRAY_LEN(config_ufield_reserved))) {
            ag_config__problem(c, kpath, "a built-in member of the user object or of its "
                                         "request bodies; pick another name");
            continue;
        }
        if ((f->name = ag_config__strndup(c, key, strlen(key))) == NULL)
            return;
        cfg->n_user_fields++;
        config_parse_ufield(c, kpath, e, f);
    }
    qsort(cfg->user_fields, cfg->n_user_fields, sizeof(*cfg->user_fields), config_ufield_cmp);
}

void ag_config__parse_token_claims(struct config_ctx *c, const char *path, json_t *v)
{
    struct ag_config *cfg = c->cfg;
    char ipath[AG_ERR_LINE];
    size_t i;
    json_t *e;

    if (ag_config__array_new(c, path, v, "an array of user-fields names", NULL,
                             sizeof(*cfg->token_claims), (void **)&cfg->token_claims, NULL) == 0)
        return;
    json_array_foreach(v, i, e)
    {
        const char *s;
        size_t n;

        if (!ag_config__item_string(c, path, i, e, ipath, &s, &n))
            continue;
        if (config_in(s, config_claim_reserved, CONFIG_ARRAY_LEN(config_claim_reserved)))
            ag_config__problem(c, ipath, "a claim the gateway writes or reads itself");
        else if ((cfg->token_claims[cfg->n_token_claims++] = ag_config__strndup(c, s, n)) == NULL)
            return;
    }
}

void ag_config__parse_field_headers(struct config_ctx *c, const char *path, json_t *v)
{
    struct ag_config *cfg = c->cfg;
    char kpath[AG_ERR_LINE];
    const char *key, *s;
    json_t *e;
    size_t n;

    /* two slots per member: NAME, HEADER */
    if (config_object_new(c, path, v, "an object {\"FIELD\": \"HEADER\"}", CONFIG_UFIELDS_MAX,
                          2 * sizeof(char *), (void **)&cfg->field_headers) == 0)
        return;
    json_object_foreach(v, key, e)
    {
        if (!ag_config__get_string(c, config_member_path(kpath, path, key), e, &s, &n) ||
            !ag_config__header_name_ok(c, kpath, s, n))
            continue;
        cfg->field_headers[2 * cfg->n_field_headers] = ag_config__strndup(c, key, strlen(key));
        cfg->field_headers[2 * cfg->n_field_headers + 1] = ag_config__strndup(c, s, n);
        cfg->n_field_headers++;
    }
}

/* The declared field <name>, or NULL. */
static struct ag_user_field *config_ufield(struct ag_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_user_fields; i++)
        if (strcmp(cfg->user_fields[i].name, name) == 0)
            return &cfg->user_fields[i];
    return NULL;
}

/* Whether the header of identity-headers.fields pair <k> is a name the gateway already
 * writes: the four identity headers, an earlier pair's, one of "headers". */
static bool config_field_header_clash(const struct ag_config *cfg, size_t k)
{
    const struct ag_identity_names *id = &cfg->identity;
    const char *const ids[] = {id->subject, id->client_id, id->scopes, id->roles};
    struct ag_str h = ag_str_c(cfg->field_headers[2 * k + 1]);

    for (size_t i = 0; i < CONFIG_ARRAY_LEN(ids); i++)
        if (ids[i] != NULL && ag_hdr_name_eq(h, ids[i]))
            return true;
    for (size_t i = 0; i < k; i++)
        if (cfg->field_headers[2 * i + 1] != NULL &&
            ag_hdr_name_eq(h, cfg->field_headers[2 * i + 1]))
            return true;
    for (size_t i = 0; i < cfg->n_headers; i++)
        if (cfg->headers[i].name != NULL && ag_hdr_name_eq(h, cfg->headers[i].name))
            return true;
    return false;
}

/*
 * The token-claims fields must fit in an access token the gateway itself accepts: at
 * worst 6 bytes a character (a JSON escape), 4/3 in base64url, next to about 2 KiB of
 * the other claims, the header and the signature, within token-max-size.
 */
static void config_check_claims_size(struct config_ctx *c)
{
    const struct ag_config *cfg = c->cfg;
    size_t want = 0, room = cfg->token_max_size > 2048 ? (cfg->token_max_size - 2048) / 8 : 0;

    for (size_t i = 0; i < cfg->n_user_fields; i++)
        if (cfg->user_fields[i].claim)
            want += strlen(cfg->user_fields[i].name) + 4 +
                    (cfg->user_fields[i].type == AG_UFIELD_STRING ? cfg->user_fields[i].max_len : 20);
    if (want > room)
        ag_config__problem(c, "token-claims", "its fields may take %zu characters of an access "
                           "token, more than token-max-size leaves (%zu): lower their max-length",
                           want, room);
}

void ag_config__user_fields_finish(struct config_ctx *c)
{
    struct ag_config *cfg = c->cfg;
    char ipath[AG_ERR_LINE], shown[80];

    for (size_t i = 0; i < cfg->n_token_claims; i++) {
        struct ag_user_field *f = config_ufield(cfg, cfg->token_claims[i]);

        snprintf(ipath, sizeof(ipath), "token-claims[%zu]", i);
        if (f == NULL)
            ag_config__problem(c, ipath, "'%s' is not declared in user-fields",
                               ag_config__printable(cfg->token_claims[i], shown, sizeof(shown)));
        else if (f->claim)
            ag_config__problem(c, ipath, "listed twice");
        else
            f->claim = true;
    }
    config_check_claims_size(c);
    for (size_t i = 0; i < cfg->n_field_headers; i++) {
        const char *name = cfg->field_headers[2 * i], *hdr = cfg->field_headers[2 * i + 1];
        struct ag_user_field *f = name != NULL ? config_ufield(cfg, name) : NULL;

        if (name == NULL || hdr == NULL)
            continue; /* out of memory: reported */
        snprintf(ipath, sizeof(ipath), "identity-headers.fields.%s",
                 ag_config__printable(name, shown, sizeof(shown)));
        if (f == NULL)
            ag_config__problem(c, ipath, "not declared in user-fields");
        else if (!f->claim)
            /* the header is read from the access token: proxied requests never wait on Redis */
            ag_config__problem(c, ipath, "must be listed in token-claims too (the value "
                                         "comes from the access token)");
        else if (config_field_header_clash(cfg, i))
            ag_config__problem(c, ipath, "a header the gateway already sets (another identity "
                                         "header, or one of \"headers\")");
        else
            f->header = ag_config__strndup(c, hdr, strlen(hdr));
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
