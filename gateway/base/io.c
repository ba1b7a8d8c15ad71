/*
 * gateway/base/io.c - edge-triggered socket I/O on evbuffers (see io.h for the why).
 *
 * Owns:     the socket, both buffers and the SSL object of each struct ag_io, the spare
 *           buffers of a struct ag_io_spare.
 * Entry:    ag_io_open(), ag_io_connect(), ag_io_tls_start(), ag_io_read(), ag_io_flush(),
 *           ag_io_attach(), ag_io_detach(), ag_io_close().
 * Spec:     docs/architecture.md "I/O"; docs/tls.md.
 */
#include "io.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "base.h"

#define IO_READ_CHUNK 16384
#define IO_TLS_RECORD 16384 /* plaintext per SSL_write_ex(): one full TLS record */

int ag_io_buffers_new(struct ag_io *io)
{
    io->in = evbuffer_new();
    io->out = evbuffer_new();
    if (io->in != NULL && io->out != NULL)
        return 0;
    ag_io_buffers_free(io);
    return AG_ENOMEM;
}

void ag_io_buffers_free(struct ag_io *io)
{
    if (io->in)
        evbuffer_free(io->in);
    if (io->out)
        evbuffer_free(io->out);
    io->in = io->out = NULL;
}

/* Registers <fd>'s one event; the buffers are the caller's business. */
static int io_register(struct ag_io *io, struct event_base *base, evutil_socket_t fd,
                       event_callback_fn cb, void *arg, const struct timeval *tv)
{
    io->fd = fd;
    io->ssl = NULL;
    event_assign(&io->ev, base, fd, EV_READ | EV_WRITE | EV_CLOSED | EV_ET | EV_PERSIST, cb, arg);
    if (event_add(&io->ev, tv) < 0) {
        io->fd = -1;
        return AG_ENOMEM;
    }
    return 0;
}

int ag_io_open(struct ag_io *io, struct event_base *base, evutil_socket_t fd,
               event_callback_fn cb, void *arg, const struct timeval *tv)
{
    int one = 1;

    io->flags = 0; /* epoll reports bytes that arrived before the registration */
    io->in = io->out = NULL; /* detached until it has bytes to read or write */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return io_register(io, base, fd, cb, arg, tv);
}

void ag_io_spare_free(struct ag_io_spare *s)
{
    while (s->n > 0)
        evbuffer_free(s->buf[--s->n]);
}

int ag_io_connect(struct ag_io *io, struct event_base *base, const struct sockaddr *sa,
                  socklen_t salen, event_callback_fn cb, void *arg, const struct timeval *tv)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;

    if (fd < 0)
        return AG_EIO;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    io->flags = 0;
    if (connect(fd, sa, salen) < 0) {
        if (errno != EINPROGRESS) {
            int e = errno;
            close(fd);
            errno = e;
            return AG_EIO;
        }
        io->flags = AG_IO_F_CONNECTING;
    }
    if (ag_io_buffers_new(io) < 0) {
        close(fd);
        return AG_ENOMEM;
    }
    if (io_register(io, base, fd, cb, arg, tv) < 0) {
        ag_io_buffers_free(io); /* not registered */
        close(fd);
        return AG_ENOMEM;
    }
    return 0;
}

int ag_io_connect_done(struct ag_io *io)
{
    int err = 0;
    socklen_t len = sizeof(err);

    if (getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err == EINPROGRESS || err == EALREADY)
        return AG_AGAIN;
    io->flags &= ~AG_IO_F_CONNECTING;
    if (err != 0) {
        errno = err;
        return AG_EIO;
    }
    return 0;
}

void ag_io_timeout(struct ag_io *io, const struct timeval *tv)
{
    event_add(&io->ev, tv);
}

/*
 * Gives back space reserved for a read that brought nothing. An idle connection
 * must not keep a 16 KiB chain: draining an empty evbuffer frees its chains.
 */
static void io_unreserve(struct ag_io *io)
{
    if (evbuffer_get_length(io->in) == 0)
        evbuffer_drain(io->in, 0);
}

/*
 * First read into an empty buffer: through a per-thread scratch block, so that a
 * request or response head costs one right-sized chain (a small, cached allocation)
 * instead of a 16 KiB one, and a read that finds nothing allocates nothing. Returns
 * what read(2) did; the bytes are in io->in.
 */
static ssize_t io_read_small(struct ag_io *io, size_t want)
{
    static _Thread_local char scratch[IO_READ_CHUNK];
    ssize_t r;

    do
        r = read(io->fd, scratch, want);
    while (r < 0 && errno == EINTR);
    if (r > 0 && evbuffer_add(io->in, scratch, (size_t)r) < 0) {
        errno = ENOMEM;
        return -1;
    }
    return r;
}

/* ---------------------------------------------------------------- TLS */

int ag_io_tls_start(struct ag_io *io, struct ssl_ctx_st *ctx, const char *host)
{
    SSL *s = SSL_new(ctx);

    if (s == NULL || SSL_set_fd(s, io->fd) != 1)
        goto fail;
    if (host == NULL) {
        SSL_set_accept_state(s);
    } else {
        ASN1_OCTET_STRING *ip = a2i_IPADDRESS(host);

        SSL_set_connect_state(s);
        if (ip != NULL) {
            /* An address: checked against the IP SANs; SNI never carries one (RFC 6066 s.3). */
            ASN1_OCTET_STRING_free(ip);
            if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s), host) != 1)
                goto fail;
        } else if (SSL_set_tlsext_host_name(s, host) != 1 || SSL_set1_host(s, host) != 1) {
            goto fail;
        }
        if (SSL_set_alpn_protos(s, (const unsigned char *)"\x08http/1.1", 9) != 0)
            goto fail;
    }
    io->ssl = s;
    return 0;
fail:
    SSL_free(s);
    ERR_clear_error();
    return AG_ENOMEM;
}

const char *ag_io_tls_why(const struct ag_io *io)
{
    long v;

    if (io->ssl == NULL)
        return NULL;
    v = SSL_get_verify_result(io->ssl);
    if (v != X509_V_OK)
        return X509_verify_cert_error_string(v);
    return SSL_is_init_finished(io->ssl) ? "TLS error" : "TLS handshake failed";
}

/*
 * What SSL_get_error() says after a failed call on <io>: AG_AGAIN with <want_read_flag> or
 * <want_write_flag> set, 0 for the peer's close (close_notify, or a FIN), or AG_EIO.
 */
static int io_tls_error(struct ag_io *io, int rc, unsigned want_write_flag,
                        unsigned want_read_flag)
{
    switch (SSL_get_error(io->ssl, rc)) {
    case SSL_ERROR_WANT_READ:
        io->flags |= want_read_flag;
        return AG_AGAIN;
    case SSL_ERROR_WANT_WRITE:
        io->flags |= want_write_flag;
        return AG_AGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    default:
        /* a failed handshake, a bad record, a reset: the connection is over */
        io->flags |= AG_IO_F_TLS_FATAL;
        ERR_clear_error();
        errno = EPROTO;
        return AG_EIO;
    }
}

/*
 * ag_io_read() on TLS: SSL_read_ex() until it wants more bytes from the socket (which
 * is then drained: the edge rule holds) or <limit>. Record by record through a
 * per-thread block, as the first plain read does; the handshake runs in here too.
 */
static int io_read_tls(struct ag_io *io, size_t limit)
{
    static _Thread_local char scratch[IO_READ_CHUNK];
    int got = 0;

    io->flags &= ~AG_IO_F_TLS_RW;
    while (!(io->flags & AG_IO_F_EOF)) {
        size_t have = evbuffer_get_length(io->in), want, n = 0;
        int rc;

        if (have >= limit) {
            io->flags |= AG_IO_F_RREADY; /* maybe more inside the SSL object: come back */
            return got;
        }
        want = limit - have < sizeof(scratch) ? limit - have : sizeof(scratch);
        ERR_clear_error();
        rc = SSL_read_ex(io->ssl, scratch, want, &n);
        if (rc == 1) {
            if (evbuffer_add(io->in, scratch, n) < 0)
                return AG_ENOMEM;
            got += (int)n;
            continue;
        }
        rc = io_tls_error(io, rc, AG_IO_F_TLS_RW, 0);
        if (rc == 0)
            io->flags |= AG_IO_F_EOF; /* close_notify, or a FIN (SSL_OP_IGNORE_UNEXPECTED_EOF) */
        else if (rc == AG_EIO)
            return AG_EIO;
        io->flags &= ~AG_IO_F_RREADY;
        return got;
    }
    return got;
}

/* ag_io_flush() on TLS: a record at a time from the front of io->out. */
static int io_flush_tls(struct ag_io *io)
{
    size_t len;

    io->flags &= ~AG_IO_F_TLS_WR;
    while ((len = evbuffer_get_length(io->out)) > 0) {
        size_t n = len < IO_TLS_RECORD ? len : IO_TLS_RECORD, done = 0;
        /* A retry after WANT_WRITE passes the same bytes, maybe moved and with more behind
         * them: SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER (gateway/base/tls.c) allows both. */
        unsigned char *p = evbuffer_pullup(io->out, (ev_ssize_t)n);
        int rc;

        if (p == NULL)
            return AG_EIO;
        ERR_clear_error();
        rc = SSL_write_ex(io->ssl, p, n, &done);
        if (rc == 1) {
            evbuffer_drain(io->out, done);
            continue;
        }
        rc = io_tls_error(io, rc, AG_IO_F_WBLOCKED, AG_IO_F_WBLOCKED | AG_IO_F_TLS_WR);
        return rc == 0 ? AG_EIO : rc; /* the peer's close_notify: nothing more goes out */
    }
    io->flags &= ~AG_IO_F_WBLOCKED;
    return 0;
}

int ag_io_shutdown(struct ag_io *io)
{
    if (io->ssl != NULL && !(io->flags & AG_IO_F_TLS_FATAL) && SSL_is_init_finished(io->ssl) &&
        !(SSL_get_shutdown(io->ssl) & SSL_SENT_SHUTDOWN)) {
        ERR_clear_error();
        SSL_shutdown(io->ssl); /* our close_notify; theirs is not waited for */
        ERR_clear_error();
    }
    return shutdown(io->fd, SHUT_WR);
}

bool ag_io_idle_event(struct ag_io *io)
{
    char b;

    if (io->ssl != NULL) {
        size_t n = 0;
        ERR_clear_error();
        if (SSL_peek_ex(io->ssl, &b, 1, &n) == 1)
            return true;
        return io_tls_error(io, 0, 0, 0) != AG_AGAIN;
    }
    ssize_t r = recv(io->fd, &b, 1, MSG_PEEK);
    return !(r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
}

/* ---------------------------------------------------------------- reading and writing */

int ag_io_read(struct ag_io *io, size_t limit)
{
    struct evbuffer_iovec v[2];
    int got = 0;

    if (io->ssl != NULL)
        return io_read_tls(io, limit);
    while (!(io->flags & AG_IO_F_EOF)) {
        size_t have = evbuffer_get_length(io->in), want;
        ssize_t r;
        int n;

        if (have >= limit) {
            io->flags |= AG_IO_F_RREADY; /* resume later by calling again */
            return got;
        }
        want = limit - have < IO_READ_CHUNK ? limit - have : IO_READ_CHUNK;
        if (want < 1024)
            want = 1024;
        if (have == 0 && got == 0) {
            r = io_read_small(io, want);
            if (r < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    io->flags &= ~AG_IO_F_RREADY;
                    return got;
                }
                return errno == ENOMEM ? AG_ENOMEM : AG_EIO;
            }
            if (r == 0) {
                io->flags = (io->flags | AG_IO_F_EOF) & ~AG_IO_F_RREADY;
                return got;
            }
            got += (int)r;
            if ((size_t)r < want && !(io->flags & AG_IO_F_RDHUP)) {
                io->flags &= ~AG_IO_F_RREADY;
                return got;
            }
            continue; /* a full block: bulk data, read on straight into the buffer */
        }
        n = evbuffer_reserve_space(io->in, (ev_ssize_t)want, v, 2);
        if (n <= 0)
            return AG_ENOMEM;
        if (v[0].iov_len > want)
            v[0].iov_len = want, n = 1;
        else if (n == 2 && v[0].iov_len + v[1].iov_len > want)
            v[1].iov_len = want - v[0].iov_len;
        r = readv(io->fd, v, n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            io_unreserve(io);
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                io->flags &= ~AG_IO_F_RREADY;
                return got;
            }
            return AG_EIO;
        }
        if (r == 0) {
            io_unreserve(io);
            io->flags = (io->flags | AG_IO_F_EOF) & ~AG_IO_F_RREADY;
            return got;
        }
        /* Commit exactly r bytes across the vectors we handed in. */
        if ((size_t)r <= v[0].iov_len) {
            v[0].iov_len = (size_t)r;
            n = 1;
        } else {
            v[1].iov_len = (size_t)r - v[0].iov_len;
        }
        evbuffer_commit_space(io->in, v, n);
        got += (int)r;
        if ((size_t)r < want && !(io->flags & AG_IO_F_RDHUP)) {
            /* A short read drained the socket; a new edge comes with new bytes (and
             * EV_CLOSED with a FIN, so a FIN behind these bytes is not missed). */
            io->flags &= ~AG_IO_F_RREADY;
            return got;
        }
    }
    return got;
}

int ag_io_flush(struct ag_io *io)
{
    if (io->out == NULL)
        return 0; /* detached: nothing to write */
    if (io->ssl != NULL)
        return io_flush_tls(io);
    while (evbuffer_get_length(io->out) > 0) {
        /* Loop until EAGAIN: a write can be short for reasons other than a full socket
         * (iovec limits), and with edge triggering nothing would wake us up then. */
        int r = evbuffer_write(io->out, io->fd);

        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                io->flags |= AG_IO_F_WBLOCKED;
                return AG_AGAIN;
            }
            return AG_EIO;
        }
    }
    io->flags &= ~AG_IO_F_WBLOCKED;
    return 0;
}

size_t ag_io_pending(const struct ag_io *io)
{
    return io->out ? evbuffer_get_length(io->out) : 0;
}

void ag_io_close(struct ag_io *io)
{
    if (io->fd < 0 || !event_initialized(&io->ev)) {
        ag_io_buffers_free(io); /* closed, zeroed, or never registered: buffers at most */
        return;
    }
    event_del(&io->ev);
    if (io->ssl != NULL) {
        if (!(io->flags & AG_IO_F_TLS_FATAL) && SSL_is_init_finished(io->ssl) &&
            !(SSL_get_shutdown(io->ssl) & SSL_SENT_SHUTDOWN)) {
            ERR_clear_error();
            SSL_shutdown(io->ssl); /* a close_notify, best effort: never waited for */
        }
        SSL_free(io->ssl);
        ERR_clear_error();
        io->ssl = NULL;
    }
    if (io->fd >= 0)
        close(io->fd);
    io->fd = -1;
    ag_io_buffers_free(io);
}
