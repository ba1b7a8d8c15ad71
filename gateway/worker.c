/*
 * gateway/worker.c - worker threads: one event_base each, SO_REUSEPORT
 * listeners, generation switches and draining posted by the main thread
 * through an eventfd, the periodic access-log hand-over, and the worker's store: opened
 * at start, replaced when a generation changes its settings (the old one retired and
 * freed once its commands have answered), its state and its revocation feed.
 *
 * Owns:     struct ag_worker and everything on its event_base.
 * Entry:    ag_worker_new(), ag_worker_start(), ag_worker_post_gen(),
 *           ag_worker_post_stop(), ag_worker_join(), ag_worker_free().
 * Not here: connections (gateway/core/conn.c), the process and signals (gateway/server.c).
 */
#include "worker.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <sodium.h>

#include "authn.h"
#include "conn.h"
#include "endpoints.h"
#include "jwt.h"
#include "log.h"
#include "revoke.h"
#include "server.h"
#include "sigbudget.h"
#include "keycache.h"
#include "live.h"
#include "upassert.h"
#include "upstream.h"
#include "feed.h"
#include "pool.h"
#include "store.h"
#include "users.h"

#define WORKER_BACKLOG 1024
#define WORKER_LOG_FLUSH_MS 100
#define WORKER_ACCEPT_PAUSE_MS 100

/* The CSRF verdict as the request core asks it of a proxied cookie-carried write. */
static bool worker_csrf_foreign(const struct ag_config *cfg, const struct ag_http1_head *h)
{
    return ag_ep_csrf(cfg, h) == AG_CSRF_FOREIGN;
}

/* The gateway's endpoints (gateway/ep/), handed to the request core below them. */
static const struct ag_ep_ops worker_ep_ops = {
    .start = ag_ep_new,
    .must_wait = ag_ep_must_wait,
    .run = ag_ep_run,
    .on_client_input = ag_ep_on_client_input,
    .detach = ag_ep_detach,
    .csrf_foreign = worker_csrf_foreign,
    .key_lookup = ag_ep_apikey_lookup,
    .key_touch = ag_ep_apikey_touch,
};

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    ag_conn_accept(arg, fd, sa, NULL);
}

/* A tls-listen socket: the handshake uses the current generation's certificate. */
static void on_accept_tls(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                          int salen, void *arg)
{
    struct ag_worker *w = arg;

    if (w->gen->tls_server == NULL) {
        evutil_closesocket(fd); /* a reload dropped tls-listen: it ends at the restart */
        return;
    }
    ag_conn_accept(w, fd, sa, w->gen->tls_server);
}

static void on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
    struct ag_worker *w = arg;

    for (size_t i = 0; i < w->n_listeners; i++)
        evconnlistener_enable(w->listeners[i]);
}

/*
 * accept() failed, typically EMFILE/ENFILE. The pending connection stays queued, so a
 * listener left enabled would spin; pause accepting for a moment instead (nginx does
 * the same), and say so once per pause.
 */
static void on_accept_error(struct evconnlistener *l, void *arg)
{
    struct ag_worker *w = arg;
    struct timeval pause = {0, WORKER_ACCEPT_PAUSE_MS * 1000};
    int e = EVUTIL_SOCKET_ERROR();

    if (w->draining || w->accept_ev == NULL || evtimer_pending(w->accept_ev, NULL))
        return;
    ag_log(AG_LOG_WARN, "accept failed: %s; pausing accepts for %d ms (%zu connections open)",
           evutil_socket_error_to_string(e), WORKER_ACCEPT_PAUSE_MS, w->n_conns);
    for (size_t i = 0; i < w->n_listeners; i++)
        evconnlistener_disable(w->listeners[i]);
    evtimer_add(w->accept_ev, &pause);
}

/* Binds a listening socket for <a>, <key>[<i>], with SO_REUSEPORT. Returns the fd or -1 with <err> set. */
static int listen_socket(const struct ag_config *cfg, const char *key, size_t i,
                         const struct ag_listen_addr *a, struct ag_err *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int fd = -1, one = 1, rc;

    rc = getaddrinfo(a->host, a->port, &hints, &res);
    if (rc != 0) {
        ag_err_add(err, "%s: %s[%zu]: cannot resolve %s: %s", cfg->source, key, i, a->host,
                   gai_strerror(rc));
        return -1;
    }
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (res->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, WORKER_BACKLOG) < 0)
        goto fail;
    freeaddrinfo(res);
    return fd;
fail:
    ag_err_add(err, "%s: %s[%zu]: cannot listen on %s:%s: %s", cfg->source, key, i, a->host,
               a->port, strerror(errno));
    if (fd >= 0)
        close(fd);
    freeaddrinfo(res);
    return -1;
}

/* Registers the timeouts of <cfg> as common timeouts of the worker's base. */
static int worker_timeouts(struct ag_worker *w, const struct ag_config *cfg)
{
    const double secs[AG_TMO_N] = {
        [AG_TMO_HEADER] = cfg->client_header_timeout,
        [AG_TMO_CLIENT] = cfg->client_timeout,
        [AG_TMO_KEEPALIVE] = cfg->keepalive_timeout,
        [AG_TMO_UPSTREAM] = cfg->upstream_timeout,
        [AG_TMO_CONNECT] = cfg->upstream_connect_timeout,
        [AG_TMO_TUNNEL] = cfg->tunnel_timeout,
        [AG_TMO_LINGER] = 2.0,
        [AG_TMO_STORE] = AG_WORKER_STORE_CONNECT_S,
        [AG_TMO_REVOKED] = AG_WORKER_REVOKED_S,
    };

    for (int i = 0; i < AG_TMO_N; i++) {
        struct timeval tv = {(time_t)secs[i], 0};
        tv.tv_usec = (suseconds_t)((secs[i] - (double)tv.tv_sec) * 1e6);
        w->tmo[i] = event_base_init_common_timeout(w->base, &tv);
        if (w->tmo[i] == NULL)
            return AG_ENOMEM;
    }
    return 0;
}

/* Makes the scratch space big enough for the limits of <g>. Returns 0 or AG_ENOMEM. */
static int worker_scratch(struct ag_worker *w, const struct ag_gen *g)
{
    const struct ag_config *cfg = g->cfg;

    if (worker_timeouts(w, cfg) < 0)
        return AG_ENOMEM;
    /* Pools and cached tokens belong to one generation: addresses and keys may change.
     * Flushed before the realloc also because an idle list's first element points back
     * at its head (LIST, <sys/queue.h>). */
    ag_upstream_flush(w);
    if (w->n_pools != g->n_ups) {
        void *p = realloc(w->pools, g->n_ups * sizeof(*w->pools));
        if (p == NULL)
            return AG_ENOMEM;
        w->pools = p;
        w->n_pools = g->n_ups;
        memset(w->pools, 0, g->n_ups * sizeof(*w->pools));
    }
    ag_authn_cache_free(w->tcache);
    w->tcache = ag_authn_cache_new(cfg->token_cache_size);
    if (w->tcache == NULL)
        return AG_ENOMEM;
    if (w->claims == NULL && (w->claims = malloc(sizeof(*w->claims))) == NULL)
        return AG_ENOMEM;
    if (w->sigbudget == NULL && (w->sigbudget = ag_sigbudget_new()) == NULL)
        return AG_ENOMEM;
    /* API keys: a new generation may grant other scopes to the same roles (role-scopes). */
    ag_keycache_free(w->kcache);
    if ((w->kcache = ag_keycache_new(cfg->api_key_cache_size)) == NULL)
        return AG_ENOMEM;
    if (w->kbudget == NULL && (w->kbudget = ag_sigbudget_new()) == NULL)
        return AG_ENOMEM;

    if (w->scratch_cap < cfg->max_headers) {
        void *p = realloc(w->scratch_hdrs, cfg->max_headers * sizeof(*w->scratch_hdrs));
        if (p == NULL)
            return AG_ENOMEM;
        w->scratch_hdrs = p;
        w->scratch_cap = cfg->max_headers;
    }
    if (w->scratch_path_cap < cfg->max_header_size + 1) {
        void *p = realloc(w->scratch_path, cfg->max_header_size + 1);
        if (p == NULL)
            return AG_ENOMEM;
        w->scratch_path = p;
        w->scratch_path_cap = cfg->max_header_size + 1;
    }
    return 0;
}

/* ---------------------------------------------------------------- the store */

static void on_users_backfilled(enum ag_user_status st, const struct ag_user *u, void *arg)
{
    struct ag_worker *w = arg;

    (void)u;
    if (st == AG_USER_OK)
        ag_log(AG_LOG_INFO, "worker %u: the user index is complete", w->id);
    else
        ag_log(AG_LOG_WARN, "worker %u: the user index backfill stopped (the store failed); "
                            "the first admin listing resumes it", w->id);
}

/*
 * Users written before the user index existed join it once per namespace (a marker key
 * says it is done: then this is one short script). One worker per instance starts it, from
 * the loop rather than from inside hiredis; several instances at once do no harm.
 */
static void on_users_backfill(evutil_socket_t fd, short what, void *arg)
{
    struct ag_worker *w = arg;

    (void)fd;
    (void)what;
    if (w->store != NULL && ag_users_backfill(w->store, on_users_backfilled, w) < 0)
        ag_log(AG_LOG_WARN, "worker %u: the user index backfill could not start", w->id);
}

/*
 * Whether store-bound requests wait (are parked) rather than answer 503: before the first
 * ready, and while the store in use is down and a reload's new one is on its way. A change
 * to "no" wakes the parked requests (deferred to the loop: not from inside hiredis).
 */
static void worker_store_wait(struct ag_worker *w)
{
    bool wait = !w->store_up_once ||
                (w->stores[w->store_cur ^ 1].st != NULL && !ag_store_ready(w->store));

    if (w->store_wait && !wait)
        ag_conn_wake_parked(w);
    w->store_wait = wait;
}

/* The store in use became ready or stopped being ready: what /ready and /metrics say. */
static void worker_store_state(struct ag_worker *w, bool ready, const char *why)
{
    if (w->store_state == (int)ready)
        return;
    if (ready && !w->store_up_once) {
        /* The first ready: commands work and, with the feed, the live revocations are
         * loaded. The set is the process's: one worker's replay completes it for all. */
        if (w->feed_on && w->gen->revoke != NULL)
            ag_revoke_set_loaded(w->gen->revoke);
        w->store_up_once = true;
        if (w->id == 0)
            event_base_once(w->base, -1, EV_TIMEOUT, on_users_backfill, w, NULL);
    }
    if (ready && why != NULL && strcmp(why, "connected") != 0)
        ag_log(AG_LOG_INFO, "worker %u: store ready: %s", w->id, why); /* e.g. which primary */
    else if (ready)
        ag_log(AG_LOG_INFO, "worker %u: store ready", w->id);
    else
        ag_log(AG_LOG_WARN, "worker %u: store not ready: %s", w->id, why ? why : "unknown");
    w->store_state = ready;
    atomic_store_explicit(&w->stats.store_ready, ready, memory_order_relaxed); /* /ready, /metrics */
    worker_store_wait(w);
}

/* One store retired by a reload, until its last command has answered. */
struct ag_worker_retired {
    struct ag_worker_retired *next;
    struct ag_worker *w;
    struct ag_store *st;
};

/* A retired store is idle (from the loop): its connections close now. */
static void on_store_idle(struct ag_store *st, void *arg)
{
    struct ag_worker_retired *r = arg, **pp;

    for (pp = &r->w->retired; *pp != NULL; pp = &(*pp)->next)
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    ag_log(AG_LOG_INFO, "worker %u: closed the old store (%s): its commands have answered",
           r->w->id, ag_store_where(st));
    ag_store_free(st);
    free(r);
}

/* Empties place <s>: its store is freed now (pending callbacks run with an error). */
static void worker_store_clear(struct ag_worker_store *s)
{
    ag_store_free(s->st);
    s->st = NULL;
    ag_config_unref(s->cfg);
    s->cfg = NULL;
}

/*
 * A reload's new store is ready (connected, its Redis's revocation log replayed): new
 * store calls go to it from now on. The old one is retired: the commands it has in flight
 * get their answers, then it is freed (on_store_idle()).
 */
static void worker_store_switch(struct ag_worker *w)
{
    struct ag_worker_store *old = &w->stores[w->store_cur];
    struct ag_worker_retired *r = calloc(1, sizeof(*r));
    bool was_up = w->store_up_once;

    w->store_cur ^= 1;
    w->store = w->stores[w->store_cur].st;
    if (old->st != NULL)
        ag_log(AG_LOG_INFO, "worker %u: store switched to %s; the old one (%s) closes once "
               "its commands have answered", w->id, ag_store_where(w->store),
               ag_store_where(old->st));
    else
        ag_log(AG_LOG_INFO, "worker %u: store switched to %s", w->id, ag_store_where(w->store));
    if (old->st != NULL && r != NULL) {
        r->w = w;
        r->st = old->st;
        r->next = w->retired;
        w->retired = r;
        ag_store_retire(old->st, on_store_idle, r);
        old->st = NULL; /* freed by on_store_idle() */
        r = NULL;
    }
    free(r);
    worker_store_clear(old); /* out of memory above: freed now, its calls get their 503 */
    worker_store_state(w, true, NULL);
    worker_store_wait(w); /* the state may not have changed: the wait may end anyway */
    if (w->id == 0 && was_up) /* a marker key says whether the new Redis needs it */
        event_base_once(w->base, -1, EV_TIMEOUT, on_users_backfill, w, NULL);
}

/*
 * A store became ready or stopped being ready: logged once per change, per worker.
 * The store reports "not ready" only on a real failure (a first connection still on
 * its way is not one), so every such line is an outage: a warning, naming the address.
 * <arg> is the store's place: the one in use, or a reload's new store not in use yet.
 */
static void on_store_state(bool ready, const char *why, void *arg)
{
    struct ag_worker_store *s = arg;
    struct ag_worker *w = s->w;

    if (s == &w->stores[w->store_cur]) {
        worker_store_state(w, ready, why);
        return;
    }
    if (ready)
        worker_store_switch(w);
    else /* the old store keeps serving meanwhile */
        ag_log(AG_LOG_WARN, "worker %u: the new store is not ready: %s", w->id,
               why ? why : "unknown");
}

/*
 * One revocation from the feed: into the process's set that every access check reads,
 * then a sweep of this worker's live exchanges (core/live.c) is due: every worker gets
 * every revocation on its own feed, so each closes its own tunnels and streams.
 */
static void on_feed(enum ag_feed_kind kind, const char *id, size_t len, int64_t value, void *arg)
{
    struct ag_worker *w = arg;
    struct ag_revoke *r = w->gen->revoke;
    struct ag_str s = {id, len};

    if (r == NULL || len == 0)
        return;
    switch (kind) {
    case AG_FEED_SID:
        ag_revoke_add(r, AG_REVOKE_SID, s, value);
        break;
    case AG_FEED_JTI:
        ag_revoke_add(r, AG_REVOKE_JTI, s, value);
        break;
    case AG_FEED_SUBJECT_BEFORE: {
        /* Tokens issued before <value> die: kept as long as the store keeps it
         * (gateway/ep/ep_account.c account_watermark_until()), whichever TTL is larger. */
        const struct ag_config *cfg = w->gen->cfg;
        long ttl = cfg->refresh_token_ttl > cfg->access_token_ttl ? cfg->refresh_token_ttl
                                                                  : cfg->access_token_ttl;
        ag_revoke_add_subject(r, s, value, value + ttl + cfg->token_exp_leeway);
        break;
    }
    case AG_FEED_TOKENS_BEFORE: {
        /* The subject's access tokens issued before <value> die; its sessions live on.
         * In memory this is the same watermark as above: only access tokens are judged
         * against it here (a refresh is judged by the store), and two watermarks of one
         * subject keep the later T. Kept while such a token can pass. */
        const struct ag_config *cfg = w->gen->cfg;
        ag_revoke_add_subject(r, s, value, value + cfg->access_token_ttl + cfg->token_exp_leeway);
        break;
    }
    case AG_FEED_KEY:
        /* An API key revoked at <value>: kept while a worker may hold it in its cache
         * (an entry lives access-token-ttl at most: docs/api-keys.md). */
        ag_revoke_add(r, AG_REVOKE_KEY, s,
                      value + w->gen->cfg->access_token_ttl + w->gen->cfg->token_exp_leeway + 1);
        break;
    }
    ag_live_schedule(w); /* deferred to the loop: one sweep for a burst or a replay */
}

/* The store settings of <cfg>, for place <s>. */
static void worker_store_opts(const struct ag_config *cfg, struct ag_worker_store *s,
                              struct ag_store_opts *o)
{
    *o = (struct ag_store_opts){.ns = cfg->app_name, .connect_timeout = AG_WORKER_STORE_CONNECT_S,
                                .command_timeout = 2,
                                .on_state = on_store_state, .arg = s,
                                .min_replicas_ack = cfg->redis_min_replicas_ack};
    ag_gen_store_addr(cfg, o);
}

/*
 * Opens a store with its revocation feed in place <s>, with the settings of <cfg>; a
 * failure leaves the place empty (the worker not ready, or a reload without effect).
 */
static void worker_store_open(struct ag_worker *w, struct ag_worker_store *s,
                              struct ag_config *cfg)
{
    struct ag_store_opts o;

    worker_store_opts(cfg, s, &o);
    s->w = w;
    s->st = ag_store_new(w->base, &o);
    if (s->st == NULL) {
        /* Not the address: it may hold the password. It was parsed at load already. */
        ag_log(AG_LOG_ERROR, "worker %u: cannot set up the store (out of memory)", w->id);
        return;
    }
    s->cfg = ag_config_ref(cfg);
    if (ag_feed_start(s->st, on_feed, w) < 0) {
        ag_log(AG_LOG_ERROR, "worker %u: cannot start the revocation feed", w->id);
        if (s != &w->stores[w->store_cur]) /* a reload's: never ready without its feed */
            worker_store_clear(s);
    } else if (s == &w->stores[w->store_cur]) {
        w->feed_on = true;
    }
}

/* Starts this worker's store and its revocation feed; a failure leaves the worker not ready. */
static void worker_store_start(struct ag_worker *w)
{
    w->store_wait = true;
    worker_store_open(w, &w->stores[w->store_cur], w->gen->cfg);
    w->store = w->stores[w->store_cur].st;
}

/*
 * A generation switch: when its store settings (ag_store_opts_equal()) differ from those
 * of the store in use, a new store is opened beside it, and requests move to it once it
 * is ready (worker_store_switch()). A new store still on its way that the generation no
 * longer wants is dropped: no request has used it.
 */
static void worker_store_reload(struct ag_worker *w)
{
    struct ag_worker_store *cur = &w->stores[w->store_cur], *next = &w->stores[w->store_cur ^ 1];
    struct ag_store_opts want, have;

    worker_store_opts(w->gen->cfg, next, &want);
    if (next->st != NULL) {
        worker_store_opts(next->cfg, next, &have);
        if (ag_store_opts_equal(&have, &want))
            return; /* still on its way */
        ag_log(AG_LOG_INFO, "worker %u: dropped the new store (%s) before it was ready",
               w->id, ag_store_where(next->st));
        worker_store_clear(next);
    }
    if (cur->cfg != NULL) {
        worker_store_opts(cur->cfg, cur, &have);
        if (ag_store_opts_equal(&have, &want)) {
            worker_store_wait(w);
            return;
        }
    }
    worker_store_open(w, next, w->gen->cfg);
    if (next->st != NULL)
        ag_log(AG_LOG_INFO, "worker %u: the store settings changed: connecting to %s; %s "
               "serves until it is ready", w->id, ag_store_where(next->st),
               cur->st != NULL ? ag_store_where(cur->st) : "nothing");
    worker_store_wait(w);
}

static void worker_store_free(struct ag_worker *w)
{
    /* pending callbacks run now, with an error */
    worker_store_clear(&w->stores[0]);
    worker_store_clear(&w->stores[1]);
    w->store = NULL;
    while (w->retired != NULL) {
        struct ag_worker_retired *r = w->retired;
        w->retired = r->next;
        ag_store_free(r->st);
        free(r);
    }
}

static void close_listeners(struct ag_worker *w)
{
    for (size_t i = 0; i < w->n_listeners; i++)
        if (w->listeners[i])
            evconnlistener_free(w->listeners[i]);
    AG_FREE(w->listeners);
    w->n_listeners = 0;
}

static void on_drain_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct ag_worker *w = arg;

    if (w->n_conns > 0)
        ag_log(AG_LOG_WARN, "worker %u: drain timeout, closing %zu connections", w->id,
               w->n_conns);
    event_base_loopbreak(w->base);
}

/* Stops accepting, closes idle connections, and ends the loop when the rest are done. */
static void worker_drain(struct ag_worker *w)
{
    struct ag_conn *c, *next;
    struct timeval tv;
    double d = w->gen->cfg->drain_timeout;

    if (w->draining)
        return;
    w->draining = true;
    if (w->accept_ev)
        evtimer_del(w->accept_ev);
    close_listeners(w);
    ag_upstream_flush(w);
    ag_conn_wake_parked(w); /* in flight: answered (503, shutting down), not dropped */
    for (c = LIST_FIRST(&w->conns); c != NULL; c = next) {
        next = LIST_NEXT(c, entry);
        if (c->req == NULL &&
            !(c->flags & (AG_CONN_F_IN_HEAD | AG_CONN_F_CLOSING | AG_CONN_F_PARK_DONE)))
            ag_conn_close(c);
    }
    if (w->n_conns == 0) {
        event_base_loopbreak(w->base);
        return;
    }
    tv.tv_sec = (time_t)d;
    tv.tv_usec = (suseconds_t)((d - (double)tv.tv_sec) * 1e6);
    w->drain_ev = evtimer_new(w->base, on_drain_deadline, w);
    if (w->drain_ev == NULL || evtimer_add(w->drain_ev, &tv) < 0)
        event_base_loopbreak(w->base);
}

static void on_notify(evutil_socket_t fd, short what, void *arg)
{
    struct ag_worker *w = arg;
    struct ag_gen *g;
    uint64_t v;

    if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        ag_log(AG_LOG_WARN, "worker %u: notify read: %s", w->id, strerror(errno));
    g = atomic_exchange(&w->next_gen, NULL);
    if (g != NULL) {
        if (worker_scratch(w, g) < 0) {
            ag_log(AG_LOG_ERROR, "worker %u: out of memory switching configuration", w->id);
            ag_gen_unref(g);
        } else {
            /* Requests in flight keep their own reference to the old generation. */
            ag_gen_unref(w->gen);
            w->gen = g;
            if (!w->draining)
                worker_store_reload(w);
            /* The ack count is no reason for new links: it applies to the next write. */
            for (unsigned i = 0; i < 2; i++)
                ag_store_set_min_replicas_ack(w->stores[i].st, g->cfg->redis_min_replicas_ack);
        }
    }
    if (atomic_load(&w->stop))
        worker_drain(w);
}

static void on_log_tick(evutil_socket_t fd, short what, void *arg)
{
    struct ag_worker *w = arg;

    ag_alog_flush(w->alog);
    ag_log_flush(w->elog);
}

struct ag_worker *ag_worker_new(unsigned id, struct ag_gen *g, struct ag_err *err)
{
    const struct ag_config *cfg = g->cfg;
    /* Aligned: its counters (base/stats.h) keep cache lines of their own. */
    struct ag_worker *w = aligned_alloc(_Alignof(struct ag_worker), sizeof(*w));
    struct event_config *ec = NULL;
    struct timeval tick = {0, WORKER_LOG_FLUSH_MS * 1000};

    if (w == NULL)
        return NULL;
    memset(w, 0, sizeof(*w));
    w->id = id;
    w->ep_ops = &worker_ep_ops;
    w->notify_fd = -1;
    w->store_state = -1;
    {
        /* Request ids: a random prefix, unique across workers and restarts, and a counter. */
        static const char hex[] = "0123456789abcdef";
        unsigned char r[6];
        randombytes_buf(r, sizeof(r));
        for (size_t i = 0; i < sizeof(r); i++) {
            w->req_id[2 * i] = hex[r[i] >> 4];
            w->req_id[2 * i + 1] = hex[r[i] & 15];
        }
        memcpy(w->req_id + 12, "-000000000000", 14);
    }
    w->gen = ag_gen_ref(g);
    ec = event_config_new();
    if (ec == NULL)
        goto fail;
    event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK); /* one thread per base */
    w->base = event_base_new_with_config(ec);
    event_config_free(ec);
    /* before any event is set up: events take the default priority, AG_IO_PRIO_NORMAL */
    if (w->base == NULL || event_base_priority_init(w->base, AG_IO_NPRIO) < 0 ||
        worker_scratch(w, g) < 0 || (w->alog = evbuffer_new()) == NULL ||
        (w->elog = evbuffer_new()) == NULL)
        goto fail;
    w->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->notify_fd < 0)
        goto fail;
    w->notify_ev = event_new(w->base, w->notify_fd, EV_READ | EV_PERSIST, on_notify, w);
    w->log_ev = event_new(w->base, -1, EV_PERSIST, on_log_tick, w);
    w->accept_ev = evtimer_new(w->base, on_accept_resume, w);
    if (w->notify_ev == NULL || w->log_ev == NULL || w->accept_ev == NULL || event_add(w->notify_ev, NULL) < 0 ||
        event_add(w->log_ev, &tick) < 0)
        goto fail;
    /* tls-listen's sockets, then listen's: once a plain port answers, all of them do */
    w->listeners = calloc(cfg->n_listen + cfg->n_tls_listen + 1, sizeof(*w->listeners));
    if (w->listeners == NULL)
        goto fail;
    for (size_t i = 0; i < cfg->n_listen + cfg->n_tls_listen; i++) {
        bool tls = i < cfg->n_tls_listen;
        size_t k = tls ? i : i - cfg->n_tls_listen;
        int fd = listen_socket(cfg, tls ? "tls-listen" : "listen", k,
                               tls ? &cfg->tls_listen[k] : &cfg->listen[k], err);
        if (fd < 0)
            goto fail_quiet;
        w->listeners[i] = evconnlistener_new(w->base, tls ? on_accept_tls : on_accept, w,
                                             LEV_OPT_CLOSE_ON_FREE, -1, fd);
        if (w->listeners[i] == NULL) {
            close(fd);
            goto fail;
        }
        w->n_listeners = i + 1;
        evconnlistener_set_error_cb(w->listeners[i], on_accept_error);
    }
    if (g->pool != NULL && (w->inbox = ag_pool_inbox_new(g->pool, w->base)) == NULL)
        goto fail;
    worker_store_start(w);
    return w;
fail:
    ag_err_add(err, "worker %u: cannot set up: %s", id, strerror(errno));
fail_quiet:
    ag_worker_free(w);
    return NULL;
}

static void *worker_main(void *arg)
{
    struct ag_worker *w = arg;

    event_base_dispatch(w->base);
    /* Drain deadline or loop end: whatever is still open is closed now. */
    while (!LIST_EMPTY(&w->conns))
        ag_conn_close(LIST_FIRST(&w->conns));
    ag_pool_inbox_free(w->inbox); /* jobs' completions find their eps detached */
    w->inbox = NULL;
    worker_store_free(w); /* after the requests: their eps are detached already */
    ag_upstream_flush(w);
    ag_alog_flush(w->alog);
    ag_log_flush(w->elog);
    return NULL;
}

int ag_worker_start(struct ag_worker *w)
{
    return pthread_create(&w->thread, NULL, worker_main, w) == 0 ? 0 : AG_EIO;
}

static void worker_poke(struct ag_worker *w)
{
    uint64_t one = 1;

    if (write(w->notify_fd, &one, sizeof(one)) < 0)
        ag_log(AG_LOG_WARN, "worker %u: notify write: %s", w->id, strerror(errno));
}

void ag_worker_post_gen(struct ag_worker *w, struct ag_gen *g)
{
    ag_gen_unref(atomic_exchange(&w->next_gen, g));
    worker_poke(w);
}

void ag_worker_post_stop(struct ag_worker *w)
{
    atomic_store(&w->stop, true);
    worker_poke(w);
}

void ag_worker_join(struct ag_worker *w)
{
    pthread_join(w->thread, NULL);
}

void ag_worker_free(struct ag_worker *w)
{
    if (w == NULL)
        return;
    close_listeners(w);
    ag_req_free_recycled(w);
    ag_io_spare_free(&w->io_spare);
    if (w->notify_ev)
        event_free(w->notify_ev);
    if (w->log_ev)
        event_free(w->log_ev);
    if (w->accept_ev)
        event_free(w->accept_ev);
    if (w->drain_ev)
        event_free(w->drain_ev);
    ag_pool_inbox_free(w->inbox);
    worker_store_free(w); /* never started: still on the base */
    ag_live_clear(w);
    if (w->notify_fd >= 0)
        close(w->notify_fd);
    if (w->alog)
        evbuffer_free(w->alog);
    if (w->elog) {
        ag_log_flush(w->elog);
        evbuffer_free(w->elog);
    }
    if (w->base)
        event_base_free(w->base);
    ag_gen_unref(atomic_exchange(&w->next_gen, NULL));
    ag_gen_unref(w->gen);
    ag_upstream_flush(w);
    free(w->pools);
    ag_authn_cache_free(w->tcache);
    ag_upassert_cache_free(w->acache);
    free(w->claims);
    ag_sigbudget_free(w->sigbudget);
    ag_keycache_free(w->kcache);
    ag_sigbudget_free(w->kbudget);
    free(w->scratch_hdrs);
    free(w->scratch_path);
    free(w);
}
