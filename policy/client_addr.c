/*
 * policy/client_addr.c - the client address of a request: the peer, or the walk of a
 * trusted proxy's X-Forwarded-For from the right.
 *
 * Owns:     nothing.
 * Entry:    ag_client_addr_pick().
 * Not here: the CIDR test (policy/config_users.c ag_config_trusted_proxy()), finding
 *           the field in a head (gateway/ep/endpoints.c).
 * Spec:     docs/config.md "trusted-proxies"; RFC 7239 s.5.2.
 */
#include "client_addr.h"

#include <string.h>

void ag_client_addr_pick(const struct ag_config *cfg, int family, const void *addr,
                         const char *peer_str, struct ag_str xff, char out[AG_CLIENT_ADDR_LEN])
{
    size_t n = strlen(peer_str);

    if (n >= AG_CLIENT_ADDR_LEN)
        n = AG_CLIENT_ADDR_LEN - 1;
    memcpy(out, peer_str, n);
    out[n] = '\0';
    if (cfg->n_trusted_proxies == 0 || !ag_config_trusted_proxy(cfg, family, addr))
        return;
    /* Each proxy appends the address it saw: the first untrusted one from the right is
     * the nearest hop nobody we trust vouches for. */
    while (xff.len > 0) {
        size_t end = xff.len, start;
        unsigned char a[16];
        char buf[AG_CLIENT_ADDR_LEN];
        int fam;

        while (end > 0 && xff.p[end - 1] == ' ')
            end--;
        start = end;
        while (start > 0 && xff.p[start - 1] != ',')
            start--;
        xff.len = start > 0 ? start - 1 : 0;
        while (start < end && xff.p[start] == ' ')
            start++;
        if (end - start == 0 || end - start >= sizeof(buf))
            return;
        memcpy(buf, xff.p + start, end - start);
        buf[end - start] = '\0';
        fam = strchr(buf, ':') ? AF_INET6 : AF_INET;
        if (inet_pton(fam, buf, a) != 1)
            return; /* not an address: keep what we have */
        memcpy(out, buf, end - start + 1);
        if (!ag_config_trusted_proxy(cfg, fam, a))
            return;
    }
}
