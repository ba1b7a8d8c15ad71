/*
 * policy/config_cors.c - the check of the "cors" key: allowed origins, methods and
 * headers, credentials, exposed headers, max-age, and the header lines built from them.
 *
 * Owns:     nothing; every value goes into cfg->cors of the config being parsed.
 * Entry:    ag_config__parse_cors() from the key table of policy/config.c.
 * Not here: the verdicts (policy/cors.c), the header lines (gateway/http/cors_http.c).
 * Spec:     docs/cors.md; Fetch standard, CORS protocol; RFC 6454 s.6.1.
 */
#include "config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
/* ------------------------------------------------------------------------------------------
 * CORS (docs/cors.md)
 * ------------------------------------------------------------------------------------------ */

#define CONFIG_MAX_ORIGIN 256 /* bytes of one allowed origin */

/* What one entry of a "cors" array holds. */
enum config_cors_kind {
    CONFIG_CORS_ORIGIN = 0, /* SCHEME://HOST[:PORT], stored lower-cased */
    CONFIG_CORS_METHOD = 1, /* an RFC 9110 token, stored as written */
    CONFIG_CORS_HEADER = 2, /* an RFC 9110 token, stored lower-cased */
    CONFIG_CORS_EXPOSE = 3, /* an RFC 9110 token, stored as written; no "*" meaning */
};

/*
 * Checks the origin <s,n> at <path>: "SCHEME://HOST[:PORT]" exactly as a browser
 * serialises it in Origin (RFC 6454 s.6.1), so no path, not even "/". Returns
 * true when it is good; reports and returns false otherwise.
 */
static bool config_cors_origin_ok(struct config_ctx *c, const char *path, const char *s, size_t n)
{
    size_t sl = 0;
    struct ag_str host;
    unsigned port = 0;
    enum config_hp hp;

    while (sl < n && (ag_config__is_alnum((unsigned char)s[sl]) || strchr("+-.", s[sl]) != NULL))
        sl++;
    if (sl == 0 || !ag_config__is_alnum((unsigned char)s[0]) ||
        ag_config__is_digit((unsigned char)s[0]) || n - sl < 3 || memcmp(s + sl, "://", 3) != 0 ||
        strlen(s) != n) {
        ag_config__problem(c, path,
                           "expected an origin \"SCHEME://HOST[:PORT]\" as browsers send it in "
                           "Origin, or \"*\"");
        return false;
    }
    if (n > CONFIG_MAX_ORIGIN) {
        ag_config__problem(c, path, "must be at most %d characters", CONFIG_MAX_ORIGIN);
        return false;
    }
    if (strpbrk(s + sl + 3, "/?#") != NULL) {
        ag_config__problem(c, path,
                           "must not have a path, query or trailing '/' (browsers send the origin "
                           "alone: \"https://app.example.com\")");
        return false;
    }
    hp = ag_config__split_hostport(s + sl + 3, n - sl - 3, true, &host, &port);
    if (hp != CONFIG_HP_OK) {
        ag_config__hostport_problem(c, path, hp, "SCHEME://HOST[:PORT]", "https://[::1]:8443");
        return false;
    }
    return true;
}

/*
 * Parses the "cors" array <v> at <path> of <kind> entries into *<out> / *<n_out>.
 * When <any> is not NULL, ["*"] sets *<any> instead ("*" must then be alone).
 * Empty arrays are refused when <need_one>; bad entries and repeats are problems.
 */
static void config_cors_list(struct config_ctx *c, const char *path, json_t *v,
                             enum config_cors_kind kind, bool *any, bool need_one, char ***out,
                             size_t *n_out)
{
    static const char *const what[] = {"origins", "method names", "header names", "header names"};
    char ipath[AG_ERR_LINE], shown[80], expected[64];
    size_t n, i;
    json_t *e;

    snprintf(expected, sizeof(expected), "an array of %s%s", what[kind],
             any != NULL ? " or [\"*\"]" : "");
    n = ag_config__array_new(c, path, v, expected, need_one ? "must not be empty" : NULL,
                             sizeof(**out), (void **)out, NULL);
    if (n == 0)
        return;
    json_array_foreach(v, i, e)
    {
        const char *s;
        char *w;
        size_t len;
        bool ok = true;

        if (!ag_config__item_string(c, path, i, e, ipath, &s, &len))
            continue;
        if (any != NULL && len == 1 && s[0] == '*') {
            if (n > 1)
                ag_config__problem(c, ipath, "\"*\" must be the only entry");
            else
                *any = true;
            continue;
        }
        if (kind == CONFIG_CORS_ORIGIN) {
            ok = config_cors_origin_ok(c, ipath, s, len);
        } else {
            ok = len > 0 && strlen(s) == len;
            for (size_t k = 0; k < len && ok; k++)
                ok = ag_config__is_tchar((unsigned char)s[k]);
            if (!ok)
                ag_config__problem(c, ipath, "must be an HTTP token (RFC 9110 section 5.6.2)");
        }
        if (!ok || (w = ag_config__strndup(c, s, len)) == NULL)
            continue;
        /* Origins: scheme and host are case-insensitive and browsers send them in lower case. */
        for (size_t k = 0; (kind == CONFIG_CORS_ORIGIN || kind == CONFIG_CORS_HEADER) && k < len; k++)
            w[k] = (char)ag_ascii_lower((unsigned char)w[k]);
        for (size_t k = 0; k < *n_out; k++)
            if (kind == CONFIG_CORS_EXPOSE ? strcasecmp((*out)[k], w) == 0
                                           : strcmp((*out)[k], w) == 0) {
                ag_config__problem(c, ipath, "'%s' is already %s[%zu]",
                                   ag_config__printable(w, shown, sizeof(shown)), path, k);
                AG_FREE(w);
                break;
            }
        if (w != NULL)
            (*out)[(*n_out)++] = w;
    }
}

/* Returns a new "a, b, c" of the <n> strings <v>, or NULL with <c>->oom set. */
static char *config_join(struct config_ctx *c, char *const *v, size_t n)
{
    size_t len = 0, o = 0;
    char *s;

    for (size_t i = 0; i < n; i++)
        len += strlen(v[i]) + 2;
    s = malloc(len + 1);
    if (s == NULL) {
        c->oom = true;
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(v[i]);

        if (i > 0) {
            memcpy(s + o, ", ", 2);
            o += 2;
        }
        memcpy(s + o, v[i], l);
        o += l;
    }
    s[o] = '\0';
    return s;
}

/*
 * "cors": false (the default) or an object. Its keys follow Starlette's
 * CORSMiddleware; "allow-origins" is required, and credentials with the "*"
 * origin are refused as browsers refuse them (Fetch standard, CORS protocol).
 */
void ag_config__parse_cors(struct config_ctx *c, const char *path, json_t *v)
{
    static const char *const names[] = {"allow-origins",  "allow-methods", "allow-headers",
                                        "allow-credentials", "expose-headers", "max-age"};
    static const char *const def_methods[] = {"GET",    "POST", "PUT",    "PATCH",
                                              "DELETE", "HEAD", "OPTIONS"};
    struct ag_cors_config *cc = &c->cfg->cors;
    char **expose = NULL;
    size_t n_expose = 0;
    char kpath[AG_ERR_LINE];
    const char *key;
    long long x;
    json_t *e;

    if (json_is_false(v))
        return;
    if (!json_is_object(v)) {
        ag_config__problem(c, path, "expected false or an object {\"allow-origins\": [...], ...}");
        return;
    }
    cc->enabled = true;
    json_object_foreach(v, key, e)
    {
        snprintf(kpath, sizeof(kpath), "%s.%s", path, key);
        if (strcmp(key, "allow-origins") == 0)
            config_cors_list(c, kpath, e, CONFIG_CORS_ORIGIN, &cc->any_origin, true, &cc->origins,
                             &cc->n_origins);
        else if (strcmp(key, "allow-methods") == 0)
            config_cors_list(c, kpath, e, CONFIG_CORS_METHOD, &cc->any_method, true, &cc->methods,
                             &cc->n_methods);
        else if (strcmp(key, "allow-headers") == 0)
            config_cors_list(c, kpath, e, CONFIG_CORS_HEADER, &cc->any_header, false,
                             &cc->headers, &cc->n_headers);
        else if (strcmp(key, "expose-headers") == 0)
            config_cors_list(c, kpath, e, CONFIG_CORS_EXPOSE, NULL, false, &expose, &n_expose);
        else if (strcmp(key, "allow-credentials") == 0)
            ag_config__get_bool(c, kpath, e, &cc->credentials);
        else if (strcmp(key, "max-age") == 0) {
            if (ag_config__get_int(c, kpath, e, 0, 86400, &x))
                cc->max_age = (long)x;
        } else if (strcmp(key, "allow-origin-regex") == 0)
            ag_config__problem(c, path,
                               "'allow-origin-regex' is not supported; list the origins in "
                               "\"allow-origins\"");
        else
            ag_config__unknown_key(c, path, key, names, CONFIG_ARRAY_LEN(names));
    }
    if (json_object_get(v, "allow-origins") == NULL)
        ag_config__problem(c, path,
                           "\"allow-origins\" is required (an array of origins, or [\"*\"])");
    if (cc->credentials && cc->any_origin)
        ag_config__problem(c, "cors.allow-credentials",
                           "cannot be true with \"allow-origins\": [\"*\"] (browsers refuse "
                           "credentials with a wildcard origin); list the origins");
    if (json_object_get(v, "allow-methods") == NULL) {
        cc->methods = ag_config__calloc(c, CONFIG_ARRAY_LEN(def_methods), sizeof(*cc->methods));
        for (size_t i = 0; cc->methods != NULL && i < CONFIG_ARRAY_LEN(def_methods); i++)
            cc->methods[cc->n_methods++] =
                ag_config__strndup(c, def_methods[i], strlen(def_methods[i]));
    }
    if (!c->oom && !cc->any_method && cc->n_methods > 0)
        cc->methods_line = config_join(c, cc->methods, cc->n_methods);
    if (!c->oom && n_expose > 0)
        cc->expose_line = config_join(c, expose, n_expose);
    for (size_t i = 0; i < n_expose; i++)
        AG_FREE(expose[i]);
    AG_FREE(expose);
}
