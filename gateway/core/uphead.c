/*
 * gateway/core/uphead.c - the request head the upstream gets: the normalised target,
 * the client's end-to-end fields minus hop-by-hop, credentials and the identity names,
 * the X-Forwarded-* set, the configured headers and the identity of the token (with its
 * upstream assertion).
 *
 * Owns:     nothing; writes into req->up_head (kept for one retry).
 * Entry:    ag_uphead_build(); ag_uphead_identity() (also the forward-auth answer's).
 * Not here: sending it and the bodies (proxy.c), which fields are hop-by-hop or owned
 *           (gateway/http/http1.c), the identity itself (gateway/auth/authn.c), the
 *           assertion (upassert.c).
 * Spec:     RFC 9110 section 7.6.1; SECURITY-BASELINE.md rule 4; CONTRACT.md section 6;
 *           docs/request-lifecycle.md "Forwarding the request".
 */
#include "uphead.h"

#include <netinet/in.h>
#include <string.h>

#include <event2/buffer.h>

#include "authn.h"
#include "conn.h"
#include "cookie.h"
#include "hb.h"
#include "http1_hdr.h"
#include "req.h"
#include "upassert.h"
#include "userfields.h"
#include "worker_types.h"

/* Whether a header value can go upstream as is: no CTL (but HTAB), no DEL. */
static bool value_safe(struct ag_str v)
{
    for (size_t i = 0; i < v.len; i++) {
        unsigned char ch = (unsigned char)v.p[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return false;
    }
    return true;
}

/* Writes identity header <name> with <value> when it is non-empty and safe. */
static void hb_identity(struct hb *b, const char *name, struct ag_str value)
{
    if (value.len == 0 || !value_safe(value))
        return;
    hb_field(b, (struct ag_str){name, strlen(name)}, value);
}

/* The headers of custom user fields (identity-headers.fields): each value comes from
 * the access token's claim (policy/userfields.c), so no request waits on Redis. */
static void on_field_header(void *arg, const char *name, const char *value, size_t len)
{
    hb_identity(arg, name, (struct ag_str){value, len});
}

/* A bound of what the custom fields' headers add: names, separators, and the values,
 * which together are shorter than the token's payload. */
static size_t field_headers_size(const struct ag_config *cfg, const struct ag_authn *a)
{
    size_t n = 0;

    for (size_t i = 0; i < cfg->n_user_fields; i++)
        if (cfg->user_fields[i].header != NULL)
            n += strlen(cfg->user_fields[i].header) + 4;
    return n > 0 ? n + a->tok.len : 0;
}

size_t ag_uphead_identity_size(const struct ag_config *cfg, const struct ag_authn *a)
{
    const struct ag_identity_names *id = &cfg->identity;

    if (!a->identity)
        return 0;
    return strlen(id->subject) + strlen(id->client_id) + strlen(id->scopes) +
           strlen(id->roles) + a->sub.len + a->client_id.len + a->scopes.len + a->roles.len +
           16 + field_headers_size(cfg, a);
}

size_t ag_uphead_identity(const struct ag_config *cfg, const struct ag_authn *a, char *out)
{
    const struct ag_identity_names *id = &cfg->identity;
    struct hb b = {.p = out, .start = out};

    if (a->identity) {
        hb_identity(&b, id->subject, a->sub);
        hb_identity(&b, id->client_id, a->client_id);
        hb_identity(&b, id->scopes, a->scopes);
        hb_identity(&b, id->roles, a->roles);
        if (cfg->n_field_headers > 0 && a->tok.len > 0)
            (void)ag_ufields_headers(cfg, a->tok, on_field_header, &b);
    }
    return (size_t)(b.p - out);
}

/*
 * Whether client header <name> is one of <cfg>'s identity names (the defaults are
 * ag_http1_hdr_fwd()'s already; configured ones may differ).
 */
static bool is_identity_name(const struct ag_config *cfg, struct ag_str name)
{
    const struct ag_identity_names *id = &cfg->identity;

    if (ag_authn_name_eq(name, id->subject) || ag_authn_name_eq(name, id->client_id) ||
        ag_authn_name_eq(name, id->scopes) || ag_authn_name_eq(name, id->roles))
        return true;
    /* a custom field's header: stripped even when this token has no such claim */
    for (size_t i = 0; i < cfg->n_user_fields; i++)
        if (cfg->user_fields[i].header != NULL && ag_authn_name_eq(name, cfg->user_fields[i].header))
            return true;
    return false;
}

/*
 * Whether <name> is upstream-assertion's header: only the gateway's copy goes upstream.
 * A client's copy is always removed (CONTRACT.md section 12), the default name's too while
 * no assertion is configured: an upstream that verifies assertions never gets one the
 * gateway did not make, whatever the gateway's config is at the time.
 */
static bool is_assertion_name(const struct ag_config *cfg, struct ag_str name)
{
    return ag_authn_name_eq(name, cfg->upstream_assertion.kid != NULL
                                      ? cfg->upstream_assertion.header
                                      : "X-Auth-Assertion");
}

/*
 * Whether <name> is set by the `headers` map: the configured value replaces the client's,
 * in every spelling a CGI/WSGI upstream would fold to the same key (policy/base.h).
 */
static bool is_configured_header(const struct ag_config *cfg, struct ag_str name)
{
    for (size_t i = 0; i < cfg->n_headers; i++)
        if (ag_authn_name_eq(name, cfg->headers[i].name))
            return true;
    return false;
}

/*
 * Copies the client's Cookie value <v> without the gateway's credential cookies
 * (CONTRACT.md section 6: other cookies stay, however they are written: policy/cookie.c).
 */
static void hb_cookie(struct hb *b, struct ag_str v)
{
    static const char *const drop[] = {"access_token", "refresh_token"};
    char *start = b->p + 8;
    int n = ag_cookie_strip(v, drop, 2, start, v.len);

    if (n <= 0)
        return;
    memcpy(b->p, "Cookie: ", 8);
    b->p = start + n;
    hb_lit(b, "\r\n");
}

int ag_uphead_build(struct ag_req *req, const struct ag_http1_head *h,
                    const struct ag_http1_info *info, struct ag_str path, struct ag_str query,
                    const struct ag_authn *a)
{
    struct ag_gen *g = req->gen;
    const struct ag_config *cfg = g->cfg;
    const char *hostport = g->ups[req->up].hostport;
    char peer[INET6_ADDRSTRLEN];
    /* the listener's scheme, unless a trusted proxy in front says otherwise below */
    struct ag_str peer_s, proto = req->c->io.ssl ? AG_LIT("https") : AG_LIT("http");
    struct ag_str fwd_host = info->host;
    bool xff = false, trusted;
    size_t xff_first = 0; /* the first X-Forwarded-For field, when xff */
    /* a trusted proxy's fields of each class AG_FWD_PROTO..: how many, and the last */
    unsigned n_fwd[AG_FWD_N] = {0};
    const struct ag_http1_header *fwd[AG_FWD_N] = {NULL};
    struct ag_str assertion;
    struct hb b;
    size_t bound;

    if (ag_upassert_get(req->c->w, g, a, h->method, path, &assertion) < 0)
        return -1;
    ag_conn_peer_str(req->c, peer, sizeof(peer));
    peer_s = (struct ag_str){peer, strlen(peer)};
    bound = h->method.len + path.len + query.len + hb_fields_size(h) + info->host.len +
            strlen(hostport) + g->extra_headers_len + peer_s.len + req->id_len + 256 +
            ag_uphead_identity_size(cfg, a) +
            (assertion.len > 0 ? strlen(cfg->upstream_assertion.header) + assertion.len + 4 : 0);
    if (hb_begin(&b, req->up_head, bound) < 0)
        return -1;
    hb_str(&b, h->method);
    hb_lit(&b, " ");
    hb_str(&b, path);
    if (query.p != NULL) {
        hb_lit(&b, "?");
        hb_str(&b, query);
    }
    /* The request id: ours, or a trusted proxy's (conn.c); a client's own copy is one
     * of the owned names that the loop below drops. */
    hb_lit(&b, " HTTP/1.1\r\nX-Request-Id: ");
    hb_put(&b, req->id, req->id_len);
    hb_lit(&b, "\r\n");
    trusted = cfg->n_trusted_proxies > 0 &&
              ag_config_trusted_proxy(cfg, req->c->family, &req->c->peer);
    for (size_t i = 0; i < h->nhdrs; i++) {
        struct ag_str name = h->hdrs[i].name, value = h->hdrs[i].value;
        enum ag_http1_fwd k;

        if (ag_http1_hdr_is_hop(h, name))
            continue;
        k = ag_http1_hdr_fwd(name);
        if (k == AG_FWD_XFF) {
            /* Appended to, never trusted: written below as one line, after the others. */
            if (!xff)
                xff_first = i;
            xff = true;
            continue;
        }
        if (k != AG_FWD_PASS) {
            /* The gateway's own, or kept below from a trusted proxy (CONTRACT.md s.6),
             * unless the config sets a field of that name itself. */
            if (trusted && k != AG_FWD_DROP && !is_identity_name(cfg, name) &&
                !is_configured_header(cfg, name)) {
                n_fwd[k]++;
                fwd[k] = &h->hdrs[i];
            }
            continue;
        }
        if (is_identity_name(cfg, name) || is_configured_header(cfg, name) ||
            is_assertion_name(cfg, name))
            continue;
        /* An API key never goes upstream, whatever forward-credentials says (docs/api-keys.md). */
        if (ag_authn_name_eq(name, cfg->api_key_header))
            continue;
        /* The credentials stay here unless an option says otherwise (CONTRACT.md s.6). */
        if (!cfg->forward_credentials) {
            if (ag_authn_is_credential_header(name))
                continue;
            if (ag_str_ieq(name, "Cookie")) {
                hb_cookie(&b, value);
                continue;
            }
        }
        if (!cfg->forward_authorization && ag_str_ieq(name, "Authorization") &&
            ag_authn_bearer(value, NULL) != 0)
            continue;
        hb_field(&b, name, value);
    }
    b.p += ag_uphead_identity(cfg, a, b.p);
    if (assertion.len > 0)
        hb_field(&b, ag_str_c(cfg->upstream_assertion.header), assertion);
    hb_lit(&b, "X-Forwarded-For: ");
    for (size_t i = xff_first; xff && i < h->nhdrs; i++)
        if (ag_http1_hdr_fwd(h->hdrs[i].name) == AG_FWD_XFF &&
            !ag_http1_hdr_is_hop(h, h->hdrs[i].name)) {
            hb_str(&b, h->hdrs[i].value);
            hb_lit(&b, ", ");
        }
    hb_str(&b, peer_s);
    hb_lit(&b, "\r\n");
    /*
     * Behind a TLS terminator or another proxy in trusted-proxies, the scheme, host and
     * client address it saw are what the upstream needs: one valid value of each is
     * kept; anything else (absent, repeated, invalid, or not from a trusted proxy)
     * gives the gateway's own Proto and Host and drops the rest.
     */
    for (int k = AG_FWD_PROTO; k < AG_FWD_N; k++)
        if (n_fwd[k] != 1 || !ag_http1_fwd_value_ok((enum ag_http1_fwd)k, fwd[k]->value))
            fwd[k] = NULL;
    if (fwd[AG_FWD_PROTO] != NULL)
        proto = fwd[AG_FWD_PROTO]->value.len == 5 ? AG_LIT("https") : AG_LIT("http");
    if (fwd[AG_FWD_HOST] != NULL)
        fwd_host = fwd[AG_FWD_HOST]->value;
    hb_field(&b, AG_LIT("X-Forwarded-Proto"), proto);
    if (fwd_host.len > 0)
        hb_field(&b, AG_LIT("X-Forwarded-Host"), fwd_host);
    /* HTTP/1.0 without Host: an HTTP/1.1 upstream needs one. */
    if (info->host.len == 0)
        hb_field(&b, AG_LIT("Host"), (struct ag_str){hostport, strlen(hostport)});
    for (int k = AG_FWD_REAL_IP; k < AG_FWD_N; k++)
        if (fwd[k] != NULL)
            hb_field(&b, fwd[k]->name, fwd[k]->value);
    if (g->extra_headers_len)
        hb_put(&b, g->extra_headers, g->extra_headers_len);
    if (info->body == AG_BODY_LENGTH) {
        hb_lit(&b, "Content-Length: ");
        hb_ull(&b, info->length);
        hb_lit(&b, "\r\n");
    } else if (info->body == AG_BODY_CHUNKED) {
        hb_lit(&b, "Transfer-Encoding: chunked\r\n");
    }
    if (req->flags & AG_REQ_F_WEBSOCKET)
        hb_lit(&b, "Connection: upgrade\r\nUpgrade: websocket\r\n");
    hb_lit(&b, "\r\n");
    hb_end(&b, req->up_head);
    return 0;
}
