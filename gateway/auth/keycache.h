/*
 * gateway/auth/keycache.h - the worker's cache of API keys: what a key's first use looked
 * up in Redis (its owner, the SHA-256 of its secret, scopes, roles, end of life), so that
 * later uses cost no Redis call; ids that Redis did not know (negative entries); and the
 * lookups in flight (pending entries, which requests wait on).
 *
 * Owns:     struct ag_keycache and its entries.
 * Entry:    ag_keycache_new(), ag_keycache_free(), ag_keycache_clear(),
 *           ag_keycache_get(), ag_keycache_pending(), ag_keycache_fill(),
 *           ag_keycache_drop().
 * Not here: the format (policy/apikey.c), the check of a request (gateway/auth/authn.c),
 *           the Redis lookup (store/apikeys.c, started by gateway/ep/ep_apikeys.c).
 * Spec:     CONTRACT.md section 14; docs/api-keys.md "On the request path".
 */
#ifndef AG_GATEWAY_KEYCACHE_H
#define AG_GATEWAY_KEYCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apikey.h"
#include "base.h"

/* How long Redis's "no such key" is believed (s): a key is never created under an id
 * a worker was already asked about, so this only bounds the cache's memory. */
#define AG_KEYCACHE_NEG_TTL 300
/* last_used_at is written at most this often per key (s). */
#define AG_KEYCACHE_TOUCH_S 60

enum ag_keycache_state {
    AG_KEYCACHE_PENDING = 1, /* looked up in Redis now: requests wait */
    AG_KEYCACHE_KNOWN = 2,   /* the key exists and its owner is active */
    AG_KEYCACHE_ABSENT = 3,  /* Redis does not know it (or its owner is inactive) */
};

struct ag_keycache_entry {
    char id[AG_APIKEY_ID_LEN + 1];
    enum ag_keycache_state state;
    unsigned char hash[32];        /* KNOWN: SHA-256 of the secret */
    int64_t expires_at;            /* KNOWN: the key's end, 0 never */
    int64_t loaded;                /* KNOWN: before the lookup was sent (a subject watermark
                                      T > loaded means the owner changed since) */
    int64_t until;                 /* the entry's own end (KNOWN: loaded + its ttl; ABSENT) */
    int64_t touched;               /* KNOWN: when last_used_at was last written */
    char *uid, *scopes, *roles;    /* KNOWN: scopes space-, roles comma-separated */
    /* internal */
    struct ag_keycache_entry *hnext, *lprev, *lnext;
};

/* What a lookup brought (strings copied by ag_keycache_fill()). */
struct ag_keycache_fill {
    const unsigned char *hash;     /* 32 bytes */
    const char *uid, *scopes, *roles;
    int64_t expires_at, loaded, until, touched;
};

struct ag_keycache;

/** A cache of at most <max> entries (pending ones included). NULL on OOM. */
struct ag_keycache *ag_keycache_new(size_t max);

/** Frees <c>. NULL allowed. */
void ag_keycache_free(struct ag_keycache *c);

/** Empties <c> (a new generation: role-scopes may have changed). */
void ag_keycache_clear(struct ag_keycache *c);

/** The entry of id <id> (marked recently used), or NULL. */
struct ag_keycache_entry *ag_keycache_get(struct ag_keycache *c, struct ag_str id);

/** A new PENDING entry for <id> (replacing any), evicting the least recently used when full. NULL on OOM. */
struct ag_keycache_entry *ag_keycache_pending(struct ag_keycache *c, struct ag_str id);

/**
 * Ends the lookup of <id>: its entry becomes KNOWN with <f>, or ABSENT until <until> when
 * <f> is NULL. Nothing when the entry went meanwhile. 0, or AG_ENOMEM (the entry dropped).
 */
int ag_keycache_fill(struct ag_keycache *c, struct ag_str id,
                         const struct ag_keycache_fill *f, int64_t until);

/** Drops the entry of <id>, if any. */
void ag_keycache_drop(struct ag_keycache *c, struct ag_str id);

#endif
