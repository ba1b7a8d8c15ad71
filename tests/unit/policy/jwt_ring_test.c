/*
 * tests/unit/policy/jwt_ring_test.c - unit tests for the key ring (policy/jwt_ring.c) and the
 * asymmetric algorithms (policy/jwt_pkey.c): the RFC 8037 A.4 (Ed25519) and RFC 7515 A.2
 * (RS256) and A.3 (ES256) vectors, keys chosen by kid, algorithm confusion refused before
 * any signature check, bad PEM keys, signing with the ring's signer, and upstream assertions
 * signed by the ring key upstream-assertion names (policy/claims.c).
 *
 * Spec:     docs/keys.md; RFC 8037 A.1/A.4; RFC 7515 A.2/A.3; RFC 8725 s.3.1.
 */
#include <sodium.h>
#include <string.h>

#include "cfg.h"
#include "claims.h"
#include "jwt.h"
#include "jwt_fx.h"
#include "jwt_int.h"
#include "t.h"

#define K1 "authgate-test-key-0001-do-not-use-in-production"
#define K2 "a-second-ring-secret-for-tests-0123456789abcdef"
#define NOW 1700000100
#define CLAIMS                                                                                     \
    "{\"sub\":\"user-42\",\"client_id\":\"web\",\"type\":\"access\",\"iat\":1700000000,"           \
    "\"exp\":1700000900,\"jti\":\"j-0001\",\"iss\":\"authgate\",\"sid\":\"s-0001\"}"
#define B64V sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define TOK_CAP 4096

/* RFC 7515 A.2 and A.3: the same payload, signed with RS256 and ES256. */
#define RFC_PAYLOAD                                                                                \
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
#define A2_INPUT "eyJhbGciOiJSUzI1NiJ9." RFC_PAYLOAD
#define A2_SIG                                                                                     \
    "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5" \
    "jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1" \
    "L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYE" \
    "UipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw"
#define A3_INPUT "eyJhbGciOiJFUzI1NiJ9." RFC_PAYLOAD
#define A3_SIG "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
/* RFC 8037 A.4: {"alg":"EdDSA"} over "Example of Ed25519 signing". */
#define A4_INPUT "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
#define A4_SIG "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"

#include "../../vectors/jwt/rfc_keys.h"

static struct ag_jwt_claims out; /* 8 KiB: kept off the stack of each test */
static const struct ag_jwt_expect expect = {.type = "access", .issuer = "authgate", .now = NOW};

/* ---------------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------------- */

/* Decodes the base64url <s> into <dst> (capacity <cap>); returns the length. */
static size_t unb64(const char *s, unsigned char *dst, size_t cap)
{
    int n = ag_jwt__b64url_decode((struct ag_str){s, strlen(s)}, dst, cap);

    AG_ASSERT(n > 0);
    return n > 0 ? (size_t)n : 0;
}

/* Writes "b64(hdr).b64(payload).b64(signature by <k>)" into <tok>, whatever <hdr> says: the
 * way an attacker (or another library) would make it. */
static const char *forge(const struct ag_jwt_key *k, const char *hdr, const char *payload,
                         char *tok)
{
    unsigned char sig[JWT_SIG_MAX];
    size_t n;

    sodium_bin2base64(tok, TOK_CAP, (const unsigned char *)hdr, strlen(hdr), B64V);
    n = strlen(tok);
    tok[n++] = '.';
    sodium_bin2base64(tok + n, TOK_CAP - n, (const unsigned char *)payload, strlen(payload), B64V);
    n += strlen(tok + n);
    if (ag_jwt_key_alg(k) == AG_JWT_HS256)
        ag_jwt__hmac(k, tok, n, sig);
    else
        AG_ASSERT_EQ(ag_jwt__pkey_sign(k, tok, n, sig), 0);
    tok[n++] = '.';
    sodium_bin2base64(tok + n, TOK_CAP - n, sig, k->sig_len, B64V);
    return tok;
}

static enum ag_jwt_status ring_check(const struct ag_jwt_ring *r, const char *tok)
{
    return ag_jwt_ring_verify(r, (struct ag_str){tok, strlen(tok)}, &expect, &out);
}

/* A ring of K1 (no kid), "h2" (HS256, K2), "ed", "es", "rs" (private keys); signer <signer>. */
static struct ag_jwt_ring *full_ring(size_t signer)
{
    struct ag_jwt_key *keys[4] = {
        ag_jwt_key_new_hs256(K2, strlen(K2), "h2"), pem_key(AG_JWT_EDDSA, ED_PRIV, true, "ed"),
        pem_key(AG_JWT_ES256, ES_PRIV, true, "es"), pem_key(AG_JWT_RS256, RS_PRIV, true, "rs")};

    return ag_jwt_ring_new(ag_jwt_key_new_hs256(K1, strlen(K1), NULL), keys, 4, signer);
}

/* ---------------------------------------------------------------------------------------------
 * RFC vectors
 * ------------------------------------------------------------------------------------------- */

/* RFC 8037 A.4: the private key signs exactly the published signature (Ed25519 is
 * deterministic), and the public key verifies it; one flipped bit does not. */
static void test_ring_rfc8037_a4_ed25519(void)
{
    struct ag_jwt_key *priv = pem_key(AG_JWT_EDDSA, ED_PRIV, true, "a1");
    struct ag_jwt_key *pub = pem_key(AG_JWT_EDDSA, ED_PUB, false, "a1");
    unsigned char want[64], got[64];

    AG_ASSERT_EQ(unb64(A4_SIG, want, sizeof(want)), 64);
    AG_ASSERT_EQ(ag_jwt__pkey_sign(priv, A4_INPUT, strlen(A4_INPUT), got), 0);
    AG_ASSERT(memcmp(got, want, 64) == 0);
    AG_ASSERT_EQ(ag_jwt__check_sig(pub, AG_LIT(A4_INPUT), want, 64), AG_JWT_OK);
    AG_ASSERT_EQ(ag_jwt__check_sig(priv, AG_LIT(A4_INPUT), want, 64), AG_JWT_OK);
    want[10] ^= 1;
    AG_ASSERT_EQ(ag_jwt__check_sig(pub, AG_LIT(A4_INPUT), want, 64), AG_JWT_BAD_SIG);
    AG_ASSERT_EQ(ag_jwt__check_sig(pub, AG_LIT(A4_INPUT), want, 63), AG_JWT_BAD_SIG);
    AG_ASSERT(!ag_jwt_key_can_sign(pub));
    AG_ASSERT(ag_jwt__pkey_sign(pub, A4_INPUT, strlen(A4_INPUT), got) != 0);
    ag_jwt_key_free(priv);
    ag_jwt_key_free(pub);
}

/* RFC 7515 A.2: RSASSA-PKCS1-v1_5 is deterministic too. */
static void test_ring_rfc7515_a2_rs256(void)
{
    struct ag_jwt_key *priv = pem_key(AG_JWT_RS256, RS_PRIV, true, "a2");
    struct ag_jwt_key *pub = pem_key(AG_JWT_RS256, RS_PUB, false, "a2");
    unsigned char want[256], got[256];

    AG_ASSERT_EQ(unb64(A2_SIG, want, sizeof(want)), 256);
    AG_ASSERT_EQ(pub->sig_len, 256);
    AG_ASSERT_EQ(ag_jwt__pkey_sign(priv, A2_INPUT, strlen(A2_INPUT), got), 0);
    AG_ASSERT(memcmp(got, want, 256) == 0);
    AG_ASSERT_EQ(ag_jwt__check_sig(pub, AG_LIT(A2_INPUT), want, 256), AG_JWT_OK);
    want[255] ^= 0x80;
    AG_ASSERT_EQ(ag_jwt__check_sig(pub, AG_LIT(A2_INPUT), want, 256), AG_JWT_BAD_SIG);
    ag_jwt_key_free(priv);
    ag_jwt_key_free(pub);
}

/* RFC 7515 A.3: the raw r||s signature verifies; the same signature in OpenSSL's DER form
 * (what a careless implementation would write) does not; our own signatures are raw r||s. */
static void test_ring_rfc7515_a3_es256(void)
{
    struct ag_jwt_key *priv = pem_key(AG_JWT_ES256, ES_PRIV, true, "a3");
    struct ag_jwt_key *pub = pem_key(AG_JWT_ES256, ES_PUB, false, "a3");
    unsigned char sig[72], der[80], mine[64];
    size_t n;

    AG_ASSERT_EQ(unb64(A3_SIG, sig, sizeof(sig)), 64);
    AG_ASSERT_EQ(ag_jwt__check_sig(pub, AG_LIT(A3_INPUT), sig, 64), AG_JWT_OK);
    /* DER SEQUENCE { INTEGER r, INTEGER s }, a zero byte before a half with its high bit set */
    n = 0;
    der[n++] = 0x30;
    der[n++] = 0;
    for (int i = 0; i < 2; i++) {
        bool pad = sig[32 * i] >= 0x80;
        der[n++] = 0x02;
        der[n++] = (unsigned char)(32 + pad);
        if (pad)
            der[n++] = 0;
        memcpy(der + n, sig + 32 * i, 32);
        n += 32;
    }
    der[1] = (unsigned char)(n - 2);
    AG_ASSERT_EQ(ag_jwt__check_sig(pub, AG_LIT(A3_INPUT), der, n), AG_JWT_BAD_SIG);
    sig[5] ^= 1;
    AG_ASSERT_EQ(ag_jwt__check_sig(pub, AG_LIT(A3_INPUT), sig, 64), AG_JWT_BAD_SIG);
    AG_ASSERT_EQ(ag_jwt__pkey_sign(priv, A3_INPUT, strlen(A3_INPUT), mine), 0);
    AG_ASSERT_EQ(ag_jwt__check_sig(pub, AG_LIT(A3_INPUT), mine, 64), AG_JWT_OK);
    ag_jwt_key_free(priv);
    ag_jwt_key_free(pub);
}

/* ---------------------------------------------------------------------------------------------
 * The ring
 * ------------------------------------------------------------------------------------------- */

/* Each key's own tokens verify through the ring, with the kid and alg in the header. */
static void test_ring_signs_and_verifies_with_each_key(void)
{
    static const struct {
        size_t signer;
        const char *hdr;
    } cases[] = {
        {4, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"},
        {0, "{\"alg\":\"HS256\",\"kid\":\"h2\",\"typ\":\"JWT\"}"},
        {1, "{\"alg\":\"EdDSA\",\"kid\":\"ed\",\"typ\":\"JWT\"}"},
        {2, "{\"alg\":\"ES256\",\"kid\":\"es\",\"typ\":\"JWT\"}"},
        {3, "{\"alg\":\"RS256\",\"kid\":\"rs\",\"typ\":\"JWT\"}"},
    };
    char tok[TOK_CAP], hdr[128];
    unsigned char hb[128];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ag_jwt_ring *r = full_ring(cases[i].signer);
        int n = ag_jwt_ring_sign(r, CLAIMS, strlen(CLAIMS), tok, sizeof(tok));
        int hl;

        AG_ASSERT(n > 0);
        AG_ASSERT_EQ(ring_check(r, tok), AG_JWT_OK);
        AG_ASSERT_STR(out.sub.p, "user-42");
        hl = ag_jwt__b64url_decode((struct ag_str){tok, (size_t)(strchr(tok, '.') - tok)}, hb,
                                   sizeof(hb) - 1);
        AG_ASSERT(hl > 0);
        memcpy(hdr, hb, hl > 0 ? (size_t)hl : 0);
        hdr[hl > 0 ? hl : 0] = '\0';
        AG_ASSERT_STR(hdr, cases[i].hdr);
        /* a header written another way (spaces, other order) takes the decoding path */
        AG_ASSERT_EQ(ring_check(r, forge(ag_jwt_ring_signer(r), cases[i].signer == 4 ?
                                         "{ \"typ\": \"JWT\", \"alg\": \"HS256\" }" : cases[i].hdr,
                                         CLAIMS, tok)),
                     AG_JWT_OK);
        ag_jwt_ring_free(r);
    }
}

/*
 * An upstream assertion (policy/claims.c): the exact claims in their order, escaped, exp
 * = iat + upstream-assertion.ttl, no "sid" when empty; signed by the ring key its kid
 * names (not the signer), which verifies it; its "type"-less claims never pass as an
 * access token. The config's defaults: header X-Auth-Assertion, ttl 30.
 */
static void test_ring_signs_upstream_assertions(void)
{
    struct ag_config *cfg = ag_t_config(
        "\"keys\": [{\"kid\": \"h2\", \"alg\": \"HS256\", \"secret\": \"" K2 "\"},"
        " {\"kid\": \"ed\", \"alg\": \"EdDSA\", \"private-key-file\": \"/k\"}],"
        " \"upstream-assertion\": {\"kid\": \"ed\", \"ttl\": 60}", NULL);
    struct ag_jwt_ring *r = full_ring(0);
    struct ag_claims_assertion a = {AG_LIT("us\"er"), AG_LIT("S-1"), AG_LIT("J-1"),
                                    AG_LIT("PATCH"), AG_LIT("/api/x\\y"), NOW};
    struct ag_jwt_expect any = {.issuer = "authgate", .now = NOW, .max_len = 8192};
    const struct ag_jwt_key *ed = ag_jwt_ring_key(r, "ed");
    char tok[TOK_CAP], payload[512];
    unsigned char pb[512];
    const char *dot;
    size_t n;

    AG_ASSERT_NOT_NULL(cfg);
    AG_ASSERT_NOT_NULL(ed);
    AG_ASSERT(ag_jwt_ring_key(r, "nope") == NULL);
    if (cfg == NULL || ed == NULL)
        goto out;
    AG_ASSERT_STR(cfg->upstream_assertion.header, "X-Auth-Assertion");
    AG_ASSERT_EQ(cfg->upstream_assertion.key, 1);
    AG_ASSERT(ag_claims_assertion_sign(cfg, ed, &a, tok, sizeof(tok)) > 0);
    AG_ASSERT(strncmp(tok, ed->hdr_b64, ed->hdr_len) == 0); /* {"alg":"EdDSA","kid":"ed",...} */
    dot = strchr(tok + ed->hdr_len + 1, '.');
    AG_ASSERT_NOT_NULL(dot);
    if (dot == NULL)
        goto out;
    memcpy(payload, tok + ed->hdr_len + 1, (size_t)(dot - tok) - ed->hdr_len - 1);
    payload[(size_t)(dot - tok) - ed->hdr_len - 1] = '\0';
    n = unb64(payload, pb, sizeof(pb) - 1);
    pb[n] = '\0';
    AG_ASSERT_STR((const char *)pb,
                  "{\"sub\":\"us\\\"er\",\"sid\":\"S-1\",\"iss\":\"authgate\","
                  "\"iat\":1700000100,\"exp\":1700000160,\"jti\":\"J-1\",\"method\":\"PATCH\","
                  "\"path\":\"/api/x\\\\y\"}");
    AG_ASSERT_EQ(ag_jwt_ring_verify(r, (struct ag_str){tok, strlen(tok)}, &any, &out), AG_JWT_OK);
    AG_ASSERT_STR(out.sub.p, "us\"er");
    AG_ASSERT_STR(out.sid.p, "S-1");
    /* never an access token, though the ring verifies its signature */
    AG_ASSERT_EQ(ring_check(r, tok), AG_JWT_BAD_TYPE);
    /* no session: no "sid"; a short buffer writes nothing */
    a.sid = (struct ag_str){NULL, 0};
    AG_ASSERT(ag_claims_assertion_sign(cfg, ag_jwt_ring_key(r, "h2"), &a, tok, sizeof(tok)) > 0);
    AG_ASSERT_EQ(ag_jwt_ring_verify(r, (struct ag_str){tok, strlen(tok)}, &any, &out), AG_JWT_OK);
    AG_ASSERT_EQ(out.sid.len, 0);
    AG_ASSERT_EQ(ag_claims_assertion_sign(cfg, ed, &a, tok, 64), AG_ETOOBIG);
    AG_ASSERT(ag_claims_assertion_size(cfg, &a) < TOK_CAP);
out:
    ag_jwt_ring_free(r);
    ag_config_unref(cfg);
}

/* The kid picks the key and the key the algorithm: every swap is BAD_ALG, before the
 * signature is looked at (the forged signatures below are valid for the named algorithm). */
static void test_ring_refuses_algorithm_confusion(void)
{
    struct ag_jwt_ring *r = full_ring(0);
    struct ag_jwt_key *rs_pub_as_secret = ag_jwt_key_new_hs256(RS_PUB, strlen(RS_PUB), "x");
    struct ag_jwt_key *ed = pem_key(AG_JWT_EDDSA, ED_PRIV, true, "ed");
    struct ag_jwt_key *es = pem_key(AG_JWT_ES256, ES_PRIV, true, "es");
    struct ag_jwt_key *h2 = ag_jwt_key_new_hs256(K2, strlen(K2), "h2");
    char tok[TOK_CAP];

    /* the classic: RS256 key's public PEM used as an HMAC secret */
    AG_ASSERT_EQ(ring_check(r, forge(rs_pub_as_secret, "{\"alg\":\"HS256\",\"kid\":\"rs\"}",
                                     CLAIMS, tok)), AG_JWT_BAD_ALG);
    AG_ASSERT_EQ(ring_check(r, forge(es, "{\"alg\":\"ES256\",\"kid\":\"ed\"}", CLAIMS, tok)),
                 AG_JWT_BAD_ALG);
    AG_ASSERT_EQ(ring_check(r, forge(ed, "{\"alg\":\"EdDSA\",\"kid\":\"es\"}", CLAIMS, tok)),
                 AG_JWT_BAD_ALG);
    AG_ASSERT_EQ(ring_check(r, forge(h2, "{\"alg\":\"RS256\",\"kid\":\"h2\"}", CLAIMS, tok)),
                 AG_JWT_BAD_ALG);
    AG_ASSERT_EQ(ring_check(r, forge(h2, "{\"alg\":\"none\",\"kid\":\"h2\"}", CLAIMS, tok)),
                 AG_JWT_BAD_ALG);
    AG_ASSERT_EQ(ring_check(r, forge(h2, "{\"kid\":\"h2\"}", CLAIMS, tok)), AG_JWT_BAD_ALG);
    /* no kid: only cryptography-key, which is HS256 */
    AG_ASSERT_EQ(ring_check(r, forge(ed, "{\"alg\":\"EdDSA\"}", CLAIMS, tok)), AG_JWT_BAD_ALG);
    /* "alg":"none" with an empty signature is not even three segments */
    AG_ASSERT_EQ(ring_check(r, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."), AG_JWT_MALFORMED);
    ag_jwt_key_free(rs_pub_as_secret);
    ag_jwt_key_free(ed);
    ag_jwt_key_free(es);
    ag_jwt_key_free(h2);
    ag_jwt_ring_free(r);
}

/* A kid no key has, a kid that is not a string, a kid-less token without cryptography-key,
 * a token of one ring key naming another's kid, and the forbidden headers. */
static void test_ring_refuses_unknown_and_wrong_kids(void)
{
    struct ag_jwt_ring *r = full_ring(0);
    struct ag_jwt_key *k1 = ag_jwt_key_new_hs256(K1, strlen(K1), NULL);
    struct ag_jwt_key *ed = pem_key(AG_JWT_EDDSA, ED_PRIV, true, "ed");
    struct ag_jwt_key *only[1] = {pem_key(AG_JWT_EDDSA, ED_PUB, false, "ed")};
    struct ag_jwt_ring *no_plain = ag_jwt_ring_new(NULL, only, 1, 1);
    char tok[TOK_CAP];

    AG_ASSERT_EQ(ring_check(r, forge(k1, "{\"alg\":\"HS256\",\"kid\":\"nope\"}", CLAIMS, tok)),
                 AG_JWT_BAD_HEADER);
    AG_ASSERT_EQ(ring_check(r, forge(k1, "{\"alg\":\"HS256\",\"kid\":7}", CLAIMS, tok)),
                 AG_JWT_BAD_HEADER);
    AG_ASSERT_EQ(ring_check(r, forge(k1, "{\"alg\":\"HS256\",\"kid\":\"h2\"}", CLAIMS, tok)),
                 AG_JWT_BAD_SIG);
    AG_ASSERT_EQ(ring_check(r, forge(ed, "{\"alg\":\"EdDSA\",\"kid\":\"ed\",\"jku\":\"x\"}",
                                     CLAIMS, tok)), AG_JWT_BAD_HEADER);
    AG_ASSERT_EQ(ring_check(r, forge(ed, "{\"alg\":\"EdDSA\",\"kid\":\"ed\",\"kid\":\"es\"}",
                                     CLAIMS, tok)), AG_JWT_BAD_HEADER);
    AG_ASSERT_EQ(ring_check(r, forge(ed, "{\"alg\":\"EdDSA\",\"kid\":\"ed\"}", CLAIMS, tok)),
                 AG_JWT_OK);
    /* without cryptography-key, a kid-less token has no key; a verify-only copy of "ed"
     * accepts what the private one signed, but cannot sign */
    AG_ASSERT_EQ(ring_check(no_plain, forge(k1, "{\"alg\":\"HS256\"}", CLAIMS, tok)),
                 AG_JWT_BAD_HEADER);
    AG_ASSERT_EQ(ring_check(no_plain, forge(ed, "{\"alg\":\"EdDSA\",\"kid\":\"ed\"}", CLAIMS, tok)),
                 AG_JWT_OK);
    AG_ASSERT_NULL(ag_jwt_ring_signer(no_plain));
    AG_ASSERT_EQ(ag_jwt_ring_sign(no_plain, CLAIMS, strlen(CLAIMS), tok, sizeof(tok)), AG_EINVAL);
    ag_jwt_key_free(k1);
    ag_jwt_key_free(ed);
    ag_jwt_ring_free(r);
    ag_jwt_ring_free(no_plain);
}

/* Keys of the wrong type or size, encrypted keys (never a pass phrase prompt), a private
 * key given as public, and text that is no PEM at all are refused with a reason. */
static void test_ring_refuses_bad_pem_keys(void)
{
    static const struct {
        enum ag_jwt_alg alg;
        const char *pem;
        bool priv;
        const char *why;
    } bad[] = {
        {AG_JWT_RS256, RS1024, true, "RSA key of 1024 bits"},
        {AG_JWT_ES256, P384, true, "not a P-256"},
        {AG_JWT_RS256, ED_PRIV, true, "not an RSA key"},
        {AG_JWT_EDDSA, ES_PRIV, true, "not an Ed25519 key"},
        {AG_JWT_ES256, RS_PUB, false, "not a P-256"},
        {AG_JWT_EDDSA, ENC, true, "not an unencrypted PEM private key"},
        {AG_JWT_EDDSA, ED_PRIV, false, "not a PEM public key"},
        {AG_JWT_EDDSA, ED_PUB, true, "not an unencrypted PEM private key"},
        {AG_JWT_ES256, "hello", true, "not an unencrypted PEM private key"},
        {AG_JWT_HS256, ED_PRIV, true, "asymmetric"},
    };
    char why[256];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        AG_ASSERT_NULL(ag_jwt_key_new_pem(bad[i].alg, bad[i].pem, strlen(bad[i].pem), bad[i].priv,
                                          "k", why, sizeof(why)));
        AG_ASSERT(strstr(why, bad[i].why) != NULL);
    }
    AG_ASSERT_NULL(ag_jwt_key_new_pem(AG_JWT_EDDSA, ED_PUB, strlen(ED_PUB), false, NULL, why,
                                      sizeof(why)));
}

/* The algorithm names, both ways; a mistyped case is not an algorithm. */
static void test_ring_alg_names(void)
{
    enum ag_jwt_alg a;

    AG_ASSERT_EQ(ag_jwt_alg_parse("EdDSA", &a), 0);
    AG_ASSERT_EQ(a, AG_JWT_EDDSA);
    AG_ASSERT_EQ(ag_jwt_alg_parse("RS256", &a), 0);
    AG_ASSERT_STR(ag_jwt_alg_name(a), "RS256");
    AG_ASSERT_EQ(ag_jwt_alg_parse("eddsa", &a), -1);
    AG_ASSERT_EQ(ag_jwt_alg_parse("none", &a), -1);
}

int main(void)
{
    AG_RUN(test_ring_rfc8037_a4_ed25519);
    AG_RUN(test_ring_rfc7515_a2_rs256);
    AG_RUN(test_ring_rfc7515_a3_es256);
    AG_RUN(test_ring_signs_and_verifies_with_each_key);
    AG_RUN(test_ring_refuses_algorithm_confusion);
    AG_RUN(test_ring_refuses_unknown_and_wrong_kids);
    AG_RUN(test_ring_refuses_bad_pem_keys);
    AG_RUN(test_ring_alg_names);
    AG_RUN(test_ring_signs_upstream_assertions);
    return ag_t_done();
}
