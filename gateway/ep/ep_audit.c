/*
 * gateway/ep/ep_audit.c - the audit log API: GET <auth-prefix>/admin/audit reads the
 * stream newest first with filters (staff and superusers, the master token), and POST
 * <auth-prefix>/audit records an application's own event (the master token, or a token
 * with the scope audit:write), marked "source": "app".
 *
 * Owns:     nothing past the request: its state (struct ep_audit_op) lives in the arena.
 * Entry:    ag_ep_audit_list(), ag_ep_audit_post() (rows in gateway/ep/routes.c).
 * Not here: the stream and its bounded scan (store/audit.c), the body and query checks
 *           (policy/auditin.c), the gateway's own events (ag_ep_audit(), ep_common.c).
 * Spec:     CONTRACT.md section 13; docs/admin.md "Audit API".
 */
#include "ep.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "auditin.h"
#include "config.h"
#include "gen.h"
#include "ratelimit.h"
#include "req.h"
#include "worker_types.h"

#define EP_AUDIT_QUERY_MAX 4096 /* bytes of one query value as sent (percent-encoded) */

/* What POST /audit carries between its steps (ep->audit, in the arena). */
struct ep_audit_op {
    const char *event, *sub, *detail; /* the body's, checked; sub and detail may be NULL */
};

/* ---------------------------------------------------------------- GET /admin/audit */

/* The time of a stream entry, <ms> since the epoch, as the user object's created_at. */
static const char *audit_time(int64_t ms, char buf[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

/* The value of field <name> of <e>, or NULL. */
static const char *audit_field(const struct ag_audit_entry *e, const char *name)
{
    for (size_t i = 1; i < e->n; i++)
        if (strcmp(e->k[i], name) == 0)
            return e->v[i];
    return NULL;
}

/*
 * One event of the answer: id, time, event, source ("gateway" for the gateway's own
 * entries, which are stored without one), ip, user_agent ("" when none was recorded),
 * sub (the entry's sub, else its user_id, when it has either), then the entry's other
 * fields as stored; an app's detail as the JSON object it was.
 */
static json_t *audit_event_json(const struct ag_audit_entry *e)
{
    const char *ip = audit_field(e, "ip"), *ua = audit_field(e, "user_agent");
    const char *src = audit_field(e, "source"), *sub = audit_field(e, "sub");
    char when[32];
    json_t *o;

    if (sub == NULL)
        sub = audit_field(e, "user_id");
    o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id", e->id, "time", audit_time(e->ms, when),
                  "event", e->v[0], "source", src != NULL ? src : "gateway", "ip",
                  ip != NULL ? ip : "", "user_agent", ua != NULL ? ua : "");
    if (o != NULL && sub != NULL && json_object_set_new(o, "sub", json_string(sub)) < 0) {
        json_decref(o);
        return NULL;
    }
    for (size_t i = 1; o != NULL && i < e->n; i++) {
        const char *k = e->k[i];
        json_t *v = NULL;

        if (json_object_get(o, k) != NULL)
            continue; /* placed above (or a name twice in the entry: the first wins) */
        if (strcmp(k, "detail") == 0)
            v = json_loads(e->v[i], JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(v)) {
            json_decref(v);
            v = json_string(e->v[i]);
        }
        if (json_object_set_new(o, k, v) < 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

/* After ag_audit_read(): {"events": [...], "truncated": B, "next": ID or null}. */
static void on_audit_page(struct ag_ep *ep)
{
    const struct ag_audit_page *p = &ep->apage;
    json_t *events, *o;

    if (ep->ast != 1) {
        ag_ep_down(ep);
        return;
    }
    events = json_array();
    for (size_t i = 0; events != NULL && i < p->n; i++) {
        json_t *e = audit_event_json(&p->e[i]);
        if (e == NULL || json_array_append_new(events, e) < 0) {
            json_decref(events); /* never a list with an event silently left out */
            events = NULL;
        }
    }
    o = events != NULL ? json_pack("{s:o, s:b, s:s?}", "events", events, "truncated",
                                   p->truncated, "next", p->next)
                       : NULL;
    ag_ep_reply_json(ep, 200, o, NULL);
}

/* Query parameter <name> into <*out> (NULL when absent); false when it answered 422. */
static bool audit_param(struct ag_ep *ep, const char *name, const char **out)
{
    int r = ag_ep_query(ep, name, EP_AUDIT_QUERY_MAX, out);
    struct ag_field_err e = {name, "value is malformed or too long", "value_error.query"};

    if (r == AG_ENOMEM) {
        ag_ep_oom(ep);
        return false;
    }
    if (r < 0) {
        ag_ep_unprocessable_query(ep, &e);
        return false;
    }
    return true;
}

void ag_ep_audit_list(struct ag_ep *ep)
{
    const char *user, *event, *since, *limit, *before;
    struct ag_audit_filter f;
    struct ag_field_err e = {NULL, NULL, NULL};

    if (!audit_param(ep, "user", &user) || !audit_param(ep, "event", &event) ||
        !audit_param(ep, "since", &since) || !audit_param(ep, "limit", &limit) ||
        !audit_param(ep, "before", &before))
        return;
    if (ag_audit_filter_parse(user, event, since, limit, before, &f, &e) < 0) {
        ag_ep_unprocessable_query(ep, &e);
        return;
    }
    struct ag_audit_query q = {.user = f.user, .event = f.event, .before = f.before,
                               .since_ms = f.since_ms, .limit = (size_t)f.limit};
    if (!ag_ep_await(ep, ag_audit_read(ep->w->store, &q, ag_ep_on_audit_page, ep), on_audit_page))
        ag_ep_down(ep);
}

/* ---------------------------------------------------------------- POST /audit */

/* After the append: 202 {"id": ID} (null when audit-stream-max is 0: a log line only). */
static void on_audit_recorded(struct ag_ep *ep)
{
    if (ep->ast < 0) {
        ag_ep_down(ep);
        return;
    }
    ag_ep_reply_json(ep, 202, json_pack("{s:s?}", "id", ep->ast == 1 ? ep->audit_id : NULL),
                     NULL);
}

/*
 * Once the caller's limit passed: the entry is event <name>, then ip and user_agent (the
 * client's), "source": "app" and "actor" (who called) set here, then sub and detail when
 * sent. The body can name no other field, so an app's event is always marked as one,
 * whatever its name.
 */
static void audit_post_go(struct ag_ep *ep)
{
    const struct ep_audit_op *op = ep->audit;
    const char *k[4] = {"source", "actor"}, *v[4] = {"app", ag_ep_actor(ep)};
    size_t n = 2;

    if (op->sub != NULL) {
        k[n] = "sub";
        v[n++] = op->sub;
    }
    if (op->detail != NULL) {
        k[n] = "detail";
        v[n++] = op->detail;
    }
    if (!ag_ep_audit_await(ep, op->event, k, v, n, on_audit_recorded))
        ag_ep_down(ep);
}

void ag_ep_audit_post(struct ag_ep *ep)
{
    const struct ag_config *cfg = ep->req->gen->cfg;
    struct ag_str body = ag_ep_body(ep);
    struct ag_field_err e = {NULL, NULL, NULL};
    struct ag_audit_in in;
    struct ep_audit_op *op;
    int r = ag_audit_in_parse(body.p, body.len, &in, &e);
    bool lost;

    if (r == AG_EPARSE) {
        ag_ep_unprocessable(ep, &e);
        return;
    }
    if (r < 0 || (op = ag_ep_alloc(ep, sizeof(*op))) == NULL) {
        ag_audit_in_clear(&in);
        ag_ep_oom(ep);
        return;
    }
    /* Into the arena: the steps below outlive this call. */
    op->event = ag_ep_strdup(ep, in.event);
    op->sub = ag_ep_strdup(ep, in.sub);
    op->detail = ag_ep_strdup(ep, in.detail);
    lost = op->event == NULL || (in.sub != NULL && op->sub == NULL) ||
           (in.detail != NULL && op->detail == NULL);
    ag_audit_in_clear(&in);
    if (lost) {
        ag_ep_oom(ep);
        return;
    }
    ep->audit = op;
    if (!ag_ep_store_ready(ep)) {
        ag_ep_down(ep);
        return;
    }
    struct ag_rl_bucket b = {"audit", ag_ep_actor(ep), cfg->rl_audit.limit, cfg->rl_audit.window};
    ag_ep_limit(ep, &b, 1, audit_post_go);
}
