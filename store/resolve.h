/*
 * store/resolve.h - a host name resolved off the event loop: getaddrinfo(3) blocks for as
 * long as the DNS takes (seconds when a server is slow or gone), and a worker's loop serves
 * every request of that worker, so a Redis named by host is resolved on a thread of its
 * own and the answer comes back to the loop.
 *
 * Owns:     each struct ag_resolve, its thread and its eventfd, until both sides let go.
 * Entry:    ag_resolve_numeric(), ag_resolve_start(), ag_resolve_cancel().
 * Not here: when a connection resolves and what it does with the address (store/link.c,
 *           store/sentinel.c).
 * Spec:     docs/config.md "redis" (names); docs/redis-keys.md "Connections".
 */
#ifndef AG_STORE_RESOLVE_H
#define AG_STORE_RESOLVE_H

#include <stdbool.h>

#include <event2/event.h>

#define AG_RESOLVE_IP_MAX 46 /* INET6_ADDRSTRLEN */

struct ag_resolve;

/* The answer: <ip> (numeric, for redisAsyncConnect: the first IPv4 address, else the first
 * IPv6 one, the order hiredis asks in), or NULL and <why> (gai_strerror). */
typedef void ag_resolve_fn(const char *ip, const char *why, void *arg);

/** Whether <host> is an IPv4 or IPv6 address already (nothing to resolve). */
bool ag_resolve_numeric(const char *host);

/**
 * Starts resolving <host> (at most 255 bytes) on a thread of its own; <fn> runs once on
 * <base>'s loop with the first address, unless ag_resolve_cancel() comes first. NULL when
 * it cannot start (out of memory, threads or descriptors, or 256 resolutions in flight in
 * the process already): <fn> never runs.
 */
struct ag_resolve *ag_resolve_start(struct event_base *base, const char *host,
                                    ag_resolve_fn *fn, void *arg);

/**
 * <fn> will not run; the thread, if still asking, finishes on its own. Only before <fn>
 * has run: once it has, <r> is gone (the caller forgets it in <fn>).
 */
void ag_resolve_cancel(struct ag_resolve *r);

#endif
