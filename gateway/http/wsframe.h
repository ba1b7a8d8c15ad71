/*
 * gateway/http/wsframe.h - where the WebSocket frames of one direction of a tunnel end:
 * a tracker fed the relayed bytes as they pass, that knows at every moment whether the
 * stream stands at a frame boundary, and can stop a scan at the current frame's end.
 *
 * Owns:     nothing; struct ag_wsframe is embedded by its user (the request, core/req.h).
 * Entry:    ag_wsframe_scan(), ag_wsframe_at_boundary(), AG_WSFRAME_CLOSE_1008.
 * Not here: the tunnel itself and what a revocation does to it (gateway/core/proxy.c).
 *           Payloads are never looked at, nor unmasked: only headers are read.
 * Spec:     RFC 6455 sections 5.2 (base framing), 5.5.1 (Close), 7.4.1 (1008).
 */
#ifndef AG_GATEWAY_WSFRAME_H
#define AG_GATEWAY_WSFRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A server's Close frame (unmasked) with status 1008, "policy violation". */
#define AG_WSFRAME_CLOSE_1008 "\x88\x02\x03\xf0"

/*
 * Zeroed, it stands at a boundary (the start of a stream). Fields are private.
 */
struct ag_wsframe {
    uint64_t left;        /* payload bytes of the current frame still to come */
    uint64_t len;         /* the payload length being read from the header */
    unsigned char have;   /* header bytes seen of the current frame (0: none) */
    unsigned char hlen;   /* its header's full length, known from its second byte */
    unsigned char ext;    /* bytes of its extended length: 0, 2 or 8 */
    bool broken;          /* a 64-bit length with its top bit set: no boundary is known */
};

/**
 * Follows <f> through <p,n>, the next bytes of the stream. With <stop>, the scan ends
 * right after the end of the frame under way (at once when <f> is at a boundary).
 * Returns the bytes scanned: <n> unless <stop> ended it earlier. Once broken, every
 * byte is scanned and no boundary is ever reported again.
 */
size_t ag_wsframe_scan(struct ag_wsframe *f, const unsigned char *p, size_t n, bool stop);

/** Whether the bytes scanned so far end exactly at a frame's end (or are none). */
static inline bool ag_wsframe_at_boundary(const struct ag_wsframe *f)
{
    return !f->broken && f->have == 0 && f->left == 0;
}

#endif
