/*
 * store/ratelimit.h - rate limits shared by every gateway instance: fixed windows in
 * Redis, several buckets judged (and counted) in one atomic round trip.
 *
 * Owns:     nothing long-lived.
 * Entry:    ag_rl_hit().
 * Not here: which limits apply to which endpoint and the 429 (gateway/).
 * Spec:     ISSUE 5 "Abuse resistance"; docs/redis-keys.md.
 */
#ifndef AG_STORE_RATELIMIT_H
#define AG_STORE_RATELIMIT_H

#include <stddef.h>

struct ag_store;

/* One bucket: at most <limit> hits per <window> seconds for ("<name>", "<id>"). */
struct ag_rl_bucket {
    const char *name; /* "login-ip", "login-user", ... (short, no spaces) */
    const char *id;   /* client address or account, any bytes (hashed into the key) */
    long limit;       /* > 0 */
    long window;      /* seconds, > 0 */
};

enum ag_rl_status {
    AG_RL_FAIL = 0,
    AG_RL_OK = 1,    /* every bucket had room: the hit is counted in all */
    AG_RL_OVER = -1, /* some bucket is full: <retry_after> s until it has room */
    AG_RL_DOWN = -2,
};

typedef void ag_rl_fn(enum ag_rl_status st, long retry_after, void *arg);

/**
 * Counts one hit in each of the <n> (1..4) buckets <b>, atomically: when any is full,
 * none is counted and the answer is OVER with the longest wait (>= 1).
 */
int ag_rl_hit(struct ag_store *st, const struct ag_rl_bucket *b, size_t n, ag_rl_fn *cb,
              void *arg);

/* ---- internal: shared with store/session.c (the refresh limit runs in its script) ---- */

/** "{<ns>}:rl:<name>:<hex of BLAKE2b-128 of id>" into <buf>: any id bytes, a short key. 0 or -1. */
int ag_rl__key(char *buf, size_t cap, const struct ag_store *st, const char *name, const char *id);

#endif
