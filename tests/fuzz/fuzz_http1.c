/*
 * tests/fuzz/fuzz_http1.c - libFuzzer target for the whole request-head path: any bytes
 * through ag_http1_parse_request(), ag_http1_request_info(), the policy path functions
 * (on the target, and on each field value as forward-auth's X-Forwarded-Uri) and the
 * chunked decoder for what follows the head; the same bytes as a response. libhttp-parser,
 * which the gateway once ran as a second parse of every request, is the reference: a
 * request head the gateway takes (scan, framing, target) it must take too, with the same
 * version, so dropping that parse let nothing through that it refused.
 *
 * Owns:     one malloc'd path buffer per input, freed before returning.
 * Entry:    LLVMFuzzerTestOneInput() (libFuzzer, or tests/fuzz/replay_main.c).
 * Not here: the corpus replay main (replay_main.c); seeds are in corpus/http1/.
 * Spec:     SECURITY-BASELINE.md; gateway/http/http1.h and policy/path.h contracts.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>

#include "chunked.h"
#include "http1.h"
#include "http1_hdr.h"
#include "path.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_HDRS 24
#define FUZZ_MAX_HEAD 2048 /* small, so the limit path is reached too */

/* A broken invariant: abort, which libFuzzer (and replay_main) report as a crash. */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_http1.c:%d: invariant broken: %s\n", __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static bool in_range(struct ag_str s, const char *buf, size_t n)
{
    return s.len == 0 || (s.p >= buf && s.len <= n && (size_t)(s.p - buf) <= n - s.len);
}

/* The slices of a successfully parsed head all lie inside its <n> bytes. */
static void check_head(const struct ag_http1_head *h, const char *buf, int n)
{
    CHECK(h->error == NULL);
    CHECK(h->minor == 0 || h->minor == 1);
    CHECK(h->nhdrs <= h->max_hdrs);
    CHECK(in_range(h->method, buf, (size_t)n) && in_range(h->target, buf, (size_t)n));
    CHECK(in_range(h->reason, buf, (size_t)n));
    for (size_t i = 0; i < h->nhdrs; i++) {
        CHECK(h->hdrs[i].name.len > 0);
        CHECK(in_range(h->hdrs[i].name, buf, (size_t)n));
        CHECK(in_range(h->hdrs[i].value, buf, (size_t)n));
        enum ag_http1_fwd k = ag_http1_hdr_fwd(h->hdrs[i].name);
        bool hop = ag_http1_hdr_is_hop(h, h->hdrs[i].name);

        CHECK((unsigned)k < AG_FWD_N);
        CHECK(!ag_http1_hdr_is_identity(h->hdrs[i].name) || k != AG_FWD_PASS);
        /* Connection never takes away a field the gateway keeps or decides on */
        CHECK(!hop || k == AG_FWD_PASS || k == AG_FWD_DROP);
        (void)ag_http1_fwd_value_ok(k, h->hdrs[i].value);
    }
}

/*
 * A head accepted at <n> bytes: every shorter prefix was "need more" (nothing wrong was
 * seen in it) and the <n> bytes alone give the same answer (nothing after the head is read).
 */
static void check_prefix(const char *buf, int n, bool request)
{
    struct ag_http1_header hdrs[FUZZ_MAX_HDRS];
    struct ag_http1_head h = {.hdrs = hdrs, .max_hdrs = FUZZ_MAX_HDRS};
    int (*parse)(const char *, size_t, size_t, struct ag_http1_head *) =
        request ? ag_http1_parse_request : ag_http1_parse_response;

    CHECK(parse(buf, (size_t)n - 1, FUZZ_MAX_HEAD, &h) == AG_AGAIN);
    CHECK(parse(buf, (size_t)n, FUZZ_MAX_HEAD, &h) == n);
}

struct ck_result {
    int outcome;   /* 1 done, 0 needs more, -1 refused */
    size_t used;   /* bytes consumed up to done, or all of them */
    size_t data;   /* data bytes handed to the caller */
    uint64_t hash; /* FNV-1a of the data bytes */
};

/* Runs <buf,len> through a decoder in pieces of <step> bytes, taking data like a proxy. */
static void ck_drive(const char *buf, size_t len, size_t step, struct ck_result *r)
{
    struct ag_chunked c;
    size_t pos = 0;

    ag_chunked_init(&c);
    c.max_line = 64;
    c.max_trailers = 256;
    memset(r, 0, sizeof(*r));
    r->hash = 1469598103934665603ULL;
    while (pos < len && !c.done) {
        size_t end = len - pos < step ? len : pos + step;

        while (pos < end && !c.done) {
            if (c.remaining > 0) {
                size_t take = c.remaining < end - pos ? (size_t)c.remaining : end - pos;

                for (size_t i = 0; i < take; i++)
                    r->hash = (r->hash ^ (unsigned char)buf[pos + i]) * 1099511628211ULL;
                r->data += take;
                ag_chunked_data(&c, take);
                pos += take;
            } else {
                int n = ag_chunked_parse(&c, buf + pos, end - pos);

                if (n < 0) {
                    r->outcome = -1;
                    r->used = pos;
                    CHECK(ag_chunked_parse(&c, buf, len) == AG_EPARSE); /* sticky */
                    return;
                }
                CHECK((size_t)n <= end - pos);
                /* the decoder stops early only when data is due or the body is done */
                CHECK((size_t)n == end - pos || c.remaining > 0 || c.done);
                pos += (size_t)n;
            }
        }
    }
    r->outcome = c.done ? 1 : 0;
    r->used = pos;
}

/* Whole, byte by byte and in 7-byte pieces: the decoder must not care how input is split. */
static void fuzz_chunked(const char *buf, size_t len)
{
    struct ck_result whole, bytes, pieces;

    ck_drive(buf, len, len ? len : 1, &whole);
    ck_drive(buf, len, 1, &bytes);
    ck_drive(buf, len, 7, &pieces);
    CHECK(whole.outcome == bytes.outcome && whole.outcome == pieces.outcome);
    if (whole.outcome >= 0) {
        CHECK(whole.used == bytes.used && whole.used == pieces.used);
        CHECK(whole.data == bytes.data && whole.data == pieces.data);
        CHECK(whole.hash == bytes.hash && whole.hash == pieces.hash);
    }
}

/*
 * The target through policy/path.c, into a buffer of exactly target.len + 1 bytes, judged
 * as gateway/core/conn.c does. Returns whether the gateway would take it (<host>: the Host).
 */
static bool fuzz_path(const struct ag_http1_head *h, struct ag_str host, unsigned flags)
{
    enum ag_target_form form = 0;
    struct ag_str authority = {NULL, 0}, rest = {NULL, 0}, query = {NULL, 0};
    enum ag_path_status st;
    size_t cap = h->target.len + 1, out_len = 0;
    char *out;

    st = ag_path_split_target(h->target, &form, &authority, &rest);
    CHECK(ag_path_status_str(st) != NULL);
    if (st != AG_PATH_OK)
        return false;
    if (form == AG_TARGET_ASTERISK)
        return ag_str_ieq(h->method, "OPTIONS");
    if (form == AG_TARGET_ABSOLUTE &&
        (authority.len != host.len || strncasecmp(authority.p, host.p, host.len) != 0))
        return false;
    if (rest.len == 0 || rest.p[0] != '/')
        return true; /* "http://host" or "http://host?q": the path is "/" */
    CHECK(in_range(rest, h->target.p, h->target.len));
    out = malloc(cap);
    if (out == NULL)
        return false;
    st = ag_path_normalize(rest, flags, out, cap, &out_len, &query);
    CHECK(ag_path_status_str(st) != NULL);
    if (st == AG_PATH_OK) {
        CHECK(out_len <= cap);
        CHECK(out_len > 0 && out[0] == '/');
        CHECK(query.p == NULL || in_range(query, rest.p, rest.len));
    }
    free(out);
    return st == AG_PATH_OK;
}

/* Stops libhttp-parser at the end of the head: it never looks at body bytes. */
static int hp_headers_complete(struct http_parser *hp)
{
    http_parser_pause(hp, 1);
    return 0;
}

/*
 * A request head of <n> bytes that the gateway takes: libhttp-parser, run over the same
 * bytes as the gateway once did, reaches the end of the head on the same version.
 */
static void check_reference(const char *buf, int n, const struct ag_http1_head *h)
{
    static const struct http_parser_settings settings = {
        .on_headers_complete = hp_headers_complete};
    struct http_parser hp;
    size_t used;

    http_parser_init(&hp, HTTP_REQUEST);
    used = http_parser_execute(&hp, &settings, buf, (size_t)n);
    if (HTTP_PARSER_ERRNO(&hp) != HPE_PAUSED)
        fprintf(stderr, "libhttp-parser: %s\n", http_errno_name(HTTP_PARSER_ERRNO(&hp)));
    /* paused on the blank line's LF, the head's last byte: both see the same end */
    CHECK(HTTP_PARSER_ERRNO(&hp) == HPE_PAUSED && used + 1 == (size_t)n);
    CHECK(hp.http_major == 1 && hp.http_minor == (unsigned)h->minor);
}

/*
 * A field value as forward-auth's X-Forwarded-Uri (gateway/ep/ep_verify.c): when its bytes
 * may be a target and it is in origin form, normalised into exactly value.len bytes.
 */
static void fuzz_fwd_uri(struct ag_str v, unsigned flags)
{
    struct ag_str query = {NULL, 0};
    size_t out_len = 0;
    char *out;

    (void)ag_http1_fwd_method_ok(v);
    if (!ag_http1_fwd_target_ok(v))
        return;
    for (size_t i = 0; i < v.len; i++)
        CHECK((unsigned char)v.p[i] > 0x20 && (unsigned char)v.p[i] < 0x7f);
    if (v.p[0] != '/' || (out = malloc(v.len)) == NULL)
        return;
    if (ag_path_normalize(v, flags, out, v.len, &out_len, &query) == AG_PATH_OK)
        CHECK(out_len > 0 && out_len <= v.len && out[0] == '/');
    free(out);
}

static void fuzz_request(const char *buf, size_t size)
{
    struct ag_http1_header hdrs[FUZZ_MAX_HDRS];
    struct ag_http1_head h = {.hdrs = hdrs, .max_hdrs = FUZZ_MAX_HDRS};
    struct ag_http1_info info;
    int n = ag_http1_parse_request(buf, size, FUZZ_MAX_HEAD, &h);

    if (n == AG_AGAIN) {
        CHECK(size < FUZZ_MAX_HEAD);
        return;
    }
    if (n < 0) {
        CHECK((n == AG_EPARSE || n == AG_ETOOBIG) && h.error != NULL);
        return;
    }
    CHECK((size_t)n <= size && n <= FUZZ_MAX_HEAD);
    check_head(&h, buf, n);
    check_prefix(buf, n, true);
    if (ag_http1_request_info(&h, &info) != 0) {
        CHECK(info.status == 400 || info.status == 417 || info.status == 501);
        CHECK(info.error != NULL && (info.flags & AG_HTTP1_F_CLOSE));
        return;
    }
    CHECK(h.minor == 0 || info.host.len > 0);
    if (fuzz_path(&h, info.host, size & 1 ? AG_PATH_F_ALLOW_SEMICOLON : 0))
        check_reference(buf, n, &h);
    for (size_t i = 0; i < h.nhdrs; i++)
        fuzz_fwd_uri(h.hdrs[i].value, size & 1 ? AG_PATH_F_ALLOW_SEMICOLON : 0);
    if (info.body == AG_BODY_CHUNKED)
        fuzz_chunked(buf + n, size - (size_t)n);
}

static void fuzz_response(const char *buf, size_t size)
{
    struct ag_http1_header hdrs[FUZZ_MAX_HDRS];
    struct ag_http1_head h = {.hdrs = hdrs, .max_hdrs = FUZZ_MAX_HDRS};
    struct ag_http1_info info;
    int n = ag_http1_parse_response(buf, size, FUZZ_MAX_HEAD, &h);

    if (n <= 0) {
        CHECK(n == AG_AGAIN || h.error != NULL);
        return;
    }
    check_head(&h, buf, n);
    check_prefix(buf, n, false);
    CHECK(h.status >= 100 && h.status <= 999);
    for (int req_head = 0; req_head < 2; req_head++) {
        if (ag_http1_response_info(&h, req_head, &info) != 0) {
            CHECK(info.status == 502 && info.error != NULL);
            continue;
        }
        CHECK(info.body != AG_BODY_CLOSE || (info.flags & AG_HTTP1_F_CLOSE));
        CHECK(!(info.flags & AG_HTTP1_F_WEBSOCKET) || info.body == AG_BODY_NONE);
        if (info.body == AG_BODY_CHUNKED)
            fuzz_chunked(buf + n, size - (size_t)n);
    }
}

/*
 * Feeds <data,size> to the request path, the response path and, directly, the chunked
 * decoder. A broken invariant aborts. Always returns 0.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;

    fuzz_request(buf, size);
    fuzz_response(buf, size);
    fuzz_chunked(buf, size);
    return 0;
}
