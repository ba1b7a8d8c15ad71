/*
 * gateway/ep/route.h - the route table of the gateway's own endpoints: one row per method
 * and path, saying what the request must bring (its authentication, its body) before the
 * row's handler runs, and the matcher that finds the row of a request.
 *
 * Owns:     struct ag_ep_route (rows are static: gateway/ep/routes.c holds the table).
 * Entry:    ag_ep_route_match(), ag_ep_route_allow().
 * Not here: running a route (gateway/ep/endpoints.c), the handlers (ep_*.c).
 * Spec:     CONTRACT.md section 7; docs/endpoints.md "Writing an endpoint".
 */
#ifndef AG_GATEWAY_ROUTE_H
#define AG_GATEWAY_ROUTE_H

#include <stddef.h>

#include "base.h"
#include "userin.h"

struct ag_ep;

/** A handler, or the step that follows a store call or pool job (gateway/ep/ep.h). */
typedef void ag_ep_fn(struct ag_ep *ep);

/* What a route asks of the caller before its handler runs (gateway/ep/endpoints.c). */
enum ag_ep_auth {
    AG_EP_OPEN = 0,     /* anyone */
    AG_EP_MASTER = 1,   /* the master token while token-new-requires-master is on (else open) */
    AG_EP_IDENTITY = 2, /* a valid access token, a client's or a user's */
    AG_EP_USER = 3,     /* a valid access token of a user; a client's: 404 "User not found" */
    AG_EP_ADMIN = 4,    /* the master token, or a user's access token with the role
                           "superuser"; "staff" suffices for GET and HEAD (CONTRACT.md 13) */
    AG_EP_AUDIT = 5,    /* the master token, or an access token with the scope "audit:write" */
};

#define AG_EP_F_STORE 0x01  /* needs the store: a request at start-up waits for it (CONTRACT.md 2) */
#define AG_EP_F_ORIGIN 0x02 /* refuses a foreign Origin (403): it sets cookies or acts for anyone */
#define AG_EP_F_CSRF 0x04   /* changes state: an access token from the cookie must pass CSRF (403) */
#define AG_EP_F_SYNC 0x08   /* at the start, waits while a token it carries holds but the
                               revocations are not loaded, as a proxied request does (CONTRACT.md 8) */
#define AG_EP_F_REFRESH 0x10 /* AG_EP_IDENTITY: without a valid access token the handler runs
                               all the same, to judge a refresh token (POST /logout); it answers
                               the access token's 401 itself (ag_ep_reply_no_access()) */

#define AG_EP_MAX_PARAMS 2 /* "{}" segments in one path */

struct ag_ep_route {
    const char *method;     /* "GET", "POST", ...; one per row */
    const char *path;       /* under auth-prefix; a "{}" segment matches one non-empty segment */
    enum ag_ep_auth auth;
    unsigned flags;         /* AG_EP_F_* */
    enum ag_body_type body; /* the Content-Type the body must have (else 415); 0: any */
    size_t body_max;        /* bytes of body collected before the handler (else 413); 0: none */
    ag_ep_fn *handler;
};

#define AG_EP_ROUTE_NO_PATH (-1)   /* no row has this path: 404 */
#define AG_EP_ROUTE_NO_METHOD (-2) /* rows have this path, none this method: 405 */

/**
 * The row of table <t> (<n> rows) for <method> (any case, as clients send it) and <path>
 * (the part after auth-prefix): its index, or AG_EP_ROUTE_NO_PATH / AG_EP_ROUTE_NO_METHOD.
 * The first matching row wins. On a match, <params> holds the "{}" segments in order
 * (slices of <path>) and <*nparams> their count.
 */
int ag_ep_route_match(const struct ag_ep_route *t, size_t n, struct ag_str method,
                      struct ag_str path, struct ag_str params[AG_EP_MAX_PARAMS],
                      size_t *nparams);

/**
 * The methods of the rows of <t> whose path matches <path>, in table order, as an Allow
 * value ("GET, HEAD") into <out> (<cap> bytes, NUL-terminated, cut short if need be).
 * Returns its length; 0 when no row has the path.
 */
size_t ag_ep_route_allow(const struct ag_ep_route *t, size_t n, struct ag_str path, char *out,
                         size_t cap);

#endif
