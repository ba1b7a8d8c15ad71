/*
 * gateway/ep/webhook.h - one-shot JSON POSTs to the configured password-reset webhook,
 * from a worker's event loop: connect, send, read the status line, log the outcome.
 *
 * Owns:     each delivery in flight (freed when it ends, fails or times out).
 * Entry:    ag_webhook_post().
 * Not here: what is sent (gateway/ep/ep_account.c), resolving the address (gateway/server.c).
 * Spec:     docs/users.md "Password reset".
 */
#ifndef AG_GATEWAY_WEBHOOK_H
#define AG_GATEWAY_WEBHOOK_H

#include <stddef.h>

struct event_base;
struct ag_gen;

/**
 * POSTs the JSON <body,len> (copied) to <g>'s password-reset webhook on <base>; fire and
 * forget: a failure or a non-2xx answer is logged (never the body), within 5 s.
 */
void ag_webhook_post(struct event_base *base, const struct ag_gen *g, const char *body,
                     size_t len);

#endif
