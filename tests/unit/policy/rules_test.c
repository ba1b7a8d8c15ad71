/*
 * tests/unit/policy/rules_test.c - mirrors policy/rules.c: plain case-insensitive
 * prefixes, every matching list required, method-limited rules, scopes and roles,
 * deny-by-default with public exceptions, routes, and each lint finding.
 *
 * Configs are inline JSON (single quotes turned into double quotes by q()) parsed
 * by policy/config.c, so the tests also prove the parser feeds the compiler.
 * Every config and rules object is freed (ASan/LSan check it).
 */
#include "rules.h"

#include <stdio.h>
#include <string.h>

#include "config.h"
#include "t.h"

#define BASE "'upstream':'http://127.0.0.1:8081','cryptography-key':'0123456789abcdef0123456789abcdef'"

/* ------------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------------ */

static const char *q(const char *in)
{
    static char buf[16384];
    size_t i;

    for (i = 0; in[i] != '\0' && i + 1 < sizeof(buf); i++)
        buf[i] = in[i] == '\'' ? '"' : in[i];
    buf[i] = '\0';
    return buf;
}

/* Parses "{BASE, <keys>}"; aborts the test (NULL) with the problems printed. */
static struct ag_config *cfg_of(const char *keys)
{
    char in[16384];
    struct ag_err err = {0};
    struct ag_config *cfg;
    const char *json;

    snprintf(in, sizeof(in), "{" BASE "%s%s}", keys[0] ? "," : "", keys);
    json = q(in);
    cfg = ag_config_parse(json, strlen(json), "t.json", NULL, 0, &err);
    for (int i = 0; i < err.n && i < AG_ERR_MAX; i++)
        fprintf(stderr, "  config: %s\n", err.line[i]);
    return cfg;
}

/* A compiled config, kept together so one call frees both. */
struct fixture {
    struct ag_config *cfg;
    struct ag_rules *r;
};

static struct fixture fx_new(const char *keys)
{
    struct fixture f = {cfg_of(keys), NULL};

    if (f.cfg != NULL)
        f.r = ag_rules_new(f.cfg);
    return f;
}

static void fx_free(struct fixture *f)
{
    ag_rules_free(f->r);
    ag_config_unref(f->cfg);
    f->r = NULL;
    f->cfg = NULL;
}

static struct ag_rules_verdict match(const struct fixture *f, const char *method, const char *path)
{
    struct ag_rules_verdict v;

    memset(&v, 0xA5, sizeof(v)); /* every field must be written */
    ag_rules_match(f->r, (struct ag_str){method, strlen(method)}, (struct ag_str){path, strlen(path)},
                   &v);
    return v;
}

static unsigned need(const struct fixture *f, const char *method, const char *path)
{
    return match(f, method, path).need;
}

/* True when the <n> strings of <set> are exactly the '|'-separated <want>, in any order. */
static bool set_is(const char *const *set, size_t n, const char *want)
{
    size_t count = 0;
    char buf[512], *save = NULL;

    snprintf(buf, sizeof(buf), "%s", want);
    for (char *w = strtok_r(buf, "|", &save); w != NULL; w = strtok_r(NULL, "|", &save)) {
        bool found = false;

        for (size_t i = 0; i < n && !found; i++)
            found = strcmp(set[i], w) == 0;
        if (!found)
            return false;
        count++;
    }
    return count == n;
}

/* Lints "{BASE, <keys>}" and returns every finding joined by " | ". Static buffer. */
static const char *lint(const char *keys, int *count)
{
    static char out[AG_ERR_MAX * (AG_ERR_LINE + 3)];
    struct ag_err err = {0};
    struct ag_config *cfg = cfg_of(keys);

    out[0] = '\0';
    *count = -1;
    if (cfg == NULL)
        return "(config refused)";
    *count = ag_rules_lint(cfg, &err);
    for (int i = 0; i < err.n && i < AG_ERR_MAX; i++) {
        if (i > 0)
            strcat(out, " | ");
        strcat(out, err.line[i]);
    }
    ag_config_unref(cfg);
    return out;
}

#define M AG_NEED_MASTER
#define A AG_NEED_ACCESS

/* ------------------------------------------------------------------------------------------
 * Lists (fastauth-api semantics)
 * ------------------------------------------------------------------------------------------ */

static void test_rules_empty_config_needs_nothing(void)
{
    struct fixture f = fx_new("");
    struct ag_rules_verdict v;

    AG_ASSERT_NOT_NULL(f.r);
    if (f.r == NULL)
        goto out;
    v = match(&f, "GET", "/anything");
    AG_ASSERT_EQ(v.need, 0);
    AG_ASSERT_EQ(v.n_scopes, 0);
    AG_ASSERT_EQ(v.n_roles, 0);
    AG_ASSERT_EQ(v.route, -1);
    AG_ASSERT_EQ(need(&f, "GET", ""), 0);
out:
    fx_free(&f);
}

static void test_rules_prefix_is_plain(void)
{
    struct fixture f = fx_new("'access-token-paths':['/access']");

    AG_ASSERT_NOT_NULL(f.r);
    if (f.r == NULL)
        goto out;
    AG_ASSERT_EQ(need(&f, "GET", "/access"), A);
    AG_ASSERT_EQ(need(&f, "GET", "/access/x"), A);
    AG_ASSERT_EQ(need(&f, "GET", "/accessories"), A); /* as fastauth-api's startswith */
    AG_ASSERT_EQ(need(&f, "GET", "/acces"), 0);
    AG_ASSERT_EQ(need(&f, "GET", "/"), 0);
    AG_ASSERT_EQ(need(&f, "GET", "/x/access"), 0);
out:
    fx_free(&f);
}

static void test_rules_prefix_ignores_case(void)
{
    struct fixture f = fx_new("'access-token-paths':['/Access'],'master-token-paths':['/ADMIN']");

    AG_ASSERT_NOT_NULL(f.r);
    if (f.r == NULL)
        goto out;
    AG_ASSERT_EQ(need(&f, "GET", "/ACCESS/x"), A);
    AG_ASSERT_EQ(need(&f, "GET", "/access"), A);
    AG_ASSERT_EQ(need(&f, "GET", "/aCcEsS"), A);
    AG_ASSERT_EQ(need(&f, "GET", "/admin/users"), M);
    AG_ASSERT_EQ(need(&f, "GET", "/Admin"), M);
out:
    fx_free(&f);
}

static void test_rules_every_matching_list_is_required(void)
{
    struct fixture f =
        fx_new("'master-token-paths':['/api/admin'],'access-token-paths':['/api']");

    AG_ASSERT_NOT_NULL(f.r);
    if (f.r == NULL)
        goto out;
    AG_ASSERT_EQ(need(&f, "GET", "/api/users"), A);
    AG_ASSERT_EQ(need(&f, "GET", "/api/admin/x"), M | A);
    AG_ASSERT_EQ(need(&f, "GET", "/api/ADMIN"), M | A);
out:
    fx_free(&f);
}

static void test_rules_master_and_access_on_one_path(void)
{
    struct fixture f = fx_new("'master-token-paths':['/both'],'access-token-paths':['/both']");

    AG_ASSERT_NOT_NULL(f.r);
    if (f.r == NULL)
        goto out;
    AG_ASSERT_EQ(need(&f, "GET", "/both"), M | A);
    AG_ASSERT_EQ(need(&f, "POST", "/both/x"), M | A);
out:
    fx_free(&f);
}

static void test_rules_non_ascii_and_long_paths_walk_safely(void)
{
    struct fixture f = fx_new("'access-token-paths':['/a']");
    char longp[5000];

    AG_ASSERT_NOT_NULL(f.r);
    if (f.r == NULL)
        goto out;
    memset(longp, 'a', sizeof(longp) - 1);
    longp[0] = '/';
    longp[sizeof(longp) - 1] = '\0';
    AG_ASSERT_EQ(need(&f, "GET", longp), A);
    AG_ASSERT_EQ(need(&f, "GET", "\xc3\xa9/a"), 0);
    AG_ASSERT_EQ(need(&f, "GET", "/A\xff"), A);
out:
    fx_free(&f);
}

/* ------------------------------------------------------------------------------------------
 * Rules
 * ------------------------------------------------------------------------------------------ */

static void test_rules_auth_modes(void)
{
    struct fixture f = fx_new("'rules':[{'prefix':'/a'},{'prefix':'/m','auth':'master'},"
                              "{'prefix':'/b','auth':'both'},{'prefix':'/p','auth':'public'}]");

    AG_ASSERT_NOT_NULL(f.r);
    if (f.r == NULL)
        goto out;
    AG_ASSERT_EQ(need(&f, "GET", "/a"), A); /* "auth" defaults to access */
    AG_ASSERT_EQ(need(&f, "GET", "/m"), M);
    AG_ASSERT_EQ(need(&f, "GET", "/b"), M | A);
    AG_ASSERT_EQ(need(&f, "GET", "/p"), 0);
out:
    fx_free(&f);
}

static void test_rules_method_limited_rule_applies_to_its_methods_only(void)
{
    struct fixture f = fx_new("'rules':[{'prefix':'/items','methods':['post','DELETE'],"
                              "'auth':'master'}],'access-token-paths':['/items/secret']");

    AG_ASSERT_NOT_NULL(f.r);
    if (f.r == NULL)
        goto out;
    AG_ASSERT_EQ(need(&f, "GET", "/items/1"), 0);
    AG_ASSERT_EQ(need(&f, "POST", "/items/1"), M); /* "post" was stored upper-cased */
    AG_ASSERT_EQ(need(&f, "DELETE", "/ITEMS"), M);
    AG_ASSERT_EQ(need(&f, "post", "/items"), 0); /* methods are case-sensitive tokens */
    AG_ASSERT_EQ(need(&f, "POSTX", "/items"), 0);
    AG_ASSERT_EQ(need(&f, "POS", "/items"), 0);
    AG_ASSERT_EQ(need(&f, "GET", "/items/secret"), A);
    AG_ASSERT_EQ(need(&f, "POST", "/items/secret"), M | A);
out:
    fx_free(&f);
}

/* A server answers HEAD as it would GET (RFC 9110 section 9.3.2): a GET rule covers it. */
static void test_rules_get_rule_covers_head(void)
{
    struct fixture f = fx_new("'rules':[{'prefix':'/reports','methods':['GET']},"
                              "{'prefix':'/login','methods':['get'],'auth':'public'}],"
                              "'deny-by-default':true");

    AG_ASSERT_NOT_NULL(f.r);
    if (f.r == NULL)
        goto out;
    AG_ASSERT_EQ(need(&f, "GET", "/reports/q1"), A);
    AG_ASSERT_EQ(need(&f, "HEAD", "/reports/q1"), A);
    AG_ASSERT_EQ(need(&f, "head", "/reports/q1"), A);   /* deny-by-default, not the rule */
    AG_ASSERT_EQ(need(&f, "HEAD", "/login"), 0);        /* a GET public exception: HEAD too */
    AG_ASSERT_EQ(need(&f, "POST", "/login"), A);
    AG_ASSERT_EQ(need(&f, "HEADX", "/login"), A);
out:
    fx_free(&f);
}

static void test_rules_scopes_and_roles_union_and_imply_access(void)
{
    struct fixture f = fx_new(
        "'master-token-paths':['/api/admin'],"
        "'rules':[{'prefix':'/api','scopes':['read']},"
        "{'prefix':'/api/admin','auth':'master','roles':['admin'],'scopes':['read','admin']},"
        "{'prefix':'/api/admin/users','methods':['DELETE'],'roles':['admin','root']}]");
    struct ag_rules_verdict v;

    AG_ASSERT_NOT_NULL(f.r);
    if (f.r == NULL)
        goto out;
    v = match(&f, "GET", "/api/x");
    AG_ASSERT_EQ(v.need, A);
    AG_ASSERT(set_is(v.scopes, v.n_scopes, "read"));
    AG_ASSERT_EQ(v.n_roles, 0);
    v = match(&f, "GET", "/API/admin/users/1");
    AG_ASSERT_EQ(v.need, M | A); /* master by "auth", access because of scopes/roles */
    AG_ASSERT(set_is(v.scopes, v.n_scopes, "read|admin")); /* "read" only once */
    AG_ASSERT(set_is(v.roles, v.n_roles, "admin"));
    v = match(&f, "DELETE", "/api/admin/users/1");
    AG_ASSERT(set_is(v.roles, v.n_roles, "admin|root"));
    AG_ASSERT(set_is(v.scopes, v.n_scopes, "read|admin"));
out:
    fx_free(&f);
}

static void test_rules_verdict_strings_outlive_the_config(void)
{
    struct fixture f = fx_new("'rules':[{'prefix':'/x','scopes':['s1'],'roles':['r1']}]");
    struct ag_rules_verdict v;

    AG_ASSERT_NOT_NULL(f.r);
    if (f.r == NULL)
        goto out;
    ag_config_unref(f.cfg); /* the rules keep their own copies */
    f.cfg = NULL;
    v = match(&f, "GET", "/x");
    AG_ASSERT(set_is(v.scopes, v.n_scopes, "s1"));
    AG_ASSERT(set_is(v.roles, v.n_roles, "r1"));
out:
    fx_free(&f);
}

static void test_rules_sixteen_scopes_fit(void)
{
    struct fixture f = fx_new("'rules':[{'prefix':'/a','scopes':['1','2','3','4','5','6','7','8']},"
                              "{'prefix':'/a/b','scopes':['9','10','11','12','13','14','15','16',"
                              "'1','2']}]");
    struct ag_rules_verdict v;

    AG_ASSERT_NOT_NULL(f.r);
    if (f.r == NULL)
        goto out;
    v = match(&f, "GET", "/a/b");
    AG_ASSERT_EQ(v.n_scopes, 16);
    AG_ASSERT_EQ(v.need, A);
out:
    fx_free(&f);
}

static void test_rules_new_refuses_more_than_the_max_on_one_path(void)
{
    struct fixture f = fx_new("'rules':[{'prefix':'/a','scopes':['1','2','3','4','5','6','7','8']},"
                              "{'prefix':'/A/b','methods':['GET'],'scopes':['9','10','11','12',"
                              "'13','14','15','16','17']}]");
    struct fixture g = fx_new("'rules':[{'prefix':'/a','roles':['1','2','3','4','5','6','7','8']},"
                              "{'prefix':'/a/','roles':['9','10','11','12','13','14','15','16',"
                              "'x']}]");

    AG_ASSERT_NOT_NULL(f.cfg);
    AG_ASSERT_NULL(f.r);
    AG_ASSERT_NOT_NULL(g.cfg);
    AG_ASSERT_NULL(g.r);
    fx_free(&f);
    fx_free(&g);
}

/* ------------------------------------------------------------------------------------------
 * Deny-by-default and public exceptions
 * ------------------------------------------------------------------------------------------ */

static void test_rules_deny_by_default_needs_access_when_nothing_matches(void)
{
    struct fixture f = fx_new("'deny-by-default':true,'master-token-paths':['/admin']");

    AG_ASSERT_NOT_NULL(f.r);
    if (f.r == NULL)
        goto out;
    AG_ASSERT_EQ(need(&f, "GET", "/"), A);
    AG_ASSERT_EQ(need(&f, "GET", "/anything"), A);
    AG_ASSERT_EQ(need(&f, "GET", "/admin"), M); /* an explicit requirement replaces it */
out:
    fx_free(&f);
}

static void test_rules_public_paths_are_exceptions_to_deny_by_default(void)
{
    struct fixture f = fx_new("'deny-by-default':true,'public-paths':['/health','/static/'],"
                              "'rules':[{'prefix':'/login','methods':['POST'],'auth':'public'}]");

    AG_ASSERT_NOT_NULL(f.r);
    if (f.r == NULL)
        goto out;
    AG_ASSERT_EQ(need(&f, "GET", "/health"), 0);
    AG_ASSERT_EQ(need(&f, "GET", "/HEALTHz"), 0);
    AG_ASSERT_EQ(need(&f, "GET", "/static/app.js"), 0);
    AG_ASSERT_EQ(need(&f, "GET", "/static"), A);
    AG_ASSERT_EQ(need(&f, "POST", "/login"), 0);
    AG_ASSERT_EQ(need(&f, "GET", "/login"), A); /* the public rule is method-limited */
out:
    fx_free(&f);
}

static void test_rules_public_paths_never_lift_a_requirement(void)
{
    struct fixture f = fx_new("'deny-by-default':true,'public-paths':['/','/api/health'],"
                              "'access-token-paths':['/api'],"
                              "'rules':[{'prefix':'/api/admin','auth':'public'}]");

    AG_ASSERT_NOT_NULL(f.r);
    if (f.r == NULL)
        goto out;
    AG_ASSERT_EQ(need(&f, "GET", "/api/health"), A);
    AG_ASSERT_EQ(need(&f, "GET", "/api/admin"), A);
    AG_ASSERT_EQ(need(&f, "GET", "/other"), 0);
out:
    fx_free(&f);
}

static void test_rules_public_paths_do_nothing_without_deny_by_default(void)
{
    struct fixture f = fx_new("'public-paths':['/p'],'access-token-paths':['/p/x']");

    AG_ASSERT_NOT_NULL(f.r);
    if (f.r == NULL)
        goto out;
    AG_ASSERT_EQ(need(&f, "GET", "/p"), 0);
    AG_ASSERT_EQ(need(&f, "GET", "/q"), 0);
    AG_ASSERT_EQ(need(&f, "GET", "/p/x"), A);
out:
    fx_free(&f);
}

/* ------------------------------------------------------------------------------------------
 * Routes
 * ------------------------------------------------------------------------------------------ */

static void test_rules_routes_longest_prefix_wins(void)
{
    struct fixture f = fx_new("'routes':[{'prefix':'/api','upstream':'http://127.0.0.1:9001'},"
                              "{'prefix':'/api/v2','upstream':'http://127.0.0.1:9002'},"
                              "{'prefix':'/API/V2','upstream':'http://127.0.0.1:9003'},"
                              "{'prefix':'/ws','upstream':'http://127.0.0.1:9004'}]");

    AG_ASSERT_NOT_NULL(f.r);
    if (f.r == NULL)
        goto out;
    AG_ASSERT_EQ(match(&f, "GET", "/").route, -1);
    AG_ASSERT_EQ(match(&f, "GET", "/ap").route, -1);
    AG_ASSERT_EQ(match(&f, "GET", "/api").route, 0);
    AG_ASSERT_EQ(match(&f, "GET", "/api/v1/x").route, 0);
    AG_ASSERT_EQ(match(&f, "GET", "/Api/V2/x").route, 1); /* duplicate prefix: the first wins */
    AG_ASSERT_EQ(match(&f, "GET", "/ws").route, 3);
    AG_ASSERT_EQ(match(&f, "GET", "/api/v2").need, 0);
out:
    fx_free(&f);
}

static void test_rules_free_null_is_allowed(void)
{
    ag_rules_free(NULL);
}

/* ------------------------------------------------------------------------------------------
 * Lint
 * ------------------------------------------------------------------------------------------ */

static void test_lint_clean_config_has_no_findings(void)
{
    int n;
    const char *out = lint("'deny-by-default':true,'master-token-paths':['/admin'],"
                           "'access-token-paths':['/api'],'public-paths':['/health'],"
                           "'rules':[{'prefix':'/api/write','methods':['POST'],'scopes':['w']}],"
                           "'routes':[{'prefix':'/api','upstream':'http://h:1'}]",
                           &n);

    AG_ASSERT_EQ(n, 0);
    AG_ASSERT_STR(out, "");
}

static void test_lint_reports_duplicates_in_lists(void)
{
    int n;
    const char *out =
        lint("'master-token-paths':['/admin','/ADMIN'],'access-token-paths':['/a','/b','/a']", &n);

    AG_ASSERT_EQ(n, 2);
    AG_ASSERT_STR(out,
                  "t.json: master-token-paths[1]: same prefix as master-token-paths[0] (prefixes "
                  "ignore case) | t.json: access-token-paths[2]: same prefix as "
                  "access-token-paths[0] (prefixes ignore case)");
}

static void test_lint_reports_entry_covered_by_shorter_one(void)
{
    int n;
    const char *out = lint("'access-token-paths':['/api/v1','/api']", &n);

    AG_ASSERT_EQ(n, 1);
    AG_ASSERT_STR(out, "t.json: access-token-paths[0]: already covered by access-token-paths[1] "
                       "('/api', a plain prefix); has no effect");
}

static void test_lint_reports_duplicate_public_paths(void)
{
    int n;
    const char *out = lint("'deny-by-default':true,'public-paths':['/h','/h']", &n);

    AG_ASSERT_EQ(n, 1);
    AG_ASSERT_STR(out, "t.json: public-paths[1]: same prefix as public-paths[0] (prefixes ignore "
                       "case)");
}

static void test_lint_reports_identical_rule(void)
{
    int n;
    const char *out = lint("'rules':[{'prefix':'/x','methods':['GET','POST'],'scopes':['a']},"
                           "{'prefix':'/X','methods':['POST','GET'],'scopes':['a']}]",
                           &n);

    AG_ASSERT_EQ(n, 1);
    AG_ASSERT_STR(out, "t.json: rules[1].prefix: identical to rules[0].prefix; has no effect");
}

static void test_lint_reports_shadowed_rule(void)
{
    int n;
    const char *out = lint("'rules':[{'prefix':'/api','auth':'both','scopes':['a','b']},"
                           "{'prefix':'/api/users','methods':['GET'],'scopes':['a']}]",
                           &n);

    AG_ASSERT_EQ(n, 1);
    AG_ASSERT_STR(out, "t.json: rules[1].prefix: shadowed by rules[0].prefix ('/api'), which "
                       "already requires all of this; has no effect");
}

static void test_lint_get_rule_shadows_head_rule(void)
{
    int n;
    const char *out = lint("'rules':[{'prefix':'/r','methods':['GET'],'scopes':['a']},"
                           "{'prefix':'/r/x','methods':['HEAD'],'scopes':['a']},"
                           "{'prefix':'/r/y','methods':['GET']},"
                           "{'prefix':'/r/y','methods':['HEAD','GET'],'scopes':['b']}]",
                           &n);

    AG_ASSERT_EQ(n, 3);
    AG_ASSERT_STR(out, "t.json: rules[1].prefix: shadowed by rules[0].prefix ('/r'), which "
                       "already requires all of this; has no effect | "
                       "t.json: rules[2].prefix: shadowed by rules[0].prefix ('/r'), which "
                       "already requires all of this; has no effect | "
                       "t.json: rules[3].prefix: same prefix and methods as rules[2].prefix; both "
                       "apply and their requirements add up (write one rule)");
}

static void test_lint_reports_same_prefix_and_methods(void)
{
    int n;
    const char *out =
        lint("'rules':[{'prefix':'/x','scopes':['a']},{'prefix':'/x','roles':['r']}]", &n);

    AG_ASSERT_EQ(n, 1);
    AG_ASSERT_STR(out, "t.json: rules[1].prefix: same prefix and methods as rules[0].prefix; both "
                       "apply and their requirements add up (write one rule)");
}

static void test_lint_does_not_report_rules_that_add_something(void)
{
    int n;

    lint("'rules':[{'prefix':'/api','scopes':['a']},{'prefix':'/api/w','scopes':['w']},"
         "{'prefix':'/api','methods':['POST'],'auth':'both'},{'prefix':'/api/x','methods':['GET']}]",
         &n);
    /* rules[3] (GET, access) is shadowed by rules[0] (every method, access + scope) */
    AG_ASSERT_EQ(n, 1);
}

static void test_lint_reports_public_path_covering_a_protected_prefix(void)
{
    int n;
    const char *out = lint("'deny-by-default':true,'public-paths':['/api'],"
                           "'access-token-paths':['/api/private']",
                           &n);

    AG_ASSERT_EQ(n, 1);
    AG_ASSERT_STR(out, "t.json: public-paths[0]: covers the protected prefix '/api/private' "
                       "(access-token-paths[0]), which stays protected: public paths never lift "
                       "a requirement");
}

static void test_lint_reports_public_path_equal_to_or_under_a_protected_prefix(void)
{
    int n;
    const char *out = lint("'deny-by-default':true,'public-paths':['/api/health'],"
                           "'master-token-paths':['/API'],"
                           "'rules':[{'prefix':'/admin','auth':'public','methods':['GET']},"
                           "{'prefix':'/admin','auth':'master'}]",
                           &n);

    AG_ASSERT_EQ(n, 2);
    AG_ASSERT_STR(out, "t.json: public-paths[0]: lies under the protected prefix '/API' "
                       "(master-token-paths[0]), so it lifts nothing: public paths never lift a "
                       "requirement | t.json: rules[0].prefix: covers the protected prefix "
                       "'/admin' (rules[1].prefix), which stays protected: public paths never "
                       "lift a requirement");
}

static void test_lint_ignores_public_path_beside_method_limited_protection(void)
{
    int n;

    lint("'deny-by-default':true,'public-paths':['/items'],"
         "'rules':[{'prefix':'/items','methods':['POST']}]",
         &n);
    AG_ASSERT_EQ(n, 0); /* GET /items is public, POST needs a token: both entries count */
}

static void test_lint_reports_public_paths_without_deny_by_default(void)
{
    int n;
    const char *out =
        lint("'public-paths':['/health'],'rules':[{'prefix':'/login','auth':'public'}]", &n);

    AG_ASSERT_EQ(n, 2);
    AG_ASSERT_STR(out, "t.json: public-paths[0]: has no effect: deny-by-default is off | t.json: "
                       "rules[0].prefix: has no effect: deny-by-default is off");
}

static void test_lint_reports_duplicate_route_prefixes(void)
{
    int n;
    const char *out = lint("'routes':[{'prefix':'/a','upstream':'http://h:1'},"
                           "{'prefix':'/b','upstream':'http://h:2'},"
                           "{'prefix':'/A','upstream':'http://h:3'}]",
                           &n);

    AG_ASSERT_EQ(n, 1);
    AG_ASSERT_STR(out, "t.json: routes[2].prefix: same prefix as routes[0] (prefixes ignore "
                       "case); only the first is used");
}

static void test_lint_reports_too_many_requirements_as_error(void)
{
    int n;
    const char *out =
        lint("'rules':[{'prefix':'/a','scopes':['1','2','3','4','5','6','7','8','9']},"
             "{'prefix':'/a/b','scopes':['10','11','12','13','14','15','16','17']}]",
             &n);

    AG_ASSERT_EQ(n, 1);
    AG_ASSERT_STR(out, "t.json: rules[1].scopes: error: with the rules whose prefix covers it, "
                       "paths under '/a/b' would require more than 16 scopes; authgate refuses "
                       "this");
}

static void test_lint_null_warn_still_counts(void)
{
    struct ag_config *cfg = cfg_of("'access-token-paths':['/a','/a']");

    AG_ASSERT_NOT_NULL(cfg);
    if (cfg == NULL)
        return;
    AG_ASSERT_EQ(ag_rules_lint(cfg, NULL), 1);
    ag_config_unref(cfg);
}

int main(void)
{
    AG_RUN(test_rules_empty_config_needs_nothing);
    AG_RUN(test_rules_prefix_is_plain);
    AG_RUN(test_rules_prefix_ignores_case);
    AG_RUN(test_rules_every_matching_list_is_required);
    AG_RUN(test_rules_master_and_access_on_one_path);
    AG_RUN(test_rules_non_ascii_and_long_paths_walk_safely);
    AG_RUN(test_rules_auth_modes);
    AG_RUN(test_rules_method_limited_rule_applies_to_its_methods_only);
    AG_RUN(test_rules_get_rule_covers_head);
    AG_RUN(test_rules_scopes_and_roles_union_and_imply_access);
    AG_RUN(test_rules_verdict_strings_outlive_the_config);
    AG_RUN(test_rules_sixteen_scopes_fit);
    AG_RUN(test_rules_new_refuses_more_than_the_max_on_one_path);
    AG_RUN(test_rules_deny_by_default_needs_access_when_nothing_matches);
    AG_RUN(test_rules_public_paths_are_exceptions_to_deny_by_default);
    AG_RUN(test_rules_public_paths_never_lift_a_requirement);
    AG_RUN(test_rules_public_paths_do_nothing_without_deny_by_default);
    AG_RUN(test_rules_routes_longest_prefix_wins);
    AG_RUN(test_rules_free_null_is_allowed);
    AG_RUN(test_lint_clean_config_has_no_findings);
    AG_RUN(test_lint_reports_duplicates_in_lists);
    AG_RUN(test_lint_reports_entry_covered_by_shorter_one);
    AG_RUN(test_lint_reports_duplicate_public_paths);
    AG_RUN(test_lint_reports_identical_rule);
    AG_RUN(test_lint_reports_shadowed_rule);
    AG_RUN(test_lint_get_rule_shadows_head_rule);
    AG_RUN(test_lint_reports_same_prefix_and_methods);
    AG_RUN(test_lint_does_not_report_rules_that_add_something);
    AG_RUN(test_lint_reports_public_path_covering_a_protected_prefix);
    AG_RUN(test_lint_reports_public_path_equal_to_or_under_a_protected_prefix);
    AG_RUN(test_lint_ignores_public_path_beside_method_limited_protection);
    AG_RUN(test_lint_reports_public_paths_without_deny_by_default);
    AG_RUN(test_lint_reports_duplicate_route_prefixes);
    AG_RUN(test_lint_reports_too_many_requirements_as_error);
    AG_RUN(test_lint_null_warn_still_counts);
    return ag_t_done();
}
