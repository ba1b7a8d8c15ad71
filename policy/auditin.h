/*
 * policy/auditin.h - what clients send to the audit API: the body of POST <auth-prefix>/audit
 * (an application's own event) and the query of GET <auth-prefix>/admin/audit (filters,
 * time bound, page size, cursor), checked into plain values.
 *
 * Owns:     the copies in struct ag_audit_in (ag_audit_in_clear() frees them).
 * Entry:    ag_audit_in_parse(), ag_audit_in_clear(), ag_audit_filter_parse(),
 *           ag_audit_event_ok().
 * Not here: the stream (store/audit.c), the answers (gateway/ep/ep_audit.c).
 * Spec:     CONTRACT.md section 13; docs/admin.md "Audit API".
 *
 * Errors name the field as policy/userin.h's do (FastAPI's 422 shape).
 */
#ifndef AG_POLICY_AUDITIN_H
#define AG_POLICY_AUDITIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "userin.h"

#define AG_AUDIT_EVENT_MAX 64     /* bytes of an event name: [A-Za-z0-9_.:-] */
#define AG_AUDIT_SUB_MAX 512      /* bytes of an app event's sub, and of the user filter */
#define AG_AUDIT_DETAIL_MAX 4096  /* bytes of an app event's detail, serialized compactly */
#define AG_AUDIT_LIMIT_MAX 500    /* events of one GET page */
#define AG_AUDIT_LIMIT_DEFAULT 50
#define AG_AUDIT_ID_MAX 41        /* a stream id: "<ms>-<seq>", two 64-bit numbers */

/* An application's event, as POST /audit sends it (new strings, or NULL when absent). */
struct ag_audit_in {
    char *event;  /* required: 1..64 bytes of [A-Za-z0-9_.:-] */
    char *sub;    /* optional: 1..512 bytes of UTF-8 text without control characters */
    char *detail; /* optional: a JSON object, re-serialized compactly (members in order) */
    char extra[AG_AUDIT_EVENT_MAX + 1]; /* an unknown member's name, cleaned and cut: what
                                           the error of ag_audit_in_parse() names then */
};

/**
 * Reads <body,len>: one JSON object (duplicate keys refused at any depth) with only the
 * members "event", "sub", "detail". Returns 0 with <out> filled; AG_EPARSE with <e>
 * naming the first problem (an unknown member too: <e>'s field is then out->extra, valid
 * as long as <out>), <out>'s strings all NULL; or AG_ENOMEM.
 */
int ag_audit_in_parse(const char *body, size_t len, struct ag_audit_in *out,
                      struct ag_field_err *e);

/** Frees the strings of <in> and sets them NULL. */
void ag_audit_in_clear(struct ag_audit_in *in);

/** Whether <s> is an event name: 1..64 bytes of letters, digits, '_', '.', ':' or '-'. */
bool ag_audit_event_ok(const char *s);

/* The GET /admin/audit query, checked (strings borrowed from the caller's). */
struct ag_audit_filter {
    const char *user;   /* exact sub (or user_id) of the events, or NULL */
    const char *event;  /* exact event name, or NULL */
    const char *before; /* a stream id: only older events (a page's "next"), or NULL */
    int64_t since_ms;   /* > 0: only events at or after this time (ms since the epoch) */
    long limit;         /* 1..500, default 50 */
};

/**
 * Checks the decoded query values (each NULL when absent): <user> at most 512 bytes,
 * <event> an event name, <since> epoch seconds (digits) or an ISO 8601 UTC time
 * "YYYY-MM-DDTHH:MM:SSZ" (fractions of a second allowed), <limit> an integer 1..500,
 * <before> a stream id "<ms>-<seq>". Returns 0 with <out> set, or AG_EPARSE with <e>
 * naming the parameter.
 */
int ag_audit_filter_parse(const char *user, const char *event, const char *since,
                          const char *limit, const char *before, struct ag_audit_filter *out,
                          struct ag_field_err *e);

#endif
