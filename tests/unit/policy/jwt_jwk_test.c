/*
 * tests/unit/policy/jwt_jwk_test.c - unit tests for the public JWKs of ring keys
 * (policy/jwt_jwk.c) and the JWK Set of a ring (ag_jwt_ring_jwks(), policy/jwt_ring.c):
 * the RFC keys give the RFCs' published JWK members, a private key gives the same JWK as
 * its public half and never a private member, P-256 coordinates keep their leading zeros,
 * and HS256 keys and cryptography-key are never listed.
 *
 * Spec:     docs/keys.md "JWKS"; RFC 8037 A.2; RFC 7515 A.2.1, A.3.1; RFC 7518 s.6.
 */
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "jwt.h"
#include "jwt_fx.h"
#include "t.h"

#include "../../vectors/jwt/rfc_keys.h"

#define K1 "authgate-test-key-0001-do-not-use-in-production"
#define K2 "a-second-ring-secret-for-tests-0123456789abcdef"

/* RFC 8037 A.2: the public key of A.1. */
#define A2_ED_X "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
/* RFC 7515 A.2.1: the RSA key's modulus and exponent. */
#define A2_RSA_N                                                                                   \
    "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d" \
    "4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexM" \
    "dbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvU" \
    "K-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"
#define A2_RSA_E "AQAB"
/* RFC 7515 A.3.1: the P-256 key's coordinates. */
#define A3_EC_X "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"
#define A3_EC_Y "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"

/* The JWK of <k> as compact JSON text (keys in the order written), new; <k> is freed. */
static char *jwk_text(struct ag_jwt_key *k)
{
    json_t *o = ag_jwt_key_jwk(k);
    char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

    json_decref(o);
    ag_jwt_key_free(k);
    return s;
}

/* Asserts that the JWK of <k> (freed) is exactly <want>. */
static void assert_jwk(struct ag_jwt_key *k, const char *want)
{
    char *s = jwk_text(k);

    AG_ASSERT_STR(s != NULL ? s : "(null)", want);
    free(s);
}

/* ---------------------------------------------------------------------------------------------
 * One key
 * ------------------------------------------------------------------------------------------- */

/* RFC 8037 A.2: the OKP JWK of the Ed25519 key, from its public and its private PEM alike. */
static void test_jwk_rfc8037_ed25519(void)
{
    static const char want[] = "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" A2_ED_X
                               "\",\"kid\":\"ed-1\",\"alg\":\"EdDSA\",\"use\":\"sig\"}";

    assert_jwk(pem_key(AG_JWT_EDDSA, ED_PUB, false, "ed-1"), want);
    assert_jwk(pem_key(AG_JWT_EDDSA, ED_PRIV, true, "ed-1"), want);
}

/* RFC 7515 A.3.1: the EC JWK of the P-256 key. */
static void test_jwk_rfc7515_p256(void)
{
    static const char want[] = "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" A3_EC_X
                               "\",\"y\":\"" A3_EC_Y
                               "\",\"kid\":\"es-1\",\"alg\":\"ES256\",\"use\":\"sig\"}";

    assert_jwk(pem_key(AG_JWT_ES256, ES_PUB, false, "es-1"), want);
    assert_jwk(pem_key(AG_JWT_ES256, ES_PRIV, true, "es-1"), want);
}

/* RFC 7515 A.2.1: the RSA JWK: n of 256 bytes, e = 65537 in its shortest form "AQAB". */
static void test_jwk_rfc7515_rsa(void)
{
    static const char want[] = "{\"kty\":\"RSA\",\"n\":\"" A2_RSA_N "\",\"e\":\"" A2_RSA_E
                               "\",\"kid\":\"rs-1\",\"alg\":\"RS256\",\"use\":\"sig\"}";

    assert_jwk(pem_key(AG_JWT_RS256, RS_PUB, false, "rs-1"), want);
    assert_jwk(pem_key(AG_JWT_RS256, RS_PRIV, true, "rs-1"), want);
}

/* An HS256 key is a secret: it has no public JWK, with or without a kid. */
static void test_jwk_none_for_hs256(void)
{
    struct ag_jwt_key *h = ag_jwt_key_new_hs256(K1, strlen(K1), "h1");
    struct ag_jwt_key *plain = ag_jwt_key_new_hs256(K1, strlen(K1), NULL);

    AG_ASSERT_NULL(ag_jwt_key_jwk(h));
    AG_ASSERT_NULL(ag_jwt_key_jwk(plain));
    AG_ASSERT_NULL(ag_jwt_key_jwk(NULL));
    ag_jwt_key_free(h);
    ag_jwt_key_free(plain);
}

/* A P-256 coordinate whose first byte is zero is still written as 32 bytes (RFC 7518
 * s.6.2.1.2): made keys until one has such an x or y (1 in 128 does). */
static void test_jwk_p256_coordinates_are_left_padded(void)
{
    for (int tries = 0; tries < 20000; tries++) {
        EVP_PKEY *pk = EVP_EC_gen("P-256");
        BIGNUM *x = NULL, *y = NULL;
        BIO *b = BIO_new(BIO_s_mem());
        char *pem = NULL, *s;
        long n;
        bool short_one;

        AG_ASSERT(pk != NULL && b != NULL);
        AG_ASSERT(EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1);
        AG_ASSERT(EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 1);
        short_one = BN_num_bytes(x) < 32 || BN_num_bytes(y) < 32;
        BN_free(x);
        BN_free(y);
        if (short_one) {
            AG_ASSERT(PEM_write_bio_PUBKEY(b, pk) == 1);
            n = BIO_get_mem_data(b, &pem);
            char why[256] = "";
            json_t *o, *jx, *jy;
            struct ag_jwt_key *k = ag_jwt_key_new_pem(AG_JWT_ES256, pem, (size_t)n, false,
                                                      "short", why, sizeof(why));

            o = k != NULL ? ag_jwt_key_jwk(k) : NULL;
            AG_ASSERT(o != NULL);
            jx = json_object_get(o, "x");
            jy = json_object_get(o, "y");
            /* 32 bytes are 43 base64url characters; 31 would be 42. */
            AG_ASSERT_EQ(strlen(json_string_value(jx)), 43);
            AG_ASSERT_EQ(strlen(json_string_value(jy)), 43);
            s = json_dumps(o, JSON_COMPACT);
            AG_ASSERT(s != NULL && strstr(s, "\"d\"") == NULL);
            free(s);
            json_decref(o);
            ag_jwt_key_free(k);
        }
        BIO_free(b);
        EVP_PKEY_free(pk);
        if (short_one)
            return;
    }
    AG_FAIL_("no P-256 key with a short coordinate in 20000");
}

/* ---------------------------------------------------------------------------------------------
 * The set
 * ------------------------------------------------------------------------------------------- */

/* Every asymmetric ring key, in ring order, public keys and private ones alike; the HS256
 * ring key and cryptography-key never; no private member anywhere. */
static void test_jwks_lists_the_asymmetric_keys_only(void)
{
    struct ag_jwt_key *keys[5] = {
        pem_key(AG_JWT_EDDSA, ED_PRIV, true, "ed"), ag_jwt_key_new_hs256(K2, strlen(K2), "h2"),
        pem_key(AG_JWT_ES256, ES_PUB, false, "es"), pem_key(AG_JWT_RS256, RS_PRIV, true, "rs"),
        pem_key(AG_JWT_EDDSA, ED_PUB, false, "ed-old")};
    struct ag_jwt_ring *r =
        ag_jwt_ring_new(ag_jwt_key_new_hs256(K1, strlen(K1), NULL), keys, 5, 1);
    size_t len = 0;
    char *s = ag_jwt_ring_jwks(r, &len);
    json_t *doc, *set;
    static const char *const kids[] = {"ed", "es", "rs", "ed-old"};
    static const char *const secret_members[] = {"d", "p", "q", "dp", "dq", "qi", "k", "oth"};

    AG_ASSERT(s != NULL);
    AG_ASSERT_EQ(len, strlen(s));
    doc = json_loads(s, 0, NULL);
    set = json_object_get(doc, "keys");
    AG_ASSERT_EQ(json_object_size(doc), 1);
    AG_ASSERT_EQ(json_array_size(set), 4);
    for (size_t i = 0; i < json_array_size(set) && i < 4; i++) {
        json_t *k = json_array_get(set, i);

        AG_ASSERT_STR(json_string_value(json_object_get(k, "kid")), kids[i]);
        AG_ASSERT_STR(json_string_value(json_object_get(k, "use")), "sig");
        for (size_t j = 0; j < sizeof(secret_members) / sizeof(secret_members[0]); j++)
            AG_ASSERT_NULL(json_object_get(k, secret_members[j]));
    }
    AG_ASSERT(strstr(s, K1) == NULL && strstr(s, K2) == NULL && strstr(s, "HS256") == NULL);
    json_decref(doc);
    free(s);
    ag_jwt_ring_free(r);
}

/* A ring of HS256 keys only (or cryptography-key alone) publishes an empty set. */
static void test_jwks_of_an_hs256_ring_is_empty(void)
{
    struct ag_jwt_key *keys[1] = {ag_jwt_key_new_hs256(K2, strlen(K2), "h2")};
    struct ag_jwt_ring *r = ag_jwt_ring_new(ag_jwt_key_new_hs256(K1, strlen(K1), NULL), keys, 1, 0);
    struct ag_jwt_ring *plain = ag_jwt_ring_new(ag_jwt_key_new_hs256(K1, strlen(K1), NULL), NULL,
                                                0, 0);
    size_t len = 0;
    char *s = ag_jwt_ring_jwks(r, &len);

    AG_ASSERT_STR(s != NULL ? s : "(null)", "{\"keys\":[]}");
    AG_ASSERT_EQ(len, 11);
    free(s);
    s = ag_jwt_ring_jwks(plain, &len);
    AG_ASSERT_STR(s != NULL ? s : "(null)", "{\"keys\":[]}");
    free(s);
    ag_jwt_ring_free(r);
    ag_jwt_ring_free(plain);
}

int main(void)
{
    AG_RUN(test_jwk_rfc8037_ed25519);
    AG_RUN(test_jwk_rfc7515_p256);
    AG_RUN(test_jwk_rfc7515_rsa);
    AG_RUN(test_jwk_none_for_hs256);
    AG_RUN(test_jwk_p256_coordinates_are_left_padded);
    AG_RUN(test_jwks_lists_the_asymmetric_keys_only);
    AG_RUN(test_jwks_of_an_hs256_ring_is_empty);
    return ag_t_done();
}
