/*
 * gateway/ep/ep_admin.c - the users admin API: list and filter users, read, change
 * (flags, roles) and delete one, list and revoke a user's sessions. Every action is
 * audited with who did it; every change that takes rights away is revoked in the store
 * and published to every instance (store/users.c).
 *
 * Owns:     struct ep_admin_op while one of these requests runs (ep->admin, in its arena).
 * Entry:    ag_ep_admin_users(), ag_ep_admin_user_get(), ag_ep_admin_user_patch(),
 *           ag_ep_admin_user_delete(), ag_ep_admin_sessions(),
 *           ag_ep_admin_sessions_delete(), ag_ep_admin_session_delete().
 * Not here: who may call them (AG_EP_ADMIN, gateway/ep/endpoints.c), the body and paging
 *           checks (policy/adminin.c), the index and the scripts (store/users.c).
 * Spec:     CONTRACT.md section 13; docs/admin.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "adminin.h"
#include "config.h"
#include "ep.h"
#include "gen.h"
#include "req.h"
#include "users.h"
#include "worker_types.h"

#define ADMIN_LIMIT_DEFAULT 50
#define ADMIN_SID_MAX 512 /* bytes of a session id the store takes (store/user.c) */

/* What an admin request carries between its steps (in the arena). */
struct ep_admin_op {
    struct ag_ep *ep;
    struct ag_user *users;        /* a listing's page (strings in the arena) */
    size_t n;
    int64_t total;
    enum ag_users_revoked revoked; /* what an update revoked */
    const char *fields;           /* the fields a PATCH set, comma-separated (audit) */
};

static struct ep_admin_op *admin_op(struct ag_ep *ep)
{
    if (ep->admin == NULL && (ep->admin = ag_ep_alloc(ep, sizeof(*ep->admin))) == NULL) {
        ag_ep_oom(ep);
        return NULL;
    }
    ep->admin->ep = ep;
    return ep->admin;
}

/*
 * Whether the store can take the request's calls (else 503), and the path's user id (and
 * session id) can name one: longer than the store keeps them is 404, as an unknown one is.
 */
static bool admin_store_ok(struct ag_ep *ep)
{
    if (ep->params[0].p != NULL && ep->params[0].len > AG_USER_ID_MAX) {
        ag_ep_reply_detail(ep, 404, "User not found", NULL);
        return false;
    }
    if (ep->params[1].p != NULL && ep->params[1].len > ADMIN_SID_MAX) {
        ag_ep_reply_detail(ep, 404, "Session not found", NULL);
        return false;
    }
    if (ag_ep_store_ready(ep))
        return true;
    ag_ep_down(ep);
    return false;
}

void ag_ep_admin_windows(const struct ag_config *cfg, int64_t now, struct ag_users_change *c)
{
    int64_t access = cfg->access_token_ttl + cfg->token_exp_leeway;
    int64_t longest = cfg->refresh_token_ttl > cfg->access_token_ttl ? cfg->refresh_token_ttl
                                                                      : cfg->access_token_ttl;

    c->sess_until = now + access;
    c->watermark_window = longest + cfg->token_exp_leeway;
    c->tokens_window = access;
}

/* A change with nothing set yet and the windows of the request's config. */
static struct ag_users_change admin_change(const struct ag_ep *ep)
{
    struct ag_users_change c = {0};

    ag_ep_admin_windows(ep->req->gen->cfg, ag_unix_now(), &c);
    return c;
}

/* The audit entry of an admin action <event> on user <id> (+ <n> more pairs). */
static void admin_audit(struct ag_ep *ep, const char *event, const char *id,
                        const char *const *k, const char *const *v, size_t n)
{
    const char *keys[8] = {"actor", "user_id"}, *vals[8] = {ag_ep_actor(ep), id};

    for (size_t i = 0; i < n && i < 6; i++) {
        keys[2 + i] = k[i];
        vals[2 + i] = v[i];
    }
    ag_ep_audit(ep, event, keys, vals, 2 + (n < 6 ? n : 6));
}

/* 422 naming the query parameter <name>, FastAPI's shape. */
static void admin_bad_query(struct ag_ep *ep, const char *name, const char *msg)
{
    struct ag_field_err e = {name, msg, "value_error"};

    ag_ep_unprocessable_query(ep, &e);
}

/* ---------------------------------------------------------------- GET /admin/users */

/* The page from the store: copied into the arena before the framework's step runs. */
static void on_admin_page(enum ag_user_status st, const struct ag_user *u, size_t n,
                          int64_t total, void *arg)
{
    struct ag_ep *ep = arg;
    struct ep_admin_op *op = ep->admin;
    bool ok = true;

    if (ep->req != NULL && st == AG_USER_OK) {
        op->total = total;
        if (n > 0 && (op->users = ag_ep_alloc(ep, n * sizeof(*op->users))) == NULL)
            ok = false;
        for (size_t i = 0; ok && i < n; i++) {
            struct ag_user *d = &op->users[i];
            *d = u[i];
            d->hash = NULL; /* never leaves the store step */
            d->id = ag_ep_strdup(ep, u[i].id);
            d->email = ag_ep_strdup(ep, u[i].email);
            d->username = ag_ep_strdup(ep, u[i].username);
            d->roles = ag_ep_strdup(ep, u[i].roles);
            d->fields = ag_ep_strdup(ep, u[i].fields ? u[i].fields : "");
            ok = d->id && d->email && d->username && d->roles && d->fields;
        }
        op->n = ok ? n : 0;
    }
    ag_ep_on_user(ok ? st : AG_USER_FAIL, NULL, ep);
}

static void on_admin_listed(struct ag_ep *ep)
{
    struct ep_admin_op *op = ep->admin;
    json_t *a;

    if (ep->ust == AG_USER_FAIL) {
        ag_ep_oom(ep);
        return;
    }
    if (!ag_ep_user_ok(ep, NULL))
        return;
    a = json_array();
    for (size_t i = 0; a != NULL && i < op->n; i++)
        if (json_array_append_new(a, ag_ep_user_json(&op->users[i])) < 0) {
            json_decref(a);
            a = NULL;
        }
    if (a == NULL) {
        ag_ep_oom(ep);
        return;
    }
    ag_ep_reply_json(ep, 200, json_pack("{s:o, s:I}", "users", a, "total", (json_int_t)op->total),
                     NULL);
}

/*
 * One paging number: 1 with <*out>, 0 when absent (<*out> untouched), or answered 422
 * (or 500) and -1.
 */
static int admin_count(struct ag_ep *ep, const char *name, int64_t min, int64_t max,
                       int64_t *out)
{
    const char *s;
    char msg[96];
    int r = ag_ep_query(ep, name, 32, &s);

    if (r == AG_ENOMEM) {
        ag_ep_oom(ep);
        return -1;
    }
    if (r == 0)
        return 0;
    if (r < 0 || ag_adminin_count(s, min, max, out) < 0) {
        snprintf(msg, sizeof(msg), "must be a whole number from %lld to %lld", (long long)min,
                 (long long)max);
        admin_bad_query(ep, name, msg);
        return -1;
    }
    return 1;
}

void ag_ep_admin_users(struct ag_ep *ep)
{
    int64_t offset = 0, limit = ADMIN_LIMIT_DEFAULT;
    const char *q = NULL;
    int r;

    if (admin_count(ep, "offset", 0, INT64_MAX / 2, &offset) < 0 ||
        admin_count(ep, "limit", 1, AG_USERS_LIMIT_MAX, &limit) < 0)
        return;
    r = ag_ep_query(ep, "q", AG_USERS_Q_MAX, &q);
    if (r == AG_ENOMEM) {
        ag_ep_oom(ep);
        return;
    }
    /* A control byte could match across the "username\nemail" the filter reads. */
    for (const char *c = q; r == 1 && *c != '\0'; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            r = AG_EPARSE;
    if (r < 0) {
        admin_bad_query(ep, "q", "at most 256 bytes of text, without control characters");
        return;
    }
    if (!admin_store_ok(ep) || admin_op(ep) == NULL)
        return;
    if (!ag_ep_await(ep, ag_users_list(ep->w->store, q, offset, (size_t)limit, on_admin_page, ep),
                     on_admin_listed))
        ag_ep_down(ep);
}

/* ---------------------------------------------------------------- GET /admin/users/{id} */

static void on_admin_user(struct ag_ep *ep)
{
    if (ag_ep_user_ok(ep, "User not found"))
        ag_ep_reply_json(ep, 200, ag_ep_user_json(&ep->user), NULL);
}

void ag_ep_admin_user_get(struct ag_ep *ep)
{
    if (!admin_store_ok(ep))
        return;
    if (!ag_ep_await(ep, ag_user_get(ep->w->store, ep->params[0].p, ag_ep_on_user, ep),
                     on_admin_user))
        ag_ep_down(ep);
}

/* ---------------------------------------------------------------- PATCH /admin/users/{id} */

static void on_admin_updated(enum ag_user_status st, const struct ag_user *u,
                             enum ag_users_revoked what, void *arg)
{
    struct ag_ep *ep = arg;

    ep->admin->revoked = what; /* the arena lives until the step below frees or runs it */
    ag_ep_on_user(st, u, ep);
}

static void on_admin_patched(struct ag_ep *ep)
{
    static const char *const revoked[] = {"none", "tokens", "sessions"};
    struct ep_admin_op *op = ep->admin;

    if (!ag_ep_user_ok(ep, "User not found"))
        return;
    const char *k[] = {"fields", "revoked", "is_active", "roles"};
    const char *v[] = {op->fields, revoked[op->revoked], ep->user.is_active ? "true" : "false",
                       ep->user.roles};
    admin_audit(ep, "admin_user_update", ep->user.id, k, v, 4);
    ag_ep_reply_json(ep, 200, ag_ep_user_json(&ep->user), NULL);
}

void ag_ep_admin_user_patch(struct ag_ep *ep)
{
    struct ag_str body = ag_ep_body(ep);
    struct ag_adminin_patch p;
    struct ag_field_err e = {0};
    struct ag_users_change c;
    struct ep_admin_op *op;
    int rc;

    if ((op = admin_op(ep)) == NULL)
        return;
    rc = ag_adminin_patch(body.p, body.len, &p, &e);
    if (rc == AG_ENOMEM) {
        ag_ep_oom(ep);
        return;
    }
    if (rc < 0) {
        ag_ep_unprocessable(ep, &e);
        return;
    }
    op->fields = ag_ep_printf(ep, "%s%s%s%s", p.set_active ? "is_active," : "",
                              p.set_staff ? "is_staff," : "",
                              p.set_superuser ? "is_superuser," : "", p.set_roles ? "roles," : "");
    if (op->fields == NULL) {
        ag_adminin_patch_clear(&p);
        ag_ep_oom(ep);
        return;
    }
    if (op->fields[0] != '\0')
        ((char *)op->fields)[strlen(op->fields) - 1] = '\0';
    if (!admin_store_ok(ep)) {
        ag_adminin_patch_clear(&p);
        return;
    }
    c = admin_change(ep);
    c.set_active = p.set_active;
    c.set_staff = p.set_staff;
    c.set_superuser = p.set_superuser;
    c.set_roles = p.set_roles;
    c.is_active = p.is_active;
    c.is_staff = p.is_staff;
    c.is_superuser = p.is_superuser;
    c.roles = p.roles;
    rc = ag_users_update(ep->w->store, ep->params[0].p, &c, on_admin_updated, ep);
    ag_adminin_patch_clear(&p); /* the call copied its arguments */
    if (!ag_ep_await(ep, rc, on_admin_patched))
        ag_ep_down(ep);
}

/* ---------------------------------------------------------------- DELETE /admin/users/{id} */

static void on_admin_deleted(struct ag_ep *ep)
{
    if (!ag_ep_user_ok(ep, "User not found"))
        return;
    admin_audit(ep, "admin_user_delete", ep->params[0].p, NULL, NULL, 0);
    ag_ep_reply_empty(ep);
}

void ag_ep_admin_user_delete(struct ag_ep *ep)
{
    struct ag_users_change c;

    if (!admin_store_ok(ep))
        return;
    c = admin_change(ep);
    if (!ag_ep_await(ep, ag_users_delete(ep->w->store, ep->params[0].p, &c, ag_ep_on_user, ep),
                     on_admin_deleted))
        ag_ep_down(ep);
}

/* ---------------------------------------------------------------- sessions */

/* One session as the admin API lists it: the formats of the user's own GET /sessions. */
static json_t *admin_session_json(const struct ag_ep *ep, const struct ag_user_session *s)
{
    (void)ep;
    return json_pack("{s:o, s:I, s:I, s:o, s:o, s:o}", "id", ag_ep_json_text(s->sid),
                     "created_at", (json_int_t)s->created, "last_seen", (json_int_t)s->last_used,
                     "ip", ag_ep_json_text(s->ip), "user_agent", ag_ep_json_text(s->user_agent),
                     "client_id", ag_ep_json_text(s->client_id));
}

static void on_admin_sessions(struct ag_ep *ep)
{
    json_t *a;

    if (!ag_ep_user_ok(ep, NULL))
        return;
    if ((a = ag_ep_sessions_json(ep, admin_session_json)) == NULL) {
        ag_ep_oom(ep);
        return;
    }
    ag_ep_reply_json(ep, 200, json_pack("{s:o}", "sessions", a), NULL);
}

/* The user exists: list its sessions. */
static void admin_sessions_list(struct ag_ep *ep)
{
    const struct ag_config *cfg = ep->req->gen->cfg;
    size_t max = cfg->max_sessions > 0 ? (size_t)cfg->max_sessions : 1000;

    if (!ag_ep_user_ok(ep, "User not found"))
        return;
    if (!ag_ep_await(ep, ag_user_sessions(ep->w->store, ep->user.id, max, ag_ep_on_sessions, ep),
                     on_admin_sessions))
        ag_ep_down(ep);
}

void ag_ep_admin_sessions(struct ag_ep *ep)
{
    if (!admin_store_ok(ep))
        return;
    if (!ag_ep_await(ep, ag_user_get(ep->w->store, ep->params[0].p, ag_ep_on_user, ep),
                     admin_sessions_list))
        ag_ep_down(ep);
}

static void on_admin_sessions_revoked(struct ag_ep *ep)
{
    if (!ag_ep_user_ok(ep, NULL))
        return;
    admin_audit(ep, "admin_sessions_revoke", ep->user.id, NULL, NULL, 0);
    ag_ep_reply_empty(ep);
}

/* The user exists: end every session (each revoked and published, as logout-all's first step). */
static void admin_sessions_revoke(struct ag_ep *ep)
{
    if (!ag_ep_user_ok(ep, "User not found"))
        return;
    if (!ag_ep_await(ep, ag_user_revoke_others(ep->w->store, ep->user.id, NULL,
                                               admin_change(ep).sess_until, ag_ep_on_user, ep),
                     on_admin_sessions_revoked))
        ag_ep_down(ep);
}

void ag_ep_admin_sessions_delete(struct ag_ep *ep)
{
    if (!admin_store_ok(ep))
        return;
    if (!ag_ep_await(ep, ag_user_get(ep->w->store, ep->params[0].p, ag_ep_on_user, ep),
                     admin_sessions_revoke))
        ag_ep_down(ep);
}

static void on_admin_session_revoked(struct ag_ep *ep)
{
    if (!ag_ep_user_ok(ep, "Session not found"))
        return;
    const char *k[] = {"sid"}, *v[] = {ep->params[1].p};
    admin_audit(ep, "admin_session_revoke", ep->params[0].p, k, v, 1);
    ag_ep_reply_empty(ep);
}

void ag_ep_admin_session_delete(struct ag_ep *ep)
{
    if (!admin_store_ok(ep))
        return;
    if (!ag_ep_await(ep, ag_user_revoke_session(ep->w->store, ep->params[0].p, ep->params[1].p,
                                                admin_change(ep).sess_until, ag_ep_on_user, ep),
                     on_admin_session_revoked))
        ag_ep_down(ep);
}
