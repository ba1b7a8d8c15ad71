/*
 * gateway/core/hb.h - a message head written straight into one region reserved in an
 * evbuffer (the upstream request head, the response head relayed to the client).
 *
 * Owns:     nothing; the caller reserves an upper bound and commits what it wrote.
 * Entry:    hb_begin(), hb_put(), hb_lit(), hb_str(), hb_field(), hb_ull(), hb_end(),
 *           hb_fields_size(). Static inline: shared by proxy.c and uphead.c only.
 * Not here: which fields go where (uphead.c, proxy.c).
 */
#ifndef AG_GATEWAY_HB_H
#define AG_GATEWAY_HB_H

#include <stddef.h>
#include <string.h>

#include <event2/buffer.h>

#include "http1.h"

/*
 * A message head written straight into one contiguous region reserved in an
 * evbuffer: one reservation and one commit instead of dozens of evbuffer_add()
 * calls per head. The caller reserves an upper bound of what it will write.
 */
struct hb {
    char *p;
    char *start;
    struct evbuffer_iovec v;
};

static inline int hb_begin(struct hb *b, struct evbuffer *buf, size_t bound)
{
    if (evbuffer_reserve_space(buf, (ev_ssize_t)bound, &b->v, 1) < 1)
        return -1;
    b->p = b->start = b->v.iov_base;
    return 0;
}

static inline void hb_put(struct hb *b, const void *s, size_t n)
{
    memcpy(b->p, s, n);
    b->p += n;
}

#define hb_lit(b, s) hb_put((b), (s), sizeof(s) - 1)

static inline void hb_str(struct hb *b, struct ag_str s)
{
    hb_put(b, s.p, s.len);
}

static inline void hb_field(struct hb *b, struct ag_str name, struct ag_str value)
{
    hb_put(b, name.p, name.len);
    hb_lit(b, ": ");
    hb_put(b, value.p, value.len);
    hb_lit(b, "\r\n");
}

static inline void hb_ull(struct hb *b, unsigned long long v)
{
    char tmp[24];
    int n = 0;

    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    while (n > 0)
        *b->p++ = tmp[--n];
}

/* Commits what was written; returns its length. */
static inline size_t hb_end(struct hb *b, struct evbuffer *buf)
{
    b->v.iov_len = (size_t)(b->p - b->start);
    evbuffer_commit_space(buf, &b->v, 1);
    return b->v.iov_len;
}

/* Bytes the fields of <h> take as "name: value\r\n" lines. */
static inline size_t hb_fields_size(const struct ag_http1_head *h)
{
    size_t n = 0;

    for (size_t i = 0; i < h->nhdrs; i++)
        n += h->hdrs[i].name.len + h->hdrs[i].value.len + 4;
    return n;
}

#endif
