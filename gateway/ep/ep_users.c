/*
 * gateway/ep/ep_users.c - user accounts at the edge: POST /register, POST /login (JSON),
 * POST /token (the OAuth2 password grant, a form) and GET /me. Passwords are hashed
 * and verified on the pool (gateway/auth/pool.c), never on the event loop.
 *
 * Owns:     struct ep_user_op while one of these requests runs (ep->u).
 * Entry:    ep_users_register(), ep_users_login(), ep_users_me(); the shared user helpers
 *           ep_user_op_new(), ep_user_op_free(), ep_user_copy(), ep_user_json(),
 *           ep_user_roles(), ep_unprocessable(), ep_need_identity(), ep_need_user().
 * Not here: user records, lockout, sessions (store/user.c, store/session.c), password
 *           rules and hashing (policy/password.c), body parsing (policy/userin.c).
 * Spec:     CONTRACT.md section 7 (users); docs/users.md.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <jansson.h>
#include <sodium.h>

#include "config.h"
#include "conn.h"
#include "req.h"
#include "ep.h"
#include "grants.h"
#include "password.h"
#include "ratelimit.h"
#include "gen.h"
#include "session.h"
#include "user.h"
#include "userin.h"
#include "worker_types.h"

/* ---------------------------------------------------------------- shared user helpers */

struct ep_user_op *ep_user_op_new(struct ag_ep *ep)
{
    struct ep_user_op *u = calloc(1, sizeof(*u));

    if (u != NULL) {
        u->ep = ep;
        u->params = ep->req->gen->cfg->passwords;
        u->dummies = ep->req->gen->pw_dummies;
        ep->u = u;
    }
    return u;
}

static void op_free_secret(char **s)
{
    if (*s != NULL) {
        sodium_memzero(*s, strlen(*s));
        AG_FREE(*s);
    }
}

void ep_user_op_free(struct ep_user_op *u)
{
    if (u == NULL)
        return;
    op_free_secret(&u->password);
    op_free_secret(&u->new_password);
    op_free_secret(&u->u_hash);
    free(u->login);
    free(u->email);
    free(u->username);
    free(u->scope_req);
    free(u->client_id);
    free(u->uid);
    free(u->u_email);
    free(u->u_username);
    free(u->u_roles);
    sodium_memzero(u, sizeof(*u));
    free(u);
}

int ep_user_copy(struct ep_user_op *u, const struct ag_user *s)
{
    /* A field may be set already (POST /password/reset took uid from its token). */
    free(u->uid);
    free(u->u_email);
    free(u->u_username);
    free(u->u_roles);
    op_free_secret(&u->u_hash);
    u->found = true;
    u->uid = strdup(s->id ? s->id : "");
    u->u_email = strdup(s->email ? s->email : "");
    u->u_username = strdup(s->username ? s->username : "");
    u->u_hash = strdup(s->hash ? s->hash : "");
    u->u_roles = strdup(s->roles ? s->roles : "");
    u->u_active = s->is_active;
    u->u_staff = s->is_staff;
    u->u_superuser = s->is_superuser;
    u->u_created = s->created_at;
    u->u_pwchanged = s->password_changed_at;
    u->u_locked_until = s->locked_until;
    return u->uid && u->u_email && u->u_username && u->u_hash && u->u_roles ? 0 : AG_ENOMEM;
}

/* "2026-11-22T08:44:31Z" of <t> into <buf> (21 bytes). */
static const char *ep_iso8601(int64_t t, char buf[32])
{
    time_t tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

/* Appends the words of the space-separated <s> to the JSON array <a>. */
static void ep_words_append(json_t *a, const char *s)
{
    struct ag_str rest = ag_str_c(s), w;

    while (ag_words_next(&rest, ' ', &w))
        json_array_append_new(a, json_stringn(w.p, w.len));
}

json_t *ep_user_json(const struct ep_user_op *u)
{
    char when[32];
    json_t *roles = json_array();

    ep_words_append(roles, u->u_roles);
    return json_pack("{s:s, s:s, s:s, s:b, s:b, s:b, s:o, s:s}", "id", u->uid, "email",
                     u->u_email, "username", u->u_username, "is_active", u->u_active,
                     "is_staff", u->u_staff, "is_superuser", u->u_superuser, "roles", roles,
                     "created_at", ep_iso8601(u->u_created, when));
}

char *ep_user_roles(const struct ep_user_op *u)
{
    char *s = NULL;

    if (asprintf(&s, "%s%s%s%s%s", u->u_roles, u->u_staff && u->u_roles[0] ? " " : "",
                 u->u_staff ? "staff" : "",
                 u->u_superuser && (u->u_staff || u->u_roles[0]) ? " " : "",
                 u->u_superuser ? "superuser" : "") < 0)
        return NULL;
    return s;
}

void ep_unprocessable(struct ag_ep *ep, const struct ag_field_err *e)
{
    json_t *loc = json_pack("[s]", "body");

    if (e->field != NULL)
        json_array_append_new(loc, json_string(e->field));
    ag_ep__reply_json(ep, 422,
                      json_pack("{s:[{s:o, s:s, s:s}]}", "detail", "loc", loc, "msg", e->msg,
                                "type", e->type),
                      NULL);
}

bool ep_need_identity(struct ag_ep *ep, bool state_changing)
{
    const struct ag_config *cfg = ep->req->gen->cfg;
    char extra[320];

    if (ep->id.unsynced) {
        ag_ep__reply_detail(ep, 503, "Service Unavailable", NULL);
        return false;
    }
    if (!ep->id.ok) {
        snprintf(extra, sizeof(extra), "WWW-Authenticate: Bearer realm=\"%s\"%s\r\n",
                 cfg->app_name, ep->id.presented ? ", error=\"invalid_token\"" : "");
        ag_ep__reply_detail(ep, 401, "Unauthorized Access Token", extra);
        return false;
    }
    if (state_changing && ep->id.by_cookie && !ep->csrf_ok) {
        ag_ep__reply_detail(ep, 403, "CSRF check failed: Origin does not match", NULL);
        return false;
    }
    return true;
}

bool ep_need_user(struct ag_ep *ep, bool state_changing)
{
    if (!ep_need_identity(ep, state_changing))
        return false;
    if (ep->id.client) { /* judged by the claim, never by the look of the id */
        ag_ep__reply_detail(ep, 404, "User not found", NULL);
        return false;
    }
    return true;
}

bool ep_user_reply_ok(struct ag_ep *ep, enum ag_user_status st, const char *unknown)
{
    if (ag_ep__orphaned(ep))
        return false;
    if (st == AG_USER_OK)
        return true;
    if (st == AG_USER_UNKNOWN && unknown != NULL)
        ag_ep__reply_detail(ep, 404, unknown, NULL);
    else
        ag_ep__reply_detail(ep, 503, "Service Unavailable", NULL);
    return false;
}

/* Reads the body of <ep> as <t> into <f>; answers 422 and returns false on a problem. */
bool ep_read_fields(struct ag_ep *ep, enum ag_body_type t, struct ag_body_field *f, size_t n)
{
    struct ag_field_err e = {0};
    const char *body = "";
    size_t len = 0;
    int r;

    if (ep->body != NULL) {
        len = evbuffer_get_length(ep->body);
        body = (const char *)evbuffer_pullup(ep->body, -1);
    }
    r = ag_body_fields(t, body != NULL ? body : "", len, f, n, &e);
    if (r == AG_ENOMEM) {
        ag_req_fail(ep->req, 500, "out of memory");
        return false;
    }
    if (r < 0) {
        ep_unprocessable(ep, &e);
        return false;
    }
    return true;
}

/* Submits the pool job of <u> (work/done set); answers 503 when the pool is full. */
bool ep_user_submit(struct ag_ep *ep)
{
    int rc = ep->w->inbox != NULL ? ag_pool_submit(ep->w->inbox, &ep->u->job) : AG_EINVAL;

    if (ag_ep__started(ep, rc)) /* done() runs later, on this loop */
        return true;
    ag_ep__reply_detail(ep, 503, "Service Unavailable", NULL);
    return false;
}

/* ---------------------------------------------------------------- POST /register */

static void on_user_created(enum ag_user_status st, const struct ag_user *usr, void *arg)
{
    struct ag_ep *ep = arg;
    struct ep_user_op *u;

    if (ag_ep__orphaned(ep))
        return;
    u = ep->u;
    switch (st) {
    case AG_USER_OK: {
        const char *k[] = {"user_id", "username"}, *v[] = {u->uid, u->u_username};
        ag_ep__audit(ep, "register", k, v, 2);
        ag_ep__reply_json(ep, 201, ep_user_json(u), NULL);
        return;
    }
    case AG_USER_DUP_USERNAME:
        ag_ep__reply_detail(ep, 409, "Username already registered", NULL);
        return;
    case AG_USER_DUP_EMAIL:
        ag_ep__reply_detail(ep, 409, "Email already registered", NULL);
        return;
    default:
        ag_ep__reply_detail(ep, 503, "Service Unavailable", NULL);
        return;
    }
}

static void on_register_hashed(struct ag_pool_job *j)
{
    struct ep_user_op *u = (struct ep_user_op *)j;
    struct ag_ep *ep = u->ep;
    char uuid[37];

    if (ag_ep__orphaned(ep))
        return;
    if (j->cancelled || !u->hashed) {
        ag_ep__reply_detail(ep, 503, "Service Unavailable", NULL);
        return;
    }
    ag_ep_uuid4(uuid);
    u->found = true;
    u->uid = strdup(uuid);
    u->u_email = strdup(u->email);
    u->u_username = strdup(u->username);
    u->u_roles = strdup("");
    u->u_active = true;
    u->u_created = u->u_pwchanged = (int64_t)time(NULL);
    if (u->uid == NULL || u->u_email == NULL || u->u_username == NULL || u->u_roles == NULL) {
        ag_req_fail(ep->req, 500, "out of memory");
        return;
    }
    struct ag_user rec = {.id = u->uid, .email = u->email, .username = u->username,
                          .hash = u->new_hash, .is_active = true, .roles = "",
                          .created_at = u->u_created, .password_changed_at = u->u_created};
    if (ag_ep__started(ep, ag_user_create(ep->w->store, &rec, on_user_created, ep)))
        return;
    ag_ep__reply_detail(ep, 503, "Service Unavailable", NULL);
}

static void register_hash_work(struct ag_pool_job *j)
{
    struct ep_user_op *u = (struct ep_user_op *)j;

    u->hashed = ag_password_hash(&u->params, u->password, strlen(u->password), u->new_hash) == 0;
}

static void register_go(struct ag_ep *ep)
{
    if (!ag_ep__store_ready(ep->w)) {
        ag_ep__reply_detail(ep, 503, "Service Unavailable", NULL);
        return;
    }
    ep->u->job.work = register_hash_work;
    ep->u->job.done = on_register_hashed;
    ep_user_submit(ep);
}

void ep_users_register(struct ag_ep *ep)
{
    const struct ag_config *cfg = ep->req->gen->cfg;
    struct ag_body_field f[] = {{"email", true, 254, NULL},
                                {"username", true, 128, NULL},
                                {"password", true, 4096, NULL}};
    struct ag_field_err e = {0};
    struct ep_user_op *u;
    enum ag_pw_check pc;
    char msg[160];

    if (!cfg->registration) {
        ag_ep__reply_detail(ep, 403, "Registration is closed", NULL);
        return;
    }
    if (!ep_read_fields(ep, AG_BODY_JSON, f, 3))
        return;
    if (ag_user_check_email(f[0].value, &e) < 0 || ag_user_check_username(f[1].value, &e) < 0) {
        ag_body_fields_free(f, 3);
        ep_unprocessable(ep, &e);
        return;
    }
    pc = ag_password_check(&cfg->passwords, f[2].value, strlen(f[2].value));
    if (pc != AG_PW_OK) {
        struct ag_field_err pe = {"password",
                                  ag_password_check_msg(&cfg->passwords, pc, msg, sizeof(msg)),
                                  "value_error.password"};
        ag_body_fields_free(f, 3);
        ep_unprocessable(ep, &pe);
        return;
    }
    if ((u = ep_user_op_new(ep)) == NULL) {
        ag_body_fields_free(f, 3);
        ag_req_fail(ep->req, 500, "out of memory");
        return;
    }
    u->email = f[0].value;
    u->username = f[1].value;
    u->password = f[2].value; /* the op owns them now */
    struct ag_rl_bucket b = {"register", ep->ip, cfg->rl_register.limit, cfg->rl_register.window};
    ag_ep__limit(ep, &b, 1, register_go);
}

/* ---------------------------------------------------------------- POST /login, POST /token */

static void on_login_session(enum ag_sess_status st, const struct ag_sess_info *info, void *arg)
{
    struct ag_ep *ep = arg;
    const struct ag_config *cfg;

    if (ag_ep__orphaned(ep))
        return;
    cfg = ep->req->gen->cfg;
    if (st != AG_SESS_OK) {
        ag_ep__reply_detail(ep, 503, "Service Unavailable", NULL);
        return;
    }
    const char *k[] = {"user_id", "sid"}, *v[] = {ep->u->uid, ep->sid};
    ag_ep__audit(ep, "login_ok", k, v, 2);
    ag_ep__reply_tokens(ep, cfg->set_cookie_on_login);
}

static void on_ignore(enum ag_user_status st, const struct ag_user *usr, void *arg)
{
}

/* The password matched and the account may log in: a new session and its pair. */
static void login_issue(struct ag_ep *ep)
{
    struct ep_user_op *u = ep->u;
    const struct ag_gen *g = ep->req->gen;
    const struct ag_config *cfg = g->cfg;
    char *granted;

    ep->roles = ep_user_roles(u);
    granted = ep->roles ? ag_grants_scopes(cfg, ep->roles) : NULL;
    if (granted == NULL) {
        ag_req_fail(ep->req, 500, "out of memory");
        return;
    }
    if (u->scope_req != NULL && u->scope_req[0] != '\0') {
        if (!ag_grants_subset(granted, u->scope_req)) {
            free(granted);
            ag_ep__reply_json(ep, 400,
                              json_pack("{s:s, s:s}", "error", "invalid_scope", "detail",
                                        "the requested scope exceeds what the user's roles grant"),
                              NULL);
            return;
        }
        free(granted);
        granted = strdup(u->scope_req);
    }
    ep->scope = granted;
    ep->sub = strdup(u->uid);
    /* A user's token names no client: the form's client_id is unauthenticated (anyone may
     * send client_id=billing-service), so it never reaches X-Auth-Client-Id. */
    ep->cid = strdup(cfg->app_name);
    ep->now = (int64_t)time(NULL);
    ag_ep__new_id(ep->sid);
    ag_ep__new_id(ep->fam);
    ag_ep__new_id(ep->otid);
    ag_ep__new_id(ep->ajti);
    if (ep->scope == NULL || ep->sub == NULL || ep->cid == NULL || ag_ep__mint_pair(g, ep) < 0) {
        ag_req_fail(ep->req, 500, "out of memory");
        return;
    }
    struct ag_sess_info s = {.sid = ep->sid, .otid = ep->otid, .subject = ep->sub,
                             .client_id = ep->cid, .family = ep->fam, .ip = ep->ip,
                             .user_agent = ep->ua, .now = ep->now,
                             .ttl = cfg->refresh_token_ttl, .is_user = true,
                             .max_sessions = cfg->max_sessions,
                             .revoke_until = ep->now + cfg->access_token_ttl + cfg->token_exp_leeway,
                             .access_end = ep->now + cfg->access_token_ttl + cfg->token_exp_leeway};
    if (ag_ep__started(ep, ag_sess_create(ep->w->store, &s, on_login_session, ep)))
        return;
    ag_ep__reply_detail(ep, 503, "Service Unavailable", NULL);
}

/* The id counted for an unknown user: not a UUID, so no user record has it. */
#define LOGIN_NO_USER "-"

static void login_refuse(struct ag_ep *ep)
{
    char extra[320];

    snprintf(extra, sizeof(extra), "WWW-Authenticate: Bearer realm=\"%s\"\r\n",
             ep->req->gen->cfg->app_name);
    ag_ep__reply_detail(ep, 401, "Incorrect username or password", extra);
}

static void on_login_failure_counted(enum ag_user_status st, const struct ag_user *usr, void *arg)
{
    struct ag_ep *ep = arg;

    if (ag_ep__orphaned(ep))
        return;
    if (st == AG_USER_OK && usr != NULL && usr->locked_until > 0) {
        const char *k[] = {"user_id"}, *v[] = {ep->u->uid};
        ag_ep__audit(ep, "lockout", k, v, 1);
    }
    login_refuse(ep);
}

/*
 * What a verify with the current argon2 parameters costs, as last measured on a pool
 * thread (a dummy verify or a real one), so that a failed login against a hash made
 * with older parameters can be padded to it: after the parameters are raised, such a
 * hash verifies faster than the dummy hash of an unknown user, and the difference would
 * tell which accounts exist (issue 9). Per process, guarded: pool threads share it.
 */
static pthread_mutex_t login_cost_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    unsigned long long opslimit;
    size_t memlimit;
    int64_t ns; /* 0: not measured yet */
} login_cost;

static int64_t login_mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void login_cost_note(const struct ag_pwparams *p, int64_t ns)
{
    pthread_mutex_lock(&login_cost_mu);
    login_cost.opslimit = p->opslimit;
    login_cost.memlimit = p->memlimit;
    login_cost.ns = ns;
    pthread_mutex_unlock(&login_cost_mu);
}

/* The last measured cost of a verify with <p>'s parameters, or 0. */
static int64_t login_cost_of(const struct ag_pwparams *p)
{
    int64_t ns;

    pthread_mutex_lock(&login_cost_mu);
    ns = login_cost.opslimit == p->opslimit && login_cost.memlimit == p->memlimit
             ? login_cost.ns
             : 0;
    pthread_mutex_unlock(&login_cost_mu);
    return ns;
}

/*
 * A failed verify against a hash of other parameters, started at <t0>: waits until it
 * has taken what a verify with the current parameters <p> takes. Unmeasured yet, it
 * runs a dummy verify instead (which measures it for the next time). The thread sleeps;
 * it does not hash: a flood of such logins costs no more than of any other.
 */
static void login_pad(struct ag_password_dummies *dd, const struct ag_pwparams *p, const char *pw,
                      size_t n, int64_t t0)
{
    int64_t cost = login_cost_of(p), left;
    struct timespec ts;

    if (cost == 0) {
        int64_t d0 = login_mono_ns();
        (void)ag_password_verify_dummy(dd, p, pw, n);
        login_cost_note(p, login_mono_ns() - d0);
        return;
    }
    left = t0 + cost - login_mono_ns();
    if (left <= 0)
        return; /* the old parameters cost more: nothing to pad (docs/users.md) */
    ts.tv_sec = (time_t)(left / 1000000000);
    ts.tv_nsec = (long)(left % 1000000000);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void login_verify_work(struct ag_pool_job *j)
{
    struct ep_user_op *u = (struct ep_user_op *)j;
    size_t n = strlen(u->password);
    int64_t t0 = login_mono_ns();
    bool stale;

    if (!u->found) {
        u->verified = ag_password_verify_dummy(u->dummies, &u->params, u->password, n);
        login_cost_note(&u->params, login_mono_ns() - t0);
        return;
    }
    stale = ag_password_needs_rehash(&u->params, u->u_hash);
    u->verified = ag_password_verify(u->u_hash, u->password, n);
    if (!stale)
        login_cost_note(&u->params, login_mono_ns() - t0);
    else if (u->verified == 1)
        u->hashed = ag_password_hash(&u->params, u->password, n, u->new_hash) == 0;
    else
        login_pad(u->dummies, &u->params, u->password, n, t0);
}

static void on_login_verified(struct ag_pool_job *j)
{
    struct ep_user_op *u = (struct ep_user_op *)j;
    struct ag_ep *ep = u->ep;
    const struct ag_config *cfg;

    if (ag_ep__orphaned(ep))
        return;
    cfg = ep->req->gen->cfg;
    if (j->cancelled) {
        ag_ep__reply_detail(ep, 503, "Service Unavailable", NULL);
        return;
    }
    if (!u->found || u->verified != 1) {
        const char *k[] = {"login", "reason"},
                   *v[] = {u->login, u->found ? "wrong_password" : "unknown_user"};
        ag_ep__audit(ep, "login_failed", k, v, 2);
        if (!cfg->rate_limits || cfg->lockout_failures == 0) {
            login_refuse(ep);
            return;
        }
        /*
         * An unknown user's failure is counted too, against a record that cannot exist
         * (the script finds none and writes nothing): the same Redis round trips as a
         * wrong password, so that the answer takes as long (CONTRACT.md section 7).
         */
        if (ag_ep__started(ep,
                           ag_user_login_result(ep->w->store, u->found ? u->uid : LOGIN_NO_USER,
                                                false, (int64_t)time(NULL),
                                                cfg->lockout_failures, cfg->lockout_seconds,
                                                on_login_failure_counted, ep)))
            return;
        login_refuse(ep);
        return;
    }
    if (!u->u_active) {
        ag_ep__reply_detail(ep, 403, "Inactive user", NULL);
        return;
    }
    if (!ag_ep__store_ready(ep->w)) {
        ag_ep__reply_detail(ep, 503, "Service Unavailable", NULL);
        return;
    }
    /* Side writes, answered by nobody: a lost one costs a rehash or a stale counter. */
    if (u->hashed)
        ag_user_set_hash(ep->w->store, u->uid, u->u_hash, u->new_hash, on_ignore, NULL);
    ag_user_login_result(ep->w->store, u->uid, true, (int64_t)time(NULL), 0, 0, on_ignore, NULL);
    login_issue(ep);
}

static void on_login_user(enum ag_user_status st, const struct ag_user *usr, void *arg)
{
    struct ag_ep *ep = arg;
    struct ep_user_op *u;
    int64_t now = (int64_t)time(NULL);
    char extra[64];

    if (ag_ep__orphaned(ep))
        return;
    u = ep->u;
    if (st == AG_USER_OK) {
        if (ep_user_copy(u, usr) < 0) {
            ag_req_fail(ep->req, 500, "out of memory");
            return;
        }
    } else if (st != AG_USER_UNKNOWN) {
        ag_ep__reply_detail(ep, 503, "Service Unavailable", NULL);
        return;
    }
    if (u->found && u->u_locked_until > now && ep->req->gen->cfg->rate_limits) {
        const char *k[] = {"user_id"}, *v[] = {u->uid};
        ag_ep__audit(ep, "login_locked", k, v, 1);
        snprintf(extra, sizeof(extra), "Retry-After: %lld\r\n",
                 (long long)(u->u_locked_until - now));
        ag_ep__reply_detail(ep, 429, "Account locked after too many failed logins", extra);
        return;
    }
    u->job.work = login_verify_work;
    u->job.done = on_login_verified;
    ep_user_submit(ep);
}

static void login_go(struct ag_ep *ep)
{
    /* A store that is not ready refuses the call: 503 below. */
    if (ag_ep__started(ep, ag_user_find(ep->w->store, ep->u->login, on_login_user, ep)))
        return;
    ag_ep__reply_detail(ep, 503, "Service Unavailable", NULL);
}

void ep_users_login(struct ag_ep *ep)
{
    const struct ag_config *cfg = ep->req->gen->cfg;
    struct ag_body_field jf[] = {{"username_or_email", true, 254, NULL},
                                 {"password", true, 4096, NULL}};
    struct ag_body_field ff[] = {{"username", true, 254, NULL},  {"password", true, 4096, NULL},
                                 {"scope", false, 1024, NULL},   {"grant_type", false, 64, NULL},
                                 {"client_id", false, EP_MAX_PARAM, NULL}};
    bool form = ep->kind == EP_TOKEN;
    struct ag_body_field *f = form ? ff : jf;
    size_t n = form ? 5 : 2;
    struct ep_user_op *u;
    char folded[256];

    if (!ep_read_fields(ep, form ? AG_BODY_FORM : AG_BODY_JSON, f, n))
        return;
    if (form && ff[3].value != NULL && strcmp(ff[3].value, "password") != 0) {
        ag_body_fields_free(f, n);
        ag_ep__reply_json(ep, 400,
                          json_pack("{s:s, s:s}", "error", "unsupported_grant_type", "detail",
                                    "grant_type must be \"password\""),
                          NULL);
        return;
    }
    if ((u = ep_user_op_new(ep)) == NULL) {
        ag_body_fields_free(f, n);
        ag_req_fail(ep->req, 500, "out of memory");
        return;
    }
    u->login = f[0].value;
    u->password = f[1].value;
    if (form) {
        u->scope_req = ff[2].value;
        free(ff[3].value);
        u->client_id = ff[4].value;
    }
    ag_user_fold(u->login, folded, sizeof(folded));
    struct ag_rl_bucket b[] = {
        {"login", ep->ip, cfg->rl_login.limit, cfg->rl_login.window},
        {"login-account", folded, cfg->rl_login_account.limit, cfg->rl_login_account.window},
    };
    ag_ep__limit(ep, b, 2, login_go);
}

/* ---------------------------------------------------------------- GET /me */

static void on_me_user(enum ag_user_status st, const struct ag_user *usr, void *arg)
{
    struct ag_ep *ep = arg;

    if (!ep_user_reply_ok(ep, st, "User not found"))
        return;
    if (ep_user_copy(ep->u, usr) < 0) {
        ag_req_fail(ep->req, 500, "out of memory");
        return;
    }
    ag_ep__reply_json(ep, 200, ep_user_json(ep->u), NULL);
}

void ep_users_me(struct ag_ep *ep)
{
    if (!ep_need_user(ep, false))
        return;
    if (!ag_ep__store_ready(ep->w)) {
        ag_ep__reply_detail(ep, 503, "Service Unavailable", NULL);
        return;
    }
    if (ep_user_op_new(ep) == NULL) {
        ag_req_fail(ep->req, 500, "out of memory");
        return;
    }
    if (ag_ep__started(ep, ag_user_get(ep->w->store, ep->id.sub, on_me_user, ep)))
        return;
    /* Not a user id the store could hold (a client token's subject): no such user. */
    ag_ep__reply_detail(ep, 404, "User not found", NULL);
}
