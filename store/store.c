/*
 * store/store.c - the Redis connection: the `redis` address, a command connection and a
 * pub/sub connection (AUTH, SELECT, SCRIPT LOAD on connect), command timeouts, reconnect
 * with capped backoff, EVALSHA with NOSCRIPT recovery, and the revocation feed plumbing.
 *
 * Owns:     struct ag_store, its two redisAsyncContexts and every in-flight pending record.
 * Entry:    ag_store_url_parse(), ag_store_new(), ag_store_ready(), ag_store_free(),
 *           ag_store_cancel(), ag_store__eval(), ag_store__command(), ag_store__feed().
 * Not here: what the keys and scripts mean (store/session.c, user.c, ratelimit.c,
 *           audit.c; the script table is store/scripts.c), HTTP and logging (gateway/).
 * Spec:     CONTRACT.md sections 3 (`redis`) and 8; docs/redis-keys.md; STYLE.md R4, R5, R8.
 */
#include "store.h"

#include <event2/event.h>
#include <event2/event_struct.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------- the `redis` address */

/*
 * The one parser of the `redis` setting: `check` and `serve` run it when they load a
 * config (gateway/server.c ag_gen_load()), and ag_store_new() runs it again, so what
 * `check` accepts is what the store connects to, and what it refuses is named there.
 */

#define URL_FORM "expected \"redis://[:PASSWORD@]HOST:PORT[/DB]\""
#define URL_DB_MAX 2147483646L /* SELECT takes 0 .. databases-1, and databases is an int */
#define URL_HOST_MAX 253       /* a DNS name */
#define URL_V6_MAX 45          /* longest IPv6 text */

/* Copies <len> bytes of <s> into <dst> (size <cap>) with a NUL; -1 if they do not fit. */
static int copy_n(char *dst, size_t cap, const char *s, size_t len)
{
    if (len >= cap)
        return -1;
    memcpy(dst, s, len);
    dst[len] = '\0';
    return 0;
}

/* Whether <s> starts with <scheme> ("name://"), letter case ignored (RFC 3986 s.3.1). */
static bool url_scheme_is(const char *s, const char *scheme)
{
    for (; *scheme != '\0'; s++, scheme++) {
        char c = *s >= 'A' && *s <= 'Z' ? (char)(*s - 'A' + 'a') : *s;
        if (c != *scheme)
            return false;
    }
    return true;
}

static bool url_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool url_is_hex(char c)
{
    return url_is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool url_is_name(char c)
{
    return url_is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
           c == '.' || c == '_';
}

/*
 * Parses "HOST:PORT" or "[IPV6]:PORT" (<s,n>; the port is required) into <a>. HOST is a
 * name or IPv4 address (letters, digits, '-', '.', '_'), or in brackets hex digits, ':'
 * and '.'. 0, or -1 with <why>.
 */
static int url_host_port(const char *s, size_t n, struct ag_store_addr *a, const char **why)
{
    const char *colon = NULL, *end = s + n;
    long port = 0;

    *why = URL_FORM;
    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        size_t hl;

        if (close == NULL || close == s + 1 || (size_t)(close - s) - 1 > URL_V6_MAX)
            return -1;
        hl = (size_t)(close - s) - 1;
        for (size_t i = 1; i <= hl; i++)
            if (!url_is_hex(s[i]) && s[i] != ':' && s[i] != '.')
                return -1;
        if (memchr(s + 1, ':', hl) == NULL || close + 1 == end || close[1] != ':')
            return -1;
        copy_n(a->host, sizeof(a->host), s + 1, hl);
        colon = close + 1;
    } else {
        size_t hl;

        for (const char *q = s; q < end; q++)
            if (*q == ':')
                colon = q;
        hl = colon != NULL ? (size_t)(colon - s) : n;
        if (memchr(s, ':', hl) != NULL) {
            *why = "IPv6 addresses need brackets, as in \"redis://[::1]:6379/0\"";
            return -1;
        }
        if (hl == 0 || hl > URL_HOST_MAX || colon == NULL)
            return -1;
        for (size_t i = 0; i < hl; i++)
            if (!url_is_name(s[i]))
                return -1;
        copy_n(a->host, sizeof(a->host), s, hl);
    }
    if (colon + 1 == end)
        return -1;
    for (const char *q = colon + 1; q < end; q++) {
        if (!url_is_digit(*q))
            return -1;
        if (port <= 65535)
            port = port * 10 + (*q - '0');
    }
    if (port < 1 || port > 65535) {
        *why = "port must be 1-65535";
        return -1;
    }
    a->port = (int)port;
    return 0;
}

/* Parses the database number after '/' (<s>, NUL-terminated; empty means 0) into <a>. */
static int url_db(const char *s, struct ag_store_addr *a, const char **why)
{
    size_t n = strlen(s);
    long v = 0;

    *why = "the database after '/' must be a number from 0 to 2147483646";
    if (n > 10)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!url_is_digit(s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v > URL_DB_MAX)
        return -1;
    a->db = (int)v;
    return 0;
}

int ag_store_url_parse(const char *url, struct ag_store_addr *a, const char **why)
{
    const char *p, *at = NULL, *end;

    memset(a, 0, sizeof(*a));
    for (p = url; *p != '\0'; p++)
        if (*p < 0x20 || *p > 0x7e) {
            *why = "must be printable ASCII";
            return -1;
        }
    if (url_scheme_is(url, "unix://")) {
        p = url + 7;
        if (p[0] != '/' || p[1] == '\0') {
            *why = "the socket path must be absolute, as in \"unix:///PATH\"";
            return -1;
        }
        if (copy_n(a->path, sizeof(a->path), p, strlen(p)) < 0) {
            *why = "the socket path is too long (at most 107 bytes)";
            return -1;
        }
        return 0;
    }
    if (url_scheme_is(url, "rediss://")) {
        *why = "TLS to Redis is not supported yet";
        return -1;
    }
    if (!url_scheme_is(url, "redis://")) {
        *why = URL_FORM " or \"unix:///PATH\"";
        return -1;
    }
    p = url + 8;
    /* The password is taken as written up to the last '@' (the rest holds none), so it
     * may contain '@', ':' or '/'; it is not percent-decoded. */
    for (const char *q = p; *q != '\0'; q++)
        if (*q == '@')
            at = q;
    if (at != NULL) {
        if (p[0] != ':') {
            *why = "a user name is not supported; use \"redis://:PASSWORD@HOST:PORT\"";
            return -1;
        }
        if (at == p + 1) {
            *why = "the password after ':' must not be empty";
            return -1;
        }
        if (copy_n(a->password, sizeof(a->password), p + 1, (size_t)(at - p - 1)) < 0) {
            *why = "the password is too long (at most 255 bytes)";
            return -1;
        }
        p = at + 1;
    }
    end = strchr(p, '/');
    if (end == NULL)
        end = p + strlen(p);
    if (url_host_port(p, (size_t)(end - p), a, why) < 0 ||
        (*end == '/' && url_db(end + 1, a, why) < 0)) {
        memset(a, 0, sizeof(*a)); /* no password left behind */
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- the connection */

#define STORE_BACKOFF_MIN 0.1 /* s: first reconnect delay */
#define STORE_BACKOFF_MAX 5.0 /* s: cap of the doubling */
#define STORE_PING_S 1        /* s between PINGs on the command link (readiness through a hang) */

enum link_kind { LINK_CMD = 1, LINK_SUB = 2 };

/* One hiredis connection and its reconnect machinery. */
struct store_link {
    struct ag_store *st;
    enum link_kind kind;
    redisAsyncContext *ac; /* NULL while down; cleared in both hiredis failure callbacks */
    bool up;               /* handshake done (CMD) / subscribed (SUB) */
    int handshake_left;    /* replies still awaited before <up> */
    double backoff;        /* s: next reconnect delay */
    struct event timer;    /* connect timeout, then (SUB) the SUBSCRIBE timeout */
    struct event retry;    /* reconnect after <backoff> */
};

/*
 * The privdata of every command (STYLE R4). Freed only in on_reply, which hiredis runs
 * exactly once, with NULL on disconnect. ag_store_cancel() detaches it (fn = NULL).
 */
struct store_pending {
    struct store_pending *prev, *next; /* in st->pending */
    struct store_link *link;
    redisAsyncContext *ac; /* the context it was sent on */
    struct event timer;    /* command timeout */
    ag_store__reply_fn *fn;
    ag_store__any_fn *cb;
    void *arg;
    int script; /* enum ag_store__script, or -1: not an EVALSHA */
    bool retried;
    int argc;
    char **argv; /* copies, for the NOSCRIPT retry (one allocation with <lens>) */
    size_t *lens;
};

struct ag_store {
    struct event_base *base;
    struct ag_store_addr addr;
    char *ns;
    struct timeval connect_tv, command_tv;
    ag_store_state_fn *on_state;
    void *arg;
    struct store_link cmd, sub;
    char sha[AG_STORE__NSCRIPTS][41];
    int64_t clock_offset_ms; /* Redis's clock minus ours, measured by TIME at each connect */
    struct event ping_ev;    /* PING on the command link every STORE_PING_S: a hung Redis is noticed */
    struct store_pending pending; /* list head */
    bool ready;
    int reported; /* -1 nothing reported yet, 0 down, 1 ready */
    bool freeing;
    char where[300]; /* "redis HOST:PORT" or "redis unix:PATH" for reports; never the password */
    char why[480];
    /* the feed */
    bool feed;
    char *channel, *replay_key;
    ag_store__msg_fn *feed_fn;
    ag_store__any_fn *feed_cb;
    void *feed_arg;
    bool synced;    /* replay done since the last subscribe */
    bool replaying; /* replay command in flight */
    unsigned sub_gen; /* counts subscribes: a replay counts only for the one it followed */
};

static void link_connect(struct store_link *l);
static void link_fail(struct store_link *l, const char *why);
static void link_fail_soon(struct store_link *l);
static void store_update(struct ag_store *st, const char *why, bool fail);

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
static void store_update(struct ag_store *st, const char *why, bool fail)
{
    bool ready = st->cmd.up && (!st->feed || (st->sub.up && st->synced));

    st->ready = ready;
    if (st->freeing || st->reported == (int)ready || (!ready && st->reported < 0 && !fail))
        return;
    st->reported = (int)ready;
    if (why != st->why)
        snprintf(st->why, sizeof(st->why), "%s", why);
    if (st->on_state != NULL)
        st->on_state(ready, st->why, st->arg);
}

/* ---------------------------------------------------------------- commands */

static void pending_free(struct store_pending *p)
{
    if (p->prev != NULL) {
        p->prev->next = p->next;
        p->next->prev = p->prev;
        p->prev = p->next = NULL;
    }
    evtimer_del(&p->timer);
    free(p->argv);
    free(p);
}

static void on_pending_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct store_pending *p = arg;

    /* Frees the context: every pending callback of it, <p>'s included, runs with NULL. */
    link_fail(p->link, "Redis command timed out");
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata);

/* Sends <p>'s command on its link. 0, or -1 (nothing sent, <p> not freed). */
static int pending_send(struct store_pending *p)
{
    struct store_link *l = p->link;

    if (!link_live(l))
        return -1;
    if (redisAsyncCommandArgv(l->ac, on_reply, p, p->argc, (const char **)p->argv, p->lens) !=
        REDIS_OK)
        return -1;
    p->ac = l->ac;
    if (p->prev == NULL) {
        struct store_pending *h = &l->st->pending;
        p->next = h;
        p->prev = h->prev;
        h->prev->next = p;
        h->prev = p;
    }
    evtimer_add(&p->timer, &l->st->command_tv);
    return 0;
}

/*
 * Copies <argc> arguments (after an optional <head0>/<head1>) into a new pending record
 * for <l> and sends it. 0 (<fn> runs exactly once, later), or -1.
 */
static int store_command(struct store_link *l, int script, int nhead, const char **head,
                         const size_t *hlens, int argc, const char **argv, const size_t *lens,
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
        return -1;
    p->argv = malloc((size_t)n * (sizeof(char *) + sizeof(size_t)) + bytes);
    if (p->argv == NULL) {
        free(p);
        return -1;
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
    if (pending_send(p) < 0) {
        pending_free(p);
        return -1;
    }
    return 0;
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

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct store_pending *p = privdata;
    const redisReply *r = reply;
    struct store_link *l = p->link;

    evtimer_del(&p->timer);
    if (r != NULL && r->type == REDIS_REPLY_ERROR && p->script >= 0 && !p->retried &&
        strncmp(r->str, "NOSCRIPT", 8) == 0 && l->ac == ac && link_live(l)) {
        /* The script cache was flushed (SCRIPT FLUSH, a restart we did not see): load it
         * again and retry once; both go out in order on this connection. */
        const char *load[3] = {"SCRIPT", "LOAD", ag_store__script_text[p->script]};
        p->retried = true;
        if (store_simple(l, on_script_reloaded, NULL, 3, load) == 0 && pending_send(p) == 0)
            return;
    }
    if (p->fn != NULL)
        p->fn(r, p->cb, p->arg);
    pending_free(p);
}

int ag_store_cancel(struct ag_store *st, void *arg)
{
    int n = 0;

    for (struct store_pending *p = st->pending.next; p != &st->pending; p = p->next)
        if (p->fn != NULL && p->arg == arg) {
            p->fn = NULL;
            p->cb = NULL;
            n++;
        }
    return n;
}

int ag_store__eval(struct ag_store *st, enum ag_store__script script, int nkeys, int argc,
                   const char **argv, const size_t *lens, ag_store__reply_fn *fn,
                   ag_store__any_fn *cb, void *arg)
{
    char nk[16];
    const char *head[3] = {"EVALSHA", NULL, nk};
    size_t hlens[3];

    if (st == NULL || !st->ready || (int)script < 0 || script >= AG_STORE__NSCRIPTS ||
        nkeys < 0 || nkeys > argc || fn == NULL)
        return -1;
    head[1] = st->sha[script];
    snprintf(nk, sizeof(nk), "%d", nkeys);
    for (int i = 0; i < 3; i++)
        hlens[i] = strlen(head[i]);
    return store_command(&st->cmd, (int)script, 3, head, hlens, argc, argv, lens, fn, cb, arg);
}

int ag_store__command(struct ag_store *st, int argc, const char **argv, const size_t *lens,
                      ag_store__reply_fn *fn, ag_store__any_fn *cb, void *arg)
{
    if (st == NULL || !st->ready || argc < 1 || fn == NULL)
        return -1;
    return store_command(&st->cmd, -1, 0, NULL, NULL, argc, argv, lens, fn, cb, arg);
}

/* ---------------------------------------------------------------- the feed */

static void feed_maybe_replay(struct ag_store *st);

static void on_replay(const struct redisReply *r, ag_store__any_fn *cb, void *arg)
{
    struct ag_store *st = arg;
    unsigned gen = (unsigned)(uintptr_t)cb;

    st->replaying = false;
    if (r == NULL)
        return; /* the command connection dropped: replayed when it is back */
    if (r->type != REDIS_REPLY_ARRAY) {
        link_fail(&st->cmd, "revocation replay failed");
        return;
    }
    if (!st->sub.up || gen != st->sub_gen) {
        /* The subscription dropped meanwhile: messages may have been missed after this
         * read. Replay again for the current subscription (if any). */
        feed_maybe_replay(st);
        return;
    }
    for (size_t i = 0; i < r->elements; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING)
            st->feed_fn(r->element[i]->str, r->element[i]->len, st->feed_cb, st->feed_arg);
    st->synced = true;
    store_update(st, "connected", false);
}

/* After a (re)subscribe, and whenever the command connection comes back: replay once. */
static void feed_maybe_replay(struct ag_store *st)
{
    char now[32];
    const char *argv[4] = {"ZRANGEBYSCORE", st->replay_key, now, "+inf"};
    size_t lens[4];

    if (!st->feed || st->synced || st->replaying || !st->sub.up || !st->cmd.up)
        return;
    snprintf(now, sizeof(now), "(%lld", (long long)time(NULL));
    for (int i = 0; i < 4; i++)
        lens[i] = strlen(argv[i]);
    /* The generation rides in the opaque callback slot (never called). */
    if (store_command(&st->cmd, -1, 0, NULL, NULL, 4, argv, lens, on_replay,
                      (ag_store__any_fn *)(uintptr_t)st->sub_gen, st) == 0)
        st->replaying = true;
}

/* The channel's callback: privdata is the link (store-owned, not a pending record). */
static void on_sub_message(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct store_link *l = privdata;
    struct ag_store *st = l->st;
    const redisReply *r = reply;

    if (r == NULL || l->ac != ac || r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return;
    if (strcmp(r->element[0]->str, "subscribe") == 0) {
        evtimer_del(&l->timer);
        l->up = true;
        l->backoff = STORE_BACKOFF_MIN;
        st->sub_gen++;
        feed_maybe_replay(st);
    } else if (strcmp(r->element[0]->str, "message") == 0 &&
               r->element[2]->type == REDIS_REPLY_STRING) {
        st->feed_fn(r->element[2]->str, r->element[2]->len, st->feed_cb, st->feed_arg);
    }
}

static void sub_subscribe(struct store_link *l)
{
    struct ag_store *st = l->st;

    if (redisAsyncCommand(l->ac, on_sub_message, l, "SUBSCRIBE %b", st->channel,
                          strlen(st->channel)) != REDIS_OK)
        link_fail_soon(l);
}

int ag_store__feed(struct ag_store *st, const char *channel, const char *replay_key,
                   ag_store__msg_fn *fn, ag_store__any_fn *cb, void *arg)
{
    if (st == NULL || st->feed || fn == NULL)
        return -1;
    st->channel = strdup(channel);
    st->replay_key = strdup(replay_key);
    if (st->channel == NULL || st->replay_key == NULL) {
        free(st->channel);
        st->channel = NULL;
        free(st->replay_key);
        st->replay_key = NULL;
        return -1;
    }
    st->feed = true;
    st->feed_fn = fn;
    st->feed_cb = cb;
    st->feed_arg = arg;
    st->synced = false;
    if (st->reported == 1)
        store_update(st, "resyncing revocations", false);
    else
        st->ready = false; /* nothing to report: it was not ready yet */
    link_connect(&st->sub);
    return 0;
}

/* ---------------------------------------------------------------- connect, handshake */

/* Common end of a link, however it went: mark down, report, schedule the reconnect. */
static void link_lost(struct store_link *l, const char *why)
{
    struct ag_store *st = l->st;

    l->up = false;
    l->handshake_left = 0;
    evtimer_del(&l->timer);
    if (l->kind == LINK_SUB)
        st->synced = false;
    /* The address says which Redis an operator must look at; the password stays out. */
    snprintf(st->why, sizeof(st->why), "%s (%s)", why, st->where);
    store_update(st, st->why, true);
    if (st->freeing || evtimer_pending(&l->retry, NULL))
        return;
    {
        struct timeval tv = tv_of(l->backoff);
        evtimer_add(&l->retry, &tv);
    }
    l->backoff *= 2;
    if (l->backoff > STORE_BACKOFF_MAX)
        l->backoff = STORE_BACKOFF_MAX;
}

/*
 * We give up on <l>'s connection (timeout, AUTH refused, ...): free it, which runs every
 * pending callback with NULL, then reconnect later. Safe inside a hiredis callback (hiredis
 * defers the free until it returns).
 */
static void link_fail(struct store_link *l, const char *why)
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
        link_fail(l, why);
        return;
    }
    if (--l->handshake_left > 0)
        return;
    if (l->kind == LINK_SUB) {
        sub_subscribe(l); /* AUTH done */
        return;
    }
    l->up = true;
    l->backoff = STORE_BACKOFF_MIN;
    feed_maybe_replay(st);
    store_update(st, "connected", false);
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
            sub_subscribe(l);
    } else {
        char db[16];
        const char *sel[2] = {"SELECT", db};
        snprintf(db, sizeof(db), "%d", st->addr.db);
        const char *tm[1] = {"TIME"};
        rc |= store_simple(l, on_handshake, l, 2, sel);
        l->handshake_left++;
        rc |= store_simple(l, on_time, l, 1, tm);
        l->handshake_left++;
        for (int i = 0; i < AG_STORE__NSCRIPTS; i++) {
            const char *load[3] = {"SCRIPT", "LOAD", ag_store__script_text[i]};
            rc |= store_simple(l, on_script_loaded, l, 3, load);
            l->handshake_left++;
        }
    }
    if (rc != 0)
        link_fail_soon(l); /* not from here: hiredis still uses <cac> after we return */
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

    link_fail(l, l->ac != NULL && (l->ac->c.flags & REDIS_CONNECTED)
                     ? "Redis handshake timed out"
                     : "Redis connect timed out");
}

/* link_fail() from the loop, for where freeing the context is unsafe (the connect callback). */
static void link_fail_soon(struct store_link *l)
{
    struct timeval zero = {0, 0};

    evtimer_add(&l->timer, &zero);
}

static void on_link_retry(evutil_socket_t fd, short what, void *arg)
{
    link_connect(arg);
}

static void link_connect(struct store_link *l)
{
    struct ag_store *st = l->st;
    redisAsyncContext *ac;

    if (l->ac != NULL || st->freeing)
        return;
    if (st->addr.path[0] != '\0')
        ac = redisAsyncConnectUnix(st->addr.path);
    else
        ac = redisAsyncConnect(st->addr.host, st->addr.port);
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
    if (redisLibeventAttach(ac, st->base) != REDIS_OK) {
        redisAsyncFree(ac);
        link_lost(l, "cannot attach to the event loop");
        return;
    }
    l->ac = ac;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    evtimer_add(&l->timer, &st->connect_tv);
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

struct ag_store *ag_store_new(struct event_base *base, const struct ag_store_opts *o)
{
    struct ag_store *st;
    const char *why;

    if (base == NULL || o == NULL || o->url == NULL)
        return NULL;
    st = calloc(1, sizeof(*st));
    if (st == NULL)
        return NULL;
    if (ag_store_url_parse(o->url, &st->addr, &why) < 0) {
        free(st);
        return NULL;
    }
    if (st->addr.path[0] != '\0')
        snprintf(st->where, sizeof(st->where), "redis unix:%s", st->addr.path);
    else if (strchr(st->addr.host, ':') != NULL)
        snprintf(st->where, sizeof(st->where), "redis [%s]:%d", st->addr.host, st->addr.port);
    else
        snprintf(st->where, sizeof(st->where), "redis %s:%d", st->addr.host, st->addr.port);
    st->ns = strdup(o->ns != NULL ? o->ns : "authgate");
    if (st->ns == NULL) {
        free(st);
        return NULL;
    }
    st->base = base;
    st->connect_tv = tv_of(o->connect_timeout > 0 ? o->connect_timeout : 2.0);
    st->command_tv = tv_of(o->command_timeout > 0 ? o->command_timeout : 2.0);
    st->on_state = o->on_state;
    st->arg = o->arg;
    st->reported = -1;
    st->pending.next = st->pending.prev = &st->pending;
    link_init(st, &st->cmd, LINK_CMD);
    link_init(st, &st->sub, LINK_SUB);
    event_assign(&st->ping_ev, base, -1, EV_PERSIST, on_ping_tick, st);
    {
        struct timeval every = {STORE_PING_S, 0};
        evtimer_add(&st->ping_ev, &every);
    }
    link_connect(&st->cmd);
    return st;
}

bool ag_store_ready(const struct ag_store *st)
{
    return st != NULL && st->ready;
}

const char *ag_store__ns(const struct ag_store *st)
{
    return st->ns;
}

int ag_store__key(char *buf, size_t cap, const struct ag_store *st, const char *what,
                  const char *id, const char *suffix)
{
    int n = snprintf(buf, cap, "{%s}:%s%s%s", st->ns, what, id, suffix);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static void link_clear(struct store_link *l)
{
    redisAsyncContext *ac = l->ac;

    evtimer_del(&l->timer);
    evtimer_del(&l->retry);
    l->ac = NULL;
    l->up = false;
    if (ac != NULL && !(ac->c.flags & REDIS_FREEING))
        redisAsyncFree(ac);
}

void ag_store_free(struct ag_store *st)
{
    if (st == NULL)
        return;
    st->freeing = true;
    st->ready = false;
    evtimer_del(&st->ping_ev);
    link_clear(&st->sub);
    link_clear(&st->cmd);
    free(st->channel);
    free(st->replay_key);
    free(st->ns);
    free(st);
}
