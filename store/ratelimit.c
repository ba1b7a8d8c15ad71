/*
 * store/ratelimit.c - fixed-window rate limits in Redis: one counter per (bucket name,
 * hashed id, window), several buckets judged and counted in one atomic script.
 *
 * Owns:     nothing long-lived; each call's pending record is owned by store/link.c.
 * Entry:    ag_rl_hit().
 * Not here: which limits apply where, and the 429 (gateway/).
 * Spec:     ISSUE 5 "Abuse resistance"; docs/redis-keys.md.
 */
#include "ratelimit.h"

#include <hiredis/hiredis.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "scripts.h"
#include "store_int.h"

#define RL_BUCKETS_MAX 4
#define RL_NAME_MAX 64        /* bytes of a bucket name */
#define RL_ID_MAX 4096        /* bytes of an id (it is hashed, but kept bounded) */
#define RL_WINDOW_MAX 31622400 /* s: a window of at most a year */
#define RL_HASH_BYTES 16      /* BLAKE2b output: 32 hex digits in the key */
#define RL_KEY_MAX (RL_NAME_MAX + 2 * RL_HASH_BYTES + 320)

/*
 * KEYS one counter per bucket; ARGV limit, window (s) per bucket, in the same order.
 * When some counter is at its limit, counts nothing and returns {-1, wait}: the longest
 * time (s, >= 1) until a full one expires. Else counts one hit in each (a new counter
 * lives <window> seconds from its first hit) and returns {1, 0}.
 */
const char ag_rl__lua_hit[] =
    "local wait = 0\n"
    "for i = 1, #KEYS do\n"
    "  local c = tonumber(redis.call('GET', KEYS[i]) or '0') or 0\n"
    "  if c >= tonumber(ARGV[2 * i - 1]) then\n"
    "    local ms = redis.call('PTTL', KEYS[i])\n"
    "    if ms < 0 then\n"
    "      ms = tonumber(ARGV[2 * i]) * 1000\n"
    "      redis.call('PEXPIRE', KEYS[i], ms)\n"
    "    end\n"
    "    local s = math.ceil(ms / 1000)\n"
    "    if s < 1 then s = 1 end\n"
    "    if s > wait then wait = s end\n"
    "  end\n"
    "end\n"
    "if wait > 0 then return {-1, wait} end\n"
    "for i = 1, #KEYS do\n"
    "  if redis.call('INCR', KEYS[i]) == 1 then\n"
    "    redis.call('EXPIRE', KEYS[i], ARGV[2 * i])\n"
    "  end\n"
    "end\n"
    "return {1, 0}\n";

int ag_rl__key(char *buf, size_t cap, const struct ag_store *st, const char *name, const char *id)
{
    unsigned char h[RL_HASH_BYTES];
    char hex[2 * RL_HASH_BYTES + 2];
    size_t id_len = strlen(id);

    if (id_len > RL_ID_MAX ||
        crypto_generichash(h, sizeof(h), (const unsigned char *)id, id_len, NULL, 0) != 0)
        return -1;
    hex[0] = ':';
    sodium_bin2hex(hex + 1, sizeof(hex) - 1, h, sizeof(h));
    return ag_store__key(buf, cap, st, "rl:", name, hex);
}

static void on_hit_reply(const struct redisReply *r, ag_store__any_fn *cb, void *arg)
{
    ag_rl_fn *fn = (ag_rl_fn *)cb;
    enum ag_rl_status s = AG_RL_DOWN;
    long wait = 0;

    if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[0]->type == REDIS_REPLY_INTEGER &&
        r->element[1]->type == REDIS_REPLY_INTEGER) {
        if (r->element[0]->integer == 1) {
            s = AG_RL_OK;
        } else if (r->element[0]->integer == -1) {
            s = AG_RL_OVER;
            wait = r->element[1]->integer >= 1 ? (long)r->element[1]->integer : 1;
        }
    }
    if (fn != NULL)
        fn(s, wait, arg);
}

int ag_rl_hit(struct ag_store *st, const struct ag_rl_bucket *b, size_t n, ag_rl_fn *cb,
              void *arg)
{
    char keys[RL_BUCKETS_MAX][RL_KEY_MAX], nums[RL_BUCKETS_MAX][2][24];
    const char *argv[3 * RL_BUCKETS_MAX];
    size_t lens[3 * RL_BUCKETS_MAX];
    int argc = 0;

    if (st == NULL || b == NULL || cb == NULL || n < 1 || n > RL_BUCKETS_MAX ||
        sodium_init() < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        size_t name_len = b[i].name != NULL ? strlen(b[i].name) : 0;
        if (name_len == 0 || name_len > RL_NAME_MAX || memchr(b[i].name, ' ', name_len) ||
            b[i].id == NULL || b[i].limit <= 0 || b[i].window <= 0 ||
            b[i].window > RL_WINDOW_MAX || ag_rl__key(keys[i], sizeof(keys[i]), st, b[i].name, b[i].id) < 0)
            return -1;
        snprintf(nums[i][0], sizeof(nums[i][0]), "%ld", b[i].limit);
        snprintf(nums[i][1], sizeof(nums[i][1]), "%ld", b[i].window);
        argv[i] = keys[i];
    }
    argc = (int)n;
    for (size_t i = 0; i < n; i++) {
        argv[argc++] = nums[i][0];
        argv[argc++] = nums[i][1];
    }
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    return ag_store__eval(st, AG_STORE__RL_HIT, (int)n, argc, argv, lens, on_hit_reply,
                          (ag_store__any_fn *)cb, arg);
}
