/*
 * tests/unit/policy/userfields_test.c - mirrors policy/userfields.c and the user-fields,
 * token-claims and identity-headers.fields keys of policy/config_users.c: the checks of
 * a body's custom fields (undeclared, type, length in characters, NUL, required, null),
 * the merge into the stored set, the headers read from a token, and each config refusal.
 *
 * Owns:     the configs and jansson values of each test, freed at its end.
 * Entry:    main().
 * Not here: the 422 reply (gateway/ep/), storage (store/user.c).
 * Spec:     policy/userfields.h; CONTRACT.md section 14; docs/users.md "Custom fields".
 */
#include "userfields.h"

#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "config.h"
#include "t.h"

#define BASE "\"upstream\":\"http://127.0.0.1:8081\",\"cryptography-key\":\"0123456789abcdef0123456789abcdef\""
#define FIELDS                                                                              \
    "\"user-fields\":{\"dept\":{\"type\":\"string\",\"required\":true,\"max-length\":4},"  \
    "\"age\":{\"type\":\"integer\"},\"vip\":{\"type\":\"boolean\"}}"

static const char *const known[] = {"email", "username", "password"};

static struct ag_config *cfg_of(const char *members, struct ag_err *err)
{
    char json[2048];

    snprintf(json, sizeof(json), "{" BASE ",%s}", members);
    return ag_config_parse(json, strlen(json), "t.json", NULL, 0, err);
}

/* The problem lines of <members>, joined by " | " ("" when it parsed). Static buffer. */
static const char *problems(const char *members)
{
    static char out[AG_ERR_MAX * (AG_ERR_LINE + 3)];
    struct ag_err err = {0};
    struct ag_config *cfg = cfg_of(members, &err);

    out[0] = '\0';
    ag_config_unref(cfg);
    for (int i = 0; i < err.n && i < AG_ERR_MAX; i++) {
        if (i > 0)
            strcat(out, " | ");
        strcat(out, err.line[i]);
    }
    return out;
}

/* ag_ufields_read() of the JSON <body>: its status, the error in <e>, the fields in <out>. */
static int read_body(const struct ag_config *cfg, const char *body, bool patch,
                     struct ag_field_err *e, char **out)
{
    json_t *root = json_loads(body, JSON_ALLOW_NUL, NULL), *o = json_object();
    static char field[64];
    int rc = ag_ufields_read(cfg, root, known, 3, patch, o, e);

    if (e->field != NULL) { /* may borrow from root */
        snprintf(field, sizeof(field), "%s", e->field);
        e->field = field;
    }
    *out = rc == 0 ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    json_decref(root);
    return rc;
}

static void test_userfields_register_reads_declared_fields(void)
{
    struct ag_config *cfg = cfg_of(FIELDS, NULL);
    struct ag_field_err e = {0};
    char *out = NULL;

    AG_ASSERT_NOT_NULL(cfg);
    AG_ASSERT_EQ(read_body(cfg, "{\"email\":\"a@b.cd\",\"dept\":\"ops\",\"age\":3,\"vip\":false,"
                                "\"username\":\"x\",\"password\":\"p\"}", false, &e, &out), 0);
    AG_ASSERT_STR(out, "{\"age\":3,\"dept\":\"ops\",\"vip\":false}");
    free(out);
    /* an optional null is left out on register */
    AG_ASSERT_EQ(read_body(cfg, "{\"dept\":\"ops\",\"age\":null}", false, &e, &out), 0);
    AG_ASSERT_STR(out, "{\"dept\":\"ops\"}");
    free(out);
    ag_config_unref(cfg);
}

static void test_userfields_refusals_name_the_field(void)
{
    static const struct {
        const char *body, *field, *type;
        bool patch;
    } bad[] = {
        {"{\"age\":1}", "dept", "value_error.missing", false},
        {"{\"dept\":null}", "dept", "type_error.none.not_allowed", false},
        {"{\"dept\":null}", "dept", "type_error.none.not_allowed", true},
        {"{\"dept\":\"a\",\"shoe\":1}", "shoe", "value_error.extra", false},
        {"{\"shoe\":1}", "shoe", "value_error.extra", true},
        {"{\"dept\":5}", "dept", "type_error.str", false},
        {"{\"dept\":\"abcde\"}", "dept", "value_error.any_str.max_length", true},
        {"{\"dept\":\"a\\u0000b\"}", "dept", "value_error.str.nul", true},
        {"{\"age\":\"1\"}", "age", "type_error.integer", true},
        {"{\"age\":1.5}", "age", "type_error.integer", true},
        {"{\"age\":true}", "age", "type_error.integer", true},
        {"{\"vip\":1}", "vip", "type_error.bool", true},
        {"{\"vip\":\"true\"}", "vip", "type_error.bool", true},
    };
    struct ag_config *cfg = cfg_of(FIELDS, NULL);

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct ag_field_err e = {0};
        char *out = NULL;

        AG_ASSERT_EQ(read_body(cfg, bad[i].body, bad[i].patch, &e, &out), AG_EINVAL);
        AG_ASSERT_STR(e.field, bad[i].field);
        AG_ASSERT_STR(e.type, bad[i].type);
        AG_ASSERT_NULL(out);
    }
    ag_config_unref(cfg);
}

static void test_userfields_length_counts_characters(void)
{
    struct ag_config *cfg = cfg_of(FIELDS, NULL);
    struct ag_field_err e = {0};
    char *out = NULL;

    /* four two-byte characters: 8 bytes, within max-length 4 */
    AG_ASSERT_EQ(read_body(cfg, "{\"dept\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"}", true, &e, &out), 0);
    free(out);
    ag_config_unref(cfg);
}

static void test_userfields_patch_null_clears_and_apply_merges(void)
{
    struct ag_config *cfg = cfg_of(FIELDS, NULL);
    struct ag_field_err e = {0};
    json_t *ch = json_loads("{\"age\":null,\"vip\":true}", 0, NULL);
    char *out = NULL, *merged;

    AG_ASSERT_EQ(read_body(cfg, "{\"age\":null}", true, &e, &out), 0);
    AG_ASSERT_STR(out, "{\"age\":null}");
    free(out);
    /* "gone" is no longer declared: dropped; age cleared; vip set */
    merged = ag_ufields_apply(cfg, "{\"age\":3,\"dept\":\"x\",\"gone\":1}", ch);
    AG_ASSERT_STR(merged, "{\"dept\":\"x\",\"vip\":true}");
    free(merged);
    merged = ag_ufields_apply(cfg, "not json", ch);
    AG_ASSERT_STR(merged, "{\"vip\":true}");
    free(merged);
    json_decref(ch);
    ch = json_loads("{\"vip\":null}", 0, NULL);
    merged = ag_ufields_apply(cfg, "{\"vip\":false}", ch);
    AG_ASSERT_STR(merged, "");
    free(merged);
    json_decref(ch);
    ag_config_unref(cfg);
}

struct seen {
    char lines[256];
};

static void on_header(void *arg, const char *name, const char *value, size_t len)
{
    struct seen *s = arg;
    size_t n = strlen(s->lines);

    snprintf(s->lines + n, sizeof(s->lines) - n, "%s=%.*s;", name, (int)len, value);
}

static void test_userfields_headers_come_from_the_token_claims(void)
{
    struct ag_config *cfg = cfg_of(FIELDS ",\"token-claims\":[\"dept\",\"age\",\"vip\"],"
                                   "\"identity-headers\":{\"fields\":{\"dept\":\"X-Dept\","
                                   "\"age\":\"X-Age\",\"vip\":\"X-Vip\"}}",
                                   NULL);
    const char *payload = "{\"sub\":\"u\",\"dept\":\"ops\",\"age\":42,\"vip\":true}";
    char tok[512], b64[400];
    struct seen s = {{0}};

    AG_ASSERT_NOT_NULL(cfg);
    sodium_bin2base64(b64, sizeof(b64), (const unsigned char *)payload, strlen(payload),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(tok, sizeof(tok), "eyJhbGciOiJIUzI1NiJ9.%s.c2ln", b64);
    AG_ASSERT_EQ(ag_ufields_headers(cfg, ag_str_c(tok), on_header, &s), 3);
    AG_ASSERT_STR(s.lines, "X-Age=42;X-Dept=ops;X-Vip=true;");
    AG_ASSERT_EQ(ag_ufields_headers(cfg, ag_str_c("not-a-token"), on_header, &s), AG_EPARSE);
    ag_config_unref(cfg);
}

static void test_userfields_config_refusals_name_the_key(void)
{
    static const struct {
        const char *members, *want;
    } bad[] = {
        {"\"user-fields\":{\"email\":{\"type\":\"string\"}}", "user-fields.email: a built-in"},
        {"\"user-fields\":{\"is_staff\":{\"type\":\"boolean\"}}", "user-fields.is_staff: a built-in"},
        {"\"user-fields\":{\"_x\":{\"type\":\"string\"}}", "user-fields._x: a field name"},
        {"\"user-fields\":{\"a\":{\"type\":\"float\"}}", "user-fields.a.type: expected"},
        {"\"user-fields\":{\"a\":{}}", "user-fields.a: \"type\" is required"},
        {"\"user-fields\":{\"a\":{\"type\":\"boolean\",\"max-length\":2}}",
         "user-fields.a: \"max-length\" is for strings only"},
        {"\"user-fields\":{\"a\":{\"type\":\"string\",\"max-length\":5000}}",
         "user-fields.a.max-length"},
        {"\"user-fields\":[]", "user-fields: expected an object"},
        {"\"token-claims\":[\"a\"]", "token-claims[0]: 'a' is not declared"},
        {"\"user-fields\":{\"a\":{\"type\":\"string\",\"max-length\":800}},"
         "\"token-claims\":[\"a\"]",
         "token-claims: its fields may take 805 characters of an access token, more than "
         "token-max-size leaves (768)"},
        {"\"user-fields\":{\"a\":{\"type\":\"string\"}},\"token-claims\":[\"a\",\"a\"]",
         "token-claims[1]: listed twice"},
        {"\"user-fields\":{\"iss\":{\"type\":\"string\"}},\"token-claims\":[\"iss\"]",
         "token-claims[0]: a claim the gateway"},
        {"\"user-fields\":{\"a\":{\"type\":\"string\"}},\"identity-headers\":{\"fields\":"
         "{\"a\":\"X-A\"}}",
         "identity-headers.fields.a: must be listed in token-claims"},
        {"\"identity-headers\":{\"fields\":{\"b\":\"X-B\"}}",
         "identity-headers.fields.b: not declared"},
        {"\"user-fields\":{\"a\":{\"type\":\"string\"}},\"token-claims\":[\"a\"],"
         "\"identity-headers\":{\"roles\":\"X-R\",\"fields\":{\"a\":\"x_r\"}}",
         "identity-headers.fields.a: a header the gateway already sets"},
        {"\"user-fields\":{\"a\":{\"type\":\"string\"}},\"token-claims\":[\"a\"],"
         "\"identity-headers\":{\"fields\":{\"a\":\"Authorization\"}}",
         "identity-headers.fields.a: a framing, forwarding or credential header"},
        {"\"user-fields\":{\"a\":{\"type\":\"string\"}},\"token-claims\":[\"a\"],"
         "\"identity-headers\":{\"fields\":{\"a\":\"X-A\"}},\"keys\":[{\"kid\":\"k1\","
         "\"alg\":\"HS256\",\"secret\":\"0123456789abcdef0123456789abcdeX\"}],"
         "\"upstream-assertion\":{\"kid\":\"k1\",\"header\":\"x_a\"}",
         "upstream-assertion.header: the name of an identity header (identity-headers.fields)"},
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *p = problems(bad[i].members);
        if (strstr(p, bad[i].want) == NULL)
            AG_FAIL_("%s: want \"%s\" in \"%s\"", bad[i].members, bad[i].want, p);
    }
    AG_ASSERT_STR(problems(FIELDS ",\"token-claims\":[\"dept\"],\"identity-headers\":"
                           "{\"fields\":{\"dept\":\"X-Dept\"}}"),
                  "");
}

static void test_userfields_config_bounds_the_count(void)
{
    char members[4096] = "\"user-fields\":{";

    for (int i = 0; i < 33; i++)
        snprintf(members + strlen(members), sizeof(members) - strlen(members),
                 "%s\"f%d\":{\"type\":\"string\"}", i ? "," : "", i);
    strcat(members, "}");
    AG_ASSERT(strstr(problems(members), "user-fields: at most 32 entries") != NULL);
}

int main(void)
{
    AG_RUN(test_userfields_register_reads_declared_fields);
    AG_RUN(test_userfields_refusals_name_the_field);
    AG_RUN(test_userfields_length_counts_characters);
    AG_RUN(test_userfields_patch_null_clears_and_apply_merges);
    AG_RUN(test_userfields_headers_come_from_the_token_claims);
    AG_RUN(test_userfields_config_refusals_name_the_key);
    AG_RUN(test_userfields_config_bounds_the_count);
    return ag_t_done();
}
