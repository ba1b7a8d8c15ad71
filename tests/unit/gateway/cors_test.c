/*
 * tests/unit/gateway/cors_test.c - mirrors gateway/http/cors.c: preflight detection,
 * the origin / method / requested-headers decisions, the header lines, and the
 * "cors" config key they read (parsed for real by policy/config.c).
 *
 * Owns:     one parsed config per test, unref'd at its end (ASan/LSan check it).
 * Entry:    main().
 * Not here: the replies themselves (tests/integration/test_cors.py).
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

/* A head holding the <n> fields name/value pairs of <kv>. */
static void head_of(struct ag_http1_head *h, struct ag_http1_header *hdrs, const char *method,
                    const char *const *kv, size_t n)
{
    memset(h, 0, sizeof(*h));
    h->method = (struct ag_str){method, strlen(method)};
    h->hdrs = hdrs;
    for (size_t i = 0; i < n; i++) {
        hdrs[i].name = (struct ag_str){kv[2 * i], strlen(kv[2 * i])};
        hdrs[i].value = (struct ag_str){kv[2 * i + 1], strlen(kv[2 * i + 1])};
    }
    h->nhdrs = n;
    h->max_hdrs = n;
}

/* Judges a preflight from <origin>, for <method>, asking for <headers> (NULL: no field). */
static void judge(const struct ag_config *cfg, const char *origin, const char *method,
                  const char *headers, struct ag_cors_req *r, struct ag_cors_verdict *v)
{
    struct ag_http1_header hdrs[4];
    struct ag_http1_head h;
    const char *kv[6] = {
        "Origin", origin, "Access-Control-Request-Method", method, "Access-Control-Request-Headers",
        headers};

    head_of(&h, hdrs, "OPTIONS", kv, headers != NULL ? 3 : 2);
    ag_cors_find(&h, r);
    AG_ASSERT(ag_cors_is_preflight(h.method, r));
    ag_cors_preflight(&cfg->cors, r, v);
}

static const char *lines_preflight(const struct ag_config *cfg, const struct ag_cors_verdict *v,
                                   const struct ag_cors_req *r)
{
    static char buf[2048];
    size_t need = ag_cors_preflight_headers(&cfg->cors, v, r, NULL, 0);
    size_t n = ag_cors_preflight_headers(&cfg->cors, v, r, buf, sizeof(buf) - 1);

    AG_ASSERT_EQ(n, need);
    buf[n] = '\0';
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
    struct ag_http1_header hdrs[2];
    struct ag_http1_head h;
    struct ag_cors_req r;
    const char *both[] = {"origin", "https://a", "ACCESS-CONTROL-REQUEST-METHOD", "PUT"};
    const char *no_method[] = {"Origin", "https://a", "X", "y"};

    head_of(&h, hdrs, "OPTIONS", both, 2);
    ag_cors_find(&h, &r);
    AG_ASSERT(ag_cors_is_preflight(h.method, &r));
    AG_ASSERT(!ag_cors_is_preflight(AG_LIT("GET"), &r));
    AG_ASSERT(!ag_cors_is_preflight(AG_LIT("options"), &r)); /* methods are case-sensitive */
    head_of(&h, hdrs, "OPTIONS", no_method, 2);
    ag_cors_find(&h, &r);
    AG_ASSERT(!ag_cors_is_preflight(h.method, &r));
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
    struct ag_http1_header hdrs[3];
    struct ag_http1_head h;
    struct ag_cors_req r;
    const char *kv[] = {"Origin", "https://app.example.com", "Origin", "https://evil.test"};

    head_of(&h, hdrs, "GET", kv, 2);
    ag_cors_find(&h, &r);
    AG_ASSERT(r.flags & AG_CORS_F_DUP);
    AG_ASSERT(ag_cors_allow_origin(&cfg->cors, &r) == NULL);
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
    AG_ASSERT_STR(lines_preflight(cfg, &v, &r),
                  "Access-Control-Allow-Origin: https://app.example.com\r\n"
                  "Access-Control-Allow-Methods: GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS\r\n"
                  "Access-Control-Allow-Headers: authorization, x-req, content-type\r\n"
                  "Access-Control-Max-Age: 60\r\n"
                  "Vary: Origin\r\n");
    /* No Access-Control-Request-Headers, or an empty one: no Allow-Headers line. */
    judge(cfg, "https://app.example.com", "GET", NULL, &r, &v);
    AG_ASSERT_EQ(v.st, AG_CORS_OK);
    AG_ASSERT(strstr(lines_preflight(cfg, &v, &r), "Allow-Headers") == NULL);
    judge(cfg, "https://app.example.com", "GET", " ", &r, &v);
    AG_ASSERT_EQ(v.st, AG_CORS_OK);
    AG_ASSERT(strstr(lines_preflight(cfg, &v, &r), "Allow-Headers") == NULL);
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
    AG_ASSERT_STR(lines_preflight(cfg, &v, &r),
                  "Access-Control-Allow-Origin: *\r\n"
                  "Access-Control-Allow-Methods: PROPFIND\r\n"
                  "Access-Control-Allow-Headers: x-anything, x-more\r\n"
                  "Access-Control-Max-Age: 600\r\n"
                  "Vary: Origin\r\n");
    /* "*" still means tokens only: nothing odd is echoed back. */
    judge(cfg, "https://anything.test", "GET", "x a", &r, &v);
    AG_ASSERT_EQ(v.bad, AG_CORS_BAD_HEADERS);
    judge(cfg, "https://anything.test", "GE T", NULL, &r, &v);
    AG_ASSERT_EQ(v.bad, AG_CORS_BAD_METHOD);
    ag_config_unref(cfg);
}

static void test_cors_resp_headers_with_credentials_and_expose(void)
{
    struct ag_config *cfg = cfg_with("{'allow-origins':[" APP "],'allow-credentials':true,"
                                     "'expose-headers':['X-Total','X-Page']}",
                                     NULL);
    char buf[512];
    size_t n;

    AG_ASSERT(cfg != NULL);
    n = ag_cors_resp_headers(&cfg->cors, cfg->cors.origins[0], buf, sizeof(buf) - 1);
    AG_ASSERT_EQ(n, ag_cors_resp_headers(&cfg->cors, cfg->cors.origins[0], NULL, 0));
    buf[n] = '\0';
    AG_ASSERT_STR(buf, "Access-Control-Allow-Origin: https://app.example.com\r\n"
                       "Access-Control-Allow-Credentials: true\r\n"
                       "Access-Control-Expose-Headers: X-Total, X-Page\r\n"
                       "Vary: Origin\r\n");
    /* Too small a buffer: nothing written past it, the length still told. */
    memset(buf, 'z', sizeof(buf));
    AG_ASSERT_EQ(ag_cors_resp_headers(&cfg->cors, cfg->cors.origins[0], buf, 10), n);
    AG_ASSERT_EQ(buf[0], 'z');
    ag_config_unref(cfg);
}

static void test_cors_resp_header_names_replaced(void)
{
    AG_ASSERT(ag_cors_is_resp_header(AG_LIT("access-control-allow-origin")));
    AG_ASSERT(ag_cors_is_resp_header(AG_LIT("Access-Control-Allow-Credentials")));
    AG_ASSERT(ag_cors_is_resp_header(AG_LIT("ACCESS-CONTROL-EXPOSE-HEADERS")));
    AG_ASSERT(!ag_cors_is_resp_header(AG_LIT("Access-Control-Max-Age")));
    AG_ASSERT(!ag_cors_is_resp_header(AG_LIT("Vary")));
    AG_ASSERT(!ag_cors_is_resp_header(AG_LIT("Access-Control-Allow-Originx")));
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
    AG_RUN(test_cors_resp_headers_with_credentials_and_expose);
    AG_RUN(test_cors_resp_header_names_replaced);
    return ag_t_done();
}
