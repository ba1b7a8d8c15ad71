/*
 * tests/unit/policy/json_scan_test.c - unit tests for policy/json_scan.c alone: the
 * grammar it accepts and refuses (RFC 8259), its limits, duplicate keys after decoding,
 * decoding of escapes, numbers, member lookup and the string-array walk. The same rules
 * are also exercised through whole tokens in jwt_test.c.
 *
 * Spec:     RFC 8259; RFC 3629 s.4.
 */
#include <stdio.h>
#include <string.h>

#include "base.h"
#include "json_scan.h"
#include "t.h"

static struct ag_json_doc doc; /* ~3 KiB: kept off the stack of each test */

/* ag_json_scan() of the NUL-terminated <s>; *<dup> set as the scanner sets it. */
static int scan(const char *s, int *dup)
{
    int d = 0, r = ag_json_scan((const unsigned char *)s, strlen(s), &doc, &d);

    if (dup != NULL)
        *dup = d;
    return r;
}

static void test_json_scan_accepts_objects_and_records_top_members(void)
{
    AG_ASSERT_EQ(scan("{}", NULL), 0);
    AG_ASSERT_EQ(doc.n, 0);
    AG_ASSERT_EQ(scan(" \t\r\n{ \"a\" : 1 , \"b\":[1,{\"c\":null}],\"d\":\"x\"} \n", NULL), 0);
    AG_ASSERT_EQ(doc.n, 3);
    AG_ASSERT_MEM(doc.key[0].p, doc.key[0].len, "a");
    AG_ASSERT_EQ(doc.val[0].type, AG_JSON_INT);
    AG_ASSERT_EQ(doc.val[1].type, AG_JSON_ARR);
    AG_ASSERT_MEM(doc.val[1].p, doc.val[1].len, "[1,{\"c\":null}]");
    AG_ASSERT_EQ(doc.val[2].type, AG_JSON_STR);
    AG_ASSERT_MEM(doc.val[2].p, doc.val[2].len, "x");
}

static void test_json_scan_refuses_non_objects_and_trailing_bytes(void)
{
    static const char *const bad[] = {
        "",      "[]",    "\"s\"", "1",       "true",     "{} {}",  "{}x", "{",
        "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{,}", "{\"a\":1 \"b\":2}", "{a:1}", "{'a':1}",
        "{\"a\":[1,]}", "{\"a\":tru}", "{\"a\":nul}", "{\"a\":True}", "\v{}", "{}\f",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r = scan(bad[i], NULL);
        if (r != AG_EPARSE)
            fprintf(stderr, "accepted: %s\n", bad[i]);
        AG_ASSERT_EQ(r, AG_EPARSE);
    }
}

static void test_json_scan_refuses_raw_nul_and_control_bytes(void)
{
    const unsigned char nul[] = "{\"a\":1\0}";
    const unsigned char ctl[] = "{\"a\":\"x\x01\"}";
    int dup = 0;

    AG_ASSERT_EQ(ag_json_scan(nul, sizeof(nul) - 1, &doc, &dup), AG_EPARSE);
    AG_ASSERT_EQ(ag_json_scan(ctl, sizeof(ctl) - 1, &doc, &dup), AG_EPARSE);
    AG_ASSERT_EQ(scan("{\"a\":\"\x7f\"}", NULL), 0); /* DEL is legal JSON */
}

static void test_json_scan_checks_strings(void)
{
    AG_ASSERT_EQ(scan("{\"a\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\"}", NULL), 0);
    AG_ASSERT(doc.val[0].esc);
    AG_ASSERT_EQ(scan("{\"a\":\"\\ud83d\\ude00\"}", NULL), 0);   /* a surrogate pair */
    AG_ASSERT_EQ(scan("{\"a\":\"\\ud83d\"}", NULL), AG_EPARSE);  /* lone high */
    AG_ASSERT_EQ(scan("{\"a\":\"\\ude00\"}", NULL), AG_EPARSE);  /* lone low */
    AG_ASSERT_EQ(scan("{\"a\":\"\\u0000\"}", NULL), AG_EPARSE);  /* NUL would cut C strings */
    AG_ASSERT_EQ(scan("{\"a\":\"\\x41\"}", NULL), AG_EPARSE);    /* not an RFC 8259 escape */
    AG_ASSERT_EQ(scan("{\"a\":\"\\u12g4\"}", NULL), AG_EPARSE);  /* bad hex */
    AG_ASSERT_EQ(scan("{\"a\":\"\\u12\"}", NULL), AG_EPARSE);    /* short hex */
    AG_ASSERT_EQ(scan("{\"a\":\"\xc3\xa9\"}", NULL), 0);         /* UTF-8 é */
    AG_ASSERT_EQ(scan("{\"a\":\"\xc0\xaf\"}", NULL), AG_EPARSE); /* overlong */
    AG_ASSERT_EQ(scan("{\"a\":\"\xed\xa0\x80\"}", NULL), AG_EPARSE); /* a surrogate */
    AG_ASSERT_EQ(scan("{\"a\":\"\xf4\x90\x80\x80\"}", NULL), AG_EPARSE); /* > U+10FFFF */
    AG_ASSERT_EQ(scan("{\"a\":\"\xe2\x82\"}", NULL), AG_EPARSE); /* cut sequence */
    AG_ASSERT_EQ(scan("{\"a\":\"abc}", NULL), AG_EPARSE);        /* unterminated */
}

static void test_json_scan_numbers_follow_rfc8259_grammar(void)
{
    static const char *const good[] = {"0", "-0", "12", "-12", "1.5", "1e5", "1E+5", "1e-5",
                                       "-0.0e0", "9223372036854775807", "-9223372036854775808",
                                       "1e308", "1e-400"};
    static const char *const bad[] = {"+1", "01", "-", "1.", ".5", "1e", "1e+", "--1", "0x10",
                                      "9223372036854775808", "-9223372036854775809", "1e309",
                                      "NaN", "Infinity"};
    char buf[64];

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(buf, sizeof(buf), "{\"n\":%s}", good[i]);
        AG_ASSERT_EQ(scan(buf, NULL), 0);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(buf, sizeof(buf), "{\"n\":%s}", bad[i]);
        AG_ASSERT_EQ(scan(buf, NULL), AG_EPARSE);
    }
    AG_ASSERT_EQ(scan("{\"a\":-9223372036854775808,\"b\":42,\"c\":2.5e1}", NULL), 0);
    AG_ASSERT_EQ(doc.val[0].type, AG_JSON_INT);
    AG_ASSERT(ag_json_int(&doc.val[0]) == INT64_MIN);
    AG_ASSERT_EQ(ag_json_int(&doc.val[1]), 42);
    AG_ASSERT_EQ(doc.val[2].type, AG_JSON_REAL);
}

static void test_json_real_is_exact_and_locale_free(void)
{
    double d = 0;

    AG_ASSERT_EQ(ag_json_real((const unsigned char *)"-12.5e3", 7, &d), 0);
    AG_ASSERT(d == -12500.0);
    AG_ASSERT_EQ(ag_json_real((const unsigned char *)"0.1", 3, &d), 0);
    AG_ASSERT(d == 0.1);
    AG_ASSERT_EQ(ag_json_real((const unsigned char *)"1e-400", 6, &d), 0);
    AG_ASSERT(d == 0.0);
    AG_ASSERT_EQ(ag_json_real((const unsigned char *)"1e309", 5, &d), -1);
}

static void test_json_scan_refuses_duplicates_after_decoding(void)
{
    int dup = 0;

    AG_ASSERT_EQ(scan("{\"a\":1,\"a\":2}", &dup), AG_EPARSE);
    AG_ASSERT_EQ(dup, 1);
    AG_ASSERT_EQ(scan("{\"exp\":1,\"ex\\u0070\":2}", &dup), AG_EPARSE);
    AG_ASSERT_EQ(dup, 1);
    AG_ASSERT_EQ(scan("{\"o\":{\"k\":1,\"k\":2}}", &dup), AG_EPARSE); /* nested objects too */
    AG_ASSERT_EQ(dup, 1);
    AG_ASSERT_EQ(scan("{\"o\":{\"k\":1},\"p\":{\"k\":2}}", &dup), 0); /* siblings may share */
    /* the first fault decides */
    AG_ASSERT_EQ(scan("{\"a\":01,\"a\":2}", &dup), AG_EPARSE);
    AG_ASSERT_EQ(dup, 0);
    AG_ASSERT_EQ(scan("{\"a\":1,\"a\":01}", &dup), AG_EPARSE);
    AG_ASSERT_EQ(dup, 1);
}

/* {"a":[[...]]} in <buf>, <depth> containers deep in all. */
static const char *nested(char *buf, int depth)
{
    size_t n = (size_t)sprintf(buf, "{\"a\":");

    for (int i = 1; i < depth; i++)
        buf[n++] = '[';
    for (int i = 1; i < depth; i++)
        buf[n++] = ']';
    buf[n++] = '}';
    buf[n] = '\0';
    return buf;
}

static void test_json_scan_bounds_nesting_and_keys(void)
{
    char buf[4096];
    size_t n = 0;

    /* AG_JSON_MAX_DEPTH containers, the outermost object included, pass; one more fails */
    AG_ASSERT_EQ(scan(nested(buf, AG_JSON_MAX_DEPTH), NULL), 0);
    AG_ASSERT_EQ(scan(nested(buf, AG_JSON_MAX_DEPTH + 1), NULL), AG_EPARSE);

    /* AG_JSON_MAX_KEYS members in one object pass; one more fails */
    n = 0;
    buf[n++] = '{';
    for (int i = 0; i <= AG_JSON_MAX_KEYS; i++) {
        if (i == AG_JSON_MAX_KEYS) {
            buf[n - 1] = '}';
            buf[n] = '\0';
            AG_ASSERT_EQ(scan(buf, NULL), 0);
            AG_ASSERT_EQ(doc.n, AG_JSON_MAX_KEYS);
            buf[n - 1] = ',';
        }
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\"k%d\":0,", i);
    }
    buf[n - 1] = '}';
    buf[n] = '\0';
    AG_ASSERT_EQ(scan(buf, NULL), AG_EPARSE);
}

static void test_json_str_compares_and_decodes_escapes(void)
{
    char out[16];

    AG_ASSERT_EQ(scan("{\"a\":\"caf\\u00e9\",\"b\":\"caf\xc3\xa9\",\"c\":\"\\ud83d\\ude00\","
                      "\"d\":\"x\"}",
                      NULL),
                 0);
    AG_ASSERT(ag_json_str_eq(&doc.val[0], &doc.val[1]));
    AG_ASSERT(!ag_json_str_eq(&doc.val[0], &doc.val[3]));
    AG_ASSERT(ag_json_str_is(&doc.val[0], "caf\xc3\xa9", 5));
    AG_ASSERT(!ag_json_str_is(&doc.val[0], "caf", 3));
    AG_ASSERT(!ag_json_str_is(NULL, "x", 1));
    AG_ASSERT_EQ(ag_json_str_decode(&doc.val[2], out, sizeof(out)), 4);
    AG_ASSERT_MEM(out, 4, "\xf0\x9f\x98\x80");
    AG_ASSERT_EQ(ag_json_str_decode(&doc.val[2], out, 3), -1); /* does not fit */
}

static void test_json_index_finds_members_by_decoded_name(void)
{
    static const struct ag_json_name names[] = {AG_JSON_NAME("exp"), AG_JSON_NAME("sub"),
                                                AG_JSON_NAME("aud")};
    const struct ag_json_val *slot[3];

    AG_ASSERT_EQ(scan("{\"ex\\u0070\":1,\"sub\":\"u\",\"other\":true}", NULL), 0);
    ag_json_index(&doc, names, 3, slot);
    AG_ASSERT_NOT_NULL(slot[0]);
    AG_ASSERT_EQ(ag_json_int(slot[0]), 1);
    AG_ASSERT(ag_json_str_is(slot[1], "u", 1));
    AG_ASSERT_NULL(slot[2]);
}

static void test_json_arr_walks_string_elements(void)
{
    struct ag_json_arr it;
    struct ag_json_val e;

    AG_ASSERT_EQ(scan("{\"a\":[ \"x\" , \"y\\\"z\" ],\"b\":[\"x\",1],\"c\":[]}", NULL), 0);
    ag_json_arr_init(&it, &doc.val[0]);
    AG_ASSERT_EQ(ag_json_arr_next(&it, &e), 1);
    AG_ASSERT(ag_json_str_is(&e, "x", 1));
    AG_ASSERT_EQ(ag_json_arr_next(&it, &e), 1);
    AG_ASSERT(ag_json_str_is(&e, "y\"z", 3));
    AG_ASSERT_EQ(ag_json_arr_next(&it, &e), 0);
    ag_json_arr_init(&it, &doc.val[1]);
    AG_ASSERT_EQ(ag_json_arr_next(&it, &e), 1);
    AG_ASSERT_EQ(ag_json_arr_next(&it, &e), -1);
    ag_json_arr_init(&it, &doc.val[2]);
    AG_ASSERT_EQ(ag_json_arr_next(&it, &e), 0);
}

int main(void)
{
    AG_RUN(test_json_scan_accepts_objects_and_records_top_members);
    AG_RUN(test_json_scan_refuses_non_objects_and_trailing_bytes);
    AG_RUN(test_json_scan_refuses_raw_nul_and_control_bytes);
    AG_RUN(test_json_scan_checks_strings);
    AG_RUN(test_json_scan_numbers_follow_rfc8259_grammar);
    AG_RUN(test_json_real_is_exact_and_locale_free);
    AG_RUN(test_json_scan_refuses_duplicates_after_decoding);
    AG_RUN(test_json_scan_bounds_nesting_and_keys);
    AG_RUN(test_json_str_compares_and_decodes_escapes);
    AG_RUN(test_json_index_finds_members_by_decoded_name);
    AG_RUN(test_json_arr_walks_string_elements);
    return ag_t_done();
}
