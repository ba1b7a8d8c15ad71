/*
 * policy/jwt_int.h - what policy/jwt*.c share: the layout of a key (HS256 pad states, an
 * Ed25519 pair, or an OpenSSL key for ES256/RS256), so that verification reads the key's
 * algorithm, header text and kid in place (no call per token), and the split-up verify.
 *
 * Owns:     nothing; struct ag_jwt_key is made and freed by jwt_key.c only.
 * Entry:    struct ag_jwt_key, JWT_MAC_LEN, ag_jwt__prepare(), ag_jwt__verify_split(), ag_jwt__check_sig(),
 *           ag_jwt__pkey_*().
 * Not here: the public API (policy/jwt.h). Only policy/jwt*.c include this file.
 * Spec:     RFC 2104, RFC 7518 s.3, RFC 8037; docs/jwt.md, docs/keys.md.
 */
#ifndef AG_POLICY_JWT_INT_H
#define AG_POLICY_JWT_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/sha.h> /* SHA256_CTX: the type only; its functions are jwt_key.c's */

#include "jwt.h"

#define JWT_MAC_LEN 32 /* bytes of an HMAC-SHA256 */
#define JWT_MAX_LEN_DEFAULT 8192 /* ag_jwt_expect.max_len == 0 means this */
/* base64url of {"alg":"HS256","typ":"JWT"}: PyJWT's header (sorted keys, compact) and ours. */
#define JWT_STD_HDR "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
#define JWT_SIG_MAX 512 /* bytes of the longest signature (RS256 with a 4096-bit key) */

struct ag_jwt_key {
    enum ag_jwt_alg alg;
    bool can_sign;    /* HS256, or an asymmetric key loaded from its private part */
    size_t sig_len;   /* bytes of a signature: 32, 64, or the RSA modulus */
    SHA256_CTX inner; /* HS256: state after absorbing (K' ^ ipad), RFC 2104 */
    SHA256_CTX outer; /* HS256: state after absorbing (K' ^ opad) */
    unsigned char ed_pk[32]; /* EdDSA: the public key (RFC 8032) */
    unsigned char ed_sk[64]; /* EdDSA with can_sign: libsodium's seed || public key */
    EVP_PKEY *pkey;   /* ES256, RS256: the key (shared read-only by every thread) */
    char *kid;        /* NULL, or the "kid" tokens may name (NUL-terminated, owned) */
    size_t kid_len;
    size_t hdr_len; /* length of hdr_b64 */
    char hdr_b64[]; /* base64url of the header ag_jwt_sign() writes (NUL-terminated) */
};

/* The asymmetric algorithms (policy/jwt_pkey.c). */

/** Fills <k>'s key (k->alg set by the caller) from PEM text; 0, or -1 with the reason in <why>. */
int ag_jwt__pkey_load(struct ag_jwt_key *k, const void *pem, size_t len, bool private, char *why,
                      size_t cap);
/** Signs <in,len> with <k> into <sig> (k->sig_len bytes). Returns 0 or -1. */
int ag_jwt__pkey_sign(const struct ag_jwt_key *k, const void *in, size_t len, unsigned char *sig);
/** Checks the raw signature <sig,sig_len> of <in,len>: AG_JWT_OK or AG_JWT_BAD_SIG. */
enum ag_jwt_status ag_jwt__pkey_verify(const struct ag_jwt_key *k, const void *in, size_t len,
                                       const unsigned char *sig, size_t sig_len);
/** Frees the asymmetric parts of <k> (zeroing the Ed25519 secret). */
void ag_jwt__pkey_free(struct ag_jwt_key *k);

/** The steps before a key is needed: <exp> and <out> given, <out> reset, <tok> within
 *  max_len and split into <h>, <p>, <s>. Returns AG_JWT_OK or the failing status. */
enum ag_jwt_status ag_jwt__prepare(struct ag_str tok, const struct ag_jwt_expect *exp,
                                   struct ag_jwt_claims *out, struct ag_str *h, struct ag_str *p,
                                   struct ag_str *s);

/** ag_jwt_verify() on a token already split into <h>, <p>, <s> by ag_jwt__split(); <known>:
 *  the header segment is text known to pass the header checks for <key> (not decoded). */
enum ag_jwt_status ag_jwt__verify_split(const struct ag_jwt_key *key, struct ag_str tok,
                                        struct ag_str h, struct ag_str p, struct ag_str s,
                                        bool known, const struct ag_jwt_expect *exp,
                                        struct ag_jwt_claims *out);

/** Whether <sig,sig_len> signs <in> under <key> (its algorithm's check; constant time for
 *  HS256). Returns AG_JWT_OK or AG_JWT_BAD_SIG. */
enum ag_jwt_status ag_jwt__check_sig(const struct ag_jwt_key *key, struct ag_str in,
                                     const unsigned char *sig, size_t sig_len);

#endif
