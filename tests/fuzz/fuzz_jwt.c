/*
 * tests/fuzz/fuzz_jwt.c - libFuzzer target for policy/jwt.c: any bytes as a token through
 * ag_jwt_verify() (two keys, fixed expectations), as base64url through
 * ag_jwt__b64url_decode() (checked against libsodium), and as a payload and as a header
 * that we sign and verify again (so the claims code is reached past the signature), both
 * cross-checked against jansson (JSON_REJECT_DUPLICATES), the parser jwt.c used before its
 * own scanner: same acceptance, same header verdict, same decoded claims. Then the key
 * ring (policy/jwt_ring.c): the input as a token, as a header signed by each asymmetric
 * ring key (a pass means the header named that key by kid and its algorithm), and as a
 * payload signed by the ring's EdDSA signer.
 *
 * Owns:     nothing; keys live for the process, like a loaded config's.
 * Entry:    LLVMFuzzerTestOneInput() (libFuzzer, or tests/fuzz/replay_main.c).
 * Not here: the corpus replay main (replay_main.c); seeds are in corpus/jwt/ and are
 *           written by tests/vectors/jwt/make_vectors.py with the same key.
 * Spec:     docs/jwt.md, docs/keys.md.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "jwt.h"
#include "jwt_int.h" /* the key's signature length, to forge a header */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_KEY "fuzz-jwt-key-0123456789abcdef0123" /* make_vectors.py KEYS["fuzz"] */
#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            __builtin_trap();                                                                      \
    } while (0)

/* Ring keys: the RFC 8037 A.1 Ed25519 key, the RFC 7515 A.3 P-256 key, the RFC 7515 A.2
 * RSA public key (and, unused here, the keys the ring refuses). */
#include "../vectors/jwt/rfc_keys.h"

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
    CHECK(c->exp >= e->now - e->exp_leeway); /* now < exp + exp_leeway, exp rounded up */
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

/*
 * Whether the scanner may deliberately be stricter than jansson on <p,n> (docs/jwt.md): the
 * text goes past one of its limits (JWT_JSON_MAX_DEPTH 16, 64 keys per object, 128 keys in
 * the nested objects open at once; counted on brackets and colons outside strings, so it
 * works on invalid text too), or it holds a raw NUL byte (jansson 2.14 drops a NUL that
 * follows a number: {"a":1\0} loads). There the scanner may say MALFORMED where jansson
 * accepts, or where jansson reports a duplicate key found later.
 */
static int may_be_stricter(const uint8_t *p, size_t n)
{
    int depth = 0, in_str = 0, is_obj[64];
    size_t keys[64], open = 0;

    if (memchr(p, '\0', n) != NULL)
        return 1;
    for (size_t i = 0; i < n; i++) {
        if (in_str) {
            if (p[i] == '\\')
                i++;
            else if (p[i] == '"')
                in_str = 0;
            continue;
        }
        switch (p[i]) {
        case '"':
            in_str = 1;
            break;
        case '{':
        case '[':
            if (++depth > 16)
                return 1;
            is_obj[depth] = p[i] == '{';
            keys[depth] = 0;
            break;
        case '}':
        case ']':
            if (depth > 0) {
                if (depth > 1 && is_obj[depth])
                    open -= keys[depth];
                depth--;
            }
            break;
        case ':':
            if (depth > 0 && is_obj[depth]) {
                if (++keys[depth] > 64)
                    return 1;
                if (depth > 1 && ++open > 128)
                    return 1;
            }
            break;
        }
    }
    return 0;
}

/* jansson's opinion of <p,n>: 1 an object, 0 valid JSON but not an object, -1 a duplicate
 * key, -2 any other fault. An object is returned in *<root> (new reference). */
static int jansson_says(const uint8_t *p, size_t n, json_t **root)
{
    json_error_t err;

    *root = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &err);
    if (*root == NULL)
        return json_error_code(&err) == json_error_duplicate_key ? -1 : -2;
    if (!json_is_object(*root)) {
        json_decref(*root);
        *root = NULL;
        return 0;
    }
    return 1;
}

/* The header verdict the jansson-based jwt_check_header() gave (policy/jwt.c before the
 * scanner) for a key without kid: BAD_HEADER/MALFORMED from the parse, then alg, the
 * forbidden parameters, kid, typ. */
static enum ag_jwt_status header_oracle(const uint8_t *p, size_t n)
{
    static const char *const forbidden[] = {"jwk", "jku", "x5u", "x5c", "x5t", "x5t#S256",
                                            "crit"};
    enum ag_jwt_status st = AG_JWT_OK;
    json_t *root, *v;
    int r = jansson_says(p, n, &root);

    if (r != 1)
        return r == -1 ? AG_JWT_BAD_HEADER : AG_JWT_MALFORMED;
    v = json_object_get(root, "alg");
    if (!json_is_string(v) || json_string_length(v) != 5 ||
        memcmp(json_string_value(v), "HS256", 5) != 0) {
        st = AG_JWT_BAD_ALG;
        goto out;
    }
    for (size_t i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++)
        if (json_object_get(root, forbidden[i]) != NULL)
            st = AG_JWT_BAD_HEADER;
    if (json_object_get(root, "kid") != NULL)
        st = AG_JWT_BAD_HEADER;
    v = json_object_get(root, "typ");
    if (v != NULL &&
        (!json_is_string(v) ||
         !ag_str_ieq((struct ag_str){json_string_value(v), json_string_length(v)}, "JWT")))
        st = AG_JWT_BAD_HEADER;
out:
    json_decref(root);
    return st;
}

/* Whether the copied claim <got> is what jansson decoded for <name> in <root>. */
static int same_str(json_t *root, const char *name, struct ag_str got)
{
    json_t *v = json_object_get(root, name);

    if (v == NULL)
        return got.len == 0;
    return json_is_string(v) && json_string_length(v) == got.len &&
           memcmp(json_string_value(v), got.p, got.len) == 0;
}

/* The payload <data,size> (signed into a token) against jansson: the scanner accepts exactly
 * what jansson accepts as an object (MALFORMED otherwise; where may_be_stricter() it
 * may also refuse), and on OK the copied claims are jansson's decoded strings and integers. */
static void check_payload_oracle(const uint8_t *data, size_t size, enum ag_jwt_status st,
                                 const struct ag_jwt_claims *c)
{
    json_t *root, *v;
    int r = jansson_says(data, size, &root);

    if (r != 1) {
        CHECK(st == AG_JWT_MALFORMED);
        return;
    }
    CHECK(st != AG_JWT_MALFORMED || may_be_stricter(data, size));
    if (st == AG_JWT_OK) {
        CHECK(same_str(root, "sub", c->sub) && same_str(root, "client_id", c->client_id));
        CHECK(same_str(root, "jti", c->jti) && same_str(root, "sid", c->sid));
        CHECK(same_str(root, "fam", c->family) && same_str(root, "type", c->type));
        CHECK(same_str(root, "iss", c->iss));
        v = json_object_get(root, "exp");
        CHECK(!json_is_integer(v) || json_integer_value(v) == c->exp);
        v = json_object_get(root, "scope");
        CHECK(v == NULL || same_str(root, "scope", c->scope));
        v = json_object_get(root, "roles");
        CHECK(!json_is_string(v) || same_str(root, "roles", c->roles));
        v = json_object_get(root, "sub_type"); /* a client's token only when it says so */
        CHECK(c->client == (v != NULL));
        CHECK(v == NULL || (json_is_string(v) && strcmp(json_string_value(v), "client") == 0));
    }
    json_decref(root);
}

/* The input as a header over a valid payload, signed with <key> (no kid): the verdict is the
 * one the jansson-based header check gave (where may_be_stricter(), MALFORMED is allowed). */
static void check_header_oracle(const struct ag_jwt_key *key, const uint8_t *data, size_t size,
                                const struct ag_jwt_expect *e, struct ag_jwt_claims *c)
{
    static const char pl[] = "{\"type\":\"access\",\"iss\":\"authgate\",\"exp\":1700000900}";
    size_t cap = size / 3 * 4 + 256, n = 0, hl, pl_len = sizeof(pl) - 1;
    char *tok = malloc(cap);
    unsigned char mac[32];
    enum ag_jwt_status st, want;
    struct ag_jwt_expect eh = *e;

    CHECK(tok != NULL);
    if (size == 0) { /* an empty header segment is a split fault, not a JSON one */
        free(tok);
        return;
    }
    sodium_bin2base64(tok, cap, data, size, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    hl = strlen(tok);
    tok[hl] = '.';
    n = hl + 1;
    sodium_bin2base64(tok + n, cap - n, (const unsigned char *)pl, pl_len,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    n += strlen(tok + n);
    ag_jwt__hmac(key, tok, n, mac);
    tok[n++] = '.';
    sodium_bin2base64(tok + n, cap - n, mac, sizeof(mac), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    n += strlen(tok + n);
    eh.max_len = n;
    st = ag_jwt_verify(key, (struct ag_str){tok, n}, &eh, c);
    want = header_oracle(data, size); /* OK stays OK: the payload passes every claim check */
    CHECK(st == want || (st == AG_JWT_MALFORMED && may_be_stricter(data, size)));
    free(tok);
}

/*
 * The same signed payload with the legacy-tokens window open: a token that passed without
 * it passes alike (not as legacy); one that passes only with it carries exactly
 * fastauth-api's four claims, no iss, and sub "client:<client_id>".
 */
static struct ag_jwt_key *legacy_key;
static void check_legacy(const char *tok, size_t n, const struct ag_jwt_expect *e,
                         enum ag_jwt_status plain, const uint8_t *data, size_t size)
{
    static struct ag_jwt_claims c;
    struct ag_jwt_expect el = *e;
    enum ag_jwt_status st;
    json_t *root = NULL;

    el.legacy = true;
    st = ag_jwt_verify(legacy_key, (struct ag_str){tok, n}, &el, &c);
    if (plain == AG_JWT_OK) {
        CHECK(st == AG_JWT_OK && !c.legacy);
        return;
    }
    if (st != AG_JWT_OK)
        return;
    CHECK(c.legacy && c.client && plain == AG_JWT_BAD_ISS);
    CHECK(jansson_says(data, size, &root) == 1);
    CHECK(json_object_size(root) == 4 && json_object_get(root, "iss") == NULL);
    CHECK(json_is_string(json_object_get(root, "client_id")) && c.client_id.len > 0);
    CHECK(c.sub.len == 7 + c.client_id.len && memcmp(c.sub.p, "client:", 7) == 0 &&
          memcmp(c.sub.p + 7, c.client_id.p, c.client_id.len) == 0);
    json_decref(root);
}

/* The ring: FUZZ_KEY without kid, FUZZ_KEY as HS256 "k1", EdDSA "ed" (signer), ES256 "es",
 * RS256 "rs" (public only). */
static struct ag_jwt_ring *ring;
static struct ag_jwt_key *ring_ed, *ring_es; /* copies, to sign forged headers */

static void ring_init(void)
{
    char why[256];
    struct ag_jwt_key *k[4] = {
        ag_jwt_key_new_hs256(FUZZ_KEY, strlen(FUZZ_KEY), "k1"),
        ag_jwt_key_new_pem(AG_JWT_EDDSA, ED_PRIV, strlen(ED_PRIV), true, "ed", why, sizeof(why)),
        ag_jwt_key_new_pem(AG_JWT_ES256, ES_PRIV, strlen(ES_PRIV), true, "es", why, sizeof(why)),
        ag_jwt_key_new_pem(AG_JWT_RS256, RS_PUB, strlen(RS_PUB), false, "rs", why, sizeof(why))};

    CHECK(k[0] != NULL && k[1] != NULL && k[2] != NULL && k[3] != NULL);
    ring = ag_jwt_ring_new(ag_jwt_key_new_hs256(FUZZ_KEY, strlen(FUZZ_KEY), NULL), k, 4, 1);
    ring_ed = ag_jwt_key_new_pem(AG_JWT_EDDSA, ED_PRIV, strlen(ED_PRIV), true, "ed", why,
                                 sizeof(why));
    ring_es = ag_jwt_key_new_pem(AG_JWT_ES256, ES_PRIV, strlen(ES_PRIV), true, "es", why,
                                 sizeof(why));
    CHECK(ring != NULL && ring_ed != NULL && ring_es != NULL);
}

/* The input as a header over a valid payload, signed by the asymmetric <key>, through the
 * ring: it passes only when jansson reads "alg" as <key>'s algorithm and "kid" as its kid
 * (the kid picks the key, the key the algorithm). */
static void check_ring_header(const struct ag_jwt_key *key, const char *kid, const uint8_t *data,
                              size_t size, const struct ag_jwt_expect *e, struct ag_jwt_claims *c)
{
    static const char pl[] = "{\"type\":\"access\",\"iss\":\"authgate\",\"exp\":1700000900}";
    size_t cap = size / 3 * 4 + 512, n, pl_len = sizeof(pl) - 1;
    char *tok = malloc(cap);
    unsigned char sig[JWT_SIG_MAX];
    struct ag_jwt_expect eh = *e;
    enum ag_jwt_status st;
    json_t *root = NULL, *alg, *k;

    CHECK(tok != NULL);
    sodium_bin2base64(tok, cap, data, size, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    n = strlen(tok);
    tok[n++] = '.';
    sodium_bin2base64(tok + n, cap - n, (const unsigned char *)pl, pl_len,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    n += strlen(tok + n);
    CHECK(ag_jwt__pkey_sign(key, tok, n, sig) == 0);
    tok[n++] = '.';
    sodium_bin2base64(tok + n, cap - n, sig, key->sig_len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    n += strlen(tok + n);
    eh.max_len = n;
    st = ag_jwt_ring_verify(ring, (struct ag_str){tok, n}, &eh, c);
    check_verdict(st, c, &eh);
    if (st == AG_JWT_OK) {
        CHECK(jansson_says(data, size, &root) == 1);
        alg = json_object_get(root, "alg");
        k = json_object_get(root, "kid");
        CHECK(json_is_string(alg) && strcmp(json_string_value(alg), ag_jwt_alg_name(key->alg)) == 0);
        CHECK(json_is_string(k) && strcmp(json_string_value(k), kid) == 0);
        json_decref(root);
    }
    free(tok);
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
        legacy_key = key;
        CHECK(key != NULL && key_kid != NULL);
        ring_init();
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
    check_payload_oracle(data, size, st, &claims);
    check_legacy(signed_tok, (size_t)n, &ea, st, data, size);
    st = ag_jwt_verify(key_kid, (struct ag_str){signed_tok, (size_t)n}, &ea, &claims);
    CHECK(st != AG_JWT_BAD_SIG && st != AG_JWT_BAD_HEADER);
    free(signed_tok);

    /* 4. the input as a header */
    check_header_oracle(key, data, size, &e, &claims);

    /* 5. the key ring: the input as a token, as a header of each asymmetric key, and as a
     * payload signed by the ring's signer (EdDSA), which passes every step before the claims */
    st = ag_jwt_ring_verify(ring, tok, &e, &claims);
    check_verdict(st, &claims, &e);
    if (size > 0) {
        check_ring_header(ring_ed, "ed", data, size, &e, &claims);
        check_ring_header(ring_es, "es", data, size, &e, &claims);
    }
    cap = size / 3 * 4 + AG_JWT_SIGN_EXTRA;
    signed_tok = malloc(cap);
    CHECK(signed_tok != NULL);
    n = ag_jwt_ring_sign(ring, (const char *)data, size, signed_tok, cap);
    CHECK(n > 0 && (size_t)n == strlen(signed_tok));
    ea = e;
    ea.max_len = (size_t)n;
    st = ag_jwt_ring_verify(ring, (struct ag_str){signed_tok, (size_t)n}, &ea, &claims);
    check_verdict(st, &claims, &ea);
    CHECK(st != AG_JWT_TOO_LARGE && st != AG_JWT_BAD_ALG && st != AG_JWT_BAD_HEADER &&
          st != AG_JWT_BAD_SIG);
    free(signed_tok);
    return 0;
}
