/*
 * store/users.c - the user base for administrators: the user index (`users`, `users:q`;
 * written by every script that creates or deletes a user through ag_user_index), pages
 * of it with or without a substring filter (the filter scans in short slices), the
 * backfill of users written before the index, and the admin's update and delete, each
 * publishing the revocations it causes.
 *
 * Owns:     struct users_op, from a listing's or backfill's call to its callback.
 * Entry:    ag_users_list(), ag_users_update(), ag_users_delete(), ag_users_backfill().
 * Not here: one user's record and sessions (store/user.c), the revocation helper and
 *           the feed's format (store/scripts.h, store/feed.c), HTTP (gateway/ep/ep_admin.c).
 * Spec:     CONTRACT.md section 13; docs/redis-keys.md; docs/admin.md "The index".
 */
#include "users.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scripts.h"
#include "store_int.h"

#define USERS_KEY_MAX 1400    /* a key: prefix + id, or the roles of an update */
#define USERS_WALK 1024       /* sessions one update or delete walks; beyond, a watermark */
#define USERS_BACKFILL_COUNT "1000" /* SCAN COUNT of one backfill slice */
#define USERS_CALLS_MAX 10000000    /* calls of one backfill or scan before it gives up (DOWN) */
#define USERS_CHUNK 50              /* records one page script reads */
#define USERS_PLACE_COUNT "500"     /* ids one placing slice of the backfill looks at */
#define USERS_SEARCH_BLOCKS 1       /* text blocks (1000 lines each) one filter slice reads */
#define USERS_NFIELDS_S "13"  /* LUA_USER_NFIELDS, as Lua text */

/* ---------------------------------------------------------------- Lua */

/*
 * ARGV prefix, "range", offset, limit | prefix, "ids", id...
 * {-1} when the index was never filled (the namespace's marker `users:indexed` is
 * absent: ag_users_backfill() first). "range": {1, the index's size, the ids at ranks
 * offset .. offset + limit - 1}. "ids": {1, 0, the USER_FIELDS of each user} (at most
 * USERS_CHUNK ids a call, so that a script stays short); ids whose record is gone are
 * left out.
 */
const char ag_users__lua_page[] =
    "local p = ARGV[1]\n"
    "if redis.call('EXISTS', p .. 'users:indexed') == 0 then return {-1} end\n"
    "if ARGV[2] == 'range' then\n"
    "  local o = tonumber(ARGV[3])\n"
    "  local out = {1, redis.call('ZCARD', p .. 'users')}\n"
    "  for _, id in ipairs(redis.call('ZRANGE', p .. 'users', o, o + tonumber(ARGV[4]) - 1)) do\n"
    "    out[#out + 1] = id\n"
    "  end\n"
    "  return out\n"
    "end\n"
    "local out = {1, 0}\n"
    "for i = 3, #ARGV do\n"
    "  local f = redis.call('HMGET', p .. 'user:' .. ARGV[i], " LUA_USER_FIELDS ")\n"
    "  if f[1] then\n"
    "    for j = 1, " USERS_NFIELDS_S " do out[#out + 1] = f[j] end\n"
    "  end\n"
    "end\n"
    "return out\n";

/*
 * ARGV prefix, "scan", cursor, count, pattern | prefix, "place", rank, count.
 * One slice of the backfill of users written before the index. "scan": SCAN from
 * <cursor> for `user:*` (the prefix glob-escaped) and put every user record found that
 * is not in `users` there, scored by its created_at (before every user indexed at
 * creation, whose score is Redis's clock in microseconds). "place": the ids at ranks
 * <rank> .. <rank> + <count> - 1 whose line is in no text block get one, in the blocks
 * of older users, in this order; after the last, the marker `users:indexed`.
 * {1, "0"} the phase is done (or the marker was set before), else {0, next cursor or rank}.
 */
const char ag_users__lua_backfill[] = LUA_USER_INDEX_FN
    "local p = ARGV[1]\n"
    "if redis.call('EXISTS', p .. 'users:indexed') == 1 then return {1, '0'} end\n"
    "if ARGV[2] == 'scan' then\n"
    "  local r = redis.call('SCAN', ARGV[3], 'MATCH', ARGV[5], 'COUNT', ARGV[4])\n"
    "  for _, k in ipairs(r[2]) do\n"
    "    if redis.call('TYPE', k).ok == 'hash' then\n"
    "      local f = redis.call('HMGET', k, 'id', 'username', 'email', 'created_at')\n"
    "      if f[1] and f[2] and f[3] and k == p .. 'user:' .. f[1] and\n"
    "         not redis.call('ZSCORE', p .. 'users', f[1]) then\n"
    "        redis.call('ZADD', p .. 'users', string.format('%d',\n"
    "          (tonumber(f[4] or '0') or 0) * 1000000), f[1])\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  if r[1] == '0' then return {1, '0'} end\n"
    "  return {0, r[1]}\n"
    "end\n"
    "local r = tonumber(ARGV[3])\n"
    "local ids = redis.call('ZRANGE', p .. 'users', r, r + tonumber(ARGV[4]) - 1)\n"
    "for _, id in ipairs(ids) do\n"
    "  if redis.call('HEXISTS', p .. 'users:q', id) == 0 then\n"
    "    local f = redis.call('HMGET', p .. 'user:' .. id, 'username', 'email')\n"
    "    if f[1] and f[2] then ag_user_index(p, id, f[1], f[2], nil, true) end\n"
    "  end\n"
    "end\n"
    "if #ids < tonumber(ARGV[4]) then\n"
    "  redis.call('SET', p .. 'users:indexed', '1')\n"
    "  return {1, '0'}\n"
    "end\n"
    "return {0, tostring(r + #ids)}\n";

/*
 * ARGV prefix, q, from, blocks, skip, take. One slice of a filtered listing: the text
 * blocks numbered from <from> ("-inf", or "(<last>" to go on after block <last>), at
 * most <blocks> of them, each read whole and searched for <q> (plain, lower-case) line
 * by line; a line counts once, when <q> is in its username or email (before its last
 * tab: never in the id). {-1} as page; else {1, the last block read or "", the
 * matches, the blocks read, then the ids of the matches after the first <skip>, at most
 * <take>}. Bounded work: <blocks> x 1000 lines.
 */
const char ag_users__lua_search[] =
    "local p, q = ARGV[1], ARGV[2]\n"
    "if redis.call('EXISTS', p .. 'users:indexed') == 0 then return {-1} end\n"
    "local bl = redis.call('ZRANGEBYSCORE', p .. 'users:tb', ARGV[3], '+inf', 'LIMIT', 0,\n"
    "  tonumber(ARGV[4]))\n"
    "local skip, take = tonumber(ARGV[5]), tonumber(ARGV[6])\n"
    "local out, m = {1, '', 0, #bl}, 0\n"
    "for _, b in ipairs(bl) do\n"
    "  local t = redis.call('GET', p .. 'users:t:' .. b) or ''\n"
    "  local at = 1\n"
    "  while true do\n"
    "    local f = string.find(t, q, at, true)\n"
    "    if not f then break end\n"
    "    local eol = string.find(t, '\\n', f, true) or (#t + 1)\n"
    "    local tab = string.find(t, '\\t', f, true)\n"
    "    if tab and tab < eol then\n"
    "      m = m + 1\n"
    "      if m > skip and m <= skip + take then\n"
    "        out[#out + 1] = string.match(string.sub(t, tab + 1, eol - 1), '([^\\t]*)$')\n"
    "      end\n"
    "    end\n"
    "    at = eol\n"
    "  end\n"
    "  out[2] = b\n"
    "end\n"
    "out[3] = m\n"
    "return out\n";

/*
 * ag_user_end(p, id, usess, revlog, chan, untl, window, walk): every session and access
 * token of user <id> ends, on every instance: each live session of the index <usess> is
 * killed (ag_sess_kill: keys deleted, sid revoked until <untl> or its 'aend', published),
 * then the subject watermark `rev:sub` = now (sessions created at or before it are
 * refused by rotate; access tokens issued before it by every instance) lives <window> s.
 * An index larger than <walk> is not walked: the watermark is now + 1 instead, which
 * also takes the tokens of this second.
 *
 * ag_user_tokens(p, id, usess, revlog, chan, window, walk): the access tokens of user
 * <id> end, its sessions live on: `rev:tok` = T (tokens issued before T) where T is now,
 * or later when a session minted later by the gateway's clock; the tokens minted in
 * that second are revoked by jti (each live session keeps their ids in 'ajt', written
 * by store/session.c: "<second> <jti>..." or "<second> *" when there were too many,
 * which moves T past that second). A refresh after this script mints with a new jti and
 * the new roles, so it passes.
 */
#define LUA_USER_END_FN                                                                       \
    "local function ag_user_end(p, id, usess, revlog, chan, untl, window, walk)\n"            \
    "  local now = tonumber(redis.call('TIME')[1])\n"                                          \
    "  local wm, t = ag_watermark(p, id), now\n"                                                \
    "  if redis.call('ZCARD', usess) > walk then\n"                                            \
    "    t = now + 1\n"                                                                        \
    "  else\n"                                                                                 \
    "    for _, sid in ipairs(redis.call('ZRANGE', usess, 0, -1)) do\n"                        \
    "      if ag_live(p, id, wm, sid) then ag_sess_kill(p, usess, revlog, chan, sid, untl) end\n" \
    "    end\n"                                                                                \
    "  end\n"                                                                                  \
    "  redis.call('DEL', usess)\n"                                                             \
    "  ag_revoke(p .. 'rev:sub:' .. id, revlog, 'sub', id, t, now + window, chan)\n"          \
    "end\n"                                                                                    \
    "local function ag_user_tokens(p, id, usess, revlog, chan, window, walk)\n"               \
    "  local now = tonumber(redis.call('TIME')[1])\n"                                          \
    "  local wm, t = ag_watermark(p, id), now\n"                                                \
    "  if redis.call('ZCARD', usess) > walk then t = now + 1 end\n"                           \
    "  for _, sid in ipairs(redis.call('ZRANGE', usess, 0, walk - 1)) do\n"                    \
    "    if ag_live(p, id, wm, sid) then\n"                                                    \
    "      local f = redis.call('HMGET', p .. 'sess:' .. sid, 'ajt', 'aend')\n"               \
    "      local sec = nil\n"                                                                  \
    "      for w in string.gmatch(f[1] or '', '%S+') do\n"                                     \
    "        if not sec then\n"                                                                \
    "          sec = tonumber(w) or 0\n"                                                       \
    "          if sec > t then t = sec end\n"                                                  \
    "        elseif w == '*' then\n"                                                           \
    "          if sec + 1 > t then t = sec + 1 end\n"                                          \
    "        else\n"                                                                           \
    "          local u = tonumber(f[2] or '0') or 0\n"                                         \
    "          if u < now + window then u = now + window end\n"                               \
    "          ag_revoke(p .. 'rev:jti:' .. w, revlog, 'jti', w, u, u, chan)\n"               \
    "        end\n"                                                                            \
    "      end\n"                                                                              \
    "    end\n"                                                                                \
    "  end\n"                                                                                  \
    "  ag_revoke(p .. 'rev:tok:' .. id, revlog, 'tok', id, t, t + window, chan)\n"            \
    "end\n"

/*
 * KEYS user, usess, revlog; ARGV prefix, id, is_active, is_staff, is_superuser ("0",
 * "1", or "" to keep), roles_set ("1": roles = ARGV[7]), roles, channel, sess_until,
 * watermark_window, tokens_window, walk, deadline.
 * {1, what, the USER_FIELDS of the new record}: what "sessions" (is_active went from 1
 * to 0: ag_user_end), "tokens" (staff, superuser or a role went: ag_user_tokens) or "";
 * {-1} no such user; {-5} late (nothing written).
 */
const char ag_users__lua_update[] = LUA_LATE_FN LUA_REVOKE_FN LUA_SESS_LIVE_FN LUA_USER_END_FN
    "if ag_late(ARGV[13]) then return {-5} end\n"
    "local p, id, chan = ARGV[1], ARGV[2], ARGV[8]\n"
    "if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end\n"
    "local o = redis.call('HMGET', KEYS[1], 'is_active', 'is_staff', 'is_superuser', 'roles')\n"
    "local n = {o[1] or '0', o[2] or '0', o[3] or '0', o[4] or ''}\n"
    "for i = 1, 3 do\n"
    "  if ARGV[2 + i] ~= '' then n[i] = ARGV[2 + i] end\n"
    "end\n"
    "if ARGV[6] == '1' then n[4] = ARGV[7] end\n"
    "redis.call('HSET', KEYS[1], 'is_active', n[1], 'is_staff', n[2], 'is_superuser', n[3],\n"
    "  'roles', n[4])\n"
    "local what = ''\n"
    "if o[1] == '1' and n[1] ~= '1' then\n"
    "  ag_user_end(p, id, KEYS[2], KEYS[3], chan, tonumber(ARGV[9]), tonumber(ARGV[10]),\n"
    "    tonumber(ARGV[12]))\n"
    "  what = 'sessions'\n"
    "else\n"
    "  local lost = (o[2] == '1' and n[2] ~= '1') or (o[3] == '1' and n[3] ~= '1')\n"
    "  local kept = {}\n"
    "  for r in string.gmatch(n[4], '%S+') do kept[r] = true end\n"
    "  for r in string.gmatch(o[4] or '', '%S+') do\n"
    "    if not kept[r] then lost = true end\n"
    "  end\n"
    "  if lost then\n"
    "    ag_user_tokens(p, id, KEYS[2], KEYS[3], chan, tonumber(ARGV[11]), tonumber(ARGV[12]))\n"
    "    what = 'tokens'\n"
    "  end\n"
    "end\n"
    "local f = redis.call('HMGET', KEYS[1], " LUA_USER_FIELDS ")\n"
    "local out = {1, what}\n"
    "for i = 1, " USERS_NFIELDS_S " do out[#out + 1] = f[i] end\n"
    "return out\n";

/*
 * KEYS user, usess, revlog; ARGV prefix, id, channel, sess_until, watermark_window,
 * walk, deadline. Deletes the record, its `uname:` and `email:` keys (when they still
 * name this id), its API keys (`ukeys:`, `apikey:`) and its index entries, and ends its
 * sessions and tokens (ag_user_end).
 * 1, -1 (no such user) or -5 (late: nothing written).
 */
const char ag_users__lua_delete[] = LUA_LATE_FN LUA_REVOKE_FN LUA_SESS_LIVE_FN
    LUA_USER_END_FN LUA_USER_INDEX_FN
    "if ag_late(ARGV[7]) then return -5 end\n"
    "local p, id = ARGV[1], ARGV[2]\n"
    "if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end\n"
    "local f = redis.call('HMGET', KEYS[1], 'username', 'email')\n"
    "for i, what in ipairs({'uname:', 'email:'}) do\n"
    "  if f[i] then\n"
    "    local k = p .. what .. string.lower(f[i])\n"
    "    if redis.call('GET', k) == id then redis.call('DEL', k) end\n"
    "  end\n"
    "end\n"
    "redis.call('DEL', KEYS[1])\n"
    "for _, k in ipairs(redis.call('SMEMBERS', p .. 'ukeys:' .. id)) do\n"
    "  redis.call('DEL', p .. 'apikey:' .. k)\n"
    "end\n"
    "redis.call('DEL', p .. 'ukeys:' .. id)\n"
    "ag_user_index(p, id, nil)\n"
    "ag_user_end(p, id, KEYS[2], KEYS[3], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]),\n"
    "  tonumber(ARGV[6]))\n"
    "return 1\n";

/* ---------------------------------------------------------------- helpers */

static void fmt_i64(char *buf, size_t cap, int64_t v)
{
    snprintf(buf, cap, "%lld", (long long)v);
}

static int users_eval(struct ag_store *st, enum ag_store__script script, int nkeys, int argc,
                      const char **argv, ag_store__reply_fn *fn, ag_store__any_fn *cb, void *arg)
{
    size_t *lens = malloc((size_t)argc * sizeof(*lens));
    int rc;

    if (lens == NULL)
        return -1;
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    rc = ag_store__eval(st, script, nkeys, argc, argv, lens, fn, cb, arg);
    free(lens);
    return rc;
}

/* The keys of user <id>: record, session index, revocation log, channel, prefix. */
struct users_keys {
    char user[USERS_KEY_MAX], usess[USERS_KEY_MAX], revlog[USERS_KEY_MAX];
    char chan[USERS_KEY_MAX], prefix[USERS_KEY_MAX];
};

static int users_keys(struct users_keys *k, const struct ag_store *st, const char *id)
{
    if (id == NULL || id[0] == '\0' || strlen(id) > AG_USER_ID_MAX ||
        ag_store__key(k->user, sizeof(k->user), st, "user:", id, "") < 0 ||
        ag_store__key(k->usess, sizeof(k->usess), st, "usess:", id, "") < 0 ||
        ag_store__key(k->revlog, sizeof(k->revlog), st, "revlog", "", "") < 0 ||
        ag_store__key(k->chan, sizeof(k->chan), st, "revoked", "", "") < 0 ||
        ag_store__key(k->prefix, sizeof(k->prefix), st, "", "", "") < 0)
        return -1;
    return 0;
}

/* ---------------------------------------------------------------- listing and backfill */

enum users_op_kind { USERS_OP_LIST = 1, USERS_OP_BACKFILL = 2 };

/* One user of a page, its strings in <buf> (id, email, username, roles, each NUL-ended). */
struct users_rec {
    struct ag_user u;
    char *buf;
};

/* A listing or a backfill between its Redis calls (heap; freed before its callback returns). */
struct users_op {
    struct ag_store *st;
    enum users_op_kind kind;
    ag_store__any_fn *cb;      /* ag_users_page_fn (LIST) or ag_user_fn (BACKFILL) */
    void *arg;
    char prefix[USERS_KEY_MAX];
    char *q;                   /* the filter, lower-cased, or NULL: none */
    int64_t offset;
    size_t limit;
    int64_t total;             /* the index's size, or the filter's matches so far */
    char from[40];             /* the filter's next block: "-inf" or "(<last block read>" */
    bool placing;              /* the backfill's second phase: lines for the ids found */
    char **ids;                /* the page's ids (at most <limit>) */
    size_t nids, fetched;      /* ids, and how many of them were fetched */
    struct users_rec *recs;    /* the page's records (at most <limit>) */
    size_t nrecs;
    char cursor[32];           /* the backfill's SCAN cursor, or rank when placing */
    long calls;                /* calls of a backfill or a filter, against a runaway */
    bool backfilled;           /* a listing already ran a backfill: not twice */
};

static void users_op_free(struct users_op *op)
{
    for (size_t i = 0; i < op->nids; i++)
        free(op->ids[i]);
    for (size_t i = 0; i < op->nrecs; i++)
        free(op->recs[i].buf);
    free(op->ids);
    free(op->recs);
    free(op->q);
    free(op);
}

/* Ends <op> with <s> (its page, when OK and a listing), then frees it. */
static void users_op_end(struct users_op *op, enum ag_user_status s)
{
    if (op->kind == USERS_OP_LIST) {
        struct ag_user *u = NULL;
        size_t n = s == AG_USER_OK ? op->nrecs : 0;

        if (n > 0 && (u = calloc(n, sizeof(*u))) == NULL)
            s = AG_USER_DOWN, n = 0;
        for (size_t i = 0; i < n; i++)
            u[i] = op->recs[i].u;
        ((ag_users_page_fn *)op->cb)(s, u, n, s == AG_USER_OK ? op->total : 0, op->arg);
        free(u);
    } else {
        ((ag_user_fn *)op->cb)(s, NULL, op->arg);
    }
    users_op_free(op);
}

static int users_list_step(struct users_op *op);
static int users_backfill_step(struct users_op *op);
static int users_search_step(struct users_op *op);
static int users_records_step(struct users_op *op);

/* Runs <op>'s next call, or ends it with DOWN when that could not start. */
static void users_op_next(struct users_op *op, int (*step)(struct users_op *))
{
    if (step(op) < 0)
        users_op_end(op, AG_USER_DOWN);
}

static void on_backfill_reply(const struct redisReply *r, ag_store__any_fn *cb, void *arg)
{
    struct users_op *op = arg;

    (void)cb;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_STRING ||
        r->element[1]->len >= sizeof(op->cursor) || ++op->calls > USERS_CALLS_MAX) {
        users_op_end(op, AG_USER_DOWN);
        return;
    }
    if (r->element[0]->integer != 1 || !op->placing) {
        /* the next slice; after the scan's last, the placing from rank 0 */
        if (r->element[0]->integer == 1)
            op->placing = true;
        memcpy(op->cursor, r->element[1]->str, r->element[1]->len + 1);
        users_op_next(op, users_backfill_step);
        return;
    }
    if (op->kind == USERS_OP_BACKFILL) {
        users_op_end(op, AG_USER_OK);
        return;
    }
    op->backfilled = true; /* the listing starts over on the filled index */
    op->calls = 0;
    op->placing = false;
    users_op_next(op, users_list_step);
}

/* Writes <s> into <o> with the glob characters of Redis's stringmatchlen() escaped. */
static char *glob_escape(char *o, const char *s)
{
    for (; *s != '\0'; s++) {
        if (strchr("*?[]\\^", *s) != NULL)
            *o++ = '\\';
        *o++ = *s;
    }
    return o;
}

/* One backfill slice from op->cursor: SCAN, then placing. */
static int users_backfill_step(struct users_op *op)
{
    char pattern[2 * USERS_KEY_MAX + 8];

    if (op->placing) {
        const char *argv[4] = {op->prefix, "place", op->cursor, USERS_PLACE_COUNT};
        return users_eval(op->st, AG_STORE__USERS_BACKFILL, 0, 4, argv, on_backfill_reply, NULL,
                          op);
    }
    /* The prefix is matched literally: a glob character in app-name is escaped. */
    memcpy(glob_escape(pattern, op->prefix), "user:*", sizeof("user:*"));
    {
        const char *argv[5] = {op->prefix, "scan", op->cursor, USERS_BACKFILL_COUNT, pattern};
        return users_eval(op->st, AG_STORE__USERS_BACKFILL, 0, 5, argv, on_backfill_reply, NULL,
                          op);
    }
}

/* The index was never filled: a listing fills it once, then starts over. */
static void users_not_indexed(struct users_op *op)
{
    if (op->backfilled) {
        users_op_end(op, AG_USER_DOWN);
        return;
    }
    op->calls = 0;
    op->placing = false;
    strcpy(op->cursor, "0");
    users_op_next(op, users_backfill_step);
}

/* Whether <r> is the page script's {-1}: the index was never filled. */
static bool is_not_indexed(const struct redisReply *r)
{
    return r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
           r->element[0]->type == REDIS_REPLY_INTEGER && r->element[0]->integer == -1;
}

/*
 * The start of every listing reply <r>: true when it is an array to read on; else it
 * answered (DOWN), or the index was never filled and the backfill started.
 */
static bool users_reply_ok(struct users_op *op, const struct redisReply *r)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 1) {
        users_op_end(op, AG_USER_DOWN);
        return false;
    }
    if (is_not_indexed(r)) {
        users_not_indexed(op);
        return false;
    }
    return true;
}

/* Copies the ids r->element[<from>..] into op->ids (room checked by the caller): 0 or -1. */
static int users_take_ids(struct users_op *op, const struct redisReply *r, size_t from)
{
    for (size_t i = from; i < r->elements; i++) {
        if (r->element[i]->type != REDIS_REPLY_STRING ||
            (op->ids[op->nids] = strdup(r->element[i]->str)) == NULL)
            return -1;
        op->nids++;
    }
    return 0;
}

/* A chunk of records: {1, 0, 12 fields per user}, copied into op->recs. */
static void on_records_reply(const struct redisReply *r, ag_store__any_fn *cb, void *arg)
{
    struct users_op *op = arg;
    size_t n;

    (void)cb;
    if (!users_reply_ok(op, r))
        return;
    if (r->elements < 2 || r->element[0]->type != REDIS_REPLY_INTEGER ||
        r->element[0]->integer != 1 || (r->elements - 2) % LUA_USER_NFIELDS != 0)
        goto down;
    n = (r->elements - 2) / LUA_USER_NFIELDS;
    if (op->nrecs + n > op->limit)
        goto down;
    for (size_t i = 0; i < n; i++) {
        struct users_rec *d = &op->recs[op->nrecs];
        struct ag_user u;
        size_t a, b, c, e;

        if (ag_user__from_reply(r->element + 2 + i * LUA_USER_NFIELDS, &u) < 0)
            goto down;
        a = strlen(u.id) + 1, b = strlen(u.email) + 1, c = strlen(u.username) + 1;
        e = strlen(u.roles) + 1;
        if ((d->buf = malloc(a + b + c + e)) == NULL)
            goto down;
        op->nrecs++;
        d->u = u;
        d->u.hash = ""; /* never leaves the store for a listing */
        d->u.id = memcpy(d->buf, u.id, a);
        d->u.email = memcpy(d->buf + a, u.email, b);
        d->u.username = memcpy(d->buf + a + b, u.username, c);
        d->u.roles = memcpy(d->buf + a + b + c, u.roles, e);
    }
    if (op->fetched < op->nids)
        users_op_next(op, users_records_step);
    else
        users_op_end(op, AG_USER_OK);
    return;
down:
    users_op_end(op, AG_USER_DOWN);
}

/* The records of the page's next USERS_CHUNK ids; ends the listing when there are none. */
static int users_records_step(struct users_op *op)
{
    size_t n = op->nids - op->fetched < USERS_CHUNK ? op->nids - op->fetched : USERS_CHUNK;
    const char *argv[2 + USERS_CHUNK] = {op->prefix, "ids"};

    if (n == 0) {
        users_op_end(op, AG_USER_OK);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        argv[2 + i] = op->ids[op->fetched + i];
    op->fetched += n;
    return users_eval(op->st, AG_STORE__USERS_PAGE, 0, (int)n + 2, argv, on_records_reply, NULL,
                      op);
}

/* The page's ids (no filter): {1, size, ids...}. */
static void on_range_reply(const struct redisReply *r, ag_store__any_fn *cb, void *arg)
{
    struct users_op *op = arg;

    (void)cb;
    if (!users_reply_ok(op, r))
        return;
    if (r->elements < 2 || r->element[0]->type != REDIS_REPLY_INTEGER ||
        r->element[1]->type != REDIS_REPLY_INTEGER || r->elements - 2 > op->limit ||
        users_take_ids(op, r, 2) < 0)
        goto down;
    op->total = r->element[1]->integer;
    users_op_next(op, users_records_step);
    return;
down:
    users_op_end(op, AG_USER_DOWN);
}

/* A slice of the filter: {1, last block read, matches, blocks read, ids...}. */
static void on_search_reply(const struct redisReply *r, ag_store__any_fn *cb, void *arg)
{
    struct users_op *op = arg;

    (void)cb;
    if (!users_reply_ok(op, r))
        return;
    if (r->elements < 4 || r->element[0]->type != REDIS_REPLY_INTEGER ||
        r->element[1]->type != REDIS_REPLY_STRING || r->element[1]->len + 2 > sizeof(op->from) ||
        r->element[2]->type != REDIS_REPLY_INTEGER || r->element[3]->type != REDIS_REPLY_INTEGER ||
        r->elements - 4 > op->limit - op->nids || ++op->calls > USERS_CALLS_MAX ||
        users_take_ids(op, r, 4) < 0)
        goto down;
    op->total += r->element[2]->integer;
    if (r->element[3]->integer < USERS_SEARCH_BLOCKS) {
        users_op_next(op, users_records_step); /* the last block was read */
        return;
    }
    snprintf(op->from, sizeof(op->from), "(%s", r->element[1]->str);
    users_op_next(op, users_search_step);
    return;
down:
    users_op_end(op, AG_USER_DOWN);
}

/* The filter's next slice: USERS_SEARCH_BLOCKS text blocks from op->from. */
static int users_search_step(struct users_op *op)
{
    char blocks[24], skip[24], take[24];
    const char *argv[6] = {op->prefix, op->q, op->from, blocks, skip, take};

    fmt_i64(blocks, sizeof(blocks), USERS_SEARCH_BLOCKS);
    fmt_i64(skip, sizeof(skip), op->offset > op->total ? op->offset - op->total : 0);
    fmt_i64(take, sizeof(take), (int64_t)(op->limit - op->nids));
    return users_eval(op->st, AG_STORE__USERS_SEARCH, 0, 6, argv, on_search_reply, NULL, op);
}

/* The first call of a listing: the page's ids (no filter), or the filter's first slice. */
static int users_list_step(struct users_op *op)
{
    char a[24], b[24];

    if (op->q != NULL) {
        strcpy(op->from, "-inf");
        op->total = 0;
        return users_search_step(op);
    }
    fmt_i64(a, sizeof(a), op->offset);
    fmt_i64(b, sizeof(b), (int64_t)op->limit);
    const char *argv[4] = {op->prefix, "range", a, b};
    return users_eval(op->st, AG_STORE__USERS_PAGE, 0, 4, argv, on_range_reply, NULL, op);
}

static struct users_op *users_op_new(struct ag_store *st, enum users_op_kind kind,
                                     ag_store__any_fn *cb, void *arg)
{
    struct users_op *op = calloc(1, sizeof(*op));

    if (op == NULL)
        return NULL;
    if (ag_store__key(op->prefix, sizeof(op->prefix), st, "", "", "") < 0) {
        free(op);
        return NULL;
    }
    op->st = st;
    op->kind = kind;
    op->cb = cb;
    op->arg = arg;
    strcpy(op->cursor, "0");
    return op;
}

int ag_users_list(struct ag_store *st, const char *q, int64_t offset, size_t limit,
                  ag_users_page_fn *cb, void *arg)
{
    struct users_op *op;

    if (st == NULL || cb == NULL || offset < 0 || limit == 0 || limit > AG_USERS_LIMIT_MAX ||
        (q != NULL && strlen(q) > AG_USERS_Q_MAX))
        return -1;
    if ((op = users_op_new(st, USERS_OP_LIST, (ag_store__any_fn *)cb, arg)) == NULL)
        return -1;
    op->offset = offset;
    op->limit = limit;
    if ((op->ids = calloc(limit, sizeof(*op->ids))) == NULL ||
        (op->recs = calloc(limit, sizeof(*op->recs))) == NULL) {
        users_op_free(op);
        return -1;
    }
    if (q != NULL && q[0] != '\0') {
        /* Folded as the index text is (ASCII only, as Lua's string.lower). */
        if ((op->q = strdup(q)) == NULL) {
            users_op_free(op);
            return -1;
        }
        for (char *o = op->q; *o != '\0'; o++)
            if (*o >= 'A' && *o <= 'Z')
                *o = (char)(*o - 'A' + 'a');
    }
    if (users_list_step(op) < 0) {
        users_op_free(op);
        return -1;
    }
    return 0;
}

int ag_users_backfill(struct ag_store *st, ag_user_fn *cb, void *arg)
{
    struct users_op *op;

    if (st == NULL || cb == NULL ||
        (op = users_op_new(st, USERS_OP_BACKFILL, (ag_store__any_fn *)cb, arg)) == NULL)
        return -1;
    if (users_backfill_step(op) < 0) {
        users_op_free(op);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- update, delete */

static void on_update_reply(const struct redisReply *r, ag_store__any_fn *cb, void *arg)
{
    ag_users_update_fn *fn = (ag_users_update_fn *)cb;
    enum ag_users_revoked what = AG_USERS_REVOKED_NONE;
    struct ag_user u;

    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_INTEGER) {
        fn(AG_USER_DOWN, NULL, what, arg);
        return;
    }
    if (r->element[0]->integer == -1) {
        fn(AG_USER_UNKNOWN, NULL, what, arg);
        return;
    }
    if (r->element[0]->integer != 1 || r->elements != 2 + LUA_USER_NFIELDS ||
        r->element[1]->type != REDIS_REPLY_STRING ||
        ag_user__from_reply(r->element + 2, &u) < 0) {
        fn(AG_USER_DOWN, NULL, what, arg);
        return;
    }
    if (strcmp(r->element[1]->str, "sessions") == 0)
        what = AG_USERS_REVOKED_SESSIONS;
    else if (strcmp(r->element[1]->str, "tokens") == 0)
        what = AG_USERS_REVOKED_TOKENS;
    fn(AG_USER_OK, &u, what, arg);
}

static const char *flag_arg(bool set, bool v)
{
    return !set ? "" : v ? "1" : "0";
}

int ag_users_update(struct ag_store *st, const char *id, const struct ag_users_change *c,
                    ag_users_update_fn *cb, void *arg)
{
    struct users_keys k;
    char su[24], ww[24], tw[24], walk[24], dl[24];

    if (st == NULL || c == NULL || cb == NULL || users_keys(&k, st, id) < 0 ||
        (c->set_roles && (c->roles == NULL || strlen(c->roles) > 1024)))
        return -1;
    fmt_i64(su, sizeof(su), c->sess_until);
    fmt_i64(ww, sizeof(ww), c->watermark_window);
    fmt_i64(tw, sizeof(tw), c->tokens_window);
    fmt_i64(walk, sizeof(walk), USERS_WALK);
    fmt_i64(dl, sizeof(dl), ag_store__deadline_ms(st));
    {
        const char *argv[16] = {k.user, k.usess, k.revlog, k.prefix, id,
                                flag_arg(c->set_active, c->is_active),
                                flag_arg(c->set_staff, c->is_staff),
                                flag_arg(c->set_superuser, c->is_superuser),
                                c->set_roles ? "1" : "0", c->set_roles ? c->roles : "",
                                k.chan, su, ww, tw, walk, dl};
        return users_eval(st, AG_STORE__USERS_UPDATE, 3, 16, argv, on_update_reply,
                          (ag_store__any_fn *)cb, arg);
    }
}

static void on_delete_reply(const struct redisReply *r, ag_store__any_fn *cb, void *arg)
{
    enum ag_user_status s = AG_USER_DOWN;

    if (r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 1)
        s = AG_USER_OK;
    else if (r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == -1)
        s = AG_USER_UNKNOWN;
    ((ag_user_fn *)cb)(s, NULL, arg);
}

int ag_users_delete(struct ag_store *st, const char *id, const struct ag_users_change *c,
                    ag_user_fn *cb, void *arg)
{
    struct users_keys k;
    char su[24], ww[24], walk[24], dl[24];

    if (st == NULL || c == NULL || cb == NULL || users_keys(&k, st, id) < 0)
        return -1;
    fmt_i64(su, sizeof(su), c->sess_until);
    fmt_i64(ww, sizeof(ww), c->watermark_window);
    fmt_i64(walk, sizeof(walk), USERS_WALK);
    fmt_i64(dl, sizeof(dl), ag_store__deadline_ms(st));
    {
        const char *argv[10] = {k.user, k.usess, k.revlog, k.prefix, id, k.chan, su, ww,
                                walk, dl};
        return users_eval(st, AG_STORE__USERS_DELETE, 3, 10, argv, on_delete_reply,
                          (ag_store__any_fn *)cb, arg);
    }
}
