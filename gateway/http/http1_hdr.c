/*
 * gateway/http/http1_hdr.c - the request header filters: hop-by-hop names (RFC 9110
 * s.7.6.1 and Connection's list), the names the gateway owns (owned_names[]: framing,
 * identity, X-Forwarded-*, URL and method overrides) with their forwarding classes, and
 * the checks on a trusted proxy's values (forward-auth's method and target too).
 *
 * Owns:     nothing; names and values are slices of the caller's head.
 * Entry:    ag_http1_hdr_is_hop(), ag_http1_hdr_fwd(), ag_http1_hdr_is_identity(),
 *           ag_http1_fwd_value_ok(), ag_http1_fwd_method_ok(), ag_http1_fwd_target_ok().
 * Not here: building the upstream head (gateway/core/uphead.c), parsing (http1.c).
 * Spec:     RFC 9110 s.7.6.1, CONTRACT.md section 6, SECURITY-BASELINE.md rule 4.
 */
#include "http1_hdr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "http1_chars.h"

/* clang-format off */
#define STR_INIT(s) {(s), sizeof(s) - 1}
/* clang-format on */

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
 * The fixed hop-by-hop names (see http1_hdr.h): RFC 9110 s.7.6.1 plus the framing and proxy
 * fields the gateway rewrites itself. Runs for every field of every head in both
 * directions, so the length picks the one or two names to compare.
 */
static bool hop_fixed(struct ag_str n)
{
    switch (n.len) {
    case 2:
        return IEQ(n, "te");
    case 6:
        return IEQ(n, "expect");
    case 7:
        return IEQ(n, "trailer") || IEQ(n, "upgrade");
    case 10:
        return IEQ(n, "connection") || IEQ(n, "keep-alive");
    case 14:
        return IEQ(n, "content-length");
    case 16:
        return IEQ(n, "proxy-connection");
    case 17:
        return IEQ(n, "transfer-encoding");
    case 18:
        return IEQ(n, "proxy-authenticate");
    case 19:
        return IEQ(n, "proxy-authorization");
    default:
        return false;
    }
}

/*
 * Whether <name> is hop-by-hop (see http1_hdr.h): the fixed list, or a token of any
 * Connection field of <h> (NULL <h>: the fixed list only). A Connection token never
 * names Host or a field the gateway owns (owned_names): those reach the upstream as the
 * gateway decides (CONTRACT.md section 6), whatever Connection says. Meant for the
 * client's own fields, before the gateway adds its own. Cost: O(1) unless a
 * Connection token has the bits of <name>, then O(fields).
 */
bool ag_http1_hdr_is_hop(const struct ag_http1_head *h, struct ag_str name)
{
    bool canonical;

    if (hop_fixed(name))
        return true;
    /* the scanner's token bits settle nearly every name without reading Connection again */
    if (h == NULL || h->n_connection == 0 || !(h->conn_tokens & ag_http1_token_bit(name)))
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
 * What becomes of a client's request field named <name> (see http1_hdr.h): AG_FWD_PASS
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

/* The bytes of <v> all in class <cls> of cc[], and at least one. */
static bool all_in_class(struct ag_str v, unsigned char cls)
{
    if (v.len == 0)
        return false;
    for (size_t i = 0; i < v.len; i++)
        if (!(cc[(unsigned char)v.p[i]] & cls))
            return false;
    return true;
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
        return ag_http1_host_valid(v);
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
        return all_in_class(v, CC_VCHAR) && v.p[0] == '/';
    case AG_FWD_FORWARDED:
        return v.len > 0;
    case AG_FWD_DROP:
    case AG_FWD_PASS:
    case AG_FWD_XFF:
        break;
    }
    return false;
}

bool ag_http1_fwd_method_ok(struct ag_str v)
{
    if (v.len == 0)
        return false;
    for (size_t i = 0; i < v.len; i++)
        if (!((v.p[i] >= 'A' && v.p[i] <= 'Z') || v.p[i] == '-' || v.p[i] == '_'))
            return false;
    return true;
}

bool ag_http1_fwd_target_ok(struct ag_str v)
{
    return all_in_class(v, CC_VCHAR);
}
