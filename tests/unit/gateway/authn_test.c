/*
 * tests/unit/gateway/authn_test.c - mirrors gateway/auth/authn.c with no socket: the
 * access decision over a parsed head and a rules verdict (master token, the token
 * sources and their order, scopes and roles, revocations and the UNSYNCED verdict,
 * legacy tokens), the verified-token cache (hits, LRU, expiry at exp, revoked hits),
 * the refusals, ag_authn_bearer() and the credential header names.
 *
 * Owns:     one config, generation, worker (cache and scratch claims) and revocation
 *           set per test, all freed at its end.
 * Entry:    main().
 * Not here: the reply bytes of a refusal (req_test.c), JWS and claims (policy/jwt_test.c),
 *           which paths need what (policy/rules_test.c), sockets (integration/test_policy*.py).
 * Spec:     CONTRACT.md sections 4-8; RFC 6750 section 3; docs/tokens.md.
 */
#include "authn.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "keycache.h"
#include "revoke.h"
#include "worker_types.h"

#include "cfg.h"
#include "t.h"

#define MASTER "master-secret-0001"
#define OTHER_KEY "another-cryptography-key-for-tests-0123456789"
#define TOK_CAP 2048

/* A generation, a worker and a revocation set for ag_authn_check(), with no loop. */
struct fx {
    struct ag_worker w;
    struct ag_gen *g;
    struct ag_jwt_key *mint_key; /* the config's key, kept when a test swaps g->ring */
    struct ag_revoke *rv;        /* g->revoke, or NULL after fx_no_revoke() */
    struct ag_http1_header hdrs[16];
    struct ag_http1_head h;
    char raw[8192];
    struct ag_rules_verdict v;
    struct ag_authn a;
};

/* Sets <f> up with a config holding <members> (' for "), a loaded empty revocation set
 * and a worker cache of the config's token-cache-size. */
static int fx_init(struct fx *f, const char *members)
{
    memset(f, 0, sizeof(*f));
    f->g = calloc(1, sizeof(*f->g));
    if (f->g == NULL || (f->g->cfg = ag_t_config(members, NULL)) == NULL) {
        free(f->g);
        return -1;
    }
    atomic_init(&f->g->_refs, 1);
    f->g->ring = ag_jwt_ring_new(
        ag_jwt_key_new_hs256(f->g->cfg->crypto_key, f->g->cfg->crypto_key_len, NULL), NULL, 0, 0);
    f->mint_key = ag_jwt_key_new_hs256(f->g->cfg->crypto_key, f->g->cfg->crypto_key_len, NULL);
    f->rv = ag_revoke_new();
    f->g->revoke = f->rv;
    ag_revoke_set_loaded(f->rv);
    f->w.gen = f->g;
    f->w.tcache = ag_authn_cache_new(f->g->cfg->token_cache_size);
    f->w.claims = malloc(sizeof(*f->w.claims));
    f->v.route = -1;
    if (f->g->ring == NULL || f->mint_key == NULL || f->rv == NULL || f->w.tcache == NULL ||
        f->w.claims == NULL)
        return -1;
    return 0;
}

static void fx_clear(struct fx *f)
{
    ag_authn_cache_free(f->w.tcache);
    free(f->w.claims);
    ag_revoke_free(f->rv);
    ag_jwt_key_free(f->mint_key);
    ag_gen_unref(f->g); /* frees the config and g->ring */
}

/* From now on the generation verifies with another key: a token that still passes
 * came from the cache (a hit skips the signature). */
static void fx_swap_key(struct fx *f)
{
    ag_jwt_ring_free(f->g->ring);
    f->g->ring = ag_jwt_ring_new(ag_jwt_key_new_hs256(OTHER_KEY, strlen(OTHER_KEY), NULL), NULL, 0, 0);
}

/* Parses "GET /api HTTP/1.1", Host, then the fields <fmt> (lines ending CRLF) into f->h. */
__attribute__((format(printf, 2, 3))) static void head(struct fx *f, const char *fmt, ...)
{
    char fields[sizeof(f->raw) - 64];
    va_list ap;
    int n;

    va_start(ap, fmt);
    vsnprintf(fields, sizeof(fields), fmt, ap);
    va_end(ap);
    n = snprintf(f->raw, sizeof(f->raw), "GET /api HTTP/1.1\r\nHost: t\r\n%s\r\n", fields);
    memset(&f->h, 0, sizeof(f->h));
    f->h.hdrs = f->hdrs;
    f->h.max_hdrs = sizeof(f->hdrs) / sizeof(f->hdrs[0]);
    if (ag_http1_parse_request(f->raw, (size_t)n, sizeof(f->raw), &f->h) != n)
        AG_FAIL_("head not parsed: %s", f->h.error ? f->h.error : "?");
}

/* Judges f->h for a path needing <need> (AG_NEED_*) and f->v's scopes and roles. */
static enum ag_authn_status check(struct fx *f, unsigned need)
{
    f->v.need = need;
    ag_authn_check(&f->w, f->g, &f->h, &f->v, NULL, &f->a);
    return f->a.st;
}

/* Signs the JSON object {<members>} (' for ") with <k> into <tok>; returns <tok>. */
static const char *sign(const struct ag_jwt_key *k, char *tok, const char *members)
{
    char json[1024];
    int n = snprintf(json, sizeof(json), "{%s}", members);

    for (int i = 0; i < n; i++)
        if (json[i] == '\'')
            json[i] = '"';
    if (ag_jwt_sign(k, json, (size_t)n, tok, TOK_CAP) < 0)
        AG_FAIL_("cannot sign %s", json);
    return tok;
}

/* A good access token of the config's key, valid for 10 minutes, with <extra> members. */
static const char *mint(struct fx *f, char *tok, const char *extra)
{
    char m[768];
    long long now = (long long)time(NULL);

    snprintf(m, sizeof(m),
             "'sub':'user-42','client_id':'web','type':'access','iss':'authgate',"
             "'iat':%lld,'exp':%lld,'jti':'j-1','sid':'s-1'%s%s",
             now - 10, now + 600, *extra ? "," : "", extra);
    return sign(f->mint_key, tok, m);
}

/* ---------------------------------------------------------------- names and Bearer */

static void test_authn_bearer_reads_scheme_case_spaces_and_tab(void)
{
    struct ag_str t = {NULL, 0};

    AG_ASSERT_EQ(ag_authn_bearer(AG_LIT("Bearer abc"), &t), 1);
    AG_ASSERT_MEM(t.p, t.len, "abc");
    AG_ASSERT_EQ(ag_authn_bearer(AG_LIT("bEaReR   a.b.c"), &t), 1);
    AG_ASSERT_MEM(t.p, t.len, "a.b.c");
    AG_ASSERT_EQ(ag_authn_bearer(AG_LIT("Bearer"), &t), 1); /* present, empty: judged */
    AG_ASSERT_EQ(t.len, 0);
    AG_ASSERT_EQ(ag_authn_bearer(AG_LIT("Bearer "), &t), 1);
    AG_ASSERT_EQ(t.len, 0);
    AG_ASSERT_EQ(ag_authn_bearer(AG_LIT("Bearer\tabc"), &t), -1);
    AG_ASSERT_MEM(t.p, t.len, "abc");
    AG_ASSERT_EQ(ag_authn_bearer(AG_LIT("Bearer \tabc"), NULL), -1);
    AG_ASSERT_EQ(ag_authn_bearer(AG_LIT("Bearer\t abc"), NULL), -1);
    AG_ASSERT_EQ(ag_authn_bearer(AG_LIT("Bearerx abc"), NULL), 0);
    AG_ASSERT_EQ(ag_authn_bearer(AG_LIT("Basic dXNlcjpwYXNz"), NULL), 0);
    AG_ASSERT_EQ(ag_authn_bearer(AG_LIT("Bear"), NULL), 0);
    AG_ASSERT_EQ(ag_authn_bearer(AG_LIT(""), NULL), 0);
}

static void test_authn_credential_header_names_in_every_spelling(void)
{
    AG_ASSERT(ag_authn_is_credential_header(AG_LIT("MASTER-TOKEN")));
    AG_ASSERT(ag_authn_is_credential_header(AG_LIT("master_token")));
    AG_ASSERT(ag_authn_is_credential_header(AG_LIT("Master.Token")));
    AG_ASSERT(ag_authn_is_credential_header(AG_LIT("access-token")));
    AG_ASSERT(ag_authn_is_credential_header(AG_LIT("ACCESS_token")));
    AG_ASSERT(ag_authn_is_credential_header(AG_LIT("Access.Token")));
    AG_ASSERT(!ag_authn_is_credential_header(AG_LIT("X-Access-Token")));
    AG_ASSERT(!ag_authn_is_credential_header(AG_LIT("access-tokens")));
    AG_ASSERT(!ag_authn_is_credential_header(AG_LIT("accesstoken")));
    AG_ASSERT(!ag_authn_is_credential_header(AG_LIT("Authorization")));
    AG_ASSERT(ag_authn_name_eq(AG_LIT("X_Auth.subject"), "x-auth-subject"));
    AG_ASSERT(!ag_authn_name_eq(AG_LIT("X-Auth-Subjects"), "x-auth-subject"));
    AG_ASSERT(!ag_authn_name_eq(AG_LIT("X-Auth"), "x-auth-subject"));
}

/* ---------------------------------------------------------------- master token */

static void test_authn_path_needing_nothing_passes_without_identity(void)
{
    struct fx f;
    char tok[TOK_CAP];

    AG_ASSERT_EQ(fx_init(&f, ""), 0);
    head(&f, "Authorization: Bearer %s\r\n", mint(&f, tok, ""));
    AG_ASSERT_EQ(check(&f, 0), AG_AUTHN_OK);
    AG_ASSERT(!f.a.identity);
    AG_ASSERT_EQ(f.a.src, 0); /* not even looked for */
    fx_clear(&f);
}

static void test_authn_master_token_is_one_exact_field(void)
{
    static const char *wrong[] = {"wrong", MASTER "x", "MASTER-SECRET-0001", "master-secret-000"};
    struct fx f;
    char tok[TOK_CAP];

    AG_ASSERT_EQ(fx_init(&f, "'master-token':'" MASTER "'"), 0);
    head(&f, "%s", "");
    AG_ASSERT_EQ(check(&f, AG_NEED_MASTER), AG_AUTHN_MASTER);
    for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
        head(&f, "MASTER-TOKEN: %s\r\n", wrong[i]);
        AG_ASSERT_EQ(check(&f, AG_NEED_MASTER), AG_AUTHN_MASTER);
    }
    head(&f, "MASTER-TOKEN:\r\n");
    AG_ASSERT_EQ(check(&f, AG_NEED_MASTER), AG_AUTHN_MASTER);
    head(&f, "MASTER-TOKEN: " MASTER "\r\nMASTER-TOKEN: wrong\r\n");
    AG_ASSERT_EQ(check(&f, AG_NEED_MASTER), AG_AUTHN_MASTER);
    head(&f, "MASTER-TOKEN: " MASTER "\r\nMASTER-TOKEN: " MASTER "\r\n");
    AG_ASSERT_EQ(check(&f, AG_NEED_MASTER), AG_AUTHN_MASTER);
    /* An access token opens no master path. */
    head(&f, "Authorization: Bearer %s\r\n", mint(&f, tok, ""));
    AG_ASSERT_EQ(check(&f, AG_NEED_MASTER), AG_AUTHN_MASTER);

    head(&f, "MASTER-TOKEN: " MASTER "\r\n");
    AG_ASSERT_EQ(check(&f, AG_NEED_MASTER), AG_AUTHN_OK);
    AG_ASSERT(!f.a.identity);
    head(&f, "master-token: " MASTER "\r\n"); /* field names ignore case (RFC 9110) */
    AG_ASSERT_EQ(check(&f, AG_NEED_MASTER), AG_AUTHN_OK);
    /* A master token opens no access path; a path needing both needs both. */
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_NO_TOKEN);
    AG_ASSERT_EQ(check(&f, AG_NEED_MASTER | AG_NEED_ACCESS), AG_AUTHN_NO_TOKEN);
    head(&f, "MASTER-TOKEN: " MASTER "\r\nAuthorization: Bearer x.y.z\r\n");
    AG_ASSERT_EQ(check(&f, AG_NEED_MASTER | AG_NEED_ACCESS), AG_AUTHN_INVALID);
    head(&f, "MASTER-TOKEN: " MASTER "\r\nAuthorization: Bearer %s\r\n", tok);
    AG_ASSERT_EQ(check(&f, AG_NEED_MASTER | AG_NEED_ACCESS), AG_AUTHN_OK);
    AG_ASSERT(f.a.identity);
    fx_clear(&f);
}

static void test_authn_master_paths_refuse_without_a_configured_master_token(void)
{
    struct fx f;

    AG_ASSERT_EQ(fx_init(&f, ""), 0);
    head(&f, "MASTER-TOKEN:\r\n");
    AG_ASSERT_EQ(check(&f, AG_NEED_MASTER), AG_AUTHN_MASTER);
    head(&f, "MASTER-TOKEN: anything\r\n");
    AG_ASSERT_EQ(check(&f, AG_NEED_MASTER), AG_AUTHN_MASTER);
    fx_clear(&f);
}

/* ---------------------------------------------------------------- token sources */

static void test_authn_each_source_passes_and_is_named(void)
{
    struct fx f;
    char tok[TOK_CAP];

    AG_ASSERT_EQ(fx_init(&f, ""), 0);
    mint(&f, tok, "'scope':'read write','roles':['dev','ops']");
    head(&f, "Authorization: Bearer %s\r\n", tok);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_OK);
    AG_ASSERT_EQ(f.a.src, AG_AUTHN_SRC_BEARER);
    AG_ASSERT_EQ(f.a.jwt, AG_JWT_OK);
    AG_ASSERT(f.a.identity);
    AG_ASSERT(!f.a.client);
    AG_ASSERT_MEM(f.a.sub.p, f.a.sub.len, "user-42");
    AG_ASSERT_MEM(f.a.client_id.p, f.a.client_id.len, "web");
    AG_ASSERT_MEM(f.a.scopes.p, f.a.scopes.len, "read write");
    AG_ASSERT_MEM(f.a.roles.p, f.a.roles.len, "dev,ops");
    AG_ASSERT_MEM(f.a.jti.p, f.a.jti.len, "j-1");
    AG_ASSERT_MEM(f.a.sid.p, f.a.sid.len, "s-1");
    AG_ASSERT(f.a.exp > (int64_t)time(NULL));
    head(&f, "ACCESS-TOKEN: %s\r\n", tok);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_OK);
    AG_ASSERT_EQ(f.a.src, AG_AUTHN_SRC_HEADER);
    head(&f, "access-token: %s\r\n", tok);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_OK);
    head(&f, "Cookie: access_token=%s\r\n", tok);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_OK);
    AG_ASSERT_EQ(f.a.src, AG_AUTHN_SRC_COOKIE);
    head(&f, "Cookie: a=1; access_token=%s; b=2\r\n", tok);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_OK);
    AG_ASSERT_EQ(f.a.src, AG_AUTHN_SRC_COOKIE);
    fx_clear(&f);
}

static void test_authn_first_present_source_is_judged_and_never_falls_through(void)
{
    struct fx f;
    char tok[TOK_CAP], bad[TOK_CAP];
    struct ag_jwt_key *other = ag_jwt_key_new_hs256(OTHER_KEY, strlen(OTHER_KEY), NULL);

    AG_ASSERT_EQ(fx_init(&f, ""), 0);
    mint(&f, tok, "");
    sign(other, bad, "'sub':'x'");
    ag_jwt_key_free(other);
    head(&f, "Authorization: Bearer %s\r\nCookie: access_token=%s\r\n", bad, tok);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_INVALID);
    AG_ASSERT_EQ(f.a.src, AG_AUTHN_SRC_BEARER);
    AG_ASSERT_EQ(f.a.jwt, AG_JWT_BAD_SIG);
    AG_ASSERT(!f.a.identity);
    head(&f, "Authorization: Bearer %s\r\nACCESS-TOKEN: %s\r\n", bad, tok);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_INVALID);
    head(&f, "ACCESS-TOKEN: %s\r\nCookie: access_token=%s\r\n", bad, tok);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_INVALID);
    AG_ASSERT_EQ(f.a.src, AG_AUTHN_SRC_HEADER);
    /* The order of sources counts, not the order of fields on the wire. */
    head(&f, "Cookie: access_token=%s\r\nAuthorization: Bearer %s\r\n", tok, bad);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_INVALID);
    AG_ASSERT_EQ(f.a.src, AG_AUTHN_SRC_BEARER);
    /* A bare "Bearer" is a present, empty Bearer token. */
    head(&f, "Authorization: Bearer\r\nACCESS-TOKEN: %s\r\n", tok);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_INVALID);
    AG_ASSERT_EQ(f.a.src, AG_AUTHN_SRC_BEARER);
    head(&f, "Authorization: Bearer \r\nCookie: access_token=%s\r\n", tok);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_INVALID);
    /* A valid first source passes whatever follows. */
    head(&f, "Authorization: Bearer %s\r\nCookie: access_token=garbage\r\n", tok);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_OK);
    head(&f, "Authorization: Bearer %s\r\nACCESS-TOKEN: garbage\r\n", tok);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_OK);
    head(&f, "Cookie: access_token=x\r\nACCESS-TOKEN: %s\r\n", tok);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_OK);
    AG_ASSERT_EQ(f.a.src, AG_AUTHN_SRC_HEADER);
    /* Scheme in any case, then a run of spaces. */
    head(&f, "Authorization: bEaReR   %s\r\n", tok);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_OK);
    fx_clear(&f);
}

static void test_authn_bearer_with_tab_is_malformed_and_judged(void)
{
    static const char *seps[] = {"\t", " \t", "\t "};
    struct fx f;
    char tok[TOK_CAP];

    AG_ASSERT_EQ(fx_init(&f, ""), 0);
    mint(&f, tok, "");
    for (size_t i = 0; i < sizeof(seps) / sizeof(seps[0]); i++) {
        head(&f, "Authorization: Bearer%s%s\r\nACCESS-TOKEN: %s\r\n", seps[i], tok, tok);
        AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_INVALID);
        AG_ASSERT_EQ(f.a.src, -1);
        AG_ASSERT_EQ(f.a.jwt, AG_JWT_MALFORMED);
    }
    fx_clear(&f);
}

static void test_authn_other_schemes_and_cookies_are_no_token(void)
{
    struct fx f;
    char tok[TOK_CAP];

    AG_ASSERT_EQ(fx_init(&f, ""), 0);
    mint(&f, tok, "");
    head(&f, "Authorization: Basic dXNlcjpwYXNz\r\nCookie: access_token=%s\r\n", tok);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_OK);
    AG_ASSERT_EQ(f.a.src, AG_AUTHN_SRC_COOKIE);
    head(&f, "Authorization: Basic dXNlcjpwYXNz\r\n");
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_NO_TOKEN);
    AG_ASSERT_EQ(f.a.src, 0);
    head(&f, "Cookie: refresh_token=%s\r\n", tok);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_NO_TOKEN);
    head(&f, "Cookie: ACCESS_TOKEN=garbage\r\n");
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_NO_TOKEN);
    /* Only ACCESS-TOKEN itself is a source; its '_' spelling is filtered, never judged. */
    head(&f, "ACCESS_TOKEN: %s\r\n", tok);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_NO_TOKEN);
    head(&f, "Cookie: x=1\r\n");
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_NO_TOKEN);
    fx_clear(&f);
}

static void test_authn_two_of_one_source_are_refused(void)
{
    struct fx f;
    char tok[TOK_CAP];

    AG_ASSERT_EQ(fx_init(&f, ""), 0);
    mint(&f, tok, "");
    head(&f, "Authorization: Bearer %s\r\nAuthorization: Bearer %s\r\n", tok, tok);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_INVALID);
    AG_ASSERT_EQ(f.a.src, -1);
    AG_ASSERT_EQ(f.a.jwt, AG_JWT_MALFORMED);
    head(&f, "ACCESS-TOKEN: %s\r\nACCESS-TOKEN: %s\r\n", tok, tok);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_INVALID);
    AG_ASSERT_EQ(f.a.src, -1);
    head(&f, "Cookie: access_token=%s; access_token=%s\r\n", tok, tok);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_INVALID);
    AG_ASSERT_EQ(f.a.src, -1);
    head(&f, "Cookie: access_token=%s\r\nCookie: access_token=%s\r\n", tok, tok);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_INVALID);
    AG_ASSERT_EQ(f.a.src, -1);
    /* The token beside what RFC 6265's strict grammar refuses: read as browsers send it
     * (policy/cookie.c), it passes; the header never hides a second one. */
    head(&f, "Cookie: access_token = %s\r\n", tok);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_OK);
    head(&f, "Cookie: access_token=%s;\r\n", tok);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_OK);
    head(&f, "Cookie: access_token=%s\r\nCookie: junk; theme=\"dark mode\"\r\n", tok);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_OK);
    head(&f, "Cookie: x=\"a;access_token=%s\"; access_token=%s\r\n", tok, tok);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_INVALID);
    AG_ASSERT_EQ(f.a.src, -1);
    head(&f, "Cookie: access_token=\r\n");
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_INVALID);
    AG_ASSERT_EQ(f.a.src, AG_AUTHN_SRC_COOKIE);
    /* Still judging. */
    head(&f, "Authorization: Bearer %s\r\n", tok);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_OK);
    fx_clear(&f);
}

static void test_authn_accept_header_and_accept_cookie_switch_sources_off(void)
{
    struct fx f;
    char tok[TOK_CAP];

    AG_ASSERT_EQ(fx_init(&f, "'accept-header':false"), 0);
    mint(&f, tok, "");
    head(&f, "Authorization: Bearer %s\r\n", tok);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_NO_TOKEN);
    head(&f, "ACCESS-TOKEN: %s\r\n", tok);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_NO_TOKEN);
    head(&f, "Authorization: Bearer junk\r\nCookie: access_token=%s\r\n", tok);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_OK); /* an ignored header blocks nothing */
    AG_ASSERT_EQ(f.a.src, AG_AUTHN_SRC_COOKIE);
    fx_clear(&f);

    AG_ASSERT_EQ(fx_init(&f, "'accept-cookie':false"), 0);
    mint(&f, tok, "");
    head(&f, "Cookie: access_token=%s\r\n", tok);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_NO_TOKEN);
    head(&f, "Cookie: access_token=junk; a=1\r\nACCESS-TOKEN: %s\r\n", tok);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_OK);
    head(&f, "Cookie: junk\r\nAuthorization: Bearer %s\r\n", tok);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_OK);
    fx_clear(&f);
}

/* ---------------------------------------------------------------- what the token must hold */

/* Judges a fresh token with <claims> against scopes <s0> and roles <r0> (NULL: none). */
static enum ag_authn_status judge_holding(struct fx *f, const char *claims, const char *s0,
                                          const char *r0)
{
    char tok[TOK_CAP];

    f->v.n_scopes = f->v.n_roles = 0;
    if (s0 != NULL)
        f->v.scopes[f->v.n_scopes++] = s0;
    if (r0 != NULL)
        f->v.roles[f->v.n_roles++] = r0;
    head(f, "Authorization: Bearer %s\r\n", mint(f, tok, claims));
    return check(f, AG_NEED_ACCESS);
}

static void test_authn_scopes_and_roles_are_whole_words_all_required(void)
{
    struct fx f;

    AG_ASSERT_EQ(fx_init(&f, "'token-cache-size':0"), 0);
    AG_ASSERT_EQ(judge_holding(&f, "", "read", NULL), AG_AUTHN_SCOPE);
    AG_ASSERT_STR(f.a.missing, "read");
    AG_ASSERT(!f.a.identity);
    AG_ASSERT_EQ(judge_holding(&f, "'scope':'write'", "read", NULL), AG_AUTHN_SCOPE);
    AG_ASSERT_EQ(judge_holding(&f, "'scope':'reader'", "read", NULL), AG_AUTHN_SCOPE);
    AG_ASSERT_EQ(judge_holding(&f, "'scope':'rea'", "read", NULL), AG_AUTHN_SCOPE);
    AG_ASSERT_EQ(judge_holding(&f, "'scope':'READ'", "read", NULL), AG_AUTHN_SCOPE);
    AG_ASSERT_EQ(judge_holding(&f, "'scope':'write read'", "read", NULL), AG_AUTHN_OK);
    AG_ASSERT_EQ(judge_holding(&f, "'scopes':['read']", "read", NULL), AG_AUTHN_OK);
    AG_ASSERT_EQ(judge_holding(&f, "'scp':['x','read']", "read", NULL), AG_AUTHN_OK);

    AG_ASSERT_EQ(judge_holding(&f, "", NULL, "ops"), AG_AUTHN_SCOPE);
    AG_ASSERT_STR(f.a.missing, "ops");
    AG_ASSERT_EQ(judge_holding(&f, "'roles':['dev']", NULL, "ops"), AG_AUTHN_SCOPE);
    AG_ASSERT_EQ(judge_holding(&f, "'roles':['OPS']", NULL, "ops"), AG_AUTHN_SCOPE);
    AG_ASSERT_EQ(judge_holding(&f, "'scope':'ops'", NULL, "ops"), AG_AUTHN_SCOPE); /* no role */
    AG_ASSERT_EQ(judge_holding(&f, "'roles':['dev','ops']", NULL, "ops"), AG_AUTHN_OK);

    /* Every one required; the first lacking is named, scopes before roles. */
    AG_ASSERT_EQ(judge_holding(&f, "'scope':'read'", "read", "ops"), AG_AUTHN_SCOPE);
    AG_ASSERT_STR(f.a.missing, "ops");
    f.v.scopes[f.v.n_scopes++] = "write"; /* the same head */
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_SCOPE);
    AG_ASSERT_STR(f.a.missing, "write");
    fx_clear(&f);
}

static void test_authn_issuer_audience_and_exp_follow_the_config(void)
{
    struct fx f;
    char tok[TOK_CAP];
    long long now = (long long)time(NULL);
    char m[256];

    /* iss defaults to app-name: a token issued for "authgate" is someone else's. */
    AG_ASSERT_EQ(fx_init(&f, "'app-name':'shop'"), 0);
    head(&f, "Authorization: Bearer %s\r\n", mint(&f, tok, ""));
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_INVALID);
    AG_ASSERT_EQ(f.a.jwt, AG_JWT_BAD_ISS);
    fx_clear(&f);

    AG_ASSERT_EQ(fx_init(&f, "'token-issuer':'authgate','token-audience':'shop'"), 0);
    head(&f, "Authorization: Bearer %s\r\n", mint(&f, tok, ""));
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_INVALID);
    AG_ASSERT_EQ(f.a.jwt, AG_JWT_BAD_AUD);
    head(&f, "Authorization: Bearer %s\r\n", mint(&f, tok, "'aud':['x','shop']"));
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_OK);
    fx_clear(&f);

    /* Expired from the exp second on; token-exp-leeway opts into more. */
    AG_ASSERT_EQ(fx_init(&f, ""), 0);
    snprintf(m, sizeof(m), "'sub':'u','type':'access','iss':'authgate','jti':'j','exp':%lld", now);
    head(&f, "Authorization: Bearer %s\r\n", sign(f.mint_key, tok, m));
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_INVALID);
    AG_ASSERT_EQ(f.a.jwt, AG_JWT_EXPIRED);
    fx_clear(&f);
    AG_ASSERT_EQ(fx_init(&f, "'token-exp-leeway':30"), 0);
    snprintf(m, sizeof(m), "'sub':'u','type':'access','iss':'authgate','jti':'j','exp':%lld",
             now - 10);
    head(&f, "Authorization: Bearer %s\r\n", sign(f.mint_key, tok, m));
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_OK);
    fx_clear(&f);
}

/* ---------------------------------------------------------------- revocations */

static void test_authn_revoked_jti_sid_and_subject_are_refused(void)
{
    struct fx f;
    char tok[TOK_CAP];
    int64_t until = (int64_t)time(NULL) + 3600;

    AG_ASSERT_EQ(fx_init(&f, "'token-cache-size':0"), 0);
    mint(&f, tok, "");
    head(&f, "Authorization: Bearer %s\r\n", tok);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_OK);
    AG_ASSERT_EQ(ag_revoke_add(f.rv, AG_REVOKE_JTI, AG_LIT("j-1"), until), 0);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_INVALID);
    AG_ASSERT_EQ(f.a.jwt, AG_JWT_REVOKED);
    AG_ASSERT(!f.a.identity);
    fx_clear(&f);

    AG_ASSERT_EQ(fx_init(&f, "'token-cache-size':0"), 0);
    head(&f, "Authorization: Bearer %s\r\n", mint(&f, tok, ""));
    AG_ASSERT_EQ(ag_revoke_add(f.rv, AG_REVOKE_SID, AG_LIT("s-1"), until), 0);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_INVALID);
    AG_ASSERT_EQ(f.a.jwt, AG_JWT_REVOKED);
    fx_clear(&f);

    /* logout-all: tokens of the subject issued before T (iat is now - 10). */
    AG_ASSERT_EQ(fx_init(&f, "'token-cache-size':0"), 0);
    head(&f, "Authorization: Bearer %s\r\n", mint(&f, tok, ""));
    AG_ASSERT_EQ(ag_revoke_add_subject(f.rv, AG_LIT("user-42"), (int64_t)time(NULL) - 60, until),
                 0);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_OK);
    AG_ASSERT_EQ(ag_revoke_add_subject(f.rv, AG_LIT("user-42"), (int64_t)time(NULL), until), 0);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_INVALID);
    AG_ASSERT_EQ(f.a.jwt, AG_JWT_REVOKED);
    fx_clear(&f);
}

/* When ag_authn_live() judges. */
#define SWEEP AG_AUTHN_LIVE_AT_SWEEP
#define ANSWER AG_AUTHN_LIVE_AT_ANSWER
#define OWN AG_AUTHN_LIVE_AT_OWN_ANSWER

/*
 * The identity a passed token is indexed by (gateway/core/live.c) is judged revoked by
 * ag_authn_live() exactly when a new check of the same token is refused.
 */
static void test_authn_live_token_agrees_with_the_check(void)
{
    int64_t now = (int64_t)time(NULL), until = now + 3600;

    for (size_t i = 0; i < 4; i++) { /* jti, sid, subject watermark, an API key id */
        struct fx f;
        char tok[TOK_CAP], ids[3][64];
        struct ag_authn_cred c = {0};

        AG_ASSERT_EQ(fx_init(&f, "'token-cache-size':0"), 0);
        head(&f, "Authorization: Bearer %s\r\n", mint(&f, tok, ""));
        AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_OK);
        /* a copy, as the index keeps it: the claims' scratch is reused by the next check */
        snprintf(ids[0], sizeof(ids[0]), "%.*s", (int)f.a.jti.len, f.a.jti.p);
        snprintf(ids[1], sizeof(ids[1]), "%.*s", (int)f.a.sid.len, f.a.sid.p);
        snprintf(ids[2], sizeof(ids[2]), "%.*s", (int)f.a.sub.len, f.a.sub.p);
        c.jti = ag_str_c(ids[0]);
        c.sid = ag_str_c(ids[1]);
        c.sub = ag_str_c(ids[2]);
        c.iat = f.a.iat;
        AG_ASSERT_EQ(ag_authn_live(&f.w, f.g, &c, now, SWEEP), AG_AUTHN_LIVE_OK);
        if (i == 0)
            AG_ASSERT_EQ(ag_revoke_add(f.rv, AG_REVOKE_JTI, c.jti, until), 0);
        else if (i == 1)
            AG_ASSERT_EQ(ag_revoke_add(f.rv, AG_REVOKE_SID, c.sid, until), 0);
        else if (i == 2)
            AG_ASSERT_EQ(ag_revoke_add_subject(f.rv, c.sub, now, until), 0);
        else
            AG_ASSERT_EQ(ag_revoke_add(f.rv, AG_REVOKE_KEY, AG_LIT("k-1"), until), 0);
        AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), i < 3 ? AG_AUTHN_INVALID : AG_AUTHN_OK);
        AG_ASSERT_EQ(ag_authn_live(&f.w, f.g, &c, now, SWEEP),
                     i < 3 ? AG_AUTHN_LIVE_REVOKED : AG_AUTHN_LIVE_OK);
        /* an API key's identity: its id, then (no key cache to look it up in) its owner */
        c.key = AG_LIT("k-1");
        AG_ASSERT_EQ(ag_authn_live(&f.w, f.g, &c, now, SWEEP),
                     i == 2 || i == 3 ? AG_AUTHN_LIVE_REVOKED : AG_AUTHN_LIVE_OK);
        fx_clear(&f);
    }
}

#define KEY_ID "abcdefghij012345"
#define KEY_SECRET "S3cr3t-S3cr3t-S3cr3t-S3cr3t-S3cr3t-S3cr3t-0" /* 43 */

/* The worker's cache learns the key KEY_ID of user-42 as a lookup loaded at <loaded>
 * would fill it: KNOWN with <scopes> and <roles>, or ABSENT when <scopes> is NULL. */
static void key_lookup_back(struct fx *f, int64_t loaded, const char *scopes, const char *roles)
{
    unsigned char hash[32];
    struct ag_keycache_fill fill = {hash, "user-42", scopes, roles, 0, loaded, loaded + 900,
                                    loaded};

    struct ag_keycache_entry *e = ag_keycache_get(f->w.kcache, AG_LIT(KEY_ID));

    crypto_hash_sha256(hash, (const unsigned char *)KEY_SECRET, strlen(KEY_SECRET));
    if (e == NULL || e->state != AG_KEYCACHE_PENDING)
        AG_ASSERT(ag_keycache_pending(f->w.kcache, AG_LIT(KEY_ID)) != NULL);
    AG_ASSERT_EQ(ag_keycache_fill(f->w.kcache, AG_LIT(KEY_ID), scopes != NULL ? &fill : NULL,
                                  loaded + 300),
                 0);
}

/*
 * A live API key whose owner's watermark passes the entry it was let through with is
 * looked up again, as a new request with it would be, and judged from the answer: it
 * holds after the owner's logout-all (keys are not revoked by it), even when the lookup
 * went out in the watermark's own second (its answer came after the watermark's write);
 * it is revoked when the owner or the key is gone or its grant narrowed.
 */
static void test_authn_live_key_is_looked_up_again_when_its_owner_changed(void)
{
    int64_t now = (int64_t)time(NULL), until = now + 3600;
    struct ag_authn_from from = {.family = AF_INET, .addr = "\x7f\0\0\1"};
    struct ag_authn_cred c, other;
    struct fx f;

    AG_ASSERT_EQ(fx_init(&f, "'token-cache-size':0"), 0);
    AG_ASSERT((f.w.kcache = ag_keycache_new(8)) != NULL);
    f.v.need = AG_NEED_ACCESS;
    key_lookup_back(&f, now - 100, "read write", "editor");
    head(&f, "X-API-Key: agk_" KEY_ID "_" KEY_SECRET "\r\n");
    ag_authn_check(&f.w, f.g, &f.h, &f.v, &from, &f.a);
    AG_ASSERT_EQ(f.a.st, AG_AUTHN_OK);
    AG_ASSERT_EQ(f.a.iat, now - 100);
    c = (struct ag_authn_cred){.sub = AG_LIT("user-42"), .key = AG_LIT(KEY_ID),
                               .scopes = AG_LIT("read write"), .roles = AG_LIT("editor"),
                               .iat = now - 100};
    AG_ASSERT_EQ(ag_authn_live(&f.w, f.g, &c, now, SWEEP), AG_AUTHN_LIVE_OK);

    /* The owner's logout-all (a second behind): a new request would look the key up; so
     * does the exchange, once for all of the key's exchanges of this worker. */
    AG_ASSERT_EQ(ag_revoke_add_subject(f.rv, AG_LIT("user-42"), now - 1, until), 0);
    AG_ASSERT_EQ(ag_authn_live(&f.w, f.g, &c, now, SWEEP), AG_AUTHN_LIVE_LOOKUP);
    AG_ASSERT_EQ(c.iat_next, now - 1);
    AG_ASSERT_EQ(ag_keycache_get(f.w.kcache, AG_LIT(KEY_ID))->state, AG_KEYCACHE_PENDING);
    other = c;
    AG_ASSERT_EQ(ag_authn_live(&f.w, f.g, &other, now, SWEEP), AG_AUTHN_LIVE_WAIT);
    ag_authn_check(&f.w, f.g, &f.h, &f.v, &from, &f.a);
    AG_ASSERT_EQ(f.a.st, AG_AUTHN_KEY_WAIT);
    AG_ASSERT(!f.a.key_lookup); /* the exchange's lookup is the one it waits for */
    /* Back (loaded, as ep_apikeys.c says, a second before it was sent), same grant: both
     * hold, and later sweeps for the same watermark cost no lookup. */
    key_lookup_back(&f, now - 1, "read write", "editor");
    AG_ASSERT_EQ(ag_authn_live(&f.w, f.g, &c, now, OWN), AG_AUTHN_LIVE_OK);
    AG_ASSERT_EQ(c.iat, now - 1);
    AG_ASSERT_EQ(ag_authn_live(&f.w, f.g, &other, now, ANSWER), AG_AUTHN_LIVE_OK);
    AG_ASSERT_EQ(ag_authn_live(&f.w, f.g, &c, now, SWEEP), AG_AUTHN_LIVE_OK);
    AG_ASSERT_EQ(ag_authn_live(&f.w, f.g, &other, now, SWEEP), AG_AUTHN_LIVE_OK);
    ag_authn_check(&f.w, f.g, &f.h, &f.v, &from, &f.a);
    AG_ASSERT_EQ(f.a.st, AG_AUTHN_OK);

    /* A watermark of this very second (a logout-all of a subject with many sessions): the
     * answer's entry is older by its second, yet it is the state after the watermark. */
    AG_ASSERT_EQ(ag_revoke_add_subject(f.rv, AG_LIT("user-42"), now, until), 0);
    AG_ASSERT_EQ(ag_authn_live(&f.w, f.g, &c, now, SWEEP), AG_AUTHN_LIVE_LOOKUP);
    AG_ASSERT_EQ(ag_authn_live(&f.w, f.g, &other, now, SWEEP), AG_AUTHN_LIVE_WAIT);
    key_lookup_back(&f, now - 1, "read write", "editor");
    AG_ASSERT_EQ(ag_authn_live(&f.w, f.g, &c, now, OWN), AG_AUTHN_LIVE_OK);
    AG_ASSERT_EQ(c.iat, now);
    AG_ASSERT_EQ(ag_authn_live(&f.w, f.g, &c, now, SWEEP), AG_AUTHN_LIVE_OK);
    /* <other> waited for a lookup it did not send: it cannot know the lookup followed the
     * watermark, so it sends its own, and that answer decides. */
    AG_ASSERT_EQ(ag_authn_live(&f.w, f.g, &other, now, ANSWER), AG_AUTHN_LIVE_LOOKUP);
    key_lookup_back(&f, now - 1, "read write", "editor");
    AG_ASSERT_EQ(ag_authn_live(&f.w, f.g, &other, now, OWN), AG_AUTHN_LIVE_OK);

    /* A later watermark (a deactivation) while its lookup was under way: the answer, which
     * Redis may have given before that write, does not pass it: asked again. */
    AG_ASSERT_EQ(ag_revoke_add_subject(f.rv, AG_LIT("user-42"), now + 1, until), 0);
    AG_ASSERT_EQ(ag_authn_live(&f.w, f.g, &c, now, SWEEP), AG_AUTHN_LIVE_LOOKUP);
    AG_ASSERT_EQ(ag_revoke_add_subject(f.rv, AG_LIT("user-42"), now + 2, until), 0);
    key_lookup_back(&f, now - 1, "read write", "editor");
    AG_ASSERT_EQ(ag_authn_live(&f.w, f.g, &c, now, OWN), AG_AUTHN_LIVE_LOOKUP);
    AG_ASSERT_EQ(c.iat_next, now + 2);
    key_lookup_back(&f, now - 1, "read write", "editor");
    AG_ASSERT_EQ(ag_authn_live(&f.w, f.g, &c, now, OWN), AG_AUTHN_LIVE_OK);
    AG_ASSERT_EQ(c.iat, now + 2);

    /* Its entry evicted from a full cache while the lookup was under way: asked again. */
    AG_ASSERT_EQ(ag_revoke_add_subject(f.rv, AG_LIT("user-42"), now + 3, until), 0);
    AG_ASSERT_EQ(ag_authn_live(&f.w, f.g, &c, now, SWEEP), AG_AUTHN_LIVE_LOOKUP);
    ag_keycache_drop(f.w.kcache, AG_LIT(KEY_ID));
    AG_ASSERT_EQ(ag_authn_live(&f.w, f.g, &c, now, OWN), AG_AUTHN_LIVE_LOOKUP);
    /* A role taken away: the answer grants less: revoked. */
    key_lookup_back(&f, now, "read", "");
    AG_ASSERT_EQ(ag_authn_live(&f.w, f.g, &c, now, OWN), AG_AUTHN_LIVE_REVOKED);
    /* The owner deactivated or deleted: Redis no longer knows the key: revoked. */
    AG_ASSERT_EQ(ag_authn_live(&f.w, f.g, &other, now, SWEEP), AG_AUTHN_LIVE_LOOKUP);
    key_lookup_back(&f, now, NULL, NULL);
    AG_ASSERT_EQ(ag_authn_live(&f.w, f.g, &other, now, OWN), AG_AUTHN_LIVE_REVOKED);
    /* The key revoked by id: at once, even while its lookup is under way. */
    key_lookup_back(&f, now + 3, "read write", "editor");
    other.iat = now + 3;
    AG_ASSERT_EQ(ag_revoke_add_subject(f.rv, AG_LIT("user-42"), now + 4, until), 0);
    AG_ASSERT_EQ(ag_authn_live(&f.w, f.g, &other, now, SWEEP), AG_AUTHN_LIVE_LOOKUP);
    AG_ASSERT_EQ(ag_revoke_add(f.rv, AG_REVOKE_KEY, AG_LIT(KEY_ID), until), 0);
    AG_ASSERT_EQ(ag_authn_live(&f.w, f.g, &other, now, SWEEP), AG_AUTHN_LIVE_REVOKED);

    ag_keycache_free(f.w.kcache);
    fx_clear(&f);
}

static void test_authn_unloaded_revocations_never_pass_a_token(void)
{
    struct fx f;
    char tok[TOK_CAP];

    AG_ASSERT_EQ(fx_init(&f, "'token-cache-size':0"), 0);
    ag_revoke_free(f.rv);
    f.rv = f.g->revoke = ag_revoke_new(); /* not loaded yet */
    head(&f, "Authorization: Bearer %s\r\n", mint(&f, tok, ""));
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_UNSYNCED);
    AG_ASSERT(!f.a.identity);
    /* Judged before the scopes: whatever the path needs, wait for the set. */
    f.v.scopes[f.v.n_scopes++] = "admin";
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_UNSYNCED);
    /* What is already known revoked is refused even before the set is complete. */
    AG_ASSERT_EQ(ag_revoke_add(f.rv, AG_REVOKE_JTI, AG_LIT("j-1"), (int64_t)time(NULL) + 60), 0);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_INVALID);
    AG_ASSERT_EQ(f.a.jwt, AG_JWT_REVOKED);
    /* A bad token stays a bad token. */
    head(&f, "Authorization: Bearer x.y.z\r\n");
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_INVALID);
    /* Paths needing no token do not wait. */
    AG_ASSERT_EQ(check(&f, 0), AG_AUTHN_OK);
    ag_revoke_set_loaded(f.rv);
    f.v.n_scopes = 0;
    head(&f, "Authorization: Bearer %s\r\n", mint(&f, tok, "'scope':'x'"));
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_INVALID); /* j-1: still revoked */
    fx_clear(&f);

    /* A generation without a revocation set (no store) judges the token alone. */
    AG_ASSERT_EQ(fx_init(&f, ""), 0);
    f.g->revoke = NULL;
    head(&f, "Authorization: Bearer %s\r\n", mint(&f, tok, ""));
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_OK);
    fx_clear(&f);
}

/* ---------------------------------------------------------------- the verified-token cache */

static void test_authn_cache_hit_skips_the_signature_but_not_the_checks(void)
{
    struct fx f;
    char tok[TOK_CAP], m[512];
    struct ag_authn fresh;

    AG_ASSERT_EQ(fx_init(&f, ""), 0);
    snprintf(m, sizeof(m),
             "'sub':'client:c1','sub_type':'client','client_id':'web','type':'access',"
             "'iss':'authgate','exp':%lld,'jti':'j-1','sid':'s-1','scope':'read','roles':'user'",
             (long long)time(NULL) + 600);
    head(&f, "Authorization: Bearer %s\r\n", sign(f.mint_key, tok, m));
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_OK);
    fresh = f.a;
    fx_swap_key(&f);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_OK); /* a hit: the key was not asked */
    /* The same identity as the fresh verification, from the cache's own copies. */
    AG_ASSERT_MEM(f.a.sub.p, f.a.sub.len, "client:c1");
    AG_ASSERT(f.a.sub.p != fresh.sub.p);
    AG_ASSERT_MEM(f.a.client_id.p, f.a.client_id.len, "web");
    AG_ASSERT_MEM(f.a.scopes.p, f.a.scopes.len, "read");
    AG_ASSERT_MEM(f.a.roles.p, f.a.roles.len, "user");
    AG_ASSERT_MEM(f.a.jti.p, f.a.jti.len, "j-1");
    AG_ASSERT_MEM(f.a.sid.p, f.a.sid.len, "s-1");
    AG_ASSERT_EQ(f.a.exp, fresh.exp);
    AG_ASSERT(f.a.client && fresh.client);
    AG_ASSERT_EQ(f.a.src, AG_AUTHN_SRC_BEARER);
    /* Scopes and roles are checked on every hit. */
    f.v.roles[f.v.n_roles++] = "admin";
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_SCOPE);
    AG_ASSERT_STR(f.a.missing, "admin");
    f.v.n_roles = 0;
    /* The cache is keyed by the token, not by its source. */
    head(&f, "Cookie: access_token=%s\r\n", tok);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_OK);
    /* So is revocation: a cached token revoked later is refused. */
    AG_ASSERT_EQ(ag_revoke_add(f.rv, AG_REVOKE_SID, AG_LIT("s-1"), (int64_t)time(NULL) + 60), 0);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_INVALID);
    AG_ASSERT_EQ(f.a.jwt, AG_JWT_REVOKED);
    /* Cleared (a new generation), the token meets the new key. */
    ag_authn_cache_clear(f.w.tcache);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_INVALID);
    AG_ASSERT_EQ(f.a.jwt, AG_JWT_BAD_SIG);
    fx_clear(&f);
}

static void test_authn_cache_compares_whole_tokens(void)
{
    struct fx f;
    char tok[TOK_CAP], forged[TOK_CAP];
    char *dot;

    AG_ASSERT_EQ(fx_init(&f, ""), 0);
    head(&f, "Authorization: Bearer %s\r\n", mint(&f, tok, ""));
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_OK);
    /* Same length, same signature (the bytes the cache hashes), another payload. */
    strcpy(forged, tok);
    dot = strchr(forged, '.');
    dot[4] = dot[4] == 'A' ? 'B' : 'A';
    head(&f, "Authorization: Bearer %s\r\n", forged);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_INVALID);
    AG_ASSERT(f.a.jwt != AG_JWT_OK);
    /* A prefix and an extension of a cached token are other tokens. */
    tok[strlen(tok) - 1] = '\0';
    head(&f, "Authorization: Bearer %s\r\n", tok);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_INVALID);
    fx_clear(&f);
}

static void test_authn_cached_token_expires_at_its_exp(void)
{
    struct fx f;
    char tok[TOK_CAP], m[256];
    time_t exp;

    AG_ASSERT_EQ(fx_init(&f, ""), 0);
    do { /* a token valid for the rest of this second and the next */
        exp = time(NULL) + 2;
        snprintf(m, sizeof(m), "'sub':'u','type':'access','iss':'authgate','jti':'j','exp':%lld",
                 (long long)exp);
        head(&f, "Authorization: Bearer %s\r\n", sign(f.mint_key, tok, m));
        check(&f, AG_NEED_ACCESS);
    } while (time(NULL) + 2 != exp);
    AG_ASSERT_EQ(f.a.st, AG_AUTHN_OK);
    AG_ASSERT_EQ(f.a.exp, (int64_t)exp);
    fx_swap_key(&f); /* from here on only the cache can pass it */
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_OK);
    while (time(NULL) < exp)
        usleep(50 * 1000);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_INVALID);
    AG_ASSERT_EQ(f.a.jwt, AG_JWT_EXPIRED);
    fx_clear(&f);
}

static void test_authn_cached_far_future_exp_does_not_overflow(void)
{
    struct fx f;
    char tok[TOK_CAP];

    AG_ASSERT_EQ(fx_init(&f, "'token-exp-leeway':30"), 0);
    sign(f.mint_key, tok,
         "'sub':'u','type':'access','iss':'authgate','jti':'j','exp':9223372036854775807");
    head(&f, "Authorization: Bearer %s\r\n", tok);
    for (int i = 0; i < 3; i++) {
        AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_OK);
        AG_ASSERT_EQ(f.a.exp, INT64_MAX);
    }
    fx_clear(&f);
}

/* Whether <tok> passes (once the key is swapped: whether it is cached). */
static bool passes(struct fx *f, const char *tok)
{
    head(f, "Authorization: Bearer %s\r\n", tok);
    return check(f, AG_NEED_ACCESS) == AG_AUTHN_OK;
}

static void test_authn_cache_keeps_the_most_recently_used(void)
{
    struct fx f;
    char a[TOK_CAP], b[TOK_CAP], c[TOK_CAP];

    AG_ASSERT_EQ(fx_init(&f, ""), 0);
    ag_authn_cache_free(f.w.tcache);
    f.w.tcache = ag_authn_cache_new(2);
    mint(&f, a, "'scope':'a'");
    mint(&f, b, "'scope':'b'");
    mint(&f, c, "'scope':'c'");
    AG_ASSERT(passes(&f, a) && passes(&f, b));
    AG_ASSERT(passes(&f, a)); /* a used last: b is the oldest */
    AG_ASSERT(passes(&f, c)); /* evicts b */
    fx_swap_key(&f);
    AG_ASSERT(passes(&f, a));
    AG_ASSERT(passes(&f, c));
    AG_ASSERT(!passes(&f, b));
    AG_ASSERT_EQ(f.a.jwt, AG_JWT_BAD_SIG);
    fx_clear(&f);

    /* token-cache-size 0: nothing kept. */
    AG_ASSERT_EQ(fx_init(&f, "'token-cache-size':0"), 0);
    mint(&f, a, "");
    AG_ASSERT(passes(&f, a));
    fx_swap_key(&f);
    AG_ASSERT(!passes(&f, a));
    fx_clear(&f);

    /* No cache at all (a worker before its first generation): the same verdicts. */
    AG_ASSERT_EQ(fx_init(&f, ""), 0);
    ag_authn_cache_free(f.w.tcache);
    f.w.tcache = NULL;
    mint(&f, a, "");
    AG_ASSERT(passes(&f, a));
    AG_ASSERT(passes(&f, a));
    fx_clear(&f);
}

/* ---------------------------------------------------------------- legacy tokens */

static void test_authn_legacy_tokens_pass_only_inside_their_window(void)
{
    struct fx f;
    char tok[TOK_CAP], m[256], members[128];
    time_t now = time(NULL), later = now + 30 * 86400;
    struct tm tm;

    snprintf(m, sizeof(m), "'client_id':'mobile-app','type':'access','iat':%lld,'exp':%lld",
             (long long)now, (long long)now + 3600);
    /* Without the window: a token with no issuer. */
    AG_ASSERT_EQ(fx_init(&f, ""), 0);
    head(&f, "Authorization: Bearer %s\r\n", sign(f.mint_key, tok, m));
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_INVALID);
    AG_ASSERT_EQ(f.a.jwt, AG_JWT_BAD_ISS);
    fx_clear(&f);

    gmtime_r(&later, &tm);
    strftime(members, sizeof(members), "'legacy-tokens':{'until':'%Y-%m-%d'}", &tm);
    AG_ASSERT_EQ(fx_init(&f, members), 0);
    head(&f, "Authorization: Bearer %s\r\n", sign(f.mint_key, tok, m));
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_OK);
    AG_ASSERT(f.a.client);
    AG_ASSERT_MEM(f.a.sub.p, f.a.sub.len, "client:mobile-app");
    AG_ASSERT_MEM(f.a.client_id.p, f.a.client_id.len, "mobile-app");
    AG_ASSERT_EQ(f.a.jti.len, 0);
    /* Cached, it still stops when the window closes. */
    fx_swap_key(&f);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_OK);
    f.g->cfg->legacy_tokens_until = (int64_t)time(NULL);
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_INVALID);
    AG_ASSERT_EQ(f.a.jwt, AG_JWT_BAD_ISS);
    fx_clear(&f);
}

/* ---------------------------------------------------------------- refusals */

static void test_authn_refusals_name_the_reason_and_the_realm(void)
{
    struct fx f;
    struct ag_authn_refusal r;
    char tok[TOK_CAP];

    AG_ASSERT_EQ(fx_init(&f, "'app-name':'shop','token-issuer':'authgate'"), 0);
    head(&f, "Authorization: Bearer not-a-jwt\r\n");
    check(&f, AG_NEED_ACCESS);
    ag_authn_refusal(f.g, &f.a, &r);
    AG_ASSERT_EQ(r.status, 401);
    AG_ASSERT_MEM(r.body, r.len, "{\"detail\":\"Unauthorized Access Token\"}");
    AG_ASSERT_STR(r.hdr, "WWW-Authenticate: Bearer realm=\"shop\", error=\"invalid_token\", "
                         "error_description=\"malformed token\"\r\n");
    sign(f.mint_key, tok, "'sub':'u','type':'refresh','iss':'authgate','exp':9999999999");
    head(&f, "Authorization: Bearer %s\r\n", tok);
    check(&f, AG_NEED_ACCESS);
    ag_authn_refusal(f.g, &f.a, &r);
    AG_ASSERT_NOT_NULL(strstr(r.hdr, "error_description=\"wrong token type\"\r\n"));

    f.v.scopes[f.v.n_scopes++] = "read";
    head(&f, "Authorization: Bearer %s\r\n", mint(&f, tok, ""));
    AG_ASSERT_EQ(check(&f, AG_NEED_ACCESS), AG_AUTHN_SCOPE);
    ag_authn_refusal(f.g, &f.a, &r);
    AG_ASSERT_EQ(r.status, 403);
    AG_ASSERT_MEM(r.body, r.len, "{\"detail\":\"Insufficient Scope\"}");
    AG_ASSERT_STR(r.hdr, "WWW-Authenticate: Bearer realm=\"shop\", error=\"insufficient_scope\", "
                         "scope=\"read\"\r\n");
    f.a.missing = NULL;
    ag_authn_refusal(f.g, &f.a, &r);
    AG_ASSERT_NOT_NULL(strstr(r.hdr, "scope=\"\"\r\n"));

    head(&f, "%s", "");
    AG_ASSERT_EQ(check(&f, AG_NEED_MASTER), AG_AUTHN_MASTER);
    ag_authn_refusal(f.g, &f.a, &r);
    AG_ASSERT_EQ(r.status, 401);
    AG_ASSERT_MEM(r.body, r.len, "{\"detail\":\"Unauthorized Master Token\"}");
    AG_ASSERT_STR(r.hdr, "");
    AG_ASSERT_NULL(r.detail);

    f.a.st = AG_AUTHN_CSRF; /* set by ag_access_decide() (gateway/core/access.c) */
    ag_authn_refusal(f.g, &f.a, &r);
    AG_ASSERT_EQ(r.status, 403);
    AG_ASSERT_NULL(r.body);
    AG_ASSERT_STR(r.detail, "CSRF check failed: Origin does not match");
    AG_ASSERT_STR(r.hdr, "");
    fx_clear(&f);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    AG_RUN(test_authn_bearer_reads_scheme_case_spaces_and_tab);
    AG_RUN(test_authn_credential_header_names_in_every_spelling);
    AG_RUN(test_authn_path_needing_nothing_passes_without_identity);
    AG_RUN(test_authn_master_token_is_one_exact_field);
    AG_RUN(test_authn_master_paths_refuse_without_a_configured_master_token);
    AG_RUN(test_authn_each_source_passes_and_is_named);
    AG_RUN(test_authn_first_present_source_is_judged_and_never_falls_through);
    AG_RUN(test_authn_bearer_with_tab_is_malformed_and_judged);
    AG_RUN(test_authn_other_schemes_and_cookies_are_no_token);
    AG_RUN(test_authn_two_of_one_source_are_refused);
    AG_RUN(test_authn_accept_header_and_accept_cookie_switch_sources_off);
    AG_RUN(test_authn_scopes_and_roles_are_whole_words_all_required);
    AG_RUN(test_authn_issuer_audience_and_exp_follow_the_config);
    AG_RUN(test_authn_revoked_jti_sid_and_subject_are_refused);
    AG_RUN(test_authn_live_token_agrees_with_the_check);
    AG_RUN(test_authn_live_key_is_looked_up_again_when_its_owner_changed);
    AG_RUN(test_authn_unloaded_revocations_never_pass_a_token);
    AG_RUN(test_authn_cache_hit_skips_the_signature_but_not_the_checks);
    AG_RUN(test_authn_cache_compares_whole_tokens);
    AG_RUN(test_authn_cached_token_expires_at_its_exp);
    AG_RUN(test_authn_cached_far_future_exp_does_not_overflow);
    AG_RUN(test_authn_cache_keeps_the_most_recently_used);
    AG_RUN(test_authn_legacy_tokens_pass_only_inside_their_window);
    AG_RUN(test_authn_refusals_name_the_reason_and_the_realm);
    return ag_t_done();
}
