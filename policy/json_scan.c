/*
 * policy/json_scan.c - the strict JSON scanner (RFC 8259) the request path reads JWS
 * headers and payloads with: one pass over the decoded bytes, read only, no allocation.
 * It validates the whole text and records the top-level members as raw slices; strings
 * are decoded only when a claim is compared or copied. jansson cost ~3.5 us and a dozen
 * allocations per token (docs/jwt.md); this refuses what jansson (JSON_REJECT_DUPLICATES)
 * refuses, so verdicts did not change; the deliberate differences are the AG_JSON_* limits.
 *
 * Owns:     nothing; values borrow the scanned text.
 * Entry:    ag_json_scan(), ag_json_index(), ag_json_str_is/_eq/_decode(), ag_json_arr_next().
 * Not here: what the members mean (policy/jwt.c).
 * Spec:     RFC 8259, RFC 3629 s.4.
 */
#include "json_scan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"


#define JSON_REAL_DIGITS 800    /* significant digits kept for strtod: >= 768 rounds exactly */

struct json_scan {
    const unsigned char *p, *end;
    struct ag_json_doc *doc;
    int dup;      /* the fault that stopped the scan is a duplicate key */
    size_t nopen; /* entries of open[] in use */
    struct ag_json_val open[AG_JSON_OPEN_KEYS];
};

/* The value of the 4 hex digits at <s> (before <end>), or -1. */
static long json_hex4(const unsigned char *s, const unsigned char *end)
{
    long v = 0;

    if (end - s < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        unsigned c = s[i];

        if (c >= '0' && c <= '9')
            v = v << 4 | (c - '0');
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            v = v << 4 | ((c | 0x20) - 'a' + 10);
        else
            return -1;
    }
    return v;
}

/* The length of the valid UTF-8 sequence of 2-4 bytes at <s> (before <end>), or 0 (RFC 3629
 * s.4: no overlong forms, no surrogates, nothing above U+10FFFF; what jansson accepts). */
static size_t json_utf8_len(const unsigned char *s, const unsigned char *end)
{
    size_t avail = (size_t)(end - s);
    unsigned c = s[0];

    if (c >= 0xc2 && c <= 0xdf)
        return avail >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        if (avail < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
            (c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0))
            return 0;
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if (avail < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
            (s[3] & 0xc0) != 0x80 || (c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90))
            return 0;
        return 4;
    }
    return 0;
}

static void json_ws(struct json_scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
        s->p++;
}

/*
 * Scans the string whose '"' is at <s>->p into <v>. Refuses raw bytes below 0x20, invalid
 * UTF-8, escapes other than RFC 8259 s.7's, "\u0000" (jansson refuses it too: it would cut
 * the C strings we hand on), and unpaired surrogates. Returns 0 or AG_EPARSE.
 */
static int json_string(struct json_scan *s, struct ag_json_val *v)
{
    const unsigned char *p = s->p + 1, *end = s->end;
    unsigned char esc = 0;
    long cp, lo;
    size_t n;

    for (;;) {
        if (p == end)
            return AG_EPARSE;
        if (*p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') {
            p++;
            continue;
        }
        if (*p == '"')
            break;
        if (*p < 0x20)
            return AG_EPARSE;
        if (*p >= 0x80) {
            if ((n = json_utf8_len(p, end)) == 0)
                return AG_EPARSE;
            p += n;
            continue;
        }
        esc = 1; /* a backslash */
        if (end - p < 2)
            return AG_EPARSE;
        if (p[1] != 'u') {
            if (p[1] == '\0' || strchr("\"\\/bfnrt", p[1]) == NULL)
                return AG_EPARSE;
            p += 2;
            continue;
        }
        cp = json_hex4(p + 2, end);
        p += 6;
        if (cp <= 0 || (cp >= 0xdc00 && cp <= 0xdfff)) /* bad hex, NUL, lone low surrogate */
            return AG_EPARSE;
        if (cp >= 0xd800 && cp <= 0xdbff) { /* a high surrogate: a low one must follow */
            if (end - p < 2 || p[0] != '\\' || p[1] != 'u')
                return AG_EPARSE;
            lo = json_hex4(p + 2, end);
            if (lo < 0xdc00 || lo > 0xdfff)
                return AG_EPARSE;
            p += 6;
        }
    }
    *v = (struct ag_json_val){s->p + 1, (size_t)(p - s->p - 1), AG_JSON_STR, esc};
    s->p = p + 1;
    return 0;
}

/*
 * The double nearest the scanned number <p,len>, by strtod() on a respelling without a
 * decimal point ("-12.5e3" -> "-125e2"), so LC_NUMERIC cannot change it. Digits past
 * JSON_REAL_DIGITS are folded into one sticky digit, which keeps the rounding exact.
 * Returns 0, or -1 when the value overflows a double (underflow gives 0, as in jansson).
 */
int ag_json_real(const unsigned char *p, size_t len, double *out)
{
    char buf[JSON_REAL_DIGITS + 32], *d = buf;
    const unsigned char *end = p + len;
    long long e10 = 0, ex = 0;
    size_t nd = 0;
    int sticky = 0, eneg = 0;
    double r;

    if (p < end && *p == '-')
        *d++ = (char)*p++;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        if (nd == 0 && *p == '0')
            continue;
        if (nd < JSON_REAL_DIGITS)
            d[nd++] = (char)*p;
        else
            e10++, sticky |= *p != '0';
    }
    if (p < end && *p == '.')
        for (p++; p < end && *p >= '0' && *p <= '9'; p++) {
            if (nd == 0 && *p == '0')
                e10--;
            else if (nd < JSON_REAL_DIGITS)
                d[nd++] = (char)*p, e10--;
            else
                sticky |= *p != '0';
        }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            eneg = *p++ == '-';
        for (; p < end && *p >= '0' && *p <= '9'; p++)
            if (ex < 1000000000)
                ex = ex * 10 + (*p - '0');
    }
    e10 += eneg ? -ex : ex;
    if (nd == 0) { /* a zero, sign kept */
        d[nd++] = '0';
        e10 = 0;
    }
    if (sticky) {
        d[nd++] = '1';
        e10--;
    }
    snprintf(d + nd, sizeof(buf) - (size_t)(d + nd - buf), "e%lld", e10);
    r = strtod(buf, NULL);
    if (isinf(r))
        return -1;
    *out = r;
    return 0;
}

/*
 * Scans the number at <s>->p into <v>: RFC 8259 s.6 exactly (no '+', no leading zeros, no
 * bare '.', digits after '.' and after the exponent mark). An integer outside int64 or a
 * real that overflows a double is refused: jansson refuses both, and a clamped time would
 * mean something else. Returns 0 or AG_EPARSE.
 */
static int json_number(struct json_scan *s, struct ag_json_val *v)
{
    const unsigned char *p = s->p, *end = s->end;
    uint64_t mag = 0, lim = INT64_MAX;
    int real = 0, big = 0;
    double d;

    if (*p == '-') {
        lim = (uint64_t)INT64_MAX + 1;
        p++;
    }
    if (p == end || *p < '0' || *p > '9')
        return AG_EPARSE;
    if (*p == '0') {
        if (++p < end && *p >= '0' && *p <= '9')
            return AG_EPARSE;
    } else {
        for (; p < end && *p >= '0' && *p <= '9'; p++) {
            unsigned dg = *p - '0';

            if (mag > (lim - dg) / 10)
                big = 1;
            else
                mag = mag * 10 + dg;
        }
    }
    if (p < end && *p == '.') {
        real = 1;
        if (++p == end || *p < '0' || *p > '9')
            return AG_EPARSE;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        real = 1;
        if (++p < end && (*p == '+' || *p == '-'))
            p++;
        if (p == end || *p < '0' || *p > '9')
            return AG_EPARSE;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (real ? ag_json_real(s->p, (size_t)(p - s->p), &d) != 0 : big)
        return AG_EPARSE;
    *v = (struct ag_json_val){s->p, (size_t)(p - s->p), real ? AG_JSON_REAL : AG_JSON_INT, 0};
    s->p = p;
    return 0;
}

/* The int64 value of the scanned AG_JSON_INT <v> (in range: the scan checked it). */
int64_t ag_json_int(const struct ag_json_val *v)
{
    const unsigned char *p = v->p, *end = v->p + v->len;
    uint64_t mag = 0;
    int neg = *p == '-';

    for (p += neg; p < end; p++)
        mag = mag * 10 + (uint64_t)(*p - '0');
    if (!neg)
        return (int64_t)mag;
    return mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
}

static int json_value(struct json_scan *s, int depth, int top, struct ag_json_val *v);

/* ag_json_str_eq() with its common case (no escapes) inline: json_object() compares each key
 * with every earlier one, and a call per pair cost ~3% of a token's verify. */
static inline int json_key_eq(const struct ag_json_val *a, const struct ag_json_val *b)
{
    if (!a->esc && !b->esc)
        return a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
    return ag_json_str_eq(a, b);
}

/*
 * After a member or element: skips whitespace and a ',' (returns 1: another follows)
 * or stops on <close> (returns 0, <close> not consumed); anything else is -1.
 */
static int json_next(struct json_scan *s, unsigned char close)
{
    json_ws(s);
    if (s->p < s->end && *s->p == ',') {
        s->p++;
        json_ws(s);
        return 1;
    }
    return s->p < s->end && *s->p == close ? 0 : -1;
}

/*
 * Scans the object whose '{' is at <s>->p. Each key is compared, decoded, with the earlier
 * keys of the same object as soon as it is read (where jansson checks it, so the first
 * fault is the same); a repeat sets <s>->dup. <top>: the members go to <s>->doc, else
 * the keys go on <s>->open until the object closes. Returns 0 or AG_EPARSE.
 */
static int json_object(struct json_scan *s, int depth, int top, struct ag_json_val *v)
{
    const unsigned char *start = s->p;
    size_t base = s->nopen, n = 0, cap = AG_JSON_MAX_KEYS;
    struct ag_json_val *keys = top ? s->doc->key : s->open + base, k, val;
    int sep;

    if (depth > AG_JSON_MAX_DEPTH)
        return AG_EPARSE;
    if (!top && AG_JSON_OPEN_KEYS - base < cap)
        cap = AG_JSON_OPEN_KEYS - base;
    s->p++;
    json_ws(s);
    if (s->p < s->end && *s->p == '}')
        goto done;
    do {
        if (s->p == s->end || *s->p != '"' || json_string(s, &k) != 0)
            return AG_EPARSE;
        for (size_t i = 0; i < n; i++)
            if (json_key_eq(&keys[i], &k)) {
                s->dup = 1;
                return AG_EPARSE;
            }
        if (n == cap)
            return AG_EPARSE;
        keys[n++] = k;
        if (!top)
            s->nopen = base + n;
        json_ws(s);
        if (s->p == s->end || *s->p != ':')
            return AG_EPARSE;
        s->p++;
        json_ws(s);
        if (json_value(s, depth, 0, top ? &s->doc->val[n - 1] : &val) != 0)
            return AG_EPARSE;
    } while ((sep = json_next(s, '}')) > 0);
    if (sep < 0)
        return AG_EPARSE;
done:
    s->p++;
    if (top)
        s->doc->n = n;
    s->nopen = base;
    *v = (struct ag_json_val){start, (size_t)(s->p - start), AG_JSON_OBJ, 0};
    return 0;
}

/* Scans the array whose '[' is at <s>->p. Returns 0 or AG_EPARSE. */
static int json_array(struct json_scan *s, int depth, struct ag_json_val *v)
{
    const unsigned char *start = s->p;
    struct ag_json_val e;
    int sep;

    if (depth > AG_JSON_MAX_DEPTH)
        return AG_EPARSE;
    s->p++;
    json_ws(s);
    if (s->p < s->end && *s->p == ']')
        goto done;
    do {
        if (json_value(s, depth, 0, &e) != 0)
            return AG_EPARSE;
    } while ((sep = json_next(s, ']')) > 0);
    if (sep < 0)
        return AG_EPARSE;
done:
    s->p++;
    *v = (struct ag_json_val){start, (size_t)(s->p - start), AG_JSON_ARR, 0};
    return 0;
}

/* Scans one value at <s>->p (no whitespace before it) into <v>; <depth> counts the
 * containers around it. Returns 0 or AG_EPARSE. */
static int json_value(struct json_scan *s, int depth, int top, struct ag_json_val *v)
{
    static const char *const lits[] = {"true", "false", "null"};

    if (s->p == s->end)
        return AG_EPARSE;
    switch (*s->p) {
    case '{':
        return json_object(s, depth + 1, top, v);
    case '[':
        return json_array(s, depth + 1, v);
    case '"':
        return json_string(s, v);
    case 't':
    case 'f':
    case 'n':
        for (size_t i = 0; i < sizeof(lits) / sizeof(lits[0]); i++) {
            size_t n = strlen(lits[i]);

            if ((size_t)(s->end - s->p) >= n && memcmp(s->p, lits[i], n) == 0) {
                *v = (struct ag_json_val){s->p, n, AG_JSON_LIT, 0};
                s->p += n;
                return 0;
            }
        }
        return AG_EPARSE;
    default:
        return json_number(s, v);
    }
}

/*
 * Scans <p,len> as one JSON text (RFC 8259 s.2: optional whitespace, one value, optional
 * whitespace, nothing else) whose value is an object, and fills <doc> with its members
 * (borrowed from <p>). Returns 0, or AG_EPARSE with *<dup> set when the first fault met
 * is a repeated key in some object, clear for any other fault.
 */
int ag_json_scan(const unsigned char *p, size_t len, struct ag_json_doc *doc, int *dup)
{
    struct json_scan s;
    struct ag_json_val v;
    int r;

    s.p = p;
    s.end = p + len;
    s.doc = doc;
    s.dup = 0;
    s.nopen = 0;
    doc->n = 0;
    json_ws(&s);
    r = json_value(&s, 0, 1, &v);
    if (r == 0) {
        json_ws(&s);
        if (s.p != s.end || v.type != AG_JSON_OBJ)
            r = AG_EPARSE;
    }
    *dup = s.dup;
    return r;
}

/* --- decoding scanned strings --- */

/* Walks the decoded bytes of a scanned string (which is known to be valid). */
struct json_it {
    const unsigned char *p, *end;
    unsigned char u[4], ui, un;
};

static void json_it_init(struct json_it *it, const struct ag_json_val *v)
{
    it->p = v->p;
    it->end = v->p + v->len;
    it->ui = it->un = 0;
}

/* The next decoded byte, or -1 at the end. */
static int json_it_next(struct json_it *it)
{
    const unsigned char *p = it->p;
    unsigned long cp;

    if (it->ui < it->un)
        return it->u[it->ui++];
    if (p == it->end)
        return -1;
    if (*p != '\\') {
        it->p++;
        return *p;
    }
    it->p += 2;
    switch (p[1]) {
    case 'b':
        return '\b';
    case 'f':
        return '\f';
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    case 'u':
        break;
    default: /* '"', '\\', '/' */
        return p[1];
    }
    cp = (unsigned long)json_hex4(p + 2, it->end);
    it->p = p + 6;
    if (cp >= 0xd800 && cp <= 0xdbff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + ((unsigned long)json_hex4(p + 8, it->end) - 0xdc00);
        it->p = p + 12;
    }
    it->ui = 1;
    if (cp < 0x80) {
        it->un = 0;
        return (int)cp;
    }
    if (cp < 0x800) {
        it->u[0] = (unsigned char)(0xc0 | cp >> 6);
        it->un = 2;
    } else if (cp < 0x10000) {
        it->u[0] = (unsigned char)(0xe0 | cp >> 12);
        it->u[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        it->un = 3;
    } else {
        it->u[0] = (unsigned char)(0xf0 | cp >> 18);
        it->u[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
        it->u[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        it->un = 4;
    }
    it->u[it->un - 1] = (unsigned char)(0x80 | (cp & 0x3f));
    return it->u[0];
}

/* Whether the scanned strings <a> and <b> decode to the same bytes. */
int ag_json_str_eq(const struct ag_json_val *a, const struct ag_json_val *b)
{
    struct json_it ia, ib;
    int ca;

    if (!a->esc && !b->esc)
        return a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
    json_it_init(&ia, a);
    json_it_init(&ib, b);
    do {
        ca = json_it_next(&ia);
        if (ca != json_it_next(&ib))
            return 0;
    } while (ca >= 0);
    return 1;
}

/* Whether <v> is a string that decodes to <want,n>. */
int ag_json_str_is(const struct ag_json_val *v, const char *want, size_t n)
{
    struct json_it it;
    int c;

    if (v == NULL || v->type != AG_JSON_STR)
        return 0;
    if (!v->esc)
        return v->len == n && memcmp(v->p, want, n) == 0;
    json_it_init(&it, v);
    for (size_t i = 0; i < n; i++)
        if ((c = json_it_next(&it)) < 0 || (unsigned char)want[i] != c)
            return 0;
    return json_it_next(&it) < 0;
}

/* Decodes the string <v> into <dst> (capacity <cap>, no NUL added). Returns the length, or
 * -1 when it does not fit. */
long ag_json_str_decode(const struct ag_json_val *v, char *dst, size_t cap)
{
    struct json_it it;
    size_t n = 0;
    int c;

    if (!v->esc) {
        if (v->len > cap)
            return -1;
        memcpy(dst, v->p, v->len);
        return (long)v->len;
    }
    json_it_init(&it, v);
    while ((c = json_it_next(&it)) >= 0) {
        if (n == cap)
            return -1;
        dst[n++] = (char)c;
    }
    return (long)n;
}

/* Points <slot>[i] at the value of the top-level member whose decoded key is <names>[i]
 * ("ex\u0070" is "exp"), or NULL. Keys are unique (the scan refused repeats). */
void ag_json_index(const struct ag_json_doc *doc, const struct ag_json_name *names, size_t n,
                           const struct ag_json_val **slot)
{
    char tmp[16];

    for (size_t i = 0; i < n; i++)
        slot[i] = NULL;
    for (size_t m = 0; m < doc->n; m++) {
        const char *k = (const char *)doc->key[m].p;
        long kl = (long)doc->key[m].len;

        if (doc->key[m].esc) {
            kl = ag_json_str_decode(&doc->key[m], tmp, sizeof(tmp));
            k = tmp;
        }
        for (size_t i = 0; i < n && kl >= 0; i++)
            if ((size_t)kl == names[i].len && k[0] == names[i].s[0] &&
                memcmp(k, names[i].s, names[i].len) == 0) {
                slot[i] = &doc->val[m];
                break;
            }
    }
}

void ag_json_arr_init(struct ag_json_arr *it, const struct ag_json_val *a)
{
    it->p = a->p + 1; /* inside the brackets */
    it->end = a->p + a->len - 1;
}

/* Puts the next element into <e> and returns 1 when it is a string; returns 0 at the end and
 * -1 at an element of another type (every caller refuses those). */
int ag_json_arr_next(struct ag_json_arr *it, struct ag_json_val *e)
{
    const unsigned char *p = it->p, *q;
    unsigned char esc = 0;

    while (p < it->end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t' || *p == ','))
        p++;
    if (p == it->end)
        return 0;
    if (*p != '"')
        return -1;
    for (q = p + 1; *q != '"'; q++)
        if (*q == '\\') {
            esc = 1;
            q++;
        }
    *e = (struct ag_json_val){p + 1, (size_t)(q - p - 1), AG_JSON_STR, esc};
    it->p = q + 1;
    return 1;
}

