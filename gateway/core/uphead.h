/*
 * gateway/core/uphead.h - the request head the upstream gets (see uphead.c).
 *
 * Owns:     nothing.
 * Entry:    ag_uphead_build().
 * Not here: forwarding (proxy.h).
 */
#ifndef AG_GATEWAY_UPHEAD_H
#define AG_GATEWAY_UPHEAD_H

#include "base.h"
#include "http1.h"

struct ag_req;
struct ag_authn;

/**
 * Writes the head sent upstream for <req> into req->up_head: the normalised target
 * <path> and raw <query>, the client's end-to-end fields of <h> (framing from <info>),
 * the gateway's X-Forwarded-* and configured headers, the identity <a> vouches for, and
 * exactly one framing header of its own (SECURITY-BASELINE rule 4). Returns 0, or -1
 * when memory runs out.
 */
int ag_uphead_build(struct ag_req *req, const struct ag_http1_head *h,
                    const struct ag_http1_info *info, struct ag_str path, struct ag_str query,
                    const struct ag_authn *a);

#endif
