/*
 * gateway/auth/keycache.c - the worker's API key cache: a chained hash table over the
 * public ids with an LRU list, bounded by api-key-cache-size.
 *
 * Owns:     struct ag_keycache, its entries and their strings.
 * Entry:    ag_keycache_*().
 * Not here: when an entry is believed (gateway/auth/authn.c), filling it from Redis
 *           (gateway/ep/ep_apikeys.c).
 * Spec:     docs/api-keys.md "On the request path".
 */
#include "keycache.h"

#include <stdlib.h>
#include <string.h>

struct ag_keycache {
    struct ag_keycache_entry **buckets;
    size_t nbuckets; /* power of two, >= max */
    size_t n, max;
    struct ag_keycache_entry lru; /* sentinel: lnext most recent */
};

static uint64_t ak_hash(struct ag_str id)
{
    uint64_t h = 1469598103934665603ULL;

    for (size_t i = 0; i < id.len; i++)
        h = (h ^ (unsigned char)id.p[i]) * 1099511628211ULL;
    return h;
}

struct ag_keycache *ag_keycache_new(size_t max)
{
    struct ag_keycache *c = calloc(1, sizeof(*c));
    size_t nb = 16;

    if (c == NULL)
        return NULL;
    while (nb < max)
        nb <<= 1;
    c->buckets = calloc(nb, sizeof(*c->buckets));
    if (c->buckets == NULL) {
        free(c);
        return NULL;
    }
    c->nbuckets = nb;
    c->max = max > 0 ? max : 1;
    c->lru.lnext = c->lru.lprev = &c->lru;
    return c;
}

static void ak_entry_free(struct ag_keycache_entry *e)
{
    free(e->uid);
    free(e->scopes);
    free(e->roles);
    free(e);
}

/* Takes <e> out of its bucket and the LRU list and frees it. */
static void ak_remove(struct ag_keycache *c, struct ag_keycache_entry *e)
{
    struct ag_keycache_entry **pp = &c->buckets[ak_hash((struct ag_str){e->id, AG_APIKEY_ID_LEN}) &
                                              (c->nbuckets - 1)];

    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    e->lprev->lnext = e->lnext;
    e->lnext->lprev = e->lprev;
    c->n--;
    ak_entry_free(e);
}

void ag_keycache_clear(struct ag_keycache *c)
{
    if (c == NULL)
        return;
    while (c->lru.lnext != &c->lru)
        ak_remove(c, c->lru.lnext);
}

void ag_keycache_free(struct ag_keycache *c)
{
    if (c == NULL)
        return;
    ag_keycache_clear(c);
    free(c->buckets);
    free(c);
}

static void ak_front(struct ag_keycache *c, struct ag_keycache_entry *e)
{
    e->lnext = c->lru.lnext;
    e->lprev = &c->lru;
    c->lru.lnext->lprev = e;
    c->lru.lnext = e;
}

struct ag_keycache_entry *ag_keycache_get(struct ag_keycache *c, struct ag_str id)
{
    if (c == NULL || id.len != AG_APIKEY_ID_LEN)
        return NULL;
    for (struct ag_keycache_entry *e = c->buckets[ak_hash(id) & (c->nbuckets - 1)]; e != NULL;
         e = e->hnext)
        if (memcmp(e->id, id.p, AG_APIKEY_ID_LEN) == 0) {
            e->lprev->lnext = e->lnext;
            e->lnext->lprev = e->lprev;
            ak_front(c, e);
            return e;
        }
    return NULL;
}

void ag_keycache_drop(struct ag_keycache *c, struct ag_str id)
{
    struct ag_keycache_entry *e = ag_keycache_get(c, id);

    if (e != NULL)
        ak_remove(c, e);
}

struct ag_keycache_entry *ag_keycache_pending(struct ag_keycache *c, struct ag_str id)
{
    struct ag_keycache_entry *e;
    size_t b;

    if (c == NULL || id.len != AG_APIKEY_ID_LEN)
        return NULL;
    ag_keycache_drop(c, id);
    if (c->n >= c->max)
        ak_remove(c, c->lru.lprev);
    e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    memcpy(e->id, id.p, AG_APIKEY_ID_LEN);
    e->state = AG_KEYCACHE_PENDING;
    b = ak_hash(id) & (c->nbuckets - 1);
    e->hnext = c->buckets[b];
    c->buckets[b] = e;
    ak_front(c, e);
    c->n++;
    return e;
}

int ag_keycache_fill(struct ag_keycache *c, struct ag_str id,
                         const struct ag_keycache_fill *f, int64_t until)
{
    struct ag_keycache_entry *e = ag_keycache_get(c, id);

    if (e == NULL || e->state != AG_KEYCACHE_PENDING)
        return 0;
    if (f == NULL) {
        e->state = AG_KEYCACHE_ABSENT;
        e->until = until;
        return 0;
    }
    e->uid = strdup(f->uid);
    e->scopes = strdup(f->scopes);
    e->roles = strdup(f->roles);
    if (e->uid == NULL || e->scopes == NULL || e->roles == NULL) {
        ak_remove(c, e);
        return AG_ENOMEM;
    }
    memcpy(e->hash, f->hash, sizeof(e->hash));
    e->expires_at = f->expires_at;
    e->loaded = f->loaded;
    e->until = f->until;
    e->touched = f->touched;
    e->state = AG_KEYCACHE_KNOWN;
    return 0;
}
