/*
 * gateway/http/http1.c - HTTP/1.1 heads and framing held to SECURITY-BASELINE.md: one strict
 * linear scan of the head, libhttp-parser as a second opinion on the same bytes, framing
 * and connection analysis, a strict incremental chunked decoder, header filters.
 *
 * Owns:     nothing; heads hold slices of the caller's buffer, nothing is allocated.
 * Entry:    ag_http1_parse_request(), ag_http1_parse_response(), ag_http1_request_info(),
 *           ag_http1_response_info(), ag_chunked_parse(), ag_http1_hdr_is_hop(),
 *           ag_http1_hdr_fwd().
 * Not here: sockets and buffers (gateway/core/conn.c, gateway/core/proxy.c), paths (policy/path.c).
 * Spec:     RFC 9112 s.2-7 and 11, RFC 9110 s.5 and 7.6.1, RFC 3986 s.3.2.2.
 */
#include "http1.h"

#include <arpa/inet.h>
#include <http_parser.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Byte classes                                                             */
/* ------------------------------------------------------------------------ */

#define CC_TOKEN 0x01  /* RFC 9110 tchar: ALPHA DIGIT !#$%&'*+-.^_`|~ */
#define CC_VCHAR 0x02  /* 0x21-0x7E: request-target bytes */
#define CC_FVAL 0x04   /* field value / reason phrase: HTAB SP VCHAR obs-text */
#define CC_HEX 0x08    /* HEXDIG */
#define CC_QDTEXT 0x10 /* quoted-string text: HTAB SP 21 23-5B 5D-7E obs-text */
#define CC_HOST 0x20   /* Host reg-name bytes we accept: unreserved (ALPHA DIGIT -._~) */

/* Generated from the definitions above; tests/unit/gateway/http1_test.c checks every class
 * byte by byte through the parsers. */
static const unsigned char cc[256] = {
    /* 00 */ 0,  0,  0,  0,  0,  0,  0,  0,  0,  20, 0,  0,  0,  0,  0,  0,
    /* 10 */ 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
    /* 20 */ 20, 23, 6,  23, 23, 23, 23, 23, 22, 22, 23, 23, 22, 55, 55, 22,
    /* 30 */ 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 22, 22, 22, 22, 22, 22,
    /* 40 */ 22, 63, 63, 63, 63, 63, 63, 55, 55, 55, 55, 55, 55, 55, 55, 55,
    /* 50 */ 55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 22, 6,  22, 23, 55,
    /* 60 */ 23, 63, 63, 63, 63, 63, 63, 55, 55, 55, 55, 55, 55, 55, 55, 55,
    /* 70 */ 55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 22, 23, 22, 55, 0,
    /* 80 */ 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20,
    /* 90 */ 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20,
    /* A0 */ 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20,
    /* B0 */ 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20,
    /* C0 */ 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20,
    /* D0 */ 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20,
    /* E0 */ 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20,
    /* F0 */ 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20,
};

/* Case-insensitive equality of <a> with the lower-case literal <lit> of length <n>. */
static bool ieq(struct ag_str a, const char *lit, size_t n)
{
    if (a.len != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (ag_ascii_lower((unsigned char)a.p[i]) != (unsigned char)lit[i])
            return false;
    return true;
}

#define IEQ(a, lit) ieq((a), (lit), sizeof(lit) - 1)

/* Case-insensitive equality of two slices. */
static bool ieq_str(struct ag_str a, struct ag_str b)
{
    if (a.len != b.len)
        return false;
    for (size_t i = 0; i < a.len; i++)
        if (ag_ascii_lower((unsigned char)a.p[i]) != ag_ascii_lower((unsigned char)b.p[i]))
            return false;
    return true;
}

/*
 * Takes the next element of the comma-separated list in <rest> into <el>, OWS trimmed
 * (an element may be empty: "a,,b" gives "a", "", "b"). Returns false when <rest> is
 * used up; an empty <rest> with a non-NULL pointer yields one empty element.
 */
static bool list_next(struct ag_str *rest, struct ag_str *el)
{
    const char *p = rest->p, *e, *comma;

    if (p == NULL)
        return false;
    e = p + rest->len;
    comma = rest->len ? memchr(p, ',', rest->len) : NULL;
    if (comma != NULL) {
        rest->p = comma + 1;
        rest->len = (size_t)(e - comma - 1);
        e = comma;
    } else {
        rest->p = NULL;
        rest->len = 0;
    }
    while (p < e && (*p == ' ' || *p == '\t'))
        p++;
    while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    el->p = p;
    el->len = (size_t)(e - p);
    return true;
}

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
 * "token SP target SP HTTP/1.x CRLF" (RFC 9112 s.3). A leading CRLF is refused rather
 * than skipped (s.2.2 allows either): a client that sends one is already odd, and
 * refusing keeps "the head starts at byte 0" true for the caller.
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
        if (nend - name == 10 && ieq(h->hdrs[h->nhdrs].name, "connection", 10))
            h->n_connection++;
        h->nhdrs++;
    }
}

/* ------------------------------------------------------------------------ */
/* Second opinion: libhttp-parser over the same head bytes                  */
/* ------------------------------------------------------------------------ */

/* Stops libhttp-parser at the end of the head so it never looks at body bytes. */
static int on_headers_complete(struct http_parser *hp)
{
    http_parser_pause(hp, 1);
    return 0;
}

static const struct http_parser_settings hp_settings = {
    .on_headers_complete = on_headers_complete,
};

#define HP_REJECT(n, s) "rejected by http-parser: HPE_" #n,
static const char *const hp_reject[] = {HTTP_ERRNO_MAP(HP_REJECT)};
#undef HP_REJECT

/*
 * Runs libhttp-parser over the complete head <buf,n> that our scan accepted. Both must
 * accept: it must stop paused at the end of the head, on the same version (and status).
 * Its compile-time head limit (HTTP_MAX_HEADER_SIZE, 80 KiB in Debian's build) turns into
 * AG_ETOOBIG. Returns <n> or a negative AG_E* with <h>->error set.
 */
static int second_opinion(const char *buf, size_t n, enum http_parser_type type,
                          struct ag_http1_head *h)
{
    struct http_parser hp;
    enum http_errno e;

    http_parser_init(&hp, type);
    http_parser_execute(&hp, &hp_settings, buf, n);
    e = HTTP_PARSER_ERRNO(&hp);
    if (e == HPE_PAUSED) {
        if (hp.http_major != 1 || hp.http_minor != (unsigned)h->minor ||
            (type == HTTP_RESPONSE && hp.status_code != (unsigned)h->status))
            return head_fail(h, AG_EPARSE, "http-parser disagrees on the start line");
        return (int)n;
    }
    if (e == HPE_HEADER_OVERFLOW)
        return head_fail(h, AG_ETOOBIG, hp_reject[e]);
    if (e == HPE_OK)
        return head_fail(h, AG_EPARSE, "http-parser did not see the end of the head");
    if ((size_t)e < sizeof(hp_reject) / sizeof(hp_reject[0]))
        return head_fail(h, AG_EPARSE, hp_reject[e]);
    return head_fail(h, AG_EPARSE, "rejected by http-parser");
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
    h->error = NULL;
}

/*
 * Common driver: scans at most <max_head> bytes of <buf,len> with the start-line scanner
 * for <type> and the field scanner, then asks libhttp-parser. Heads are capped at INT_MAX bytes so the
 * length fits the return value.
 */
static int parse_head(const char *buf, size_t len, size_t max_head, struct ag_http1_head *h,
                      enum http_parser_type type)
{
    const unsigned char *p = (const unsigned char *)buf, *next = NULL, *end;
    int rc;

    head_reset(h);
    if (max_head > INT_MAX)
        max_head = INT_MAX;
    if (len == 0)
        return max_head == 0 ? head_fail(h, AG_ETOOBIG, "head too large") : AG_AGAIN;
    end = p + (len < max_head ? len : max_head);
    if (type == HTTP_REQUEST)
        rc = scan_request_line(p, end, h, &next);
    else
        rc = scan_status_line(p, end, h, &next);
    if (rc == SCAN_DONE)
        rc = scan_fields(next, end, h, &next);
    if (rc == SCAN_MORE)
        return len >= max_head ? head_fail(h, AG_ETOOBIG, "head too large") : AG_AGAIN;
    if (rc != SCAN_DONE)
        return rc;
    /*
     * libhttp-parser checks what clients send. Upstream responses are held to the
     * same strict scan and framing rules (SECURITY-BASELINE rule 9) without it: it
     * would cost ~0.45 us a response and refuses nothing the scan and
     * ag_http1_response_info() let through (measured over the fuzz corpus).
     */
    if (type == HTTP_RESPONSE)
        return (int)(next - p);
    return second_opinion(buf, (size_t)(next - p), type, h);
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
    return parse_head(buf, len, max_head, h, HTTP_REQUEST);
}

/*
 * Parses a response head "HTTP/1.x NNN [reason]" (status 100..999, reason possibly empty
 * or absent) with the same field rules and return values as ag_http1_parse_request();
 * the caller answers 502 on any error.
 */
int ag_http1_parse_response(const char *buf, size_t len, size_t max_head, struct ag_http1_head *h)
{
    return parse_head(buf, len, max_head, h, HTTP_RESPONSE);
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
    bool expect_100, expect_other;
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
static void scan_seen(const struct ag_http1_head *h, struct fields_seen *f)
{
    memset(f, 0, sizeof(*f));
    for (size_t i = 0; i < h->nhdrs; i++) {
        struct ag_str n = h->hdrs[i].name, v = h->hdrs[i].value;

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
                if (!parse_content_length(v, &f->cl))
                    f->cl_bad = true;
            }
            break;
        case 17:
            if (IEQ(n, "transfer-encoding"))
                seen_transfer_encoding(f, v);
            break;
        default:
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
static bool host_valid(struct ag_str v)
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

    rc = framing(&f, h->minor, info, 400, 501);
    if (rc != 0)
        return rc;

    /* RFC 9112 s.3.2: exactly one valid Host in 1.1; at most one valid one in 1.0. */
    if (f.n_host > 1)
        return info_fail(info, 400, "repeated Host");
    if (f.n_host == 0 && h->minor == 1)
        return info_fail(info, 400, "missing Host");
    if (f.n_host == 1 && !host_valid(f.host))
        return info_fail(info, 400, "invalid Host");
    if (f.n_host == 1)
        info->host = f.host;

    /*
     * RFC 6455 s.4.1: GET, HTTP/1.1, Upgrade: websocket, Connection: upgrade. A second
     * Upgrade field makes it malformed (CONTRACT.md section 9): two hops could each read
     * a different one, so it is never upgraded, like any other malformed handshake.
     */
    if (h->method.len == 3 && memcmp(h->method.p, "GET", 3) == 0 && h->minor == 1 &&
        f.upgrade_websocket && f.n_upgrade == 1 && f.conn_upgrade) {
        if (info->body == AG_BODY_CHUNKED || (info->body == AG_BODY_LENGTH && info->length > 0))
            return info_fail(info, 400, "WebSocket upgrade with a body");
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

/* ------------------------------------------------------------------------ */
/* Chunked decoder                                                          */
/* ------------------------------------------------------------------------ */

/* Size-line states come first and trailer states last: the line accounting relies on it. */
enum chunked_state {
    CK_SIZE_START = 0,  /* first hex digit of a chunk-size */
    CK_SIZE,            /* more hex digits, BWS, ';' or CR */
    CK_EXT_BWS,         /* BWS after the size or a value: more of it, or ';' */
    CK_EXT_START,       /* after ';': BWS or the first byte of an extension name */
    CK_EXT_NAME,        /* extension name */
    CK_EXT_NAME_BWS,    /* BWS after a name: more of it, '=' or ';' */
    CK_EXT_VALUE_START, /* after '=': BWS, token or quoted-string */
    CK_EXT_TOKEN,       /* token value */
    CK_EXT_QUOTED,      /* inside a quoted-string */
    CK_EXT_ESCAPE,      /* after '\' inside a quoted-string */
    CK_EXT_CLOSED,      /* after the closing '"' */
    CK_SIZE_LF,         /* LF ending the size line */
    CK_DATA_CR,         /* CR after the chunk data */
    CK_DATA_LF,         /* LF after the chunk data */
    CK_TRAILER_START,   /* start of a trailer line, or CR of the final empty line */
    CK_TRAILER_NAME,    /* trailer field name */
    CK_TRAILER_VALUE,   /* trailer field value */
    CK_TRAILER_LF,      /* LF ending a trailer line */
    CK_END_LF,          /* LF of the final empty line */
    CK_DONE,
    CK_ERROR,
};

/* Sets the defaults (max_line 4096, max_trailers 16384); change limits after this call. */
void ag_chunked_init(struct ag_chunked *c)
{
    memset(c, 0, sizeof(*c));
    c->state = CK_SIZE_START;
    c->max_line = 4096;
    c->max_trailers = 16384;
}

static int hexval(unsigned char ch)
{
    if (ch <= '9')
        return ch - '0';
    return ag_ascii_lower(ch) - 'a' + 10;
}

static inline bool is_bws(unsigned char ch)
{
    return ch == ' ' || ch == '\t';
}

/* The byte <ch> after a chunk size or an extension value: ';', CR, or BWS before a ';'. */
static bool chunked_after_item(struct ag_chunked *c, unsigned char ch)
{
    if (ch == ';')
        c->state = CK_EXT_START;
    else if (ch == '\r')
        c->state = CK_SIZE_LF;
    else if (is_bws(ch))
        c->state = CK_EXT_BWS;
    else
        return false;
    return true;
}

/*
 * Feeds one framing byte <ch> to <c>; returns false on a syntax error. Chunk sizes are
 * 1-16 hex digits within 2^63-1. Extensions follow RFC 9112 s.7.1.1 exactly:
 *   chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )
 * so whitespace may stand around ';' and '=' but never before CRLF ("5 \r\n" and
 * "5;a \r\n" are refused), and a ';' must be followed by a name.
 */
static bool chunked_step(struct ag_chunked *c, unsigned char ch)
{
    unsigned char k = cc[ch];

    switch ((enum chunked_state)c->state) {
    case CK_SIZE_START:
        if (!(k & CC_HEX))
            return false;
        c->size = (unsigned long long)hexval(ch);
        c->state = CK_SIZE;
        return true;
    case CK_SIZE:
        if (k & CC_HEX) {
            /* c->line counts this byte too; every earlier byte of the line is a digit */
            if (c->line > 16 || c->size > ((unsigned long long)INT64_MAX >> 4))
                return false;
            c->size = (c->size << 4) | (unsigned long long)hexval(ch);
            return true;
        }
        return chunked_after_item(c, ch);
    case CK_EXT_TOKEN:
        if (k & CC_TOKEN)
            return true;
        return chunked_after_item(c, ch);
    case CK_EXT_CLOSED:
        return chunked_after_item(c, ch);
    case CK_EXT_BWS:
        if (ch == ';')
            c->state = CK_EXT_START;
        else if (!is_bws(ch))
            return false;
        return true;
    case CK_EXT_START:
        if (k & CC_TOKEN)
            c->state = CK_EXT_NAME;
        else if (!is_bws(ch))
            return false;
        return true;
    case CK_EXT_NAME:
    case CK_EXT_NAME_BWS:
        if (c->state == CK_EXT_NAME && (k & CC_TOKEN))
            return true;
        if (ch == '=')
            c->state = CK_EXT_VALUE_START;
        else if (ch == ';')
            c->state = CK_EXT_START;
        else if (is_bws(ch))
            c->state = CK_EXT_NAME_BWS;
        else if (ch == '\r' && c->state == CK_EXT_NAME)
            c->state = CK_SIZE_LF;
        else
            return false;
        return true;
    case CK_EXT_VALUE_START:
        if (is_bws(ch))
            return true;
        if (ch == '"')
            c->state = CK_EXT_QUOTED;
        else if (k & CC_TOKEN)
            c->state = CK_EXT_TOKEN;
        else
            return false;
        return true;
    case CK_EXT_QUOTED:
        if (ch == '"')
            c->state = CK_EXT_CLOSED;
        else if (ch == '\\')
            c->state = CK_EXT_ESCAPE;
        else if (!(k & CC_QDTEXT))
            return false;
        return true;
    case CK_EXT_ESCAPE:
        if (!(k & CC_FVAL))
            return false;
        c->state = CK_EXT_QUOTED;
        return true;
    case CK_SIZE_LF:
        if (ch != '\n')
            return false;
        c->line = 0;
        if (c->size == 0) {
            c->state = CK_TRAILER_START;
        } else {
            c->remaining = c->size;
            c->size = 0;
            c->state = CK_DATA_CR;
        }
        return true;
    case CK_DATA_CR:
        if (ch != '\r')
            return false;
        c->state = CK_DATA_LF;
        return true;
    case CK_DATA_LF:
        if (ch != '\n')
            return false;
        c->state = CK_SIZE_START;
        return true;
    case CK_TRAILER_START:
        if (ch == '\r')
            c->state = CK_END_LF;
        else if (k & CC_TOKEN)
            c->state = CK_TRAILER_NAME;
        else
            return false; /* bare LF, obs-fold, empty name */
        return true;
    case CK_TRAILER_NAME:
        if (k & CC_TOKEN)
            return true;
        if (ch != ':')
            return false; /* includes whitespace before ':' */
        c->state = CK_TRAILER_VALUE;
        return true;
    case CK_TRAILER_VALUE:
        if (k & CC_FVAL)
            return true;
        if (ch != '\r')
            return false;
        c->state = CK_TRAILER_LF;
        return true;
    case CK_TRAILER_LF:
        if (ch != '\n')
            return false;
        c->state = CK_TRAILER_START;
        return true;
    case CK_END_LF:
        if (ch != '\n')
            return false;
        c->state = CK_DONE;
        c->done = true;
        return true;
    case CK_DONE:
    case CK_ERROR:
        break;
    }
    return false;
}

/*
 * Consumes framing bytes of <buf,len> (at most INT_MAX per call) and stops early when
 * data is due or the body is complete; returns the count (0 when called with data due
 * or after done) or AG_EPARSE, which is sticky until ag_chunked_init(). Byte-at-a-time
 * input gives the same result as one call with everything (tests check it).
 */
int ag_chunked_parse(struct ag_chunked *c, const char *buf, size_t len)
{
    const unsigned char *p = (const unsigned char *)buf;
    size_t i = 0;

    if (c->state == CK_ERROR)
        return AG_EPARSE;
    if (len > INT_MAX)
        len = INT_MAX;
    while (i < len && c->remaining == 0 && !c->done) {
        if (c->state <= CK_SIZE_LF) {
            if (++c->line > c->max_line)
                goto fail;
        } else if (c->state >= CK_TRAILER_START && c->state <= CK_END_LF) {
            if (++c->line > c->max_trailers)
                goto fail;
        }
        if (!chunked_step(c, p[i]))
            goto fail;
        i++;
    }
    return (int)i;
fail:
    c->state = CK_ERROR;
    return AG_EPARSE;
}

/* Records that the caller moved <n> data bytes; <n> beyond remaining is clamped. */
void ag_chunked_data(struct ag_chunked *c, unsigned long long n)
{
    c->remaining -= n < c->remaining ? n : c->remaining;
}

/* ------------------------------------------------------------------------ */
/* Header filters                                                           */
/* ------------------------------------------------------------------------ */

/* clang-format off */
#define STR_INIT(s) {(s), sizeof(s) - 1}
/* clang-format on */

/* RFC 9110 s.7.6.1 plus the framing and proxy fields the gateway rewrites itself. */
static const struct ag_str hop_names[] = {
    STR_INIT("connection"),
    STR_INIT("keep-alive"),
    STR_INIT("proxy-connection"),
    STR_INIT("te"),
    STR_INIT("trailer"),
    STR_INIT("transfer-encoding"),
    STR_INIT("upgrade"),
    STR_INIT("content-length"),
    STR_INIT("expect"),
    STR_INIT("proxy-authorization"),
    STR_INIT("proxy-authenticate"),
};

/*
 * Request fields the gateway owns or never passes on (CONTRACT.md section 6). A name
 * matches in any case and with any of '-', '_', '.' at each separator ("x_auth.Subject"
 * is X-Auth-Subject), since CGI/WSGI-style upstreams fold all three to one key: the
 * header-name rule of policy/base.h (ag_hdr_name_fold()). <fwd>
 * is what a field of the canonical spelling ('-' only, any case) becomes; every other
 * spelling is dropped, so a client cannot get one past a proxy that keeps the real one.
 */
static const struct owned_name {
    struct ag_str name; /* lower case, '-' separators */
    unsigned char fwd;  /* enum ag_http1_fwd for the canonical spelling */
    bool identity;      /* one of ag_http1_hdr_is_identity()'s names */
} owned_names[] = {
    /* framing: the gateway writes its own (SECURITY-BASELINE rule 4) */
    {STR_INIT("content-length"), AG_FWD_DROP, false},
    {STR_INIT("transfer-encoding"), AG_FWD_DROP, false},
    /* identity: the gateway sets them for a request that passed with a token */
    {STR_INIT("x-auth-subject"), AG_FWD_DROP, true},
    {STR_INIT("x-auth-client-id"), AG_FWD_DROP, true},
    {STR_INIT("x-auth-scopes"), AG_FWD_DROP, true},
    {STR_INIT("x-auth-roles"), AG_FWD_DROP, true},
    /* set by the gateway; Proto and Host taken from a trusted proxy */
    {STR_INIT("x-forwarded-for"), AG_FWD_XFF, true},
    {STR_INIT("x-forwarded-proto"), AG_FWD_PROTO, true},
    {STR_INIT("x-forwarded-host"), AG_FWD_HOST, true},
    /* the client's address, scheme or prefix: believed from a trusted proxy only */
    {STR_INIT("x-real-ip"), AG_FWD_REAL_IP, false},
    {STR_INIT("forwarded"), AG_FWD_FORWARDED, false},
    {STR_INIT("x-forwarded-port"), AG_FWD_PORT, false},
    {STR_INIT("x-forwarded-prefix"), AG_FWD_PREFIX, false},
    /* what some upstreams route or dispatch on instead of the request line, which is
     * what the policy judged: never forwarded, whoever sends them */
    {STR_INIT("x-original-url"), AG_FWD_DROP, false},
    {STR_INIT("x-rewrite-url"), AG_FWD_DROP, false},
    {STR_INIT("x-forwarded-uri"), AG_FWD_DROP, false},
    {STR_INIT("x-http-method-override"), AG_FWD_DROP, false},
    {STR_INIT("x-http-method"), AG_FWD_DROP, false},
    {STR_INIT("x-method-override"), AG_FWD_DROP, false},
    /* the request id: the gateway writes its own, or a trusted proxy's (gateway/core/req.c) */
    {STR_INIT("x-request-id"), AG_FWD_DROP, false},
    /* the scheme in the spellings some frameworks read beside X-Forwarded-Proto: the
     * gateway's X-Forwarded-Proto is the one answer the upstream gets */
    {STR_INIT("x-forwarded-scheme"), AG_FWD_DROP, false},
    {STR_INIT("x-forwarded-ssl"), AG_FWD_DROP, false},
    {STR_INIT("front-end-https"), AG_FWD_DROP, false},
};


/* Lengths of the owned names, one bit each: 9, 12-18 and 22. */
#define OWNED_LENS ((1u << 9) | (0x7fu << 12) | (1u << 22))

/*
 * The entry of owned_names <name> matches (see above), or NULL; *<canonical> tells
 * whether it is spelled with '-' only. This runs for every field of every request, so
 * a length no owned name has, or a first letter other than c, f, t, x, ends it at once:
 * of a browser's usual fields only Cache-Control and X-Forwarded-For reach the loop.
 */
static const struct owned_name *owned_lookup(struct ag_str name, bool *canonical)
{
    unsigned char first;

    if (name.len > 22 || !((OWNED_LENS >> name.len) & 1u))
        return NULL;
    first = ag_ascii_lower((unsigned char)name.p[0]);
    if (first != 'x' && first != 'c' && first != 't' && first != 'f')
        return NULL;
    for (size_t i = 0; i < sizeof(owned_names) / sizeof(owned_names[0]); i++) {
        const struct owned_name *o = &owned_names[i];
        bool exact = true;
        size_t j = 0;

        if (name.len != o->name.len)
            continue;
        for (; j < name.len; j++) {
            unsigned char ch = (unsigned char)name.p[j];

            if (ag_hdr_name_fold(ch) != (unsigned char)o->name.p[j])
                break;
            exact &= ag_ascii_lower(ch) == (unsigned char)o->name.p[j];
        }
        if (j == name.len) {
            *canonical = exact;
            return o;
        }
    }
    return NULL;
}

/*
 * Whether <name> is hop-by-hop (see http1.h): the fixed list, or a token of any
 * Connection field of <h> (NULL <h>: the fixed list only). A Connection token never
 * names Host or a field the gateway owns (owned_names): those reach the upstream as the
 * gateway decides (CONTRACT.md section 6), whatever Connection says. Meant for the
 * client's own fields, before the gateway adds its own. Cost: O(fields) per call.
 */
bool ag_http1_hdr_is_hop(const struct ag_http1_head *h, struct ag_str name)
{
    bool canonical;

    for (size_t i = 0; i < sizeof(hop_names) / sizeof(hop_names[0]); i++)
        if (ieq(name, hop_names[i].p, hop_names[i].len))
            return true;
    if (h == NULL || h->n_connection == 0)
        return false;
    for (size_t i = 0; i < h->nhdrs; i++) {
        struct ag_str rest, el;

        if (!IEQ(h->hdrs[i].name, "connection"))
            continue;
        rest = h->hdrs[i].value;
        while (list_next(&rest, &el))
            if (el.len > 0 && ieq_str(el, name))
                return !IEQ(name, "host") && owned_lookup(name, &canonical) == NULL;
    }
    return false;
}

/*
 * What becomes of a client's request field named <name> (see http1.h): AG_FWD_PASS
 * for a name the gateway does not own; for an owned one, its class when spelled
 * canonically, AG_FWD_DROP for any other spelling.
 */
enum ag_http1_fwd ag_http1_hdr_fwd(struct ag_str name)
{
    bool canonical = false;
    const struct owned_name *o = owned_lookup(name, &canonical);

    if (o == NULL)
        return AG_FWD_PASS;
    return canonical ? (enum ag_http1_fwd)o->fwd : AG_FWD_DROP;
}

/*
 * Whether <name> is an identity header the gateway owns, in any case and with any of
 * '-', '_', '.' at each separator ("x_auth.Subject" matches), so a client cannot slip a
 * spelling past the filter that an upstream framework would normalise to the same key.
 */
bool ag_http1_hdr_is_identity(struct ag_str name)
{
    bool canonical;
    const struct owned_name *o = owned_lookup(name, &canonical);

    return o != NULL && o->identity;
}

/*
 * Whether <v> is a value the gateway keeps for the field class <fwd> from a trusted
 * proxy: X-Forwarded-Proto "http" or "https" (any case); X-Forwarded-Host a valid
 * uri-host[:port] as Host; X-Real-IP one IPv4 or IPv6 address; X-Forwarded-Port
 * 1..65535; X-Forwarded-Prefix a path ("/" then visible ASCII); Forwarded not empty
 * (its grammar is the proxy's business). False for any other class. A list (two hops
 * in one field) is refused by every check but Forwarded's.
 */
bool ag_http1_fwd_value_ok(enum ag_http1_fwd fwd, struct ag_str v)
{
    char tmp[INET6_ADDRSTRLEN];
    unsigned char addr[sizeof(struct in6_addr)];
    unsigned long port = 0;

    switch (fwd) {
    case AG_FWD_PROTO:
        return IEQ(v, "http") || IEQ(v, "https");
    case AG_FWD_HOST:
        return host_valid(v);
    case AG_FWD_REAL_IP:
        if (v.len == 0 || v.len >= sizeof(tmp))
            return false;
        memcpy(tmp, v.p, v.len);
        tmp[v.len] = '\0';
        return inet_pton(memchr(v.p, ':', v.len) ? AF_INET6 : AF_INET, tmp, addr) == 1;
    case AG_FWD_PORT:
        if (v.len == 0 || v.len > 5)
            return false;
        for (size_t i = 0; i < v.len; i++) {
            if (v.p[i] < '0' || v.p[i] > '9')
                return false;
            port = port * 10 + (unsigned long)(v.p[i] - '0');
        }
        return port >= 1 && port <= 65535;
    case AG_FWD_PREFIX:
        if (v.len == 0 || v.p[0] != '/')
            return false;
        for (size_t i = 0; i < v.len; i++)
            if (!(cc[(unsigned char)v.p[i]] & CC_VCHAR))
                return false;
        return true;
    case AG_FWD_FORWARDED:
        return v.len > 0;
    case AG_FWD_DROP:
    case AG_FWD_PASS:
    case AG_FWD_XFF:
        break;
    }
    return false;
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
