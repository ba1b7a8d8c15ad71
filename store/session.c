/*
 * store/session.c - refresh sessions and revocations in Redis: the Lua scripts (create,
 * rotate with reuse detection, revoke), the key names, and the per-subject session index
 * (written here, read by store/user.c).
 *
 * Owns:     nothing long-lived; each call's pending record is owned by store/link.c.
 * Entry:    ag_sess_create(), ag_sess_rotate(), ag_sess_revoke(), ag_sess_revoke_jti(),
 *           ag_sess_revoke_subject().
 * Not here: the connection, timeouts, EVALSHA/NOSCRIPT (store/link.c); the revocation
 *           feed that reads what is revoked here (store/feed.c); tokens, HTTP.
 * Spec:     CONTRACT.md sections 5, 7, 8; docs/redis-keys.md (every key is listed there).
 */
#include "session.h"

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ratelimit.h"
#include "scripts.h"
#include "store_int.h"

#define SESS_ID_MAX 512 /* bytes of an id or subject: larger is refused (keys stay small) */
#define SESS_KEY_MAX (SESS_ID_MAX + 320)

/* ---------------------------------------------------------------- Lua */

/*
 * KEYS sess, old, usess, revlog; ARGV otid, subject, client_id, family, now, ip, ua, ttl,
 * sid, user ("1": a user's session), max, until, channel, prefix, aend, ajti, stamp.
 * A user's session with a <stamp> ("<is_staff><is_superuser> <roles>" as the gateway
 * minted the pair, flags "1"/"0") is created only while the user record still says so:
 * -1 when the record is gone, -5 when it is not active, -6 when its flags or roles
 * changed since the gateway read them (nothing written: the gateway reads the user again).
 * Atomic with store/users.c's update and delete, so an admin's change either finds this
 * session (and revokes its token) or is seen here.
 * Also indexes the sid under its subject (store/user.c lists and revokes from there) and,
 * when the subject then has more than <max> (> 0) sessions, ends the least recently used
 * ones (lowest end of life in the index), at most 64 per call so that the script stays
 * short even for an index grown large before the cap: each is deleted, removed from the
 * index and revoked until <until> or its own 'aend', whichever is later, as
 * ag_sess_revoke() does. 'aend' is the last second an access token of the session can
 * pass: every revocation of the session is kept at least that long (issue 9: never for
 * the current TTL only). 'ajt' is "<now> <ajti>": the second and id of the access token
 * minted with the session (rotate appends the ids of one second; ag_users' role removal
 * revokes them, store/users.c).
 */
#define SESS_LUA_CREATE_BODY                                                                  \
    "if ARGV[10] == '1' and ARGV[17] ~= '' then\n"                                            \
    "  local a = redis.call('HMGET', ARGV[14] .. 'user:' .. ARGV[2], 'is_active', 'is_staff',\n" \
    "    'is_superuser', 'roles')\n"                                                          \
    "  if not a[1] then return -1 end\n"                                                      \
    "  if a[1] ~= '1' then return -5 end\n"                                                   \
    "  if (a[2] == '1' and '1' or '0') .. (a[3] == '1' and '1' or '0') .. ' ' .. (a[4] or '')\n" \
    "     ~= ARGV[17] then return -6 end\n"                                                   \
    "end\n"                                                                                   \
    "redis.call('DEL', KEYS[1], KEYS[2])\n"                                                  \
    "redis.call('HSET', KEYS[1], 'subject', ARGV[2], 'client_id', ARGV[3],\n"                \
    "  'family', ARGV[4], 'otid', ARGV[1], 'created', ARGV[5], 'last_used', ARGV[5],\n"      \
    "  'ip', ARGV[6], 'ua', ARGV[7], 'aend', ARGV[15])\n"                                    \
    "if ARGV[10] == '1' then redis.call('HSET', KEYS[1], 'user', '1') end\n"                 \
    "if ARGV[16] ~= '' then redis.call('HSET', KEYS[1], 'ajt', ARGV[5] .. ' ' .. ARGV[16]) end\n" \
    "redis.call('EXPIRE', KEYS[1], ARGV[8])\n"                                               \
    "ag_usess_touch(KEYS[3], ARGV[9], ARGV[8])\n"                                            \
    "local max = tonumber(ARGV[11])\n"                                                       \
    "if max > 0 then\n"                                                                      \
    "  local over = redis.call('ZCARD', KEYS[3]) - max\n"                                    \
    "  if over > 64 then over = 64 end\n"                                                    \
    "  if over > 0 then\n"                                                                   \
    "    local p = ARGV[14]\n"                                                               \
    "    for _, sid in ipairs(redis.call('ZRANGE', KEYS[3], 0, over - 1)) do\n"              \
    "      if sid ~= ARGV[9] then\n"                                                         \
    "        local u = tonumber(ARGV[12])\n"                                                 \
    "        local ae = tonumber(redis.call('HGET', p .. 'sess:' .. sid, 'aend') or '0') or 0\n" \
    "        if ae > u then u = ae end\n"                                                    \
    "        redis.call('DEL', p .. 'sess:' .. sid, p .. 'sess:' .. sid .. ':old')\n"       \
    "        redis.call('ZREM', KEYS[3], sid)\n"                                             \
    "        ag_revoke(p .. 'rev:sid:' .. sid, KEYS[4], 'sid', sid, u, u, ARGV[13])\n"       \
    "      end\n"                                                                            \
    "    end\n"                                                                              \
    "  end\n"                                                                                \
    "end\n"                                                                                  \
    "return 1\n"

const char ag_sess__lua_create[] = LUA_REVOKE_FN LUA_USESS_TOUCH_FN SESS_LUA_CREATE_BODY;

/*
 * KEYS as create, then legacy; ARGV as create (no stamp), then keep (ARGV[18]). The one exchange of a
 * fastauth-api refresh token (legacy-tokens): <legacy> is set only if absent, for <keep>
 * seconds (until that token's exp), and the session is created in the same script, so the
 * same token is exchanged once however many instances see it. Returns 1, or -1 when it was
 * exchanged before (nothing created).
 */
const char ag_sess__lua_legacy[] = LUA_REVOKE_FN LUA_USESS_TOUCH_FN
    "if not redis.call('SET', KEYS[5], ARGV[5], 'NX', 'EX', ARGV[18]) then return -1 end\n"
    SESS_LUA_CREATE_BODY;

/*
 * KEYS sess, old, rev:sid, revlog, rl, audit; ARGV presented, next, now, ttl, sid,
 * channel, prefix, deadline, limit, window, audit maxlen, ip, aend (the new access token's
 * end of life: the session's 'aend' keeps the latest, and a revocation here lasts until then),
 * ajti (the new access token's id: 'ajt' keeps the ids minted in the second <now>, at most
 * 8, then "<now> *", for the role removal of store/users.c), user agent (of the audit entry).
 * Returns {1, subject, client_id, family, user, is_staff, is_superuser, roles, fields} rotated
 * (the subject's session index renewed with it; an audit entry when maxlen > 0; for a
 * user's session user = "1" and the flags and roles read from the user record now,
 * else ""), {-2} reused (session revoked), {-1} unknown (missing, revoked, or created
 * at or before its subject's watermark, or its user deleted), {-5} its user is not
 * active (deleted or deactivated: the session is revoked, as on reuse), {-4, wait} the
 * rate limit <rl> (limit > 0: fixed window) is full, {-3} late: Redis ran it after the
 * deadline (ms, Redis clock), when the gateway has answered 503: nothing is changed, so
 * the client's retry with the same token still works.
 * The token 'unconfirmed' names (ag_sess__lua_unconfirmed: a rotation from it whose WAIT
 * fell short, the client was answered 503) rotates as the current one does, once: the
 * mark goes, and the token the client never received joins the old ones.
 */
const char ag_sess__lua_rotate[] = LUA_LATE_FN LUA_REVOKE_FN LUA_USESS_TOUCH_FN
    "local late, tm = ag_late(ARGV[8])\n"
    "if late then return {-3} end\n"
    "local lim = tonumber(ARGV[9])\n"
    "if lim > 0 then\n"
    "  local c = tonumber(redis.call('GET', KEYS[5]) or '0') or 0\n"
    "  if c >= lim then\n"
    "    local ms = redis.call('PTTL', KEYS[5])\n"
    "    if ms < 0 then\n"
    "      ms = tonumber(ARGV[10]) * 1000\n"
    "      redis.call('PEXPIRE', KEYS[5], ms)\n"
    "    end\n"
    "    local w = math.ceil(ms / 1000)\n"
    "    if w < 1 then w = 1 end\n"
    "    return {-4, w}\n"
    "  end\n"
    "  if redis.call('INCR', KEYS[5]) == 1 then redis.call('EXPIRE', KEYS[5], ARGV[10]) end\n"
    "end\n"
    "if redis.call('EXISTS', KEYS[3]) == 1 then return {-1} end\n"
    "local f = redis.call('HMGET', KEYS[1], 'otid', 'subject', 'client_id', 'family',\n"
    "  'created', 'user', 'aend', 'unconfirmed', 'ajt')\n"
    "local aend = tonumber(f[7] or '0') or 0\n"
    "if not f[1] then return {-1} end\n"
    "if f[2] then\n"
    "  local t = redis.call('GET', ARGV[7] .. 'rev:sub:' .. f[2])\n"
    "  if t and tonumber(f[5] or '0') <= tonumber(t) then\n"
    "    redis.call('DEL', KEYS[1], KEYS[2])\n"
    "    return {-1}\n"
    "  end\n"
    "end\n"
    "local usr = {'', '', '', '', ''}\n"
    "if f[6] == '1' then\n"
    "  local a = redis.call('HMGET', ARGV[7] .. 'user:' .. (f[2] or ''), 'is_active',\n"
    "    'is_staff', 'is_superuser', 'roles', 'fields')\n"
    "  if a[1] ~= '1' then\n"
    "    redis.call('DEL', KEYS[1], KEYS[2])\n"
    "    redis.call('ZREM', ARGV[7] .. 'usess:' .. (f[2] or ''), ARGV[5])\n"
    "    local u = tonumber(ARGV[3]) + tonumber(ARGV[4])\n"
    "    if aend > u then u = aend end\n"
    "    ag_revoke(KEYS[3], KEYS[4], 'sid', ARGV[5], u, u, ARGV[6])\n"
    "    if a[1] then return {-5} end\n"
    "    return {-1}\n"
    "  end\n"
    "  usr = {'1', a[2] or '0', a[3] or '0', a[4] or '', a[5] or ''}\n"
    "end\n"
    "if f[1] == ARGV[1] or f[8] == ARGV[1] then\n"
    "  if f[8] then redis.call('HDEL', KEYS[1], 'unconfirmed') end\n"
    /* the presented token, and the current one when they differ (its client never got it) */
    "  redis.call('SADD', KEYS[2], f[1], ARGV[1])\n"
    "  local set = {'otid', ARGV[2], 'last_used', ARGV[3]}\n"
    "  if tonumber(ARGV[13]) > aend then\n"
    "    table.insert(set, 'aend')\n"
    "    table.insert(set, ARGV[13])\n"
    "  end\n"
    "  if ARGV[14] ~= '' then\n"
    "    local aj, sec, n = f[9] or '', ARGV[3], 0\n"
    "    if string.sub(aj, 1, #sec + 1) == sec .. ' ' then\n"
    "      for _ in string.gmatch(aj, '%S+') do n = n + 1 end\n"
    "    else\n"
    "      aj, n = sec, 1\n"
    "    end\n"
    "    if string.sub(aj, -1) ~= '*' then\n"
    "      if n >= 9 then aj = sec .. ' *' else aj = aj .. ' ' .. ARGV[14] end\n"
    "    end\n"
    "    table.insert(set, 'ajt')\n"
    "    table.insert(set, aj)\n"
    "  end\n"
    "  redis.call('HSET', KEYS[1], unpack(set))\n"
    "  redis.call('EXPIRE', KEYS[1], ARGV[4])\n"
    "  redis.call('EXPIRE', KEYS[2], ARGV[4])\n"
    "  if f[2] then ag_usess_renew(ARGV[7] .. 'usess:' .. f[2], ARGV[5], ARGV[4], tm) end\n"
    "  if tonumber(ARGV[11]) > 0 then\n"
    "    redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[11], '*', 'event', 'refresh',\n"
    "      'ip', ARGV[12], 'user_agent', ARGV[15], 'sub', f[2] or '', 'sid', ARGV[5])\n"
    "  end\n"
    "  return {1, f[2] or '', f[3] or '', f[4] or '', usr[1], usr[2], usr[3], usr[4], usr[5]}\n"
    "end\n"
    "if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then\n"
    "  redis.call('DEL', KEYS[1], KEYS[2])\n"
    "  local u = tonumber(ARGV[3]) + tonumber(ARGV[4])\n"
    "  if aend > u then u = aend end\n"
    "  ag_revoke(KEYS[3], KEYS[4], 'sid', ARGV[5], u, u, ARGV[6])\n"
    "  return {-2}\n"
    "end\n"
    "return {-1}\n";

/*
 * The mark sent when the WAIT after a write of this file fell short (store/ack.c): the
 * client was answered 503, and its retry must work.
 * KEYS sess: after a rotation; ARGV next (the token it wrote), presented. While the
 * session's token is still <next>, 'unconfirmed' = <presented>: the rotate script takes
 * the presented token once more instead of calling it reuse.
 * KEYS sess, old, usess, legacy: after a legacy exchange; ARGV next (the session's first
 * token), sid. While the session's token is still <next>, the session (handed to nobody)
 * and the exchange record go: the same legacy token can be exchanged again.
 * Returns 1 (marked), 0 (the session moved on: nothing done).
 */
const char ag_sess__lua_unconfirmed[] =
    "if redis.call('HGET', KEYS[1], 'otid') ~= ARGV[1] then return 0 end\n"
    "if #KEYS == 1 then\n"
    "  redis.call('HSET', KEYS[1], 'unconfirmed', ARGV[2])\n"
    "else\n"
    "  redis.call('DEL', KEYS[1], KEYS[2], KEYS[4])\n"
    "  redis.call('ZREM', KEYS[3], ARGV[2])\n"
    "end\n"
    "return 1\n";

/*
 * KEYS revkey, revlog[, sess, old]; ARGV kind, id, value, until, channel.
 * Deletes the session keys when given; a session's revocation then lasts at least until its
 * 'aend' (its access tokens may outlive <until> when access-token-ttl was lowered). Returns 1.
 */
const char ag_sess__lua_revoke[] = LUA_REVOKE_FN
    "local v, u = tonumber(ARGV[3]), tonumber(ARGV[4])\n"
    "if KEYS[3] then\n"
    "  local a = tonumber(redis.call('HGET', KEYS[3], 'aend') or '0') or 0\n"
    "  if a > u then v, u = a, a end\n"
    "  redis.call('DEL', KEYS[3], KEYS[4])\n"
    "end\n"
    "ag_revoke(KEYS[1], KEYS[2], ARGV[1], ARGV[2], v, u, ARGV[5])\n"
    "return 1\n";

/* ---------------------------------------------------------------- keys */

static bool id_ok(const char *s)
{
    return s != NULL && s[0] != '\0' && strlen(s) <= SESS_ID_MAX;
}

/* ---------------------------------------------------------------- replies */

static void sess_call(ag_store__any_fn *cb, void *arg, enum ag_sess_status s,
                      const struct ag_sess_info *info)
{
    if (cb != NULL)
        ((ag_sess_fn *)cb)(s, info, arg);
}

/* The legacy exchange answers 1 (created) or -1 (exchanged before). */
static void on_legacy_reply(const struct redisReply *r, ag_store__any_fn *cb, void *arg)
{
    enum ag_sess_status s = AG_SESS_DOWN;

    if (r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 1)
        s = AG_SESS_OK;
    else if (r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == -1)
        s = AG_SESS_UNKNOWN;
    sess_call(cb, arg, s, NULL);
}

/* Create answers 1, or for a user's session -1 (no user), -5 (inactive), -6 (changed). */
static void on_create_reply(const struct redisReply *r, ag_store__any_fn *cb, void *arg)
{
    enum ag_sess_status s = AG_SESS_DOWN;

    if (r != NULL && r->type == REDIS_REPLY_INTEGER)
        s = r->integer == 1    ? AG_SESS_OK
            : r->integer == -1 ? AG_SESS_UNKNOWN
            : r->integer == -5 ? AG_SESS_INACTIVE
            : r->integer == -6 ? AG_SESS_CHANGED
                               : AG_SESS_DOWN;
    sess_call(cb, arg, s, NULL);
}

/* Revoke scripts answer the integer 1. */
static void on_write_reply(const struct redisReply *r, ag_store__any_fn *cb, void *arg)
{
    bool ok = r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    sess_call(cb, arg, ok ? AG_SESS_OK : AG_SESS_DOWN, NULL);
}

static void on_rotate_reply(const struct redisReply *r, ag_store__any_fn *cb, void *arg)
{
    struct ag_sess_info info;
    long long code;

    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_INTEGER) {
        sess_call(cb, arg, AG_SESS_DOWN, NULL);
        return;
    }
    code = r->element[0]->integer;
    if (code == -4 && r->elements == 2 && r->element[1]->type == REDIS_REPLY_INTEGER) {
        memset(&info, 0, sizeof(info));
        info.retry_after = (long)r->element[1]->integer;
        sess_call(cb, arg, AG_SESS_LIMITED, &info);
        return;
    }
    if (code == -3) { /* late: nothing was changed */
        sess_call(cb, arg, AG_SESS_DOWN, NULL);
        return;
    }
    if (code == -2) {
        sess_call(cb, arg, AG_SESS_REUSED, NULL);
        return;
    }
    if (code == -5) {
        sess_call(cb, arg, AG_SESS_INACTIVE, NULL);
        return;
    }
    if (code != 1 || r->elements < 9) {
        sess_call(cb, arg, AG_SESS_UNKNOWN, NULL);
        return;
    }
    for (size_t i = 1; i < 9; i++)
        if (r->element[i]->type != REDIS_REPLY_STRING) {
            sess_call(cb, arg, AG_SESS_DOWN, NULL);
            return;
        }
    memset(&info, 0, sizeof(info));
    info.subject = r->element[1]->str;
    info.client_id = r->element[2]->str;
    info.family = r->element[3]->str;
    info.is_user = strcmp(r->element[4]->str, "1") == 0;
    if (info.is_user) {
        info.is_staff = strcmp(r->element[5]->str, "1") == 0;
        info.is_superuser = strcmp(r->element[6]->str, "1") == 0;
        info.roles = r->element[7]->str;
        info.fields = r->element[8]->str;
    }
    sess_call(cb, arg, AG_SESS_OK, &info);
}

/* ---------------------------------------------------------------- calls */

static int sess_eval(struct ag_store *st, enum ag_store__script script, int nkeys, int argc,
                     const char **argv, ag_store__reply_fn *fn, ag_sess_fn *cb, void *arg)
{
    size_t lens[24]; /* the most any script here takes: the legacy exchange's 23 */

    if (argc > (int)(sizeof(lens) / sizeof(lens[0])))
        return -1;
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    return ag_store__eval(st, script, nkeys, argc, argv, lens, fn, (ag_store__any_fn *)cb, arg);
}

/*
 * sess_eval() of <script>, with the mark ag_sess__lua_unconfirmed (<mkeys> keys of
 * <margc> strings <margv>) sent if its WAIT falls short (ag_store__eval_marked()).
 */
static int sess_eval_marked(struct ag_store *st, enum ag_store__script script, int nkeys,
                            int argc, const char **argv, int mkeys, int margc, const char **margv,
                            ag_store__reply_fn *fn, ag_sess_fn *cb, void *arg)
{
    size_t lens[24], mlens[8];
    struct ag_store__call write = {script, nkeys, argc, argv, lens};
    struct ag_store__call mark = {AG_STORE__SESS_UNCONFIRMED, mkeys, margc, margv, mlens};

    if (argc > (int)(sizeof(lens) / sizeof(lens[0])) ||
        margc > (int)(sizeof(mlens) / sizeof(mlens[0])))
        return -1;
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    for (int i = 0; i < margc; i++)
        mlens[i] = strlen(margv[i]);
    return ag_store__eval_marked(st, &write, &mark, fn, (ag_store__any_fn *)cb, arg);
}

/* ag_sess_create(), or with <legacy_id> the legacy exchange recorded for <keep> s. */
static int sess_create(struct ag_store *st, const struct ag_sess_info *s, const char *legacy_id,
                       int64_t keep, ag_sess_fn *cb, void *arg)
{
    char sess[SESS_KEY_MAX], old[SESS_KEY_MAX], usess[SESS_KEY_MAX], revlog[SESS_KEY_MAX];
    char chan[SESS_KEY_MAX], prefix[SESS_KEY_MAX], legacy[SESS_KEY_MAX];
    char now[24], ttl[24], max[24], until[24], aend[24], keeps[24];
    const char *ajti = s != NULL && s->access_jti != NULL ? s->access_jti : "";

    if (st == NULL || s == NULL || cb == NULL || !id_ok(s->sid) || !id_ok(s->otid) ||
        !id_ok(s->subject) || s->client_id == NULL || s->family == NULL || s->ttl <= 0 ||
        strlen(ajti) > SESS_ID_MAX ||
        (s->user_stamp != NULL && strlen(s->user_stamp) > 2 * SESS_ID_MAX) ||
        s->max_sessions < 0 || (legacy_id != NULL && (!id_ok(legacy_id) || keep <= 0)) ||
        ag_store__key(sess, sizeof(sess), st, "sess:", s->sid, "") < 0 ||
        ag_store__key(old, sizeof(old), st, "sess:", s->sid, ":old") < 0 ||
        ag_store__key(usess, sizeof(usess), st, "usess:", s->subject, "") < 0 ||
        ag_store__key(revlog, sizeof(revlog), st, "revlog", "", "") < 0 ||
        ag_store__key(chan, sizeof(chan), st, "revoked", "", "") < 0 ||
        ag_store__key(prefix, sizeof(prefix), st, "", "", "") < 0 ||
        (legacy_id != NULL &&
         ag_store__key(legacy, sizeof(legacy), st, "legacy:", legacy_id, "") < 0))
        return -1;
    snprintf(now, sizeof(now), "%lld", (long long)s->now);
    snprintf(ttl, sizeof(ttl), "%lld", (long long)s->ttl);
    snprintf(max, sizeof(max), "%ld", s->max_sessions);
    snprintf(until, sizeof(until), "%lld",
             (long long)(s->revoke_until > s->now ? s->revoke_until : s->now + s->ttl));
    snprintf(aend, sizeof(aend), "%lld", (long long)(s->access_end > 0 ? s->access_end : 0));
    snprintf(keeps, sizeof(keeps), "%lld", (long long)keep);
    {
        /* The keys, then ARGV 1-17; the legacy exchange has its key fifth and ARGV 18. */
        const char *argv[23] = {sess, old, usess, revlog, legacy};
        const char *rest[18] = {s->otid, s->subject, s->client_id, s->family, now,
                                s->ip != NULL ? s->ip : "",
                                s->user_agent != NULL ? s->user_agent : "", ttl, s->sid,
                                s->is_user ? "1" : "", max, until, chan, prefix, aend, ajti,
                                legacy_id == NULL && s->user_stamp != NULL ? s->user_stamp : "",
                                keeps};
        int nkeys = legacy_id != NULL ? 5 : 4, nargs = legacy_id != NULL ? 18 : 17;

        memcpy(argv + nkeys, rest, (size_t)nargs * sizeof(rest[0]));
        if (legacy_id != NULL) {
            /* A WAIT that falls short undoes the exchange (ag_sess__lua_unconfirmed). */
            const char *mark[6] = {sess, old, usess, legacy, s->otid, s->sid};
            return sess_eval_marked(st, AG_STORE__SESS_LEGACY, nkeys, nkeys + nargs, argv, 4,
                                    6, mark, on_legacy_reply, cb, arg);
        }
        return sess_eval(st, AG_STORE__SESS_CREATE, nkeys, nkeys + nargs, argv, on_create_reply,
                         cb, arg);
    }
}

int ag_sess_create(struct ag_store *st, const struct ag_sess_info *s, ag_sess_fn *cb, void *arg)
{
    return sess_create(st, s, NULL, 0, cb, arg);
}

int ag_sess_create_legacy(struct ag_store *st, const struct ag_sess_info *s, const char *legacy_id,
                          int64_t keep, ag_sess_fn *cb, void *arg)
{
    return sess_create(st, s, legacy_id, keep, cb, arg);
}

int ag_sess_refresh(struct ag_store *st, const struct ag_sess_refresh *q, ag_sess_fn *cb,
                    void *arg)
{
    char sess[SESS_KEY_MAX], old[SESS_KEY_MAX], rev[SESS_KEY_MAX], revlog[SESS_KEY_MAX];
    char chan[SESS_KEY_MAX], prefix[SESS_KEY_MAX], rl[SESS_KEY_MAX], audit[SESS_KEY_MAX];
    char nows[24], ttls[24], dl[24], lim[24], win[24], maxlen[24], aend[24];
    const char *ip = q != NULL && q->ip != NULL ? q->ip : "";
    const char *ua = q != NULL && q->user_agent != NULL ? q->user_agent : "";
    const char *ajti = q != NULL && q->access_jti != NULL ? q->access_jti : "";

    if (st == NULL || q == NULL || cb == NULL || !id_ok(q->sid) || !id_ok(q->presented) ||
        !id_ok(q->next) || q->ttl <= 0 || (q->limit > 0 && q->window <= 0) ||
        strlen(ajti) > SESS_ID_MAX ||
        ag_store__key(sess, sizeof(sess), st, "sess:", q->sid, "") < 0 ||
        ag_store__key(old, sizeof(old), st, "sess:", q->sid, ":old") < 0 ||
        ag_store__key(rev, sizeof(rev), st, "rev:sid:", q->sid, "") < 0 ||
        ag_store__key(revlog, sizeof(revlog), st, "revlog", "", "") < 0 ||
        ag_store__key(chan, sizeof(chan), st, "revoked", "", "") < 0 ||
        ag_store__key(prefix, sizeof(prefix), st, "", "", "") < 0 ||
        ag_store__key(audit, sizeof(audit), st, "audit", "", "") < 0 ||
        ag_rl__key(rl, sizeof(rl), st, "refresh", ip) < 0)
        return -1;
    ag_store__num(nows, q->now); /* not snprintf: every refresh passes here */
    ag_store__num(ttls, q->ttl);
    ag_store__num(dl, ag_store__deadline_ms(st));
    ag_store__num(lim, q->limit > 0 ? q->limit : 0);
    ag_store__num(win, q->window > 0 ? q->window : 1);
    ag_store__num(maxlen, q->audit_maxlen > 0 ? q->audit_maxlen : 0);
    ag_store__num(aend, q->access_end > 0 ? q->access_end : 0);
    {
        const char *argv[21] = {sess, old,  rev,    revlog, rl,   audit,  q->presented,
                                q->next, nows, ttls, q->sid, chan, prefix, dl,
                                lim,  win,  maxlen, ip, aend, ajti, ua};
        /* A WAIT that falls short marks the presented token (ag_sess__lua_unconfirmed). */
        const char *mark[3] = {sess, q->next, q->presented};
        return sess_eval_marked(st, AG_STORE__SESS_ROTATE, 6, 21, argv, 1, 3, mark,
                                on_rotate_reply, cb, arg);
    }
}

int ag_sess_rotate(struct ag_store *st, const char *sid, const char *presented, const char *next,
                   int64_t now, int64_t ttl, ag_sess_fn *cb, void *arg)
{
    struct ag_sess_refresh q = {.sid = sid, .presented = presented, .next = next, .now = now,
                                .ttl = ttl};

    return ag_sess_refresh(st, &q, cb, arg);
}

/* One revocation: <kind> "sid"/"jti"/"sub", <id>, <value>, <until>. */
static int sess_revoke(struct ag_store *st, const char *kind, const char *id, int64_t value,
                       int64_t until, ag_sess_fn *cb, void *arg)
{
    char rev[SESS_KEY_MAX], revlog[SESS_KEY_MAX], sess[SESS_KEY_MAX], old[SESS_KEY_MAX];
    char chan[SESS_KEY_MAX], what[16], vs[24], us[24];
    bool is_sid = strcmp(kind, "sid") == 0;

    snprintf(what, sizeof(what), "rev:%s:", kind);
    if (st == NULL || cb == NULL || !id_ok(id) ||
        ag_store__key(rev, sizeof(rev), st, what, id, "") < 0 ||
        ag_store__key(revlog, sizeof(revlog), st, "revlog", "", "") < 0 ||
        ag_store__key(chan, sizeof(chan), st, "revoked", "", "") < 0 ||
        ag_store__key(sess, sizeof(sess), st, "sess:", id, "") < 0 ||
        ag_store__key(old, sizeof(old), st, "sess:", id, ":old") < 0)
        return -1;
    snprintf(vs, sizeof(vs), "%lld", (long long)value);
    snprintf(us, sizeof(us), "%lld", (long long)until);
    {
        const char *argv[9] = {rev, revlog, sess, old, kind, id, vs, us, chan};
        if (is_sid)
            return sess_eval(st, AG_STORE__REVOKE, 4, 9, argv, on_write_reply, cb, arg);
        argv[2] = kind;
        argv[3] = id;
        argv[4] = vs;
        argv[5] = us;
        argv[6] = chan;
        return sess_eval(st, AG_STORE__REVOKE, 2, 7, argv, on_write_reply, cb, arg);
    }
}

int ag_sess_revoke(struct ag_store *st, const char *sid, int64_t until, ag_sess_fn *cb, void *arg)
{
    return sess_revoke(st, "sid", sid, until, until, cb, arg);
}

int ag_sess_revoke_jti(struct ag_store *st, const char *jti, int64_t until, ag_sess_fn *cb,
                       void *arg)
{
    return sess_revoke(st, "jti", jti, until, until, cb, arg);
}

int ag_sess_revoke_subject(struct ag_store *st, const char *subject, int64_t now, int64_t until,
                           ag_sess_fn *cb, void *arg)
{
    return sess_revoke(st, "sub", subject, now, until, cb, arg);
}
