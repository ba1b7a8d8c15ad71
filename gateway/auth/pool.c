/*
 * gateway/auth/pool.c - a fixed set of threads running blocking jobs (argon2id) from one
 * shared, bounded queue, and handing each finished job back to the event loop that
 * submitted it through that loop's inbox (a list plus an eventfd watched on the loop).
 *
 * Owns:     the threads, the queue, and per inbox its eventfd, its event and the list of
 *           finished jobs not yet delivered. Jobs themselves belong to their submitters.
 * Entry:    ag_pool_new(), ag_pool_inbox_new(), ag_pool_submit(), ag_pool_inbox_free(),
 *           ag_pool_free(), ag_pool_pending().
 * Not here: what jobs do (their owners), the loops (gateway/worker.c).
 */
#include "pool.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <event2/event.h>

#include "base.h"

#define POOL_DEFAULT_QUEUE 1024
/*
 * Pool threads run at this nice value (Linux nices threads one by one): when hashing and
 * the event loops want the same core, the loops win, so a burst of logins slows logins
 * (bounded by the queue) instead of proxied traffic. tests/bench/login_load.sh measures it.
 */
#define POOL_NICE 10

/*
 * One mutex guards everything below that a pool thread can touch: the queue, the
 * counters and every inbox's <done> list. Jobs are slow (tens of ms) and the critical
 * sections are a few pointer moves, so one lock costs nothing measurable.
 */
STAILQ_HEAD(pool_jobs, ag_pool_job); /* FIFO, oldest first (<sys/queue.h>) */

struct ag_pool {
    pthread_mutex_t mu;
    pthread_cond_t work_cv; /* a job was queued, or <stop> was set */
    pthread_cond_t idle_cv; /* a job finished running (ag_pool_inbox_free() waits on it) */
    struct pool_jobs queue; /* queued, not yet running */
    size_t n_queued;
    size_t max_queued;
    atomic_size_t pending; /* queued + running, read without the lock */
    size_t n_inboxes;
    bool stop;
    int n_threads; /* started, and to be joined */
    pthread_t *threads;
};

struct ag_pool_inbox {
    struct ag_pool *pool;
    int fd;           /* eventfd: non-zero while <done> may hold jobs */
    struct event *ev; /* EV_READ on <fd>, on the loop's base */
    struct pool_jobs done; /* finished, not delivered; under pool->mu */
    size_t n_running; /* jobs of this inbox in work() now; under pool->mu */
    bool closing;     /* ag_pool_inbox_free() started: submit refuses */
};

/* ------------------------------------------------------------------------------------------
 * Pool threads
 * ------------------------------------------------------------------------------------------ */

/* Appends <j> to <in>'s finished list and wakes its loop. Called with pool->mu held. */
static void pool_finish(struct ag_pool_inbox *in, struct ag_pool_job *j)
{
    uint64_t one = 1;
    bool was_empty = STAILQ_EMPTY(&in->done);

    STAILQ_INSERT_TAIL(&in->done, j, entry);
    /*
     * Written under the lock: once the lock is released, ag_pool_inbox_free() may close
     * <fd>. One write per empty-to-non-empty change is enough, because on_inbox_ready()
     * reads the eventfd before taking the list. The write cannot fail with EAGAIN: the
     * counter would have to reach 2^64-2.
     */
    if (was_empty && write(in->fd, &one, sizeof(one)) < 0) {
        /* Nothing to do from here; the job is delivered at the next wake or at free. */
    }
}

static void *pool_main(void *arg)
{
    struct ag_pool *p = arg;

    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), POOL_NICE) < 0) {
        /* not fatal: hashing then competes with the loops as an equal */
    }
    pthread_mutex_lock(&p->mu);
    for (;;) {
        struct ag_pool_job *j;
        struct ag_pool_inbox *in;

        while (!p->stop && STAILQ_EMPTY(&p->queue))
            pthread_cond_wait(&p->work_cv, &p->mu);
        if (p->stop)
            break;
        j = STAILQ_FIRST(&p->queue);
        STAILQ_REMOVE_HEAD(&p->queue, entry);
        p->n_queued--;
        in = j->inbox;
        in->n_running++;
        pthread_mutex_unlock(&p->mu);

        j->work(j);

        pthread_mutex_lock(&p->mu);
        in->n_running--;
        atomic_fetch_sub(&p->pending, 1);
        pool_finish(in, j);
        pthread_cond_broadcast(&p->idle_cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* ------------------------------------------------------------------------------------------
 * The pool
 * ------------------------------------------------------------------------------------------ */

/* Sets <stop>, wakes and joins every started thread, and frees <p>. */
static void pool_stop(struct ag_pool *p)
{
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->work_cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_threads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->idle_cv);
    pthread_cond_destroy(&p->work_cv);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p);
}

/*
 * Starts <threads> threads with every signal blocked (signals belong to the main
 * thread's loop, gateway/server.c), sharing a queue of at most <max_queued> waiting
 * jobs (0: 1024). Returns a new pool, or NULL when <threads> < 1 or on failure.
 */
struct ag_pool *ag_pool_new(int threads, size_t max_queued)
{
    struct ag_pool *p;
    sigset_t all, old;

    if (threads < 1)
        return NULL;
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->threads = calloc((size_t)threads, sizeof(*p->threads));
    if (p->threads == NULL) {
        free(p);
        return NULL;
    }
    STAILQ_INIT(&p->queue);
    p->max_queued = max_queued ? max_queued : POOL_DEFAULT_QUEUE;
    atomic_init(&p->pending, 0);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work_cv, NULL);
    pthread_cond_init(&p->idle_cv, NULL);

    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&p->threads[i], NULL, pool_main, p) != 0)
            break;
        p->n_threads = i + 1;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (p->n_threads != threads) {
        pool_stop(p);
        return NULL;
    }
    return p;
}

/*
 * Stops the threads once each has finished the job it is running, and frees <p>. Every
 * inbox must have been freed first, so the queue is empty and nothing is running.
 * NULL is allowed.
 */
void ag_pool_free(struct ag_pool *p)
{
    if (p == NULL)
        return;
    assert(p->n_inboxes == 0 && STAILQ_EMPTY(&p->queue));
    pool_stop(p);
}

/* Jobs queued or running now, over every inbox; a snapshot, for logs and tests. */
size_t ag_pool_pending(const struct ag_pool *p)
{
    return atomic_load(&((struct ag_pool *)p)->pending);
}

/* ------------------------------------------------------------------------------------------
 * Inboxes
 * ------------------------------------------------------------------------------------------ */

/* Moves the whole finished list of <in> to the empty <list> (order preserved). */
static void inbox_take(struct ag_pool_inbox *in, struct pool_jobs *list)
{
    pthread_mutex_lock(&in->pool->mu);
    STAILQ_CONCAT(list, &in->done);
    pthread_mutex_unlock(&in->pool->mu);
}

/*
 * Calls done() on each job of <list>, oldest first, with <cancelled> as given. A done()
 * may free its job, so each is taken off <list> first; <list> is left empty.
 */
static void inbox_deliver(struct pool_jobs *list, bool cancelled)
{
    struct ag_pool_job *j;

    while ((j = STAILQ_FIRST(list)) != NULL) {
        STAILQ_REMOVE_HEAD(list, entry);
        j->cancelled = cancelled;
        j->inbox = NULL;
        j->done(j);
    }
}

/* The eventfd of an inbox became readable: deliver what has finished, on the loop thread. */
static void on_inbox_ready(evutil_socket_t fd, short what, void *arg)
{
    struct ag_pool_inbox *in = arg;
    uint64_t v;
    struct pool_jobs list = STAILQ_HEAD_INITIALIZER(list);

    /* Read first, then take the list: a job finished in between re-arms the eventfd. */
    if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN) {
        /* EAGAIN: woken with nothing counted; any other error cannot happen on an eventfd */
    }
    inbox_take(in, &list);
    inbox_deliver(&list, false);
}

/*
 * A new inbox of <p> on <base>: jobs submitted to it complete (done() runs) on the
 * thread that runs <base>. Returns NULL on failure (eventfd or event allocation).
 */
struct ag_pool_inbox *ag_pool_inbox_new(struct ag_pool *p, struct event_base *base)
{
    struct ag_pool_inbox *in = calloc(1, sizeof(*in));

    if (in == NULL)
        return NULL;
    in->pool = p;
    STAILQ_INIT(&in->done);
    in->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (in->fd < 0)
        goto fail;
    in->ev = event_new(base, in->fd, EV_READ | EV_PERSIST, on_inbox_ready, in);
    if (in->ev == NULL || event_add(in->ev, NULL) < 0)
        goto fail;
    pthread_mutex_lock(&p->mu);
    p->n_inboxes++;
    pthread_mutex_unlock(&p->mu);
    return in;
fail:
    if (in->ev != NULL)
        event_free(in->ev);
    if (in->fd >= 0)
        close(in->fd);
    free(in);
    return NULL;
}

/*
 * Frees <in> on the thread of its loop (or after the loop stopped). Jobs of <in> still
 * queued are unlinked and get done() with <cancelled> set; jobs running are waited for;
 * then every finished job gets done() normally, before the cancelled ones. A done()
 * called from here must not submit to <in> (it is refused). NULL is allowed.
 */
void ag_pool_inbox_free(struct ag_pool_inbox *in)
{
    struct ag_pool *p;
    struct pool_jobs queued = STAILQ_HEAD_INITIALIZER(queued);
    struct pool_jobs cancelled = STAILQ_HEAD_INITIALIZER(cancelled);
    struct pool_jobs finished = STAILQ_HEAD_INITIALIZER(finished);
    struct ag_pool_job *j;

    if (in == NULL)
        return;
    p = in->pool;
    pthread_mutex_lock(&p->mu);
    in->closing = true;
    /* One pass over the queue: <in>'s jobs to <cancelled>, the others back in order. */
    STAILQ_CONCAT(&queued, &p->queue);
    while ((j = STAILQ_FIRST(&queued)) != NULL) {
        STAILQ_REMOVE_HEAD(&queued, entry);
        if (j->inbox != in) {
            STAILQ_INSERT_TAIL(&p->queue, j, entry);
            continue;
        }
        STAILQ_INSERT_TAIL(&cancelled, j, entry);
        p->n_queued--;
        atomic_fetch_sub(&p->pending, 1);
    }
    while (in->n_running > 0)
        pthread_cond_wait(&p->idle_cv, &p->mu);
    STAILQ_CONCAT(&finished, &in->done);
    p->n_inboxes--;
    pthread_mutex_unlock(&p->mu);

    /* No thread refers to <in> any more: the fd can go before the callbacks run. */
    event_free(in->ev);
    close(in->fd);
    inbox_deliver(&finished, false);
    inbox_deliver(&cancelled, true);
    free(in);
}

/*
 * Queues <j> (its work and done set) for <in>. Returns 0: done() will run exactly once,
 * on <in>'s loop thread (or from ag_pool_inbox_free()). AG_ETOOBIG: the queue already
 * holds max_queued waiting jobs, or <in> is being freed; done() never runs.
 */
int ag_pool_submit(struct ag_pool_inbox *in, struct ag_pool_job *j)
{
    struct ag_pool *p = in->pool;

    j->cancelled = false;
    j->inbox = in;
    pthread_mutex_lock(&p->mu);
    if (in->closing || p->n_queued >= p->max_queued) {
        pthread_mutex_unlock(&p->mu);
        j->inbox = NULL;
        return AG_ETOOBIG;
    }
    STAILQ_INSERT_TAIL(&p->queue, j, entry);
    p->n_queued++;
    atomic_fetch_add(&p->pending, 1);
    pthread_cond_signal(&p->work_cv);
    pthread_mutex_unlock(&p->mu);
    return 0;
}
