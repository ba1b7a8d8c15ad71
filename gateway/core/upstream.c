/*
 * gateway/core/upstream.c - upstream connections: connect, and the per-worker LIFO
 * pool of idle keep-alive connections (the most recently used one is reused,
 * so the others age out and the pool shrinks by itself when load drops).
 *
 * Owns:     idle struct ag_uconn objects (w->pools) and each pool's last TLS session; a busy
 *           connection belongs to its request.
 * Entry:    ag_upstream_get(), ag_upstream_put(), ag_upstream_free(), ag_upstream_flush().
 * Not here: the bytes exchanged (gateway/core/proxy.c).
 *
 * A connection keeps one event callback for its whole life (on_upstream_io), so
 * moving between a request and the pool never touches epoll.
 */
#include "upstream.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "proxy.h"
#include "worker_types.h"

/* Takes the idle <u> out of its pool. */
static void pool_unlink(struct ag_uconn *u)
{
    LIST_REMOVE(u, entry);
    u->w->pools[u->up].n--;
}

static void on_upstream_io(evutil_socket_t fd, short what, void *arg)
{
    struct ag_uconn *u = arg;

    if (u->req != NULL) {
        ag_proxy_on_upstream_io(u, what);
        return;
    }
    /* Idle in the pool: a close, an error, stray bytes or the idle timeout. Drop it. */
    if (what & (EV_READ | EV_CLOSED)) {
        if (!ag_io_idle_event(&u->io))
            return; /* spurious edge, or a TLS session ticket (consumed) */
    } else if (!(what & EV_TIMEOUT)) {
        return; /* writability edges mean nothing here */
    }
    pool_unlink(u);
    ag_upstream_free(u);
}

/*
 * Whether the idle <u> can carry a request: nothing buffered, and its event not waiting
 * to run. on_upstream_io() drops an idle connection that receives anything, and the pool
 * runs its events first (AG_IO_PRIO_IDLE, set in ag_upstream_put()), so bytes or an EOF
 * that arrive in the same loop pass as the request taking <u> are seen before it: no
 * syscall per reuse. Setting the priority back fails only while the event is active
 * (pending its callback): then <u> is not clean either. What arrives after the request
 * went out cannot be told from its answer.
 */
static bool pool_conn_clean(struct ag_uconn *u)
{
    return evbuffer_get_length(u->io.in) == 0 &&
           event_priority_set(&u->io.ev, AG_IO_PRIO_NORMAL) == 0;
}

struct ag_uconn *ag_upstream_get(struct ag_worker *w, struct ag_gen *g, unsigned up)
{
    struct ag_uconn *u;

    while (up < w->n_pools && (u = LIST_FIRST(&w->pools[up].idle)) != NULL) {
        pool_unlink(u);
        if (u->gen_id == g->id && pool_conn_clean(u))
            return u;
        ag_upstream_free(u); /* stray bytes or EOF, or an older generation (maybe another address) */
    }
    u = calloc(1, sizeof(*u));
    if (u == NULL)
        return NULL;
    u->w = w;
    u->gen_id = g->id;
    u->up = up;
    if (ag_io_connect(&u->io, w->base, (const struct sockaddr *)&g->ups[up].addr,
                      g->ups[up].addrlen, on_upstream_io, u, w->tmo[AG_TMO_CONNECT]) < 0) {
        free(u);
        return NULL;
    }
    /* https: verified against the CAs, SNI and the name checked; the handshake runs with
     * the first write. A pooled connection keeps its session (it is reused as it is); a
     * new one offers the pool's last session, for an abbreviated handshake. */
    if (g->ups[up].tls_host != NULL) {
        if (ag_io_tls_start(&u->io, g->tls_client, g->ups[up].tls_host) < 0) {
            ag_io_close(&u->io);
            free(u);
            errno = ENOMEM;
            return NULL;
        }
        if (up < w->n_pools && w->pools[up].tls_session != NULL)
            SSL_set_session(u->io.ssl, w->pools[up].tls_session); /* a failure: a full handshake */
    }
    u->connected = !(u->io.flags & AG_IO_F_CONNECTING);
    return u;
}

void ag_upstream_put(struct ag_uconn *u)
{
    struct ag_worker *w = u->w;
    const struct ag_config *cfg = w->gen->cfg;
    struct ag_upool *pool;

    if (w->draining || u->gen_id != w->gen->id || u->up >= w->n_pools ||
        w->pools[u->up].n >= cfg->upstream_pool_size) {
        ag_upstream_free(u);
        return;
    }
    /* An event already active (bytes came with the end of the response) cannot change
     * priority: such a connection is not clean, so it is not kept. */
    if (event_priority_set(&u->io.ev, AG_IO_PRIO_IDLE) < 0) {
        ag_upstream_free(u);
        return;
    }
    pool = &w->pools[u->up];
    /* By the end of a response the server's TLS 1.3 ticket has been read: keep the session
     * for the next new connection (the pools are flushed when the generation changes). */
    if (u->io.ssl != NULL && !SSL_session_reused(u->io.ssl)) {
        SSL_SESSION *s = SSL_get1_session(u->io.ssl);
        if (s != NULL && SSL_SESSION_is_resumable(s)) {
            SSL_SESSION_free(pool->tls_session);
            pool->tls_session = s;
        } else {
            SSL_SESSION_free(s);
        }
    }
    u->flags = 0;
    ag_io_timeout(&u->io, w->tmo[AG_TMO_KEEPALIVE]);
    LIST_INSERT_HEAD(&pool->idle, u, entry);
    pool->n++;
}

void ag_upstream_free(struct ag_uconn *u)
{
    if (u == NULL)
        return;
    ag_io_close(&u->io);
    free(u);
}

void ag_upstream_flush(struct ag_worker *w)
{
    struct ag_uconn *u;

    for (size_t i = 0; i < w->n_pools; i++) {
        while ((u = LIST_FIRST(&w->pools[i].idle)) != NULL) {
            pool_unlink(u);
            ag_upstream_free(u);
        }
        SSL_SESSION_free(w->pools[i].tls_session); /* of this generation's TLS context */
        w->pools[i].tls_session = NULL;
    }
}
