/*
 * tests/unit/store/sentinel_test.c - the pure part of store/sentinel.c: reading a
 * +switch-master message (ag_sentinel__parse_switch()). The failover itself runs against
 * real sentinels in tests/integration/test_sentinel.py.
 */
#include <string.h>

#include "sentinel.h"
#include "t.h"

static int parse(const char *msg, const char *master, struct ag_store_addr *a)
{
    return ag_sentinel__parse_switch(msg, strlen(msg), master, a);
}

static void test_switch_gives_the_new_primary_of_our_master(void)
{
    struct ag_store_addr a;

    AG_ASSERT_EQ(parse("agmaster 127.0.0.1 6379 127.0.0.1 6380", "agmaster", &a), 0);
    AG_ASSERT_STR(a.host, "127.0.0.1");
    AG_ASSERT_EQ(a.port, 6380);
    AG_ASSERT_EQ(parse("m ::1 6379 ::2 7000", "m", &a), 0);
    AG_ASSERT_STR(a.host, "::2");
    AG_ASSERT_EQ(a.port, 7000);
    AG_ASSERT_EQ(parse("m old.example 1 redis-2.example 2", "m", &a), 0);
    AG_ASSERT_STR(a.host, "redis-2.example");
}

static void test_switch_of_another_master_or_malformed_is_ignored(void)
{
    static const char *const bad[] = {
        "other 127.0.0.1 6379 127.0.0.1 6380", /* another master */
        "agmaste 127.0.0.1 6379 127.0.0.1 6380",
        "agmaster2 127.0.0.1 6379 127.0.0.1 6380",
        "agmaster 127.0.0.1 6379 127.0.0.1",      /* four fields */
        "agmaster 127.0.0.1 6379 127.0.0.1 6380 x", /* six */
        "agmaster 127.0.0.1 6379 127.0.0.1 6380 ",
        "agmaster  127.0.0.1 6379 127.0.0.1 6380",
        "agmaster 127.0.0.1 6379 127.0.0.1 0",
        "agmaster 127.0.0.1 6379 127.0.0.1 65536",
        "agmaster 127.0.0.1 6379 127.0.0.1 63x0",
        "agmaster 127.0.0.1 6379 [::1] 6380",
        "",
    };
    struct ag_store_addr a;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        AG_ASSERT_EQ(parse(bad[i], "agmaster", &a), -1);
        AG_ASSERT_STR(a.host, "");
    }
}

int main(void)
{
    AG_RUN(test_switch_gives_the_new_primary_of_our_master);
    AG_RUN(test_switch_of_another_master_or_malformed_is_ignored);
    return ag_t_done();
}
