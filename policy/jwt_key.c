/*
 * policy/jwt_key.c - keys and what a key does on its own: HS256's RFC 2104 pad states and
 * every key's base64url header text computed once at load, HMAC-SHA256 from those states,
 * and signing (the asymmetric primitives are policy/jwt_pkey.c's). Verification, which
 * judges a token against a key, is policy/jwt.c.
 *
 * Owns:     struct ag_jwt_key (secret-derived SHA-256 states or key pairs, zeroed on free;
 *           the layout is in jwt_int.h so that jwt.c can read the header text and kid in place).
 * Entry:    ag_jwt_key_new_hs256(), ag_jwt_key_new_pem(), ag_jwt_key_free(), ag_jwt_sign(),
 *           ag_jwt__hmac(), ag_jwt_alg_name(), ag_jwt_alg_parse().
 * Not here: verification and its steps (policy/jwt.c), where keys come from (the config,
 *           gateway/server.c), the claims a minted token carries (policy/claims.c).
 * Spec:     RFC 2104, RFC 7515 s.5.1, RFC 7518 s.3.2, RFC 4648 s.5; docs/jwt.md, docs/keys.md.
 */
/* SHA256_Init/Update/Final are deprecated in OpenSSL 3 but still shipped; on a ~300-byte
 * input they are ~2x faster than EVP_MD_CTX_copy_ex() of prepared contexts (docs/jwt.md). */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "jwt.h"

#include "jwt_int.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h> /* load time only: the header ag_jwt_sign() writes */
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <sodium.h>

#define JWT_B64_VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define JWT_BLOCK 64 /* SHA-256 block size (RFC 2104 "B") */

/* ---------------------------------------------------------------------------------------------
 * Keys and HMAC-SHA256 (RFC 2104 with the pad states precomputed)
 * ------------------------------------------------------------------------------------------- */

/* A new copy of the NUL-terminated <s> (free()), or NULL on OOM (strdup is not C11). */
static char *jwt_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);

    return d != NULL ? memcpy(d, s, n) : NULL;
}

static const char *const jwt_alg_names[] = {
    [AG_JWT_HS256] = "HS256", [AG_JWT_EDDSA] = "EdDSA", [AG_JWT_ES256] = "ES256",
    [AG_JWT_RS256] = "RS256"};

const char *ag_jwt_alg_name(enum ag_jwt_alg alg)
{
    return (size_t)alg < sizeof(jwt_alg_names) / sizeof(jwt_alg_names[0]) ? jwt_alg_names[alg]
                                                                          : "?";
}

int ag_jwt_alg_parse(const char *s, enum ag_jwt_alg *alg)
{
    for (size_t i = 0; i < sizeof(jwt_alg_names) / sizeof(jwt_alg_names[0]); i++)
        if (strcmp(s, jwt_alg_names[i]) == 0) {
            *alg = (enum ag_jwt_alg)i;
            return 0;
        }
    return -1;
}

enum ag_jwt_alg ag_jwt_key_alg(const struct ag_jwt_key *k)
{
    return k->alg;
}

bool ag_jwt_key_can_sign(const struct ag_jwt_key *k)
{
    return k->can_sign;
}

/* Encodes the header ag_jwt_sign() writes for an <alg> key with <kid> (may be NULL): keys
 * sorted and compact as PyJWT writes them, so the fast path also covers PyJWT's tokens.
 * Returns new JSON text (free()), or NULL on OOM or a <kid> that is not UTF-8. */
static char *jwt_header_json(enum ag_jwt_alg alg, const char *kid)
{
    json_t *h;
    char *s;

    if (kid == NULL)
        h = json_pack("{s:s,s:s}", "alg", ag_jwt_alg_name(alg), "typ", "JWT");
    else
        h = json_pack("{s:s,s:s,s:s}", "alg", ag_jwt_alg_name(alg), "kid", kid, "typ", "JWT");
    if (h == NULL)
        return NULL;
    s = json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(h);
    return s;
}

/* A new zeroed key of <alg> with <kid> (may be NULL) and its header text, or NULL (OOM). */
static struct ag_jwt_key *jwt_key_alloc(enum ag_jwt_alg alg, const char *kid)
{
    struct ag_jwt_key *k = NULL;
    char *hdr = jwt_header_json(alg, kid);
    size_t hlen, blen;

    if (hdr == NULL)
        return NULL;
    hlen = strlen(hdr);
    blen = sodium_base64_ENCODED_LEN(hlen, JWT_B64_VARIANT); /* includes the NUL */
    k = calloc(1, sizeof(*k) + blen);
    if (k == NULL)
        goto out;
    k->alg = alg;
    if (kid != NULL) {
        k->kid = jwt_strdup(kid);
        if (k->kid == NULL) {
            AG_FREE(k);
            goto out;
        }
        k->kid_len = strlen(kid);
    }
    sodium_bin2base64(k->hdr_b64, blen, (const unsigned char *)hdr, hlen, JWT_B64_VARIANT);
    k->hdr_len = blen - 1;
out:
    free(hdr);
    return k;
}

struct ag_jwt_key *ag_jwt_key_new_hs256(const void *secret, size_t len, const char *kid)
{
    unsigned char kb[JWT_BLOCK], pad[JWT_BLOCK];
    struct ag_jwt_key *k;

    if (secret == NULL || len == 0)
        return NULL;
    k = jwt_key_alloc(AG_JWT_HS256, kid);
    if (k == NULL)
        return NULL;
    k->can_sign = true;
    k->sig_len = JWT_MAC_LEN;

    /* RFC 2104 s.2: a key longer than B is replaced by its hash; shorter keys are 0-padded. */
    memset(kb, 0, sizeof(kb));
    if (len > JWT_BLOCK)
        SHA256(secret, len, kb);
    else
        memcpy(kb, secret, len);
    for (size_t i = 0; i < JWT_BLOCK; i++)
        pad[i] = kb[i] ^ 0x36;
    SHA256_Init(&k->inner);
    SHA256_Update(&k->inner, pad, JWT_BLOCK);
    for (size_t i = 0; i < JWT_BLOCK; i++)
        pad[i] = kb[i] ^ 0x5c;
    SHA256_Init(&k->outer);
    SHA256_Update(&k->outer, pad, JWT_BLOCK);
    OPENSSL_cleanse(kb, sizeof(kb));
    OPENSSL_cleanse(pad, sizeof(pad));
    return k;
}

struct ag_jwt_key *ag_jwt_key_new_pem(enum ag_jwt_alg alg, const void *pem, size_t len,
                                      bool private, const char *kid, char *why, size_t cap)
{
    struct ag_jwt_key *k;

    if (alg == AG_JWT_HS256 || kid == NULL || pem == NULL) {
        snprintf(why, cap, "needs an asymmetric algorithm and a kid");
        return NULL;
    }
    k = jwt_key_alloc(alg, kid);
    if (k == NULL) {
        snprintf(why, cap, "out of memory");
        return NULL;
    }
    if (ag_jwt__pkey_load(k, pem, len, private, why, cap) != 0) {
        ag_jwt_key_free(k);
        return NULL;
    }
    return k;
}

void ag_jwt_key_free(struct ag_jwt_key *k)
{
    if (k == NULL)
        return;
    OPENSSL_cleanse(&k->inner, sizeof(k->inner));
    OPENSSL_cleanse(&k->outer, sizeof(k->outer));
    ag_jwt__pkey_free(k);
    free(k->kid);
    free(k);
}

/*
 * HMAC-SHA256 of <data,len> under <key> into <mac>: copies of the precomputed pad states
 * absorb the data and the inner digest. The copies are key-equivalent, so they are
 * cleansed before returning. Reads <key> only: safe to call from many threads.
 */
void ag_jwt__hmac(const struct ag_jwt_key *key, const void *data, size_t len, unsigned char mac[32])
{
    SHA256_CTX c;
    unsigned char ih[JWT_MAC_LEN];

    c = key->inner;
    SHA256_Update(&c, data, len);
    SHA256_Final(ih, &c);
    c = key->outer;
    SHA256_Update(&c, ih, sizeof(ih));
    SHA256_Final(mac, &c);
    OPENSSL_cleanse(&c, sizeof(c));
    OPENSSL_cleanse(ih, sizeof(ih));
}

/* ---------------------------------------------------------------------------------------------
 * Signing (RFC 7515 s.5.1)
 * ------------------------------------------------------------------------------------------- */

/*
 * By table: what it encodes is sent in the clear, and libsodium's constant-time encoder
 * costs ~30 instructions a byte, half the price of an HS256 assertion (docs/keys.md
 * "Upstream assertions").
 */
size_t ag_jwt_b64url(char *out, const unsigned char *in, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *o = out;
    size_t i = 0;

    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = tab[(v >> 6) & 63];
        *o++ = tab[v & 63];
    }
    if (n - i == 1) {
        *o++ = tab[in[i] >> 2];
        *o++ = tab[(in[i] & 3) << 4];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 8 | in[i + 1];
        *o++ = tab[v >> 10];
        *o++ = tab[(v >> 4) & 63];
        *o++ = tab[(v & 15) << 2];
    }
    return (size_t)(o - out);
}

/* Writes "<key's header text>.<base64url(payload)>.<base64url(signature)>" and a NUL into
 * <out>: both lengths are known before anything is written, so a short <cap> writes nothing. */
int ag_jwt_sign(const struct ag_jwt_key *key, const char *payload, size_t len, char *out,
                size_t cap)
{
    unsigned char sig[JWT_SIG_MAX];
    size_t plen, slen, total, pos;

    if (!key->can_sign || key->sig_len > sizeof(sig))
        return AG_EINVAL;
    if (len > cap || len > (size_t)INT_MAX)
        return AG_ETOOBIG;
    plen = sodium_base64_ENCODED_LEN(len, JWT_B64_VARIANT) - 1;
    slen = sodium_base64_ENCODED_LEN(key->sig_len, JWT_B64_VARIANT) - 1;
    total = key->hdr_len + 1 + plen + 1 + slen;
    if (total >= cap || total > (size_t)INT_MAX)
        return AG_ETOOBIG;
    memcpy(out, key->hdr_b64, key->hdr_len);
    pos = key->hdr_len;
    out[pos++] = '.';
    pos += ag_jwt_b64url(out + pos, (const unsigned char *)payload, len);
    if (key->alg == AG_JWT_HS256) {
        ag_jwt__hmac(key, out, pos, sig);
    } else if (ag_jwt__pkey_sign(key, out, pos, sig) != 0) {
        out[0] = '\0';
        return AG_EINVAL;
    }
    out[pos++] = '.';
    pos += ag_jwt_b64url(out + pos, sig, key->sig_len);
    out[pos] = '\0';
    OPENSSL_cleanse(sig, key->sig_len); /* an HS256 MAC is a valid signature: never leave it */
    return (int)total;
}
