/*
 * tests/bench/revoke_bench.c - what the revocation check costs on the request path with
 * N revoked sessions loaded (default 1,000,000): the set's memory, and ns per
 * ag_revoke_check() + ag_revoke_check_subject() (what gateway/auth/authn.c runs per token) for
 * tokens that are not revoked (the common case) and for revoked ones.
 *
 * Not a test (timings belong to benchmarks): built by meson as bench_revoke, run by hand
 * or by tests/bench/README.md's recipe:  build/tests/bench_revoke [N]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "revoke.h"

static double now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* A 22-character id like the gateway's (base64url of 16 bytes), derived from <i> and <salt>. */
static void make_id(char out[23], uint64_t i, uint64_t salt)
{
    unsigned char b[16];

    memcpy(b, &i, 8);
    memcpy(b + 8, &salt, 8);
    sodium_bin2base64(out, 23, b, sizeof(b), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* ns per check of <n> ids (revoked ones when <salt> is the loaded salt). */
static double bench(struct ag_revoke *r, size_t n, uint64_t salt, int64_t now, size_t *hits)
{
    char sid[23], jti[23];
    double t0, t1;

    *hits = 0;
    t0 = now_ns();
    for (size_t i = 0; i < n; i++) {
        make_id(sid, (uint64_t)((i * 2654435761u) % n), salt);
        make_id(jti, (uint64_t)i, 99);
        *hits += ag_revoke_check(r, (struct ag_str){jti, 22}, (struct ag_str){sid, 22}, now) ||
                 ag_revoke_check_subject(r, (struct ag_str){"user-1", 6}, now - 10, now);
    }
    t1 = now_ns();
    return (t1 - t0) / (double)n;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
    int64_t now = (int64_t)time(NULL);
    struct ag_revoke *r;
    char id[23];
    double base, miss, hit, t0;
    size_t hits;

    if (sodium_init() < 0 || (r = ag_revoke_new()) == NULL)
        return 1;
    /* what make_id() itself costs, to subtract */
    t0 = now_ns();
    for (size_t i = 0; i < n; i++) {
        make_id(id, (uint64_t)i, 7);
        make_id(id, (uint64_t)i, 99);
    }
    base = (now_ns() - t0) / (double)n;
    for (size_t i = 0; i < n; i++) {
        make_id(id, (uint64_t)i, 1);
        if (ag_revoke_add(r, AG_REVOKE_SID, (struct ag_str){id, 22}, now + 900) < 0)
            return 1;
    }
    miss = bench(r, n, 2, now, &hits);
    if (hits != 0)
        return 1;
    hit = bench(r, n, 1, now, &hits);
    if (hits != n)
        return 1;
    printf("entries %zu, memory %.1f MiB\n", n, (double)ag_revoke_memory(r) / (1024.0 * 1024.0));
    printf("check (sid + jti + subject watermark), not revoked: %.0f ns\n", miss - base);
    printf("check, revoked:                                     %.0f ns\n", hit - base);
    ag_revoke_free(r);
    return 0;
}
