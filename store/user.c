/*
 * store/user.c - user accounts in Redis: the record hash, the case-folded username and
 * email indexes, the login failure counter and lockout, hash and password updates,
 * single-use reset ids, and a user's sessions (listed and revoked through the
 * per-subject index that store/session.c writes).
 *
 * Owns:     nothing long-lived; each call's pending record is owned by store/link.c.
 * Entry:    ag_user_create(), ag_user_get(), ag_user_find(), ag_user_find_as(),
 *           ag_user_login_result(),
 *           ag_user_set_hash(), ag_user_set_password(), ag_user_unlock(),
 *           ag_user_reset_consume(), ag_user_sessions(), ag_user_revoke_session(),
 *           ag_user_revoke_others().
 * Not here: password hashing and input rules (policy/), the session keys (store/session.c).
 * Spec:     CONTRACT.md sections 2, 7, 8; docs/redis-keys.md (every key is listed there).
 */
#include "user.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "scripts.h"
#include "store_int.h"

#define USER_NAME_MAX 256   /* bytes of a username or an email */
#define USER_FIELD_MAX 1024 /* bytes of a hash or of the roles */
#define USER_SID_MAX 512    /* bytes of a sid, subject or reset id (as store/session.c) */
#define USER_KEY_MAX (USER_FIELD_MAX + 320)
#define USER_SESSIONS_MAX 1000 /* ag_user_sessions() lists at most this many */
#define USER_SESSIONS_SLACK 64 /* it examines at most <max> + this many index members */
#define USER_REVOKE_WALK 1024  /* revoke-others walks at most this many; beyond, a watermark */

/* ---------------------------------------------------------------- Lua */

/* The record's fields, in the order every reader (HMGET) asks for them (store/scripts.h). */
#define USER_FIELDS LUA_USER_FIELDS
#define USER_NFIELDS LUA_USER_NFIELDS

/*
 * KEYS user, uname, email; ARGV id, email, username, hash, is_active, is_staff,
 * is_superuser, roles, created_at, password_changed_at, deadline, prefix, fields (JSON
 * object text, "" for none).
 * Returns 1, -2 (username taken), -3 (email taken), -4 (the id exists) or -5 (late: run
 * after the deadline, nothing written; the caller reports DOWN). An empty username (the
 * user registered without one) takes no uname key. Atomic: of concurrent
 * creates of one (folded) name, exactly one gets 1. The user joins the user index
 * (ag_user_index, store/users.c lists it) in the same step.
 */
const char ag_user__lua_create[] = LUA_LATE_FN LUA_USER_INDEX_FN
    "if ag_late(ARGV[11]) then return -5 end\n"
    "if redis.call('EXISTS', KEYS[1]) == 1 then return -4 end\n"
    "if ARGV[3] ~= '' and redis.call('EXISTS', KEYS[2]) == 1 then return -2 end\n"
    "if redis.call('EXISTS', KEYS[3]) == 1 then return -3 end\n"
    "redis.call('HSET', KEYS[1], 'id', ARGV[1], 'email', ARGV[2], 'username', ARGV[3],\n"
    "  'hash', ARGV[4], 'is_active', ARGV[5], 'is_staff', ARGV[6], 'is_superuser', ARGV[7],\n"
    "  'roles', ARGV[8], 'created_at', ARGV[9], 'password_changed_at', ARGV[10],\n"
    "  'failures', '0', 'locked_until', '0')\n"
    "if ARGV[3] ~= '' then redis.call('SET', KEYS[2], ARGV[1]) end\n"
    "redis.call('SET', KEYS[3], ARGV[1])\n"
    "if ARGV[13] ~= '' then redis.call('HSET', KEYS[1], 'fields', ARGV[13]) end\n"
    "ag_user_index(ARGV[12], ARGV[1], ARGV[3], ARGV[2], 'now')\n"
    "return 1\n";

/*
 * KEYS user; ARGV prefix, old fields, new fields, new email ("": unchanged), deadline.
 * Compare-and-set of the custom fields (the gateway merged the change into <old>):
 * {-4} when they are no longer <old>. A new email takes its index key atomically
 * ({-3} when another user holds it), frees the old one and rewrites the user's line of
 * the user index (ag_user_index). Returns {1, USER_FIELDS...} as written, {-1} (no
 * such user) or {-5} (late: nothing written).
 */
const char ag_user__lua_profile[] = LUA_LATE_FN LUA_USER_INDEX_FN
    "if ag_late(ARGV[5]) then return {-5} end\n"
    "local r = redis.call('HMGET', KEYS[1], 'id', 'email', 'username', 'fields')\n"
    "if not r[1] then return {-1} end\n"
    "if (r[4] or '') ~= ARGV[2] then return {-4} end\n"
    "local p = ARGV[1]\n"
    "if ARGV[4] ~= '' and ARGV[4] ~= r[2] then\n"
    "  local nk = p .. 'email:' .. string.lower(ARGV[4])\n"
    "  local holder = redis.call('GET', nk)\n"
    "  if holder and holder ~= r[1] then return {-3} end\n"
    "  local ok = p .. 'email:' .. string.lower(r[2] or '')\n"
    "  if redis.call('GET', ok) == r[1] then redis.call('DEL', ok) end\n"
    "  redis.call('SET', nk, r[1])\n"
    "  redis.call('HSET', KEYS[1], 'email', ARGV[4])\n"
    "  ag_user_index(p, r[1], r[3] or '', ARGV[4], nil)\n"
    "end\n"
    "if ARGV[3] == '' then redis.call('HDEL', KEYS[1], 'fields')\n"
    "else redis.call('HSET', KEYS[1], 'fields', ARGV[3]) end\n"
    "local out = {1}\n"
    "for _, v in ipairs(redis.call('HMGET', KEYS[1], " USER_FIELDS ")) do out[#out + 1] = v end\n"
    "return out\n";

/*
 * KEYS uname, email; ARGV prefix, as ("email": the email only, "username": the username
 * only, else both). The record (USER_FIELDS) of the user the username names, else of
 * the one the email names; {} when neither exists.
 */
const char ag_user__lua_find[] =
    "local id = false\n"
    "if ARGV[2] ~= 'email' then id = redis.call('GET', KEYS[1]) end\n"
    "if not id and ARGV[2] ~= 'username' then id = redis.call('GET', KEYS[2]) end\n"
    "if not id then return {} end\n"
    "return redis.call('HMGET', ARGV[1] .. 'user:' .. id, " USER_FIELDS ")\n";

/*
 * KEYS user; ARGV ok ("1"/"0"), now, max_failures, lock_seconds.
 * Returns {1, failures, locked_until} or {-1} (no such user). A lockout that has ended
 * starts a fresh count; a success never lifts a lockout still running (fail closed).
 */
const char ag_user__lua_login[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end\n"
    "local now = tonumber(ARGV[2])\n"
    "local f = redis.call('HMGET', KEYS[1], 'failures', 'locked_until')\n"
    "local n = tonumber(f[1] or '0') or 0\n"
    "local lu = tonumber(f[2] or '0') or 0\n"
    "if lu > 0 and lu <= now then n = 0; lu = 0 end\n"
    "if ARGV[1] == '1' then\n"
    "  n = 0\n"
    "else\n"
    "  n = n + 1\n"
    "  local max = tonumber(ARGV[3])\n"
    "  if max > 0 and n >= max and lu == 0 then lu = now + tonumber(ARGV[4]) end\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'failures', string.format('%d', n),\n"
    "  'locked_until', string.format('%d', lu))\n"
    "return {1, n, lu}\n";

/*
 * KEYS user; ARGV op, a, b, deadline:
 *   "hash" old new: sets hash = new if it still is old (else -4);
 *   "password" hash now: sets hash, password_changed_at = now, clears failures and lock;
 *   "unlock": clears failures and lock.
 * Returns 1, -1 (no such user), -4, or -5 (late: nothing written; the caller answered 503,
 * and a password change the client was told failed must not happen behind its back).
 */
const char ag_user__lua_update[] = LUA_LATE_FN
    "if ag_late(ARGV[4]) then return -5 end\n"
    "if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end\n"
    "if ARGV[1] == 'hash' then\n"
    "  if redis.call('HGET', KEYS[1], 'hash') ~= ARGV[2] then return -4 end\n"
    "  redis.call('HSET', KEYS[1], 'hash', ARGV[3])\n"
    "elseif ARGV[1] == 'password' then\n"
    "  redis.call('HSET', KEYS[1], 'hash', ARGV[2], 'password_changed_at', ARGV[3],\n"
    "    'failures', '0', 'locked_until', '0')\n"
    "elseif ARGV[1] == 'unlock' then\n"
    "  redis.call('HSET', KEYS[1], 'failures', '0', 'locked_until', '0')\n"
    "else\n"
    "  return redis.error_reply('ERR unknown user update')\n"
    "end\n"
    "return 1\n";

/*
 * KEYS usess; ARGV prefix, subject, max, scan. Returns a flat array of at most <max> live
 * sessions, newest first: sid, client_id, ip, ua, created, last_used (strings) each.
 * Examines at most <scan> index members, the most recently used first (highest end of
 * life), so that a large index costs Redis a bounded time; those not live are removed.
 */
const char ag_user__lua_sessions[] = LUA_SESS_LIVE_FN
    "local p, sub = ARGV[1], ARGV[2]\n"
    "local now = tonumber(redis.call('TIME')[1])\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now))\n"
    "local wm = ag_watermark(p, sub)\n"
    "local live = {}\n"
    "for _, sid in ipairs(redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[4]) - 1)) do\n"
    "  local f = ag_live(p, sub, wm, sid)\n"
    "  if f then\n"
    "    live[#live + 1] = {sid, f[2] or '', f[3] or '', f[4] or '', f[5] or '0', f[6] or '0'}\n"
    "  else\n"
    "    redis.call('ZREM', KEYS[1], sid)\n"
    "  end\n"
    "end\n"
    "table.sort(live, function(a, b)\n"
    "  local ca, cb = tonumber(a[5]) or 0, tonumber(b[5]) or 0\n"
    "  if ca ~= cb then return ca > cb end\n"
    "  return a[1] < b[1]\n"
    "end)\n"
    "local out = {}\n"
    "for i = 1, math.min(#live, tonumber(ARGV[3])) do\n"
    "  for j = 1, 6 do out[#out + 1] = live[i][j] end\n"
    "end\n"
    "return out\n";

/*
 * KEYS usess, revlog; ARGV prefix, subject, until, channel, sid, mode, walk.
 * mode "one": revokes <sid> if it is a live session of <subject> (1), else -1.
 * mode "others": revokes every live session of <subject> but <sid> ("" keeps none); 1.
 * Each revocation is ag_sess_revoke()'s: session keys deleted, rev:sid set, revlog
 * member, PUBLISH. The walk is bounded by <walk>: an index larger than that (grown
 * before the per-subject cap) is ended at once with the subject's watermark instead
 * (as ag_sess_revoke_subject(), living as long as the longest-lived session), which
 * ends <sid> too.
 */
const char ag_user__lua_revoke[] = LUA_REVOKE_FN LUA_SESS_LIVE_FN
    "local p, sub, untl, chan = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]\n"
    "local wm = ag_watermark(p, sub)\n"
    "local function kill(sid) ag_sess_kill(p, KEYS[1], KEYS[2], chan, sid, untl) end\n"
    "if ARGV[6] == 'one' then\n"
    "  if not ag_live(p, sub, wm, ARGV[5]) then return -1 end\n"
    "  kill(ARGV[5])\n"
    "  return 1\n"
    "end\n"
    "local walk = tonumber(ARGV[7])\n"
    "if redis.call('ZCARD', KEYS[1]) > walk then\n"
    "  local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')\n"
    "  local u = math.ceil(tonumber(top[2]) or untl)\n"
    "  if u < untl then u = untl end\n"
    "  ag_revoke(p .. 'rev:sub:' .. sub, KEYS[2], 'sub', sub,\n"
    "    tonumber(redis.call('TIME')[1]), u, chan)\n"
    "  redis.call('DEL', KEYS[1])\n"
    "  return 1\n"
    "end\n"
    "for _, sid in ipairs(redis.call('ZRANGE', KEYS[1], 0, walk - 1)) do\n"
    "  if sid ~= ARGV[5] then\n"
    "    if ag_live(p, sub, wm, sid) then kill(sid) else redis.call('ZREM', KEYS[1], sid) end\n"
    "  end\n"
    "end\n"
    "return 1\n";

/* ---------------------------------------------------------------- arguments */

static bool str_ok(const char *s, size_t max)
{
    return s != NULL && s[0] != '\0' && strlen(s) <= max;
}

/* The index form of a username or email: ASCII lower-case (into <buf>, USER_NAME_MAX + 1). */
static void user_fold(char *buf, const char *s)
{
    size_t i = 0;

    for (; s[i] != '\0'; i++)
        buf[i] = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a') : s[i];
    buf[i] = '\0';
}

static void fmt_i64(char *buf, size_t cap, int64_t v)
{
    snprintf(buf, cap, "%lld", (long long)v);
}

/* ---------------------------------------------------------------- replies */

static void user_call(ag_store__any_fn *cb, void *arg, enum ag_user_status s,
                      const struct ag_user *u)
{
    if (cb != NULL)
        ((ag_user_fn *)cb)(s, u, arg);
}

/* Scripts that answer one integer: an ag_user_status (1, -1 .. -4). */
static void on_status_reply(const struct redisReply *r, ag_store__any_fn *cb, void *arg)
{
    enum ag_user_status s = AG_USER_DOWN;

    if (r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer <= AG_USER_OK &&
        r->integer >= AG_USER_CONFLICT && r->integer != AG_USER_FAIL)
        s = (enum ag_user_status)r->integer;
    user_call(cb, arg, s, NULL);
}

static int64_t parse_i64(const redisReply *e)
{
    return e->type == REDIS_REPLY_STRING ? (int64_t)strtoll(e->str, NULL, 10) : 0;
}

/*
 * Reads the USER_FIELDS values <e> (LUA_USER_NFIELDS replies, borrowed) into <u>, whose
 * strings then borrow from them: 0, or -1 when the record has no id (no such user).
 */
int ag_user__from_reply(struct redisReply *const *e, struct ag_user *u)
{
    const char *s[USER_NFIELDS];

    if (e[0]->type != REDIS_REPLY_STRING)
        return -1;
    for (size_t i = 0; i < USER_NFIELDS; i++)
        s[i] = e[i]->type == REDIS_REPLY_STRING ? e[i]->str : "";
    memset(u, 0, sizeof(*u));
    u->id = s[0];
    u->email = s[1];
    u->username = s[2];
    u->hash = s[3];
    u->is_active = strcmp(s[4], "1") == 0;
    u->is_staff = strcmp(s[5], "1") == 0;
    u->is_superuser = strcmp(s[6], "1") == 0;
    u->roles = s[7];
    u->created_at = parse_i64(e[8]);
    u->password_changed_at = parse_i64(e[9]);
    u->failures = (long)parse_i64(e[10]);
    u->locked_until = parse_i64(e[11]);
    u->fields = s[12];
    return 0;
}

/* A record as HMGET of USER_FIELDS returns it: UNKNOWN when it has no id. */
static void on_record_reply(const struct redisReply *r, ag_store__any_fn *cb, void *arg)
{
    struct ag_user u;

    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        user_call(cb, arg, AG_USER_DOWN, NULL);
        return;
    }
    if (r->elements != USER_NFIELDS || ag_user__from_reply(r->element, &u) < 0) {
        user_call(cb, arg, AG_USER_UNKNOWN, NULL);
        return;
    }
    user_call(cb, arg, AG_USER_OK, &u);
}

static void on_login_reply(const struct redisReply *r, ag_store__any_fn *cb, void *arg)
{
    struct ag_user u;

    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_INTEGER) {
        user_call(cb, arg, AG_USER_DOWN, NULL);
        return;
    }
    if (r->element[0]->integer != 1 || r->elements < 3 ||
        r->element[1]->type != REDIS_REPLY_INTEGER ||
        r->element[2]->type != REDIS_REPLY_INTEGER) {
        user_call(cb, arg, r->element[0]->integer == -1 ? AG_USER_UNKNOWN : AG_USER_DOWN, NULL);
        return;
    }
    memset(&u, 0, sizeof(u));
    u.failures = (long)r->element[1]->integer;
    u.locked_until = (int64_t)r->element[2]->integer;
    user_call(cb, arg, AG_USER_OK, &u);
}

/* SET NX: "OK" the first time, nil ever after. */
static void on_reset_reply(const struct redisReply *r, ag_store__any_fn *cb, void *arg)
{
    enum ag_user_status s = AG_USER_DOWN;

    if (r != NULL && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0)
        s = AG_USER_OK;
    else if (r != NULL && r->type == REDIS_REPLY_NIL)
        s = AG_USER_UNKNOWN;
    user_call(cb, arg, s, NULL);
}

static void on_sessions_reply(const struct redisReply *r, ag_store__any_fn *cb, void *arg)
{
    ag_user_sessions_fn *fn = (ag_user_sessions_fn *)cb;
    struct ag_user_session *list = NULL;
    size_t n;

    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements % 6 != 0)
        goto down;
    n = r->elements / 6;
    for (size_t i = 0; i < r->elements; i++)
        if (r->element[i]->type != REDIS_REPLY_STRING)
            goto down;
    if (n > 0 && (list = calloc(n, sizeof(*list))) == NULL)
        goto down;
    for (size_t i = 0; i < n; i++) {
        redisReply **e = r->element + i * 6;
        list[i].sid = e[0]->str;
        list[i].client_id = e[1]->str;
        list[i].ip = e[2]->str;
        list[i].user_agent = e[3]->str;
        list[i].created = parse_i64(e[4]);
        list[i].last_used = parse_i64(e[5]);
    }
    if (fn != NULL)
        fn(AG_USER_OK, list, n, arg);
    free(list);
    return;
down:
    if (fn != NULL)
        fn(AG_USER_DOWN, NULL, 0, arg);
}

/* ---------------------------------------------------------------- calls */

static int user_eval(struct ag_store *st, enum ag_store__script script, int nkeys, int argc,
                     const char **argv, ag_store__reply_fn *fn, ag_store__any_fn *cb, void *arg)
{
    size_t lens[16];

    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    return ag_store__eval(st, script, nkeys, argc, argv, lens, fn, cb, arg);
}

/* The record key of user <id>; -1 for a bad id. */
static int user_key(char *buf, size_t cap, const struct ag_store *st, const char *id)
{
    if (!str_ok(id, AG_USER_ID_MAX))
        return -1;
    return ag_store__key(buf, cap, st, "user:", id, "");
}

int ag_user_create(struct ag_store *st, const struct ag_user *u, ag_user_fn *cb, void *arg)
{
    char user[USER_KEY_MAX], uname[USER_KEY_MAX], email[USER_KEY_MAX];
    char fold[USER_NAME_MAX + 1], created[24], changed[24], deadline[24], prefix[USER_KEY_MAX];

    if (st == NULL || u == NULL || cb == NULL || !str_ok(u->email, USER_NAME_MAX) ||
        u->username == NULL || strlen(u->username) > USER_NAME_MAX ||
        !str_ok(u->hash, USER_FIELD_MAX) ||
        (u->roles != NULL && strlen(u->roles) > USER_FIELD_MAX) ||
        user_key(user, sizeof(user), st, u->id) < 0 ||
        ag_store__key(prefix, sizeof(prefix), st, "", "", "") < 0)
        return -1;
    user_fold(fold, u->username);
    if (ag_store__key(uname, sizeof(uname), st, "uname:", fold, "") < 0)
        return -1;
    user_fold(fold, u->email);
    if (ag_store__key(email, sizeof(email), st, "email:", fold, "") < 0)
        return -1;
    fmt_i64(created, sizeof(created), u->created_at);
    fmt_i64(changed, sizeof(changed),
            u->password_changed_at != 0 ? u->password_changed_at : u->created_at);
    fmt_i64(deadline, sizeof(deadline), ag_store__deadline_ms(st));
    {
        const char *argv[16] = {user, uname, email, u->id, u->email, u->username, u->hash,
                                u->is_active ? "1" : "0", u->is_staff ? "1" : "0",
                                u->is_superuser ? "1" : "0", u->roles != NULL ? u->roles : "",
                                created, changed, deadline, prefix,
                                u->fields != NULL ? u->fields : ""};
        return user_eval(st, AG_STORE__USER_CREATE, 3, 16, argv, on_status_reply,
                         (ag_store__any_fn *)cb, arg);
    }
}

/* The profile script's answer: {1, USER_FIELDS...} or {status}. */
static void on_profile_reply(const struct redisReply *r, ag_store__any_fn *cb, void *arg)
{
    struct ag_user u;
    long long code;

    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_INTEGER) {
        user_call(cb, arg, AG_USER_DOWN, NULL);
        return;
    }
    code = r->element[0]->integer;
    if (code == 1 && r->elements == 1 + USER_NFIELDS &&
        ag_user__from_reply(r->element + 1, &u) == 0)
        user_call(cb, arg, AG_USER_OK, &u);
    else if (code == -1 || code == -3 || code == -4)
        user_call(cb, arg, (enum ag_user_status)code, NULL);
    else
        user_call(cb, arg, AG_USER_DOWN, NULL);
}

int ag_user_update_profile(struct ag_store *st, const char *id, const char *old_fields,
                           const char *new_fields, const char *new_email, ag_user_fn *cb,
                           void *arg)
{
    char user[USER_KEY_MAX], prefix[USER_KEY_MAX], deadline[24];

    if (st == NULL || cb == NULL || old_fields == NULL || new_fields == NULL ||
        (new_email != NULL && !str_ok(new_email, USER_NAME_MAX)) ||
        user_key(user, sizeof(user), st, id) < 0 ||
        ag_store__key(prefix, sizeof(prefix), st, "", "", "") < 0)
        return -1;
    fmt_i64(deadline, sizeof(deadline), ag_store__deadline_ms(st));
    {
        const char *argv[6] = {user, prefix, old_fields, new_fields,
                               new_email != NULL ? new_email : "", deadline};
        return user_eval(st, AG_STORE__USER_PROFILE, 1, 6, argv, on_profile_reply,
                         (ag_store__any_fn *)cb, arg);
    }
}

int ag_user_get(struct ag_store *st, const char *id, ag_user_fn *cb, void *arg)
{
    /* USER_FIELDS, as C strings. */
    static const char *const fields[USER_NFIELDS] = {
        "id", "email", "username", "hash", "is_active", "is_staff", "is_superuser", "roles",
        "created_at", "password_changed_at", "failures", "locked_until", "fields"};
    char user[USER_KEY_MAX];
    const char *argv[2 + USER_NFIELDS] = {"HMGET", user};
    size_t lens[2 + USER_NFIELDS];

    if (st == NULL || cb == NULL || user_key(user, sizeof(user), st, id) < 0)
        return -1;
    for (int i = 0; i < USER_NFIELDS; i++)
        argv[2 + i] = fields[i];
    for (int i = 0; i < 2 + USER_NFIELDS; i++)
        lens[i] = strlen(argv[i]);
    return ag_store__command(st, 2 + USER_NFIELDS, argv, lens, on_record_reply,
                             (ag_store__any_fn *)cb, arg);
}

int ag_user_find(struct ag_store *st, const char *login, ag_user_fn *cb, void *arg)
{
    return ag_user_find_as(st, login, AG_USER_NAME_ANY, cb, arg);
}

int ag_user_find_as(struct ag_store *st, const char *login, enum ag_user_name as, ag_user_fn *cb,
                    void *arg)
{
    char uname[USER_KEY_MAX], email[USER_KEY_MAX], prefix[USER_KEY_MAX];
    char fold[USER_NAME_MAX + 1];
    const char *what = as == AG_USER_NAME_EMAIL      ? "email"
                       : as == AG_USER_NAME_USERNAME ? "username"
                                                     : "any";

    if (st == NULL || cb == NULL || !str_ok(login, USER_NAME_MAX))
        return -1;
    user_fold(fold, login);
    if (ag_store__key(uname, sizeof(uname), st, "uname:", fold, "") < 0 ||
        ag_store__key(email, sizeof(email), st, "email:", fold, "") < 0 ||
        ag_store__key(prefix, sizeof(prefix), st, "", "", "") < 0)
        return -1;
    {
        const char *argv[4] = {uname, email, prefix, what};
        return user_eval(st, AG_STORE__USER_FIND, 2, 4, argv, on_record_reply,
                         (ag_store__any_fn *)cb, arg);
    }
}

int ag_user_login_result(struct ag_store *st, const char *id, bool ok, int64_t now,
                         long max_failures, long lock_seconds, ag_user_fn *cb, void *arg)
{
    char user[USER_KEY_MAX], nows[24], max[24], lock[24];

    if (st == NULL || cb == NULL || max_failures < 0 || lock_seconds < 0 ||
        (max_failures > 0 && lock_seconds == 0) || user_key(user, sizeof(user), st, id) < 0)
        return -1;
    fmt_i64(nows, sizeof(nows), now);
    fmt_i64(max, sizeof(max), max_failures);
    fmt_i64(lock, sizeof(lock), lock_seconds);
    {
        const char *argv[5] = {user, ok ? "1" : "0", nows, max, lock};
        return user_eval(st, AG_STORE__USER_LOGIN, 1, 5, argv, on_login_reply,
                         (ag_store__any_fn *)cb, arg);
    }
}

/* One USER_UPDATE: <op> with up to two arguments. */
static int user_update(struct ag_store *st, const char *id, const char *op, const char *a,
                       const char *b, ag_user_fn *cb, void *arg)
{
    char user[USER_KEY_MAX], deadline[24];
    const char *argv[5] = {user, op, a, b, deadline};

    if (st == NULL || cb == NULL || user_key(user, sizeof(user), st, id) < 0)
        return -1;
    fmt_i64(deadline, sizeof(deadline), ag_store__deadline_ms(st));
    return user_eval(st, AG_STORE__USER_UPDATE, 1, 5, argv, on_status_reply,
                     (ag_store__any_fn *)cb, arg);
}

int ag_user_set_hash(struct ag_store *st, const char *id, const char *old_hash,
                     const char *new_hash, ag_user_fn *cb, void *arg)
{
    if (!str_ok(old_hash, USER_FIELD_MAX) || !str_ok(new_hash, USER_FIELD_MAX))
        return -1;
    return user_update(st, id, "hash", old_hash, new_hash, cb, arg);
}

int ag_user_set_password(struct ag_store *st, const char *id, const char *new_hash, int64_t now,
                         ag_user_fn *cb, void *arg)
{
    char nows[24];

    if (!str_ok(new_hash, USER_FIELD_MAX))
        return -1;
    fmt_i64(nows, sizeof(nows), now);
    return user_update(st, id, "password", new_hash, nows, cb, arg);
}

int ag_user_unlock(struct ag_store *st, const char *id, ag_user_fn *cb, void *arg)
{
    return user_update(st, id, "unlock", "", "", cb, arg);
}

/*
 * SET reset:<rid> NX with the expiry <until> (at least a second from now, so that an
 * already-past <until> cannot make the key vanish and the id usable again; the caller
 * checks the reset token's own expiry first).
 */
int ag_user_reset_consume(struct ag_store *st, const char *rid, int64_t until, ag_user_fn *cb,
                          void *arg)
{
    char key[USER_KEY_MAX], at[24];
    int64_t min = (int64_t)time(NULL) + 1;
    const char *argv[6] = {"SET", key, "1", "NX", "EXAT", at};
    size_t lens[6];

    if (st == NULL || cb == NULL || !str_ok(rid, USER_SID_MAX) ||
        ag_store__key(key, sizeof(key), st, "reset:", rid, "") < 0)
        return -1;
    fmt_i64(at, sizeof(at), until > min ? until : min);
    for (int i = 0; i < 6; i++)
        lens[i] = strlen(argv[i]);
    return ag_store__command(st, 6, argv, lens, on_reset_reply, (ag_store__any_fn *)cb, arg);
}

int ag_user_sessions(struct ag_store *st, const char *sub, size_t max, ag_user_sessions_fn *cb,
                     void *arg)
{
    char usess[USER_KEY_MAX], prefix[USER_KEY_MAX], maxs[24], scan[24];

    if (st == NULL || cb == NULL || max == 0 || !str_ok(sub, USER_SID_MAX) ||
        ag_store__key(usess, sizeof(usess), st, "usess:", sub, "") < 0 ||
        ag_store__key(prefix, sizeof(prefix), st, "", "", "") < 0)
        return -1;
    if (max > USER_SESSIONS_MAX)
        max = USER_SESSIONS_MAX;
    fmt_i64(maxs, sizeof(maxs), (int64_t)max);
    fmt_i64(scan, sizeof(scan), (int64_t)(max + USER_SESSIONS_SLACK));
    {
        const char *argv[5] = {usess, prefix, sub, maxs, scan};
        return user_eval(st, AG_STORE__USER_SESSIONS, 1, 5, argv, on_sessions_reply,
                         (ag_store__any_fn *)cb, arg);
    }
}

/* One USER_REVOKE: <mode> "one" (<sid>) or "others" (all but <sid>; "" keeps none). */
static int user_revoke(struct ag_store *st, const char *sub, const char *sid, const char *mode,
                       int64_t until, ag_user_fn *cb, void *arg)
{
    char usess[USER_KEY_MAX], revlog[USER_KEY_MAX], prefix[USER_KEY_MAX], chan[USER_KEY_MAX];
    char us[24], walk[24];

    if (st == NULL || cb == NULL || !str_ok(sub, USER_SID_MAX) || strlen(sid) > USER_SID_MAX ||
        ag_store__key(usess, sizeof(usess), st, "usess:", sub, "") < 0 ||
        ag_store__key(revlog, sizeof(revlog), st, "revlog", "", "") < 0 ||
        ag_store__key(chan, sizeof(chan), st, "revoked", "", "") < 0 ||
        ag_store__key(prefix, sizeof(prefix), st, "", "", "") < 0)
        return -1;
    fmt_i64(us, sizeof(us), until);
    fmt_i64(walk, sizeof(walk), USER_REVOKE_WALK);
    {
        const char *argv[9] = {usess, revlog, prefix, sub, us, chan, sid, mode, walk};
        return user_eval(st, AG_STORE__USER_REVOKE, 2, 9, argv, on_status_reply,
                         (ag_store__any_fn *)cb, arg);
    }
}

int ag_user_revoke_session(struct ag_store *st, const char *sub, const char *sid, int64_t until,
                           ag_user_fn *cb, void *arg)
{
    if (!str_ok(sid, USER_SID_MAX))
        return -1;
    return user_revoke(st, sub, sid, "one", until, cb, arg);
}

int ag_user_revoke_others(struct ag_store *st, const char *sub, const char *keep_sid,
                          int64_t until, ag_user_fn *cb, void *arg)
{
    if (keep_sid != NULL && !str_ok(keep_sid, USER_SID_MAX))
        return -1;
    return user_revoke(st, sub, keep_sid != NULL ? keep_sid : "", "others", until, cb, arg);
}
