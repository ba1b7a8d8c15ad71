/*
 * gateway/ep/routes.c - the route table of the gateway's own endpoints, under
 * auth-prefix: one row per method and path, what the framework checks before the row's
 * handler runs, and the handlers too small for a file of their own (/health, /ready,
 * /jwks.json).
 *
 * Owns:     ag_ep_routes[].
 * Entry:    ag_ep_routes, ag_ep_nroutes (read by gateway/ep/endpoints.c).
 * Not here: matching (route.c), running a route (endpoints.c), the handlers (ep_*.c).
 * Spec:     CONTRACT.md section 7; docs/endpoints.md (the table in prose).
 */
#include "ep.h"

#include "gen.h"
#include "reply.h"
#include "req.h"

/*
 * How long an upstream may keep the JWK Set (docs/keys.md "JWKS"): also the least an
 * operator waits between adding a key verify-only and making it the signer, so that
 * every upstream has it before the first token it signs.
 */
#define EP_JWKS_CACHE "public, max-age=300"

static void ep_health(struct ag_ep *ep)
{
    struct ag_str b = AG_LIT(AG_REPLY_HEALTH_OK);

    ag_req_reply(ep->req, 200, b.p, b.len, NULL);
}

static void ep_ready(struct ag_ep *ep)
{
    bool ready = ag_ep_store_ready(ep);
    struct ag_str b = ready ? AG_LIT(AG_REPLY_READY) : AG_LIT(AG_REPLY_NOT_READY);

    ag_req_reply(ep->req, ready ? 200 : 503, b.p, b.len, NULL);
}

/* The public keys of the generation's ring, made at load (gateway/server.c). */
static void ep_jwks(struct ag_ep *ep)
{
    const struct ag_gen *g = ep->req->gen;

    ag_ep_reply_body(ep, 200, "application/json", EP_JWKS_CACHE, g->jwks, g->jwks_len, NULL);
}

/* Shorthands for the columns that repeat. */
#define STORE AG_EP_F_STORE
#define ORIGIN AG_EP_F_ORIGIN
#define CSRF AG_EP_F_CSRF
#define SYNC AG_EP_F_SYNC
#define REFRESH AG_EP_F_REFRESH
#define JSON AG_BODY_JSON
#define FORM AG_BODY_FORM
#define BODY AG_EP_MAX_BODY

/*
 * A cross-site HTML form can only send text/plain, multipart or urlencoded bodies:
 * asking for JSON (and for the form type only where OAuth2 says so) keeps the JSON
 * endpoints out of a login CSRF, and ORIGIN refuses a foreign Origin on those that set
 * cookies or act for whoever posts (a login CSRF signs the victim in as the attacker).
 * /verify is OPEN: it judges the credentials of the request it describes itself; SYNC
 * makes it wait at the start for the revocations as a proxied request does, not for a
 * store it never writes to.
 */
const struct ag_ep_route ag_ep_routes[] = {
    /* method   path                auth            flags                 body  max   handler */
    {"GET",    "/health",          AG_EP_OPEN,     0,                    0,    0,    ep_health},
    {"HEAD",   "/health",          AG_EP_OPEN,     0,                    0,    0,    ep_health},
    {"GET",    "/ready",           AG_EP_OPEN,     0,                    0,    0,    ep_ready},
    {"HEAD",   "/ready",           AG_EP_OPEN,     0,                    0,    0,    ep_ready},
    {"GET",    "/jwks.json",       AG_EP_OPEN,     0,                    0,    0,    ep_jwks},
    {"HEAD",   "/jwks.json",       AG_EP_OPEN,     0,                    0,    0,    ep_jwks},
    /* The admin console (CONTRACT.md section 13; gateway/ep/ep_console.c): OPEN, since the
     * page and its files are public; the data it shows comes from the admin API's rows. */
    {"GET",    "/admin",           AG_EP_OPEN,     0,                    0,    0,    ag_ep_console_redirect},
    {"HEAD",   "/admin",           AG_EP_OPEN,     0,                    0,    0,    ag_ep_console_redirect},
    {"GET",    "/admin/",          AG_EP_OPEN,     0,                    0,    0,    ag_ep_console_page},
    {"HEAD",   "/admin/",          AG_EP_OPEN,     0,                    0,    0,    ag_ep_console_page},
    {"GET",    "/admin/assets/{}", AG_EP_OPEN,     0,                    0,    0,    ag_ep_console_asset},
    {"HEAD",   "/admin/assets/{}", AG_EP_OPEN,     0,                    0,    0,    ag_ep_console_asset},
    {"GET",    "/token/new",       AG_EP_MASTER,   STORE | ORIGIN,       0,    0,    ag_ep_tokens_new},
    {"GET",    "/token/refresh",   AG_EP_OPEN,     STORE | ORIGIN,       0,    0,    ag_ep_tokens_refresh_get},
    {"POST",   "/refresh",         AG_EP_OPEN,     STORE | ORIGIN,       0,    BODY, ag_ep_tokens_refresh_post},
    {"POST",   "/register",        AG_EP_OPEN,     STORE | ORIGIN,       JSON, BODY, ag_ep_users_register},
    {"POST",   "/login",           AG_EP_OPEN,     STORE | ORIGIN,       JSON, BODY, ag_ep_users_login},
    {"POST",   "/token",           AG_EP_OPEN,     STORE | ORIGIN,       FORM, BODY, ag_ep_users_token},
    {"GET",    "/me",              AG_EP_USER,     STORE,                0,    0,    ag_ep_users_me},
    {"PATCH",  "/me",              AG_EP_USER,     STORE | CSRF,         JSON, BODY, ag_ep_users_patch_me},
    /* An access token, or only a refresh token (cookie, Bearer, JSON or form body): REFRESH. */
    {"POST",   "/logout",          AG_EP_IDENTITY, STORE | CSRF | REFRESH, 0,  BODY, ag_ep_account_logout},
    {"POST",   "/logout-all",      AG_EP_USER,     STORE | CSRF,         0,    0,    ag_ep_account_logout_all},
    {"POST",   "/password",        AG_EP_USER,     STORE | CSRF,         JSON, BODY, ag_ep_account_password},
    {"POST",   "/password/forgot", AG_EP_OPEN,     STORE | ORIGIN,       JSON, BODY, ag_ep_account_forgot},
    {"POST",   "/password/reset",  AG_EP_OPEN,     STORE | ORIGIN,       JSON, BODY, ag_ep_account_reset},
    {"GET",    "/sessions",        AG_EP_USER,     STORE,                0,    0,    ag_ep_account_sessions},
    {"DELETE", "/sessions/{}",     AG_EP_USER,     STORE | CSRF,         0,    0,    ag_ep_account_session_delete},
    {"GET",    "/verify",          AG_EP_OPEN,     SYNC,                 0,    0,    ag_ep_verify},
    {"HEAD",   "/verify",          AG_EP_OPEN,     SYNC,                 0,    0,    ag_ep_verify},
    /* the audit log API (ep_audit.c): staff read it, applications add their own events */
    {"GET",    "/admin/audit",     AG_EP_ADMIN,    STORE,                0,    0,    ag_ep_audit_list},
    {"POST",   "/audit",           AG_EP_AUDIT,    STORE | CSRF,         JSON, BODY, ag_ep_audit_post},
    /* The users admin API (CONTRACT.md section 13; gateway/ep/ep_admin.c). */
    {"GET",    "/admin/users",     AG_EP_ADMIN,    STORE,                0,    0,    ag_ep_admin_users},
    {"GET",    "/admin/users/{}",  AG_EP_ADMIN,    STORE,                0,    0,    ag_ep_admin_user_get},
    {"PATCH",  "/admin/users/{}",  AG_EP_ADMIN,    STORE | CSRF,         JSON, BODY, ag_ep_admin_user_patch},
    {"DELETE", "/admin/users/{}",  AG_EP_ADMIN,    STORE | CSRF,         0,    0,    ag_ep_admin_user_delete},
    {"GET",    "/admin/users/{}/sessions", AG_EP_ADMIN, STORE,           0,    0,    ag_ep_admin_sessions},
    {"DELETE", "/admin/users/{}/sessions", AG_EP_ADMIN, STORE | CSRF,    0,    0,    ag_ep_admin_sessions_delete},
    {"DELETE", "/admin/users/{}/sessions/{}", AG_EP_ADMIN, STORE | CSRF, 0,    0,    ag_ep_admin_session_delete},
    /* API keys (CONTRACT.md section 14; gateway/ep/ep_apikeys.c). */
    {"POST",   "/api-keys",        AG_EP_USER,     STORE | CSRF,         JSON, BODY, ag_ep_apikeys_create},
    {"GET",    "/api-keys",        AG_EP_USER,     STORE,                0,    0,    ag_ep_apikeys_list},
    {"DELETE", "/api-keys/{}",     AG_EP_USER,     STORE | CSRF,         0,    0,    ag_ep_apikeys_delete},
    {"GET",    "/admin/users/{}/api-keys", AG_EP_ADMIN, STORE,           0,    0,    ag_ep_apikeys_admin_list},
    {"DELETE", "/admin/users/{}/api-keys/{}", AG_EP_ADMIN, STORE | CSRF, 0,    0,    ag_ep_apikeys_admin_delete},
};

const size_t ag_ep_nroutes = sizeof(ag_ep_routes) / sizeof(ag_ep_routes[0]);
