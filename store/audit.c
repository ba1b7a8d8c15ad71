/*
 * store/audit.c - the audit stream: XADD "{ns}:audit" MAXLEN ~ <maxlen> * with the
 * event name and its field pairs, shared by every gateway instance; and its reading,
 * newest first, filtered in bounded XREVRANGE slices.
 *
 * Owns:     a read's state and page (struct audit_read) until its callback returned; each
 *           command's pending record is owned by store/link.c.
 * Entry:    ag_audit_append(), ag_audit_read().
 * Not here: which events exist and their JSON log line (gateway/; docs/users.md), the
 *           query's checks and the JSON answer (policy/auditin.c, gateway/ep/ep_audit.c).
 * Spec:     ISSUE 5 "Audit log", ISSUE 13 "Audit"; docs/redis-keys.md, docs/admin.md.
 */
#include "audit.h"

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

#define AUDIT_PAIRS_MAX 16
#define AUDIT_NAME_MAX 64     /* bytes of the event name or of a field name */
#define AUDIT_VALUE_MAX 8192  /* bytes of a field value */
#define AUDIT_KEY_MAX 320

static void on_xadd_reply(const struct redisReply *r, ag_store__any_fn *cb, void *arg)
{
    ag_audit_fn *fn = (ag_audit_fn *)cb;
    bool ok = r != NULL && r->type == REDIS_REPLY_STRING;

    /* XADD answers the new entry's id; anything else (an error, no reply) is DOWN. */
    if (fn != NULL)
        fn(ok ? 1 : -1, ok ? r->str : NULL, arg);
}

static bool name_ok(const char *s)
{
    return s != NULL && s[0] != '\0' && strlen(s) <= AUDIT_NAME_MAX;
}

/*
 * The entry is "event <event>" then the pairs, in order; its stream id carries the
 * Redis time in ms. A field named "event" is refused (it would shadow the name).
 */
int ag_audit_append(struct ag_store *st, long maxlen, const char *event, const char *const *k,
                    const char *const *v, size_t n, ag_audit_fn *cb, void *arg)
{
    char key[AUDIT_KEY_MAX], max[24];
    const char *argv[8 + 2 * AUDIT_PAIRS_MAX] = {"XADD", key, "MAXLEN", "~", max, "*", "event"};
    size_t lens[8 + 2 * AUDIT_PAIRS_MAX];
    int argc = 7;

    if (st == NULL || maxlen <= 0 || !name_ok(event) || n > AUDIT_PAIRS_MAX ||
        (n > 0 && (k == NULL || v == NULL)) ||
        ag_store__key(key, sizeof(key), st, "audit", "", "") < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!name_ok(k[i]) || strcmp(k[i], "event") == 0 || v[i] == NULL ||
            strlen(v[i]) > AUDIT_VALUE_MAX)
            return -1;
    snprintf(max, sizeof(max), "%ld", maxlen);
    argv[argc++] = event;
    for (size_t i = 0; i < n; i++) {
        argv[argc++] = k[i];
        argv[argc++] = v[i];
    }
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    return ag_store__command(st, argc, argv, lens, on_xadd_reply, (ag_store__any_fn *)cb, arg);
}

/* ---------------------------------------------------------------- reading */

#define AUDIT_ID_MAX 48 /* "(" and "<ms>-<seq>", two 64-bit numbers */

/* A read in progress: its query (copied), where the next slice starts, the page so far. */
struct audit_read {
    struct ag_store *st;
    ag_audit_page_fn *cb;
    void *arg;
    char key[AUDIT_KEY_MAX];
    char *user, *event;       /* the filters, or NULL */
    char start[24];           /* "-", or the since bound in ms */
    char end[AUDIT_ID_MAX];   /* "+", or "(<id>": exclusive, the oldest seen so far */
    size_t limit, scan_max, count; /* count: COUNT of the slice in flight */
    struct ag_audit_entry *e; /* <limit> slots (+1 when not filtering) */
    size_t n, examined;
    bool truncated;
    char next[AUDIT_ID_MAX];
};

static void audit_read_free(struct audit_read *rd)
{
    for (size_t i = 0; i < rd->n; i++)
        free((void *)rd->e[i].k); /* one block per entry: arrays then strings */
    free(rd->e);
    free(rd->user);
    free(rd->event);
    free(rd);
}

/* Answers <status> with the page so far and frees the read. */
static void audit_read_finish(struct audit_read *rd, int status)
{
    struct ag_audit_page p = {rd->e, rd->n, rd->examined, rd->truncated,
                              rd->next[0] != '\0' ? rd->next : NULL};

    rd->cb(status, status == 1 ? &p : NULL, rd->arg);
    audit_read_free(rd);
}

/* Whether the bytes of <r> (a string reply) are <s>. */
static bool audit_str_is(const struct redisReply *r, const char *s)
{
    return r->type == REDIS_REPLY_STRING && r->len == strlen(s) && memcmp(r->str, s, r->len) == 0;
}

/* Whether the entry's <f> (its field pairs, "event" first) passes the read's filters. */
static bool audit_match(const struct audit_read *rd, const struct redisReply *f)
{
    bool user = rd->user == NULL;

    if (rd->event != NULL && !audit_str_is(f->element[1], rd->event))
        return false;
    for (size_t i = 2; !user && i + 1 < f->elements; i += 2)
        user = (audit_str_is(f->element[i], "sub") || audit_str_is(f->element[i], "user_id")) &&
               audit_str_is(f->element[i + 1], rd->user);
    return user;
}

/* Copies the entry <id>/<f> into the page's next slot, in one block; false on OOM. */
static bool audit_keep(struct audit_read *rd, const struct redisReply *id,
                       const struct redisReply *f)
{
    size_t pairs = f->elements / 2, size = 2 * pairs * sizeof(char *) + id->len + 1;
    struct ag_audit_entry *e = &rd->e[rd->n];
    const char **k, **v;
    char *p;

    for (size_t i = 0; i < f->elements; i++)
        size += f->element[i]->len + 1;
    if ((k = malloc(size)) == NULL)
        return false;
    v = k + pairs;
    p = (char *)(v + pairs);
    memcpy(p, id->str, id->len);
    p[id->len] = '\0';
    *e = (struct ag_audit_entry){.id = p, .ms = strtoll(p, NULL, 10), .n = pairs, .k = k, .v = v};
    p += id->len + 1;
    for (size_t i = 0; i < f->elements; i++) {
        const struct redisReply *s = f->element[i];
        memcpy(p, s->str, s->len);
        p[s->len] = '\0';
        if (i % 2 == 0)
            k[i / 2] = p;
        else
            v[i / 2] = p;
        p += s->len + 1;
    }
    rd->n++;
    return true;
}

/* A well-formed entry: [id, [field, value, ...]] with "event" first and strings only. */
static bool audit_entry_ok(const struct redisReply *r)
{
    const struct redisReply *f;

    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[0]->len >= AUDIT_ID_MAX - 1 ||
        (f = r->element[1])->type != REDIS_REPLY_ARRAY || f->elements < 2 ||
        f->elements % 2 != 0 || !audit_str_is(f->element[0], "event"))
        return false;
    for (size_t i = 0; i < f->elements; i++)
        if (f->element[i]->type != REDIS_REPLY_STRING)
            return false;
    return true;
}

static int audit_read_step(struct audit_read *rd);

/*
 * One slice came back: keep what matches; then the page is full, the range exhausted (a
 * slice shorter than asked for), the bound reached, or the next slice goes out.
 */
static void on_read_reply(const struct redisReply *r, ag_store__any_fn *cb, void *arg)
{
    struct audit_read *rd = arg;
    bool filtered = rd->user != NULL || rd->event != NULL;
    const char *last = NULL;

    (void)cb;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        audit_read_finish(rd, -1);
        return;
    }
    for (size_t i = 0; i < r->elements; i++) {
        const struct redisReply *ent = r->element[i];
        bool more = i + 1 < r->elements || r->elements == rd->count;

        rd->examined++;
        if (ent->type == REDIS_REPLY_ARRAY && ent->elements >= 1 &&
            ent->element[0]->type == REDIS_REPLY_STRING && ent->element[0]->len < AUDIT_ID_MAX - 1)
            last = ent->element[0]->str;
        if (!audit_entry_ok(ent))
            continue; /* not the gateway's shape: examined, never shown */
        if (rd->n == rd->limit) { /* the one past a full unfiltered page: more follow */
            snprintf(rd->next, sizeof(rd->next), "%s", rd->e[rd->n - 1].id);
            audit_read_finish(rd, 1);
            return;
        }
        if (filtered && !audit_match(rd, ent->element[1]))
            continue;
        if (!audit_keep(rd, ent->element[0], ent->element[1])) {
            audit_read_finish(rd, -1);
            return;
        }
        if (filtered && rd->n == rd->limit) {
            if (more)
                snprintf(rd->next, sizeof(rd->next), "%s", last);
            audit_read_finish(rd, 1);
            return;
        }
    }
    if (r->elements < rd->count || !filtered) {
        audit_read_finish(rd, 1); /* the range is exhausted */
        return;
    }
    if (last == NULL || rd->examined >= rd->scan_max) {
        rd->truncated = true;
        if (last != NULL)
            snprintf(rd->next, sizeof(rd->next), "%s", last);
        audit_read_finish(rd, 1);
        return;
    }
    snprintf(rd->end, sizeof(rd->end), "(%s", last);
    if (audit_read_step(rd) < 0)
        audit_read_finish(rd, -1);
}

/* Sends the next XREVRANGE slice of <rd>. 0, or -1 when it could not be sent. */
static int audit_read_step(struct audit_read *rd)
{
    bool filtered = rd->user != NULL || rd->event != NULL;
    char count[24];
    const char *argv[6] = {"XREVRANGE", rd->key, rd->end, rd->start, "COUNT", count};
    size_t lens[6];

    rd->count = filtered ? rd->scan_max - rd->examined : rd->limit + 1;
    if (rd->count > AG_AUDIT_SLICE && filtered)
        rd->count = AG_AUDIT_SLICE;
    snprintf(count, sizeof(count), "%zu", rd->count);
    for (int i = 0; i < 6; i++)
        lens[i] = strlen(argv[i]);
    return ag_store__command(rd->st, 6, argv, lens, on_read_reply, NULL, rd);
}

/* A stream id "<ms>-<seq>" of 1..19 digits each, not "0-0" (nothing is older). */
static bool audit_id_ok(const char *s)
{
    const char *dash = strchr(s, '-');
    size_t a = dash != NULL ? (size_t)(dash - s) : 0, b = dash != NULL ? strlen(dash + 1) : 0;

    return a >= 1 && a <= 19 && b >= 1 && b <= 19 && strspn(s, "0123456789") == a &&
           strspn(dash + 1, "0123456789") == b && strspn(s, "0-") < a + b + 1;
}

int ag_audit_read(struct ag_store *st, const struct ag_audit_query *q, ag_audit_page_fn *cb,
                  void *arg)
{
    struct audit_read *rd;

    if (st == NULL || q == NULL || cb == NULL || q->limit < 1 || q->limit > 500 ||
        q->since_ms < 0 || (q->before != NULL && !audit_id_ok(q->before)) ||
        (rd = calloc(1, sizeof(*rd))) == NULL)
        return -1;
    *rd = (struct audit_read){.st = st, .cb = cb, .arg = arg, .limit = q->limit,
                              .scan_max = q->scan_max > 0 ? q->scan_max : AG_AUDIT_SCAN_MAX};
    rd->e = calloc(q->limit, sizeof(*rd->e));
    rd->user = q->user != NULL ? strdup(q->user) : NULL;
    rd->event = q->event != NULL ? strdup(q->event) : NULL;
    snprintf(rd->start, sizeof(rd->start), "%lld", (long long)q->since_ms);
    if (q->since_ms == 0)
        snprintf(rd->start, sizeof(rd->start), "-");
    if (q->before != NULL)
        snprintf(rd->end, sizeof(rd->end), "(%s", q->before);
    else
        snprintf(rd->end, sizeof(rd->end), "+");
    if (rd->e == NULL || (q->user != NULL && rd->user == NULL) ||
        (q->event != NULL && rd->event == NULL) ||
        ag_store__key(rd->key, sizeof(rd->key), st, "audit", "", "") < 0 ||
        audit_read_step(rd) < 0) {
        audit_read_free(rd);
        return -1;
    }
    return 0;
}
