/*
 * store/audit.c - the audit stream: XADD "{ns}:audit" MAXLEN ~ <maxlen> * with the
 * event name and its field pairs, shared by every gateway instance.
 *
 * Owns:     nothing long-lived; each call's pending record is owned by store/link.c.
 * Entry:    ag_audit_append().
 * Not here: which events exist and their JSON log line (gateway/; docs/audit.md).
 * Spec:     ISSUE 5 "Audit log"; docs/redis-keys.md.
 */
#include "audit.h"

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "store_int.h"

#define AUDIT_PAIRS_MAX 16
#define AUDIT_NAME_MAX 64     /* bytes of the event name or of a field name */
#define AUDIT_VALUE_MAX 8192  /* bytes of a field value */
#define AUDIT_KEY_MAX 320

static void on_xadd_reply(const struct redisReply *r, ag_store__any_fn *cb, void *arg)
{
    ag_audit_fn *fn = (ag_audit_fn *)cb;

    /* XADD answers the new entry's id; anything else (an error, no reply) is DOWN. */
    if (fn != NULL)
        fn(r != NULL && r->type == REDIS_REPLY_STRING ? 1 : -1, arg);
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
