/*
 * gateway/core/upassert.c - the upstream assertion a request forwarded with an identity
 * carries (upstream-assertion), and the per-worker cache that spares a signature per
 * request: an assertion signed for (token, method, path) is reused while it is young.
 *
 * Owns:     struct ag_upassert_cache: a direct-mapped table of UA_SLOTS entries, each
 *           the key bytes and the signed assertion; emptied when a newer generation asks.
 * Entry:    ag_upassert_get(), ag_upassert_cache_free().
 * Not here: the claims and the signature (ag_claims_assertion_sign(), policy/claims.c),
 *           the header lines (uphead.c; the forward-auth answer, gateway/ep/ep_verify.c),
 *           the config (policy/config_ring.c).
 * Spec:     CONTRACT.md section 12; docs/keys.md "Upstream assertions".
 */
#include "upassert.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "authn.h"
#include "claims.h"
#include "config.h"
#include "gen.h"
#include "jwt.h"
#include "worker_types.h"

#define UA_SLOTS 256    /* entries per worker (a power of two) */
#define UA_KEY_MAX 4096 /* token + method + path bytes of an entry at most: longer ones are
                         * signed every time, so a worker's cache stays under ~2.5 MB */

/* One signed assertion and what it was signed for. */
struct ua_entry {
    uint64_t hash;
    int64_t iat;
    size_t tok_len, method_len, path_len, len; /* len: the assertion's */
    char data[];                               /* token, method, path, assertion, NUL */
};

struct ag_upassert_cache {
    unsigned gen_id;                 /* the generation the entries belong to */
    uint64_t jti_prefix, jti_n;      /* jti: random per cache, then a counter */
    char *scratch;                   /* an assertion not cached */
    size_t scratch_cap;
    struct ua_entry *slots[UA_SLOTS];
};

static void ua_clear(struct ag_upassert_cache *c)
{
    for (size_t i = 0; i < UA_SLOTS; i++)
        AG_FREE(c->slots[i]);
}

void ag_upassert_cache_free(struct ag_upassert_cache *c)
{
    if (c == NULL)
        return;
    ua_clear(c);
    free(c->scratch);
    free(c);
}

/* <w>'s cache, made on first use; NULL on OOM. */
static struct ag_upassert_cache *ua_cache(struct ag_worker *w)
{
    struct ag_upassert_cache *c = w->acache;

    if (c != NULL)
        return c;
    if ((c = calloc(1, sizeof(*c))) == NULL)
        return NULL;
    if (RAND_bytes((unsigned char *)&c->jti_prefix, sizeof(c->jti_prefix)) != 1) {
        free(c);
        return NULL;
    }
    w->acache = c;
    return c;
}

/* FNV-1a over the token's last 32 bytes (its signature), the method and the path. */
static uint64_t ua_hash(struct ag_str tok, struct ag_str method, struct ag_str path)
{
    const struct ag_str parts[] = {
        {tok.p + (tok.len > 32 ? tok.len - 32 : 0), tok.len > 32 ? 32 : tok.len}, method, path};
    uint64_t h = 1469598103934665603ull ^ tok.len;

    for (size_t k = 0; k < 3; k++)
        for (size_t i = 0; i < parts[k].len; i++) {
            h ^= (unsigned char)parts[k].p[i];
            h *= 1099511628211ull;
        }
    return h ^ (path.len << 16);
}

/* Whether <e> was signed for exactly <tok>, <method>, <path>. */
static bool ua_same(const struct ua_entry *e, uint64_t hash, struct ag_str tok,
                    struct ag_str method, struct ag_str path)
{
    return e->hash == hash && e->tok_len == tok.len && e->method_len == method.len &&
           e->path_len == path.len && memcmp(e->data, tok.p, tok.len) == 0 &&
           memcmp(e->data + tok.len, method.p, method.len) == 0 &&
           memcmp(e->data + tok.len + method.len, path.p, path.len) == 0;
}

/*
 * Signs a new assertion for <a>'s identity and <method> <path> at <now> with <key> into
 * <dst> (capacity <cap>). Returns its length, or a negative AG_E*.
 */
static int ua_sign(struct ag_upassert_cache *c, const struct ag_config *cfg,
                   const struct ag_jwt_key *key, const struct ag_authn *a, struct ag_str method,
                   struct ag_str path, int64_t now, char *dst, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    char jti[32];
    struct ag_claims_assertion ca = {a->sub, a->sid, {jti, 32}, method, path, now};
    uint64_t v[2] = {c->jti_prefix, ++c->jti_n};

    for (int i = 0; i < 32; i++)
        jti[i] = hex[(v[i / 16] >> (60 - 4 * (i % 16))) & 15];
    return ag_claims_assertion_sign(cfg, key, &ca, dst, cap);
}

int ag_upassert_get(struct ag_worker *w, const struct ag_gen *g, const struct ag_authn *a,
                    struct ag_str method, struct ag_str path, struct ag_str *out)
{
    const struct ag_config *cfg = g->cfg;
    const struct ag_jwt_key *key;
    struct ag_upassert_cache *c;
    struct ua_entry *e, **slot = NULL;
    struct ag_claims_assertion sz = {a->sub, a->sid, {NULL, 32}, method, path, 0};
    size_t cap, klen = a->tok.len + method.len + path.len;
    int64_t now;
    uint64_t hash = 0;
    int n;

    *out = (struct ag_str){NULL, 0};
    if (cfg->upstream_assertion.kid == NULL || !a->identity)
        return 0;
    key = ag_jwt_ring_key(g->ring, cfg->upstream_assertion.kid);
    if (key == NULL || (c = ua_cache(w)) == NULL)
        return -1;
    now = ag_unix_now();
    /* The entries belong to one generation: its key and ttl. A newer one empties the
     * cache; a request of an older one still in flight signs without it. */
    if (g->id > c->gen_id) {
        ua_clear(c);
        c->gen_id = g->id;
    }
    if (g->id == c->gen_id && a->tok.len > 0 && klen <= UA_KEY_MAX) {
        hash = ua_hash(a->tok, method, path);
        slot = &c->slots[hash & (UA_SLOTS - 1)];
        e = *slot;
        /* Reused while less than half its ttl old: the upstream always gets an assertion
         * with at least ttl/2 seconds to live (a ttl of 1 s is never reused). */
        if (e != NULL && ua_same(e, hash, a->tok, method, path) && now >= e->iat &&
            now - e->iat < cfg->upstream_assertion.ttl / 2) {
            *out = (struct ag_str){e->data + klen, e->len};
            return 0;
        }
    }
    cap = ag_claims_assertion_size(cfg, &sz);
    if (cap > c->scratch_cap) {
        char *p = realloc(c->scratch, cap);
        if (p == NULL)
            return -1;
        c->scratch = p;
        c->scratch_cap = cap;
    }
    if ((n = ua_sign(c, cfg, key, a, method, path, now, c->scratch, c->scratch_cap)) < 0)
        return -1;
    if (slot != NULL) {
        AG_FREE(*slot);
        /* Not cached when memory runs short: the assertion in scratch serves all the same. */
        if ((e = malloc(sizeof(*e) + klen + (size_t)n + 1)) != NULL) {
            *e = (struct ua_entry){hash, now, a->tok.len, method.len, path.len, (size_t)n};
            memcpy(e->data, a->tok.p, a->tok.len);
            memcpy(e->data + a->tok.len, method.p, method.len);
            memcpy(e->data + a->tok.len + method.len, path.p, path.len);
            memcpy(e->data + klen, c->scratch, (size_t)n + 1);
            *slot = e;
        }
    }
    *out = (struct ag_str){c->scratch, (size_t)n};
    return 0;
}
