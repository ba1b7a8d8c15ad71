/*
 * policy/jsonw.c - the fixed-format JSON writer: strings escaped as jansson escapes them,
 * integers without printf, everything bounded by the caller's buffer.
 *
 * Owns:     nothing.
 * Entry:    ag_jsonw_init(), ag_jsonw_raw(), ag_jsonw_str(), ag_jsonw_int(), ag_jsonw_done().
 * Not here: what is written (the callers: gateway/ep/ep_common.c, ep_tokens.c).
 * Spec:     RFC 8259 s.7; jansson's dump.c (dump_string() without flags) for the escapes.
 */
#include "jsonw.h"

#include <string.h>

#include "base.h"

void ag_jsonw_init(struct ag_jsonw *w, char *buf, size_t cap)
{
    *w = (struct ag_jsonw){.p = buf, .cap = cap, .bad = cap == 0};
    if (cap > 0)
        buf[0] = '\0';
}

void ag_jsonw_raw(struct ag_jsonw *w, const char *s, size_t n)
{
    if (w->bad || n >= w->cap - w->len) {
        w->bad = true;
        return;
    }
    memcpy(w->p + w->len, s, n);
    w->len += n;
    w->p[w->len] = '\0';
}

/* The escape of the byte <ch> below 0x20 or '"' or '\\' into <e>; its length. */
static size_t jsonw_escape(unsigned char ch, char e[6])
{
    static const char hex[] = "0123456789ABCDEF";
    static const char shortform[32] = {['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r',
                                       ['\t'] = 't'};

    e[0] = '\\';
    if (ch == '"' || ch == '\\') {
        e[1] = (char)ch;
        return 2;
    }
    if (shortform[ch] != 0) {
        e[1] = shortform[ch];
        return 2;
    }
    memcpy(e + 1, "u00", 3);
    e[4] = hex[ch >> 4];
    e[5] = hex[ch & 15];
    return 6;
}

/*
 * The bytes ag_jsonw_str() stops at, one bit each: below 0x20, '"' (34), '\\' (92), and
 * every byte of UTF-8 past ASCII (0x80 and up).
 */
static const uint64_t jsonw_special[4] = {0x00000004ffffffffULL, 0x0000000010000000ULL,
                                          ~0ULL, ~0ULL};

/*
 * Whether none of the 8 bytes at <p> is special (the bitmap above), eight at a time: a
 * byte with the top bit, one below 0x20 (x - 0x20 borrows into the top bit), one equal to
 * '"' or '\\' (its xor is zero). Exact in that direction: a special byte always shows, so
 * a "plain" answer is always right (a false alarm only sends the bytes to the loop above).
 */
static bool jsonw_plain8(const unsigned char *p)
{
    const uint64_t lo = 0x0101010101010101ULL, hi = 0x8080808080808080ULL;
    uint64_t x, q, b;

    memcpy(&x, p, 8);
    q = x ^ (lo * '"');
    b = x ^ (lo * '\\');
    return ((x | ((x - lo * 0x20) & ~x) | ((q - lo) & ~q) | ((b - lo) & ~b)) & hi) == 0;
}

void ag_jsonw_str(struct ag_jsonw *w, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t run = 0, i = 0;

    ag_jsonw_lit(w, "\"");
    for (;;) {
        unsigned char ch;
        uint32_t cp;
        size_t k;
        char e[6];

        while (i + 8 <= n && jsonw_plain8(u + i))
            i += 8;
        while (i < n && ((jsonw_special[u[i] >> 6] >> (u[i] & 63)) & 1) == 0)
            i++;
        if (i == n || w->bad)
            break;
        if ((ch = u[i]) >= 0x80) { /* jansson refuses a string that is not UTF-8 */
            if ((k = ag_utf8_next(u + i, n - i, &cp)) == 0)
                w->bad = true;
            i += k;
            continue;
        }
        ag_jsonw_raw(w, s + run, i - run);
        ag_jsonw_raw(w, e, jsonw_escape(ch, e));
        run = ++i;
    }
    ag_jsonw_raw(w, s + run, n - run);
    ag_jsonw_lit(w, "\"");
}

void ag_jsonw_int(struct ag_jsonw *w, int64_t v)
{
    char d[AG_I64_TEXT_MAX], *p = ag_i64_text(d, v);

    ag_jsonw_raw(w, p, (size_t)(d + sizeof(d) - p));
}

long ag_jsonw_done(const struct ag_jsonw *w)
{
    return w->bad ? -1 : (long)w->len;
}
