/*
 * gateway/http/chunked.c - the strict incremental chunked decoder (SECURITY-BASELINE.md
 * rule 8): size lines with RFC 9112's chunk-ext grammar, the CRLF after each chunk's
 * data and the trailer section, one byte at a time, across any split of the input.
 *
 * Owns:     nothing; the caller's struct ag_chunked holds all state, data bytes stay put.
 * Entry:    ag_chunked_init(), ag_chunked_parse(), ag_chunked_data().
 * Not here: moving the data bytes (gateway/core/proxy.c, gateway/ep/endpoints.c), whether
 *           a body is chunked (ag_http1_request_info(), gateway/http/http1.c).
 * Spec:     RFC 9112 s.7.1 (chunked), s.7.1.1 (chunk-ext), s.7.1.2 (trailers).
 */
#include "chunked.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "http1_chars.h"

/* Size-line states come first and trailer states last: the line accounting relies on it. */
enum chunked_state {
    CK_SIZE_START = 0,  /* first hex digit of a chunk-size */
    CK_SIZE,            /* more hex digits, BWS, ';' or CR */
    CK_EXT_BWS,         /* BWS after the size or a value: more of it, or ';' */
    CK_EXT_START,       /* after ';': BWS or the first byte of an extension name */
    CK_EXT_NAME,        /* extension name */
    CK_EXT_NAME_BWS,    /* BWS after a name: more of it, '=' or ';' */
    CK_EXT_VALUE_START, /* after '=': BWS, token or quoted-string */
    CK_EXT_TOKEN,       /* token value */
    CK_EXT_QUOTED,      /* inside a quoted-string */
    CK_EXT_ESCAPE,      /* after '\' inside a quoted-string */
    CK_EXT_CLOSED,      /* after the closing '"' */
    CK_SIZE_LF,         /* LF ending the size line */
    CK_DATA_CR,         /* CR after the chunk data */
    CK_DATA_LF,         /* LF after the chunk data */
    CK_TRAILER_START,   /* start of a trailer line, or CR of the final empty line */
    CK_TRAILER_NAME,    /* trailer field name */
    CK_TRAILER_VALUE,   /* trailer field value */
    CK_TRAILER_LF,      /* LF ending a trailer line */
    CK_END_LF,          /* LF of the final empty line */
    CK_DONE,
    CK_ERROR,
};

/* Sets the defaults (max_line 4096, max_trailers 16384); change limits after this call. */
void ag_chunked_init(struct ag_chunked *c)
{
    memset(c, 0, sizeof(*c));
    c->state = CK_SIZE_START;
    c->max_line = 4096;
    c->max_trailers = 16384;
}

static int hexval(unsigned char ch)
{
    if (ch <= '9')
        return ch - '0';
    return ag_ascii_lower(ch) - 'a' + 10;
}

static inline bool is_bws(unsigned char ch)
{
    return ch == ' ' || ch == '\t';
}

/* The byte <ch> after a chunk size or an extension value: ';', CR, or BWS before a ';'. */
static bool chunked_after_item(struct ag_chunked *c, unsigned char ch)
{
    if (ch == ';')
        c->state = CK_EXT_START;
    else if (ch == '\r')
        c->state = CK_SIZE_LF;
    else if (is_bws(ch))
        c->state = CK_EXT_BWS;
    else
        return false;
    return true;
}

/*
 * Feeds one framing byte <ch> to <c>; returns false on a syntax error. Chunk sizes are
 * 1-16 hex digits within 2^63-1. Extensions follow RFC 9112 s.7.1.1 exactly:
 *   chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )
 * so whitespace may stand around ';' and '=' but never before CRLF ("5 \r\n" and
 * "5;a \r\n" are refused), and a ';' must be followed by a name.
 */
static bool chunked_step(struct ag_chunked *c, unsigned char ch)
{
    unsigned char k = cc[ch];

    switch ((enum chunked_state)c->state) {
    case CK_SIZE_START:
        if (!(k & CC_HEX))
            return false;
        c->size = (unsigned long long)hexval(ch);
        c->state = CK_SIZE;
        return true;
    case CK_SIZE:
        if (k & CC_HEX) {
            /* c->line counts this byte too; every earlier byte of the line is a digit */
            if (c->line > 16 || c->size > ((unsigned long long)INT64_MAX >> 4))
                return false;
            c->size = (c->size << 4) | (unsigned long long)hexval(ch);
            return true;
        }
        return chunked_after_item(c, ch);
    case CK_EXT_TOKEN:
        if (k & CC_TOKEN)
            return true;
        return chunked_after_item(c, ch);
    case CK_EXT_CLOSED:
        return chunked_after_item(c, ch);
    case CK_EXT_BWS:
        if (ch == ';')
            c->state = CK_EXT_START;
        else if (!is_bws(ch))
            return false;
        return true;
    case CK_EXT_START:
        if (k & CC_TOKEN)
            c->state = CK_EXT_NAME;
        else if (!is_bws(ch))
            return false;
        return true;
    case CK_EXT_NAME:
    case CK_EXT_NAME_BWS:
        if (c->state == CK_EXT_NAME && (k & CC_TOKEN))
            return true;
        if (ch == '=')
            c->state = CK_EXT_VALUE_START;
        else if (ch == ';')
            c->state = CK_EXT_START;
        else if (is_bws(ch))
            c->state = CK_EXT_NAME_BWS;
        else if (ch == '\r' && c->state == CK_EXT_NAME)
            c->state = CK_SIZE_LF;
        else
            return false;
        return true;
    case CK_EXT_VALUE_START:
        if (is_bws(ch))
            return true;
        if (ch == '"')
            c->state = CK_EXT_QUOTED;
        else if (k & CC_TOKEN)
            c->state = CK_EXT_TOKEN;
        else
            return false;
        return true;
    case CK_EXT_QUOTED:
        if (ch == '"')
            c->state = CK_EXT_CLOSED;
        else if (ch == '\\')
            c->state = CK_EXT_ESCAPE;
        else if (!(k & CC_QDTEXT))
            return false;
        return true;
    case CK_EXT_ESCAPE:
        if (!(k & CC_FVAL))
            return false;
        c->state = CK_EXT_QUOTED;
        return true;
    case CK_SIZE_LF:
        if (ch != '\n')
            return false;
        c->line = 0;
        if (c->size == 0) {
            c->state = CK_TRAILER_START;
        } else {
            c->remaining = c->size;
            c->size = 0;
            c->state = CK_DATA_CR;
        }
        return true;
    case CK_DATA_CR:
        if (ch != '\r')
            return false;
        c->state = CK_DATA_LF;
        return true;
    case CK_DATA_LF:
        if (ch != '\n')
            return false;
        c->state = CK_SIZE_START;
        return true;
    case CK_TRAILER_START:
        if (ch == '\r')
            c->state = CK_END_LF;
        else if (k & CC_TOKEN)
            c->state = CK_TRAILER_NAME;
        else
            return false; /* bare LF, obs-fold, empty name */
        return true;
    case CK_TRAILER_NAME:
        if (k & CC_TOKEN)
            return true;
        if (ch != ':')
            return false; /* includes whitespace before ':' */
        c->state = CK_TRAILER_VALUE;
        return true;
    case CK_TRAILER_VALUE:
        if (k & CC_FVAL)
            return true;
        if (ch != '\r')
            return false;
        c->state = CK_TRAILER_LF;
        return true;
    case CK_TRAILER_LF:
        if (ch != '\n')
            return false;
        c->state = CK_TRAILER_START;
        return true;
    case CK_END_LF:
        if (ch != '\n')
            return false;
        c->state = CK_DONE;
        c->done = true;
        return true;
    case CK_DONE:
    case CK_ERROR:
        break;
    }
    return false;
}

/*
 * Consumes framing bytes of <buf,len> (at most INT_MAX per call) and stops early when
 * data is due or the body is complete; returns the count (0 when called with data due
 * or after done) or AG_EPARSE, which is sticky until ag_chunked_init(). Byte-at-a-time
 * input gives the same result as one call with everything (tests check it).
 */
int ag_chunked_parse(struct ag_chunked *c, const char *buf, size_t len)
{
    const unsigned char *p = (const unsigned char *)buf;
    size_t i = 0;

    if (c->state == CK_ERROR)
        return AG_EPARSE;
    if (len > INT_MAX)
        len = INT_MAX;
    while (i < len && c->remaining == 0 && !c->done) {
        if (c->state <= CK_SIZE_LF) {
            if (++c->line > c->max_line)
                goto fail;
        } else if (c->state >= CK_TRAILER_START && c->state <= CK_END_LF) {
            if (++c->line > c->max_trailers)
                goto fail;
        }
        if (!chunked_step(c, p[i]))
            goto fail;
        i++;
    }
    return (int)i;
fail:
    c->state = CK_ERROR;
    return AG_EPARSE;
}

/* Records that the caller moved <n> data bytes; <n> beyond remaining is clamped. */
void ag_chunked_data(struct ag_chunked *c, unsigned long long n)
{
    c->remaining -= n < c->remaining ? n : c->remaining;
}
