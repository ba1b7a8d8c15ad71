/*
 * tests/unit/policy/jsonw_test.c - unit tests for policy/jsonw.c: jansson's escapes,
 * refusal of strings that are not UTF-8, integers at the ends of int64, and a buffer that
 * is too small (bad, never written past). tests/fuzz/fuzz_jsonw.c compares with jansson.
 *
 * Spec:     policy/jsonw.h; RFC 8259 s.7.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

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

/* What json_dumps() writes for the string <s,n> (malloc'd), or NULL where jansson refuses it. */
static char *jansson_str(const char *s, size_t n)
{
    json_t *j = json_stringn(s, n), *a;
    char *out, *str;
    size_t len;

    if (j == NULL)
        return NULL;
    a = json_array();
    json_array_append_new(a, j);
    out = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    len = strlen(out); /* ["..."]: the string is between the brackets */
    str = strndup(out + 1, len - 2);
    free(out);
    return str;
}

/*
 * Every byte value alone, and pairs of the bytes of second[], at every position of
 * strings up to 40 bytes: the eight-at-a-time skip (jsonw_plain8()) never passes over a
 * byte it must stop at, whatever its place in the word or the word's alignment.
 */
static void test_str_is_jansson_at_every_position(void)
{
    static const unsigned char second[] = {0x00, 0x1f, 0x20, '"', '\\', 0x7f, 0x80, 0xa9, 0xbf,
                                           0xc3, 0xe2, 0xff, 'a'};
    char in[48], buf[512];
    int bad = 0;

    for (size_t len = 1; len <= 40; len++) {
        for (size_t at = 0; at < len; at++) {
            for (int b = 0; b < 256; b++) {
                /* Pairs only for the bytes of second[]: every byte alone is enough else. */
                size_t pairs = memchr(second, b, sizeof(second)) != NULL ? sizeof(second) : 1;

                for (size_t k = 0; k < pairs; k++) {
                    size_t at2 = pairs == 1 ? at : (at * 7 + k) % len;
                    const char *got;
                    char *want;

                    memset(in, 'a' + (int)(len % 26), len);
                    in[at2] = (char)second[k];
                    in[at] = (char)b;
                    got = str(in, len, buf);
                    want = jansson_str(in, len);
                    if ((got == NULL) != (want == NULL) ||
                        (got != NULL && strcmp(got, want) != 0)) {
                        if (bad++ < 5)
                            AG_FAIL_("len %zu byte 0x%02x at %zu, 0x%02x at %zu: %s != %s", len,
                                     b, at, second[k], at2, got ? got : "(refused)",
                                     want ? want : "(refused)");
                    }
                    free(want);
                }
            }
        }
    }
    AG_ASSERT_EQ(bad, 0);
}

int main(void)
{
    AG_RUN(test_str_escapes_as_jansson);
    AG_RUN(test_str_refuses_what_is_not_utf8);
    AG_RUN(test_int_and_object);
    AG_RUN(test_too_small_is_bad_and_bounded);
    AG_RUN(test_str_is_jansson_at_every_position);
    return ag_t_done();
}
