/*
 * tests/unit/policy/userin_test.c - mirrors policy/userin.c: JSON bodies (duplicates,
 * non-objects, missing, wrong type, NUL, too long), forms ('+', %XX, bad escapes,
 * repeats, missing), the email and username tables, folding, and login bodies (one
 * login name of three).
 *
 * Owns:     exact-size heap copies of each body (ASan sees any over-read) and the
 *           field values, freed at the end of each check.
 * Entry:    main().
 * Not here: the 422 reply built from the errors (gateway/).
 * Spec:     policy/userin.h; CONTRACT.md section 7.
 */
#include "userin.h"

#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "t.h"

/* The fields of a register body: email and username required, password required, scope not. */
static struct ag_body_field fields[4];

static void fields_reset(size_t max_len)
{
    fields[0] = (struct ag_body_field){.name = "username", .required = true, .max_len = max_len};
    fields[1] = (struct ag_body_field){.name = "password", .required = true, .max_len = max_len};
    fields[2] = (struct ag_body_field){.name = "email", .required = false, .max_len = max_len};
    fields[3] = (struct ag_body_field){.name = "scope", .required = false, .max_len = max_len};
}

/* ag_body_fields() of <t> on an exact-size copy of <body,len>, with fresh fields. */
static int parse_n(enum ag_body_type t, const char *body, size_t len, size_t max_len,
                   struct ag_field_err *e)
{
    char *copy = malloc(len ? len : 1);
    int rc;

    memcpy(copy, body, len);
    fields_reset(max_len);
    for (size_t i = 0; i < 4; i++)
        fields[i].value = (char *)"garbage"; /* ag_body_fields() sets every value */
    *e = (struct ag_field_err){NULL, NULL, NULL};
    rc = ag_body_fields(t, copy, len, fields, 4, e);
    free(copy);
    if (rc < 0)
        for (size_t i = 0; i < 4; i++)
            AG_ASSERT_NULL(fields[i].value);
    return rc;
}

static int parse(enum ag_body_type t, const char *body, struct ag_field_err *e)
{
    return parse_n(t, body, strlen(body), 0, e);
}

static int parse_max(enum ag_body_type t, const char *body, size_t max_len, struct ag_field_err *e)
{
    return parse_n(t, body, strlen(body), max_len, e);
}

#define ASSERT_ERR(e, f, m, ty)                                                                    \
    do {                                                                                           \
        if ((f) == NULL)                                                                           \
            AG_ASSERT_NULL((e).field);                                                             \
        else                                                                                       \
            AG_ASSERT_STR((e).field, (f));                                                         \
        AG_ASSERT_STR((e).msg, (m));                                                               \
        AG_ASSERT_STR((e).type, (ty));                                                             \
    } while (0)

#define NOT_JSON "body must be a JSON object"
#define NOT_FORM "body must be a form (application/x-www-form-urlencoded)"

/* ------------------------------------------------------------------------------------------
 * JSON
 * ------------------------------------------------------------------------------------------ */

static void test_userin_json_reads_fields_and_ignores_others(void)
{
    struct ag_field_err e;

    AG_ASSERT_EQ(parse(AG_BODY_JSON,
                       "{\"username\":\"ann\",\"password\":\"p\\u00e4ss \\\"q\\\"\","
                       "\"extra\":{\"a\":[1,2]},\"scope\":null}",
                       &e),
                 AG_EPARSE); /* scope null: not a string even though optional */
    ASSERT_ERR(e, "scope", "str type expected", "type_error.str");

    AG_ASSERT_EQ(parse(AG_BODY_JSON,
                       "{\"username\":\"ann\",\"password\":\"p\\u00e4ss \\\"q\\\"\","
                       "\"extra\":{\"a\":[1,2]}}",
                       &e),
                 0);
    AG_ASSERT_STR(fields[0].value, "ann");
    AG_ASSERT_STR(fields[1].value, "p\xc3\xa4ss \"q\"");
    AG_ASSERT_NULL(fields[2].value);
    AG_ASSERT_NULL(fields[3].value);
    ag_body_fields_free(fields, 4);
    AG_ASSERT_NULL(fields[0].value);
    AG_ASSERT_NULL(fields[1].value);
}

static void test_userin_json_refuses_duplicate_keys(void)
{
    struct ag_field_err e;

    AG_ASSERT_EQ(parse(AG_BODY_JSON, "{\"username\":\"a\",\"password\":\"x\",\"username\":\"b\"}",
                       &e),
                 AG_EPARSE);
    ASSERT_ERR(e, NULL, "duplicate field", "value_error.duplicate");
    /* anywhere in the body: two readers must never see different documents */
    AG_ASSERT_EQ(parse(AG_BODY_JSON, "{\"username\":\"a\",\"password\":\"x\",\"o\":{\"k\":1,\"k\":2}}",
                       &e),
                 AG_EPARSE);
    ASSERT_ERR(e, NULL, "duplicate field", "value_error.duplicate");
}

static void test_userin_json_refuses_what_is_not_an_object(void)
{
    static const char *const bad[] = {"", "[]", "\"x\"", "42", "null", "{", "{\"a\":1}x",
                                      "{\"a\":1} {}", "{'username':'a'}", "\xff"};
    struct ag_field_err e;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        AG_ASSERT_EQ(parse(AG_BODY_JSON, bad[i], &e), AG_EPARSE);
        ASSERT_ERR(e, NULL, NOT_JSON, "value_error.jsondecode");
    }
    AG_ASSERT_EQ(ag_body_fields(AG_BODY_JSON, NULL, 0, fields, 4, &e), AG_EPARSE);
}

static void test_userin_json_missing_and_wrong_type(void)
{
    struct ag_field_err e;

    AG_ASSERT_EQ(parse(AG_BODY_JSON, "{\"username\":\"ann\"}", &e), AG_EPARSE);
    ASSERT_ERR(e, "password", "field required", "value_error.missing");
    AG_ASSERT_EQ(parse(AG_BODY_JSON, "{}", &e), AG_EPARSE);
    ASSERT_ERR(e, "username", "field required", "value_error.missing"); /* the first one */
    AG_ASSERT_EQ(parse(AG_BODY_JSON, "{\"username\":\"ann\",\"password\":12345678}", &e),
                 AG_EPARSE);
    ASSERT_ERR(e, "password", "str type expected", "type_error.str");
    AG_ASSERT_EQ(parse(AG_BODY_JSON, "{\"username\":[\"ann\"],\"password\":\"x\"}", &e),
                 AG_EPARSE);
    ASSERT_ERR(e, "username", "str type expected", "type_error.str");
    AG_ASSERT_EQ(parse(AG_BODY_JSON, "{\"username\":\"ann\",\"password\":true}", &e), AG_EPARSE);
    ASSERT_ERR(e, "password", "str type expected", "type_error.str");
    AG_ASSERT_EQ(parse(AG_BODY_JSON, "{\"Username\":\"ann\",\"password\":\"x\"}", &e),
                 AG_EPARSE); /* names are case-sensitive */
    ASSERT_ERR(e, "username", "field required", "value_error.missing");
}

static void test_userin_json_refuses_nul_inside_a_field(void)
{
    struct ag_field_err e;

    AG_ASSERT_EQ(parse(AG_BODY_JSON, "{\"username\":\"ann\",\"password\":\"ab\\u0000cd\"}", &e),
                 AG_EPARSE);
    ASSERT_ERR(e, "password", "value must be valid UTF-8 text without NUL characters",
               "value_error.unicode");
    /* in a member not asked for, it does not matter */
    AG_ASSERT_EQ(
        parse(AG_BODY_JSON, "{\"username\":\"ann\",\"password\":\"x\",\"o\":\"\\u0000\"}", &e), 0);
    ag_body_fields_free(fields, 4);
}

static void test_userin_json_too_long_counts_bytes(void)
{
    struct ag_field_err e;
    const char *body = "{\"username\":\"ann\",\"password\":\"\\u00e9\\u00e9\\u00e9\"}";

    AG_ASSERT_EQ(parse_n(AG_BODY_JSON, body, strlen(body), 6, &e), 0); /* 6 bytes */
    AG_ASSERT_STR(fields[1].value, "\xc3\xa9\xc3\xa9\xc3\xa9");
    ag_body_fields_free(fields, 4);
    AG_ASSERT_EQ(parse_n(AG_BODY_JSON, body, strlen(body), 5, &e), AG_EPARSE);
    ASSERT_ERR(e, "password", "value is too long", "value_error.any_str.max_length");
}

static void test_userin_json_default_limit_is_4096(void)
{
    struct ag_field_err e;
    size_t n = 4096 + 64;
    char *body = malloc(n + 64);
    int len;

    for (int pad = 4096; pad <= 4097; pad++) {
        char *v = malloc((size_t)pad + 1);
        memset(v, 'x', (size_t)pad);
        v[pad] = '\0';
        len = snprintf(body, n + 64, "{\"username\":\"%s\",\"password\":\"x\"}", v);
        free(v);
        AG_ASSERT_EQ(parse_n(AG_BODY_JSON, body, (size_t)len, 0, &e), pad == 4096 ? 0 : AG_EPARSE);
        ag_body_fields_free(fields, 4);
    }
    ASSERT_ERR(e, "username", "value is too long", "value_error.any_str.max_length");
    free(body);
}

/* ------------------------------------------------------------------------------------------
 * Forms
 * ------------------------------------------------------------------------------------------ */

static void test_userin_form_decodes_plus_and_escapes(void)
{
    struct ag_field_err e;

    AG_ASSERT_EQ(parse(AG_BODY_FORM,
                       "grant_type=password&username=ann%2Bco&password=a+b%20c%3D%26%C3%A9"
                       "&scope=read+write&client_id=",
                       &e),
                 0);
    AG_ASSERT_STR(fields[0].value, "ann+co");
    AG_ASSERT_STR(fields[1].value, "a b c=&\xc3\xa9");
    AG_ASSERT_NULL(fields[2].value);
    AG_ASSERT_STR(fields[3].value, "read write");
    ag_body_fields_free(fields, 4);

    /* empty pairs tolerated; names decoded too; an empty value is a value */
    AG_ASSERT_EQ(parse(AG_BODY_FORM, "&&user%6Eame=ann&&password=&", &e), 0);
    AG_ASSERT_STR(fields[0].value, "ann");
    AG_ASSERT_STR(fields[1].value, "");
    ag_body_fields_free(fields, 4);
}

static void test_userin_form_refuses_bad_escapes_and_pairs(void)
{
    static const char *const bad[] = {
        "username=ann&password=50%",      "username=ann&password=%4",
        "username=ann&password=%G0",      "username=ann&password=%%41",
        "username=ann&password=x&other=%zz", /* anywhere, even in a name not asked for */
        "username=ann&password",          /* a pair without '=' */
        "usern%ame=ann&password=x",
    };
    struct ag_field_err e;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (parse(AG_BODY_FORM, bad[i], &e) != AG_EPARSE)
            AG_FAIL_("bad[%zu] accepted", i);
        ASSERT_ERR(e, NULL, NOT_FORM, "value_error.formdecode");
    }
}

static void test_userin_form_refuses_repeats_of_fields_asked_for(void)
{
    struct ag_field_err e;

    AG_ASSERT_EQ(parse(AG_BODY_FORM, "username=a&password=x&username=b", &e), AG_EPARSE);
    ASSERT_ERR(e, "username", "duplicate field", "value_error.duplicate");
    AG_ASSERT_EQ(parse(AG_BODY_FORM, "username=a&password=x&user%6Eame=a", &e), AG_EPARSE);
    ASSERT_ERR(e, "username", "duplicate field", "value_error.duplicate");
    /* names not asked for are ignored, repeated or not */
    AG_ASSERT_EQ(parse(AG_BODY_FORM, "x=1&username=a&x=2&password=p", &e), 0);
    ag_body_fields_free(fields, 4);
}

static void test_userin_form_missing_nul_utf8_and_length(void)
{
    struct ag_field_err e;

    AG_ASSERT_EQ(parse(AG_BODY_FORM, "", &e), AG_EPARSE);
    ASSERT_ERR(e, "username", "field required", "value_error.missing");
    AG_ASSERT_EQ(parse(AG_BODY_FORM, "username=ann", &e), AG_EPARSE);
    ASSERT_ERR(e, "password", "field required", "value_error.missing");
    AG_ASSERT_EQ(parse(AG_BODY_FORM, "username=ann&password=a%00b", &e), AG_EPARSE);
    ASSERT_ERR(e, "password", "value must be valid UTF-8 text without NUL characters",
               "value_error.unicode");
    AG_ASSERT_EQ(parse(AG_BODY_FORM, "username=ann&password=%C3", &e), AG_EPARSE);
    ASSERT_ERR(e, "password", "value must be valid UTF-8 text without NUL characters",
               "value_error.unicode");
    AG_ASSERT_EQ(parse(AG_BODY_FORM, "username=ann&password=\xc0\xaf", &e), AG_EPARSE);
    ASSERT_ERR(e, "password", "value must be valid UTF-8 text without NUL characters",
               "value_error.unicode");
    AG_ASSERT_EQ(parse_max(AG_BODY_FORM, "username=ann&password=%41%42%43", 3, &e), 0);
    AG_ASSERT_STR(fields[1].value, "ABC"); /* the decoded length counts */
    ag_body_fields_free(fields, 4);
    AG_ASSERT_EQ(parse_max(AG_BODY_FORM, "username=ann&password=%41%42%43%44", 3, &e),
                 AG_EPARSE);
    ASSERT_ERR(e, "password", "value is too long", "value_error.any_str.max_length");
}

/* ------------------------------------------------------------------------------------------
 * Emails, usernames, folding
 * ------------------------------------------------------------------------------------------ */

static void test_userin_email_table(void)
{
    static const char *const good[] = {
        "ann@example.com", "a.b-c+tag@mail.example.co.uk", "x@a.io", "o'neil@example.org",
        "!#$%&'*+-/=?^_`{|}~@example.com", "user@xn--bcher-kva.example", "a@b-c.d1",
        "1@123.example", "U@EXAMPLE.COM",
    };
    static const char *const bad[] = {
        "", "ann", "@example.com", "ann@", "ann@example", "ann@@example.com", "a@b@example.com",
        ".ann@example.com", "ann.@example.com", "a..b@example.com", "ann@-example.com",
        "ann@example-.com", "ann@example..com", "ann@.example.com", "ann@example.com.",
        "ann@example.123", "ann@1.2.3.4", "ann@[127.0.0.1]", "\"ann\"@example.com",
        "ann smith@example.com", "ann@exa mple.com", "ann@exam_ple.com", "ann(c)@example.com",
        "j\xc3\xb6rg@example.com", "ann@example.com\n",
    };
    struct ag_field_err e;
    char buf[300];

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (ag_user_check_email(good[i], &e) != 0)
            AG_FAIL_("good email refused: %s", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        e = (struct ag_field_err){NULL, NULL, NULL};
        if (ag_user_check_email(bad[i], &e) != AG_EINVAL) {
            AG_FAIL_("bad email accepted: %s", bad[i]);
            continue;
        }
        ASSERT_ERR(e, "email", "value is not a valid email address", "value_error.email");
    }
    /* the length limits: local part 64, label 63, whole 254 */
    memset(buf, 'a', 64);
    strcpy(buf + 64, "@example.com");
    AG_ASSERT_EQ(ag_user_check_email(buf, NULL), 0);
    memset(buf, 'a', 65);
    strcpy(buf + 65, "@example.com");
    AG_ASSERT_EQ(ag_user_check_email(buf, NULL), AG_EINVAL);
    strcpy(buf, "a@");
    memset(buf + 2, 'b', 63);
    strcpy(buf + 65, ".com");
    AG_ASSERT_EQ(ag_user_check_email(buf, NULL), 0);
    strcpy(buf, "a@");
    memset(buf + 2, 'b', 64);
    strcpy(buf + 66, ".com");
    AG_ASSERT_EQ(ag_user_check_email(buf, NULL), AG_EINVAL);
    /* a@ + three labels of 63 and one of 60 or 61: exactly 254 and 255 bytes */
    for (size_t last = 60; last <= 61; last++) {
        size_t n = 2;

        strcpy(buf, "a@");
        for (int l = 0; l < 4; l++) {
            size_t label = l < 3 ? 63 : last;
            memset(buf + n, 'c', label);
            n += label;
            buf[n++] = '.';
        }
        buf[n - 1] = '\0';
        AG_ASSERT_EQ(strlen(buf), 194 + last);
        AG_ASSERT_EQ(ag_user_check_email(buf, NULL), last == 60 ? 0 : AG_EINVAL);
    }
}

static void test_userin_username_table(void)
{
    static const char *const good[] = {"ann", "Ann_Smith", "a.b-c", "007", "x__", "z..",
                                       "abcdefghijklmnopqrstuvwxyz012345"};
    static const char *const bad[] = {"",     "ab",    "_ann",  ".ann", "-ann",  "ann@x",
                                      "an n", "ann!",  "j\xc3\xb6rg",   "ann\n",
                                      "abcdefghijklmnopqrstuvwxyz0123456"};
    struct ag_field_err e;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (ag_user_check_username(good[i], &e) != 0)
            AG_FAIL_("good username refused: %s", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        e = (struct ag_field_err){NULL, NULL, NULL};
        if (ag_user_check_username(bad[i], &e) != AG_EINVAL) {
            AG_FAIL_("bad username accepted: %s", bad[i]);
            continue;
        }
        ASSERT_ERR(e, "username",
                   "username must be 3 to 32 characters of letters, digits, '_', '.' or '-', "
                   "starting with a letter or digit",
                   "value_error.username");
    }
}

static void test_userin_fold_lowercases_ascii_only(void)
{
    char out[32];

    ag_user_fold("Ann.SMITH-42_Z", out, sizeof(out));
    AG_ASSERT_STR(out, "ann.smith-42_z");
    ag_user_fold("J\xc3\x96RG@Example.COM", out, sizeof(out));
    AG_ASSERT_STR(out, "j\xc3\x96rg@example.com");
    ag_user_fold("ABCDEFGHIJKLMNOPQRSTUVWXYZ", out, 5);
    AG_ASSERT_STR(out, "abcd");
    out[0] = 'q';
    ag_user_fold("ABC", out, 0);
    AG_ASSERT_EQ(out[0], 'q');
}

static void test_text_clean_replaces_invalid_bytes_and_controls(void)
{
    char out[64];

    AG_ASSERT_EQ(ag_text_clean("curl/8.5", 8, out, sizeof(out)), 8);
    AG_ASSERT_STR(out, "curl/8.5");
    AG_ASSERT_EQ(ag_text_clean("bad\xff\xfe ua", 8, out, sizeof(out)), 12);
    AG_ASSERT_STR(out, "bad\xef\xbf\xbd\xef\xbf\xbd ua");
    ag_text_clean("tab\there\x7f\xc2\x85", 11, out, sizeof(out)); /* HT, DEL, NEL (C1) */
    AG_ASSERT_STR(out, "tab\xef\xbf\xbdhere\xef\xbf\xbd\xef\xbf\xbd");
    ag_text_clean("a\0b", 3, out, sizeof(out));
    AG_ASSERT_STR(out, "a\xef\xbf\xbd" "b");
    /* overlong, surrogate, truncated sequences: each bad byte replaced on its own */
    ag_text_clean("\xc0\xaf|\xed\xa0\x80|\xe2\x82", 9, out, sizeof(out));
    AG_ASSERT_STR(out, "\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|"
                       "\xef\xbf\xbd\xef\xbf\xbd");
    /* e-acute, euro sign, an emoji: kept */
    ag_text_clean("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9, out, sizeof(out));
    AG_ASSERT_STR(out, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
}

static void test_text_clean_cuts_between_characters(void)
{
    char out[7];

    /* "a" + 4 x e-acute = 9 bytes into 6 + NUL: the third e-acute would be cut, so it goes */
    AG_ASSERT_EQ(ag_text_clean("a\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 9, out, sizeof(out)), 5);
    AG_ASSERT_STR(out, "a\xc3\xa9\xc3\xa9");
    AG_ASSERT_EQ(ag_text_clean("\xff\xff\xff", 3, out, sizeof(out)), 6);
    out[0] = 'q';
    AG_ASSERT_EQ(ag_text_clean("abc", 3, out, 0), 0);
    AG_ASSERT_EQ(out[0], 'q');
    AG_ASSERT_EQ(ag_text_clean("abc", 3, out, 1), 0);
    AG_ASSERT_STR(out, "");
}

/* ---- login bodies (ag_body_login()) ---- */

/* ag_body_login() on an exact-size copy of <body>; on failure every value is NULL. */
static int login_parse(const char *body, struct ag_body_field f[AG_LOGIN_NFIELDS],
                       enum ag_login_by *by, struct ag_field_err *e)
{
    size_t len = strlen(body);
    char *copy = malloc(len ? len : 1);
    int rc;

    memcpy(copy, body, len);
    *e = (struct ag_field_err){NULL, NULL, NULL};
    rc = ag_body_login(copy, len, f, by, e);
    free(copy);
    if (rc < 0)
        for (size_t i = 0; i < AG_LOGIN_NFIELDS; i++)
            AG_ASSERT_NULL(f[i].value);
    return rc;
}

static void test_login_body_takes_each_login_name(void)
{
    static const struct {
        const char *body, *login;
        enum ag_login_by by;
    } cases[] = {
        {"{\"username_or_email\":\"alice\",\"password\":\"pw\"}", "alice", AG_LOGIN_BY_ANY},
        {"{\"email\":\"a@b.co\",\"password\":\"pw\"}", "a@b.co", AG_LOGIN_BY_EMAIL},
        {"{\"password\":\"pw\",\"username\":\"bob\",\"other\":1}", "bob",
         AG_LOGIN_BY_USERNAME},
    };
    struct ag_body_field f[AG_LOGIN_NFIELDS];
    struct ag_field_err e;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum ag_login_by by = (enum ag_login_by)-1;

        AG_ASSERT_EQ(login_parse(cases[i].body, f, &by, &e), 0);
        AG_ASSERT_EQ(by, cases[i].by);
        AG_ASSERT_STR(f[by].value, cases[i].login);
        AG_ASSERT_STR(f[3].value, "pw");
        for (int k = 0; k < 3; k++)
            if (k != (int)by)
                AG_ASSERT_NULL(f[k].value);
        ag_body_fields_free(f, AG_LOGIN_NFIELDS);
    }
}

static void test_login_body_refuses_two_login_names_naming_the_second(void)
{
    static const struct {
        const char *body, *field;
    } cases[] = {
        {"{\"username_or_email\":\"a\",\"email\":\"a@b.co\",\"password\":\"pw\"}", "email"},
        {"{\"username\":\"a\",\"username_or_email\":\"a\",\"password\":\"pw\"}", "username"},
        {"{\"email\":\"a@b.co\",\"username\":\"a\",\"password\":\"pw\"}", "username"},
        {"{\"email\":\"\",\"username\":\"\",\"password\":\"pw\"}", "username"},
    };
    struct ag_body_field f[AG_LOGIN_NFIELDS];
    struct ag_field_err e;
    enum ag_login_by by;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        AG_ASSERT_EQ(login_parse(cases[i].body, f, &by, &e), AG_EPARSE);
        AG_ASSERT_STR(e.field, cases[i].field);
        AG_ASSERT_STR(e.type, "value_error.login_name");
    }
}

static void test_login_body_missing_name_password_or_wrong_type(void)
{
    struct ag_body_field f[AG_LOGIN_NFIELDS];
    struct ag_field_err e;
    enum ag_login_by by;

    AG_ASSERT_EQ(login_parse("{\"password\":\"pw\"}", f, &by, &e), AG_EPARSE);
    AG_ASSERT_STR(e.field, "username_or_email");
    AG_ASSERT_STR(e.type, "value_error.missing");
    AG_ASSERT_EQ(login_parse("{\"email\":\"a@b.co\"}", f, &by, &e), AG_EPARSE);
    AG_ASSERT_STR(e.field, "password");
    AG_ASSERT_STR(e.type, "value_error.missing");
    AG_ASSERT_EQ(login_parse("{\"username\":7,\"password\":\"pw\"}", f, &by, &e), AG_EPARSE);
    AG_ASSERT_STR(e.field, "username");
    AG_ASSERT_STR(e.type, "type_error.str");
    AG_ASSERT_EQ(login_parse("{\"email\":\"a\",\"email\":\"b\",\"password\":\"pw\"}", f, &by,
                             &e),
                 AG_EPARSE);
    AG_ASSERT_STR(e.type, "value_error.duplicate");
    AG_ASSERT_EQ(login_parse("email=a%40b.co&password=pw", f, &by, &e), AG_EPARSE);
    AG_ASSERT_STR(e.type, "value_error.jsondecode");
}

int main(void)
{
    AG_RUN(test_userin_json_reads_fields_and_ignores_others);
    AG_RUN(test_userin_json_refuses_duplicate_keys);
    AG_RUN(test_userin_json_refuses_what_is_not_an_object);
    AG_RUN(test_userin_json_missing_and_wrong_type);
    AG_RUN(test_userin_json_refuses_nul_inside_a_field);
    AG_RUN(test_userin_json_too_long_counts_bytes);
    AG_RUN(test_userin_json_default_limit_is_4096);
    AG_RUN(test_userin_form_decodes_plus_and_escapes);
    AG_RUN(test_userin_form_refuses_bad_escapes_and_pairs);
    AG_RUN(test_userin_form_refuses_repeats_of_fields_asked_for);
    AG_RUN(test_userin_form_missing_nul_utf8_and_length);
    AG_RUN(test_userin_email_table);
    AG_RUN(test_userin_username_table);
    AG_RUN(test_userin_fold_lowercases_ascii_only);
    AG_RUN(test_text_clean_replaces_invalid_bytes_and_controls);
    AG_RUN(test_text_clean_cuts_between_characters);
    AG_RUN(test_login_body_takes_each_login_name);
    AG_RUN(test_login_body_refuses_two_login_names_naming_the_second);
    AG_RUN(test_login_body_missing_name_password_or_wrong_type);
    return ag_t_done();
}
