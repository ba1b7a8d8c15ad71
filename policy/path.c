/*
 * policy/path.c - request-target classification and the one path canonicaliser whose
 * output is both matched by the rules and forwarded upstream.
 *
 * Owns:     nothing; results are slices of the input or bytes in the caller's buffer.
 * Entry:    ag_path_split_target(), ag_path_normalize(), ag_path_status_str().
 * Not here: Host comparison (gateway/core/conn.c), prefix matching and case folding
 *           (policy/rules.c).
 * Spec:     CONTRACT.md s.4; SECURITY-BASELINE.md "Path canonicalization";
 *           RFC 3986 s.2.3, s.3.2, s.5.2.4; RFC 9112 s.3.2; RFC 3629 s.4.
 */
#include "path.h"

#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * Character classes
 * ------------------------------------------------------------------------------------------- */

/* Returns the byte encoded by "%XX" at <s>[<i>], or -1 if <s>[<i>] is not '%' followed by two
 * hex digits inside <len>. */
static int path_escape_at(const char *s, size_t len, size_t i)
{
    int hi, lo;

    if (i + 2 >= len || s[i] != '%')
        return -1;
    hi = ag_hex_digit((unsigned char)s[i + 1]);
    lo = ag_hex_digit((unsigned char)s[i + 2]);
    if (hi < 0 || lo < 0)
        return -1;
    return hi << 4 | lo;
}

/* RFC 3986 s.2.3 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~". */
static int path_is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

/* RFC 3986 s.3.2 authority bytes (userinfo excluded: '@' is refused by the caller):
 * unreserved, sub-delims, ':', '[' ']' (IP-literal) and '%' (pct-encoded reg-name). */
static int path_is_authority_char(unsigned char c)
{
    static const char extra[] = "!$&'()*+,;=:[]%";

    return path_is_unreserved(c) || memchr(extra, c, sizeof(extra) - 1) != NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Request-target forms
 * ------------------------------------------------------------------------------------------- */

/*
 * Classifies <target> (RFC 9112 s.3.2), never reading past <target>.len:
 *  - origin-form "/...": *<form> = AG_TARGET_ORIGIN, <rest> = the whole target,
 *    <authority> = {NULL, 0}.
 *  - absolute-form "http://" or "https://" (scheme in any case): *<form> = AG_TARGET_ABSOLUTE,
 *    <authority> = the bytes after "//" up to the first '/', '?' or the end; it must be
 *    non-empty, contain no '@' (userinfo) and only RFC 3986 authority bytes. <rest> starts at
 *    that first '/' or '?' and runs to the end, so it is one of: "/path[?query]", "?query"
 *    (no path: the caller prepends "/"), or empty ({end of target, 0}: the caller uses "/").
 *    The authority is NOT compared with Host here; the caller does that (AG_PATH_AUTHORITY).
 *  - asterisk-form, exactly "*": *<form> = AG_TARGET_ASTERISK, both slices {NULL, 0}.
 * Anything else (empty, authority-form "host:port", "foo", "*x", another scheme) returns
 * AG_PATH_BAD_FORM. Outputs are written only when AG_PATH_OK is returned; they borrow
 * <target>'s bytes. All pointer arguments must be non-NULL.
 */
enum ag_path_status ag_path_split_target(struct ag_str target, enum ag_target_form *form,
                                         struct ag_str *authority, struct ag_str *rest)
{
    static const struct ag_str none = {NULL, 0};
    size_t skip, end;

    if (target.len == 0)
        return AG_PATH_BAD_FORM;
    if (target.p[0] == '/') {
        *form = AG_TARGET_ORIGIN;
        *authority = none;
        *rest = target;
        return AG_PATH_OK;
    }
    if (target.len == 1 && target.p[0] == '*') {
        *form = AG_TARGET_ASTERISK;
        *authority = none;
        *rest = none;
        return AG_PATH_OK;
    }

    if (target.len >= 7 && ag_str_ieq((struct ag_str){target.p, 7}, "http://"))
        skip = 7;
    else if (target.len >= 8 && ag_str_ieq((struct ag_str){target.p, 8}, "https://"))
        skip = 8;
    else
        return AG_PATH_BAD_FORM;

    for (end = skip; end < target.len; end++) {
        unsigned char c = (unsigned char)target.p[end];

        if (c == '/' || c == '?')
            break;
        /* '@' would make "http://good@evil/" name a host other than the one we compare. */
        if (c == '@' || !path_is_authority_char(c))
            return AG_PATH_BAD_FORM;
    }
    if (end == skip)
        return AG_PATH_BAD_FORM;

    *form = AG_TARGET_ABSOLUTE;
    authority->p = target.p + skip;
    authority->len = end - skip;
    rest->p = target.p + end;
    rest->len = target.len - end;
    return AG_PATH_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Normalisation
 *
 * One left-to-right pass over the path. Each segment is decoded straight into <out> just past
 * the canonical prefix built so far ("/s1/s2", no trailing slash), then dropped ("" and "."),
 * used to pop the last segment (".."), or kept. A segment that does not fit in <cap> is only
 * counted (<over>), so that "/<long>/.." still fits a small buffer: the output is refused as
 * too long only if the final result does not fit. Everything the per-segment checks need
 * (first two bytes, last five bytes, length) is tracked on the side, never read back from <out>.
 * ------------------------------------------------------------------------------------------- */

struct path_norm {
    char *out;
    size_t cap;
    size_t olen;    /* bytes of the canonical prefix held in out */
    size_t over;    /* kept segments that did not fit and sit (virtually) past olen */
    unsigned flags; /* AG_PATH_F_* */
    int trailing;   /* the last segment seen was "", "." or "..": end with '/' */
    /* current segment, as emitted (decoded unreserved bytes, kept escapes upper-cased) */
    size_t seglen;
    char c0, c1;  /* first two bytes */
    char tail[5]; /* last five bytes, tail[4] is the newest */
    int semi;     /* a ';' (raw or %3B) was seen */
};

static void norm_seg_begin(struct path_norm *n)
{
    n->seglen = 0;
    n->c0 = n->c1 = 0;
    memset(n->tail, 0, sizeof(n->tail));
    n->semi = 0;
}

static int norm_seg_is_dot(const struct path_norm *n)
{
    return n->seglen == 1 && n->c0 == '.';
}

static int norm_seg_is_dotdot(const struct path_norm *n)
{
    return n->seglen == 2 && n->c0 == '.' && n->c1 == '.';
}

/* Whether the segment so far ends in '.' or in an encoded SP ("%20"). Windows and some
 * servers strip those, so "/access./x" would reach "/access/x" while matching as something else. */
static int norm_seg_ends_badly(const struct path_norm *n)
{
    if (n->seglen >= 1 && n->tail[4] == '.')
        return 1;
    return n->seglen >= 3 && n->tail[2] == '%' && n->tail[3] == '2' && n->tail[4] == '0';
}

/* Appends one output byte <c> to the current segment; writes it only if it fits. */
static void norm_put(struct path_norm *n, char c)
{
    size_t at = n->olen + 1 + n->seglen;

    if (n->over == 0 && at < n->cap)
        n->out[at] = c;
    if (n->seglen == 0)
        n->c0 = c;
    else if (n->seglen == 1)
        n->c1 = c;
    memmove(n->tail, n->tail + 1, sizeof(n->tail) - 1);
    n->tail[4] = c;
    n->seglen++;
}

/*
 * Called after each emitted character or escape: refuses "%25" followed by two hex digits
 * in the emitted segment, a double encoding of anything. SECURITY-BASELINE step 4 names
 * only %25(2e|2f|5c), but an upstream that decodes twice turns "/%2561dmin" into "/admin"
 * after "/%2561dmin" was matched, so every such escape is refused (a file name holding a
 * '%' before two hex digits is rare; a 400 costs it less). Checking what is emitted rather
 * than what was received also catches "%25%32%65", which would otherwise come out as
 * "%252e". Every '%' in the output begins a kept escape, so the window cannot be misaligned.
 */
static enum ag_path_status norm_check_double(const struct path_norm *n)
{
    const char *t = n->tail;

    if (n->seglen < 5 || t[0] != '%' || t[1] != '2' || t[2] != '5')
        return AG_PATH_OK;
    if (ag_hex_digit((unsigned char)t[3]) >= 0 && ag_hex_digit((unsigned char)t[4]) >= 0)
        return AG_PATH_DOUBLE_ENCODED;
    return AG_PATH_OK;
}

static enum ag_path_status norm_emit_char(struct path_norm *n, char c)
{
    norm_put(n, c);
    return norm_check_double(n);
}

static enum ag_path_status norm_emit_escape(struct path_norm *n, int v)
{
    static const char hex[] = "0123456789ABCDEF";

    norm_put(n, '%');
    norm_put(n, hex[(v >> 4) & 0xf]);
    norm_put(n, hex[v & 0xf]);
    return norm_check_double(n);
}

/*
 * A ';' (raw or %3B) in the current segment. Refused unless AG_PATH_F_ALLOW_SEMICOLON. When
 * allowed, the segment's name (the part before its first ';') must still be a plain, non-empty
 * name: servers that strip path parameters (Tomcat, Spring) turn "/public/..;x/admin" into
 * "/admin" and "/;x/admin" into "/admin", and would strip "access.;x" to a dot-ending name.
 */
static enum ag_path_status norm_semicolon(struct path_norm *n)
{
    if (!(n->flags & AG_PATH_F_ALLOW_SEMICOLON))
        return AG_PATH_SEMICOLON;
    if (n->semi)
        return AG_PATH_OK;
    if (n->seglen == 0 || norm_seg_is_dot(n) || norm_seg_is_dotdot(n))
        return AG_PATH_SEMICOLON;
    if (norm_seg_ends_badly(n))
        return AG_PATH_DOT_END;
    n->semi = 1;
    return AG_PATH_OK;
}

/*
 * The escape with value <lead> (>= 0x80) at <path>[*<i>] starts a UTF-8 sequence that must be
 * made entirely of escapes and be shortest-form, not a surrogate, and <= U+10FFFF (RFC 3629 s.4
 * table). Valid sequences are kept encoded, upper-cased; *<i> moves past them.
 */
static enum ag_path_status norm_utf8(struct path_norm *n, const char *path, size_t plen, size_t *i,
                                     int lead)
{
    int need, lo = 0x80, hi = 0xBF, k, b;
    enum ag_path_status st;

    if (lead >= 0xC2 && lead <= 0xDF) {
        need = 1;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        need = 2;
        if (lead == 0xE0)
            lo = 0xA0; /* overlong */
        else if (lead == 0xED)
            hi = 0x9F; /* UTF-16 surrogates */
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        need = 3;
        if (lead == 0xF0)
            lo = 0x90; /* overlong */
        else if (lead == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else {
        return AG_PATH_BAD_UTF8; /* stray continuation, C0/C1 overlong, F5-FF */
    }

    for (k = 1; k <= need; k++) {
        size_t at = *i + 3 * (size_t)k;

        if (at >= plen || path[at] != '%')
            return AG_PATH_BAD_UTF8;
        b = path_escape_at(path, plen, at);
        if (b < 0)
            return AG_PATH_BAD_ESCAPE;
        if (b < lo || b > hi)
            return AG_PATH_BAD_UTF8;
        lo = 0x80;
        hi = 0xBF;
    }
    for (k = 0; k <= need; k++) {
        st = norm_emit_escape(n, path_escape_at(path, plen, *i + 3 * (size_t)k));
        if (st != AG_PATH_OK)
            return st;
    }
    *i += 3 * (size_t)(need + 1);
    return AG_PATH_OK;
}

/* The '%' at <path>[*<i>]: decodes unreserved bytes, refuses the dangerous ones, keeps the
 * rest upper-cased (SECURITY-BASELINE step 4). Advances *<i> past what it consumed. */
static enum ag_path_status norm_escape(struct path_norm *n, const char *path, size_t plen,
                                       size_t *i)
{
    enum ag_path_status st;
    int v = path_escape_at(path, plen, *i);

    if (v < 0)
        return AG_PATH_BAD_ESCAPE;
    if (v >= 0x80)
        return norm_utf8(n, path, plen, i, v);
    if (v == '/')
        return AG_PATH_ENCODED_SLASH;
    if (v == '\\')
        return AG_PATH_BACKSLASH;
    if (v < 0x20 || v == 0x7F)
        return AG_PATH_ENCODED_CTL;
    if (v == ';' && (st = norm_semicolon(n)) != AG_PATH_OK)
        return st;

    *i += 3;
    if (path_is_unreserved((unsigned char)v))
        return norm_emit_char(n, (char)v);
    return norm_emit_escape(n, v);
}

/* A raw byte <c> other than '/' and '%' (SECURITY-BASELINE step 3, HAProxy's rule set). */
static enum ag_path_status norm_raw(struct path_norm *n, unsigned char c)
{
    static const char not_in_uri[] = " \"<>^`{|}";
    enum ag_path_status st;

    if (c < 0x20 || c >= 0x7F || memchr(not_in_uri, c, sizeof(not_in_uri) - 1) != NULL)
        return AG_PATH_BAD_CHAR;
    switch (c) {
    case '\\':
        return AG_PATH_BACKSLASH;
    case '#':
        return AG_PATH_FRAGMENT;
    case ';':
        if ((st = norm_semicolon(n)) != AG_PATH_OK)
            return st;
        break;
    default:
        break;
    }
    return norm_emit_char(n, (char)c);
}

/* Ends the current segment: drops "" and ".", pops on ".." (RFC 3986 s.5.2.4, but refusing to
 * climb above "/" instead of clamping), refuses dot/SP endings, otherwise keeps it. */
static enum ag_path_status norm_seg_end(struct path_norm *n)
{
    size_t need;

    n->trailing = 1;
    if (n->seglen == 0 || (!n->semi && norm_seg_is_dot(n)))
        return AG_PATH_OK;
    if (!n->semi && norm_seg_is_dotdot(n)) {
        if (n->over > 0) {
            n->over--;
        } else {
            if (n->olen == 0)
                return AG_PATH_ABOVE_ROOT;
            /* Kept segments never contain '/' (%2F is refused), so the last one starts here. */
            while (n->out[--n->olen] != '/')
                ;
        }
        return AG_PATH_OK;
    }
    if (norm_seg_ends_badly(n))
        return AG_PATH_DOT_END;

    n->trailing = 0;
    need = 1 + n->seglen;
    if (n->over == 0 && need <= n->cap - n->olen) {
        n->out[n->olen] = '/';
        n->olen += need;
    } else {
        n->over++;
    }
    return AG_PATH_OK;
}

/*
 * Canonicalises the origin-form path-and-query <in> into <out> (capacity <cap>).
 * <in> must start with '/' (else AG_PATH_BAD_FORM). The path ends at the first '?'; the query
 * after it is returned in <query> as a slice of <in>, byte for byte and unchecked:
 * {NULL, 0} when there is no '?', {non-NULL, 0} for a trailing '?'.
 * The path is refused, with the first reason met scanning left to right, for: raw CTL, SP,
 * DEL, '"' '<' '>' '^' '`' '{' '|' '}' or bytes >= 0x80 (BAD_CHAR); '\' or %5C (BACKSLASH);
 * '#' (FRAGMENT); '%' without two hex digits (BAD_ESCAPE); %2F (ENCODED_SLASH); %00-%1F, %7F
 * (ENCODED_CTL); "%25" followed by two hex digits, also when those come from escapes
 * (DOUBLE_ENCODED); %80-%FF not forming shortest-form UTF-8 of escapes only (BAD_UTF8); ';'
 * or %3B (SEMICOLON, unless <flags> has AG_PATH_F_ALLOW_SEMICOLON, see norm_semicolon()); a
 * ".." with nothing to pop (ABOVE_ROOT); a segment other than "." and ".." ending in '.' or
 * "%20" after decoding (DOT_END); a result longer than <cap> (TOO_LONG).
 * Output: unreserved escapes decoded, other escapes kept with upper-case hex, runs of '/'
 * merged, dot-segments removed; a final "", "." or ".." segment leaves a trailing '/'. Letter
 * case is preserved. The result is never longer than the path part of <in>, so <cap> =
 * <in>.len always suffices, and normalising a result again returns it unchanged.
 * On AG_PATH_OK only, *<out_len> and *<query> are set; no NUL is written, and bytes of <out>
 * past the result (or all of it on refusal) are unspecified. <out_len> and <query> must be
 * non-NULL; <out> may be NULL only when <cap> is 0.
 */
enum ag_path_status ag_path_normalize(struct ag_str in, unsigned flags, char *out, size_t cap,
                                      size_t *out_len, struct ag_str *query)
{
    struct path_norm n;
    enum ag_path_status st = AG_PATH_REJECT;
    const char *qmark;
    size_t plen, i;

    if (in.len == 0 || in.p[0] != '/')
        return AG_PATH_BAD_FORM;
    qmark = memchr(in.p, '?', in.len);
    plen = qmark != NULL ? (size_t)(qmark - in.p) : in.len;

    memset(&n, 0, sizeof(n));
    n.out = out;
    n.cap = cap;
    n.flags = flags;
    norm_seg_begin(&n);

    for (i = 1; i < plen;) {
        unsigned char c = (unsigned char)in.p[i];

        if (c == '/') {
            st = norm_seg_end(&n);
            norm_seg_begin(&n);
            i++;
        } else if (c == '%') {
            st = norm_escape(&n, in.p, plen, &i);
        } else {
            st = norm_raw(&n, c);
            i++;
        }
        if (st != AG_PATH_OK)
            return st;
    }
    st = norm_seg_end(&n);
    if (st != AG_PATH_OK)
        return st;

    if (n.over > 0)
        return AG_PATH_TOO_LONG;
    if (n.olen == 0 || n.trailing) {
        /* "/" alone, or the trailing slash of ".../", ".../." and ".../.." */
        if (n.olen >= cap)
            return AG_PATH_TOO_LONG;
        out[n.olen++] = '/';
    }

    *out_len = n.olen;
    if (qmark != NULL) {
        query->p = qmark + 1;
        query->len = in.len - plen - 1;
    } else {
        query->p = NULL;
        query->len = 0;
    }
    return AG_PATH_OK;
}

/* Returns a static phrase for <st>; never NULL, and "unknown path status" for other values. */
const char *ag_path_status_str(enum ag_path_status st)
{
    switch (st) {
    case AG_PATH_REJECT:
        return "path rejected";
    case AG_PATH_OK:
        return "ok";
    case AG_PATH_BAD_FORM:
        return "bad request-target form";
    case AG_PATH_BAD_CHAR:
        return "invalid character in path";
    case AG_PATH_FRAGMENT:
        return "fragment in path";
    case AG_PATH_BAD_ESCAPE:
        return "invalid percent-escape";
    case AG_PATH_ENCODED_SLASH:
        return "encoded slash";
    case AG_PATH_BACKSLASH:
        return "backslash in path";
    case AG_PATH_ENCODED_CTL:
        return "encoded control character";
    case AG_PATH_DOUBLE_ENCODED:
        return "double-encoded character";
    case AG_PATH_BAD_UTF8:
        return "invalid UTF-8 escape";
    case AG_PATH_SEMICOLON:
        return "semicolon in path";
    case AG_PATH_ABOVE_ROOT:
        return "path climbs above root";
    case AG_PATH_DOT_END:
        return "segment ends in dot or space";
    case AG_PATH_TOO_LONG:
        return "path too long";
    case AG_PATH_AUTHORITY:
        return "authority does not match Host";
    }
    return "unknown path status";
}
