/*
 * gateway/core/proxy.h - forwarding one request: the upstream request head, the
 * request body pump, the response head and body relay, the websocket tunnel,
 * backpressure in both directions, one retry on a stale pooled connection.
 *
 * Owns:     nothing beyond the request's upstream state (struct ag_req fields).
 * Entry:    ag_proxy_start(), ag_proxy_on_client_input(), ag_proxy_on_client_drained(),
 *           ag_proxy_tunnel_revoke().
 * Not here: reading the request head and routing (gateway/core/conn.c).
 * Spec:     RFC 9112 sections 6-7 and 9.6; SECURITY-BASELINE.md framing rules 4, 9, 10.
 */
#ifndef AG_GATEWAY_PROXY_H
#define AG_GATEWAY_PROXY_H

#include "base.h"
#include "http1.h"

struct ag_req;
struct ag_uconn;
struct ag_authn;

/**
 * Starts forwarding <req>, whose head <h> (framing <info>) passed every check.
 * <path> is the normalised path, <query> the query slice (p NULL when none),
 * <a> the authentication result (its identity goes upstream), <up> the upstream
 * (index into the generation's ups).
 * Writes the upstream head and picks an upstream connection. Slices in <h> must
 * stay valid until it returns; the caller then drains the client head and calls
 * ag_proxy_on_client_input() to pump any body already buffered. Returns 0, or
 * -1 after failing <req> itself (ag_req_fail: nothing more to do).
 */
int ag_proxy_start(struct ag_req *req, const struct ag_http1_head *h,
                   const struct ag_http1_info *info, struct ag_str path, struct ag_str query,
                   const struct ag_authn *a, unsigned up);

/** New client bytes for <req> (request body or tunnel data). */
void ag_proxy_on_client_input(struct ag_req *req);

/** Events of <u>'s socket while it serves a request (gateway/core/upstream.c dispatches here). */
void ag_proxy_on_upstream_io(struct ag_uconn *u, short what);

/** The client closed its side of a tunnel: flush what it sent, then close both. */
void ag_proxy_on_client_eof(struct ag_req *req);

/** The client output drained below its low watermark: resume reading the upstream. */
void ag_proxy_on_client_drained(struct ag_req *req);

/**
 * The credential that let the tunnel <req> through has been revoked (core/live.c): the
 * client is no longer read, the rest of the upstream's frame under way is relayed
 * (bounded by AG_TMO_REVOKED), then a Close frame with 1008 goes to the client, the
 * upstream connection is closed, and the client's after the flush.
 */
void ag_proxy_tunnel_revoke(struct ag_req *req);


#endif
