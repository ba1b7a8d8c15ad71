/*
 * policy/base.h - the few types every authgate module shares: slices, result
 * codes, load-time error lists, AG_FREE.
 *
 * Owns:     nothing.
 * Entry:    struct ag_str, AG_LIT(), AG_E*, struct ag_err, ag_err_add().
 * Not here: anything with behaviour beyond formatting an error line.
 */
#ifndef AG_POLICY_BASE_H
#define AG_POLICY_BASE_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* A borrowed byte range; never NUL-terminated by contract. */
struct ag_str {
    const char *p;
    size_t len;
};

#define AG_LIT(s) ((struct ag_str){(s), sizeof(s) - 1})
#define AG_FREE(ptr)                                                                               \
    do {                                                                                           \
        free(ptr);                                                                                 \
        (ptr) = NULL;                                                                              \
    } while (0)

/* Results: 0 success, negative failure. Parsers return >0 consumed, AG_AGAIN or AG_EPARSE. */
enum {
    AG_OK = 0,
    AG_ENOMEM = -1,  /* allocation failed */
    AG_EINVAL = -2,  /* invalid argument or value */
    AG_EPARSE = -3,  /* malformed input */
    AG_AGAIN = -4,   /* need more input; not an error */
    AG_ETOOBIG = -5, /* input exceeds a configured limit */
    AG_EIO = -6,     /* a system call failed (errno kept) */
};

/* Load-time diagnostics: up to AG_ERR_MAX lines, each naming file, JSON path and reason. */
#define AG_ERR_MAX 32
#define AG_ERR_LINE 320
struct ag_err {
    int n;        /* lines recorded (may exceed AG_ERR_MAX; extra lines are dropped) */
    char line[AG_ERR_MAX][AG_ERR_LINE];
};

/** Appends one formatted line to <err> (a NULL <err> is allowed); returns AG_EINVAL. */
int ag_err_add(struct ag_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/**
 * Case-insensitive ASCII equality of <a> and the NUL-terminated <lit>. Inline, so that
 * strlen() of a literal folds to a constant: header filters call it per field.
 */
static inline int ag_str_ieq(struct ag_str a, const char *lit)
{
    size_t n = __builtin_strlen(lit);

    if (a.len != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a.p[i], y = (unsigned char)lit[i];
        if ((unsigned)(x - 'A') < 26u)
            x += 32;
        if ((unsigned)(y - 'A') < 26u)
            y += 32;
        if (x != y)
            return 0;
    }
    return 1;
}

/**
 * Decodes one UTF-8 sequence at <s>[0..<n>) (n > 0; RFC 3629 s.4: no overlong forms, no
 * surrogates, nothing above U+10FFFF). Returns its length with *<cp> set, or 0 when the
 * bytes there are not valid UTF-8.
 */
size_t ag_utf8_next(const unsigned char *s, size_t n, uint32_t *cp);

/** The value of the hex digit <c> (either case), or -1. */
static inline int ag_hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20; /* ASCII letters to lower case */
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

#endif
