/*
 * store/apikeys.c - API keys in Redis: `apikey:<id>` (a hash: uid, name, hash, scopes,
 * created_at, expires_at, last_used_at; expiring with the key) and `ukeys:<uid>` (the
 * set of a user's key ids), written and read by the scripts below.
 *
 * Owns:     the scripts' texts and the key names they use.
 * Entry:    ag_apikeys_create(), ag_apikeys_list(), ag_apikeys_revoke(), ag_apikeys_lookup(),
 *           ag_apikeys_touch().
 * Not here: the secret and its hash (gateway/ep/ep_apikeys.c draws and hashes it; only
 *           the hex SHA-256 comes here), the per-worker cache (gateway/auth/apikey.c).
 * Spec:     CONTRACT.md section 14; docs/redis-keys.md `apikey:`, `ukeys:`, `rev:key:`.
 */
#include "apikeys.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scripts.h"
#include "store_int.h"

#define APIKEY_KEY_MAX 832  /* as store/users.c's keys */
#define APIKEY_LIST_MAX 1000 /* keys a listing reads at most (the per-user cap is lower) */

/*
 * KEYS apikey, ukeys, user; ARGV prefix, kid, uid, name, hash, scopes, created_at,
 * expires_at, max. Drops the ids of keys that expired from the user's set, then stores
 * the key. 1; -1 no such user; -3 inactive; -2 too many keys; -4 the id exists.
 */
const char ag_apikey__lua_create[] =
    "if redis.call('EXISTS', KEYS[3]) == 0 then return -1 end\n"
    "if redis.call('HGET', KEYS[3], 'is_active') ~= '1' then return -3 end\n"
    "for _, k in ipairs(redis.call('SMEMBERS', KEYS[2])) do\n"
    "  if redis.call('EXISTS', ARGV[1] .. 'apikey:' .. k) == 0 then\n"
    "    redis.call('SREM', KEYS[2], k)\n"
    "  end\n"
    "end\n"
    "if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[9]) then return -2 end\n"
    "if redis.call('EXISTS', KEYS[1]) == 1 then return -4 end\n"
    "redis.call('HSET', KEYS[1], 'uid', ARGV[3], 'name', ARGV[4], 'hash', ARGV[5],\n"
    "  'scopes', ARGV[6], 'created_at', ARGV[7], 'expires_at', ARGV[8], 'last_used_at', '0')\n"
    "if tonumber(ARGV[8]) > 0 then redis.call('EXPIREAT', KEYS[1], ARGV[8]) end\n"
    "redis.call('SADD', KEYS[2], ARGV[2])\n"
    "return 1\n";

/*
 * KEYS ukeys; ARGV prefix. {id, name, scopes, created_at, expires_at, last_used_at}...
 * for the live keys (the ids of gone ones are dropped from the set).
 */
const char ag_apikey__lua_list[] =
    "local out = {}\n"
    "for _, k in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"
    "  local f = redis.call('HMGET', ARGV[1] .. 'apikey:' .. k, 'name', 'scopes',\n"
    "    'created_at', 'expires_at', 'last_used_at')\n"
    "  if f[1] then\n"
    "    out[#out + 1] = k\n"
    "    for i = 1, 5 do out[#out + 1] = f[i] or '' end\n"
    "  else\n"
    "    redis.call('SREM', KEYS[1], k)\n"
    "  end\n"
    "end\n"
    "return out\n";

/*
 * KEYS apikey, ukeys, revlog; ARGV prefix, kid, uid, channel, window. Deletes the key
 * when it is <uid>'s and publishes "key <kid> <now>" (ag_revoke, store/scripts.h),
 * logged for <window> seconds. 1, or -1 (no such key of this user).
 */
const char ag_apikey__lua_revoke[] = LUA_REVOKE_FN
    "if redis.call('HGET', KEYS[1], 'uid') ~= ARGV[3] then return -1 end\n"
    "redis.call('DEL', KEYS[1])\n"
    "redis.call('SREM', KEYS[2], ARGV[2])\n"
    "local now = tonumber(redis.call('TIME')[1])\n"
    "ag_revoke(ARGV[1] .. 'rev:key:' .. ARGV[2], KEYS[3], 'key', ARGV[2], now,\n"
    "  now + tonumber(ARGV[5]), ARGV[4])\n"
    "return 1\n";

/*
 * KEYS apikey; ARGV prefix. {1, uid, hash, scopes, expires_at, last_used_at, roles,
 * is_staff, is_superuser} when the key and its active owner exist, else {0}.
 */
const char ag_apikey__lua_lookup[] =
    "local f = redis.call('HMGET', KEYS[1], 'uid', 'hash', 'scopes', 'expires_at',\n"
    "  'last_used_at')\n"
    "if not f[1] then return {0} end\n"
    "local u = redis.call('HMGET', ARGV[1] .. 'user:' .. f[1], 'is_active', 'roles',\n"
    "  'is_staff', 'is_superuser')\n"
    "if u[1] ~= '1' then return {0} end\n"
    "return {1, f[1], f[2] or '', f[3] or '', f[4] or '0', f[5] or '0', u[2] or '',\n"
    "  u[3] or '0', u[4] or '0'}\n";

/* KEYS apikey; ARGV now. Sets last_used_at when the key still exists. 1. */
const char ag_apikey__lua_touch[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then\n"
    "  redis.call('HSET', KEYS[1], 'last_used_at', ARGV[1])\n"
    "end\n"
    "return 1\n";

/* ---------------------------------------------------------------- helpers */

static int apikey_eval(struct ag_store *st, enum ag_store__script script, int nkeys, int argc,
                       const char **argv, ag_store__reply_fn *fn, ag_store__any_fn *cb,
                       void *arg)
{
    size_t lens[16];

    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    return ag_store__eval(st, script, nkeys, argc, argv, lens, fn, cb, arg);
}

/* Whether <id> may be part of a key name: a short id of safe characters. */
static bool apikey_id_ok(const char *id)
{
    size_t n = id != NULL ? strlen(id) : 0;

    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++)
        if (id[i] == ' ' || id[i] == ':' || (unsigned char)id[i] < 0x21)
            return false;
    return true;
}

/* <script> with KEYS the key "<what><id>" and ARGV the namespace's prefix (list, lookup). */
static int apikey_eval_one(struct ag_store *st, enum ag_store__script script, const char *what,
                           const char *id, ag_store__reply_fn *fn, ag_store__any_fn *cb,
                           void *arg)
{
    char key[APIKEY_KEY_MAX], p[APIKEY_KEY_MAX];

    if (st == NULL || cb == NULL || !apikey_id_ok(id) ||
        ag_store__key(key, sizeof(key), st, what, id, "") < 0 ||
        ag_store__key(p, sizeof(p), st, "", "", "") < 0)
        return -1;
    const char *argv[] = {key, p};
    return apikey_eval(st, script, 1, 2, argv, fn, cb, arg);
}

static int64_t apikey_i64(const struct redisReply *r)
{
    return r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10)
           : r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
}

static const char *apikey_str(const struct redisReply *r)
{
    return r->type == REDIS_REPLY_STRING ? r->str : "";
}

static void on_done_reply(const struct redisReply *r, ag_store__any_fn *cb, void *arg)
{
    enum ag_apikeys_status s = AG_APIKEYS_DOWN;

    if (r != NULL && r->type == REDIS_REPLY_INTEGER)
        s = r->integer == 1    ? AG_APIKEYS_OK
            : r->integer == -1 ? AG_APIKEYS_UNKNOWN
            : r->integer == -2 ? AG_APIKEYS_TOO_MANY
            : r->integer == -3 ? AG_APIKEYS_INACTIVE
                               : AG_APIKEYS_DOWN;
    ((ag_apikeys_done_fn *)cb)(s, arg);
}

/* ---------------------------------------------------------------- create, list, revoke */

int ag_apikeys_create(struct ag_store *st, const struct ag_apikeys_rec *k, const char *hash,
                     size_t max, ag_apikeys_done_fn *cb, void *arg)
{
    char key[APIKEY_KEY_MAX], ukeys[APIKEY_KEY_MAX], user[APIKEY_KEY_MAX], p[APIKEY_KEY_MAX];
    char cr[24], ex[24], mx[24];

    if (st == NULL || k == NULL || cb == NULL || hash == NULL || !apikey_id_ok(k->id) ||
        !apikey_id_ok(k->uid) || k->name == NULL ||
        ag_store__key(key, sizeof(key), st, "apikey:", k->id, "") < 0 ||
        ag_store__key(ukeys, sizeof(ukeys), st, "ukeys:", k->uid, "") < 0 ||
        ag_store__key(user, sizeof(user), st, "user:", k->uid, "") < 0 ||
        ag_store__key(p, sizeof(p), st, "", "", "") < 0)
        return -1;
    snprintf(cr, sizeof(cr), "%lld", (long long)k->created_at);
    snprintf(ex, sizeof(ex), "%lld", (long long)k->expires_at);
    snprintf(mx, sizeof(mx), "%zu", max);
    const char *argv[] = {key, ukeys, user, p, k->id, k->uid, k->name, hash,
                          k->scopes ? k->scopes : "", cr, ex, mx};
    return apikey_eval(st, AG_STORE__APIKEY_CREATE, 3, 12, argv, on_done_reply,
                       (ag_store__any_fn *)cb, arg);
}

static int apikey_by_created(const void *a, const void *b)
{
    const struct ag_apikeys_rec *x = a, *y = b;

    return x->created_at < y->created_at ? -1 : x->created_at > y->created_at ? 1
                                                                               : strcmp(x->id, y->id);
}

static void on_list_reply(const struct redisReply *r, ag_store__any_fn *cb, void *arg)
{
    ag_apikeys_list_fn *fn = (ag_apikeys_list_fn *)cb;
    struct ag_apikeys_rec *keys;
    size_t n;

    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements % 6 != 0) {
        fn(AG_APIKEYS_DOWN, NULL, 0, arg);
        return;
    }
    n = r->elements / 6;
    if (n > APIKEY_LIST_MAX)
        n = APIKEY_LIST_MAX;
    keys = calloc(n > 0 ? n : 1, sizeof(*keys));
    if (keys == NULL) {
        fn(AG_APIKEYS_DOWN, NULL, 0, arg);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct redisReply *const *e = r->element + 6 * i;
        keys[i] = (struct ag_apikeys_rec){apikey_str(e[0]), NULL, apikey_str(e[1]),
                                         apikey_str(e[2]), apikey_i64(e[3]), apikey_i64(e[4]),
                                         apikey_i64(e[5])};
    }
    qsort(keys, n, sizeof(*keys), apikey_by_created);
    fn(AG_APIKEYS_OK, keys, n, arg);
    free(keys);
}

int ag_apikeys_list(struct ag_store *st, const char *uid, ag_apikeys_list_fn *cb, void *arg)
{
    return apikey_eval_one(st, AG_STORE__APIKEY_LIST, "ukeys:", uid, on_list_reply,
                           (ag_store__any_fn *)cb, arg);
}

int ag_apikeys_revoke(struct ag_store *st, const char *uid, const char *kid, int64_t window,
                     ag_apikeys_done_fn *cb, void *arg)
{
    char key[APIKEY_KEY_MAX], ukeys[APIKEY_KEY_MAX], revlog[APIKEY_KEY_MAX];
    char p[APIKEY_KEY_MAX], chan[APIKEY_KEY_MAX], win[24];

    if (st == NULL || cb == NULL || !apikey_id_ok(uid) || !apikey_id_ok(kid) ||
        ag_store__key(key, sizeof(key), st, "apikey:", kid, "") < 0 ||
        ag_store__key(ukeys, sizeof(ukeys), st, "ukeys:", uid, "") < 0 ||
        ag_store__key(revlog, sizeof(revlog), st, "revlog", "", "") < 0 ||
        ag_store__key(chan, sizeof(chan), st, "revoked", "", "") < 0 ||
        ag_store__key(p, sizeof(p), st, "", "", "") < 0)
        return -1;
    snprintf(win, sizeof(win), "%lld", (long long)window);
    const char *argv[] = {key, ukeys, revlog, p, kid, uid, chan, win};
    return apikey_eval(st, AG_STORE__APIKEY_REVOKE, 3, 8, argv, on_done_reply,
                       (ag_store__any_fn *)cb, arg);
}

/* ---------------------------------------------------------------- the gateway's lookups */

static void on_lookup_reply(const struct redisReply *r, ag_store__any_fn *cb, void *arg)
{
    ag_apikeys_lookup_fn *fn = (ag_apikeys_lookup_fn *)cb;
    struct ag_apikeys_found f;

    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_INTEGER) {
        fn(AG_APIKEYS_DOWN, NULL, arg);
        return;
    }
    if (r->element[0]->integer != 1 || r->elements != 9) {
        fn(AG_APIKEYS_UNKNOWN, NULL, arg);
        return;
    }
    f = (struct ag_apikeys_found){apikey_str(r->element[1]), apikey_str(r->element[2]),
                                 apikey_str(r->element[3]), apikey_str(r->element[6]),
                                 apikey_i64(r->element[7]) == 1, apikey_i64(r->element[8]) == 1,
                                 apikey_i64(r->element[4]), apikey_i64(r->element[5])};
    fn(AG_APIKEYS_OK, &f, arg);
}

int ag_apikeys_lookup(struct ag_store *st, const char *kid, ag_apikeys_lookup_fn *cb, void *arg)
{
    return apikey_eval_one(st, AG_STORE__APIKEY_LOOKUP, "apikey:", kid, on_lookup_reply,
                           (ag_store__any_fn *)cb, arg);
}

static void on_touch_reply(const struct redisReply *r, ag_store__any_fn *cb, void *arg)
{
    (void)r, (void)cb, (void)arg; /* fire and forget: a lost touch is retried a minute later */
}

int ag_apikeys_touch(struct ag_store *st, const char *kid, int64_t now)
{
    char key[APIKEY_KEY_MAX], t[24];

    if (st == NULL || !apikey_id_ok(kid) ||
        ag_store__key(key, sizeof(key), st, "apikey:", kid, "") < 0)
        return -1;
    snprintf(t, sizeof(t), "%lld", (long long)now);
    const char *argv[] = {key, t};
    return apikey_eval(st, AG_STORE__APIKEY_TOUCH, 1, 2, argv, on_touch_reply, NULL, NULL);
}
