/*
 * store/feed.h - the revocation feed every gateway instance keeps in memory: what any
 * instance revoked, as it happens (pub/sub) and after every (re)connect (the revocation
 * log replayed), delivered one entry at a time.
 *
 * Owns:     nothing the caller sees; the store owns the feed once started.
 * Entry:    ag_feed_start().
 * Not here: writing revocations (store/session.c, user.c: the Lua helper ag_revoke in
 *           store/scripts.h), keeping them (policy/revoke.c), the connections (store/link.c).
 * Spec:     CONTRACT.md section 8; docs/redis-keys.md "Connections" and `revlog`.
 *
 * Delivery runs from the store's event loop. Every entry kept in the log is delivered
 * again after a reconnect, before ag_store_ready() turns true: the callback must take
 * repeats (the later value or end of life wins).
 */
#ifndef AG_STORE_FEED_H
#define AG_STORE_FEED_H

#include <stddef.h>
#include <stdint.h>

struct ag_store;

/* What one entry revokes. */
enum ag_feed_kind {
    AG_FEED_SID = 1,            /* "sid": a session, its refresh and access tokens */
    AG_FEED_JTI = 2,            /* "jti": one token */
    AG_FEED_SUBJECT_BEFORE = 3, /* "sub": a subject's sessions and tokens up to T (logout-all) */
    AG_FEED_TOKENS_BEFORE = 4,  /* "tok": a subject's ACCESS tokens issued before T; its
                                   sessions live on (a role or flag removed, store/users.c) */
    AG_FEED_KEY = 5,            /* "key": an API key, by its public id (store/apikeys.c) */
};

/*
 * One entry: <id> (<len> bytes, borrowed: valid during the call; may hold spaces) and
 * <value>: the entry's end of life (SID/JTI) or the watermark T (SUBJECT_BEFORE,
 * TOKENS_BEFORE).
 */
typedef void ag_feed_fn(enum ag_feed_kind kind, const char *id, size_t len, int64_t value,
                        void *arg);

/**
 * Subscribes to the namespace's revocation channel and replays the revocations kept in
 * Redis (on start and after every reconnect, before ag_store_ready() turns true). Once
 * per store. 0, or -1 (NULL argument, started before, OOM, namespace too long).
 */
int ag_feed_start(struct ag_store *st, ag_feed_fn *cb, void *arg);

/* ---- internal: exposed for the tests ---- */

/**
 * Parses one entry "<kind> <id> <value>" as published and kept in the log (written by
 * ag_revoke in store/scripts.h): <kind> "sid", "jti", "sub", "tok" or "key", the id up to the last
 * space, a decimal value. 0 with <id> borrowed from <msg>, or -1.
 */
int ag_feed__parse(const char *msg, size_t len, enum ag_feed_kind *kind, const char **id,
                   size_t *id_len, int64_t *value);

#endif
