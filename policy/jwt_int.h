/*
 * policy/jwt_int.h - what policy/jwt.c and policy/jwt_key.c share: the layout of an HS256
 * key, so that verification reads the key's header text and kid in place (no call per
 * token), and the MAC length.
 *
 * Owns:     nothing; struct ag_jwt_key is made and freed by jwt_key.c only.
 * Entry:    struct ag_jwt_key, JWT_MAC_LEN.
 * Not here: the public API (policy/jwt.h). Only policy/jwt*.c include this file.
 * Spec:     RFC 2104; docs/jwt.md.
 */
#ifndef AG_POLICY_JWT_INT_H
#define AG_POLICY_JWT_INT_H

#include <stddef.h>

#include <openssl/sha.h> /* SHA256_CTX: the type only; its functions are jwt_key.c's */

#define JWT_MAC_LEN 32 /* bytes of an HMAC-SHA256 */

struct ag_jwt_key {
    SHA256_CTX inner; /* state after absorbing (K' ^ ipad), RFC 2104 */
    SHA256_CTX outer; /* state after absorbing (K' ^ opad) */
    char *kid;        /* NULL, or the "kid" tokens may name (NUL-terminated, owned) */
    size_t kid_len;
    size_t hdr_len; /* length of hdr_b64 */
    char hdr_b64[]; /* base64url of the header ag_jwt_sign() writes (NUL-terminated) */
};

#endif
