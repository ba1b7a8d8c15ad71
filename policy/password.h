/*
 * policy/password.h - passwords: the policy a new one must meet, and argon2id hashing
 * and verification through libsodium's crypto_pwhash_str.
 *
 * Owns:     struct ag_password_dummies: one dummy hash per parameter set (made on first
 *           use, thread-safe), verified against for unknown users so that their answer
 *           takes as long as a wrong password. Its owner is the caller (gateway/server.c).
 * Entry:    ag_password_check(), ag_password_hash(), ag_password_verify(),
 *           ag_password_dummies_new(), ag_password_verify_dummy(), ag_password_needs_rehash().
 * Not here: where the hashing runs (gateway/auth/pool.c: never on an event loop).
 * Spec:     ISSUE 5 "Passwords"; docs/users.md.
 *
 * Hash, verify and verify_dummy are slow on purpose (tens of ms, tens of MiB): call
 * them from a pool thread only. Check and needs_rehash are cheap.
 */
#ifndef AG_POLICY_PASSWORD_H
#define AG_POLICY_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#define AG_PASSWORD_HASH_MAX 128 /* crypto_pwhash_STRBYTES */

struct ag_pwparams {
    unsigned long long opslimit; /* argon2id iterations; OWASP: 2 */
    size_t memlimit;             /* bytes; OWASP: 19 MiB */
    size_t min_len;              /* characters (UTF-8 code points); default 8 */
    size_t max_len;              /* characters; bounds the hashing cost; default 128 */
};

enum ag_pw_check {
    AG_PW_OK = 0,
    AG_PW_TOO_SHORT,
    AG_PW_TOO_LONG,
    AG_PW_BLANK,    /* only whitespace */
    AG_PW_NOT_UTF8, /* not valid UTF-8, or holds a NUL or a control character */
};

/** Judges a new password against <p>. */
enum ag_pw_check ag_password_check(const struct ag_pwparams *p, const char *pw, size_t len);

/**
 * The message for a failed check, naming the limit ("password must be at least 8
 * characters"), written into <buf> (NUL-terminated, cut to <cap>). Returns <buf>.
 */
const char *ag_password_check_msg(const struct ag_pwparams *p, enum ag_pw_check c, char *buf,
                                  size_t cap);

/** argon2id hash of <pw> into <out> (NUL-terminated "$argon2id$..."). 0 or AG_ENOMEM. Slow. */
int ag_password_hash(const struct ag_pwparams *p, const char *pw, size_t len,
                     char out[AG_PASSWORD_HASH_MAX]);

/** 1 when <pw> matches <hash>, 0 when not (or <hash> is malformed). Constant in <pw>. Slow. */
int ag_password_verify(const char *hash, const char *pw, size_t len);

/* The dummy hashes of unknown users: a few parameter sets remembered, guarded by a mutex,
 * so pool threads share one object. */
struct ag_password_dummies;

/** A new, empty set of dummy hashes; NULL on OOM. */
struct ag_password_dummies *ag_password_dummies_new(void);

/** Frees <dd> (hashes zeroed). No call may be using it. NULL ok. */
void ag_password_dummies_free(struct ag_password_dummies *dd);

/**
 * Verifies <pw> against the dummy hash of <dd> made with <p> (made and remembered on first
 * use); always 0. Takes as long as a real verify. Thread-safe on one <dd>. Slow.
 */
int ag_password_verify_dummy(struct ag_password_dummies *dd, const struct ag_pwparams *p,
                             const char *pw, size_t len);

/** Whether <hash> was made with other parameters than <p> (or is not argon2id). */
bool ag_password_needs_rehash(const struct ag_pwparams *p, const char *hash);

#endif
