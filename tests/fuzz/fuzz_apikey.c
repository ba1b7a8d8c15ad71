/*
 * tests/fuzz/fuzz_apikey.c - libFuzzer target for policy/apikey.c: any bytes as an
 * api-key-header value (the key format) and as the body of POST <auth-prefix>/api-keys.
 *
 * Owns:     one exact-size heap copy of the input per run, and what the parser returns.
 * Entry:    LLVMFuzzerTestOneInput() (libFuzzer, or tests/fuzz/replay_main.c).
 * Not here: the corpus replay main (replay_main.c); seeds are in corpus/apikey/.
 * Spec:     policy/apikey.h.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "apikey.h"
#include "base.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The header value: a key that parses has exactly the format, with slices inside it. */
static void fuzz_key(const char *copy, size_t size)
{
    struct ag_apikey_parts p;

    if (ag_apikey_parse((struct ag_str){copy, size}, &p) != 0)
        return;
    if (size != AG_APIKEY_LEN || memcmp(copy, "agk_", 4) != 0 ||
        p.id.p != copy + 4 || p.id.len != AG_APIKEY_ID_LEN ||
        p.secret.p != copy + 5 + AG_APIKEY_ID_LEN || p.secret.len != AG_APIKEY_SECRET_LEN)
        __builtin_trap();
}

/* The body: 0 with a name of 1-64 characters and bounded fields, or a named refusal. */
static void fuzz_body(const char *copy, size_t size)
{
    struct ag_apikey_create c;
    struct ag_field_err e = {NULL, NULL, NULL};
    int rc = ag_apikey_parse_create(copy, size, &c, &e);

    if (rc != 0 && rc != AG_EINVAL && rc != AG_ENOMEM)
        __builtin_trap();
    if (rc != 0) {
        if ((rc == AG_EINVAL && (e.msg == NULL || e.type == NULL)) || c.name != NULL ||
            c.scopes != NULL)
            __builtin_trap();
        return;
    }
    if (c.name == NULL || c.name[0] == '\0' || strlen(c.name) > 4 * AG_APIKEY_NAME_MAX ||
        c.expires_in < 0 || c.expires_in > AG_APIKEY_TTL_MAX ||
        (c.scopes != NULL && strlen(c.scopes) >= AG_APIKEY_SCOPES_MAX))
        __builtin_trap();
    ag_apikey_create_clear(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size > 0 ? size : 1);

    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    fuzz_key(copy, size);
    fuzz_body(copy, size);
    free(copy);
    return 0;
}
