/*
 * policy/revoke.h - the in-memory set of revoked tokens and sessions that every
 * access-token check consults: a token is refused when its jti, or the session
 * (sid) it was issued under, is in the set and has not expired from it.
 *
 * Owns:     the set's entries (24 bytes each: keyed 128-bit hashes of the ids, not copies).
 * Entry:    ag_revoke_new(), ag_revoke_add(), ag_revoke_check(), ag_revoke_prune(),
 *           ag_revoke_set_loaded(), ag_revoke_loaded().
 * Not here: where revocations come from (the store fills the set from Redis, so
 *           every gateway instance sees a logout within its sync interval).
 * Spec:     CONTRACT.md section 7 ("Revocation takes effect at once").
 */
#ifndef AG_POLICY_REVOKE_H
#define AG_POLICY_REVOKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base.h"

enum ag_revoke_kind {
    AG_REVOKE_JTI = 1,
    AG_REVOKE_SID = 2,
    AG_REVOKE_SUBJECT = 3, /* a watermark: the subject's tokens issued before T (logout-all) */
    AG_REVOKE_KEY = 4,     /* an API key, by its public id (docs/api-keys.md) */
};

struct ag_revoke;

/**
 * An empty set, safe to read from any number of threads while one writes. NULL on OOM.
 * Needs sodium_init() to have run (its hash keys are random).
 */
struct ag_revoke *ag_revoke_new(void);

/** Frees <r>. NULL allowed. */
void ag_revoke_free(struct ag_revoke *r);

/**
 * Adds id <id> of <kind>, remembered until <until> (seconds since the epoch; after
 * that the token it names has expired anyway). Re-adding extends <until>.
 * Returns 0 or AG_ENOMEM.
 */
int ag_revoke_add(struct ag_revoke *r, enum ag_revoke_kind kind, struct ag_str id, int64_t until);

/**
 * Adds the watermark "tokens of subject <sub> issued before <before> are revoked",
 * remembered until <until>. Re-adding keeps the later <before> and <until>. Only access
 * tokens are checked against it (refresh tokens are judged by the store), so it stands
 * for both revocations of a subject's tokens: logout-all and deactivation (the store's
 * `rev:sub`, which also ends the sessions) and a removed role or flag (`rev:tok`, which
 * leaves them: docs/redis-keys.md).
 * Returns 0 or AG_ENOMEM.
 */
int ag_revoke_add_subject(struct ag_revoke *r, struct ag_str sub, int64_t before, int64_t until);

/** The watermark T of <sub> in force at <now> (its tokens issued before T are revoked), or 0. */
int64_t ag_revoke_subject_before(struct ag_revoke *r, struct ag_str sub, int64_t now);

/** Whether a token of <sub> issued at <iat> is under its subject's watermark at <now> (iat < T). */
bool ag_revoke_check_subject(struct ag_revoke *r, struct ag_str sub, int64_t iat, int64_t now);

/** Whether a token with <jti> and session <sid> (either may be empty) is revoked at <now>. */
bool ag_revoke_check(struct ag_revoke *r, struct ag_str jti, struct ag_str sid, int64_t now);

/** Whether the API key of public id <id> is revoked at <now>. */
bool ag_revoke_check_key(struct ag_revoke *r, struct ag_str id, int64_t now);

/**
 * Marks <r> as complete: every live revocation of its source has been added once (the
 * store's first replay). Never cleared: after an outage the last known set is used.
 * Safe from any thread.
 */
void ag_revoke_set_loaded(struct ag_revoke *r);

/**
 * Whether <r> was marked complete. Until then a check that finds nothing proves nothing:
 * the caller must not accept a token on it (CONTRACT.md section 8).
 */
bool ag_revoke_loaded(const struct ag_revoke *r);

/** Bytes the set holds for its entries (both tables, empty slots included). */
size_t ag_revoke_memory(struct ag_revoke *r);

/** Entries in the set (revoked ids and subject watermarks, until pruned); takes the read lock. */
size_t ag_revoke_count(struct ag_revoke *r);

/** Drops entries whose <until> has passed; returns how many remain. */
size_t ag_revoke_prune(struct ag_revoke *r, int64_t now);

#endif
