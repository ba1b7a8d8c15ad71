/*
 * tests/unit/gateway/route_test.c - mirrors gateway/ep/route.c and the table of
 * gateway/ep/routes.c: matching on a small synthetic table (exact paths, "{}" segments,
 * what a segment may not be, method case, first row wins, 404 against 405, the Allow
 * value and its cap), then every endpoint of CONTRACT.md section 7 on the real table
 * with the method, authentication, flags and body it must have.
 *
 * Owns:     nothing (the tables are static).
 * Entry:    main().
 * Not here: running a route (ep_test.c), the handlers (tests/integration/).
 * Spec:     CONTRACT.md section 7; docs/endpoints.md "Writing an endpoint".
 */
#include "route.h"

#include <string.h>

#include "ep.h"

#include "t.h"

static void h_a(struct ag_ep *ep)
{
    (void)ep;
}

static void h_b(struct ag_ep *ep)
{
    (void)ep;
}

/* clang-format off */
static const struct ag_ep_route table[] = {
    {"GET",    "/health",         AG_EP_OPEN, 0, 0, 0, h_a},
    {"HEAD",   "/health",         AG_EP_OPEN, 0, 0, 0, h_a},
    {"GET",    "/items/{}",       AG_EP_OPEN, 0, 0, 0, h_a},
    {"GET",    "/items/{}",       AG_EP_OPEN, 0, 0, 0, h_b}, /* never reached: the first wins */
    {"PUT",    "/items/{}/tags/{}", AG_EP_OPEN, 0, 0, 0, h_a},
    {"DELETE", "/items/{}/tags/{}", AG_EP_OPEN, 0, 0, 0, h_b},
    {"POST",   "/a/{}/{}/{}",     AG_EP_OPEN, 0, 0, 0, h_a}, /* more "{}" than allowed */
};
/* clang-format on */
#define NT (sizeof(table) / sizeof(table[0]))

static struct ag_str s(const char *p)
{
    return (struct ag_str){p, strlen(p)};
}

/* The row <method> <path> matches in <t>, with its params in <params> and count in <np>. */
static int match_in(const struct ag_ep_route *t, size_t n, const char *method, const char *path,
                    struct ag_str params[AG_EP_MAX_PARAMS], size_t *np)
{
    return ag_ep_route_match(t, n, s(method), s(path), params, np);
}

static int match(const char *method, const char *path)
{
    struct ag_str params[AG_EP_MAX_PARAMS];
    size_t np;

    return match_in(table, NT, method, path, params, &np);
}

/* The row of the real table for <method> <path>. */
static int real(const char *method, const char *path)
{
    struct ag_str params[AG_EP_MAX_PARAMS];
    size_t np;

    return match_in(ag_ep_routes, ag_ep_nroutes, method, path, params, &np);
}

static void test_route_exact_paths(void)
{
    AG_ASSERT_EQ(match("GET", "/health"), 0);
    AG_ASSERT_EQ(match("HEAD", "/health"), 1);
}

/* Whatever the method: no row has these paths. */
static void test_route_paths_no_row_has(void)
{
    /* clang-format off */
    static const char *const none[] = {
        "/healthz", "/healt", "/HEALTH", /* paths compare exactly */
        "/health/", "/items/a/",         /* a trailing slash */
        "", "/", "/items",
        "/items/", "/items//tags/red", "/items/i7/tags/", /* an empty segment */
        "/items/a/b", "/items/i7/tags/red/x",             /* a '/' in a param */
        "/a/x/y/z", /* more "{}" segments than AG_EP_MAX_PARAMS: never matches */
    };
    /* clang-format on */

    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
        if (match("GET", none[i]) != AG_EP_ROUTE_NO_PATH)
            AG_FAIL_("GET \"%s\": %d", none[i], match("GET", none[i]));
        if (match("POST", none[i]) != AG_EP_ROUTE_NO_PATH)
            AG_FAIL_("POST \"%s\": %d", none[i], match("POST", none[i]));
    }
}

static void test_route_method_is_any_case_and_unknown_is_no_method(void)
{
    AG_ASSERT_EQ(match("get", "/health"), 0);
    AG_ASSERT_EQ(match("hEaD", "/health"), 1);
    AG_ASSERT_EQ(match("POST", "/health"), AG_EP_ROUTE_NO_METHOD);
    AG_ASSERT_EQ(match("GETS", "/health"), AG_EP_ROUTE_NO_METHOD);
    AG_ASSERT_EQ(match("", "/health"), AG_EP_ROUTE_NO_METHOD);
    AG_ASSERT_EQ(match("POST", "/items/a"), AG_EP_ROUTE_NO_METHOD);
}

static void test_route_captures_segments(void)
{
    struct ag_str p[AG_EP_MAX_PARAMS];
    size_t np = 99;

    AG_ASSERT_EQ(match_in(table, NT, "GET", "/items/abc-1", p, &np), 2);
    AG_ASSERT_EQ(np, 1);
    AG_ASSERT_MEM(p[0].p, p[0].len, "abc-1");
    AG_ASSERT_EQ(match_in(table, NT, "DELETE", "/items/i7/tags/red", p, &np), 5);
    AG_ASSERT_EQ(np, 2);
    AG_ASSERT_MEM(p[0].p, p[0].len, "i7");
    AG_ASSERT_MEM(p[1].p, p[1].len, "red");
}

static void test_route_first_matching_row_wins(void)
{
    struct ag_str p[AG_EP_MAX_PARAMS];
    size_t np;
    int r = match_in(table, NT, "GET", "/items/x", p, &np);

    AG_ASSERT_EQ(r, 2);
    AG_ASSERT(r >= 0 && table[r].handler == h_a);
}

/* A miss leaves no params behind. */
static void test_route_miss_has_no_params(void)
{
    struct ag_str p[AG_EP_MAX_PARAMS];
    size_t np = 7;

    AG_ASSERT_EQ(match_in(table, NT, "POST", "/items/x", p, &np), AG_EP_ROUTE_NO_METHOD);
    AG_ASSERT_EQ(np, 0);
    np = 7;
    AG_ASSERT_EQ(match_in(table, NT, "GET", "/nope", p, &np), AG_EP_ROUTE_NO_PATH);
    AG_ASSERT_EQ(np, 0);
}

static void test_route_allow_joins_methods_in_table_order(void)
{
    char out[64];

    AG_ASSERT_EQ(ag_ep_route_allow(table, NT, s("/health"), out, sizeof(out)), 9);
    AG_ASSERT_STR(out, "GET, HEAD");
    AG_ASSERT_EQ(ag_ep_route_allow(table, NT, s("/items/q"), out, sizeof(out)), 8);
    AG_ASSERT_STR(out, "GET, GET"); /* one per row, as the table has them */
    ag_ep_route_allow(table, NT, s("/items/q/tags/t"), out, sizeof(out));
    AG_ASSERT_STR(out, "PUT, DELETE");
    AG_ASSERT_EQ(ag_ep_route_allow(table, NT, s("/nope"), out, sizeof(out)), 0);
    AG_ASSERT_STR(out, "");
}

/* Cut short at the cap: whole methods only, always NUL-terminated. */
static void test_route_allow_is_cut_at_its_cap(void)
{
    char out[16];

    memset(out, 'x', sizeof(out));
    AG_ASSERT_EQ(ag_ep_route_allow(table, NT, s("/health"), out, 9), 3);
    AG_ASSERT_STR(out, "GET");
    AG_ASSERT_EQ(ag_ep_route_allow(table, NT, s("/health"), out, 10), 9);
    AG_ASSERT_STR(out, "GET, HEAD");
    AG_ASSERT_EQ(ag_ep_route_allow(table, NT, s("/health"), out, 3), 0);
    AG_ASSERT_STR(out, "");
    memset(out, 'x', sizeof(out));
    AG_ASSERT_EQ(ag_ep_route_allow(table, NT, s("/health"), out, 0), 0);
    AG_ASSERT_EQ(out[0], 'x'); /* nothing written */
}

/* ---------------------------------------------------------------- the real table */

#define ST AG_EP_F_STORE
#define OR AG_EP_F_ORIGIN
#define CS AG_EP_F_CSRF
#define SY AG_EP_F_SYNC
#define JS AG_BODY_JSON
#define FM AG_BODY_FORM
#define B AG_EP_MAX_BODY

/* clang-format off */
/* CONTRACT.md sections 7, 11 and 13, as the table must have it: written out, not read from routes.c,
 * so that changing a row there is a change here too. */
static const struct want {
    const char *method, *path;
    enum ag_ep_auth auth;
    unsigned flags;
    enum ag_body_type type;
    size_t body_max; /* B: a JSON body's limit; 0: no body read */
    ag_ep_fn *handler; /* NULL: a handler of routes.c's own (static) */
} want[] = {
    {"GET",    "/health",          AG_EP_OPEN,     0,       0,  0, NULL},
    {"HEAD",   "/health",          AG_EP_OPEN,     0,       0,  0, NULL},
    {"GET",    "/ready",           AG_EP_OPEN,     0,       0,  0, NULL},
    {"HEAD",   "/ready",           AG_EP_OPEN,     0,       0,  0, NULL},
    {"GET",    "/jwks.json",       AG_EP_OPEN,     0,       0,  0, NULL},
    {"HEAD",   "/jwks.json",       AG_EP_OPEN,     0,       0,  0, NULL},
    /* CONTRACT.md section 13: the admin console */
    {"GET",    "/admin",           AG_EP_OPEN,     0,       0,  0, ag_ep_console_redirect},
    {"HEAD",   "/admin",           AG_EP_OPEN,     0,       0,  0, ag_ep_console_redirect},
    {"GET",    "/admin/",          AG_EP_OPEN,     0,       0,  0, ag_ep_console_page},
    {"HEAD",   "/admin/",          AG_EP_OPEN,     0,       0,  0, ag_ep_console_page},
    {"GET",    "/admin/assets/a.js", AG_EP_OPEN,   0,       0,  0, ag_ep_console_asset},
    {"HEAD",   "/admin/assets/a.js", AG_EP_OPEN,   0,       0,  0, ag_ep_console_asset},
    {"GET",    "/token/new",       AG_EP_MASTER,   ST | OR, 0,  0, ag_ep_tokens_new},
    {"GET",    "/token/refresh",   AG_EP_OPEN,     ST | OR, 0,  0, ag_ep_tokens_refresh_get},
    {"POST",   "/refresh",         AG_EP_OPEN,     ST | OR, 0,  B, ag_ep_tokens_refresh_post},
    {"POST",   "/register",        AG_EP_OPEN,     ST | OR, JS, B, ag_ep_users_register},
    {"POST",   "/login",           AG_EP_OPEN,     ST | OR, JS, B, ag_ep_users_login},
    {"POST",   "/token",           AG_EP_OPEN,     ST | OR, FM, B, ag_ep_users_token},
    {"GET",    "/me",              AG_EP_USER,     ST,      0,  0, ag_ep_users_me},
    /* CONTRACT.md section 14: also with only a refresh token (cookie, Bearer or body) */
    {"POST",   "/logout",          AG_EP_IDENTITY, ST | CS | AG_EP_F_REFRESH, 0, B, ag_ep_account_logout},
    {"POST",   "/logout-all",      AG_EP_USER,     ST | CS, 0,  0, ag_ep_account_logout_all},
    {"POST",   "/password",        AG_EP_USER,     ST | CS, JS, B, ag_ep_account_password},
    {"POST",   "/password/forgot", AG_EP_OPEN,     ST | OR, JS, B, ag_ep_account_forgot},
    {"POST",   "/password/reset",  AG_EP_OPEN,     ST | OR, JS, B, ag_ep_account_reset},
    {"GET",    "/sessions",        AG_EP_USER,     ST,      0,  0, ag_ep_account_sessions},
    {"DELETE", "/sessions/s1",     AG_EP_USER,     ST | CS, 0,  0, ag_ep_account_session_delete},
    {"GET",    "/verify",          AG_EP_OPEN,     SY,      0,  0, ag_ep_verify},
    {"HEAD",   "/verify",          AG_EP_OPEN,     SY,      0,  0, ag_ep_verify},
    /* section 13: the audit log API */
    {"GET",    "/admin/audit",     AG_EP_ADMIN,    ST,      0,  0, ag_ep_audit_list},
    {"POST",   "/audit",           AG_EP_AUDIT,    ST | CS, JS, B, ag_ep_audit_post},
    /* CONTRACT.md section 13: the users admin API */
    {"GET",    "/admin/users",     AG_EP_ADMIN,    ST,      0,  0, ag_ep_admin_users},
    {"GET",    "/admin/users/u1",  AG_EP_ADMIN,    ST,      0,  0, ag_ep_admin_user_get},
    {"PATCH",  "/admin/users/u1",  AG_EP_ADMIN,    ST | CS, JS, B, ag_ep_admin_user_patch},
    {"DELETE", "/admin/users/u1",  AG_EP_ADMIN,    ST | CS, 0,  0, ag_ep_admin_user_delete},
    {"GET",    "/admin/users/u1/sessions", AG_EP_ADMIN, ST, 0,  0, ag_ep_admin_sessions},
    {"DELETE", "/admin/users/u1/sessions", AG_EP_ADMIN, ST | CS, 0, 0, ag_ep_admin_sessions_delete},
    {"DELETE", "/admin/users/u1/sessions/s1", AG_EP_ADMIN, ST | CS, 0, 0, ag_ep_admin_session_delete},
    /* CONTRACT.md section 14: profile updates */
    {"PATCH",  "/me",              AG_EP_USER,     ST | CS, JS, B, ag_ep_users_patch_me},
    /* CONTRACT.md section 14: API keys */
    {"POST",   "/api-keys",        AG_EP_USER,     ST | CS, JS, B, ag_ep_apikeys_create},
    {"GET",    "/api-keys",        AG_EP_USER,     ST,      0,  0, ag_ep_apikeys_list},
    {"DELETE", "/api-keys/k1",     AG_EP_USER,     ST | CS, 0,  0, ag_ep_apikeys_delete},
    {"GET",    "/admin/users/u1/api-keys", AG_EP_ADMIN, ST, 0,  0, ag_ep_apikeys_admin_list},
    {"DELETE", "/admin/users/u1/api-keys/k1", AG_EP_ADMIN, ST | CS, 0, 0, ag_ep_apikeys_admin_delete},
};
/* clang-format on */

static void test_routes_every_contract_endpoint_has_its_row(void)
{
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const struct want *x = &want[i];
        struct ag_str p[AG_EP_MAX_PARAMS];
        size_t np;
        int r = match_in(ag_ep_routes, ag_ep_nroutes, x->method, x->path, p, &np);

        if (r < 0) {
            AG_FAIL_("%s %s: no row (%d)", x->method, x->path, r);
            continue;
        }
        const struct ag_ep_route *rt = &ag_ep_routes[r];
        if (strcmp(rt->method, x->method) != 0 || rt->auth != x->auth || rt->flags != x->flags ||
            rt->body != x->type || rt->body_max != x->body_max || rt->handler == NULL ||
            (x->handler != NULL && rt->handler != x->handler))
            AG_FAIL_("%s %s: row %d is %s auth %d flags %#x body %d max %zu", x->method, x->path, r,
                     rt->method, (int)rt->auth, rt->flags, (int)rt->body, rt->body_max);
    }
    /* /health, /ready and /jwks.json answer HEAD with the handler of their GET. */
    AG_ASSERT(ag_ep_routes[real("GET", "/health")].handler ==
              ag_ep_routes[real("HEAD", "/health")].handler);
    AG_ASSERT(ag_ep_routes[real("GET", "/ready")].handler ==
              ag_ep_routes[real("HEAD", "/ready")].handler);
    AG_ASSERT(ag_ep_routes[real("GET", "/jwks.json")].handler ==
              ag_ep_routes[real("HEAD", "/jwks.json")].handler);
    /* ... and no row is in the table twice. */
    AG_ASSERT_EQ(ag_ep_nroutes, sizeof(want) / sizeof(want[0]));
}

static void test_routes_session_id_is_its_param(void)
{
    struct ag_str p[AG_EP_MAX_PARAMS];
    size_t np = 0;

    AG_ASSERT(match_in(ag_ep_routes, ag_ep_nroutes, "DELETE", "/sessions/Ab_9-z", p, &np) >= 0);
    AG_ASSERT_EQ(np, 1);
    AG_ASSERT_MEM(p[0].p, p[0].len, "Ab_9-z");
    AG_ASSERT_EQ(real("DELETE", "/sessions/"), AG_EP_ROUTE_NO_PATH);
    AG_ASSERT_EQ(real("DELETE", "/sessions/a/b"), AG_EP_ROUTE_NO_PATH);
    AG_ASSERT_EQ(real("GET", "/sessions/a/b"), AG_EP_ROUTE_NO_PATH);
    AG_ASSERT_EQ(real("GET", "/sessions/x"), AG_EP_ROUTE_NO_METHOD);
    AG_ASSERT_EQ(real("DELETE", "/sessions"), AG_EP_ROUTE_NO_METHOD);
}

/* The Allow value of each 405 the real table can give (the buffer of endpoints.c: 96). */
static void test_routes_405_allow_values(void)
{
    /* clang-format off */
    static const struct {
        const char *method, *path, *allow;
    } c[] = {
        {"POST", "/health", "GET, HEAD"},
        {"DELETE", "/ready", "GET, HEAD"},
        {"POST", "/token/new", "GET"},
        {"GET", "/login", "POST"},
        {"PUT", "/sessions", "GET"},
        {"GET", "/sessions/x", "DELETE"},
        {"GET", "/password/reset", "POST"},
        {"POST", "/admin/", "GET, HEAD"},
        {"DELETE", "/admin/assets/x", "GET, HEAD"},
        {"POST", "/admin/audit", "GET"},
        {"GET", "/audit", "POST"},
    };
    /* clang-format on */
    char out[96];

    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        AG_ASSERT_EQ(real(c[i].method, c[i].path), AG_EP_ROUTE_NO_METHOD);
        ag_ep_route_allow(ag_ep_routes, ag_ep_nroutes, s(c[i].path), out, sizeof(out));
        AG_ASSERT_STR(out, c[i].allow);
    }
    AG_ASSERT_EQ(real("GET", "/nope"), AG_EP_ROUTE_NO_PATH);
    AG_ASSERT_EQ(real("GET", "/token/new/"), AG_EP_ROUTE_NO_PATH);
    AG_ASSERT_EQ(real("GET", ""), AG_EP_ROUTE_NO_PATH); /* auth-prefix itself */
}

/*
 * The table is well formed: a row with more "{}" segments than AG_EP_MAX_PARAMS would
 * never match (a silent 404), and two rows with one method and path would shadow each
 * other and repeat the method in Allow.
 */
static void test_routes_rows_are_well_formed(void)
{
    for (size_t i = 0; i < ag_ep_nroutes; i++) {
        const struct ag_ep_route *r = &ag_ep_routes[i];
        size_t params = 0;

        AG_ASSERT_NOT_NULL(r->handler);
        AG_ASSERT(r->path[0] == '/');
        for (const char *p = strstr(r->path, "{}"); p != NULL; p = strstr(p + 2, "{}"))
            params++;
        AG_ASSERT(params <= AG_EP_MAX_PARAMS);
        for (size_t j = 0; j < i; j++)
            AG_ASSERT(strcmp(ag_ep_routes[j].method, r->method) != 0 ||
                      strcmp(ag_ep_routes[j].path, r->path) != 0);
    }
}

int main(void)
{
    AG_RUN(test_route_exact_paths);
    AG_RUN(test_route_paths_no_row_has);
    AG_RUN(test_route_method_is_any_case_and_unknown_is_no_method);
    AG_RUN(test_route_captures_segments);
    AG_RUN(test_route_first_matching_row_wins);
    AG_RUN(test_route_miss_has_no_params);
    AG_RUN(test_route_allow_joins_methods_in_table_order);
    AG_RUN(test_route_allow_is_cut_at_its_cap);
    AG_RUN(test_routes_every_contract_endpoint_has_its_row);
    AG_RUN(test_routes_session_id_is_its_param);
    AG_RUN(test_routes_405_allow_values);
    AG_RUN(test_routes_rows_are_well_formed);
    return ag_t_done();
}
