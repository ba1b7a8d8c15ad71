/*
 * tests/unit/policy/apikey_test.c - mirrors policy/apikey.c: the key format (what parses,
 * what never costs a lookup), making a key, and the body of POST <auth-prefix>/api-keys.
 *
 * Owns:     the parsed bodies of each test, cleared at its end (ASan/LSan check it).
 * Entry:    main().
 * Not here: the endpoints and the request path (tests/integration/test_api_keys.py).
 * Spec:     CONTRACT.md section 14; docs/api-keys.md.
 */
#include "apikey.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "t.h"

#define GOOD "agk_0123456789abcdef_" "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

static int parse(const char *s, struct ag_apikey_parts *p)
{
    return ag_apikey_parse(ag_str_c(s), p);
}

static void test_apikey_parse_exact_format_only(void)
{
    struct ag_apikey_parts p;
    char buf[AG_APIKEY_LEN + 8];

    AG_ASSERT_EQ(parse(GOOD, &p), 0);
    AG_ASSERT_MEM(p.id.p, p.id.len, "0123456789abcdef");
    AG_ASSERT_EQ(p.secret.len, (size_t)AG_APIKEY_SECRET_LEN);
    /* a secret may hold '_' and '-' (base64url): the id's length places the separator */
    AG_ASSERT_EQ(parse("agk_0123456789abcdef_-_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &p), 0);
    AG_ASSERT_MEM(p.secret.p, 2, "-_");
    AG_ASSERT_EQ(parse("", &p), -1);
    AG_ASSERT_EQ(parse("agk_", &p), -1);
    AG_ASSERT_EQ(parse(GOOD "A", &p), -1);                 /* too long */
    snprintf(buf, sizeof(buf), "%s", GOOD);
    buf[AG_APIKEY_LEN - 1] = '\0';
    AG_ASSERT_EQ(parse(buf, &p), -1);                      /* too short */
    snprintf(buf, sizeof(buf), "%s", GOOD);
    buf[0] = 'A';
    AG_ASSERT_EQ(parse(buf, &p), -1);                      /* prefix is case-sensitive */
    snprintf(buf, sizeof(buf), "%s", GOOD);
    buf[5] = 'A';
    AG_ASSERT_EQ(parse(buf, &p), -1);                      /* id: lower-case and digits */
    snprintf(buf, sizeof(buf), "%s", GOOD);
    buf[20] = '-';
    AG_ASSERT_EQ(parse(buf, &p), -1);                      /* the separator */
    snprintf(buf, sizeof(buf), "%s", GOOD);
    buf[30] = '+';
    AG_ASSERT_EQ(parse(buf, &p), -1);                      /* standard base64 is not base64url */
    snprintf(buf, sizeof(buf), "%s", GOOD);
    buf[30] = '=';
    AG_ASSERT_EQ(parse(buf, &p), -1);
    snprintf(buf, sizeof(buf), "%s", GOOD);
    buf[AG_APIKEY_LEN - 1] = 'B';                          /* non-zero padding bits */
    AG_ASSERT_EQ(parse(buf, &p), -1);
    buf[AG_APIKEY_LEN - 1] = 'E';
    AG_ASSERT_EQ(parse(buf, &p), 0);
    /* a NUL inside is not the end of the value */
    snprintf(buf, sizeof(buf), "%s", GOOD);
    buf[40] = '\0';
    AG_ASSERT_EQ(ag_apikey_parse((struct ag_str){buf, AG_APIKEY_LEN}, &p), -1);
}

static void test_apikey_make_parses_back_to_its_secret(void)
{
    unsigned char id[AG_APIKEY_ID_LEN], secret[AG_APIKEY_SECRET_BYTES], back[64];
    char key[AG_APIKEY_LEN + 1];
    struct ag_apikey_parts p;
    size_t n = 0;

    for (int round = 0; round < 200; round++) {
        randombytes_buf(id, sizeof(id));
        randombytes_buf(secret, sizeof(secret));
        ag_apikey_make(id, secret, key);
        AG_ASSERT_EQ(strlen(key), (size_t)AG_APIKEY_LEN);
        AG_ASSERT_EQ(parse(key, &p), 0);
        AG_ASSERT_EQ(sodium_base642bin(back, sizeof(back), p.secret.p, p.secret.len, NULL, &n,
                                       NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                     0);
        AG_ASSERT_EQ(n, sizeof(secret));
        AG_ASSERT(memcmp(back, secret, sizeof(secret)) == 0);
    }
}

/* Parses <body>: returns the status, the field named in <field> on an error. */
static int create(const char *body, struct ag_apikey_create *c, const char **field)
{
    struct ag_field_err e = {NULL, NULL, NULL};
    int rc = ag_apikey_parse_create(body, strlen(body), c, &e);

    *field = e.field;
    return rc;
}

static void test_apikey_parse_create_fields(void)
{
    struct ag_apikey_create c;
    const char *f;

    AG_ASSERT_EQ(create("{\"name\":\"ci\"}", &c, &f), 0);
    AG_ASSERT_STR(c.name, "ci");
    AG_ASSERT_NULL(c.scopes);
    AG_ASSERT_EQ(c.expires_in, 0);
    ag_apikey_create_clear(&c);
    AG_ASSERT_EQ(create("{\"name\":\"d\\u00e9ploy\",\"scopes\":[\"read\",\"write\"],"
                        "\"expires_in\":3600}", &c, &f), 0);
    AG_ASSERT_STR(c.scopes, "read write");
    AG_ASSERT_EQ(c.expires_in, 3600);
    ag_apikey_create_clear(&c);
    AG_ASSERT_EQ(create("{\"name\":\"x\",\"scopes\":\" read  write \",\"expires_in\":null}", &c,
                        &f), 0);
    AG_ASSERT_STR(c.scopes, "read write");
    ag_apikey_create_clear(&c);
    AG_ASSERT_EQ(create("{\"name\":\"x\",\"scopes\":[]}", &c, &f), 0);
    AG_ASSERT_STR(c.scopes, ""); /* none at all: a key that passes only paths needing none */
    ag_apikey_create_clear(&c);
    /* 64 characters of 2 bytes each pass; 65 do not */
    char name[256] = "{\"name\":\"";
    for (int i = 0; i < 64; i++)
        strcat(name, "\xc3\xa9");
    strcat(name, "\"}");
    AG_ASSERT_EQ(create(name, &c, &f), 0);
    ag_apikey_create_clear(&c);
    name[strlen(name) - 2] = '\0';
    strcat(name, "a\"}");
    AG_ASSERT_EQ(create(name, &c, &f), AG_EINVAL);
    AG_ASSERT_STR(f, "name");
}

static void test_apikey_parse_create_refusals(void)
{
    static const struct {
        const char *body, *field;
    } bad[] = {
        {"", NULL},
        {"[]", NULL},
        {"{\"name\":\"a\",\"name\":\"b\"}", NULL},
        {"{}", "name"},
        {"{\"name\":\"\"}", "name"},
        {"{\"name\":\"a\\nb\"}", "name"},
        {"{\"name\":1}", "name"},
        {"{\"name\":\"a\",\"scopes\":[\"a b\"]}", "scopes"},
        {"{\"name\":\"a\",\"scopes\":[\"a\\\"\"]}", "scopes"},
        {"{\"name\":\"a\",\"scopes\":{}}", "scopes"},
        {"{\"name\":\"a\",\"expires_in\":0}", "expires_in"},
        {"{\"name\":\"a\",\"expires_in\":-5}", "expires_in"},
        {"{\"name\":\"a\",\"expires_in\":1.5}", "expires_in"},
        {"{\"name\":\"a\",\"expires_in\":157680001}", "expires_in"},
        {"{\"name\":\"a\",\"user_id\":\"x\"}", "body"},
    };
    struct ag_apikey_create c;
    const char *f;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        AG_ASSERT_EQ(create(bad[i].body, &c, &f), AG_EINVAL);
        AG_ASSERT_NULL(c.name);
        AG_ASSERT_NULL(c.scopes);
        if (bad[i].field != NULL)
            AG_ASSERT_STR(f, bad[i].field);
    }
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    AG_RUN(test_apikey_parse_exact_format_only);
    AG_RUN(test_apikey_make_parses_back_to_its_secret);
    AG_RUN(test_apikey_parse_create_fields);
    AG_RUN(test_apikey_parse_create_refusals);
    return ag_t_done();
}
