/*
 * tests/unit/gateway/io_test.c - mirrors the buffers part of gateway/base/io.c on a real
 * socket pair: a socket opened with ag_io_open() holds no buffer; ag_io_attach() gives
 * it two (spare ones first, the newest given back first), reads and writes then work;
 * ag_io_detach() keeps the (empty) buffers as spares up to AG_IO_SPARE and frees the
 * others; ag_io_close() closes a detached socket, and frees the buffers of an attached one. Run under ASan, a leak fails it.
 *
 * Owns:     one event base and socket pair per test, freed at its end.
 * Entry:    main().
 * Not here: when a connection attaches and detaches (gateway/core/conn.c: the
 *           integration tests, tests/integration/test_keepalive.py).
 * Spec:     docs/architecture.md "Memory of a connection".
 */
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "base.h"
#include "t.h"

static void on_io(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

struct pair {
    struct event_base *base;
    struct ag_io io;
    int peer; /* the other end */
};

static void pair_open(struct pair *p)
{
    int sv[2];

    memset(p, 0, sizeof(*p));
    p->base = event_base_new();
    AG_ASSERT_NOT_NULL(p->base);
    AG_ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    p->peer = sv[1];
    AG_ASSERT_EQ(ag_io_open(&p->io, p->base, sv[0], on_io, NULL, NULL), 0);
}

static void pair_close(struct pair *p)
{
    ag_io_close(&p->io);
    close(p->peer);
    event_base_free(p->base);
}

static void test_io_open_holds_no_buffer_until_attached(void)
{
    struct ag_io_spare s = {.n = 0};
    struct pair p;
    char got[8];

    pair_open(&p);
    AG_ASSERT_NULL(p.io.in);
    AG_ASSERT_NULL(p.io.out);
    AG_ASSERT_EQ(ag_io_pending(&p.io), 0);
    AG_ASSERT_EQ(ag_io_attach(&p.io, &s), 0);
    AG_ASSERT_NOT_NULL(p.io.in);
    AG_ASSERT_NOT_NULL(p.io.out);
    AG_ASSERT_EQ(write(p.peer, "ping", 4), 4);
    AG_ASSERT_EQ(ag_io_read(&p.io, 1024), 4);
    AG_ASSERT_EQ(evbuffer_get_length(p.io.in), 4);
    evbuffer_add(p.io.out, "pong", 4);
    AG_ASSERT_EQ(ag_io_flush(&p.io), 0);
    AG_ASSERT_EQ(read(p.peer, got, sizeof(got)), 4);
    AG_ASSERT_MEM(got, 4, "pong");
    pair_close(&p);
    ag_io_spare_free(&s);
}

static void test_io_detach_keeps_empty_buffers_and_attach_reuses_them(void)
{
    struct ag_io_spare s = {.n = 0};
    struct evbuffer *in, *out;
    struct pair p;

    pair_open(&p);
    AG_ASSERT_EQ(ag_io_attach(&p.io, &s), 0);
    in = p.io.in;
    out = p.io.out;
    ag_io_detach(&p.io, &s);
    AG_ASSERT_NULL(p.io.in);
    AG_ASSERT_NULL(p.io.out);
    AG_ASSERT_EQ(s.n, 2);
    AG_ASSERT_EQ(ag_io_attach(&p.io, &s), 0);
    AG_ASSERT_EQ(s.n, 0);
    AG_ASSERT(p.io.in == in && p.io.out == out); /* the same pair back, same roles */
    ag_io_detach(&p.io, &s);
    AG_ASSERT_EQ(s.n, 2);
    pair_close(&p);
    ag_io_spare_free(&s);
    AG_ASSERT_EQ(s.n, 0);
}

static void test_io_close_frees_attached_buffers_with_bytes(void)
{
    struct ag_io_spare s = {.n = 0};
    struct pair p;

    pair_open(&p);
    AG_ASSERT_EQ(ag_io_attach(&p.io, &s), 0);
    evbuffer_add(p.io.in, "left", 4);
    evbuffer_add(p.io.out, "over", 4);
    pair_close(&p); /* ASan: a leak of either fails the test */
    AG_ASSERT_NULL(p.io.in);
    AG_ASSERT_NULL(p.io.out);
    AG_ASSERT_EQ(s.n, 0);
}

static void test_io_spare_is_bounded(void)
{
    struct ag_io_spare s = {.n = 0};
    struct pair p[AG_IO_SPARE / 2 + 2];
    size_t n = sizeof(p) / sizeof(p[0]);

    for (size_t i = 0; i < n; i++) {
        pair_open(&p[i]);
        AG_ASSERT_EQ(ag_io_attach(&p[i].io, &s), 0);
    }
    for (size_t i = 0; i < n; i++)
        ag_io_detach(&p[i].io, &s);
    AG_ASSERT_EQ(s.n, AG_IO_SPARE); /* the rest were freed (ASan: no leak) */
    for (size_t i = 0; i < n; i++)
        AG_ASSERT(p[i].io.in == NULL && p[i].io.out == NULL);
    for (size_t i = 0; i < n; i++)
        pair_close(&p[i]);
    ag_io_spare_free(&s);
}

static void test_io_close_closes_a_detached_socket(void)
{
    struct pair p;
    int fd;
    char b;

    pair_open(&p);
    fd = p.io.fd;
    ag_io_close(&p.io);
    errno = 0;
    AG_ASSERT_EQ(fcntl(fd, F_GETFD), -1); /* closed, not leaked */
    AG_ASSERT_EQ(errno, EBADF);
    AG_ASSERT_EQ(read(p.peer, &b, 1), 0); /* the peer sees the EOF */
    ag_io_close(&p.io);                    /* closed already: nothing happens */
    close(p.peer);
    event_base_free(p.base);
}

int main(void)
{
    AG_RUN(test_io_open_holds_no_buffer_until_attached);
    AG_RUN(test_io_detach_keeps_empty_buffers_and_attach_reuses_them);
    AG_RUN(test_io_close_frees_attached_buffers_with_bytes);
    AG_RUN(test_io_spare_is_bounded);
    AG_RUN(test_io_close_closes_a_detached_socket);
    return ag_t_done();
}
