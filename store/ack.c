/*
 * store/ack.c - acknowledged writes (`redis-min-replicas-ack`): a script flagged in
 * ag_store__script_acked[] that changed something is answered to its caller only once
 * `WAIT n timeout` on the same connection says n replicas have it; fewer, and the caller
 * hears NULL (store unavailable), after the write's mark, if it has one, was sent.
 *
 * Owns:     the held copies of script answers (in their pending records, store/link.h);
 *           the owed marks (st->owed): those whose write's answer was lost with the
 *           connection, sent first on the next one.
 * Entry:    ag_ack__sent(), ag_ack__hold(), ag_ack__resend(), ag_ack__free() (from
 *           store/link.c), ag_store_set_min_replicas_ack(),
 *           the pure ag_ack__reply_copy(), ag_ack__changed(), ag_ack__reached(), ag_ack__wait_ms().
 * Not here: the connection and the pending records (store/link.c), which scripts are
 *           flagged (store/scripts.c), what a mark means (store/session.c), HTTP.
 * Spec:     CONTRACT.md section 15; docs/redis-keys.md "Acknowledged writes"; docs/operations.md.
 */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "link.h"

/*
 * One WAIT covers every write sent before it on the connection (Redis compares the
 * replicas' offsets with the last write of the client). So at most one WAIT is in flight
 * per link: an answer that arrives while one runs that was sent after it is covered by it;
 * one sent after it gets the next WAIT, sent when that answer arrives (the running WAIT
 * has answered by then: replies come in order). Under load many writes share one WAIT,
 * and with a replica gone each WAIT holds the connection for its timeout once, not once
 * per write queued behind it. When no WAIT runs, one is pipelined right after the
 * write (no extra round trip when the gateway is idle).
 */

/* ---------------------------------------------------------------- pure pieces */

struct redisReply *ag_ack__reply_copy(const struct redisReply *r)
{
    redisReply *c;

    if (r == NULL)
        return NULL;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->type = r->type;
    c->integer = r->integer;
    if (r->type == REDIS_REPLY_ARRAY) {
        if (r->elements > 0) {
            c->element = calloc(r->elements, sizeof(*c->element));
            if (c->element == NULL)
                goto fail;
            c->elements = r->elements;
            for (size_t i = 0; i < r->elements; i++)
                if ((c->element[i] = ag_ack__reply_copy(r->element[i])) == NULL)
                    goto fail;
        }
    } else if (r->str != NULL) {
        c->str = malloc(r->len + 1);
        if (c->str == NULL)
            goto fail;
        memcpy(c->str, r->str, r->len);
        c->str[r->len] = '\0';
        c->len = r->len;
    }
    return c;
fail:
    ag_ack__reply_free(c);
    return NULL;
}

void ag_ack__reply_free(struct redisReply *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->elements; i++)
        ag_ack__reply_free(r->element[i]);
    free(r->element);
    free(r->str);
    free(r);
}

bool ag_ack__changed(const struct redisReply *r)
{
    if (r != NULL && r->type == REDIS_REPLY_INTEGER)
        return r->integer > 0;
    return r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
           r->element[0]->type == REDIS_REPLY_INTEGER && r->element[0]->integer > 0;
}

bool ag_ack__reached(const struct redisReply *r, int n)
{
    /* An error (WAIT sent to a replica, a script still running...) reached nobody. */
    return r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer >= n;
}

long ag_ack__wait_ms(long command_ms)
{
    /* A write may queue behind a WAIT that runs out (one timeout), then run out its own
     * (a second): both well inside the command timeout, whose expiry fails the link. */
    return command_ms / 4 > 0 ? command_ms / 4 : 1;
}

/* ---------------------------------------------------------------- WAIT */

void ag_store_set_min_replicas_ack(struct ag_store *st, int n)
{
    if (st != NULL)
        st->acks = n > 0 ? n : 0;
}

/* ---------------------------------------------------------------- owed marks */

/*
 * The mark <m> (not in st->pending) could not be written: its write's answer, or its own,
 * was lost with the connection (a failover, a cut), and the write may have run. It is
 * sent first thing on the next connection (ag_ack__resend(), before the store is ready
 * again, so before any retry); a mark that finds its write undone or moved on does
 * nothing. A store that will not reconnect drops it.
 */
static void ack_owe(struct store_pending *m)
{
    struct ag_store *st = m->link->st;

    m->fn = NULL;
    m->cb = NULL;
    m->arg = NULL;
    m->is_mark = true;
    if (st->freeing || st->retired) {
        ag_link__pending_free(m);
        return;
    }
    evtimer_del(&m->timer);
    TAILQ_INSERT_TAIL(&st->owed, m, entry);
}

int ag_ack__resend(struct store_link *l)
{
    struct store_pending *m;

    while ((m = TAILQ_FIRST(&l->st->owed)) != NULL) {
        TAILQ_REMOVE(&l->st->owed, m, entry);
        if (ag_link__send(m) < 0) {
            TAILQ_INSERT_HEAD(&l->st->owed, m, entry);
            return -1;
        }
    }
    return 0;
}

void ag_ack__free(struct ag_store *st)
{
    struct store_pending *m;

    while ((m = TAILQ_FIRST(&st->owed)) != NULL) {
        TAILQ_REMOVE(&st->owed, m, entry);
        ag_link__pending_free(m);
    }
}

/*
 * Answers the held record <p> (already out of st->pending) and frees it: its held copy
 * when the WAIT reached the replicas (<ok>), else NULL, after its mark if it has one: the
 * mark takes over the caller, who hears NULL once the mark is written, so that a retry
 * (maybe on another connection) cannot overtake it. With the connection gone, the caller
 * hears NULL now and the mark is owed to the next one (ack_owe()).
 */
static void ack_release(struct store_pending *p, bool ok)
{
    struct store_pending *m = p->mark;

    if (!ok && m != NULL) {
        m->fn = p->fn;
        m->cb = p->cb;
        m->arg = p->arg;
        m->is_mark = true;
        p->mark = NULL; /* in st->pending, or owed */
        if (ag_link__send(m) == 0) {
            ag_link__pending_free(p);
            return;
        }
        ack_owe(m);
    }
    if (p->fn != NULL)
        p->fn(ok ? p->held : NULL, p->cb, p->arg);
    ag_link__pending_free(p);
}

static void on_wait_reply(const struct redisReply *r, ag_store__any_fn *cb, void *arg)
{
    struct store_link *l = arg;
    struct ag_store *st = l->st;
    TAILQ_HEAD(, store_pending) done = TAILQ_HEAD_INITIALIZER(done);
    struct store_pending *p, *next;
    uint64_t seq = l->wait_seq;
    bool ok = ag_ack__reached(r, st->acks);

    l->wait_seq = 0;
    /* Taken out first: a caller's callback may send commands (appended to st->pending). */
    for (p = TAILQ_FIRST(&st->pending); p != NULL; p = next) {
        next = TAILQ_NEXT(p, entry);
        if (p->held != NULL && p->link == l && p->seq < seq) {
            TAILQ_REMOVE(&st->pending, p, entry);
            TAILQ_INSERT_TAIL(&done, p, entry);
        }
    }
    while ((p = TAILQ_FIRST(&done)) != NULL) {
        TAILQ_REMOVE(&done, p, entry);
        ack_release(p, ok);
    }
}

/* Sends WAIT on <l>; it covers every command sent before it. 0, or -1 (not sent). */
static int ack_wait_send(struct store_link *l)
{
    struct ag_store *st = l->st;
    long command_ms = (long)st->command_tv.tv_sec * 1000 + st->command_tv.tv_usec / 1000;
    char n[16], ms[24];
    const char *argv[3] = {"WAIT", n, ms};
    size_t lens[3];

    snprintf(n, sizeof(n), "%d", st->acks);
    snprintf(ms, sizeof(ms), "%ld", ag_ack__wait_ms(command_ms));
    for (int i = 0; i < 3; i++)
        lens[i] = strlen(argv[i]);
    if (ag_link__command(l, 3, argv, lens, on_wait_reply, NULL, l) < 0)
        return -1;
    l->wait_seq = l->sent; /* the WAIT's own seq: the last one sent */
    return 0;
}

/* Whether <p> is a script whose success must reach the replicas before its caller hears of it. */
static bool ack_needed(const struct store_pending *p)
{
    return p->script >= 0 && p->script < AG_STORE__NSCRIPTS && ag_store__script_acked[p->script] &&
           p->link->st->acks > 0;
}

void ag_ack__sent(struct store_pending *p)
{
    if (ack_needed(p) && p->link->wait_seq == 0)
        ack_wait_send(p->link); /* if it cannot be sent, ag_ack__hold() tries again */
}

int ag_ack__hold(struct store_pending *p, const struct redisReply *r)
{
    struct store_link *l = p->link;

    if (p->is_mark) {
        TAILQ_REMOVE(&l->st->pending, p, entry);
        if (p->fn != NULL)
            p->fn(NULL, p->cb, p->arg); /* the write it marks was not confirmed */
        if (r == NULL)
            ack_owe(p); /* lost with the connection: sent again on the next one */
        else
            ag_link__pending_free(p);
        return 0;
    }
    if (r == NULL && p->mark != NULL) {
        /* The connection went before the write's answer: it may have run. */
        struct store_pending *m = p->mark;
        TAILQ_REMOVE(&l->st->pending, p, entry);
        p->mark = NULL;
        ack_owe(m);
        if (p->fn != NULL)
            p->fn(NULL, p->cb, p->arg);
        ag_link__pending_free(p);
        return 0;
    }
    if (!ack_needed(p) || !ag_ack__changed(r) || (p->fn == NULL && p->mark == NULL))
        return -1;
    p->held = ag_ack__reply_copy(r);
    if (p->held != NULL && (l->wait_seq > p->seq || ack_wait_send(l) == 0))
        return 0; /* stays in st->pending: ag_store_cancel() still finds it */
    /* No copy, or no WAIT: the write cannot be confirmed, so it is not reported done. */
    TAILQ_REMOVE(&l->st->pending, p, entry);
    ack_release(p, false);
    return 0;
}
