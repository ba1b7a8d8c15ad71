/*
 * store/sentinel.c - Redis Sentinel for a store: before a link (re)connects, ask the
 * sentinels in turn for the primary (SENTINEL get-master-addr-by-name); keep one more
 * connection to a sentinel subscribed to +switch-master and follow a failover at once.
 *
 * Owns:     struct ag_sentinel (st->sentinel): the sentinels' addresses, the question's
 *           connection and the watch's connection (two redisAsyncContexts).
 * Entry:    ag_sentinel__new(), ag_sentinel__ask(), ag_sentinel__describe(),
 *           ag_sentinel__free() (store/sentinel.h); ag_sentinel__parse_switch() (pure).
 * Not here: the links to the primary, their handshake (ROLE) and reconnects (store/link.c),
 *           "HOST:PORT" (store/url.c), the config key (policy/config_keys.c).
 * Spec:     CONTRACT.md section 15; docs/redis-keys.md "Connections"; redis.io "Sentinel
 *           client spec" (ask in turn, the one that answered first next time).
 */
#include "sentinel.h"

#include <hiredis/adapters/libevent.h>
#include <hiredis/hiredis.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "link.h"
#include "resolve.h"

#define SENTINEL_WATCH_BACKOFF_MIN 0.1 /* s: first retry of the watch on the next sentinel */
#define SENTINEL_WATCH_BACKOFF_MAX 2.0 /* s: cap while no sentinel can be watched */
#define SENTINEL_CHANNEL "+switch-master"

/* One connection to a sentinel: the question, or the watch. */
struct sentinel_conn {
    struct ag_sentinel *s;
    redisAsyncContext *ac; /* NULL while down; cleared in both hiredis failure callbacks */
    size_t i;              /* which sentinel */
    struct ag_resolve *dns; /* its name being resolved (store/resolve.c), else NULL */
    bool up;               /* the watch: subscribed */
    bool send_failed;      /* a command could not be queued: fail it from the loop */
    struct event timer;    /* connect timeout, then the answer's (or SUBSCRIBE's) */
    int argc;              /* its one command: the question, or SUBSCRIBE */
    const char *argv[3];
    size_t lens[3];
    redisCallbackFn *on_reply;                       /* its answer (privdata: the sentinel) */
    void (*lost)(struct ag_sentinel *s, const char *why); /* failed: what comes next */
};

struct ag_sentinel {
    struct ag_store *st;
    char *master;               /* the name the sentinels monitor */
    char *password;             /* AUTH on the sentinels; NULL: none */
    struct ag_store_addr *nodes; /* the sentinels, as configured */
    size_t n;
    size_t first;          /* asked first: the one that answered last */
    struct sentinel_conn query, watch;
    bool asking;           /* a question is under way */
    size_t tried;          /* sentinels tried by this question */
    unsigned switches;     /* +switch-master messages followed */
    unsigned asked_at;     /* <switches> when this question started */
    char why[480];         /* the last sentinel's failure, for the report */
    double watch_backoff;  /* s */
    struct event watch_retry;
    bool known;            /* st->addr holds a primary a sentinel named */
    bool started;          /* the events are assigned */
    char prev[300];        /* "HOST:PORT" before the last switch, until reported; "" none */
    char desc[640];
};

static struct timeval tv_of(double s)
{
    struct timeval tv;

    tv.tv_sec = (time_t)s;
    tv.tv_usec = (suseconds_t)((s - (double)tv.tv_sec) * 1e6);
    return tv;
}

/* "HOST:PORT" of <a> into <buf>, with brackets around an IPv6 host. */
static void sentinel_addr_text(const struct ag_store_addr *a, char *buf, size_t cap)
{
    snprintf(buf, cap, strchr(a->host, ':') != NULL ? "[%s]:%d" : "%s:%d", a->host, a->port);
}

/* ---------------------------------------------------------------- the message */

int ag_sentinel__parse_switch(const char *msg, size_t len, const char *master,
                              struct ag_store_addr *a)
{
    /* "<name> <old-ip> <old-port> <new-ip> <new-port>" (Sentinel's +switch-master). */
    const char *f[5], *end = msg + len, *p = msg;
    size_t fl[5], mlen = strlen(master);
    char hp[300];
    const char *why;
    int n = 0;

    memset(a, 0, sizeof(*a));
    while (p < end && n < 5) {
        const char *sp = memchr(p, ' ', (size_t)(end - p));
        const char *e = sp != NULL ? sp : end;

        if (e == p)
            return -1;
        f[n] = p;
        fl[n++] = (size_t)(e - p);
        p = sp != NULL ? sp + 1 : end;
        if (sp != NULL && p == end)
            return -1;
    }
    if (n != 5 || p != end || fl[0] != mlen || memcmp(f[0], master, mlen) != 0 || fl[3] > 250 ||
        fl[4] > 5)
        return -1;
    snprintf(hp, sizeof(hp), memchr(f[3], ':', fl[3]) != NULL ? "[%.*s]:%.*s" : "%.*s:%.*s",
             (int)fl[3], f[3], (int)fl[4], f[4]);
    return ag_store_hostport_parse(hp, a, &why);
}

/* ---------------------------------------------------------------- the primary */

/* <a> is what a sentinel names now: into st->addr; true when it moved from a known one. */
static bool sentinel_set_primary(struct ag_sentinel *s, const struct ag_store_addr *a)
{
    struct ag_store *st = s->st;
    bool moved = s->known && (strcmp(st->addr.host, a->host) != 0 || st->addr.port != a->port);
    char now[300];

    if (moved)
        sentinel_addr_text(&st->addr, s->prev, sizeof(s->prev));
    memcpy(st->addr.host, a->host, sizeof(st->addr.host));
    st->addr.port = a->port;
    s->known = true;
    sentinel_addr_text(&st->addr, now, sizeof(now));
    snprintf(st->where, sizeof(st->where), "redis-sentinel %.64s, primary %.200s", s->master,
             now);
    return moved;
}

const char *ag_sentinel__describe(struct ag_sentinel *s)
{
    char now[300];

    sentinel_addr_text(&s->st->addr, now, sizeof(now));
    if (s->prev[0] != '\0')
        snprintf(s->desc, sizeof(s->desc), "primary %.200s of '%.64s' (redis-sentinel), after "
                                           "a failover from %.200s", now, s->master, s->prev);
    else
        snprintf(s->desc, sizeof(s->desc), "primary %.200s of '%.64s' (redis-sentinel)", now,
                 s->master);
    s->prev[0] = '\0';
    return s->desc;
}

/* ---------------------------------------------------------------- connections */

static void on_sconn_connect(const redisAsyncContext *cac, int status);
static void on_sconn_disconnect(const redisAsyncContext *cac, int status);

/* Connects <c> to <host> (an address), the port of its sentinel. 0, or -1 (nothing open). */
static int sconn_connect(struct sentinel_conn *c, const char *host)
{
    struct ag_sentinel *s = c->s;
    redisAsyncContext *ac = redisAsyncConnect(host, s->nodes[c->i].port);

    if (ac == NULL || ac->err) {
        if (ac != NULL)
            redisAsyncFree(ac);
        return -1;
    }
    ac->data = c;
    if (redisLibeventAttach(ac, s->st->base) != REDIS_OK) {
        redisAsyncFree(ac);
        return -1;
    }
    c->ac = ac;
    redisAsyncSetConnectCallback(ac, on_sconn_connect);
    redisAsyncSetDisconnectCallback(ac, on_sconn_disconnect);
    if (!evtimer_pending(&c->timer, NULL)) /* pending: the name's resolution started it */
        evtimer_add(&c->timer, &s->st->connect_tv);
    return 0;
}

/* The address of a sentinel named by host: connect to it, within the same timeout. */
static void on_sconn_resolved(const char *ip, const char *why, void *arg)
{
    struct sentinel_conn *c = arg;
    char buf[200];

    c->dns = NULL;
    if (ip == NULL) {
        snprintf(buf, sizeof(buf), "cannot be resolved: %.120s", why);
        c->lost(c->s, buf);
    } else if (sconn_connect(c, ip) < 0) {
        c->lost(c->s, "cannot be connected to");
    }
}

/*
 * Opens <c> to sentinel <i>, a name resolved off the loop first. 0, -1 (nothing open), or
 * -2 (a name whose resolution cannot start: out of memory, threads or descriptors).
 */
static int sconn_open(struct sentinel_conn *c, size_t i)
{
    struct ag_sentinel *s = c->s;

    c->i = i;
    c->up = false;
    c->send_failed = false;
    if (ag_resolve_numeric(s->nodes[i].host))
        return sconn_connect(c, s->nodes[i].host);
    if ((c->dns = ag_resolve_start(s->st->base, s->nodes[i].host, on_sconn_resolved, c)) == NULL)
        return -2;
    evtimer_add(&c->timer, &s->st->connect_tv); /* resolution and connect: one timeout */
    return 0;
}

/* Closes <c> (its pending callbacks see a stale context and return). Not from <c>'s connect
 * callback; from a reply callback hiredis defers the free until it returns. */
static void sconn_close(struct sentinel_conn *c)
{
    redisAsyncContext *ac = c->ac;

    c->ac = NULL;
    c->up = false;
    ag_resolve_cancel(c->dns);
    c->dns = NULL;
    evtimer_del(&c->timer);
    if (ac != NULL && !(ac->c.flags & REDIS_FREEING))
        redisAsyncFree(ac);
}

static void on_sconn_auth(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct sentinel_conn *c = privdata;
    const redisReply *r = reply;

    if (r != NULL && ac == c->ac && r->type == REDIS_REPLY_ERROR)
        c->lost(c->s, "refused AUTH");
}

/* Connected: the answer's timeout starts; AUTH when the sentinels want one, then <c>'s
 * one command (the question, or SUBSCRIBE). */
static void on_sconn_connect(const redisAsyncContext *cac, int status)
{
    struct sentinel_conn *c = cac->data;
    struct ag_sentinel *s = c->s;
    struct timeval zero = {0, 0};

    if (c->ac != cac)
        return;
    if (status != REDIS_OK) {
        c->ac = NULL; /* hiredis frees it after we return */
        c->lost(s, "refused the connection");
        return;
    }
    evtimer_del(&c->timer);
    evtimer_add(&c->timer, &s->st->command_tv);
    if ((s->password != NULL &&
         redisAsyncCommand(c->ac, on_sconn_auth, c, "AUTH %b", s->password,
                           strlen(s->password)) != REDIS_OK) ||
        redisAsyncCommandArgv(c->ac, c->on_reply, s, c->argc, c->argv, c->lens) != REDIS_OK) {
        c->send_failed = true; /* not from here: hiredis still uses the context */
        evtimer_add(&c->timer, &zero);
    }
}

static void on_sconn_disconnect(const redisAsyncContext *cac, int status)
{
    struct sentinel_conn *c = cac->data;

    if (c->ac != cac)
        return; /* we closed it */
    c->ac = NULL;
    c->lost(c->s, "closed the connection");
}

static void on_sconn_timer(evutil_socket_t fd, short what, void *arg)
{
    struct sentinel_conn *c = arg;

    c->lost(c->s, c->dns != NULL ? "could not be resolved in time"
                  : c->send_failed ? "could not be asked"
                  : c->ac != NULL && (c->ac->c.flags & REDIS_CONNECTED) ? "did not answer in time"
                                                                        : "connect timed out");
}

/* ---------------------------------------------------------------- the question */

/* Tries the sentinels from the <tried>th on; none left: every waiting link hears why. */
static void query_try(struct ag_sentinel *s)
{
    char why[640];

    for (; s->tried < s->n; s->tried++) {
        size_t i = (s->first + s->tried) % s->n;
        char at[300];

        int rc = sconn_open(&s->query, i);

        if (rc == 0)
            return;
        sentinel_addr_text(&s->nodes[i], at, sizeof(at));
        snprintf(s->why, sizeof(s->why), rc == -2 ? "cannot resolve the sentinel %.260s: out of "
                                                    "memory, threads or descriptors"
                                                  : "cannot connect to the sentinel %.260s", at);
    }
    s->asking = false;
    snprintf(why, sizeof(why), "no sentinel named the primary of '%.64s' (last: %.480s)", s->master,
             s->why);
    ag_link__primary(s->st, why, false);
}

/* The sentinel asked failed for <why>: the next one. */
static void query_next(struct ag_sentinel *s, const char *why)
{
    char at[300];

    sentinel_addr_text(&s->nodes[s->query.i], at, sizeof(at));
    snprintf(s->why, sizeof(s->why), "the sentinel %.260s %.120s", at, why);
    sconn_close(&s->query);
    s->tried++;
    query_try(s);
}

void ag_sentinel__ask(struct ag_sentinel *s)
{
    if (s->asking || s->st->freeing)
        return;
    s->asking = true;
    s->tried = 0;
    s->asked_at = s->switches;
    query_try(s);
}

static void on_query_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct ag_sentinel *s = privdata;
    const redisReply *r = reply;
    struct ag_store_addr a;
    char hp[300];
    const char *why;
    bool moved;

    if (r == NULL || ac != s->query.ac)
        return; /* dropped: the disconnect callback or our own close goes on */
    if (r->type == REDIS_REPLY_NIL) {
        query_next(s, "does not know that master name");
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING ||
        r->element[0]->len > 250 || r->element[1]->len > 5) {
        query_next(s, r->type == REDIS_REPLY_ERROR ? "answered an error" : "answered no address");
        return;
    }
    snprintf(hp, sizeof(hp), strchr(r->element[0]->str, ':') != NULL ? "[%s]:%s" : "%s:%s",
             r->element[0]->str, r->element[1]->str);
    if (ag_store_hostport_parse(hp, &a, &why) < 0) {
        query_next(s, "answered a bad address");
        return;
    }
    s->first = s->query.i;
    sconn_close(&s->query);
    s->asking = false;
    /* A +switch-master came meanwhile: this sentinel may not have heard of it yet, and
     * the message is newer than its answer. */
    moved = s->asked_at == s->switches && sentinel_set_primary(s, &a);
    ag_link__primary(s->st, NULL, moved);
}

/* ---------------------------------------------------------------- the watch */

/* The watch is gone (or never came): the next sentinel, soon. */
static void watch_lost(struct ag_sentinel *s, const char *why)
{
    struct timeval tv = tv_of(s->watch.up ? 0 : s->watch_backoff);

    if (!s->watch.up) {
        s->watch_backoff *= 2;
        if (s->watch_backoff > SENTINEL_WATCH_BACKOFF_MAX)
            s->watch_backoff = SENTINEL_WATCH_BACKOFF_MAX;
    }
    sconn_close(&s->watch);
    s->watch.i = (s->watch.i + 1) % s->n;
    if (!s->st->freeing)
        evtimer_add(&s->watch_retry, &tv);
}

static void on_watch_retry(evutil_socket_t fd, short what, void *arg)
{
    struct ag_sentinel *s = arg;

    if (s->watch.ac == NULL && s->watch.dns == NULL && sconn_open(&s->watch, s->watch.i) < 0)
        watch_lost(s, "cannot connect");
}

static void on_watch_message(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct ag_sentinel *s = privdata;
    const redisReply *r = reply;
    struct ag_store_addr a;

    if (r == NULL || ac != s->watch.ac || r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return;
    if (strcmp(r->element[0]->str, "subscribe") == 0) {
        evtimer_del(&s->watch.timer);
        s->watch.up = true;
        s->watch_backoff = SENTINEL_WATCH_BACKOFF_MIN;
        /* A switch may have passed while nothing watched: ask (the links follow a move). */
        ag_sentinel__ask(s);
    } else if (strcmp(r->element[0]->str, "message") == 0 &&
               r->element[2]->type == REDIS_REPLY_STRING &&
               ag_sentinel__parse_switch(r->element[2]->str, r->element[2]->len, s->master,
                                         &a) == 0) {
        s->switches++;
        ag_link__primary(s->st, NULL, sentinel_set_primary(s, &a));
    }
}

/* ---------------------------------------------------------------- lifetime */

struct ag_sentinel *ag_sentinel__new(struct ag_store *st, const struct ag_store_opts *o)
{
    struct ag_sentinel *s;
    const char *why;
    size_t plen = o->password != NULL ? strlen(o->password) : 0;

    if (o->sentinel_master == NULL || o->sentinel_master[0] == '\0' || o->sentinels == NULL ||
        o->n_sentinels == 0 || plen >= sizeof(st->addr.password) || o->db < 0)
        return NULL;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->st = st;
    s->n = o->n_sentinels;
    s->nodes = calloc(s->n, sizeof(*s->nodes));
    s->master = strdup(o->sentinel_master);
    if (o->sentinel_password != NULL && o->sentinel_password[0] != '\0')
        s->password = strdup(o->sentinel_password);
    if (s->nodes == NULL || s->master == NULL ||
        (s->password == NULL && o->sentinel_password != NULL && o->sentinel_password[0] != '\0'))
        goto fail;
    for (size_t i = 0; i < s->n; i++)
        if (o->sentinels[i] == NULL || ag_store_hostport_parse(o->sentinels[i], &s->nodes[i], &why) < 0)
            goto fail;
    memcpy(st->addr.password, o->password != NULL ? o->password : "", plen + 1);
    st->addr.db = o->db;
    snprintf(st->where, sizeof(st->where), "redis-sentinel %.64s, primary not known yet",
             s->master);
    s->query.s = s;
    s->watch.s = s;
    s->watch_backoff = SENTINEL_WATCH_BACKOFF_MIN;
    s->query.argc = 3;
    s->query.argv[0] = "SENTINEL";
    s->query.argv[1] = "get-master-addr-by-name";
    s->query.argv[2] = s->master;
    s->query.on_reply = on_query_reply;
    s->query.lost = query_next;
    s->watch.argc = 2;
    s->watch.argv[0] = "SUBSCRIBE";
    s->watch.argv[1] = SENTINEL_CHANNEL;
    s->watch.on_reply = on_watch_message;
    s->watch.lost = watch_lost;
    for (int i = 0; i < 3; i++) {
        s->query.lens[i] = strlen(s->query.argv[i]);
        s->watch.lens[i] = i < 2 ? strlen(s->watch.argv[i]) : 0;
    }
    evtimer_assign(&s->query.timer, st->base, on_sconn_timer, &s->query);
    evtimer_assign(&s->watch.timer, st->base, on_sconn_timer, &s->watch);
    evtimer_assign(&s->watch_retry, st->base, on_watch_retry, s);
    s->started = true;
    {
        struct timeval zero = {0, 0};
        evtimer_add(&s->watch_retry, &zero); /* from the loop: the store is not set up yet */
    }
    return s;
fail:
    ag_sentinel__free(s);
    return NULL;
}

void ag_sentinel__free(struct ag_sentinel *s)
{
    if (s == NULL)
        return;
    if (s->started) {
        evtimer_del(&s->watch_retry);
        sconn_close(&s->query);
        sconn_close(&s->watch);
    }
    if (s->password != NULL)
        sodium_memzero(s->password, strlen(s->password));
    free(s->password);
    free(s->master);
    free(s->nodes);
    free(s);
}
