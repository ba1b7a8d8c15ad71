/*
 * gateway/http/cors_http.c - CORS at the HTTP edge: reading the fields policy/cors.c judges
 * from a head, and writing the header lines of an allowed preflight or response.
 *
 * Owns:     nothing; every line is built from the config and checked values.
 * Entry:    ag_cors_find(), ag_cors_preflight_headers(), ag_cors_resp_headers(),
 *           ag_cors_is_resp_header().
 * Not here: the verdicts (policy/cors.c), parsing "cors" (policy/config_cors.c),
 *           writing replies (gateway/core/req.c, proxy.c).
 * Spec:     Fetch standard, "CORS protocol" (3.2.2-3.2.5); docs/cors.md.
 */
#include "cors_http.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------- the request's fields */

void ag_cors_find(const struct ag_http1_head *h, struct ag_cors_req *r)
{
    memset(r, 0, sizeof(*r));
    for (size_t i = 0; i < h->nhdrs; i++)
        ag_cors_note(r, h->hdrs[i].name, h->hdrs[i].value);
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
    size_t hlen;
    char num[24];

    cors_common(&o, cc, v->allow_origin);
    cors_lit(&o, "Access-Control-Allow-Methods: ");
    if (cc->methods_line != NULL)
        cors_puts(&o, cc->methods_line);
    else
        cors_put(&o, r->method.p, r->method.len); /* "*": the token asked for */
    cors_lit(&o, "\r\n");
    hlen = ag_cors_allow_headers(r, NULL, 0);
    if (hlen > 0) {
        cors_lit(&o, "Access-Control-Allow-Headers: ");
        if (o.len + hlen <= o.cap)
            ag_cors_allow_headers(r, o.p + o.len, hlen);
        o.len += hlen;
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
