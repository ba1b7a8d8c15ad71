/*
 * policy/revoke.c - revoked jti/sid set: an open-addressing hash table under a
 * reader-writer lock (checks are reads and run on every protected request;
 * writes come in batches from the store's sync).
 *
 * Owns:     the table and copies of the ids.
 * Entry:    ag_revoke_new(), ag_revoke_add(), ag_revoke_check(), ag_revoke_prune().
 */
#include "revoke.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define REVOKE_MIN_SLOTS 64

struct revoke_entry {
    char *id;        /* NUL-terminated copy; NULL: empty slot */
    size_t len;
    unsigned kind;
    int64_t until;
    int64_t before;  /* AG_REVOKE_SUBJECT: tokens issued before this are revoked */
    uint64_t hash;
};

struct ag_revoke {
    pthread_rwlock_t lock;
    struct revoke_entry *slots;
    size_t cap;      /* power of two */
    size_t used;
};

/* FNV-1a over the kind and the id bytes. */
static uint64_t revoke_hash(unsigned kind, struct ag_str id)
{
    uint64_t h = 1469598103934665603ull ^ kind;

    for (size_t i = 0; i < id.len; i++) {
        h ^= (unsigned char)id.p[i];
        h *= 1099511628211ull;
    }
    return h;
}

struct ag_revoke *ag_revoke_new(void)
{
    struct ag_revoke *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return NULL;
    r->cap = REVOKE_MIN_SLOTS;
    r->slots = calloc(r->cap, sizeof(*r->slots));
    if (r->slots == NULL || pthread_rwlock_init(&r->lock, NULL) != 0) {
        free(r->slots);
        free(r);
        return NULL;
    }
    return r;
}

void ag_revoke_free(struct ag_revoke *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->cap; i++)
        free(r->slots[i].id);
    free(r->slots);
    pthread_rwlock_destroy(&r->lock);
    free(r);
}

/* Finds the slot of (<kind>, <id>) or the empty slot where it would go. Lock held. */
static struct revoke_entry *revoke_slot(const struct ag_revoke *r, unsigned kind,
                                        struct ag_str id, uint64_t h)
{
    size_t mask = r->cap - 1, i = (size_t)h & mask;

    for (;;) {
        struct revoke_entry *e = &r->slots[i];
        if (e->id == NULL ||
            (e->hash == h && e->kind == kind && e->len == id.len && memcmp(e->id, id.p, id.len) == 0))
            return e;
        i = (i + 1) & mask;
    }
}

/* Rebuilds the table with <cap> slots, dropping entries expired at <now>. Lock held. */
static int revoke_rehash(struct ag_revoke *r, size_t cap, int64_t now)
{
    struct revoke_entry *old = r->slots;
    size_t old_cap = r->cap;

    r->slots = calloc(cap, sizeof(*r->slots));
    if (r->slots == NULL) {
        r->slots = old;
        return AG_ENOMEM;
    }
    r->cap = cap;
    r->used = 0;
    for (size_t i = 0; i < old_cap; i++) {
        struct revoke_entry *e = &old[i];
        if (e->id == NULL)
            continue;
        if (e->until <= now) {
            free(e->id);
            continue;
        }
        *revoke_slot(r, e->kind, (struct ag_str){e->id, e->len}, e->hash) = *e;
        r->used++;
    }
    free(old);
    return 0;
}

/* Adds or extends (<kind>, <id>) until <until>, raising its watermark to <before>. */
static int revoke_put(struct ag_revoke *r, enum ag_revoke_kind kind, struct ag_str id,
                      int64_t until, int64_t before)
{
    uint64_t h = revoke_hash(kind, id);
    struct revoke_entry *e;
    int rc = 0;

    pthread_rwlock_wrlock(&r->lock);
    if ((r->used + 1) * 2 > r->cap && (rc = revoke_rehash(r, r->cap * 2, INT64_MIN)) < 0)
        goto out;
    e = revoke_slot(r, kind, id, h);
    if (e->id != NULL) {
        if (until > e->until)
            e->until = until;
        if (before > e->before)
            e->before = before;
        goto out;
    }
    e->id = malloc(id.len + 1);
    if (e->id == NULL) {
        rc = AG_ENOMEM;
        goto out;
    }
    memcpy(e->id, id.p, id.len);
    e->id[id.len] = '\0';
    e->len = id.len;
    e->kind = kind;
    e->until = until;
    e->before = before;
    e->hash = h;
    r->used++;
out:
    pthread_rwlock_unlock(&r->lock);
    return rc;
}

int ag_revoke_add(struct ag_revoke *r, enum ag_revoke_kind kind, struct ag_str id, int64_t until)
{
    return revoke_put(r, kind, id, until, 0);
}

int ag_revoke_add_subject(struct ag_revoke *r, struct ag_str sub, int64_t before, int64_t until)
{
    return revoke_put(r, AG_REVOKE_SUBJECT, sub, until, before);
}

bool ag_revoke_check_subject(struct ag_revoke *r, struct ag_str sub, int64_t iat, int64_t now)
{
    bool revoked = false;

    if (sub.len == 0)
        return false;
    pthread_rwlock_rdlock(&r->lock);
    if (r->used > 0) {
        struct revoke_entry *e =
            revoke_slot(r, AG_REVOKE_SUBJECT, sub, revoke_hash(AG_REVOKE_SUBJECT, sub));
        revoked = e->id != NULL && e->until > now && iat < e->before;
    }
    pthread_rwlock_unlock(&r->lock);
    return revoked;
}

bool ag_revoke_check(struct ag_revoke *r, struct ag_str jti, struct ag_str sid, int64_t now)
{
    bool revoked = false;

    pthread_rwlock_rdlock(&r->lock);
    if (r->used > 0) {
        if (jti.len > 0) {
            struct revoke_entry *e = revoke_slot(r, AG_REVOKE_JTI, jti, revoke_hash(AG_REVOKE_JTI, jti));
            revoked = e->id != NULL && e->until > now;
        }
        if (!revoked && sid.len > 0) {
            struct revoke_entry *e = revoke_slot(r, AG_REVOKE_SID, sid, revoke_hash(AG_REVOKE_SID, sid));
            revoked = e->id != NULL && e->until > now;
        }
    }
    pthread_rwlock_unlock(&r->lock);
    return revoked;
}

size_t ag_revoke_prune(struct ag_revoke *r, int64_t now)
{
    size_t cap, left;

    pthread_rwlock_wrlock(&r->lock);
    cap = r->cap;
    while (cap > REVOKE_MIN_SLOTS && r->used * 4 < cap)
        cap /= 2;
    revoke_rehash(r, cap, now);
    left = r->used;
    pthread_rwlock_unlock(&r->lock);
    return left;
}
