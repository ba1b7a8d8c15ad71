/*
 * policy/cors.c - CORS verdicts (Starlette's CORSMiddleware semantics): the request
 * fields, preflight detection, origin / method / requested-headers checks, and what an
 * allowed preflight may be told.
 *
 * Owns:     nothing; every result is borrowed from the config or static.
 * Entry:    ag_cors_note(), ag_cors_is_preflight(), ag_cors_allow_origin(),
 *           ag_cors_preflight(), ag_cors_allow_headers(), ag_cors_refusal_body().
 * Not here: parsing "cors" (policy/config_cors.c), the header lines (gateway/http/cors_http.c).
 * Spec:     Fetch standard, "CORS protocol" (3.2.2-3.2.5); docs/cors.md.
 */
#include "cors.h"

#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------- the request's fields */

void ag_cors_note(struct ag_cors_req *r, struct ag_str name, struct ag_str value)
{
    struct ag_str *slot;
    unsigned bit;

    if (name.len == 6 && ag_str_ieq(name, "Origin")) {
        slot = &r->origin;
        bit = AG_CORS_F_ORIGIN;
    } else if (name.len == 29 && ag_str_ieq(name, "Access-Control-Request-Method")) {
        slot = &r->method;
        bit = AG_CORS_F_METHOD;
    } else if (name.len == 30 && ag_str_ieq(name, "Access-Control-Request-Headers")) {
        slot = &r->headers;
        bit = AG_CORS_F_HEADERS;
    } else {
        return;
    }
    if (r->flags & bit)
        r->flags |= AG_CORS_F_DUP; /* ambiguous: which one would the browser mean? */
    r->flags |= bit;
    *slot = value;
}

bool ag_cors_is_preflight(struct ag_str method, const struct ag_cors_req *r)
{
    /* Methods are case-sensitive (RFC 9110 s.9.1); browsers send "OPTIONS". */
    return (r->flags & (AG_CORS_F_ORIGIN | AG_CORS_F_METHOD)) ==
               (AG_CORS_F_ORIGIN | AG_CORS_F_METHOD) &&
           method.len == 7 && memcmp(method.p, "OPTIONS", 7) == 0;
}

/* ---------------------------------------------------------------- decisions */

/* RFC 9110 s.5.6.2 tchar. */
static bool cors_is_tchar(unsigned char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static bool cors_is_token(struct ag_str s)
{
    if (s.len == 0)
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (!cors_is_tchar((unsigned char)s.p[i]))
            return false;
    return true;
}

/* Whether the NUL-terminated <lit> equals <s> exactly (case-sensitive). */
static bool cors_eq(struct ag_str s, const char *lit)
{
    return strlen(lit) == s.len && memcmp(s.p, lit, s.len) == 0;
}

const char *ag_cors_allow_origin(const struct ag_cors_config *cc, const struct ag_cors_req *r)
{
    if ((r->flags & (AG_CORS_F_ORIGIN | AG_CORS_F_DUP)) != AG_CORS_F_ORIGIN)
        return NULL;
    if (cc->any_origin)
        return "*";
    /* Exact bytes, as Starlette compares: browsers serialise origins in lower case. */
    for (size_t i = 0; i < cc->n_origins; i++)
        if (cors_eq(r->origin, cc->origins[i]))
            return cc->origins[i];
    return NULL;
}

/* Whether the requested method <m> is allowed (a token, echoed back under "*"). */
static bool cors_method_ok(const struct ag_cors_config *cc, struct ag_str m)
{
    if (!cors_is_token(m))
        return false;
    if (cc->any_method)
        return true;
    for (size_t i = 0; i < cc->n_methods; i++)
        if (cors_eq(m, cc->methods[i]))
            return true;
    return false;
}

/*
 * Takes the next element of the comma list *<rest> into *<item> (OWS trimmed,
 * possibly empty). Returns false when the list is used up. An all-blank list
 * has no element at all.
 */
static bool cors_next(struct ag_str *rest, struct ag_str *item, bool *started)
{
    const char *comma;

    if (!*started) {
        *rest = ag_str_trim_ows(*rest);
        *started = true;
        if (rest->len == 0)
            return false;
    } else if (rest->p == NULL) {
        return false;
    }
    comma = memchr(rest->p, ',', rest->len);
    if (comma == NULL) {
        *item = ag_str_trim_ows(*rest);
        rest->p = NULL;
        rest->len = 0;
        return true;
    }
    *item = ag_str_trim_ows((struct ag_str){rest->p, (size_t)(comma - rest->p)});
    rest->len -= (size_t)(comma - rest->p) + 1;
    rest->p = comma + 1;
    return true;
}

/* The CORS-safelisted request headers, always allowed (as Starlette does). */
static bool cors_is_safelisted(struct ag_str name)
{
    return ag_str_ieq(name, "Accept") || ag_str_ieq(name, "Accept-Language") ||
           ag_str_ieq(name, "Content-Language") || ag_str_ieq(name, "Content-Type");
}

/* Whether every element of the Access-Control-Request-Headers value <list> is allowed. */
static bool cors_headers_ok(const struct ag_cors_config *cc, struct ag_str list)
{
    struct ag_str rest = list, item;
    bool started = false;

    while (cors_next(&rest, &item, &started)) {
        bool ok = false;

        if (!cors_is_token(item))
            return false; /* also what makes echoing the list back safe */
        if (cc->any_header || cors_is_safelisted(item))
            continue;
        for (size_t i = 0; i < cc->n_headers && !ok; i++)
            ok = strlen(cc->headers[i]) == item.len &&
                 strncasecmp(cc->headers[i], item.p, item.len) == 0;
        if (!ok)
            return false;
    }
    return true;
}

void ag_cors_preflight(const struct ag_cors_config *cc, const struct ag_cors_req *r,
                       struct ag_cors_verdict *v)
{
    v->st = AG_CORS_REFUSED;
    v->bad = 0;
    v->allow_origin = ag_cors_allow_origin(cc, r);
    if (v->allow_origin == NULL)
        v->bad |= AG_CORS_BAD_ORIGIN;
    if (!(r->flags & AG_CORS_F_METHOD) || (r->flags & AG_CORS_F_DUP) ||
        !cors_method_ok(cc, r->method))
        v->bad |= AG_CORS_BAD_METHOD;
    if ((r->flags & AG_CORS_F_HEADERS) &&
        ((r->flags & AG_CORS_F_DUP) || !cors_headers_ok(cc, r->headers)))
        v->bad |= AG_CORS_BAD_HEADERS;
    if (v->bad == 0)
        v->st = AG_CORS_OK;
}

const char *ag_cors_refusal_body(unsigned bad, size_t *len)
{
    /* Starlette's words, one entry per combination of AG_CORS_BAD_* bits. */
    static const char *const bodies[8] = {
        "{\"detail\":\"Disallowed CORS request\"}",
        "{\"detail\":\"Disallowed CORS origin\"}",
        "{\"detail\":\"Disallowed CORS method\"}",
        "{\"detail\":\"Disallowed CORS origin, method\"}",
        "{\"detail\":\"Disallowed CORS headers\"}",
        "{\"detail\":\"Disallowed CORS origin, headers\"}",
        "{\"detail\":\"Disallowed CORS method, headers\"}",
        "{\"detail\":\"Disallowed CORS origin, method, headers\"}",
    };
    const char *b = bodies[bad & 7];

    *len = strlen(b);
    return b;
}

size_t ag_cors_allow_headers(const struct ag_cors_req *r, char *buf, size_t cap)
{
    /* Rebuilt from checked tokens, lower-cased: never the client's bytes as they came. */
    struct ag_str rest = r->headers, item;
    bool started = false, any = false;
    size_t len = 0;

    if (!(r->flags & AG_CORS_F_HEADERS))
        return 0;
    if (buf == NULL)
        cap = 0;
    while (cors_next(&rest, &item, &started)) {
        if (any) {
            if (len + 2 <= cap)
                memcpy(buf + len, ", ", 2);
            len += 2;
        }
        any = true;
        for (size_t i = 0; i < item.len; i++, len++) {
            char ch = item.p[i];
            if (len < cap)
                buf[len] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
        }
    }
    return len;
}
