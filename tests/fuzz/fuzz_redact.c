/*
 * tests/fuzz/fuzz_redact.c - libFuzzer target for policy/redact.c: any bytes as a
 * request target through ag_redact_target().
 *
 * Owns:     one exact-size heap copy of the target and the output buffers of one run.
 * Entry:    LLVMFuzzerTestOneInput() (libFuzzer, or tests/fuzz/replay_main.c).
 * Not here: the corpus replay main (replay_main.c); seeds are in corpus/redact/.
 * Spec:     CONTRACT.md section 8; policy/redact.h.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "redact.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MARK_LEN (sizeof(AG_REDACT_MARK) - 1)

/*
 * Whether every credential-named parameter of <s,n> with a value (split as
 * ag_redact_target() splits) has exactly AG_REDACT_MARK as its value.
 */
static int all_redacted(const char *s, size_t n)
{
    size_t i = 0;

    while (i < n && s[i] != '?' && s[i] != '#')
        i++;
    while (i < n) {
        size_t start = ++i, eq;
        while (i < n && s[i] != '&' && s[i] != ';' && s[i] != '#')
            i++;
        for (eq = start; eq < i && s[eq] != '='; eq++)
            ;
        if (eq + 1 < i && ag_redact_is_credential_name((struct ag_str){s + start, eq - start}) &&
            (i - eq - 1 != MARK_LEN || memcmp(s + eq + 1, AG_REDACT_MARK, MARK_LEN) != 0))
            return 0;
    }
    return 1;
}

/*
 * Checks, aborting on a violation: the output fits its buffer, every credential-named
 * value in it is the mark, redacting it again changes nothing, and a smaller buffer
 * gets a prefix of the whole output.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t cap = size * 4 + MARK_LEN + 16, n, n2, cut;
    char *copy = malloc(size ? size : 1), *out = malloc(cap), *out2 = malloc(cap * 2);

    if (copy == NULL || out == NULL || out2 == NULL)
        goto out;
    memcpy(copy, data, size);
    /* At worst "&k=v" (4 bytes) grows by the mark less one: <cap> holds any output. */
    n = ag_redact_target((struct ag_str){copy, size}, out, cap);
    if (n > cap)
        __builtin_trap();
    if (n == cap)
        goto out; /* cut: the checks below need the whole output */
    if (!all_redacted(out, n))
        __builtin_trap();
    n2 = ag_redact_target((struct ag_str){out, n}, out2, cap * 2);
    if (n2 != n || memcmp(out, out2, n) != 0)
        __builtin_trap();
    cut = n / 2;
    n2 = ag_redact_target((struct ag_str){copy, size}, out2, cut);
    if (n2 != cut || memcmp(out, out2, cut) != 0)
        __builtin_trap();
out:
    free(copy);
    free(out);
    free(out2);
    return 0;
}
