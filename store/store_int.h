/*
 * store/store_int.h - what the store/ modules share and gateway/ never sees: the script
 * table, EVALSHA and plain commands on the command connection, the Redis-clock deadline
 * of a write script, and the namespaced key names.
 *
 * Owns:     nothing; calls copy their arguments, and each call's pending record is owned
 *           by store/link.c.
 * Entry:    ag_store__eval(), ag_store__command(), ag_store__deadline_ms(), ag_store__key(),
 *           ag_store__num().
 * Not here: the public API (store/store.h); the connection's insides (store/link.h).
 *           Only the .c files of store/ include this file.
 * Spec:     docs/redis-keys.md; STYLE.md R4, R5.
 */
#ifndef AG_STORE_STORE_INT_H
#define AG_STORE_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct redisReply;

/*
 * The Lua scripts. Each text lives next to its caller (store/session.c, user.c,
 * users.c, ratelimit.c; declared in store/scripts.h); store/scripts.c orders them in this table.
 */
enum ag_store__script {
    AG_STORE__SESS_CREATE = 0,
    AG_STORE__SESS_ROTATE = 1,
    AG_STORE__REVOKE = 2,
    AG_STORE__USER_CREATE = 3,
    AG_STORE__USER_FIND = 4,
    AG_STORE__USER_LOGIN = 5,
    AG_STORE__USER_UPDATE = 6,
    AG_STORE__USER_SESSIONS = 7,
    AG_STORE__USER_REVOKE = 8,
    AG_STORE__RL_HIT = 9,
    AG_STORE__SESS_LEGACY = 10,
    AG_STORE__USERS_PAGE = 11,
    AG_STORE__USERS_SEARCH = 12,
    AG_STORE__USERS_BACKFILL = 13,
    AG_STORE__USERS_UPDATE = 14,
    AG_STORE__USERS_DELETE = 15,
    AG_STORE__USER_PROFILE = 16,
    /* API keys (store/apikeys.c) */
    AG_STORE__APIKEY_CREATE = 17,
    AG_STORE__APIKEY_LIST = 18,
    AG_STORE__APIKEY_REVOKE = 19,
    AG_STORE__APIKEY_LOOKUP = 20,
    AG_STORE__APIKEY_TOUCH = 21,
    /* acknowledged writes (store/ack.c) */
    AG_STORE__SESS_UNCONFIRMED = 22,
    AG_STORE__NSCRIPTS = 23,
};
extern const char *const ag_store__script_text[AG_STORE__NSCRIPTS];

/*
 * Whether a script is an acknowledged write: a success of it is something a client will
 * be told succeeded, so with `redis-min-replicas-ack` n > 0 it is followed by WAIT before
 * its caller hears of it (store/ack.c; docs/redis-keys.md "Acknowledged writes").
 */
extern const bool ag_store__script_acked[AG_STORE__NSCRIPTS];

/* A callback of any type, carried through the store untouched (cast back by its owner). */
typedef void ag_store__any_fn(void);

/*
 * Runs from hiredis's reply path with <r> (borrowed, valid during the call; NULL when the
 * connection failed, timed out or the store is being freed) and the <cb>/<arg> given.
 */
typedef void ag_store__reply_fn(const struct redisReply *r, ag_store__any_fn *cb, void *arg);

/**
 * EVALSHA of <script> with <nkeys> keys then args (<argc> strings <argv> of <lens> bytes,
 * copied). On NOSCRIPT the script is loaded again and the call retried once. Returns 0
 * (<fn> runs exactly once, later) or -1 (store not ready, OOM: <fn> never runs).
 */
int ag_store__eval(struct ag_store *st, enum ag_store__script script, int nkeys, int argc,
                   const char **argv, const size_t *lens, ag_store__reply_fn *fn,
                   ag_store__any_fn *cb, void *arg);

/* One script call: <script> with <nkeys> keys then args (<argc> strings <argv>, <lens> bytes). */
struct ag_store__call {
    enum ag_store__script script;
    int nkeys;
    int argc;
    const char **argv;
    const size_t *lens;
};

/**
 * As ag_store__eval() of <write>, with <mark> (copied, not sent yet): when <write> is an
 * acknowledged write and its WAIT reaches fewer replicas than asked, <mark> is sent on
 * the same connection before <fn> runs with NULL, so that the write the client was told
 * failed can be recognised when the client retries it (store/session.c's rotation).
 * Returns 0 (<fn> runs exactly once, later) or -1 (<fn> never runs).
 */
int ag_store__eval_marked(struct ag_store *st, const struct ag_store__call *write,
                          const struct ag_store__call *mark, ag_store__reply_fn *fn,
                          ag_store__any_fn *cb, void *arg);

/**
 * A plain command (no script): <argc> strings <argv> of <lens> bytes, copied. Returns 0
 * (<fn> runs exactly once, later) or -1 (store not ready, OOM: <fn> never runs).
 */
int ag_store__command(struct ag_store *st, int argc, const char **argv, const size_t *lens,
                      ag_store__reply_fn *fn, ag_store__any_fn *cb, void *arg);

/**
 * A deadline for a write script, in milliseconds on Redis's clock: the call's timeout
 * from now, less a margin for the answer's way back. A script that starts after it must
 * do nothing and answer "late": the caller has answered 503 by then, and a write it
 * does not know about (a rotation the client never saw) must not happen.
 */
int64_t ag_store__deadline_ms(const struct ag_store *st);

/** <v> in decimal with a NUL into <out> (24 bytes), as "%lld" writes it, without printf
 *  (every refresh's arguments; store/link_ev.c). Returns the length. */
size_t ag_store__num(char out[24], int64_t v);

/** The namespace given to ag_store_new (borrowed). */
const char *ag_store__ns(const struct ag_store *st);

/**
 * Writes the key "{<ns>}:<what><id><suffix>" into <buf> (<cap> bytes, NUL-terminated).
 * 0, or -1 when it does not fit.
 */
int ag_store__key(char *buf, size_t cap, const struct ag_store *st, const char *what,
                  const char *id, const char *suffix);

/* ---- acknowledged writes: the pure pieces of store/ack.c (unit-tested) ---- */

/** A deep copy of <r> (new: free with ag_ack__reply_free()), or NULL (OOM, or <r> NULL). */
struct redisReply *ag_ack__reply_copy(const struct redisReply *r);

/** Frees a copy made by ag_ack__reply_copy(). NULL allowed. */
void ag_ack__reply_free(struct redisReply *r);

/**
 * Whether a script's answer <r> says it wrote what its caller will report as done: an
 * integer > 0, or an array whose first element is an integer > 0 (every acknowledged
 * script answers so on success, and 0, a negative code, "late" or an error otherwise).
 */
bool ag_ack__changed(const struct redisReply *r);

/** Whether WAIT's answer <r> reached <n> replicas. */
bool ag_ack__reached(const struct redisReply *r, int n);

/** WAIT's timeout in ms for a command timeout of <command_ms>: a quarter, 1 ms at least. */
long ag_ack__wait_ms(long command_ms);

#endif
