/*
 * store/apikeys.h - API keys in Redis: a record per key (its owner, name, the SHA-256 of
 * its secret, scopes, times) and a set of key ids per user; creating, listing and
 * revoking them, the lookup a gateway worker makes on a key's first use, and the
 * last-used time.
 *
 * Owns:     nothing the caller keeps: replies are borrowed for the callback's duration.
 * Entry:    ag_apikeys_create(), ag_apikeys_list(), ag_apikeys_revoke(), ag_apikeys_lookup(),
 *           ag_apikeys_touch().
 * Not here: the key format and the creation body (policy/apikey.c), the per-worker
 *           cache (gateway/auth/apikey.c), deleting a user's keys with the user
 *           (store/users.c, the delete script).
 * Spec:     CONTRACT.md section 14; docs/redis-keys.md `apikey:` and `ukeys:`.
 */
#ifndef AG_STORE_APIKEYS_H
#define AG_STORE_APIKEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ag_store;

#define AG_APIKEYS_HASH_HEX 64 /* a SHA-256 in lower-case hex */

enum ag_apikeys_status {
    AG_APIKEYS_DOWN = 0,      /* the store failed or was not ready */
    AG_APIKEYS_OK = 1,
    AG_APIKEYS_UNKNOWN = -1,  /* no such key (for this user), or no such user */
    AG_APIKEYS_TOO_MANY = -2, /* the user holds the most keys allowed */
    AG_APIKEYS_INACTIVE = -3, /* the owner is deactivated */
};

/* One key as stored, without its hash (strings borrowed). */
struct ag_apikeys_rec {
    const char *id, *uid, *name, *scopes; /* scopes space-separated */
    int64_t created_at, expires_at;       /* expires_at 0: never */
    int64_t last_used_at;                 /* 0: never used */
};

typedef void ag_apikeys_done_fn(enum ag_apikeys_status st, void *arg);
typedef void ag_apikeys_list_fn(enum ag_apikeys_status st, const struct ag_apikeys_rec *keys,
                               size_t n, void *arg);

/* What a lookup finds: the key and its owner as they are now (strings borrowed). */
struct ag_apikeys_found {
    const char *uid, *hash, *scopes; /* hash: AG_APIKEYS_HASH_HEX hex digits */
    const char *roles;               /* the owner's roles, space-separated */
    bool staff, superuser;           /* the owner's flags */
    int64_t expires_at, last_used_at;
};
typedef void ag_apikeys_lookup_fn(enum ag_apikeys_status st, const struct ag_apikeys_found *f,
                                 void *arg);

/**
 * Stores key <k> (id, uid, name, scopes, created_at, expires_at) with the hex SHA-256 of
 * its secret <hash>, when user k->uid exists, is active and holds fewer than <max> keys.
 * The record expires with the key. 0 (<cb> runs once: OK, UNKNOWN, INACTIVE, TOO_MANY,
 * DOWN) or -1 (not started).
 */
int ag_apikeys_create(struct ag_store *st, const struct ag_apikeys_rec *k, const char *hash,
                     size_t max, ag_apikeys_done_fn *cb, void *arg);

/** The live keys of user <uid>, oldest first. 0 (<cb> runs once) or -1. */
int ag_apikeys_list(struct ag_store *st, const char *uid, ag_apikeys_list_fn *cb, void *arg);

/**
 * Revokes key <kid> of user <uid>: deletes it and publishes "key <kid>" on the revocation
 * feed, kept in the log for <window> seconds. UNKNOWN when it is not <uid>'s.
 * 0 (<cb> runs once) or -1.
 */
int ag_apikeys_revoke(struct ag_store *st, const char *uid, const char *kid, int64_t window,
                     ag_apikeys_done_fn *cb, void *arg);

/**
 * The key <kid> and its owner, when both exist and the owner is active (else UNKNOWN;
 * INACTIVE is never answered: an inactive owner's key is as good as none).
 * 0 (<cb> runs once) or -1.
 */
int ag_apikeys_lookup(struct ag_store *st, const char *kid, ag_apikeys_lookup_fn *cb, void *arg);

/** Records <now> as key <kid>'s last use, if it still exists; no answer. 0 or -1. */
int ag_apikeys_touch(struct ag_store *st, const char *kid, int64_t now);

#endif
