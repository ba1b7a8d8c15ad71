/*
 * gateway/auth/sigbudget.h - a worker's budget of failed asymmetric signature checks per
 * client address and window (rate-limits "invalid-signatures", 32 per second by default):
 * the bound on the work a flood of distinct invalid EdDSA, ES256 or RS256 tokens from one
 * address can cause (each costs 20-80 us of CPU, where a cached valid token costs none).
 *
 * Owns:     struct ag_sigbudget (a fixed table of addresses, one per worker).
 * Entry:    ag_sigbudget_new(), ag_sigbudget_free(), ag_sigbudget_key(), ag_sigbudget_get(),
 *           ag_sigbudget_key_str().
 * Not here: the per-connection count (struct ag_conn, counted by gateway/auth/authn.c),
 *           the answer (authn.c: 429 unchecked), the check itself (policy/jwt.c).
 * Spec:     docs/keys.md "Floods of invalid tokens"; docs/config.md "rate-limits".
 */
#ifndef AG_GATEWAY_SIGBUDGET_H
#define AG_GATEWAY_SIGBUDGET_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "http1.h"

#define AG_SIGBUDGET_KEY 16 /* an IPv4 address v4-mapped, or an IPv6 address's /64 */

/* One address's count in the current window. */
struct ag_sigbudget_entry {
    unsigned char key[AG_SIGBUDGET_KEY];
    int64_t win;    /* the window <fails> counts in (seconds since the epoch / its length) */
    uint32_t fails; /* failed asymmetric signature checks in that window */
    bool logged;    /* its refusal was logged in that window */
};

struct ag_sigbudget;

/** A worker's empty table (a random hash seed of its own). NULL on OOM. */
struct ag_sigbudget *ag_sigbudget_new(void);

/** Frees <b>. NULL allowed. */
void ag_sigbudget_free(struct ag_sigbudget *b);

/**
 * The key of the client address of a request from peer <addr> (4 or 16 bytes of
 * <family>) carrying the fields of <h>: the peer, or behind a trusted proxy what
 * X-Forwarded-For says (policy/client_addr.c); an IPv6 address counts by its /64.
 */
void ag_sigbudget_key(const struct ag_config *cfg, int family, const void *addr,
                      const struct ag_http1_head *h, unsigned char key[AG_SIGBUDGET_KEY]);

/** <key> as text for a log line ("203.0.113.7", "2001:db8:1:2::/64"). */
const char *ag_sigbudget_key_str(const unsigned char key[AG_SIGBUDGET_KEY], char *buf,
                                 size_t len);

/**
 * The entry of <key> in <b> for window <win> (its count restarted when its window is
 * over), taking the place of a stale or the least-failing entry of its set when absent.
 * Valid until the next call.
 */
struct ag_sigbudget_entry *ag_sigbudget_get(struct ag_sigbudget *b,
                                            const unsigned char key[AG_SIGBUDGET_KEY],
                                            int64_t win);

#endif
