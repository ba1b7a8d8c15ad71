/*
 * tests/unit/gateway/wsframe_test.c - mirrors gateway/http/wsframe.c: frame boundaries
 * of every header form (7-bit, 16-bit and 64-bit lengths, masked or not), whatever the
 * split of the bytes, and the scan that stops at the current frame's end.
 *
 * Owns:     nothing (stack buffers).
 * Entry:    main().
 * Not here: the tunnel's close on revocation (tests/integration/test_live_revoke.py).
 * Spec:     RFC 6455 section 5.2.
 */
#include "wsframe.h"

#include <string.h>

#include "t.h"

/* Appends a frame of <len> payload bytes ('x') to <out> at <*n>, masked when <mask>. */
static void frame(unsigned char *out, size_t *n, uint64_t len, bool mask)
{
    unsigned char *p = out + *n;

    *p++ = 0x82;
    if (len < 126) {
        *p++ = (unsigned char)((mask ? 0x80 : 0) | len);
    } else if (len < 65536) {
        *p++ = (unsigned char)((mask ? 0x80 : 0) | 126);
        *p++ = (unsigned char)(len >> 8);
        *p++ = (unsigned char)len;
    } else {
        *p++ = (unsigned char)((mask ? 0x80 : 0) | 127);
        for (int i = 7; i >= 0; i--)
            *p++ = (unsigned char)(len >> (8 * i));
    }
    if (mask) {
        memcpy(p, "\x01\x02\x03\x04", 4);
        p += 4;
    }
    memset(p, 'x', (size_t)len);
    *n = (size_t)(p - out) + (size_t)len;
}

static void test_wsframe_zeroed_is_at_boundary(void)
{
    struct ag_wsframe f = {0};

    AG_ASSERT(ag_wsframe_at_boundary(&f));
    AG_ASSERT_EQ(ag_wsframe_scan(&f, (const unsigned char *)"", 0, false), 0);
    AG_ASSERT(ag_wsframe_at_boundary(&f));
}

/* Every header form, fed one byte at a time: a boundary exactly at each frame's end. */
static void test_wsframe_boundaries_byte_by_byte(void)
{
    static unsigned char buf[70000 + 5 + 300 + 4 * 20];
    size_t n = 0, ends[4], k = 0, seen = 0;
    struct ag_wsframe f = {0};

    frame(buf, &n, 5, false);
    ends[0] = n;
    frame(buf, &n, 0, true);
    ends[1] = n;
    frame(buf, &n, 300, true);
    ends[2] = n;
    frame(buf, &n, 70000, false);
    ends[3] = n;
    for (size_t i = 0; i < n; i++) {
        AG_ASSERT_EQ(ag_wsframe_scan(&f, buf + i, 1, false), 1);
        if (ag_wsframe_at_boundary(&f)) {
            AG_ASSERT(k < 4);
            if (k < 4)
                AG_ASSERT_EQ(i + 1, ends[k]);
            k++;
        }
        seen++;
    }
    AG_ASSERT_EQ(k, 4);
    AG_ASSERT_EQ(seen, n);
}

/* The stopping scan ends right after the frame under way, wherever the reads split it. */
static void test_wsframe_stop_at_frame_end(void)
{
    unsigned char buf[600];
    size_t n = 0, first;
    struct ag_wsframe f = {0};

    frame(buf, &n, 200, false);
    first = n;
    frame(buf, &n, 10, false);
    /* Mid-header of the first frame: the scan takes the rest of it and stops. */
    AG_ASSERT_EQ(ag_wsframe_scan(&f, buf, 1, false), 1);
    AG_ASSERT(!ag_wsframe_at_boundary(&f));
    AG_ASSERT_EQ(ag_wsframe_scan(&f, buf + 1, n - 1, true), first - 1);
    AG_ASSERT(ag_wsframe_at_boundary(&f));
    /* At a boundary it takes nothing. */
    AG_ASSERT_EQ(ag_wsframe_scan(&f, buf + first, n - first, true), 0);
    /* Short of the end: everything is taken, and the frame is still under way. */
    AG_ASSERT_EQ(ag_wsframe_scan(&f, buf + first, 1, false), 1);
    AG_ASSERT_EQ(ag_wsframe_scan(&f, buf + first + 1, 4, true), 4);
    AG_ASSERT(!ag_wsframe_at_boundary(&f));
    AG_ASSERT_EQ(ag_wsframe_scan(&f, buf + first + 5, n - first - 5, true), n - first - 5);
    AG_ASSERT(ag_wsframe_at_boundary(&f));
}

/* A 64-bit length with its top bit set: no boundary is ever reported again. */
static void test_wsframe_top_bit_length_is_broken(void)
{
    static const unsigned char bad[] = {0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 1, 0x82, 0x00};
    struct ag_wsframe f = {0};

    AG_ASSERT_EQ(ag_wsframe_scan(&f, bad, sizeof(bad), false), sizeof(bad));
    AG_ASSERT(!ag_wsframe_at_boundary(&f));
    AG_ASSERT_EQ(ag_wsframe_scan(&f, bad, 2, true), 2);
    AG_ASSERT(!ag_wsframe_at_boundary(&f));
}

/* A close frame as the gateway writes it is one whole frame of 2 payload bytes. */
static void test_wsframe_close_1008_is_one_frame(void)
{
    struct ag_wsframe f = {0};
    const unsigned char *c = (const unsigned char *)AG_WSFRAME_CLOSE_1008;

    AG_ASSERT_EQ(ag_wsframe_scan(&f, c, 4, false), 4);
    AG_ASSERT(ag_wsframe_at_boundary(&f));
    AG_ASSERT_EQ((c[2] << 8) | c[3], 1008);
}

int main(void)
{
    AG_RUN(test_wsframe_zeroed_is_at_boundary);
    AG_RUN(test_wsframe_boundaries_byte_by_byte);
    AG_RUN(test_wsframe_stop_at_frame_end);
    AG_RUN(test_wsframe_top_bit_length_is_broken);
    AG_RUN(test_wsframe_close_1008_is_one_frame);
    return ag_t_done();
}
