/*
 * policy/base.c - error-line formatting, slice helpers, the UTF-8 decoder and the JSON
 * string escaper shared by all modules.
 *
 * Owns:     nothing.
 * Entry:    ag_err_add(), ag_utf8_next(), ag_i64_text(), ag_json_escape_to().
 */
#include "base.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int ag_err_add(struct ag_err *err, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return AG_EINVAL;
    if (err->n < AG_ERR_MAX) {
        va_start(ap, fmt);
        vsnprintf(err->line[err->n], AG_ERR_LINE, fmt, ap);
        va_end(ap);
    }
    err->n++;
    return AG_EINVAL;
}

size_t ag_utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    uint32_t c = s[0], min;
    size_t len;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2, c &= 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3, c &= 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, c &= 0x07, min = 0x10000;
    } else {
        return 0; /* a continuation byte, 0xc0/0xc1 (overlong), or 0xf5.. */
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return len;
}

char *ag_i64_text(char buf[AG_I64_TEXT_MAX], int64_t v)
{
    char *p = buf + AG_I64_TEXT_MAX;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u > 0);
    if (v < 0)
        *--p = '-';
    return p;
}

void ag_json_escape_to(ag_sink_fn *put, void *ctx, const char *s, size_t len, bool utf8)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && (ch < 0x7f || utf8) && ch != '"' && ch != '\\')
            continue;
        put(ctx, s + run, i - run);
        run = i + 1;
        if (ch == '"' || ch == '\\') {
            char e[2] = {'\\', (char)ch};
            put(ctx, e, 2);
        } else {
            char e[6] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]};
            put(ctx, e, 6);
        }
    }
    put(ctx, s + run, len - run);
}
