/*
 * policy/cors.h - CORS as Starlette's CORSMiddleware does it: which requests
 * are preflights, whether an origin, method and requested headers are allowed.
 * Pure functions over slices.
 *
 * Owns:     nothing; reads the generation's struct ag_cors_config.
 * Entry:    ag_cors_note(), ag_cors_is_preflight(), ag_cors_allow_origin(),
 *           ag_cors_preflight(), ag_cors_allow_headers(), ag_cors_refusal_body().
 * Not here: the "cors" key (policy/config_cors.c), the header lines and reading them
 *           from a head (gateway/http/cors_http.c), answering (gateway/core/conn.c, proxy.c).
 * Spec:     Fetch standard, "CORS protocol"; docs/cors.md.
 */
#ifndef AG_POLICY_CORS_H
#define AG_POLICY_CORS_H

#include <stdbool.h>
#include <stddef.h>

#include "base.h"
#include "config.h"

#define AG_CORS_F_ORIGIN 0x0001  /* an Origin field is present */
#define AG_CORS_F_METHOD 0x0002  /* an Access-Control-Request-Method field is present */
#define AG_CORS_F_HEADERS 0x0004 /* an Access-Control-Request-Headers field is present */
#define AG_CORS_F_DUP 0x0008     /* one of the three came twice: nothing is allowed */

/* The request fields CORS looks at: slices into the head, valid while it is. */
struct ag_cors_req {
    struct ag_str origin;  /* Origin */
    struct ag_str method;  /* Access-Control-Request-Method */
    struct ag_str headers; /* Access-Control-Request-Headers */
    unsigned flags;        /* AG_CORS_F_* */
};

/* Preflight verdicts: zero is the failing value; compare with AG_CORS_OK only. */
enum ag_cors_status {
    AG_CORS_REFUSED = 0,
    AG_CORS_OK = 1,
};

#define AG_CORS_BAD_ORIGIN 0x0001  /* the origin is not allowed */
#define AG_CORS_BAD_METHOD 0x0002  /* the requested method is not allowed */
#define AG_CORS_BAD_HEADERS 0x0004 /* a requested header is not allowed (or not a token) */

struct ag_cors_verdict {
    enum ag_cors_status st;
    unsigned bad;             /* AG_CORS_BAD_*, when refused */
    const char *allow_origin; /* "*" or the config's origin (borrowed), or NULL */
};

/**
 * Keeps the field <name>: <value> in <r> (zeroed before the first field) when it is one
 * CORS reads; a second one of a kind sets AG_CORS_F_DUP.
 */
void ag_cors_note(struct ag_cors_req *r, struct ag_str name, struct ag_str value);

/** Whether <method> with <r> is a preflight: OPTIONS, Origin and Access-Control-Request-Method. */
bool ag_cors_is_preflight(struct ag_str method, const struct ag_cors_req *r);

/**
 * What Access-Control-Allow-Origin says for <r> under <cc>: "*" (any origin,
 * static) or the config's copy of the origin (borrowed, valid as long as <cc>),
 * or NULL when there is no Origin, it came twice or it is not allowed.
 */
const char *ag_cors_allow_origin(const struct ag_cors_config *cc, const struct ag_cors_req *r);

/** Judges the preflight <r> under <cc> into <v>: origin, method, every requested header. */
void ag_cors_preflight(const struct ag_cors_config *cc, const struct ag_cors_req *r,
                       struct ag_cors_verdict *v);

/** The static JSON body refusing a preflight for <bad>: {"detail":"Disallowed CORS origin"}. */
const char *ag_cors_refusal_body(unsigned bad, size_t *len);

/**
 * The value of Access-Control-Allow-Headers for the allowed preflight <r>: the requested
 * names lower-cased, joined by ", " (checked tokens, never the client's bytes as they
 * came). Written to <buf> as far as <cap> allows (no NUL; <buf> may be NULL); returns
 * its whole length, 0 when <r> asks for no header.
 */
size_t ag_cors_allow_headers(const struct ag_cors_req *r, char *buf, size_t cap);

#endif
