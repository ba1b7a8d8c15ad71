/*
 * tests/harness/redis.c - launches and stops a real redis-server for the store tests.
 *
 * Owns:     the child process (by PID) and its temporary directory.
 * Entry:    ag_t_redis_start(), ag_t_redis_restart(), ag_t_redis_kill(), ag_t_redis_stop().
 * Not here: assertions (t.h).
 */
#include "redis.h"

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static redisContext *redis_connect(const struct ag_t_redis *r)
{
    struct timeval tv = {1, 0};

    if (r->unix_socket)
        return redisConnectUnixWithTimeout(r->sock, tv);
    return redisConnectWithTimeout("127.0.0.1", r->port, tv);
}

/* Waits until the server answers anything to PING (NOAUTH counts). */
static int wait_ping(const struct ag_t_redis *r)
{
    for (int i = 0; i < 500; i++) {
        redisContext *c = redis_connect(r);
        if (c != NULL && !c->err) {
            redisReply *rep = redisCommand(c, "PING");
            if (rep != NULL) {
                freeReplyObject(rep);
                redisFree(c);
                return 0;
            }
        }
        if (c != NULL)
            redisFree(c);
        usleep(10000);
    }
    return -1;
}

static int spawn(struct ag_t_redis *r)
{
    char port[16];
    const char *argv[24];
    int n = 0;
    pid_t pid;

    snprintf(port, sizeof(port), "%d", r->port);
    argv[n++] = "redis-server";
    argv[n++] = "--port";
    argv[n++] = port;
    argv[n++] = "--bind";
    argv[n++] = "127.0.0.1";
    argv[n++] = "--save";
    argv[n++] = "";
    argv[n++] = "--appendonly";
    argv[n++] = "no";
    argv[n++] = "--dir";
    argv[n++] = r->dir;
    argv[n++] = "--daemonize";
    argv[n++] = "no";
    if (r->unix_socket) {
        argv[n++] = "--unixsocket";
        argv[n++] = r->sock;
        argv[n++] = "--unixsocketperm";
        argv[n++] = "700";
    }
    if (r->password[0] != '\0') {
        argv[n++] = "--requirepass";
        argv[n++] = r->password;
    }
    argv[n] = NULL;
    fflush(stdout); /* or the child's freopen would print our buffer again */
    fflush(stderr);
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        FILE *devnull = freopen("/dev/null", "w", stdout);
        (void)devnull;
        execvp("redis-server", (char *const *)argv);
        _exit(127);
    }
    r->pid = pid;
    if (wait_ping(r) < 0) {
        ag_t_redis_kill(r);
        return -1;
    }
    return 0;
}

int ag_t_redis_start(struct ag_t_redis *r, const char *password, bool unix_socket)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->dir, sizeof(r->dir), "/tmp/ag-redis-XXXXXX");
    if (mkdtemp(r->dir) == NULL)
        return -1;
    r->unix_socket = unix_socket;
    if (password != NULL)
        snprintf(r->password, sizeof(r->password), "%s", password);
    if (unix_socket) {
        r->port = 0;
        snprintf(r->sock, sizeof(r->sock), "%s/redis.sock", r->dir);
        snprintf(r->url, sizeof(r->url), "unix://%s", r->sock);
    } else {
        r->port = free_port();
        if (r->port <= 0)
            return -1;
        if (password != NULL)
            snprintf(r->url, sizeof(r->url), "redis://:%s@127.0.0.1:%d/0", password, r->port);
        else
            snprintf(r->url, sizeof(r->url), "redis://127.0.0.1:%d/0", r->port);
    }
    return spawn(r);
}

int ag_t_redis_restart(struct ag_t_redis *r)
{
    if (r->pid != 0)
        return -1;
    return spawn(r);
}

void ag_t_redis_kill(struct ag_t_redis *r)
{
    if (r->pid <= 0)
        return;
    kill(r->pid, SIGCONT);
    kill(r->pid, SIGTERM);
    waitpid(r->pid, NULL, 0);
    r->pid = 0;
    if (r->unix_socket)
        unlink(r->sock);
}

void ag_t_redis_pause(struct ag_t_redis *r)
{
    if (r->pid > 0)
        kill(r->pid, SIGSTOP);
}

void ag_t_redis_resume(struct ag_t_redis *r)
{
    if (r->pid > 0)
        kill(r->pid, SIGCONT);
}

static void reply_text(const redisReply *rep, char *out, size_t cap)
{
    size_t used = 0;

    out[0] = '\0';
    switch (rep->type) {
    case REDIS_REPLY_INTEGER:
        snprintf(out, cap, "%lld", rep->integer);
        break;
    case REDIS_REPLY_NIL:
        snprintf(out, cap, "(nil)");
        break;
    case REDIS_REPLY_ERROR:
        snprintf(out, cap, "ERR:%s", rep->str);
        break;
    case REDIS_REPLY_ARRAY:
        for (size_t i = 0; i < rep->elements && used < cap; i++) {
            char one[512];
            reply_text(rep->element[i], one, sizeof(one));
            used += (size_t)snprintf(out + used, cap - used, "%s%s", i ? "\n" : "", one);
        }
        break;
    default:
        snprintf(out, cap, "%.*s", (int)rep->len, rep->str);
    }
}

int ag_t_redis_cmd(struct ag_t_redis *r, char *out, size_t cap, const char *fmt, ...)
{
    redisContext *c = redis_connect(r);
    redisReply *rep;
    va_list ap;

    if (c == NULL || c->err) {
        if (c != NULL)
            redisFree(c);
        return -1;
    }
    if (r->password[0] != '\0') {
        rep = redisCommand(c, "AUTH %s", r->password);
        if (rep != NULL)
            freeReplyObject(rep);
    }
    va_start(ap, fmt);
    rep = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (rep == NULL) {
        redisFree(c);
        return -1;
    }
    if (out != NULL)
        reply_text(rep, out, cap);
    freeReplyObject(rep);
    redisFree(c);
    return 0;
}

void ag_t_redis_stop(struct ag_t_redis *r)
{
    char path[160];

    ag_t_redis_kill(r);
    if (r->dir[0] == '\0')
        return;
    snprintf(path, sizeof(path), "%s/dump.rdb", r->dir);
    unlink(path);
    rmdir(r->dir);
    r->dir[0] = '\0';
}

/* ---------------------------------------------------------------- event loop */

#include <event2/event.h>

double ag_t_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
}

bool ag_t_loop_until(struct event_base *base, const int *count, int target, double secs)
{
    struct timeval tv = {0, 5000};
    struct event *tick = event_new(base, -1, EV_PERSIST, on_tick, NULL);
    double end = ag_t_now() + secs;

    event_add(tick, &tv);
    while ((count == NULL || *count < target) && ag_t_now() < end)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(tick);
    return count == NULL || *count >= target;
}

void ag_t_loop_for(struct event_base *base, double secs)
{
    {
        struct timeval tv = {0, 5000};
        struct event *tick = event_new(base, -1, EV_PERSIST, on_tick, NULL);
        double end = ag_t_now() + secs;

        event_add(tick, &tv);
        while (ag_t_now() < end)
            event_base_loop(base, EVLOOP_ONCE);
        event_free(tick);
    }
}

int ag_t_loop_events(struct event_base *base)
{
    event_base_loop(base, EVLOOP_NONBLOCK);
    return event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED);
}
