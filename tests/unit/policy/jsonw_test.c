/*
 * tests/unit/policy/jsonw_test.c - unit tests for policy/jsonw.c: jansson's escapes,
 * refusal of strings that are not UTF-8, integers at the ends of int64, and a buffer that
 * is too small (bad, never written past). tests/fuzz/fuzz_jsonw.c compares with jansson.
 *
 * Spec:     policy/jsonw.h; RFC 8259 s.7.
 */
#include <string.h>

#include "jsonw.h"
#include "t.h"

/* <s,n> written as a JSON string into <buf> (256 bytes); NULL when refused. */
static const char *str(const char *s, size_t n, char *buf)
{
    struct ag_jsonw w;

    ag_jsonw_init(&w, buf, 256);
    ag_jsonw_str(&w, s, n);
    return ag_jsonw_done(&w) < 0 ? NULL : buf;
}

static void test_str_escapes_as_jansson(void)
{
    char b[256];

    AG_ASSERT_STR(str("abc", 3, b), "\"abc\"");
    AG_ASSERT_STR(str("", 0, b), "\"\"");
    AG_ASSERT_STR(str("a\"b\\c/d", 7, b), "\"a\\\"b\\\\c/d\"");
    AG_ASSERT_STR(str("\b\f\n\r\t", 5, b), "\"\\b\\f\\n\\r\\t\"");
    AG_ASSERT_STR(str("\x01\x1f\x7f", 3, b), "\"\\u0001\\u001F\x7f\"");
    AG_ASSERT_STR(str("a\0b", 3, b), "\"a\\u0000b\"");
    AG_ASSERT_STR(str("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9, b),
                  "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
}

static void test_str_refuses_what_is_not_utf8(void)
{
    char b[256];

    AG_ASSERT(str("\x80", 1, b) == NULL);
    AG_ASSERT(str("a\xc3", 2, b) == NULL);         /* cut short */
    AG_ASSERT(str("\xc0\xaf", 2, b) == NULL);      /* overlong */
    AG_ASSERT(str("\xed\xa0\x80", 3, b) == NULL);  /* a surrogate */
    AG_ASSERT(str("\xf4\x90\x80\x80", 4, b) == NULL); /* above U+10FFFF */
}

static void test_int_and_object(void)
{
    char b[256];
    struct ag_jsonw w;

    ag_jsonw_init(&w, b, sizeof(b));
    ag_jsonw_lit(&w, "{\"a\":");
    ag_jsonw_int(&w, INT64_MIN);
    ag_jsonw_lit(&w, ",\"b\":");
    ag_jsonw_int(&w, INT64_MAX);
    ag_jsonw_lit(&w, ",\"c\":");
    ag_jsonw_int(&w, 0);
    ag_jsonw_lit(&w, ",\"d\":");
    ag_jsonw_str(&w, "x", 1);
    ag_jsonw_lit(&w, "}");
    AG_ASSERT_EQ(ag_jsonw_done(&w), (long)strlen(b));
    AG_ASSERT_STR(b, "{\"a\":-9223372036854775808,\"b\":9223372036854775807,\"c\":0,\"d\":\"x\"}");
}

static void test_too_small_is_bad_and_bounded(void)
{
    char b[8];
    struct ag_jsonw w;

    memset(b, 'z', sizeof(b));
    ag_jsonw_init(&w, b, 6);
    ag_jsonw_str(&w, "abcd", 4); /* 6 bytes + NUL: does not fit in 6 */
    AG_ASSERT_EQ(ag_jsonw_done(&w), -1);
    AG_ASSERT_EQ(b[6], 'z');
    ag_jsonw_lit(&w, "x"); /* nothing after bad */
    AG_ASSERT_EQ(ag_jsonw_done(&w), -1);
    ag_jsonw_init(&w, b, 7);
    ag_jsonw_str(&w, "abcd", 4);
    AG_ASSERT_EQ(ag_jsonw_done(&w), 6);
    AG_ASSERT_STR(b, "\"abcd\"");
    ag_jsonw_init(&w, b, 0);
    AG_ASSERT_EQ(ag_jsonw_done(&w), -1);
}

int main(void)
{
    AG_RUN(test_str_escapes_as_jansson);
    AG_RUN(test_str_refuses_what_is_not_utf8);
    AG_RUN(test_int_and_object);
    AG_RUN(test_too_small_is_bad_and_bounded);
    return ag_t_done();
}
