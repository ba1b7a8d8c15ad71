/*
 * tests/unit/policy/cookie_test.c - mirrors policy/cookie.c: cookies read as browsers
 * write them and lenient servers read them (what RFC 6265 s.4.2.1 would call malformed
 * included), duplicates of the looked-for name refused, and strip keeping the other
 * cookies byte for byte and in order. Inputs are exact-size heap copies so ASan sees any
 * read past the header.
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

    AG_ASSERT_EQ(find("a=\"q v\"", "a", v, sizeof(v)), 1);
    AG_ASSERT_STR(v, "q v");
    AG_ASSERT_EQ(find("a=\"quoted\"; b=2", "a", v, sizeof(v)), 1);
    AG_ASSERT_STR(v, "quoted");
    AG_ASSERT_EQ(find("a=\"\"", "a", v, sizeof(v)), 1);
    AG_ASSERT_STR(v, "");
    AG_ASSERT_EQ(find("a=\"1", "a", v, sizeof(v)), 1); /* unbalanced: kept as written */
    AG_ASSERT_STR(v, "\"1");
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

/*
 * What RFC 6265 s.4.2.1 calls malformed, real headers hold all the time (another site's
 * or the application's own cookies): each is read as lenient servers read it, and never
 * hides or spoils the cookie looked for.
 */
static void test_cookie_reads_headers_the_strict_grammar_refuses(void)
{
    static const struct {
        const char *hdr, *name, *value; /* value NULL: absent */
    } cases[] = {
        {"a", "a", ""},                         /* no '=': a name alone */
        {"=1; a=2", "a", "2"},                  /* an empty name */
        {"a=1;", "a", "1"},                     /* a trailing separator */
        {"a=1; ", "a", "1"},
        {"a=1;  b=2", "b", "2"},                /* two spaces */
        {"a=1 ; b=2", "a", "1"},                /* space before ';' */
        {"a =1", "a", "1"},                     /* space around '=' */
        {"a= 1", "a", "1"},
        {"a=1 2", "a", "1 2"},                  /* space inside the value */
        {"a=1,b=2", "a", "1,b=2"},              /* ',' is no separator */
        {"x={\"k\":1}; a=2", "a", "2"},          /* JSON */
        {"a=\"1;2\"", "a", "\"1"},              /* ';' splits, quotes or not */
        {"a=1;;b=2", "b", "2"},                 /* an empty piece */
        {"; a=1", "a", "1"},                    /* a leading separator */
        {"a=1;\tb=2", "b", "2"},                /* HTAB as OWS */
        {"a=\xc3\xa9", "a", "\xc3\xa9"},        /* non-ASCII */
        {"a=1; flag", "a", "1"},                /* a nameless cookie after */
        {"flag; a=1", "flag", ""},
        {"a(b)=1; a=2", "a", "2"},              /* a name that is no token */
        {"a=1=2", "a", "1=2"},                  /* '=' in the value */
        {"b=1 2; c=\"x y\"", "a", NULL},
    };
    char v[64];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = find(cases[i].hdr, cases[i].name, v, sizeof(v));

        if (rc != (cases[i].value != NULL))
            AG_FAIL_("find(\"%s\", %s) = %d", cases[i].hdr, cases[i].name, rc);
        else if (cases[i].value != NULL && strcmp(v, cases[i].value) != 0)
            AG_FAIL_("find(\"%s\", %s) = \"%s\", want \"%s\"", cases[i].hdr, cases[i].name, v,
                     cases[i].value);
        rc = strip(cases[i].hdr, NONE, v, sizeof(v));
        if (rc < 0)
            AG_FAIL_("strip(\"%s\") = %d", cases[i].hdr, rc);
    }
}

/* The application's cookies reach it whatever they hold; only the credentials go. */
static void test_cookie_strip_keeps_what_the_strict_grammar_refuses(void)
{
    char out[128];

    AG_ASSERT_EQ(strip("sess=abc; theme=\"dark mode\"; access_token=x", TOKENS, out, sizeof(out)), 27);
    AG_ASSERT_STR(out, "sess=abc; theme=\"dark mode\"");
    AG_ASSERT_EQ(strip("prefs={\"a\":1}; access_token=x; list=a,b", TOKENS, out, sizeof(out)), 23);
    AG_ASSERT_STR(out, "prefs={\"a\":1}; list=a,b");
    AG_ASSERT_EQ(strip("sess=abc; flag; refresh_token=y;", TOKENS, out, sizeof(out)), 14);
    AG_ASSERT_STR(out, "sess=abc; flag");
    AG_ASSERT_EQ(strip("x=\"a;access_token=evil\"; b=1", TOKENS, out, sizeof(out)), 9);
    AG_ASSERT_STR(out, "x=\"a; b=1"); /* the credential's piece goes, quotes or not */
    AG_ASSERT_EQ(strip(" access_token = x ;a=1", TOKENS, out, sizeof(out)), 3);
    AG_ASSERT_STR(out, "a=1");
    AG_ASSERT_EQ(strip("access_token", TOKENS, out, sizeof(out)), 0);
}

static void test_cookie_refuses_the_name_twice(void)
{
    char v[64];

    AG_ASSERT_EQ(find("access_token=a; access_token=b", "access_token", v, sizeof(v)), AG_EPARSE);
    AG_ASSERT_EQ(find("access_token=a; x=1; access_token=a", "access_token", v, sizeof(v)),
                 AG_EPARSE);
    AG_ASSERT_EQ(find("access_token=a;access_token=\"a\"", "access_token", v, sizeof(v)), AG_EPARSE);
    AG_ASSERT_EQ(find("access_token=a; access_token =b", "access_token", v, sizeof(v)), AG_EPARSE);
    AG_ASSERT_EQ(find("access_token=a;; access_token", "access_token", v, sizeof(v)), AG_EPARSE);
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
    AG_RUN(test_cookie_reads_headers_the_strict_grammar_refuses);
    AG_RUN(test_cookie_strip_keeps_what_the_strict_grammar_refuses);
    AG_RUN(test_cookie_refuses_the_name_twice);
    AG_RUN(test_cookie_strip_keeps_others_in_order);
    AG_RUN(test_cookie_strip_removes_every_copy);
    AG_RUN(test_cookie_strip_of_everything_returns_zero);
    AG_RUN(test_cookie_strip_keeps_the_clients_separators_and_never_grows);
    AG_RUN(test_cookie_strip_refuses_a_small_buffer);
    AG_RUN(test_cookie_strip_output_parses_again);
    return ag_t_done();
}
