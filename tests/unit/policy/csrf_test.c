/*
 * tests/unit/policy/csrf_test.c - mirrors policy/csrf.c: which fields the verdict reads
 * and the verdict itself (this host, a CORS origin, a "null" Origin and the Referer,
 * Sec-Fetch-Site without an Origin), the cases of test_login_csrf.py and
 * test_account.py's CSRF tests.
 *
 * Owns:     one parsed config per test, unref'd at its end (ASan/LSan check it).
 * Entry:    main().
 * Not here: the 403 replies (tests/integration/test_login_csrf.py, test_account.py).
 * Spec:     docs/users.md "CSRF".
 */
#include "csrf.h"

#include <stdio.h>
#include <string.h>

#include "cfg.h"
#include "t.h"

#define HOST "127.0.0.1:8080"

static struct ag_config *cfg_new(void)
{
    return ag_t_config("'cors':{'allow-origins':['https://app.example']}", NULL);
}

static struct ag_str s_of(const char *s)
{
    return (struct ag_str){s, s != NULL ? strlen(s) : 0};
}

/* The verdict on Host HOST with <origin>, <referer>, <site> (NULL: the field is absent). */
static enum ag_csrf verdict(const struct ag_config *cfg, const char *origin, const char *referer,
                            const char *site)
{
    struct ag_csrf_req r = {{NULL, 0}, {NULL, 0}, {NULL, 0}, {NULL, 0}};

    ag_csrf_note(&r, AG_LIT("host"), AG_LIT(HOST));
    if (origin != NULL)
        ag_csrf_note(&r, AG_LIT("Origin"), s_of(origin));
    if (referer != NULL)
        ag_csrf_note(&r, AG_LIT("Referer"), s_of(referer));
    if (site != NULL)
        ag_csrf_note(&r, AG_LIT("Sec-Fetch-Site"), s_of(site));
    return ag_csrf_verdict(cfg, &r);
}

static void test_csrf_note_keeps_the_four_fields_any_case_last_wins(void)
{
    struct ag_csrf_req r = {{NULL, 0}, {NULL, 0}, {NULL, 0}, {NULL, 0}};

    ag_csrf_note(&r, AG_LIT("ORIGIN"), AG_LIT("https://a.example"));
    ag_csrf_note(&r, AG_LIT("origin"), AG_LIT("https://b.example"));
    ag_csrf_note(&r, AG_LIT("referer"), AG_LIT("https://c.example/x"));
    ag_csrf_note(&r, AG_LIT("HOST"), AG_LIT("h:1"));
    ag_csrf_note(&r, AG_LIT("sec-fetch-site"), AG_LIT("same-site"));
    ag_csrf_note(&r, AG_LIT("Origins"), AG_LIT("x"));
    ag_csrf_note(&r, AG_LIT("Referrer"), AG_LIT("x"));
    ag_csrf_note(&r, AG_LIT("Sec_Fetch_Site"), AG_LIT("cross-site")); /* no '_' spelling */
    AG_ASSERT_MEM(r.origin.p, r.origin.len, "https://b.example");
    AG_ASSERT_MEM(r.referer.p, r.referer.len, "https://c.example/x");
    AG_ASSERT_MEM(r.host.p, r.host.len, "h:1");
    AG_ASSERT_MEM(r.site.p, r.site.len, "same-site");
}

static void test_csrf_this_host_or_a_cors_origin_is_ok(void)
{
    struct ag_config *cfg = cfg_new();

    AG_ASSERT_NOT_NULL(cfg);
    if (cfg == NULL)
        return;
    AG_ASSERT_EQ(verdict(cfg, "http://" HOST, NULL, NULL), AG_CSRF_OK);
    AG_ASSERT_EQ(verdict(cfg, "HTTPS://" HOST, NULL, NULL), AG_CSRF_OK); /* host:port only */
    AG_ASSERT_EQ(verdict(cfg, "http://" HOST "/", NULL, NULL), AG_CSRF_OK);
    AG_ASSERT_EQ(verdict(cfg, "https://app.example", NULL, NULL), AG_CSRF_OK);
    AG_ASSERT_EQ(verdict(cfg, "https://APP.example", NULL, NULL), AG_CSRF_OK); /* any case */
    /* no Origin: a Referer of this host */
    AG_ASSERT_EQ(verdict(cfg, NULL, "http://" HOST "/account", NULL), AG_CSRF_OK);
    /* a "null" Origin: its Referer decides */
    AG_ASSERT_EQ(verdict(cfg, "null", "http://" HOST "/account", NULL), AG_CSRF_OK);
    AG_ASSERT_EQ(verdict(cfg, "NULL", "http://" HOST "/", NULL), AG_CSRF_OK);
    ag_config_unref(cfg);
}

static void test_csrf_a_foreign_origin_is_foreign(void)
{
    struct ag_config *cfg = cfg_new();

    AG_ASSERT_NOT_NULL(cfg);
    if (cfg == NULL)
        return;
    AG_ASSERT_EQ(verdict(cfg, "https://evil.example", NULL, NULL), AG_CSRF_FOREIGN);
    AG_ASSERT_EQ(verdict(cfg, "http://" HOST ".evil.example", NULL, NULL), AG_CSRF_FOREIGN);
    AG_ASSERT_EQ(verdict(cfg, "http://127.0.0.1:80800", NULL, NULL), AG_CSRF_FOREIGN);
    AG_ASSERT_EQ(verdict(cfg, "https://other.example", NULL, NULL), AG_CSRF_FOREIGN);
    AG_ASSERT_EQ(verdict(cfg, "https://app.example/", NULL, NULL), AG_CSRF_FOREIGN); /* exact */
    AG_ASSERT_EQ(verdict(cfg, "https://app.example.evil", NULL, NULL), AG_CSRF_FOREIGN);
    AG_ASSERT_EQ(verdict(cfg, HOST, NULL, NULL), AG_CSRF_FOREIGN); /* no scheme */
    AG_ASSERT_EQ(verdict(cfg, "", NULL, NULL), AG_CSRF_FOREIGN);
    /* a "null" Origin without a Referer: an opaque origin, never this host */
    AG_ASSERT_EQ(verdict(cfg, "null", NULL, NULL), AG_CSRF_FOREIGN);
    /* a "null" Origin with a foreign Referer: the Origin was there */
    AG_ASSERT_EQ(verdict(cfg, "null", "http://evil.example/page", NULL), AG_CSRF_FOREIGN);
    /* an Origin beats a Referer of this host */
    AG_ASSERT_EQ(verdict(cfg, "https://evil.example", "http://" HOST "/", NULL), AG_CSRF_FOREIGN);
    /* Sec-Fetch-Site says nothing once an Origin is there */
    AG_ASSERT_EQ(verdict(cfg, "https://evil.example", NULL, "same-origin"), AG_CSRF_FOREIGN);
    ag_config_unref(cfg);
}

static void test_csrf_without_an_origin_sec_fetch_site_decides(void)
{
    struct ag_config *cfg = cfg_new();

    AG_ASSERT_NOT_NULL(cfg);
    if (cfg == NULL)
        return;
    /* not a browser, or an older one */
    AG_ASSERT_EQ(verdict(cfg, NULL, NULL, NULL), AG_CSRF_NO_ORIGIN);
    AG_ASSERT_EQ(verdict(cfg, NULL, "http://evil.example/page", NULL), AG_CSRF_NO_ORIGIN);
    AG_ASSERT_EQ(verdict(cfg, NULL, "not a url", NULL), AG_CSRF_NO_ORIGIN);
    /* a cross-site link or <img> */
    AG_ASSERT_EQ(verdict(cfg, NULL, NULL, "cross-site"), AG_CSRF_FOREIGN);
    AG_ASSERT_EQ(verdict(cfg, NULL, NULL, "Cross-Site"), AG_CSRF_FOREIGN);
    AG_ASSERT_EQ(verdict(cfg, NULL, "http://evil.example/page", "cross-site"), AG_CSRF_FOREIGN);
    AG_ASSERT_EQ(verdict(cfg, NULL, "http://" HOST "/", "cross-site"), AG_CSRF_OK);
    AG_ASSERT_EQ(verdict(cfg, NULL, NULL, "same-origin"), AG_CSRF_NO_ORIGIN);
    AG_ASSERT_EQ(verdict(cfg, NULL, NULL, "same-site"), AG_CSRF_NO_ORIGIN);
    AG_ASSERT_EQ(verdict(cfg, NULL, NULL, "none"), AG_CSRF_NO_ORIGIN);
    /* a CORS origin as a Referer alone does not count */
    AG_ASSERT_EQ(verdict(cfg, NULL, "https://app.example/x", NULL), AG_CSRF_NO_ORIGIN);
    ag_config_unref(cfg);
}

static void test_csrf_without_a_host_only_a_cors_origin_is_ok(void)
{
    struct ag_config *cfg = cfg_new();
    struct ag_csrf_req r = {{NULL, 0}, {NULL, 0}, {NULL, 0}, {NULL, 0}};

    AG_ASSERT_NOT_NULL(cfg);
    if (cfg == NULL)
        return;
    r.origin = AG_LIT("http://");
    AG_ASSERT_EQ(ag_csrf_verdict(cfg, &r), AG_CSRF_FOREIGN); /* an empty host is no match */
    r.origin = AG_LIT("https://app.example");
    AG_ASSERT_EQ(ag_csrf_verdict(cfg, &r), AG_CSRF_OK);
    ag_config_unref(cfg);
}

int main(void)
{
    AG_RUN(test_csrf_note_keeps_the_four_fields_any_case_last_wins);
    AG_RUN(test_csrf_this_host_or_a_cors_origin_is_ok);
    AG_RUN(test_csrf_a_foreign_origin_is_foreign);
    AG_RUN(test_csrf_without_an_origin_sec_fetch_site_decides);
    AG_RUN(test_csrf_without_a_host_only_a_cors_origin_is_ok);
    return ag_t_done();
}
