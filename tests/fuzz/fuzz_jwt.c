/*
 * tests/fuzz/fuzz_jwt.c - libFuzzer target for policy/jwt.c: any bytes as a token through
 * ag_jwt_verify() (two keys, fixed expectations), as base64url through
 * ag_jwt__b64url_decode() (checked against libsodium), and as a payload that we sign and
 * verify again (so the claims code is reached past the signature).
 *
 * Owns:     nothing; keys live for the process, like a loaded config's.
 * Entry:    LLVMFuzzerTestOneInput() (libFuzzer, or tests/fuzz/replay_main.c).
 * Not here: the corpus replay main (replay_main.c); seeds are in corpus/jwt/ and are
 *           written by tests/vectors/jwt/make_vectors.py with the same key.
 * Spec:     docs/jwt.md.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_KEY "fuzz-jwt-key-0123456789abcdef0123" /* make_vectors.py KEYS["fuzz"] */
#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            __builtin_trap();                                                                      \
    } while (0)

/* Whether <s> lies inside <c>->buf, is NUL-terminated there and has no control character
 * (with <list>: and is a list of non-empty names joined by ','). */
static int str_ok(const struct ag_jwt_claims *c, struct ag_str s, int list)
{
    if (s.len == 0)
        return 1;
    if (s.p < c->buf || s.p + s.len >= c->buf + c->used || s.p[s.len] != '\0')
        return 0;
    for (size_t i = 0; i < s.len; i++)
        if ((unsigned char)s.p[i] < 0x20 || s.p[i] == 0x7f)
            return 0;
    if (list && (s.p[0] == ',' || s.p[s.len - 1] == ',' || strstr(s.p, ",,") != NULL))
        return 0;
    return 1;
}

/* The invariants of a verdict <st> with claims <c> under <e>. */
static void check_verdict(enum ag_jwt_status st, const struct ag_jwt_claims *c,
                          const struct ag_jwt_expect *e)
{
    CHECK(st == AG_JWT_OK || (st <= AG_JWT_MALFORMED && st >= AG_JWT_BAD_CLAIMS));
    if (st != AG_JWT_OK)
        return;
    CHECK(c->used <= sizeof(c->buf));
    CHECK(str_ok(c, c->sub, 0) && str_ok(c, c->client_id, 0) && str_ok(c, c->jti, 0));
    CHECK(str_ok(c, c->sid, 0) && str_ok(c, c->family, 0) && str_ok(c, c->iss, 0));
    CHECK(str_ok(c, c->scope, 0) && str_ok(c, c->roles, 1));
    CHECK(c->type.len == strlen(e->type) && memcmp(c->type.p, e->type, c->type.len) == 0);
    CHECK(c->exp >= e->now - e->leeway); /* now < exp + leeway, exp floored */
}

/* Our decoder against libsodium's: same verdict and bytes on ASCII input; on input with a
 * byte >= 0x80, ours refuses (libsodium 1.0.18 reads such bytes as '_'). */
static void check_b64(const uint8_t *data, size_t size)
{
    size_t cap = size / 4 * 3 + 3, bl = 0;
    unsigned char *a = malloc(cap), *b = malloc(cap);
    int n, r, high = 0;

    CHECK(a != NULL && b != NULL);
    for (size_t i = 0; i < size; i++)
        high |= data[i] >= 0x80;
    n = ag_jwt__b64url_decode((struct ag_str){(const char *)data, size}, a, cap);
    CHECK(n == AG_EPARSE || n >= 0);
    if (high) {
        CHECK(n == AG_EPARSE);
    } else {
        r = sodium_base642bin(b, cap, (const char *)data, size, NULL, &bl, NULL,
                              sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        CHECK((n >= 0) == (r == 0));
        CHECK(n < 0 || ((size_t)n == bl && memcmp(a, b, bl) == 0));
    }
    if (n >= 0) { /* canonical: re-encoding gives the input back */
        char *enc = malloc(size + 1);

        CHECK(enc != NULL);
        sodium_bin2base64(enc, size + 1, a, (size_t)n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        CHECK(strlen(enc) == size && memcmp(enc, data, size) == 0);
        free(enc);
    }
    free(a);
    free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct ag_jwt_key *key, *key_kid;
    static struct ag_jwt_claims claims;
    const struct ag_jwt_expect e = {.type = "access",
                                    .issuer = "authgate",
                                    .audience = NULL,
                                    .now = 1700000100,
                                    .leeway = 30,
                                    .max_len = 4096};
    struct ag_jwt_expect ea = e;
    struct ag_str tok = {(const char *)data, size};
    enum ag_jwt_status st;
    size_t cap;
    char *signed_tok;
    int n;

    if (key == NULL) {
        key = ag_jwt_key_new_hs256(FUZZ_KEY, strlen(FUZZ_KEY), NULL);
        key_kid = ag_jwt_key_new_hs256(FUZZ_KEY, strlen(FUZZ_KEY), "k1");
        CHECK(key != NULL && key_kid != NULL);
    }

    /* 1. the input as a token */
    st = ag_jwt_verify(key, tok, &e, &claims);
    check_verdict(st, &claims, &e);
    if (size > e.max_len)
        CHECK(st == AG_JWT_TOO_LARGE);
    st = ag_jwt_verify(key_kid, tok, &e, &claims);
    check_verdict(st, &claims, &e);
    ea.audience = "api";
    ea.type = "refresh";
    st = ag_jwt_verify(key, tok, &ea, &claims);
    check_verdict(st, &claims, &ea);

    /* 2. the input as base64url text */
    check_b64(data, size);

    /* 3. the input as a payload: signed by us, it passes every step up to the claims */
    cap = size / 3 * 4 + 128;
    signed_tok = malloc(cap);
    CHECK(signed_tok != NULL);
    n = ag_jwt_sign(key, (const char *)data, size, signed_tok, cap);
    CHECK(n > 0 && (size_t)n == strlen(signed_tok));
    ea = e;
    ea.max_len = (size_t)n;
    st = ag_jwt_verify(key, (struct ag_str){signed_tok, (size_t)n}, &ea, &claims);
    check_verdict(st, &claims, &ea);
    CHECK(st != AG_JWT_TOO_LARGE && st != AG_JWT_BAD_ALG && st != AG_JWT_BAD_HEADER &&
          st != AG_JWT_BAD_SIG);
    st = ag_jwt_verify(key_kid, (struct ag_str){signed_tok, (size_t)n}, &ea, &claims);
    CHECK(st != AG_JWT_BAD_SIG && st != AG_JWT_BAD_HEADER);
    free(signed_tok);
    return 0;
}
