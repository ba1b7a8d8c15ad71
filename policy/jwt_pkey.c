/*
 * policy/jwt_pkey.c - the asymmetric algorithms of the key ring: EdDSA (Ed25519 through
 * libsodium), ES256 (P-256) and RS256 (RSA, 2048 bits or more) through OpenSSL 3 EVP: a
 * key made once from PEM text, and the sign and verify primitives on raw JWS signatures
 * (ES256 in JOSE's r||s form, converted to and from OpenSSL's DER at the edge).
 *
 * Owns:     the asymmetric parts of struct ag_jwt_key (ed_pk, ed_sk, pkey; jwt_int.h).
 * Entry:    ag_jwt__pkey_load(), ag_jwt__pkey_sign(), ag_jwt__pkey_verify(),
 *           ag_jwt__pkey_free() (for policy/jwt_key.c and policy/jwt.c only);
 *           ag_jwt_key_generate_pem() (`authgate keygen --alg`).
 * Not here: reading key files (gateway/server.c, at load), HS256 (policy/jwt_key.c),
 *           headers and claims (policy/jwt.c).
 * Spec:     RFC 7518 s.3.3-3.4, RFC 8037 s.3.1, RFC 8032 s.5.1; docs/keys.md.
 */
#include "jwt_int.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <sodium.h>

#define JWT_ES256_HALF 32   /* bytes of r and of s (P-256) */
#define JWT_RSA_MIN_BITS 2048
#define JWT_RSA_MAX_BITS 4096 /* JWT_SIG_MAX bytes */

/* A PEM pass phrase is never asked for: an encrypted key fails to load (no prompt at load). */
static int jwt_no_pass(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return 0;
}

/* Writes <what> and OpenSSL's first queued reason into <why>, and clears the queue. */
static void jwt_why(char *why, size_t cap, const char *what)
{
    unsigned long e = ERR_peek_error();
    char r[160];

    if (e != 0) {
        ERR_error_string_n(e, r, sizeof(r));
        snprintf(why, cap, "%s (%s)", what, r);
    } else {
        snprintf(why, cap, "%s", what);
    }
    ERR_clear_error();
}

/* Checks that <pk> is of <alg>'s key type and size. Returns 0, or -1 with <why>. */
static int jwt_pkey_fits(EVP_PKEY *pk, enum ag_jwt_alg alg, char *why, size_t cap)
{
    char group[32] = "";
    int bits;

    switch (alg) {
    case AG_JWT_EDDSA:
        if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_ED25519)
            return 0;
        snprintf(why, cap, "not an Ed25519 key (EdDSA here means Ed25519)");
        return -1;
    case AG_JWT_ES256:
        if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC &&
            EVP_PKEY_get_group_name(pk, group, sizeof(group), NULL) == 1 &&
            (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0))
            return 0;
        snprintf(why, cap, "not a P-256 EC key (ES256 needs curve P-256)");
        ERR_clear_error();
        return -1;
    case AG_JWT_RS256:
        bits = EVP_PKEY_get_bits(pk);
        if (EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA) {
            snprintf(why, cap, "not an RSA key");
            return -1;
        }
        if (bits < JWT_RSA_MIN_BITS || bits > JWT_RSA_MAX_BITS) {
            snprintf(why, cap, "RSA key of %d bits (RS256 needs %d to %d)", bits,
                     JWT_RSA_MIN_BITS, JWT_RSA_MAX_BITS);
            return -1;
        }
        return 0;
    case AG_JWT_HS256:
        break;
    }
    snprintf(why, cap, "not an asymmetric algorithm");
    return -1;
}

int ag_jwt__pkey_load(struct ag_jwt_key *k, const void *pem, size_t len, bool private, char *why,
                      size_t cap)
{
    unsigned char seed[32];
    size_t n = sizeof(seed);
    EVP_PKEY *pk;
    BIO *b;
    int rc = -1;

    if (len > INT_MAX || (b = BIO_new_mem_buf(pem, (int)len)) == NULL) {
        snprintf(why, cap, "out of memory");
        return -1;
    }
    pk = private ? PEM_read_bio_PrivateKey(b, NULL, jwt_no_pass, NULL)
                 : PEM_read_bio_PUBKEY(b, NULL, jwt_no_pass, NULL);
    BIO_free(b);
    if (pk == NULL) {
        jwt_why(why, cap, private ? "not an unencrypted PEM private key"
                                  : "not a PEM public key (BEGIN PUBLIC KEY)");
        return -1;
    }
    if (jwt_pkey_fits(pk, k->alg, why, cap) != 0)
        goto out;
    k->can_sign = private;
    if (k->alg == AG_JWT_EDDSA) {
        /* libsodium does the arithmetic; OpenSSL only reads the PEM. */
        k->sig_len = crypto_sign_BYTES;
        if (private) {
            if (EVP_PKEY_get_raw_private_key(pk, seed, &n) != 1 || n != sizeof(seed)) {
                jwt_why(why, cap, "cannot read the Ed25519 private key");
                goto out;
            }
            crypto_sign_seed_keypair(k->ed_pk, k->ed_sk, seed);
            sodium_memzero(seed, sizeof(seed));
        } else {
            n = sizeof(k->ed_pk);
            if (EVP_PKEY_get_raw_public_key(pk, k->ed_pk, &n) != 1 || n != sizeof(k->ed_pk)) {
                jwt_why(why, cap, "cannot read the Ed25519 public key");
                goto out;
            }
        }
        rc = 0;
        goto out;
    }
    k->sig_len = k->alg == AG_JWT_ES256 ? 2 * JWT_ES256_HALF : (size_t)EVP_PKEY_get_size(pk);
    k->pkey = pk;
    pk = NULL;
    rc = 0;
out:
    EVP_PKEY_free(pk);
    return rc;
}

void ag_jwt__pkey_free(struct ag_jwt_key *k)
{
    sodium_memzero(k->ed_sk, sizeof(k->ed_sk));
    EVP_PKEY_free(k->pkey);
    k->pkey = NULL;
}

char *ag_jwt_key_generate_pem(enum ag_jwt_alg alg, size_t *len)
{
    EVP_PKEY *pk = alg == AG_JWT_EDDSA   ? EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")
                   : alg == AG_JWT_ES256 ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")
                   : alg == AG_JWT_RS256
                       ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)AG_JWT_KEYGEN_RSA_BITS)
                       : NULL;
    BIO *b = pk != NULL ? BIO_new(BIO_s_mem()) : NULL;
    char *text = NULL, *p;
    long n;

    /* PEM_write_bio_PrivateKey() with no cipher writes PKCS#8 ("BEGIN PRIVATE KEY"). */
    if (b != NULL && PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL) == 1 &&
        (n = BIO_get_mem_data(b, &p)) > 0 && (text = malloc((size_t)n + 1)) != NULL) {
        memcpy(text, p, (size_t)n);
        text[n] = '\0';
        *len = (size_t)n;
        OPENSSL_cleanse(p, (size_t)n);
    }
    BIO_free(b);
    EVP_PKEY_free(pk);
    ERR_clear_error();
    return text;
}

/* ES256: DER ECDSA-Sig-Value <der,len> to JOSE's r||s (32 bytes each) in <raw>. 0 or -1. */
static int jwt_es_der_to_raw(const unsigned char *der, size_t len, unsigned char *raw)
{
    const unsigned char *p = der;
    ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)len);
    int ok;

    if (s == NULL)
        return -1;
    ok = BN_bn2binpad(ECDSA_SIG_get0_r(s), raw, JWT_ES256_HALF) == JWT_ES256_HALF &&
         BN_bn2binpad(ECDSA_SIG_get0_s(s), raw + JWT_ES256_HALF, JWT_ES256_HALF) ==
             JWT_ES256_HALF;
    ECDSA_SIG_free(s);
    return ok ? 0 : -1;
}

/* ES256: JOSE's r||s <raw> to DER in <der> (capacity <cap>). Returns the length, or -1. */
static int jwt_es_raw_to_der(const unsigned char *raw, unsigned char *der, size_t cap)
{
    ECDSA_SIG *s = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, JWT_ES256_HALF, NULL);
    BIGNUM *v = BN_bin2bn(raw + JWT_ES256_HALF, JWT_ES256_HALF, NULL);
    unsigned char *p = der;
    int n = -1;

    if (s == NULL || r == NULL || v == NULL || ECDSA_SIG_set0(s, r, v) != 1) {
        BN_free(r);
        BN_free(v);
    } else if (i2d_ECDSA_SIG(s, NULL) <= (int)cap) {
        n = i2d_ECDSA_SIG(s, &p);
    }
    ECDSA_SIG_free(s);
    return n;
}

int ag_jwt__pkey_sign(const struct ag_jwt_key *k, const void *in, size_t len, unsigned char *sig)
{
    unsigned char der[JWT_SIG_MAX];
    size_t n = sizeof(der);
    EVP_MD_CTX *c;
    int rc = -1;

    if (!k->can_sign)
        return -1;
    if (k->alg == AG_JWT_EDDSA)
        return crypto_sign_detached(sig, NULL, in, len, k->ed_sk) == 0 ? 0 : -1;
    if (k->pkey == NULL || (c = EVP_MD_CTX_new()) == NULL)
        return -1;
    if (EVP_DigestSignInit(c, NULL, EVP_sha256(), NULL, k->pkey) == 1 &&
        EVP_DigestSign(c, der, &n, in, len) == 1) {
        if (k->alg == AG_JWT_ES256)
            rc = jwt_es_der_to_raw(der, n, sig);
        else if (n == k->sig_len)
            rc = (memcpy(sig, der, n), 0);
    }
    EVP_MD_CTX_free(c);
    ERR_clear_error();
    return rc;
}

enum ag_jwt_status ag_jwt__pkey_verify(const struct ag_jwt_key *k, const void *in, size_t len,
                                       const unsigned char *sig, size_t sig_len)
{
    unsigned char der[2 * JWT_ES256_HALF + 16];
    enum ag_jwt_status st = AG_JWT_BAD_SIG;
    const unsigned char *s = sig;
    EVP_MD_CTX *c;
    int n = (int)sig_len;

    if (sig_len != k->sig_len)
        return AG_JWT_BAD_SIG;
    if (k->alg == AG_JWT_EDDSA)
        return crypto_sign_verify_detached(sig, in, len, k->ed_pk) == 0 ? AG_JWT_OK
                                                                         : AG_JWT_BAD_SIG;
    if (k->pkey == NULL)
        return AG_JWT_BAD_SIG;
    if (k->alg == AG_JWT_ES256) {
        if ((n = jwt_es_raw_to_der(sig, der, sizeof(der))) < 0)
            return AG_JWT_BAD_SIG;
        s = der;
    }
    if ((c = EVP_MD_CTX_new()) == NULL)
        return AG_JWT_REJECT;
    if (EVP_DigestVerifyInit(c, NULL, EVP_sha256(), NULL, k->pkey) == 1 &&
        EVP_DigestVerify(c, s, (size_t)n, in, len) == 1)
        st = AG_JWT_OK;
    EVP_MD_CTX_free(c);
    ERR_clear_error();
    return st;
}
