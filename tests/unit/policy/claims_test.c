/*
 * tests/unit/policy/claims_test.c - mirrors policy/claims.c: the exact JSON of an
 * access, a refresh and a reset token's claims (member order, optional members,
 * escaping), and that jansson reads it back as the same values.
 *
 * Owns:     one parsed config per test, unref'd at its end (ASan/LSan check it).
 * Entry:    main().
 * Not here: signing and verifying (jwt_test.c), the endpoints (test_tokens.py, test_users.py).
 * Spec:     CONTRACT.md section 7; docs/tokens.md.
 */
#include "claims.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cfg.h"
#include "t.h"

/* Asserts the claims of <type> saying <c> under <cfg> are exactly <want>. */
static void claims_are(const struct ag_config *cfg, enum ag_claims_type type,
                       const struct ag_claims *c, const char *want)
{
    size_t len = 0;
    char *s = ag_claims_json(cfg, type, c, &len);

    AG_ASSERT_STR(s, want);
    AG_ASSERT_EQ(len, strlen(want));
    free(s);
}

static void test_claims_access_and_refresh_of_a_user(void)
{
    struct ag_config *cfg = ag_t_config("", NULL);
    struct ag_claims c = {.sub = "u-1",
                          .client_id = "authgate",
                          .jti = "J",
                          .sid = "S",
                          .fam = "F",
                          .scope = "read write",
                          .roles = "staff superuser",
                          .iat = 1700000000};

    AG_ASSERT_NOT_NULL(cfg);
    if (cfg == NULL)
        return;
    claims_are(cfg, AG_CLAIMS_ACCESS, &c,
               "{\"sub\":\"u-1\",\"client_id\":\"authgate\",\"type\":\"access\","
               "\"iat\":1700000000,\"exp\":1700000900,\"jti\":\"J\",\"iss\":\"authgate\","
               "\"sid\":\"S\",\"scope\":\"read write\",\"roles\":[\"staff\",\"superuser\"]}");
    /* a refresh token lives refresh-token-ttl and names its family */
    claims_are(cfg, AG_CLAIMS_REFRESH, &c,
               "{\"sub\":\"u-1\",\"client_id\":\"authgate\",\"type\":\"refresh\","
               "\"iat\":1700000000,\"exp\":1700604800,\"jti\":\"J\",\"iss\":\"authgate\","
               "\"sid\":\"S\",\"fam\":\"F\",\"scope\":\"read write\","
               "\"roles\":[\"staff\",\"superuser\"]}");
    ag_config_unref(cfg);
}

static void test_claims_of_a_client_with_issuer_audience_and_no_scope_or_roles(void)
{
    struct ag_config *cfg = ag_t_config("\"app-name\":\"app\",\"token-issuer\":\"https://iss\","
                                        "\"token-audience\":\"api\",\"access-token-ttl\":60,"
                                        "\"refresh-token-ttl\":120",
                                        NULL);
    struct ag_claims c = {.sub = "client:billing",
                          .client_id = "billing",
                          .client = true,
                          .jti = "J",
                          .sid = "S",
                          .fam = "F",
                          .iat = 10};

    AG_ASSERT_NOT_NULL(cfg);
    if (cfg == NULL)
        return;
    claims_are(cfg, AG_CLAIMS_ACCESS, &c,
               "{\"sub\":\"client:billing\",\"client_id\":\"billing\",\"sub_type\":\"client\","
               "\"type\":\"access\",\"iat\":10,\"exp\":70,\"jti\":\"J\",\"iss\":\"https://iss\","
               "\"sid\":\"S\",\"aud\":\"api\"}");
    c.scope = "";
    c.roles = "";
    claims_are(cfg, AG_CLAIMS_REFRESH, &c,
               "{\"sub\":\"client:billing\",\"client_id\":\"billing\",\"sub_type\":\"client\","
               "\"type\":\"refresh\",\"iat\":10,\"exp\":130,\"jti\":\"J\",\"iss\":\"https://iss\","
               "\"sid\":\"S\",\"fam\":\"F\",\"aud\":\"api\"}");
    ag_config_unref(cfg);
}

static void test_claims_app_name_is_the_issuer_without_token_issuer(void)
{
    struct ag_config *cfg = ag_t_config("\"app-name\":\"shop\"", NULL);
    struct ag_claims c = {.sub = "u", .client_id = "shop", .jti = "j", .sid = "s", .iat = 0};

    AG_ASSERT_NOT_NULL(cfg);
    if (cfg == NULL)
        return;
    claims_are(cfg, AG_CLAIMS_ACCESS, &c,
               "{\"sub\":\"u\",\"client_id\":\"shop\",\"type\":\"access\",\"iat\":0,"
               "\"exp\":900,\"jti\":\"j\",\"iss\":\"shop\",\"sid\":\"s\"}");
    ag_config_unref(cfg);
}

static void test_claims_escape_strings_and_split_roles_on_spaces(void)
{
    struct ag_config *cfg = ag_t_config("", NULL);
    struct ag_claims c = {.sub = "a\"b\\c\n\x01\x7f",
                          .client_id = "caf\xc3\xa9",
                          .jti = "j",
                          .sid = "s",
                          .scope = "x\ty",
                          .roles = "r\"1  r2 ",
                          .iat = 1};
    size_t len = 0;
    char *s;
    json_t *o;
    json_error_t e;

    AG_ASSERT_NOT_NULL(cfg);
    if (cfg == NULL)
        return;
    claims_are(cfg, AG_CLAIMS_ACCESS, &c,
               "{\"sub\":\"a\\\"b\\\\c\\u000a\\u0001\x7f\",\"client_id\":\"caf\xc3\xa9\","
               "\"type\":\"access\",\"iat\":1,\"exp\":901,\"jti\":\"j\",\"iss\":\"authgate\","
               "\"sid\":\"s\",\"scope\":\"x\\u0009y\",\"roles\":[\"r\\\"1\",\"r2\"]}");
    /* and it is JSON that says the same */
    s = ag_claims_json(cfg, AG_CLAIMS_ACCESS, &c, &len);
    o = s != NULL ? json_loadb(s, len, 0, &e) : NULL;
    AG_ASSERT_NOT_NULL(o);
    if (o != NULL) {
        AG_ASSERT_STR(json_string_value(json_object_get(o, "sub")), c.sub);
        AG_ASSERT_STR(json_string_value(json_object_get(o, "client_id")), c.client_id);
        AG_ASSERT_STR(json_string_value(json_object_get(o, "scope")), "x\ty");
        AG_ASSERT_EQ(json_array_size(json_object_get(o, "roles")), 2);
        AG_ASSERT_STR(json_string_value(json_array_get(json_object_get(o, "roles"), 0)), "r\"1");
    }
    json_decref(o);
    free(s);
    /* runs of spaces, leading ones included, separate roles: no empty role is written */
    c.roles = " r";
    claims_are(cfg, AG_CLAIMS_ACCESS, &c,
               "{\"sub\":\"a\\\"b\\\\c\\u000a\\u0001\x7f\",\"client_id\":\"caf\xc3\xa9\","
               "\"type\":\"access\",\"iat\":1,\"exp\":901,\"jti\":\"j\",\"iss\":\"authgate\","
               "\"sid\":\"s\",\"scope\":\"x\\u0009y\",\"roles\":[\"r\"]}");
    ag_config_unref(cfg);
}

static void test_claims_reset_token(void)
{
    struct ag_config *cfg = ag_t_config("'password-reset':{'ttl':600}", NULL);
    struct ag_config *aud =
        ag_t_config("'token-issuer':'https://iss','token-audience':'api'", NULL);
    size_t len = 0;
    char *s;

    AG_ASSERT(cfg != NULL && aud != NULL);
    if (cfg == NULL || aud == NULL)
        goto out;
    s = ag_claims_reset_json(cfg, "u-1", "R", "P", 100, &len);
    AG_ASSERT_STR(s, "{\"sub\":\"u-1\",\"type\":\"reset\",\"iat\":100,\"exp\":700,"
                     "\"jti\":\"R\",\"iss\":\"authgate\",\"pwh\":\"P\"}");
    AG_ASSERT_EQ(len, s != NULL ? strlen(s) : 0);
    free(s);
    /* the default ttl (900), the configured issuer, then the audience last */
    s = ag_claims_reset_json(aud, "u\"2", "R", "P", 100, &len);
    AG_ASSERT_STR(s, "{\"sub\":\"u\\\"2\",\"type\":\"reset\",\"iat\":100,\"exp\":1000,"
                     "\"jti\":\"R\",\"iss\":\"https://iss\",\"pwh\":\"P\",\"aud\":\"api\"}");
    free(s);
out:
    ag_config_unref(cfg);
    ag_config_unref(aud);
}

int main(void)
{
    AG_RUN(test_claims_access_and_refresh_of_a_user);
    AG_RUN(test_claims_of_a_client_with_issuer_audience_and_no_scope_or_roles);
    AG_RUN(test_claims_app_name_is_the_issuer_without_token_issuer);
    AG_RUN(test_claims_escape_strings_and_split_roles_on_spaces);
    AG_RUN(test_claims_reset_token);
    return ag_t_done();
}
