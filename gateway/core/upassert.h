/*
 * gateway/core/upassert.h - the upstream assertion of a forwarded request (see upassert.c).
 *
 * Owns:     struct ag_upassert_cache (one per worker).
 * Entry:    ag_upassert_get(), ag_upassert_cache_free().
 * Not here: the claims and the signature (policy/claims.c), writing the header (uphead.c,
 *           gateway/ep/ep_verify.c).
 */
#ifndef AG_GATEWAY_UPASSERT_H
#define AG_GATEWAY_UPASSERT_H

#include "base.h"

struct ag_worker;
struct ag_gen;
struct ag_authn;
struct ag_upassert_cache;

/**
 * The upstream assertion of the request <method> <path> (the forwarded path, without
 * the query) that <a> vouches for under <g>, into *<out>: a slice valid until the next
 * call on <w>; empty when <g> has no upstream-assertion or <a> carries no identity.
 * Served from <w>'s cache while it is young (docs/keys.md "Upstream assertions"), else
 * signed now. Returns 0, or -1 when memory runs out or the signature fails.
 */
int ag_upassert_get(struct ag_worker *w, const struct ag_gen *g, const struct ag_authn *a,
                    struct ag_str method, struct ag_str path, struct ag_str *out);

/** Frees <c> (a worker's w->acache). NULL allowed. */
void ag_upassert_cache_free(struct ag_upassert_cache *c);

#endif
