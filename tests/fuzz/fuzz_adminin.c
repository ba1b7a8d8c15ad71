/*
 * tests/fuzz/fuzz_adminin.c - libFuzzer target for policy/adminin.c: any bytes as the
 * PATCH body of a user, and as a paging number.
 *
 * Owns:     one exact-size heap copy of the input per run, and the parsed roles.
 * Entry:    LLVMFuzzerTestOneInput() (libFuzzer, or tests/fuzz/replay_main.c).
 * Not here: the corpus replay main (replay_main.c); seeds are in corpus/adminin/.
 * Spec:     policy/adminin.h.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "adminin.h"
#include "base.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Checks what a role list promises: space-separated words of visible ASCII but ',', each once. */
static void fuzz_roles_ok(const char *roles)
{
    size_t n = strlen(roles), words = 0;

    if (n > AG_ADMININ_ROLES_BYTES)
        __builtin_trap();
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)roles[i];
        if (c == ' ') {
            if (i == 0 || i + 1 == n || roles[i + 1] == ' ')
                __builtin_trap();
            continue;
        }
        if (c < 0x21 || c > 0x7e || c == ',')
            __builtin_trap();
        if (i == 0 || roles[i - 1] == ' ')
            words++;
    }
    if (words > AG_ADMININ_ROLES_MAX)
        __builtin_trap();
}

/*
 * Checks, aborting on a violation: the result is 0, AG_EPARSE or AG_ENOMEM; on AG_EPARSE
 * an error with a msg and type, and nothing left to free; on 0 the roles (when set) keep
 * their promise. Then the same bytes, NUL-terminated, as a paging number.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ag_adminin_patch p;
    struct ag_field_err e = {NULL, NULL, NULL};
    char *copy = malloc(size + 1);
    int64_t v = -1;
    int rc;

    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    rc = ag_adminin_patch(copy, size, &p, &e);
    if (rc != 0 && rc != AG_EPARSE && rc != AG_ENOMEM)
        __builtin_trap();
    if (rc == AG_EPARSE && (e.msg == NULL || e.type == NULL || p.roles != NULL || p.set_roles))
        __builtin_trap();
    if (rc == 0) {
        if (p.set_roles != (p.roles != NULL))
            __builtin_trap();
        if (p.roles != NULL)
            fuzz_roles_ok(p.roles);
        ag_adminin_patch_clear(&p);
    }
    copy[size] = '\0';
    if (ag_adminin_count(copy, 1, 500, &v) == 0 && (v < 1 || v > 500))
        __builtin_trap();
    free(copy);
    return 0;
}
