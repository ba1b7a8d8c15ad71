/*
 * store/resolve.c - a host name resolved on a thread of its own, the answer handed to the
 * loop through an eventfd (worker bases are built without libevent's locks, so another
 * thread may not activate their events).
 *
 * Owns:     struct ag_resolve: two references, the thread's and the loop's; the last one
 *           dropped closes the eventfd and frees it, so a cancel never waits for the DNS.
 * Entry:    see store/resolve.h.
 * Not here: the links that use it (store/link.c).
 * Spec:     docs/config.md "redis" (names); docs/redis-keys.md "Connections".
 */
#include "resolve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * Resolutions in flight in the process, at most: a DNS that hangs keeps its threads for
 * as long as its timeouts and search domains take (a minute is not rare), and a link
 * asks again after each connect timeout. store/link.c keeps one in flight per link; this
 * bounds the rest (sentinel connections move on to the next sentinel) and what a bug
 * could pile up. Far above what a start needs (4 connections per worker, twice on reload).
 */
#define RESOLVE_MAX_IN_FLIGHT 256

static atomic_int in_flight;

struct ag_resolve {
    atomic_int refs; /* the thread's and the loop's */
    int efd;
    struct event *ev; /* the loop's side: NULL once it has let go */
    ag_resolve_fn *fn;
    void *arg;
    char host[256];
    /* written by the thread before its eventfd write, read by the loop after its read */
    char ip[AG_RESOLVE_IP_MAX];
    char why[128];
    atomic_bool ok; /* stored last (release), loaded first (acquire): the fields above */
};

bool ag_resolve_numeric(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];

    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static void resolve_unref(struct ag_resolve *r)
{
    if (atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1) {
        close(r->efd);
        free(r);
    }
}

static void *resolve_thread(void *arg)
{
    struct ag_resolve *r = arg;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    uint64_t one = 1;
    int rc = getaddrinfo(r->host, NULL, &hints, &res);
    bool ok = false;

    /* IPv4 first, then IPv6, as hiredis itself asks; the second only when the name has no
     * IPv4 address (not after a DNS that failed or timed out: that would only double it). */
    if (rc == EAI_NONAME || rc == EAI_NODATA || rc == EAI_ADDRFAMILY) {
        hints.ai_family = AF_INET6;
        if (getaddrinfo(r->host, NULL, &hints, &res) == 0)
            rc = 0;
    }
    if (rc != 0) {
        snprintf(r->why, sizeof(r->why), "%s", gai_strerror(rc));
    } else {
        const void *a = res->ai_family == AF_INET6
                            ? (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr
                            : (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr;
        ok = inet_ntop(res->ai_family, a, r->ip, sizeof(r->ip)) != NULL;
        if (!ok)
            snprintf(r->why, sizeof(r->why), "unusable address");
        freeaddrinfo(res);
    }
    atomic_store_explicit(&r->ok, ok, memory_order_release);
    /* The eventfd write publishes ip/why/ok; the loop reads them after its read. */
    while (write(r->efd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
    resolve_unref(r);
    atomic_fetch_sub_explicit(&in_flight, 1, memory_order_relaxed);
    return NULL;
}

static void on_resolved(evutil_socket_t fd, short what, void *arg)
{
    struct ag_resolve *r = arg;
    ag_resolve_fn *fn = r->fn;
    void *fn_arg = r->arg;
    char ip[AG_RESOLVE_IP_MAX], why[128];
    bool ok;
    uint64_t n;

    if (read(fd, &n, sizeof(n)) < 0)
        return; /* EAGAIN: not yet (the event is persistent) */
    ok = atomic_load_explicit(&r->ok, memory_order_acquire);
    memcpy(ip, r->ip, sizeof(ip));
    memcpy(why, r->why, sizeof(why));
    event_free(r->ev);
    r->ev = NULL;
    resolve_unref(r);
    fn(ok ? ip : NULL, ok ? NULL : why, fn_arg);
}

struct ag_resolve *ag_resolve_start(struct event_base *base, const char *host,
                                    ag_resolve_fn *fn, void *arg)
{
    struct ag_resolve *r;
    pthread_attr_t attr;
    pthread_t t;
    int rc;

    if (strlen(host) >= sizeof(r->host))
        return NULL;
    if (atomic_fetch_add_explicit(&in_flight, 1, memory_order_relaxed) >= RESOLVE_MAX_IN_FLIGHT ||
        (r = calloc(1, sizeof(*r))) == NULL) {
        atomic_fetch_sub_explicit(&in_flight, 1, memory_order_relaxed);
        return NULL;
    }
    memcpy(r->host, host, strlen(host) + 1);
    r->fn = fn;
    r->arg = arg;
    atomic_init(&r->refs, 2);
    if ((r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
        free(r);
        atomic_fetch_sub_explicit(&in_flight, 1, memory_order_relaxed);
        return NULL;
    }
    r->ev = event_new(base, r->efd, EV_READ | EV_PERSIST, on_resolved, r);
    if (r->ev == NULL || event_add(r->ev, NULL) < 0 || pthread_attr_init(&attr) != 0)
        goto fail;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024); /* getaddrinfo and NSS modules, no more */
    rc = pthread_create(&t, &attr, resolve_thread, r);
    pthread_attr_destroy(&attr);
    if (rc != 0)
        goto fail;
    return r;
fail:
    if (r->ev != NULL)
        event_free(r->ev);
    close(r->efd);
    free(r);
    atomic_fetch_sub_explicit(&in_flight, 1, memory_order_relaxed);
    return NULL;
}

void ag_resolve_cancel(struct ag_resolve *r)
{
    if (r == NULL || r->ev == NULL)
        return;
    event_free(r->ev);
    r->ev = NULL;
    resolve_unref(r);
}
