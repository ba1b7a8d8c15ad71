/*
 * tests/fuzz/fuzz_auditin.c - libFuzzer target for policy/auditin.c: any bytes as the body
 * of POST /audit, and the same bytes cut into the five query values of GET /admin/audit.
 *
 * Owns:     one exact-size heap copy of the input per run, and what the parsers return.
 * Entry:    LLVMFuzzerTestOneInput() (libFuzzer, or tests/fuzz/replay_main.c).
 * Not here: the corpus replay main (replay_main.c); seeds are in corpus/auditin/.
 * Spec:     policy/auditin.h.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "auditin.h"
#include "base.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The body: 0 with every promise of auditin.h kept, or AG_EPARSE naming a problem. */
static void fuzz_body(const char *copy, size_t size)
{
    struct ag_audit_in in;
    struct ag_field_err e = {NULL, NULL, NULL};
    int rc = ag_audit_in_parse(copy, size, &in, &e);

    if (rc != 0 && rc != AG_EPARSE && rc != AG_ENOMEM)
        __builtin_trap();
    if (rc != 0) {
        if ((rc == AG_EPARSE && (e.msg == NULL || e.type == NULL)) || in.event != NULL ||
            in.sub != NULL || in.detail != NULL)
            __builtin_trap();
        return;
    }
    if (!ag_audit_event_ok(in.event))
        __builtin_trap();
    if (in.sub != NULL && (strlen(in.sub) == 0 || strlen(in.sub) > AG_AUDIT_SUB_MAX))
        __builtin_trap();
    if (in.detail != NULL) {
        /* What is stored reads back as one object, and fits its bound. */
        json_t *o = json_loads(in.detail, JSON_REJECT_DUPLICATES, NULL);
        if (strlen(in.detail) > AG_AUDIT_DETAIL_MAX || !json_is_object(o))
            __builtin_trap();
        json_decref(o);
    }
    ag_audit_in_clear(&in);
    if (in.event != NULL || in.sub != NULL || in.detail != NULL)
        __builtin_trap();
}

/* The query: the input split at NUL bytes into user, event, since, limit, before. */
static void fuzz_query(char *copy, size_t size)
{
    const char *v[5] = {NULL, NULL, NULL, NULL, NULL};
    struct ag_audit_filter f;
    struct ag_field_err e = {NULL, NULL, NULL};
    size_t i = 0;
    int rc;

    if (size == 0 || copy[size - 1] != '\0')
        return;
    for (size_t k = 0; k < 5 && i < size; k++) {
        v[k] = copy[i] != '\x01' ? copy + i : NULL; /* "\x01..." stands for absent */
        i += strlen(copy + i) + 1;
    }
    rc = ag_audit_filter_parse(v[0], v[1], v[2], v[3], v[4], &f, &e);
    if (rc != 0 && rc != AG_EPARSE)
        __builtin_trap();
    if (rc != 0) {
        if (e.field == NULL || e.msg == NULL || e.type == NULL)
            __builtin_trap();
        return;
    }
    if (f.limit < 1 || f.limit > AG_AUDIT_LIMIT_MAX || f.since_ms < 0 ||
        (f.event != NULL && !ag_audit_event_ok(f.event)))
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size ? size : 1);

    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    fuzz_body(copy, size);
    fuzz_query(copy, size);
    free(copy);
    return 0;
}
