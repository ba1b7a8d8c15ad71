/*
 * tests/unit/policy/base_test.c - unit tests for the small shared rules of policy/base.h:
 * ASCII case folding, the header-name equivalence (a security rule: every filter, authn
 * and the config checks match names with it) and the word-list walk.
 *
 * Spec:     CONTRACT.md section 6 (owned header names in any spelling).
 */
#include <string.h>

#include "base.h"
#include "t.h"

static struct ag_str s(const char *p)
{
    return (struct ag_str){p, strlen(p)};
}

static void test_ascii_lower_folds_only_ascii_letters(void)
{
    for (int c = 0; c < 256; c++) {
        int want = c >= 'A' && c <= 'Z' ? c + 32 : c;
        AG_ASSERT_EQ(ag_ascii_lower((unsigned char)c), want);
    }
    AG_ASSERT(ag_str_ieq(s("Content-TYPE"), "content-type"));
    AG_ASSERT(!ag_str_ieq(s("Content-Typ"), "content-type"));
    AG_ASSERT(!ag_str_ieq(s("\xc3\x89"), "\xc3\xa9")); /* no locale: É is not é */
}

static void test_hdr_name_eq_ignores_case_and_separator_spelling(void)
{
    AG_ASSERT(ag_hdr_name_eq(s("X-Auth-Subject"), "x-auth-subject"));
    AG_ASSERT(ag_hdr_name_eq(s("x_auth.SUBJECT"), "x-auth-subject"));
    AG_ASSERT(ag_hdr_name_eq(s("X.AUTH_subject"), "X_Auth.Subject"));
    AG_ASSERT(ag_hdr_name_eq(s("master_token"), "MASTER-TOKEN"));
    AG_ASSERT(ag_hdr_name_eq(s("_a"), ".A")); /* also in the first byte */
}

static void test_hdr_name_eq_refuses_other_names(void)
{
    AG_ASSERT(!ag_hdr_name_eq(s("x-auth-subjec"), "x-auth-subject"));
    AG_ASSERT(!ag_hdr_name_eq(s("x-auth-subjects"), "x-auth-subject"));
    AG_ASSERT(!ag_hdr_name_eq(s("x-auth subject"), "x-auth-subject")); /* space is no separator */
    AG_ASSERT(!ag_hdr_name_eq(s("x~auth-subject"), "x-auth-subject"));
    AG_ASSERT(!ag_hdr_name_eq(s("y-auth-subject"), "x-auth-subject"));
    AG_ASSERT(!ag_hdr_name_eq(s(""), ""));
    AG_ASSERT(!ag_hdr_name_eq(s("a"), ""));
    AG_ASSERT(!ag_hdr_name_eq((struct ag_str){"ab", 1}, "ab")); /* the slice, not the bytes after */
    AG_ASSERT_EQ(ag_hdr_name_fold('_'), '-');
    AG_ASSERT_EQ(ag_hdr_name_fold('.'), '-');
    AG_ASSERT_EQ(ag_hdr_name_fold('Q'), 'q');
    AG_ASSERT_EQ(ag_hdr_name_fold('~'), '~');
}

/* The words of <list> split by <sep>, joined with '|' into <out>. */
static const char *words(const char *list, char sep, char *out)
{
    struct ag_str rest = ag_str_c(list), w;
    size_t n = 0;

    out[0] = '\0';
    while (ag_words_next(&rest, sep, &w)) {
        if (n > 0)
            out[n++] = '|';
        memcpy(out + n, w.p, w.len);
        n += w.len;
        out[n] = '\0';
    }
    AG_ASSERT_EQ(rest.len, 0);
    return out;
}

static void test_words_next_skips_empty_words(void)
{
    char out[64];

    AG_ASSERT_STR(words("read write", ' ', out), "read|write");
    AG_ASSERT_STR(words("  read   write  ", ' ', out), "read|write");
    AG_ASSERT_STR(words("admin,,ops,", ',', out), "admin|ops");
    AG_ASSERT_STR(words("a b,c", ',', out), "a b|c");
    AG_ASSERT_STR(words("", ' ', out), "");
    AG_ASSERT_STR(words("   ", ' ', out), "");
    AG_ASSERT_STR(words(NULL, ' ', out), "");
}

static void test_words_has_matches_whole_words_only(void)
{
    AG_ASSERT(ag_words_has(s("read write"), ' ', s("write")));
    AG_ASSERT(ag_words_has(s(" read  write "), ' ', s("read")));
    AG_ASSERT(!ag_words_has(s("read write"), ' ', s("writ")));
    AG_ASSERT(!ag_words_has(s("read write"), ' ', s("read write")));
    AG_ASSERT(!ag_words_has(s("read write"), ' ', s("Read"))); /* exact bytes */
    AG_ASSERT(ag_words_has(s("admin,ops"), ',', s("ops")));
    AG_ASSERT(!ag_words_has(s("admin ops"), ',', s("ops")));
    AG_ASSERT(!ag_words_has(s("a  b"), ' ', s(""))); /* an empty word is never found */
    AG_ASSERT(!ag_words_has(ag_str_c(NULL), ' ', s("a")));
}

/* A sink that appends to a fixed buffer and counts its calls. */
struct esc_out {
    char buf[128];
    size_t len;
    int calls;
};

static void esc_sink(void *ctx, const char *p, size_t n)
{
    struct esc_out *o = ctx;

    memcpy(o->buf + o->len, p, n);
    o->len += n;
    o->buf[o->len] = '\0';
    o->calls++;
}

static void test_json_escape_to_both_modes(void)
{
    static const char in[] = "a\"b\\c\n\x01\x7f caf\xc3\xa9";
    struct esc_out o = {{0}, 0, 0};

    ag_json_escape_to(esc_sink, &o, in, sizeof(in) - 1, true);
    AG_ASSERT_STR(o.buf, "a\\\"b\\\\c\\u000a\\u0001\x7f caf\xc3\xa9");
    memset(&o, 0, sizeof(o));
    ag_json_escape_to(esc_sink, &o, in, sizeof(in) - 1, false);
    AG_ASSERT_STR(o.buf, "a\\\"b\\\\c\\u000a\\u0001\\u007f caf\\u00c3\\u00a9");
    memset(&o, 0, sizeof(o));
    ag_json_escape_to(esc_sink, &o, "plain text", 10, false);
    AG_ASSERT_STR(o.buf, "plain text");
    AG_ASSERT_EQ(o.calls, 1); /* an unescaped run is one write */
}

int main(void)
{
    AG_RUN(test_ascii_lower_folds_only_ascii_letters);
    AG_RUN(test_hdr_name_eq_ignores_case_and_separator_spelling);
    AG_RUN(test_hdr_name_eq_refuses_other_names);
    AG_RUN(test_words_next_skips_empty_words);
    AG_RUN(test_words_has_matches_whole_words_only);
    AG_RUN(test_json_escape_to_both_modes);
    return ag_t_done();
}
