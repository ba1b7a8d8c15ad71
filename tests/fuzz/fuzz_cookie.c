/*
 * tests/fuzz/fuzz_cookie.c - libFuzzer target for policy/cookie.c: any bytes as a
 * cookie name and a Cookie header, through ag_cookie_find() and ag_cookie_strip().
 *
 * Owns:     one exact-size heap copy of the header and one output buffer per run.
 * Entry:    LLVMFuzzerTestOneInput() (libFuzzer, or tests/fuzz/replay_main.c).
 * Not here: the corpus replay main (replay_main.c); seeds are in corpus/cookie/.
 * Spec:     RFC 6265 s.4.2.1; policy/cookie.h.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cookie.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Input: NAME '\n' HEADER (no '\n': the name is "access_token" and everything is
 * the header). Checks, aborting on a violation: find() returns 1, 0 or AG_EPARSE
 * (the name twice) and a found value is a slice of the header; strip() never fails
 * with room for the input, never writes more than the input, and its output no longer
 * holds <name>, strips to itself, and holds another name exactly when the input did,
 * with the same value.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    char name[64] = "access_token";
    const char *drop[2];
    struct ag_str hdr, v = {NULL, 0};
    char *copy, *out, *out2;
    size_t hlen;
    int found, n, n2;

    if (nl != NULL) {
        size_t nlen = (size_t)(nl - data);

        if (nlen >= sizeof(name) || memchr(data, '\0', nlen) != NULL)
            return 0;
        memcpy(name, data, nlen);
        name[nlen] = '\0';
        data = nl + 1;
        size -= nlen + 1;
    }
    hlen = size;
    copy = malloc(hlen ? hlen : 1);
    out = malloc(hlen ? hlen : 1);
    out2 = malloc(hlen ? hlen : 1);
    if (copy == NULL || out == NULL || out2 == NULL)
        goto out;
    memcpy(copy, data, hlen);
    hdr = (struct ag_str){copy, hlen};
    drop[0] = name;
    drop[1] = "refresh_token";

    found = ag_cookie_find(hdr, name, &v);
    if (found != 0 && found != 1 && found != AG_EPARSE)
        __builtin_trap();
    if (found == 1 && (v.p < copy || v.p + v.len > copy + hlen))
        __builtin_trap();

    n = ag_cookie_strip(hdr, drop, 2, out, hlen);
    if (n > (int)hlen || n < 0)
        __builtin_trap();
    if (ag_cookie_find((struct ag_str){out, (size_t)n}, name, &v) != 0)
        __builtin_trap(); /* <name> is gone */
    n2 = ag_cookie_strip((struct ag_str){out, (size_t)n}, drop, 2, out2, (size_t)n);
    if (n2 != n || memcmp(out, out2, (size_t)n) != 0)
        __builtin_trap(); /* stripping is idempotent */
    /* a name not dropped reads the same before and after ("x", or "y" when <name> is "x") */
    {
        struct ag_str v1 = {NULL, 0}, v2 = {NULL, 0};
        const char *other = strcmp(name, "x") != 0 ? "x" : "y";
        int f1 = ag_cookie_find(hdr, other, &v1);
        int f2 = ag_cookie_find((struct ag_str){out, (size_t)n}, other, &v2);

        if (f1 != f2 || (f1 == 1 && (v1.len != v2.len || memcmp(v1.p, v2.p, v1.len) != 0)))
            __builtin_trap();
    }
out:
    free(copy);
    free(out);
    free(out2);
    return 0;
}
