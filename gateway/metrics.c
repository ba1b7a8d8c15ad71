/*
 * gateway/metrics.c - the metrics port (metrics-listen): GET /metrics, /health and /ready
 * on the main thread's event loop, apart from the public listeners, so that a scrape or a
 * probe never waits behind the traffic of a worker (nor adds to it).
 *
 * Owns:     struct ag_metrics (its listener and connections); the workers are borrowed.
 * Entry:    ag_metrics_new(), ag_metrics_free().
 * Not here: the counters and their text (gateway/base/stats.c), the same /health and /ready
 *           under auth-prefix (gateway/ep/routes.c).
 * Spec:     CONTRACT.md section 11; docs/operations.md "Metrics".
 */
#include "metrics.h"

#include <errno.h>
#include <netdb.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "http1.h"
#include "log.h"
#include "reply.h"
#include "revoke.h"

#define METRICS_MAX_CONNS 64  /* scrapers and probes: a handful; more are closed at once */
#define METRICS_MAX_HEAD 8192 /* bytes of a request head */
#define METRICS_MAX_HDRS 32
#define METRICS_TIMEOUT_S 10 /* a connection idle (or stalled) this long is closed */
#define METRICS_MAX_OUT 65536 /* answers queued unread before the connection stops reading */

struct ag_metrics {
    struct evconnlistener *listener;
    struct ag_worker *const *workers; /* borrowed from the server */
    size_t n_workers;
    struct ag_revoke *revoke;        /* borrowed; NULL: none */
    struct timeval head_tmo;         /* client-header-timeout as at the start: a head's deadline */
    LIST_HEAD(, metrics_conn) conns; /* open connections, closed by ag_metrics_free() */
    size_t n_conns;
};

/* One client of the port: a bufferevent, answered one request at a time. */
struct metrics_conn {
    LIST_ENTRY(metrics_conn) entry;
    struct ag_metrics *m;
    struct bufferevent *bev;
    struct event *head_timer; /* armed while a head is incomplete: a slow one is closed */
    bool closing;             /* freed once its output is written */
};

static void metrics_conn_free(struct metrics_conn *mc)
{
    LIST_REMOVE(mc, entry);
    mc->m->n_conns--;
    if (mc->head_timer != NULL)
        event_free(mc->head_timer);
    bufferevent_free(mc->bev);
    free(mc);
}

/* A head did not arrive whole in client-header-timeout: a byte at a time keeps no slot. */
static void on_metrics_head_timeout(evutil_socket_t fd, short what, void *arg)
{
    metrics_conn_free(arg);
}

/* Whether <s> is exactly <lit> (methods and paths are case-sensitive). */
static bool metrics_is(struct ag_str s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0;
}

/* The workers' counters, summed now. */
static void metrics_sum(const struct ag_metrics *m, struct ag_stats *sum)
{
    memset(sum, 0, sizeof(*sum));
    for (size_t i = 0; i < m->n_workers; i++)
        ag_stats_sum_into(sum, &m->workers[i]->stats);
}

/* Whether every worker's store is ready (connected, revocations loaded). */
static bool metrics_ready(const struct ag_metrics *m)
{
    for (size_t i = 0; i < m->n_workers; i++)
        if (atomic_load_explicit(&m->workers[i]->stats.store_ready, memory_order_relaxed) == 0)
            return false;
    return m->n_workers > 0;
}

/* Writes the /metrics answer to <out>. */
static void metrics_scrape(const struct ag_metrics *m, struct evbuffer *out, unsigned flags)
{
    struct ag_stats sum;
    struct ag_stats_gauges g = {.version = AG_VERSION,
                                .n_workers = m->n_workers,
                                .revocations = m->revoke ? ag_revoke_count(m->revoke) : 0};
    struct evbuffer *body = evbuffer_new();

    if (body == NULL) {
        ag_reply_error(out, 500, "out of memory", NULL, NULL, flags | AG_REPLY_F_CLOSE);
        return;
    }
    metrics_sum(m, &sum);
    ag_stats_format(body, &sum, &g);
    evbuffer_add_printf(out,
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; "
                        "charset=utf-8\r\nContent-Length: %zu\r\nCache-Control: no-store\r\n%s\r\n",
                        evbuffer_get_length(body),
                        (flags & AG_REPLY_F_CLOSE) ? "Connection: close\r\n" : "");
    if (!(flags & AG_REPLY_F_NO_BODY))
        evbuffer_add_buffer(out, body);
    evbuffer_free(body);
}

/* Answers the request <h> into <out>, by its path: the bodies of gateway/ep/routes.c. */
static void metrics_answer(const struct ag_metrics *m, const struct ag_http1_head *h,
                           struct evbuffer *out, unsigned flags)
{
    const char *q = memchr(h->target.p, '?', h->target.len);
    struct ag_str path = {h->target.p, q ? (size_t)(q - h->target.p) : h->target.len};
    bool get = metrics_is(h->method, "GET"), head = metrics_is(h->method, "HEAD");

    if (!metrics_is(path, "/metrics") && !metrics_is(path, "/health") &&
        !metrics_is(path, "/ready")) {
        ag_reply_error(out, 404, NULL, NULL, NULL, flags);
        return;
    }
    if (!get && !head) {
        ag_reply_error(out, 405, NULL, "Allow: GET, HEAD\r\n", NULL, flags);
        return;
    }
    if (head)
        flags |= AG_REPLY_F_NO_BODY;
    if (metrics_is(path, "/metrics")) {
        metrics_scrape(m, out, flags);
        return;
    }
    bool health = metrics_is(path, "/health"), ready = health || metrics_ready(m);
    struct ag_str b = health  ? AG_LIT(AG_REPLY_HEALTH_OK)
                      : ready ? AG_LIT(AG_REPLY_READY)
                              : AG_LIT(AG_REPLY_NOT_READY);

    ag_reply_json(out, ready ? 200 : 503, b.p, b.len, NULL, NULL, flags);
}

/*
 * Handles the complete heads waiting in the input of <mc>. A bad head (400, 431), a
 * request with a body, HTTP/1.0 or Connection: close ends the connection after the answer.
 */
static void on_metrics_read(struct bufferevent *bev, void *arg)
{
    struct metrics_conn *mc = arg;
    struct evbuffer *in = bufferevent_get_input(bev), *out = bufferevent_get_output(bev);

    while (!mc->closing && evbuffer_get_length(in) > 0) {
        struct ag_http1_header hdrs[METRICS_MAX_HDRS];
        struct ag_http1_head h = {.hdrs = hdrs, .max_hdrs = METRICS_MAX_HDRS};
        struct ag_http1_info info;
        size_t avail = evbuffer_get_length(in);
        unsigned flags = 0;
        int n;

        if (avail > METRICS_MAX_HEAD)
            avail = METRICS_MAX_HEAD;
        n = ag_http1_parse_request((const char *)evbuffer_pullup(in, (ev_ssize_t)avail), avail,
                                   METRICS_MAX_HEAD, &h);
        if (n == AG_AGAIN) {
            /* The deadline runs from the head's first byte, however slowly the rest comes. */
            if (!evtimer_pending(mc->head_timer, NULL))
                evtimer_add(mc->head_timer, &mc->m->head_tmo);
            return;
        }
        evtimer_del(mc->head_timer);
        if (n < 0) {
            ag_reply_error(out, n == AG_ETOOBIG ? 431 : 400, h.error, NULL, NULL, AG_REPLY_F_CLOSE);
            mc->closing = true;
            break;
        }
        if (ag_http1_request_info(&h, &info) < 0) {
            ag_reply_error(out, info.status, info.error, NULL, NULL, AG_REPLY_F_CLOSE);
            mc->closing = true;
            break;
        }
        /* No path here takes a body: one is left unread, and the connection with it. */
        if ((info.flags & AG_HTTP1_F_CLOSE) || h.minor == 0 || info.body == AG_BODY_CHUNKED ||
            (info.body == AG_BODY_LENGTH && info.length > 0)) {
            flags |= AG_REPLY_F_CLOSE;
            mc->closing = true;
        }
        metrics_answer(mc->m, &h, out, flags);
        evbuffer_drain(in, (size_t)n);
        if (!mc->closing && evbuffer_get_length(out) > METRICS_MAX_OUT) {
            /* A client that sends and never reads: read on once it has taken its answers. */
            bufferevent_disable(bev, EV_READ);
            return;
        }
    }
    if (mc->closing) {
        bufferevent_disable(bev, EV_READ);
        if (evbuffer_get_length(out) == 0)
            metrics_conn_free(mc);
    }
}

static void on_metrics_written(struct bufferevent *bev, void *arg)
{
    struct metrics_conn *mc = arg;

    if (mc->closing) {
        metrics_conn_free(mc);
        return;
    }
    if (!(bufferevent_get_enabled(bev) & EV_READ)) {
        bufferevent_enable(bev, EV_READ);
        on_metrics_read(bev, mc); /* the requests that waited in the input */
    }
}

static void on_metrics_event(struct bufferevent *bev, short what, void *arg)
{
    metrics_conn_free(arg); /* EOF, error or timeout */
}

static void on_metrics_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                              int salen, void *arg)
{
    struct ag_metrics *m = arg;
    struct timeval tmo = {METRICS_TIMEOUT_S, 0};
    struct metrics_conn *mc;

    if (m->n_conns >= METRICS_MAX_CONNS || (mc = calloc(1, sizeof(*mc))) == NULL) {
        evutil_closesocket(fd);
        return;
    }
    mc->m = m;
    mc->bev = bufferevent_socket_new(evconnlistener_get_base(l), fd, BEV_OPT_CLOSE_ON_FREE);
    if (mc->bev == NULL) {
        evutil_closesocket(fd);
        free(mc);
        return;
    }
    LIST_INSERT_HEAD(&m->conns, mc, entry);
    m->n_conns++;
    if ((mc->head_timer = evtimer_new(evconnlistener_get_base(l), on_metrics_head_timeout, mc)) ==
        NULL) {
        metrics_conn_free(mc);
        return;
    }
    bufferevent_setcb(mc->bev, on_metrics_read, on_metrics_written, on_metrics_event, mc);
    bufferevent_set_timeouts(mc->bev, &tmo, &tmo);
    bufferevent_setwatermark(mc->bev, EV_READ, 0, METRICS_MAX_HEAD + 1);
    if (bufferevent_enable(mc->bev, EV_READ) < 0)
        metrics_conn_free(mc);
}

struct ag_metrics *ag_metrics_new(struct event_base *base, const struct ag_config *cfg,
                                  struct ag_worker *const *workers, size_t n,
                                  struct ag_revoke *revoke, struct ag_err *err)
{
    const struct ag_listen_addr *a = &cfg->metrics_listen;
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    struct ag_metrics *m;
    int rc;

    if ((m = calloc(1, sizeof(*m))) == NULL) {
        ag_err_add(err, "%s: metrics-listen: out of memory", cfg->source);
        return NULL;
    }
    LIST_INIT(&m->conns);
    m->workers = workers;
    m->n_workers = n;
    m->revoke = revoke;
    m->head_tmo.tv_sec = (time_t)cfg->client_header_timeout;
    m->head_tmo.tv_usec = (suseconds_t)((cfg->client_header_timeout - (double)m->head_tmo.tv_sec) * 1e6);
    rc = getaddrinfo(a->host, a->port, &hints, &res);
    if (rc != 0) {
        ag_err_add(err, "%s: metrics-listen: cannot resolve %s: %s", cfg->source, a->host,
                   gai_strerror(rc));
        free(m);
        return NULL;
    }
    m->listener =
        evconnlistener_new_bind(base, on_metrics_accept, m,
                                LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
                                64, res->ai_addr, (int)res->ai_addrlen);
    freeaddrinfo(res);
    if (m->listener == NULL) {
        ag_err_add(err, "%s: metrics-listen: cannot listen on %s:%s: %s", cfg->source, a->host,
                   a->port, strerror(errno));
        free(m);
        return NULL;
    }
    return m;
}

void ag_metrics_free(struct ag_metrics *m)
{
    if (m == NULL)
        return;
    evconnlistener_free(m->listener);
    while (!LIST_EMPTY(&m->conns))
        metrics_conn_free(LIST_FIRST(&m->conns));
    free(m);
}
