/*
 * store/store.h - where authgate keeps its state: Redis, through hiredis's async API
 * on the caller's event_base. The address, the connection (AUTH, SELECT, timeouts,
 * reconnect with capped backoff), the namespace, and Lua scripts run with EVALSHA.
 *
 * Owns:     struct ag_store: one command connection and one pub/sub connection.
 * Entry:    ag_store_url_parse(), ag_store_new(), ag_store_ready(), ag_store_free().
 * Not here: HTTP (never), what the keys mean (store/session.c, user.c, ratelimit.c,
 *           audit.c), logging (the caller's state callback decides what to log: an
 *           outage once, its end once).
 * Spec:     CONTRACT.md sections 3 (`redis`) and 8; docs/redis-keys.md.
 */
#ifndef AG_STORE_STORE_H
#define AG_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct ag_store;

struct ag_store_addr {
    char host[256];     /* TCP host, brackets removed; empty for a unix socket */
    int port;           /* TCP port */
    char path[108];     /* unix socket path; empty for TCP */
    char password[256]; /* empty: no AUTH */
    int db;             /* SELECT <db> */
};

/**
 * The one parser of the `redis` setting (pure: no I/O), run by `check` and `serve` when
 * they load a config and by ag_store_new(). <url>: "redis://[:PASSWORD@]HOST:PORT[/DB]"
 * or "unix:///PATH", schemes in any letter case (RFC 3986 s.3.1); printable ASCII; the
 * port required (1-65535); DB 0-2147483646 (what SELECT can take), "/" alone is 0;
 * PASSWORD as written up to the last '@'; no user name, no "rediss://". Returns 0 with
 * <a> filled, or -1 with <a> zeroed and <why> pointing at a fixed phrase (docs/config.md).
 */
int ag_store_url_parse(const char *url, struct ag_store_addr *a, const char **why);

/*
 * Called when the store becomes ready (true) or stops being ready (false); <why> (borrowed,
 * valid during the call) says why, and when not ready ends with the address, e.g.
 * "cannot connect to Redis: Connection refused (redis 127.0.0.1:6379)", never the
 * password. Only changes are reported: one false per outage (the first one when the
 * first connection fails), one true when it ends.
 */
typedef void ag_store_state_fn(bool ready, const char *why, void *arg);

struct ag_store_opts {
    const char *url;        /* the `redis` setting */
    const char *ns;         /* key namespace: app-name (keys are "{<ns>}:...") */
    double connect_timeout; /* s; default 2 */
    double command_timeout; /* s; default 2 */
    ag_store_state_fn *on_state;
    void *arg;
};

/** Starts connecting (and keeps reconnecting) on <base>. NULL on a bad url or OOM. */
struct ag_store *ag_store_new(struct event_base *base, const struct ag_store_opts *o);

/** Whether commands can be sent now (connected, authenticated, scripts loaded, feed synced). */
bool ag_store_ready(const struct ag_store *st);

/**
 * Disconnects; pending callbacks run with an error (DOWN) first, on_state is not called.
 * NULL allowed. Not from inside one of this store's callbacks.
 */
void ag_store_free(struct ag_store *st);

/**
 * Detaches every in-flight call whose callback argument is <arg>: their callbacks will
 * not run (the replies are dropped). For a caller being freed while calls are pending
 * (STYLE R4). Returns how many were detached.
 */
int ag_store_cancel(struct ag_store *st, void *arg);

/* ---- internal: shared by the store/ modules and the tests; not for gateway/ ---- */

struct redisReply;

/*
 * The Lua scripts. Each text lives next to its caller (store/session.c, user.c,
 * ratelimit.c; declared in store/scripts.h); store/scripts.c orders them in this table.
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
    AG_STORE__NSCRIPTS = 11,
};
extern const char *const ag_store__script_text[AG_STORE__NSCRIPTS];

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

/* Delivers one feed message ("<kind> <id> <value>", borrowed) to <cb>/<arg>. */
typedef void ag_store__msg_fn(const char *msg, size_t len, ag_store__any_fn *cb, void *arg);

/**
 * Starts the feed: SUBSCRIBE <channel> on the pub/sub connection and, after every
 * (re)subscribe, replay the live members of sorted set <replay_key> (score > now)
 * through <fn> before the store reports ready. Strings are copied. 0, or -1 if started.
 */
int ag_store__feed(struct ag_store *st, const char *channel, const char *replay_key,
                   ag_store__msg_fn *fn, ag_store__any_fn *cb, void *arg);

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

/** The namespace given to ag_store_new (borrowed). */
const char *ag_store__ns(const struct ag_store *st);

/**
 * Writes the key "{<ns>}:<what><id><suffix>" into <buf> (<cap> bytes, NUL-terminated).
 * 0, or -1 when it does not fit.
 */
int ag_store__key(char *buf, size_t cap, const struct ag_store *st, const char *what,
                  const char *id, const char *suffix);

#endif
