/*
 * policy/jwt_key.c - HS256 keys and what a key does on its own: the RFC 2104 pad states
 * and the base64url header text computed once at load, HMAC-SHA256 from those states,
 * and signing. Verification, which judges a token against a key, is policy/jwt.c.
 *
 * Owns:     struct ag_jwt_key (secret-derived SHA-256 states, zeroed on free; the layout
 *           is in jwt_int.h so that jwt.c can read the header text and kid in place).
 * Entry:    ag_jwt_key_new_hs256(), ag_jwt_key_free(), ag_jwt_sign(), ag_jwt__hmac().
 * Not here: verification and its steps (policy/jwt.c), where keys come from (the config,
 *           gateway/server.c), the claims a minted token carries (policy/claims.c).
 * Spec:     RFC 2104, RFC 7515 s.5.1, RFC 7518 s.3.2, RFC 4648 s.5; docs/jwt.md.
 */
/* SHA256_Init/Update/Final are deprecated in OpenSSL 3 but still shipped; on a ~300-byte
 * input they are ~2x faster than EVP_MD_CTX_copy_ex() of prepared contexts (docs/jwt.md). */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "jwt.h"

#include "jwt_int.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h> /* load time only: the header ag_jwt_sign() writes */
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <sodium.h>

#define JWT_B64_VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define JWT_MAC_B64_LEN 43
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

/* Encodes the header ag_jwt_sign() writes for a key with <kid> (may be NULL): keys sorted and
 * compact as PyJWT writes them, so the fast path also covers PyJWT's tokens. Returns new
 * JSON text (free()), or NULL on OOM or a <kid> that is not UTF-8. */
static char *jwt_header_json(const char *kid)
{
    json_t *h;
    char *s;

    if (kid == NULL)
        return jwt_strdup("{\"alg\":\"HS256\",\"typ\":\"JWT\"}");
    h = json_pack("{s:s,s:s,s:s}", "alg", "HS256", "kid", kid, "typ", "JWT");
    if (h == NULL)
        return NULL;
    s = json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(h);
    return s;
}

struct ag_jwt_key *ag_jwt_key_new_hs256(const void *secret, size_t len, const char *kid)
{
    unsigned char kb[JWT_BLOCK], pad[JWT_BLOCK];
    struct ag_jwt_key *k = NULL;
    char *hdr = NULL;
    size_t hlen, blen;

    if (secret == NULL || len == 0)
        return NULL;
    hdr = jwt_header_json(kid);
    if (hdr == NULL)
        return NULL;
    hlen = strlen(hdr);
    blen = sodium_base64_ENCODED_LEN(hlen, JWT_B64_VARIANT); /* includes the NUL */
    k = calloc(1, sizeof(*k) + blen);
    if (k == NULL)
        goto out;
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
out:
    free(hdr);
    return k;
}

void ag_jwt_key_free(struct ag_jwt_key *k)
{
    if (k == NULL)
        return;
    OPENSSL_cleanse(&k->inner, sizeof(k->inner));
    OPENSSL_cleanse(&k->outer, sizeof(k->outer));
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

/* Writes "<key's header text>.<base64url(payload)>.<base64url(HMAC)>" and a NUL into <out>:
 * both lengths are known before anything is written, so a short <cap> writes nothing. */
int ag_jwt_sign(const struct ag_jwt_key *key, const char *payload, size_t len, char *out,
                size_t cap)
{
    unsigned char mac[JWT_MAC_LEN];
    size_t plen, total, pos;

    if (len > cap || len > (size_t)INT_MAX)
        return AG_ETOOBIG;
    plen = sodium_base64_ENCODED_LEN(len, JWT_B64_VARIANT) - 1;
    total = key->hdr_len + 1 + plen + 1 + JWT_MAC_B64_LEN;
    if (total >= cap || total > (size_t)INT_MAX)
        return AG_ETOOBIG;
    memcpy(out, key->hdr_b64, key->hdr_len);
    pos = key->hdr_len;
    out[pos++] = '.';
    sodium_bin2base64(out + pos, cap - pos, (const unsigned char *)payload, len, JWT_B64_VARIANT);
    pos += plen;
    ag_jwt__hmac(key, out, pos, mac);
    out[pos++] = '.';
    sodium_bin2base64(out + pos, cap - pos, mac, sizeof(mac), JWT_B64_VARIANT);
    return (int)total;
}
