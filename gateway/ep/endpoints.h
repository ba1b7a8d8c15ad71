/*
 * gateway/ep/endpoints.h - the gateway's own endpoints under auth-prefix, as the request
 * core sees them: start one, run it, feed it client input, detach it (through
 * w->ep_ops, filled in by gateway/worker.c). The framework and the route table behind
 * these: gateway/ep/ep.h.
 *
 * Owns:     struct ag_ep: one endpoint request in progress (opaque here).
 * Entry:    ag_ep_new(), ag_ep_must_wait(), ag_ep_run(), ag_ep_on_client_input(),
 *           ag_ep_detach().
 * Not here: sessions in Redis (store/session.c), token cryptography (policy/jwt.c),
 *           the connection and its keep-alive (gateway/core/conn.c), replies
 *           (ag_req_reply(), gateway/core/req.h).
 * Spec:     CONTRACT.md sections 5, 7, 8; docs/endpoints.md.
 */
#ifndef AG_GATEWAY_ENDPOINTS_H
#define AG_GATEWAY_ENDPOINTS_H

#include <stddef.h>
#include <stdint.h>

#include "csrf.h"
#include "http1.h"

struct ag_req;
struct ag_ep;
struct ag_worker;

#define AG_EP_MAX_BODY 16384 /* bytes of a JSON body the endpoints accept */

/**
 * Starts endpoint request <req> whose normalised <path> lies under auth-prefix:
 * copies from <h> (valid until the head is drained) all it needs. Returns a new
 * struct ag_ep owned by <req> (freed through ag_ep_detach()), or NULL on OOM.
 */
struct ag_ep *ag_ep_new(struct ag_req *req, const struct ag_http1_head *h,
                        const struct ag_http1_info *info, struct ag_str path, struct ag_str query);

/**
 * Runs <ep> once its head was drained from the input: answers at once, collects
 * the body first, or issues a store call whose callback answers. Every path ends
 * in exactly one ag_req_reply*() or ag_req_fail() (STYLE R8).
 */
void ag_ep_run(struct ag_ep *ep);

/**
 * Whether <ep> needs the store (or, AG_EP_F_SYNC, carries a token that holds while the
 * revocations are not loaded) and the worker's store has not been ready yet since the
 * start (CONTRACT.md sections 2, 8): the caller then parks the request until it is, or
 * until the store's connect timeout, instead of a 503 at once (gateway/core/conn.c).
 */
bool ag_ep_must_wait(const struct ag_ep *ep);

/** More client input arrived for endpoint request <req> (its body). */
void ag_ep_on_client_input(struct ag_req *req);

/**
 * <req> is being freed: its ep forgets it. An ep waiting on the store stays until
 * the store's callback, which then frees it without touching the request (STYLE R4).
 */
void ag_ep_detach(struct ag_req *req);

struct ag_gen;
struct ag_config;
struct ag_http1_head;

/** The CSRF verdict (policy/csrf.c ag_csrf_verdict()) on the fields of <h> under <cfg>. */
enum ag_csrf ag_ep_csrf(const struct ag_config *cfg, const struct ag_http1_head *h);

/** A random UUID v4 (RFC 9562 section 5.4) in <out> (37 bytes): client and user ids. */
void ag_ep_uuid4(char out[37]);

/**
 * A password reset token for user <uid> whose current hash is <hash>: single use, valid
 * password-reset.ttl seconds from <now>, dead once the password changes. New string,
 * or NULL (no key, OOM). For `authgate reset-link` and POST <auth-prefix>/password/forgot.
 */
char *ag_ep_reset_token(const struct ag_gen *g, const char *uid, const char *hash, int64_t now);

struct ag_users_change;

/**
 * Sets in <c> how long the revocations of an admin change live under <cfg> from <now>
 * (store/users.h): for the admin API (gateway/ep/ep_admin.c) and `authgate user`.
 */
void ag_ep_admin_windows(const struct ag_config *cfg, int64_t now, struct ag_users_change *c);

struct ag_worker;

/**
 * The request core's hooks for API keys (struct ag_ep_ops, gateway/ep/ep_apikeys.c):
 * starts the Redis lookup of key id <id>, whose pending entry is in <w>'s cache (0, or -1
 * when the store is not ready); records a use of key <id> (fire and forget).
 */
int ag_ep_apikey_lookup(struct ag_worker *w, struct ag_str id);
void ag_ep_apikey_touch(struct ag_worker *w, struct ag_str id);

#endif
