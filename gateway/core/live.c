/*
 * gateway/core/live.c - the worker's index of live exchanges and its sweep: a request
 * let through by an access token or an API key is indexed while it is upstream (its
 * response head not yet come, its body under way, or a tunnel); when a revocation
 * arrives, one deferred sweep re-judges each with the very check a new request gets
 * (ag_authn_live()) and ends the revoked ones; an API key whose owner changed is looked
 * up again first, as a new request's would be.
 *
 * Owns:     struct ag_live and w->live; the sweep's event w->live_ev. The copy is kept
 *           with its recycled request (freed by ag_req_free_recycled()), so that a
 *           request costs a few copies and two list operations, no allocation.
 * Entry:    ag_live_add(), ag_live_remove(), ag_live_schedule(), ag_live_wake_key(),
 *           ag_live_clear().
 * Not here: the tunnel's Close frame at a frame boundary (ag_proxy_tunnel_revoke(),
 *           proxy.c); the revocation set
 *           (policy/revoke.c), filled by the feed (gateway/worker.c).
 * Spec:     CONTRACT.md section 15; docs/request-lifecycle.md "Revoked while live".
 */
#include "live.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/event.h>

#include "conn.h"
#include "keycache.h"
#include "log.h"
#include "proxy.h"
#include "req.h"
#include "worker_types.h"

/* Copies <s> to <*p> and points <d> at the copy. */
static void live_copy(char **p, struct ag_str *d, struct ag_str s)
{
    if (s.len > 0)
        memcpy(*p, s.p, s.len);
    *d = (struct ag_str){*p, s.len};
    *p += s.len;
}

int ag_live_add(struct ag_req *req, const struct ag_authn *a)
{
    struct ag_worker *w = req->c->w;
    struct ag_live *l = req->live;
    bool is_key = a->src == AG_AUTHN_SRC_APIKEY;
    struct ag_str none = {NULL, 0}, key = is_key ? a->key_id : none;
    struct ag_str scopes = is_key ? a->scopes : none, roles = is_key ? a->roles : none;
    size_t need;
    char *p;

    if (!a->identity)
        return 0; /* the master token, an open path: nothing can revoke them */
    need = a->jti.len + a->sid.len + a->sub.len + key.len + scopes.len + roles.len;
    if (l == NULL || l->cap < need) {
        /* Room for a usual identity at once: ids of 36-43 bytes (uuid, base64url). */
        size_t cap = need > 192 ? need : 192;
        if ((l = realloc(l, sizeof(*l) + cap)) == NULL)
            return -1; /* req->live is still the old one, or NULL */
        l->cap = cap;
        req->live = l;
    }
    p = l->data;
    live_copy(&p, &l->cred.jti, a->jti);
    live_copy(&p, &l->cred.sid, a->sid);
    live_copy(&p, &l->cred.sub, a->sub);
    live_copy(&p, &l->cred.key, key);
    live_copy(&p, &l->cred.scopes, scopes);
    live_copy(&p, &l->cred.roles, roles);
    l->cred.iat = a->iat;
    l->req = req;
    l->on = true;
    l->key_wait = AG_LIVE_KEY_NONE;
    l->key_lookups = 0;
    LIST_INSERT_HEAD(&w->live, l, entry);
    return 0;
}

/* Sets what <l> waits for; those waiting are counted in w->n_live_key_wait. */
static void live_key_wait(struct ag_worker *w, struct ag_live *l, enum ag_live_key wait)
{
    if ((l->key_wait != AG_LIVE_KEY_NONE) != (wait != AG_LIVE_KEY_NONE))
        w->n_live_key_wait += wait != AG_LIVE_KEY_NONE ? 1 : (size_t)-1;
    l->key_wait = wait;
}

void ag_live_remove(struct ag_req *req)
{
    struct ag_live *l = req->live;

    if (l == NULL || !l->on)
        return;
    live_key_wait(req->c->w, l, AG_LIVE_KEY_NONE);
    LIST_REMOVE(l, entry);
    l->on = false;
}

/*
 * Ends <req>, whose credential was revoked: logged (the request id, never the credential)
 * and counted. A tunnel gets its Close frame at the upstream's next frame boundary
 * (ag_proxy_tunnel_revoke()); a request waiting for or receiving its response is cut, so
 * the client never sees a clean end of body.
 */
static void live_close(struct ag_req *req)
{
    struct ag_worker *w = req->c->w;
    bool tunnel = req->state == AG_REQ_TUNNEL;

    ag_live_remove(req);
    ag_stats_inc(&w->stats.revoked_closed[tunnel ? AG_STATS_REVOKED_TUNNEL
                                                 : AG_STATS_REVOKED_STREAM]);
    ag_log(AG_LOG_INFO, "connection closed: revoked; %s, status=%d id=%s",
           tunnel ? "websocket tunnel" : "response under way", req->status, req->id);
    req->flags |= AG_REQ_F_UP_CLOSE | AG_REQ_F_REVOKED;
    if (req->c->flags & AG_CONN_F_CLOSING) {
        /* Already ending (a peer closed its side): only its last flush is left, bounded. */
        ag_io_timeout(&req->c->io, w->tmo[AG_TMO_REVOKED]);
        return;
    }
    if (tunnel && req->u != NULL && !req->ws_up.broken) {
        ag_proxy_tunnel_revoke(req);
        return;
    }
    /* Cut: no last chunk, short of the length. A body the client reads to the close
     * (an HTTP/1.0 client's, whatever the upstream's framing) would look whole after a
     * FIN, so that socket is reset instead. */
    if (!tunnel && (req->flags & AG_REQ_F_RESP_HEAD) &&
        (req->resp_body == AG_BODY_CLOSE || req->resp_body == AG_BODY_CHUNKED) &&
        !(req->flags & AG_REQ_F_CHUNK_OUT))
        setsockopt(req->c->io.fd, SOL_SOCKET, SO_LINGER, &(struct linger){1, 0},
                   sizeof(struct linger));
    ag_req_abort(req);
}

/*
 * Judges <l> again at <now> (<at>: a sweep, or the answer of the lookup it waited for) and
 * acts on the verdict: a revoked one is closed (it leaves the index, no other entry
 * does); one whose API key must be looked up again sends the lookup from a sweep and
 * waits for it, at most AG_LIVE_KEY_LOOKUPS times in a row (an entry evicted from a full
 * key cache while its lookup was under way), then is closed.
 */
static void live_judge(struct ag_worker *w, struct ag_live *l, int64_t now,
                       enum ag_authn_live_at at)
{
    struct ag_req *req = l->req;

    switch (ag_authn_live(w, req->gen, &l->cred, now, at)) {
    case AG_AUTHN_LIVE_OK:
        live_key_wait(w, l, AG_LIVE_KEY_NONE);
        l->key_lookups = 0;
        return;
    case AG_AUTHN_LIVE_LOOKUP:
        if (at != AG_AUTHN_LIVE_AT_SWEEP) {
            /* Sent from the next sweep instead, once every answer of this read is in the
             * cache: a lookup sent now could evict the pending entry of one answered next. */
            ag_keycache_drop(w->kcache, l->cred.key);
            live_key_wait(w, l, AG_LIVE_KEY_NONE);
            ag_live_schedule(w);
            return;
        }
        if (l->key_lookups >= AG_LIVE_KEY_LOOKUPS || w->ep_ops->key_lookup(w, l->cred.key) < 0) {
            ag_keycache_drop(w->kcache, l->cred.key); /* the store is not ready: fail closed */
            break;
        }
        l->key_lookups++;
        live_key_wait(w, l, AG_LIVE_KEY_OWN);
        return;
    case AG_AUTHN_LIVE_WAIT:
        if (l->key_wait == AG_LIVE_KEY_NONE)
            live_key_wait(w, l, AG_LIVE_KEY_OTHER); /* a lookup another request sent */
        return;
    case AG_AUTHN_LIVE_REVOKED:
        break;
    }
    live_close(req); /* unindexes it */
}

/* Re-judges every indexed exchange (one waiting for its key's lookup goes on waiting,
 * unless its key was revoked meanwhile). */
static void on_live_sweep(evutil_socket_t fd, short what, void *arg)
{
    struct ag_worker *w = arg;
    int64_t now = ag_unix_now();
    struct ag_live *l, *next;

    (void)fd;
    (void)what;
    for (l = LIST_FIRST(&w->live); l != NULL; l = next) {
        next = LIST_NEXT(l, entry); /* closing <l>'s request unindexes <l> alone */
        live_judge(w, l, now, AG_AUTHN_LIVE_AT_SWEEP);
    }
}

void ag_live_wake_key(struct ag_worker *w, struct ag_str id, bool failed)
{
    int64_t now = ag_unix_now();
    struct ag_live *l, *next;

    for (l = LIST_FIRST(&w->live); l != NULL && w->n_live_key_wait > 0; l = next) {
        enum ag_live_key waited = l->key_wait;

        next = LIST_NEXT(l, entry);
        if (waited == AG_LIVE_KEY_NONE || l->cred.key.len != id.len ||
            memcmp(l->cred.key.p, id.p, id.len) != 0)
            continue;
        live_key_wait(w, l, AG_LIVE_KEY_NONE);
        if (failed)
            live_close(l->req); /* the store failed: fail closed, as a new request's 503 */
        else
            live_judge(w, l, now,
                       waited == AG_LIVE_KEY_OWN ? AG_AUTHN_LIVE_AT_OWN_ANSWER
                                                 : AG_AUTHN_LIVE_AT_ANSWER);
    }
}

void ag_live_schedule(struct ag_worker *w)
{
    if (LIST_EMPTY(&w->live))
        return; /* a request let through later is judged against the set as it is then */
    if (w->live_ev == NULL && (w->live_ev = event_new(w->base, -1, 0, on_live_sweep, w)) == NULL)
        return;
    event_active(w->live_ev, EV_TIMEOUT, 0); /* already active: the same sweep covers it */
}

void ag_live_clear(struct ag_worker *w)
{
    if (w->live_ev != NULL)
        event_free(w->live_ev);
    w->live_ev = NULL;
}
