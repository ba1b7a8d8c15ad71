/*
 * tests/unit/policy/auditin_test.c - mirrors policy/auditin.c: the POST /audit body
 * (members, names, sizes, duplicates, NUL, unknown members) and the GET /admin/audit
 * query (user, event, since in both forms, limit, before).
 *
 * Owns:     exact-size heap copies of each body (ASan sees any over-read), and the
 *           parsed values, cleared after each check.
 * Entry:    main().
 * Not here: the 422 reply built from the errors (gateway/ep/ep_audit.c).
 * Spec:     policy/auditin.h; CONTRACT.md section 13.
 */
#include "auditin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "t.h"

static struct ag_audit_in in;
static struct ag_field_err err;

/* ag_audit_in_parse() on an exact-size copy of <body>; on failure every value is NULL. */
static int parse(const char *body)
{
    size_t len = strlen(body);
    char *copy = malloc(len ? len : 1);
    int rc;

    memcpy(copy, body, len);
    ag_audit_in_clear(&in);
    err = (struct ag_field_err){NULL, NULL, NULL};
    rc = ag_audit_in_parse(copy, len, &in, &err);
    free(copy);
    if (rc < 0) {
        AG_ASSERT_NULL(in.event);
        AG_ASSERT_NULL(in.sub);
        AG_ASSERT_NULL(in.detail);
        AG_ASSERT_NOT_NULL(err.msg);
        AG_ASSERT_NOT_NULL(err.type);
    }
    return rc;
}

/* parse() of <body> fails naming <field> (NULL: the body) with <type>. */
static void refused(const char *body, const char *field, const char *type)
{
    AG_ASSERT_EQ(parse(body), AG_EPARSE);
    if (field == NULL)
        AG_ASSERT_NULL(err.field);
    else
        AG_ASSERT_STR(err.field, field);
    AG_ASSERT_STR(err.type, type);
}

static void test_audit_body_reads_event_sub_and_compact_detail(void)
{
    AG_ASSERT_EQ(parse("{\"event\":\"order.paid\"}"), 0);
    AG_ASSERT_STR(in.event, "order.paid");
    AG_ASSERT_NULL(in.sub);
    AG_ASSERT_NULL(in.detail);
    AG_ASSERT_EQ(parse("{ \"detail\" : {\"b\": [1, 2], \"a\": {\"x\": \"\\u00e9\"}},\n"
                       "  \"sub\": \"user-42\", \"event\": \"Cart:Item_Added-v2\" }"),
                 0);
    AG_ASSERT_STR(in.event, "Cart:Item_Added-v2");
    AG_ASSERT_STR(in.sub, "user-42");
    /* Compact, members in the order sent, text as UTF-8. */
    AG_ASSERT_STR(in.detail, "{\"b\":[1,2],\"a\":{\"x\":\"\xc3\xa9\"}}");
    AG_ASSERT_EQ(parse("{\"event\":\"e\",\"detail\":{}}"), 0);
    AG_ASSERT_STR(in.detail, "{}");
    ag_audit_in_clear(&in);
}

static void test_audit_body_refuses_what_is_not_one_object(void)
{
    refused("", NULL, "value_error.jsondecode");
    refused("[]", NULL, "value_error.jsondecode");
    refused("\"event\"", NULL, "value_error.jsondecode");
    refused("{\"event\":\"e\"", NULL, "value_error.jsondecode");
    refused("{\"event\":\"e\"} {}", NULL, "value_error.jsondecode");
    refused("{\"event\":\"e\",\"event\":\"f\"}", NULL, "value_error.duplicate");
    /* At any depth: a detail with a key twice is refused, not resolved. */
    refused("{\"event\":\"e\",\"detail\":{\"a\":1,\"a\":2}}", NULL, "value_error.duplicate");
}

static void test_audit_body_names_the_field_of_each_problem(void)
{
    refused("{}", "event", "value_error.missing");
    refused("{\"sub\":\"x\"}", "event", "value_error.missing");
    refused("{\"event\":1}", "event", "type_error.str");
    refused("{\"event\":\"\"}", "event", "value_error.event");
    refused("{\"event\":\"has space\"}", "event", "value_error.event");
    refused("{\"event\":\"caf\\u00e9\"}", "event", "value_error.event");
    refused("{\"event\":\"a\\u0000b\"}", "event", "value_error.event");
    refused("{\"event\":\"e\",\"sub\":null}", "sub", "type_error.str");
    refused("{\"event\":\"e\",\"sub\":\"\"}", "sub", "value_error.sub");
    refused("{\"event\":\"e\",\"sub\":\"a\\nb\"}", "sub", "value_error.sub");
    refused("{\"event\":\"e\",\"sub\":\"a\\u0000\"}", "sub", "value_error.sub");
    refused("{\"event\":\"e\",\"detail\":[]}", "detail", "type_error.dict");
    refused("{\"event\":\"e\",\"detail\":\"{}\"}", "detail", "type_error.dict");
    refused("{\"event\":\"e\",\"source\":\"gateway\"}", "source", "value_error.extra");
    refused("{\"event\":\"e\",\"ip\":\"1.2.3.4\"}", "ip", "value_error.extra");
    /* The first problem in the body's order is the one named. */
    refused("{\"extra\":1,\"event\":2}", "extra", "value_error.extra");
}

static void test_audit_body_limits_event_sub_and_detail_sizes(void)
{
    char body[6000], name[80], sub[600];

    memset(name, 'n', 64);
    name[64] = '\0';
    snprintf(body, sizeof(body), "{\"event\":\"%s\"}", name);
    AG_ASSERT_EQ(parse(body), 0);
    name[64] = 'n';
    name[65] = '\0';
    snprintf(body, sizeof(body), "{\"event\":\"%s\"}", name);
    refused(body, "event", "value_error.event");

    memset(sub, 's', 512);
    sub[512] = '\0';
    snprintf(body, sizeof(body), "{\"event\":\"e\",\"sub\":\"%s\"}", sub);
    AG_ASSERT_EQ(parse(body), 0);
    AG_ASSERT_EQ(strlen(in.sub), 512);
    sub[512] = 's';
    sub[513] = '\0';
    snprintf(body, sizeof(body), "{\"event\":\"e\",\"sub\":\"%s\"}", sub);
    refused(body, "sub", "value_error.sub");

    /* {"k":"xxx..."}: 8 bytes around the string. 4096 compact bytes pass, 4097 do not,
       however much whitespace the body had. */
    {
        char pad[4100];
        memset(pad, 'x', 4088);
        pad[4088] = '\0';
        snprintf(body, sizeof(body), "{\"event\":\"e\",\"detail\":{ \"k\" :  \"%s\" }}", pad);
        AG_ASSERT_EQ(parse(body), 0);
        AG_ASSERT_EQ(strlen(in.detail), 4096);
        pad[4088] = 'x';
        pad[4089] = '\0';
        snprintf(body, sizeof(body), "{\"event\":\"e\",\"detail\":{\"k\":\"%s\"}}", pad);
        refused(body, "detail", "value_error.detail_size");
    }
    ag_audit_in_clear(&in);
}

static struct ag_audit_filter flt;

static int query(const char *user, const char *event, const char *since, const char *limit,
                 const char *before)
{
    err = (struct ag_field_err){NULL, NULL, NULL};
    return ag_audit_filter_parse(user, event, since, limit, before, &flt, &err);
}

static void query_refused(const char *field, int rc)
{
    AG_ASSERT_EQ(rc, AG_EPARSE);
    AG_ASSERT_STR(err.field, field);
    AG_ASSERT_NOT_NULL(err.msg);
}

static void test_audit_query_defaults_and_values(void)
{
    AG_ASSERT_EQ(query(NULL, NULL, NULL, NULL, NULL), 0);
    AG_ASSERT_EQ(flt.limit, 50);
    AG_ASSERT_EQ(flt.since_ms, 0);
    AG_ASSERT_NULL(flt.user);
    AG_ASSERT_EQ(query("u-1", "login_ok", "1700000000", "500", "1700000000123-7"), 0);
    AG_ASSERT_STR(flt.user, "u-1");
    AG_ASSERT_STR(flt.event, "login_ok");
    AG_ASSERT_EQ(flt.since_ms, 1700000000000LL);
    AG_ASSERT_EQ(flt.limit, 500);
    AG_ASSERT_STR(flt.before, "1700000000123-7");
    AG_ASSERT_EQ(query(NULL, NULL, NULL, "1", NULL), 0);
    AG_ASSERT_EQ(flt.limit, 1);
}

static void test_audit_query_since_takes_iso_8601_utc(void)
{
    AG_ASSERT_EQ(query(NULL, NULL, "2023-11-14T22:13:20Z", NULL, NULL), 0);
    AG_ASSERT_EQ(flt.since_ms, 1700000000000LL);
    AG_ASSERT_EQ(query(NULL, NULL, "2023-11-14T22:13:20.5Z", NULL, NULL), 0);
    AG_ASSERT_EQ(flt.since_ms, 1700000000500LL);
    AG_ASSERT_EQ(query(NULL, NULL, "2023-11-14T22:13:20.123456789Z", NULL, NULL), 0);
    AG_ASSERT_EQ(flt.since_ms, 1700000000123LL);
    AG_ASSERT_EQ(query(NULL, NULL, "2024-02-29T00:00:00Z", NULL, NULL), 0);
    AG_ASSERT_EQ(query(NULL, NULL, "0", NULL, NULL), 0);
    AG_ASSERT_EQ(flt.since_ms, 0);
    query_refused("since", query(NULL, NULL, "2023-02-29T00:00:00Z", NULL, NULL));
    query_refused("since", query(NULL, NULL, "2023-04-31T00:00:00Z", NULL, NULL));
    query_refused("since", query(NULL, NULL, "2023-11-14T24:00:00Z", NULL, NULL));
    query_refused("since", query(NULL, NULL, "2023-11-14T22:13:60Z", NULL, NULL));
    query_refused("since", query(NULL, NULL, "2023-11-14T22:13:20", NULL, NULL));
    query_refused("since", query(NULL, NULL, "2023-11-14T22:13:20+01:00", NULL, NULL));
    query_refused("since", query(NULL, NULL, "2023-11-14 22:13:20Z", NULL, NULL));
    query_refused("since", query(NULL, NULL, "2023-11-14T22:13:20.Z", NULL, NULL));
    query_refused("since", query(NULL, NULL, "2023-11-14T22:13:20.1234567890Z", NULL, NULL));
    query_refused("since", query(NULL, NULL, "1969-12-31T23:59:59Z", NULL, NULL));
    query_refused("since", query(NULL, NULL, "yesterday", NULL, NULL));
    query_refused("since", query(NULL, NULL, "-5", NULL, NULL));
    query_refused("since", query(NULL, NULL, "1234567890123", NULL, NULL));
}

static void test_audit_query_refusals_name_the_parameter(void)
{
    char big[600];

    memset(big, 'u', 513);
    big[513] = '\0';
    query_refused("user", query(big, NULL, NULL, NULL, NULL));
    big[512] = '\0';
    AG_ASSERT_EQ(query(big, NULL, NULL, NULL, NULL), 0);
    query_refused("event", query(NULL, "no spaces", NULL, NULL, NULL));
    query_refused("limit", query(NULL, NULL, NULL, "0", NULL));
    query_refused("limit", query(NULL, NULL, NULL, "501", NULL));
    query_refused("limit", query(NULL, NULL, NULL, "-1", NULL));
    query_refused("limit", query(NULL, NULL, NULL, "ten", NULL));
    query_refused("limit", query(NULL, NULL, NULL, "0050", NULL));
    query_refused("limit", query(NULL, NULL, NULL, "", NULL));
    query_refused("before", query(NULL, NULL, NULL, NULL, "123"));
    query_refused("before", query(NULL, NULL, NULL, NULL, "-1"));
    query_refused("before", query(NULL, NULL, NULL, NULL, "1-"));
    query_refused("before", query(NULL, NULL, NULL, NULL, "1-2-3"));
    query_refused("before", query(NULL, NULL, NULL, NULL, "+"));
    query_refused("before", query(NULL, NULL, NULL, NULL, "12345678901234567890-1"));
    query_refused("before", query(NULL, NULL, NULL, NULL, "0-0"));
    query_refused("before", query(NULL, NULL, NULL, NULL, "000-00"));
    AG_ASSERT_EQ(query(NULL, NULL, NULL, NULL, "1234567890123456789-0"), 0);
    AG_ASSERT_EQ(query(NULL, NULL, NULL, NULL, "0-1"), 0);
}

int main(void)
{
    AG_RUN(test_audit_body_reads_event_sub_and_compact_detail);
    AG_RUN(test_audit_body_refuses_what_is_not_one_object);
    AG_RUN(test_audit_body_names_the_field_of_each_problem);
    AG_RUN(test_audit_body_limits_event_sub_and_detail_sizes);
    AG_RUN(test_audit_query_defaults_and_values);
    AG_RUN(test_audit_query_since_takes_iso_8601_utc);
    AG_RUN(test_audit_query_refusals_name_the_parameter);
    return ag_t_done();
}
