/*
 * tests/harness/redis.h - a real redis-server for tests: started on a free TCP port
 * (or a unix socket) in a temporary directory, stopped by PID at teardown.
 *
 * Use:  struct ag_t_redis r; ag_t_redis_start(&r, NULL, false); ... ag_t_redis_stop(&r);
 *       ag_t_loop_until() drives an event_base until a callback count is reached.
 * Needs redis-server on PATH (Debian's redis-server; CI installs it).
 */
#ifndef AG_TESTS_REDIS_H
#define AG_TESTS_REDIS_H

#include <stdbool.h>
#include <sys/types.h>

struct ag_t_redis {
    pid_t pid;          /* 0 while stopped */
    int port;           /* TCP port (0 with a unix socket) */
    bool unix_socket;
    char password[64];  /* requirepass, or empty */
    char dir[64];       /* the temporary directory (--dir) */
    char sock[128];     /* <dir>/redis.sock when unix_socket */
    char url[256];      /* the `redis` setting that reaches it (db 0) */
};

/** Starts redis-server (with requirepass <password> unless NULL) and waits for PING. 0 or -1. */
int ag_t_redis_start(struct ag_t_redis *r, const char *password, bool unix_socket);

/** Starts it again on the same port or socket after ag_t_redis_kill(). 0 or -1. */
int ag_t_redis_restart(struct ag_t_redis *r);

/** Stops the server (SIGTERM, wait) but keeps the directory for a restart. */
void ag_t_redis_kill(struct ag_t_redis *r);

/** SIGSTOP / SIGCONT: a server that accepts nothing and answers nothing. */
void ag_t_redis_pause(struct ag_t_redis *r);
void ag_t_redis_resume(struct ag_t_redis *r);

/** Runs one command synchronously (printf-like, hiredis format); returns the reply as text
 * in <out> (integers printed, arrays joined by '\n', errors prefixed "ERR:"). 0 or -1. */
int ag_t_redis_cmd(struct ag_t_redis *r, char *out, size_t cap, const char *fmt, ...);

/** Stops the server and removes its directory. */
void ag_t_redis_stop(struct ag_t_redis *r);

/* Event-loop helpers for async tests. */
struct event_base;

/** Runs <base> until *<count> >= <target> or <secs> pass; whether the target was reached. */
bool ag_t_loop_until(struct event_base *base, const int *count, int target, double secs);

/** Runs <base> for <secs>. */
void ag_t_loop_for(struct event_base *base, double secs);

/** Events still added to <base> (0 once everything was torn down). */
int ag_t_loop_events(struct event_base *base);

/** Seconds on a monotonic clock. */
double ag_t_now(void);

#endif
