/*
 * policy/config_keys.c - the checks of the fastauth-api keys (app-name, master-token,
 * cryptography-key, the token paths, headers) and of the addresses and names (listen,
 * upstream, redis, redis-sentinel, auth-prefix, access-log, cookie-samesite, metrics-listen,
 * log-format).
 *
 * Owns:     nothing; every value goes into the config being parsed (config_int.h).
 * Entry:    ag_config__parse_<key>() from the key table; ag_config__split_hostport(),
 *           ag_config__check_prefix(), ag_config__parse_upstream_url() for the other parts.
 * Not here: the key table, defaults and the MASTER_TOKEN fallback (policy/config.c).
 * Spec:     CONTRACT.md section 3; docs/config.md.
 */
#include "config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CONFIG_MAX_APP_NAME 128 /* it namespaces Redis keys and is the token issuer */

/* ------------------------------------------------------------------------------------------
 * HOST:PORT, shared by listen and upstream
 * ------------------------------------------------------------------------------------------ */

/*
 * Splits <s,n> as "HOST:PORT" or "[IPV6]:PORT". Without a port, *<port> keeps
 * its value when <port_optional>, else the form is refused. On CONFIG_HP_OK,
 * <host> points into <s> (brackets removed). HOST is a name or IPv4 address
 * (letters, digits, '-', '.', '_') or, in brackets, hex digits, ':' and '.'.
 */
enum config_hp ag_config__split_hostport(const char *s, size_t n, bool port_optional,
                                         struct ag_str *host, unsigned *port)
{
    const char *colon = NULL;
    size_t hl;
    unsigned long p = 0;

    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);

        if (close == NULL || close == s + 1 || close - s > 46) /* 45: longest IPv6 text */
            return CONFIG_HP_BAD;
        host->p = s + 1;
        host->len = (size_t)(close - s) - 1;
        for (size_t i = 0; i < host->len; i++)
            if (!ag_config__is_hex((unsigned char)host->p[i]) && host->p[i] != ':' &&
                host->p[i] != '.')
                return CONFIG_HP_BAD;
        if (memchr(host->p, ':', host->len) == NULL)
            return CONFIG_HP_BAD;
        if (close + 1 == s + n)
            colon = NULL;
        else if (close[1] == ':')
            colon = close + 1;
        else
            return CONFIG_HP_BAD;
    } else {
        for (size_t i = n; i > 0; i--)
            if (s[i - 1] == ':') {
                colon = s + i - 1;
                break;
            }
        hl = colon != NULL ? (size_t)(colon - s) : n;
        if (memchr(s, ':', hl) != NULL)
            return CONFIG_HP_BRACKETS;
        if (hl == 0 || hl > 253)
            return CONFIG_HP_BAD;
        for (size_t i = 0; i < hl; i++)
            if (!ag_config__is_alnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '.' &&
                s[i] != '_')
                return CONFIG_HP_BAD;
        host->p = s;
        host->len = hl;
    }
    if (colon == NULL)
        return port_optional ? CONFIG_HP_OK : CONFIG_HP_BAD;
    colon++;
    if (colon == s + n)
        return CONFIG_HP_BAD;
    for (const char *q = colon; q < s + n; q++) {
        if (!ag_config__is_digit((unsigned char)*q))
            return CONFIG_HP_BAD;
        if (p <= 65535)
            p = p * 10 + (unsigned long)(*q - '0');
    }
    if (p < 1 || p > 65535)
        return CONFIG_HP_BAD_PORT;
    *port = (unsigned)p;
    return CONFIG_HP_OK;
}

/* Reports the HOST:PORT verdict <hp> for the key at <path>, whose form is <form>. */
void ag_config__hostport_problem(struct config_ctx *c, const char *path, enum config_hp hp,
                                 const char *form, const char *v6_example)
{
    if (hp == CONFIG_HP_BAD_PORT)
        ag_config__problem(c, path, "port must be 1-65535");
    else if (hp == CONFIG_HP_BRACKETS)
        ag_config__problem(c, path, "IPv6 addresses need brackets, as in \"%s\"", v6_example);
    else
        ag_config__problem(c, path, "expected \"%s\"", form);
}

/* ------------------------------------------------------------------------------------------
 * fastauth-api keys: app-name, master-token, cryptography-key, paths, headers
 * ------------------------------------------------------------------------------------------ */

void ag_config__parse_app_name(struct config_ctx *c, const char *path, json_t *v)
{
    const char *s;
    size_t n;

    if (!ag_config__get_string(c, path, v, &s, &n))
        return;
    if (n == 0)
        ag_config__problem(c, path, "must not be empty");
    else if (n > CONFIG_MAX_APP_NAME)
        ag_config__problem(c, path, "must be at most %d characters", CONFIG_MAX_APP_NAME);
    else if (!ag_config__all_printable(s, n, true) || strpbrk(s, "\"\\") != NULL)
        /* it is written inside WWW-Authenticate: Bearer realm="..." */
        ag_config__problem(c, path, "must be printable ASCII without '\"' or '\\'");
    else
        c->cfg->app_name = ag_config__strndup(c, s, n);
}

/*
 * Checks a master token <s,n>; <what> prefixes the reason ("" for the file's
 * value, "MASTER_TOKEN " for the variable's). The token is compared with a header
 * value, so it must be a valid one (RFC 9110 s.5.5).
 */
bool ag_config__check_master_token(struct config_ctx *c, const char *what, const char *s, size_t n)
{
    if (n == 0) {
        ag_config__problem(c, "master-token", "%smust not be empty", what);
        return false;
    }
    if (!ag_config__all_printable(s, n, true) || s[0] == ' ' || s[n - 1] == ' ') {
        ag_config__problem(c, "master-token",
                           "%smust be printable ASCII without leading or trailing spaces "
                           "(it is sent as a header value)",
                           what);
        return false;
    }
    return true;
}

void ag_config__parse_master_token(struct config_ctx *c, const char *path, json_t *v)
{
    const char *s;
    size_t n;

    if (!ag_config__get_string(c, path, v, &s, &n))
        return;
    if (!ag_config__check_master_token(c, "", s, n))
        return;
    c->cfg->master_token = ag_config__strndup(c, s, n);
    c->cfg->master_token_len = n;
}

/* True when <word> (lower case) occurs in <s,n>, ignoring case and reading '_' as '-'. */
static bool config_has_word(const char *s, size_t n, const char *word)
{
    size_t wl = strlen(word);

    for (size_t i = 0; i + wl <= n; i++) {
        size_t k = 0;

        while (k < wl && ag_config__fold(s[i + k]) == word[k])
            k++;
        if (k == wl)
            return true;
    }
    return false;
}

/*
 * Checks a signing secret <s,n> for cryptography-key; <what> prefixes the reason
 * ("" for the file's value, "CRYPTOGRAPHY_KEY " for the variable's). Refuses, as
 * CONTRACT.md section 3 says, what anyone could guess: fewer than 32 bytes (RFC 7518
 * s.3.2), a placeholder word of a published example (REPLACE-ME or CHANGE-ME in any
 * case, '_' read as '-': config.example.json once shipped one that passed), or fewer
 * than 8 distinct bytes ("x" * 32). A key equal to master-token is refused by
 * config.c, once both are known. Reports the first problem and returns false.
 */
bool ag_config__check_crypto_key(struct config_ctx *c, const char *what, const char *s, size_t n)
{
    return ag_config__check_secret(c, "cryptography-key", what, s, n);
}

bool ag_config__check_secret(struct config_ctx *c, const char *path, const char *what,
                             const char *s, size_t n)
{
    static const char *const placeholders[] = {"replace-me", "change-me"};
    bool seen[256] = {false};
    size_t distinct = 0;

    if (n < CONFIG_MIN_KEY_LEN) {
        ag_config__problem(c, path,
                           "%smust be at least %d characters (has %zu); "
                           "`authgate keygen` makes one",
                           what, CONFIG_MIN_KEY_LEN, n);
        return false;
    }
    for (size_t i = 0; i < CONFIG_ARRAY_LEN(placeholders); i++)
        if (config_has_word(s, n, placeholders[i])) {
            ag_config__problem(c, path,
                               "%sholds the placeholder '%s' of an example, which anyone can "
                               "read; `authgate keygen` makes a real key",
                               what, i == 0 ? "REPLACE-ME" : "CHANGE-ME");
            return false;
        }
    for (size_t i = 0; i < n; i++)
        if (!seen[(unsigned char)s[i]]) {
            seen[(unsigned char)s[i]] = true;
            distinct++;
        }
    if (distinct < CONFIG_MIN_KEY_DISTINCT) {
        ag_config__problem(c, path,
                           "%shas only %zu distinct characters (at least %d needed); "
                           "`authgate keygen` makes one",
                           what, distinct, CONFIG_MIN_KEY_DISTINCT);
        return false;
    }
    return true;
}

void ag_config__parse_crypto_key(struct config_ctx *c, const char *path, json_t *v)
{
    const char *s;
    size_t n;

    if (!ag_config__get_string(c, path, v, &s, &n))
        return;
    if (!ag_config__check_crypto_key(c, "", s, n))
        return;
    c->cfg->crypto_key = ag_config__strndup(c, s, n);
    c->cfg->crypto_key_len = n;
}

/*
 * Checks the path prefix <s,len> at <path>: it must start with '/', be visible
 * ASCII and hold no '?' or '#' (the query is never matched). Reports and returns
 * false when it is bad.
 */
bool ag_config__check_prefix(struct config_ctx *c, const char *path, const char *s, size_t len)
{
    if (len == 0 || s[0] != '/')
        ag_config__problem(c, path, "must start with '/'");
    else if (!ag_config__all_printable(s, len, false))
        ag_config__problem(c, path, "must be printable ASCII without spaces");
    else if (strpbrk(s, "?#") != NULL)
        ag_config__problem(c, path, "must not contain '?' or '#' (only the path is matched)");
    else
        return true;
    return false;
}

/* Parses an array of path prefixes (ag_config__check_prefix) into *<out> / *<n_out>. */
void ag_config__parse_paths(struct config_ctx *c, const char *path, json_t *v, char ***out,
                            size_t *n_out)
{
    char ipath[AG_ERR_LINE];
    size_t i;
    json_t *e;

    if (ag_config__array_new(c, path, v, "an array of strings", NULL, sizeof(**out), (void **)out,
                             n_out) == 0)
        return;
    json_array_foreach(v, i, e)
    {
        const char *s;
        size_t len;

        if (!ag_config__item_string(c, path, i, e, ipath, &s, &len))
            continue;
        if (ag_config__check_prefix(c, ipath, s, len))
            (*out)[i] = ag_config__strndup(c, s, len);
    }
}

void ag_config__parse_master_paths(struct config_ctx *c, const char *path, json_t *v)
{
    ag_config__parse_paths(c, path, v, &c->cfg->master_paths, &c->cfg->n_master_paths);
}

void ag_config__parse_access_paths(struct config_ctx *c, const char *path, json_t *v)
{
    ag_config__parse_paths(c, path, v, &c->cfg->access_paths, &c->cfg->n_access_paths);
}

/*
 * True when the gateway writes or strips the header <name> itself: framing and
 * hop-by-hop fields (RFC 9110 s.7.6.1), and the identity and forwarding families
 * (CONTRACT.md section 6), as the request filters see them: any case, and '_' or '.'
 * for '-' (ag_hdr_name_eq(), policy/base.h), so "Content_Length" is owned too.
 */
static bool config_header_is_owned(const char *name)
{
    static const char *const exact[] = {"host",       "content-length", "transfer-encoding",
                                        "connection", "upgrade",        "keep-alive",
                                        "te",         "trailer",        "proxy-connection"};
    static const char *const family[] = {"x-auth-", "x-forwarded-"};
    struct ag_str n = ag_str_c(name);

    for (size_t i = 0; i < CONFIG_ARRAY_LEN(exact); i++)
        if (ag_hdr_name_eq(n, exact[i]))
            return true;
    for (size_t i = 0; i < CONFIG_ARRAY_LEN(family); i++) {
        size_t fl = strlen(family[i]);

        if (n.len >= fl && ag_hdr_name_eq((struct ag_str){name, fl}, family[i]))
            return true;
    }
    return false;
}

void ag_config__parse_headers(struct config_ctx *c, const char *path, json_t *v)
{
    struct ag_config *cfg = c->cfg;
    char hpath[AG_ERR_LINE], shown[80];
    const char *name;
    json_t *e;
    size_t n;

    if (!json_is_object(v)) {
        ag_config__problem(c, path, "expected an object of header names and string values");
        return;
    }
    n = json_object_size(v);
    if (n == 0)
        return;
    if ((cfg->headers = ag_config__calloc(c, n, sizeof(*cfg->headers))) == NULL)
        return;
    json_object_foreach(v, name, e)
    {
        const char *s, *dup = NULL;
        size_t len, nl = strlen(name);
        bool name_ok = nl > 0;

        snprintf(hpath, sizeof(hpath), "%s.%s", path,
                 ag_config__printable(name, shown, sizeof(shown)));
        for (size_t i = 0; i < nl; i++)
            name_ok = name_ok && ag_config__is_tchar((unsigned char)name[i]);
        for (size_t i = 0; i < cfg->n_headers && name_ok; i++)
            if (cfg->headers[i].name != NULL && strcasecmp(cfg->headers[i].name, name) == 0)
                dup = cfg->headers[i].name;
        if (!name_ok) {
            ag_config__problem(c, hpath, "name must be an HTTP token (RFC 9110 section 5.6.2)");
        } else if (config_header_is_owned(name)) {
            ag_config__problem(c, hpath, "set by the gateway; cannot be configured");
        } else if (dup != NULL) {
            ag_config__problem(c, hpath, "same name as '%s' (header names ignore case)",
                               ag_config__printable(dup, shown, sizeof(shown)));
        } else if (ag_config__get_string(c, hpath, e, &s, &len)) {
            bool value_ok = true;

            for (size_t i = 0; i < len; i++) {
                unsigned char ch = (unsigned char)s[i];

                value_ok = value_ok && ((ch >= 0x20 && ch < 0x7f) || ch == '\t');
            }
            if (strpbrk(s, "\r\n") != NULL) {
                ag_config__problem(c, hpath, "value must not contain CR or LF");
            } else if (!value_ok) {
                ag_config__problem(c, hpath, "value must contain only visible ASCII, SP and HTAB");
            } else {
                cfg->headers[cfg->n_headers].name = ag_config__strndup(c, name, nl);
                cfg->headers[cfg->n_headers].value = ag_config__strndup(c, s, len);
                cfg->n_headers++;
            }
        }
    }
}

/* ------------------------------------------------------------------------------------------
 * Addresses: listen, upstream, redis
 * ------------------------------------------------------------------------------------------ */

/* Parses the "HOST:PORT" <v> at <path> into <a> (new strings); returns false if bad. */
static bool config_listen_addr(struct config_ctx *c, const char *path, json_t *v,
                               struct ag_listen_addr *a)
{
    struct ag_str host;
    unsigned port = 0;
    enum config_hp hp;
    char digits[8];
    const char *s;
    size_t n;

    if (!ag_config__get_string(c, path, v, &s, &n))
        return false;
    hp = ag_config__split_hostport(s, n, false, &host, &port);
    if (hp != CONFIG_HP_OK) {
        ag_config__hostport_problem(c, path, hp, "HOST:PORT", "[::1]:8080");
        return false;
    }
    snprintf(digits, sizeof(digits), "%u", port);
    a->host = ag_config__strndup(c, host.p, host.len);
    a->port = ag_config__strndup(c, digits, strlen(digits));
    return a->host != NULL && a->port != NULL;
}

/* Parses one address <v> at <path> (of the key <key>) into <list>[<i>]; false if bad. */
static bool config_parse_listen_one(struct config_ctx *c, const char *key, const char *path,
                                    json_t *v, struct ag_listen_addr *list, size_t i)
{
    struct ag_listen_addr *a = &list[i];

    if (!config_listen_addr(c, path, v, a))
        return false;
    for (size_t j = 0; j < i; j++) {
        struct ag_listen_addr *b = &list[j];

        if (b->host != NULL && b->port != NULL && strcmp(b->port, a->port) == 0 &&
            strcasecmp(b->host, a->host) == 0) {
            ag_config__problem(c, path, "same address as %s[%zu]", key, j);
            return false;
        }
    }
    return true;
}

void ag_config__parse_listen_list(struct config_ctx *c, const char *path, json_t *v,
                                  struct ag_listen_addr **o_list, size_t *o_n)
{
    char ipath[AG_ERR_LINE];
    size_t n = 1, i;
    json_t *e;

    if (json_is_array(v)) {
        n = json_array_size(v);
        if (n == 0)
            return; /* allowed when the other kind of listener is there (config_finish) */
    } else if (!json_is_string(v)) {
        ag_config__problem(c, path, "expected \"HOST:PORT\" or an array of them");
        return;
    }
    if ((*o_list = ag_config__calloc(c, n, sizeof(**o_list))) == NULL)
        return;
    *o_n = n;
    if (json_is_string(v)) {
        config_parse_listen_one(c, path, path, v, *o_list, 0);
        return;
    }
    json_array_foreach(v, i, e)
    {
        snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
        config_parse_listen_one(c, path, ipath, e, *o_list, i);
    }
}

void ag_config__parse_listen(struct config_ctx *c, const char *path, json_t *v)
{
    ag_config__parse_listen_list(c, path, v, &c->cfg->listen, &c->cfg->n_listen);
}

/*
 * Parses the "http://HOST:PORT" or "https://HOST:PORT" at <path> into new strings
 * *<o_host>, *<o_port> and *<o_hostport>, and *<o_tls> (shared by "upstream" and
 * "routes[i].upstream").
 */
void ag_config__parse_upstream_url(struct config_ctx *c, const char *path, json_t *v, char **o_host,
                                   char **o_port, char **o_hostport, bool *o_tls)
{
    const char *s, *auth, *end;
    struct ag_str host;
    unsigned port = 80;
    enum config_hp hp;
    char buf[300];
    size_t n;

    if (!ag_config__get_string(c, path, v, &s, &n))
        return;
    if (n >= 8 && strncasecmp(s, "https://", 8) == 0) {
        *o_tls = true;
        port = 443;
        auth = s + 8;
    } else if (n >= 7 && strncasecmp(s, "http://", 7) == 0) {
        auth = s + 7;
    } else {
        ag_config__problem(c, path, "expected \"http://HOST:PORT\" or \"https://HOST:PORT\"");
        return;
    }
    end = auth + strcspn(auth, "/?#");
    if (memchr(auth, '@', (size_t)(end - auth)) != NULL) {
        ag_config__problem(c, path, "credentials in the URL are not supported (use 'headers')");
        return;
    }
    if (!(*end == '\0' || (end[0] == '/' && end[1] == '\0'))) {
        ag_config__problem(c, path,
                           "must not have a path or query (the request path is forwarded as is)");
        return;
    }
    hp = ag_config__split_hostport(auth, (size_t)(end - auth), true, &host, &port);
    if (hp != CONFIG_HP_OK) {
        ag_config__hostport_problem(c, path, hp, "http://HOST:PORT", "http://[::1]:8081");
        return;
    }
    *o_host = ag_config__strndup(c, host.p, host.len);
    snprintf(buf, sizeof(buf), "%u", port);
    *o_port = ag_config__strndup(c, buf, strlen(buf));
    snprintf(buf, sizeof(buf), memchr(host.p, ':', host.len) ? "[%.*s]:%u" : "%.*s:%u",
             (int)host.len, host.p, port);
    *o_hostport = ag_config__strndup(c, buf, strlen(buf));
}

void ag_config__parse_upstream(struct config_ctx *c, const char *path, json_t *v)
{
    ag_config__parse_upstream_url(c, path, v, &c->cfg->upstream_host, &c->cfg->upstream_port,
                                  &c->cfg->upstream_hostport, &c->cfg->upstream_tls);
}

/*
 * redis: a string of printable ASCII (so no NUL can cut it short), kept as written. Its
 * syntax has one parser, the store's (ag_store_url_parse(), store/url.c), which policy
 * cannot reach: gateway/server.c ag_gen_load() runs it for `check` and `serve` alike and
 * reports "<file>: redis: <why>".
 */
void ag_config__parse_redis(struct config_ctx *c, const char *path, json_t *v)
{
    const char *s;
    size_t n;

    if (!ag_config__get_string(c, path, v, &s, &n))
        return;
    if (!ag_config__all_printable(s, n, true)) {
        ag_config__problem(c, path, "must be printable ASCII");
        return;
    }
    c->cfg->redis_url = ag_config__strndup(c, s, n);
}

/* A string member of `redis-sentinel` (printable ASCII, 1-255 bytes; no space when
 * <word>) into a new copy at *<out>. */
static void config_sentinel_string(struct config_ctx *c, const char *path, json_t *v, bool word,
                                   char **out)
{
    const char *s;
    size_t n;

    if (!ag_config__get_string(c, path, v, &s, &n))
        return;
    if (n == 0 || n > 255 || !ag_config__all_printable(s, n, !word)) {
        ag_config__problem(c, path, word ? "must be 1-255 printable ASCII characters, no space"
                                         : "must be 1-255 printable ASCII characters");
        return;
    }
    *out = ag_config__strndup(c, s, n);
}

/*
 * redis-sentinel: {"master": NAME, "sentinels": ["HOST:PORT", ...], "password"?,
 * "sentinel-password"?, "db"?} (CONTRACT.md section 15). The members' JSON shape is
 * checked here; each "HOST:PORT" is kept as written and has one parser, the store's
 * (ag_store_hostport_parse(), store/url.c), run by gateway/server.c ag_gen_load() as
 * for `redis`. Both `redis` and `redis-sentinel` set is refused in config_finish().
 */
void ag_config__parse_redis_sentinel(struct config_ctx *c, const char *path, json_t *v)
{
    static const char *const names[] = {"master", "sentinels", "password", "sentinel-password",
                                        "db"};
    struct ag_redis_sentinel *rs;
    char kpath[AG_ERR_LINE], ipath[AG_ERR_LINE];
    const char *key;
    size_t i;
    json_t *e;

    if (!json_is_object(v)) {
        ag_config__problem(c, path, "expected an object {\"master\": NAME, \"sentinels\": "
                                    "[\"HOST:PORT\", ...]}");
        return;
    }
    if ((rs = ag_config__calloc(c, 1, sizeof(*rs))) == NULL)
        return;
    c->cfg->redis_sentinel = rs;
    json_object_foreach(v, key, e)
    {
        if (!ag_config__member(c, path, key, names, CONFIG_ARRAY_LEN(names), &i, kpath))
            continue;
        if (i == 0) {
            config_sentinel_string(c, kpath, e, true, &rs->master);
        } else if (i == 1) {
            size_t len = ag_config__array_new(c, kpath, e, "an array of \"HOST:PORT\" strings",
                                              "must name at least one sentinel", sizeof(char *),
                                              (void **)&rs->sentinels, &rs->n_sentinels);
            for (size_t k = 0; k < len; k++) {
                const char *s;
                size_t n;

                if (!ag_config__item_string(c, kpath, k, json_array_get(e, k), ipath, &s, &n))
                    continue;
                if (n == 0 || n > 300 || !ag_config__all_printable(s, n, false))
                    ag_config__problem(c, ipath, "expected \"HOST:PORT\" or \"[IPV6]:PORT\"");
                else
                    rs->sentinels[k] = ag_config__strndup(c, s, n);
            }
        } else if (i == 2) {
            config_sentinel_string(c, kpath, e, false, &rs->password);
        } else if (i == 3) {
            config_sentinel_string(c, kpath, e, false, &rs->sentinel_password);
        } else {
            long long db;

            if (ag_config__get_int(c, kpath, e, 0, 2147483646, &db))
                rs->db = (int)db;
        }
    }
    if (json_object_get(v, "master") == NULL)
        ag_config__problem(c, path, "needs \"master\": the name the sentinels monitor");
    if (json_object_get(v, "sentinels") == NULL)
        ag_config__problem(c, path, "needs \"sentinels\": [\"HOST:PORT\", ...]");
}

/* ------------------------------------------------------------------------------------------
 * auth-prefix, access-log, cookie-samesite
 * ------------------------------------------------------------------------------------------ */

/*
 * auth-prefix: a normalised path (CONTRACT.md section 4), or the endpoints under
 * it could never be reached: pchar without '%' and ';', no empty, '.' or '..'
 * segment, no segment ending in '.'.
 */
void ag_config__parse_auth_prefix(struct config_ctx *c, const char *path, json_t *v)
{
    const char *s;
    size_t n;

    if (!ag_config__get_string(c, path, v, &s, &n))
        return;
    if (n == 0 || s[0] != '/') {
        ag_config__problem(c, path, "must start with '/'");
        return;
    }
    if (s[n - 1] == '/') {
        ag_config__problem(c, path, "must not end with '/'");
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (!ag_config__is_alnum((unsigned char)s[i]) &&
            strchr("-._~!$&'()*+,=:@/", s[i]) == NULL) {
            ag_config__problem(
                c, path, "must contain only letters, digits and the characters -._~!$&'()*+,=:@/");
            return;
        }
    if (strstr(s, "//") != NULL || strstr(s, "./") != NULL || s[n - 1] == '.') {
        ag_config__problem(c, path, "must not have empty segments or segments ending in '.'");
        return;
    }
    c->cfg->auth_prefix = ag_config__strndup(c, s, n);
}

void ag_config__parse_access_log(struct config_ctx *c, const char *path, json_t *v)
{
    const char *s;
    size_t n;

    if (!ag_config__get_string(c, path, v, &s, &n))
        return;
    if (n == 0)
        ag_config__problem(c, path, "expected \"stderr\", \"off\" or a file path");
    else if (!ag_config__all_printable(s, n, true))
        ag_config__problem(c, path, "the file path must be printable ASCII");
    else
        c->cfg->access_log = ag_config__strndup(c, s, n);
}

/* metrics-listen: "HOST:PORT" of the port that serves /metrics, /health and /ready. */
void ag_config__parse_metrics_listen(struct config_ctx *c, const char *path, json_t *v)
{
    config_listen_addr(c, path, v, &c->cfg->metrics_listen);
}

/* log-format: "text" (the default) or "json" (one object per error and audit line). */
void ag_config__parse_log_format(struct config_ctx *c, const char *path, json_t *v)
{
    const char *s;
    size_t n;

    if (!ag_config__get_string(c, path, v, &s, &n))
        return;
    if (strcmp(s, "json") == 0)
        c->cfg->log_json = true;
    else if (strcmp(s, "text") != 0)
        ag_config__problem(c, path, "expected \"text\" or \"json\"");
}

void ag_config__parse_samesite(struct config_ctx *c, const char *path, json_t *v)
{
    const char *s;
    size_t n;

    if (!ag_config__get_string(c, path, v, &s, &n))
        return;
    if (strcasecmp(s, "lax") == 0)
        c->cfg->cookie_samesite = AG_SAMESITE_LAX;
    else if (strcasecmp(s, "strict") == 0)
        c->cfg->cookie_samesite = AG_SAMESITE_STRICT;
    else if (strcasecmp(s, "none") == 0)
        c->cfg->cookie_samesite = AG_SAMESITE_NONE;
    else
        ag_config__problem(c, path, "expected \"lax\", \"strict\" or \"none\"");
}
