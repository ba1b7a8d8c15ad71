/*
 * store/audit.h - the audit stream: security events appended to a capped Redis stream
 * "{ns}:audit" that every instance shares.
 *
 * Owns:     nothing long-lived.
 * Entry:    ag_audit_append().
 * Not here: the JSON log line of an event and which events exist (gateway/; docs/audit.md).
 * Spec:     ISSUE 5 "Audit log"; docs/redis-keys.md.
 */
#ifndef AG_STORE_AUDIT_H
#define AG_STORE_AUDIT_H

#include <stddef.h>

struct ag_store;

/* OK 1, or DOWN -1 (Redis failed or timed out). */
typedef void ag_audit_fn(int status, void *arg);

/**
 * Appends event <event> with <n> (0..16) field pairs <k>/<v> (copied) to the stream
 * "{ns}:audit", trimmed to about <maxlen> entries (XADD MAXLEN ~). <cb> may be NULL:
 * fire and forget. Returns 0, or -1 (store not ready, bad argument: <cb> never runs).
 */
int ag_audit_append(struct ag_store *st, long maxlen, const char *event, const char *const *k,
                    const char *const *v, size_t n, ag_audit_fn *cb, void *arg);

#endif
