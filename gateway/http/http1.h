/*
 * gateway/http/http1.h - HTTP/1.1 message heads and body framing, held to
 * SECURITY-BASELINE.md: a strict head scanner, libhttp-parser as a second
 * opinion on the same bytes, framing analysis, a strict chunked decoder, and
 * the hop-by-hop / identity header filter.
 *
 * Owns:     nothing; every slice points into the caller's buffer.
 * Entry:    ag_http1_parse_request(), ag_http1_parse_response(),
 *           ag_http1_request_info(), ag_http1_response_info(),
 *           ag_chunked_parse(), ag_http1_hdr_is_hop(), ag_http1_hdr_is_identity(),
 *           ag_http1_hdr_fwd(), ag_http1_fwd_value_ok().
 * Not here: sockets and buffers (gateway/core/conn.c, gateway/core/proxy.c), paths (policy/path.c).
 * Spec:     RFC 9112 sections 2-7 and 11, RFC 9110 sections 5 and 7.6.1.
 */
#ifndef AG_GATEWAY_HTTP1_H
#define AG_GATEWAY_HTTP1_H

#include <stdbool.h>
#include <stddef.h>

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
 * "token SP target SP HTTP/1.0|1.1" (so HTTP/0.9 and 2.0), control bytes or spaces
 * in the target, and anything libhttp-parser refuses on the same bytes.
 * Leading empty lines before the request line are not allowed either.
 */
int ag_http1_parse_request(const char *buf, size_t len, size_t max_head, struct ag_http1_head *h);

/**
 * Same for a status line and fields ("HTTP/1.x NNN reason"), with the same strict
 * scan; libhttp-parser's second opinion is kept for requests, where input is hostile.
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
 * repeated (400; identical repeats included); Host missing on 1.1, repeated, or
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

/*
 * Strict chunked decoder (RFC 9112 section 7.1; SECURITY-BASELINE.md rule 8).
 * It consumes only framing bytes: size lines, the CRLF after each chunk's data
 * and the trailer section. Data bytes are left to the caller, who moves
 * <remaining> of them (zero-copy) and calls ag_chunked_data().
 */
struct ag_chunked {
    int state;                 /* private */
    unsigned long long remaining; /* data bytes the caller must take before parsing again */
    size_t line;               /* private: bytes of the current line / trailer section */
    unsigned long long size;   /* private: the chunk size read so far (input may end mid-line) */
    size_t max_line;           /* longest size line (with extensions) accepted; default 4096 */
    size_t max_trailers;       /* longest trailer section accepted; default 16384 */
    bool done;                 /* last chunk and trailers consumed */
};

/** Resets <c> to read a new body. */
void ag_chunked_init(struct ag_chunked *c);

/**
 * Consumes framing bytes from <buf,len>; stops when data is due (c->remaining > 0),
 * when the body is complete (c->done), or at the end of <buf>. Returns the number
 * of bytes consumed (>= 0) or AG_EPARSE (bad size line: non-hex, too long, over
 * 2^63-1, whitespace before CRLF, a bare ';', a missing CRLF after data, bare LF;
 * bad trailers). Extensions are checked against RFC 9112 s.7.1.1 (BWS ";" BWS
 * token [BWS "=" BWS (token / quoted-string)]) and dropped; trailers are checked
 * as header fields and dropped.
 */
int ag_chunked_parse(struct ag_chunked *c, const char *buf, size_t len);

/** Tells <c> that the caller took <n> (<= remaining) data bytes. */
void ag_chunked_data(struct ag_chunked *c, unsigned long long n);

/**
 * Whether a header named <name> is hop-by-hop and never forwarded as is:
 * Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding,
 * Upgrade, Content-Length (the gateway writes framing itself), Expect,
 * Proxy-Authorization, Proxy-Authenticate, or any name listed in one of the
 * Connection fields of <h> (case-insensitive) except Host and the names the
 * gateway owns (ag_http1_hdr_fwd() other than AG_FWD_PASS; CONTRACT.md s.6).
 */
bool ag_http1_hdr_is_hop(const struct ag_http1_head *h, struct ag_str name);

/**
 * Whether <name> is one of the identity headers the gateway owns (CONTRACT.md
 * section 6): X-Auth-Subject, X-Auth-Client-Id, X-Auth-Scopes, X-Auth-Roles, in
 * any case and with '_' or '.' in place of any '-'; or X-Forwarded-For,
 * X-Forwarded-Proto, X-Forwarded-Host with the same spellings (the gateway sets those).
 */
bool ag_http1_hdr_is_identity(struct ag_str name);

/* What the gateway does with a client's request field when it builds the upstream head. */
enum ag_http1_fwd {
    AG_FWD_DROP = 0,      /* never forwarded: Content-Length and Transfer-Encoding, the
                             identity headers, X-Original-URL, X-Rewrite-URL,
                             X-Forwarded-Uri, X-HTTP-Method-Override, X-HTTP-Method,
                             X-Method-Override; and every name below spelled with '_' or '.' */
    AG_FWD_PASS = 1,      /* not the gateway's: forwarded (credentials and `headers` aside) */
    AG_FWD_XFF = 2,       /* X-Forwarded-For: the client's list, the peer appended */
    AG_FWD_PROTO = 3,     /* X-Forwarded-Proto: a trusted proxy's, else the gateway's */
    AG_FWD_HOST = 4,      /* X-Forwarded-Host: a trusted proxy's, else Host */
    AG_FWD_REAL_IP = 5,   /* X-Real-IP: kept from a trusted proxy, else dropped */
    AG_FWD_FORWARDED = 6, /* Forwarded: the same */
    AG_FWD_PORT = 7,      /* X-Forwarded-Port: the same */
    AG_FWD_PREFIX = 8,    /* X-Forwarded-Prefix: the same */
};
#define AG_FWD_N 9 /* classes, for arrays indexed by them */

/**
 * Class of the request field named <name>: AG_FWD_PASS unless the gateway owns the
 * name, matched in any case with '-', '_' and '.' equal (the rule of
 * ag_http1_hdr_is_identity()); an owned name spelled with '-' only gets its class,
 * any other spelling AG_FWD_DROP. Hop-by-hop fields are ag_http1_hdr_is_hop()'s.
 */
enum ag_http1_fwd ag_http1_hdr_fwd(struct ag_str name);

/**
 * Whether <v> may go upstream as the value of a trusted proxy's field of class <fwd>
 * (AG_FWD_PROTO .. AG_FWD_PREFIX): "http"/"https"; a valid Host value; one IP
 * address; a port 1..65535; a path prefix "/..."; a non-empty Forwarded.
 */
bool ag_http1_fwd_value_ok(enum ag_http1_fwd fwd, struct ag_str v);

/** Whether the comma-separated list <value> holds token <tok> (case-insensitive, OWS trimmed). */
bool ag_http1_list_has(struct ag_str value, const char *tok);

#endif
