/*
 * gateway/http/cors.c - CORS decisions and header lines (Starlette's CORSMiddleware
 * semantics): preflight detection, origin / method / requested-headers checks.
 *
 * Owns:     nothing; every result is borrowed from the config or static.
 * Entry:    ag_cors_find(), ag_cors_allow_origin(), ag_cors_preflight(),
 *           ag_cors_preflight_headers(), ag_cors_resp_headers().
 * Not here: parsing "cors" (policy/config_cors.c), writing replies (gateway/core/req.c, proxy.c).
 * Spec:     Fetch standard, "CORS protocol" (3.2.2-3.2.5); docs/cors.md.
 */
#include "cors.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------- the request's fields */

void ag_cors_find(const struct ag_http1_head *h, struct ag_cors_req *r)
{
    memset(r, 0, sizeof(*r));
    for (size_t i = 0; i < h->nhdrs; i++) {
        struct ag_str name = h->hdrs[i].name;
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
            continue;
        }
        if (r->flags & bit)
            r->flags |= AG_CORS_F_DUP; /* ambiguous: which one would the browser mean? */
        r->flags |= bit;
        *slot = h->hdrs[i].value;
    }
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

static bool cors_is_ows(char ch)
{
    return ch == ' ' || ch == '\t';
}

static struct ag_str cors_trim(struct ag_str s)
{
    while (s.len > 0 && cors_is_ows(s.p[0])) {
        s.p++;
        s.len--;
    }
    while (s.len > 0 && cors_is_ows(s.p[s.len - 1]))
        s.len--;
    return s;
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
        *rest = cors_trim(*rest);
        *started = true;
        if (rest->len == 0)
            return false;
    } else if (rest->p == NULL) {
        return false;
    }
    comma = memchr(rest->p, ',', rest->len);
    if (comma == NULL) {
        *item = cors_trim(*rest);
        rest->p = NULL;
        rest->len = 0;
        return true;
    }
    *item = cors_trim((struct ag_str){rest->p, (size_t)(comma - rest->p)});
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

/* ---------------------------------------------------------------- header lines */

/* A bounded writer that keeps counting past its end, like snprintf. */
struct cors_out {
    char *p;
    size_t len, cap;
};

static void cors_put(struct cors_out *o, const char *s, size_t n)
{
    if (o->len + n <= o->cap)
        memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void cors_puts(struct cors_out *o, const char *s)
{
    cors_put(o, s, strlen(s));
}

#define cors_lit(o, s) cors_put((o), (s), sizeof(s) - 1)

/* The lines every allowed CORS answer carries: origin, credentials. */
static void cors_common(struct cors_out *o, const struct ag_cors_config *cc, const char *origin)
{
    cors_lit(o, "Access-Control-Allow-Origin: ");
    cors_puts(o, origin);
    cors_lit(o, "\r\n");
    if (cc->credentials)
        cors_lit(o, "Access-Control-Allow-Credentials: true\r\n");
}

size_t ag_cors_preflight_headers(const struct ag_cors_config *cc, const struct ag_cors_verdict *v,
                                 const struct ag_cors_req *r, char *buf, size_t cap)
{
    struct cors_out o = {buf, 0, buf != NULL ? cap : 0};
    char num[24];

    cors_common(&o, cc, v->allow_origin);
    cors_lit(&o, "Access-Control-Allow-Methods: ");
    if (cc->methods_line != NULL)
        cors_puts(&o, cc->methods_line);
    else
        cors_put(&o, r->method.p, r->method.len); /* "*": the token asked for */
    cors_lit(&o, "\r\n");
    if (r->flags & AG_CORS_F_HEADERS) {
        /* Rebuilt from checked tokens, lower-cased: never the client's bytes as they came. */
        struct ag_str rest = r->headers, item;
        bool started = false, any = false;

        while (cors_next(&rest, &item, &started)) {
            if (!any)
                cors_lit(&o, "Access-Control-Allow-Headers: ");
            else
                cors_lit(&o, ", ");
            any = true;
            for (size_t i = 0; i < item.len; i++) {
                char ch = item.p[i];
                ch = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
                cors_put(&o, &ch, 1);
            }
        }
        if (any)
            cors_lit(&o, "\r\n");
    }
    snprintf(num, sizeof(num), "%ld", cc->max_age);
    cors_lit(&o, "Access-Control-Max-Age: ");
    cors_puts(&o, num);
    cors_lit(&o, "\r\nVary: Origin\r\n");
    return o.len;
}

size_t ag_cors_resp_headers(const struct ag_cors_config *cc, const char *origin, char *buf,
                            size_t cap)
{
    struct cors_out o = {buf, 0, buf != NULL ? cap : 0};

    cors_common(&o, cc, origin);
    if (cc->expose_line != NULL) {
        cors_lit(&o, "Access-Control-Expose-Headers: ");
        cors_puts(&o, cc->expose_line);
        cors_lit(&o, "\r\n");
    }
    /* Whether these lines appear depends on Origin: caches must key on it. */
    cors_lit(&o, "Vary: Origin\r\n");
    return o.len;
}

bool ag_cors_is_resp_header(struct ag_str name)
{
    return name.len > 22 && strncasecmp(name.p, "Access-Control-", 15) == 0 &&
           (ag_str_ieq(name, "Access-Control-Allow-Origin") ||
            ag_str_ieq(name, "Access-Control-Allow-Credentials") ||
            ag_str_ieq(name, "Access-Control-Expose-Headers"));
}
