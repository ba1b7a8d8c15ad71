/*
 * gateway/core/live.h - the worker's index of live exchanges: every proxied request in
 * flight (a response under way, a WebSocket tunnel) that a revocable credential let
 * through, with a copy of that credential's identity, and the sweep that closes those
 * whose credential has been revoked since.
 *
 * Owns:     struct ag_live (req->live: allocated by the first indexed request of a
 *           recycled struct ag_req, kept with it, grown when an identity is longer) and
 *           the list of the indexed ones, w->live.
 * Entry:    ag_live_add(), ag_live_remove(), ag_live_schedule(), ag_live_wake_key(),
 *           ag_live_clear().
 * Not here: where revocations come from (gateway/worker.c on_feed(), policy/revoke.c),
 *           the check itself (ag_authn_live(), gateway/auth/authn.c), the tunnel's Close
 *           frame at a frame boundary (ag_proxy_tunnel_revoke(), proxy.c).
 * Spec:     CONTRACT.md section 15; docs/request-lifecycle.md "Revoked while live".
 */
#ifndef AG_GATEWAY_LIVE_H
#define AG_GATEWAY_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "authn.h"

struct ag_req;
struct ag_worker;

/* What an exchange let through by an API key waits for (ag_authn_live()). */
enum ag_live_key {
    AG_LIVE_KEY_NONE,
    AG_LIVE_KEY_OTHER, /* a lookup of its key another request sent */
    AG_LIVE_KEY_OWN,   /* the lookup it sent, after its owner's watermark */
};

/* Lookups an exchange sends in a row before it is closed (ag_live_wake_key()). */
#define AG_LIVE_KEY_LOOKUPS 3

struct ag_live {
    LIST_ENTRY(ag_live) entry;   /* in w->live while <on> */
    struct ag_req *req;
    struct ag_authn_cred cred;   /* slices into data[] */
    bool on;                     /* indexed: its request is upstream */
    enum ag_live_key key_wait;   /* its API key's lookup it waits for: judged when it is back */
    unsigned key_lookups;        /* lookups it sent since it last held */
    size_t cap;                  /* bytes of data[] */
    char data[];
};

/**
 * Indexes <req>, about to go upstream, when its credential <a> (AG_AUTHN_OK) can be
 * revoked: an access token or an API key, not the master token nor an open path. Copies
 * the identity (the head it came in does not live as long as a tunnel). On OOM the
 * request is not indexed and -1 is returned: the caller refuses it (fail closed).
 */
int ag_live_add(struct ag_req *req, const struct ag_authn *a);

/** Takes <req> out of the index (its copy stays with it for reuse); nothing when it is not indexed. */
void ag_live_remove(struct ag_req *req);

/**
 * A revocation arrived (the feed, a replay after a reconnect): one sweep of w->live runs
 * from the loop soon, however many come before it (a burst, a replay, is one sweep).
 */
void ag_live_schedule(struct ag_worker *w);

/**
 * The lookup of API key <id> is back (its cache entry filled), or <failed> (the store):
 * the exchanges that waited for it are judged again, the revoked ones closed; a failure
 * closes them all (fail closed).
 */
void ag_live_wake_key(struct ag_worker *w, struct ag_str id, bool failed);

/** Frees the sweep's event when the worker ends (its requests are gone by then). */
void ag_live_clear(struct ag_worker *w);

#endif
