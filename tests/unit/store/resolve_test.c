/*
 * tests/unit/store/resolve_test.c - mirrors store/resolve.c, and a store whose Redis is
 * named by host: the name is resolved while the loop goes on (a timer that must keep
 * ticking every 10 ms), a name that does not resolve and one that resolves too slowly
 * are reported, and a cancelled resolution never calls back.
 *
 * The DNS is this file's getaddrinfo(3), which the store's (and hiredis's) calls reach
 * instead of libc's: "slow.authgate.test" is 127.0.0.1 after 600 ms, "gone.authgate.test"
 * fails after 100 ms, "hang.authgate.test" answers after 3 s; other names go to libc. It
 * counts the lookups of each and those still running.
 */
#include <dlfcn.h>
#include <event2/event.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "redis.h"
#include "resolve.h"
#include "store.h"
#include "t.h"

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0)
        ;
}

static atomic_int slow_calls, gone_calls, hang_calls, fake_running;

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
    int (*next)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
    int rc;

    *(void **)&next = dlsym(RTLD_NEXT, "getaddrinfo"); /* POSIX's way round C's rule */
    if (node == NULL || strstr(node, ".authgate.test") == NULL)
        return next(node, service, hints, res);
    atomic_fetch_add(&fake_running, 1);
    if (strcmp(node, "slow.authgate.test") == 0) {
        atomic_fetch_add(&slow_calls, 1);
        sleep_ms(600);
        rc = next("127.0.0.1", service, hints, res);
    } else if (strcmp(node, "gone.authgate.test") == 0) {
        atomic_fetch_add(&gone_calls, 1);
        sleep_ms(100);
        rc = EAI_NONAME;
    } else if (strcmp(node, "hang.authgate.test") == 0) {
        atomic_fetch_add(&hang_calls, 1);
        sleep_ms(3000);
        rc = next("127.0.0.1", service, hints, res);
    } else {
        rc = EAI_NONAME;
    }
    atomic_fetch_sub(&fake_running, 1);
    return rc;
}

/* ---------------------------------------------------------------- a ticking loop */

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct ticker {
    struct event *ev;
    double last, max_gap;
    int ticks;
};

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct ticker *t = arg;
    double now = now_s();

    if (t->ticks > 0 && now - t->last > t->max_gap)
        t->max_gap = now - t->last;
    t->last = now;
    t->ticks++;
}

static void ticker_start(struct ticker *t, struct event_base *base)
{
    struct timeval ten_ms = {0, 10000};

    memset(t, 0, sizeof(*t));
    t->ev = event_new(base, -1, EV_PERSIST, on_tick, t);
    event_add(t->ev, &ten_ms);
}

/* ---------------------------------------------------------------- ag_resolve */

struct answer {
    int calls;
    char ip[AG_RESOLVE_IP_MAX];
    char why[128];
};

static void on_answer(const char *ip, const char *why, void *arg)
{
    struct answer *a = arg;

    a->calls++;
    snprintf(a->ip, sizeof(a->ip), "%s", ip != NULL ? ip : "");
    snprintf(a->why, sizeof(a->why), "%s", why != NULL ? why : "");
}

static void test_resolve_numeric_hosts_need_no_resolving(void)
{
    AG_ASSERT(ag_resolve_numeric("127.0.0.1"));
    AG_ASSERT(ag_resolve_numeric("::1"));
    AG_ASSERT(ag_resolve_numeric("2001:db8::7"));
    AG_ASSERT(!ag_resolve_numeric("localhost"));
    AG_ASSERT(!ag_resolve_numeric("redis.internal"));
    AG_ASSERT(!ag_resolve_numeric("127.0.0.1.example"));
    AG_ASSERT(!ag_resolve_numeric(""));
}

static void test_resolve_answers_while_the_loop_goes_on(void)
{
    struct event_base *base = event_base_new();
    struct answer a = {0};
    struct ticker t;

    ticker_start(&t, base);
    AG_ASSERT_NOT_NULL(ag_resolve_start(base, "slow.authgate.test", on_answer, &a));
    AG_ASSERT(ag_t_loop_until(base, &a.calls, 1, 3));
    AG_ASSERT_STR(a.ip, "127.0.0.1");
    AG_ASSERT(t.ticks >= 30);      /* 600 ms at 10 ms, give or take a slow machine */
    AG_ASSERT(t.max_gap < 0.3);    /* the loop was never held for the DNS */
    ag_t_loop_for(base, 0.05);
    AG_ASSERT_EQ(a.calls, 1);
    event_free(t.ev);
    AG_ASSERT_EQ(ag_t_loop_events(base), 0);
    event_base_free(base);
}

static void test_resolve_prefers_ipv4_as_hiredis_does(void)
{
    struct event_base *base = event_base_new();
    struct answer a = {0};

    /* /etc/hosts names localhost 127.0.0.1 and ::1: a Redis bound to 127.0.0.1 must work */
    AG_ASSERT_NOT_NULL(ag_resolve_start(base, "localhost", on_answer, &a));
    AG_ASSERT(ag_t_loop_until(base, &a.calls, 1, 3));
    AG_ASSERT_STR(a.ip, "127.0.0.1");
    AG_ASSERT_EQ(ag_t_loop_events(base), 0);
    event_base_free(base);
}

static void test_resolve_reports_a_name_that_does_not_resolve(void)
{
    struct event_base *base = event_base_new();
    struct answer a = {0};

    AG_ASSERT_NOT_NULL(ag_resolve_start(base, "gone.authgate.test", on_answer, &a));
    AG_ASSERT(ag_t_loop_until(base, &a.calls, 1, 3));
    AG_ASSERT_STR(a.ip, "");
    AG_ASSERT_STR(a.why, gai_strerror(EAI_NONAME));
    AG_ASSERT_EQ(ag_t_loop_events(base), 0);
    event_base_free(base);
}

static void test_resolve_cancelled_never_calls_back(void)
{
    struct event_base *base = event_base_new();
    struct answer a = {0};
    struct ag_resolve *r = ag_resolve_start(base, "slow.authgate.test", on_answer, &a);

    AG_ASSERT_NOT_NULL(r);
    ag_resolve_cancel(r);
    AG_ASSERT_EQ(ag_t_loop_events(base), 0); /* nothing of it on the loop now */
    ag_t_loop_for(base, 0.8);                /* the thread answers meanwhile, to nobody */
    AG_ASSERT_EQ(a.calls, 0);
    event_base_free(base);
}

static void test_resolve_refuses_a_name_too_long(void)
{
    struct event_base *base = event_base_new();
    char host[300];
    struct answer a = {0};

    memset(host, 'a', sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    AG_ASSERT_NULL(ag_resolve_start(base, host, on_answer, &a));
    AG_ASSERT_EQ(ag_t_loop_events(base), 0);
    event_base_free(base);
}

/* ---------------------------------------------------------------- a store named by host */

struct seen {
    int up, down;
    char why[200];
};

static void on_state(bool ready, const char *why, void *arg)
{
    struct seen *s = arg;

    if (ready)
        s->up++;
    else
        s->down++;
    snprintf(s->why, sizeof(s->why), "%s", why);
}

static struct ag_store *store_named_within(struct event_base *base, const char *host, int port,
                                           double connect_timeout, struct seen *s)
{
    char url[128];
    struct ag_store_opts o = {.url = url, .ns = "t", .connect_timeout = connect_timeout,
                              .command_timeout = 1, .on_state = on_state, .arg = s};

    snprintf(url, sizeof(url), "redis://%s:%d/0", host, port);
    return ag_store_new(base, &o);
}

static struct ag_store *store_named(struct event_base *base, const char *host, int port,
                                    struct seen *s)
{
    return store_named_within(base, host, port, 1, s);
}

static void test_store_named_by_host_connects_without_holding_the_loop(void)
{
    struct ag_t_redis r;
    struct event_base *base = event_base_new();
    struct seen s = {0};
    struct ticker t;
    struct ag_store *st;

    AG_ASSERT_EQ(ag_t_redis_start(&r, NULL, false), 0);
    ticker_start(&t, base);
    atomic_store(&slow_calls, 0);
    st = store_named(base, "slow.authgate.test", r.port, &s);
    AG_ASSERT_NOT_NULL(st);
    AG_ASSERT(ag_t_loop_until(base, &s.up, 1, 3));
    AG_ASSERT(ag_store_ready(st));
    AG_ASSERT(t.max_gap < 0.3); /* hiredis resolving it itself held the loop for 600 ms */
    AG_ASSERT_EQ(atomic_load(&slow_calls), 1); /* the command connection (no feed here) */
    /* Redis restarts: the reconnect resolves the name again (it may have moved), off the
     * loop again. */
    ag_t_redis_kill(&r);
    AG_ASSERT(ag_t_loop_until(base, &s.down, 1, 3));
    AG_ASSERT_EQ(ag_t_redis_restart(&r), 0);
    t.max_gap = 0;
    AG_ASSERT(ag_t_loop_until(base, &s.up, 2, 6));
    AG_ASSERT(t.max_gap < 0.3);
    AG_ASSERT(atomic_load(&slow_calls) >= 2);
    ag_store_free(st);
    event_free(t.ev);
    AG_ASSERT_EQ(ag_t_loop_events(base), 0);
    event_base_free(base);
    ag_t_redis_stop(&r);
}

static void test_store_named_by_a_host_that_does_not_resolve_says_so(void)
{
    struct event_base *base = event_base_new();
    struct seen s = {0};
    struct ag_store *st = store_named(base, "gone.authgate.test", 6379, &s);

    AG_ASSERT_NOT_NULL(st);
    AG_ASSERT(ag_t_loop_until(base, &s.down, 1, 3));
    AG_ASSERT(strstr(s.why, "cannot resolve gone.authgate.test") != NULL);
    AG_ASSERT(!ag_store_ready(st));
    ag_store_free(st);
    AG_ASSERT_EQ(ag_t_loop_events(base), 0);
    event_base_free(base);
}

static void test_store_resolving_longer_than_the_connect_timeout_gives_up(void)
{
    struct event_base *base = event_base_new();
    struct seen s = {0};
    double t0 = now_s();
    struct ag_store *st = store_named(base, "hang.authgate.test", 6379, &s);

    AG_ASSERT_NOT_NULL(st);
    AG_ASSERT(ag_t_loop_until(base, &s.down, 1, 3));
    AG_ASSERT(strstr(s.why, "resolving hang.authgate.test timed out") != NULL);
    AG_ASSERT(now_s() - t0 < 2.0); /* the connect timeout (1 s), not the DNS's 3 s */
    ag_store_free(st); /* its thread still asks: it finishes on its own */
    AG_ASSERT_EQ(ag_t_loop_events(base), 0);
    event_base_free(base);
}

/* A DNS that hangs: the link reports the timeout and asks again only once the one
 * resolution it has in flight answers, whatever its backoff says (no thread per retry). */
static void test_store_keeps_one_resolution_in_flight_per_connection(void)
{
    struct event_base *base = event_base_new();
    struct seen s = {0};
    struct ag_store *st;

    atomic_store(&hang_calls, 0);
    st = store_named_within(base, "hang.authgate.test", 6379, 0.1, &s);
    AG_ASSERT_NOT_NULL(st);
    ag_t_loop_for(base, 2.5); /* 0.1 s timeouts and 0.1-0.8 s backoffs: several retries */
    AG_ASSERT(s.down >= 1);
    AG_ASSERT(strstr(s.why, "resolving hang.authgate.test timed out") != NULL);
    AG_ASSERT_EQ(atomic_load(&hang_calls), 1); /* the command connection (pub/sub waits for it) */
    ag_store_free(st);
    AG_ASSERT_EQ(ag_t_loop_events(base), 0);
    event_base_free(base);
}

/* One timeout covers the name and the connect: a 600 ms name and a connect that never
 * completes (a full accept queue drops the SYN) give up after 1 s, not 1.6 s. */
static void test_store_connect_timeout_covers_the_resolution(void)
{
    struct event_base *base = event_base_new();
    struct seen s = {0};
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    int lfd = socket(AF_INET, SOCK_STREAM, 0), fill[4];
    double t0;
    struct ag_store *st;

    AG_ASSERT(lfd >= 0);
    AG_ASSERT_EQ(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    AG_ASSERT_EQ(listen(lfd, 0), 0);
    AG_ASSERT_EQ(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
    for (int i = 0; i < 4; i++) { /* never accepted: the queue is full, later SYNs dropped */
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(fill[i], (struct sockaddr *)&sa, sizeof(sa));
    }
    sleep_ms(50);
    t0 = now_s();
    st = store_named(base, "slow.authgate.test", ntohs(sa.sin_port), &s);
    AG_ASSERT_NOT_NULL(st);
    AG_ASSERT(ag_t_loop_until(base, &s.down, 1, 4));
    AG_ASSERT(strstr(s.why, "Redis connect timed out") != NULL);
    AG_ASSERT(now_s() - t0 < 1.35);
    ag_store_free(st);
    AG_ASSERT_EQ(ag_t_loop_events(base), 0);
    event_base_free(base);
    for (int i = 0; i < 4; i++)
        close(fill[i]);
    close(lfd);
}

int main(void)
{
    AG_RUN(test_resolve_numeric_hosts_need_no_resolving);
    AG_RUN(test_resolve_answers_while_the_loop_goes_on);
    AG_RUN(test_resolve_prefers_ipv4_as_hiredis_does);
    AG_RUN(test_resolve_reports_a_name_that_does_not_resolve);
    AG_RUN(test_resolve_cancelled_never_calls_back);
    AG_RUN(test_resolve_refuses_a_name_too_long);
    AG_RUN(test_store_named_by_host_connects_without_holding_the_loop);
    AG_RUN(test_store_named_by_a_host_that_does_not_resolve_says_so);
    AG_RUN(test_store_resolving_longer_than_the_connect_timeout_gives_up);
    AG_RUN(test_store_keeps_one_resolution_in_flight_per_connection);
    AG_RUN(test_store_connect_timeout_covers_the_resolution);
    /* Resolver threads of cancelled lookups finish on their own; before the leak check at
     * exit, they must have (each drops the last reference to its record). */
    for (int i = 0; i < 400 && atomic_load(&fake_running) > 0; i++)
        sleep_ms(10);
    sleep_ms(50);
    AG_ASSERT_EQ(atomic_load(&fake_running), 0);
    return ag_t_done();
}
