/*
 * tests/unit/policy/client_addr_test.c - mirrors policy/client_addr.c: the peer, or
 * the X-Forwarded-For walk from the right behind a trusted proxy.
 *
 * Owns:     one parsed config per test, unref'd at its end (ASan/LSan check it).
 * Entry:    main().
 * Not here: the CIDR parser (config_test.c), what the upstream gets (test_headers.py).
 * Spec:     docs/config.md "trusted-proxies".
 */
#include "client_addr.h"

#include <stdio.h>
#include <string.h>

#include "cfg.h"
#include "t.h"

/* A config with "trusted-proxies" <list> (a JSON array, or NULL for none). */
static struct ag_config *cfg_new(const char *list)
{
    char members[256];

    snprintf(members, sizeof(members), "%s%s", list != NULL ? "'trusted-proxies':" : "",
             list != NULL ? list : "");
    return ag_t_config(members, NULL);
}

/* The client address of the IPv4 or IPv6 peer <peer> with X-Forwarded-For <xff> (NULL: none). */
static const char *pick(const struct ag_config *cfg, const char *peer, const char *xff)
{
    static char out[AG_CLIENT_ADDR_LEN];
    unsigned char a[16];
    int fam = strchr(peer, ':') ? AF_INET6 : AF_INET;

    if (inet_pton(fam, peer, a) != 1)
        return "(bad peer)";
    ag_client_addr_pick(cfg, fam, a, peer, (struct ag_str){xff, xff != NULL ? strlen(xff) : 0},
                        out);
    return out;
}

static void test_client_addr_is_the_peer_unless_it_is_trusted(void)
{
    struct ag_config *none = cfg_new(NULL), *other = cfg_new("[\"10.0.0.0/8\"]");

    AG_ASSERT(none != NULL && other != NULL);
    if (none == NULL || other == NULL)
        goto out;
    AG_ASSERT_STR(pick(none, "127.0.0.1", NULL), "127.0.0.1");
    AG_ASSERT_STR(pick(none, "127.0.0.1", "1.2.3.4"), "127.0.0.1");
    AG_ASSERT_STR(pick(other, "127.0.0.1", "1.2.3.4"), "127.0.0.1");
    AG_ASSERT_STR(pick(other, "::1", "1.2.3.4"), "::1");
    AG_ASSERT_STR(pick(other, "11.0.0.1", "1.2.3.4"), "11.0.0.1");
out:
    ag_config_unref(none);
    ag_config_unref(other);
}

static void test_client_addr_walks_xff_from_the_right_past_trusted_proxies(void)
{
    struct ag_config *cfg = cfg_new("[\"127.0.0.1\",\"10.0.0.0/8\",\"fd00::/8\"]");

    AG_ASSERT_NOT_NULL(cfg);
    if (cfg == NULL)
        return;
    AG_ASSERT_STR(pick(cfg, "127.0.0.1", NULL), "127.0.0.1");
    AG_ASSERT_STR(pick(cfg, "127.0.0.1", ""), "127.0.0.1");
    AG_ASSERT_STR(pick(cfg, "127.0.0.1", "1.2.3.4"), "1.2.3.4");
    AG_ASSERT_STR(pick(cfg, "10.1.2.3", "1.2.3.4"), "1.2.3.4");
    /* the rightmost untrusted entry: a client cannot choose its address by prepending */
    AG_ASSERT_STR(pick(cfg, "127.0.0.1", "6.6.6.6, 1.2.3.4"), "1.2.3.4");
    AG_ASSERT_STR(pick(cfg, "127.0.0.1", "6.6.6.6, 1.2.3.4, 10.0.0.2"), "1.2.3.4");
    AG_ASSERT_STR(pick(cfg, "127.0.0.1", "6.6.6.6,1.2.3.4,10.0.0.2,127.0.0.1"), "1.2.3.4");
    /* all trusted: the leftmost */
    AG_ASSERT_STR(pick(cfg, "127.0.0.1", "10.0.0.9, 10.0.0.2"), "10.0.0.9");
    /* IPv6 entries, and an IPv6 trusted block */
    AG_ASSERT_STR(pick(cfg, "127.0.0.1", "2001:db8::1"), "2001:db8::1");
    AG_ASSERT_STR(pick(cfg, "fd00::1", "2001:db8::1, fd12::3"), "2001:db8::1");
    AG_ASSERT_STR(pick(cfg, "::1", "1.2.3.4"), "::1"); /* ::1 is not listed */
    /* spaces around entries */
    AG_ASSERT_STR(pick(cfg, "127.0.0.1", "  1.2.3.4  "), "1.2.3.4");
    AG_ASSERT_STR(pick(cfg, "127.0.0.1", "5.5.5.5 ,  10.0.0.1 "), "5.5.5.5");
    ag_config_unref(cfg);
}

static void test_client_addr_stops_at_what_is_not_an_address(void)
{
    struct ag_config *cfg = cfg_new("[\"127.0.0.1\",\"10.0.0.0/8\"]");

    AG_ASSERT_NOT_NULL(cfg);
    if (cfg == NULL)
        return;
    /* the first bad entry from the right: keep what was taken so far */
    AG_ASSERT_STR(pick(cfg, "127.0.0.1", "unknown"), "127.0.0.1");
    AG_ASSERT_STR(pick(cfg, "127.0.0.1", "1.2.3.4, unknown"), "127.0.0.1");
    AG_ASSERT_STR(pick(cfg, "127.0.0.1", "1.2.3.4, 10.0.0.1, x"), "127.0.0.1");
    AG_ASSERT_STR(pick(cfg, "127.0.0.1", "1.2.3.4, x, 10.0.0.1"), "10.0.0.1");
    AG_ASSERT_STR(pick(cfg, "127.0.0.1", "1.2.3.4, , 10.0.0.1"), "10.0.0.1"); /* empty */
    AG_ASSERT_STR(pick(cfg, "127.0.0.1", "1.2.3.4,"), "127.0.0.1");
    AG_ASSERT_STR(pick(cfg, "127.0.0.1", ",1.2.3.4"), "1.2.3.4");
    AG_ASSERT_STR(pick(cfg, "127.0.0.1", "1.2.3.4:80"), "127.0.0.1"); /* a port: not one */
    AG_ASSERT_STR(pick(cfg, "127.0.0.1", "[2001:db8::1]"), "127.0.0.1");
    AG_ASSERT_STR(pick(cfg, "127.0.0.1", "1.2.3"), "127.0.0.1");
    AG_ASSERT_STR(pick(cfg, "127.0.0.1", "1.2.3.4\t"), "127.0.0.1"); /* only spaces trimmed */
    /* longer than any address text */
    AG_ASSERT_STR(pick(cfg, "127.0.0.1", "1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa"),
                  "127.0.0.1");
    ag_config_unref(cfg);
}

int main(void)
{
    AG_RUN(test_client_addr_is_the_peer_unless_it_is_trusted);
    AG_RUN(test_client_addr_walks_xff_from_the_right_past_trusted_proxies);
    AG_RUN(test_client_addr_stops_at_what_is_not_an_address);
    return ag_t_done();
}
