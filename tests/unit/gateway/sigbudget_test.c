/*
 * tests/unit/gateway/sigbudget_test.c - mirrors gateway/auth/sigbudget.c: the key of a
 * client address (IPv4, an IPv6 /64, X-Forwarded-For behind a trusted proxy only), an
 * entry's count restarting with its window, one entry per address, and a full table
 * that keeps a flooding address's count while new addresses come and go.
 *
 * Owns:     a table and a config per test, freed at its end.
 * Entry:    main().
 * Not here: what the counts decide (authn_test.c, integration/test_token_flood.py).
 * Spec:     docs/keys.md "Floods of invalid tokens".
 */
#include "sigbudget.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "t.h"

/* The key of a request from <peer> (text) carrying <fields> (CRLF lines) under <members>. */
static void key_of(const char *members, const char *peer, const char *fields,
                   unsigned char key[AG_SIGBUDGET_KEY])
{
    struct ag_config *cfg = ag_t_config(members, NULL);
    struct ag_http1_header hdrs[8];
    struct ag_http1_head h;
    unsigned char a[16];
    char raw[512];
    int fam = strchr(peer, ':') ? AF_INET6 : AF_INET, n;

    AG_ASSERT_NOT_NULL(cfg);
    AG_ASSERT_EQ(inet_pton(fam, peer, a), 1);
    n = snprintf(raw, sizeof(raw), "GET / HTTP/1.1\r\nHost: t\r\n%s\r\n", fields);
    memset(&h, 0, sizeof(h));
    h.hdrs = hdrs;
    h.max_hdrs = 8;
    AG_ASSERT_EQ(ag_http1_parse_request(raw, (size_t)n, sizeof(raw), &h), n);
    ag_sigbudget_key(cfg, fam, a, &h, key);
    ag_config_unref(cfg);
}

static const char *key_str(const unsigned char key[AG_SIGBUDGET_KEY])
{
    static char buf[64];
    return ag_sigbudget_key_str(key, buf, sizeof(buf));
}

static void test_sigbudget_key_is_the_peer_or_its_64(void)
{
    unsigned char k[AG_SIGBUDGET_KEY], k2[AG_SIGBUDGET_KEY];

    key_of("", "203.0.113.7", "X-Forwarded-For: 198.51.100.1\r\n", k);
    AG_ASSERT_STR(key_str(k), "203.0.113.7"); /* an untrusted peer's XFF is not believed */
    key_of("", "2001:db8:1:2:aaaa::1", "", k);
    key_of("", "2001:db8:1:2:bbbb::9", "", k2);
    AG_ASSERT(memcmp(k, k2, sizeof(k)) == 0); /* one /64 */
    AG_ASSERT_STR(key_str(k), "2001:db8:1:2::/64");
}

static void test_sigbudget_key_behind_a_trusted_proxy_is_the_forwarded_address(void)
{
    unsigned char k[AG_SIGBUDGET_KEY];

    key_of("'trusted-proxies': ['127.0.0.1']", "127.0.0.1",
           "X-Forwarded-For: 198.51.100.1, 127.0.0.1\r\n", k);
    AG_ASSERT_STR(key_str(k), "198.51.100.1");
    key_of("'trusted-proxies': ['127.0.0.1']", "127.0.0.1", "", k);
    AG_ASSERT_STR(key_str(k), "127.0.0.1"); /* no XFF: the proxy itself */
}

static void key_n(unsigned n, unsigned char key[AG_SIGBUDGET_KEY])
{
    memset(key, 0, AG_SIGBUDGET_KEY);
    key[10] = key[11] = 0xff;
    memcpy(key + 12, &n, 4);
}

static void test_sigbudget_counts_per_address_and_window(void)
{
    struct ag_sigbudget *b = ag_sigbudget_new();
    unsigned char a[AG_SIGBUDGET_KEY], c[AG_SIGBUDGET_KEY];
    struct ag_sigbudget_entry *e;

    AG_ASSERT_NOT_NULL(b);
    key_n(1, a);
    key_n(2, c);
    for (int i = 0; i < 5; i++)
        ag_sigbudget_get(b, a, 100)->fails++;
    AG_ASSERT_EQ(ag_sigbudget_get(b, a, 100)->fails, 5u);
    AG_ASSERT_EQ(ag_sigbudget_get(b, c, 100)->fails, 0u); /* another address: its own */
    e = ag_sigbudget_get(b, a, 101);                       /* the next window */
    AG_ASSERT_EQ(e->fails, 0u);
    AG_ASSERT(!e->logged);
    ag_sigbudget_free(b);
}

static void test_sigbudget_flooder_kept_while_many_addresses_pass(void)
{
    struct ag_sigbudget *b = ag_sigbudget_new();
    unsigned char a[AG_SIGBUDGET_KEY], o[AG_SIGBUDGET_KEY];

    AG_ASSERT_NOT_NULL(b);
    key_n(7, a);
    ag_sigbudget_get(b, a, 5)->fails = 32;
    /* a thousand other addresses, one uncached token each, no failure: the table (256
     * entries) churns, but the least-failing entry of a set goes first */
    for (unsigned i = 100; i < 1100; i++) {
        key_n(i, o);
        ag_sigbudget_get(b, o, 5);
    }
    AG_ASSERT_EQ(ag_sigbudget_get(b, a, 5)->fails, 32u);
    ag_sigbudget_free(b);
}

int main(void)
{
    AG_RUN(test_sigbudget_key_is_the_peer_or_its_64);
    AG_RUN(test_sigbudget_key_behind_a_trusted_proxy_is_the_forwarded_address);
    AG_RUN(test_sigbudget_counts_per_address_and_window);
    AG_RUN(test_sigbudget_flooder_kept_while_many_addresses_pass);
    return ag_t_done();
}
