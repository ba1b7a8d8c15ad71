/*
 * tests/unit/gateway/ep_test.c - mirrors gateway/ep/endpoints.c where no store is
 * needed: a parsed head goes through ag_ep_new() and ag_ep_run() as the request core
 * hands it over, and the test reads the bytes the client gets: the 404 and the 405 with
 * its Allow line, /health and HEAD /health, /ready without a store, the 403 for a foreign
 * Origin, the 415s, the 413s (declared length, chunked body), the 401s of the master
 * token and of a missing access token, what /token/new refuses itself once the master
 * token passes (a bad client_id, no store), the refusals of a valid token (CSRF, a client's
 * token, revocations not loaded), the 100 Continue, and a request dropped mid-body.
 *
 * Owns:     per test: a config and generation, an event base that never runs, a worker
 *           and a connection whose socket is one end of a socketpair (the test reads
 *           the other end); all freed at its end, the ep with its request (LSan checks).
 * Entry:    main().
 * Not here: the handlers that need the store (tests/integration/), routing alone
 *           (route_test.c), the reply formatting itself (req_test.c).
 * Spec:     CONTRACT.md section 7; docs/endpoints.md "Writing an endpoint".
 */
#include "endpoints.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "authn.h"
#include "conn.h"
#include "gen.h"
#include "jwt.h"
#include "req.h"
#include "revoke.h"
#include "worker_types.h"

#include "cfg.h"
#include "t.h"

#define MASTER "master-secret-0001"

/* What the worker registers for the request core (gateway/worker.c). */
static const struct ag_ep_ops ep_ops = {
    .start = ag_ep_new,
    .must_wait = ag_ep_must_wait,
    .run = ag_ep_run,
    .on_client_input = ag_ep_on_client_input,
    .detach = ag_ep_detach,
};

/* A worker and a connection on a socketpair, with a loop that is never run. */
struct fx {
    struct event_base *base;
    struct ag_worker w;
    struct ag_conn c;
    struct ag_gen *g;
    int client; /* the client's end of the socketpair */
    struct ag_http1_header hdrs[32];
    struct ag_http1_head h;
    struct ag_http1_info info;
    char raw[4096];
    char out[8192]; /* what the client received */
};

static void on_io(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg; /* never called: the loop never runs */
}

/* Sets <f> up with a config holding the JSON members <members> (' for "), or "", and the
 * app-name "shop" unless they name one. */
static int fx_init(struct fx *f, const char *members)
{
    const char *own = strstr(members, "'app-name'") ? "" : "'app-name':'shop'";
    int sv[2];
    char all[1024];

    memset(f, 0, sizeof(*f));
    snprintf(all, sizeof(all), "%s%s%s", own, *own && *members ? "," : "", members);
    f->g = calloc(1, sizeof(*f->g));
    if (f->g == NULL || (f->g->cfg = ag_t_config(all, NULL)) == NULL) {
        free(f->g);
        return -1;
    }
    atomic_init(&f->g->_refs, 1);
    f->g->ring = ag_jwt_ring_new(
        ag_jwt_key_new_hs256(f->g->cfg->crypto_key, f->g->cfg->crypto_key_len, NULL), NULL, 0, 0);
    f->w.claims = malloc(sizeof(*f->w.claims)); /* authn's scratch claims */
    if (f->g->ring == NULL || f->w.claims == NULL || (f->base = event_base_new()) == NULL ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        return -1;
    f->client = sv[1];
    f->w.base = f->base;
    f->w.gen = f->g;
    f->w.ep_ops = &ep_ops;
    memcpy(f->w.req_id, "0123456789ab-000000000000", AG_REQ_ID_LEN + 1);
    f->c.w = &f->w;
    f->c.family = AF_INET;
    inet_pton(AF_INET, "10.1.2.3", &f->c.peer.v4);
    return ag_io_open(&f->c.io, f->base, sv[0], on_io, NULL, NULL);
}

static void fx_clear(struct fx *f)
{
    if (f->c.req != NULL)
        ag_req_drop(f->c.req); /* a request still waiting: frees its ep */
    ag_req_free_recycled(&f->w);
    ag_io_close(&f->c.io);
    ag_io_spare_free(&f->w.io_spare);
    close(f->client);
    event_base_free(f->base);
    free(f->w.claims);
    ag_gen_unref(f->g); /* the fixture's own reference: frees it */
}

/*
 * Hands the request "<method> <target> HTTP/1.1", Host, then the fields <fields> (lines
 * ending CRLF) to the endpoints as gateway/core/conn.c does once the head is drained,
 * with <body> (or NULL) already in the input; returns what the client received.
 */
static const char *run(struct fx *f, const char *method, const char *target, const char *body,
                       const char *fields)
{
    const char *q;
    struct ag_str path, query = {"", 0};
    struct ag_req *req;
    struct ag_ep *ep;
    ssize_t got;
    int n;

    n = snprintf(f->raw, sizeof(f->raw), "%s %s HTTP/1.1\r\nHost: gw.example\r\n%s\r\n", method,
                 target, fields);
    memset(&f->h, 0, sizeof(f->h));
    f->h.hdrs = f->hdrs;
    f->h.max_hdrs = sizeof(f->hdrs) / sizeof(f->hdrs[0]);
    /* An idle connection holds no buffers: its next event attaches them (core/conn.c). */
    if (f->c.io.in == NULL && ag_io_attach(&f->c.io, &f->w.io_spare) < 0) {
        AG_FAIL_("ag_io_attach: out of memory");
        return "";
    }
    if (ag_http1_parse_request(f->raw, (size_t)n, sizeof(f->raw), &f->h) != n ||
        ag_http1_request_info(&f->h, &f->info) < 0 || (req = ag_req_new(&f->c)) == NULL) {
        AG_FAIL_("head refused: %s", f->h.error ? f->h.error : "?");
        return "";
    }
    if (f->info.flags & AG_HTTP1_F_HEAD)
        req->flags |= AG_REQ_F_HEAD;
    q = strchr(target, '?');
    path = (struct ag_str){target, q ? (size_t)(q - target) : strlen(target)};
    if (q != NULL)
        query = (struct ag_str){q + 1, strlen(q + 1)};
    if (body != NULL)
        evbuffer_add(f->c.io.in, body, strlen(body));
    if ((ep = ag_ep_new(req, &f->h, &f->info, path, query)) == NULL) {
        AG_FAIL_("ag_ep_new: out of memory");
        return "";
    }
    req->flags |= AG_REQ_F_EP;
    req->state = AG_REQ_ENDPOINT;
    ag_ep_run(ep);
    ag_io_flush(&f->c.io); /* what the loop's write pass would send */
    got = read(f->client, f->out, sizeof(f->out) - 1);
    f->out[got > 0 ? got : 0] = '\0';
    return f->out;
}

/* An access token of <f>'s key for 10 minutes whose subject is the members <sub> (' for "). */
static const char *mint(struct fx *f, char *tok, size_t cap, const char *sub)
{
    char json[768];
    long long now = (long long)time(NULL);
    int n = snprintf(json, sizeof(json),
                     "{%s,'client_id':'web','type':'access','iss':'%s',"
                     "'iat':%lld,'exp':%lld,'jti':'j-1','sid':'s-1'}",
                     sub, f->g->cfg->token_issuer, now - 10, now + 600);

    for (int i = 0; i < n; i++)
        if (json[i] == '\'')
            json[i] = '"';
    if (ag_jwt_ring_sign(f->g->ring, json, (size_t)n, tok, cap) < 0)
        AG_FAIL_("cannot sign %s", json);
    return tok;
}

/* The bytes of a JSON answer: status line <status> ("404 Not Found"), <extra>, <body>. */
static const char *answer(char *buf, size_t cap, const char *status, const char *extra,
                          const char *body)
{
    snprintf(buf, cap,
             "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
             "Cache-Control: no-store\r\n%s\r\n%s",
             status, strlen(body), extra, body);
    return buf;
}

/* The answers that repeat in the table below. */
#define NF "{\"detail\":\"Not Found\",\"error\":\"not_found\"}"
#define NA "{\"detail\":\"Method Not Allowed\",\"error\":\"method_not_allowed\"}"
#define CSRF "{\"detail\":\"CSRF check failed: Origin does not match\"}"
#define MASTER_401 "{\"detail\":\"Unauthorized Master Token\"}"
#define ACCESS_401 "{\"detail\":\"Unauthorized Access Token\"}"
#define BEARER "WWW-Authenticate: Bearer realm=\"shop\""
#define EVIL "Origin: https://evil.example\r\n"

/* One request and the whole answer it gets: what the framework answers before a handler. */
static const struct ep_case {
    const char *method, *target, *fields;
    const char *status, *extra, *body; /* of the answer */
    bool closes;                       /* "Connection: close", and the connection closes */
} cases[] = {
    /* No row has the path: 404, and the connection stays. */
    {"GET", "/auth/nope", "", "404 Not Found", "", NF, false},
    {"GET", "/auth", "", "404 Not Found", "", NF, false}, /* auth-prefix itself */
    {"GET", "/auth/health/", "", "404 Not Found", "", NF, false},
    {"DELETE", "/auth/sessions/", "", "404 Not Found", "", NF, false},
    {"DELETE", "/auth/sessions/a/b", "", "404 Not Found", "", NF, false},
    /* Rows have the path, none the method: 405 with the methods they have. */
    {"POST", "/auth/health", "", "405 Method Not Allowed", "Allow: GET, HEAD\r\n", NA, false},
    {"GET", "/auth/sessions/s1", "", "405 Method Not Allowed", "Allow: DELETE\r\n", NA, false},
    {"GET", "/auth/login", "", "405 Method Not Allowed", "Allow: POST\r\n", NA, false},
    /* The two handlers that need no store. */
    {"GET", "/auth/health", "", "200 OK", "", "{\"status\":\"ok\"}", false},
    {"GET", "/auth/health?x=1", "", "200 OK", "", "{\"status\":\"ok\"}", false},
    {"GET", "/auth/ready", "", "503 Service Unavailable", "", "{\"status\":\"not ready\"}", false},
    /* A foreign Origin, judged before the body type and the body (a login CSRF). */
    {"POST", "/auth/login", EVIL "Content-Type: application/json\r\n", "403 Forbidden", "", CSRF,
     false},
    {"GET", "/auth/token/new", EVIL, "403 Forbidden", "", CSRF, false},
    {"POST", "/auth/login", EVIL "Content-Type: text/plain\r\nContent-Length: 99999\r\n",
     "403 Forbidden", "", CSRF, true}, /* a body it will not read: closes */
    /* The body type of the row. */
    {"POST", "/auth/login", "Origin: http://gw.example\r\nContent-Type: text/plain\r\n",
     "415 Unsupported Media Type", "", "{\"detail\":\"Content-Type must be application/json\"}",
     false},
    {"POST", "/auth/register", "", "415 Unsupported Media Type", "",
     "{\"detail\":\"Content-Type must be application/json\"}", false},
    {"POST", "/auth/token", "Content-Type: application/json\r\nContent-Length: 2\r\n",
     "415 Unsupported Media Type", "",
     "{\"detail\":\"Content-Type must be application/x-www-form-urlencoded\"}", true},
    /* A declared length over the row's limit: refused before a byte is read. */
    {"POST", "/auth/login", "Content-Type: application/json\r\nContent-Length: 16385\r\n",
     "413 Content Too Large", "",
     "{\"detail\":\"request body too large\",\"error\":\"body_too_large\"}", true},
    /* The master token while token-new-requires-master is on (the default). */
    {"GET", "/auth/token/new", "", "401 Unauthorized", "", MASTER_401, false},
    {"GET", "/auth/token/new?client_id=c1", "MASTER-TOKEN: master-secret-0002\r\n",
     "401 Unauthorized", "", MASTER_401, false},
    /* The master token passes: the handler's own refusals that need no store. */
    {"GET", "/auth/token/new?client_id=%ff", "MASTER-TOKEN: " MASTER "\r\n", "400 Bad Request", "",
     "{\"detail\":\"invalid client_id\",\"error\":\"bad_request\"}", false},
    /* A control character: the token would be refused by every check (issue 11 review). */
    {"GET", "/auth/token/new?client_id=a%0d%0aX-Evil:%201", "MASTER-TOKEN: " MASTER "\r\n",
     "400 Bad Request", "", "{\"detail\":\"invalid client_id\",\"error\":\"bad_request\"}",
     false},
    {"GET", "/auth/token/new?client_id=a%7f", "MASTER-TOKEN: " MASTER "\r\n", "400 Bad Request",
     "", "{\"detail\":\"invalid client_id\",\"error\":\"bad_request\"}", false},
    {"GET", "/auth/token/new?client_id=c1", "MASTER-TOKEN: " MASTER "\r\n",
     "503 Service Unavailable", "",
     "{\"status\":\"error\",\"message\":\"Service unavailable\",\"code\":503}", false},
    /* An access token where the row needs one (AG_EP_USER, AG_EP_IDENTITY). */
    {"GET", "/auth/me", "", "401 Unauthorized", BEARER "\r\n", ACCESS_401, false},
    {"GET", "/auth/sessions", "", "401 Unauthorized", BEARER "\r\n", ACCESS_401, false},
    {"POST", "/auth/logout", "", "401 Unauthorized", BEARER "\r\n", ACCESS_401, false},
    {"DELETE", "/auth/sessions/s1", "", "401 Unauthorized", BEARER "\r\n", ACCESS_401, false},
    {"GET", "/auth/me", "Authorization: Bearer not-a-jwt\r\n", "401 Unauthorized",
     BEARER ", error=\"invalid_token\"\r\n", ACCESS_401, false},
};

static void test_ep_answers_before_the_handler(void)
{
    _Static_assert(AG_EP_MAX_BODY + 1 == 16385, "the 413 row's Content-Length");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct ep_case *k = &cases[i];
        char want[1024], extra[256];
        struct fx f;

        if (fx_init(&f, "'master-token':'" MASTER "'") < 0) {
            AG_FAIL_("fixture");
            return;
        }
        snprintf(extra, sizeof(extra), "%s%s", k->extra, k->closes ? "Connection: close\r\n" : "");
        answer(want, sizeof(want), k->status, extra, k->body);
        const char *got = run(&f, k->method, k->target, NULL, k->fields);
        if (strcmp(got, want) != 0)
            AG_FAIL_("%s %s:\n%s\n!=\n%s", k->method, k->target, got, want);
        AG_ASSERT_NULL(f.c.req); /* the request ended */
        if (((f.c.flags & AG_CONN_F_CLOSING) != 0) != k->closes)
            AG_FAIL_("%s %s: closes %d", k->method, k->target, !k->closes);
        fx_clear(&f);
    }
}

/* HEAD: the length of the body GET would have, no body. */
static void test_ep_head_health_has_no_body(void)
{
    struct fx f;

    AG_ASSERT_EQ(fx_init(&f, ""), 0);
    AG_ASSERT_STR(run(&f, "HEAD", "/auth/health", NULL, ""),
                  "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n"
                  "Cache-Control: no-store\r\n\r\n");
    fx_clear(&f);
}

/* A chunked body is refused once what arrived is over the row's limit. */
static void test_ep_chunked_body_over_the_limit_is_413_and_closes(void)
{
    struct fx f;
    char want[512], *chunk;
    const size_t big = AG_EP_MAX_BODY + 1;
    int n;

    AG_ASSERT_EQ(fx_init(&f, ""), 0);
    chunk = malloc(big + 16);
    AG_ASSERT_NOT_NULL(chunk);
    n = snprintf(chunk, 16, "%zx\r\n", big);
    memset(chunk + n, '{', big);
    chunk[n + big] = '\0';
    AG_ASSERT_STR(run(&f, "POST", "/auth/login", chunk,
                      "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"),
                  answer(want, sizeof(want), "413 Content Too Large", "Connection: close\r\n",
                         "{\"detail\":\"request body too large\",\"error\":\"body_too_large\"}"));
    AG_ASSERT(f.c.flags & AG_CONN_F_CLOSING);
    free(chunk);
    fx_clear(&f);
}

/*
 * The refusals of a token that verifies, before the handler (which would need the
 * store): CSRF on a cookie-carried write, a client's token where a user is needed, and
 * revocations not loaded yet.
 */
static void test_ep_valid_token_refusals(void)
{
    struct fx f;
    char want[512], tok[2048], fields[2560];
    struct ag_revoke *rv;

    AG_ASSERT_EQ(fx_init(&f, ""), 0);
    mint(&f, tok, sizeof(tok), "'sub':'user-42'");
    snprintf(fields, sizeof(fields), EVIL "Cookie: access_token=%s\r\n", tok);
    answer(want, sizeof(want), "403 Forbidden", "", CSRF);
    AG_ASSERT_STR(run(&f, "POST", "/auth/logout", NULL, fields), want);
    AG_ASSERT_STR(run(&f, "DELETE", "/auth/sessions/s1", NULL, fields), want);

    mint(&f, tok, sizeof(tok), "'sub':'client:c1','sub_type':'client'");
    snprintf(fields, sizeof(fields), "Authorization: Bearer %s\r\n", tok);
    AG_ASSERT_STR(
        run(&f, "GET", "/auth/me", NULL, fields),
        answer(want, sizeof(want), "404 Not Found", "", "{\"detail\":\"User not found\"}"));

    rv = ag_revoke_new(); /* never loaded: a token that holds proves nothing yet */
    AG_ASSERT_NOT_NULL(rv);
    f.g->revoke = rv;
    AG_ASSERT_STR(run(&f, "GET", "/auth/me", NULL, fields),
                  answer(want, sizeof(want), "503 Service Unavailable", "",
                         "{\"detail\":\"Service Unavailable\"}"));
    f.g->revoke = NULL;
    ag_revoke_free(rv);
    fx_clear(&f);
}

/* The longest app-name (128 characters) still gives a whole WWW-Authenticate line. */
static void test_ep_longest_realm_fits_its_line(void)
{
    struct fx f;
    char name[129], members[192], want[1024], extra[256];

    memset(name, 'n', 128);
    name[128] = '\0';
    snprintf(members, sizeof(members), "'app-name':'%s'", name);
    AG_ASSERT_EQ(fx_init(&f, members), 0);
    snprintf(extra, sizeof(extra),
             "WWW-Authenticate: Bearer realm=\"%s\", error=\"invalid_token\"\r\n", name);
    AG_ASSERT_STR(run(&f, "GET", "/auth/me", NULL, "Authorization: Bearer x\r\n"),
                  answer(want, sizeof(want), "401 Unauthorized", extra, ACCESS_401));
    fx_clear(&f);
}

/* Expect: 100-continue is answered before the body is read; the request then waits for
 * its body, and a request dropped there frees its ep and the body read so far (LSan). */
static void test_ep_expect_100_continue_then_dropped_mid_body(void)
{
    struct fx f;

    AG_ASSERT_EQ(fx_init(&f, ""), 0);
    AG_ASSERT_STR(run(&f, "POST", "/auth/login", "{\"username_or",
                      "Content-Type: application/json\r\nContent-Length: 60\r\n"
                      "Expect: 100-continue\r\n"),
                  "HTTP/1.1 100 Continue\r\n\r\n");
    AG_ASSERT_NOT_NULL(f.c.req);                     /* still reading the body */
    AG_ASSERT_EQ(evbuffer_get_length(f.c.io.in), 0); /* what came is in the ep's body */
    fx_clear(&f);
}

int main(void)
{
    AG_RUN(test_ep_answers_before_the_handler);
    AG_RUN(test_ep_head_health_has_no_body);
    AG_RUN(test_ep_chunked_body_over_the_limit_is_413_and_closes);
    AG_RUN(test_ep_valid_token_refusals);
    AG_RUN(test_ep_longest_realm_fits_its_line);
    AG_RUN(test_ep_expect_100_continue_then_dropped_mid_body);
    return ag_t_done();
}
