/*
 * tests/bench/refresh_floor.c - the floor under tests/bench/refresh.sh's gateway CPU per
 * refresh: a server that makes a refresh's system calls and nothing else.
 *
 * For each request (a head ending in an empty line; refresh.sh's requests have no body)
 * it sends one command to Redis, and when its reply comes, answers 200 with a body of
 * the gateway's size that holds "refresh_token" (refresh.lua follows it). One epoll
 * loop, one Redis connection, the commands of one loop iteration in one write, as the
 * gateway's store link does: read the request, write to Redis, read the reply, write the
 * answer, wait. No parsing beyond the empty line, no JWT, no JSON, no allocation per
 * request. The command is an EVAL that loops <loops> times in Redis, so that Redis (on
 * the load CPU with wrk) costs what the rotation script costs and the load has the same
 * shape (throughput, the gateway's share of a core) as refresh.sh's.
 *
 * Not a test: built by meson as bench_refresh_floor and run by refresh.sh with FLOOR=1
 * (tests/bench/README.md, "The refresh floor").
 *   bench_refresh_floor PORT REDIS_PORT [LOOPS [ANSWER_BYTES [COMMAND_BYTES]]]
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FD 1024
#define IN_MAX 8192

struct client {
    bool open;
    size_t in_len;
    char in[IN_MAX];
};

static struct client clients[MAX_FD];
static int waiting[MAX_FD]; /* the clients whose command is out, in order (a ring) */
static size_t wait_head, wait_len;
static char *out, *answer, *command;
static size_t out_len, out_cap, answer_len, command_len;
static char rbuf[65536];
static size_t rlen;

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static int listen_on(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 128) < 0)
        die("listen");
    return fd;
}

static int connect_to(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
        die("connect to redis");
    return fd;
}

/* The EVAL command: a loop of <loops> in Lua, and a padding argument up to <bytes>. */
static void make_command(long loops, size_t bytes)
{
    char script[128], head[256];
    int sl = snprintf(script, sizeof(script), "local x = 0 for i = 1, %ld do x = x + i end return 1",
                      loops);
    int hl = snprintf(head, sizeof(head), "*4\r\n$4\r\nEVAL\r\n$%d\r\n%s\r\n$1\r\n0\r\n", sl, script);
    size_t pad = bytes > (size_t)hl + 16 ? bytes - (size_t)hl - 16 : 1;
    char padhead[32];
    int pl = snprintf(padhead, sizeof(padhead), "$%zu\r\n", pad);

    command_len = (size_t)hl + (size_t)pl + pad + 2;
    if ((command = malloc(command_len)) == NULL)
        die("malloc");
    memcpy(command, head, (size_t)hl);
    memcpy(command + hl, padhead, (size_t)pl);
    memset(command + hl + pl, 'p', pad);
    memcpy(command + hl + pl + pad, "\r\n", 2);
}

/* A 200 of <bytes> in all whose JSON body names a refresh_token, as the gateway's does. */
static void make_answer(size_t bytes)
{
    const char *fmt = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
                      "Content-Length: %zu\r\n\r\n";
    const char *body_head = "{\"refresh_token\":\"floor\",\"pad\":\"";
    char head[256];
    size_t body = bytes > 160 ? bytes - 120 : 40, fill;
    int hl = snprintf(head, sizeof(head), fmt, body);

    fill = body - strlen(body_head) - 2;
    answer_len = (size_t)hl + body;
    if ((answer = malloc(answer_len)) == NULL)
        die("malloc");
    memcpy(answer, head, (size_t)hl);
    memcpy(answer + hl, body_head, strlen(body_head));
    memset(answer + hl + strlen(body_head), 'a', fill);
    memcpy(answer + answer_len - 2, "\"}", 2);
}

static void queue_command(int fd)
{
    if (out_len + command_len > out_cap) {
        out_cap = (out_len + command_len) * 2;
        if ((out = realloc(out, out_cap)) == NULL)
            die("realloc");
    }
    memcpy(out + out_len, command, command_len);
    out_len += command_len;
    waiting[(wait_head + wait_len++) % MAX_FD] = fd;
}

static void close_client(int ep, int fd)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    clients[fd].open = false;
}

/* Reads what <fd> sent; each complete head (up to its empty line) queues one command. */
static void on_client(int ep, int fd)
{
    struct client *c = &clients[fd];
    ssize_t n = read(fd, c->in + c->in_len, IN_MAX - c->in_len);
    char *end;

    if (n <= 0) {
        if (n < 0 && errno == EAGAIN)
            return;
        close_client(ep, fd);
        return;
    }
    c->in_len += (size_t)n;
    while ((end = memmem(c->in, c->in_len, "\r\n\r\n", 4)) != NULL) {
        size_t used = (size_t)(end + 4 - c->in);
        queue_command(fd);
        memmove(c->in, c->in + used, c->in_len - used);
        c->in_len -= used;
    }
    if (c->in_len == IN_MAX)
        close_client(ep, fd);
}

/* Each complete reply line (":1\r\n") answers the oldest waiting client. */
static void on_redis(int rfd)
{
    ssize_t n = read(rfd, rbuf + rlen, sizeof(rbuf) - rlen);
    char *p, *nl;

    if (n <= 0) {
        if (n < 0 && errno == EAGAIN)
            return;
        fprintf(stderr, "redis closed the connection\n");
        exit(1);
    }
    rlen += (size_t)n;
    p = rbuf;
    while ((nl = memchr(p, '\n', rlen - (size_t)(p - rbuf))) != NULL) {
        int fd = waiting[wait_head];
        if (*p != ':') {
            fprintf(stderr, "redis answered: %.*s\n", (int)(nl - p), p);
            exit(1);
        }
        wait_head = (wait_head + 1) % MAX_FD;
        wait_len--;
        if (clients[fd].open && write(fd, answer, answer_len) != (ssize_t)answer_len)
            fprintf(stderr, "short answer to %d\n", fd);
        p = nl + 1;
    }
    rlen -= (size_t)(p - rbuf);
    memmove(rbuf, p, rlen);
}

int main(int argc, char **argv)
{
    struct epoll_event ev, evs[64];
    int lfd, rfd, ep;

    if (argc < 3) {
        fprintf(stderr, "usage: %s PORT REDIS_PORT [LOOPS [ANSWER_BYTES [COMMAND_BYTES]]]\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    make_command(argc > 3 ? atol(argv[3]) : 2200, argc > 5 ? (size_t)atol(argv[5]) : 600);
    make_answer(argc > 4 ? (size_t)atol(argv[4]) : 900);
    lfd = listen_on(atoi(argv[1]));
    rfd = connect_to(atoi(argv[2]));
    if ((ep = epoll_create1(0)) < 0)
        die("epoll_create1");
    ev.events = EPOLLIN;
    ev.data.fd = lfd;
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    ev.data.fd = rfd;
    epoll_ctl(ep, EPOLL_CTL_ADD, rfd, &ev);
    for (;;) {
        int n = epoll_wait(ep, evs, 64, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == lfd) {
                int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
                if (c >= 0 && c < MAX_FD) {
                    int one = 1;
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    clients[c] = (struct client){.open = true};
                    ev.data.fd = c;
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
                } else if (c >= 0) {
                    close(c);
                }
            } else if (fd == rfd) {
                on_redis(rfd);
            } else {
                on_client(ep, fd);
            }
        }
        if (out_len > 0) { /* the iteration's commands, one write (blocking: Redis reads fast) */
            size_t done = 0;
            while (done < out_len) {
                ssize_t w = write(rfd, out + done, out_len - done);
                if (w <= 0)
                    die("write to redis");
                done += (size_t)w;
            }
            out_len = 0;
        }
    }
}
