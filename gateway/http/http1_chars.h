/*
 * gateway/http/http1_chars.h - private to gateway/http/: the byte classes of RFC 9110 and
 * the slice helpers shared by the head scanner (http1.c), the chunked decoder (chunked.c)
 * and the header filters (http1_hdr.c). Static, so each of them inlines them as before.
 *
 * Owns:     the byte-class table cc[] (static: one 256-byte copy per file that uses it).
 * Entry:    cc[] and CC_*, ieq() / IEQ(), ieq_str(), list_next().
 * Not here: anything for callers outside gateway/http/ (http1.h, chunked.h, http1_hdr.h).
 * Spec:     RFC 9110 s.5.5 (field values), s.5.6.1 (lists), s.5.6.2 (token), s.5.6.4.
 */
#ifndef AG_GATEWAY_HTTP1_CHARS_H
#define AG_GATEWAY_HTTP1_CHARS_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "base.h"

#define CC_TOKEN 0x01  /* RFC 9110 tchar: ALPHA DIGIT !#$%&'*+-.^_`|~ */
#define CC_VCHAR 0x02  /* 0x21-0x7E: request-target bytes */
#define CC_FVAL 0x04   /* field value / reason phrase: HTAB SP VCHAR obs-text */
#define CC_HEX 0x08    /* HEXDIG */
#define CC_QDTEXT 0x10 /* quoted-string text: HTAB SP 21 23-5B 5D-7E obs-text */
#define CC_HOST 0x20   /* Host reg-name bytes we accept: unreserved (ALPHA DIGIT -._~) */

/* Generated from the definitions above; tests/unit/gateway/http1_test.c checks every class
 * byte by byte through the parsers. */
static const unsigned char cc[256] = {
    /* 00 */ 0,  0,  0,  0,  0,  0,  0,  0,  0,  20, 0,  0,  0,  0,  0,  0,
    /* 10 */ 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
    /* 20 */ 20, 23, 6,  23, 23, 23, 23, 23, 22, 22, 23, 23, 22, 55, 55, 22,
    /* 30 */ 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 22, 22, 22, 22, 22, 22,
    /* 40 */ 22, 63, 63, 63, 63, 63, 63, 55, 55, 55, 55, 55, 55, 55, 55, 55,
    /* 50 */ 55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 22, 6,  22, 23, 55,
    /* 60 */ 23, 63, 63, 63, 63, 63, 63, 55, 55, 55, 55, 55, 55, 55, 55, 55,
    /* 70 */ 55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 22, 23, 22, 55, 0,
    /* 80 */ 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20,
    /* 90 */ 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20,
    /* A0 */ 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20,
    /* B0 */ 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20,
    /* C0 */ 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20,
    /* D0 */ 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20,
    /* E0 */ 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20,
    /* F0 */ 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20,
};

/* Case-insensitive equality of <a> with the lower-case literal <lit> of length <n>. */
static inline bool ieq(struct ag_str a, const char *lit, size_t n)
{
    if (a.len != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (ag_ascii_lower((unsigned char)a.p[i]) != (unsigned char)lit[i])
            return false;
    return true;
}

#define IEQ(a, lit) ieq((a), (lit), sizeof(lit) - 1)

/* Case-insensitive equality of two slices. */
static inline bool ieq_str(struct ag_str a, struct ag_str b)
{
    if (a.len != b.len)
        return false;
    for (size_t i = 0; i < a.len; i++)
        if (ag_ascii_lower((unsigned char)a.p[i]) != ag_ascii_lower((unsigned char)b.p[i]))
            return false;
    return true;
}

/*
 * Takes the next element of the comma-separated list in <rest> into <el>, OWS trimmed
 * (an element may be empty: "a,,b" gives "a", "", "b"). Returns false when <rest> is
 * used up; an empty <rest> with a non-NULL pointer yields one empty element.
 */
static inline bool list_next(struct ag_str *rest, struct ag_str *el)
{
    const char *p = rest->p, *e, *comma;

    if (p == NULL)
        return false;
    e = p + rest->len;
    comma = rest->len ? memchr(p, ',', rest->len) : NULL;
    if (comma != NULL) {
        rest->p = comma + 1;
        rest->len = (size_t)(e - comma - 1);
        e = comma;
    } else {
        rest->p = NULL;
        rest->len = 0;
    }
    while (p < e && (*p == ' ' || *p == '\t'))
        p++;
    while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    el->p = p;
    el->len = (size_t)(e - p);
    return true;
}

#endif
