/*
 * gateway/base/io.h - non-blocking socket I/O the way nginx does it: one edge-triggered
 * event per socket registered once for both directions (no epoll_ctl per request),
 * reads that stop at a short read (no FIONREAD, no extra EAGAIN probe), and writes
 * attempted at once (an EV_WRITE edge is awaited only after the kernel said EAGAIN).
 *
 * Owns:     the socket, its event, its input and output evbuffers.
 * Entry:    ag_io_open(), ag_io_connect(), ag_io_read(), ag_io_flush(), ag_io_close().
 * Not here: what the bytes mean (gateway/core/conn.c, gateway/core/proxy.c).
 */
#ifndef AG_GATEWAY_IO_H
#define AG_GATEWAY_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/event_struct.h>

struct evbuffer;

/* An output over HIGH pauses the side that fills it until it drains below LOW. */
#define AG_IO_HIGH_WM (256 * 1024)
#define AG_IO_LOW_WM (64 * 1024)

#define AG_IO_F_EOF 0x0001        /* the peer closed its sending side (read returned 0) */
#define AG_IO_F_RREADY 0x0002     /* the socket may hold unread bytes: no edge will say so */
#define AG_IO_F_WBLOCKED 0x0004   /* the last write hit EAGAIN: wait for EV_WRITE */
#define AG_IO_F_CONNECTING 0x0008 /* a non-blocking connect is in progress */
#define AG_IO_F_RDHUP 0x0010      /* EPOLLRDHUP seen: read on to the EOF, a short read is not the end */

/*
 * Event priorities of a worker's base (event_base_priority_init(AG_IO_NPRIO)). libevent
 * runs the active events of a loop pass in priority order, so an idle pooled upstream
 * connection (AG_IO_PRIO_IDLE) that got bytes or an EOF is dropped before any request of
 * the same pass can take it (gateway/core/upstream.c). Everything else is AG_IO_PRIO_NORMAL.
 */
#define AG_IO_PRIO_IDLE 0
#define AG_IO_PRIO_NORMAL 1
#define AG_IO_NPRIO 2

struct ag_io {
    evutil_socket_t fd;
    unsigned flags;          /* AG_IO_F_* */
    struct evbuffer *in;
    struct evbuffer *out;
    struct event ev;         /* EV_READ|EV_WRITE|EV_CLOSED|EV_ET|EV_PERSIST */
};

/**
 * Takes over connected socket <fd> and registers it on <base> with callback
 * <cb>(<arg>) and inactivity timeout <tv> (NULL: none). Returns 0, or AG_ENOMEM /
 * AG_EIO with <fd> left open for the caller to close.
 */
int ag_io_open(struct ag_io *io, struct event_base *base, evutil_socket_t fd,
               event_callback_fn cb, void *arg, const struct timeval *tv);

/**
 * Opens a socket and starts a non-blocking connect to <sa>. Returns 0 (connecting
 * or connected; AG_IO_F_CONNECTING tells which) or a negative AG_E* with errno set.
 */
int ag_io_connect(struct ag_io *io, struct event_base *base, const struct sockaddr *sa,
                  socklen_t salen, event_callback_fn cb, void *arg, const struct timeval *tv);

/** On EV_WRITE while connecting: 0 when the connect completed, AG_EIO (errno set) if it failed. */
int ag_io_connect_done(struct ag_io *io);

/**
 * Notes what an event callback was told: EV_CLOSED (the peer's FIN, which may sit
 * behind data that a short read left unread) makes the next read go on to the EOF.
 */
static inline void ag_io_event(struct ag_io *io, short what)
{
    if (what & EV_CLOSED)
        io->flags |= AG_IO_F_RDHUP | AG_IO_F_RREADY;
}

/** Re-arms the inactivity timeout (NULL: none). Cheap with libevent's common timeouts. */
void ag_io_timeout(struct ag_io *io, const struct timeval *tv);

/**
 * Reads into io->in while the socket has data and io->in holds less than <limit>
 * bytes. Returns the number of bytes read (>= 0; AG_IO_F_EOF tells of a close),
 * or AG_EIO on a socket error. AG_IO_F_RREADY stays set when it stopped at <limit>.
 */
int ag_io_read(struct ag_io *io, size_t limit);

/** Writes io->out. Returns 0 when it is empty, AG_AGAIN when the kernel is full, AG_EIO. */
int ag_io_flush(struct ag_io *io);

/** Bytes waiting in io->out. */
size_t ag_io_pending(const struct ag_io *io);

/** Unregisters, closes the socket, frees the buffers. Safe on a zeroed or closed io. */
void ag_io_close(struct ag_io *io);

#endif
