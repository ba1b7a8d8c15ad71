/*
 * store/link.c - the Redis connections of a store: a command connection and a pub/sub
 * connection (AUTH, SELECT, TIME, SCRIPT LOAD on connect), command timeouts, reconnect
 * with capped backoff, PING keepalive, readiness, commands and EVALSHA with NOSCRIPT recovery.
 *
 * Owns:     struct ag_store, its two redisAsyncContexts and every in-flight pending record.
 * Entry:    ag_store_new(), ag_store_ready(), ag_store_where(), ag_store_opts_equal(),
 *           ag_store_retire(), ag_store_free(), ag_store_cancel(),
 *           ag_store__eval(), ag_store__eval_marked(), ag_store__command(); ag_link__*()
 *           for store/feed.c and store/ack.c (which holds a write's answer until its WAIT).
 * Not here: the address parser (store/url.c), the revocation feed (store/feed.c), what the
 *           keys and scripts mean (store/session.c, user.c, ratelimit.c, audit.c; the
 *           script table is store/scripts.c), HTTP and logging (gateway/).
 * Spec:     CONTRACT.md sections 3 (`redis`) and 8; docs/redis-keys.md; STYLE.md R4, R5, R8.
 */
#include "link.h"

#include <hiredis/hiredis.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "resolve.h"
#include "sentinel.h"

/* ---------------------------------------------------------------- the connection */

#define STORE_BACKOFF_MIN 0.1 /* s: first reconnect delay */
#define STORE_BACKOFF_MAX 5.0 /* s: cap of the doubling */
#define STORE_PING_S 1        /* s between PINGs on the command link (readiness through a hang) */
/* With Sentinel a retry first asks where the primary is: cheap, and a failover is
 * followed sooner (a +switch-master reconnects at once anyway). */
#define STORE_SENTINEL_BACKOFF_MAX 1.0

static struct timeval tv_of(double s)
{
    struct timeval tv;

    tv.tv_sec = (time_t)s;
    tv.tv_usec = (suseconds_t)((s - (double)tv.tv_sec) * 1e6);
    return tv;
}

/* Whether <l>'s context is live (not dropped, not being freed by hiredis). */
static bool link_live(const struct store_link *l)
{
    return l->ac != NULL && !(l->ac->c.flags & (REDIS_DISCONNECTING | REDIS_FREEING));
}

/*
 * Ready = commands work and, when the feed runs, it is subscribed and replayed. Reports a
 * change through on_state; the first "not ready" only on a real failure (<fail>), not
 * while the first connection is still on its way.
 */
void ag_link__update(struct ag_store *st, const char *why, bool fail)
{
    bool ready = !st->retired && st->cmd.up && ag_feed__synced(st);

    st->ready = ready;
    if (st->freeing || st->retired || st->reported == (int)ready || (!ready && st->reported < 0 && !fail))
        return;
    st->reported = (int)ready;
    if (ready && st->sentinel != NULL)
        why = ag_sentinel__describe(st->sentinel); /* which primary, and a failover followed */
    if (why != st->why)
        snprintf(st->why, sizeof(st->why), "%s", why);
    if (st->on_state != NULL)
        st->on_state(ready, st->why, st->arg);
}

/* ---------------------------------------------------------------- commands */

void ag_link__pending_free(struct store_pending *p)
{
    if (p == NULL)
        return;
    evtimer_del(&p->timer);
    ag_ack__reply_free(p->held);
    ag_link__pending_free(p->mark);
    free(p->argv);
    free(p);
}

static void on_pending_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct store_pending *p = arg;

    /* Frees the context: every pending callback of it, <p>'s included, runs with NULL. */
    ag_link__fail(p->link, "Redis command timed out");
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata);

/* A retired store whose last command just answered: its owner is told from the loop. */
static void store_idle_check(struct ag_store *st)
{
    struct timeval zero = {0, 0};

    if (st->retired && !st->freeing && TAILQ_EMPTY(&st->pending) &&
        !evtimer_pending(&st->idle_ev, NULL))
        evtimer_add(&st->idle_ev, &zero);
}

/* Sends <p>'s command on its link. 0, or -1 (nothing sent, <p> not freed). */
static int pending_send(struct store_pending *p)
{
    struct store_link *l = p->link;

    if (!link_live(l))
        return -1;
    if (ag_link__format(l->ac, on_reply, p, p->argc, p->argv, p->lens) != REDIS_OK)
        return -1;
    p->ac = l->ac;
    p->seq = ++l->sent;
    evtimer_add(&p->timer, &l->st->command_tv);
    return 0;
}

/*
 * Copies <argc> arguments (after <nhead> of <head>) into a new pending record for <l>,
 * not sent. The record, or NULL (OOM).
 */
static struct store_pending *pending_new(struct store_link *l, int script, int nhead,
                                         const char **head, const size_t *hlens, int argc,
                                         const char **argv, const size_t *lens,
                                         ag_store__reply_fn *fn, ag_store__any_fn *cb, void *arg)
{
    struct ag_store *st = l->st;
    struct store_pending *p;
    size_t bytes = 0;
    int n = nhead + argc;
    char *w;

    for (int i = 0; i < nhead; i++)
        bytes += hlens[i] + 1;
    for (int i = 0; i < argc; i++)
        bytes += lens[i] + 1;
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->argv = malloc((size_t)n * (sizeof(char *) + sizeof(size_t)) + bytes);
    if (p->argv == NULL) {
        free(p);
        return NULL;
    }
    p->lens = (size_t *)(p->argv + n);
    w = (char *)(p->lens + n);
    for (int i = 0; i < n; i++) {
        const char *s = i < nhead ? head[i] : argv[i - nhead];
        size_t len = i < nhead ? hlens[i] : lens[i - nhead];
        memcpy(w, s, len);
        w[len] = '\0';
        p->argv[i] = w;
        p->lens[i] = len;
        w += len + 1;
    }
    p->argc = n;
    p->link = l;
    p->fn = fn;
    p->cb = cb;
    p->arg = arg;
    p->script = script;
    evtimer_assign(&p->timer, st->base, on_pending_timeout, p);
    return p;
}

int ag_link__send(struct store_pending *p)
{
    if (pending_send(p) < 0)
        return -1;
    TAILQ_INSERT_TAIL(&p->link->st->pending, p, entry); /* a NOSCRIPT resend keeps its place */
    return 0;
}

/* Sends a new record (pending_new()) <p>; frees it when that fails. 0, or -1. */
static int pending_start(struct store_pending *p)
{
    if (p == NULL)
        return -1;
    if (ag_link__send(p) < 0) {
        ag_link__pending_free(p);
        return -1;
    }
    ag_ack__sent(p);
    return 0;
}

/*
 * Copies <argc> arguments (after <nhead> of <head>) into a new pending record for <l>
 * and sends it. 0 (<fn> runs exactly once, later), or -1.
 */
static int store_command(struct store_link *l, int script, int nhead, const char **head,
                         const size_t *hlens, int argc, const char **argv, const size_t *lens,
                         ag_store__reply_fn *fn, ag_store__any_fn *cb, void *arg)
{
    return pending_start(
        pending_new(l, script, nhead, head, hlens, argc, argv, lens, fn, cb, arg));
}

static int store_simple(struct store_link *l, ag_store__reply_fn *fn, void *arg, int argc,
                        const char **argv)
{
    size_t lens[8];

    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    return store_command(l, -1, 0, NULL, NULL, argc, argv, lens, fn, NULL, arg);
}

static void on_script_reloaded(const struct redisReply *r, ag_store__any_fn *cb, void *arg)
{
}

/*
 * Sentinel: whether <err> says the command reached a replica (READONLY, also inside a
 * script's error): the primary moved without our seeing it. The link is failed, so the
 * sentinels are asked again before it reconnects. Safe in the reply callback (hiredis
 * defers the free until it returns).
 */
static bool link_readonly(struct store_link *l, const char *err)
{
    if (strncmp(err, "READONLY ", 9) != 0 && strstr(err, "READONLY You can't write") == NULL)
        return false;
    ag_link__fail(l, "Redis answered READONLY: a replica now, not the primary");
    return true;
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct store_pending *p = privdata;
    const redisReply *r = reply;
    struct store_link *l = p->link;

    evtimer_del(&p->timer);
    if (r != NULL && r->type == REDIS_REPLY_ERROR && l->st->sentinel != NULL && l->ac == ac &&
        link_readonly(l, r->str))
        r = NULL; /* written to a replica: "unavailable", and the link fails (link_readonly()) */
    if (r != NULL && r->type == REDIS_REPLY_ERROR && p->script >= 0 && !p->retried &&
        strncmp(r->str, "NOSCRIPT", 8) == 0 && l->ac == ac && link_live(l)) {
        /* The script cache was flushed (SCRIPT FLUSH, a restart we did not see): load it
         * again and retry once; both go out in order on this connection. */
        const char *load[3] = {"SCRIPT", "LOAD", ag_store__script_text[p->script]};
        p->retried = true;
        if (store_simple(l, on_script_reloaded, NULL, 3, load) == 0 && pending_send(p) == 0)
            return;
    }
    if (ag_ack__hold(p, r) == 0) {
        /* Held until its WAIT answers (store/ack.c), or answered and freed by it: a
         * retired store's last command may have been a mark. */
        store_idle_check(l->st);
        return;
    }
    if (p->fn != NULL)
        p->fn(r, p->cb, p->arg);
    TAILQ_REMOVE(&l->st->pending, p, entry);
    ag_link__pending_free(p);
    store_idle_check(l->st);
}

int ag_store_cancel(struct ag_store *st, void *arg)
{
    struct store_pending *p;
    int n = 0;

    TAILQ_FOREACH(p, &st->pending, entry)
        if (p->fn != NULL && p->arg == arg) {
            p->fn = NULL;
            p->cb = NULL;
            n++;
        }
    return n;
}

/* The EVALSHA head of <script> in <head> (3 strings, <nk> holding <nkeys>) and <hlens>. */
static void eval_head(struct ag_store *st, enum ag_store__script script, int nkeys,
                      const char **head, size_t *hlens, char nk[24])
{
    ag_store__num(nk, nkeys);
    head[0] = "EVALSHA";
    head[1] = st->sha[script];
    head[2] = nk;
    for (int i = 0; i < 3; i++)
        hlens[i] = strlen(head[i]);
}

/* Whether <c> is a well-formed script call. */
static bool call_ok(const struct ag_store__call *c)
{
    return c != NULL && (int)c->script >= 0 && c->script < AG_STORE__NSCRIPTS && c->nkeys >= 0 &&
           c->nkeys <= c->argc;
}

int ag_store__eval(struct ag_store *st, enum ag_store__script script, int nkeys, int argc,
                   const char **argv, const size_t *lens, ag_store__reply_fn *fn,
                   ag_store__any_fn *cb, void *arg)
{
    char nk[24];
    const char *head[3];
    size_t hlens[3];

    if (st == NULL || !st->ready || (int)script < 0 || script >= AG_STORE__NSCRIPTS ||
        nkeys < 0 || nkeys > argc || fn == NULL)
        return -1;
    eval_head(st, script, nkeys, head, hlens, nk);
    return store_command(&st->cmd, (int)script, 3, head, hlens, argc, argv, lens, fn, cb, arg);
}

int ag_store__eval_marked(struct ag_store *st, const struct ag_store__call *write,
                          const struct ag_store__call *mark, ag_store__reply_fn *fn,
                          ag_store__any_fn *cb, void *arg)
{
    char nk[24], mnk[24];
    const char *head[3], *mhead[3];
    size_t hlens[3], mhlens[3];
    struct store_pending *p;

    if (st == NULL || !st->ready || !call_ok(write) || !call_ok(mark) || fn == NULL)
        return -1;
    eval_head(st, write->script, write->nkeys, head, hlens, nk);
    eval_head(st, mark->script, mark->nkeys, mhead, mhlens, mnk);
    p = pending_new(&st->cmd, (int)write->script, 3, head, hlens, write->argc, write->argv,
                    write->lens, fn, cb, arg);
    if (p == NULL)
        return -1;
    p->mark = pending_new(&st->cmd, (int)mark->script, 3, mhead, mhlens, mark->argc, mark->argv,
                          mark->lens, NULL, NULL, NULL);
    if (p->mark == NULL) {
        ag_link__pending_free(p);
        return -1;
    }
    return pending_start(p);
}

int ag_link__command(struct store_link *l, int argc, const char **argv, const size_t *lens,
                     ag_store__reply_fn *fn, ag_store__any_fn *cb, void *arg)
{
    return store_command(l, -1, 0, NULL, NULL, argc, argv, lens, fn, cb, arg);
}

void ag_store_flush(struct ag_store *st)
{
    if (st != NULL)
        ag_link__ev_flush(st->cmd.ac);
}

int ag_store__command(struct ag_store *st, int argc, const char **argv, const size_t *lens,
                      ag_store__reply_fn *fn, ag_store__any_fn *cb, void *arg)
{
    if (st == NULL || !st->ready || argc < 1 || fn == NULL)
        return -1;
    return ag_link__command(&st->cmd, argc, argv, lens, fn, cb, arg);
}

/* ---------------------------------------------------------------- connect, handshake */

/* The pub/sub link is subscribed (store/feed.c): the SUBSCRIBE timeout stops. */
void ag_link__up(struct store_link *l)
{
    evtimer_del(&l->timer);
    l->up = true;
    l->backoff = STORE_BACKOFF_MIN;
}

/* Common end of a link, however it went: mark down, report, schedule the reconnect. */
static void link_lost(struct store_link *l, const char *why)
{
    struct ag_store *st = l->st;

    l->up = false;
    l->handshake_left = 0;
    l->resolved = false; /* Sentinel: ask again before reconnecting */
    evtimer_del(&l->timer);
    if (l->kind == LINK_SUB)
        ag_feed__lost(st);
    /* The address says which Redis an operator must look at; the password stays out. */
    snprintf(st->why, sizeof(st->why), "%s (%s)", why, st->where);
    ag_link__update(st, st->why, true);
    if (st->freeing || st->retired || evtimer_pending(&l->retry, NULL))
        return;
    {
        struct timeval tv = tv_of(l->backoff);
        evtimer_add(&l->retry, &tv);
    }
    l->backoff *= 2;
    if (l->backoff > STORE_BACKOFF_MAX)
        l->backoff = STORE_BACKOFF_MAX;
    if (st->sentinel != NULL && l->backoff > STORE_SENTINEL_BACKOFF_MAX)
        l->backoff = STORE_SENTINEL_BACKOFF_MAX;
}

/*
 * We give up on <l>'s connection (timeout, AUTH refused, ...): free it, which runs every
 * pending callback with NULL, then reconnect later. Safe inside a hiredis callback (hiredis
 * defers the free until it returns).
 */
void ag_link__fail(struct store_link *l, const char *why)
{
    redisAsyncContext *ac = l->ac;
    char buf[160];

    snprintf(buf, sizeof(buf), "%s", why);
    l->ac = NULL;
    l->up = false;
    l->st->ready = false; /* callbacks run by the free below must see "not ready" */
    if (ac != NULL && !(ac->c.flags & REDIS_FREEING))
        redisAsyncFree(ac);
    link_lost(l, buf);
}

static void on_handshake(const struct redisReply *r, ag_store__any_fn *cb, void *arg)
{
    struct store_link *l = arg;
    struct ag_store *st = l->st;
    char why[160];

    if (r == NULL)
        return; /* the connection is already being dropped */
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(why, sizeof(why), "Redis refused the handshake: %.120s", r->str);
        ag_link__fail(l, why);
        return;
    }
    if (--l->handshake_left > 0)
        return;
    if (l->kind == LINK_SUB) {
        ag_feed__subscribe(l); /* AUTH done */
        return;
    }
    l->up = true; /* its timer was stopped in on_connect */
    l->backoff = STORE_BACKOFF_MIN;
    ag_feed__replay(st);
    ag_link__update(st, "connected", false);
}

/* Milliseconds on our wall clock. */
static int64_t store_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* TIME, during the handshake: how far Redis's clock is from ours (one round trip of error). */
static void on_time(const struct redisReply *r, ag_store__any_fn *cb, void *arg)
{
    struct store_link *l = arg;

    if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[0]->type == REDIS_REPLY_STRING && r->element[1]->type == REDIS_REPLY_STRING)
        l->st->clock_offset_ms = strtoll(r->element[0]->str, NULL, 10) * 1000 +
                                 strtoll(r->element[1]->str, NULL, 10) / 1000 - store_now_ms();
    on_handshake(r, cb, arg);
}

int64_t ag_store__deadline_ms(const struct ag_store *st)
{
    int64_t timeout = (int64_t)st->command_tv.tv_sec * 1000 + st->command_tv.tv_usec / 1000;
    int64_t margin = timeout / 2 < 500 ? timeout / 2 : 500;

    return store_now_ms() + st->clock_offset_ms + timeout - margin;
}

static void on_script_loaded(const struct redisReply *r, ag_store__any_fn *cb, void *arg)
{
    struct store_link *l = arg;

    if (r != NULL && r->type == REDIS_REPLY_STRING && r->len == 40 && l->ac != NULL) {
        /* The SHA1 is that of the text: recomputed by Redis, kept for EVALSHA. Scripts are
         * loaded in order, so the count of those left tells which one this is. */
        int i = AG_STORE__NSCRIPTS - l->handshake_left;
        if (i >= 0 && i < AG_STORE__NSCRIPTS)
            memcpy(l->st->sha[i], r->str, 41);
    }
    on_handshake(r, cb, arg);
}

/* The command link's SELECT, TIME and SCRIPT LOADs (with Sentinel, after ROLE). 0, or not. */
static int link_send_setup(struct store_link *l)
{
    char db[16];
    const char *sel[2] = {"SELECT", db};
    const char *tm[1] = {"TIME"};
    int rc = 0;

    snprintf(db, sizeof(db), "%d", l->st->addr.db);
    rc |= store_simple(l, on_handshake, l, 2, sel);
    l->handshake_left++;
    rc |= store_simple(l, on_time, l, 1, tm);
    l->handshake_left++;
    for (int i = 0; i < AG_STORE__NSCRIPTS; i++) {
        const char *load[3] = {"SCRIPT", "LOAD", ag_store__script_text[i]};
        rc |= store_simple(l, on_script_loaded, l, 3, load);
        l->handshake_left++;
    }
    /* After the loads (their EVALSHA), before the store is ready (before any retry). */
    rc |= ag_ack__resend(l);
    return rc;
}

/*
 * Sentinel: ROLE, in the command link's handshake, must say "master" before anything
 * else is sent: a sentinel's answer may be stale (a failover under way), and nothing
 * goes to a replica. Anything else fails the link, and the sentinels are asked again
 * before it reconnects.
 */
static void on_role(const struct redisReply *r, ag_store__any_fn *cb, void *arg)
{
    struct store_link *l = arg;
    char why[160];

    if (r != NULL && r->type != REDIS_REPLY_ERROR &&
        (r->type != REDIS_REPLY_ARRAY || r->elements == 0 ||
         r->element[0]->type != REDIS_REPLY_STRING || strcmp(r->element[0]->str, "master") != 0)) {
        snprintf(why, sizeof(why), "Redis is not the primary (ROLE %.20s)",
                 r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
                         r->element[0]->type == REDIS_REPLY_STRING
                     ? r->element[0]->str
                     : "?");
        ag_link__fail(l, why);
        return;
    }
    if (r != NULL && r->type != REDIS_REPLY_ERROR && link_send_setup(l) != 0) {
        ag_link__fail(l, "cannot send the Redis handshake");
        return;
    }
    on_handshake(r, cb, arg);
}

static void on_connect(const redisAsyncContext *cac, int status)
{
    struct store_link *l = cac->data;
    struct ag_store *st = l->st;
    int rc = 0;

    if (l->ac != cac)
        return;
    if (status != REDIS_OK) {
        char why[160];
        snprintf(why, sizeof(why), "cannot connect to Redis: %.120s", cac->errstr);
        l->ac = NULL; /* hiredis frees it after we return */
        link_lost(l, why);
        return;
    }
    evtimer_del(&l->timer);
    l->handshake_left = 0;
    /* A peer gone without a FIN (a partition) is noticed on the quiet pub/sub link too. */
    if (st->addr.path[0] == '\0')
        redisEnableKeepAlive(&((redisAsyncContext *)cac)->c);
    if (st->addr.password[0] != '\0') {
        const char *argv[2] = {"AUTH", st->addr.password};
        rc |= store_simple(l, on_handshake, l, 2, argv);
        l->handshake_left++;
    }
    if (l->kind == LINK_SUB) {
        /* The SUBSCRIBE confirmation has the command timeout. */
        evtimer_add(&l->timer, &st->command_tv);
        if (l->handshake_left == 0)
            ag_feed__subscribe(l);
    } else if (st->sentinel != NULL) {
        /* ROLE first: the rest only once it says "master" (on_role). */
        const char *role[1] = {"ROLE"};
        rc |= store_simple(l, on_role, l, 1, role);
        l->handshake_left++;
    } else {
        rc |= link_send_setup(l);
    }
    if (rc != 0)
        ag_link__fail_soon(l); /* not from here: hiredis still uses <cac> after we return */
}

static void on_disconnect(const redisAsyncContext *cac, int status)
{
    struct store_link *l = cac->data;
    char why[160];

    if (l->ac != cac)
        return; /* we dropped it ourselves (link_fail, ag_store_free) */
    snprintf(why, sizeof(why), "lost the Redis connection: %.120s",
             status == REDIS_OK ? "closed" : cac->errstr);
    l->ac = NULL;
    link_lost(l, why);
}

static void on_link_timer(evutil_socket_t fd, short what, void *arg)
{
    struct store_link *l = arg;
    char why[320];

    if (l->dns != NULL) {
        /* The resolution goes on: the retry waits for it (one thread per link, however
         * long the DNS hangs), and its answer connects the link. */
        snprintf(why, sizeof(why), "resolving %.255s timed out", l->st->addr.host);
        link_lost(l, why);
        return;
    }
    ag_link__fail(l, l->ac != NULL && (l->ac->c.flags & REDIS_CONNECTED)
                     ? "Redis handshake timed out"
                     : "Redis connect timed out");
}

/* ag_link__fail() from the loop, for where freeing the context is unsafe (the connect callback). */
void ag_link__fail_soon(struct store_link *l)
{
    struct timeval zero = {0, 0};

    evtimer_add(&l->timer, &zero);
}

static void on_link_retry(evutil_socket_t fd, short what, void *arg)
{
    ag_link__connect(arg);
}

/*
 * Opens <l>'s connection: to <host> (an address, never a name: hiredis would resolve it
 * on the loop), or to the unix socket when <host> is NULL. The connect timeout starts,
 * unless the name's resolution started it already (one timeout covers both).
 */
static void link_dial(struct store_link *l, const char *host)
{
    struct ag_store *st = l->st;
    redisAsyncContext *ac = host != NULL ? redisAsyncConnect(host, st->addr.port)
                                         : redisAsyncConnectUnix(st->addr.path);

    if (ac == NULL || ac->err) {
        char why[160];
        snprintf(why, sizeof(why), "cannot connect to Redis: %.120s",
                 ac != NULL ? ac->errstr : "out of memory");
        if (ac != NULL)
            redisAsyncFree(ac);
        link_lost(l, why);
        return;
    }
    ac->data = l;
    if (ag_link__ev_attach(ac, st->base) != REDIS_OK) {
        redisAsyncFree(ac);
        link_lost(l, "cannot attach to the event loop");
        return;
    }
    l->ac = ac;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    if (!evtimer_pending(&l->timer, NULL))
        evtimer_add(&l->timer, &st->connect_tv);
}

/*
 * The address of a Redis named by host: connect to it now, within what is left of the
 * connect timeout (or a new one, when the resolution outlived it: the link was reported
 * down then, and this is its retry). A retired or freed store cancelled it first; a
 * primary named by the sentinels that was lost meanwhile is asked for again.
 */
static void on_link_resolved(const char *ip, const char *why, void *arg)
{
    struct store_link *l = arg;
    char buf[400];

    l->dns = NULL;
    if (ip == NULL) {
        snprintf(buf, sizeof(buf), "cannot resolve %.255s: %.120s", l->st->addr.host, why);
        link_lost(l, buf);
    } else if (l->st->sentinel != NULL && !l->resolved) {
        ag_link__connect(l);
    } else {
        link_dial(l, ip);
    }
}

void ag_link__connect(struct store_link *l)
{
    struct ag_store *st = l->st;

    if (l->ac != NULL || l->dns != NULL || st->freeing || st->retired)
        return; /* a retired store never reconnects (a +switch-master must not revive it) */
    if (st->sentinel != NULL && !l->resolved) {
        /* Where the primary is now: ag_link__primary() connects <l> with the answer. */
        l->awaiting = true;
        ag_sentinel__ask(st->sentinel);
        return;
    }
    if (st->addr.path[0] != '\0') {
        link_dial(l, NULL);
    } else if (ag_resolve_numeric(st->addr.host)) {
        link_dial(l, st->addr.host);
    } else if ((l->dns = ag_resolve_start(st->base, st->addr.host, on_link_resolved, l)) == NULL) {
        link_lost(l, "cannot resolve the Redis host: out of memory, threads or descriptors");
    } else {
        evtimer_add(&l->timer, &st->connect_tv); /* resolution and connect: one timeout */
    }
}

void ag_link__primary(struct ag_store *st, const char *why, bool moved)
{
    struct store_link *links[2] = {&st->cmd, &st->sub};

    for (int i = 0; i < 2; i++) {
        struct store_link *l = links[i];
        bool go = l->awaiting;

        if (why != NULL) {
            if (l->awaiting) {
                l->awaiting = false;
                link_lost(l, why);
            }
            continue;
        }
        if (moved && (l->ac != NULL || l->dns != NULL || evtimer_pending(&l->retry, NULL))) {
            /* A failover: both links follow it now, whatever their backoff says. */
            if (l->dns != NULL) { /* the old primary's name: not where to go now */
                ag_resolve_cancel(l->dns);
                l->dns = NULL;
                evtimer_del(&l->timer);
            }
            if (l->ac != NULL)
                ag_link__fail(l, "following a failover");
            evtimer_del(&l->retry);
            l->backoff = STORE_BACKOFF_MIN;
            go = true;
        }
        if (go) {
            l->awaiting = false;
            l->resolved = true;
            ag_link__connect(l);
        }
    }
}

/* ---------------------------------------------------------------- lifetime */

static void link_init(struct ag_store *st, struct store_link *l, enum link_kind kind)
{
    l->st = st;
    l->kind = kind;
    l->backoff = STORE_BACKOFF_MIN;
    evtimer_assign(&l->timer, st->base, on_link_timer, l);
    evtimer_assign(&l->retry, st->base, on_link_retry, l);
}

static void on_ping_reply(const struct redisReply *r, ag_store__any_fn *cb, void *arg)
{
    /* Nothing to do: an answer that does not come in time fails the link (on_pending_timeout). */
}

static void on_ping_tick(evutil_socket_t fd, short what, void *arg)
{
    struct ag_store *st = arg;
    const char *ping[1] = {"PING"};

    if (st->cmd.up && link_live(&st->cmd))
        store_simple(&st->cmd, on_ping_reply, NULL, 1, ping);
}

static void on_idle_tick(evutil_socket_t fd, short what, void *arg)
{
    struct ag_store *st = arg;
    ag_store_idle_fn *fn = st->on_idle;

    if (fn == NULL || !TAILQ_EMPTY(&st->pending))
        return;
    st->on_idle = NULL;
    fn(st, st->idle_arg); /* may free <st> */
}

static bool str_eq(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* The sentinel settings of <a> and <b> are the same (both NULL masters: plain `redis`). */
static bool sentinel_opts_equal(const struct ag_store_opts *a, const struct ag_store_opts *b)
{
    if (!str_eq(a->sentinel_master, b->sentinel_master))
        return false;
    if (a->sentinel_master == NULL)
        return true;
    if (a->n_sentinels != b->n_sentinels || !str_eq(a->password, b->password) ||
        !str_eq(a->sentinel_password, b->sentinel_password) || a->db != b->db)
        return false;
    for (size_t i = 0; i < a->n_sentinels; i++)
        if (!str_eq(a->sentinels[i], b->sentinels[i]))
            return false;
    return true;
}

bool ag_store_opts_equal(const struct ag_store_opts *a, const struct ag_store_opts *b)
{
    return str_eq(a->url, b->url) && str_eq(a->ns, b->ns) && sentinel_opts_equal(a, b) &&
           a->connect_timeout == b->connect_timeout && a->command_timeout == b->command_timeout;
}

struct ag_store *ag_store_new(struct event_base *base, const struct ag_store_opts *o)
{
    struct ag_store *st;
    const char *why;

    if (base == NULL || o == NULL || (o->url == NULL && o->sentinel_master == NULL))
        return NULL;
    st = calloc(1, sizeof(*st));
    if (st == NULL)
        return NULL;
    st->base = base;
    st->connect_tv = tv_of(o->connect_timeout > 0 ? o->connect_timeout : 2.0);
    st->command_tv = tv_of(o->command_timeout > 0 ? o->command_timeout : 2.0);
    if (o->sentinel_master != NULL) {
        /* Sets the password, db and <where>; the address comes from the sentinels. */
        if ((st->sentinel = ag_sentinel__new(st, o)) == NULL) {
            free(st);
            return NULL;
        }
    } else if (ag_store_url_parse(o->url, &st->addr, &why) < 0) {
        free(st);
        return NULL;
    }
    if (st->sentinel != NULL)
        ; /* <where> names the master and, once known, the primary */
    else if (st->addr.path[0] != '\0')
        snprintf(st->where, sizeof(st->where), "redis unix:%s", st->addr.path);
    else if (strchr(st->addr.host, ':') != NULL)
        snprintf(st->where, sizeof(st->where), "redis [%s]:%d", st->addr.host, st->addr.port);
    else
        snprintf(st->where, sizeof(st->where), "redis %s:%d", st->addr.host, st->addr.port);
    st->ns = strdup(o->ns != NULL ? o->ns : "authgate");
    if (st->ns == NULL) {
        ag_sentinel__free(st->sentinel);
        free(st);
        return NULL;
    }
    st->on_state = o->on_state;
    st->arg = o->arg;
    st->acks = o->min_replicas_ack > 0 ? o->min_replicas_ack : 0;
    st->reported = -1;
    TAILQ_INIT(&st->pending);
    TAILQ_INIT(&st->owed);
    link_init(st, &st->cmd, LINK_CMD);
    link_init(st, &st->sub, LINK_SUB);
    event_assign(&st->ping_ev, base, -1, EV_PERSIST, on_ping_tick, st);
    evtimer_assign(&st->idle_ev, base, on_idle_tick, st);
    {
        struct timeval every = {STORE_PING_S, 0};
        evtimer_add(&st->ping_ev, &every);
    }
    ag_link__connect(&st->cmd);
    return st;
}

bool ag_store_ready(const struct ag_store *st)
{
    return st != NULL && st->ready;
}

const char *ag_store_where(const struct ag_store *st)
{
    return st->where;
}

const char *ag_store__ns(const struct ag_store *st)
{
    return st->ns;
}

int ag_store__key(char *buf, size_t cap, const struct ag_store *st, const char *what,
                  const char *id, const char *suffix)
{
    /* "{<ns>}:<what><id><suffix>", without printf: a refresh makes eight. */
    size_t a = strlen(st->ns), b = strlen(what), c = strlen(id), d = strlen(suffix);

    if (a + b + c + d + 3 >= cap)
        return -1;
    *buf++ = '{';
    memcpy(buf, st->ns, a);
    buf += a;
    *buf++ = '}';
    *buf++ = ':';
    memcpy(buf, what, b);
    memcpy(buf + b, id, c);
    memcpy(buf + b + c, suffix, d);
    buf[b + c + d] = '\0';
    return 0;
}

static void link_clear(struct store_link *l)
{
    redisAsyncContext *ac = l->ac;

    ag_resolve_cancel(l->dns);
    l->dns = NULL;
    evtimer_del(&l->timer);
    evtimer_del(&l->retry);
    l->ac = NULL;
    l->up = false;
    l->awaiting = false;
    if (ac != NULL && !(ac->c.flags & REDIS_FREEING))
        redisAsyncFree(ac);
}

void ag_store_retire(struct ag_store *st, ag_store_idle_fn *fn, void *arg)
{
    st->retired = true;
    st->ready = false;
    st->on_state = NULL;
    st->on_idle = fn;
    st->idle_arg = arg;
    evtimer_del(&st->ping_ev);
    evtimer_del(&st->cmd.retry); /* down: it stays down; its last commands failed already */
    if (st->cmd.dns != NULL) { /* not connected: nothing in flight on it */
        ag_resolve_cancel(st->cmd.dns);
        st->cmd.dns = NULL;
        evtimer_del(&st->cmd.timer);
    }
    link_clear(&st->sub); /* the feed: the store that replaces it has its own */
    store_idle_check(st);
}

void ag_store_free(struct ag_store *st)
{
    if (st == NULL)
        return;
    st->freeing = true;
    st->ready = false;
    evtimer_del(&st->ping_ev);
    evtimer_del(&st->idle_ev);
    ag_sentinel__free(st->sentinel); /* first: its answers would reconnect the links */
    st->sentinel = NULL;
    link_clear(&st->sub);
    link_clear(&st->cmd);
    ag_ack__free(st);
    ag_feed__free(st);
    free(st->ns);
    free(st);
}
