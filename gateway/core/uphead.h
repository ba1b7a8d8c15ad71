/*
 * gateway/core/uphead.h - the request head the upstream gets (see uphead.c).
 *
 * Owns:     nothing.
 * Entry:    ag_uphead_build(), ag_uphead_identity(), ag_uphead_identity_size().
 * Not here: forwarding (proxy.h).
 */
#ifndef AG_GATEWAY_UPHEAD_H
#define AG_GATEWAY_UPHEAD_H

#include "base.h"
#include "http1.h"

struct ag_req;
struct ag_authn;
struct ag_config;

/**
 * Writes the head sent upstream for <req> into req->up_head: the normalised target
 * <path> and raw <query>, the client's end-to-end fields of <h> (framing from <info>),
 * the gateway's X-Forwarded-* and configured headers, the identity <a> vouches for with
 * its upstream assertion (none from the client), and exactly one framing header of its
 * own (SECURITY-BASELINE rule 4). Returns 0, or -1 when memory runs out or the
 * assertion cannot be signed.
 */
int ag_uphead_build(struct ag_req *req, const struct ag_http1_head *h,
                    const struct ag_http1_info *info, struct ag_str path, struct ag_str query,
                    const struct ag_authn *a);

/**
 * Writes the identity header lines ("Name: value\r\n", under <cfg>'s identity-headers
 * names) that <a> vouches for into <out>, which holds ag_uphead_identity_size() bytes;
 * nothing when <a> carries no identity, no line for an empty or unsafe value. Returns
 * the bytes written (no NUL). What the upstream gets, and a forward-auth 200 answers.
 */
size_t ag_uphead_identity(const struct ag_config *cfg, const struct ag_authn *a, char *out);

/** An upper bound of what ag_uphead_identity() writes for <cfg> and <a>. */
size_t ag_uphead_identity_size(const struct ag_config *cfg, const struct ag_authn *a);

#endif
