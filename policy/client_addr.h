/*
 * policy/client_addr.h - which address a request comes from: the peer, or, behind
 * a trusted proxy, what X-Forwarded-For says.
 *
 * Owns:     nothing; the result goes to a caller buffer.
 * Entry:    ag_client_addr_pick().
 * Not here: parsing "trusted-proxies" and the CIDR test (policy/config_users.c),
 *           the X-Forwarded-For the gateway sends upstream (gateway/core/proxy.c).
 * Spec:     docs/users.md "Rate limits"; docs/config.md "trusted-proxies"; RFC 7239 s.5.2.
 */
#ifndef AG_POLICY_CLIENT_ADDR_H
#define AG_POLICY_CLIENT_ADDR_H

#include <arpa/inet.h>

#include "base.h"
#include "config.h"

/* Room for any address ag_client_addr_pick() writes, NUL included. */
#define AG_CLIENT_ADDR_LEN INET6_ADDRSTRLEN

/**
 * Writes the client's address into <out> (AG_CLIENT_ADDR_LEN bytes, NUL-terminated):
 * <peer_str> (the text of the peer <addr>, 4 or 16 bytes of <family>), or, when the peer
 * is in <cfg>'s trusted-proxies, the rightmost entry of <xff> (the value of the last
 * X-Forwarded-For field; p NULL when there is none) that is not a trusted proxy itself,
 * the leftmost when all are. The walk stops at the first entry that is empty, too long or
 * not an address, keeping the last address taken.
 */
void ag_client_addr_pick(const struct ag_config *cfg, int family, const void *addr,
                         const char *peer_str, struct ag_str xff, char out[AG_CLIENT_ADDR_LEN]);

#endif
