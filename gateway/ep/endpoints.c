/*
 * gateway/ep/endpoints.c - the endpoint framework: the life of an endpoint request from
 * its head to the handler of its route, and the steps it waits on. It finds the route,
 * copies what the head says into the request's arena (fields, query, client address,
 * the CSRF verdict, the caller), answers what the route refuses (404, 405, 403, 415,
 * 413), collects the body, checks the route's authentication and runs the handler; a
 * step (store call, pool job, rate limit) comes back through one callback per store
 * result type, which drops an orphaned ep and keeps the result for the next function.
 *
 * Owns:     struct ag_ep and its arena (gateway/ep/ep.h).
 * Entry:    ag_ep_new(), ag_ep_must_wait(), ag_ep_run(), ag_ep_on_client_input(),
 *           ag_ep_detach(); for handlers: ag_ep_await(), ag_ep_on_user(), ag_ep_on_sess(),
 *           ag_ep_on_sessions(), ag_ep_on_audit(), ag_ep_on_audit_page(), ag_ep_submit(),
 *           ag_ep_limit(), the head readers.
 * Not here: the route table (routes.c), the handlers (ep_*.c), replies, tokens and audit
 *           (ep_common.c), Redis (store/), keep-alive (gateway/core/conn.c).
 * Spec:     CONTRACT.md sections 5, 7, 8; docs/endpoints.md "Writing an endpoint".
 */
#include "ep.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "arena.h"
#include "authn.h"
#include "client_addr.h"
#include "config.h"
#include "conn.h"
#include "gen.h"
#include "ratelimit.h"
#include "req.h"
#include "store.h"
#include "worker_types.h"

/* ---------------------------------------------------------------- lifetime */

static void ep_free(struct ag_ep *ep)
{
    ag_arena_free(ep->arena); /* <ep> itself lives there */
}

void ag_ep_detach(struct ag_req *req)
{
    struct ag_ep *ep = req->ep;

    if (ep == NULL)
        return;
    ep->req = NULL;
    req->ep = NULL;
    if (!ep->busy)
        ep_free(ep);
    /* else the step's callback frees it: each runs exactly once. */
}

void *ag_ep_alloc(struct ag_ep *ep, size_t n)
{
    return ag_arena_alloc(ep->arena, n);
}

char *ag_ep_strndup(struct ag_ep *ep, const char *p, size_t n)
{
    return ag_arena_strndup(ep->arena, p, n);
}

char *ag_ep_strdup(struct ag_ep *ep, const char *s)
{
    return ag_arena_strdup(ep->arena, s);
}

static void ep_evbuffer_free(void *p)
{
    evbuffer_free(p);
}

/* ---------------------------------------------------------------- what the head says */

/* A copy of <s> in <ep>'s arena as a slice (NUL-terminated); false on OOM. */
static bool ep_copy_str(struct ag_ep *ep, struct ag_str s, struct ag_str *out)
{
    char *p = ag_ep_strndup(ep, s.p, s.len);

    *out = (struct ag_str){p, s.len};
    return p != NULL;
}

/* Copies the fields of <h> (valid until the head is drained) into <ep>'s arena. */
static bool ep_copy_head(struct ag_ep *ep, const struct ag_http1_head *h)
{
    if (h->nhdrs == 0)
        return true;
    if ((ep->hdrs = ag_ep_alloc(ep, h->nhdrs * sizeof(*ep->hdrs))) == NULL)
        return false;
    for (size_t i = 0; i < h->nhdrs; i++)
        if (!ep_copy_str(ep, h->hdrs[i].name, &ep->hdrs[i].name) ||
            !ep_copy_str(ep, h->hdrs[i].value, &ep->hdrs[i].value))
            return false;
    ep->nhdrs = h->nhdrs;
    return true;
}

bool ag_ep_header(const struct ag_ep *ep, const char *name, struct ag_str *v)
{
    for (size_t i = 0; i < ep->nhdrs; i++)
        if (ag_str_ieq(ep->hdrs[i].name, name)) {
            *v = ep->hdrs[i].value;
            return true;
        }
    return false;
}

int ag_ep_query(struct ag_ep *ep, const char *name, size_t cap, const char **out)
{
    struct ag_str q = ep->query;
    size_t i = 0, nlen = strlen(name);

    *out = NULL;
    while (i < q.len) {
        size_t j = i, eq;
        while (j < q.len && q.p[j] != '&')
            j++;
        for (eq = i; eq < j && q.p[eq] != '='; eq++)
            ;
        if (eq - i == nlen && memcmp(q.p + i, name, nlen) == 0) {
            struct ag_str v = {q.p + eq + (eq < j), j - eq - (eq < j)};
            char *d;
            long n;
            if (v.len == 0)
                return 0;
            if (v.len > cap)
                return AG_EPARSE;
            if ((d = ag_ep_alloc(ep, v.len + 1)) == NULL)
                return AG_ENOMEM;
            n = ag_form_decode(v.p, v.len, d);
            if (n < 0 || memchr(d, '\0', (size_t)n) != NULL)
                return AG_EPARSE;
            d[n] = '\0';
            *out = d;
            return 1;
        }
        i = j + 1;
    }
    return 0;
}

struct ag_str ag_ep_body(struct ag_ep *ep)
{
    size_t len = ep->body != NULL ? evbuffer_get_length(ep->body) : 0;
    const char *p = len > 0 ? (const char *)evbuffer_pullup(ep->body, -1) : NULL;

    return p != NULL ? (struct ag_str){p, len} : (struct ag_str){"", 0};
}

enum ag_csrf ag_ep_csrf(const struct ag_config *cfg, const struct ag_http1_head *h)
{
    struct ag_csrf_req r = {{NULL, 0}, {NULL, 0}, {NULL, 0}, {NULL, 0}};

    for (size_t i = 0; i < h->nhdrs; i++)
        ag_csrf_note(&r, h->hdrs[i].name, h->hdrs[i].value);
    return ag_csrf_verdict(cfg, &r);
}

/* The media type of a Content-Type value <v> (parameters ignored): JSON, form, or 0. */
static enum ag_body_type ep_content_type(struct ag_str v)
{
    size_t n = 0;

    while (n < v.len && v.p[n] != ';')
        n++;
    while (n > 0 && (v.p[n - 1] == ' ' || v.p[n - 1] == '\t'))
        n--;
    if (ag_str_ieq((struct ag_str){v.p, n}, "application/json"))
        return AG_BODY_JSON;
    if (ag_str_ieq((struct ag_str){v.p, n}, "application/x-www-form-urlencoded"))
        return AG_BODY_FORM;
    return 0;
}

/*
 * The client address: the peer, or, when the peer is a trusted proxy, the rightmost
 * X-Forwarded-For entry that is not one (the leftmost when all are).
 */
static void ep_client_ip(struct ag_ep *ep, const struct ag_config *cfg, const struct ag_conn *c,
                         const struct ag_http1_head *h)
{
    struct ag_str xff = {NULL, 0};
    char peer[INET6_ADDRSTRLEN];

    for (size_t i = 0; i < h->nhdrs; i++)
        if (ag_str_ieq(h->hdrs[i].name, "X-Forwarded-For"))
            xff = h->hdrs[i].value; /* the last field: what the nearest proxy appended */
    ag_client_addr_pick(cfg, c->family, &c->peer, ag_conn_peer_str(c, peer, sizeof(peer)), xff,
                        ep->ip);
}

/* Copies the caller's identity (a valid access token; never an API key) into <ep>->id. */
static bool ep_copy_identity(struct ag_ep *ep, const struct ag_gen *g, const struct ag_http1_head *h)
{
    struct ag_rules_verdict v = {.need = AG_NEED_ACCESS, .route = -1};
    struct ag_authn a;
    struct ep_ident *id = &ep->id;
    /* An endpoint's answer does not close its connection: the address's budget only. */
    struct ag_authn_from from = {ep->req->c->family, &ep->req->c->peer, NULL, true};

    ag_authn_check(ep->w, g, h, &v, &from, &a);
    id->presented = a.src != 0;
    id->unsynced = a.st == AG_AUTHN_UNSYNCED;
    id->flood = a.st == AG_AUTHN_FLOOD;
    if (a.st != AG_AUTHN_OK)
        return true;
    id->ok = true;
    id->by_cookie = a.src == AG_AUTHN_SRC_COOKIE;
    id->client = a.client;
    id->exp = a.exp;
    return (id->sub = ag_ep_strndup(ep, a.sub.p, a.sub.len)) != NULL &&
           (id->client_id = ag_ep_strndup(ep, a.client_id.p, a.client_id.len)) != NULL &&
           (id->sid = ag_ep_strndup(ep, a.sid.p, a.sid.len)) != NULL &&
           (id->jti = ag_ep_strndup(ep, a.jti.p, a.jti.len)) != NULL &&
           (id->roles = ag_ep_strndup(ep, a.roles.p, a.roles.len)) != NULL &&
           (id->scopes = ag_ep_strndup(ep, a.scopes.p, a.scopes.len)) != NULL;
}

/* What the route of <ep> needs from the head: the master token or the caller. */
static bool ep_copy_auth(struct ag_ep *ep, const struct ag_gen *g, const struct ag_http1_head *h)
{
    switch (ep->route->auth) {
    case AG_EP_MASTER:
        if (g->cfg->token_new_requires_master) {
            struct ag_rules_verdict v = {.need = AG_NEED_MASTER, .route = -1};
            struct ag_authn a;
            ag_authn_check(ep->w, g, h, &v, NULL, &a);
            ep->master_ok = a.st == AG_AUTHN_OK;
        } else {
            ep->master_ok = true;
        }
        return true;
    case AG_EP_IDENTITY:
    case AG_EP_USER:
        return ep_copy_identity(ep, g, h);
    case AG_EP_ADMIN:
    case AG_EP_AUDIT: {
        /* The master token needs no store; without it, the caller's token decides. */
        struct ag_rules_verdict v = {.need = AG_NEED_MASTER, .route = -1};
        struct ag_authn a;
        ag_authn_check(ep->w, g, h, &v, NULL, &a);
        ep->master_ok = a.st == AG_AUTHN_OK;
        return ep->master_ok || ep_copy_identity(ep, g, h);
    }
    default:
        /* Only ep->id.unsynced is read, by ag_ep_must_wait(), and only at the start. */
        if ((ep->route->flags & AG_EP_F_SYNC) && ep->w->store_wait)
            return ep_copy_identity(ep, g, h);
        return true;
    }
}

struct ag_ep *ag_ep_new(struct ag_req *req, const struct ag_http1_head *h,
                        const struct ag_http1_info *info, struct ag_str path, struct ag_str query)
{
    const struct ag_config *cfg = req->gen->cfg;
    size_t plen = strlen(cfg->auth_prefix), np = 0;
    struct ag_str rest = {path.p + plen, path.len - plen}, params[AG_EP_MAX_PARAMS], v;
    struct ag_arena *arena = ag_arena_new(0);
    struct ag_ep *ep = arena != NULL ? ag_arena_alloc(arena, sizeof(*ep)) : NULL;
    int r;

    if (ep == NULL) {
        ag_arena_free(arena);
        return NULL;
    }
    ep->arena = arena;
    ep->req = req;
    ep->w = req->c->w;
    ep->expect_100 = (info->flags & AG_HTTP1_F_EXPECT_100) != 0;
    ep->body_kind = info->body;
    ep->left = info->length;
    r = ag_ep_route_match(ag_ep_routes, ag_ep_nroutes, h->method, rest, params, &np);
    ep->route = r >= 0 ? &ag_ep_routes[r] : NULL;
    ep->miss = r < 0 ? r : 0;
    if (!ep_copy_str(ep, rest, &ep->path) || !ep_copy_str(ep, query, &ep->query) ||
        !ep_copy_head(ep, h))
        goto fail;
    for (size_t i = 0; i < np; i++)
        if (!ep_copy_str(ep, params[i], &ep->params[i]))
            goto fail;
    ep_client_ip(ep, cfg, req->c, h);
    for (size_t i = 0; i < h->nhdrs; i++)
        if (ag_str_ieq(h->hdrs[i].name, "Content-Type"))
            ep->ctype = ep_content_type(h->hdrs[i].value); /* the last one, as ever */
    if (ag_ep_header(ep, "User-Agent", &v)) {
        /* Kept for the session list and audit: valid UTF-8, cut between characters. */
        char *ua = ag_ep_alloc(ep, EP_MAX_UA + 1);
        if (ua == NULL)
            goto fail;
        ag_text_clean(v.p, v.len, ua, EP_MAX_UA + 1);
        ep->ua = ua;
    }
    ep->csrf = ag_ep_csrf(cfg, h);
    if (ep->route != NULL && !ep_copy_auth(ep, req->gen, h))
        goto fail;
    req->ep = ep;
    return ep;
fail:
    ep_free(ep);
    return NULL;
}

/* ---------------------------------------------------------------- request bodies */

/*
 * Moves body bytes from the client input; returns 1 when the body is complete, 0 when more
 * is due, < 0 when it answered (bad framing, too large).
 */
static int ep_body_read(struct ag_ep *ep)
{
    struct ag_req *req = ep->req;
    struct evbuffer *in = req->c->io.in;

    for (;;) {
        size_t avail = evbuffer_get_length(in);
        if (ep->body_kind == AG_BODY_LENGTH) {
            size_t n = avail < ep->left ? avail : (size_t)ep->left;
            evbuffer_remove_buffer(in, ep->body, n);
            req->bytes_in += n;
            ep->left -= n;
            return ep->left == 0;
        }
        if (ep->ck.done)
            return 1;
        if (ep->ck.remaining > 0) {
            size_t n = avail < ep->ck.remaining ? avail : (size_t)ep->ck.remaining;
            if (n == 0)
                return 0;
            if (evbuffer_get_length(ep->body) + n > ep->route->body_max) {
                ag_req_fail(req, 413, "request body too large");
                return -1;
            }
            evbuffer_remove_buffer(in, ep->body, n);
            req->bytes_in += n;
            ag_chunked_data(&ep->ck, n);
            continue;
        }
        if (avail == 0)
            return 0;
        size_t take = avail < 32768 ? avail : 32768;
        const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)take);
        int r = ag_chunked_parse(&ep->ck, p, take);
        if (r < 0) {
            ag_req_fail(req, 400, "bad chunked body");
            return -1;
        }
        evbuffer_drain(in, (size_t)r);
        req->bytes_in += (size_t)r;
        if (r == 0 && !ep->ck.done && ep->ck.remaining == 0)
            return 0;
    }
}

/* ---------------------------------------------------------------- running a route */

/*
 * Whether the caller's token has the rights of an AG_EP_ADMIN or AG_EP_AUDIT route. The
 * roles "superuser" and "staff" stand for the user's flags (docs/users.md "Roles"): an
 * admin can give neither as a plain role, and removing a flag revokes the user's tokens.
 */
static bool ep_rights_ok(const struct ag_ep *ep)
{
    struct ag_str roles = {ep->id.roles, strlen(ep->id.roles)};
    struct ag_str scopes = {ep->id.scopes, strlen(ep->id.scopes)};
    const char *m = ep->route->method;

    if (ep->route->auth == AG_EP_AUDIT)
        return ag_words_has(scopes, ' ', AG_LIT("audit:write"));
    if (ep->id.client)
        return false;
    if (ag_words_has(roles, ',', AG_LIT("superuser")))
        return true;
    return (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0) &&
           ag_words_has(roles, ',', AG_LIT("staff"));
}

/* The 401 of a route whose caller has no valid access token (ep->id.presented: one was sent). */
void ag_ep_reply_no_access(struct ag_ep *ep)
{
    char extra[320];

    snprintf(extra, sizeof(extra), "WWW-Authenticate: Bearer realm=\"%s\"%s\r\n",
             ep->req->gen->cfg->app_name, ep->id.presented ? ", error=\"invalid_token\"" : "");
    ag_ep_reply_detail(ep, 401, "Unauthorized Access Token", extra);
}

/*
 * The route's authentication, judged once the body is in (a 415 or 413 comes first):
 * true when the handler may run, else it answered.
 */
static bool ep_auth_ok(struct ag_ep *ep)
{
    const struct ag_ep_route *rt = ep->route;
    char extra[320];

    switch (rt->auth) {
    case AG_EP_MASTER:
        if (!ep->master_ok) {
            ag_ep_reply_detail(ep, 401, "Unauthorized Master Token", NULL);
            return false;
        }
        return true;
    case AG_EP_IDENTITY:
    case AG_EP_USER:
    case AG_EP_ADMIN:
    case AG_EP_AUDIT:
        if (rt->auth >= AG_EP_ADMIN && ep->master_ok)
            return true; /* else the caller's access token, then its rights */
        if (ep->id.unsynced) {
            ag_ep_down(ep);
            return false;
        }
        if (ep->id.flood) { /* the answer of a proxied request (ag_authn_refusal()) */
            snprintf(extra, sizeof(extra), "Retry-After: %ld\r\n",
                     ep->req->gen->cfg->rl_bad_sigs.window);
            ag_ep_reply_detail(ep, 429, "Too many invalid tokens", extra);
            return false;
        }
        if (!ep->id.ok) {
            if (rt->flags & AG_EP_F_REFRESH)
                return true; /* the handler judges a refresh token, or answers as below */
            ag_ep_reply_no_access(ep);
            return false;
        }
        if ((rt->flags & AG_EP_F_CSRF) && ep->id.by_cookie && ep->csrf != AG_CSRF_OK) {
            ag_ep_reply_detail(ep, 403, "CSRF check failed: Origin does not match", NULL);
            return false;
        }
        if (rt->auth == AG_EP_USER && ep->id.client) {
            /* A client's token has no user: judged by the claim, never by the look of the id. */
            ag_ep_reply_detail(ep, 404, "User not found", NULL);
            return false;
        }
        if (rt->auth >= AG_EP_ADMIN && !ep_rights_ok(ep)) {
            ag_ep_reply_detail(ep, 403, "Not enough permissions", NULL);
            return false;
        }
        return true;
    default:
        return true;
    }
}

static void ep_dispatch(struct ag_ep *ep)
{
    if (ep_auth_ok(ep))
        ep->route->handler(ep);
}

void ag_ep_on_client_input(struct ag_req *req)
{
    struct ag_ep *ep = req->ep;
    int r;

    if (ep == NULL || ep->busy || ep->body == NULL || (req->flags & AG_REQ_F_BODY_DONE))
        return; /* pipelined bytes (or a body we do not read) wait for their turn */
    r = ep_body_read(ep);
    if (r <= 0)
        return;
    req->flags |= AG_REQ_F_BODY_DONE;
    ep_dispatch(ep);
}

bool ag_ep_must_wait(const struct ag_ep *ep)
{
    /* Once ready, an outage is answered at once (503): only the start, and a reload's
     * move to another Redis while the old one is down, are waited out (w->store_wait). */
    return ep->route != NULL && ep->w->store_wait &&
           ((ep->route->flags & AG_EP_F_STORE) ||
            ((ep->route->flags & AG_EP_F_SYNC) && ep->id.unsynced));
}

void ag_ep_run(struct ag_ep *ep)
{
    struct ag_req *req = ep->req;
    const struct ag_ep_route *rt = ep->route;
    char allow[96], extra[128];

    if (ep->body_kind == AG_BODY_NONE)
        req->flags |= AG_REQ_F_BODY_DONE;
    if (rt == NULL && ep->miss == AG_EP_ROUTE_NO_METHOD) {
        ag_ep_route_allow(ag_ep_routes, ag_ep_nroutes, ep->path, allow, sizeof(allow));
        snprintf(extra, sizeof(extra), "Allow: %s\r\n", allow);
        ag_ep_reply_error(ep, 405, NULL, extra);
        return;
    }
    if (rt == NULL) {
        ag_ep_reply_error(ep, 404, NULL, NULL);
        return;
    }
    if ((rt->flags & AG_EP_F_ORIGIN) && ep->csrf == AG_CSRF_FOREIGN) {
        ag_ep_reply_detail(ep, 403, "CSRF check failed: Origin does not match", NULL);
        return;
    }
    if (rt->body != 0 && ep->ctype != rt->body) {
        ag_ep_reply_detail(ep, 415,
                           rt->body == AG_BODY_FORM
                               ? "Content-Type must be application/x-www-form-urlencoded"
                               : "Content-Type must be application/json",
                           NULL);
        return;
    }
    if (rt->body_max == 0 || ep->body_kind == AG_BODY_NONE) {
        ep_dispatch(ep);
        return;
    }
    if (ep->body_kind == AG_BODY_LENGTH && ep->left > rt->body_max) {
        ag_req_fail(req, 413, "request body too large");
        return;
    }
    if ((ep->body = evbuffer_new()) == NULL ||
        ag_arena_cleanup(ep->arena, ep_evbuffer_free, ep->body) < 0) {
        ep->body = NULL;
        ag_ep_oom(ep);
        return;
    }
    ag_chunked_init(&ep->ck);
    if (ep->expect_100) {
        evbuffer_add(req->c->io.out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
        ag_conn_send(req->c);
    }
    ag_ep_on_client_input(req);
}

/* ---------------------------------------------------------------- steps */

bool ag_ep_await(struct ag_ep *ep, int rc, ag_ep_fn *next)
{
    ep->busy = rc == 0;
    ep->next = next;
    return ep->busy;
}

/*
 * First thing in every step's callback: <ep> is no longer held; when its request went
 * away meanwhile, frees it and returns false (the callback then touches nothing).
 */
static bool ep_resume(struct ag_ep *ep)
{
    ep->busy = false;
    if (ep->req != NULL)
        return true;
    ep_free(ep);
    return false;
}

bool ag_ep_resume(struct ag_ep *ep)
{
    return ep_resume(ep);
}

/* A copy of the store's record <s> in <ep>'s arena; false on OOM. */
static bool ep_keep_user(struct ag_ep *ep, const struct ag_user *s)
{
    struct ag_user *u = &ep->user;

    *u = *s;
    u->id = ag_ep_strdup(ep, s->id ? s->id : "");
    u->email = ag_ep_strdup(ep, s->email ? s->email : "");
    u->username = ag_ep_strdup(ep, s->username ? s->username : "");
    u->hash = ag_ep_strdup(ep, s->hash ? s->hash : "");
    u->roles = ag_ep_strdup(ep, s->roles ? s->roles : "");
    u->fields = ag_ep_strdup(ep, s->fields ? s->fields : "");
    ep->found = true;
    return u->id && u->email && u->username && u->hash && u->roles && u->fields;
}

void ag_ep_on_user(enum ag_user_status st, const struct ag_user *usr, void *arg)
{
    struct ag_ep *ep = arg;

    if (!ep_resume(ep))
        return;
    ep->ust = st;
    if (st == AG_USER_OK && usr != NULL) {
        if (usr->id == NULL) {
            /* A login result: only the counters of the record it updated. */
            ep->user.failures = usr->failures;
            ep->user.locked_until = usr->locked_until;
        } else if (!ep_keep_user(ep, usr)) {
            ag_ep_oom(ep);
            return;
        }
    }
    ep->next(ep);
}

void ag_ep_on_sess(enum ag_sess_status st, const struct ag_sess_info *info, void *arg)
{
    struct ag_ep *ep = arg;

    if (!ep_resume(ep))
        return;
    ep->sst = st;
    memset(&ep->sinfo, 0, sizeof(ep->sinfo));
    if (info != NULL) {
        /* Only what the handlers read: the rest of <info> is what they sent. */
        ep->sinfo.is_user = info->is_user;
        ep->sinfo.is_staff = info->is_staff;
        ep->sinfo.is_superuser = info->is_superuser;
        ep->sinfo.retry_after = info->retry_after;
        if ((info->roles != NULL && (ep->sinfo.roles = ag_ep_strdup(ep, info->roles)) == NULL) ||
            (info->fields != NULL && (ep->sinfo.fields = ag_ep_strdup(ep, info->fields)) == NULL)) {
            ag_ep_oom(ep);
            return;
        }
    }
    ep->next(ep);
}

void ag_ep_on_sessions(enum ag_user_status st, const struct ag_user_session *s, size_t n,
                       void *arg)
{
    struct ag_ep *ep = arg;

    if (!ep_resume(ep))
        return;
    ep->ust = st;
    ep->nsessions = 0;
    if (st == AG_USER_OK && n > 0) {
        if ((ep->sessions = ag_ep_alloc(ep, n * sizeof(*s))) == NULL) {
            ag_ep_oom(ep);
            return;
        }
        for (size_t i = 0; i < n; i++) {
            struct ag_user_session *d = &ep->sessions[i];
            *d = s[i];
            d->sid = ag_ep_strdup(ep, s[i].sid);
            d->client_id = ag_ep_strdup(ep, s[i].client_id);
            d->ip = ag_ep_strdup(ep, s[i].ip);
            d->user_agent = ag_ep_strdup(ep, s[i].user_agent);
            if ((s[i].sid && !d->sid) || (s[i].client_id && !d->client_id) ||
                (s[i].ip && !d->ip) || (s[i].user_agent && !d->user_agent)) {
                ag_ep_oom(ep);
                return;
            }
        }
        ep->nsessions = n;
    }
    ep->next(ep);
}

void ag_ep_on_audit(int status, const char *id, void *arg)
{
    struct ag_ep *ep = arg;

    if (!ep_resume(ep))
        return;
    ep->ast = status;
    if (id != NULL && (ep->audit_id = ag_ep_strdup(ep, id)) == NULL) {
        ag_ep_oom(ep);
        return;
    }
    ep->next(ep);
}

/* A copy of the store's entry <s> in <ep>'s arena into <d>; false on OOM. */
static bool ep_keep_audit_entry(struct ag_ep *ep, struct ag_audit_entry *d,
                                const struct ag_audit_entry *s)
{
    const char **k = ag_ep_alloc(ep, (s->n + 1) * sizeof(*k));
    const char **v = ag_ep_alloc(ep, (s->n + 1) * sizeof(*v));

    *d = (struct ag_audit_entry){.id = ag_ep_strdup(ep, s->id), .ms = s->ms, .n = s->n,
                                 .k = k, .v = v};
    if (k == NULL || v == NULL || d->id == NULL)
        return false;
    for (size_t i = 0; i < s->n; i++)
        if ((k[i] = ag_ep_strdup(ep, s->k[i])) == NULL || (v[i] = ag_ep_strdup(ep, s->v[i])) == NULL)
            return false;
    return true;
}

void ag_ep_on_audit_page(int status, const struct ag_audit_page *p, void *arg)
{
    struct ag_ep *ep = arg;
    struct ag_audit_entry *e = NULL;

    if (!ep_resume(ep))
        return;
    ep->ast = status;
    memset(&ep->apage, 0, sizeof(ep->apage));
    if (p != NULL) {
        ep->apage = *p;
        ep->apage.e = e = ag_ep_alloc(ep, (p->n + 1) * sizeof(*e));
        ep->apage.next = p->next != NULL ? ag_ep_strdup(ep, p->next) : NULL;
        if (e == NULL || (p->next != NULL && ep->apage.next == NULL)) {
            ag_ep_oom(ep);
            return;
        }
        for (size_t i = 0; i < p->n; i++)
            if (!ep_keep_audit_entry(ep, &e[i], &p->e[i])) {
                ag_ep_oom(ep);
                return;
            }
    }
    ep->next(ep);
}

static void on_job_work(struct ag_pool_job *j)
{
    struct ag_ep *ep = (struct ag_ep *)((char *)j - offsetof(struct ag_ep, job));

    ep->work(ep);
}

static void on_job_done(struct ag_pool_job *j)
{
    struct ag_ep *ep = (struct ag_ep *)((char *)j - offsetof(struct ag_ep, job));

    if (!ep_resume(ep))
        return;
    if (j->cancelled) {
        ag_ep_down(ep);
        return;
    }
    ep->next(ep);
}

bool ag_ep_submit(struct ag_ep *ep, ag_ep_fn *work, ag_ep_fn *next)
{
    int rc = AG_EINVAL;

    memset(&ep->job, 0, sizeof(ep->job));
    ep->job.work = on_job_work;
    ep->job.done = on_job_done;
    ep->work = work;
    if (ep->w->inbox != NULL)
        rc = ag_pool_submit(ep->w->inbox, &ep->job);
    if (ag_ep_await(ep, rc, next)) /* done() runs later, on this loop */
        return true;
    ag_ep_down(ep);
    return false;
}

bool ag_ep_store_ready(const struct ag_ep *ep)
{
    return ep->w->store != NULL && ag_store_ready(ep->w->store);
}

static void on_limit_reply(enum ag_rl_status st, long retry_after, void *arg)
{
    struct ag_ep *ep = arg;
    char extra[64];

    if (!ep_resume(ep))
        return;
    if (st == AG_RL_OK) {
        ep->next(ep);
    } else if (st == AG_RL_OVER) {
        snprintf(extra, sizeof(extra), "Retry-After: %ld\r\n", retry_after > 0 ? retry_after : 1);
        ag_ep_reply_detail(ep, 429, "Too many requests", extra);
    } else {
        ag_ep_down(ep);
    }
}

void ag_ep_limit(struct ag_ep *ep, const struct ag_rl_bucket *b, size_t n, ag_ep_fn *next)
{
    struct ag_rl_bucket on[4];
    size_t m = 0;

    if (ep->req->gen->cfg->rate_limits)
        for (size_t i = 0; i < n && m < 4; i++)
            if (b[i].limit > 0 && b[i].id != NULL)
                on[m++] = b[i];
    if (m == 0) {
        next(ep);
        return;
    }
    /* A store that is not ready refuses the call: 503 below. */
    if (!ag_ep_await(ep, ag_rl_hit(ep->w->store, on, m, on_limit_reply, ep), next))
        ag_ep_down(ep);
}
