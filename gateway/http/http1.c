/*
 * gateway/http/http1.c - HTTP/1.1 heads and framing held to SECURITY-BASELINE.md: one strict
 * linear scan of the head, framing and connection analysis. libhttp-parser, once a second
 * parse of every request head, is now the fuzzers' reference (tests/fuzz/fuzz_http1.c): what
 * this file and policy/path.c accept, it must accept too.
 *
 * Owns:     nothing; heads hold slices of the caller's buffer, nothing is allocated.
 * Entry:    ag_http1_parse_request(), ag_http1_parse_response(), ag_http1_request_info(),
 *           ag_http1_response_info(), ag_http1_host_valid(), ag_http1_list_has().
 * Not here: the chunked decoder (chunked.c), the header filters (http1_hdr.c), sockets and
 *           buffers (gateway/core/conn.c, gateway/core/proxy.c), paths (policy/path.c).
 * Spec:     RFC 9112 s.2-7 and 11, RFC 9110 s.5 and 7.6.1, RFC 3986 s.3.2.2.
 */
#include "http1.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "http1_chars.h"

/* ------------------------------------------------------------------------ */
/* Head scanner                                                             */
/* ------------------------------------------------------------------------ */

/*
 * Word-at-a-time stop tests (Hacker's Delight 6-1): nonzero when one of the 8 bytes of <x>
 * is below 0x20 (below 0x21 for the target), is DEL, or (target) is >= 0x80. They may
 * flag a word that is fine only next to a byte that is not; the byte loop after them
 * decides, so they only ever speed up the scan.
 */
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

static inline uint64_t word_has_ctl_or_del(uint64_t x)
{
    uint64_t d = x ^ (ONES * 0x7f);

    return ((x - ONES * 0x20) & ~x & HIGHS) | ((d - ONES) & ~d & HIGHS);
}

static inline uint64_t word_has_non_vchar(uint64_t x)
{
    uint64_t d = x ^ (ONES * 0x7f);

    return ((x - ONES * 0x21) & ~x & HIGHS) | ((d - ONES) & ~d & HIGHS) | (x & HIGHS);
}

/* Skips field-value bytes (HTAB SP VCHAR obs-text); HTAB stops the fast path only. */
static const unsigned char *skip_fval(const unsigned char *p, const unsigned char *end)
{
    uint64_t x;

    while (end - p >= 8) {
        memcpy(&x, p, 8);
        if (word_has_ctl_or_del(x))
            break;
        p += 8;
    }
    while (p < end && (cc[*p] & CC_FVAL))
        p++;
    return p;
}

/* Skips request-target bytes (VCHAR). */
static const unsigned char *skip_vchar(const unsigned char *p, const unsigned char *end)
{
    uint64_t x;

    while (end - p >= 8) {
        memcpy(&x, p, 8);
        if (word_has_non_vchar(x))
            break;
        p += 8;
    }
    while (p < end && (cc[*p] & CC_VCHAR))
        p++;
    return p;
}

/* Internal scan results, next to the negative AG_E* codes. */
#define SCAN_MORE 0 /* ran out of bytes with nothing wrong so far */
#define SCAN_DONE 1 /* the element is complete */

static int head_fail(struct ag_http1_head *h, int rc, const char *why)
{
    h->error = why;
    return rc;
}

static struct ag_str slice(const unsigned char *from, const unsigned char *to)
{
    return (struct ag_str){(const char *)from, (size_t)(to - from)};
}

/* Expects CRLF at *<pp>; a bare LF, a bare CR or any other byte is refused with <why>. */
static int scan_eol(const unsigned char **pp, const unsigned char *end, struct ag_http1_head *h,
                    const char *why)
{
    const unsigned char *p = *pp;

    if (p == end)
        return SCAN_MORE;
    if (*p == '\n')
        return head_fail(h, AG_EPARSE, "bare LF");
    if (*p != '\r')
        return head_fail(h, AG_EPARSE, why);
    if (p + 1 == end)
        return SCAN_MORE;
    if (p[1] != '\n')
        return head_fail(h, AG_EPARSE, "bare CR");
    *pp = p + 2;
    return SCAN_DONE;
}

/* "HTTP/1.0" or "HTTP/1.1" exactly (HTTP-name is case-sensitive, RFC 9112 s.2.3). */
static int scan_version(const unsigned char **pp, const unsigned char *end, struct ag_http1_head *h)
{
    static const char prefix[] = "HTTP/1.";
    const unsigned char *p = *pp;

    for (size_t i = 0; i < sizeof(prefix) - 1; i++, p++) {
        if (p == end)
            return SCAN_MORE;
        if (*p != (unsigned char)prefix[i])
            return head_fail(h, AG_EPARSE, "unsupported HTTP version");
    }
    if (p == end)
        return SCAN_MORE;
    if (*p != '0' && *p != '1')
        return head_fail(h, AG_EPARSE, "unsupported HTTP version");
    h->minor = *p - '0';
    *pp = p + 1;
    return SCAN_DONE;
}

/*
 * Whether the method <m,n> is one the gateway takes: the registered methods that
 * libhttp-parser 2.9 knew (its HTTP_METHOD_MAP), the parser the gateway used to ask for a
 * second opinion, so nothing it refused comes through now. Case-sensitive (RFC 9110 s.9.1).
 * TRACE and CONNECT parse, and are answered 405 (gateway/core/conn.c).
 */
static bool method_known(const unsigned char *m, size_t n)
{
    static const char *const by_len[][9] = {
        [3] = {"GET", "PUT", "ACL"},
        [4] = {"POST", "HEAD", "COPY", "LOCK", "MOVE", "BIND", "LINK"},
        [5] = {"PATCH", "TRACE", "MKCOL", "MERGE", "PURGE"},
        [6] = {"DELETE", "SEARCH", "UNLOCK", "REBIND", "UNBIND", "REPORT", "NOTIFY", "UNLINK",
                "SOURCE"},
        [7] = {"OPTIONS", "CONNECT"},
        [8] = {"PROPFIND", "CHECKOUT", "M-SEARCH"},
        [9] = {"PROPPATCH", "SUBSCRIBE"},
        [10] = {"MKACTIVITY", "MKCALENDAR"},
        [11] = {"UNSUBSCRIBE"},
    };

    if (n >= sizeof(by_len) / sizeof(by_len[0]))
        return false;
    for (const char *const *k = by_len[n]; k < by_len[n] + 9 && *k != NULL; k++)
        if (memcmp(m, *k, n) == 0)
            return true;
    return false;
}

/*
 * "token SP target SP HTTP/1.x CRLF" (RFC 9112 s.3). The empty lines parse_head() skips
 * (s.2.2) are behind <p>; another is refused.
 */
static int scan_request_line(const unsigned char *p, const unsigned char *end,
                             struct ag_http1_head *h, const unsigned char **next)
{
    const unsigned char *start = p;
    int rc;

    while (p < end && (cc[*p] & CC_TOKEN))
        p++;
    if (p == end)
        return SCAN_MORE;
    if (p == start && (*p == '\r' || *p == '\n'))
        return head_fail(h, AG_EPARSE, "empty line before the request line");
    if (p == start || *p != ' ')
        return head_fail(h, AG_EPARSE, "bad method");
    if (!method_known(start, (size_t)(p - start)))
        return head_fail(h, AG_EPARSE, "unknown method");
    h->method = slice(start, p);

    start = ++p;
    p = skip_vchar(p, end);
    if (p == end)
        return SCAN_MORE;
    if (p == start)
        return head_fail(h, AG_EPARSE, "empty request-target");
    if (*p == '\r' || *p == '\n')
        return head_fail(h, AG_EPARSE, "request line without a version (HTTP/0.9)");
    if (*p != ' ')
        return head_fail(h, AG_EPARSE, "bad byte in request-target");
    h->target = slice(start, p);
    p++;

    rc = scan_version(&p, end, h);
    if (rc == SCAN_DONE)
        rc = scan_eol(&p, end, h, "bad request line");
    if (rc == SCAN_DONE)
        *next = p;
    return rc;
}

/* "HTTP/1.x SP 3DIGIT [SP reason] CRLF" (RFC 9112 s.4); the status is 100..999. */
static int scan_status_line(const unsigned char *p, const unsigned char *end,
                            struct ag_http1_head *h, const unsigned char **next)
{
    const unsigned char *start;
    int rc, status = 0;

    rc = scan_version(&p, end, h);
    if (rc != SCAN_DONE)
        return rc;
    if (p == end)
        return SCAN_MORE;
    if (*p != ' ')
        return head_fail(h, AG_EPARSE, "bad status line");
    p++;
    for (int i = 0; i < 3; i++, p++) {
        if (p == end)
            return SCAN_MORE;
        if (*p < '0' || *p > '9' || (i == 0 && *p == '0'))
            return head_fail(h, AG_EPARSE, "bad status code");
        status = status * 10 + (*p - '0');
    }
    h->status = status;
    if (p == end)
        return SCAN_MORE;
    if (*p == ' ') {
        start = ++p;
        p = skip_fval(p, end);
        h->reason = slice(start, p);
    } else {
        h->reason = slice(p, p);
    }
    rc = scan_eol(&p, end, h, "bad status line");
    if (rc == SCAN_DONE)
        *next = p;
    return rc;
}

/* Why the field name starting at <name> stopped at *<p> (not a ':' after a token). */
static const char *field_name_error(const unsigned char *name, const unsigned char *p)
{
    if (*p == '\n')
        return "bare LF";
    if (p == name) {
        if (*p == ':')
            return "empty field name";
        if (*p == ' ' || *p == '\t')
            return "obs-fold or whitespace at the start of a field line";
        return "bad byte in field name";
    }
    if (*p == ' ' || *p == '\t')
        return "whitespace before ':'";
    if (*p == '\r')
        return "field line without ':'";
    return "bad byte in field name";
}

/*
 * Field lines up to and including the empty line (RFC 9112 s.5): "token ':' OWS value
 * OWS CRLF". The name must be followed by ':' directly (s.5.1: whitespace there is a
 * smuggling vector); a line starting with SP/HTAB is obs-fold and refused (s.5.2).
 */
static int scan_fields(const unsigned char *p, const unsigned char *end, struct ag_http1_head *h,
                       const unsigned char **next)
{
    for (;;) {
        const unsigned char *name, *nend, *val, *vend;
        int rc;

        if (p == end)
            return SCAN_MORE;
        if (*p == '\r') {
            if (p + 1 == end)
                return SCAN_MORE;
            if (p[1] != '\n')
                return head_fail(h, AG_EPARSE, "bare CR");
            *next = p + 2;
            return SCAN_DONE;
        }
        name = p;
        while (p < end && (cc[*p] & CC_TOKEN))
            p++;
        if (p == end)
            return SCAN_MORE;
        if (*p != ':' || p == name)
            return head_fail(h, AG_EPARSE, field_name_error(name, p));
        if (h->nhdrs >= h->max_hdrs)
            return head_fail(h, AG_ETOOBIG, "too many header fields");
        nend = p++;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        val = p;
        p = skip_fval(p, end);
        vend = p;
        rc = scan_eol(&p, end, h, "control byte in field value");
        if (rc != SCAN_DONE)
            return rc;
        while (vend > val && (vend[-1] == ' ' || vend[-1] == '\t'))
            vend--;
        h->hdrs[h->nhdrs].name = slice(name, nend);
        h->hdrs[h->nhdrs].value = slice(val, vend);
        if (nend - name == 10 && ieq(h->hdrs[h->nhdrs].name, "connection", 10)) {
            struct ag_str rest = h->hdrs[h->nhdrs].value, el;

            h->n_connection++;
            while (list_next(&rest, &el))
                h->conn_tokens |= ag_http1_token_bit(el);
        }
        h->nhdrs++;
    }
}

static void head_reset(struct ag_http1_head *h)
{
    h->method = (struct ag_str){NULL, 0};
    h->target = (struct ag_str){NULL, 0};
    h->reason = (struct ag_str){NULL, 0};
    h->status = 0;
    h->minor = 0;
    h->nhdrs = 0;
    h->n_connection = 0;
    h->conn_tokens = 0;
    h->error = NULL;
}

/*
 * Common driver: scans at most <max_head> bytes of <buf,len> with the start-line scanner
 * (<request> or status line) and the field scanner. Heads are capped at INT_MAX bytes so the
 * length fits the return value.
 */
static int parse_head(const char *buf, size_t len, size_t max_head, struct ag_http1_head *h,
                      bool request)
{
    const unsigned char *p = (const unsigned char *)buf, *next = NULL, *end;
    int rc;

    head_reset(h);
    if (max_head > INT_MAX)
        max_head = INT_MAX;
    if (len == 0)
        return max_head == 0 ? head_fail(h, AG_ETOOBIG, "head too large") : AG_AGAIN;
    end = p + (len < max_head ? len : max_head);
    if (request) {
        /* RFC 9112 s.2.2: empty lines before a request line are ignored (a client that
         * ends a body with a CRLF it did not count); two at most, then it is a 400. */
        for (int i = 0; i < 2 && end - p >= 1 && p[0] == '\r'; i++) {
            if (end - p == 1) /* its LF still to come */
                return len >= max_head ? head_fail(h, AG_ETOOBIG, "head too large") : AG_AGAIN;
            if (p[1] != '\n')
                break; /* refused by the request line's scan */
            p += 2;
        }
    }
    if (request)
        rc = scan_request_line(p, end, h, &next);
    else
        rc = scan_status_line(p, end, h, &next);
    if (rc == SCAN_DONE)
        rc = scan_fields(next, end, h, &next);
    if (rc == SCAN_MORE)
        return len >= max_head ? head_fail(h, AG_ETOOBIG, "head too large") : AG_AGAIN;
    if (rc != SCAN_DONE)
        return rc;
    return (int)(next - (const unsigned char *)buf);
}

/*
 * Parses a request head at the start of <buf,len> (see http1.h for what is refused).
 * Returns the head length, AG_AGAIN (nothing wrong yet and the head could still fit
 * <max_head>), AG_ETOOBIG (431) or AG_EPARSE (400), with <h>->error set on failure.
 * Errors are reported as soon as the offending byte is seen, before the head is whole.
 * Writes <h> and <h>->hdrs[0..max_hdrs) only; its slices borrow <buf>, which is never
 * written. After AG_AGAIN or an error the contents of <h> are unspecified but error.
 */
int ag_http1_parse_request(const char *buf, size_t len, size_t max_head, struct ag_http1_head *h)
{
    return parse_head(buf, len, max_head, h, true);
}

/*
 * Parses a response head "HTTP/1.x NNN [reason]" (status 100..999, reason possibly empty
 * or absent) with the same field rules and return values as ag_http1_parse_request();
 * the caller answers 502 on any error.
 */
int ag_http1_parse_response(const char *buf, size_t len, size_t max_head, struct ag_http1_head *h)
{
    return parse_head(buf, len, max_head, h, false);
}

/* ------------------------------------------------------------------------ */
/* Framing and connection semantics                                         */
/* ------------------------------------------------------------------------ */

/* What the fields of one head say about framing and the connection. */
struct fields_seen {
    unsigned n_cl, n_te, n_host;
    bool cl_bad; /* a Content-Length that is not 1*DIGIT within 2^63-1 */
    unsigned long long cl;
    unsigned te_chunked;      /* "chunked" elements over all Transfer-Encoding fields */
    bool te_chunked_not_last; /* a coding follows "chunked" */
    bool te_unknown;          /* a coding other than "chunked" */
    bool te_empty;            /* an empty value or list element */
    struct ag_str host;
    bool conn_close, conn_keep_alive, conn_upgrade;
    unsigned n_upgrade;     /* Upgrade fields: more than one makes a handshake malformed */
    bool upgrade_websocket; /* an Upgrade field lists "websocket" */
    unsigned n_ws_key, n_ws_version;
    bool ws_key_ok;         /* the (last) Sec-WebSocket-Key is base64 of 16 bytes */
    bool ws_version_ok;     /* the (last) Sec-WebSocket-Version is 13 */
    bool expect_100, expect_other;
    bool te_lookalike;      /* a name that is "Transfer-Encoding" followed by more token chars */
};

/* Content-Length = 1*DIGIT (RFC 9110 s.8.6) within 2^63-1; no sign, no list, no spaces. */
static bool parse_content_length(struct ag_str v, unsigned long long *out)
{
    unsigned long long n = 0;

    if (v.len == 0)
        return false;
    for (size_t i = 0; i < v.len; i++) {
        unsigned d = (unsigned)((unsigned char)v.p[i] - '0');

        if (d > 9 || n > ((unsigned long long)INT64_MAX - d) / 10)
            return false;
        n = n * 10 + d;
    }
    *out = n;
    return true;
}

static void seen_transfer_encoding(struct fields_seen *f, struct ag_str v)
{
    struct ag_str rest = v, el;

    f->n_te++;
    if (v.len == 0)
        f->te_empty = true;
    while (list_next(&rest, &el)) {
        if (el.len == 0) {
            f->te_empty = true;
        } else if (IEQ(el, "chunked")) {
            f->te_chunked++;
        } else {
            if (f->te_chunked)
                f->te_chunked_not_last = true;
            f->te_unknown = true;
        }
    }
}

static void seen_connection(struct fields_seen *f, struct ag_str v)
{
    struct ag_str rest = v, el;

    while (list_next(&rest, &el)) {
        if (IEQ(el, "close"))
            f->conn_close = true;
        else if (IEQ(el, "keep-alive"))
            f->conn_keep_alive = true;
        else if (IEQ(el, "upgrade"))
            f->conn_upgrade = true;
    }
}

/* One pass over the fields of <h>, dispatching on the name length first. */
/*
 * RFC 6455 s.4.1: Sec-WebSocket-Key is a random 16-byte nonce in base64: 22 characters of
 * the alphabet, the last of them with its 4 padding bits zero, then "==".
 */
static bool ws_key_valid(struct ag_str v)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    if (v.len != 24 || v.p[22] != '=' || v.p[23] != '=')
        return false;
    for (size_t i = 0; i < 22; i++)
        if (v.p[i] == '\0' || strchr(b64, v.p[i]) == NULL)
            return false;
    return strchr("AQgw", v.p[21]) != NULL;
}

/*
 * Whether an HTAB is in the OWS after the value <v> of a field of a parsed head (up to the
 * line's CR: the head holds it). RFC 9110 allows it; libhttp-parser refuses it after a
 * Content-Length's digits, so the gateway does too (it refuses whatever libhttp-parser
 * refuses: fuzz_http1).
 */
static bool tab_after(struct ag_str v)
{
    for (const char *p = v.p + v.len; *p == ' ' || *p == '\t'; p++)
        if (*p == '\t')
            return true;
    return false;
}

static void scan_seen(const struct ag_http1_head *h, struct fields_seen *f)
{
    memset(f, 0, sizeof(*f));
    for (size_t i = 0; i < h->nhdrs; i++) {
        struct ag_str n = h->hdrs[i].name, v = h->hdrs[i].value;

        /* before the switch: a lookalike may be as long as a name one of its cases reads */
        if (n.len > 17 && ieq((struct ag_str){n.p, 17}, "transfer-encoding", 17))
            f->te_lookalike = true;
        switch (n.len) {
        case 4:
            if (IEQ(n, "host")) {
                f->n_host++;
                f->host = v;
            }
            break;
        case 6:
            if (IEQ(n, "expect")) {
                if (IEQ(v, "100-continue"))
                    f->expect_100 = true;
                else
                    f->expect_other = true;
            }
            break;
        case 7:
            if (IEQ(n, "upgrade")) {
                f->n_upgrade++;
                if (ag_http1_list_has(v, "websocket"))
                    f->upgrade_websocket = true;
            }
            break;
        case 10:
            if (IEQ(n, "connection"))
                seen_connection(f, v);
            break;
        case 14:
            if (IEQ(n, "content-length")) {
                f->n_cl++;
                if (!parse_content_length(v, &f->cl) || tab_after(v))
                    f->cl_bad = true;
            }
            break;
        case 17:
            if (IEQ(n, "transfer-encoding")) {
                seen_transfer_encoding(f, v);
            } else if (IEQ(n, "sec-websocket-key")) {
                f->n_ws_key++;
                f->ws_key_ok = ws_key_valid(v);
            }
            break;
        case 21:
            if (IEQ(n, "sec-websocket-version")) {
                f->n_ws_version++;
                f->ws_version_ok = v.len == 2 && v.p[0] == '1' && v.p[1] == '3';
            }
            break;
        }
    }
}

static int info_fail(struct ag_http1_info *info, int status, const char *why)
{
    info->status = status;
    info->error = why;
    info->flags |= AG_HTTP1_F_CLOSE;
    return AG_EPARSE;
}

/*
 * The framing rules shared by requests and responses (SECURITY-BASELINE.md rules 1-3, 9):
 * sets info->body / length, or fails with <status_te> for an unknown coding and
 * <status_bad> for everything else.
 */
static int framing(const struct fields_seen *f, int minor, struct ag_http1_info *info,
                   int status_bad, int status_te)
{
    if (f->n_te && f->n_cl)
        return info_fail(info, status_bad, "both Transfer-Encoding and Content-Length");
    if (f->n_te) {
        if (minor == 0)
            return info_fail(info, status_bad, "Transfer-Encoding in HTTP/1.0");
        if (f->te_chunked > 1)
            return info_fail(info, status_bad, "chunked applied more than once");
        if (f->te_chunked_not_last)
            return info_fail(info, status_bad, "chunked is not the last transfer coding");
        if (f->te_unknown)
            return info_fail(info, status_te, "unsupported transfer coding");
        if (f->te_empty || f->n_te > 1 || f->te_chunked != 1)
            return info_fail(info, status_bad, "malformed Transfer-Encoding");
        info->body = AG_BODY_CHUNKED;
        return 0;
    }
    if (f->n_cl > 1)
        return info_fail(info, status_bad, "repeated Content-Length");
    if (f->cl_bad)
        return info_fail(info, status_bad, "invalid Content-Length");
    if (f->n_cl) {
        info->body = AG_BODY_LENGTH;
        info->length = f->cl;
    }
    return 0;
}

/*
 * uri-host [":" port] (RFC 9112 s.3.2, RFC 3986 s.3.2.2) with a narrower reg-name:
 * unreserved bytes only. Sub-delims and percent-escapes are valid in a reg-name but no
 * real host name uses them, and the value travels on in X-Forwarded-Host. IPv6 literals
 * go through inet_pton (no zone ids, no IPvFuture). The port is 1-5 digits <= 65535.
 */
bool ag_http1_host_valid(struct ag_str v)
{
    const unsigned char *p = (const unsigned char *)v.p, *e = p + v.len;
    unsigned port = 0;
    size_t ndigits = 0;

    if (v.len == 0)
        return false;
    if (*p == '[') {
        const unsigned char *close = memchr(p, ']', v.len);
        char tmp[INET6_ADDRSTRLEN];
        struct in6_addr addr;
        size_t n;

        if (close == NULL)
            return false;
        n = (size_t)(close - p - 1);
        if (n == 0 || n >= sizeof(tmp))
            return false;
        memcpy(tmp, p + 1, n);
        tmp[n] = '\0';
        if (inet_pton(AF_INET6, tmp, &addr) != 1)
            return false;
        p = close + 1;
    } else {
        const unsigned char *start = p;

        while (p < e && (cc[*p] & CC_HOST))
            p++;
        if (p == start)
            return false;
    }
    if (p == e)
        return true;
    if (*p++ != ':')
        return false;
    for (; p < e; p++, ndigits++) {
        if (*p < '0' || *p > '9' || ndigits == 5)
            return false;
        port = port * 10 + (unsigned)(*p - '0');
    }
    return ndigits > 0 && port <= 65535;
}

/*
 * Framing and connection semantics of the request <h> into <info> (cleared first).
 * Returns 0, or AG_EPARSE with info->status 400 / 501 / 417 and info->error set (and
 * AG_HTTP1_F_CLOSE: the caller must close after answering). Order: framing, Host,
 * WebSocket with a body, Expect. info->host borrows <h>'s buffer.
 */
int ag_http1_request_info(const struct ag_http1_head *h, struct ag_http1_info *info)
{
    struct fields_seen f;
    int rc;

    memset(info, 0, sizeof(*info));
    scan_seen(h, &f);
    if (h->method.len == 4 && memcmp(h->method.p, "HEAD", 4) == 0)
        info->flags |= AG_HTTP1_F_HEAD;
    if (f.conn_close || (h->minor == 0 && !f.conn_keep_alive))
        info->flags |= AG_HTTP1_F_CLOSE;

    /*
     * "Transfer-Encoding-x" or "Transfer-Encoding#" names no field, but parsers that match
     * header names by prefix (libhttp-parser 2.9 among them) take it for Transfer-Encoding:
     * forwarded, it could frame the body differently upstream. Refused, as they refuse it.
     */
    if (f.te_lookalike)
        return info_fail(info, 400, "field name that extends Transfer-Encoding");
    rc = framing(&f, h->minor, info, 400, 501);
    if (rc != 0)
        return rc;

    /* RFC 9112 s.3.2: exactly one valid Host in 1.1; at most one valid one in 1.0. */
    if (f.n_host > 1)
        return info_fail(info, 400, "repeated Host");
    if (f.n_host == 0 && h->minor == 1)
        return info_fail(info, 400, "missing Host");
    if (f.n_host == 1 && !ag_http1_host_valid(f.host))
        return info_fail(info, 400, "invalid Host");
    if (f.n_host == 1)
        info->host = f.host;

    /*
     * RFC 6455 s.4.1: GET, HTTP/1.1, Upgrade: websocket, Connection: upgrade, one
     * Sec-WebSocket-Key (a 16-byte nonce in base64) and one Sec-WebSocket-Version: 13.
     * Anything less is a malformed handshake (CONTRACT.md section 9), a second Upgrade or
     * key field too (two hops could each read a different one): never upgraded, it goes
     * upstream as a plain request (Upgrade is hop-by-hop) and the connection stays HTTP.
     */
    if (h->method.len == 3 && memcmp(h->method.p, "GET", 3) == 0 && h->minor == 1 &&
        f.upgrade_websocket && f.n_upgrade == 1 && f.conn_upgrade) {
        if (info->body == AG_BODY_CHUNKED || (info->body == AG_BODY_LENGTH && info->length > 0))
            return info_fail(info, 400, "WebSocket upgrade with a body");
        if (f.n_ws_key == 1 && f.ws_key_ok && f.n_ws_version == 1 && f.ws_version_ok)
            info->flags |= AG_HTTP1_F_WEBSOCKET;
    }

    /* RFC 9110 s.10.1.1: 100-continue is ignored in 1.0; other expectations get 417. */
    if (f.expect_other)
        return info_fail(info, 417, "unsupported expectation");
    if (f.expect_100 && h->minor == 1)
        info->flags |= AG_HTTP1_F_EXPECT_100;
    return 0;
}

/*
 * Framing of the response <h> to a request that was HEAD when <req_head> (RFC 9112 s.6.3):
 * refuses with info->status 502 what ag_http1_request_info() refuses for framing
 * (whatever the status, so a 204 with both framing headers is refused too). Then 101
 * with Upgrade: websocket sets AG_HTTP1_F_WEBSOCKET; 1xx, 204, 304 and answers to HEAD
 * have no body; else chunked, length, or AG_BODY_CLOSE with AG_HTTP1_F_CLOSE.
 * A 101 without websocket gets no flag: the caller must not tunnel it.
 */
int ag_http1_response_info(const struct ag_http1_head *h, bool req_head, struct ag_http1_info *info)
{
    struct fields_seen f;
    int rc;

    memset(info, 0, sizeof(*info));
    scan_seen(h, &f);
    if (f.conn_close || (h->minor == 0 && !f.conn_keep_alive))
        info->flags |= AG_HTTP1_F_CLOSE;

    rc = framing(&f, h->minor, info, 502, 502);
    if (rc != 0)
        return rc;

    if (h->status == 101 && f.upgrade_websocket && f.n_upgrade == 1)
        info->flags |= AG_HTTP1_F_WEBSOCKET;
    if ((h->status >= 100 && h->status < 200) || h->status == 204 || h->status == 304 || req_head) {
        info->body = AG_BODY_NONE;
        info->length = 0;
    } else if (info->body == AG_BODY_NONE) {
        info->body = AG_BODY_CLOSE;
        info->flags |= AG_HTTP1_F_CLOSE;
    }
    return 0;
}

/* Whether the list <value> holds <tok> (NUL-terminated) as a whole element, case-insensitive. */
bool ag_http1_list_has(struct ag_str value, const char *tok)
{
    struct ag_str rest = value, el, want = {tok, strlen(tok)};

    while (list_next(&rest, &el))
        if (ieq_str(el, want))
            return true;
    return false;
}
