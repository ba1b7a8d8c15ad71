/*
 * policy/jwt_ring.c - a key ring: the keys of one generation, the one that signs, and the
 * choice of the key a token is checked with: its "kid" names a ring key, no kid means the
 * kid-less key (cryptography-key). The chosen key then pins the algorithm (policy/jwt.c
 * refuses a token whose "alg" differs, before any signature check).
 *
 * Owns:     struct ag_jwt_ring (its keys, freed with it).
 * Entry:    ag_jwt_ring_new(), ag_jwt_ring_free(), ag_jwt_ring_signer(),
 *           ag_jwt_ring_verify(), ag_jwt_ring_sign(), ag_jwt_ring_jwks(),
 *           ag_jwt_ring_has_asym(), ag_jwt_ring_key().
 * Not here: the keys' algorithms (policy/jwt_key.c, policy/jwt_pkey.c), the checks of a
 *           token against a key (policy/jwt.c), reading key files (gateway/server.c), the
 *           "keys" config (policy/config_ring.c).
 * Spec:     RFC 7515 s.4.1.4, RFC 8725 s.3.1; CONTRACT.md section 12; docs/keys.md.
 */
#include "jwt.h"

#include "json_scan.h"
#include "jwt_int.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#define RING_HDR_MAX 1024 /* decoded bytes of the longest header read for its kid */

struct ag_jwt_ring {
    struct ag_jwt_key *plain;       /* cryptography-key (no kid), or NULL */
    const struct ag_jwt_key *signer; /* plain, one of keys, or NULL */
    bool asym;                      /* one of keys is EdDSA, ES256 or RS256 */
    size_t n;
    struct ag_jwt_key *keys[];      /* each with its kid */
};

struct ag_jwt_ring *ag_jwt_ring_new(struct ag_jwt_key *plain, struct ag_jwt_key **keys, size_t n,
                                    size_t signer)
{
    struct ag_jwt_ring *r = calloc(1, sizeof(*r) + n * sizeof(r->keys[0]));

    if (r == NULL) {
        ag_jwt_key_free(plain);
        for (size_t i = 0; i < n; i++)
            ag_jwt_key_free(keys[i]);
        return NULL;
    }
    r->plain = plain;
    r->n = n;
    for (size_t i = 0; i < n; i++) {
        r->keys[i] = keys[i];
        r->asym |= keys[i]->alg != AG_JWT_HS256;
    }
    r->signer = signer < n ? keys[signer] : plain;
    return r;
}

void ag_jwt_ring_free(struct ag_jwt_ring *r)
{
    if (r == NULL)
        return;
    ag_jwt_key_free(r->plain);
    for (size_t i = 0; i < r->n; i++)
        ag_jwt_key_free(r->keys[i]);
    free(r);
}

const struct ag_jwt_key *ag_jwt_ring_signer(const struct ag_jwt_ring *r)
{
    return r != NULL ? r->signer : NULL;
}

char *ag_jwt_ring_jwks(const struct ag_jwt_ring *r, size_t *len)
{
    json_t *set = json_array(), *doc = NULL, *k;
    char *text = NULL;

    if (set == NULL)
        return NULL;
    for (size_t i = 0; r != NULL && i < r->n; i++) {
        if (r->keys[i]->alg == AG_JWT_HS256)
            continue; /* a secret: never published */
        if ((k = ag_jwt_key_jwk(r->keys[i])) == NULL || json_array_append_new(set, k) != 0)
            goto out;
    }
    if ((doc = json_pack("{sO}", "keys", set)) != NULL &&
        (text = json_dumps(doc, JSON_COMPACT)) != NULL)
        *len = strlen(text);
out:
    json_decref(doc);
    json_decref(set);
    return text;
}

bool ag_jwt_ring_has_asym(const struct ag_jwt_ring *r)
{
    return r != NULL && r->asym;
}

/* The header parameter the choice reads. */
static const struct ag_json_name ring_kid_name[1] = {AG_JSON_NAME("kid")};

/*
 * The key of <r> the header segment <h> names, or NULL with the status in *<st>. First the
 * headers the keys write themselves (and PyJWT's kid-less HS256 one): compared as text, no
 * decoding (*<known> set: the header checks can be skipped). Otherwise the header is
 * decoded for its "kid" only; everything else in it is judged later with the chosen key
 * (policy/jwt.c).
 */
static const struct ag_jwt_key *ring_pick(const struct ag_jwt_ring *r, struct ag_str h,
                                          enum ag_jwt_status *st, bool *known)
{
    const struct ag_json_val *kid;
    unsigned char buf[RING_HDR_MAX];
    struct ag_json_doc doc;
    int n, dup;

    *known = true;
    if (r->plain != NULL &&
        ((h.len == sizeof(JWT_STD_HDR) - 1 && memcmp(h.p, JWT_STD_HDR, h.len) == 0) ||
         (h.len == r->plain->hdr_len && memcmp(h.p, r->plain->hdr_b64, h.len) == 0)))
        return r->plain;
    for (size_t i = 0; i < r->n; i++)
        if (h.len == r->keys[i]->hdr_len && memcmp(h.p, r->keys[i]->hdr_b64, h.len) == 0)
            return r->keys[i];
    *known = false;
    if ((n = ag_jwt__b64url_decode(h, buf, sizeof(buf))) < 0) {
        *st = n == AG_ETOOBIG ? AG_JWT_BAD_HEADER : AG_JWT_MALFORMED;
        return NULL;
    }
    if (ag_json_scan(buf, (size_t)n, &doc, &dup) != 0) {
        *st = dup ? AG_JWT_BAD_HEADER : AG_JWT_MALFORMED;
        return NULL;
    }
    ag_json_index(&doc, ring_kid_name, 1, &kid);
    *st = AG_JWT_BAD_HEADER; /* a kid no key has, or no kid and no kid-less key */
    if (kid == NULL)
        return r->plain;
    if (kid->type != AG_JSON_STR)
        return NULL;
    for (size_t i = 0; i < r->n; i++)
        if (ag_json_str_is(kid, r->keys[i]->kid, r->keys[i]->kid_len))
            return r->keys[i];
    return NULL;
}

enum ag_jwt_status ag_jwt_ring_verify(const struct ag_jwt_ring *r, struct ag_str tok,
                                      const struct ag_jwt_expect *exp, struct ag_jwt_claims *out)
{
    enum ag_jwt_status st;
    const struct ag_jwt_key *key;
    struct ag_str h, p, s;
    bool known;

    if (r == NULL)
        return AG_JWT_REJECT;
    if ((st = ag_jwt__prepare(tok, exp, out, &h, &p, &s)) != AG_JWT_OK)
        return st;
    if ((key = ring_pick(r, h, &st, &known)) == NULL)
        return st;
    return ag_jwt__verify_split(key, tok, h, p, s, known, exp, out);
}

int ag_jwt_ring_sign(const struct ag_jwt_ring *r, const char *payload, size_t len, char *out,
                     size_t cap)
{
    if (r == NULL || r->signer == NULL)
        return AG_EINVAL;
    return ag_jwt_sign(r->signer, payload, len, out, cap);
}

const struct ag_jwt_key *ag_jwt_ring_key(const struct ag_jwt_ring *r, const char *kid)
{
    for (size_t i = 0; r != NULL && kid != NULL && i < r->n; i++)
        if (strcmp(r->keys[i]->kid, kid) == 0)
            return r->keys[i];
    return NULL;
}
