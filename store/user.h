/*
 * store/user.h - user accounts in Redis: create with case-insensitive unique username
 * and email (one atomic script), look up by id or by username-or-email, the login
 * failure counter and lockout, password and hash updates, single-use reset ids, and a
 * user's sessions (list, revoke one, revoke all but one).
 *
 * Owns:     nothing long-lived; each call's pending record is owned by store/link.c.
 * Entry:    ag_user_create(), ag_user_get(), ag_user_find(), ag_user_find_as(), ag_user_login_result(),
 *           ag_user_set_hash(), ag_user_set_password(), ag_user_unlock(),
 *           ag_user_reset_consume(), ag_user_sessions(), ag_user_revoke_session(),
 *           ag_user_revoke_others().
 * Not here: password hashing (policy/password.c), HTTP (gateway/), session rotation
 *           (store/session.c).
 * Spec:     CONTRACT.md sections 2, 7 (users), 8; docs/redis-keys.md.
 *
 * Async contract as store/session.h: a call returning 0 runs its callback exactly once,
 * later, from the event loop; < 0 (store not ready, bad argument) never runs it. DOWN
 * means Redis failed or timed out: the caller answers 503. Borrowed data passed to a
 * callback is valid only during the call.
 */
#ifndef AG_STORE_USER_H
#define AG_STORE_USER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ag_store;

enum ag_user_status {
    AG_USER_FAIL = 0,
    AG_USER_OK = 1,
    AG_USER_UNKNOWN = -1,      /* no such user (or session, or reset id already used) */
    AG_USER_DUP_USERNAME = -2, /* create: the username is taken (case-insensitively) */
    AG_USER_DUP_EMAIL = -3,    /* create: the email is taken (case-insensitively) */
    AG_USER_CONFLICT = -4,     /* set_hash: the stored hash changed meanwhile; create: id taken */
    AG_USER_DOWN = -5,
};

#define AG_USER_ID_MAX 64 /* bytes of a user id */

/* A user record. In calls: strings copied. In callbacks: borrowed from the reply. */
struct ag_user {
    const char *id;            /* random UUID, chosen by the caller */
    const char *email;         /* as given; unique by its lower-case form */
    const char *username;      /* as given; unique by its lower-case form; "" when the user
                                  registered without one (the email is its login name) */
    const char *hash;          /* argon2id string; never leaves the gateway */
    bool is_active, is_staff, is_superuser;
    const char *roles;         /* space-separated role names, "" for none */
    int64_t created_at;        /* seconds since the epoch */
    int64_t password_changed_at;
    long failures;             /* consecutive failed logins (read only) */
    int64_t locked_until;      /* 0, or the end of a lockout (read only) */
    const char *fields;        /* custom fields: a JSON object text, "" or NULL for none
                                * (policy/userfields.c checks them; docs/users.md) */
};

typedef void ag_user_fn(enum ag_user_status st, const struct ag_user *u, void *arg);

/**
 * Creates <u> (id, email, username, hash, flags, roles, created_at): OK, DUP_*, DOWN,
 * or CONFLICT when a user with that id exists.
 */
int ag_user_create(struct ag_store *st, const struct ag_user *u, ag_user_fn *cb, void *arg);

/**
 * Changes the profile of user <id>, if its custom fields still are <old_fields> (the
 * text read before; "" for none): fields become <new_fields> ("" removes them) and, when
 * <new_email> is not NULL, the email becomes it, its index key swapped and the user
 * index's line rewritten in the same script. OK with the record as written, UNKNOWN,
 * DUP_EMAIL (another user has it; nothing written), CONFLICT (the fields changed
 * meanwhile: read again and retry; nothing written), DOWN.
 */
int ag_user_update_profile(struct ag_store *st, const char *id, const char *old_fields,
                           const char *new_fields, const char *new_email, ag_user_fn *cb,
                           void *arg);

/** Looks up the user with id <id>: OK with the record, UNKNOWN, DOWN. */
int ag_user_get(struct ag_store *st, const char *id, ag_user_fn *cb, void *arg);

/** Looks up by <login>: a username, else an email (both case-insensitively). */
int ag_user_find(struct ag_store *st, const char *login, ag_user_fn *cb, void *arg);

/* What ag_user_find_as() takes <login> to be. */
enum ag_user_name {
    AG_USER_NAME_ANY = 0,      /* a username, else an email (ag_user_find()) */
    AG_USER_NAME_EMAIL = 1,    /* an email only */
    AG_USER_NAME_USERNAME = 2, /* a username only */
};

/** ag_user_find() for <login> taken as <as> only; the same one round trip whatever <as>. */
int ag_user_find_as(struct ag_store *st, const char *login, enum ag_user_name as, ag_user_fn *cb,
                    void *arg);

/**
 * Records a login attempt of user <id>. <ok>: resets the failure count. Not ok: counts
 * one more failure and, at <max_failures> (0: never), locks the account until
 * now + <lock_seconds>. The callback's record carries failures and locked_until only.
 */
int ag_user_login_result(struct ag_store *st, const char *id, bool ok, int64_t now,
                         long max_failures, long lock_seconds, ag_user_fn *cb, void *arg);

/** Replaces the hash of <id> with <new_hash> if it still is <old_hash> (a rehash): OK, CONFLICT, UNKNOWN. */
int ag_user_set_hash(struct ag_store *st, const char *id, const char *old_hash,
                     const char *new_hash, ag_user_fn *cb, void *arg);

/** Sets a new password hash for <id>: password_changed_at = <now>, failures and lock cleared. */
int ag_user_set_password(struct ag_store *st, const char *id, const char *new_hash, int64_t now,
                         ag_user_fn *cb, void *arg);

/** Lifts a lockout of <id> and clears its failure count (operators). */
int ag_user_unlock(struct ag_store *st, const char *id, ag_user_fn *cb, void *arg);

/** Marks reset id <rid> used until <until>: OK the first time, UNKNOWN ever after. */
int ag_user_reset_consume(struct ag_store *st, const char *rid, int64_t until, ag_user_fn *cb,
                          void *arg);

/* One live session of a user, as listed (borrowed). */
struct ag_user_session {
    const char *sid;
    const char *client_id;
    const char *ip;
    const char *user_agent;
    int64_t created, last_used;
};

typedef void ag_user_sessions_fn(enum ag_user_status st, const struct ag_user_session *s,
                                 size_t n, void *arg);

/**
 * Lists the live sessions of subject <sub> (newest first, at most <max>); sessions that
 * expired, were revoked or fall under the subject's watermark are left out (and pruned).
 */
int ag_user_sessions(struct ag_store *st, const char *sub, size_t max, ag_user_sessions_fn *cb,
                     void *arg);

/**
 * Revokes session <sid> if it belongs to <sub> (OK, published like ag_sess_revoke()
 * until <until>); UNKNOWN when it is not one of <sub>'s live sessions.
 */
int ag_user_revoke_session(struct ag_store *st, const char *sub, const char *sid, int64_t until,
                           ag_user_fn *cb, void *arg);

/** Revokes every live session of <sub> but <keep_sid> (may be NULL: all), each published. */
int ag_user_revoke_others(struct ag_store *st, const char *sub, const char *keep_sid,
                          int64_t until, ag_user_fn *cb, void *arg);

/* ---- internal to store/: shared with store/users.c ---- */

struct redisReply;

/**
 * Reads a record's fields as HMGET of LUA_USER_FIELDS answers them (<e>, 13 replies,
 * borrowed) into <u>, whose strings borrow from <e>. 0, or -1 when it has no id.
 */
int ag_user__from_reply(struct redisReply *const *e, struct ag_user *u);

#endif
