/*
 * policy/config.c - the JSON configuration parser: checks every key, fills the
 * defaults, collects every problem as one "FILE: KEY: reason" line.
 *
 * Owns:     the struct ag_config it returns (one reference) and every string under it.
 * Entry:    ag_config_parse(), ag_config_ref(), ag_config_unref().
 * Not here: reading the file or the environment (gateway/main.c), using the values.
 * Spec:     CONTRACT.md section 3; docs/config.md lists every key, default and message;
 *           docs/rules.md the rule and route keys, docs/cors.md the "cors" key.
 */
#include "config.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "rules.h" /* AG_NEED_* and AG_RULES_MAX_REQ only: config.c never calls rules.c */

#define CONFIG_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define CONFIG_MIN_KEY_LEN 32      /* bytes of cryptography-key (HS256, RFC 7518 s.3.2) */
#define CONFIG_MAX_APP_NAME 128    /* it namespaces Redis keys and is the token issuer */
#define CONFIG_MAX_SECONDS 86400.0 /* upper bound of every timeout */
#define CONFIG_YEAR 31536000LL     /* 86400 * 365 */
#define CONFIG_MAX_SUN_PATH 107    /* sizeof(sockaddr_un.sun_path) - 1 on Linux */
#define CONFIG_MAX_TOKEN_STR 256   /* token-issuer, token-audience */

/* ------------------------------------------------------------------------------------------
 * Parse state and problem reporting
 * ------------------------------------------------------------------------------------------ */

struct config_ctx {
    struct ag_config *cfg;
    struct ag_err *err; /* may be NULL: problems are still counted */
    const char *source;
    int problems;
    bool oom;
};

/*
 * Records one problem "SOURCE: PATH: reason" (or "SOURCE: reason" when <path> is
 * NULL) in <c>. The caller makes sure <path> is printable (see config_printable).
 */
static void config_problem(struct config_ctx *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void config_problem(struct config_ctx *c, const char *path, const char *fmt, ...)
{
    char reason[AG_ERR_LINE];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    if (path != NULL)
        ag_err_add(c->err, "%s: %s: %s", c->source, path, reason);
    else
        ag_err_add(c->err, "%s: %s", c->source, reason);
    c->problems++;
}

/*
 * Writes a one-line rendering of the NUL-terminated <s> into <buf> (<size> >= 8):
 * bytes outside printable ASCII become \xHH and long input is cut with "...".
 * Used for every name or text taken from the file, so that a message stays one line.
 * Returns <buf>.
 */
static const char *config_printable(const char *s, char *buf, size_t size)
{
    size_t o = 0;

    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        size_t need = (ch >= 0x20 && ch < 0x7f) ? 1 : 4;

        if (o + need + 4 > size) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (need == 1)
            buf[o++] = (char)ch;
        else
            o += (size_t)snprintf(buf + o, size - o, "\\x%02X", ch);
    }
    buf[o] = '\0';
    return buf;
}

/* Returns a new NUL-terminated copy of <s,n>, or NULL with <c>->oom set. */
static char *config_strndup(struct config_ctx *c, const char *s, size_t n)
{
    char *p = malloc(n + 1);

    if (p == NULL) {
        c->oom = true;
        return NULL;
    }
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* Zeroes the <len> bytes of *<p> (a secret) and frees it; *<p> becomes NULL. */
static void config_free_secret(char **p, size_t len)
{
    if (*p != NULL)
        sodium_memzero(*p, len);
    AG_FREE(*p);
}

/* ------------------------------------------------------------------------------------------
 * Character classes (ASCII only, never the locale)
 * ------------------------------------------------------------------------------------------ */

static bool config_is_alnum(unsigned char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static bool config_is_digit(unsigned char ch)
{
    return ch >= '0' && ch <= '9';
}

static bool config_is_hex(unsigned char ch)
{
    return config_is_digit(ch) || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* RFC 9110 s.5.6.2 tchar. */
static bool config_is_tchar(unsigned char ch)
{
    return config_is_alnum(ch) || (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* True when every byte of <s,n> is in 0x20..0x7e (<space_ok>) or 0x21..0x7e. */
static bool config_all_printable(const char *s, size_t n, bool space_ok)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (ch > 0x7e || ch < 0x20 || (ch == ' ' && !space_ok))
            return false;
    }
    return true;
}

/* ------------------------------------------------------------------------------------------
 * Did-you-mean: optimal string alignment distance on normalised names
 * ------------------------------------------------------------------------------------------ */

#define CONFIG_SUGGEST_MAX 48

/* Lower-case with '_' read as '-', so "app_name" and "App-Name" are 0 away from "app-name". */
static char config_fold(char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return (char)(ch - 'A' + 'a');
    return ch == '_' ? '-' : ch;
}

/*
 * Edit distance (insert, delete, substitute, swap two neighbours) between <a> and
 * <b> after config_fold(). Returns SIZE_MAX, without computing, when the lengths
 * alone put it above 2 or a name is longer than CONFIG_SUGGEST_MAX: such names are
 * never worth a suggestion.
 */
static size_t config_distance(const char *a, const char *b)
{
    unsigned char d[CONFIG_SUGGEST_MAX + 1][CONFIG_SUGGEST_MAX + 1]; /* values <= 48 */
    size_t la = strlen(a), lb = strlen(b);

    if (la > CONFIG_SUGGEST_MAX || lb > CONFIG_SUGGEST_MAX || la > lb + 2 || lb > la + 2)
        return SIZE_MAX;
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (unsigned char)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (unsigned char)j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            int cost = config_fold(a[i - 1]) != config_fold(b[j - 1]);
            int best = d[i - 1][j - 1] + cost;

            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && config_fold(a[i - 1]) == config_fold(b[j - 2]) &&
                config_fold(a[i - 2]) == config_fold(b[j - 1]) && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = (unsigned char)best;
        }
    }
    return d[la][lb];
}

/*
 * Reports the unknown key <key> of the object at <path> (NULL: the top level),
 * suggesting the closest of the <n> <names> when it is at most 2 edits away.
 */
static void config_unknown_key(struct config_ctx *c, const char *path, const char *key,
                               const char *const *names, size_t n)
{
    char shown[80];
    const char *best = NULL;
    size_t best_d = 3;

    for (size_t i = 0; i < n; i++) {
        size_t d = config_distance(key, names[i]);

        if (d < best_d) {
            best_d = d;
            best = names[i];
        }
    }
    config_printable(key, shown, sizeof(shown));
    if (best != NULL)
        config_problem(c, path, "unknown key '%s' (did you mean '%s'?)", shown, best);
    else
        config_problem(c, path, "unknown key '%s'", shown);
}

/*
 * Finds member <key> of the object at <path> in <names> (<n> of them): true with its
 * index in *<i> and "<path>.<key>" in <kpath> (AG_ERR_LINE bytes); false, reported as
 * an unknown key (with a suggestion), when it is not one of them.
 */
static bool config_member(struct config_ctx *c, const char *path, const char *key,
                          const char *const *names, size_t n, size_t *i, char *kpath)
{
    for (*i = 0; *i < n; (*i)++)
        if (strcmp(key, names[*i]) == 0) {
            snprintf(kpath, AG_ERR_LINE, "%s.%s", path, key);
            return true;
        }
    config_unknown_key(c, path, key, names, n);
    return false;
}

/* ------------------------------------------------------------------------------------------
 * Typed getters: each reports its own problem and returns false on a bad value
 * ------------------------------------------------------------------------------------------ */

static bool config_get_string(struct config_ctx *c, const char *path, json_t *v, const char **s,
                              size_t *n)
{
    if (!json_is_string(v)) {
        config_problem(c, path, "expected a string");
        return false;
    }
    *s = json_string_value(v);
    *n = json_string_length(v);
    return true;
}

static bool config_get_int(struct config_ctx *c, const char *path, json_t *v, long long min,
                           long long max, long long *out)
{
    long long x;

    if (!json_is_integer(v)) {
        config_problem(c, path, "expected an integer");
        return false;
    }
    x = (long long)json_integer_value(v);
    if (x < min || x > max) {
        if (max == LLONG_MAX)
            config_problem(c, path, "must be at least %lld", min);
        else
            config_problem(c, path, "must be between %lld and %lld", min, max);
        return false;
    }
    *out = x;
    return true;
}

static bool config_get_seconds(struct config_ctx *c, const char *path, json_t *v, double *out)
{
    double x;

    if (!json_is_number(v)) {
        config_problem(c, path, "expected a number of seconds");
        return false;
    }
    x = json_number_value(v);
    if (!(x > 0.0 && x <= CONFIG_MAX_SECONDS)) {
        config_problem(c, path, "must be more than 0 and at most 86400 seconds");
        return false;
    }
    *out = x;
    return true;
}

static bool config_get_bool(struct config_ctx *c, const char *path, json_t *v, bool *out)
{
    if (!json_is_boolean(v)) {
        config_problem(c, path, "expected true or false");
        return false;
    }
    *out = json_is_true(v);
    return true;
}

/* ------------------------------------------------------------------------------------------
 * HOST:PORT, shared by listen, upstream and redis
 * ------------------------------------------------------------------------------------------ */

/* Why a HOST:PORT was refused; zero is the failing value. */
enum config_hp {
    CONFIG_HP_BAD = 0, /* not HOST:PORT at all */
    CONFIG_HP_OK = 1,
    CONFIG_HP_BAD_PORT = -1, /* port not 1..65535 */
    CONFIG_HP_BRACKETS = -2, /* IPv6 address without [ ] */
};

/*
 * Splits <s,n> as "HOST:PORT" or "[IPV6]:PORT". Without a port, *<port> keeps
 * its value when <port_optional>, else the form is refused. On CONFIG_HP_OK,
 * <host> points into <s> (brackets removed). HOST is a name or IPv4 address
 * (letters, digits, '-', '.', '_') or, in brackets, hex digits, ':' and '.'.
 */
static enum config_hp config_split_hostport(const char *s, size_t n, bool port_optional,
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
            if (!config_is_hex((unsigned char)host->p[i]) && host->p[i] != ':' && host->p[i] != '.')
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
            if (!config_is_alnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '.' && s[i] != '_')
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
        if (!config_is_digit((unsigned char)*q))
            return CONFIG_HP_BAD;
        if (p <= 65535)
            p = p * 10 + (unsigned long)(*q - '0');
    }
    if (p < 1 || p > 65535)
        return CONFIG_HP_BAD_PORT;
    *port = (unsigned)p;
    return CONFIG_HP_OK;
}

/* ------------------------------------------------------------------------------------------
 * Custom keys
 * ------------------------------------------------------------------------------------------ */

typedef void config_parse_fn(struct config_ctx *c, const char *path, json_t *v);

static void config_parse_app_name(struct config_ctx *c, const char *path, json_t *v)
{
    const char *s;
    size_t n;

    if (!config_get_string(c, path, v, &s, &n))
        return;
    if (n == 0)
        config_problem(c, path, "must not be empty");
    else if (n > CONFIG_MAX_APP_NAME)
        config_problem(c, path, "must be at most %d characters", CONFIG_MAX_APP_NAME);
    else if (!config_all_printable(s, n, true) || strpbrk(s, "\"\\") != NULL)
        /* it is written inside WWW-Authenticate: Bearer realm="..." */
        config_problem(c, path, "must be printable ASCII without '\"' or '\\'");
    else
        c->cfg->app_name = config_strndup(c, s, n);
}

/*
 * Checks a master token <s,n>; <what> prefixes the reason ("" for the file's
 * value, "MASTER_TOKEN " for the variable's). The token is compared with a header
 * value, so it must be a valid one (RFC 9110 s.5.5).
 */
static bool config_check_master_token(struct config_ctx *c, const char *what, const char *s,
                                      size_t n)
{
    if (n == 0) {
        config_problem(c, "master-token", "%smust not be empty", what);
        return false;
    }
    if (!config_all_printable(s, n, true) || s[0] == ' ' || s[n - 1] == ' ') {
        config_problem(c, "master-token",
                       "%smust be printable ASCII without leading or trailing spaces "
                       "(it is sent as a header value)",
                       what);
        return false;
    }
    return true;
}

static void config_parse_master_token(struct config_ctx *c, const char *path, json_t *v)
{
    const char *s;
    size_t n;

    if (!config_get_string(c, path, v, &s, &n))
        return;
    if (!config_check_master_token(c, "", s, n))
        return;
    c->cfg->master_token = config_strndup(c, s, n);
    c->cfg->master_token_len = n;
}

static void config_parse_crypto_key(struct config_ctx *c, const char *path, json_t *v)
{
    const char *s;
    size_t n;

    if (!config_get_string(c, path, v, &s, &n))
        return;
    if (n < CONFIG_MIN_KEY_LEN) {
        config_problem(c, path,
                       "must be at least %d characters (has %zu); `authgate keygen` makes one",
                       CONFIG_MIN_KEY_LEN, n);
        return;
    }
    c->cfg->crypto_key = config_strndup(c, s, n);
    c->cfg->crypto_key_len = n;
}

/*
 * Checks the path prefix <s,len> at <path>: it must start with '/', be visible
 * ASCII and hold no '?' or '#' (the query is never matched). Reports and returns
 * false when it is bad.
 */
static bool config_check_prefix(struct config_ctx *c, const char *path, const char *s, size_t len)
{
    if (len == 0 || s[0] != '/')
        config_problem(c, path, "must start with '/'");
    else if (!config_all_printable(s, len, false))
        config_problem(c, path, "must be printable ASCII without spaces");
    else if (strpbrk(s, "?#") != NULL)
        config_problem(c, path, "must not contain '?' or '#' (only the path is matched)");
    else
        return true;
    return false;
}

/* Parses an array of path prefixes (config_check_prefix) into *<out> / *<n_out>. */
static void config_parse_paths(struct config_ctx *c, const char *path, json_t *v, char ***out,
                               size_t *n_out)
{
    char ipath[AG_ERR_LINE];
    size_t n, i;
    json_t *e;

    if (!json_is_array(v)) {
        config_problem(c, path, "expected an array of strings");
        return;
    }
    n = json_array_size(v);
    if (n == 0)
        return;
    *out = calloc(n, sizeof(**out));
    if (*out == NULL) {
        c->oom = true;
        return;
    }
    *n_out = n;
    json_array_foreach(v, i, e)
    {
        const char *s;
        size_t len;

        snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
        if (!config_get_string(c, ipath, e, &s, &len))
            continue;
        if (config_check_prefix(c, ipath, s, len))
            (*out)[i] = config_strndup(c, s, len);
    }
}

static void config_parse_master_paths(struct config_ctx *c, const char *path, json_t *v)
{
    config_parse_paths(c, path, v, &c->cfg->master_paths, &c->cfg->n_master_paths);
}

static void config_parse_access_paths(struct config_ctx *c, const char *path, json_t *v)
{
    config_parse_paths(c, path, v, &c->cfg->access_paths, &c->cfg->n_access_paths);
}

/*
 * True when the gateway writes or strips the header <name> itself: framing and
 * hop-by-hop fields (RFC 9110 s.7.6.1), and the identity and forwarding families
 * (CONTRACT.md section 6), in any case and with '_' or '.' for '-'.
 */
static bool config_header_is_owned(const char *name)
{
    static const char *const exact[] = {"host",       "content-length", "transfer-encoding",
                                        "connection", "upgrade",        "keep-alive",
                                        "te",         "trailer",        "proxy-connection"};
    static const char *const family[] = {"auth", "forwarded"};
    size_t n = strlen(name);

    for (size_t i = 0; i < CONFIG_ARRAY_LEN(exact); i++)
        if (strcasecmp(name, exact[i]) == 0)
            return true;
    if (n < 2 || config_fold(name[0]) != 'x' || strchr("-_.", name[1]) == NULL)
        return false;
    for (size_t i = 0; i < CONFIG_ARRAY_LEN(family); i++) {
        size_t fl = strlen(family[i]);

        if (n > 2 + fl && strncasecmp(name + 2, family[i], fl) == 0 &&
            strchr("-_.", name[2 + fl]) != NULL)
            return true;
    }
    return false;
}

static void config_parse_headers(struct config_ctx *c, const char *path, json_t *v)
{
    struct ag_config *cfg = c->cfg;
    char hpath[AG_ERR_LINE], shown[80];
    const char *name;
    json_t *e;
    size_t n;

    if (!json_is_object(v)) {
        config_problem(c, path, "expected an object of header names and string values");
        return;
    }
    n = json_object_size(v);
    if (n == 0)
        return;
    cfg->headers = calloc(n, sizeof(*cfg->headers));
    if (cfg->headers == NULL) {
        c->oom = true;
        return;
    }
    json_object_foreach(v, name, e)
    {
        const char *s, *dup = NULL;
        size_t len, nl = strlen(name);
        bool name_ok = nl > 0;

        snprintf(hpath, sizeof(hpath), "%s.%s", path, config_printable(name, shown, sizeof(shown)));
        for (size_t i = 0; i < nl; i++)
            name_ok = name_ok && config_is_tchar((unsigned char)name[i]);
        for (size_t i = 0; i < cfg->n_headers && name_ok; i++)
            if (cfg->headers[i].name != NULL && strcasecmp(cfg->headers[i].name, name) == 0)
                dup = cfg->headers[i].name;
        if (!name_ok) {
            config_problem(c, hpath, "name must be an HTTP token (RFC 9110 section 5.6.2)");
        } else if (config_header_is_owned(name)) {
            config_problem(c, hpath, "set by the gateway; cannot be configured");
        } else if (dup != NULL) {
            config_problem(c, hpath, "same name as '%s' (header names ignore case)",
                           config_printable(dup, shown, sizeof(shown)));
        } else if (config_get_string(c, hpath, e, &s, &len)) {
            bool value_ok = true;

            for (size_t i = 0; i < len; i++) {
                unsigned char ch = (unsigned char)s[i];

                value_ok = value_ok && ((ch >= 0x20 && ch < 0x7f) || ch == '\t');
            }
            if (strpbrk(s, "\r\n") != NULL) {
                config_problem(c, hpath, "value must not contain CR or LF");
            } else if (!value_ok) {
                config_problem(c, hpath, "value must contain only visible ASCII, SP and HTAB");
            } else {
                cfg->headers[cfg->n_headers].name = config_strndup(c, name, nl);
                cfg->headers[cfg->n_headers].value = config_strndup(c, s, len);
                cfg->n_headers++;
            }
        }
    }
}

/* Reports the HOST:PORT verdict <hp> for the key at <path>, whose form is <form>. */
static void config_hostport_problem(struct config_ctx *c, const char *path, enum config_hp hp,
                                    const char *form, const char *v6_example)
{
    if (hp == CONFIG_HP_BAD_PORT)
        config_problem(c, path, "port must be 1-65535");
    else if (hp == CONFIG_HP_BRACKETS)
        config_problem(c, path, "IPv6 addresses need brackets, as in \"%s\"", v6_example);
    else
        config_problem(c, path, "expected \"%s\"", form);
}

/* Parses one listen address <v> at <path> into <cfg>->listen[<i>]; returns false if bad. */
static bool config_parse_listen_one(struct config_ctx *c, const char *path, json_t *v, size_t i)
{
    struct ag_listen_addr *a = &c->cfg->listen[i];
    struct ag_str host;
    unsigned port = 0;
    enum config_hp hp;
    char digits[8];
    const char *s;
    size_t n;

    if (!config_get_string(c, path, v, &s, &n))
        return false;
    hp = config_split_hostport(s, n, false, &host, &port);
    if (hp != CONFIG_HP_OK) {
        config_hostport_problem(c, path, hp, "HOST:PORT", "[::1]:8080");
        return false;
    }
    snprintf(digits, sizeof(digits), "%u", port);
    for (size_t j = 0; j < i; j++) {
        struct ag_listen_addr *b = &c->cfg->listen[j];

        if (b->host != NULL && b->port != NULL && strcmp(b->port, digits) == 0 &&
            strlen(b->host) == host.len && strncasecmp(b->host, host.p, host.len) == 0) {
            config_problem(c, path, "same address as listen[%zu]", j);
            return false;
        }
    }
    a->host = config_strndup(c, host.p, host.len);
    a->port = config_strndup(c, digits, strlen(digits));
    return true;
}

static void config_parse_listen(struct config_ctx *c, const char *path, json_t *v)
{
    char ipath[AG_ERR_LINE];
    size_t n = 1, i;
    json_t *e;

    if (json_is_array(v)) {
        n = json_array_size(v);
        if (n == 0) {
            config_problem(c, path, "must not be an empty array");
            return;
        }
    } else if (!json_is_string(v)) {
        config_problem(c, path, "expected \"HOST:PORT\" or an array of them");
        return;
    }
    c->cfg->listen = calloc(n, sizeof(*c->cfg->listen));
    if (c->cfg->listen == NULL) {
        c->oom = true;
        return;
    }
    c->cfg->n_listen = n;
    if (json_is_string(v)) {
        config_parse_listen_one(c, path, v, 0);
        return;
    }
    json_array_foreach(v, i, e)
    {
        snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
        config_parse_listen_one(c, ipath, e, i);
    }
}

/*
 * Parses the "http://HOST:PORT" at <path> into new strings *<o_host>, *<o_port>
 * and *<o_hostport> (shared by "upstream" and "routes[i].upstream").
 */
static void config_parse_upstream_url(struct config_ctx *c, const char *path, json_t *v,
                                      char **o_host, char **o_port, char **o_hostport)
{
    const char *s, *auth, *end;
    struct ag_str host;
    unsigned port = 80;
    enum config_hp hp;
    char buf[300];
    size_t n;

    if (!config_get_string(c, path, v, &s, &n))
        return;
    if (n >= 8 && strncasecmp(s, "https://", 8) == 0) {
        config_problem(c, path, "TLS to the upstream is not supported yet");
        return;
    }
    if (n < 7 || strncasecmp(s, "http://", 7) != 0) {
        config_problem(c, path, "expected \"http://HOST:PORT\"");
        return;
    }
    auth = s + 7;
    end = auth + strcspn(auth, "/?#");
    if (memchr(auth, '@', (size_t)(end - auth)) != NULL) {
        config_problem(c, path, "credentials in the URL are not supported (use 'headers')");
        return;
    }
    if (!(*end == '\0' || (end[0] == '/' && end[1] == '\0'))) {
        config_problem(c, path,
                       "must not have a path or query (the request path is forwarded as is)");
        return;
    }
    hp = config_split_hostport(auth, (size_t)(end - auth), true, &host, &port);
    if (hp != CONFIG_HP_OK) {
        config_hostport_problem(c, path, hp, "http://HOST:PORT", "http://[::1]:8081");
        return;
    }
    *o_host = config_strndup(c, host.p, host.len);
    snprintf(buf, sizeof(buf), "%u", port);
    *o_port = config_strndup(c, buf, strlen(buf));
    snprintf(buf, sizeof(buf), memchr(host.p, ':', host.len) ? "[%.*s]:%u" : "%.*s:%u",
             (int)host.len, host.p, port);
    *o_hostport = config_strndup(c, buf, strlen(buf));
}

static void config_parse_upstream(struct config_ctx *c, const char *path, json_t *v)
{
    config_parse_upstream_url(c, path, v, &c->cfg->upstream_host, &c->cfg->upstream_port,
                              &c->cfg->upstream_hostport);
}

static void config_parse_redis(struct config_ctx *c, const char *path, json_t *v)
{
    static const char form[] = "expected \"redis://[:PASSWORD@]HOST:PORT[/DB]\" or "
                               "\"unix:///PATH\"";
    const char *s, *auth, *end, *at = NULL;
    struct ag_str host;
    unsigned port;
    enum config_hp hp;
    size_t n;

    if (!config_get_string(c, path, v, &s, &n))
        return;
    if (!config_all_printable(s, n, true)) {
        config_problem(c, path, "must be printable ASCII");
        return;
    }
    if (n >= 7 && strncmp(s, "unix://", 7) == 0) {
        if (s[7] != '/' || s[8] == '\0')
            config_problem(c, path, "the socket path must be absolute, as in \"unix:///PATH\"");
        else if (n - 7 > CONFIG_MAX_SUN_PATH)
            config_problem(c, path, "the socket path is too long (at most %d bytes)",
                           CONFIG_MAX_SUN_PATH);
        else
            c->cfg->redis_url = config_strndup(c, s, n);
        return;
    }
    if (n >= 9 && strncasecmp(s, "rediss://", 9) == 0) {
        config_problem(c, path, "TLS to Redis is not supported yet");
        return;
    }
    if (n < 8 || strncasecmp(s, "redis://", 8) != 0) {
        config_problem(c, path, "%s", form);
        return;
    }
    auth = s + 8;
    end = auth + strcspn(auth, "/");
    for (const char *q = auth; q < end; q++)
        if (*q == '@')
            at = q;
    if (at != NULL) {
        if (auth[0] != ':') {
            config_problem(c, path,
                           "a user name is not supported; use "
                           "\"redis://:PASSWORD@HOST:PORT\"");
            return;
        }
        if (at == auth + 1) {
            config_problem(c, path, "the password after ':' must not be empty");
            return;
        }
        auth = at + 1;
    }
    hp = config_split_hostport(auth, (size_t)(end - auth), false, &host, &port);
    if (hp != CONFIG_HP_OK) {
        config_hostport_problem(c, path, hp, "redis://[:PASSWORD@]HOST:PORT[/DB]",
                                "redis://[::1]:6379/0");
        return;
    }
    if (*end == '/') {
        size_t dl = strlen(end + 1);

        if (dl == 0 || dl > 9 || strspn(end + 1, "0123456789") != dl) {
            config_problem(c, path, "the database after '/' must be a non-negative integer");
            return;
        }
    }
    c->cfg->redis_url = config_strndup(c, s, n);
}

/*
 * auth-prefix: a normalised path (CONTRACT.md section 4), or the endpoints under
 * it could never be reached: pchar without '%' and ';', no empty, '.' or '..'
 * segment, no segment ending in '.'.
 */
static void config_parse_auth_prefix(struct config_ctx *c, const char *path, json_t *v)
{
    const char *s;
    size_t n;

    if (!config_get_string(c, path, v, &s, &n))
        return;
    if (n == 0 || s[0] != '/') {
        config_problem(c, path, "must start with '/'");
        return;
    }
    if (s[n - 1] == '/') {
        config_problem(c, path, "must not end with '/'");
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (!config_is_alnum((unsigned char)s[i]) && strchr("-._~!$&'()*+,=:@/", s[i]) == NULL) {
            config_problem(
                c, path, "must contain only letters, digits and the characters -._~!$&'()*+,=:@/");
            return;
        }
    if (strstr(s, "//") != NULL || strstr(s, "./") != NULL || s[n - 1] == '.') {
        config_problem(c, path, "must not have empty segments or segments ending in '.'");
        return;
    }
    c->cfg->auth_prefix = config_strndup(c, s, n);
}

static void config_parse_access_log(struct config_ctx *c, const char *path, json_t *v)
{
    const char *s;
    size_t n;

    if (!config_get_string(c, path, v, &s, &n))
        return;
    if (n == 0)
        config_problem(c, path, "expected \"stderr\", \"off\" or a file path");
    else if (!config_all_printable(s, n, true))
        config_problem(c, path, "the file path must be printable ASCII");
    else
        c->cfg->access_log = config_strndup(c, s, n);
}

static void config_parse_samesite(struct config_ctx *c, const char *path, json_t *v)
{
    const char *s;
    size_t n;

    if (!config_get_string(c, path, v, &s, &n))
        return;
    if (strcasecmp(s, "lax") == 0)
        c->cfg->cookie_samesite = AG_SAMESITE_LAX;
    else if (strcasecmp(s, "strict") == 0)
        c->cfg->cookie_samesite = AG_SAMESITE_STRICT;
    else if (strcasecmp(s, "none") == 0)
        c->cfg->cookie_samesite = AG_SAMESITE_NONE;
    else
        config_problem(c, path, "expected \"lax\", \"strict\" or \"none\"");
}

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
        config_problem(c, path, "expected an object {\"%s\": N, \"%s\": SECONDS}", k1, k2);
        return;
    }
    json_object_foreach(v, key, e)
    {
        bool first = strcmp(key, k1) == 0;

        if (!first && strcmp(key, k2) != 0) {
            config_unknown_key(c, path, key, names, 2);
            continue;
        }
        snprintf(kpath, sizeof(kpath), "%s.%s", path, key);
        if (config_get_int(c, kpath, e, first ? 0 : 1, first ? 1000000000LL : CONFIG_YEAR, &x))
            *(first ? o1 : o2) = (long)x;
    }
}

static void config_parse_rate_limits(struct config_ctx *c, const char *path, json_t *v)
{
    struct ag_config *cfg = c->cfg;
    const char *const names[] = {"login",         "register", "refresh", "token-new",
                                 "login-account", "reset",    "lockout"};
    struct ag_rate *rates[] = {&cfg->rl_login,         &cfg->rl_register, &cfg->rl_refresh,
                               &cfg->rl_token_new,     &cfg->rl_login_account, &cfg->rl_reset};
    char kpath[AG_ERR_LINE];
    const char *key;
    json_t *e;

    if (json_is_boolean(v)) {
        cfg->rate_limits = json_is_true(v);
        return;
    }
    if (!json_is_object(v)) {
        config_problem(c, path, "expected true, false or an object");
        return;
    }
    json_object_foreach(v, key, e)
    {
        size_t i = 0;

        if (!config_member(c, path, key, names, CONFIG_ARRAY_LEN(names), &i, kpath))
            continue;
        if (i < CONFIG_ARRAY_LEN(rates))
            config_parse_pair(c, kpath, e, "limit", &rates[i]->limit, "window", &rates[i]->window);
        else
            config_parse_pair(c, kpath, e, "failures", &cfg->lockout_failures, "seconds",
                              &cfg->lockout_seconds);
    }
}

/* ------------------------------------------------------------------------------------------
 * Rules, routes and access tokens (docs/rules.md)
 * ------------------------------------------------------------------------------------------ */

static void config_parse_public_paths(struct config_ctx *c, const char *path, json_t *v)
{
    config_parse_paths(c, path, v, &c->cfg->public_paths, &c->cfg->n_public_paths);
}

/* What one string of a rule's array may hold. */
enum config_word {
    CONFIG_W_METHOD = 0, /* an RFC 9110 token, stored upper-cased */
    CONFIG_W_SCOPE = 1,  /* RFC 6749 s.3.3 scope-token: visible ASCII but '"' and '\' */
    CONFIG_W_ROLE = 2,   /* visible ASCII but ',' (X-Auth-Roles is a comma list) */
};

/* True when the NUL-terminated <s> (<n> bytes) is a valid <kind> word. */
static bool config_word_ok(enum config_word kind, const char *s, size_t n)
{
    if (n == 0 || strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (kind == CONFIG_W_METHOD ? !config_is_tchar(ch)
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
static void config_parse_words(struct config_ctx *c, const char *path, json_t *v,
                               enum config_word kind, char ***out, size_t *n_out)
{
    static const char *const what[] = {"method names", "scopes", "roles"};
    static const char *const rule[] = {
        "must be an HTTP method token (RFC 9110 section 9.1)",
        "must be a non-empty scope without spaces, control characters, '\"' or '\\'",
        "must be a non-empty role without spaces, control characters or ','",
    };
    char ipath[AG_ERR_LINE], shown[80];
    size_t n, i;
    json_t *e;

    if (!json_is_array(v)) {
        config_problem(c, path, "expected an array of %s", what[kind]);
        return;
    }
    n = json_array_size(v);
    if (n == 0) {
        config_problem(c, path, "must not be empty (leave the key out instead)");
        return;
    }
    if (kind != CONFIG_W_METHOD && n > AG_RULES_MAX_REQ) {
        config_problem(c, path, "at most %d %s per rule", AG_RULES_MAX_REQ, what[kind]);
        return;
    }
    *out = calloc(n, sizeof(**out));
    if (*out == NULL) {
        c->oom = true;
        return;
    }
    json_array_foreach(v, i, e)
    {
        const char *s;
        char *w;
        size_t len;

        snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
        if (!config_get_string(c, ipath, e, &s, &len))
            continue;
        if (!config_word_ok(kind, s, len)) {
            config_problem(c, ipath, "%s", rule[kind]);
            continue;
        }
        w = config_strndup(c, s, len);
        if (w == NULL)
            return;
        for (size_t k = 0; kind == CONFIG_W_METHOD && k < len; k++)
            if (w[k] >= 'a' && w[k] <= 'z')
                w[k] = (char)(w[k] - 'a' + 'A');
        for (size_t k = 0; k < *n_out; k++)
            if (strcmp((*out)[k], w) == 0) {
                config_problem(c, ipath, "'%s' is already %s[%zu]",
                               config_printable(w, shown, sizeof(shown)),
                               kind == CONFIG_W_METHOD ? "methods"
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

    if (!config_get_string(c, path, v, &s, &n))
        return false;
    for (size_t i = 0; i < CONFIG_ARRAY_LEN(modes); i++)
        if (strcasecmp(s, modes[i].name) == 0 && strlen(s) == n) {
            r->need = modes[i].need;
            r->is_public = modes[i].need == 0;
            return true;
        }
    config_problem(c, path, "expected \"access\", \"master\", \"both\" or \"public\"");
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
        config_problem(c, path, "expected an object {\"prefix\": \"/PATH\", ...}");
        return;
    }
    r->need = AG_NEED_ACCESS;
    json_object_foreach(v, key, e)
    {
        const char *s;
        size_t n;

        snprintf(kpath, sizeof(kpath), "%s.%s", path, key);
        if (strcmp(key, "prefix") == 0) {
            if (config_get_string(c, kpath, e, &s, &n) && config_check_prefix(c, kpath, s, n))
                r->prefix = config_strndup(c, s, n);
        } else if (strcmp(key, "methods") == 0) {
            config_parse_words(c, kpath, e, CONFIG_W_METHOD, &r->methods, &r->n_methods);
        } else if (strcmp(key, "auth") == 0) {
            config_parse_rule_auth(c, kpath, e, r);
        } else if (strcmp(key, "scopes") == 0) {
            config_parse_words(c, kpath, e, CONFIG_W_SCOPE, &r->scopes, &r->n_scopes);
        } else if (strcmp(key, "roles") == 0) {
            config_parse_words(c, kpath, e, CONFIG_W_ROLE, &r->roles, &r->n_roles);
        } else {
            config_unknown_key(c, path, key, names, CONFIG_ARRAY_LEN(names));
        }
    }
    if (json_object_get(v, "prefix") == NULL)
        config_problem(c, path, "\"prefix\" is required");
    if (r->is_public && (json_object_get(v, "scopes") != NULL || json_object_get(v, "roles")))
        config_problem(c, path,
                       "\"auth\": \"public\" cannot require scopes or roles (they need an "
                       "access token)");
}

/*
 * Allocates <*out> with one zeroed <size>-byte element per member of the JSON array <v>
 * and sets <*n>. Returns false (a problem or OOM recorded) when <v> is not an array or
 * memory runs out, or when the array is empty (nothing to parse).
 */
static bool config_object_array(struct config_ctx *c, const char *path, json_t *v, size_t size,
                                void **out, size_t *n)
{
    if (!json_is_array(v)) {
        config_problem(c, path, "expected an array of objects");
        return false;
    }
    if (json_array_size(v) == 0)
        return false;
    *out = calloc(json_array_size(v), size);
    if (*out == NULL) {
        c->oom = true;
        return false;
    }
    *n = json_array_size(v);
    return true;
}

static void config_parse_rules(struct config_ctx *c, const char *path, json_t *v)
{
    char ipath[64];
    size_t i;
    json_t *e;

    if (!config_object_array(c, path, v, sizeof(*c->cfg->rules), (void **)&c->cfg->rules,
                             &c->cfg->n_rules))
        return;
    json_array_foreach(v, i, e)
    {
        snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
        config_parse_rule(c, ipath, e, &c->cfg->rules[i]);
    }
}

static void config_parse_routes(struct config_ctx *c, const char *path, json_t *v)
{
    static const char *const names[] = {"prefix", "upstream"};
    char ipath[64], kpath[AG_ERR_LINE];
    size_t i;
    json_t *e;

    if (!config_object_array(c, path, v, sizeof(*c->cfg->routes), (void **)&c->cfg->routes,
                             &c->cfg->n_routes))
        return;
    json_array_foreach(v, i, e)
    {
        struct ag_route *rt = &c->cfg->routes[i];
        const char *key, *s;
        size_t len;
        json_t *m;

        snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
        if (!json_is_object(e)) {
            config_problem(c, ipath,
                           "expected an object {\"prefix\": \"/PATH\", \"upstream\": "
                           "\"http://HOST:PORT\"}");
            continue;
        }
        json_object_foreach(e, key, m)
        {
            snprintf(kpath, sizeof(kpath), "%s.%s", ipath, key);
            if (strcmp(key, "prefix") == 0) {
                if (config_get_string(c, kpath, m, &s, &len) &&
                    config_check_prefix(c, kpath, s, len))
                    rt->prefix = config_strndup(c, s, len);
            } else if (strcmp(key, "upstream") == 0) {
                config_parse_upstream_url(c, kpath, m, &rt->upstream_host, &rt->upstream_port,
                                          &rt->upstream_hostport);
            } else {
                config_unknown_key(c, ipath, key, names, CONFIG_ARRAY_LEN(names));
            }
        }
        if (json_object_get(e, "prefix") == NULL)
            config_problem(c, ipath, "\"prefix\" is required");
        if (json_object_get(e, "upstream") == NULL)
            config_problem(c, ipath, "\"upstream\" is required");
    }
}

/* token-issuer and token-audience: compared with claims and written into tokens. */
static void config_parse_token_str(struct config_ctx *c, const char *path, json_t *v, char **out)
{
    const char *s;
    size_t n;

    if (!config_get_string(c, path, v, &s, &n))
        return;
    if (n == 0 || n > CONFIG_MAX_TOKEN_STR)
        config_problem(c, path, "must be 1 to %d characters", CONFIG_MAX_TOKEN_STR);
    else if (!config_all_printable(s, n, true))
        config_problem(c, path, "must be printable ASCII");
    else
        *out = config_strndup(c, s, n);
}

static void config_parse_token_issuer(struct config_ctx *c, const char *path, json_t *v)
{
    config_parse_token_str(c, path, v, &c->cfg->token_issuer);
}

static void config_parse_token_audience(struct config_ctx *c, const char *path, json_t *v)
{
    config_parse_token_str(c, path, v, &c->cfg->token_audience);
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
        folded[i] = name[i] == '.' ? '-' : config_fold(name[i]);
    for (size_t i = 0; i < CONFIG_ARRAY_LEN(refused); i++)
        if (strcmp(folded, refused[i]) == 0)
            return true;
    return strncmp(folded, "x-forwarded-", 12) == 0;
}

static void config_parse_identity_headers(struct config_ctx *c, const char *path, json_t *v)
{
    struct ag_identity_names *id = &c->cfg->identity;
    const char *const names[] = {"subject", "client-id", "scopes", "roles"};
    char **fields[] = {&id->subject, &id->client_id, &id->scopes, &id->roles};
    char kpath[AG_ERR_LINE];
    const char *key;
    json_t *e;

    if (!json_is_object(v)) {
        config_problem(c, path, "expected an object of header names");
        return;
    }
    json_object_foreach(v, key, e)
    {
        size_t i = 0, n;
        const char *s;
        bool ok;

        if (!config_member(c, path, key, names, CONFIG_ARRAY_LEN(names), &i, kpath))
            continue;
        if (!config_get_string(c, kpath, e, &s, &n))
            continue;
        ok = n > 0 && n < 64 && strlen(s) == n;
        for (size_t k = 0; k < n && ok; k++)
            ok = config_is_tchar((unsigned char)s[k]);
        if (!ok)
            config_problem(c, kpath,
                           "must be an HTTP token of 1 to 63 characters (RFC 9110 section 5.6.2)");
        else if (config_identity_name_refused(s))
            config_problem(c, kpath, "a framing, forwarding or credential header; pick another");
        else
            *fields[i] = config_strndup(c, s, n);
    }
}

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

    while (sl < n && (config_is_alnum((unsigned char)s[sl]) || strchr("+-.", s[sl]) != NULL))
        sl++;
    if (sl == 0 || !config_is_alnum((unsigned char)s[0]) || config_is_digit((unsigned char)s[0]) ||
        n - sl < 3 || memcmp(s + sl, "://", 3) != 0 || strlen(s) != n) {
        config_problem(c, path,
                       "expected an origin \"SCHEME://HOST[:PORT]\" as browsers send it in "
                       "Origin, or \"*\"");
        return false;
    }
    if (n > CONFIG_MAX_ORIGIN) {
        config_problem(c, path, "must be at most %d characters", CONFIG_MAX_ORIGIN);
        return false;
    }
    if (strpbrk(s + sl + 3, "/?#") != NULL) {
        config_problem(c, path,
                       "must not have a path, query or trailing '/' (browsers send the origin "
                       "alone: \"https://app.example.com\")");
        return false;
    }
    hp = config_split_hostport(s + sl + 3, n - sl - 3, true, &host, &port);
    if (hp != CONFIG_HP_OK) {
        config_hostport_problem(c, path, hp, "SCHEME://HOST[:PORT]", "https://[::1]:8443");
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
    char ipath[AG_ERR_LINE], shown[80];
    size_t n, i;
    json_t *e;

    if (!json_is_array(v)) {
        config_problem(c, path, "expected an array of %s%s", what[kind],
                       any != NULL ? " or [\"*\"]" : "");
        return;
    }
    n = json_array_size(v);
    if (n == 0) {
        if (need_one)
            config_problem(c, path, "must not be empty");
        return;
    }
    *out = calloc(n, sizeof(**out));
    if (*out == NULL) {
        c->oom = true;
        return;
    }
    json_array_foreach(v, i, e)
    {
        const char *s;
        char *w;
        size_t len;
        bool ok = true;

        snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
        if (!config_get_string(c, ipath, e, &s, &len))
            continue;
        if (any != NULL && len == 1 && s[0] == '*') {
            if (n > 1)
                config_problem(c, ipath, "\"*\" must be the only entry");
            else
                *any = true;
            continue;
        }
        if (kind == CONFIG_CORS_ORIGIN) {
            ok = config_cors_origin_ok(c, ipath, s, len);
        } else {
            ok = len > 0 && strlen(s) == len;
            for (size_t k = 0; k < len && ok; k++)
                ok = config_is_tchar((unsigned char)s[k]);
            if (!ok)
                config_problem(c, ipath, "must be an HTTP token (RFC 9110 section 5.6.2)");
        }
        if (!ok || (w = config_strndup(c, s, len)) == NULL)
            continue;
        /* Origins: scheme and host are case-insensitive and browsers send them in lower case. */
        for (size_t k = 0; (kind == CONFIG_CORS_ORIGIN || kind == CONFIG_CORS_HEADER) && k < len; k++)
            if (w[k] >= 'A' && w[k] <= 'Z')
                w[k] = (char)(w[k] - 'A' + 'a');
        for (size_t k = 0; k < *n_out; k++)
            if (kind == CONFIG_CORS_EXPOSE ? strcasecmp((*out)[k], w) == 0
                                           : strcmp((*out)[k], w) == 0) {
                config_problem(c, ipath, "'%s' is already %s[%zu]",
                               config_printable(w, shown, sizeof(shown)), path, k);
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
static void config_parse_cors(struct config_ctx *c, const char *path, json_t *v)
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
        config_problem(c, path, "expected false or an object {\"allow-origins\": [...], ...}");
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
            config_get_bool(c, kpath, e, &cc->credentials);
        else if (strcmp(key, "max-age") == 0) {
            if (config_get_int(c, kpath, e, 0, 86400, &x))
                cc->max_age = (long)x;
        } else if (strcmp(key, "allow-origin-regex") == 0)
            config_problem(c, path, "'allow-origin-regex' is not supported; list the origins in "
                                    "\"allow-origins\"");
        else
            config_unknown_key(c, path, key, names, CONFIG_ARRAY_LEN(names));
    }
    if (json_object_get(v, "allow-origins") == NULL)
        config_problem(c, path, "\"allow-origins\" is required (an array of origins, or [\"*\"])");
    if (cc->credentials && cc->any_origin)
        config_problem(c, "cors.allow-credentials",
                       "cannot be true with \"allow-origins\": [\"*\"] (browsers refuse "
                       "credentials with a wildcard origin); list the origins");
    if (json_object_get(v, "allow-methods") == NULL) {
        cc->methods = calloc(CONFIG_ARRAY_LEN(def_methods), sizeof(*cc->methods));
        if (cc->methods == NULL)
            c->oom = true;
        for (size_t i = 0; cc->methods != NULL && i < CONFIG_ARRAY_LEN(def_methods); i++)
            cc->methods[cc->n_methods++] =
                config_strndup(c, def_methods[i], strlen(def_methods[i]));
    }
    if (!c->oom && !cc->any_method && cc->n_methods > 0)
        cc->methods_line = config_join(c, cc->methods, cc->n_methods);
    if (!c->oom && n_expose > 0)
        cc->expose_line = config_join(c, expose, n_expose);
    for (size_t i = 0; i < n_expose; i++)
        AG_FREE(expose[i]);
    AG_FREE(expose);
}

/* ------------------------------------------------------------------------------------------
 * Users: passwords, proxies, scopes, password reset (docs/users.md)
 * ------------------------------------------------------------------------------------------ */

static void config_parse_passwords(struct config_ctx *c, const char *path, json_t *v)
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
        config_problem(c, path, "expected an object {\"min-length\": N, ...}");
        return;
    }
    json_object_foreach(v, key, e)
    {
        size_t i = 0;

        if (!config_member(c, path, key, names, CONFIG_ARRAY_LEN(names), &i, kpath))
            continue;
        if (!config_get_int(c, kpath, e, lo[i], hi[i], &x))
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

        if (!config_is_digit((unsigned char)slash[1]) || strlen(slash + 1) > 3)
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

static void config_parse_trusted_proxies(struct config_ctx *c, const char *path, json_t *v)
{
    struct ag_config *cfg = c->cfg;
    char ipath[AG_ERR_LINE];
    size_t i;
    json_t *e;

    if (!json_is_array(v)) {
        config_problem(c, path, "expected an array of addresses (\"10.0.0.0/8\", \"::1\")");
        return;
    }
    if (json_array_size(v) == 0)
        return;
    cfg->trusted_proxies = calloc(json_array_size(v), sizeof(*cfg->trusted_proxies));
    if (cfg->trusted_proxies == NULL) {
        c->oom = true;
        return;
    }
    json_array_foreach(v, i, e)
    {
        const char *s;
        size_t n;

        snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
        if (!config_get_string(c, ipath, e, &s, &n))
            continue;
        if (strlen(s) != n || !config_parse_cidr(s, &cfg->trusted_proxies[cfg->n_trusted_proxies]))
            config_problem(c, ipath, "expected an IPv4 or IPv6 address, optionally /BITS");
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

static void config_parse_role_scopes(struct config_ctx *c, const char *path, json_t *v)
{
    struct ag_config *cfg = c->cfg;
    char kpath[AG_ERR_LINE];
    const char *key;
    json_t *e;

    if (!json_is_object(v)) {
        config_problem(c, path, "expected an object {\"ROLE\": [\"SCOPE\", ...]}");
        return;
    }
    if (json_object_size(v) == 0)
        return;
    cfg->role_scopes = calloc(json_object_size(v), sizeof(*cfg->role_scopes));
    if (cfg->role_scopes == NULL) {
        c->oom = true;
        return;
    }
    json_object_foreach(v, key, e)
    {
        struct ag_role_scopes *rs = &cfg->role_scopes[cfg->n_role_scopes];
        char shown[80];

        snprintf(kpath, sizeof(kpath), "%s.%s", path, config_printable(key, shown, sizeof(shown)));
        if (!config_word_ok(CONFIG_W_ROLE, key, strlen(key))) {
            config_problem(c, kpath, "a role must be non-empty, without spaces, control "
                                     "characters or ','");
            continue;
        }
        if ((rs->role = config_strndup(c, key, strlen(key))) == NULL)
            return;
        cfg->n_role_scopes++;
        config_parse_words(c, kpath, e, CONFIG_W_SCOPE, &rs->scopes, &rs->n_scopes);
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
    if (!config_get_string(c, path, v, &s, &n))
        return;
    if (n < 7 || strncasecmp(s, "http://", 7) != 0 || strlen(s) != n || n > 2048 ||
        !config_all_printable(s, n, false)) {
        config_problem(c, path, "expected \"http://HOST:PORT/PATH\" (https is not supported)");
        return;
    }
    slash = strchr(s + 7, '/');
    if (slash == NULL)
        slash = s + n;
    if (memchr(s + 7, '@', (size_t)(slash - s - 7)) != NULL ||
        config_split_hostport(s + 7, (size_t)(slash - s - 7), true, &host, &port) !=
            CONFIG_HP_OK) {
        config_problem(c, path, "expected \"http://HOST:PORT/PATH\" (no credentials)");
        return;
    }
    cfg->reset_webhook = config_strndup(c, s, n);
    cfg->reset_webhook_host = config_strndup(c, host.p, host.len);
    snprintf(buf, sizeof(buf), "%u", port);
    cfg->reset_webhook_port = config_strndup(c, buf, strlen(buf));
    cfg->reset_webhook_path = config_strndup(c, *slash ? slash : "/", *slash ? strlen(slash) : 1);
}

static void config_parse_password_reset(struct config_ctx *c, const char *path, json_t *v)
{
    static const char *const names[] = {"ttl", "webhook"};
    char kpath[AG_ERR_LINE];
    const char *key;
    long long x;
    json_t *e;

    if (!json_is_object(v)) {
        config_problem(c, path, "expected an object {\"ttl\": SECONDS, \"webhook\": URL}");
        return;
    }
    json_object_foreach(v, key, e)
    {
        snprintf(kpath, sizeof(kpath), "%s.%s", path, key);
        if (strcmp(key, "ttl") == 0) {
            if (config_get_int(c, kpath, e, 60, 86400, &x))
                c->cfg->reset_ttl = (long)x;
        } else if (strcmp(key, "webhook") == 0) {
            config_parse_reset_webhook(c, kpath, e);
        } else {
            config_unknown_key(c, path, key, names, CONFIG_ARRAY_LEN(names));
        }
    }
}

/* ------------------------------------------------------------------------------------------
 * The key table
 * ------------------------------------------------------------------------------------------ */

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
    CONFIG_KEY_FN("app-name", config_parse_app_name),
    CONFIG_KEY_FN("master-token", config_parse_master_token),
    CONFIG_KEY_FN("cryptography-key", config_parse_crypto_key),
    CONFIG_KEY_FN("master-token-paths", config_parse_master_paths),
    CONFIG_KEY_FN("access-token-paths", config_parse_access_paths),
    CONFIG_KEY_FN("headers", config_parse_headers),
    CONFIG_KEY_FN("listen", config_parse_listen),
    CONFIG_KEY_FN("upstream", config_parse_upstream),
    CONFIG_KEY_FN("redis", config_parse_redis),
    CONFIG_KEY_FN("auth-prefix", config_parse_auth_prefix),
    CONFIG_KEY_AT("workers", CONFIG_K_INT, workers, 0, 256),
    CONFIG_KEY_FN("access-log", config_parse_access_log),
    CONFIG_KEY_AT("upstream-timeout", CONFIG_K_SECONDS, upstream_timeout, 0, 0),
    CONFIG_KEY_AT("access-token-ttl", CONFIG_K_LONG, access_token_ttl, 1, CONFIG_YEAR),
    CONFIG_KEY_AT("refresh-token-ttl", CONFIG_K_LONG, refresh_token_ttl, 1, 10 * CONFIG_YEAR),
    CONFIG_KEY_AT("token-new-requires-master", CONFIG_K_BOOL, token_new_requires_master, 0, 0),
    CONFIG_KEY_AT("accept-header", CONFIG_K_BOOL, accept_header, 0, 0),
    CONFIG_KEY_AT("accept-cookie", CONFIG_K_BOOL, accept_cookie, 0, 0),
    CONFIG_KEY_AT("set-cookie-on-login", CONFIG_K_BOOL, set_cookie_on_login, 0, 0),
    CONFIG_KEY_AT("cookie-secure", CONFIG_K_BOOL, cookie_secure, 0, 0),
    CONFIG_KEY_FN("cookie-samesite", config_parse_samesite),
    CONFIG_KEY_FN("rate-limits", config_parse_rate_limits),
    CONFIG_KEY_AT("registration", CONFIG_K_BOOL, registration, 0, 0),
    CONFIG_KEY_FN("passwords", config_parse_passwords),
    CONFIG_KEY_AT("hash-threads", CONFIG_K_INT, hash_threads, 0, 256),
    CONFIG_KEY_FN("trusted-proxies", config_parse_trusted_proxies),
    CONFIG_KEY_FN("role-scopes", config_parse_role_scopes),
    CONFIG_KEY_FN("password-reset", config_parse_password_reset),
    CONFIG_KEY_AT("audit-stream-max", CONFIG_K_LONG, audit_stream_max, 0, 100000000),
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
    CONFIG_KEY_FN("public-paths", config_parse_public_paths),
    CONFIG_KEY_FN("rules", config_parse_rules),
    CONFIG_KEY_FN("routes", config_parse_routes),
    CONFIG_KEY_FN("token-issuer", config_parse_token_issuer),
    CONFIG_KEY_FN("token-audience", config_parse_token_audience),
    CONFIG_KEY_AT("token-leeway", CONFIG_K_LONG, token_leeway, 0, 3600),
    CONFIG_KEY_AT("token-max-size", CONFIG_K_SIZE, token_max_size, 512, 65536),
    CONFIG_KEY_AT("token-cache-size", CONFIG_K_SIZE, token_cache_size, 0, 1000000),
    CONFIG_KEY_AT("forward-credentials", CONFIG_K_BOOL, forward_credentials, 0, 0),
    CONFIG_KEY_AT("forward-authorization", CONFIG_K_BOOL, forward_authorization, 0, 0),
    CONFIG_KEY_FN("identity-headers", config_parse_identity_headers),
    CONFIG_KEY_FN("cors", config_parse_cors),
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
        config_problem(c, key, "not supported; authgate keeps its state in Redis: use 'redis'");
        return;
    }
    for (size_t i = 0; i < CONFIG_ARRAY_LEN(config_keys); i++) {
        names[i] = config_keys[i].name;
        if (strcmp(key, names[i]) == 0)
            k = &config_keys[i];
    }
    if (k == NULL) {
        config_unknown_key(c, NULL, key, names, CONFIG_ARRAY_LEN(names));
        return;
    }
    field = (char *)c->cfg + k->off;
    switch (k->kind) {
    case CONFIG_K_CUSTOM:
        k->parse(c, k->name, v);
        break;
    case CONFIG_K_BOOL:
        if (config_get_bool(c, k->name, v, &b))
            *(bool *)field = b;
        break;
    case CONFIG_K_SECONDS:
        if (config_get_seconds(c, k->name, v, &d))
            *(double *)field = d;
        break;
    case CONFIG_K_INT:
    case CONFIG_K_LONG:
    case CONFIG_K_SIZE:
    case CONFIG_K_ULL:
        if (!config_get_int(c, k->name, v, k->min, k->max, &x))
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
    cfg->registration = true;
    cfg->passwords = (struct ag_pwparams){.opslimit = 2, .memlimit = 19456 * 1024,
                                          .min_len = 8, .max_len = 128};
    cfg->reset_ttl = 900;
    cfg->audit_stream_max = 100000;
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
    cfg->token_max_size = 8192;
    cfg->token_cache_size = 4096;
    cfg->forward_credentials = false;
    cfg->forward_authorization = false;
    cfg->cors.max_age = 600;
    return cfg;
}

/* Sets *<field> to a copy of <def> when the file left it unset. */
static void config_default_str(struct config_ctx *c, char **field, const char *def)
{
    if (*field == NULL)
        *field = config_strndup(c, def, strlen(def));
}

/*
 * Takes master-token and cryptography-key from <env> when <root> leaves them out
 * (the file wins even when its value is bad). An empty variable counts as unset,
 * as `KEY=` in a .env file means. A missing key is a problem unless <flags> has
 * AG_CONFIG_F_NO_KEY_CHECK.
 */
static void config_apply_env(struct config_ctx *c, json_t *root, const struct ag_config_env *env,
                             unsigned flags)
{
    struct ag_config *cfg = c->cfg;
    const char *mt = env != NULL ? env->master_token : NULL;
    const char *ck = env != NULL ? env->cryptography_key : NULL;

    if (json_object_get(root, "master-token") == NULL && mt != NULL && mt[0] != '\0' &&
        config_check_master_token(c, "MASTER_TOKEN ", mt, strlen(mt))) {
        cfg->master_token_len = strlen(mt);
        cfg->master_token = config_strndup(c, mt, cfg->master_token_len);
    }
    if (json_object_get(root, "cryptography-key") != NULL)
        return;
    if (ck != NULL && ck[0] != '\0') {
        if (strlen(ck) < CONFIG_MIN_KEY_LEN) {
            config_problem(c, "cryptography-key",
                           "CRYPTOGRAPHY_KEY must be at least %d characters (has %zu); "
                           "`authgate keygen` makes one",
                           CONFIG_MIN_KEY_LEN, strlen(ck));
            return;
        }
        cfg->crypto_key_len = strlen(ck);
        cfg->crypto_key = config_strndup(c, ck, cfg->crypto_key_len);
    } else if (!(flags & AG_CONFIG_F_NO_KEY_CHECK)) {
        config_problem(c, "cryptography-key",
                       "required (set it in the file or CRYPTOGRAPHY_KEY; "
                       "`authgate keygen` makes one)");
    }
}

/* True when header names <a> and <b> are equal ignoring case, with '_' and '.' read as '-'. */
static bool config_same_header(const char *a, const char *b)
{
    for (; *a != '\0' && *b != '\0'; a++, b++) {
        char x = *a == '.' ? '-' : config_fold(*a), y = *b == '.' ? '-' : config_fold(*b);

        if (x != y)
            return false;
    }
    return *a == *b;
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
            if (vals[j] != NULL && config_same_header(vals[i], vals[j]))
                config_problem(c, ipath, "same header name as identity-headers.%s", keys[j]);
        for (size_t h = 0; h < cfg->n_headers; h++)
            if (cfg->headers[h].name != NULL && config_same_header(vals[i], cfg->headers[h].name))
                config_problem(c, ipath, "same header name as headers.%s (the gateway sets it)",
                               config_printable(cfg->headers[h].name, shown, sizeof(shown)));
    }
}

/* Fills the string defaults and checks what involves more than one key of <root>. */
static void config_finish(struct config_ctx *c, json_t *root)
{
    struct ag_config *cfg = c->cfg;

    if (json_object_get(root, "upstream") == NULL)
        config_problem(c, "upstream", "required (\"http://HOST:PORT\" of the application)");
    if (cfg->cookie_samesite == AG_SAMESITE_NONE && !cfg->cookie_secure)
        config_problem(c, "cookie-samesite",
                       "\"none\" needs cookie-secure true (browsers refuse SameSite=None "
                       "cookies without Secure)");
    config_default_str(c, &cfg->app_name, "authgate");
    config_default_str(c, &cfg->redis_url, "redis://127.0.0.1:6379/0");
    config_default_str(c, &cfg->auth_prefix, "/auth");
    config_default_str(c, &cfg->access_log, "stderr");
    if (cfg->app_name != NULL)
        config_default_str(c, &cfg->token_issuer, cfg->app_name);
    config_default_str(c, &cfg->identity.subject, "X-Auth-Subject");
    config_default_str(c, &cfg->identity.client_id, "X-Auth-Client-Id");
    config_default_str(c, &cfg->identity.scopes, "X-Auth-Scopes");
    config_default_str(c, &cfg->identity.roles, "X-Auth-Roles");
    config_check_identity_names(c);
    if (cfg->passwords.max_len < cfg->passwords.min_len)
        config_problem(c, "passwords.max-length", "must be at least passwords.min-length (%zu)",
                       cfg->passwords.min_len);
    if (cfg->listen == NULL) {
        cfg->listen = calloc(1, sizeof(*cfg->listen));
        if (cfg->listen == NULL) {
            c->oom = true;
            return;
        }
        cfg->n_listen = 1;
        cfg->listen[0].host = config_strndup(c, "127.0.0.1", 9);
        cfg->listen[0].port = config_strndup(c, "8080", 4);
    }
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
    config_free_secret(&cfg->master_token, cfg->master_token_len);
    config_free_secret(&cfg->crypto_key, cfg->crypto_key_len);
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
    AG_FREE(cfg->upstream_host);
    AG_FREE(cfg->upstream_port);
    AG_FREE(cfg->upstream_hostport);
    /* the URL may carry the Redis password */
    config_free_secret(&cfg->redis_url, cfg->redis_url ? strlen(cfg->redis_url) : 0);
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
                   config_printable(jerr.text, text, sizeof(text)));
        c.problems++;
        goto out;
    }
    if (!json_is_object(root)) {
        config_problem(&c, NULL, "the top level must be a JSON object {...}");
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
    config_apply_env(&c, root, env, flags);
    config_finish(&c, root);
    c.cfg->source = config_strndup(&c, c.source, strlen(c.source));
out:
    if (c.oom)
        config_problem(&c, NULL, "out of memory");
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
