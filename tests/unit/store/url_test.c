/*
 * tests/unit/store/url_test.c - the one parser of the `redis` setting and of a Redis
 * "HOST:PORT" (store/url.c): every documented shape accepted, every refused one named,
 * the length limits. Pure: no redis-server.
 */
#include <stdio.h>
#include <string.h>

#include "t.h"
#include "url.h"

static void test_url_parses_host_port_password_and_db(void)
{
    struct ag_store_addr a;
    const char *why = NULL;

    AG_ASSERT_EQ(ag_store_url_parse("redis://:s3cret@db.local:6380/4", &a, &why), 0);
    AG_ASSERT_STR(a.host, "db.local");
    AG_ASSERT_EQ(a.port, 6380);
    AG_ASSERT_STR(a.password, "s3cret");
    AG_ASSERT_EQ(a.db, 4);
    AG_ASSERT_EQ(ag_store_url_parse("redis://[::1]:7000/2", &a, &why), 0);
    AG_ASSERT_STR(a.host, "::1");
    AG_ASSERT_EQ(a.port, 7000);
    AG_ASSERT_EQ(a.db, 2);
    AG_ASSERT_EQ(ag_store_url_parse("unix:///run/redis.sock", &a, &why), 0);
    AG_ASSERT_STR(a.path, "/run/redis.sock");
    AG_ASSERT_STR(a.host, "");
}

/* One accepted shape and what it must parse to. */
struct url_ok {
    const char *url, *host, *path, *password;
    int port, db;
};

static void test_url_accepts_every_documented_shape(void)
{
    static const struct url_ok ok[] = {
        {"redis://127.0.0.1:6379/0", "127.0.0.1", "", "", 6379, 0},
        {"redis://127.0.0.1:6379", "127.0.0.1", "", "", 6379, 0},
        {"redis://h:1/", "h", "", "", 1, 0}, /* "/" alone: database 0 */
        {"redis://h:65535/15", "h", "", "", 65535, 15},
        /* The scheme in any letter case (RFC 3986 s.3.1): issue 9 point 9. */
        {"REDIS://h:6379/1", "h", "", "", 6379, 1},
        {"Redis://h:6379/1", "h", "", "", 6379, 1},
        {"UNIX:///run/r.sock", "", "/run/r.sock", "", 0, 0},
        /* Every database SELECT can take (databases is an int): issue 9 point 9. */
        {"redis://h:1/1234567", "h", "", "", 1, 1234567},
        {"redis://h:1/123456789", "h", "", "", 1, 123456789},
        {"redis://h:1/2147483646", "h", "", "", 1, 2147483646},
        {"redis://h:1/007", "h", "", "", 1, 7},
        {"redis://my-redis_1.internal.example:6380/3", "my-redis_1.internal.example", "", "", 6380, 3},
        {"redis://[::1]:6379", "::1", "", "", 6379, 0},
        {"redis://[fe80::1:2]:6379/5", "fe80::1:2", "", "", 6379, 5},
        {"redis://[::ffff:127.0.0.1]:6379/5", "::ffff:127.0.0.1", "", "", 6379, 5},
        {"redis://:pw@h:1", "h", "", "pw", 1, 0},
        {"redis://:p@ss@h:1/15", "h", "", "p@ss", 1, 15},  /* up to the last '@' */
        {"redis://:a:b/c d@h:1/2", "h", "", "a:b/c d", 1, 2}, /* as written */
        {"redis://:%41@h:1", "h", "", "%41", 1, 0},        /* not percent-decoded */
        {"unix:///x", "", "/x", "", 0, 0},
    };
    struct ag_store_addr a;

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        const char *why = NULL;
        int rc = ag_store_url_parse(ok[i].url, &a, &why);

        if (rc != 0)
            fprintf(stderr, "  refused %s: %s\n", ok[i].url, why ? why : "?");
        AG_ASSERT_EQ(rc, 0);
        AG_ASSERT_STR(a.host, ok[i].host);
        AG_ASSERT_STR(a.path, ok[i].path);
        AG_ASSERT_STR(a.password, ok[i].password);
        AG_ASSERT_EQ(a.port, ok[i].port);
        AG_ASSERT_EQ(a.db, ok[i].db);
    }
}

/* One refused shape and the phrase that names why (docs/config.md). */
struct url_bad {
    const char *url, *why;
};

#define FORM "expected \"redis://[:PASSWORD@]HOST:PORT[/DB]\""
#define DB "the database after '/' must be a number from 0 to 2147483646"

static void test_url_refuses_bad_shapes_naming_why(void)
{
    static const struct url_bad bad[] = {
        {"", FORM " or \"unix:///PATH\""},
        {"localhost:6379", FORM " or \"unix:///PATH\""},
        {"http://x:1", FORM " or \"unix:///PATH\""},
        {"redis:/h:1", FORM " or \"unix:///PATH\""},
        {"rediss://h:6379", "TLS to Redis is not supported yet"},
        {"REDISS://h:6379", "TLS to Redis is not supported yet"},
        {"redis://", FORM},
        {"redis://h", FORM},   /* the port is required */
        {"redis://h:", FORM},
        {"redis://:6379", FORM},
        {"redis://h:63x9", FORM},
        {"redis://h:+1", FORM},
        {"redis://h:1?db=2", FORM},
        {"redis://h h:1", FORM},
        {"redis://h/x:1", FORM},
        {"redis://[::1]", FORM},
        {"redis://[::1]6379", FORM},
        {"redis://[]:1", FORM},
        {"redis://[::1:1", FORM},
        {"redis://[g::1]:1", FORM},
        {"redis://[1.2.3.4]:1", FORM},
        {"redis://h:0", "port must be 1-65535"},
        {"redis://h:65536", "port must be 1-65535"},
        {"redis://h:99999999999999999999", "port must be 1-65535"},
        {"redis://::1:6379", "IPv6 addresses need brackets, as in \"redis://[::1]:6379/0\""},
        {"redis://h:1/x", DB},
        {"redis://h:1/-1", DB},
        {"redis://h:1/+1", DB},
        {"redis://h:1/1/2", DB},
        {"redis://h:1/0#x", DB},
        {"redis://h:1/ 1", DB},
        {"redis://h:1/2147483647", DB},
        {"redis://h:1/99999999999", DB},
        {"redis://h:1/00000000001", DB},
        {"redis://user:pw@h:1", "a user name is not supported; use \"redis://:PASSWORD@HOST:PORT\""},
        {"redis://@h:1", "a user name is not supported; use \"redis://:PASSWORD@HOST:PORT\""},
        {"redis://:@h:1", "the password after ':' must not be empty"},
        {"unix://run/redis.sock", "the socket path must be absolute, as in \"unix:///PATH\""},
        {"unix://", "the socket path must be absolute, as in \"unix:///PATH\""},
        {"unix:///", "the socket path must be absolute, as in \"unix:///PATH\""},
        {"redis://h:1\t", "must be printable ASCII"},
        {"redis://h\xc3\xa9:1", "must be printable ASCII"},
        {"redis://:p\x7f@h:1", "must be printable ASCII"},
    };
    struct ag_store_addr a;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *why = NULL;
        int rc = ag_store_url_parse(bad[i].url, &a, &why);

        if (rc != -1 || why == NULL || strcmp(why, bad[i].why) != 0)
            fprintf(stderr, "  %s: got %d '%s'\n", bad[i].url, rc, why ? why : "(null)");
        AG_ASSERT_EQ(rc, -1);
        AG_ASSERT_STR(why, bad[i].why);
        AG_ASSERT_STR(a.password, ""); /* nothing left behind */
    }
}

static void test_url_refuses_over_long_parts(void)
{
    char url[700], pw[300];
    struct ag_store_addr a;
    const char *why = NULL;

    memset(pw, 'p', 256);
    pw[256] = '\0';
    snprintf(url, sizeof(url), "redis://:%s@h:1", pw);
    AG_ASSERT_EQ(ag_store_url_parse(url, &a, &why), -1);
    AG_ASSERT_STR(why, "the password is too long (at most 255 bytes)");
    pw[255] = '\0';
    snprintf(url, sizeof(url), "redis://:%s@h:1", pw);
    AG_ASSERT_EQ(ag_store_url_parse(url, &a, &why), 0);
    AG_ASSERT_EQ(strlen(a.password), 255);

    memset(pw, 'x', 108);
    pw[107] = '\0';
    snprintf(url, sizeof(url), "unix:///%s", pw + 1); /* "/" + 106 = 107 bytes */
    AG_ASSERT_EQ(ag_store_url_parse(url, &a, &why), 0);
    snprintf(url, sizeof(url), "unix:///%s", pw); /* 108 bytes */
    AG_ASSERT_EQ(ag_store_url_parse(url, &a, &why), -1);
    AG_ASSERT_STR(why, "the socket path is too long (at most 107 bytes)");

    memset(pw, 'h', 254);
    pw[254] = '\0';
    snprintf(url, sizeof(url), "redis://%s:1", pw);
    AG_ASSERT_EQ(ag_store_url_parse(url, &a, &why), -1);
    AG_ASSERT_STR(why, FORM);
    pw[253] = '\0';
    snprintf(url, sizeof(url), "redis://%s:1", pw);
    AG_ASSERT_EQ(ag_store_url_parse(url, &a, &why), 0);
}

#define HP_FORM "expected \"HOST:PORT\" or \"[IPV6]:PORT\""

static void test_hostport_parses_names_v4_and_bracketed_v6(void)
{
    struct ag_store_addr a;
    const char *why = NULL;

    AG_ASSERT_EQ(ag_store_hostport_parse("127.0.0.1:26379", &a, &why), 0);
    AG_ASSERT_STR(a.host, "127.0.0.1");
    AG_ASSERT_EQ(a.port, 26379);
    AG_ASSERT_STR(a.password, "");
    AG_ASSERT_EQ(ag_store_hostport_parse("[::1]:1", &a, &why), 0);
    AG_ASSERT_STR(a.host, "::1");
    AG_ASSERT_EQ(a.port, 1);
    AG_ASSERT_EQ(ag_store_hostport_parse("sentinel-2.example_x:65535", &a, &why), 0);
    AG_ASSERT_STR(a.host, "sentinel-2.example_x");
    AG_ASSERT_EQ(a.port, 65535);
}

static void test_hostport_refuses_bad_shapes_naming_why(void)
{
    static const struct {
        const char *s, *why;
    } bad[] = {
        {"", HP_FORM},
        {"127.0.0.1", HP_FORM},
        {"127.0.0.1:", HP_FORM},
        {":26379", HP_FORM},
        {"[::1]", HP_FORM},
        {"[::1]26379", HP_FORM},
        {"[]:1", HP_FORM},
        {"[1.2.3.4]:1", HP_FORM},
        {"h h:1", HP_FORM},
        {"h/x:1", HP_FORM},
        {"h:1/0", HP_FORM},
        {"::1:26379", "IPv6 addresses need brackets, as in \"[::1]:26379\""},
        {"h:0", "port must be 1-65535"},
        {"h:65536", "port must be 1-65535"},
        {"h:99999999999999999999", "port must be 1-65535"},
        {"h\x01:1", "must be printable ASCII"},
        {"h\xc3\xa9:1", "must be printable ASCII"},
    };
    struct ag_store_addr a;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *why = NULL;
        AG_ASSERT_EQ(ag_store_hostport_parse(bad[i].s, &a, &why), -1);
        AG_ASSERT_STR(why, bad[i].why);
        AG_ASSERT_STR(a.host, "");
        AG_ASSERT_EQ(a.port, 0);
    }
}

int main(void)
{
    AG_RUN(test_url_parses_host_port_password_and_db);
    AG_RUN(test_url_accepts_every_documented_shape);
    AG_RUN(test_url_refuses_bad_shapes_naming_why);
    AG_RUN(test_url_refuses_over_long_parts);
    AG_RUN(test_hostport_parses_names_v4_and_bracketed_v6);
    AG_RUN(test_hostport_refuses_bad_shapes_naming_why);
    return ag_t_done();
}
