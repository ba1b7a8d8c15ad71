/*
 * tests/unit/gateway/cors_http_test.c - mirrors gateway/http/cors_http.c: the CORS fields
 * read from a head, and the header lines of an allowed preflight and response.
 *
 * Owns:     one parsed config per test, unref'd at its end (ASan/LSan check it).
 * Entry:    main().
 * Not here: the verdicts and the "cors" key (tests/unit/policy/cors_test.c), the
 *           replies themselves (tests/integration/test_cors.py).
 * Spec:     Fetch standard "CORS protocol"; docs/cors.md.
 */
#include "cors_http.h"

#include <stdio.h>
#include <string.h>

#include "cfg.h"
#include "t.h"

/* Parses a config whose "cors" value is <cors> (JSON with ' for "); NULL when it fails. */
static struct ag_config *cfg_with(const char *cors)
{
    char members[2048];

    snprintf(members, sizeof(members), "'cors':%s", cors);
    return ag_t_config(members, NULL);
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

static void test_cors_find_reads_the_head(void)
{
    struct ag_http1_header hdrs[4];
    struct ag_http1_head h;
    struct ag_cors_req r;
    const char *both[] = {"origin", "https://a", "X", "y", "ACCESS-CONTROL-REQUEST-METHOD", "PUT"};
    const char *no_method[] = {"Origin", "https://a", "X", "y"};
    const char *dup[] = {"Origin", "https://app.example.com", "Origin", "https://evil.test"};

    head_of(&h, hdrs, "OPTIONS", both, 3);
    memset(&r, 0xff, sizeof(r)); /* ag_cors_find() clears it */
    ag_cors_find(&h, &r);
    AG_ASSERT_EQ(r.flags, AG_CORS_F_ORIGIN | AG_CORS_F_METHOD);
    AG_ASSERT_MEM(r.origin.p, r.origin.len, "https://a");
    AG_ASSERT_MEM(r.method.p, r.method.len, "PUT");
    AG_ASSERT(r.headers.p == NULL && r.headers.len == 0);
    AG_ASSERT(ag_cors_is_preflight(h.method, &r));
    head_of(&h, hdrs, "OPTIONS", no_method, 2);
    ag_cors_find(&h, &r);
    AG_ASSERT(!ag_cors_is_preflight(h.method, &r));
    head_of(&h, hdrs, "GET", dup, 2);
    ag_cors_find(&h, &r);
    AG_ASSERT(r.flags & AG_CORS_F_DUP);
}

static void test_cors_preflight_lines(void)
{
    struct ag_config *cfg = cfg_with("{'allow-origins':[" APP
                                     "],'allow-headers':['Authorization','X-Req'],'max-age':60}");
    struct ag_cors_verdict v;
    struct ag_cors_req r;

    AG_ASSERT(cfg != NULL);
    if (cfg == NULL)
        return;
    judge(cfg, "https://app.example.com", "PUT", "authorization, X-REQ,content-type", &r, &v);
    AG_ASSERT_EQ(v.st, AG_CORS_OK);
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
    /* Too small a buffer: nothing written past it, the length still told. */
    {
        char buf[16];
        judge(cfg, "https://app.example.com", "PUT", "x-req", &r, &v);
        memset(buf, 'z', sizeof(buf));
        AG_ASSERT_EQ(ag_cors_preflight_headers(&cfg->cors, &v, &r, buf, 10),
                     ag_cors_preflight_headers(&cfg->cors, &v, &r, NULL, 0));
        AG_ASSERT_EQ(buf[10], 'z');
    }
    ag_config_unref(cfg);
}

static void test_cors_wildcard_preflight_lines(void)
{
    struct ag_config *cfg =
        cfg_with("{'allow-origins':['*'],'allow-methods':['*'],'allow-headers':['*']}");
    struct ag_cors_verdict v;
    struct ag_cors_req r;

    AG_ASSERT(cfg != NULL);
    if (cfg == NULL)
        return;
    judge(cfg, "https://anything.test", "PROPFIND", "X-Anything, x-more", &r, &v);
    AG_ASSERT_EQ(v.st, AG_CORS_OK);
    AG_ASSERT_STR(lines_preflight(cfg, &v, &r),
                  "Access-Control-Allow-Origin: *\r\n"
                  "Access-Control-Allow-Methods: PROPFIND\r\n"
                  "Access-Control-Allow-Headers: x-anything, x-more\r\n"
                  "Access-Control-Max-Age: 600\r\n"
                  "Vary: Origin\r\n");
    ag_config_unref(cfg);
}

static void test_cors_resp_headers_with_credentials_and_expose(void)
{
    struct ag_config *cfg = cfg_with("{'allow-origins':[" APP "],'allow-credentials':true,"
                                     "'expose-headers':['X-Total','X-Page']}");
    char buf[512];
    size_t n;

    AG_ASSERT(cfg != NULL);
    if (cfg == NULL)
        return;
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
    AG_RUN(test_cors_find_reads_the_head);
    AG_RUN(test_cors_preflight_lines);
    AG_RUN(test_cors_wildcard_preflight_lines);
    AG_RUN(test_cors_resp_headers_with_credentials_and_expose);
    AG_RUN(test_cors_resp_header_names_replaced);
    return ag_t_done();
}
