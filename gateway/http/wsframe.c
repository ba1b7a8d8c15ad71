/*
 * gateway/http/wsframe.c - the WebSocket frame-boundary tracker: reads frame headers
 * (opcode byte, mask bit and 7-bit length, the 16- or 64-bit extended length, the mask
 * key) and skips payloads by count, whatever the bytes' split into reads.
 *
 * Owns:     nothing (struct ag_wsframe is its user's).
 * Entry:    ag_wsframe_scan().
 * Not here: the tunnel (gateway/core/proxy.c). Opcodes and payloads are not judged: the
 *           endpoints speak WebSocket to each other, the gateway only needs the boundaries.
 * Spec:     RFC 6455 section 5.2.
 */
#include "wsframe.h"

/* Reads one header byte into <f>; at the header's end the payload starts. */
static void wsframe_head_byte(struct ag_wsframe *f, unsigned char b)
{
    unsigned char i = f->have++;

    if (i == 0) {
        f->len = 0;
        f->ext = 0;
        f->hlen = 2;
        return;
    }
    if (i == 1) {
        unsigned char len7 = b & 0x7f;
        f->ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
        f->hlen = (unsigned char)(2 + f->ext + ((b & 0x80) ? 4 : 0));
        f->len = len7 < 126 ? len7 : 0;
    } else if (i < 2 + f->ext) {
        /* The extended length, network order, right after byte 1 (the mask key follows). */
        if (f->ext == 8 && i == 2 && (b & 0x80)) {
            f->broken = true; /* RFC 6455 5.2: its most significant bit MUST be 0 */
            return;
        }
        f->len = (f->len << 8) | b;
    }
    if (f->have == f->hlen) {
        f->left = f->len;
        f->have = 0;
    }
}

size_t ag_wsframe_scan(struct ag_wsframe *f, const unsigned char *p, size_t n, bool stop)
{
    size_t i = 0;

    while (i < n && !f->broken) {
        if (f->left > 0) {
            size_t take = n - i;
            if (take > f->left)
                take = (size_t)f->left;
            f->left -= take;
            i += take;
        } else {
            if (stop && f->have == 0)
                return i;
            wsframe_head_byte(f, p[i++]);
        }
        if (stop && f->have == 0 && f->left == 0)
            return i;
    }
    return f->broken ? n : i;
}
