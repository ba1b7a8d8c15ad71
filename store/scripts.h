/*
 * store/scripts.h - the Lua scripts of store/: the text of each one (defined next to
 * the C code that builds its KEYS and ARGV) and the Lua helpers several scripts share.
 *
 * Owns:     nothing; the table of texts is store/scripts.c, loading is store/link.c.
 * Entry:    ag_store__script_text[] (store_int.h), LUA_REVOKE_FN, LUA_USER_INDEX_FN,
 *           LUA_SESS_LIVE_FN, LUA_USER_FIELDS.
 * Not here: the enum of scripts (store_int.h), what each script does (above its text).
 * Spec:     docs/redis-keys.md, section "Scripts". Internal to store/: not for gateway/.
 */
#ifndef AG_STORE_SCRIPTS_H
#define AG_STORE_SCRIPTS_H

/*
 * ag_revoke(revkey, revlog, kind, id, value, until, channel): records a revocation.
 * <revkey> (string, TTL until - now) holds <value>; the sorted set <revlog> holds the
 * member "<kind> <id> <value>" scored <until>, the exact text published on <channel>
 * (the format ag_feed__parse() reads, store/feed.c). <value> and <until> are Lua numbers.
 * A repeated revocation keeps the larger value and until and replaces its member.
 * Expired members are pruned on every write; <revlog> itself expires with its last.
 */
/*
 * ag_late(deadline): whether Redis's clock (ms) is past <deadline> (ms, Redis clock; see
 * ag_store__deadline_ms()), and the TIME it read, for a script that needs the clock again.
 * A write script that starts late must change nothing: the gateway has answered 503 by
 * then, and a write the client never heard of (a rotation, a registration) must not happen
 * behind its back.
 */
#define LUA_LATE_FN                                                                          \
    "local function ag_late(deadline)\n"                                                     \
    "  local tm = redis.call('TIME')\n"                                                      \
    "  return tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000) > tonumber(deadline), tm\n" \
    "end\n"

#define LUA_REVOKE_FN                                                                         \
    "local function ag_revoke(revkey, revlog, kind, id, value, untl, channel)\n"              \
    "  local now = tonumber(redis.call('TIME')[1])\n"                                          \
    "  local old = redis.call('GET', revkey)\n"                                               \
    "  if old then\n"                                                                          \
    "    local om = kind .. ' ' .. id .. ' ' .. old\n"                                        \
    "    local os = redis.call('ZSCORE', revlog, om)\n"                                       \
    "    redis.call('ZREM', revlog, om)\n"                                                    \
    "    if tonumber(old) and tonumber(old) > value then value = tonumber(old) end\n"         \
    "    if os and tonumber(os) > untl then untl = tonumber(os) end\n"                        \
    "  end\n"                                                                                  \
    "  local vs = string.format('%d', value)\n"                                               \
    "  local ttl = untl - now\n"                                                               \
    "  if ttl < 1 then ttl = 1 end\n"                                                          \
    "  redis.call('SET', revkey, vs, 'EX', string.format('%d', ttl))\n"                      \
    "  local m = kind .. ' ' .. id .. ' ' .. vs\n"                                             \
    "  redis.call('ZREMRANGEBYSCORE', revlog, '-inf', string.format('%d', now))\n"            \
    "  redis.call('ZADD', revlog, string.format('%d', untl), m)\n"                            \
    "  local top = redis.call('ZRANGE', revlog, -1, -1, 'WITHSCORES')\n"                      \
    "  if top[2] then redis.call('EXPIREAT', revlog, top[2]) end\n"                           \
    "  redis.call('PUBLISH', channel, m)\n"                                                    \
    "end\n"

/*
 * ag_usess_touch(usess, sid, ttl[, tm]): keeps session <sid> in its subject's index <usess>
 * (sorted set, score = the session's end of life by Redis's clock, in seconds with
 * microsecond decimals so that the order is the order of use even within a second: the
 * per-subject cap ends the lowest; a double holds them exactly enough until 2106), prunes
 * members past their end, and makes <usess> expire with its longest-lived member. <tm> is
 * the script's TIME when it has read it already.
 *
 * ag_usess_renew(usess, sid, ttl, tm): the same for a session that is in the index, as at
 * every rotation, in two calls instead of five: the new score, then the index's expiry
 * moved out only when it ends before that score (every writer keeps the index expiring
 * with its longest-lived member, so nothing else can be later). Members past their end
 * stay until the next create or listing prunes them (both do, and a listing checks each
 * member anyway). A sid that was not in the index (pruned, or the index expired) takes
 * ag_usess_touch()'s whole way.
 */
#define LUA_USESS_TOUCH_FN                                                                    \
    "local function ag_usess_touch(usess, sid, ttl, tm)\n"                                    \
    "  tm = tm or redis.call('TIME')\n"                                                      \
    "  local now = tonumber(tm[1])\n"                                                        \
    "  redis.call('ZREMRANGEBYSCORE', usess, '-inf', string.format('%d', now))\n"            \
    "  redis.call('ZADD', usess, string.format('%d.%06d', now + tonumber(ttl),\n"            \
    "    tonumber(tm[2])), sid)\n"                                                            \
    "  local top = redis.call('ZRANGE', usess, -1, -1, 'WITHSCORES')\n"                      \
    "  if top[2] then redis.call('EXPIREAT', usess, math.ceil(tonumber(top[2]))) end\n"     \
    "end\n"                                                                                  \
    "local function ag_usess_renew(usess, sid, ttl, tm)\n"                                    \
    "  local now, us = tonumber(tm[1]), tonumber(tm[2])\n"                                   \
    "  local e = now + tonumber(ttl)\n"                                                      \
    "  if redis.call('ZADD', usess, string.format('%d.%06d', e, us), sid) == 1 then\n"     \
    "    return ag_usess_touch(usess, sid, ttl, tm)\n"                                       \
    "  end\n"                                                                                \
    "  if us > 0 then e = e + 1 end\n"                                                       \
    "  local left = redis.call('PTTL', usess)\n"                                             \
    "  if left < 0 or now * 1000 + math.floor(us / 1000) + left < e * 1000 then\n"          \
    "    redis.call('EXPIREAT', usess, e)\n"                                                 \
    "  end\n"                                                                                \
    "end\n"

/* A user record's fields, in the order every reader (HMGET) asks for them (store/user.c). */
#define LUA_USER_FIELDS                                                                       \
    "'id', 'email', 'username', 'hash', 'is_active', 'is_staff', 'is_superuser', 'roles', "  \
    "'created_at', 'password_changed_at', 'failures', 'locked_until', 'fields'"
#define LUA_USER_NFIELDS 13

/*
 * ag_user_index(p, id, uname, email, score, old): the user index of namespace prefix <p>
 * (docs/redis-keys.md "The user index"), kept by every script that creates, renames or
 * deletes a user, and by the backfill:
 *   `users`       sorted set: the ids in creation order (paging by rank);
 *   `users:t:<b>` string: block <b> of the filter's text, one line "\n<username>\t<email>
 *                 \t<id>" (lower-cased) per user, in creation order; a filter reads a
 *                 whole block with one GET and finds <q> with plain string.find;
 *   `users:tb`    sorted set of the block numbers, `users:tn` (hash: block -> lines),
 *                 `users:tlast` and `users:tlast:old` the blocks being filled;
 *   `users:q`     hash: id -> the block holding its line.
 * <uname> nil: <id> leaves the index. <score>: "now" (Redis's clock in microseconds,
 * later than every earlier create), a number, or nil (the place in `users` is kept: a
 * rename, or a backfilled user). A new line goes to the last block of the new users, or
 * with <old> to the blocks of the users written before the index (numbered from
 * -1000000000 up, so before every new one). A line changed in place keeps its position.
 */
#define LUA_USER_INDEX_FN                                                                     \
    "local function ag_user_index(p, id, uname, email, score, old)\n"                         \
    "  local b = redis.call('HGET', p .. 'users:q', id)\n"                                     \
    "  local line = uname and ('\\n' .. string.lower(uname) .. '\\t' .. string.lower(email) ..\n" \
    "    '\\t' .. id)\n"                                                                        \
    "  if score == 'now' then\n"                                                               \
    "    local tm = redis.call('TIME')\n"                                                      \
    "    score = tonumber(tm[1]) * 1000000 + tonumber(tm[2])\n"                               \
    "  end\n"                                                                                  \
    "  if score then redis.call('ZADD', p .. 'users', string.format('%d', score), id) end\n"  \
    "  if not uname then redis.call('ZREM', p .. 'users', id) end\n"                          \
    "  if b then\n"                                                                            \
    "    local k = p .. 'users:t:' .. b\n"                                                     \
    "    local t = (redis.call('GET', k) or '') .. '\\n'\n"                                    \
    "    local e = string.find(t, '\\t' .. id .. '\\n', 1, true)\n"                           \
    "    if e then\n"                                                                          \
    "      local s = e - string.find(string.reverse(string.sub(t, 1, e)), '\\n', 1, true) + 1\n" \
    "      local rest = string.sub(t, e + #id + 1, -2)\n"                                      \
    "      redis.call('SET', k, string.sub(t, 1, s - 1) .. (line or '') .. rest)\n"           \
    "      if not line then redis.call('HINCRBY', p .. 'users:tn', b, -1) end\n"             \
    "    end\n"                                                                                \
    "    if line then return end\n"                                                            \
    "    redis.call('HDEL', p .. 'users:q', id)\n"                                             \
    "    return\n"                                                                             \
    "  end\n"                                                                                  \
    "  if not line then return end\n"                                                          \
    "  local lk = p .. (old and 'users:tlast:old' or 'users:tlast')\n"                        \
    "  local nb = tonumber(redis.call('GET', lk) or (old and '-1000000000' or '0'))\n"        \
    "  if tonumber(redis.call('HGET', p .. 'users:tn', nb) or '0') >= 1000 then\n"            \
    "    nb = nb + 1\n"                                                                        \
    "    redis.call('SET', lk, nb)\n"                                                          \
    "  end\n"                                                                                  \
    "  redis.call('ZADD', p .. 'users:tb', nb, nb)\n"                                          \
    "  redis.call('APPEND', p .. 'users:t:' .. nb, line)\n"                                    \
    "  redis.call('HINCRBY', p .. 'users:tn', nb, 1)\n"                                        \
    "  redis.call('HSET', p .. 'users:q', id, nb)\n"                                           \
    "end\n"

/*
 * ag_watermark(p, sub): the subject's logout-all watermark T, or nil.
 * ag_live(p, sub, wm, sid): the fields of session <sid> when it is live and <sub>'s (not
 * expired, not revoked, created after the watermark), else nil. Same rules as rotate.
 * ag_sess_kill(p, usess, revlog, chan, sid, untl): ends session <sid> as ag_sess_revoke()
 * does (keys deleted, out of the index <usess>, revoked until <untl> or its 'aend').
 */
#define LUA_SESS_LIVE_FN                                                                      \
    "local function ag_watermark(p, sub)\n"                                                   \
    "  local t = redis.call('GET', p .. 'rev:sub:' .. sub)\n"                                 \
    "  if t then return tonumber(t) end\n"                                                     \
    "  return nil\n"                                                                           \
    "end\n"                                                                                    \
    "local function ag_live(p, sub, wm, sid)\n"                                               \
    "  local f = redis.call('HMGET', p .. 'sess:' .. sid, 'subject', 'client_id', 'ip',\n"    \
    "    'ua', 'created', 'last_used')\n"                                                      \
    "  if f[1] ~= sub then return nil end\n"                                                   \
    "  if redis.call('EXISTS', p .. 'rev:sid:' .. sid) == 1 then return nil end\n"           \
    "  if wm and (tonumber(f[5] or '0') or 0) <= wm then return nil end\n"                   \
    "  return f\n"                                                                             \
    "end\n"                                                                                    \
    "local function ag_sess_kill(p, usess, revlog, chan, sid, untl)\n"                        \
    "  local u = tonumber(redis.call('HGET', p .. 'sess:' .. sid, 'aend') or '0') or 0\n"     \
    "  if u < untl then u = untl end\n"                                                        \
    "  redis.call('DEL', p .. 'sess:' .. sid, p .. 'sess:' .. sid .. ':old')\n"              \
    "  redis.call('ZREM', usess, sid)\n"                                                       \
    "  ag_revoke(p .. 'rev:sid:' .. sid, revlog, 'sid', sid, u, u, chan)\n"                  \
    "end\n"

/* The texts, one per enum ag_store__script (store/scripts.c puts them in order). */
extern const char ag_sess__lua_create[];   /* store/session.c */
extern const char ag_sess__lua_rotate[];   /* store/session.c */
extern const char ag_sess__lua_revoke[];   /* store/session.c */
extern const char ag_user__lua_create[];   /* store/user.c */
extern const char ag_user__lua_find[];     /* store/user.c */
extern const char ag_user__lua_login[];    /* store/user.c */
extern const char ag_user__lua_update[];   /* store/user.c */
extern const char ag_user__lua_sessions[]; /* store/user.c */
extern const char ag_user__lua_revoke[];   /* store/user.c */
extern const char ag_user__lua_profile[];  /* store/user.c */
extern const char ag_rl__lua_hit[];        /* store/ratelimit.c */
extern const char ag_sess__lua_legacy[];   /* store/session.c */
extern const char ag_users__lua_page[];    /* store/users.c */
extern const char ag_users__lua_search[];  /* store/users.c */
extern const char ag_users__lua_backfill[]; /* store/users.c */
extern const char ag_users__lua_update[];  /* store/users.c */
extern const char ag_users__lua_delete[];  /* store/users.c */
extern const char ag_apikey__lua_create[]; /* store/apikeys.c */
extern const char ag_apikey__lua_list[];   /* store/apikeys.c */
extern const char ag_apikey__lua_revoke[]; /* store/apikeys.c */
extern const char ag_apikey__lua_lookup[]; /* store/apikeys.c */
extern const char ag_apikey__lua_touch[];  /* store/apikeys.c */
extern const char ag_sess__lua_unconfirmed[]; /* store/session.c */

#endif
