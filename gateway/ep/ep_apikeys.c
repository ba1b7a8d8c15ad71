/*
 * gateway/ep/ep_apikeys.c - API keys: a user creates, lists and revokes their own
 * (POST/GET <auth-prefix>/api-keys, DELETE <auth-prefix>/api-keys/{id}), an admin lists
 * and revokes anyone's (/admin/users/{id}/api-keys); and the two hooks the request core
 * calls on the proxy path: a key's first lookup on this worker, and its last use.
 *
 * Owns:     struct ep_apikey_op (a creation between its steps, in the request's arena),
 *           struct apikey_lookup (one lookup in flight, on the heap until its reply).
 * Entry:    ag_ep_apikeys_create(), ag_ep_apikeys_list(), ag_ep_apikeys_delete(),
 *           ag_ep_apikeys_admin_list(), ag_ep_apikeys_admin_delete(),
 *           ag_ep_apikey_lookup(), ag_ep_apikey_touch().
 * Not here: the key format and the body (policy/apikey.c), Redis (store/apikeys.c), the
 *           worker's cache and the check of a request (gateway/auth/keycache.c, authn.c).
 * Spec:     CONTRACT.md section 14; docs/api-keys.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/sha.h>
#include <sodium.h>

#include "apikey.h"
#include "apikeys.h"
#include "config.h"
#include "conn.h"
#include "ep.h"
#include "gen.h"
#include "grants.h"
#include "keycache.h"
#include "live.h"
#include "req.h"
#include "revoke.h"
#include "store.h"
#include "worker_types.h"

/* A creation between its steps: what was asked, then the key made (in the arena). */
struct ep_apikey_op {
    const char *name, *asked;       /* the name; the scopes asked for, or NULL: all */
    long expires_in;
    char key[AG_APIKEY_LEN + 1];    /* shown once, in the 201 */
    char id[AG_APIKEY_ID_LEN + 1];
    const char *scopes;             /* granted: the request's, or all of the user's */
    int64_t created_at, expires_at;
};

/* How long a revocation is kept in the feed's log: as long as a worker may hold the key. */
static int64_t apikey_window(const struct ag_config *cfg)
{
    return cfg->access_token_ttl + cfg->token_exp_leeway + 1;
}

/* The key's public fields as the API shows them: never its secret nor its hash. */
static json_t *apikey_json(const struct ag_apikeys_rec *k)
{
    char c[32], e[32], u[32];
    json_t *scopes = json_array();

    ag_ep_words_append(scopes, k->scopes);
    return json_pack("{s:s, s:s, s:o, s:s, s:s?, s:s?}", "id", k->id, "name", k->name,
                     "scopes", scopes, "created_at", ag_ep_iso8601(k->created_at, c),
                     "expires_at", k->expires_at > 0 ? ag_ep_iso8601(k->expires_at, e) : NULL,
                     "last_used_at", k->last_used_at > 0 ? ag_ep_iso8601(k->last_used_at, u)
                                                         : NULL);
}

/* The audit entry of a key event on user <uid>'s key <kid>, by the caller. */
static void apikey_audit(struct ag_ep *ep, const char *event, const char *uid, const char *kid)
{
    const char *k[] = {"actor", "user_id", "key_id"}, *v[] = {ag_ep_actor(ep), uid, kid};

    ag_ep_audit(ep, event, k, v, 3);
}

/* ---------------------------------------------------------------- POST /api-keys */

static void on_apikey_stored(enum ag_apikeys_status st, void *arg)
{
    struct ag_ep *ep = arg;
    struct ep_apikey_op *op = ep->apikey;

    if (!ag_ep_resume(ep))
        return;
    if (st == AG_APIKEYS_TOO_MANY) {
        ag_ep_reply_detail(ep, 409, "Too many API keys", NULL);
    } else if (st == AG_APIKEYS_UNKNOWN || st == AG_APIKEYS_INACTIVE) {
        ag_ep_reply_detail(ep, 403, "Inactive user", NULL);
    } else if (st != AG_APIKEYS_OK) {
        ag_ep_down(ep);
    } else {
        struct ag_apikeys_rec k = {op->id, ep->id.sub, op->name, op->scopes,
                                   op->created_at, op->expires_at, 0};
        json_t *o = apikey_json(&k);
        json_object_set_new(o, "key", json_string(op->key));
        apikey_audit(ep, "api_key_created", ep->id.sub, op->id);
        ag_ep_reply_json(ep, 201, o, NULL);
    }
}

/*
 * The user as the store has it now: a key may carry the scopes their roles grant (as
 * their access token would), or fewer; asking for more is 403.
 */
static void on_apikey_owner(struct ag_ep *ep)
{
    const struct ag_config *cfg = ep->req->gen->cfg;
    struct ep_apikey_op *op = ep->apikey;
    unsigned char rnd[AG_APIKEY_ID_LEN], secret[AG_APIKEY_SECRET_BYTES];
    unsigned char digest[SHA256_DIGEST_LENGTH];
    char hex[AG_APIKEYS_HASH_HEX + 1];
    const char *roles;
    char *granted;

    if (!ag_ep_user_ok(ep, NULL) || !ep->found) {
        if (ep->ust == AG_USER_OK)
            ag_ep_reply_detail(ep, 403, "Inactive user", NULL);
        return;
    }
    if (!ep->user.is_active) {
        ag_ep_reply_detail(ep, 403, "Inactive user", NULL);
        return;
    }
    if ((roles = ag_ep_user_roles(ep, &ep->user)) == NULL ||
        (granted = ag_grants_scopes(cfg, roles)) == NULL) {
        ag_ep_oom(ep);
        return;
    }
    op->scopes = ag_ep_strdup(ep, op->asked != NULL ? op->asked : granted);
    bool subset = op->asked == NULL || ag_grants_subset(granted, op->asked);
    free(granted);
    if (op->scopes == NULL) {
        ag_ep_oom(ep);
        return;
    }
    if (!subset) {
        ag_ep_reply_detail(ep, 403, "Scope not granted to the user", NULL);
        return;
    }
    randombytes_buf(rnd, sizeof(rnd));
    randombytes_buf(secret, sizeof(secret));
    ag_apikey_make(rnd, secret, op->key);
    sodium_memzero(secret, sizeof(secret));
    memcpy(op->id, op->key + 4, AG_APIKEY_ID_LEN);
    /* Only the hash of the secret's text (what a client sends) is stored. */
    SHA256((const unsigned char *)op->key + 4 + AG_APIKEY_ID_LEN + 1, AG_APIKEY_SECRET_LEN,
           digest);
    sodium_bin2hex(hex, sizeof(hex), digest, sizeof(digest));
    op->created_at = ag_unix_now();
    op->expires_at = op->expires_in > 0 ? op->created_at + op->expires_in : 0;
    struct ag_apikeys_rec k = {op->id, ep->id.sub, op->name, op->scopes, op->created_at,
                               op->expires_at, 0};
    int rc = ag_apikeys_create(ep->w->store, &k, hex, (size_t)cfg->api_keys_per_user,
                               on_apikey_stored, ep);
    if (!ag_ep_await(ep, rc, NULL))
        ag_ep_down(ep);
}

void ag_ep_apikeys_create(struct ag_ep *ep)
{
    struct ag_str b = ag_ep_body(ep);
    struct ag_field_err e;
    struct ag_apikey_create c;
    struct ep_apikey_op *op;
    int rc;

    if ((op = ep->apikey = ag_ep_alloc(ep, sizeof(*op))) == NULL) {
        ag_ep_oom(ep);
        return;
    }
    rc = ag_apikey_parse_create(b.p, b.len, &c, &e);
    if (rc == AG_EINVAL) {
        ag_ep_unprocessable(ep, &e);
        return;
    }
    op->name = rc == 0 ? ag_ep_strdup(ep, c.name) : NULL;
    op->asked = rc == 0 && c.scopes != NULL ? ag_ep_strdup(ep, c.scopes) : NULL;
    op->expires_in = c.expires_in;
    bool oom = op->name == NULL || (c.scopes != NULL && op->asked == NULL);
    ag_apikey_create_clear(&c);
    if (oom) {
        ag_ep_oom(ep);
        return;
    }
    if (!ag_ep_store_ready(ep) ||
        !ag_ep_await(ep, ag_user_get(ep->w->store, ep->id.sub, ag_ep_on_user, ep),
                     on_apikey_owner))
        ag_ep_down(ep);
}

/* ---------------------------------------------------------------- listing */

static void on_apikeys_listed(enum ag_apikeys_status st, const struct ag_apikeys_rec *keys,
                              size_t n, void *arg)
{
    struct ag_ep *ep = arg;
    json_t *a;

    if (!ag_ep_resume(ep))
        return;
    if (st != AG_APIKEYS_OK || (a = json_array()) == NULL) {
        ag_ep_down(ep);
        return;
    }
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, apikey_json(&keys[i]));
    ag_ep_reply_json(ep, 200, a, NULL);
}

/* Lists user <uid>'s keys; <ep> answers later, or now (503; 404 for an id no user has). */
static void apikeys_list(struct ag_ep *ep, const char *uid)
{
    if (!ag_ep_store_ready(ep)) {
        ag_ep_down(ep);
        return;
    }
    if (!ag_ep_await(ep, ag_apikeys_list(ep->w->store, uid, on_apikeys_listed, ep), NULL))
        ag_ep_reply_detail(ep, 404, "User not found", NULL);
}

void ag_ep_apikeys_list(struct ag_ep *ep)
{
    apikeys_list(ep, ep->id.sub);
}

void ag_ep_apikeys_admin_list(struct ag_ep *ep)
{
    apikeys_list(ep, ep->params[0].p);
}

/* ---------------------------------------------------------------- revoking */

static void on_apikey_revoked(enum ag_apikeys_status st, void *arg)
{
    struct ag_ep *ep = arg;
    bool admin = ep->route->auth == AG_EP_ADMIN;
    const char *uid = admin ? ep->params[0].p : ep->id.sub, *kid = ep->params[admin ? 1 : 0].p;
    const struct ag_gen *g;

    if (!ag_ep_resume(ep))
        return;
    if (st == AG_APIKEYS_UNKNOWN) {
        ag_ep_reply_detail(ep, 404, "API key not found", NULL);
        return;
    }
    if (st != AG_APIKEYS_OK) {
        ag_ep_down(ep);
        return;
    }
    /* This instance at once; the others through the feed ("key <id>"). */
    g = ep->req->gen;
    if (g->revoke != NULL)
        ag_revoke_add(g->revoke, AG_REVOKE_KEY, ag_str_c(kid),
                      ag_unix_now() + apikey_window(g->cfg));
    apikey_audit(ep, admin ? "admin_api_key_revoke" : "api_key_revoked", uid, kid);
    ag_ep_reply_empty(ep);
}

/* Revokes key <kid> of user <uid>: 204, or 404 when it is not theirs. */
static void apikeys_revoke(struct ag_ep *ep, const char *uid, const char *kid)
{
    int rc;

    if (!ag_ep_store_ready(ep)) {
        ag_ep_down(ep);
        return;
    }
    rc = ag_apikeys_revoke(ep->w->store, uid, kid, apikey_window(ep->req->gen->cfg),
                           on_apikey_revoked, ep);
    if (!ag_ep_await(ep, rc, NULL))
        ag_ep_reply_detail(ep, 404, "API key not found", NULL); /* an id no key can have */
}

void ag_ep_apikeys_delete(struct ag_ep *ep)
{
    apikeys_revoke(ep, ep->id.sub, ep->params[0].p);
}

void ag_ep_apikeys_admin_delete(struct ag_ep *ep)
{
    apikeys_revoke(ep, ep->params[0].p, ep->params[1].p);
}

/* ---------------------------------------------------------------- the proxy path's hooks */

/* One lookup in flight: the worker and the id its waiters are parked on. */
struct apikey_lookup {
    struct ag_worker *w;
    char id[AG_APIKEY_ID_LEN + 1];
    int64_t sent;
};

/*
 * The key's scopes that its owner still holds (roles can be taken away after the key was
 * made), space-separated; its roles as the identity headers carry them, comma-separated
 * with the flags' roles. Both new strings; false on OOM.
 */
static bool apikey_grants(const struct ag_config *cfg, const struct ag_apikeys_found *f,
                          char **scopes, char **roles)
{
    size_t n = strlen(f->roles) + 32, sn = strlen(f->scopes) + 1, j = 0;
    char *granted, *r = malloc(n), *s = malloc(sn);
    const char *p = f->roles;

    *scopes = s;
    *roles = r;
    if (r == NULL || s == NULL)
        return false;
    snprintf(r, n, "%s%s%s%s%s", f->roles, f->staff && f->roles[0] ? " " : "",
             f->staff ? "staff" : "", f->superuser && (f->staff || f->roles[0]) ? " " : "",
             f->superuser ? "superuser" : "");
    if ((granted = ag_grants_scopes(cfg, r)) == NULL)
        return false;
    s[0] = '\0';
    for (p = f->scopes; *p != '\0';) {
        size_t len = strcspn(p, " ");
        struct ag_str w = {p, len};
        if (len > 0 && ag_words_has(ag_str_c(granted), ' ', w)) {
            if (j > 0)
                s[j++] = ' ';
            memcpy(s + j, p, len);
            j += len;
            s[j] = '\0';
        }
        p += len + (p[len] == ' ');
    }
    free(granted);
    for (char *c = r; *c != '\0'; c++)
        if (*c == ' ')
            *c = ',';
    return true;
}

static void on_apikey_found(enum ag_apikeys_status st, const struct ag_apikeys_found *f, void *arg)
{
    struct apikey_lookup *l = arg;
    struct ag_worker *w = l->w;
    const struct ag_config *cfg = w->gen->cfg;
    struct ag_str id = {l->id, AG_APIKEY_ID_LEN};
    unsigned char hash[32];
    char *scopes = NULL, *roles = NULL;
    bool failed = false;

    if (st == AG_APIKEYS_OK && sodium_hex2bin(hash, sizeof(hash), f->hash, strlen(f->hash), NULL,
                                              NULL, NULL) == 0 &&
        apikey_grants(cfg, f, &scopes, &roles)) {
        /* Believed while the watermarks that would say its owner changed are kept. */
        struct ag_keycache_fill fill = {hash, f->uid, scopes, roles, f->expires_at,
                                        l->sent - 1, l->sent + cfg->access_token_ttl,
                                        f->last_used_at};
        ag_keycache_fill(w->kcache, id, &fill, 0);
    } else if (st == AG_APIKEYS_UNKNOWN) {
        ag_keycache_fill(w->kcache, id, NULL, ag_unix_now() + AG_KEYCACHE_NEG_TTL);
    } else {
        ag_keycache_drop(w->kcache, id); /* the store failed: the waiters get 503 */
        failed = true;
    }
    free(scopes);
    free(roles);
    ag_conn_wake_key(w, id);
    ag_live_wake_key(w, id, failed);
    ag_ep_wake_key(w, id);
    free(l);
}

int ag_ep_apikey_lookup(struct ag_worker *w, struct ag_str id)
{
    struct apikey_lookup *l;

    if (w->store == NULL || !ag_store_ready(w->store) || id.len != AG_APIKEY_ID_LEN ||
        (l = calloc(1, sizeof(*l))) == NULL)
        return -1;
    l->w = w;
    memcpy(l->id, id.p, AG_APIKEY_ID_LEN);
    l->sent = ag_unix_now();
    if (ag_apikeys_lookup(w->store, l->id, on_apikey_found, l) < 0) {
        free(l);
        return -1;
    }
    return 0;
}

void ag_ep_apikey_touch(struct ag_worker *w, struct ag_str id)
{
    char kid[AG_APIKEY_ID_LEN + 1];

    if (w->store == NULL || id.len != AG_APIKEY_ID_LEN)
        return;
    memcpy(kid, id.p, AG_APIKEY_ID_LEN);
    kid[AG_APIKEY_ID_LEN] = '\0';
    ag_apikeys_touch(w->store, kid, ag_unix_now());
}
