/*
 * store/session.h - refresh sessions in Redis: create, rotate (one atomic script:
 * rotate, or on reuse revoke the whole session), revoke one, revoke all of a subject.
 *
 * Owns:     nothing long-lived; each call carries its own pending record.
 * Entry:    ag_sess_create(), ag_sess_rotate(), ag_sess_revoke(), ag_sess_revoke_subject().
 * Not here: tokens and HTTP (gateway/ep/endpoints.c), the connection (store/link.c), the
 *           revocation feed other instances learn these revocations from (store/feed.h).
 * Spec:     CONTRACT.md sections 5, 7, 8; docs/redis-keys.md.
 *
 * Async contract (STYLE R5/R8): a call that returns 0 runs its callback exactly once,
 * later, from the event loop (never from inside the call); a call that returns < 0
 * (store not ready, bad argument) never runs it. A callback gets AG_SESS_DOWN when
 * Redis failed or timed out: the caller answers 503, never "allowed".
 */
#ifndef AG_STORE_SESSION_H
#define AG_STORE_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ag_store;

/* Results; zero is the failing value. */
enum ag_sess_status {
    AG_SESS_FAIL = 0,
    AG_SESS_OK = 1,        /* created / rotated / revoked */
    AG_SESS_UNKNOWN = -1,  /* no such live session (expired, revoked, never existed) */
    AG_SESS_REUSED = -2,   /* an older one-time id of the session: the session is now revoked */
    AG_SESS_DOWN = -3,     /* Redis unreachable, timed out, or answered an error */
    AG_SESS_LIMITED = -4,  /* ag_sess_refresh(): the client's refresh rate limit is full */
    AG_SESS_INACTIVE = -5, /* rotate: the session's user is deactivated; the session is ended;
                              create (with user_stamp): the user is not active, nothing made */
    AG_SESS_CHANGED = -6,  /* create (with user_stamp): the user's flags or roles changed since
                              they were read; nothing made */
};

/* What a session records. Strings are copied by the call; ids are caller-made (random). */
struct ag_sess_info {
    const char *sid;        /* session id (also the refresh token's "sid") */
    const char *otid;       /* the current refresh token's one-time id (its "jti") */
    const char *subject;    /* "sub" */
    const char *client_id;
    const char *family;     /* "fam": stays the same across rotations */
    const char *ip;         /* client address, for audit */
    const char *user_agent; /* may be NULL */
    int64_t now;            /* seconds since the epoch */
    int64_t ttl;            /* rolling expiry: refresh-token-ttl */
    int64_t access_end;     /* last second its access token can pass (exp + exp leeway); 0: none */
    long retry_after;       /* AG_SESS_LIMITED: seconds until the limit has room */
    /*
     * A user's session (subject = the user's id; a client's is not). Create: marks the
     * session so that every rotation re-reads the user record (user:<subject>). Rotate's
     * OK: the user's current flags and roles follow (roles borrowed, space-separated).
     */
    bool is_user;
    bool is_staff, is_superuser; /* rotate's OK of a user's session */
    const char *roles;           /* rotate's OK of a user's session; else NULL */
    const char *fields;          /* rotate's OK of a user's session: the record's custom
                                  * fields (JSON object text, "" for none); else NULL */
    /*
     * Create only: at most <max_sessions> live sessions per subject (0: no cap). Creating
     * one more ends the least recently used ones (at most 64 per call), each revoked like
     * ag_sess_revoke() until <revoke_until>.
     */
    long max_sessions;
    int64_t revoke_until;
    /*
     * Create: the id (jti) of the access token minted with the session, or NULL. Kept
     * with the second it was minted in, so that removing a role from the user revokes
     * it even within that second (store/users.h, ag_users_update()).
     */
    const char *access_jti;
    /*
     * Create of a user's session (is_user): "<is_staff><is_superuser> <roles>" ("1"/"0",
     * roles space-separated as stored) as the pair was minted, or NULL. The session is
     * created only while the user record is active and still says so (else UNKNOWN,
     * INACTIVE or CHANGED, nothing written): an admin's change made between the gateway's
     * read and the session's creation is never missed (store/users.h).
     */
    const char *user_stamp;
};

/*
 * <info> is NULL except for an OK rotation, where subject, client_id and family are set
 * (borrowed: valid only during the callback; the other fields are zero).
 */
typedef void ag_sess_fn(enum ag_sess_status st, const struct ag_sess_info *info, void *arg);

/**
 * Creates session <s> (fails with DOWN when Redis is unreachable), indexed under its
 * subject, and ends the subject's least recently used sessions beyond <s>->max_sessions.
 */
int ag_sess_create(struct ag_store *st, const struct ag_sess_info *s, ag_sess_fn *cb, void *arg);

/**
 * Exchanges a fastauth-api refresh token (legacy-tokens) for session <s>: records
 * "legacy:<legacy_id>" for <keep> seconds (until the legacy token's exp) only if it is
 * absent, and creates <s> in the same script. OK, or UNKNOWN when that legacy token was
 * exchanged before (by any instance; nothing is created).
 */
int ag_sess_create_legacy(struct ag_store *st, const struct ag_sess_info *s, const char *legacy_id,
                          int64_t keep, ag_sess_fn *cb, void *arg);

/**
 * Rotates session <sid> from one-time id <presented> to <next>, atomically: OK (the
 * callback's info carries subject, client_id and family from Redis) when <presented>
 * is current; REUSED when it is an older one of the session (the session is revoked,
 * its sid published); UNKNOWN when the session is gone. For a user's session (created
 * with is_user) the user record is read in the same script: OK carries its current
 * flags and roles; a deactivated user gets INACTIVE, a deleted one UNKNOWN, and either
 * way the session is ended (revoked and published as for REUSED). Of concurrent calls with the
 * same <presented>, exactly one gets OK. <now>/<ttl> renew the rolling expiry.
 */
int ag_sess_rotate(struct ag_store *st, const char *sid, const char *presented, const char *next,
                   int64_t now, int64_t ttl, ag_sess_fn *cb, void *arg);

/* A refresh: the rotation of ag_sess_rotate() plus what goes with it, in the same script. */
struct ag_sess_refresh {
    const char *sid, *presented, *next;
    int64_t now, ttl;
    const char *ip;           /* the client: the rate-limit bucket and the audit entry */
    const char *user_agent;   /* the client's, for the audit entry; may be NULL */
    long limit, window;       /* limit > 0: at most <limit> refreshes per <window> s per ip */
    long audit_maxlen;        /* > 0: a "refresh" entry in the audit stream when it rotates */
    int64_t access_end;       /* the new access token's exp + exp leeway (the session keeps the max) */
    const char *access_jti;   /* the new access token's jti, or NULL (as ag_sess_info's) */
};

/**
 * ag_sess_rotate() with the client's refresh rate limit (LIMITED, with info->retry_after,
 * and nothing rotated when it is full) and the audit entry, in ONE Redis round trip.
 */
int ag_sess_refresh(struct ag_store *st, const struct ag_sess_refresh *r, ag_sess_fn *cb,
                    void *arg);

/**
 * Revokes session <sid> (its refresh token and every access token carrying it) until
 * <until>, or later when the session recorded a later access_end (a token minted under a
 * longer access-token-ttl), and publishes the revocation.
 */
int ag_sess_revoke(struct ag_store *st, const char *sid, int64_t until, ag_sess_fn *cb, void *arg);

/** Revokes every session and access token of <subject> issued before <now> (one write). */
int ag_sess_revoke_subject(struct ag_store *st, const char *subject, int64_t now, int64_t until,
                           ag_sess_fn *cb, void *arg);

/** Revokes the access token whose jti is <jti> until <until> and publishes it. */
int ag_sess_revoke_jti(struct ag_store *st, const char *jti, int64_t until, ag_sess_fn *cb,
                       void *arg);

#endif
