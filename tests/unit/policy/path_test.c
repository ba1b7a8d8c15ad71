/*
 * tests/unit/policy/path_test.c - unit tests for policy/path.c: request-target forms,
 * every normalisation verdict, buffer bounds, and properties checked over generated
 * inputs (idempotence, exact fit, escaped dots = raw dots, an RFC 3986 s.5.2.4 reference).
 *
 * Owns:     nothing beyond each test's own buffers (heap buffers are freed in the test).
 * Entry:    main().
 * Not here: prefix matching (tests/unit/policy/rules_test.c), fuzz corpus (tests/fuzz/).
 */
#include "path.h"

#include "t.h"

/* ---------------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------------- */

static struct ag_str str_of(const char *s)
{
    return (struct ag_str){s, strlen(s)};
}

/* Asserts that <in> (NUL-terminated) normalises, with <flags>, to <want>. */
#define EXPECT_PATH_F(in, flags, want)                                                             \
    do {                                                                                           \
        char pout_[1024];                                                                          \
        int pfail_ = ag_t_failed_checks;                                                           \
        size_t plen_ = 0;                                                                          \
        struct ag_str pq_ = {NULL, 0};                                                             \
        enum ag_path_status pst_ =                                                                 \
            ag_path_normalize(str_of(in), (flags), pout_, sizeof(pout_), &plen_, &pq_);            \
        AG_ASSERT_EQ(pst_, AG_PATH_OK);                                                            \
        if (pst_ == AG_PATH_OK)                                                                    \
            AG_ASSERT_MEM(pout_, plen_, (want));                                                   \
        if (ag_t_failed_checks != pfail_)                                                          \
            fprintf(stderr, "    input: \"%s\"\n", (in));                                          \
    } while (0)
#define EXPECT_PATH(in, want) EXPECT_PATH_F(in, 0, want)

/* Asserts that the slice <in> is refused, with <flags>, for <want>. */
#define EXPECT_STATUS_S(in, flags, want)                                                           \
    do {                                                                                           \
        char pout_[1024];                                                                          \
        int pfail_ = ag_t_failed_checks;                                                           \
        size_t plen_ = 0;                                                                          \
        struct ag_str pq_ = {NULL, 0};                                                             \
        struct ag_str pin_ = (in);                                                                 \
        AG_ASSERT_EQ(ag_path_normalize(pin_, (flags), pout_, sizeof(pout_), &plen_, &pq_),         \
                     (want));                                                                      \
        if (ag_t_failed_checks != pfail_)                                                          \
            fprintf(stderr, "    input: \"%.*s\"\n", (int)pin_.len, pin_.p ? pin_.p : "");         \
    } while (0)
#define EXPECT_STATUS_F(in, flags, want) EXPECT_STATUS_S(str_of(in), flags, want)
#define EXPECT_STATUS(in, want) EXPECT_STATUS_F(in, 0, want)

/* ---------------------------------------------------------------------------------------------
 * ag_path_split_target
 * ------------------------------------------------------------------------------------------- */

static void test_split_accepts_origin_form_as_whole_rest(void)
{
    enum ag_target_form form = 0;
    struct ag_str auth = {"x", 1}, rest = {NULL, 0};
    struct ag_str t = AG_LIT("/a/b?c=d");

    AG_ASSERT_EQ(ag_path_split_target(t, &form, &auth, &rest), AG_PATH_OK);
    AG_ASSERT_EQ(form, AG_TARGET_ORIGIN);
    AG_ASSERT_NULL(auth.p);
    AG_ASSERT_EQ(auth.len, 0);
    AG_ASSERT(rest.p == t.p);
    AG_ASSERT_EQ(rest.len, t.len);

    /* "//host/x" is an origin-form path, not an authority */
    AG_ASSERT_EQ(ag_path_split_target(AG_LIT("//evil.example/x"), &form, &auth, &rest), AG_PATH_OK);
    AG_ASSERT_EQ(form, AG_TARGET_ORIGIN);
    AG_ASSERT_MEM(rest.p, rest.len, "//evil.example/x");
}

static void test_split_accepts_asterisk_form_only_alone(void)
{
    enum ag_target_form form = 0;
    struct ag_str auth = {"x", 1}, rest = {"x", 1};

    AG_ASSERT_EQ(ag_path_split_target(AG_LIT("*"), &form, &auth, &rest), AG_PATH_OK);
    AG_ASSERT_EQ(form, AG_TARGET_ASTERISK);
    AG_ASSERT_NULL(auth.p);
    AG_ASSERT_EQ(auth.len, 0);
    AG_ASSERT_NULL(rest.p);
    AG_ASSERT_EQ(rest.len, 0);

    AG_ASSERT_EQ(ag_path_split_target(AG_LIT("**"), &form, &auth, &rest), AG_PATH_BAD_FORM);
    AG_ASSERT_EQ(ag_path_split_target(AG_LIT("*/"), &form, &auth, &rest), AG_PATH_BAD_FORM);
    AG_ASSERT_EQ(ag_path_split_target(AG_LIT("*?"), &form, &auth, &rest), AG_PATH_BAD_FORM);
}

static void test_split_absolute_form_gives_authority_and_path(void)
{
    enum ag_target_form form = 0;
    struct ag_str auth, rest;
    struct ag_str t = AG_LIT("http://api.example:8080/a/b?c=1");

    AG_ASSERT_EQ(ag_path_split_target(t, &form, &auth, &rest), AG_PATH_OK);
    AG_ASSERT_EQ(form, AG_TARGET_ABSOLUTE);
    AG_ASSERT_MEM(auth.p, auth.len, "api.example:8080");
    AG_ASSERT_MEM(rest.p, rest.len, "/a/b?c=1");
    AG_ASSERT(auth.p == t.p + 7);
    AG_ASSERT(rest.p == t.p + 23);

    AG_ASSERT_EQ(ag_path_split_target(AG_LIT("https://h/"), &form, &auth, &rest), AG_PATH_OK);
    AG_ASSERT_EQ(form, AG_TARGET_ABSOLUTE);
    AG_ASSERT_MEM(auth.p, auth.len, "h");
    AG_ASSERT_MEM(rest.p, rest.len, "/");
}

static void test_split_absolute_form_scheme_is_case_insensitive(void)
{
    static const char *const ok[] = {"HTTP://h/x", "Http://h/x", "HTTPS://h/x", "hTtPs://h/x"};
    enum ag_target_form form = 0;
    struct ag_str auth, rest;
    size_t i;

    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        AG_ASSERT_EQ(ag_path_split_target(str_of(ok[i]), &form, &auth, &rest), AG_PATH_OK);
        AG_ASSERT_EQ(form, AG_TARGET_ABSOLUTE);
        AG_ASSERT_MEM(auth.p, auth.len, "h");
        AG_ASSERT_MEM(rest.p, rest.len, "/x");
    }
}

static void test_split_absolute_form_without_path_gives_empty_rest(void)
{
    enum ag_target_form form = 0;
    struct ag_str auth, rest;
    struct ag_str t = AG_LIT("http://example.com");

    AG_ASSERT_EQ(ag_path_split_target(t, &form, &auth, &rest), AG_PATH_OK);
    AG_ASSERT_EQ(form, AG_TARGET_ABSOLUTE);
    AG_ASSERT_MEM(auth.p, auth.len, "example.com");
    AG_ASSERT_EQ(rest.len, 0);
    AG_ASSERT(rest.p == t.p + t.len);
}

static void test_split_absolute_form_with_query_only_gives_question_rest(void)
{
    enum ag_target_form form = 0;
    struct ag_str auth, rest;

    AG_ASSERT_EQ(ag_path_split_target(AG_LIT("http://h:1?q=/x"), &form, &auth, &rest), AG_PATH_OK);
    AG_ASSERT_EQ(form, AG_TARGET_ABSOLUTE);
    AG_ASSERT_MEM(auth.p, auth.len, "h:1");
    AG_ASSERT_MEM(rest.p, rest.len, "?q=/x");

    AG_ASSERT_EQ(ag_path_split_target(AG_LIT("http://h?"), &form, &auth, &rest), AG_PATH_OK);
    AG_ASSERT_MEM(auth.p, auth.len, "h");
    AG_ASSERT_MEM(rest.p, rest.len, "?");
}

static void test_split_absolute_form_accepts_ip_literal_and_port(void)
{
    enum ag_target_form form = 0;
    struct ag_str auth, rest;

    AG_ASSERT_EQ(ag_path_split_target(AG_LIT("http://[::1]:8080/x"), &form, &auth, &rest),
                 AG_PATH_OK);
    AG_ASSERT_MEM(auth.p, auth.len, "[::1]:8080");
    AG_ASSERT_MEM(rest.p, rest.len, "/x");
    AG_ASSERT_EQ(ag_path_split_target(AG_LIT("http://127.0.0.1/"), &form, &auth, &rest),
                 AG_PATH_OK);
    AG_ASSERT_MEM(auth.p, auth.len, "127.0.0.1");
}

static void test_split_rejects_empty_authority(void)
{
    enum ag_target_form form = 0;
    struct ag_str auth, rest;

    AG_ASSERT_EQ(ag_path_split_target(AG_LIT("http://"), &form, &auth, &rest), AG_PATH_BAD_FORM);
    AG_ASSERT_EQ(ag_path_split_target(AG_LIT("https://"), &form, &auth, &rest), AG_PATH_BAD_FORM);
    AG_ASSERT_EQ(ag_path_split_target(AG_LIT("http:///x"), &form, &auth, &rest), AG_PATH_BAD_FORM);
    AG_ASSERT_EQ(ag_path_split_target(AG_LIT("http://?q"), &form, &auth, &rest), AG_PATH_BAD_FORM);
}

static void test_split_rejects_userinfo(void)
{
    enum ag_target_form form = 0;
    struct ag_str auth, rest;

    AG_ASSERT_EQ(ag_path_split_target(AG_LIT("http://user@h/x"), &form, &auth, &rest),
                 AG_PATH_BAD_FORM);
    AG_ASSERT_EQ(ag_path_split_target(AG_LIT("http://u:p@h/x"), &form, &auth, &rest),
                 AG_PATH_BAD_FORM);
    AG_ASSERT_EQ(
        ag_path_split_target(AG_LIT("http://good.example@evil.example"), &form, &auth, &rest),
        AG_PATH_BAD_FORM);
    /* an '@' after the authority is path, not userinfo */
    AG_ASSERT_EQ(ag_path_split_target(AG_LIT("http://h/@x"), &form, &auth, &rest), AG_PATH_OK);
    AG_ASSERT_MEM(auth.p, auth.len, "h");
    AG_ASSERT_MEM(rest.p, rest.len, "/@x");
}

static void test_split_rejects_bytes_not_allowed_in_authority(void)
{
    static const char *const bad[] = {
        "http://h#f/x", "http://h\\evil/x", "http://h x/",   "http://h\"/",
        "http://h<>/",  "http://h{}/",      "http://h|/",    "http://h^/",
        "http://h`/",   "http://\x01h/",    "http://h\x7f/", "http://caf\xc3\xa9/",
    };
    enum ag_target_form form = 0;
    struct ag_str auth, rest;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        AG_ASSERT_EQ(ag_path_split_target(str_of(bad[i]), &form, &auth, &rest), AG_PATH_BAD_FORM);
        if (ag_t_cur_failed) {
            fprintf(stderr, "    input: \"%s\"\n", bad[i]);
            break;
        }
    }
    AG_ASSERT_EQ(ag_path_split_target(AG_LIT("http://h\0/"), &form, &auth, &rest),
                 AG_PATH_BAD_FORM);
}

static void test_split_rejects_authority_form(void)
{
    enum ag_target_form form = 0;
    struct ag_str auth, rest;

    AG_ASSERT_EQ(ag_path_split_target(AG_LIT("example.com:443"), &form, &auth, &rest),
                 AG_PATH_BAD_FORM);
    AG_ASSERT_EQ(ag_path_split_target(AG_LIT("[::1]:443"), &form, &auth, &rest), AG_PATH_BAD_FORM);
}

static void test_split_rejects_empty_and_unknown_targets(void)
{
    static const char *const bad[] = {
        "",         "foo",    "?q",         "http:/h/x", "http:h/x",      "http//h/x", "ftp://h/x",
        "ws://h/x", "http:",  "https:/",    "httpx://h", " /x",           "\t/x",      "%2Fx",
        "HTTP:/",   "https:", "http:\\\\h", ".",         "../etc/passwd",
    };
    enum ag_target_form form = 0;
    struct ag_str auth, rest;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        AG_ASSERT_EQ(ag_path_split_target(str_of(bad[i]), &form, &auth, &rest), AG_PATH_BAD_FORM);
        if (ag_t_cur_failed) {
            fprintf(stderr, "    input: \"%s\"\n", bad[i]);
            break;
        }
    }
    AG_ASSERT_EQ(ag_path_split_target((struct ag_str){NULL, 0}, &form, &auth, &rest),
                 AG_PATH_BAD_FORM);
}

static void test_split_reads_only_within_target_length(void)
{
    /* heap buffers of exactly the target's length, so ASan sees any over-read */
    static const char *const cases[] = {"http://h", "https://h", "http:/", "h",
                                        "*",        "/",         "http://"};
    enum ag_target_form form = 0;
    struct ag_str auth, rest;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = strlen(cases[i]);
        char *buf = malloc(n);

        AG_ASSERT_NOT_NULL(buf);
        if (buf == NULL)
            return;
        memcpy(buf, cases[i], n);
        (void)ag_path_split_target((struct ag_str){buf, n}, &form, &auth, &rest);
        free(buf);
    }
    /* a prefix of a longer buffer: only the first 8 bytes are the target */
    AG_ASSERT_EQ(ag_path_split_target((struct ag_str){"http://h@evil/", 8}, &form, &auth, &rest),
                 AG_PATH_OK);
    AG_ASSERT_MEM(auth.p, auth.len, "h");
    AG_ASSERT_EQ(rest.len, 0);
}

static void test_split_rest_of_absolute_form_normalises_like_origin_form(void)
{
    enum ag_target_form form = 0;
    struct ag_str auth, rest, q;
    char out[64];
    size_t len = 0;

    AG_ASSERT_EQ(
        ag_path_split_target(AG_LIT("HTTP://h/public/%2e%2e/access?x=1"), &form, &auth, &rest),
        AG_PATH_OK);
    AG_ASSERT_EQ(ag_path_normalize(rest, 0, out, sizeof(out), &len, &q), AG_PATH_OK);
    AG_ASSERT_MEM(out, len, "/access");
    AG_ASSERT_MEM(q.p, q.len, "x=1");
}

/* ---------------------------------------------------------------------------------------------
 * ag_path_normalize: accepted paths
 * ------------------------------------------------------------------------------------------- */

static void test_path_keeps_root(void)
{
    EXPECT_PATH("/", "/");
    EXPECT_PATH("//", "/");
    EXPECT_PATH("///", "/");
    EXPECT_PATH("/.", "/");
    EXPECT_PATH("/./", "/");
    EXPECT_PATH("/./.", "/");
    EXPECT_PATH("/a/..", "/");
    EXPECT_PATH("/a/../", "/");
}

static void test_path_merges_slashes(void)
{
    EXPECT_PATH("//a///b", "/a/b");
    EXPECT_PATH("/a//b", "/a/b");
    EXPECT_PATH("/a/b//", "/a/b/");
    EXPECT_PATH("////a", "/a");
    EXPECT_PATH("/a/", "/a/");
}

static void test_path_removes_dot_segments(void)
{
    EXPECT_PATH("/a/./b/../c", "/a/c");
    EXPECT_PATH("/a/b/c/./../../g", "/a/g");
    EXPECT_PATH("/mid/content=5/../6", "/mid/6");
    EXPECT_PATH("/public/../access", "/access");
    EXPECT_PATH("/a/b/../../c/d/..", "/c/");
    EXPECT_PATH("/./a", "/a");
    EXPECT_PATH("/a/.//b", "/a/b");
}

static void test_path_merges_slashes_before_removing_dot_segments(void)
{
    /* RFC 3986 alone would pop the empty segment and give "/a/b"; merging first gives "/b" */
    EXPECT_PATH("/a//../b", "/b");
    EXPECT_PATH("/a/b//..//c", "/a/c");
}

static void test_path_trailing_dot_segments_leave_trailing_slash(void)
{
    EXPECT_PATH("/a/b/..", "/a/");
    EXPECT_PATH("/a/.", "/a/");
    EXPECT_PATH("/a/b/.", "/a/b/");
    EXPECT_PATH("/a/b/%2e", "/a/b/");
    EXPECT_PATH("/a/b/%2E%2e", "/a/");
    EXPECT_PATH("/a/./", "/a/");
    EXPECT_PATH("/a/.?q", "/a/");
}

static void test_path_decodes_unreserved_escapes(void)
{
    EXPECT_PATH("/%61ccess", "/access");
    EXPECT_PATH("/%7e", "/~");
    EXPECT_PATH("/%7E%2D%2d%5F%5f%2E%41%5a%7A%30%39", "/~--__.AZz09");
    EXPECT_PATH("/acc%65ss/x", "/access/x");
    EXPECT_PATH("/%41%42%43", "/ABC");
}

static void test_path_keeps_other_escapes_with_upper_case_hex(void)
{
    EXPECT_PATH("/a%3fb", "/a%3Fb");
    EXPECT_PATH("/a%3Fb", "/a%3Fb");
    EXPECT_PATH("/a%20b", "/a%20b");
    EXPECT_PATH("/%25", "/%25");
    EXPECT_PATH("/a%40b%3ac%2bd%26e%3d%23f", "/a%40b%3Ac%2Bd%26e%3D%23f");
    EXPECT_PATH("/%5b%5d%7b%7d%22%3c%3e%5e%60%7c", "/%5B%5D%7B%7D%22%3C%3E%5E%60%7C");
    EXPECT_PATH("/%25zz", "/%25zz");
    EXPECT_PATH("/%25/2e", "/%25/2e");
}

static void test_path_decoded_dots_take_part_in_dot_segments(void)
{
    EXPECT_PATH("/a/%2e%2e/b", "/b");
    EXPECT_PATH("/a/.%2E/b", "/b");
    EXPECT_PATH("/a/%2e./b", "/b");
    EXPECT_PATH("/a/%2e/b", "/a/b");
    EXPECT_PATH("/public/%2e%2e/access", "/access");
}

static void test_path_keeps_letter_case(void)
{
    EXPECT_PATH("/ACCESS/x", "/ACCESS/x");
    EXPECT_PATH("/AcCeSs", "/AcCeSs");
}

static void test_path_accepts_allowed_raw_characters(void)
{
    EXPECT_PATH("/a!$&'()*+,=:@~-._b", "/a!$&'()*+,=:@~-._b");
    EXPECT_PATH("/items[0]", "/items[0]");
    EXPECT_PATH("/.a/a.b/..a/.hidden", "/.a/a.b/..a/.hidden");
    EXPECT_PATH("/a%20b", "/a%20b");
}

static void test_path_keeps_valid_utf8_escapes_encoded(void)
{
    EXPECT_PATH("/caf%C3%A9", "/caf%C3%A9");
    EXPECT_PATH("/caf%c3%a9", "/caf%C3%A9");
    EXPECT_PATH("/%C2%80", "/%C2%80");             /* U+0080 */
    EXPECT_PATH("/%DF%BF", "/%DF%BF");             /* U+07FF */
    EXPECT_PATH("/%E0%A0%80", "/%E0%A0%80");       /* U+0800 */
    EXPECT_PATH("/%e2%82%ac", "/%E2%82%AC");       /* EURO SIGN */
    EXPECT_PATH("/%ED%9F%BF", "/%ED%9F%BF");       /* U+D7FF */
    EXPECT_PATH("/%EE%80%80", "/%EE%80%80");       /* U+E000 */
    EXPECT_PATH("/%EF%BF%BF", "/%EF%BF%BF");       /* U+FFFF */
    EXPECT_PATH("/%F0%90%80%80", "/%F0%90%80%80"); /* U+10000 */
    EXPECT_PATH("/%f0%9f%98%80", "/%F0%9F%98%80"); /* emoji */
    EXPECT_PATH("/%F4%8F%BF%BF", "/%F4%8F%BF%BF"); /* U+10FFFF */
    EXPECT_PATH("/%C3%A9%C3%A9.x", "/%C3%A9%C3%A9.x");
}

/* ---------------------------------------------------------------------------------------------
 * ag_path_normalize: the query
 * ------------------------------------------------------------------------------------------- */

static void test_path_splits_query_at_first_question_mark(void)
{
    struct ag_str in = AG_LIT("/x?a=%2f&b=../");
    struct ag_str q = {NULL, 0};
    char out[64];
    size_t len = 0;

    AG_ASSERT_EQ(ag_path_normalize(in, 0, out, sizeof(out), &len, &q), AG_PATH_OK);
    AG_ASSERT_MEM(out, len, "/x");
    AG_ASSERT_MEM(q.p, q.len, "a=%2f&b=../");
    AG_ASSERT(q.p == in.p + 3);

    AG_ASSERT_EQ(ag_path_normalize(AG_LIT("/x?a?b"), 0, out, sizeof(out), &len, &q), AG_PATH_OK);
    AG_ASSERT_MEM(q.p, q.len, "a?b");
    AG_ASSERT_EQ(ag_path_normalize(AG_LIT("/?q"), 0, out, sizeof(out), &len, &q), AG_PATH_OK);
    AG_ASSERT_MEM(out, len, "/");
    AG_ASSERT_MEM(q.p, q.len, "q");
    AG_ASSERT_EQ(ag_path_normalize(AG_LIT("/a/b/..?q"), 0, out, sizeof(out), &len, &q), AG_PATH_OK);
    AG_ASSERT_MEM(out, len, "/a/");
    AG_ASSERT_MEM(q.p, q.len, "q");
}

static void test_path_without_question_mark_has_null_query(void)
{
    struct ag_str q = {"junk", 4};
    char out[16];
    size_t len = 0;

    AG_ASSERT_EQ(ag_path_normalize(AG_LIT("/x"), 0, out, sizeof(out), &len, &q), AG_PATH_OK);
    AG_ASSERT_NULL(q.p);
    AG_ASSERT_EQ(q.len, 0);
}

static void test_path_with_trailing_question_mark_has_empty_query(void)
{
    struct ag_str in = AG_LIT("/x?");
    struct ag_str q = {NULL, 99};
    char out[16];
    size_t len = 0;

    AG_ASSERT_EQ(ag_path_normalize(in, 0, out, sizeof(out), &len, &q), AG_PATH_OK);
    AG_ASSERT_MEM(out, len, "/x");
    AG_ASSERT_NOT_NULL(q.p);
    AG_ASSERT(q.p == in.p + 3);
    AG_ASSERT_EQ(q.len, 0);
}

static void test_path_leaves_query_bytes_alone(void)
{
    /* nothing in the query is checked, decoded or re-cased */
    struct ag_str q = {NULL, 0};
    char out[64];
    size_t len = 0;

    AG_ASSERT_EQ(ag_path_normalize(AG_LIT("/x?%7e%41%2f%2e%2e/../;a#b\\c%zz%00%C0%AF"), 0, out,
                                   sizeof(out), &len, &q),
                 AG_PATH_OK);
    AG_ASSERT_MEM(out, len, "/x");
    AG_ASSERT_MEM(q.p, q.len, "%7e%41%2f%2e%2e/../;a#b\\c%zz%00%C0%AF");
}

static void test_path_encoded_question_mark_does_not_split(void)
{
    struct ag_str q = {NULL, 0};
    char out[64];
    size_t len = 0;

    AG_ASSERT_EQ(ag_path_normalize(AG_LIT("/a%3fb?c"), 0, out, sizeof(out), &len, &q), AG_PATH_OK);
    AG_ASSERT_MEM(out, len, "/a%3Fb");
    AG_ASSERT_MEM(q.p, q.len, "c");
}

static void test_path_checks_only_the_path_before_the_query(void)
{
    /* an escape cut by '?' is a bad escape in the path, not one spanning into the query */
    EXPECT_STATUS("/a%4?1", AG_PATH_BAD_ESCAPE);
    EXPECT_STATUS("/a%?41", AG_PATH_BAD_ESCAPE);
    EXPECT_STATUS("/%C3?%A9", AG_PATH_BAD_UTF8);
    EXPECT_STATUS("/a.?x", AG_PATH_DOT_END);
    EXPECT_STATUS("/..?x", AG_PATH_ABOVE_ROOT);
}

/* ---------------------------------------------------------------------------------------------
 * ag_path_normalize: refusals
 * ------------------------------------------------------------------------------------------- */

static void test_path_rejects_input_not_starting_with_slash(void)
{
    EXPECT_STATUS("", AG_PATH_BAD_FORM);
    EXPECT_STATUS("a/b", AG_PATH_BAD_FORM);
    EXPECT_STATUS("?q", AG_PATH_BAD_FORM);
    EXPECT_STATUS("*", AG_PATH_BAD_FORM);
    EXPECT_STATUS("http://h/x", AG_PATH_BAD_FORM);
    EXPECT_STATUS("%2Fx", AG_PATH_BAD_FORM);
    EXPECT_STATUS("\\x", AG_PATH_BAD_FORM);
    EXPECT_STATUS_S(((struct ag_str){NULL, 0}), 0, AG_PATH_BAD_FORM);
}

static void test_path_rejects_climbing_above_root(void)
{
    EXPECT_STATUS("/..", AG_PATH_ABOVE_ROOT);
    EXPECT_STATUS("/../", AG_PATH_ABOVE_ROOT);
    EXPECT_STATUS("/../a", AG_PATH_ABOVE_ROOT);
    EXPECT_STATUS("/a/../..", AG_PATH_ABOVE_ROOT);
    EXPECT_STATUS("/a/b/../../../c", AG_PATH_ABOVE_ROOT);
    EXPECT_STATUS("/%2e%2e/", AG_PATH_ABOVE_ROOT);
    EXPECT_STATUS("/.%2E", AG_PATH_ABOVE_ROOT);
    EXPECT_STATUS("/./..", AG_PATH_ABOVE_ROOT);
    EXPECT_STATUS("//..", AG_PATH_ABOVE_ROOT);
    EXPECT_STATUS("/a/..//../b", AG_PATH_ABOVE_ROOT);
}

static void test_path_rejects_encoded_slash(void)
{
    EXPECT_STATUS("/access%2fx", AG_PATH_ENCODED_SLASH);
    EXPECT_STATUS("/access%2Fx", AG_PATH_ENCODED_SLASH);
    EXPECT_STATUS("/%2F", AG_PATH_ENCODED_SLASH);
    EXPECT_STATUS("/..%2f", AG_PATH_ENCODED_SLASH);
}

static void test_path_rejects_backslash_raw_and_encoded(void)
{
    EXPECT_STATUS("/a%5cb", AG_PATH_BACKSLASH);
    EXPECT_STATUS("/a%5Cb", AG_PATH_BACKSLASH);
    EXPECT_STATUS("/a\\b", AG_PATH_BACKSLASH);
    EXPECT_STATUS("/..\\", AG_PATH_BACKSLASH);
}

static void test_path_rejects_bad_escape(void)
{
    EXPECT_STATUS("/a%zz", AG_PATH_BAD_ESCAPE);
    EXPECT_STATUS("/a%4", AG_PATH_BAD_ESCAPE);
    EXPECT_STATUS("/a%", AG_PATH_BAD_ESCAPE);
    EXPECT_STATUS("/%", AG_PATH_BAD_ESCAPE);
    EXPECT_STATUS("/a%g1", AG_PATH_BAD_ESCAPE);
    EXPECT_STATUS("/a%1g", AG_PATH_BAD_ESCAPE);
    EXPECT_STATUS("/a%/b", AG_PATH_BAD_ESCAPE);
    EXPECT_STATUS("/a%%41", AG_PATH_BAD_ESCAPE);
    EXPECT_STATUS("/a% 1", AG_PATH_BAD_ESCAPE);
    EXPECT_STATUS("/%C3%zz", AG_PATH_BAD_ESCAPE);
    EXPECT_STATUS("/%E2%82%a", AG_PATH_BAD_ESCAPE);
}

static void test_path_rejects_encoded_ctl(void)
{
    static const char hex[] = "0123456789ABCDEF";
    char in[8];
    int v;

    EXPECT_STATUS("/a%00", AG_PATH_ENCODED_CTL);
    EXPECT_STATUS("/a%0d%0a", AG_PATH_ENCODED_CTL);
    EXPECT_STATUS("/a%7f", AG_PATH_ENCODED_CTL);
    EXPECT_STATUS("/a%7F", AG_PATH_ENCODED_CTL);
    for (v = 0; v < 0x20; v++) {
        snprintf(in, sizeof(in), "/%%%c%c", hex[v >> 4], hex[v & 15]);
        EXPECT_STATUS(in, AG_PATH_ENCODED_CTL);
    }
}

static void test_path_rejects_double_encoding(void)
{
    EXPECT_STATUS("/%252e%252e/", AG_PATH_DOUBLE_ENCODED);
    EXPECT_STATUS("/%252E", AG_PATH_DOUBLE_ENCODED);
    EXPECT_STATUS("/a%252fb", AG_PATH_DOUBLE_ENCODED);
    EXPECT_STATUS("/a%252Fb", AG_PATH_DOUBLE_ENCODED);
    EXPECT_STATUS("/a%255cb", AG_PATH_DOUBLE_ENCODED);
    EXPECT_STATUS("/a%255Cb", AG_PATH_DOUBLE_ENCODED);
    /* the second level spelled with escapes of unreserved digits and letters */
    EXPECT_STATUS("/%25%32%65", AG_PATH_DOUBLE_ENCODED);
    EXPECT_STATUS("/%25%32e", AG_PATH_DOUBLE_ENCODED);
    EXPECT_STATUS("/%252%66", AG_PATH_DOUBLE_ENCODED);
    EXPECT_STATUS("/%25%35%43", AG_PATH_DOUBLE_ENCODED);
    /* the double encoding of anything: an upstream decoding twice sees "/admin" */
    EXPECT_STATUS("/%2561dmin", AG_PATH_DOUBLE_ENCODED);
    EXPECT_STATUS("/%2541", AG_PATH_DOUBLE_ENCODED);
    EXPECT_STATUS("/a/%2500", AG_PATH_DOUBLE_ENCODED);
    EXPECT_STATUS("/%25ff", AG_PATH_DOUBLE_ENCODED);
    EXPECT_STATUS("/%2525", AG_PATH_DOUBLE_ENCODED);
    EXPECT_STATUS("/%25%36%31dmin", AG_PATH_DOUBLE_ENCODED);
    EXPECT_STATUS("/%256%31", AG_PATH_DOUBLE_ENCODED);
    /* a '%25' not followed by two hex digits is a literal '%' and stays */
    EXPECT_PATH("/%252", "/%252");
    EXPECT_PATH("/%256g", "/%256g");
    EXPECT_PATH("/%25%C3%A9", "/%25%C3%A9");
    EXPECT_PATH("/%25-41", "/%25-41");
    EXPECT_STATUS("/%25%2F", AG_PATH_ENCODED_SLASH);
}

static void test_path_rejects_semicolon_unless_allowed(void)
{
    EXPECT_STATUS("/a;b", AG_PATH_SEMICOLON);
    EXPECT_STATUS("/a%3bb", AG_PATH_SEMICOLON);
    EXPECT_STATUS("/a%3Bb", AG_PATH_SEMICOLON);
    EXPECT_STATUS("/access;jsessionid=1/x", AG_PATH_SEMICOLON);
    EXPECT_PATH_F("/a;b", AG_PATH_F_ALLOW_SEMICOLON, "/a;b");
    EXPECT_PATH_F("/a%3bb", AG_PATH_F_ALLOW_SEMICOLON, "/a%3Bb");
    EXPECT_PATH_F("/a;b;c=d/e", AG_PATH_F_ALLOW_SEMICOLON, "/a;b;c=d/e");
    EXPECT_PATH_F("/a;/b", AG_PATH_F_ALLOW_SEMICOLON, "/a;/b");
    EXPECT_PATH_F("/x/y;v=1/../z", AG_PATH_F_ALLOW_SEMICOLON, "/x/z");
}

static void test_path_allowed_semicolon_still_refuses_dot_or_empty_names(void)
{
    /* Tomcat strips ";..." and would route these to /access */
    EXPECT_STATUS_F("/public/..;x/access", AG_PATH_F_ALLOW_SEMICOLON, AG_PATH_SEMICOLON);
    EXPECT_STATUS_F("/public/..;/access", AG_PATH_F_ALLOW_SEMICOLON, AG_PATH_SEMICOLON);
    EXPECT_STATUS_F("/public/%2e%2e;/access", AG_PATH_F_ALLOW_SEMICOLON, AG_PATH_SEMICOLON);
    EXPECT_STATUS_F("/.;x/access", AG_PATH_F_ALLOW_SEMICOLON, AG_PATH_SEMICOLON);
    EXPECT_STATUS_F("/;x/access", AG_PATH_F_ALLOW_SEMICOLON, AG_PATH_SEMICOLON);
    EXPECT_STATUS_F("/a/%3bx", AG_PATH_F_ALLOW_SEMICOLON, AG_PATH_SEMICOLON);
    EXPECT_STATUS_F("/access.;x", AG_PATH_F_ALLOW_SEMICOLON, AG_PATH_DOT_END);
    EXPECT_STATUS_F("/access%20;x", AG_PATH_F_ALLOW_SEMICOLON, AG_PATH_DOT_END);
    EXPECT_STATUS_F("/a;b.", AG_PATH_F_ALLOW_SEMICOLON, AG_PATH_DOT_END);
    EXPECT_STATUS_F("/a;./b", AG_PATH_F_ALLOW_SEMICOLON, AG_PATH_DOT_END);
}

static void test_path_rejects_fragment(void)
{
    EXPECT_STATUS("/a#b", AG_PATH_FRAGMENT);
    EXPECT_STATUS("/#", AG_PATH_FRAGMENT);
    EXPECT_PATH("/a%23b", "/a%23b");
}

static void test_path_rejects_raw_bytes_outside_uri(void)
{
    static const char listed[] = " \"<>^`{|}";
    char in[4] = {'/', 'a', 0, 'b'};
    int c;
    size_t i;

    for (c = 0; c < 0x20; c++) {
        in[2] = (char)c;
        EXPECT_STATUS_S(((struct ag_str){in, 4}), 0, AG_PATH_BAD_CHAR);
    }
    for (c = 0x7F; c <= 0xFF; c++) {
        in[2] = (char)c;
        EXPECT_STATUS_S(((struct ag_str){in, 4}), 0, AG_PATH_BAD_CHAR);
    }
    for (i = 0; listed[i] != '\0'; i++) {
        in[2] = listed[i];
        EXPECT_STATUS_S(((struct ag_str){in, 4}), 0, AG_PATH_BAD_CHAR);
    }
    EXPECT_STATUS("/caf\xc3\xa9", AG_PATH_BAD_CHAR);
    EXPECT_STATUS_S(AG_LIT("/\0"), 0, AG_PATH_BAD_CHAR);
}

static void test_path_rejects_invalid_utf8_escapes(void)
{
    static const char *const bad[] = {
        "/%C0%AF",       /* overlong '/' */
        "/%C1%BF",       /* overlong */
        "/%E0%80%AF",    /* overlong '/' */
        "/%E0%9F%BF",    /* overlong U+07FF */
        "/%ED%A0%80",    /* surrogate U+D800 */
        "/%ED%BF%BF",    /* surrogate U+DFFF */
        "/%F0%80%80%AF", /* overlong '/' */
        "/%F0%8F%BF%BF", /* overlong U+FFFF */
        "/%F4%90%80%80", /* U+110000 */
        "/%F5%80%80%80", /* lead above F4 */
        "/%FF",          /* never valid */
        "/%FE",          /* never valid */
        "/%80",          /* lone continuation */
        "/%BF",          /* lone continuation */
        "/%C3",          /* truncated at end */
        "/%C3/",         /* truncated by '/' */
        "/%C3a",         /* continuation not an escape */
        "/%C3\xa9",      /* continuation raw */
        "/%C3%41",       /* continuation not 80-BF */
        "/%C3%C3",       /* continuation not 80-BF */
        "/%C3%A9%A9",    /* extra continuation */
        "/%E2%82",       /* truncated 3-byte */
        "/%F0%9F%98",    /* truncated 4-byte */
        "/%F0%9F%98%41", /* bad last continuation */
    };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        EXPECT_STATUS(bad[i], AG_PATH_BAD_UTF8);
}

static void test_path_rejects_dot_ending_segments(void)
{
    EXPECT_STATUS("/access./x", AG_PATH_DOT_END);
    EXPECT_STATUS("/api../x", AG_PATH_DOT_END);
    EXPECT_STATUS("/file.", AG_PATH_DOT_END);
    EXPECT_STATUS("/.../", AG_PATH_DOT_END);
    EXPECT_STATUS("/...", AG_PATH_DOT_END);
    EXPECT_STATUS("/a%2e", AG_PATH_DOT_END);
    EXPECT_STATUS("/a%2E/b", AG_PATH_DOT_END);
    EXPECT_STATUS("/%2e%2e%2e", AG_PATH_DOT_END);
    EXPECT_STATUS("/access%20", AG_PATH_DOT_END);
    EXPECT_STATUS("/access%20/x", AG_PATH_DOT_END);
    EXPECT_STATUS("/a. ", AG_PATH_BAD_CHAR);
    EXPECT_STATUS("/x/a./..", AG_PATH_DOT_END);
    EXPECT_STATUS("/%C3%A9.", AG_PATH_DOT_END);
    EXPECT_PATH("/a%20b", "/a%20b");
    EXPECT_PATH("/a.b.c", "/a.b.c");
    EXPECT_PATH("/%2e%2ea", "/..a");
    EXPECT_STATUS("/%2520", AG_PATH_DOUBLE_ENCODED);
}

static void test_path_reports_the_first_reason_scanning_left_to_right(void)
{
    EXPECT_STATUS("/a#b%2f", AG_PATH_FRAGMENT);
    EXPECT_STATUS("/a%2f#b", AG_PATH_ENCODED_SLASH);
    EXPECT_STATUS("/../a%2f", AG_PATH_ABOVE_ROOT);
    EXPECT_STATUS("/a%2f/../..", AG_PATH_ENCODED_SLASH);
    EXPECT_STATUS("/a./..", AG_PATH_DOT_END);
    EXPECT_STATUS("/a;b\\", AG_PATH_SEMICOLON);
    EXPECT_STATUS_F("/a;b\\", AG_PATH_F_ALLOW_SEMICOLON, AG_PATH_BACKSLASH);
}

/* ---------------------------------------------------------------------------------------------
 * ag_path_normalize: buffer bounds
 * ------------------------------------------------------------------------------------------- */

/* Normalises <in> into a heap buffer of exactly <cap> bytes, so ASan catches any overrun. */
static enum ag_path_status norm_exact(const char *in, size_t cap, char *copy, size_t *len)
{
    struct ag_str q;
    char *buf = malloc(cap ? cap : 1);
    enum ag_path_status st;

    if (buf == NULL)
        return AG_PATH_REJECT;
    st = ag_path_normalize(str_of(in), AG_PATH_F_ALLOW_SEMICOLON, buf, cap, len, &q);
    if (st == AG_PATH_OK && copy != NULL)
        memcpy(copy, buf, *len);
    free(buf);
    return st;
}

static void test_path_fits_a_buffer_of_exactly_its_length(void)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"/", "/"},
        {"/a", "/a"},
        {"/a/", "/a/"},
        {"/a/b/../c", "/a/c"},
        {"/a/bb/../c", "/a/c"},
        {"/a/b/..", "/a/"},
        {"/%61%62", "/ab"},
        {"/a%3f", "/a%3F"},
        {"/a/.", "/a/"},
        {"//x//", "/x/"},
        {"/caf%c3%a9", "/caf%C3%A9"},
    };
    char copy[64];
    size_t i, len = 0, n;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        n = strlen(cases[i].want);
        AG_ASSERT_EQ(norm_exact(cases[i].in, n, copy, &len), AG_PATH_OK);
        AG_ASSERT_MEM(copy, len, cases[i].want);
        AG_ASSERT_EQ(norm_exact(cases[i].in, n - 1, NULL, &len), AG_PATH_TOO_LONG);
        if (ag_t_cur_failed) {
            fprintf(stderr, "    input: \"%s\"\n", cases[i].in);
            break;
        }
    }
}

static void test_path_too_long_only_when_the_result_does_not_fit(void)
{
    char copy[8];
    size_t len = 0;
    static char big[600];

    /* intermediate segments longer than the buffer are fine if ".." removes them */
    AG_ASSERT_EQ(norm_exact("/aaaaaaaaaaaaaaaa/..", 1, copy, &len), AG_PATH_OK);
    AG_ASSERT_MEM(copy, len, "/");
    AG_ASSERT_EQ(norm_exact("/aaaaaaaaaa/bbbbbbbbbb/../../c", 2, copy, &len), AG_PATH_OK);
    AG_ASSERT_MEM(copy, len, "/c");
    AG_ASSERT_EQ(norm_exact("/x/aaaaaaaaaa/bbbb/../../c", 4, copy, &len), AG_PATH_OK);
    AG_ASSERT_MEM(copy, len, "/x/c");
    AG_ASSERT_EQ(norm_exact("/x/aaaaaaaaaa/bbbb/../c", 4, NULL, &len), AG_PATH_TOO_LONG);
    /* the trailing slash counts */
    AG_ASSERT_EQ(norm_exact("/ab/", 3, NULL, &len), AG_PATH_TOO_LONG);
    AG_ASSERT_EQ(norm_exact("/ab/c/..", 3, NULL, &len), AG_PATH_TOO_LONG);
    /* refusals other than length are still found past a full buffer */
    AG_ASSERT_EQ(norm_exact("/aaaaaaaa/%2f", 2, NULL, &len), AG_PATH_ENCODED_SLASH);
    AG_ASSERT_EQ(norm_exact("/aaaaaaaa/../..", 2, NULL, &len), AG_PATH_ABOVE_ROOT);
    AG_ASSERT_EQ(norm_exact("/aaaaaaaa/x./..", 2, NULL, &len), AG_PATH_DOT_END);
    AG_ASSERT_EQ(norm_exact("/aaaaaaaa%252e", 2, NULL, &len), AG_PATH_DOUBLE_ENCODED);
    /* zero capacity, and a NULL buffer with it */
    AG_ASSERT_EQ(norm_exact("/", 0, NULL, &len), AG_PATH_TOO_LONG);
    {
        struct ag_str q;

        AG_ASSERT_EQ(ag_path_normalize(AG_LIT("/a"), 0, NULL, 0, &len, &q), AG_PATH_TOO_LONG);
        AG_ASSERT_EQ(ag_path_normalize(AG_LIT("/a/.."), 0, NULL, 0, &len, &q), AG_PATH_TOO_LONG);
        AG_ASSERT_EQ(ag_path_normalize(AG_LIT("/.."), 0, NULL, 0, &len, &q), AG_PATH_ABOVE_ROOT);
    }
    /* a long segment then many pops */
    big[0] = '/';
    memset(big + 1, 'z', 500);
    memcpy(big + 501, "/../y", 6);
    AG_ASSERT_EQ(norm_exact(big, 2, copy, &len), AG_PATH_OK);
    AG_ASSERT_MEM(copy, len, "/y");
    AG_ASSERT_EQ(norm_exact(big, 1, NULL, &len), AG_PATH_TOO_LONG);
}

static void test_path_does_not_write_past_cap(void)
{
    char buf[32];
    struct ag_str q;
    size_t len = 0, i;
    int clean = 1;

    memset(buf, '#', sizeof(buf));
    AG_ASSERT_EQ(ag_path_normalize(AG_LIT("/abcdefghijklmnop/x"), 0, buf, 5, &len, &q),
                 AG_PATH_TOO_LONG);
    for (i = 5; i < sizeof(buf); i++)
        clean &= buf[i] == '#';
    AG_ASSERT(clean);

    memset(buf, '#', sizeof(buf));
    AG_ASSERT_EQ(ag_path_normalize(AG_LIT("/ab?cdefghijkl"), 0, buf, 3, &len, &q), AG_PATH_OK);
    AG_ASSERT_MEM(buf, len, "/ab");
    for (i = 3; i < sizeof(buf); i++)
        clean &= buf[i] == '#';
    AG_ASSERT(clean);
}

static void test_path_handles_long_inputs(void)
{
    enum { N = 8000, DEPTH = 1500 };
    char *in = malloc(N + 1), *out = malloc(N);
    struct ag_str q;
    size_t len = 0, i, pos;

    AG_ASSERT_NOT_NULL(in);
    AG_ASSERT_NOT_NULL(out);
    if (in == NULL || out == NULL)
        goto out;

    /* one long segment, buffer of exactly the input's length */
    in[0] = '/';
    memset(in + 1, 'a', N - 1);
    AG_ASSERT_EQ(ag_path_normalize((struct ag_str){in, N}, 0, out, N, &len, &q), AG_PATH_OK);
    AG_ASSERT_EQ(len, N);
    AG_ASSERT(memcmp(in, out, N) == 0);
    AG_ASSERT_EQ(ag_path_normalize((struct ag_str){in, N}, 0, out, N - 1, &len, &q),
                 AG_PATH_TOO_LONG);

    /* deep nesting, then climbing back to the root */
    pos = 0;
    for (i = 0; i < DEPTH; i++) {
        in[pos++] = '/';
        in[pos++] = 'd';
    }
    for (i = 0; i < DEPTH; i++) {
        memcpy(in + pos, "/..", 3);
        pos += 3;
    }
    AG_ASSERT_EQ(ag_path_normalize((struct ag_str){in, pos}, 0, out, N, &len, &q), AG_PATH_OK);
    AG_ASSERT_MEM(out, len, "/");
    memcpy(in + pos, "/..", 3);
    AG_ASSERT_EQ(ag_path_normalize((struct ag_str){in, pos + 3}, 0, out, N, &len, &q),
                 AG_PATH_ABOVE_ROOT);

    /* many slashes */
    memset(in, '/', N);
    AG_ASSERT_EQ(ag_path_normalize((struct ag_str){in, N}, 0, out, N, &len, &q), AG_PATH_OK);
    AG_ASSERT_MEM(out, len, "/");

    /* many escapes, decoded to a third of their length */
    in[0] = '/';
    for (pos = 1; pos + 3 <= N; pos += 3)
        memcpy(in + pos, "%41", 3);
    AG_ASSERT_EQ(ag_path_normalize((struct ag_str){in, pos}, 0, out, N, &len, &q), AG_PATH_OK);
    AG_ASSERT_EQ(len, 1 + (pos - 1) / 3);
    AG_ASSERT_EQ(out[len - 1], 'A');
out:
    free(in);
    free(out);
}

/* ---------------------------------------------------------------------------------------------
 * ag_path_status_str
 * ------------------------------------------------------------------------------------------- */

static void test_path_status_str_names_every_status(void)
{
    static const enum ag_path_status all[] = {
        AG_PATH_REJECT,         AG_PATH_OK,        AG_PATH_BAD_FORM,
        AG_PATH_BAD_CHAR,       AG_PATH_FRAGMENT,  AG_PATH_BAD_ESCAPE,
        AG_PATH_ENCODED_SLASH,  AG_PATH_BACKSLASH, AG_PATH_ENCODED_CTL,
        AG_PATH_DOUBLE_ENCODED, AG_PATH_BAD_UTF8,  AG_PATH_SEMICOLON,
        AG_PATH_ABOVE_ROOT,     AG_PATH_DOT_END,   AG_PATH_TOO_LONG,
        AG_PATH_AUTHORITY,
    };
    const char *unknown = ag_path_status_str((enum ag_path_status)42);
    size_t i, j, n = sizeof(all) / sizeof(all[0]);

    AG_ASSERT_NOT_NULL(unknown);
    AG_ASSERT_STR(ag_path_status_str(AG_PATH_ENCODED_SLASH), "encoded slash");
    for (i = 0; i < n; i++) {
        const char *s = ag_path_status_str(all[i]);

        AG_ASSERT_NOT_NULL(s);
        if (s == NULL)
            continue;
        AG_ASSERT(strlen(s) > 0 && strlen(s) < 40);
        AG_ASSERT(strcmp(s, unknown) != 0);
        for (j = 0; j < i; j++)
            AG_ASSERT(strcmp(s, ag_path_status_str(all[j])) != 0);
    }
}

static void test_path_status_zero_is_the_failing_value(void)
{
    AG_ASSERT_EQ(AG_PATH_REJECT, 0);
    AG_ASSERT(AG_PATH_OK != 0);
}

/* ---------------------------------------------------------------------------------------------
 * Properties over generated inputs
 * ------------------------------------------------------------------------------------------- */

static int prop_failures;

/* Reports a property failure for <in> (the first few only, to keep the log readable). */
static void prop_fail(const char *in, size_t len, const char *why)
{
    if (prop_failures++ < 10)
        fprintf(stderr, "    property \"%s\" fails for \"%.*s\"\n", why, (int)len, in);
}

static int is_upper_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

static int hex_val(char c)
{
    return c <= '9' ? c - '0' : c - 'A' + 10;
}

/* Whether <out> looks canonical: leading '/', no empty, "." or ".." segment except a final
 * empty one, no segment ending in '.' or "%20", every '%' a kept upper-case escape. */
static int looks_canonical(const char *out, size_t len, const char **why)
{
    size_t i, seg = 1;

    *why = "starts with '/'";
    if (len == 0 || out[0] != '/')
        return 0;
    for (i = 1; i <= len; i++) {
        if (i == len || out[i] == '/') {
            size_t sl = i - seg;
            const char *s = out + seg;

            *why = "no empty segment except the last";
            if (sl == 0 && i != len)
                return 0;
            *why = "no dot segment";
            if ((sl == 1 && s[0] == '.') || (sl == 2 && s[0] == '.' && s[1] == '.'))
                return 0;
            *why = "no segment ending in dot or %20";
            if (sl > 0 && (s[sl - 1] == '.' || (sl >= 3 && memcmp(s + sl - 3, "%20", 3) == 0)))
                return 0;
            seg = i + 1;
        } else if (out[i] == '%') {
            int v;

            *why = "escapes are upper-case and not unreserved";
            if (i + 2 >= len || !is_upper_hex(out[i + 1]) || !is_upper_hex(out[i + 2]))
                return 0;
            v = hex_val(out[i + 1]) << 4 | hex_val(out[i + 2]);
            if ((v >= 'A' && v <= 'Z') || (v >= 'a' && v <= 'z') || (v >= '0' && v <= '9') ||
                v == '-' || v == '.' || v == '_' || v == '~' || v == '/' || v < 0x20)
                return 0;
        } else if (out[i] == '?' || out[i] == '#' || out[i] == '\\') {
            *why = "no raw ? # \\";
            return 0;
        }
    }
    return 1;
}

/*
 * Checks, for one input and <flags>: a known verdict; on success a canonical-looking result
 * no longer than the path, that is a fixed point (also with its query re-attached), that fits
 * a buffer of exactly its length and not one byte less; and that allowing ';' only relaxes.
 */
static void check_properties(const char *in, size_t len, unsigned flags)
{
    char out[512], out2[512], joined[1024];
    size_t olen = 0, olen2 = 0, plen;
    struct ag_str q = {NULL, 0}, q2 = {NULL, 0};
    const char *why = "";
    enum ag_path_status st, st2;
    const char *qm;
    char *exact;

    st = ag_path_normalize((struct ag_str){in, len}, flags, out, sizeof(out), &olen, &q);
    if (st > AG_PATH_OK || st < AG_PATH_TOO_LONG || st == AG_PATH_REJECT ||
        st == AG_PATH_BAD_FORM || st == AG_PATH_TOO_LONG) {
        prop_fail(in, len, "known verdict");
        return;
    }
    if (!(flags & AG_PATH_F_ALLOW_SEMICOLON)) {
        st2 = ag_path_normalize((struct ag_str){in, len}, AG_PATH_F_ALLOW_SEMICOLON, out2,
                                sizeof(out2), &olen2, &q2);
        if (st != AG_PATH_SEMICOLON &&
            (st2 != st || (st == AG_PATH_OK && (olen2 != olen || memcmp(out, out2, olen) != 0))))
            prop_fail(in, len, "allowing ';' changes nothing else");
    }
    if (st != AG_PATH_OK)
        return;

    qm = memchr(in, '?', len);
    plen = qm ? (size_t)(qm - in) : len;
    if (olen > plen)
        prop_fail(in, len, "no longer than the path");
    if (!looks_canonical(out, olen, &why))
        prop_fail(in, len, why);
    if ((qm == NULL) != (q.p == NULL) || (qm && (q.p != qm + 1 || q.len != len - plen - 1)))
        prop_fail(in, len, "query is the slice after the first '?'");

    st2 = ag_path_normalize((struct ag_str){out, olen}, flags, out2, sizeof(out2), &olen2, &q2);
    if (st2 != AG_PATH_OK || olen2 != olen || memcmp(out, out2, olen) != 0 || q2.p != NULL)
        prop_fail(in, len, "idempotent");

    if (qm != NULL) {
        memcpy(joined, out, olen);
        joined[olen] = '?';
        memcpy(joined + olen + 1, q.p, q.len);
        st2 = ag_path_normalize((struct ag_str){joined, olen + 1 + q.len}, flags, out2,
                                sizeof(out2), &olen2, &q2);
        if (st2 != AG_PATH_OK || olen2 != olen || memcmp(out, out2, olen) != 0 || q2.len != q.len ||
            memcmp(q2.p, q.p, q.len) != 0)
            prop_fail(in, len, "idempotent with the query re-attached");
    }

    exact = malloc(olen);
    if (exact == NULL) {
        prop_fail(in, len, "malloc");
        return;
    }
    st2 = ag_path_normalize((struct ag_str){in, len}, flags, exact, olen, &olen2, &q2);
    if (st2 != AG_PATH_OK || olen2 != olen || memcmp(exact, out, olen) != 0)
        prop_fail(in, len, "fits exactly its length");
    st2 = ag_path_normalize((struct ag_str){in, len}, flags, exact, olen - 1, &olen2, &q2);
    if (st2 != AG_PATH_TOO_LONG)
        prop_fail(in, len, "one byte short is too long");
    free(exact);
}

/* Every sequence of up to 4 of these tokens after a leading '/'. */
static const char *const tokens[] = {
    "/",   "//",  "a",   "B",   ".",  "..",     "%2e", "%2E", "%61", "%7e",
    "%3f", "%3B", ";",   "%25", "2e", "5C",     "%20", "%",   "~",   "?",
    "#",   "\\",  "%2f", "%00", "x.", "%C3%A9", "%c3", "%A9", ":@",  "%41",
};
#define NTOKENS (sizeof(tokens) / sizeof(tokens[0]))

static void test_path_normalize_is_idempotent_over_generated_inputs(void)
{
    char in[64];
    size_t idx[4], depth, k, len, count = 0;

    prop_failures = 0;
    for (depth = 0; depth <= 4; depth++) {
        memset(idx, 0, sizeof(idx));
        for (;;) {
            len = 0;
            in[len++] = '/';
            for (k = 0; k < depth; k++) {
                size_t tl = strlen(tokens[idx[k]]);

                memcpy(in + len, tokens[idx[k]], tl);
                len += tl;
            }
            check_properties(in, len, 0);
            check_properties(in, len, AG_PATH_F_ALLOW_SEMICOLON);
            count++;
            for (k = 0; k < depth && ++idx[k] == NTOKENS; k++)
                idx[k] = 0;
            if (k == depth)
                break;
        }
    }
    AG_ASSERT(count > 800000);
    AG_ASSERT_EQ(prop_failures, 0);
}

/* A small deterministic generator (xorshift32) for the random-input property test. */
static uint32_t rand_next(uint32_t *s)
{
    /* the masks drop the bits a 32-bit shift would lose, so no sanitizer sees an overflow */
    *s ^= (*s & 0x7ffffu) << 13;
    *s ^= *s >> 17;
    *s ^= (*s & 0x7ffffffu) << 5;
    return *s;
}

static void test_path_random_inputs_keep_every_property(void)
{
    static const char alphabet[] = "/////....%%%%2255eEfFcC3BbA9a0;?#\\ ~-_xX";
    uint32_t seed = 0x9e3779b9u;
    char in[96];
    int iter;

    prop_failures = 0;
    for (iter = 0; iter < 300000; iter++) {
        size_t len = 1 + rand_next(&seed) % 60, i;

        in[0] = '/';
        for (i = 1; i < len; i++) {
            uint32_t r = rand_next(&seed);

            in[i] = (r & 0xff) < 8 ? (char)(r >> 8) : alphabet[(r >> 8) % (sizeof(alphabet) - 1)];
        }
        check_properties(in, len, 0);
    }
    AG_ASSERT_EQ(prop_failures, 0);
}

/*
 * Reference: RFC 3986 s.5.2.4 "remove_dot_segments", literally (steps A-E on a string
 * buffer), on an input whose slash runs are already merged. Returns -1 where step C would
 * have to remove a segment from an empty output (climbing above the root), else the length.
 */
static int ref_remove_dot_segments(const char *in, char *out)
{
    char buf[128];
    char *s = buf;
    int o = 0;

    snprintf(buf, sizeof(buf), "%s", in);
    while (*s != '\0') {
        if (strncmp(s, "../", 3) == 0) {
            s += 3;
        } else if (strncmp(s, "./", 2) == 0) {
            s += 2;
        } else if (strncmp(s, "/./", 3) == 0) {
            s += 2;
        } else if (strcmp(s, "/.") == 0) {
            s[1] = '\0';
        } else if (strncmp(s, "/../", 4) == 0 || strcmp(s, "/..") == 0) {
            if (o == 0)
                return -1;
            if (s[3] == '/') {
                s += 3;
            } else {
                s += 2;
                s[0] = '/';
                s[1] = '\0';
            }
            while (o > 0 && out[--o] != '/')
                ;
        } else if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0) {
            s += strlen(s);
        } else {
            if (*s == '/')
                out[o++] = *s++;
            while (*s != '\0' && *s != '/')
                out[o++] = *s++;
        }
    }
    return o;
}

/* Expected verdict for a path over { '/', 'a', '.' }: merge slashes, stop before the first
 * segment ending in '.' that is not "." or "..", run the reference on what precedes it. */
static enum ag_path_status ref_normalize(const char *in, char *out, size_t *olen)
{
    char merged[128];
    size_t m = 0, i, seg = 1;
    int n, dot_end = 0;

    for (i = 0; in[i] != '\0'; i++)
        if (in[i] != '/' || m == 0 || merged[m - 1] != '/')
            merged[m++] = in[i];
    merged[m] = '\0';
    for (i = 1; i <= m; i++) {
        if (i == m || merged[i] == '/') {
            size_t sl = i - seg;

            if (sl > 0 && merged[i - 1] == '.' && !(sl == 1) && !(sl == 2 && merged[seg] == '.')) {
                merged[seg] = '\0';
                dot_end = 1;
                break;
            }
            seg = i + 1;
        }
    }
    n = ref_remove_dot_segments(merged, out);
    if (n < 0)
        return AG_PATH_ABOVE_ROOT;
    if (dot_end)
        return AG_PATH_DOT_END;
    *olen = (size_t)n;
    return AG_PATH_OK;
}

static void test_path_matches_rfc3986_reference_and_escaped_dots_match_raw_dots(void)
{
    static const char alpha[] = {'/', 'a', '.'};
    char in[16], esc[64], want[64], got[64], got2[64];
    size_t idx[10], depth, k, wlen = 0, glen = 0, glen2 = 0, e, count = 0;
    struct ag_str q;
    enum ag_path_status ref, st, st2;

    prop_failures = 0;
    for (depth = 0; depth <= 10; depth++) {
        memset(idx, 0, sizeof(idx));
        for (;;) {
            in[0] = '/';
            for (k = 0; k < depth; k++)
                in[1 + k] = alpha[idx[k]];
            in[1 + depth] = '\0';

            /* the same path with every '.' and 'a' written as an escape, in mixed case */
            for (k = 0, e = 0; in[k] != '\0'; k++) {
                if (in[k] == '.')
                    e += (size_t)sprintf(esc + e, k % 2 ? "%%2e" : "%%2E");
                else if (in[k] == 'a')
                    e += (size_t)sprintf(esc + e, "%%61");
                else
                    esc[e++] = in[k];
            }

            ref = ref_normalize(in, want, &wlen);
            st = ag_path_normalize(str_of(in), 0, got, sizeof(got), &glen, &q);
            st2 = ag_path_normalize((struct ag_str){esc, e}, 0, got2, sizeof(got2), &glen2, &q);
            if (st != ref || (st == AG_PATH_OK && (glen != wlen || memcmp(got, want, glen) != 0)))
                prop_fail(in, strlen(in), "same as the RFC 3986 reference");
            if (st2 != st || (st == AG_PATH_OK && (glen2 != glen || memcmp(got, got2, glen) != 0)))
                prop_fail(in, strlen(in), "escaped dots and letters act as raw ones");
            count++;
            for (k = 0; k < depth && ++idx[k] == sizeof(alpha); k++)
                idx[k] = 0;
            if (k == depth)
                break;
        }
    }
    AG_ASSERT(count > 80000);
    AG_ASSERT_EQ(prop_failures, 0);
}

int main(void)
{
    AG_RUN(test_split_accepts_origin_form_as_whole_rest);
    AG_RUN(test_split_accepts_asterisk_form_only_alone);
    AG_RUN(test_split_absolute_form_gives_authority_and_path);
    AG_RUN(test_split_absolute_form_scheme_is_case_insensitive);
    AG_RUN(test_split_absolute_form_without_path_gives_empty_rest);
    AG_RUN(test_split_absolute_form_with_query_only_gives_question_rest);
    AG_RUN(test_split_absolute_form_accepts_ip_literal_and_port);
    AG_RUN(test_split_rejects_empty_authority);
    AG_RUN(test_split_rejects_userinfo);
    AG_RUN(test_split_rejects_bytes_not_allowed_in_authority);
    AG_RUN(test_split_rejects_authority_form);
    AG_RUN(test_split_rejects_empty_and_unknown_targets);
    AG_RUN(test_split_reads_only_within_target_length);
    AG_RUN(test_split_rest_of_absolute_form_normalises_like_origin_form);

    AG_RUN(test_path_keeps_root);
    AG_RUN(test_path_merges_slashes);
    AG_RUN(test_path_removes_dot_segments);
    AG_RUN(test_path_merges_slashes_before_removing_dot_segments);
    AG_RUN(test_path_trailing_dot_segments_leave_trailing_slash);
    AG_RUN(test_path_decodes_unreserved_escapes);
    AG_RUN(test_path_keeps_other_escapes_with_upper_case_hex);
    AG_RUN(test_path_decoded_dots_take_part_in_dot_segments);
    AG_RUN(test_path_keeps_letter_case);
    AG_RUN(test_path_accepts_allowed_raw_characters);
    AG_RUN(test_path_keeps_valid_utf8_escapes_encoded);

    AG_RUN(test_path_splits_query_at_first_question_mark);
    AG_RUN(test_path_without_question_mark_has_null_query);
    AG_RUN(test_path_with_trailing_question_mark_has_empty_query);
    AG_RUN(test_path_leaves_query_bytes_alone);
    AG_RUN(test_path_encoded_question_mark_does_not_split);
    AG_RUN(test_path_checks_only_the_path_before_the_query);

    AG_RUN(test_path_rejects_input_not_starting_with_slash);
    AG_RUN(test_path_rejects_climbing_above_root);
    AG_RUN(test_path_rejects_encoded_slash);
    AG_RUN(test_path_rejects_backslash_raw_and_encoded);
    AG_RUN(test_path_rejects_bad_escape);
    AG_RUN(test_path_rejects_encoded_ctl);
    AG_RUN(test_path_rejects_double_encoding);
    AG_RUN(test_path_rejects_semicolon_unless_allowed);
    AG_RUN(test_path_allowed_semicolon_still_refuses_dot_or_empty_names);
    AG_RUN(test_path_rejects_fragment);
    AG_RUN(test_path_rejects_raw_bytes_outside_uri);
    AG_RUN(test_path_rejects_invalid_utf8_escapes);
    AG_RUN(test_path_rejects_dot_ending_segments);
    AG_RUN(test_path_reports_the_first_reason_scanning_left_to_right);

    AG_RUN(test_path_fits_a_buffer_of_exactly_its_length);
    AG_RUN(test_path_too_long_only_when_the_result_does_not_fit);
    AG_RUN(test_path_does_not_write_past_cap);
    AG_RUN(test_path_handles_long_inputs);

    AG_RUN(test_path_status_str_names_every_status);
    AG_RUN(test_path_status_zero_is_the_failing_value);

    AG_RUN(test_path_normalize_is_idempotent_over_generated_inputs);
    AG_RUN(test_path_random_inputs_keep_every_property);
    AG_RUN(test_path_matches_rfc3986_reference_and_escaped_dots_match_raw_dots);
    return ag_t_done();
}
