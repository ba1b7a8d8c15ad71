/*
 * store/scripts.h - the Lua scripts of store/: the text of each one (defined next to
 * the C code that builds its KEYS and ARGV) and the Lua helpers several scripts share.
 *
 * Owns:     nothing; the table of texts is store/scripts.c, loading is store/link.c.
 * Entry:    ag_store__script_text[] (store_int.h), LUA_REVOKE_FN.
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
 * ag_store__deadline_ms()). A write script that starts late must change nothing: the
 * gateway has answered 503 by then, and a write the client never heard of (a rotation, a
 * registration) must not happen behind its back.
 */
#define LUA_LATE_FN                                                                          \
    "local function ag_late(deadline)\n"                                                     \
    "  local tm = redis.call('TIME')\n"                                                      \
    "  return tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000) > tonumber(deadline)\n" \
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
 * ag_usess_touch(usess, sid, ttl): keeps session <sid> in its subject's index <usess>
 * (sorted set, score = the session's end of life by Redis's clock, in seconds with
 * microsecond decimals so that the order is the order of use even within a second: the
 * per-subject cap ends the lowest; a double holds them exactly enough until 2106), prunes
 * members past their end, and makes <usess> expire with its longest-lived member.
 */
#define LUA_USESS_TOUCH_FN                                                                    \
    "local function ag_usess_touch(usess, sid, ttl)\n"                                        \
    "  local tm = redis.call('TIME')\n"                                                       \
    "  local now = tonumber(tm[1])\n"                                                         \
    "  redis.call('ZREMRANGEBYSCORE', usess, '-inf', string.format('%d', now))\n"             \
    "  redis.call('ZADD', usess, string.format('%d.%06d', now + tonumber(ttl),\n"             \
    "    tonumber(tm[2])), sid)\n"                                                             \
    "  local top = redis.call('ZRANGE', usess, -1, -1, 'WITHSCORES')\n"                       \
    "  if top[2] then redis.call('EXPIREAT', usess, math.ceil(tonumber(top[2]))) end\n"      \
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
extern const char ag_rl__lua_hit[];        /* store/ratelimit.c */
extern const char ag_sess__lua_legacy[];   /* store/session.c */

#endif
