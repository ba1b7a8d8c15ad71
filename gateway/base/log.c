/*
 * gateway/base/log.c - error log to stderr (text or, with log-format "json", one object
 * per line) and the access-log writer thread.
 *
 * Owns:     the logger thread, the shared queue (mutex + condvar), the open file, the
 *           log format.
 * Entry:    ag_log(), ag_log_event_to(), ag_log_set_json(), ag_alog_open(), ag_alog_flush(),
 *           ag_alog_close().
 * Not here: access-line contents (gateway/core/req.c).
 *
 * Workers append lines to their own evbuffer and hand it over here in batches
 * (evbuffer_add_buffer moves chains, no copy); the thread does the write(2)s.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "base.h"

static const char *const level_names[] = {"debug", "info", "warn", "error"};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
    bool running;
    bool stop;
    int fd;           /* -1: off */
    bool own_fd;      /* we opened it (not stderr) */
    char *reopen;     /* path to re-open on the thread, or NULL */
    struct evbuffer *queue;
    struct evbuffer *errq; /* batched gateway log lines (audit events) for stderr */
} alog = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false, false, -1, false, NULL,
          NULL, NULL};

static atomic_bool log_json; /* log-format "json": set by the main thread, read by all */

void ag_log_set_json(bool on)
{
    atomic_store_explicit(&log_json, on, memory_order_relaxed);
}

/* Writes the current time as "YYYY-MM-DDTHH:MM:SS.mmmZ" into <out> (64 bytes). */
static void log_time(char out[64])
{
    struct timespec ts;
    struct tm tm;

    /* The second's text is made once a second per thread: a log line costs no printf. */
    static _Thread_local time_t sec = -1;
    static _Thread_local char day[48];
    static _Thread_local size_t daylen;
    long ms;

    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != sec) {
        gmtime_r(&ts.tv_sec, &tm);
        int n = snprintf(day, sizeof(day), "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        daylen = n > 0 && (size_t)n < sizeof(day) ? (size_t)n : 0;
        sec = ts.tv_sec;
    }
    ms = ts.tv_nsec / 1000000;
    memcpy(out, day, daylen);
    out[daylen] = '.';
    out[daylen + 1] = (char)('0' + ms / 100);
    out[daylen + 2] = (char)('0' + ms / 10 % 10);
    out[daylen + 3] = (char)('0' + ms % 10);
    out[daylen + 4] = 'Z';
    out[daylen + 5] = '\0';
}

/* Appends <p,n> to <line> holding <at> bytes, up to <cap> bytes in all; the new length. */
static size_t log_cat(char *line, size_t at, size_t cap, const char *p, size_t n)
{
    if (n > cap - at)
        n = cap - at;
    memcpy(line + at, p, n);
    return at + n;
}

/* A fixed line that JSON-escaped text is written into; what does not fit is left out. */
struct log_sink {
    char *p;
    size_t n, cap;
    bool full;
};

/* An ag_sink_fn into a struct log_sink: an escape (6 bytes at most) goes in whole or not
 * at all, so a cut line is still valid JSON; a run of plain bytes may be cut. */
static void log_sink_put(void *ctx, const char *p, size_t n)
{
    struct log_sink *k = ctx;
    size_t room = k->cap - k->n;

    if (k->full)
        return;
    if (n > room) {
        k->full = true;
        if (n <= 6 || (p[0] == '\\'))
            return;
        n = room;
    }
    memcpy(k->p + k->n, p, n);
    k->n += n;
}

/*
 * Formats one error-log line into <line> (1024 bytes) and returns its length: text,
 * "TIME LEVEL message\n", or with log-format "json" one object,
 * {"time":"TIME","level":"LEVEL","msg":"message"}\n, the message escaped.
 */
static size_t log_format(char *line, enum ag_log_level level, const char *fmt, va_list ap)
{
    size_t cap = 1024;
    char when[64], msg[1024];
    int n, m;

    log_time(when);
    if (atomic_load_explicit(&log_json, memory_order_relaxed)) {
        struct log_sink k = {line, 0, cap - 3, false};
        m = vsnprintf(msg, sizeof(msg), fmt, ap);
        n = snprintf(line, cap, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"", when,
                     level_names[level]);
        k.n = (size_t)n;
        ag_json_escape_to(log_sink_put, &k, msg, m < 0 ? 0 : strnlen(msg, sizeof(msg)), false);
        memcpy(line + k.n, "\"}\n", 3);
        return k.n + 3;
    }
    n = snprintf(line, cap, "%s %s ", when, level_names[level]);
    m = vsnprintf(line + n, cap - (size_t)n - 1, fmt, ap);
    if (m < 0)
        m = 0;
    n += m;
    if ((size_t)n > cap - 2)
        n = (int)cap - 2;
    line[n++] = '\n';
    return (size_t)n;
}

void ag_log(enum ag_log_level level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    size_t n;

    va_start(ap, fmt);
    n = log_format(line, level, fmt, ap);
    va_end(ap);
    if (write(STDERR_FILENO, line, n) < 0) {
        /* nowhere left to report it */
    }
}

void ag_log_to(struct evbuffer *buf, enum ag_log_level level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    size_t n;

    va_start(ap, fmt);
    n = log_format(line, level, fmt, ap);
    va_end(ap);
    evbuffer_add(buf, line, n);
}

void ag_log_event_to(struct evbuffer *buf, enum ag_log_level level, const char *what,
                     const char *obj, size_t len)
{
    char when[64];

    log_time(when);
    if (!atomic_load_explicit(&log_json, memory_order_relaxed)) {
        /* log_format()'s "TIME LEVEL what obj" (cut at 1022 bytes), without printf. */
        char line[1024];
        size_t n = 0, cap = sizeof(line) - 2;

        n = log_cat(line, n, cap, when, strlen(when));
        n = log_cat(line, n, cap, " ", 1);
        n = log_cat(line, n, cap, level_names[level], strlen(level_names[level]));
        n = log_cat(line, n, cap, " ", 1);
        n = log_cat(line, n, cap, what, strlen(what));
        n = log_cat(line, n, cap, " ", 1);
        n = log_cat(line, n, cap, obj, strnlen(obj, len));
        line[n++] = '\n';
        evbuffer_add(buf, line, n);
        return;
    }
    evbuffer_add_printf(buf, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\"%s", when,
                        level_names[level], what, len > 2 ? "," : "");
    evbuffer_add(buf, obj + 1, len - 1); /* its members and closing brace */
    evbuffer_add(buf, "\n", 1);
}

void ag_log_flush(struct evbuffer *buf)
{
    if (evbuffer_get_length(buf) == 0)
        return;
    if (!alog.running) {
        while (evbuffer_get_length(buf) > 0 && evbuffer_write(buf, STDERR_FILENO) > 0)
            ;
        evbuffer_drain(buf, evbuffer_get_length(buf));
        return;
    }
    pthread_mutex_lock(&alog.lock);
    evbuffer_add_buffer(alog.errq, buf);
    pthread_cond_signal(&alog.cond);
    pthread_mutex_unlock(&alog.lock);
}

static int alog_open_fd(const char *dest, bool *own)
{
    *own = false;
    if (strcmp(dest, "off") == 0)
        return -1;
    if (strcmp(dest, "stderr") == 0)
        return STDERR_FILENO;
    *own = true;
    return open(dest, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

static void *alog_main(void *arg)
{
    struct evbuffer *out = evbuffer_new(), *err = evbuffer_new();

    pthread_mutex_lock(&alog.lock);
    for (;;) {
        while (!alog.stop && alog.reopen == NULL && evbuffer_get_length(alog.queue) == 0 &&
               evbuffer_get_length(alog.errq) == 0)
            pthread_cond_wait(&alog.cond, &alog.lock);
        evbuffer_add_buffer(out, alog.queue);
        evbuffer_add_buffer(err, alog.errq);
        char *reopen = alog.reopen;
        bool stop = alog.stop;
        alog.reopen = NULL;
        pthread_mutex_unlock(&alog.lock);

        while (alog.fd >= 0 && evbuffer_get_length(out) > 0) {
            if (evbuffer_write(out, alog.fd) < 0 && errno != EINTR) {
                ag_log(AG_LOG_ERROR, "access log: write failed: %s", strerror(errno));
                break;
            }
        }
        evbuffer_drain(out, evbuffer_get_length(out));
        while (evbuffer_get_length(err) > 0 && evbuffer_write(err, STDERR_FILENO) > 0)
            ;
        evbuffer_drain(err, evbuffer_get_length(err));
        if (reopen != NULL) {
            bool own;
            int fd = alog_open_fd(reopen, &own);
            if (fd < 0 && strcmp(reopen, "off") != 0) {
                ag_log(AG_LOG_ERROR, "access log: cannot open %s: %s; keeping the old one",
                       reopen, strerror(errno));
            } else {
                if (alog.own_fd)
                    close(alog.fd);
                alog.fd = fd;
                alog.own_fd = own;
            }
            free(reopen);
        }
        pthread_mutex_lock(&alog.lock);
        if (stop)
            break;
    }
    pthread_mutex_unlock(&alog.lock);
    evbuffer_free(out);
    evbuffer_free(err);
    return arg;
}

int ag_alog_open(const char *dest)
{
    bool own;

    alog.fd = alog_open_fd(dest, &own);
    if (alog.fd < 0 && strcmp(dest, "off") != 0)
        return AG_EIO;
    alog.own_fd = own;
    alog.queue = evbuffer_new();
    alog.errq = evbuffer_new();
    alog.stop = false;
    if (alog.queue == NULL || alog.errq == NULL || pthread_create(&alog.thread, NULL, alog_main, NULL) != 0)
        return AG_EIO;
    alog.running = true;
    return 0;
}

int ag_alog_reopen(const char *dest)
{
    char *copy = strdup(dest);

    if (copy == NULL)
        return AG_ENOMEM;
    pthread_mutex_lock(&alog.lock);
    free(alog.reopen);
    alog.reopen = copy;
    pthread_cond_signal(&alog.cond);
    pthread_mutex_unlock(&alog.lock);
    return 0;
}

void ag_alog_flush(struct evbuffer *buf)
{
    if (evbuffer_get_length(buf) == 0)
        return;
    if (!alog.running) {
        evbuffer_drain(buf, evbuffer_get_length(buf));
        return;
    }
    pthread_mutex_lock(&alog.lock);
    evbuffer_add_buffer(alog.queue, buf);
    pthread_cond_signal(&alog.cond);
    pthread_mutex_unlock(&alog.lock);
}

void ag_alog_close(void)
{
    if (!alog.running)
        return;
    pthread_mutex_lock(&alog.lock);
    alog.stop = true;
    pthread_cond_signal(&alog.cond);
    pthread_mutex_unlock(&alog.lock);
    pthread_join(alog.thread, NULL);
    alog.running = false;
    if (alog.own_fd)
        close(alog.fd);
    alog.fd = -1;
    evbuffer_free(alog.queue);
    alog.queue = NULL;
    evbuffer_free(alog.errq);
    alog.errq = NULL;
    AG_FREE(alog.reopen);
}

/* An ag_sink_fn into an evbuffer. */
static void evbuffer_sink(void *buf, const char *p, size_t n)
{
    evbuffer_add(buf, p, n);
}

void ag_json_escape(struct evbuffer *buf, const char *s, size_t len)
{
    ag_json_escape_to(evbuffer_sink, buf, s, len, false);
}

void ag_json_escape_utf8(struct evbuffer *buf, const char *s, size_t len)
{
    ag_json_escape_to(evbuffer_sink, buf, s, len, true);
}
