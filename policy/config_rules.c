/*
 * policy/config_rules.c - the checks of the rule, route and access-token keys:
 * public-paths, rules, routes, token-issuer, token-audience, identity-headers.
 *
 * Owns:     nothing; every value goes into the config being parsed (config_int.h).
 * Entry:    ag_config__parse_<key>() from the key table; ag_config__word_ok() and
 *           ag_config__parse_words() for role-scopes (config_users.c);
 *           ag_config__header_name_ok() for upstream-assertion (config_ring.c).
 * Not here: matching requests against the rules (policy/rules.c), the identity names
 *           against "headers" (cross-key check in policy/config.c).
 * Spec:     docs/rules.md; docs/tokens.md.
 */
#include "config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "rules.h" /* AG_NEED_* and AG_RULES_MAX_REQ only: config never calls rules.c */

#define CONFIG_MAX_TOKEN_STR 256 /* token-issuer, token-audience */

/* ------------------------------------------------------------------------------------------
 * Rules, routes and access tokens (docs/rules.md)
 * ------------------------------------------------------------------------------------------ */

void ag_config__parse_public_paths(struct config_ctx *c, const char *path, json_t *v)
{
    ag_config__parse_paths(c, path, v, &c->cfg->public_paths, &c->cfg->n_public_paths);
}


/* True when the NUL-terminated <s> (<n> bytes) is a valid <kind> word. */
bool ag_config__word_ok(enum config_word kind, const char *s, size_t n)
{
    if (n == 0 || strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (kind == CONFIG_W_METHOD ? !ag_config__is_tchar(ch)
                                    : (ch <= 0x20 || ch >= 0x7f ||
                                       (kind == CONFIG_W_SCOPE && (ch == '"' || ch == '\\')) ||
                                       (kind == CONFIG_W_ROLE && ch == ',')))
            return false;
    }
    return true;
}

/*
 * Parses the array <v> at <path> of <kind> words into *<out> / *<n_out>. Empty
 * arrays, bad words and repeats are problems; more than AG_RULES_MAX_REQ scopes
 * or roles too (no request can be required to hold more).
 */
void ag_config__parse_words(struct config_ctx *c, const char *path, json_t *v,
                            enum config_word kind, char ***out, size_t *n_out)
{
    static const char *const what[] = {"method names", "scopes", "roles"};
    static const char *const rule[] = {
        "must be an HTTP method token (RFC 9110 section 9.1)",
        "must be a non-empty scope without spaces, control characters, '\"' or '\\'",
        "must be a non-empty role without spaces, control characters or ','",
    };
    char ipath[AG_ERR_LINE], shown[80], expected[48];
    size_t i;
    json_t *e;

    if (json_is_array(v) && kind != CONFIG_W_METHOD && json_array_size(v) > AG_RULES_MAX_REQ) {
        ag_config__problem(c, path, "at most %d %s per rule", AG_RULES_MAX_REQ, what[kind]);
        return;
    }
    snprintf(expected, sizeof(expected), "an array of %s", what[kind]);
    if (ag_config__array_new(c, path, v, expected, "must not be empty (leave the key out instead)",
                             sizeof(**out), (void **)out, NULL) == 0)
        return;
    json_array_foreach(v, i, e)
    {
        const char *s;
        char *w;
        size_t len;

        if (!ag_config__item_string(c, path, i, e, ipath, &s, &len))
            continue;
        if (!ag_config__word_ok(kind, s, len)) {
            ag_config__problem(c, ipath, "%s", rule[kind]);
            continue;
        }
        w = ag_config__strndup(c, s, len);
        if (w == NULL)
            return;
        for (size_t k = 0; kind == CONFIG_W_METHOD && k < len; k++)
            if (w[k] >= 'a' && w[k] <= 'z')
                w[k] = (char)(w[k] - 'a' + 'A');
        for (size_t k = 0; k < *n_out; k++)
            if (strcmp((*out)[k], w) == 0) {
                ag_config__problem(c, ipath, "'%s' is already %s[%zu]",
                                   ag_config__printable(w, shown, sizeof(shown)),
                                   kind == CONFIG_W_METHOD  ? "methods"
                                   : kind == CONFIG_W_SCOPE ? "scopes"
                                                            : "roles",
                                   k);
                AG_FREE(w);
                break;
            }
        if (w != NULL)
            (*out)[(*n_out)++] = w;
    }
}

/* Parses "auth" at <path> into <r>; false when it is bad (reported). */
static bool config_parse_rule_auth(struct config_ctx *c, const char *path, json_t *v,
                                   struct ag_rule *r)
{
    static const struct {
        const char *name;
        unsigned need;
    } modes[] = {{"access", AG_NEED_ACCESS},
                 {"master", AG_NEED_MASTER},
                 {"both", AG_NEED_MASTER | AG_NEED_ACCESS},
                 {"public", 0}};
    const char *s;
    size_t n;

    if (!ag_config__get_string(c, path, v, &s, &n))
        return false;
    for (size_t i = 0; i < CONFIG_ARRAY_LEN(modes); i++)
        if (strcasecmp(s, modes[i].name) == 0 && strlen(s) == n) {
            r->need = modes[i].need;
            r->is_public = modes[i].need == 0;
            return true;
        }
    ag_config__problem(c, path, "expected \"access\", \"master\", \"both\" or \"public\"");
    return false;
}

/* Parses rules[i] <v> at <path> into <r> (zeroed). */
static void config_parse_rule(struct config_ctx *c, const char *path, json_t *v, struct ag_rule *r)
{
    static const char *const names[] = {"prefix", "methods", "auth", "scopes", "roles"};
    char kpath[AG_ERR_LINE];
    const char *key;
    json_t *e;

    if (!json_is_object(v)) {
        ag_config__problem(c, path, "expected an object {\"prefix\": \"/PATH\", ...}");
        return;
    }
    r->need = AG_NEED_ACCESS;
    json_object_foreach(v, key, e)
    {
        const char *s;
        size_t n;

        snprintf(kpath, sizeof(kpath), "%s.%s", path, key);
        if (strcmp(key, "prefix") == 0) {
            if (ag_config__get_string(c, kpath, e, &s, &n) &&
                ag_config__check_prefix(c, kpath, s, n))
                r->prefix = ag_config__strndup(c, s, n);
        } else if (strcmp(key, "methods") == 0) {
            ag_config__parse_words(c, kpath, e, CONFIG_W_METHOD, &r->methods, &r->n_methods);
        } else if (strcmp(key, "auth") == 0) {
            config_parse_rule_auth(c, kpath, e, r);
        } else if (strcmp(key, "scopes") == 0) {
            ag_config__parse_words(c, kpath, e, CONFIG_W_SCOPE, &r->scopes, &r->n_scopes);
        } else if (strcmp(key, "roles") == 0) {
            ag_config__parse_words(c, kpath, e, CONFIG_W_ROLE, &r->roles, &r->n_roles);
        } else {
            ag_config__unknown_key(c, path, key, names, CONFIG_ARRAY_LEN(names));
        }
    }
    if (json_object_get(v, "prefix") == NULL)
        ag_config__problem(c, path, "\"prefix\" is required");
    if (r->is_public && (json_object_get(v, "scopes") != NULL || json_object_get(v, "roles")))
        ag_config__problem(c, path,
                           "\"auth\": \"public\" cannot require scopes or roles (they need an "
                           "access token)");
}

void ag_config__parse_rules(struct config_ctx *c, const char *path, json_t *v)
{
    char ipath[64];
    size_t i;
    json_t *e;

    if (ag_config__array_new(c, path, v, "an array of objects", NULL, sizeof(*c->cfg->rules),
                             (void **)&c->cfg->rules, &c->cfg->n_rules) == 0)
        return;
    json_array_foreach(v, i, e)
    {
        snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
        config_parse_rule(c, ipath, e, &c->cfg->rules[i]);
    }
}

void ag_config__parse_routes(struct config_ctx *c, const char *path, json_t *v)
{
    static const char *const names[] = {"prefix", "upstream"};
    char ipath[64], kpath[AG_ERR_LINE];
    size_t i;
    json_t *e;

    if (ag_config__array_new(c, path, v, "an array of objects", NULL, sizeof(*c->cfg->routes),
                             (void **)&c->cfg->routes, &c->cfg->n_routes) == 0)
        return;
    json_array_foreach(v, i, e)
    {
        struct ag_route *rt = &c->cfg->routes[i];
        const char *key, *s;
        size_t len;
        json_t *m;

        snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
        if (!json_is_object(e)) {
            ag_config__problem(c, ipath,
                               "expected an object {\"prefix\": \"/PATH\", \"upstream\": "
                               "\"http://HOST:PORT\"}");
            continue;
        }
        json_object_foreach(e, key, m)
        {
            snprintf(kpath, sizeof(kpath), "%s.%s", ipath, key);
            if (strcmp(key, "prefix") == 0) {
                if (ag_config__get_string(c, kpath, m, &s, &len) &&
                    ag_config__check_prefix(c, kpath, s, len))
                    rt->prefix = ag_config__strndup(c, s, len);
            } else if (strcmp(key, "upstream") == 0) {
                ag_config__parse_upstream_url(c, kpath, m, &rt->upstream_host, &rt->upstream_port,
                                              &rt->upstream_hostport, &rt->upstream_tls);
            } else {
                ag_config__unknown_key(c, ipath, key, names, CONFIG_ARRAY_LEN(names));
            }
        }
        if (json_object_get(e, "prefix") == NULL)
            ag_config__problem(c, ipath, "\"prefix\" is required");
        if (json_object_get(e, "upstream") == NULL)
            ag_config__problem(c, ipath, "\"upstream\" is required");
    }
}

/* token-issuer and token-audience: compared with claims and written into tokens. */
static void config_parse_token_str(struct config_ctx *c, const char *path, json_t *v, char **out)
{
    const char *s;
    size_t n;

    if (!ag_config__get_string(c, path, v, &s, &n))
        return;
    if (n == 0 || n > CONFIG_MAX_TOKEN_STR)
        ag_config__problem(c, path, "must be 1 to %d characters", CONFIG_MAX_TOKEN_STR);
    else if (!ag_config__all_printable(s, n, true))
        ag_config__problem(c, path, "must be printable ASCII");
    else
        *out = ag_config__strndup(c, s, n);
}

void ag_config__parse_token_issuer(struct config_ctx *c, const char *path, json_t *v)
{
    config_parse_token_str(c, path, v, &c->cfg->token_issuer);
}

void ag_config__parse_token_audience(struct config_ctx *c, const char *path, json_t *v)
{
    config_parse_token_str(c, path, v, &c->cfg->token_audience);
}

/* Days since 1970-01-01 of the proleptic Gregorian date <y>-<m>-<d> (H. Hinnant's days_from_civil). */
static int64_t config_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/*
 * Parses <s,n> as "YYYY-MM-DD" (a real calendar date) into days since the epoch.
 * Returns 0, or -1 when it is not one.
 */
int ag_config__parse_date(const char *s, size_t n, int64_t *days)
{
    static const unsigned char mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    unsigned y = 0, m, d;

    if (n != 10 || s[4] != '-' || s[7] != '-')
        return -1;
    for (size_t i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return -1;
    for (size_t i = 0; i < 4; i++)
        y = y * 10 + (unsigned)(s[i] - '0');
    m = (unsigned)(s[5] - '0') * 10 + (unsigned)(s[6] - '0');
    d = (unsigned)(s[8] - '0') * 10 + (unsigned)(s[9] - '0');
    if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1] ||
        (m == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))))
        return -1;
    *days = config_days_from_civil((int64_t)y, m, d);
    return 0;
}

/*
 * legacy-tokens: {"until": "YYYY-MM-DD"} (UTC, at most 400 days ahead). fastauth-api's
 * tokens are accepted through that day: cfg->legacy_tokens_until is 00:00 UTC of the day
 * after, the first second they are refused (docs/migrating.md).
 */
void ag_config__parse_legacy_tokens(struct config_ctx *c, const char *path, json_t *v)
{
    char ipath[64];
    const char *key, *s;
    json_t *m;
    size_t n;
    int64_t days, today = ag_unix_now() / 86400;

    if (!json_is_object(v)) {
        ag_config__problem(c, path, "expected an object {\"until\": \"YYYY-MM-DD\"}");
        return;
    }
    json_object_foreach(v, key, m)
    {
        if (strcmp(key, "until") != 0) {
            char kb[64];
            ag_config__problem(c, path, "unknown key \"%s\"",
                               ag_config__printable(key, kb, sizeof(kb)));
        }
    }
    snprintf(ipath, sizeof(ipath), "%s.until", path);
    if ((m = json_object_get(v, "until")) == NULL) {
        ag_config__problem(c, path, "\"until\" is required");
        return;
    }
    if (!ag_config__get_string(c, ipath, m, &s, &n))
        return;
    if (ag_config__parse_date(s, n, &days) != 0)
        ag_config__problem(c, ipath, "expected a date \"YYYY-MM-DD\" (UTC)");
    else if (days > today + 400)
        ag_config__problem(c, ipath, "must be at most 400 days ahead");
    else
        c->cfg->legacy_tokens_until = (days + 1) * 86400;
}

/*
 * True when an identity header may not be named <name>: framing and hop-by-hop
 * fields, X-Forwarded-*, and the credentials (which the gateway strips), in any
 * case and with '_' or '.' for '-'.
 */
static bool config_identity_name_refused(const char *name)
{
    static const char *const refused[] = {
        "host",         "content-length", "transfer-encoding", "connection",
        "upgrade",      "keep-alive",     "te",                "trailer",
        "proxy-connection", "authorization", "cookie",          "master-token",
        "access-token", "forwarded",
    };
    char folded[80];
    size_t n = strlen(name);

    if (n >= sizeof(folded))
        return false;
    for (size_t i = 0; i <= n; i++)
        folded[i] = (char)ag_hdr_name_fold((unsigned char)name[i]);
    for (size_t i = 0; i < CONFIG_ARRAY_LEN(refused); i++)
        if (strcmp(folded, refused[i]) == 0)
            return true;
    return strncmp(folded, "x-forwarded-", 12) == 0;
}

bool ag_config__header_name_ok(struct config_ctx *c, const char *path, const char *s, size_t n)
{
    bool ok = n > 0 && n < 64 && strlen(s) == n;

    for (size_t k = 0; k < n && ok; k++)
        ok = ag_config__is_tchar((unsigned char)s[k]);
    if (!ok)
        ag_config__problem(
            c, path, "must be an HTTP token of 1 to 63 characters (RFC 9110 section 5.6.2)");
    else if (config_identity_name_refused(s))
        ag_config__problem(c, path, "a framing, forwarding or credential header; pick another");
    return ok && !config_identity_name_refused(s);
}

void ag_config__parse_identity_headers(struct config_ctx *c, const char *path, json_t *v)
{
    struct ag_identity_names *id = &c->cfg->identity;
    const char *const names[] = {"subject", "client-id", "scopes", "roles", "fields"};
    char **fields[] = {&id->subject, &id->client_id, &id->scopes, &id->roles};
    char kpath[AG_ERR_LINE];
    const char *key;
    json_t *e;

    if (!json_is_object(v)) {
        ag_config__problem(c, path, "expected an object of header names");
        return;
    }
    json_object_foreach(v, key, e)
    {
        size_t i = 0, n;
        const char *s;

        if (!ag_config__member(c, path, key, names, CONFIG_ARRAY_LEN(names), &i, kpath))
            continue;
        if (i == CONFIG_ARRAY_LEN(fields)) { /* custom user fields (config_users.c) */
            ag_config__parse_field_headers(c, kpath, e);
            continue;
        }
        if (!ag_config__get_string(c, kpath, e, &s, &n))
            continue;
        if (ag_config__header_name_ok(c, kpath, s, n))
            *fields[i] = ag_config__strndup(c, s, n);
    }
}
