/*
 * gateway/http/http1.h - HTTP/1.1 message heads and body framing, held to
 * SECURITY-BASELINE.md: a strict head scanner (libhttp-parser is its reference in the
 * fuzzers, tests/fuzz/fuzz_http1.c), framing and connection analysis.
 *
 * Owns:     nothing; every slice points into the caller's buffer.
 * Entry:    ag_http1_parse_request(), ag_http1_parse_response(),
 *           ag_http1_request_info(), ag_http1_response_info(),
 *           ag_http1_host_valid(), ag_http1_list_has().
 * Not here: the chunked decoder (chunked.h), the header filters (http1_hdr.h),
 *           sockets and buffers (gateway/core/conn.c, gateway/core/proxy.c), paths (policy/path.c).
 * Spec:     RFC 9112 sections 2-7 and 11, RFC 9110 sections 5 and 7.6.1.
 */
#ifndef AG_GATEWAY_HTTP1_H
#define AG_GATEWAY_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base.h"

struct ag_http1_header {
    struct ag_str name;  /* as sent (token chars only) */
    struct ag_str value; /* leading and trailing OWS removed */
};

struct ag_http1_head {
    /* request line */
    struct ag_str method;
    struct ag_str target;
    /* status line */
    int status;          /* 100..999 */
    struct ag_str reason;
    int minor;           /* 0 or 1: HTTP/1.<minor> */
    /* fields: the caller provides hdrs[max_hdrs] */
    struct ag_http1_header *hdrs;
    size_t nhdrs;
    size_t max_hdrs;
    unsigned n_connection; /* Connection fields among hdrs (so the hop filter can skip a scan) */
    uint64_t conn_tokens;  /* one bit per token of those fields, ag_http1_token_bit(): a name
                              whose bit is clear is no Connection token */
    const char *error;   /* static phrase set on AG_EPARSE / AG_ETOOBIG */
};

/**
 * Parses a request head at the start of <buf,len>. <h>->hdrs and max_hdrs must be
 * set by the caller. Returns the head's length (>0, up to and including the blank
 * line), AG_AGAIN when the head is incomplete and could still fit <max_head>,
 * AG_ETOOBIG (answer 431) when the head exceeds <max_head> bytes or has more than
 * max_hdrs fields, AG_EPARSE (answer 400) otherwise with <h>->error set. Refuses:
 * bare CR or LF, obs-fold, whitespace before ':', empty or non-token names,
 * CTL (but HTAB) or DEL in values, a request line not of the form
 * "method SP target SP HTTP/1.0|1.1" (so HTTP/0.9 and 2.0), a method other than the
 * registered ones libhttp-parser knows (GET ... UNSUBSCRIBE, case-sensitive), control
 * bytes or spaces in the target, more than two empty lines (CRLF) before the request
 * line (up to two are skipped, RFC 9112 s.2.2, and counted in the length). The framing
 * fields are judged by ag_http1_request_info(), the target by policy/path.c; together
 * they refuse whatever libhttp-parser refuses (fuzz_http1).
 */
int ag_http1_parse_request(const char *buf, size_t len, size_t max_head, struct ag_http1_head *h);

/**
 * Same for a status line and fields ("HTTP/1.x NNN reason"), with the same strict scan.
 */
int ag_http1_parse_response(const char *buf, size_t len, size_t max_head,
                            struct ag_http1_head *h);

enum ag_body_kind {
    AG_BODY_NONE = 0,
    AG_BODY_LENGTH = 1,  /* Content-Length bytes */
    AG_BODY_CHUNKED = 2, /* Transfer-Encoding: chunked */
    AG_BODY_CLOSE = 3,   /* responses only: until the upstream closes */
};

#define AG_HTTP1_F_CLOSE 0x0001     /* no keep-alive: Connection: close, or 1.0 without keep-alive */
#define AG_HTTP1_F_WEBSOCKET 0x0002 /* request: GET, 1.1, Upgrade: websocket, Connection: upgrade;
                                       response: 101 with Upgrade: websocket */
#define AG_HTTP1_F_EXPECT_100 0x0004 /* Expect: 100-continue (request, HTTP/1.1) */
#define AG_HTTP1_F_HEAD 0x0008       /* request method is HEAD */

struct ag_http1_info {
    enum ag_body_kind body;
    unsigned long long length; /* for AG_BODY_LENGTH */
    unsigned flags;            /* AG_HTTP1_F_* */
    struct ag_str host;        /* the Host value (requests); empty when absent (1.0) */
    int status;                /* on error: HTTP status to answer (400, 417, 501; 502 for responses) */
    const char *error;         /* on error: static phrase */
};

/**
 * Works out framing and connection semantics of a parsed request <h>. Returns 0,
 * or AG_EPARSE with <info>->status / error set: Transfer-Encoding together with
 * Content-Length (400); Transfer-Encoding other than exactly one field whose
 * value is "chunked" (501 for an unknown coding, 400 for "chunked" repeated or
 * not last, or TE on HTTP/1.0); Content-Length not 1*DIGIT, over 2^63-1, or
 * repeated (400; identical repeats included), or followed by an HTAB (400, as
 * libhttp-parser: <h> must come from ag_http1_parse_request(), whose values are followed
 * by the rest of their line); a field name that is "Transfer-Encoding"
 * followed by more bytes (400); Host missing on 1.1, repeated, or
 * not a valid uri-host[:port] (400); Expect other than 100-continue (417).
 */
int ag_http1_request_info(const struct ag_http1_head *h, struct ag_http1_info *info);

/**
 * Same for a response <h> to a request whose method was HEAD when <req_head>:
 * 1xx, 204, 304 and responses to HEAD have no body; otherwise chunked, length
 * or until close. Refuses (502) what ag_http1_request_info refuses for framing.
 */
int ag_http1_response_info(const struct ag_http1_head *h, bool req_head,
                           struct ag_http1_info *info);

/**
 * Whether <v> is a valid Host value: uri-host [":" port] where uri-host is a reg-name of
 * unreserved bytes only (an IPv4 address is one) or an IPv6 literal in brackets, and the
 * port 1-5 digits within 65535 (RFC 9112 s.3.2, RFC 3986 s.3.2.2). Also X-Forwarded-Host's.
 */
bool ag_http1_host_valid(struct ag_str v);

/**
 * The bit of ag_http1_head.conn_tokens for the name or token <t>: the same for every
 * spelling that compares equal case-insensitively. A filter: equal bits prove nothing.
 */
static inline uint64_t ag_http1_token_bit(struct ag_str t)
{
    unsigned first = t.len ? ((unsigned char)t.p[0] | 0x20) : 0;
    unsigned last = t.len ? ((unsigned char)t.p[t.len - 1] | 0x20) : 0;

    return 1ULL << ((t.len * 7 + first * 3 + last) & 63);
}

/** Whether the comma-separated list <value> holds token <tok> (case-insensitive, OWS trimmed). */
bool ag_http1_list_has(struct ag_str value, const char *tok);

#endif
