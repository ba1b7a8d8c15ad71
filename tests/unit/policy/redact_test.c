/*
 * tests/unit/policy/redact_test.c - mirrors policy/redact.c: which parameter names
 * count as credentials, targets with their values redacted (query, fragment, userinfo),
 * and cut output never showing more than the whole. Inputs are exact-size heap copies
 * so ASan sees any read past the target.
 */
#include "redact.h"

#include <stdlib.h>
#include <string.h>

#include "t.h"

/* ag_redact_target() of an exact-size copy of <t> into <out> (NUL-terminated here). */
static size_t redact(const char *t, char *out, size_t cap)
{
    size_t n = strlen(t), r;
    char *copy = malloc(n ? n : 1);

    memcpy(copy, t, n);
    r = ag_redact_target((struct ag_str){copy, n}, out, cap - 1);
    free(copy);
    AG_ASSERT(r < cap);
    out[r] = '\0';
    return r;
}

static bool named(const char *name)
{
    size_t n = strlen(name);
    char *copy = malloc(n ? n : 1);
    bool r;

    memcpy(copy, name, n);
    r = ag_redact_is_credential_name((struct ag_str){copy, n});
    free(copy);
    return r;
}

static void test_redact_names_the_documented_credentials(void)
{
    static const char *const yes[] = {
        "refresh_token", "access_token", "id_token", "token", "master_token", "master-token",
        "code", "password", "passwd", "pwd", "api_key", "apikey", "api-key", "x-api-key",
        "key", "client_secret", "secret", "client_assertion", "X-Amz-Security-Token",
        "X-Amz-Signature", "X-Amz-Credential", "sig", "auth", "session", "sessionid", "sid",
        "jwt", "otp", "ticket", "private_key", "new_password", "oauth_token",
    };
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (!named(yes[i]))
            AG_FAIL_("%s should be credential-named", yes[i]);
    }
}

static void test_redact_leaves_ordinary_names(void)
{
    static const char *const no[] = {
        "q", "page", "client_id", "redirect_uri", "state", "scope", "monkey", "zipcode",
        "keyword", "user", "username", "email", "id", "", "grant_type", "author",
    };
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        if (named(no[i]))
            AG_FAIL_("%s should not be credential-named", no[i]);
    }
}

static void test_redact_matches_any_case_and_percent_encoded_names(void)
{
    AG_ASSERT(named("REFRESH_TOKEN"));
    AG_ASSERT(named("Refresh_Token"));
    AG_ASSERT(named("refresh%5Ftoken"));
    AG_ASSERT(named("refresh%5ftoken"));
    AG_ASSERT(named("%72efresh_token"));
    AG_ASSERT(named("refresh+token")); /* '+' is a space, a space reads as '_' */
    AG_ASSERT(named("%4B%45%59"));     /* KEY */
    AG_ASSERT(!named("%6Eo"));         /* "no" */
}

static void test_redact_treats_odd_names_as_credentials(void)
{
    char longname[AG_REDACT_NAME_MAX + 2];

    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    AG_ASSERT(named(longname));       /* too long to judge */
    AG_ASSERT(named("x%00y"));        /* a NUL would hide the rest from the match */
    longname[AG_REDACT_NAME_MAX] = '\0';
    AG_ASSERT(!named(longname));      /* exactly the limit is judged */
    AG_ASSERT(named("token%zz"));     /* a bad escape is compared as it is */
    AG_ASSERT(!named("%zz"));
    AG_ASSERT(!named("%4"));
}

static void test_redact_replaces_the_legacy_refresh_token(void)
{
    char out[256];

    redact("/auth/token/refresh?refresh_token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", out,
           sizeof(out));
    AG_ASSERT_STR(out, "/auth/token/refresh?refresh_token=[REDACTED]");
}

static void test_redact_keeps_other_parameters_and_separators(void)
{
    char out[256];

    redact("/a/b?x=1&token=abc;code=9&y=&z&access_token=&page=2", out, sizeof(out));
    AG_ASSERT_STR(out, "/a/b?x=1&token=[REDACTED];code=[REDACTED]&y=&z&access_token=&page=2");
    redact("/p?a=b=c&password=x=y", out, sizeof(out));
    AG_ASSERT_STR(out, "/p?a=b=c&password=[REDACTED]");
    redact("/p?&&token=t&", out, sizeof(out));
    AG_ASSERT_STR(out, "/p?&&token=[REDACTED]&");
    redact("/p?refresh_token=a&refresh_token=b", out, sizeof(out));
    AG_ASSERT_STR(out, "/p?refresh_token=[REDACTED]&refresh_token=[REDACTED]");
}

static void test_redact_leaves_targets_without_credentials_unchanged(void)
{
    static const char *const same[] = {
        "/", "*", "/plain/path", "/p?", "/p?q=token", "/token=x/y", "/p?q=1&r=2",
        "http://host:80/p?q=1", "/p?token", "", "/a@b/c?x=1",
    };
    char out[256];

    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
        AG_ASSERT_EQ(redact(same[i], out, sizeof(out)), strlen(same[i]));
        AG_ASSERT_STR(out, same[i]);
    }
}

static void test_redact_covers_the_fragment(void)
{
    char out[256];

    redact("/cb#access_token=abc&state=1", out, sizeof(out));
    AG_ASSERT_STR(out, "/cb#access_token=[REDACTED]&state=1");
    redact("/cb?x=1#id_token=abc", out, sizeof(out));
    AG_ASSERT_STR(out, "/cb?x=1#id_token=[REDACTED]");
    redact("/cb?token=a#b", out, sizeof(out));
    AG_ASSERT_STR(out, "/cb?token=[REDACTED]#b");
}

static void test_redact_replaces_userinfo_of_an_absolute_target(void)
{
    char out[256];

    redact("http://user:hunter2@gw.test/p?q=1", out, sizeof(out));
    AG_ASSERT_STR(out, "http://[REDACTED]@gw.test/p?q=1");
    redact("http://a@b@gw.test", out, sizeof(out));
    AG_ASSERT_STR(out, "http://[REDACTED]@gw.test");
    redact("https://u:p@gw.test?api_key=k", out, sizeof(out));
    AG_ASSERT_STR(out, "https://[REDACTED]@gw.test?api_key=[REDACTED]");
    redact("http://gw.test/x@y", out, sizeof(out)); /* '@' in the path is not userinfo */
    AG_ASSERT_STR(out, "http://gw.test/x@y");
}

static void test_redact_cut_output_is_a_prefix_of_the_whole(void)
{
    const char *t = "/p?token=secretvalue&x=1";
    char whole[256], cut[256];
    size_t n = redact(t, whole, sizeof(whole));

    for (size_t cap = 1; cap <= n + 1; cap++) {
        size_t m = redact(t, cut, cap);
        AG_ASSERT(m == (cap - 1 < n ? cap - 1 : n));
        AG_ASSERT(memcmp(cut, whole, m) == 0);
        AG_ASSERT(strstr(cut, "secret") == NULL);
    }
    AG_ASSERT_EQ(ag_redact_target((struct ag_str){t, strlen(t)}, NULL, 0), 0);
}

int main(void)
{
    AG_RUN(test_redact_names_the_documented_credentials);
    AG_RUN(test_redact_leaves_ordinary_names);
    AG_RUN(test_redact_matches_any_case_and_percent_encoded_names);
    AG_RUN(test_redact_treats_odd_names_as_credentials);
    AG_RUN(test_redact_replaces_the_legacy_refresh_token);
    AG_RUN(test_redact_keeps_other_parameters_and_separators);
    AG_RUN(test_redact_leaves_targets_without_credentials_unchanged);
    AG_RUN(test_redact_covers_the_fragment);
    AG_RUN(test_redact_replaces_userinfo_of_an_absolute_target);
    AG_RUN(test_redact_cut_output_is_a_prefix_of_the_whole);
    return ag_t_done();
}
