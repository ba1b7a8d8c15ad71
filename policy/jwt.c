/*
 * policy/jwt.c - verification of JWS compact tokens against one key, in separate steps (size, split,
 * base64url, header, signature, claims) composed by ag_jwt_verify(), which reads the JSON
 * with the strict, allocation-free scanner of policy/json_scan.c.
 *
 * Owns:     nothing; a verification borrows the key and fills the caller's claims.
 * Entry:    ag_jwt_verify(), ag_jwt_status_str(); the steps ag_jwt__split() and
 *           ag_jwt__b64url_decode() for tests.
 * Not here: keys, HMAC and signing (policy/jwt_key.c), the asymmetric algorithms
 *           (policy/jwt_pkey.c), choosing a key by kid (policy/jwt_ring.c), token sources
 *           (gateway/auth/authn.c), revocation, the verified-token cache.
 * Spec:     RFC 7515 s.5.2, RFC 7519 s.4.1/s.7.2, RFC 8725 s.3, RFC 8259, RFC 3629,
 *           RFC 4648 s.5; docs/jwt.md.
 */
#include "jwt.h"

#include "json_scan.h"
#include "jwt_int.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#define JWT_STACK_DECODE 6160    /* decodes a default-sized token without malloc */

static const char jwt_std_hdr[] = JWT_STD_HDR;

/* ---------------------------------------------------------------------------------------------
 * Status phrases
 * ------------------------------------------------------------------------------------------- */

const char *ag_jwt_status_str(enum ag_jwt_status st)
{
    switch (st) {
    case AG_JWT_OK:
        return "token valid";
    case AG_JWT_MALFORMED:
        return "malformed token";
    case AG_JWT_TOO_LARGE:
        return "token too large";
    case AG_JWT_BAD_ALG:
        return "token algorithm not accepted";
    case AG_JWT_BAD_HEADER:
        return "token header not accepted";
    case AG_JWT_BAD_SIG:
        return "invalid token signature";
    case AG_JWT_EXPIRED:
        return "token expired";
    case AG_JWT_NOT_YET:
        return "token not yet valid";
    case AG_JWT_BAD_TYPE:
        return "wrong token type";
    case AG_JWT_BAD_ISS:
        return "wrong token issuer";
    case AG_JWT_BAD_AUD:
        return "wrong token audience";
    case AG_JWT_BAD_CLAIMS:
        return "invalid token claims";
    case AG_JWT_REVOKED:
        return "token revoked";
    case AG_JWT_THROTTLED:
        return "too many invalid signatures";
    case AG_JWT_REJECT:
        break;
    }
    return "token rejected";
}

/* ---------------------------------------------------------------------------------------------
 * Split and base64url
 * ------------------------------------------------------------------------------------------- */

/*
 * Splits <tok> at its two dots into <hdr>, <payload>, <sig> (slices of <tok>). Returns 0, or
 * AG_EPARSE when there are not exactly two dots, or the header or the signature is empty
 * (an empty signature is "alg":"none" style and is called malformed, not a bad signature).
 * The payload may be empty here; it then fails as JSON.
 */
int ag_jwt__split(struct ag_str tok, struct ag_str *hdr, struct ag_str *payload, struct ag_str *sig)
{
    const char *d1, *d2, *end = tok.p + tok.len;

    if (tok.p == NULL || tok.len == 0)
        return AG_EPARSE;
    d1 = memchr(tok.p, '.', tok.len);
    if (d1 == NULL)
        return AG_EPARSE;
    d2 = memchr(d1 + 1, '.', (size_t)(end - d1 - 1));
    if (d2 == NULL || memchr(d2 + 1, '.', (size_t)(end - d2 - 1)) != NULL)
        return AG_EPARSE;
    if (d1 == tok.p || d2 + 1 == end)
        return AG_EPARSE;
    *hdr = (struct ag_str){tok.p, (size_t)(d1 - tok.p)};
    *payload = (struct ag_str){d1 + 1, (size_t)(d2 - d1 - 1)};
    *sig = (struct ag_str){d2 + 1, (size_t)(end - d2 - 1)};
    return 0;
}

/* RFC 4648 s.5 alphabet: value of each byte, 0x80 for everything else ('=', '+', '/', space,
 * NUL, bytes >= 0x80 included). */
static const unsigned char jwt_b64_val[256] = {
#define X 0x80
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  /* 0x00 */
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  /* 0x10 */
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  62, X,  X,  /* 0x20 '-' */
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, X,  X,  X,  X,  X,  X,  /* 0x30 digits */
    X,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, /* 0x40 A-O */
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, X,  X,  X,  X,  63, /* 0x50 P-Z '_' */
    X,  26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, /* 0x60 a-o */
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, X,  X,  X,  X,  X,  /* 0x70 p-z */
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  /* 0x80 */
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  /* 0x90 */
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  /* 0xA0 */
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  /* 0xB0 */
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  /* 0xC0 */
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  /* 0xD0 */
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  /* 0xE0 */
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  /* 0xF0 */
#undef X
};

/*
 * Strict base64url decode of <in> into <out> (capacity <cap>): only A-Z a-z 0-9 '-' '_',
 * no padding, a length that is not 1 mod 4, and zero unused bits in the last character
 * (one encoding per byte string: RFC 4648 s.3.5). Returns the decoded length, AG_EPARSE,
 * or AG_ETOOBIG when it exceeds <cap> (checked before the content). On ASCII input it
 * agrees with libsodium's sodium_base642bin(URLSAFE_NO_PADDING, ignore=NULL) (fuzz_jwt.c
 * checks it); we do not call that because 1.0.18 decodes every byte >= 0x80 as '_', which
 * would let a token be respelled, and because this table is ~10x faster (docs/jwt.md).
 */
int ag_jwt__b64url_decode(struct ag_str in, unsigned char *out, size_t cap)
{
    const unsigned char *s = (const unsigned char *)in.p;
    size_t full = in.len / 4, rem = in.len % 4, n, o = 0;
    unsigned bad = 0, v;

    if (rem == 1 || (in.p == NULL && in.len != 0))
        return AG_EPARSE;
    n = full * 3 + (rem ? rem - 1 : 0);
    if (n > cap || n > INT_MAX)
        return AG_ETOOBIG;
    for (size_t i = 0; i < full; i++, s += 4) {
        unsigned a = jwt_b64_val[s[0]], b = jwt_b64_val[s[1]], c = jwt_b64_val[s[2]],
                 d = jwt_b64_val[s[3]];

        bad |= a | b | c | d;
        v = a << 18 | b << 12 | c << 6 | d;
        out[o++] = (unsigned char)(v >> 16);
        out[o++] = (unsigned char)(v >> 8);
        out[o++] = (unsigned char)v;
    }
    if (rem == 2) {
        unsigned a = jwt_b64_val[s[0]], b = jwt_b64_val[s[1]];

        bad |= a | b | ((b & 0x0f) ? 0x80 : 0); /* the 4 unused bits must be zero */
        out[o++] = (unsigned char)(a << 2 | b >> 4);
    } else if (rem == 3) {
        unsigned a = jwt_b64_val[s[0]], b = jwt_b64_val[s[1]], c = jwt_b64_val[s[2]];

        bad |= a | b | c | ((c & 0x03) ? 0x80 : 0); /* the 2 unused bits must be zero */
        v = a << 12 | b << 6 | c;
        out[o++] = (unsigned char)(v >> 10);
        out[o++] = (unsigned char)(v >> 2);
    }
    return (bad & 0x80) ? AG_EPARSE : (int)n;
}

/* ---------------------------------------------------------------------------------------------
 * Header (RFC 7515 s.4.1, RFC 8725 s.3.1)
 * ------------------------------------------------------------------------------------------- */

/* The header parameters the check reads. From JWT_H_JWK on: parameters that would let the
 * token choose its own key or extend the rules (RFC 7515 s.4.1.2-4.1.11, RFC 8725 s.3.10),
 * refused outright. */
enum { JWT_H_ALG, JWT_H_KID, JWT_H_TYP, JWT_H_JWK, JWT_H_COUNT = JWT_H_JWK + 7 };
static const struct ag_json_name jwt_hdr_names[JWT_H_COUNT] = {
    AG_JSON_NAME("alg"), AG_JSON_NAME("kid"), AG_JSON_NAME("typ"),      AG_JSON_NAME("jwk"), AG_JSON_NAME("jku"),
    AG_JSON_NAME("x5u"), AG_JSON_NAME("x5c"), AG_JSON_NAME("x5t"), AG_JSON_NAME("x5t#S256"), AG_JSON_NAME("crit"),
};

/*
 * Judges the decoded header <h,len> for <key>: a JSON object without duplicate keys
 * (duplicates: BAD_HEADER, other JSON faults: MALFORMED), "alg" a string equal to the
 * key's algorithm (else BAD_ALG, checked first: the key pins the algorithm, RFC 8725 s.3.1), none of the forbidden parameters, "kid" only if the key
 * has one and equal to it, "typ" absent or "JWT" in any case (else BAD_HEADER). Returns
 * AG_JWT_OK or the failing status.
 */
static enum ag_jwt_status jwt_check_header(const struct ag_jwt_key *key, const unsigned char *h,
                                           size_t len)
{
    const struct ag_json_val *v[JWT_H_COUNT];
    const char *alg = ag_jwt_alg_name(key->alg);
    struct ag_json_doc doc;
    char typ[3];
    long n;
    int dup;

    if (ag_json_scan(h, len, &doc, &dup) != 0)
        return dup ? AG_JWT_BAD_HEADER : AG_JWT_MALFORMED;
    ag_json_index(&doc, jwt_hdr_names, JWT_H_COUNT, v);
    if (!ag_json_str_is(v[JWT_H_ALG], alg, strlen(alg)))
        return AG_JWT_BAD_ALG;
    for (size_t i = JWT_H_JWK; i < JWT_H_COUNT; i++)
        if (v[i] != NULL)
            return AG_JWT_BAD_HEADER;
    if (v[JWT_H_KID] != NULL &&
        (key->kid == NULL || !ag_json_str_is(v[JWT_H_KID], key->kid, key->kid_len)))
        return AG_JWT_BAD_HEADER;
    if (v[JWT_H_TYP] != NULL &&
        (v[JWT_H_TYP]->type != AG_JSON_STR ||
         (n = ag_json_str_decode(v[JWT_H_TYP], typ, sizeof(typ))) < 0 ||
         !ag_str_ieq((struct ag_str){typ, (size_t)n}, "JWT")))
        return AG_JWT_BAD_HEADER;
    return AG_JWT_OK;
}

/* Whether the header segment <h> is one whose decoded JSON is known to pass
 * jwt_check_header() for <key>: PyJWT's and ours without kid (HS256 keys), or ours for
 * the key (its algorithm and kid). */
static int jwt_header_is_known(const struct ag_jwt_key *key, struct ag_str h)
{
    return (key->alg == AG_JWT_HS256 && h.len == sizeof(jwt_std_hdr) - 1 &&
            memcmp(h.p, jwt_std_hdr, h.len) == 0) ||
           (h.len == key->hdr_len && memcmp(h.p, key->hdr_b64, h.len) == 0);
}

/* ---------------------------------------------------------------------------------------------
 * Signature (RFC 7515 s.5.2 steps 5-8)
 * ------------------------------------------------------------------------------------------- */

/* Checks that <sig,sig_len> signs the signing input <in> ("header.payload" as sent): for
 * HS256 its HMAC, length first, then a constant-time compare; the asymmetric algorithms
 * are policy/jwt_pkey.c's. Returns AG_JWT_OK or AG_JWT_BAD_SIG. */
static enum ag_jwt_status jwt_check_sig(const struct ag_jwt_key *key, struct ag_str in,
                                        const unsigned char *sig, size_t sig_len)
{
    enum ag_jwt_status st = AG_JWT_BAD_SIG;
    unsigned char mac[JWT_MAC_LEN];

    if (key->alg != AG_JWT_HS256)
        return ag_jwt__pkey_verify(key, in.p, in.len, sig, sig_len);
    if (sig_len != JWT_MAC_LEN)
        return AG_JWT_BAD_SIG;
    ag_jwt__hmac(key, in.p, in.len, mac);
    if (CRYPTO_memcmp(mac, sig, JWT_MAC_LEN) == 0)
        st = AG_JWT_OK;
    OPENSSL_cleanse(mac, sizeof(mac)); /* a valid MAC for this input: never leave it behind */
    return st;
}

enum ag_jwt_status ag_jwt__check_sig(const struct ag_jwt_key *key, struct ag_str in,
                                     const unsigned char *sig, size_t sig_len)
{
    return jwt_check_sig(key, in, sig, sig_len);
}

/* ---------------------------------------------------------------------------------------------
 * Claims (RFC 7519 s.4.1, s.7.2 step 10)
 * ------------------------------------------------------------------------------------------- */

/* The claims the checks read, by slot. */
enum {
    JWT_C_EXP,
    JWT_C_NBF,
    JWT_C_IAT,
    JWT_C_TYPE,
    JWT_C_ISS,
    JWT_C_AUD,
    JWT_C_SUB,
    JWT_C_CLIENT_ID,
    JWT_C_JTI,
    JWT_C_SID,
    JWT_C_FAM,
    JWT_C_SCOPE,
    JWT_C_SCOPES,
    JWT_C_SCP,
    JWT_C_ROLES,
    JWT_C_PWH,
    JWT_C_SUB_TYPE,
    JWT_C_COUNT
};
static const struct ag_json_name jwt_claim_names[JWT_C_COUNT] = {
    AG_JSON_NAME("exp"), AG_JSON_NAME("nbf"),   AG_JSON_NAME("iat"),    AG_JSON_NAME("type"),
    AG_JSON_NAME("iss"), AG_JSON_NAME("aud"),   AG_JSON_NAME("sub"),    AG_JSON_NAME("client_id"),
    AG_JSON_NAME("jti"), AG_JSON_NAME("sid"),   AG_JSON_NAME("fam"),    AG_JSON_NAME("scope"),
    AG_JSON_NAME("scopes"), AG_JSON_NAME("scp"), AG_JSON_NAME("roles"), AG_JSON_NAME("pwh"),
    AG_JSON_NAME("sub_type"),
};

/* Whether <s,n> holds a control character (C0 or DEL): such values may end up in headers. */
static int jwt_has_ctl(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 1;
    return 0;
}

/* Appends <s,n> to <out>->buf, keeping room for a final NUL. Returns 0 or -1 (full). */
static int jwt_buf_add(struct ag_jwt_claims *out, const char *s, size_t n)
{
    if (n >= sizeof(out->buf) - out->used)
        return -1;
    memcpy(out->buf + out->used, s, n);
    out->used += n;
    return 0;
}

/* Appends the decoded string <v> to <out>->buf, keeping room for a final NUL. Returns the
 * decoded length, or -1 (full). */
static long jwt_buf_add_jstr(struct ag_jwt_claims *out, const struct ag_json_val *v)
{
    long n = ag_json_str_decode(v, out->buf + out->used, sizeof(out->buf) - 1 - out->used);

    if (n >= 0)
        out->used += (size_t)n;
    return n;
}

/* Terminates the string started at <start> in <out>->buf and points <dst> at it. Returns 0
 * or -1 (no room for the NUL). */
static int jwt_buf_end(struct ag_jwt_claims *out, size_t start, struct ag_str *dst)
{
    if (out->used >= sizeof(out->buf))
        return -1;
    out->buf[out->used++] = '\0';
    *dst = (struct ag_str){out->buf + start, out->used - 1 - start};
    return 0;
}

/* Copies the string claim <v> (NULL: absent) into <dst>. Returns AG_JWT_OK, or
 * AG_JWT_BAD_CLAIMS when it is not a string, holds a control character or does not fit. */
static enum ag_jwt_status jwt_copy_str(const struct ag_json_val *v, struct ag_jwt_claims *out,
                                       struct ag_str *dst)
{
    size_t start = out->used;
    long n;

    if (v == NULL)
        return AG_JWT_OK;
    if (v->type != AG_JSON_STR || (n = jwt_buf_add_jstr(out, v)) < 0 ||
        jwt_has_ctl(out->buf + start, (size_t)n) || jwt_buf_end(out, start, dst) != 0)
        return AG_JWT_BAD_CLAIMS;
    return AG_JWT_OK;
}

/* A NumericDate (RFC 7519 s.2) as read: integers exactly, reals as doubles. */
struct jwt_time {
    int is_int;
    int64_t i;
    double d;
};

/* Reads the claim <v> (NULL: absent) as a NumericDate into <t>. Returns 0, or -1 when it is
 * not a number (strings, booleans and null are refused: a "1700000000" string would be
 * ambiguous). */
static int jwt_time_get(const struct ag_json_val *v, struct jwt_time *t)
{
    double d = 0;

    if (v != NULL && v->type == AG_JSON_INT) {
        *t = (struct jwt_time){1, ag_json_int(v), 0};
        return 0;
    }
    if (v != NULL && v->type == AG_JSON_REAL) {
        (void)ag_json_real(v->p, v->len, &d); /* finite: the scan checked it */
        *t = (struct jwt_time){0, 0, d};
        return 0;
    }
    return -1;
}

/* <t> rounded down (<up> == 0) or up, saturated to int64_t. */
static int64_t jwt_time_round(const struct jwt_time *t, int up)
{
    int64_t r;

    if (t->is_int)
        return (int64_t)t->i;
    if (t->d >= 9.2e18)
        return INT64_MAX;
    if (t->d <= -9.2e18)
        return INT64_MIN;
    r = (int64_t)t->d;
    if (!up && (double)r > t->d)
        r--;
    if (up && (double)r < t->d)
        r++;
    return r;
}

/* Whether <t> > <a> + <b>, without overflow (RFC 7519 s.4.1.5 with leeway). */
static int jwt_time_gt_sum(int64_t a, int64_t b, const struct jwt_time *t)
{
    int64_t lim;

    if (!t->is_int)
        return t->d > (double)a + (double)b;
    if (__builtin_add_overflow(a, b, &lim))
        return b < 0;
    return (int64_t)t->i > lim;
}

/* Whether <now> >= <exp> + <leeway>, i.e. the token has expired (PyJWT: exp <= now - leeway):
 * with no leeway, expired from its exp second on (CONTRACT.md section 4). */
static int jwt_expired(int64_t now, int64_t leeway, const struct jwt_time *e)
{
    int64_t lim;

    if (!e->is_int)
        return (double)now >= e->d + (double)leeway;
    if (__builtin_add_overflow((int64_t)e->i, leeway, &lim))
        return leeway < 0;
    return now >= lim;
}

/* Checks "exp" (required), "nbf" and "iat" (slots of <c>) against <exp>; fills <out>'s times. */
static enum ag_jwt_status jwt_check_times(const struct ag_json_val *const *c,
                                          const struct ag_jwt_expect *exp,
                                          struct ag_jwt_claims *out)
{
    struct jwt_time t;

    if (jwt_time_get(c[JWT_C_EXP], &t) != 0)
        return AG_JWT_BAD_CLAIMS;
    if (jwt_expired(exp->now, exp->exp_leeway, &t))
        return AG_JWT_EXPIRED;
    /* Rounded up: for a whole-second now, now >= exp + exp_leeway holds for the real exp
     * exactly when it holds for the rounded one, so a cached verdict agrees. */
    out->exp = jwt_time_round(&t, 1);
    /* "nbf" and "iat" are optional and judged alike: later than now + leeway is not yet. */
    const struct {
        int slot;
        int64_t *dst;
    } later[] = {{JWT_C_NBF, &out->nbf}, {JWT_C_IAT, &out->iat}};
    for (size_t i = 0; i < sizeof(later) / sizeof(later[0]); i++) {
        if (c[later[i].slot] == NULL)
            continue;
        if (jwt_time_get(c[later[i].slot], &t) != 0)
            return AG_JWT_BAD_CLAIMS;
        if (jwt_time_gt_sum(exp->now, exp->leeway, &t))
            return AG_JWT_NOT_YET;
        *later[i].dst = jwt_time_round(&t, 1);
    }
    return AG_JWT_OK;
}

/* "aud" (RFC 7519 s.4.1.3) <v>: with an expected audience, a string equal to it or an array
 * of strings naming it; without one, the claim must be absent (the token names a principal
 * that is not us). Returns AG_JWT_OK or AG_JWT_BAD_AUD. */
static enum ag_jwt_status jwt_check_aud(const struct ag_json_val *v, const char *audience)
{
    struct ag_json_arr it;
    struct ag_json_val e;
    size_t n;
    int found = 0, r;

    if (audience == NULL)
        return v == NULL ? AG_JWT_OK : AG_JWT_BAD_AUD;
    n = strlen(audience);
    if (v != NULL && v->type == AG_JSON_STR)
        return ag_json_str_is(v, audience, n) ? AG_JWT_OK : AG_JWT_BAD_AUD;
    if (v == NULL || v->type != AG_JSON_ARR)
        return AG_JWT_BAD_AUD;
    ag_json_arr_init(&it, v);
    while ((r = ag_json_arr_next(&it, &e)) > 0)
        found |= ag_json_str_is(&e, audience, n);
    return r == 0 && found ? AG_JWT_OK : AG_JWT_BAD_AUD;
}

/*
 * Copies the array of strings <a> into <dst>, joined with <sep>, each element decoded and
 * accepted by <ok>. Returns AG_JWT_OK, or AG_JWT_BAD_CLAIMS for anything else in <a>, an
 * element <ok> refuses, or no room.
 */
static enum ag_jwt_status jwt_copy_list(const struct ag_json_val *a, char sep,
                                        int (*ok)(const char *, size_t),
                                        struct ag_jwt_claims *out, struct ag_str *dst)
{
    size_t start = out->used, at;
    struct ag_json_arr it;
    struct ag_json_val e;
    long n;
    int r, first = 1;

    if (a->type != AG_JSON_ARR)
        return AG_JWT_BAD_CLAIMS;
    ag_json_arr_init(&it, a);
    while ((r = ag_json_arr_next(&it, &e)) > 0) {
        if (!first && jwt_buf_add(out, &sep, 1) != 0)
            return AG_JWT_BAD_CLAIMS;
        first = 0;
        at = out->used;
        if ((n = jwt_buf_add_jstr(out, &e)) < 0 || !ok(out->buf + at, (size_t)n))
            return AG_JWT_BAD_CLAIMS;
    }
    if (r < 0 || jwt_buf_end(out, start, dst) != 0)
        return AG_JWT_BAD_CLAIMS;
    return AG_JWT_OK;
}

/* Whether <s,n> is an acceptable scope name: non-empty, no space, no control character. */
static int jwt_scope_ok(const char *s, size_t n)
{
    return n > 0 && !jwt_has_ctl(s, n) && memchr(s, ' ', n) == NULL;
}

/* Whether <s,n> is an acceptable role name: non-empty, no control character, no ','
 * (roles are forwarded comma-joined in one header). */
static int jwt_role_ok(const char *s, size_t n)
{
    return n > 0 && !jwt_has_ctl(s, n) && memchr(s, ',', n) == NULL;
}

/*
 * Copies the token's scopes into <out>->scope, space-separated: "scope" (a string, no
 * control characters) or "scopes" or "scp" (arrays of non-empty strings without spaces or
 * control characters). More than one of the three is ambiguous and refused. Returns
 * AG_JWT_OK or AG_JWT_BAD_CLAIMS.
 */
static enum ag_jwt_status jwt_copy_scope(const struct ag_json_val *const *c,
                                         struct ag_jwt_claims *out)
{
    const struct ag_json_val *s = c[JWT_C_SCOPE], *a1 = c[JWT_C_SCOPES], *a2 = c[JWT_C_SCP];

    if ((s != NULL) + (a1 != NULL) + (a2 != NULL) > 1)
        return AG_JWT_BAD_CLAIMS;
    if (s != NULL)
        return jwt_copy_str(s, out, &out->scope);
    if (a1 == NULL && a2 == NULL)
        return AG_JWT_OK;
    return jwt_copy_list(a1 != NULL ? a1 : a2, ' ', jwt_scope_ok, out, &out->scope);
}

/* Copies "roles" <v> (an array of role names, or one role name as a string) into
 * <out>->roles, comma-separated. Returns AG_JWT_OK or AG_JWT_BAD_CLAIMS. */
static enum ag_jwt_status jwt_copy_roles(const struct ag_json_val *v, struct ag_jwt_claims *out)
{
    if (v == NULL)
        return AG_JWT_OK;
    if (v->type == AG_JSON_STR) {
        if (jwt_copy_str(v, out, &out->roles) != AG_JWT_OK ||
            !jwt_role_ok(out->roles.p, out->roles.len))
            return AG_JWT_BAD_CLAIMS;
        return AG_JWT_OK;
    }
    return jwt_copy_list(v, ',', jwt_role_ok, out, &out->roles);
}

/*
 * A fastauth-api token (legacy-tokens, CONTRACT.md section 5): exactly the claims client_id
 * (a non-empty string), type, iat and exp, nothing else; times and type already checked.
 * Fills client_id, type, sub = "client:<client_id>" (the client namespace) and the client
 * and legacy flags. Returns AG_JWT_OK, BAD_ISS when the set is not exactly that one (such
 * a token is refused like any token without iss), or BAD_CLAIMS.
 */
static enum ag_jwt_status jwt_check_legacy(const struct ag_json_doc *doc,
                                           const struct ag_json_val *const *c,
                                           struct ag_jwt_claims *out)
{
    size_t pl = strlen(AG_JWT_CLIENT_SUB_PREFIX), start;
    enum ag_jwt_status st;

    if (doc->n != 4 || c[JWT_C_CLIENT_ID] == NULL || c[JWT_C_TYPE] == NULL ||
        c[JWT_C_IAT] == NULL || c[JWT_C_EXP] == NULL)
        return AG_JWT_BAD_ISS;
    if ((st = jwt_copy_str(c[JWT_C_TYPE], out, &out->type)) != AG_JWT_OK ||
        (st = jwt_copy_str(c[JWT_C_CLIENT_ID], out, &out->client_id)) != AG_JWT_OK)
        return st;
    if (out->client_id.len == 0)
        return AG_JWT_BAD_ISS;
    if (out->used + pl + out->client_id.len >= sizeof(out->buf))
        return AG_JWT_BAD_CLAIMS;
    start = out->used;
    memcpy(out->buf + out->used, AG_JWT_CLIENT_SUB_PREFIX, pl);
    memcpy(out->buf + out->used + pl, out->client_id.p, out->client_id.len);
    out->used += pl + out->client_id.len;
    if (jwt_buf_end(out, start, &out->sub) != 0)
        return AG_JWT_BAD_CLAIMS;
    out->client = out->legacy = true;
    return AG_JWT_OK;
}

/*
 * Judges the decoded payload <p,len> against <exp> and fills <out>. Order: JSON object
 * without duplicate keys (else MALFORMED), exp/nbf/iat, type, iss, aud, then the string
 * claims, scopes and roles (BAD_CLAIMS). Returns AG_JWT_OK or the first failing status.
 */
static enum ag_jwt_status jwt_check_claims(const unsigned char *p, size_t len,
                                           const struct ag_jwt_expect *exp,
                                           struct ag_jwt_claims *out)
{
    static const struct {
        int slot;
        size_t off;
    } strs[] = {
        {JWT_C_SUB, offsetof(struct ag_jwt_claims, sub)},
        {JWT_C_CLIENT_ID, offsetof(struct ag_jwt_claims, client_id)},
        {JWT_C_JTI, offsetof(struct ag_jwt_claims, jti)},
        {JWT_C_SID, offsetof(struct ag_jwt_claims, sid)},
        {JWT_C_FAM, offsetof(struct ag_jwt_claims, family)},
        {JWT_C_PWH, offsetof(struct ag_jwt_claims, pwh)},
    };
    enum ag_jwt_status st = AG_JWT_REJECT;
    const struct ag_json_val *c[JWT_C_COUNT];
    struct ag_json_doc doc;
    int dup;

    if (ag_json_scan(p, len, &doc, &dup) != 0)
        return AG_JWT_MALFORMED; /* duplicates too: header and payload keep their statuses */
    ag_json_index(&doc, jwt_claim_names, JWT_C_COUNT, c);
    if ((st = jwt_check_times(c, exp, out)) != AG_JWT_OK)
        return st;
    if (exp->type != NULL && !ag_json_str_is(c[JWT_C_TYPE], exp->type, strlen(exp->type)))
        return AG_JWT_BAD_TYPE;
    if (c[JWT_C_ISS] == NULL && exp->legacy &&
        ((st = jwt_check_legacy(&doc, c, out)) != AG_JWT_BAD_ISS || exp->issuer != NULL))
        return st;
    if ((st = jwt_copy_str(c[JWT_C_TYPE], out, &out->type)) != AG_JWT_OK)
        return st;
    if (exp->issuer != NULL && !ag_json_str_is(c[JWT_C_ISS], exp->issuer, strlen(exp->issuer)))
        return AG_JWT_BAD_ISS;
    if ((st = jwt_copy_str(c[JWT_C_ISS], out, &out->iss)) != AG_JWT_OK)
        return st;
    if ((st = jwt_check_aud(c[JWT_C_AUD], exp->audience)) != AG_JWT_OK)
        return st;
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        st = jwt_copy_str(c[strs[i].slot], out, (struct ag_str *)((char *)out + strs[i].off));
        if (st != AG_JWT_OK)
            return st;
    }
    /* "sub_type": absent for a user's token, "client" for a client's (sub "client:<id>");
     * any other value is refused rather than guessed at. */
    if (c[JWT_C_SUB_TYPE] != NULL) {
        if (!ag_json_str_is(c[JWT_C_SUB_TYPE], "client", 6))
            return AG_JWT_BAD_CLAIMS;
        out->client = true;
    }
    if ((st = jwt_copy_scope(c, out)) != AG_JWT_OK)
        return st;
    return jwt_copy_roles(c[JWT_C_ROLES], out);
}

/* ---------------------------------------------------------------------------------------------
 * Verify
 * ------------------------------------------------------------------------------------------- */

/* Resets the fields of <out> (not its buffer: 8 KiB memset would cost more than the HMAC). */
static void jwt_claims_reset(struct ag_jwt_claims *out)
{
    const struct ag_str none = {"", 0};

    out->sub = out->client_id = out->jti = out->sid = out->family = out->pwh = none;
    out->type = out->iss = out->scope = out->roles = none;
    out->exp = out->iat = out->nbf = 0;
    out->client = out->legacy = out->asym = false;
    out->used = 0;
    out->buf[0] = '\0';
}

/*
 * The steps, in order (docs/jwt.md): size, split, base64url of all three segments, header
 * (skipped for a header segment known to pass), signature, claims. Each failure returns
 * its own status; <out> is meaningful only on AG_JWT_OK. REJECT for NULL arguments.
 */
enum ag_jwt_status ag_jwt__prepare(struct ag_str tok, const struct ag_jwt_expect *exp,
                                   struct ag_jwt_claims *out, struct ag_str *h, struct ag_str *p,
                                   struct ag_str *s)
{
    size_t max_len;

    if (exp == NULL || out == NULL || (tok.p == NULL && tok.len != 0))
        return AG_JWT_REJECT;
    jwt_claims_reset(out);
    max_len = exp->max_len != 0 ? exp->max_len : JWT_MAX_LEN_DEFAULT;
    if (tok.len > max_len)
        return AG_JWT_TOO_LARGE;
    if (ag_jwt__split(tok, h, p, s) != 0)
        return AG_JWT_MALFORMED;
    return AG_JWT_OK;
}

enum ag_jwt_status ag_jwt_verify(const struct ag_jwt_key *key, struct ag_str tok,
                                 const struct ag_jwt_expect *exp, struct ag_jwt_claims *out)
{
    enum ag_jwt_status st;
    struct ag_str h, p, s;

    if (key == NULL)
        return AG_JWT_REJECT;
    if ((st = ag_jwt__prepare(tok, exp, out, &h, &p, &s)) != AG_JWT_OK)
        return st;
    return ag_jwt__verify_split(key, tok, h, p, s, jwt_header_is_known(key, h), exp, out);
}

/* The steps after the split (base64url, header unless <known>, signature, claims); <out>
 * already reset and <tok> within max_len. policy/jwt_ring.c comes in here after choosing
 * the key. */
enum ag_jwt_status ag_jwt__verify_split(const struct ag_jwt_key *key, struct ag_str tok,
                                        struct ag_str h, struct ag_str p, struct ag_str s,
                                        bool known, const struct ag_jwt_expect *exp,
                                        struct ag_jwt_claims *out)
{
    enum ag_jwt_status st = AG_JWT_REJECT;
    unsigned char stack_buf[JWT_STACK_DECODE], *buf = stack_buf, *hb, *pb, *sb;
    size_t cap;
    int hl = 0, pl, sl;

    /* Each segment decodes to at most 3/4 of its length: one buffer holds all three. */
    cap = tok.len / 4 * 3 + 6;
    if (cap > sizeof(stack_buf)) {
        buf = malloc(cap);
        if (buf == NULL)
            return AG_JWT_REJECT;
    }
    st = AG_JWT_MALFORMED;
    hb = buf;
    if (!known && (hl = ag_jwt__b64url_decode(h, hb, cap)) < 0)
        goto out;
    pb = hb + hl;
    if ((pl = ag_jwt__b64url_decode(p, pb, cap - (size_t)hl)) < 0)
        goto out;
    sb = pb + pl;
    if ((sl = ag_jwt__b64url_decode(s, sb, cap - (size_t)hl - (size_t)pl)) < 0)
        goto out;

    if (hl > 0 && (st = jwt_check_header(key, hb, (size_t)hl)) != AG_JWT_OK)
        goto out;
    /* The one costly step of a forged asymmetric token: its caller bounds how many it pays
     * for (docs/keys.md "Floods of invalid tokens"); HS256 costs a hash, never bounded. */
    out->asym = key->alg != AG_JWT_HS256;
    if (out->asym && exp->asym_closed) {
        st = AG_JWT_THROTTLED;
        goto out;
    }
    st = jwt_check_sig(key, (struct ag_str){tok.p, h.len + 1 + p.len}, sb, (size_t)sl);
    if (st != AG_JWT_OK)
        goto out;
    st = jwt_check_claims(pb, (size_t)pl, exp, out);
out:
    if (buf != stack_buf)
        free(buf);
    return st;
}
