/*
 * tests/unit/gateway/pool_test.c - mirrors gateway/auth/pool.c: done() on the loop thread,
 * many jobs over several threads and two loops, the bounded queue, first in first out,
 * and inbox_free cancelling queued jobs (in order), waiting for running ones and
 * delivering finished ones.
 *
 * Owns:     one pool, its inboxes and event_bases per test, freed at its end (the
 *           bases must have no events left; ASan/LSan check the rest).
 * Entry:    main().
 * Not here: what the gateway runs on the pool (password jobs: gateway/ep/endpoints.c).
 */
#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "base.h"
#include "t.h"

/* A job that records where and how it ran. */
struct tjob {
    struct ag_pool_job job; /* first: the pool hands this pointer back */
    pthread_t done_thread;
    pthread_t work_thread;
    int ran;    /* work() calls */
    int dones;  /* done() calls */
    int work_at; /* on_work_gated(): how many gated works started before this one */
    int done_at; /* on_done_count(): how many done() calls of its count came before */
    bool cancelled;
    struct tcount *count;
    unsigned long result;
};

/* What one loop's done() calls add up to; the loop stops when <want> is reached. */
struct tcount {
    struct event_base *base;
    int done;
    int want;
    int wrong_thread;
    pthread_t loop_thread;
};

static void on_work_sum(struct ag_pool_job *j)
{
    struct tjob *t = (struct tjob *)j;
    unsigned long s = 0;

    for (unsigned long i = 0; i < 1000; i++)
        s += i * i;
    t->result = s;
    t->work_thread = pthread_self();
    t->ran++;
}

static void on_done_count(struct ag_pool_job *j)
{
    struct tjob *t = (struct tjob *)j;
    struct tcount *c = t->count;

    t->done_thread = pthread_self();
    t->done_at = c->done;
    t->dones++;
    t->cancelled = j->cancelled;
    if (!pthread_equal(t->done_thread, c->loop_thread))
        c->wrong_thread++;
    if (++c->done == c->want)
        event_base_loopbreak(c->base);
}

/* A gate that blocks work() until opened from the test. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static bool gate_open;
static atomic_int gate_waiting;
static atomic_int gate_started; /* gated works started so far, over the whole run */

static void gate_set(bool open)
{
    pthread_mutex_lock(&gate_mu);
    gate_open = open;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
}

static void on_work_gated(struct ag_pool_job *j)
{
    struct tjob *t = (struct tjob *)j;

    t->work_at = atomic_fetch_add(&gate_started, 1);
    atomic_fetch_add(&gate_waiting, 1);
    pthread_mutex_lock(&gate_mu);
    while (!gate_open)
        pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
    atomic_fetch_sub(&gate_waiting, 1);
    t->work_thread = pthread_self();
    t->ran++;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits (up to 5 s) until <n> jobs block at the gate; returns whether they do. */
static bool wait_gate_waiting(int n)
{
    for (int i = 0; i < 5000 && atomic_load(&gate_waiting) != n; i++)
        sleep_ms(1);
    return atomic_load(&gate_waiting) == n;
}

/* Waits (up to 5 s) until <p> has <n> jobs queued or running; returns whether it has. */
static bool wait_pending(struct ag_pool *p, size_t n)
{
    for (int i = 0; i < 5000 && ag_pool_pending(p) != n; i++)
        sleep_ms(1);
    return ag_pool_pending(p) == n;
}

static struct event_base *base_new(void)
{
    struct event_config *ec = event_config_new();
    struct event_base *b;

    event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK);
    b = event_base_new_with_config(ec);
    event_config_free(ec);
    return b;
}

/* Frees <b> after checking that nothing is left on it. */
static void base_free(struct event_base *b)
{
    AG_ASSERT_EQ(event_base_get_num_events(b, EVENT_BASE_COUNT_ADDED), 0);
    event_base_free(b);
}

/* ------------------------------------------------------------------------------------------
 * Completion
 * ------------------------------------------------------------------------------------------ */

static void test_pool_done_runs_on_loop_thread_after_work(void)
{
    struct ag_pool *p = ag_pool_new(2, 0);
    struct event_base *b = base_new();
    struct ag_pool_inbox *in = ag_pool_inbox_new(p, b);
    struct tcount c = {.base = b, .want = 1, .loop_thread = pthread_self()};
    struct tjob t = {.job = {.work = on_work_sum, .done = on_done_count}, .count = &c};

    AG_ASSERT_NOT_NULL(p);
    AG_ASSERT_NOT_NULL(in);
    AG_ASSERT_EQ(ag_pool_submit(in, &t.job), 0);
    event_base_dispatch(b);
    AG_ASSERT_EQ(t.ran, 1);
    AG_ASSERT_EQ(t.dones, 1);
    AG_ASSERT(!t.cancelled);
    AG_ASSERT_EQ(t.result, 332833500UL);
    AG_ASSERT(pthread_equal(t.done_thread, pthread_self()));
    AG_ASSERT(!pthread_equal(t.work_thread, pthread_self()));
    AG_ASSERT_EQ(c.wrong_thread, 0);
    AG_ASSERT_EQ(ag_pool_pending(p), 0);
    ag_pool_inbox_free(in);
    ag_pool_free(p);
    base_free(b);
}

/* A second loop, on its own thread, with its own inbox. */
struct tloop {
    struct ag_pool *pool;
    struct tcount count;
    struct tjob *jobs;
    int n;
    int refused;
};

static void *loop_main(void *arg)
{
    struct tloop *l = arg;
    struct ag_pool_inbox *in;

    l->count.base = base_new();
    l->count.loop_thread = pthread_self();
    l->count.want = l->n;
    in = ag_pool_inbox_new(l->pool, l->count.base);
    for (int i = 0; i < l->n; i++) {
        l->jobs[i] = (struct tjob){.job = {.work = on_work_sum, .done = on_done_count},
                                   .count = &l->count};
        if (ag_pool_submit(in, &l->jobs[i].job) != 0)
            l->refused++;
    }
    if (l->refused == 0)
        event_base_dispatch(l->count.base);
    ag_pool_inbox_free(in);
    base_free(l->count.base);
    return NULL;
}

static void test_pool_runs_1000_jobs_over_4_threads_for_two_loops(void)
{
    enum { N = 1000 };
    struct ag_pool *p = ag_pool_new(4, 2 * N);
    static struct tjob a[N], b[N];
    struct tloop la = {.pool = p, .jobs = a, .n = N}, lb = {.pool = p, .jobs = b, .n = N};
    pthread_t ta, tb;
    int bad = 0;

    pthread_create(&ta, NULL, loop_main, &la);
    pthread_create(&tb, NULL, loop_main, &lb);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    AG_ASSERT_EQ(la.refused + lb.refused, 0);
    AG_ASSERT_EQ(la.count.done, N);
    AG_ASSERT_EQ(lb.count.done, N);
    AG_ASSERT_EQ(la.count.wrong_thread + lb.count.wrong_thread, 0);
    for (int i = 0; i < N; i++) {
        if (a[i].ran != 1 || a[i].dones != 1 || a[i].cancelled || a[i].result != 332833500UL)
            bad++;
        if (b[i].ran != 1 || b[i].dones != 1 || b[i].cancelled || b[i].result != 332833500UL)
            bad++;
    }
    AG_ASSERT_EQ(bad, 0);
    AG_ASSERT_EQ(ag_pool_pending(p), 0);
    ag_pool_free(p);
}

/* ------------------------------------------------------------------------------------------
 * The bounded queue
 * ------------------------------------------------------------------------------------------ */

static void test_pool_full_queue_refuses_with_toobig(void)
{
    struct ag_pool *p = ag_pool_new(1, 2);
    struct event_base *b = base_new();
    struct ag_pool_inbox *in = ag_pool_inbox_new(p, b);
    struct tcount c = {.base = b, .want = 3, .loop_thread = pthread_self()};
    struct tjob t[4];

    for (int i = 0; i < 4; i++)
        t[i] = (struct tjob){.job = {.work = on_work_gated, .done = on_done_count}, .count = &c};
    gate_set(false);
    AG_ASSERT_EQ(ag_pool_submit(in, &t[0].job), 0);
    AG_ASSERT(wait_gate_waiting(1)); /* running: out of the queue */
    AG_ASSERT_EQ(ag_pool_submit(in, &t[1].job), 0);
    AG_ASSERT_EQ(ag_pool_submit(in, &t[2].job), 0);
    AG_ASSERT_EQ(ag_pool_pending(p), 3);
    AG_ASSERT_EQ(ag_pool_submit(in, &t[3].job), AG_ETOOBIG);
    AG_ASSERT_EQ(ag_pool_pending(p), 3);
    gate_set(true);
    event_base_dispatch(b);
    AG_ASSERT_EQ(c.done, 3);
    AG_ASSERT_EQ(t[3].ran + t[3].dones, 0); /* refused: never runs */
    for (int i = 0; i < 3; i++)
        AG_ASSERT_EQ(t[i].ran * 10 + t[i].dones, 11);
    ag_pool_inbox_free(in);
    ag_pool_free(p);
    base_free(b);
}

/* One thread: jobs run in the order they were queued, and complete in that order (FIFO). */
static void test_pool_runs_and_delivers_jobs_in_submission_order(void)
{
    struct ag_pool *p = ag_pool_new(1, 0);
    struct event_base *b = base_new();
    struct ag_pool_inbox *in = ag_pool_inbox_new(p, b);
    struct tcount c = {.base = b, .want = 5, .loop_thread = pthread_self()};
    struct tjob t[5];
    int first;

    for (int i = 0; i < 5; i++)
        t[i] = (struct tjob){.job = {.work = on_work_gated, .done = on_done_count}, .count = &c};
    gate_set(false);
    first = atomic_load(&gate_started);
    AG_ASSERT_EQ(ag_pool_submit(in, &t[0].job), 0);
    AG_ASSERT(wait_gate_waiting(1)); /* running: the others queue behind it */
    for (int i = 1; i < 5; i++)
        AG_ASSERT_EQ(ag_pool_submit(in, &t[i].job), 0);
    gate_set(true);
    event_base_dispatch(b);
    AG_ASSERT_EQ(c.done, 5);
    for (int i = 0; i < 5; i++) {
        AG_ASSERT_EQ(t[i].work_at - first, i);
        AG_ASSERT_EQ(t[i].done_at, i);
    }
    ag_pool_inbox_free(in);
    ag_pool_free(p);
    base_free(b);
}

/* ------------------------------------------------------------------------------------------
 * Freeing an inbox
 * ------------------------------------------------------------------------------------------ */

/* Opens the gate once only the running job is left in the pool (the queued ones are gone). */
static void *open_gate_when_unqueued(void *arg)
{
    struct ag_pool *p = arg;

    wait_pending(p, 1);
    gate_set(true);
    return NULL;
}

static void test_pool_inbox_free_cancels_queued_and_waits_for_running(void)
{
    struct ag_pool *p = ag_pool_new(1, 0);
    struct event_base *b = base_new();
    struct ag_pool_inbox *in = ag_pool_inbox_new(p, b);
    struct tcount c = {.base = b, .want = -1, .loop_thread = pthread_self()};
    struct tjob t[4];
    pthread_t opener;

    for (int i = 0; i < 4; i++)
        t[i] = (struct tjob){.job = {.work = on_work_gated, .done = on_done_count}, .count = &c};
    gate_set(false);
    AG_ASSERT_EQ(ag_pool_submit(in, &t[0].job), 0);
    AG_ASSERT(wait_gate_waiting(1));
    for (int i = 1; i < 4; i++)
        AG_ASSERT_EQ(ag_pool_submit(in, &t[i].job), 0);
    AG_ASSERT_EQ(ag_pool_pending(p), 4);
    pthread_create(&opener, NULL, open_gate_when_unqueued, p);
    ag_pool_inbox_free(in); /* the loop never ran: everything is delivered from here */
    pthread_join(opener, NULL);

    AG_ASSERT_EQ(c.done, 4);
    AG_ASSERT_EQ(c.wrong_thread, 0);
    AG_ASSERT_EQ(t[0].ran, 1); /* was running: waited for, done normally */
    AG_ASSERT_EQ(t[0].dones, 1);
    AG_ASSERT(!t[0].cancelled);
    for (int i = 1; i < 4; i++) {
        AG_ASSERT_EQ(t[i].ran, 0);
        AG_ASSERT_EQ(t[i].dones, 1);
        AG_ASSERT(t[i].cancelled);
    }
    AG_ASSERT_EQ(ag_pool_pending(p), 0);
    ag_pool_free(p);
    base_free(b);
}

static void test_pool_inbox_free_delivers_finished_jobs(void)
{
    struct ag_pool *p = ag_pool_new(2, 0);
    struct event_base *b = base_new();
    struct ag_pool_inbox *in = ag_pool_inbox_new(p, b);
    struct tcount c = {.base = b, .want = -1, .loop_thread = pthread_self()};
    struct tjob t[3];

    for (int i = 0; i < 3; i++) {
        t[i] = (struct tjob){.job = {.work = on_work_sum, .done = on_done_count}, .count = &c};
        AG_ASSERT_EQ(ag_pool_submit(in, &t[i].job), 0);
    }
    AG_ASSERT(wait_pending(p, 0)); /* finished, not delivered: no loop ran */
    AG_ASSERT_EQ(c.done, 0);
    ag_pool_inbox_free(in);
    AG_ASSERT_EQ(c.done, 3);
    for (int i = 0; i < 3; i++) {
        AG_ASSERT_EQ(t[i].ran, 1);
        AG_ASSERT_EQ(t[i].dones, 1);
        AG_ASSERT(!t[i].cancelled);
    }
    ag_pool_free(p);
    base_free(b);
}

/* Jobs of another inbox stay queued and run when one inbox is freed. */
static void test_pool_inbox_free_leaves_other_inboxes_jobs(void)
{
    struct ag_pool *p = ag_pool_new(1, 0);
    struct event_base *b = base_new();
    struct ag_pool_inbox *in1 = ag_pool_inbox_new(p, b), *in2 = ag_pool_inbox_new(p, b);
    struct tcount c = {.base = b, .want = -1, .loop_thread = pthread_self()};
    struct tjob t[5];

    for (int i = 0; i < 5; i++)
        t[i] = (struct tjob){.job = {.work = on_work_gated, .done = on_done_count}, .count = &c};
    gate_set(false);
    AG_ASSERT_EQ(ag_pool_submit(in2, &t[0].job), 0);
    AG_ASSERT(wait_gate_waiting(1));
    AG_ASSERT_EQ(ag_pool_submit(in2, &t[1].job), 0);
    AG_ASSERT_EQ(ag_pool_submit(in1, &t[2].job), 0);
    AG_ASSERT_EQ(ag_pool_submit(in2, &t[3].job), 0);
    AG_ASSERT_EQ(ag_pool_submit(in1, &t[4].job), 0);
    ag_pool_inbox_free(in1); /* nothing of in1 runs: both its jobs are cancelled */
    AG_ASSERT_EQ(c.done, 2);
    AG_ASSERT(t[2].cancelled && t[4].cancelled);
    AG_ASSERT_EQ(ag_pool_pending(p), 3);
    gate_set(true);
    c.want = 5;
    event_base_dispatch(b);
    AG_ASSERT_EQ(c.done, 5);
    AG_ASSERT(!t[0].cancelled && !t[1].cancelled && !t[3].cancelled);
    AG_ASSERT_EQ(t[0].ran + t[1].ran + t[3].ran, 3);
    ag_pool_inbox_free(in2);
    ag_pool_free(p);
    base_free(b);
}

/*
 * Freeing one inbox takes its queued jobs out in one pass: they are cancelled oldest
 * first, and the jobs of the other inbox keep their order in the queue.
 */
static void test_pool_inbox_free_keeps_the_order_of_cancelled_and_remaining_jobs(void)
{
    struct ag_pool *p = ag_pool_new(1, 0);
    struct event_base *b = base_new();
    struct ag_pool_inbox *in1 = ag_pool_inbox_new(p, b), *in2 = ag_pool_inbox_new(p, b);
    struct tcount c1 = {.base = b, .want = -1, .loop_thread = pthread_self()};
    struct tcount c2 = {.base = b, .want = 4, .loop_thread = pthread_self()};
    struct tjob t[6];
    /* t[0] runs; then in the queue: t1 (in2) t2 (in1) t3 (in2) t4 (in1) t5 (in2) */
    struct ag_pool_inbox *to[6] = {in2, in2, in1, in2, in1, in2};
    int first;

    for (int i = 0; i < 6; i++)
        t[i] = (struct tjob){.job = {.work = on_work_gated, .done = on_done_count},
                             .count = to[i] == in1 ? &c1 : &c2};
    gate_set(false);
    first = atomic_load(&gate_started);
    for (int i = 0; i < 6; i++) {
        AG_ASSERT_EQ(ag_pool_submit(to[i], &t[i].job), 0);
        if (i == 0)
            AG_ASSERT(wait_gate_waiting(1));
    }
    ag_pool_inbox_free(in1);
    AG_ASSERT_EQ(c1.done, 2);
    AG_ASSERT(t[2].cancelled && t[4].cancelled);
    AG_ASSERT_EQ(t[2].done_at, 0);
    AG_ASSERT_EQ(t[4].done_at, 1);
    gate_set(true);
    event_base_dispatch(b);
    AG_ASSERT_EQ(c2.done, 4);
    AG_ASSERT_EQ(t[0].work_at - first, 0);
    AG_ASSERT_EQ(t[1].work_at - first, 1);
    AG_ASSERT_EQ(t[3].work_at - first, 2);
    AG_ASSERT_EQ(t[5].work_at - first, 3);
    AG_ASSERT_EQ(t[1].done_at, 1);
    AG_ASSERT_EQ(t[3].done_at, 2);
    AG_ASSERT_EQ(t[5].done_at, 3);
    ag_pool_inbox_free(in2);
    ag_pool_free(p);
    base_free(b);
}

static void test_pool_new_refuses_zero_threads_and_free_accepts_null(void)
{
    AG_ASSERT_NULL(ag_pool_new(0, 0));
    ag_pool_free(NULL);
    ag_pool_inbox_free(NULL);
}

int main(void)
{
    AG_RUN(test_pool_done_runs_on_loop_thread_after_work);
    AG_RUN(test_pool_runs_1000_jobs_over_4_threads_for_two_loops);
    AG_RUN(test_pool_full_queue_refuses_with_toobig);
    AG_RUN(test_pool_runs_and_delivers_jobs_in_submission_order);
    AG_RUN(test_pool_inbox_free_cancels_queued_and_waits_for_running);
    AG_RUN(test_pool_inbox_free_delivers_finished_jobs);
    AG_RUN(test_pool_inbox_free_leaves_other_inboxes_jobs);
    AG_RUN(test_pool_inbox_free_keeps_the_order_of_cancelled_and_remaining_jobs);
    AG_RUN(test_pool_new_refuses_zero_threads_and_free_accepts_null);
    return ag_t_done();
}
