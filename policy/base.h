/*
 * policy/base.h - the few types and small rules every authgate module shares:
 * slices, result codes, load-time error lists, AG_FREE, ASCII case folding, the
 * header-name equivalence, word lists, the wall clock's second.
 *
 * Owns:     nothing.
 * Entry:    struct ag_str, AG_LIT(), AG_E*, struct ag_err, ag_err_add(), ag_ascii_lower(),
 *           ag_hdr_name_eq(), ag_words_next(), ag_words_has(), ag_unix_now().
 * Not here: anything with more behaviour than one of these small rules.
 */
#ifndef AG_POLICY_BASE_H
#define AG_POLICY_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/** <c> in ASCII lower case; every other byte unchanged (no locale: header names, schemes). */
static inline unsigned char ag_ascii_lower(unsigned char c)
{
    return (unsigned)(c - 'A') < 26u ? (unsigned char)(c + ('a' - 'A')) : c;
}

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
        if (ag_ascii_lower((unsigned char)a.p[i]) != ag_ascii_lower((unsigned char)lit[i]))
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

/* The most bytes ag_i64_text() writes (INT64_MIN's 20). */
#define AG_I64_TEXT_MAX 20

/**
 * Writes <v> in decimal, as "%lld" does, at the end of <buf> (AG_I64_TEXT_MAX bytes, no
 * NUL) and returns where it starts; the text ends at <buf> + AG_I64_TEXT_MAX. No printf:
 * minting and the answers of a refresh write their numbers with it.
 */
char *ag_i64_text(char buf[AG_I64_TEXT_MAX], int64_t v);

/** Where ag_json_escape_to() writes: <n> bytes at <p> for <ctx>. */
typedef void ag_sink_fn(void *ctx, const char *p, size_t n);

/**
 * Writes <s,len> to <put>(<ctx>) as the content of a JSON string: '"', '\\' and control
 * bytes escaped (\u00XX); other bytes as they are when <utf8>, else bytes from 0x7f up
 * escaped too. Unescaped runs are written in one call each.
 */
void ag_json_escape_to(ag_sink_fn *put, void *ctx, const char *s, size_t len, bool utf8);

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

/* ---------------------------------------------------------------------------------------------
 * Header names. A security rule: a name matches in any case and with any of '-', '_', '.' at
 * each separator ("x_auth.Subject" is X-Auth-Subject), since CGI/WSGI-style upstreams fold
 * all three to one key; whatever the gateway owns or checks must be matched the same way by
 * the header filters (gateway/http/http1.c), authn and the config checks.
 * ------------------------------------------------------------------------------------------- */

/** The header-name byte <c> as compared: ASCII lower case, '_' and '.' read as '-'. */
static inline unsigned char ag_hdr_name_fold(unsigned char c)
{
    return c == '_' || c == '.' ? '-' : ag_ascii_lower(c);
}

/**
 * Whether the header name <a> and the NUL-terminated <b> are the same field (see above).
 * Inline, and most names differ in their first byte: those are settled without a strlen().
 */
static inline bool ag_hdr_name_eq(struct ag_str a, const char *b)
{
    size_t n;

    if (a.len == 0 ||
        ag_hdr_name_fold((unsigned char)a.p[0]) != ag_hdr_name_fold((unsigned char)b[0]))
        return false;
    n = strlen(b);
    if (a.len != n)
        return false;
    for (size_t i = 1; i < n; i++)
        if (ag_hdr_name_fold((unsigned char)a.p[i]) != ag_hdr_name_fold((unsigned char)b[i]))
            return false;
    return true;
}

/* ---------------------------------------------------------------------------------------------
 * Word lists: scopes and roles are kept as one string of words separated by a single byte
 * (' ' for scopes and stored roles, ',' in a roles header). Empty words (a leading, trailing
 * or doubled separator) are skipped, never returned.
 * ------------------------------------------------------------------------------------------- */

/** The slice of the NUL-terminated <s>; NULL gives the empty slice. */
static inline struct ag_str ag_str_c(const char *s)
{
    return (struct ag_str){s, s != NULL ? strlen(s) : 0};
}

/**
 * Unix seconds, the clock's whole second as clients read it (CLOCK_REALTIME). Not time():
 * glibc's returns the kernel's coarse second, up to a tick behind, so a token a client signs
 * in a second's first milliseconds would look issued in the future to a zero leeway.
 */
static inline int64_t ag_unix_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

/** <s> without OWS (SP, HTAB: RFC 9110 s.5.6.3) at either end. */
static inline struct ag_str ag_str_trim_ows(struct ag_str s)
{
    while (s.len > 0 && (s.p[0] == ' ' || s.p[0] == '\t')) {
        s.p++;
        s.len--;
    }
    while (s.len > 0 && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t'))
        s.len--;
    return s;
}

/**
 * Takes the next non-empty word of the <sep>-separated list *<rest> into *<word> and
 * advances *<rest> past it. Returns false when no word is left. Borrowed from *<rest>.
 *     struct ag_str rest = ag_str_c(scopes), w;
 *     while (ag_words_next(&rest, ' ', &w)) ...
 */
static inline bool ag_words_next(struct ag_str *rest, char sep, struct ag_str *word)
{
    const char *p = rest->p, *end, *q;

    if (rest->len == 0)
        return false;
    end = p + rest->len;
    while (p < end && *p == sep)
        p++;
    if (p == end) {
        *rest = (struct ag_str){end, 0};
        return false;
    }
    q = memchr(p, sep, (size_t)(end - p));
    if (q == NULL)
        q = end;
    *word = (struct ag_str){p, (size_t)(q - p)};
    *rest = (struct ag_str){q, (size_t)(end - q)};
    return true;
}

/** Whether <want> is one of the words of the <sep>-separated <list> (exact bytes; an empty
 *  <want> is never found). */
static inline bool ag_words_has(struct ag_str list, char sep, struct ag_str want)
{
    struct ag_str w;

    while (ag_words_next(&list, sep, &w))
        if (w.len == want.len && memcmp(w.p, want.p, want.len) == 0)
            return true;
    return false;
}

#endif
