/*
 * gateway/http/cors_http.h - CORS at the HTTP edge: the fields a head carries for the
 * verdicts of policy/cors.c, and the response header lines that tell the browser
 * what was allowed.
 *
 * Owns:     nothing; reads the generation's struct ag_cors_config.
 * Entry:    ag_cors_find(), ag_cors_preflight_headers(), ag_cors_resp_headers(),
 *           ag_cors_is_resp_header().
 * Not here: the verdicts (policy/cors.c), answering (gateway/core/conn.c), proxied responses
 *           (gateway/core/proxy.c resp_head()).
 * Spec:     Fetch standard, "CORS protocol"; docs/cors.md.
 */
#ifndef AG_GATEWAY_CORS_HTTP_H
#define AG_GATEWAY_CORS_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "cors.h"
#include "http1.h"

/** Fills <r> from the fields of <h> (ag_cors_note() for each). */
void ag_cors_find(const struct ag_http1_head *h, struct ag_cors_req *r);

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
