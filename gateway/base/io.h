/*
 * gateway/base/io.h - non-blocking socket I/O the way nginx does it: one edge-triggered
 * event per socket registered once for both directions (no epoll_ctl per request),
 * reads that stop at a short read (no FIONREAD, no extra EAGAIN probe), and writes
 * attempted at once (an EV_WRITE edge is awaited only after the kernel said EAGAIN).
 * A TLS connection is the same struct ag_io with an SSL object: its reads and writes go
 * through SSL_read_ex() / SSL_write_ex(), and an OpenSSL WANT_READ / WANT_WRITE is
 * mapped onto the same one event (ag_io_event()).
 *
 * A client connection holds its two evbuffers only while it has something to do
 * (ag_io_attach(), ag_io_detach()): an idle one keeps none, and the worker keeps a few
 * spare ones for the next connection that gets bytes (struct ag_io_spare).
 *
 * Owns:     the socket, its event, its input and output evbuffers, the spare evbuffers.
 * Entry:    ag_io_open(), ag_io_connect(), ag_io_tls_start(), ag_io_read(), ag_io_flush(),
 *           ag_io_attach(), ag_io_detach(), ag_io_close().
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
struct ssl_st;
struct ssl_ctx_st;

/* An output over HIGH pauses the side that fills it until it drains below LOW. */
#define AG_IO_HIGH_WM (256 * 1024)
#define AG_IO_LOW_WM (64 * 1024)

#define AG_IO_F_EOF 0x0001        /* the peer closed its sending side (read returned 0) */
#define AG_IO_F_RREADY 0x0002     /* the socket may hold unread bytes: no edge will say so */
#define AG_IO_F_WBLOCKED 0x0004   /* the last write hit EAGAIN: wait for EV_WRITE */
#define AG_IO_F_CONNECTING 0x0008 /* a non-blocking connect is in progress */
#define AG_IO_F_RDHUP 0x0010      /* EPOLLRDHUP seen: read on to the EOF, a short read is not the end */
#define AG_IO_F_TLS_RW 0x0020     /* TLS: a read waits for the socket to be writable */
#define AG_IO_F_TLS_WR 0x0040     /* TLS: a write waits for the socket to be readable */
#define AG_IO_F_TLS_FATAL 0x0080  /* TLS: a fatal error; no close_notify may be sent */

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
    struct evbuffer *in;     /* both NULL while detached (ag_io_open(), ag_io_detach()) */
    struct evbuffer *out;
    struct event ev;         /* EV_READ|EV_WRITE|EV_CLOSED|EV_ET|EV_PERSIST */
    struct ssl_st *ssl;      /* TLS (ag_io_tls_start()), or NULL */
};

/* Empty evbuffers a worker keeps for its connections' next attach (one thread's own). */
#define AG_IO_SPARE 32
struct ag_io_spare {
    struct evbuffer *buf[AG_IO_SPARE];
    unsigned n;
};

/**
 * Takes over connected socket <fd> and registers it on <base> with callback
 * <cb>(<arg>) and inactivity timeout <tv> (NULL: none), detached: no buffers until
 * ag_io_attach(). Returns 0, or AG_ENOMEM / AG_EIO with <fd> left open for the caller
 * to close.
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
 * Starts TLS on the open <io> with a new SSL object of <ctx> (it holds a reference:
 * the connection keeps its context when a reload replaces it). <host> NULL: the server
 * side; else the client side, with SNI and the certificate checked against <host> (a
 * name, or an IP address). The handshake runs within the first reads and writes.
 * Returns 0 or AG_ENOMEM.
 */
int ag_io_tls_start(struct ag_io *io, struct ssl_ctx_st *ctx, const char *host);

/**
 * Why a TLS connection failed, for a message: the certificate check's verdict when it
 * refused the peer, else "TLS handshake failed" or "TLS error". NULL without TLS.
 */
const char *ag_io_tls_why(const struct ag_io *io);

/**
 * Notes what an event callback was told and returns what the callback should act on:
 * EV_CLOSED (the peer's FIN, which may sit behind data that a short read left unread)
 * makes the next read go on to the EOF. With TLS, a read that waited for writability
 * is resumed on EV_WRITE (AG_IO_F_RREADY), and a write that waited for readability
 * on EV_READ (EV_WRITE is added to the result).
 */
static inline short ag_io_event(struct ag_io *io, short what)
{
    if (what & EV_CLOSED)
        io->flags |= AG_IO_F_RDHUP | AG_IO_F_RREADY;
    if ((what & EV_WRITE) && (io->flags & AG_IO_F_TLS_RW))
        io->flags |= AG_IO_F_RREADY;
    if ((what & (EV_READ | EV_CLOSED)) && (io->flags & AG_IO_F_TLS_WR))
        what |= EV_WRITE;
    return what;
}

/** Re-arms the inactivity timeout (NULL: none). Cheap with libevent's common timeouts. */
void ag_io_timeout(struct ag_io *io, const struct timeval *tv);

/**
 * Reads into io->in while the socket has data and io->in holds less than <limit>
 * bytes. Returns the number of bytes read (>= 0; AG_IO_F_EOF tells of a close),
 * or AG_EIO on a socket error. AG_IO_F_RREADY stays set when it stopped at <limit>.
 */
int ag_io_read(struct ag_io *io, size_t limit);

/** Writes io->out. Returns 0 when it is empty (or detached), AG_AGAIN when the kernel is
 *  full, AG_EIO. */
int ag_io_flush(struct ag_io *io);

/** Half-closes the sending side (TLS: a close_notify first). Returns shutdown(2)'s result. */
int ag_io_shutdown(struct ag_io *io);

/**
 * Whether an idle connection (no request on it) has something to act on: bytes, an
 * EOF or an error. TLS records that carry no application data (session tickets) are
 * consumed and do not count. Costs a syscall; for the rare edges of an idle socket.
 */
bool ag_io_idle_event(struct ag_io *io);

/* ag_io_attach()'s and ag_io_detach()'s slow paths: new buffers, and freeing them. */
int ag_io_buffers_new(struct ag_io *io);
void ag_io_buffers_free(struct ag_io *io);

/**
 * Gives detached <io> its input and output buffers, spare ones of <s> first. 0, or
 * AG_ENOMEM (it stays detached). Nothing reads or writes <io> while it is detached.
 * Inline: a keep-alive connection attaches and detaches once per request.
 */
static inline int ag_io_attach(struct ag_io *io, struct ag_io_spare *s)
{
    if (s->n < 2)
        return ag_io_buffers_new(io);
    io->in = s->buf[--s->n];
    io->out = s->buf[--s->n];
    return 0;
}

/**
 * Detaches the buffers of attached <io>, both empty (the caller knows: an idle connection),
 * into <s>, or frees them when <s> is full. Nothing happens to the socket or its event.
 */
static inline void ag_io_detach(struct ag_io *io, struct ag_io_spare *s)
{
    if (s->n > AG_IO_SPARE - 2) {
        ag_io_buffers_free(io);
        return;
    }
    s->buf[s->n++] = io->out; /* ag_io_attach() takes the input first */
    s->buf[s->n++] = io->in;
    io->in = io->out = NULL;
}

/** Frees the spare buffers of <s> (the worker's end). */
void ag_io_spare_free(struct ag_io_spare *s);

/** Bytes waiting in io->out. */
size_t ag_io_pending(const struct ag_io *io);

/** Unregisters, closes the socket (TLS: a close_notify first, unless it failed), frees the
 *  buffers (if attached) and the SSL object. Safe on a zeroed or closed io. */
void ag_io_close(struct ag_io *io);

#endif
