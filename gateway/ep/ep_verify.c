/*
 * gateway/ep/ep_verify.c - forward-auth: GET <auth-prefix>/verify answers an nginx
 * (auth_request), Traefik (ForwardAuth) or HAProxy in front of an application whether
 * the request it holds may pass: the request its X-Forwarded-Method and X-Forwarded-Uri
 * describe, with the credentials the verify request carries, judged by the proxy path's
 * own decision. 200 with the identity headers (and the upstream assertion of that
 * method and path when configured), or the refusal the gateway would send.
 *
 * Owns:     nothing.
 * Entry:    ag_ep_verify() (rows of gateway/ep/routes.c).
 * Not here: the decision (ag_access_decide(), gateway/core/access.c), normalising
 *           (policy/path.c), the identity lines (ag_uphead_identity(), gateway/core/uphead.c),
 *           the assertion (ag_upassert_get(), gateway/core/upassert.c),
 *           the refusal's bytes (ag_req_refuse(), gateway/core/req.c).
 * Spec:     CONTRACT.md section 11 (forward-auth); docs/forward-auth.md.
 */
#include "ep.h"

#include <stdio.h>
#include <string.h>

#include "access.h"
#include "config.h"
#include "conn.h"
#include "gen.h"
#include "http1_hdr.h"
#include "path.h"
#include "req.h"
#include "upassert.h"
#include "uphead.h"
#include "worker_types.h"

/*
 * The value of the field <name> of <ep>'s head in <*v>: true when it is there exactly
 * once. Two are refused, never one picked: the proxy sets it, and a second one came
 * from someone else.
 */
static bool verify_field(const struct ag_ep *ep, const char *name, struct ag_str *v)
{
    int n = 0;

    for (size_t i = 0; i < ep->nhdrs; i++)
        if (ag_str_ieq(ep->hdrs[i].name, name)) {
            *v = ep->hdrs[i].value;
            n++;
        }
    return n == 1;
}

/*
 * An API key's first use on this worker: its lookup is on its way (gateway/core/access.c
 * started it), so the request waits for it as a proxied one does (core/conn.c parks
 * those), then is judged again from the start; a lookup that failed leaves the key
 * uncached and that second judgement answers the 503.
 */
static void verify_wait_key(struct ag_ep *ep, struct ag_str id)
{
    memcpy(ep->key_wait, id.p, AG_APIKEY_ID_LEN);
    ep->key_wait[AG_APIKEY_ID_LEN] = '\0';
    ep->key_waited = true;
    ep->key_next = ep->w->key_eps;
    ep->w->key_eps = ep;
    ag_ep_await(ep, 0, ag_ep_verify);
}

void ag_ep_wake_key(struct ag_worker *w, struct ag_str id)
{
    struct ag_ep **pp = &w->key_eps, *ep;

    while ((ep = *pp) != NULL) {
        if (id.len != AG_APIKEY_ID_LEN || memcmp(ep->key_wait, id.p, AG_APIKEY_ID_LEN) != 0) {
            pp = &ep->key_next;
            continue;
        }
        *pp = ep->key_next;
        if (ag_ep_resume(ep))
            ep->next(ep);
    }
}

/*
 * The handler of GET and HEAD <auth-prefix>/verify. Only a peer in trusted-proxies is
 * answered (403 for anyone else: a 200 would vouch for whatever request the asker
 * describes). X-Forwarded-Uri must be an origin-form target ("/path?query") and is
 * normalised and refused exactly as a proxied request's target (400 with the same
 * phrase); the method must be a token. Then ag_access_decide() on that method and path
 * with the fields of the verify request: 200 with the identity header lines (and the
 * upstream assertion of that method and normalised path, without the query) and an
 * empty body, or ag_req_refuse()'s 401/403 (503 when the revocations never loaded).
 */
void ag_ep_verify(struct ag_ep *ep)
{
    struct ag_req *req = ep->req;
    const struct ag_gen *g = req->gen;
    const struct ag_config *cfg = g->cfg;
    struct ag_str method, uri, query, assertion;
    struct ag_http1_head h = {0};
    struct ag_rules_verdict v;
    struct ag_authn a;
    enum ag_path_status st;
    size_t n = 0, len, cap;
    char *path, *extra;

    if (cfg->n_trusted_proxies == 0 ||
        !ag_config_trusted_proxy(cfg, req->c->family, &req->c->peer)) {
        ag_ep_reply_error(ep, 403, "forward-auth answers trusted-proxies only", NULL);
        return;
    }
    if (!verify_field(ep, "X-Forwarded-Method", &method) || !ag_http1_fwd_method_ok(method)) {
        ag_ep_reply_error(ep, 400, "missing or bad X-Forwarded-Method", NULL);
        return;
    }
    if (!verify_field(ep, "X-Forwarded-Uri", &uri) || !ag_http1_fwd_target_ok(uri)) {
        ag_ep_reply_error(ep, 400, "missing or bad X-Forwarded-Uri", NULL);
        return;
    }
    if (uri.p[0] != '/') {
        ag_ep_reply_error(ep, 400, ag_path_status_str(AG_PATH_BAD_FORM), NULL);
        return;
    }
    if ((path = ag_ep_alloc(ep, uri.len)) == NULL) {
        ag_ep_oom(ep);
        return;
    }
    st = ag_path_normalize(uri, g->path_flags, path, uri.len, &n, &query);
    if (st != AG_PATH_OK) {
        ag_ep_reply_error(ep, 400, ag_path_status_str(st), NULL);
        return;
    }
    h.method = method;
    h.target = uri;
    h.hdrs = ep->hdrs;
    h.nhdrs = ep->nhdrs;
    /* The peer is a trusted proxy: its clients' addresses (X-Forwarded-For) have budgets. */
    struct ag_authn_from from = {req->c->family, &req->c->peer, NULL, false};
    ag_access_decide(ep->w, g, method, (struct ag_str){path, n}, &h, &from, &v, &a);
    if (a.st == AG_AUTHN_KEY_WAIT && !ep->key_waited) {
        verify_wait_key(ep, a.key_id);
        return;
    }
    if (a.st != AG_AUTHN_OK) {
        ag_req_refuse(req, &a, ag_req_may_keep(req, !(req->flags & AG_REQ_F_BODY_DONE)));
        return;
    }
    ag_stats_inc(&ep->w->stats.decisions[AG_STATS_ALLOW]); /* a refusal counts in ag_req_refuse() */
    if (ag_upassert_get(ep->w, g, &a, method, (struct ag_str){path, n}, &assertion) < 0 ||
        (extra = ag_ep_alloc(ep, cap = ag_uphead_identity_size(cfg, &a) + assertion.len + 80)) ==
            NULL) {
        ag_ep_oom(ep);
        return;
    }
    len = ag_uphead_identity(cfg, &a, extra);
    if (assertion.len > 0)
        len += (size_t)snprintf(extra + len, cap - len, "%s: %.*s\r\n",
                                cfg->upstream_assertion.header, (int)assertion.len, assertion.p);
    extra[len] = '\0';
    ag_req_reply(req, 200, "", 0, extra[0] != '\0' ? extra : NULL);
}
