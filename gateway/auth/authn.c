/*
 * gateway/auth/authn.c - credentials of a request against what its path needs:
 * the master token, the access token (first source present is judged), the
 * revocation set, required scopes and roles; plus the per-worker verified-token
 * cache that lets a repeated token skip base64, HMAC and JSON, and the bound on failed
 * asymmetric signature checks of the tokens it does not hold.
 *
 * An API key (api-key-header) is judged instead when present: against the worker's key
 * cache (gateway/auth/keycache.c), with the same scope and role rules.
 *
 * Owns:     struct ag_authn_cache and its entries.
 * Entry:    ag_authn_check(), ag_authn_live(), ag_authn_refusal(), ag_authn_cache_*().
 * Not here: JWS and claims (policy/jwt.c), rules (policy/rules.c), the table of client
 *           addresses' budgets (gateway/auth/sigbudget.c).
 * Spec:     CONTRACT.md sections 4-6; RFC 6750 section 3; docs/tokens.md.
 */
#include "authn.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "apikey.h"
#include "config.h"
#include "cookie.h"
#include "log.h"
#include "revoke.h"
#include "gen.h"
#include "keycache.h"
#include "sigbudget.h"
#include "worker_types.h"

/* ---------------------------------------------------------------- the verified-token cache */

/*
 * One verified token: its exact bytes (the key), what the request path needs of
 * its claims, and when it stops being valid. Only tokens that passed every check
 * get in, so an attacker cannot fill the cache with forgeries; revocation, scopes
 * and expiry are still checked on every hit.
 */
struct tc_node {
    struct tc_node *lprev, *lnext;   /* LRU list, most recent first */
};

/* What a check needs of a verified token, from the cache or from fresh claims. */
struct tc_ident {
    struct ag_str sub, client_id, scopes, roles, jti, sid;
    int64_t iat;
    bool client;                     /* the token names a client (sub_type "client") */
    bool legacy;                     /* a fastauth-api token: passes only inside legacy-tokens */
};

struct tc_entry {
    struct tc_node node;             /* first: a node is its entry */
    struct tc_entry *hnext;          /* bucket chain */
    uint64_t hash;
    int64_t exp;
    size_t tok_len;
    struct tc_ident id;              /* slices into data */
    char data[];                     /* token bytes, then the strings of id */
};

struct ag_authn_cache {
    struct tc_entry **buckets;
    size_t nbuckets;                 /* power of two, >= max */
    size_t n, max;
    struct tc_node lru;              /* sentinel */
};

/*
 * A hash of the token's last 32 bytes (its signature: different for every token), a word
 * at a time (FNV-1a's prime on 64-bit words, then a final mix); shorter tokens byte by byte.
 */
static uint64_t tc_hash(struct ag_str tok)
{
    uint64_t h = 1469598103934665603ull ^ tok.len, w;

    if (tok.len < 32) {
        for (size_t i = 0; i < tok.len; i++)
            h = (h ^ (unsigned char)tok.p[i]) * 1099511628211ull;
        return h;
    }
    for (size_t i = tok.len - 32; i < tok.len; i += 8) {
        memcpy(&w, tok.p + i, 8);
        h = (h ^ w) * 1099511628211ull;
    }
    return h ^ (h >> 29);
}

struct ag_authn_cache *ag_authn_cache_new(size_t max)
{
    struct ag_authn_cache *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->max = max;
    c->nbuckets = 16;
    while (c->nbuckets < max)
        c->nbuckets *= 2;
    c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
    if (c->buckets == NULL) {
        free(c);
        return NULL;
    }
    c->lru.lnext = c->lru.lprev = &c->lru;
    return c;
}

static void lru_unlink(struct tc_node *n)
{
    n->lprev->lnext = n->lnext;
    n->lnext->lprev = n->lprev;
}

static void lru_push_front(struct ag_authn_cache *c, struct tc_node *n)
{
    n->lnext = c->lru.lnext;
    n->lprev = &c->lru;
    c->lru.lnext->lprev = n;
    c->lru.lnext = n;
}

static void tc_unlink(struct ag_authn_cache *c, struct tc_entry *e)
{
    struct tc_entry **pp = &c->buckets[e->hash & (c->nbuckets - 1)];

    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(&e->node);
    c->n--;
}

void ag_authn_cache_clear(struct ag_authn_cache *c)
{
    if (c == NULL)
        return;
    while (c->lru.lnext != &c->lru) {
        struct tc_entry *e = (struct tc_entry *)c->lru.lnext;
        tc_unlink(c, e);
        free(e);
    }
}

void ag_authn_cache_free(struct ag_authn_cache *c)
{
    if (c == NULL)
        return;
    ag_authn_cache_clear(c);
    free(c->buckets);
    free(c);
}

static struct tc_entry *tc_get(struct ag_authn_cache *c, struct ag_str tok, uint64_t h)
{
    struct tc_entry *e;

    for (e = c->buckets[h & (c->nbuckets - 1)]; e != NULL; e = e->hnext) {
        if (e->hash == h && e->tok_len == tok.len && memcmp(e->data, tok.p, tok.len) == 0) {
            /* Move to the front: recently used tokens stay. */
            lru_unlink(&e->node);
            lru_push_front(c, &e->node);
            return e;
        }
    }
    return NULL;
}

/* Copies <s> to <*p> and returns the copy's slice. */
static struct ag_str tc_copy(char **p, struct ag_str s)
{
    struct ag_str out = {*p, s.len};

    memcpy(*p, s.p, s.len);
    *p += s.len;
    return out;
}

static struct tc_entry *tc_put(struct ag_authn_cache *c, struct ag_str tok, uint64_t h,
                               const struct ag_jwt_claims *cl)
{
    size_t n = tok.len + cl->sub.len + cl->client_id.len + cl->scope.len + cl->roles.len +
               cl->jti.len + cl->sid.len;
    struct tc_entry *e;
    char *p;

    if (c->max == 0)
        return NULL;
    if (c->n >= c->max) {
        struct tc_entry *old = (struct tc_entry *)c->lru.lprev;
        tc_unlink(c, old);
        free(old);
    }
    e = malloc(sizeof(*e) + n);
    if (e == NULL)
        return NULL;
    e->hash = h;
    e->exp = cl->exp;
    e->tok_len = tok.len;
    p = e->data;
    tc_copy(&p, tok);
    e->id.iat = cl->iat;
    e->id.client = cl->client;
    e->id.legacy = cl->legacy;
    e->id.sub = tc_copy(&p, cl->sub);
    e->id.client_id = tc_copy(&p, cl->client_id);
    e->id.scopes = tc_copy(&p, cl->scope);
    e->id.roles = tc_copy(&p, cl->roles);
    e->id.jti = tc_copy(&p, cl->jti);
    e->id.sid = tc_copy(&p, cl->sid);
    e->hnext = c->buckets[h & (c->nbuckets - 1)];
    c->buckets[h & (c->nbuckets - 1)] = e;
    lru_push_front(c, &e->node);
    c->n++;
    return e;
}

/* ---------------------------------------------------------------- header names */

bool ag_authn_is_credential_header(struct ag_str name)
{
    return ag_authn_name_eq(name, "master-token") || ag_authn_name_eq(name, "access-token");
}

/* ---------------------------------------------------------------- token sources */

/*
 * The Bearer credential of the Authorization value <v> (see authn.h). The scheme is
 * case-insensitive (RFC 9110 s.11.1) and separated from the token by 1*SP (s.11.4);
 * a run of spaces is read as one separator, as most servers do. A TAB after the
 * scheme still makes the value a Bearer credential, only a malformed one: it is
 * refused with 401, never passed by as "not a Bearer token" (it would go upstream
 * unjudged). A bare "Bearer" (its trailing space trimmed as OWS) is a Bearer source
 * with an empty token: it is judged, not skipped.
 */
int ag_authn_bearer(struct ag_str v, struct ag_str *tok)
{
    size_t i = 6;
    bool tab = false;

    if (v.len < 6 || !ag_str_ieq((struct ag_str){v.p, 6}, "Bearer") ||
        (v.len > 6 && v.p[6] != ' ' && v.p[6] != '\t'))
        return 0;
    while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t'))
        tab |= v.p[i++] == '\t';
    if (tok != NULL)
        *tok = (struct ag_str){v.p + i, v.len - i};
    return tab ? -1 : 1;
}

/* Finds the access token of <h> in the contract's order. Returns its source, 0 if none, -1 if ambiguous or malformed. */
static int find_token(const struct ag_config *cfg, const struct ag_http1_head *h, struct ag_str *tok)
{
    struct ag_str bearer = {NULL, 0}, header = {NULL, 0}, cookie = {NULL, 0};
    int n_auth = 0, n_header = 0, n_cookie = 0, bad_cookie = 0, bad_auth = 0;

    for (size_t i = 0; i < h->nhdrs; i++) {
        struct ag_str name = h->hdrs[i].name, value = h->hdrs[i].value;
        if (cfg->accept_header && ag_str_ieq(name, "Authorization")) {
            struct ag_str t;
            int r = ag_authn_bearer(value, &t);
            if (r != 0) {
                bearer = t;
                n_auth++;
                bad_auth |= r < 0;
            }
        } else if (cfg->accept_header && ag_str_ieq(name, "ACCESS-TOKEN")) {
            header = value;
            n_header++;
        } else if (cfg->accept_cookie && ag_str_ieq(name, "Cookie")) {
            struct ag_str v;
            int r = ag_cookie_find(value, "access_token", &v);
            if (r < 0)
                bad_cookie = 1;
            else if (r > 0) {
                cookie = v;
                n_cookie++;
            }
        }
    }
    /* Two of one source is ambiguous: refuse rather than pick one (a smuggling vector). */
    if (n_auth > 0) {
        *tok = bearer;
        return n_auth == 1 && !bad_auth ? AG_AUTHN_SRC_BEARER : -1;
    }
    if (n_header > 0) {
        *tok = header;
        return n_header == 1 ? AG_AUTHN_SRC_HEADER : -1;
    }
    if (n_cookie > 0 || bad_cookie) {
        *tok = cookie;
        return n_cookie == 1 && !bad_cookie ? AG_AUTHN_SRC_COOKIE : -1;
    }
    return 0;
}

/* The master token check: exactly one MASTER-TOKEN field equal to the configured one. */
static bool master_ok(const struct ag_config *cfg, const struct ag_http1_head *h)
{
    struct ag_str got = {NULL, 0};
    int n = 0;

    if (cfg->master_token == NULL)
        return false; /* no master token configured: master paths always refuse */
    for (size_t i = 0; i < h->nhdrs; i++)
        if (ag_str_ieq(h->hdrs[i].name, "MASTER-TOKEN")) {
            got = h->hdrs[i].value;
            n++;
        }
    return n == 1 && got.len == cfg->master_token_len &&
           CRYPTO_memcmp(got.p, cfg->master_token, got.len) == 0;
}

/* ---------------------------------------------------------------- floods of invalid tokens */

/*
 * Whether the client of <from> has spent its budget of failed asymmetric signature checks
 * in the window of <now> (*<be>: its entry in the worker's table, or NULL when the bound is off).
 */
static bool flood_closed(struct ag_worker *w, const struct ag_config *cfg,
                         const struct ag_authn_from *from, const struct ag_http1_head *h,
                         int64_t now, struct ag_sigbudget_entry **be)
{
    unsigned char key[AG_SIGBUDGET_KEY];

    *be = NULL;
    if (cfg->rl_bad_sigs.limit == 0 || w->sigbudget == NULL)
        return false;
    ag_sigbudget_key(cfg, from->family, from->addr, h, key);
    *be = ag_sigbudget_get(w->sigbudget, key, now / cfg->rl_bad_sigs.window);
    return (*be)->fails >= (uint64_t)cfg->rl_bad_sigs.limit;
}

/*
 * The token was refused at (or instead of) an asymmetric signature check with <st>:
 * counts a failure against the address entry <be> and the connection of <from>, marks
 * <a> to close the connection at its bound, or answers 429 when <st> is THROTTLED.
 */
static void flood_count(struct ag_worker *w, const struct ag_config *cfg,
                        const struct ag_authn_from *from, struct ag_sigbudget_entry *be,
                        enum ag_jwt_status st, struct ag_authn *a)
{
    char addr[INET6_ADDRSTRLEN + 4];

    if (st == AG_JWT_THROTTLED) {
        a->st = AG_AUTHN_FLOOD;
        ag_stats_inc(&w->stats.sig_flood[AG_STATS_FLOOD_REFUSED]);
        if (!be->logged) { /* one line per address and window, not one per request */
            be->logged = true;
            ag_log_to(w->elog, AG_LOG_WARN,
                      "token flood: %s failed %ld asymmetric signature checks within %ld s on "
                      "worker %u; its uncached EdDSA/ES256/RS256 tokens get 429 unchecked until "
                      "the window ends",
                      ag_sigbudget_key_str(be->key, addr, sizeof(addr)), cfg->rl_bad_sigs.limit,
                      cfg->rl_bad_sigs.window, w->id);
        }
        return;
    }
    if (st != AG_JWT_BAD_SIG)
        return;
    if (be != NULL)
        be->fails++;
    /* A trusted proxy's connection carries many clients: only their addresses count. */
    if (from->bad_sigs == NULL || cfg->bad_sigs_per_conn == 0 ||
        (cfg->n_trusted_proxies > 0 && ag_config_trusted_proxy(cfg, from->family, from->addr)))
        return;
    if (++*from->bad_sigs < (unsigned long)cfg->bad_sigs_per_conn)
        return;
    a->close = true;
    ag_stats_inc(&w->stats.sig_flood[AG_STATS_FLOOD_CLOSED]);
    if (inet_ntop(from->family, from->addr, addr, sizeof(addr)) == NULL)
        snprintf(addr, sizeof(addr), "unknown");
    ag_log_to(w->elog, AG_LOG_WARN,
              "token flood: closing a connection from %s after %ld failed asymmetric "
              "signature checks", addr, cfg->bad_sigs_per_conn);
}

/* ---------------------------------------------------------------- scopes and roles */

/*
 * The credential of <a> holds (its sub, scopes and roles set): the scopes and roles <v>
 * requires decide between OK with its identity and SCOPE (403).
 */
static void authn_grant(const struct ag_rules_verdict *v, struct ag_authn *a)
{
    a->st = AG_AUTHN_INVALID;
    for (size_t i = 0; i < v->n_scopes; i++)
        if (!ag_words_has(a->scopes, ' ', ag_str_c(v->scopes[i]))) {
            a->st = AG_AUTHN_SCOPE;
            a->missing = v->scopes[i];
            return;
        }
    for (size_t i = 0; i < v->n_roles; i++)
        if (!ag_words_has(a->roles, ',', ag_str_c(v->roles[i]))) {
            a->st = AG_AUTHN_SCOPE;
            a->missing = v->roles[i];
            return;
        }
    a->jwt = AG_JWT_OK;
    a->identity = true;
    a->st = AG_AUTHN_OK;
}

/* ---------------------------------------------------------------- revocation */

/*
 * Whether a credential of subject <sub> made at <iat> (with <jti> and session <sid>, either
 * may be empty) is revoked at <now>: the access path's test and the live sweep's.
 */
static bool token_revoked(const struct ag_gen *g, struct ag_str jti, struct ag_str sid,
                          struct ag_str sub, int64_t iat, int64_t now)
{
    return g->revoke != NULL && (ag_revoke_check(g->revoke, jti, sid, now) ||
                                 ag_revoke_check_subject(g->revoke, sub, iat, now));
}

/* Whether the API key of public id <id> is revoked at <now>. */
static bool key_revoked(const struct ag_gen *g, struct ag_str id, int64_t now)
{
    return g->revoke != NULL && ag_revoke_check_key(g->revoke, id, now);
}


/* ---------------------------------------------------------------- API keys */

/*
 * Whether the worker's cache entry <e> of a key is no longer believed at <now>: aged out,
 * or its owner changed since it was loaded (a subject watermark). A PENDING one is the
 * lookup under way.
 */
static bool key_entry_stale(const struct ag_gen *g, const struct ag_keycache_entry *e,
                            int64_t now)
{
    return e->state != AG_KEYCACHE_PENDING &&
           (now >= e->until ||
            (e->state == AG_KEYCACHE_KNOWN &&
             token_revoked(g, (struct ag_str){NULL, 0}, (struct ag_str){NULL, 0},
                           ag_str_c(e->uid), e->loaded, now)));
}

/*
 * The api-key-header fields of <h>: how many (two are ambiguous: refused), the last one
 * in <*v>.
 */
static int find_key(const struct ag_config *cfg, const struct ag_http1_head *h, struct ag_str *v)
{
    int n = 0;

    for (size_t i = 0; i < h->nhdrs; i++)
        if (ag_authn_name_eq(h->hdrs[i].name, cfg->api_key_header)) {
            *v = h->hdrs[i].value;
            n++;
        }
    return n;
}

/*
 * Whether the client of <from> may have one more uncached key id looked up in Redis this
 * minute (api-key-lookups per address and worker); counts it when so. Guessing ids then
 * costs Redis at most that many lookups per address a minute, whatever the rate.
 */
static bool key_lookup_allowed(struct ag_worker *w, const struct ag_config *cfg,
                               const struct ag_authn_from *from, const struct ag_http1_head *h,
                               int64_t now)
{
    unsigned char key[AG_SIGBUDGET_KEY];
    struct ag_sigbudget_entry *be;

    if (cfg->api_key_lookups == 0 || from == NULL || w->kbudget == NULL)
        return true;
    ag_sigbudget_key(cfg, from->family, from->addr, h, key);
    be = ag_sigbudget_get(w->kbudget, key, now / 60);
    if (be->fails >= (uint64_t)cfg->api_key_lookups)
        return false;
    be->fails++;
    return true;
}

/*
 * The check of a request carrying the API key <v> (docs/api-keys.md): the format first (a
 * malformed key costs nothing), then the worker's cache; an id it does not hold is looked
 * up once (KEY_WAIT), within the address's budget. A cached key passes with no Redis
 * call unless it was revoked (the feed's "key"), its owner changed since it was loaded
 * (a subject watermark), or its entry aged out.
 */
static void check_key(struct ag_worker *w, const struct ag_gen *g, const struct ag_http1_head *h,
                      const struct ag_authn_from *from, struct ag_str v, struct ag_authn *a)
{
    const struct ag_config *cfg = g->cfg;
    struct ag_apikey_parts k;
    struct ag_keycache_entry *e;
    unsigned char digest[SHA256_DIGEST_LENGTH];
    int64_t now = ag_unix_now();

    a->src = AG_AUTHN_SRC_APIKEY;
    a->st = AG_AUTHN_INVALID;
    a->jwt = AG_JWT_MALFORMED;
    if (ag_apikey_parse(v, &k) < 0 || w->kcache == NULL)
        return;
    a->key_id = k.id;
    a->jwt = AG_JWT_REVOKED;
    if (key_revoked(g, k.id, now)) {
        ag_keycache_drop(w->kcache, k.id);
        return;
    }
    e = ag_keycache_get(w->kcache, k.id);
    if (e != NULL && key_entry_stale(g, e, now)) {
        ag_keycache_drop(w->kcache, k.id); /* aged out, or its owner changed: ask again */
        e = NULL;
    }
    if (e == NULL) {
        if (!key_lookup_allowed(w, cfg, from, h, now)) {
            a->st = AG_AUTHN_KEY_LIMIT;
            return;
        }
        if (ag_keycache_pending(w->kcache, k.id) == NULL)
            return;
        a->st = AG_AUTHN_KEY_WAIT;
        a->key_lookup = true;
        return;
    }
    if (e->state == AG_KEYCACHE_PENDING) {
        a->st = AG_AUTHN_KEY_WAIT;
        return;
    }
    if (e->state == AG_KEYCACHE_ABSENT)
        return;
    SHA256((const unsigned char *)k.secret.p, k.secret.len, digest);
    if (CRYPTO_memcmp(digest, e->hash, sizeof(digest)) != 0) {
        a->jwt = AG_JWT_BAD_SIG;
        return;
    }
    if (e->expires_at > 0 && now >= e->expires_at) {
        a->jwt = AG_JWT_EXPIRED;
        return;
    }
    a->sub = ag_str_c(e->uid);
    a->scopes = ag_str_c(e->scopes);
    a->roles = ag_str_c(e->roles);
    a->exp = e->expires_at;
    a->iat = e->loaded;
    if (now - e->touched >= AG_KEYCACHE_TOUCH_S) {
        e->touched = now; /* at most one write a minute per key and worker, even if it fails */
        a->key_touch = true;
    }
    a->st = AG_AUTHN_OK; /* the scopes and roles are judged by the caller, as a token's */
}

/* Whether <a> holds exactly the NUL-terminated <s>. */
static bool str_is(struct ag_str a, const char *s)
{
    return strlen(s) == a.len && (a.len == 0 || memcmp(a.p, s, a.len) == 0);
}

/* Whether the fresh KNOWN entry <e> grants what <c> passed with, at <now>. */
static bool key_entry_grants(const struct ag_keycache_entry *e, const struct ag_authn_cred *c,
                             int64_t now)
{
    return e->state == AG_KEYCACHE_KNOWN && (e->expires_at == 0 || now < e->expires_at) &&
           str_is(c->sub, e->uid) && str_is(c->scopes, e->scopes) && str_is(c->roles, e->roles);
}

enum ag_authn_live ag_authn_live(struct ag_worker *w, const struct ag_gen *g,
                                 struct ag_authn_cred *c, int64_t now, enum ag_authn_live_at at)
{
    struct ag_keycache_entry *e;

    if (c->key.len == 0)
        return token_revoked(g, c->jti, c->sid, c->sub, c->iat, now) ? AG_AUTHN_LIVE_REVOKED
                                                                     : AG_AUTHN_LIVE_OK;
    if (key_revoked(g, c->key, now))
        return AG_AUTHN_LIVE_REVOKED;
    if (!token_revoked(g, (struct ag_str){NULL, 0}, (struct ag_str){NULL, 0}, c->sub, c->iat,
                       now))
        return AG_AUTHN_LIVE_OK;
    /* Its owner changed since the entry it passed with was loaded. */
    e = w->kcache != NULL ? ag_keycache_get(w->kcache, c->key) : NULL;
    if (e != NULL && e->state == AG_KEYCACHE_PENDING)
        return AG_AUTHN_LIVE_WAIT; /* every lookup ends: a reply, or the command timeout */
    if (at == AG_AUTHN_LIVE_AT_OWN_ANSWER && e != NULL) {
        /* Its own lookup, sent after the watermark reached this worker: Redis answered it
         * after the write behind the watermark, so the answer is the owner's state since,
         * whatever second the entry's load says. It passes that watermark, not a later one
         * that came while it was under way: then it is looked up again, below. */
        if (!key_entry_grants(e, c, now))
            return AG_AUTHN_LIVE_REVOKED;
        c->iat = c->iat_next;
        if (!token_revoked(g, (struct ag_str){NULL, 0}, (struct ag_str){NULL, 0}, c->sub, c->iat,
                           now))
            return AG_AUTHN_LIVE_OK;
    }
    if (e != NULL && !key_entry_stale(g, e, now)) {
        /* loaded after the watermark (another request's lookup): as a new request */
        if (!key_entry_grants(e, c, now))
            return AG_AUTHN_LIVE_REVOKED;
        c->iat = e->loaded;
        return AG_AUTHN_LIVE_OK;
    }
    /* No entry (evicted, or never), or one from before the watermark: look it up. */
    if (w->kcache == NULL)
        return AG_AUTHN_LIVE_REVOKED;
    if (e != NULL)
        ag_keycache_drop(w->kcache, c->key);
    if (ag_keycache_pending(w->kcache, c->key) == NULL)
        return AG_AUTHN_LIVE_REVOKED;
    c->iat_next = g->revoke != NULL ? ag_revoke_subject_before(g->revoke, c->sub, now) : 0;
    return AG_AUTHN_LIVE_LOOKUP;
}

/* ---------------------------------------------------------------- the check */

void ag_authn_check(struct ag_worker *w, const struct ag_gen *g, const struct ag_http1_head *h,
                    const struct ag_rules_verdict *v, const struct ag_authn_from *from,
                    struct ag_authn *a)
{
    const struct ag_config *cfg = g->cfg;
    struct ag_str tok = {NULL, 0};
    struct tc_ident id;
    struct tc_entry *e = NULL;
    int64_t now;
    uint64_t hash = 0;

    memset(a, 0, sizeof(*a));
    a->st = AG_AUTHN_REJECT;
    if ((v->need & AG_NEED_MASTER) && !master_ok(cfg, h)) {
        a->st = AG_AUTHN_MASTER;
        return;
    }
    if (!(v->need & AG_NEED_ACCESS)) {
        a->st = AG_AUTHN_OK;
        return;
    }
    a->src = find_token(cfg, h, &tok);
    struct ag_str key;
    int n_keys = from != NULL && !from->tokens_only ? find_key(cfg, h, &key) : 0;
    if (n_keys > 0) {
        /* A key and a token at once, or two keys, are ambiguous: refused, never one picked. */
        if (n_keys > 1 || a->src != 0) {
            a->src = AG_AUTHN_SRC_APIKEY;
            a->st = AG_AUTHN_INVALID;
            a->jwt = AG_JWT_MALFORMED;
            return;
        }
        check_key(w, g, h, from, key, a);
        if (a->st == AG_AUTHN_OK)
            authn_grant(v, a);
        return;
    }
    if (a->src == 0) {
        a->st = AG_AUTHN_NO_TOKEN;
        return;
    }
    a->st = AG_AUTHN_INVALID;
    if (a->src < 0) {
        a->jwt = AG_JWT_MALFORMED;
        return;
    }
    now = ag_unix_now();
    if (w->tcache != NULL && w->tcache->max > 0) {
        hash = tc_hash(tok);
        e = tc_get(w->tcache, tok, hash);
        ag_stats_inc(e != NULL ? &w->stats.cache_hits : &w->stats.cache_misses);
        /* Written so that no far-future exp can overflow (exp may be near INT64_MAX). Expired
         * from its exp second on, unless token-exp-leeway says otherwise. */
        if (e != NULL && now - cfg->token_exp_leeway >= e->exp) {
            a->jwt = AG_JWT_EXPIRED;
            return;
        }
        /* A cached fastauth-api token stops at the end of the legacy-tokens window. */
        if (e != NULL && e->id.legacy && now >= cfg->legacy_tokens_until) {
            a->jwt = AG_JWT_BAD_ISS;
            return;
        }
    }
    if (e != NULL) {
        id = e->id;
        a->exp = e->exp;
    } else {
        struct ag_jwt_expect x = {.type = "access", .issuer = cfg->token_issuer,
                                  .audience = cfg->token_audience, .now = now,
                                  .leeway = cfg->token_leeway,
                                  .exp_leeway = cfg->token_exp_leeway,
                                  .max_len = cfg->token_max_size,
                                  .legacy = now < cfg->legacy_tokens_until};
        struct ag_jwt_claims *cl = w->claims;
        struct ag_sigbudget_entry *be = NULL;
        /* Only a ring with an asymmetric key looks the address up (docs/keys.md). */
        bool bound = from != NULL && cfg->rate_limits && ag_jwt_ring_has_asym(g->ring);
        if (bound)
            x.asym_closed = flood_closed(w, cfg, from, h, now, &be);
        a->jwt = ag_jwt_ring_verify(g->ring, tok, &x, cl);
        if (a->jwt != AG_JWT_OK) {
            if (bound && cl->asym)
                flood_count(w, cfg, from, be, a->jwt, a);
            return;
        }
        if (w->tcache != NULL && w->tcache->max > 0)
            tc_put(w->tcache, tok, hash, cl);
        id = (struct tc_ident){cl->sub, cl->client_id, cl->scope, cl->roles,
                               cl->jti, cl->sid, cl->iat, cl->client, cl->legacy};
        a->exp = cl->exp;
    }
    a->sub = id.sub;
    a->client_id = id.client_id;
    a->scopes = id.scopes;
    a->roles = id.roles;
    a->jti = id.jti;
    a->sid = id.sid;
    a->client = id.client;
    a->iat = id.iat;
    if (token_revoked(g, id.jti, id.sid, id.sub, id.iat, now)) {
        a->jwt = AG_JWT_REVOKED;
        return;
    }
    if (g->revoke != NULL && !ag_revoke_loaded(g->revoke)) {
        /* Not found in a set that is not complete yet proves nothing: never a pass. */
        a->st = AG_AUTHN_UNSYNCED;
        return;
    }
    a->tok = tok;
    authn_grant(v, a);
}

void ag_authn_refusal(const struct ag_gen *g, const struct ag_authn *a,
                      struct ag_authn_refusal *r)
{
    static const char master[] = "{\"detail\":\"Unauthorized Master Token\"}";
    static const char access[] = "{\"detail\":\"Unauthorized Access Token\"}";
    static const char scope[] = "{\"detail\":\"Insufficient Scope\"}";

    r->hdr[0] = '\0';
    r->detail = NULL;
    switch (a->st) {
    case AG_AUTHN_MASTER:
        *r = (struct ag_authn_refusal){401, master, sizeof(master) - 1, {0}, NULL};
        return;
    case AG_AUTHN_SCOPE:
        /* app-name never holds '"' or '\' (policy/config.c), nor do scope and role names. */
        snprintf(r->hdr, sizeof(r->hdr),
                 "WWW-Authenticate: Bearer realm=\"%s\", error=\"insufficient_scope\", "
                 "scope=\"%s\"\r\n",
                 g->cfg->app_name, a->missing ? a->missing : "");
        r->status = 403;
        r->body = scope;
        r->len = sizeof(scope) - 1;
        return;
    case AG_AUTHN_UNSYNCED:
        r->status = 503; /* the standard error body */
        r->body = NULL;
        r->len = 0;
        snprintf(r->hdr, sizeof(r->hdr), "Retry-After: 1\r\n");
        return;
    case AG_AUTHN_CSRF:
        *r = (struct ag_authn_refusal){403, NULL, 0, {0}, "CSRF check failed: Origin does not match"};
        return;
    case AG_AUTHN_FLOOD: /* the standard error body; retry when the window has ended */
        *r = (struct ag_authn_refusal){429, NULL, 0, {0}, "Too many invalid tokens"};
        snprintf(r->hdr, sizeof(r->hdr), "Retry-After: %ld\r\n", g->cfg->rl_bad_sigs.window);
        return;
    case AG_AUTHN_KEY_LIMIT: /* the standard error body; the budget is per minute */
        *r = (struct ag_authn_refusal){429, NULL, 0, {0}, "Too many unknown API keys"};
        snprintf(r->hdr, sizeof(r->hdr), "Retry-After: 60\r\n");
        return;
    case AG_AUTHN_KEY_WAIT: /* a lookup that could not finish: as a store that is down */
        *r = (struct ag_authn_refusal){503, NULL, 0, {0}, NULL};
        snprintf(r->hdr, sizeof(r->hdr), "Retry-After: 1\r\n");
        return;
    case AG_AUTHN_NO_TOKEN:
        snprintf(r->hdr, sizeof(r->hdr), "WWW-Authenticate: Bearer realm=\"%s\"\r\n",
                 g->cfg->app_name);
        break;
    default:
        snprintf(r->hdr, sizeof(r->hdr),
                 "WWW-Authenticate: Bearer realm=\"%s\", error=\"invalid_token\", "
                 "error_description=\"%s\"\r\n",
                 g->cfg->app_name, ag_jwt_status_str(a->jwt));
        break;
    }
    r->status = 401;
    r->body = access;
    r->len = sizeof(access) - 1;
}
