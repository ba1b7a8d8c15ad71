/*
 * gateway/base/tls.h - the OpenSSL contexts of a generation: the server side of the
 * tls-listen listeners (certificate, key, versions, ALPN, session tickets) and the
 * client side of https upstreams (verification against the system's CAs or
 * upstream-ca-file). Built at generation load, in the main thread: reading the files
 * never happens on a worker's loop.
 *
 * Owns:     the SSL_CTX objects it returns (one reference each, freed by SSL_CTX_free());
 *           the process's session-ticket keys, shared by every worker and generation and
 *           rotated here.
 * Entry:    ag_tls_server_ctx(), ag_tls_client_ctx().
 * Not here: reading and writing through an SSL object (gateway/base/io.c), which
 *           listener or upstream uses TLS (gateway/worker.c, gateway/core/upstream.c).
 * Spec:     CONTRACT.md section 10; docs/tls.md.
 */
#ifndef AG_GATEWAY_TLS_H
#define AG_GATEWAY_TLS_H

#include <openssl/ssl.h>

#include "base.h"
#include "config.h"

/* Session-ticket keys: a new one each period; the one before still decrypts. */
#define AG_TLS_TICKET_PERIOD_S 3600

/**
 * A server context for <cfg>'s tls-cert-file and tls-key-file. NULL with one line per
 * problem in <err> ("SOURCE: tls-cert-file: ..."), naming the key: a file that cannot
 * be read, holds no certificate or no key, or a key that does not match the certificate.
 */
SSL_CTX *ag_tls_server_ctx(const struct ag_config *cfg, struct ag_err *err);

/**
 * A client context for https upstreams: peers verified against upstream-ca-file or the
 * system's CA store. NULL with <err> set ("SOURCE: upstream-ca-file: ...").
 */
SSL_CTX *ag_tls_client_ctx(const struct ag_config *cfg, struct ag_err *err);

#endif
