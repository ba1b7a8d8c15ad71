/*
 * tests/unit/gateway/req_test.c - mirrors gateway/core/req.c where no socket is needed:
 * the bytes of every gateway-made reply (CORS lines added while formatting, HEAD,
 * Connection), the reply flags and when a reply keeps the connection, the refusals of
 * authentication, and a request's life on a worker's free list (ids, generation
 * reference, recycling last in first out, trusted ids).
 *
 * Owns:     one parsed config and generation per test, a struct ag_worker and a
 *           struct ag_conn on the stack with no socket; all freed at its end.
 * Entry:    main().
 * Not here: ending a request on a live connection (tests/integration/).
 * Spec:     docs/request-lifecycle.md; docs/cors.md; RFC 6750 section 3.
 */
#include "req.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "authn.h"
#include "conn.h"
#include "reply.h"
#include "worker_types.h"

#include "t.h"

#define KEY32 "0123456789abcdef0123456789abcdef"

/* A worker, a connection and a generation for requests, with no loop and no socket. */
struct fx {
    struct ag_worker w;
    struct ag_conn c;
    struct ag_gen *g;
};

/* Sets <f> up with a config holding the JSON members <extra> (' for "), or "". */
static int fx_init(struct fx *f, const char *extra)
{
    char json[2048];
    struct ag_err err = {0};
    int n = snprintf(json, sizeof(json),
                     "{\"upstream\":\"http://127.0.0.1:8081\",\"cryptography-key\":\"" KEY32
                     "\",\"app-name\":\"shop\"%s%s}",
                     *extra ? "," : "", extra);

    for (int i = 0; i < n; i++)
        if (json[i] == '\'')
            json[i] = '"';
    memset(f, 0, sizeof(*f));
    f->g = calloc(1, sizeof(*f->g));
    if (f->g == NULL)
        return -1;
    f->g->cfg = ag_config_parse(json, (size_t)n, "t.json", NULL, 0, &err);
    if (f->g->cfg == NULL) {
        fprintf(stderr, "config: %s\n", err.line[0]);
        free(f->g);
        return -1;
    }
    atomic_init(&f->g->_refs, 1);
    f->w.gen = f->g;
    memcpy(f->w.req_id, "0123456789ab-000000000000", AG_REQ_ID_LEN + 1);
    f->c.w = &f->w;
    f->c.family = AF_INET;
    inet_pton(AF_INET, "10.1.2.3", &f->c.peer.v4);
    return 0;
}

static void fx_clear(struct fx *f)
{
    ag_req_free_recycled(&f->w);
    ag_gen_unref(f->g); /* the fixture's own reference: frees it */
}

/* Moves what <out> holds into <buf> (<cap> bytes) as a NUL-terminated string; frees <out>. */
static const char *drain(struct evbuffer *out, char *buf, size_t cap)
{
    size_t n = evbuffer_get_length(out);

    if (n >= cap)
        n = cap - 1;
    evbuffer_remove(out, buf, n);
    buf[n] = '\0';
    evbuffer_free(out);
    return buf;
}

/* The reply <req> would get, as a NUL-terminated string in <buf> (<cap> bytes). */
static const char *format(const struct ag_req *req, int status, const char *body,
                          const char *detail, const char *extra, unsigned flags, char *buf,
                          size_t cap)
{
    struct evbuffer *out = evbuffer_new();

    ag_req__format(req, out, status, body, body ? strlen(body) : 0, detail, extra, flags);
    return drain(out, buf, cap);
}

static void test_req_error_reply_bytes_without_cors(void)
{
    struct fx f;
    char buf[1024];

    AG_ASSERT_EQ(fx_init(&f, ""), 0);
    struct ag_req *req = ag_req_new(&f.c);
    AG_ASSERT_NOT_NULL(req);
    AG_ASSERT_STR(format(req, 405, NULL, "method not allowed", "Allow: GET\r\n",
                         AG_REPLY_F_CLOSE, buf, sizeof(buf)),
                  "HTTP/1.1 405 Method Not Allowed\r\n"
                  "Content-Type: application/json\r\n"
                  "Content-Length: 60\r\n"
                  "Cache-Control: no-store\r\n"
                  "Allow: GET\r\n"
                  "Connection: close\r\n"
                  "\r\n"
                  "{\"detail\":\"method not allowed\",\"error\":\"method_not_allowed\"}");
    ag_req_drop(req);
    fx_clear(&f);
}

/* The bytes ag_reply_body() writes for <status>, into <buf> (<cap> bytes). */
static const char *body_reply(int status, const char *ctype, const char *cache, const char *body,
                              const char *extra, unsigned flags, char *buf, size_t cap)
{
    struct evbuffer *out = evbuffer_new();

    ag_reply_body(out, status, ctype, cache, body, body ? strlen(body) : 0, extra, NULL, flags);
    return drain(out, buf, cap);
}

static void test_reply_body_of_a_type_and_the_204_without_length(void)
{
    char buf[512];

    AG_ASSERT_STR(body_reply(200, "text/css; charset=utf-8", "public, max-age=31536000, immutable",
                             "a{}", "X-Content-Type-Options: nosniff\r\n", 0, buf, sizeof(buf)),
                  "HTTP/1.1 200 OK\r\n"
                  "Content-Type: text/css; charset=utf-8\r\n"
                  "Content-Length: 3\r\n"
                  "Cache-Control: public, max-age=31536000, immutable\r\n"
                  "X-Content-Type-Options: nosniff\r\n"
                  "\r\n"
                  "a{}");
    /* RFC 9110 8.6: no Content-Length in a 204, and no body whatever is passed. */
    AG_ASSERT_STR(body_reply(204, NULL, "no-store", NULL, NULL, AG_REPLY_F_KEEPALIVE, buf,
                             sizeof(buf)),
                  "HTTP/1.1 204 No Content\r\n"
                  "Cache-Control: no-store\r\n"
                  "Connection: keep-alive\r\n"
                  "\r\n");
    AG_ASSERT_STR(body_reply(202, "application/json", "no-store", "{}", NULL, AG_REPLY_F_CLOSE,
                             buf, sizeof(buf)),
                  "HTTP/1.1 202 Accepted\r\n"
                  "Content-Type: application/json\r\n"
                  "Content-Length: 2\r\n"
                  "Cache-Control: no-store\r\n"
                  "Connection: close\r\n"
                  "\r\n"
                  "{}");
}

/* A head longer than the writer's stack block (large Set-Cookie extras) comes out whole. */
static void test_reply_body_with_a_long_extra_is_whole(void)
{
    static char buf[8192], extra[4096], want[8192];

    for (size_t n = 900; n <= 2600; n += 850) { /* straddles the 1 KiB block; then over it */
        memset(extra, 0, sizeof(extra));
        memcpy(extra, "Set-Cookie: a=", 14);
        memset(extra + 14, 'x', n);
        memcpy(extra + 14 + n, "\r\n", 2);
        snprintf(want, sizeof(want),
                 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
                 "Cache-Control: no-store\r\n%sConnection: keep-alive\r\n\r\n{}",
                 extra);
        AG_ASSERT_STR(body_reply(200, "application/json", "no-store", "{}", extra,
                                 AG_REPLY_F_KEEPALIVE, buf, sizeof(buf)),
                      want);
    }
}

static void test_req_reply_with_allowed_origin_carries_cors_lines_before_the_blank_line(void)
{
    struct fx f;
    char buf[1024];

    AG_ASSERT_EQ(fx_init(&f, "'cors':{'allow-origins':['https://app.example'],"
                             "'allow-credentials':true}"), 0);
    struct ag_req *req = ag_req_new(&f.c);
    AG_ASSERT_NOT_NULL(req);
    req->cors_origin = f.g->cfg->cors.origins[0];
    AG_ASSERT_STR(format(req, 200, "{}", NULL, "Set-Cookie: a=b\r\n", 0, buf, sizeof(buf)),
                  "HTTP/1.1 200 OK\r\n"
                  "Content-Type: application/json\r\n"
                  "Content-Length: 2\r\n"
                  "Cache-Control: no-store\r\n"
                  "Set-Cookie: a=b\r\n"
                  "Access-Control-Allow-Origin: https://app.example\r\n"
                  "Access-Control-Allow-Credentials: true\r\n"
                  "Vary: Origin\r\n"
                  "\r\n"
                  "{}");
    /* The lines come after the Connection line, as when they were spliced in. */
    format(req, 401, NULL, NULL, NULL, AG_REPLY_F_CLOSE, buf, sizeof(buf));
    AG_ASSERT_NOT_NULL(strstr(buf, "Connection: close\r\nAccess-Control-Allow-Origin: "
                                   "https://app.example\r\n"));
    AG_ASSERT_NOT_NULL(strstr(buf, "Vary: Origin\r\n\r\n{\"detail\":\"Unauthorized\""));
    ag_req_drop(req);
    fx_clear(&f);
}

static void test_req_reply_to_head_has_no_body_but_its_length(void)
{
    struct fx f;
    char buf[1024];

    AG_ASSERT_EQ(fx_init(&f, ""), 0);
    struct ag_req *req = ag_req_new(&f.c);
    AG_ASSERT_NOT_NULL(req);
    req->flags |= AG_REQ_F_HEAD;
    format(req, 200, "{\"ok\":true}", NULL, NULL, ag_req_reply_flags(req, true), buf,
           sizeof(buf));
    AG_ASSERT_NOT_NULL(strstr(buf, "Content-Length: 11\r\n"));
    AG_ASSERT_EQ(strlen(strstr(buf, "\r\n\r\n")), 4);
    ag_req_drop(req);
    fx_clear(&f);
}

static void test_req_reply_flags(void)
{
    struct fx f;

    AG_ASSERT_EQ(fx_init(&f, ""), 0);
    struct ag_req *req = ag_req_new(&f.c);
    AG_ASSERT_NOT_NULL(req);
    AG_ASSERT_EQ(ag_req_reply_flags(req, true), 0);
    AG_ASSERT_EQ(ag_req_reply_flags(req, false), AG_REPLY_F_CLOSE);
    req->flags |= AG_REQ_F_KEEPALIVE_10;
    AG_ASSERT_EQ(ag_req_reply_flags(req, true), AG_REPLY_F_KEEPALIVE);
    req->flags |= AG_REQ_F_HEAD;
    AG_ASSERT_EQ(ag_req_reply_flags(req, false),
                 AG_REPLY_F_CLOSE | AG_REPLY_F_KEEPALIVE | AG_REPLY_F_NO_BODY);
    ag_req_drop(req);
    fx_clear(&f);
}

/* A failure closes: an HTTP/1.0 keep-alive request gets "close", never "keep-alive" too. */
static void test_req_fail_reply_says_close_only(void)
{
    struct fx f;
    char buf[1024];

    AG_ASSERT_EQ(fx_init(&f, ""), 0);
    struct ag_req *req = ag_req_new(&f.c);
    AG_ASSERT_NOT_NULL(req);
    req->flags |= AG_REQ_F_KEEPALIVE_10 | AG_REQ_F_HEAD;
    format(req, 502, NULL, "bad gateway", NULL, ag_req_reply_flags(req, false), buf,
           sizeof(buf));
    AG_ASSERT_NOT_NULL(strstr(buf, "Connection: close\r\n"));
    AG_ASSERT_NULL(strstr(buf, "keep-alive"));
    AG_ASSERT_EQ(strlen(strstr(buf, "\r\n\r\n")), 4); /* HEAD: no body */
    ag_req_drop(req);
    fx_clear(&f);
}

static void test_req_may_keep_only_without_unread_body_or_close(void)
{
    struct fx f;

    AG_ASSERT_EQ(fx_init(&f, ""), 0);
    struct ag_req *req = ag_req_new(&f.c);
    AG_ASSERT_NOT_NULL(req);
    AG_ASSERT(ag_req_may_keep(req, false));
    AG_ASSERT(!ag_req_may_keep(req, true));
    req->flags |= AG_REQ_F_KEEPALIVE_10; /* asks to keep: changes nothing here */
    AG_ASSERT(ag_req_may_keep(req, false));
    req->flags |= AG_REQ_F_CLIENT_CLOSE;
    AG_ASSERT(!ag_req_may_keep(req, false));
    AG_ASSERT(!ag_req_may_keep(req, true));
    ag_req_drop(req);
    fx_clear(&f);
}

static void test_authn_refusals_say_status_body_and_header(void)
{
    struct fx f;
    struct ag_authn_refusal r;
    struct ag_authn a;

    AG_ASSERT_EQ(fx_init(&f, ""), 0);
    memset(&a, 0, sizeof(a));
    a.st = AG_AUTHN_NO_TOKEN;
    ag_authn_refusal(f.g, &a, &r);
    AG_ASSERT_EQ(r.status, 401);
    AG_ASSERT_MEM(r.body, r.len, "{\"detail\":\"Unauthorized Access Token\"}");
    AG_ASSERT_STR(r.hdr, "WWW-Authenticate: Bearer realm=\"shop\"\r\n");
    a.st = AG_AUTHN_SCOPE;
    a.missing = "admin";
    ag_authn_refusal(f.g, &a, &r);
    AG_ASSERT_EQ(r.status, 403);
    AG_ASSERT_STR(r.hdr, "WWW-Authenticate: Bearer realm=\"shop\", error=\"insufficient_scope\", "
                         "scope=\"admin\"\r\n");
    a.st = AG_AUTHN_UNSYNCED;
    ag_authn_refusal(f.g, &a, &r);
    AG_ASSERT_EQ(r.status, 503);
    AG_ASSERT_NULL(r.body);
    AG_ASSERT_STR(r.hdr, "Retry-After: 1\r\n");
    a.st = AG_AUTHN_MASTER;
    ag_authn_refusal(f.g, &a, &r);
    AG_ASSERT_EQ(r.status, 401);
    AG_ASSERT_STR(r.hdr, "");
    fx_clear(&f);
}

static void test_req_is_recycled_with_the_next_id_and_its_generation_reference(void)
{
    struct fx f;

    AG_ASSERT_EQ(fx_init(&f, ""), 0);
    struct ag_req *req = ag_req_new(&f.c);
    AG_ASSERT_NOT_NULL(req);
    AG_ASSERT(f.c.req == req);
    AG_ASSERT(req->gen == f.g);
    AG_ASSERT_EQ(atomic_load(&f.g->_refs), 2);
    AG_ASSERT_STR(req->id, "0123456789ab-000000000001");
    AG_ASSERT_EQ(req->id_len, AG_REQ_ID_LEN);
    ag_req_drop(req);
    AG_ASSERT_NULL(f.c.req);
    AG_ASSERT_EQ(atomic_load(&f.g->_refs), 1);
    AG_ASSERT(SLIST_FIRST(&f.w.free_reqs) == req);

    memcpy(f.w.req_id + 13, "00000000009f", 12);
    struct ag_req *again = ag_req_new(&f.c);
    AG_ASSERT(again == req); /* from the free list */
    AG_ASSERT_STR(again->id, "0123456789ab-0000000000a0");
    AG_ASSERT_EQ(again->state, 0);
    AG_ASSERT_EQ(again->flags, 0);
    ag_req_drop(again);
    fx_clear(&f);
}

/* The free list is last in, first out; ag_req_free_recycled() empties it (LSan checks). */
static void test_req_free_list_reuses_the_last_freed_first(void)
{
    struct fx f;
    struct ag_conn c2;

    AG_ASSERT_EQ(fx_init(&f, ""), 0);
    c2 = f.c;
    struct ag_req *a = ag_req_new(&f.c);
    struct ag_req *b = ag_req_new(&c2);
    AG_ASSERT_NOT_NULL(a);
    AG_ASSERT_NOT_NULL(b);
    ag_req_drop(a);
    ag_req_drop(b);
    AG_ASSERT(ag_req_new(&f.c) == b);
    AG_ASSERT(ag_req_new(&c2) == a);
    AG_ASSERT(SLIST_EMPTY(&f.w.free_reqs));
    ag_req_drop(f.c.req);
    ag_req_drop(c2.req);
    AG_ASSERT(SLIST_FIRST(&f.w.free_reqs) == a);
    ag_req_free_recycled(&f.w);
    AG_ASSERT(SLIST_EMPTY(&f.w.free_reqs));
    fx_clear(&f);
}

/* A head with the one field X-Request-Id: <v>. */
static void head_with_id(struct ag_http1_head *h, struct ag_http1_header *hdr, const char *v)
{
    memset(h, 0, sizeof(*h));
    hdr->name = AG_LIT("X-Request-Id");
    hdr->value = (struct ag_str){v, strlen(v)};
    h->hdrs = hdr;
    h->nhdrs = 1;
    h->max_hdrs = 1;
}

static void test_req_adopts_a_request_id_only_from_a_trusted_proxy(void)
{
    struct ag_http1_header hdr;
    struct ag_http1_head h;
    struct fx f;

    AG_ASSERT_EQ(fx_init(&f, "'trusted-proxies':['10.0.0.0/8']"), 0);
    struct ag_req *req = ag_req_new(&f.c);
    AG_ASSERT_NOT_NULL(req);
    head_with_id(&h, &hdr, "lb-42:a/b=");
    ag_req_adopt_id(req, &h);
    AG_ASSERT_STR(req->id, "lb-42:a/b=");
    head_with_id(&h, &hdr, "has space");
    ag_req_adopt_id(req, &h);
    AG_ASSERT_STR(req->id, "lb-42:a/b="); /* refused: unchanged */
    ag_req_drop(req);

    inet_pton(AF_INET, "192.0.2.1", &f.c.peer.v4); /* not trusted */
    req = ag_req_new(&f.c);
    AG_ASSERT_NOT_NULL(req);
    head_with_id(&h, &hdr, "chosen-by-client");
    ag_req_adopt_id(req, &h);
    AG_ASSERT_EQ(req->id_len, AG_REQ_ID_LEN);
    ag_req_drop(req);
    fx_clear(&f);
}

int main(void)
{
    AG_RUN(test_req_error_reply_bytes_without_cors);
    AG_RUN(test_reply_body_of_a_type_and_the_204_without_length);
    AG_RUN(test_reply_body_with_a_long_extra_is_whole);
    AG_RUN(test_req_reply_with_allowed_origin_carries_cors_lines_before_the_blank_line);
    AG_RUN(test_req_reply_to_head_has_no_body_but_its_length);
    AG_RUN(test_req_reply_flags);
    AG_RUN(test_req_fail_reply_says_close_only);
    AG_RUN(test_req_may_keep_only_without_unread_body_or_close);
    AG_RUN(test_authn_refusals_say_status_body_and_header);
    AG_RUN(test_req_is_recycled_with_the_next_id_and_its_generation_reference);
    AG_RUN(test_req_free_list_reuses_the_last_freed_first);
    AG_RUN(test_req_adopts_a_request_id_only_from_a_trusted_proxy);
    return ag_t_done();
}
