/*
 * policy/revoke.c - revoked jti/sid set and per-subject watermarks: open-addressing
 * hash tables under a reader-writer lock (checks are reads and run on every protected
 * request; writes come in batches from the store's feed).
 *
 * Owns:     the tables and their random hash keys.
 * Entry:    ag_revoke_new(), ag_revoke_add(), ag_revoke_add_subject(), ag_revoke_check(),
 *           ag_revoke_check_subject(), ag_revoke_subject_before(), ag_revoke_prune(),
 *           ag_revoke_set_loaded().
 *
 * An entry keeps no copy of the id: two keyed SipHash-2-4 values (128 bits, keys drawn
 * at random per set) stand for it, so an entry is 24 bytes and 1M revocations fit in
 * 48 MiB at the worst load factor. A false match would need a 128-bit collision
 * between ids nobody outside can choose the keys for.
 */
#include "revoke.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define REVOKE_MIN_SLOTS 64

/* One revoked jti or sid. until == 0 marks an empty slot. */
struct revoke_entry {
    uint64_t k1, k2;
    int64_t until;
};

/* One subject watermark: its tokens issued before <before> are revoked until <until>. */
struct subject_entry {
    uint64_t k1, k2;
    int64_t until;
    int64_t before;
};

struct revoke_table {
    void *slots;   /* struct revoke_entry[] or struct subject_entry[] */
    size_t cap;    /* power of two */
    size_t used;
    size_t size;   /* bytes of one slot */
};

struct ag_revoke {
    pthread_rwlock_t lock;
    struct revoke_table ids;      /* jti and sid */
    struct revoke_table subjects; /* watermarks */
    unsigned char key1[crypto_shorthash_KEYBYTES];
    unsigned char key2[crypto_shorthash_KEYBYTES];
    atomic_bool loaded;           /* filled from the source once (ag_revoke_set_loaded) */
};

/* The two keyed hashes of (<kind>, <id>). */
static void revoke_keys(const struct ag_revoke *r, unsigned kind, struct ag_str id, uint64_t *k1,
                        uint64_t *k2)
{
    unsigned char in[1 + 512], out[crypto_shorthash_BYTES];
    size_t n = id.len < 512 ? id.len : 512;

    /* Ids are bounded by the store (512 bytes); a longer one is cut, never overflows. */
    in[0] = (unsigned char)kind;
    memcpy(in + 1, id.p, n);
    crypto_shorthash(out, in, n + 1, r->key1);
    memcpy(k1, out, sizeof(*k1));
    crypto_shorthash(out, in, n + 1, r->key2);
    memcpy(k2, out, sizeof(*k2));
}

/* Slot <i> of table <t> as its common prefix (k1, k2, until). */
static struct revoke_entry *slot_at(const struct revoke_table *t, size_t i)
{
    return (struct revoke_entry *)((char *)t->slots + i * t->size);
}

/* The slot of (<k1>, <k2>) in <t>, or the empty slot where it would go. Lock held. */
static struct revoke_entry *table_slot(const struct revoke_table *t, uint64_t k1, uint64_t k2)
{
    size_t mask = t->cap - 1, i = (size_t)k1 & mask;

    for (;;) {
        struct revoke_entry *e = slot_at(t, i);
        if (e->until == 0 || (e->k1 == k1 && e->k2 == k2))
            return e;
        i = (i + 1) & mask;
    }
}

static int table_init(struct revoke_table *t, size_t size)
{
    t->size = size;
    t->cap = REVOKE_MIN_SLOTS;
    t->used = 0;
    t->slots = calloc(t->cap, size);
    return t->slots == NULL ? AG_ENOMEM : 0;
}

/* Rebuilds <t> with <cap> slots, dropping entries expired at <now>. Lock held. */
static int table_rehash(struct revoke_table *t, size_t cap, int64_t now)
{
    struct revoke_table old = *t;

    t->slots = calloc(cap, t->size);
    if (t->slots == NULL) {
        *t = old;
        return AG_ENOMEM;
    }
    t->cap = cap;
    t->used = 0;
    for (size_t i = 0; i < old.cap; i++) {
        struct revoke_entry *e = slot_at(&old, i);
        if (e->until == 0 || e->until <= now)
            continue;
        memcpy(table_slot(t, e->k1, e->k2), e, t->size);
        t->used++;
    }
    free(old.slots);
    return 0;
}

/* The slot for (<k1>, <k2>), growing <t> first if needed; NULL on OOM. Lock held. */
static struct revoke_entry *table_put(struct revoke_table *t, uint64_t k1, uint64_t k2)
{
    struct revoke_entry *e;

    /* Load factor at most 3/4: probes stay short, the table stays small. */
    if ((t->used + 1) * 4 > t->cap * 3 && table_rehash(t, t->cap * 2, INT64_MIN) < 0)
        return NULL;
    e = table_slot(t, k1, k2);
    if (e->until == 0) {
        e->k1 = k1;
        e->k2 = k2;
        t->used++;
    }
    return e;
}

struct ag_revoke *ag_revoke_new(void)
{
    struct ag_revoke *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return NULL;
    crypto_shorthash_keygen(r->key1);
    crypto_shorthash_keygen(r->key2);
    if (table_init(&r->ids, sizeof(struct revoke_entry)) < 0 ||
        table_init(&r->subjects, sizeof(struct subject_entry)) < 0 ||
        pthread_rwlock_init(&r->lock, NULL) != 0) {
        free(r->ids.slots);
        free(r->subjects.slots);
        free(r);
        return NULL;
    }
    return r;
}

void ag_revoke_set_loaded(struct ag_revoke *r)
{
    atomic_store_explicit(&r->loaded, true, memory_order_release);
}

bool ag_revoke_loaded(const struct ag_revoke *r)
{
    /* Acquire: a reader that sees the flag also sees the entries added before it. */
    return atomic_load_explicit(&r->loaded, memory_order_acquire);
}

void ag_revoke_free(struct ag_revoke *r)
{
    if (r == NULL)
        return;
    free(r->ids.slots);
    free(r->subjects.slots);
    pthread_rwlock_destroy(&r->lock);
    sodium_memzero(r, sizeof(*r));
    free(r);
}

int ag_revoke_add(struct ag_revoke *r, enum ag_revoke_kind kind, struct ag_str id, int64_t until)
{
    uint64_t k1, k2;
    struct revoke_entry *e;
    int rc = 0;

    if (kind == AG_REVOKE_SUBJECT)
        return ag_revoke_add_subject(r, id, 0, until);
    if (until <= 0)
        return 0; /* nothing to remember: its tokens are long expired */
    revoke_keys(r, kind, id, &k1, &k2);
    pthread_rwlock_wrlock(&r->lock);
    e = table_put(&r->ids, k1, k2);
    if (e == NULL)
        rc = AG_ENOMEM;
    else if (until > e->until)
        e->until = until;
    pthread_rwlock_unlock(&r->lock);
    return rc;
}

int ag_revoke_add_subject(struct ag_revoke *r, struct ag_str sub, int64_t before, int64_t until)
{
    uint64_t k1, k2;
    struct subject_entry *e;
    int rc = 0;

    if (until <= 0)
        return 0;
    revoke_keys(r, AG_REVOKE_SUBJECT, sub, &k1, &k2);
    pthread_rwlock_wrlock(&r->lock);
    e = (struct subject_entry *)table_put(&r->subjects, k1, k2);
    if (e == NULL) {
        rc = AG_ENOMEM;
    } else {
        if (until > e->until)
            e->until = until;
        if (before > e->before)
            e->before = before;
    }
    pthread_rwlock_unlock(&r->lock);
    return rc;
}

bool ag_revoke_check(struct ag_revoke *r, struct ag_str jti, struct ag_str sid, int64_t now)
{
    bool revoked = false;
    uint64_t k1, k2;

    pthread_rwlock_rdlock(&r->lock);
    if (r->ids.used > 0) {
        /* The keys are hashed under the lock only when there is anything to find. */
        if (jti.len > 0) {
            revoke_keys(r, AG_REVOKE_JTI, jti, &k1, &k2);
            revoked = table_slot(&r->ids, k1, k2)->until > now;
        }
        if (!revoked && sid.len > 0) {
            revoke_keys(r, AG_REVOKE_SID, sid, &k1, &k2);
            revoked = table_slot(&r->ids, k1, k2)->until > now;
        }
    }
    pthread_rwlock_unlock(&r->lock);
    return revoked;
}

bool ag_revoke_check_key(struct ag_revoke *r, struct ag_str id, int64_t now)
{
    bool revoked = false;
    uint64_t k1, k2;

    pthread_rwlock_rdlock(&r->lock);
    if (r->ids.used > 0 && id.len > 0) {
        revoke_keys(r, AG_REVOKE_KEY, id, &k1, &k2);
        revoked = table_slot(&r->ids, k1, k2)->until > now;
    }
    pthread_rwlock_unlock(&r->lock);
    return revoked;
}

int64_t ag_revoke_subject_before(struct ag_revoke *r, struct ag_str sub, int64_t now)
{
    int64_t before = 0;
    uint64_t k1, k2;

    if (sub.len == 0)
        return 0;
    pthread_rwlock_rdlock(&r->lock);
    if (r->subjects.used > 0) {
        struct subject_entry *e;
        revoke_keys(r, AG_REVOKE_SUBJECT, sub, &k1, &k2);
        e = (struct subject_entry *)table_slot(&r->subjects, k1, k2);
        if (e->until > now)
            before = e->before;
    }
    pthread_rwlock_unlock(&r->lock);
    return before;
}

bool ag_revoke_check_subject(struct ag_revoke *r, struct ag_str sub, int64_t iat, int64_t now)
{
    return iat < ag_revoke_subject_before(r, sub, now);
}

/* Shrinks <t> while it is less than a quarter full, dropping what expired at <now>. */
static void table_prune(struct revoke_table *t, int64_t now)
{
    size_t cap = t->cap;

    while (cap > REVOKE_MIN_SLOTS && t->used * 4 < cap)
        cap /= 2;
    table_rehash(t, cap, now);
}

size_t ag_revoke_memory(struct ag_revoke *r)
{
    size_t n;

    pthread_rwlock_rdlock(&r->lock);
    n = r->ids.cap * r->ids.size + r->subjects.cap * r->subjects.size;
    pthread_rwlock_unlock(&r->lock);
    return n;
}

size_t ag_revoke_count(struct ag_revoke *r)
{
    size_t n;

    pthread_rwlock_rdlock(&r->lock);
    n = r->ids.used + r->subjects.used;
    pthread_rwlock_unlock(&r->lock);
    return n;
}

size_t ag_revoke_prune(struct ag_revoke *r, int64_t now)
{
    size_t left;

    pthread_rwlock_wrlock(&r->lock);
    table_prune(&r->ids, now);
    table_prune(&r->subjects, now);
    left = r->ids.used + r->subjects.used;
    pthread_rwlock_unlock(&r->lock);
    return left;
}
