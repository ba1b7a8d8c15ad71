/*
 * gateway/core/access.h - the access decision on a request for the upstream: what its
 * method and normalised path need (policy/rules.c) and whether its credentials satisfy
 * that (gateway/auth/authn.c), the cross-site check of cookie-carried writes included.
 *
 * Owns:     nothing.
 * Entry:    ag_access_decide().
 * Not here: normalising the path (policy/path.c), the refusal's bytes (ag_req_refuse(),
 *           req.c), waiting for the revocations (conn.c parks, the verify endpoint waits).
 * Spec:     CONTRACT.md sections 4, 6 and 11 (forward-auth); docs/forward-auth.md.
 */
#ifndef AG_GATEWAY_ACCESS_H
#define AG_GATEWAY_ACCESS_H

#include "authn.h"
#include "http1.h"
#include "rules.h"

struct ag_worker;
struct ag_gen;

/**
 * Decides whether a request with <method> on the normalised <path>, carrying the fields
 * of <h>, from <from> (ag_authn_check()), may go to the upstream under generation <g>: fills <v> (what the path needs,
 * and its route) and <a> (AG_AUTHN_OK with the identity, or the refusal for
 * ag_req_refuse()). The one decision of both the proxy path (gateway/core/conn.c) and
 * forward-auth (GET <auth-prefix>/verify, gateway/ep/ep_verify.c). No I/O.
 */
void ag_access_decide(struct ag_worker *w, const struct ag_gen *g, struct ag_str method,
                      struct ag_str path, const struct ag_http1_head *h,
                      const struct ag_authn_from *from, struct ag_rules_verdict *v,
                      struct ag_authn *a);

#endif
