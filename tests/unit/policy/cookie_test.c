/*
 * tests/unit/policy/cookie_test.c - mirrors policy/cookie.c: the RFC 6265 s.4.2.1
 * forms accepted, every malformed form refused, duplicates refused, and strip
 * keeping the other cookies in order. Inputs are exact-size heap copies so ASan
 * sees any read past the header.
 */
#include "cookie.h"

#include <stdlib.h>
#include <string.h>

#include "t.h"

/* ------------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------------ */

/* find() on an exact-size copy of <hdr>; *<val> gets a NUL-terminated copy of the value. */
static int find(const char *hdr, const char *name, char *val, size_t cap)
{
    size_t n = strlen(hdr);
    char *copy = malloc(n ? n : 1);
    struct ag_str v = {NULL, 0};
    int rc;

    memcpy(copy, hdr, n);
    rc = ag_cookie_find((struct ag_str){copy, n}, name, &v);
    val[0] = '\0';
    if (rc == 1 && v.len < cap) {
        AG_ASSERT(v.p >= copy && v.p + v.len <= copy + n); /* a slice of the header */
        memcpy(val, v.p, v.len);
        val[v.len] = '\0';
    }
    free(copy);
    return rc;
}

/* strip() of the names in <drop> (NULL-terminated); returns the rc, *<out> the text. */
static int strip(const char *hdr, const char *const *drop, char *out, size_t cap)
{
    size_t n = strlen(hdr), n_drop = 0;
    char *copy = malloc(n ? n : 1), *buf = malloc(n ? n : 1);
    int rc;

    while (drop[n_drop] != NULL)
        n_drop++;
    memcpy(copy, hdr, n);
    rc = ag_cookie_strip((struct ag_str){copy, n}, drop, n_drop, buf, n);
    out[0] = '\0';
    if (rc >= 0 && (size_t)rc < cap) {
        AG_ASSERT((size_t)rc <= n);
        memcpy(out, buf, (size_t)rc);
        out[rc] = '\0';
    }
    free(copy);
    free(buf);
    return rc;
}

static const char *const TOKENS[] = {"access_token", "refresh_token", NULL};
static const char *const NONE[] = {NULL};

/* ------------------------------------------------------------------------------------------
 * find
 * ------------------------------------------------------------------------------------------ */

static void test_cookie_finds_value_among_several(void)
{
    char v[64];

    AG_ASSERT_EQ(find("a=1; access_token=xyz; b=2", "access_token", v, sizeof(v)), 1);
    AG_ASSERT_STR(v, "xyz");
    AG_ASSERT_EQ(find("access_token=first", "access_token", v, sizeof(v)), 1);
    AG_ASSERT_STR(v, "first");
    AG_ASSERT_EQ(find("a=1; b=last", "b", v, sizeof(v)), 1);
    AG_ASSERT_STR(v, "last");
}

static void test_cookie_absent_returns_zero(void)
{
    char v[64];

    AG_ASSERT_EQ(find("a=1; b=2", "access_token", v, sizeof(v)), 0);
    AG_ASSERT_EQ(find("access_token_x=1; xaccess_token=2", "access_token", v, sizeof(v)), 0);
    AG_ASSERT_EQ(find("Access_Token=1", "access_token", v, sizeof(v)), 0); /* names are exact */
    AG_ASSERT_EQ(find("", "a", v, sizeof(v)), 0);
    AG_ASSERT_EQ(find("  \t ", "a", v, sizeof(v)), 0);
}

static void test_cookie_quoted_value_loses_its_quotes(void)
{
    char v[64];

    AG_ASSERT_EQ(find("a=\"q v\"", "a", v, sizeof(v)), AG_EPARSE); /* SP is no cookie-octet */
    AG_ASSERT_EQ(find("a=\"quoted\"; b=2", "a", v, sizeof(v)), 1);
    AG_ASSERT_STR(v, "quoted");
    AG_ASSERT_EQ(find("a=\"\"", "a", v, sizeof(v)), 1);
    AG_ASSERT_STR(v, "");
}

static void test_cookie_empty_value_is_allowed(void)
{
    char v[64];

    AG_ASSERT_EQ(find("a=; b=2", "a", v, sizeof(v)), 1);
    AG_ASSERT_STR(v, "");
    AG_ASSERT_EQ(find("b=2; a=", "a", v, sizeof(v)), 1);
    AG_ASSERT_STR(v, "");
}

static void test_cookie_tolerates_missing_space_and_outer_ows(void)
{
    char v[64];

    AG_ASSERT_EQ(find("a=1;b=2", "b", v, sizeof(v)), 1);
    AG_ASSERT_STR(v, "2");
    AG_ASSERT_EQ(find(" \ta=1; b=2\t ", "b", v, sizeof(v)), 1);
    AG_ASSERT_STR(v, "2");
}

static void test_cookie_accepts_every_token_char_and_cookie_octet(void)
{
    char v[128];

    AG_ASSERT_EQ(find("!#$%&'*+-.^_`|~Az09=!#$%&'()*+-./09:<=>?@AZ[]^_`az{|}~", "!#$%&'*+-.^_`|~Az09",
                      v, sizeof(v)),
                 1);
    AG_ASSERT_STR(v, "!#$%&'()*+-./09:<=>?@AZ[]^_`az{|}~");
    AG_ASSERT_EQ(find("jwt=eyJh.eyJz.sig-_", "jwt", v, sizeof(v)), 1);
    AG_ASSERT_STR(v, "eyJh.eyJz.sig-_");
}

static void test_cookie_refuses_malformed_headers(void)
{
    static const char *const bad[] = {
        "a",             /* no '=' */
        "=1",            /* empty name */
        "a=1;",          /* trailing separator */
        "a=1; ",         /* trailing separator (the SP is OWS and trimmed) */
        "a=1;  b=2",     /* two spaces */
        "a=1 ; b=2",     /* space before ';' */
        "a =1",          /* space before '=' */
        "a= 1",          /* space after '=' */
        "a=1 2",         /* space inside the value */
        "a=1,b=2",       /* ',' is no cookie-octet (RFC 2965 style) */
        "a=1\\",         /* '\' */
        "a=\"1",         /* unclosed quote */
        "a=1\"",         /* stray quote */
        "a=\"1\"x",      /* bytes after the closing quote */
        "a=\"1;2\"",     /* ';' inside quotes */
        "a=1;;b=2",      /* empty pair */
        "; a=1",         /* leading separator */
        "a(b)=1",        /* '(' is no tchar */
        "a:b=1",         /* ':' is no tchar */
        "a=1\tb",        /* HTAB inside */
        "a=\x7f",        /* DEL */
        "a=\xc3\xa9",    /* non-ASCII */
        "a=1;\tb=2",     /* HTAB as separator */
        "a=1; b",        /* second pair without '=' */
    };
    char v[64];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = find(bad[i], "a", v, sizeof(v));

        if (rc != AG_EPARSE)
            AG_FAIL_("find(\"%s\") = %d, want AG_EPARSE", bad[i], rc);
        rc = strip(bad[i], NONE, v, sizeof(v));
        if (rc != AG_EPARSE)
            AG_FAIL_("strip(\"%s\") = %d, want AG_EPARSE", bad[i], rc);
    }
}

static void test_cookie_checks_the_whole_header_not_only_up_to_the_match(void)
{
    char v[64];

    AG_ASSERT_EQ(find("access_token=x; b=1 2", "access_token", v, sizeof(v)), AG_EPARSE);
}

static void test_cookie_refuses_the_name_twice(void)
{
    char v[64];

    AG_ASSERT_EQ(find("access_token=a; access_token=b", "access_token", v, sizeof(v)), AG_EPARSE);
    AG_ASSERT_EQ(find("access_token=a; x=1; access_token=a", "access_token", v, sizeof(v)),
                 AG_EPARSE);
    AG_ASSERT_EQ(find("access_token=a;access_token=\"a\"", "access_token", v, sizeof(v)), AG_EPARSE);
    /* another name twice does not make this one ambiguous */
    AG_ASSERT_EQ(find("x=1; x=2; access_token=a", "access_token", v, sizeof(v)), 1);
    AG_ASSERT_STR(v, "a");
}

/* ------------------------------------------------------------------------------------------
 * strip
 * ------------------------------------------------------------------------------------------ */

static void test_cookie_strip_keeps_others_in_order(void)
{
    char out[128];

    AG_ASSERT_EQ(strip("a=1; access_token=x; b=2; refresh_token=y; c=3", TOKENS, out, sizeof(out)),
                 13);
    AG_ASSERT_STR(out, "a=1; b=2; c=3");
    AG_ASSERT_EQ(strip("access_token=x; b=\"2\"", TOKENS, out, sizeof(out)), 5);
    AG_ASSERT_STR(out, "b=\"2\"");
    AG_ASSERT_EQ(strip("a=1; access_token=x", TOKENS, out, sizeof(out)), 3);
    AG_ASSERT_STR(out, "a=1");
}

static void test_cookie_strip_removes_every_copy(void)
{
    char out[128];

    AG_ASSERT_EQ(strip("access_token=1; a=1; access_token=2", TOKENS, out, sizeof(out)), 3);
    AG_ASSERT_STR(out, "a=1");
}

static void test_cookie_strip_of_everything_returns_zero(void)
{
    char out[128];

    AG_ASSERT_EQ(strip("access_token=x; refresh_token=y", TOKENS, out, sizeof(out)), 0);
    AG_ASSERT_EQ(strip("", TOKENS, out, sizeof(out)), 0);
    AG_ASSERT_EQ(strip("   ", TOKENS, out, sizeof(out)), 0);
}

static void test_cookie_strip_keeps_the_clients_separators_and_never_grows(void)
{
    char out[128];

    AG_ASSERT_EQ(strip("a=1;b=2;access_token=x;c=3", TOKENS, out, sizeof(out)), 11);
    AG_ASSERT_STR(out, "a=1;b=2;c=3");
    AG_ASSERT_EQ(strip("access_token=x;a=1; b=2", TOKENS, out, sizeof(out)), 8);
    AG_ASSERT_STR(out, "a=1; b=2");
    AG_ASSERT_EQ(strip("  a=1  ", NONE, out, sizeof(out)), 3);
    AG_ASSERT_STR(out, "a=1");
}

static void test_cookie_strip_refuses_a_small_buffer(void)
{
    char out[4];

    AG_ASSERT_EQ(ag_cookie_strip(AG_LIT("a=1; b=2"), TOKENS, 2, out, sizeof(out)), AG_EINVAL);
}

static void test_cookie_strip_output_parses_again(void)
{
    char out[128], v[64];

    AG_ASSERT_EQ(strip("a=1;access_token=x; b=\"\"", TOKENS, out, sizeof(out)), 9);
    AG_ASSERT_STR(out, "a=1; b=\"\"");
    AG_ASSERT_EQ(find(out, "b", v, sizeof(v)), 1);
    AG_ASSERT_STR(v, "");
    AG_ASSERT_EQ(find(out, "access_token", v, sizeof(v)), 0);
}

int main(void)
{
    AG_RUN(test_cookie_finds_value_among_several);
    AG_RUN(test_cookie_absent_returns_zero);
    AG_RUN(test_cookie_quoted_value_loses_its_quotes);
    AG_RUN(test_cookie_empty_value_is_allowed);
    AG_RUN(test_cookie_tolerates_missing_space_and_outer_ows);
    AG_RUN(test_cookie_accepts_every_token_char_and_cookie_octet);
    AG_RUN(test_cookie_refuses_malformed_headers);
    AG_RUN(test_cookie_checks_the_whole_header_not_only_up_to_the_match);
    AG_RUN(test_cookie_refuses_the_name_twice);
    AG_RUN(test_cookie_strip_keeps_others_in_order);
    AG_RUN(test_cookie_strip_removes_every_copy);
    AG_RUN(test_cookie_strip_of_everything_returns_zero);
    AG_RUN(test_cookie_strip_keeps_the_clients_separators_and_never_grows);
    AG_RUN(test_cookie_strip_refuses_a_small_buffer);
    AG_RUN(test_cookie_strip_output_parses_again);
    return ag_t_done();
}
