/*
 * store/users.h - the user base as an administrator sees it: the user index (creation
 * order, and the text a substring filter reads), pages of users with or without a
 * filter, and the admin's writes: flags and roles changed, a user deleted, each with the
 * revocations it causes published on the revocation feed.
 *
 * Owns:     nothing long-lived; a listing's state (struct users_op) lives from the call
 *           to its callback, each Redis call's pending record is owned by store/link.c.
 * Entry:    ag_users_list(), ag_users_update(), ag_users_delete(), ag_users_backfill().
 * Not here: one user's record, login and sessions (store/user.c), the session keys
 *           (store/session.c), HTTP and who may call these (gateway/ep/ep_admin.c).
 * Spec:     CONTRACT.md section 13; docs/redis-keys.md (`users`, `users:q`, `rev:tok`);
 *           docs/admin.md.
 *
 * Async contract as store/user.h: a call returning 0 runs its callback exactly once,
 * later, from the event loop; < 0 (store not ready, bad argument) never runs it. DOWN
 * means Redis failed or timed out. Borrowed data passed to a callback is valid only
 * during the call.
 */
#ifndef AG_STORE_USERS_H
#define AG_STORE_USERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "user.h"

struct ag_store;

#define AG_USERS_LIMIT_MAX 500    /* users in one page */
#define AG_USERS_SLICE 1000       /* index entries one filter script examines */
#define AG_USERS_Q_MAX 256        /* bytes of a filter */

/**
 * One page: <n> users (borrowed) and <total>, the number of users that match (all of
 * them without a filter).
 */
typedef void ag_users_page_fn(enum ag_user_status st, const struct ag_user *u, size_t n,
                              int64_t total, void *arg);

/**
 * The users at positions <offset> .. <offset> + <limit> - 1 (1..AG_USERS_LIMIT_MAX) in
 * creation order, oldest first; with <q> (non-empty; NULL or "": none) only those whose
 * username or email contains <q>, ASCII case ignored (the caller folds nothing). Without
 * <q> one Redis call; with it one call per AG_USERS_SLICE users, each a short script,
 * then one for the page. A namespace whose index was never filled (users made before
 * it existed) is filled first (ag_users_backfill()).
 */
int ag_users_list(struct ag_store *st, const char *q, int64_t offset, size_t limit,
                  ag_users_page_fn *cb, void *arg);

/* What ag_users_update() revoked. */
enum ag_users_revoked {
    AG_USERS_REVOKED_NONE = 0,
    AG_USERS_REVOKED_TOKENS = 1,   /* a role or flag removed: the access tokens, not the sessions */
    AG_USERS_REVOKED_SESSIONS = 2, /* deactivated: every session and access token */
};

/* The changes of ag_users_update(): the fields not set stay as they are. */
struct ag_users_change {
    bool set_active, set_staff, set_superuser, set_roles;
    bool is_active, is_staff, is_superuser;
    const char *roles;        /* space-separated role names, "" for none (set_roles) */
    int64_t sess_until;       /* sessions revoked: until then at least (an access token's life) */
    int64_t watermark_window; /* a subject watermark lives this long (deactivation) */
    int64_t tokens_window;    /* the access-token watermark lives this long (role removal) */
};

typedef void ag_users_update_fn(enum ag_user_status st, const struct ag_user *u,
                                enum ag_users_revoked what, void *arg);

/**
 * Applies <c> to user <id> in one script and answers the new record (OK), UNKNOWN or
 * DOWN. In the same script: deactivating (is_active true -> false) ends every session of
 * the user and revokes its access tokens (`rev:sub`, as logout-all); otherwise removing
 * a role, staff or superuser revokes the user's access tokens issued until now
 * (`rev:tok`; the sessions live on and their next refresh takes the new roles). Adding
 * revokes nothing. Every revocation is published on the feed.
 */
int ag_users_update(struct ag_store *st, const char *id, const struct ag_users_change *c,
                    ag_users_update_fn *cb, void *arg);

/**
 * Deletes user <id>: its record, its username and email (free again at once), its index
 * entries, and ends its sessions and access tokens as a deactivation does. OK, UNKNOWN
 * or DOWN (ag_user_fn, no record).
 */
int ag_users_delete(struct ag_store *st, const char *id, const struct ag_users_change *c,
                    ag_user_fn *cb, void *arg);

/**
 * Fills the user index with the users written before it existed, unless the namespace's
 * marker says it was done: SCAN of `user:*` in slices (one short script each) until the
 * end, then the marker. Idempotent; several instances may run it at once. OK or DOWN
 * (ag_user_fn, no record).
 */
int ag_users_backfill(struct ag_store *st, ag_user_fn *cb, void *arg);

#endif
