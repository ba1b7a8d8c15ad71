/*
 * store/feed.c - the revocation feed: SUBSCRIBE {<ns>}:revoked on the pub/sub connection,
 * after every (re)subscribe replay the live members of {<ns>}:revlog over the command
 * connection, parse each entry and deliver it; the store is ready only once replayed.
 *
 * Owns:     struct ag_feed (hung on the store: st->feed) and its channel and key names.
 * Entry:    ag_feed_start(), ag_feed__parse(); ag_feed__*() hooks called by store/link.c.
 * Not here: the connections, handshakes and reconnects (store/link.c), writing a
 *           revocation (store/session.c, user.c; the format's writer is ag_revoke in
 *           store/scripts.h), the in-memory set (policy/revoke.c).
 * Spec:     CONTRACT.md section 8; docs/redis-keys.md "Connections" and `revlog`.
 */
#include "feed.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "link.h"

#define FEED_KEY_MAX 832 /* bytes of the channel and log names: as store/session.c's keys */

struct ag_feed {
    ag_feed_fn *cb;
    void *arg;
    char *channel, *replay_key; /* "{<ns>}:revoked", "{<ns>}:revlog" */
    bool synced;      /* replay done since the last subscribe */
    bool replaying;   /* replay command in flight */
    unsigned sub_gen; /* counts subscribes: a replay counts only for the one it followed */
};

/* ---------------------------------------------------------------- the format */

/*
 * The entry format is read here and nowhere else; it is written by the Lua helper
 * ag_revoke (store/scripts.h), which every revoking script shares, so it belongs to the
 * feed rather than to any one of those scripts' callers.
 *
 * The id may hold spaces: the value is after the last one.
 */
int ag_feed__parse(const char *msg, size_t len, enum ag_feed_kind *kind, const char **id,
                   size_t *id_len, int64_t *value)
{
    const char *sp1 = memchr(msg, ' ', len), *sp2 = NULL;
    long long v = 0;

    for (size_t i = len; i > 0; i--)
        if (msg[i - 1] == ' ') {
            sp2 = msg + i - 1;
            break;
        }
    if (sp1 == NULL || sp2 == NULL || sp2 <= sp1 + 1 || sp2 + 1 == msg + len)
        return -1;
    if (sp1 - msg == 3 && memcmp(msg, "sid", 3) == 0)
        *kind = AG_FEED_SID;
    else if (sp1 - msg == 3 && memcmp(msg, "jti", 3) == 0)
        *kind = AG_FEED_JTI;
    else if (sp1 - msg == 3 && memcmp(msg, "sub", 3) == 0)
        *kind = AG_FEED_SUBJECT_BEFORE;
    else if (sp1 - msg == 3 && memcmp(msg, "tok", 3) == 0)
        *kind = AG_FEED_TOKENS_BEFORE;
    else if (sp1 - msg == 3 && memcmp(msg, "key", 3) == 0)
        *kind = AG_FEED_KEY;
    else
        return -1;
    for (const char *p = sp2 + 1; p < msg + len; p++) {
        if (*p < '0' || *p > '9' || v > 922337203685477580LL)
            return -1;
        v = v * 10 + (*p - '0');
    }
    *id = sp1 + 1;
    *id_len = (size_t)(sp2 - sp1 - 1);
    *value = v;
    return 0;
}

/* Delivers one entry (<msg>, <len> bytes, borrowed) to the caller; a malformed one is dropped. */
static void feed_deliver(struct ag_feed *f, const char *msg, size_t len)
{
    enum ag_feed_kind kind;
    const char *id;
    size_t id_len;
    int64_t value;

    if (ag_feed__parse(msg, len, &kind, &id, &id_len, &value) == 0)
        f->cb(kind, id, id_len, value, f->arg);
}

/* ---------------------------------------------------------------- replay */

static void on_replay(const struct redisReply *r, ag_store__any_fn *cb, void *arg)
{
    struct ag_store *st = arg;
    struct ag_feed *f = st->feed;
    unsigned gen = (unsigned)(uintptr_t)cb;

    f->replaying = false;
    if (r == NULL)
        return; /* the command connection dropped: replayed when it is back */
    if (r->type != REDIS_REPLY_ARRAY) {
        ag_link__fail(&st->cmd, "revocation replay failed");
        return;
    }
    if (!st->sub.up || gen != f->sub_gen) {
        /* The subscription dropped meanwhile: messages may have been missed after this
         * read. Replay again for the current subscription (if any). */
        ag_feed__replay(st);
        return;
    }
    for (size_t i = 0; i < r->elements; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING)
            feed_deliver(f, r->element[i]->str, r->element[i]->len);
    f->synced = true;
    ag_link__update(st, "connected", false);
}

/* After a (re)subscribe, and whenever the command connection comes back: replay once. */
void ag_feed__replay(struct ag_store *st)
{
    struct ag_feed *f = st->feed;
    char now[32];
    const char *argv[4] = {"ZRANGEBYSCORE", NULL, now, "+inf"};
    size_t lens[4];

    if (f == NULL || f->synced || f->replaying || !st->sub.up || !st->cmd.up)
        return;
    argv[1] = f->replay_key;
    snprintf(now, sizeof(now), "(%lld", (long long)time(NULL));
    for (int i = 0; i < 4; i++)
        lens[i] = strlen(argv[i]);
    /* The generation rides in the opaque callback slot (never called). */
    if (ag_link__command(&st->cmd, 4, argv, lens, on_replay,
                         (ag_store__any_fn *)(uintptr_t)f->sub_gen, st) == 0)
        f->replaying = true;
}

/* ---------------------------------------------------------------- subscription */

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
        ag_link__up(l);
        st->feed->sub_gen++;
        ag_feed__replay(st);
    } else if (strcmp(r->element[0]->str, "message") == 0 &&
               r->element[2]->type == REDIS_REPLY_STRING) {
        feed_deliver(st->feed, r->element[2]->str, r->element[2]->len);
    }
}

void ag_feed__subscribe(struct store_link *l)
{
    const char *channel = l->st->feed->channel;

    if (redisAsyncCommand(l->ac, on_sub_message, l, "SUBSCRIBE %b", channel,
                          strlen(channel)) != REDIS_OK)
        ag_link__fail_soon(l);
}

void ag_feed__lost(struct ag_store *st)
{
    if (st->feed != NULL)
        st->feed->synced = false;
}

bool ag_feed__synced(const struct ag_store *st)
{
    return st->feed == NULL || (st->sub.up && st->feed->synced);
}

/* ---------------------------------------------------------------- lifetime */

int ag_feed_start(struct ag_store *st, ag_feed_fn *cb, void *arg)
{
    char chan[FEED_KEY_MAX], revlog[FEED_KEY_MAX];
    struct ag_feed *f;

    if (st == NULL || cb == NULL || ag_store__key(chan, sizeof(chan), st, "revoked", "", "") < 0 ||
        ag_store__key(revlog, sizeof(revlog), st, "revlog", "", "") < 0 || st->feed != NULL)
        return -1;
    f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    f->channel = strdup(chan);
    f->replay_key = strdup(revlog);
    if (f->channel == NULL || f->replay_key == NULL) {
        free(f->channel);
        free(f->replay_key);
        free(f);
        return -1;
    }
    f->cb = cb;
    f->arg = arg;
    st->feed = f;
    if (st->reported == 1)
        ag_link__update(st, "resyncing revocations", false);
    else
        st->ready = false; /* nothing to report: it was not ready yet */
    ag_link__connect(&st->sub);
    return 0;
}

void ag_feed__free(struct ag_store *st)
{
    struct ag_feed *f = st->feed;

    if (f == NULL)
        return;
    free(f->channel);
    free(f->replay_key);
    free(f);
    st->feed = NULL;
}
