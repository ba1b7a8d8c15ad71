/*
 * policy/config_base.c - what every key's parser of policy/config*.c uses: the problem
 * lines, the one-line rendering of names taken from the file, allocation that marks the
 * parse out of memory, ASCII character classes, did-you-mean for unknown keys, and the
 * typed getters that report their own problem.
 *
 * Owns:     nothing; each helper borrows the parse state <c> (struct config_ctx).
 * Entry:    ag_config__problem(), ag_config__printable(), ag_config__unknown_key(),
 *           ag_config__member(), ag_config__get_*(), ag_config__is_*() (config_int.h).
 * Not here: the key table, defaults, cross-key checks and freeing (policy/config.c); the
 *           checks of one key (config_keys.c, config_rules.c, config_cors.c, config_users.c).
 * Spec:     docs/config.md (the messages).
 */
#include "config_int.h"

#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_MAX_SECONDS 86400.0 /* upper bound of every timeout */

/* ------------------------------------------------------------------------------------------
 * Parse state and problem reporting
 * ------------------------------------------------------------------------------------------ */

/*
 * Records one problem "SOURCE: PATH: reason" (or "SOURCE: reason" when <path> is
 * NULL) in <c>. The caller makes sure <path> is printable (see ag_config__printable).
 */
void ag_config__problem(struct config_ctx *c, const char *path, const char *fmt, ...)
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
const char *ag_config__printable(const char *s, char *buf, size_t size)
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

/* calloc() that marks <c> out of memory when it fails (the parse then stops). */
void *ag_config__calloc(struct config_ctx *c, size_t n, size_t size)
{
    void *p = calloc(n, size);

    if (p == NULL)
        c->oom = true;
    return p;
}

/* Returns a new NUL-terminated copy of <s,n>, or NULL with <c>->oom set. */
char *ag_config__strndup(struct config_ctx *c, const char *s, size_t n)
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

/* ------------------------------------------------------------------------------------------
 * Character classes (ASCII only, never the locale)
 * ------------------------------------------------------------------------------------------ */

bool ag_config__is_alnum(unsigned char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

bool ag_config__is_digit(unsigned char ch)
{
    return ch >= '0' && ch <= '9';
}

bool ag_config__is_hex(unsigned char ch)
{
    return ag_config__is_digit(ch) || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* RFC 9110 s.5.6.2 tchar. */
bool ag_config__is_tchar(unsigned char ch)
{
    return ag_config__is_alnum(ch) || (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* True when every byte of <s,n> is in 0x20..0x7e (<space_ok>) or 0x21..0x7e. */
bool ag_config__all_printable(const char *s, size_t n, bool space_ok)
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
char ag_config__fold(char ch)
{
    return ch == '_' ? '-' : (char)ag_ascii_lower((unsigned char)ch);
}

/*
 * Edit distance (insert, delete, substitute, swap two neighbours) between <a> and
 * <b> after ag_config__fold(). Returns SIZE_MAX, without computing, when the lengths
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
            int cost = ag_config__fold(a[i - 1]) != ag_config__fold(b[j - 1]);
            int best = d[i - 1][j - 1] + cost;

            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && ag_config__fold(a[i - 1]) == ag_config__fold(b[j - 2]) &&
                ag_config__fold(a[i - 2]) == ag_config__fold(b[j - 1]) &&
                d[i - 2][j - 2] + 1 < best)
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
void ag_config__unknown_key(struct config_ctx *c, const char *path, const char *key,
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
    ag_config__printable(key, shown, sizeof(shown));
    if (best != NULL)
        ag_config__problem(c, path, "unknown key '%s' (did you mean '%s'?)", shown, best);
    else
        ag_config__problem(c, path, "unknown key '%s'", shown);
}

/*
 * Finds member <key> of the object at <path> in <names> (<n> of them): true with its
 * index in *<i> and "<path>.<key>" in <kpath> (AG_ERR_LINE bytes); false, reported as
 * an unknown key (with a suggestion), when it is not one of them.
 */
bool ag_config__member(struct config_ctx *c, const char *path, const char *key,
                       const char *const *names, size_t n, size_t *i, char *kpath)
{
    for (*i = 0; *i < n; (*i)++)
        if (strcmp(key, names[*i]) == 0) {
            snprintf(kpath, AG_ERR_LINE, "%s.%s", path, key);
            return true;
        }
    ag_config__unknown_key(c, path, key, names, n);
    return false;
}

/* ------------------------------------------------------------------------------------------
 * Typed getters: each reports its own problem and returns false on a bad value
 * ------------------------------------------------------------------------------------------ */

bool ag_config__get_string(struct config_ctx *c, const char *path, json_t *v, const char **s,
                           size_t *n)
{
    if (!json_is_string(v)) {
        ag_config__problem(c, path, "expected a string");
        return false;
    }
    *s = json_string_value(v);
    *n = json_string_length(v);
    return true;
}

/*
 * Opens the array <v> at <path> whose elements the caller then parses into a new table of
 * zeroed <size>-byte slots at *<out>. Not an array is the problem "expected <what>"; an
 * empty one is the problem <empty> (NULL: quietly nothing). With <n> not NULL, *<n> is set
 * to the length (callers that count the accepted elements themselves pass NULL). Returns
 * the length, or 0 when there is nothing to parse (not an array, empty, out of memory).
 */
size_t ag_config__array_new(struct config_ctx *c, const char *path, json_t *v, const char *what,
                            const char *empty, size_t size, void **out, size_t *n)
{
    size_t len;

    if (!json_is_array(v)) {
        ag_config__problem(c, path, "expected %s", what);
        return 0;
    }
    len = json_array_size(v);
    if (len == 0) {
        if (empty != NULL)
            ag_config__problem(c, path, "%s", empty);
        return 0;
    }
    if ((*out = ag_config__calloc(c, len, size)) == NULL)
        return 0;
    if (n != NULL)
        *n = len;
    return len;
}

/* The element <e> (index <i>) of the array at <path> as a string, with "<path>[<i>]" in
 * <ipath> (AG_ERR_LINE bytes) for the caller's own problems about it. */
bool ag_config__item_string(struct config_ctx *c, const char *path, size_t i, json_t *e,
                            char *ipath, const char **s, size_t *len)
{
    snprintf(ipath, AG_ERR_LINE, "%s[%zu]", path, i);
    return ag_config__get_string(c, ipath, e, s, len);
}

bool ag_config__get_int(struct config_ctx *c, const char *path, json_t *v, long long min,
                        long long max, long long *out)
{
    long long x;

    if (!json_is_integer(v)) {
        ag_config__problem(c, path, "expected an integer");
        return false;
    }
    x = (long long)json_integer_value(v);
    if (x < min || x > max) {
        if (max == LLONG_MAX)
            ag_config__problem(c, path, "must be at least %lld", min);
        else
            ag_config__problem(c, path, "must be between %lld and %lld", min, max);
        return false;
    }
    *out = x;
    return true;
}

bool ag_config__get_seconds(struct config_ctx *c, const char *path, json_t *v, double *out)
{
    double x;

    if (!json_is_number(v)) {
        ag_config__problem(c, path, "expected a number of seconds");
        return false;
    }
    x = json_number_value(v);
    if (!(x > 0.0 && x <= CONFIG_MAX_SECONDS)) {
        ag_config__problem(c, path, "must be more than 0 and at most 86400 seconds");
        return false;
    }
    *out = x;
    return true;
}

bool ag_config__get_bool(struct config_ctx *c, const char *path, json_t *v, bool *out)
{
    if (!json_is_boolean(v)) {
        ag_config__problem(c, path, "expected true or false");
        return false;
    }
    *out = json_is_true(v);
    return true;
}
