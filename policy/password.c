/*
 * policy/password.c - the policy a new password must meet (counted in UTF-8 code
 * points), and argon2id hashing, verification and rehash decisions through libsodium.
 *
 * Owns:     struct ag_password_dummies: a small cache of dummy hashes, one per (opslimit,
 *           memlimit), each of a random password nobody knows; guarded by its own mutex.
 *           The caller owns the object (the gateway: one per process, beside its pool).
 * Entry:    ag_password_check(), ag_password_check_msg(), ag_password_hash(),
 *           ag_password_verify(), ag_password_dummies_new/_free(), ag_password_verify_dummy(),
 *           ag_password_needs_rehash().
 * Not here: where the slow calls run (gateway/auth/pool.c), storing hashes (store/user.c).
 * Spec:     ISSUE 5 "Passwords"; docs/users.md; NIST SP 800-63B s.5.1.1.2; RFC 9106.
 */
#include "password.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base.h"

#define PW_ARGON2ID_PREFIX "$argon2id$"
#define PW_DUMMY_SLOTS 8      /* parameter sets remembered; config reloads rarely add one */
#define PW_DUMMY_SECRET 32    /* random bytes of the dummy password */

/* ------------------------------------------------------------------------------------------
 * Policy
 * ------------------------------------------------------------------------------------------ */

/*
 * C0 controls (NUL and tab included), DEL and C1 controls. Tab is refused too: it
 * cannot be typed into a browser's password field (it moves the focus), so a tab in
 * a password is a paste accident that would lock its owner out on the next login form.
 */
static bool pw_is_control(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

/* Unicode White_Space, controls left out (they are refused before this is asked). */
static bool pw_is_space(uint32_t cp)
{
    return cp == 0x20 || cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

/*
 * Judges <pw,len>: AG_PW_NOT_UTF8 when it is not valid UTF-8 or holds a control
 * character (see pw_is_control), else AG_PW_TOO_SHORT / AG_PW_TOO_LONG against
 * <p>->min_len / max_len in code points, else AG_PW_BLANK when every code point is
 * white space, else AG_PW_OK. Any other character is allowed (NIST SP 800-63B:
 * no composition rules); no normalisation is done, so the bytes hashed are the bytes sent.
 */
enum ag_pw_check ag_password_check(const struct ag_pwparams *p, const char *pw, size_t len)
{
    const unsigned char *s = (const unsigned char *)pw;
    size_t chars = 0;
    bool blank = true;

    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = ag_utf8_next(s + i, len - i, &cp);

        if (n == 0 || pw_is_control(cp))
            return AG_PW_NOT_UTF8;
        if (!pw_is_space(cp))
            blank = false;
        chars++;
        i += n;
    }
    if (chars < p->min_len)
        return AG_PW_TOO_SHORT;
    if (chars > p->max_len)
        return AG_PW_TOO_LONG;
    if (blank)
        return AG_PW_BLANK;
    return AG_PW_OK;
}

/*
 * Writes the message for <c> under <p> into <buf> (at most <cap> bytes, NUL-terminated
 * when <cap> > 0). Returns <buf>.
 */
const char *ag_password_check_msg(const struct ag_pwparams *p, enum ag_pw_check c, char *buf,
                                  size_t cap)
{
    if (cap == 0)
        return buf;
    switch (c) {
    case AG_PW_OK:
        snprintf(buf, cap, "password is acceptable");
        break;
    case AG_PW_TOO_SHORT:
        snprintf(buf, cap, "password must be at least %zu characters", p->min_len);
        break;
    case AG_PW_TOO_LONG:
        snprintf(buf, cap, "password must be at most %zu characters", p->max_len);
        break;
    case AG_PW_BLANK:
        snprintf(buf, cap, "password must not be only whitespace");
        break;
    case AG_PW_NOT_UTF8:
    default:
        snprintf(buf, cap, "password must be valid UTF-8 text");
        break;
    }
    return buf;
}

/* ------------------------------------------------------------------------------------------
 * Hashing
 * ------------------------------------------------------------------------------------------ */

/*
 * Hashes <pw,len> with argon2id v1.3 at <p>'s opslimit and memlimit, with a fresh
 * random salt, into <out> ("$argon2id$v=19$m=...,t=...,p=1$salt$hash", NUL-terminated).
 * Returns 0, or AG_ENOMEM when libsodium cannot start or the memory cannot be had
 * (out-of-range parameters fail the same way; config.c keeps them in range).
 */
int ag_password_hash(const struct ag_pwparams *p, const char *pw, size_t len,
                     char out[AG_PASSWORD_HASH_MAX])
{
    if (sodium_init() < 0)
        return AG_ENOMEM;
    if (crypto_pwhash_str_alg(out, pw ? pw : "", len, p->opslimit, p->memlimit,
                              crypto_pwhash_ALG_ARGON2ID13) != 0) {
        out[0] = '\0';
        return AG_ENOMEM;
    }
    return 0;
}

/*
 * 1 when <pw,len> matches <hash>, 0 when it does not, when <hash> is NULL, not
 * NUL-terminated within AG_PASSWORD_HASH_MAX bytes, or malformed, or when memory for the
 * check cannot be had. The comparison inside libsodium is constant-time.
 */
int ag_password_verify(const char *hash, const char *pw, size_t len)
{
    if (hash == NULL || strnlen(hash, AG_PASSWORD_HASH_MAX) == AG_PASSWORD_HASH_MAX)
        return 0;
    if (sodium_init() < 0)
        return 0;
    return crypto_pwhash_str_verify(hash, pw ? pw : "", len) == 0 ? 1 : 0;
}

/* One remembered dummy hash. */
struct pw_dummy {
    unsigned long long opslimit;
    size_t memlimit;
    char hash[AG_PASSWORD_HASH_MAX]; /* "" = slot unused */
};

struct ag_password_dummies {
    pthread_mutex_t mu;
    struct pw_dummy slot[PW_DUMMY_SLOTS];
    unsigned next; /* slot to take when all are used */
};

struct ag_password_dummies *ag_password_dummies_new(void)
{
    struct ag_password_dummies *dd = calloc(1, sizeof(*dd));

    if (dd != NULL && pthread_mutex_init(&dd->mu, NULL) != 0)
        AG_FREE(dd);
    return dd;
}

void ag_password_dummies_free(struct ag_password_dummies *dd)
{
    if (dd == NULL)
        return;
    pthread_mutex_destroy(&dd->mu);
    sodium_memzero(dd->slot, sizeof(dd->slot));
    free(dd);
}

/* Copies the dummy hash of <dd> for <p> into <out>. Returns 1 when it was cached, 0 if not. */
static int pw_dummy_lookup(struct ag_password_dummies *dd, const struct ag_pwparams *p,
                           char out[AG_PASSWORD_HASH_MAX])
{
    int found = 0;

    pthread_mutex_lock(&dd->mu);
    for (size_t i = 0; i < PW_DUMMY_SLOTS && !found; i++) {
        const struct pw_dummy *d = &dd->slot[i];

        if (d->hash[0] != '\0' && d->opslimit == p->opslimit && d->memlimit == p->memlimit) {
            memcpy(out, d->hash, AG_PASSWORD_HASH_MAX);
            found = 1;
        }
    }
    pthread_mutex_unlock(&dd->mu);
    return found;
}

/*
 * Makes the dummy hash for <p> (outside the lock: it takes as long as a login) and
 * remembers it in <dd>, unless another thread was faster. Either way <out> gets the one kept.
 */
static int pw_dummy_make(struct ag_password_dummies *dd, const struct ag_pwparams *p,
                         char out[AG_PASSWORD_HASH_MAX])
{
    unsigned char secret[PW_DUMMY_SECRET];
    char fresh[AG_PASSWORD_HASH_MAX];
    size_t slot = PW_DUMMY_SLOTS;
    int rc;

    if (sodium_init() < 0)
        return AG_ENOMEM;
    randombytes_buf(secret, sizeof(secret));
    rc = ag_password_hash(p, (const char *)secret, sizeof(secret), fresh);
    sodium_memzero(secret, sizeof(secret));
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&dd->mu);
    for (size_t i = 0; i < PW_DUMMY_SLOTS && slot == PW_DUMMY_SLOTS; i++) {
        const struct pw_dummy *d = &dd->slot[i];

        if (d->hash[0] != '\0' && d->opslimit == p->opslimit && d->memlimit == p->memlimit)
            slot = i;
    }
    if (slot < PW_DUMMY_SLOTS) { /* lost the race: use theirs, so every caller agrees */
        memcpy(fresh, dd->slot[slot].hash, AG_PASSWORD_HASH_MAX);
    } else {
        struct pw_dummy *d = &dd->slot[dd->next];

        dd->next = (dd->next + 1) % PW_DUMMY_SLOTS;
        d->opslimit = p->opslimit;
        d->memlimit = p->memlimit;
        memcpy(d->hash, fresh, AG_PASSWORD_HASH_MAX);
    }
    pthread_mutex_unlock(&dd->mu);
    memcpy(out, fresh, AG_PASSWORD_HASH_MAX);
    return 0;
}

/*
 * Verifies <pw,len> against the dummy hash in <dd> of <p>'s parameters, so that the answer
 * for an unknown user costs what a wrong password costs. Always returns 0. The first
 * call for a parameter set also makes the dummy hash (about one hash's cost more).
 */
int ag_password_verify_dummy(struct ag_password_dummies *dd, const struct ag_pwparams *p,
                             const char *pw, size_t len)
{
    char hash[AG_PASSWORD_HASH_MAX];

    if (!pw_dummy_lookup(dd, p, hash) && pw_dummy_make(dd, p, hash) < 0)
        return 0;
    (void)ag_password_verify(hash, pw, len);
    return 0;
}

/*
 * True when <hash> is not an argon2id hash, is malformed, or was made with another
 * opslimit or memlimit than <p>'s: the caller rehashes after a successful login.
 */
bool ag_password_needs_rehash(const struct ag_pwparams *p, const char *hash)
{
    if (hash == NULL || strnlen(hash, AG_PASSWORD_HASH_MAX) == AG_PASSWORD_HASH_MAX ||
        strncmp(hash, PW_ARGON2ID_PREFIX, sizeof(PW_ARGON2ID_PREFIX) - 1) != 0)
        return true;
    if (sodium_init() < 0)
        return false; /* cannot tell: keep the hash that works */
    return crypto_pwhash_str_needs_rehash(hash, p->opslimit, p->memlimit) != 0;
}
