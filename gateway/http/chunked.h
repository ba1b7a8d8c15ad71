/*
 * gateway/http/chunked.h - the strict incremental chunked decoder: it consumes the
 * framing bytes of a chunked body and leaves the data bytes to the caller (zero-copy).
 *
 * Owns:     nothing; struct ag_chunked is embedded by its user.
 * Entry:    ag_chunked_init(), ag_chunked_parse(), ag_chunked_data().
 * Not here: whether a body is chunked (http1.h, ag_http1_request_info()).
 * Spec:     RFC 9112 section 7.1; SECURITY-BASELINE.md rule 8.
 */
#ifndef AG_GATEWAY_CHUNKED_H
#define AG_GATEWAY_CHUNKED_H

#include <stdbool.h>
#include <stddef.h>

#include "base.h"

/*
 * Strict chunked decoder (RFC 9112 section 7.1; SECURITY-BASELINE.md rule 8).
 * It consumes only framing bytes: size lines, the CRLF after each chunk's data
 * and the trailer section. Data bytes are left to the caller, who moves
 * <remaining> of them (zero-copy) and calls ag_chunked_data().
 */
struct ag_chunked {
    int state;                 /* private */
    unsigned long long remaining; /* data bytes the caller must take before parsing again */
    size_t line;               /* private: bytes of the current line / trailer section */
    unsigned long long size;   /* private: the chunk size read so far (input may end mid-line) */
    size_t max_line;           /* longest size line (with extensions) accepted; default 4096 */
    size_t max_trailers;       /* longest trailer section accepted; default 16384 */
    bool done;                 /* last chunk and trailers consumed */
};

/** Resets <c> to read a new body. */
void ag_chunked_init(struct ag_chunked *c);

/**
 * Consumes framing bytes from <buf,len>; stops when data is due (c->remaining > 0),
 * when the body is complete (c->done), or at the end of <buf>. Returns the number
 * of bytes consumed (>= 0) or AG_EPARSE (bad size line: non-hex, too long, over
 * 2^63-1, whitespace before CRLF, a bare ';', a missing CRLF after data, bare LF;
 * bad trailers). Extensions are checked against RFC 9112 s.7.1.1 (BWS ";" BWS
 * token [BWS "=" BWS (token / quoted-string)]) and dropped; trailers are checked
 * as header fields and dropped.
 */
int ag_chunked_parse(struct ag_chunked *c, const char *buf, size_t len);

/** Tells <c> that the caller took <n> (<= remaining) data bytes. */
void ag_chunked_data(struct ag_chunked *c, unsigned long long n);

#endif
