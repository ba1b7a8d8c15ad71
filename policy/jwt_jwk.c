/*
 * policy/jwt_jwk.c - the public JWK of a ring key (RFC 7517): what an upstream needs to
 * verify the gateway's tokens itself, and nothing more. EdDSA as an OKP key (RFC 8037
 * s.2), ES256 as an EC P-256 key and RS256 as an RSA key (RFC 7518 s.6.2.1, s.6.3.1).
 *
 * Owns:     nothing; each JWK is a new jansson object for the caller.
 * Entry:    ag_jwt_key_jwk() (ag_jwt_ring_jwks() in policy/jwt_ring.c builds the set).
 * Not here: serving the set (gateway/ep/routes.c), loading keys (policy/jwt_pkey.c).
 * Spec:     RFC 7517 s.4-5, RFC 7518 s.6, RFC 8037 s.2; CONTRACT.md section 12; docs/keys.md.
 */
#include "jwt_int.h"

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <sodium.h>

#define JWK_EC_COORD 32  /* bytes of a P-256 coordinate, left-padded (RFC 7518 s.6.2.1.2) */
#define JWK_BN_MAX 512   /* bytes of the largest RSA modulus a key may have (4096 bits) */

/* Sets <o>[<name>] to the base64url (no padding, RFC 7515 s.2) of <bin,len>. 0 or -1. */
static int jwk_set_b64(json_t *o, const char *name, const unsigned char *bin, size_t len)
{
    char b64[sodium_base64_ENCODED_LEN(JWK_BN_MAX, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];

    if (len > JWK_BN_MAX)
        return -1;
    sodium_bin2base64(b64, sizeof(b64), bin, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return json_object_set_new(o, name, json_string(b64));
}

/*
 * Sets <o>[<name>] to the integer parameter <param> of <pk>, big-endian: <pad> bytes
 * left-padded with zeros (EC coordinates), or 0 for the shortest form (RSA's n and e,
 * RFC 7518 s.6.3.1.1: no leading zero octet). 0 or -1.
 */
static int jwk_set_bn(json_t *o, const char *name, const EVP_PKEY *pk, const char *param,
                      int pad)
{
    unsigned char bin[JWK_BN_MAX];
    BIGNUM *bn = NULL;
    int n = -1;

    if (EVP_PKEY_get_bn_param(pk, param, &bn) == 1 && BN_num_bytes(bn) <= (int)sizeof(bin))
        n = pad > 0 ? BN_bn2binpad(bn, bin, pad) : BN_bn2bin(bn, bin);
    BN_free(bn);
    return n <= 0 ? -1 : jwk_set_b64(o, name, bin, (size_t)n);
}

json_t *ag_jwt_key_jwk(const struct ag_jwt_key *k)
{
    json_t *o;
    int bad = 0;

    if (k == NULL || k->kid == NULL || k->alg == AG_JWT_HS256 ||
        (k->alg != AG_JWT_EDDSA && k->pkey == NULL) || (o = json_object()) == NULL)
        return NULL;
    switch (k->alg) {
    case AG_JWT_EDDSA:
        bad |= json_object_set_new(o, "kty", json_string("OKP"));
        bad |= json_object_set_new(o, "crv", json_string("Ed25519"));
        bad |= jwk_set_b64(o, "x", k->ed_pk, sizeof(k->ed_pk));
        break;
    case AG_JWT_ES256:
        bad |= json_object_set_new(o, "kty", json_string("EC"));
        bad |= json_object_set_new(o, "crv", json_string("P-256"));
        bad |= jwk_set_bn(o, "x", k->pkey, OSSL_PKEY_PARAM_EC_PUB_X, JWK_EC_COORD);
        bad |= jwk_set_bn(o, "y", k->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, JWK_EC_COORD);
        break;
    case AG_JWT_RS256:
        bad |= json_object_set_new(o, "kty", json_string("RSA"));
        bad |= jwk_set_bn(o, "n", k->pkey, OSSL_PKEY_PARAM_RSA_N, 0);
        bad |= jwk_set_bn(o, "e", k->pkey, OSSL_PKEY_PARAM_RSA_E, 0);
        break;
    case AG_JWT_HS256:
        break;
    }
    bad |= json_object_set_new(o, "kid", json_stringn(k->kid, k->kid_len));
    bad |= json_object_set_new(o, "alg", json_string(ag_jwt_alg_name(k->alg)));
    bad |= json_object_set_new(o, "use", json_string("sig"));
    ERR_clear_error();
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}
