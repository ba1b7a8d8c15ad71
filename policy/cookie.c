/*
 * policy/cookie.c - a strict parser for the Cookie request header (RFC 6265
 * s.4.2.1): finds one cookie, or rewrites the header without some cookies.
 *
 * Owns:     nothing; values are slices of the header, output goes to caller buffers.
 * Entry:    ag_cookie_find(), ag_cookie_strip().
 * Not here: Set-Cookie (gateway/ep/endpoints.c), what the token means (policy/jwt.c).
 * Spec:     RFC 6265 sections 4.2.1 and 5.4; docs/rules.md ("Cookies").
 */
#include "cookie.h"

#include <limits.h>
#include <stdbool.h>
#include <string.h>

/*
 * The grammar held (RFC 6265 s.4.2.1), with two tolerances that real clients
 * need: OWS around the whole value and a missing SP after ';' ("a=1;b=2").
 *   cookie-string = cookie-pair *( ";" [SP] cookie-pair )
 *   cookie-pair   = token "=" ( *cookie-octet / DQUOTE *cookie-octet DQUOTE )
 * Anything else (a trailing ';', two spaces, a space around '=', a pair without
 * '=', an empty name) is malformed: a gateway that reads a header more loosely
 * than the application behind it can be made to see a different cookie.
 */

/* RFC 6265 s.4.1.1 cookie-octet: visible ASCII without DQUOTE, ',', ';' and '\'. */
static bool cookie_is_octet(unsigned char ch)
{
    return ch == 0x21 || (ch >= 0x23 && ch <= 0x2b) || (ch >= 0x2d && ch <= 0x3a) ||
           (ch >= 0x3c && ch <= 0x5b) || (ch >= 0x5d && ch <= 0x7e);
}

/* RFC 9110 s.5.6.2 tchar. */
static bool cookie_is_tchar(unsigned char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* A cursor over one header value, OWS already trimmed from both ends. */
struct cookie_iter {
    const char *p;
    size_t len;
    size_t pos;
};

/* One cookie-pair as found: name, value (quotes removed) and the whole pair. */
struct cookie_pair {
    struct ag_str name;
    struct ag_str value;
    struct ag_str sep;  /* the separator before it ("; " or ";"); empty for the first */
    struct ag_str pair; /* name=value as written, quotes included */
};

static void cookie_iter_init(struct cookie_iter *it, struct ag_str hdr)
{
    size_t b = 0, e = hdr.len;

    while (b < e && (hdr.p[b] == ' ' || hdr.p[b] == '\t'))
        b++;
    while (e > b && (hdr.p[e - 1] == ' ' || hdr.p[e - 1] == '\t'))
        e--;
    it->p = hdr.p + b;
    it->len = e - b;
    it->pos = 0;
}

/*
 * Reads the next cookie-pair of <it> into <out>. Returns 1 when one was read, 0 at
 * the end of the header, AG_EPARSE when the header is malformed from here on.
 */
static int cookie_next(struct cookie_iter *it, struct cookie_pair *out)
{
    const char *p = it->p;
    size_t n = it->len, i = it->pos, start;

    if (i == n)
        return 0;
    out->sep.p = p + i;
    if (i > 0) { /* after a pair, only ';' [SP] and another pair may follow */
        if (p[i] != ';')
            return AG_EPARSE;
        i++;
        if (i < n && p[i] == ' ')
            i++;
        if (i == n)
            return AG_EPARSE; /* a trailing separator */
    }
    out->sep.len = (size_t)(p + i - out->sep.p);
    start = i;
    while (i < n && cookie_is_tchar((unsigned char)p[i]))
        i++;
    if (i == start || i == n || p[i] != '=')
        return AG_EPARSE;
    out->name = (struct ag_str){p + start, i - start};
    i++;
    if (i < n && p[i] == '"') {
        size_t v = ++i;

        while (i < n && cookie_is_octet((unsigned char)p[i]))
            i++;
        if (i == n || p[i] != '"')
            return AG_EPARSE;
        out->value = (struct ag_str){p + v, i - v};
        i++;
    } else {
        size_t v = i;

        while (i < n && cookie_is_octet((unsigned char)p[i]))
            i++;
        out->value = (struct ag_str){p + v, i - v};
    }
    if (i < n && p[i] != ';')
        return AG_EPARSE; /* a byte that is neither cookie-octet nor a separator */
    out->pair = (struct ag_str){p + start, i - start};
    it->pos = i;
    return 1;
}

static bool cookie_name_is(struct ag_str name, const char *lit, size_t lit_len)
{
    return name.len == lit_len && memcmp(name.p, lit, lit_len) == 0;
}

/*
 * Looks for cookie <name> (compared byte for byte: RFC 6265 s.5.4 names are
 * case-sensitive) in <hdr>. The whole header is checked, not only up to the
 * match. Returns 1 with <value> set (a slice of <hdr>, DQUOTEs removed), 0 when
 * absent (an empty or all-OWS header has no cookies), AG_EPARSE when <hdr> is
 * malformed or holds <name> twice (two values for one name is how cookie
 * tossing and shadowing attacks work: refuse rather than pick one).
 */
int ag_cookie_find(struct ag_str hdr, const char *name, struct ag_str *value)
{
    size_t name_len = strlen(name);
    struct cookie_iter it;
    struct cookie_pair cp;
    int found = 0, rc;

    cookie_iter_init(&it, hdr);
    while ((rc = cookie_next(&it, &cp)) == 1) {
        if (!cookie_name_is(cp.name, name, name_len))
            continue;
        if (found)
            return AG_EPARSE;
        found = 1;
        *value = cp.value;
    }
    return rc < 0 ? rc : found;
}

/*
 * Copies <hdr> into <out> without the cookies named in <drop> (every copy of
 * them), keeping the other pairs byte for byte, in order, each with the separator
 * the client wrote before it ("; " or ";"; none before the first kept pair). So
 * the result is never longer than <hdr> and parses again. OWS around the header
 * is dropped. Returns the new length (0: no cookie left, drop the header),
 * AG_EPARSE for a malformed header (<out> then holds garbage), AG_EINVAL when
 * <cap> < <hdr>.len or <hdr>.len > INT_MAX.
 */
int ag_cookie_strip(struct ag_str hdr, const char *const *drop, size_t n_drop, char *out,
                    size_t cap)
{
    struct cookie_iter it;
    struct cookie_pair cp;
    size_t o = 0;
    int rc;

    if (cap < hdr.len || hdr.len > INT_MAX)
        return AG_EINVAL;
    cookie_iter_init(&it, hdr);
    while ((rc = cookie_next(&it, &cp)) == 1) {
        bool dropped = false;

        for (size_t i = 0; i < n_drop && !dropped; i++)
            dropped = cookie_name_is(cp.name, drop[i], strlen(drop[i]));
        if (dropped)
            continue;
        if (o > 0) {
            memcpy(out + o, cp.sep.p, cp.sep.len);
            o += cp.sep.len;
        }
        memcpy(out + o, cp.pair.p, cp.pair.len);
        o += cp.pair.len;
    }
    return rc < 0 ? rc : (int)o;
}
