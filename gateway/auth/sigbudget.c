/*
 * gateway/auth/sigbudget.c - a worker's budget of failed asymmetric signature checks per
 * client address and window, in a fixed table: 64 sets of 4 addresses, the set chosen by
 * a keyed hash (a seed drawn per worker, so a client cannot aim its addresses at the set
 * of another). A flooding address never shares an entry with another address: an entry
 * holds one address, and a full set gives up a stale entry first, else the one with the
 * fewest failures in this window.
 *
 * Owns:     struct ag_sigbudget.
 * Entry:    ag_sigbudget_new(), ag_sigbudget_free(), ag_sigbudget_key(), ag_sigbudget_get(),
 *           ag_sigbudget_key_str().
 * Not here: what the counts decide (gateway/auth/authn.c), the client address rule
 *           (policy/client_addr.c).
 * Spec:     docs/keys.md "Floods of invalid tokens".
 */
#include "sigbudget.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "client_addr.h"

#define SB_SETS 64 /* power of two */
#define SB_WAYS 4

struct ag_sigbudget {
    uint64_t seed;
    struct ag_sigbudget_entry e[SB_SETS][SB_WAYS];
};

struct ag_sigbudget *ag_sigbudget_new(void)
{
    struct ag_sigbudget *b = calloc(1, sizeof(*b));

    if (b == NULL)
        return NULL;
    randombytes_buf(&b->seed, sizeof(b->seed));
    for (size_t s = 0; s < SB_SETS; s++)
        for (size_t i = 0; i < SB_WAYS; i++)
            b->e[s][i].win = -1; /* stale: any window differs */
    return b;
}

void ag_sigbudget_free(struct ag_sigbudget *b)
{
    free(b);
}

void ag_sigbudget_key(const struct ag_config *cfg, int family, const void *addr,
                      const struct ag_http1_head *h, unsigned char key[AG_SIGBUDGET_KEY])
{
    const unsigned char *a = addr;
    unsigned char buf[16];

    if (cfg->n_trusted_proxies > 0 && ag_config_trusted_proxy(cfg, family, addr)) {
        char peer[AG_CLIENT_ADDR_LEN], out[AG_CLIENT_ADDR_LEN];
        struct ag_str xff = {NULL, 0};
        int fam;

        for (size_t i = 0; i < h->nhdrs; i++)
            if (ag_str_ieq(h->hdrs[i].name, "X-Forwarded-For"))
                xff = h->hdrs[i].value; /* the last field, as ag_client_addr_pick() wants */
        if (inet_ntop(family, addr, peer, sizeof(peer)) == NULL)
            peer[0] = '\0';
        ag_client_addr_pick(cfg, family, addr, peer, xff, out);
        fam = strchr(out, ':') != NULL ? AF_INET6 : AF_INET;
        if (inet_pton(fam, out, buf) == 1) {
            family = fam;
            a = buf;
        }
    }
    memset(key, 0, AG_SIGBUDGET_KEY);
    if (family == AF_INET) {
        key[10] = key[11] = 0xff;
        memcpy(key + 12, a, 4);
    } else if (family == AF_INET6) {
        memcpy(key, a, 8); /* one /64: what a single IPv6 host is usually given */
    }
}

const char *ag_sigbudget_key_str(const unsigned char key[AG_SIGBUDGET_KEY], char *buf,
                                 size_t len)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    char a[INET6_ADDRSTRLEN];

    if (memcmp(key, mapped, sizeof(mapped)) == 0) {
        if (inet_ntop(AF_INET, key + 12, buf, (socklen_t)len) == NULL)
            snprintf(buf, len, "unknown");
    } else if (inet_ntop(AF_INET6, key, a, sizeof(a)) != NULL) {
        snprintf(buf, len, "%s/64", a);
    } else {
        snprintf(buf, len, "unknown");
    }
    return buf;
}

/* FNV-1a of <key>, started from the seed. */
static size_t sb_set(const struct ag_sigbudget *b, const unsigned char key[AG_SIGBUDGET_KEY])
{
    uint64_t h = 1469598103934665603ull ^ b->seed;

    for (size_t i = 0; i < AG_SIGBUDGET_KEY; i++) {
        h ^= key[i];
        h *= 1099511628211ull;
    }
    return (size_t)(h ^ (h >> 32)) & (SB_SETS - 1);
}

struct ag_sigbudget_entry *ag_sigbudget_get(struct ag_sigbudget *b,
                                            const unsigned char key[AG_SIGBUDGET_KEY],
                                            int64_t win)
{
    struct ag_sigbudget_entry *set = b->e[sb_set(b, key)], *e = NULL;

    for (size_t i = 0; i < SB_WAYS && e == NULL; i++)
        if (memcmp(set[i].key, key, AG_SIGBUDGET_KEY) == 0 && set[i].win >= 0)
            e = &set[i];
    if (e == NULL) {
        e = &set[0];
        for (size_t i = 0; i < SB_WAYS; i++) {
            if (set[i].win != win) {
                e = &set[i];
                break;
            }
            if (set[i].fails < e->fails)
                e = &set[i];
        }
        memcpy(e->key, key, AG_SIGBUDGET_KEY);
        e->win = -1;
    }
    if (e->win != win) {
        e->win = win;
        e->fails = 0;
        e->logged = false;
    }
    return e;
}
