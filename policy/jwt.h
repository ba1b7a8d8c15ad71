/*
 * policy/jwt.h - JWS compact tokens (RFC 7515/7519) signed with HS256, EdDSA (Ed25519),
 * ES256 or RS256: keys prepared once at load, a ring of them selected by "kid", signing,
 * and verification in separate, individually tested steps: split, base64url, header,
 * signature, claims.
 *
 * Owns:     struct ag_jwt_key (an HMAC state or a public/private key), struct ag_jwt_ring
 *           (the keys of a generation and its signer); nothing per token.
 * Entry:    ag_jwt_key_new_hs256(), ag_jwt_key_new_pem(), ag_jwt_ring_new(),
 *           ag_jwt_ring_verify(), ag_jwt_ring_sign(), ag_jwt_ring_jwks(); ag_jwt_verify(),
 *           ag_jwt_sign() for one key.
 * Not here: where tokens come from (gateway/auth/authn.c), revocation (policy/revoke.h),
 *           the verified-token cache (gateway/auth/authn.c).
 * Spec:     RFC 7515 s.7.1, RFC 7518 s.3, RFC 7519 s.7.2, RFC 8037, RFC 8725; docs/jwt.md,
 *           docs/keys.md.
 */
#ifndef AG_POLICY_JWT_H
#define AG_POLICY_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base.h"

/* Verdicts: zero is the failing value; compare with AG_JWT_OK only. */
enum ag_jwt_status {
    AG_JWT_REJECT = 0,
    AG_JWT_OK = 1,
    AG_JWT_MALFORMED = -1,  /* not header.payload.signature of strict base64url, bad JSON */
    AG_JWT_TOO_LARGE = -2,  /* longer than the configured maximum (not even split) */
    AG_JWT_BAD_ALG = -3,    /* alg missing, "none" (any case), or not the key's algorithm */
    AG_JWT_BAD_HEADER = -4, /* jwk, jku, x5u, x5c or crit present; kid unknown; dup keys */
    AG_JWT_BAD_SIG = -5,    /* signature does not match (or wrong length) */
    AG_JWT_EXPIRED = -6,    /* exp <= now - exp_leeway */
    AG_JWT_NOT_YET = -7,    /* nbf > now + leeway, or iat > now + leeway */
    AG_JWT_BAD_TYPE = -8,   /* "type" claim is not the expected one ("access"/"refresh") */
    AG_JWT_BAD_ISS = -9,    /* iss differs from the expected issuer */
    AG_JWT_BAD_AUD = -10,   /* an audience is required and the token does not name it */
    AG_JWT_BAD_CLAIMS = -11, /* exp missing or not a number; sub/jti/... of the wrong type */
    AG_JWT_REVOKED = -12,   /* reserved for callers (revocation is not decided here) */
    AG_JWT_THROTTLED = -13, /* an asymmetric key's token while exp->asym_closed: refused
                             * unchecked (docs/keys.md "Floods of invalid tokens") */
};

/** A fixed phrase for <st>, usable in logs and error_description ("token expired"). */
const char *ag_jwt_status_str(enum ag_jwt_status st);

struct ag_jwt_key;

/* The algorithms a key may have (RFC 7518 s.3.1, RFC 8037 s.3.1); a key has exactly one. */
enum ag_jwt_alg { AG_JWT_HS256, AG_JWT_EDDSA, AG_JWT_ES256, AG_JWT_RS256 };

/** The JOSE name of <alg> ("HS256", "EdDSA", "ES256", "RS256"). */
const char *ag_jwt_alg_name(enum ag_jwt_alg alg);

/** Reads the JOSE name <s> (exact case) into *<alg>. Returns 0, or -1 for any other name. */
int ag_jwt_alg_parse(const char *s, enum ag_jwt_alg *alg);

/**
 * Makes an HS256 key from <secret,len> (the bytes of cryptography-key as written)
 * with the SHA-256 inner/outer pad states computed once. <kid> may be NULL (tokens
 * then must carry no kid). Returns a new key, or NULL (OOM, or len == 0).
 */
struct ag_jwt_key *ag_jwt_key_new_hs256(const void *secret, size_t len, const char *kid);

/**
 * Makes an <alg> key (EdDSA, ES256 or RS256) from the PEM text <pem,len>: a private key
 * (PKCS#8 or the traditional form, unencrypted) when <private> is set, which then signs
 * and verifies, else a public key (SubjectPublicKeyInfo), which verifies only. The key
 * must be of <alg>'s type: Ed25519, P-256, or RSA of at least 2048 bits. <kid> is
 * required. Returns a new key, or NULL with the reason in <why> (capacity <cap>).
 * Parses memory only: reading the file is the caller's (policy does no I/O).
 */
struct ag_jwt_key *ag_jwt_key_new_pem(enum ag_jwt_alg alg, const void *pem, size_t len,
                                      bool private, const char *kid, char *why, size_t cap);

/**
 * A fresh private key for <alg> (EdDSA, ES256 or RS256 of AG_JWT_KEYGEN_RSA_BITS bits) as
 * unencrypted PKCS#8 PEM text, the form a "private-key-file" takes. Returns new text
 * (NUL-terminated; the caller zeroes and frees it) with its length in *<len>, or NULL
 * (HS256, OOM, no randomness).
 */
char *ag_jwt_key_generate_pem(enum ag_jwt_alg alg, size_t *len);
/* RS256's floor (RFC 7518 s.3.3) and the usual JOSE size: a gateway signs on its workers'
 * loops, and 3072 bits sign 2.9 times slower (docs/keys.md "Making keys"). */
#define AG_JWT_KEYGEN_RSA_BITS 2048

/** <k>'s algorithm. */
enum ag_jwt_alg ag_jwt_key_alg(const struct ag_jwt_key *k);

/** Whether <k> can sign (HS256, or a private key). */
bool ag_jwt_key_can_sign(const struct ag_jwt_key *k);

/** Frees <k> (the secret state is zeroed). NULL allowed. */
void ag_jwt_key_free(struct ag_jwt_key *k);

/* What a verification expects beyond the signature. */
struct ag_jwt_expect {
    const char *type;      /* required value of the "type" claim, e.g. "access" */
    const char *issuer;    /* required "iss", or NULL to not check */
    const char *audience;  /* required in "aud" (string or array), or NULL */
    int64_t now;           /* seconds since the epoch */
    int64_t leeway;        /* seconds of clock skew allowed for nbf/iat (token-leeway) */
    int64_t exp_leeway;    /* seconds a token still passes from its exp on (token-exp-leeway,
                            * default 0: the gateway issues and checks with one clock) */
    size_t max_len;        /* longest token accepted (default 8192) */
    bool legacy;           /* legacy-tokens window open: a token without iss that carries
                            * exactly fastauth-api's claims (client_id, type, iat, exp) passes
                            * with sub "client:<client_id>" and claims.legacy set */
    bool asym_closed;      /* the caller's budget of asymmetric signature checks is spent:
                            * a token of an EdDSA, ES256 or RS256 key gets AG_JWT_THROTTLED
                            * where its signature check would be (gateway/auth/sigbudget.c) */
};

/*
 * Client and user subjects live in separate namespaces (CONTRACT.md section 5): a
 * client's token carries "sub": "client:<client_id>" and "sub_type": "client"; a user's
 * token carries the user's id and no "sub_type". Code judges the claim, not the prefix.
 */
#define AG_JWT_CLIENT_SUB_PREFIX "client:"

/* Claims the gateway uses; strings are copied (unescaped) into <buf>. */
#define AG_JWT_CLAIMS_BUF 8192
struct ag_jwt_claims {
    struct ag_str sub, client_id, jti, sid, family, type, iss;
    struct ag_str pwh;     /* reset tokens: fingerprint of the password hash they are bound to */
    struct ag_str scope;   /* space-separated ("scope" string, or "scopes"/"scp" array joined) */
    struct ag_str roles;   /* comma-separated ("roles" array of strings, or a string) */
    int64_t exp, iat, nbf; /* rounded up to whole seconds, saturated; nbf/iat 0 when absent */
    bool client;           /* "sub_type": "client": the token names a client, never a user */
    bool legacy;           /* a fastauth-api token (ag_jwt_expect.legacy): no jti, sid, iss */
    bool asym;             /* the token reached the signature check of an asymmetric key
                            * (its verdict then is that check's or a later one's) */
    char buf[AG_JWT_CLAIMS_BUF];
    size_t used;
};

/**
 * Verifies the compact token <tok> with <key> and <exp>: size, split into three
 * segments, strict base64url (no padding, no '+' '/', no whitespace), header
 * (JSON object, duplicate keys refused, alg equal to the key's, forbidden
 * headers refused, kid matching the key's if the key has one), signature
 * (constant-time), then claims. On AG_JWT_OK fills <out>. Pure: no I/O, no
 * globals, thread safe with a shared <key>.
 */
enum ag_jwt_status ag_jwt_verify(const struct ag_jwt_key *key, struct ag_str tok,
                                 const struct ag_jwt_expect *exp, struct ag_jwt_claims *out);

/**
 * Signs the JSON object text <payload,len> as a JWS of <key>'s algorithm with header
 * {"alg":A,"typ":"JWT"} (plus "kid" when the key has one). Writes the NUL-terminated
 * token into <out> (capacity <cap>; the payload's base64url plus AG_JWT_SIGN_EXTRA is
 * always enough). Returns its length, AG_ETOOBIG when <cap> is too small, or AG_EINVAL when the
 * key cannot sign (a public key) or the signature fails.
 */
#define AG_JWT_SIGN_EXTRA 1024 /* header (kid of at most 64 bytes) and signature, base64url */
int ag_jwt_sign(const struct ag_jwt_key *key, const char *payload, size_t len, char *out,
                size_t cap);

/*
 * A key ring: the keys of one generation (CONTRACT.md section 12). A token naming a "kid"
 * is checked with that ring key only, and only with its algorithm; a token without "kid"
 * only with the kid-less key (cryptography-key). One key signs.
 */
struct ag_jwt_ring;

/**
 * Makes a ring of <n> keys <keys> (each with a kid, all different; taken over, also on
 * failure) plus the kid-less <plain> (may be NULL; taken over). The signer is keys[signer]
 * when <signer> < n, else <plain>. Returns the ring, or NULL (OOM; the keys are freed).
 */
struct ag_jwt_ring *ag_jwt_ring_new(struct ag_jwt_key *plain, struct ag_jwt_key **keys, size_t n,
                                    size_t signer);

/** Frees <r> and its keys. NULL allowed. */
void ag_jwt_ring_free(struct ag_jwt_ring *r);

/** <r>'s signing key, or NULL (no key can sign). */
const struct ag_jwt_key *ag_jwt_ring_signer(const struct ag_jwt_ring *r);

/**
 * Verifies <tok> with the key of <r> it names: its "kid" selects the ring key (none with
 * that kid: BAD_HEADER), a token without kid the kid-less key (none: BAD_HEADER); then
 * ag_jwt_verify() with that key, whose algorithm the token's "alg" must equal (BAD_ALG,
 * before any signature check). NULL <r>: REJECT.
 */
enum ag_jwt_status ag_jwt_ring_verify(const struct ag_jwt_ring *r, struct ag_str tok,
                                      const struct ag_jwt_expect *exp, struct ag_jwt_claims *out);

/** Whether <r> holds an asymmetric key (EdDSA, ES256, RS256). NULL: false. */
bool ag_jwt_ring_has_asym(const struct ag_jwt_ring *r);

/** ag_jwt_sign() with <r>'s signer; AG_EINVAL when there is none. */
int ag_jwt_ring_sign(const struct ag_jwt_ring *r, const char *payload, size_t len, char *out,
                     size_t cap);

/*
 * The JWK Set of <r> (RFC 7517 s.5), as compact JSON text: {"keys":[...]}, the public JWK
 * of each asymmetric ring key in ring order, never an HS256 key nor cryptography-key
 * ({"keys":[]} when none). Returns new text (free()) with its length in *<len>, or NULL
 * on OOM.
 */
char *ag_jwt_ring_jwks(const struct ag_jwt_ring *r, size_t *len);

/* The public JWK of an asymmetric key, for a JWK Set (policy/jwt_jwk.c). */
struct json_t;

/**
 * The public JWK of <k> (RFC 7517 s.4): kty and crv, x (and y) or n and e, then kid, alg
 * and "use":"sig"; base64url without padding, P-256 coordinates of 32 bytes, RSA integers
 * without leading zero bytes. Never a private part. Returns a new object, or NULL for an
 * HS256 or kid-less key, or on OOM.
 */
struct json_t *ag_jwt_key_jwk(const struct ag_jwt_key *k);

/** The ring key of <r> whose kid is <kid> (upstream-assertion's), or NULL. */
const struct ag_jwt_key *ag_jwt_ring_key(const struct ag_jwt_ring *r, const char *kid);

/**
 * base64url without padding of <in,n> into <out> (no NUL); returns the characters written,
 * (4n + 2) / 3. Not constant-time: for bytes that are sent in the clear (signed tokens,
 * the ids inside them).
 */
size_t ag_jwt_b64url(char *out, const unsigned char *in, size_t n);

/* Steps, exposed for tests (STYLE R7). */

/** Splits <tok> at its two dots. Returns 0, or AG_EPARSE unless three parts with a non-empty
 *  header and signature (the payload may be empty; docs/jwt.md). */
int ag_jwt__split(struct ag_str tok, struct ag_str *hdr, struct ag_str *payload, struct ag_str *sig);

/** Strict base64url (RFC 4648 s.5, no padding) decode of <in> into <out>; returns length or AG_EPARSE/AG_ETOOBIG. */
int ag_jwt__b64url_decode(struct ag_str in, unsigned char *out, size_t cap);

/** HMAC-SHA256 of <data> with <key>'s precomputed state into <mac> (32 bytes). */
void ag_jwt__hmac(const struct ag_jwt_key *key, const void *data, size_t len, unsigned char mac[32]);

#endif
