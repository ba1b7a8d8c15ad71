/*
 * store/audit.h - the audit stream: security events appended to a capped Redis stream
 * "{ns}:audit" that every instance shares.
 *
 * Owns:     nothing long-lived; a read's page until its callback returns.
 * Entry:    ag_audit_append(), ag_audit_read().
 * Not here: the JSON log line of an event and which events exist (gateway/; docs/audit.md).
 * Spec:     ISSUE 5 "Audit log"; docs/redis-keys.md.
 */
#ifndef AG_STORE_AUDIT_H
#define AG_STORE_AUDIT_H

#include <stddef.h>

struct ag_store;

#include <stdbool.h>
#include <stdint.h>

/* OK 1 with the new entry's <id> (borrowed, valid during the call), or DOWN -1 (Redis
   failed or timed out; <id> NULL). */
typedef void ag_audit_fn(int status, const char *id, void *arg);

/**
 * Appends event <event> with <n> (0..16) field pairs <k>/<v> (copied) to the stream
 * "{ns}:audit", trimmed to about <maxlen> entries (XADD MAXLEN ~). <cb> may be NULL:
 * fire and forget. Returns 0, or -1 (store not ready, bad argument: <cb> never runs).
 */
int ag_audit_append(struct ag_store *st, long maxlen, const char *event, const char *const *k,
                    const char *const *v, size_t n, ag_audit_fn *cb, void *arg);

/* ---- reading: newest first, filtered, bounded ---- */

#define AG_AUDIT_SCAN_MAX 10000 /* entries a filtered read examines at most */
#define AG_AUDIT_SLICE 500      /* entries per XREVRANGE of a filtered read */

/* What to read (strings borrowed for the call only: the store copies them). */
struct ag_audit_query {
    const char *user;   /* NULL, or only entries whose "sub" or "user_id" is exactly it */
    const char *event;  /* NULL, or only entries of exactly this event */
    const char *before; /* NULL, or a stream id "<ms>-<seq>": only entries older than it */
    int64_t since_ms;   /* > 0: only entries at or after this time (ms since the epoch) */
    size_t limit;       /* 1..500 entries at most */
    size_t scan_max;    /* entries examined at most when filtering; 0: AG_AUDIT_SCAN_MAX */
};

/* One entry: its id and its field pairs in stream order, "event" first. */
struct ag_audit_entry {
    const char *id; /* "<ms>-<seq>" */
    int64_t ms;     /* the id's time part: when Redis appended it */
    size_t n;
    const char *const *k, *const *v;
};

/* A page of entries, newest first (everything borrowed, valid during the callback). */
struct ag_audit_page {
    const struct ag_audit_entry *e;
    size_t n;
    size_t examined;  /* entries read from the stream */
    bool truncated;   /* the scan bound stopped the read before the range was exhausted */
    const char *next; /* when older entries may match: the id to pass as <before>; else NULL */
};

/* OK 1 with <p>, or DOWN -1 (Redis failed or timed out; <p> NULL). */
typedef void ag_audit_page_fn(int status, const struct ag_audit_page *p, void *arg);

/**
 * Reads the entries of "{ns}:audit" that match <q>, newest first, with XREVRANGE between
 * <before> (exclusive; else the newest) and <since_ms>: with neither filter one call of
 * COUNT limit + 1; with a filter, slices of COUNT 500 until <limit> entries matched, the
 * range is exhausted, or <scan_max> entries were examined (then truncated, and next says
 * where to go on). Returns 0 (<cb> runs exactly once, later) or -1 (store not ready, bad
 * argument: <cb> never runs).
 */
int ag_audit_read(struct ag_store *st, const struct ag_audit_query *q, ag_audit_page_fn *cb,
                  void *arg);

#endif
