/*
 * tests/unit/policy/cors_test.c - mirrors policy/cors.c: the fields CORS reads,
 * preflight detection, the origin / method / requested-headers decisions, the
 * Allow-Headers value, and the "cors" config key they read (parsed for real by
 * policy/config.c).
 *
 * Owns:     one parsed config per test, unref'd at its end (ASan/LSan check it).
 * Entry:    main().
 * Not here: the header lines (tests/unit/gateway/cors_http_test.c), the replies
 *           themselves (tests/integration/test_cors.py).
 * Spec:     Fetch standard "CORS protocol"; docs/cors.md.
 */
#include "cors.h"

#include <stdio.h>
#include <string.h>

#include "t.h"

#define KEY32 "0123456789abcdef0123456789abcdef"

/* Parses a config whose "cors" value is <cors> (JSON with ' for "); NULL with <err> filled. */
static struct ag_config *cfg_with(const char *cors, struct ag_err *err)
{
    char json[4096];
    int n = snprintf(json, sizeof(json),
                     "{\"upstream\":\"http://127.0.0.1:8081\",\"cryptography-key\":\"" KEY32
                     "\",\"cors\":%s}",
                     cors);

    for (int i = 0; i < n; i++)
        if (json[i] == '\'')
            json[i] = '"';
    return ag_config_parse(json, (size_t)n, "t.json", NULL, 0, err);
}

/* The problems of parsing <cors>, joined by " | "; "(no problem)" when it parsed. Static. */
static const char *problems(const char *cors)
{
    static char out[AG_ERR_MAX * (AG_ERR_LINE + 3)];
    struct ag_err err = {0};
    struct ag_config *cfg = cfg_with(cors, &err);

    out[0] = '\0';
    if (cfg != NULL) {
        ag_config_unref(cfg);
        return "(no problem)";
    }
    for (int i = 0; i < err.n && i < AG_ERR_MAX; i++) {
        if (i > 0)
            strcat(out, " | ");
        strcat(out, err.line[i]);
    }
    return out;
}

/* The CORS fields of a request whose <n> fields are the name/value pairs of <kv>. */
static void req_of(struct ag_cors_req *r, const char *const *kv, size_t n)
{
    memset(r, 0, sizeof(*r));
    for (size_t i = 0; i < n; i++)
        ag_cors_note(r, (struct ag_str){kv[2 * i], strlen(kv[2 * i])},
                     (struct ag_str){kv[2 * i + 1], strlen(kv[2 * i + 1])});
}

/* Judges a preflight from <origin>, for <method>, asking for <headers> (NULL: no field). */
static void judge(const struct ag_config *cfg, const char *origin, const char *method,
                  const char *headers, struct ag_cors_req *r, struct ag_cors_verdict *v)
{
    const char *kv[6] = {
        "Origin", origin, "Access-Control-Request-Method", method, "Access-Control-Request-Headers",
        headers};

    req_of(r, kv, headers != NULL ? 3 : 2);
    AG_ASSERT(ag_cors_is_preflight(AG_LIT("OPTIONS"), r));
    ag_cors_preflight(&cfg->cors, r, v);
}

/* The Allow-Headers value of <r>, NUL-terminated (static). */
static const char *allow_headers(const struct ag_cors_req *r)
{
    static char buf[1024];
    size_t need = ag_cors_allow_headers(r, NULL, 0);
    size_t n = ag_cors_allow_headers(r, buf, sizeof(buf) - 1);

    AG_ASSERT_EQ(n, need);
    buf[n < sizeof(buf) ? n : sizeof(buf) - 1] = '\0';
    return buf;
}

#define APP "'https://app.example.com'"

/* ---------------------------------------------------------------- config */

static void test_cors_is_off_by_default_and_with_false(void)
{
    struct ag_config *cfg = cfg_with("false", NULL);

    AG_ASSERT(cfg != NULL);
    AG_ASSERT(!cfg->cors.enabled);
    ag_config_unref(cfg);
}

static void test_cors_defaults(void)
{
    struct ag_config *cfg = cfg_with("{'allow-origins':[" APP "]}", NULL);

    AG_ASSERT(cfg != NULL);
    AG_ASSERT(cfg->cors.enabled);
    AG_ASSERT_EQ(cfg->cors.max_age, 600);
    AG_ASSERT(!cfg->cors.credentials);
    AG_ASSERT_STR(cfg->cors.methods_line, "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS");
    AG_ASSERT_EQ(cfg->cors.n_headers, 0);
    AG_ASSERT(cfg->cors.expose_line == NULL);
    ag_config_unref(cfg);
}

static void test_cors_config_lowercases_origins_and_headers(void)
{
    struct ag_config *cfg =
        cfg_with("{'allow-origins':['HTTPS://App.Example.com:8443'],'allow-headers':['X-Req'],"
                 "'expose-headers':['X-One','X-Two']}",
                 NULL);

    AG_ASSERT(cfg != NULL);
    AG_ASSERT_STR(cfg->cors.origins[0], "https://app.example.com:8443");
    AG_ASSERT_STR(cfg->cors.headers[0], "x-req");
    AG_ASSERT_STR(cfg->cors.expose_line, "X-One, X-Two");
    ag_config_unref(cfg);
}

static void test_cors_config_problems(void)
{
    AG_ASSERT_STR(problems("true"),
                  "t.json: cors: expected false or an object {\"allow-origins\": [...], ...}");
    AG_ASSERT_STR(problems("{}"), "t.json: cors: \"allow-origins\" is required (an array of "
                                  "origins, or [\"*\"])");
    AG_ASSERT_STR(problems("{'allow-origins':['https://app.example.com/']}"),
                  "t.json: cors.allow-origins[0]: must not have a path, query or trailing '/' "
                  "(browsers send the origin alone: \"https://app.example.com\")");
    AG_ASSERT_STR(problems("{'allow-origins':['app.example.com']}"),
                  "t.json: cors.allow-origins[0]: expected an origin \"SCHEME://HOST[:PORT]\" as "
                  "browsers send it in Origin, or \"*\"");
    AG_ASSERT_STR(problems("{'allow-origins':['null']}"),
                  "t.json: cors.allow-origins[0]: expected an origin \"SCHEME://HOST[:PORT]\" as "
                  "browsers send it in Origin, or \"*\"");
    AG_ASSERT_STR(problems("{'allow-origins':['https://a.example:99999']}"),
                  "t.json: cors.allow-origins[0]: port must be 1-65535");
    AG_ASSERT_STR(problems("{'allow-origins':['*'," APP "]}"),
                  "t.json: cors.allow-origins[0]: \"*\" must be the only entry");
    AG_ASSERT_STR(problems("{'allow-origins':[" APP ",'https://APP.example.com']}"),
                  "t.json: cors.allow-origins[1]: 'https://app.example.com' is already "
                  "cors.allow-origins[0]");
    AG_ASSERT_STR(problems("{'allow-origins':['*'],'allow-credentials':true}"),
                  "t.json: cors.allow-credentials: cannot be true with \"allow-origins\": [\"*\"] "
                  "(browsers refuse credentials with a wildcard origin); list the origins");
    AG_ASSERT_STR(problems("{'allow-origins':[" APP "],'allow-methods':[]}"),
                  "t.json: cors.allow-methods: must not be empty");
    AG_ASSERT_STR(problems("{'allow-origins':[" APP "],'allow-headers':['X A']}"),
                  "t.json: cors.allow-headers[0]: must be an HTTP token (RFC 9110 section 5.6.2)");
    AG_ASSERT_STR(problems("{'allow-origins':[" APP "],'max-age':86401}"),
                  "t.json: cors.max-age: must be between 0 and 86400");
    AG_ASSERT_STR(problems("{'allow-origins':[" APP "],'max_age':5}"),
                  "t.json: cors: unknown key 'max_age' (did you mean 'max-age'?)");
    AG_ASSERT_STR(problems("{'allow-origins':[" APP "],'allow-origin-regex':'.*'}"),
                  "t.json: cors: 'allow-origin-regex' is not supported; list the origins in "
                  "\"allow-origins\"");
    AG_ASSERT_STR(problems("{'allow-origins':[" APP "],'allow-credentials':1}"),
                  "t.json: cors.allow-credentials: expected true or false");
}

/* ---------------------------------------------------------------- decisions */

static void test_cors_preflight_needs_options_origin_and_method(void)
{
    struct ag_cors_req r;
    const char *both[] = {"origin", "https://a", "ACCESS-CONTROL-REQUEST-METHOD", "PUT"};
    const char *no_method[] = {"Origin", "https://a", "X", "y"};
    const char *no_origin[] = {"Access-Control-Request-Method", "PUT"};

    req_of(&r, both, 2);
    AG_ASSERT_MEM(r.origin.p, r.origin.len, "https://a");
    AG_ASSERT_MEM(r.method.p, r.method.len, "PUT");
    AG_ASSERT_EQ(r.flags, AG_CORS_F_ORIGIN | AG_CORS_F_METHOD);
    AG_ASSERT(ag_cors_is_preflight(AG_LIT("OPTIONS"), &r));
    AG_ASSERT(!ag_cors_is_preflight(AG_LIT("GET"), &r));
    AG_ASSERT(!ag_cors_is_preflight(AG_LIT("options"), &r)); /* methods are case-sensitive */
    req_of(&r, no_method, 2);
    AG_ASSERT(!ag_cors_is_preflight(AG_LIT("OPTIONS"), &r));
    req_of(&r, no_origin, 1);
    AG_ASSERT(!ag_cors_is_preflight(AG_LIT("OPTIONS"), &r));
}

static void test_cors_allow_origin_exact_match_only(void)
{
    struct ag_config *cfg = cfg_with("{'allow-origins':[" APP ",'http://localhost:3000']}", NULL);
    struct ag_cors_req r = {.flags = AG_CORS_F_ORIGIN};

    AG_ASSERT(cfg != NULL);
    r.origin = AG_LIT("https://app.example.com");
    AG_ASSERT_STR(ag_cors_allow_origin(&cfg->cors, &r), "https://app.example.com");
    AG_ASSERT(ag_cors_allow_origin(&cfg->cors, &r) == cfg->cors.origins[0]); /* borrowed */
    r.origin = AG_LIT("http://localhost:3000");
    AG_ASSERT_STR(ag_cors_allow_origin(&cfg->cors, &r), "http://localhost:3000");
    static const char *const refused[] = {
        "https://app.example.com.evil.test",
        "https://evil.test/https://app.example.com",
        "http://app.example.com",
        "https://app.example.com:443",
        "https://app.example.co",
        "null",
        "",
        "https://app.example.com/",
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        r.origin = (struct ag_str){refused[i], strlen(refused[i])};
        if (ag_cors_allow_origin(&cfg->cors, &r) != NULL)
            AG_FAIL_("origin '%s' was allowed", refused[i]);
    }
    r.origin = AG_LIT("https://app.example.com");
    r.flags |= AG_CORS_F_DUP;
    AG_ASSERT(ag_cors_allow_origin(&cfg->cors, &r) == NULL);
    r.flags = 0;
    AG_ASSERT(ag_cors_allow_origin(&cfg->cors, &r) == NULL);
    ag_config_unref(cfg);
}

static void test_cors_duplicate_origin_field_is_refused(void)
{
    struct ag_config *cfg = cfg_with("{'allow-origins':[" APP "]}", NULL);
    struct ag_cors_verdict v;
    struct ag_cors_req r;
    const char *kv[] = {"Origin", "https://app.example.com", "Origin", "https://evil.test"};
    const char *kv2[] = {"Origin", "https://app.example.com", "Access-Control-Request-Method",
                         "GET", "access-control-request-method", "GET"};
    const char *kv3[] = {"Origin", "https://app.example.com", "Access-Control-Request-Method",
                         "GET", "Access-Control-Request-Headers", "x", "Access-Control-Request-Headers",
                         "y"};

    req_of(&r, kv, 2);
    AG_ASSERT(r.flags & AG_CORS_F_DUP);
    AG_ASSERT(ag_cors_allow_origin(&cfg->cors, &r) == NULL);
    /* a method or a headers list twice: the origin is still judged, nothing else passes */
    req_of(&r, kv2, 3);
    AG_ASSERT(r.flags & AG_CORS_F_DUP);
    ag_cors_preflight(&cfg->cors, &r, &v);
    AG_ASSERT_EQ(v.st, AG_CORS_REFUSED);
    AG_ASSERT_EQ(v.bad, AG_CORS_BAD_ORIGIN | AG_CORS_BAD_METHOD);
    req_of(&r, kv3, 4);
    ag_cors_preflight(&cfg->cors, &r, &v);
    AG_ASSERT_EQ(v.bad, AG_CORS_BAD_ORIGIN | AG_CORS_BAD_METHOD | AG_CORS_BAD_HEADERS);
    ag_config_unref(cfg);
}

static void test_cors_preflight_allowed(void)
{
    struct ag_config *cfg = cfg_with(
        "{'allow-origins':[" APP "],'allow-headers':['Authorization','X-Req'],'max-age':60}", NULL);
    struct ag_cors_verdict v;
    struct ag_cors_req r;

    judge(cfg, "https://app.example.com", "PUT", "authorization, X-REQ,content-type", &r, &v);
    AG_ASSERT_EQ(v.st, AG_CORS_OK);
    AG_ASSERT_EQ(v.bad, 0);
    AG_ASSERT_STR(v.allow_origin, "https://app.example.com");
    AG_ASSERT_STR(allow_headers(&r), "authorization, x-req, content-type");
    /* No Access-Control-Request-Headers, or an empty one: no Allow-Headers value. */
    judge(cfg, "https://app.example.com", "GET", NULL, &r, &v);
    AG_ASSERT_EQ(v.st, AG_CORS_OK);
    AG_ASSERT_EQ(ag_cors_allow_headers(&r, NULL, 0), 0);
    judge(cfg, "https://app.example.com", "GET", " ", &r, &v);
    AG_ASSERT_EQ(v.st, AG_CORS_OK);
    AG_ASSERT_EQ(ag_cors_allow_headers(&r, NULL, 0), 0);
    /* spaces and tabs around the names go; a cut buffer keeps the length told */
    judge(cfg, "https://app.example.com", "GET", "\tX-Req ,  Accept\t", &r, &v);
    AG_ASSERT_EQ(v.st, AG_CORS_OK);
    AG_ASSERT_STR(allow_headers(&r), "x-req, accept");
    {
        char small[4] = {'z', 'z', 'z', 'z'};
        AG_ASSERT_EQ(ag_cors_allow_headers(&r, small, 3), strlen("x-req, accept"));
        AG_ASSERT_EQ(small[3], 'z');
    }
    ag_config_unref(cfg);
}

static void test_cors_preflight_refusals_name_what_failed(void)
{
    struct ag_config *cfg = cfg_with("{'allow-origins':[" APP "],'allow-methods':['GET','POST'],"
                                     "'allow-headers':['X-Req']}",
                                     NULL);
    struct ag_cors_verdict v;
    struct ag_cors_req r;
    size_t len;

    judge(cfg, "https://evil.test", "GET", NULL, &r, &v);
    AG_ASSERT_EQ(v.st, AG_CORS_REFUSED);
    AG_ASSERT_EQ(v.bad, AG_CORS_BAD_ORIGIN);
    AG_ASSERT_STR(ag_cors_refusal_body(v.bad, &len), "{\"detail\":\"Disallowed CORS origin\"}");
    judge(cfg, "https://app.example.com", "DELETE", NULL, &r, &v);
    AG_ASSERT_EQ(v.bad, AG_CORS_BAD_METHOD);
    judge(cfg, "https://app.example.com", "get", NULL, &r, &v); /* case-sensitive */
    AG_ASSERT_EQ(v.bad, AG_CORS_BAD_METHOD);
    judge(cfg, "https://app.example.com", "GET", "x-req, x-other", &r, &v);
    AG_ASSERT_EQ(v.bad, AG_CORS_BAD_HEADERS);
    judge(cfg, "https://app.example.com", "GET", "x-req,,accept", &r, &v);
    AG_ASSERT_EQ(v.bad, AG_CORS_BAD_HEADERS);
    judge(cfg, "https://app.example.com", "GET", "x-req\r\nSet-Cookie: a=b", &r, &v);
    AG_ASSERT_EQ(v.bad, AG_CORS_BAD_HEADERS);
    judge(cfg, "https://evil.test", "PUT", "x-other", &r, &v);
    AG_ASSERT_EQ(v.bad, AG_CORS_BAD_ORIGIN | AG_CORS_BAD_METHOD | AG_CORS_BAD_HEADERS);
    AG_ASSERT_STR(ag_cors_refusal_body(v.bad, &len),
                  "{\"detail\":\"Disallowed CORS origin, method, headers\"}");
    AG_ASSERT_EQ(len, strlen("{\"detail\":\"Disallowed CORS origin, method, headers\"}"));
    ag_config_unref(cfg);
}

static void test_cors_safelisted_headers_always_allowed(void)
{
    struct ag_config *cfg = cfg_with("{'allow-origins':[" APP "]}", NULL);
    struct ag_cors_verdict v;
    struct ag_cors_req r;

    judge(cfg, "https://app.example.com", "POST",
          "Accept, Accept-Language, Content-Language, "
          "Content-Type",
          &r, &v);
    AG_ASSERT_EQ(v.st, AG_CORS_OK);
    judge(cfg, "https://app.example.com", "POST", "authorization", &r, &v);
    AG_ASSERT_EQ(v.bad, AG_CORS_BAD_HEADERS);
    ag_config_unref(cfg);
}

static void test_cors_wildcards(void)
{
    struct ag_config *cfg =
        cfg_with("{'allow-origins':['*'],'allow-methods':['*'],'allow-headers':['*']}", NULL);
    struct ag_cors_verdict v;
    struct ag_cors_req r;

    AG_ASSERT(cfg != NULL);
    judge(cfg, "https://anything.test", "PROPFIND", "X-Anything, x-more", &r, &v);
    AG_ASSERT_EQ(v.st, AG_CORS_OK);
    AG_ASSERT_STR(v.allow_origin, "*");
    AG_ASSERT_STR(allow_headers(&r), "x-anything, x-more");
    /* "*" still means tokens only: nothing odd is echoed back. */
    judge(cfg, "https://anything.test", "GET", "x a", &r, &v);
    AG_ASSERT_EQ(v.bad, AG_CORS_BAD_HEADERS);
    judge(cfg, "https://anything.test", "GE T", NULL, &r, &v);
    AG_ASSERT_EQ(v.bad, AG_CORS_BAD_METHOD);
    ag_config_unref(cfg);
}

int main(void)
{
    AG_RUN(test_cors_is_off_by_default_and_with_false);
    AG_RUN(test_cors_defaults);
    AG_RUN(test_cors_config_lowercases_origins_and_headers);
    AG_RUN(test_cors_config_problems);
    AG_RUN(test_cors_preflight_needs_options_origin_and_method);
    AG_RUN(test_cors_allow_origin_exact_match_only);
    AG_RUN(test_cors_duplicate_origin_field_is_refused);
    AG_RUN(test_cors_preflight_allowed);
    AG_RUN(test_cors_preflight_refusals_name_what_failed);
    AG_RUN(test_cors_safelisted_headers_always_allowed);
    AG_RUN(test_cors_wildcards);
    return ag_t_done();
}
