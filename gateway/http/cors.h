/*
 * gateway/http/cors.h - CORS as Starlette's CORSMiddleware does it: which requests
 * are preflights, whether an origin, method and requested headers are allowed,
 * and the response header lines that say so. Pure functions over slices.
 *
 * Owns:     nothing; reads the generation's struct ag_cors_config.
 * Entry:    ag_cors_find(), ag_cors_allow_origin(), ag_cors_preflight(),
 *           ag_cors_preflight_headers(), ag_cors_resp_headers().
 * Not here: the "cors" key (policy/config_cors.c), answering (gateway/core/conn.c), proxied
 *           responses (gateway/core/proxy.c resp_head()).
 * Spec:     Fetch standard, "CORS protocol"; docs/cors.md.
 */
#ifndef AG_GATEWAY_CORS_H
#define AG_GATEWAY_CORS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "http1.h"

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

/** Fills <r> from the fields of <h>. */
void ag_cors_find(const struct ag_http1_head *h, struct ag_cors_req *r);

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
 * Writes the header lines of an allowed preflight's answer (<v> from
 * ag_cors_preflight()) to <buf> when they fit in <cap> bytes (no NUL added).
 * Returns their length, also when it is over <cap> (<buf> may then be NULL).
 */
size_t ag_cors_preflight_headers(const struct ag_cors_config *cc, const struct ag_cors_verdict *v,
                                 const struct ag_cors_req *r, char *buf, size_t cap);

/**
 * Writes the header lines of an actual response for the allowed <origin>
 * (from ag_cors_allow_origin()) to <buf>, like ag_cors_preflight_headers().
 */
size_t ag_cors_resp_headers(const struct ag_cors_config *cc, const char *origin, char *buf,
                            size_t cap);

/** Whether <name> is a response field the gateway writes itself when CORS applies. */
bool ag_cors_is_resp_header(struct ag_str name);

#endif
