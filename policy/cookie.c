/*
 * policy/cookie.c - the Cookie request header, read as browsers write it and lenient
 * servers read it: finds one cookie, or rewrites the header without some cookies.
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
 * How the header is read: as browsers write it and as lenient servers (Go's net/http,
 * Node's cookie, PHP) read it, not by RFC 6265 s.4.2.1's strict grammar, because real
 * headers break that grammar all the time (a quoted value with a space, JSON, a ',', a
 * trailing ';', a nameless cookie): a strict reader would lose the application's
 * cookies along with the credential's, or lock a browser out over a cookie another site
 * set. The header is split at every ';'; each piece, OWS trimmed, is one cookie; its
 * name is what comes before the first '=' (OWS trimmed; the whole piece when there is
 * no '='), its value what follows (OWS trimmed, then one pair of enclosing DQUOTEs
 * removed). Empty pieces (";;", a trailing ';') hold no cookie. A ';' inside quotes
 * still splits: no common server reads quotes as hiding one, so neither does this.
 */

/* A cursor over one header value. */
struct cookie_iter {
    const char *p;
    size_t len;
    size_t pos;  /* where the next piece starts */
    size_t last; /* where the last cookie read ended (0 before the first) */
};

/* One cookie as found: name, value (quotes removed) and the whole piece. */
struct cookie_pair {
    struct ag_str name;
    struct ag_str value;
    struct ag_str sep;  /* the bytes between the cookie before it and this one (";", "; ",
                           " ;; "...) as the client wrote them; empty for the first */
    struct ag_str pair; /* the piece as written, OWS trimmed */
};

static void cookie_iter_init(struct cookie_iter *it, struct ag_str hdr)
{
    it->p = hdr.p;
    it->len = hdr.len;
    it->pos = 0;
    it->last = 0;
}

/* Reads the next cookie of <it> into <out>: 1, or 0 at the end of the header. */
static int cookie_next(struct cookie_iter *it, struct cookie_pair *out)
{
    while (it->pos < it->len) {
        const char *b = it->p + it->pos, *semi = memchr(b, ';', it->len - it->pos);
        size_t n = semi != NULL ? (size_t)(semi - b) : it->len - it->pos;
        struct ag_str piece = ag_str_trim_ows((struct ag_str){b, n});
        const char *eq;

        it->pos += n + (semi != NULL);
        if (piece.len == 0)
            continue;
        out->sep = (struct ag_str){it->p + it->last, it->last > 0 ? (size_t)(piece.p - it->p) - it->last : 0};
        it->last = (size_t)(piece.p + piece.len - it->p);
        out->pair = piece;
        eq = memchr(piece.p, '=', piece.len);
        if (eq == NULL) {
            out->name = piece;
            out->value = (struct ag_str){piece.p + piece.len, 0};
            return 1;
        }
        out->name = ag_str_trim_ows((struct ag_str){piece.p, (size_t)(eq - piece.p)});
        out->value = ag_str_trim_ows((struct ag_str){eq + 1, piece.len - (size_t)(eq + 1 - piece.p)});
        if (out->value.len >= 2 && out->value.p[0] == '"' && out->value.p[out->value.len - 1] == '"')
            out->value = (struct ag_str){out->value.p + 1, out->value.len - 2};
        return 1;
    }
    return 0;
}

static bool cookie_name_is(struct ag_str name, const char *lit, size_t lit_len)
{
    return name.len == lit_len && memcmp(name.p, lit, lit_len) == 0;
}

/*
 * Looks for cookie <name> (compared byte for byte: RFC 6265 s.5.4 names are
 * case-sensitive) in <hdr>. The whole header is read, not only up to the match.
 * Returns 1 with <value> set (a slice of <hdr>, DQUOTEs removed), 0 when absent (an
 * empty or all-OWS header has no cookies), AG_EPARSE when <hdr> holds <name> twice
 * (two values for one name is how cookie tossing and shadowing attacks work: refuse
 * rather than pick one).
 */
int ag_cookie_find(struct ag_str hdr, const char *name, struct ag_str *value)
{
    size_t name_len = strlen(name);
    struct cookie_iter it;
    struct cookie_pair cp;
    int found = 0;

    cookie_iter_init(&it, hdr);
    while (cookie_next(&it, &cp) == 1) {
        if (!cookie_name_is(cp.name, name, name_len))
            continue;
        if (found)
            return AG_EPARSE;
        found = 1;
        *value = cp.value;
    }
    return found;
}

/*
 * Copies <hdr> into <out> without the cookies named in <drop> (every copy of
 * them), keeping the others byte for byte, in order, each with the separator the
 * client wrote before it (none before the first kept one). So the result is never
 * longer than <hdr>, reads as the same cookies less the dropped ones, and strips to
 * itself. OWS around the header and empty pieces at its ends are dropped. Returns the
 * new length (0: no cookie left, drop the header), AG_EINVAL when <cap> < <hdr>.len or
 * <hdr>.len > INT_MAX.
 */
int ag_cookie_strip(struct ag_str hdr, const char *const *drop, size_t n_drop, char *out,
                    size_t cap)
{
    struct cookie_iter it;
    struct cookie_pair cp;
    size_t o = 0;

    if (cap < hdr.len || hdr.len > INT_MAX)
        return AG_EINVAL;
    cookie_iter_init(&it, hdr);
    while (cookie_next(&it, &cp) == 1) {
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
    return (int)o;
}
