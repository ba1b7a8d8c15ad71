/*
 * policy/cookie.h - the Cookie request header (RFC 6265 section 4.2, read as
 * browsers write it and lenient servers read it: policy/cookie.c): finding one
 * cookie's value, and rewriting the header without the gateway's credential cookies.
 *
 * Owns:     nothing; slices borrow the header value, output goes to caller buffers.
 * Entry:    ag_cookie_find(), ag_cookie_strip().
 * Not here: Set-Cookie (gateway/ep/endpoints.c), what a token means (policy/jwt.c).
 * Spec:     RFC 6265 sections 4.2.1 and 5.4.
 */
#ifndef AG_POLICY_COOKIE_H
#define AG_POLICY_COOKIE_H

#include <stddef.h>

#include "base.h"

/**
 * Looks for cookie <name> in the Cookie header value <hdr> ("a=1; b=2"). Returns 1
 * and sets <value> (OWS and surrounding DQUOTEs removed) when found, 0 when absent,
 * AG_EPARSE when the header names <name> twice. Other cookies never make it fail,
 * however they are written.
 */
int ag_cookie_find(struct ag_str hdr, const char *name, struct ag_str *value);

/**
 * Copies <hdr> into <out> (capacity <cap> >= hdr.len) without the cookies whose
 * names are in <drop> (<n_drop> names), keeping the others byte for byte and in
 * order, with the client's separators. Returns the new length (0: nothing left, drop
 * the header), or AG_EINVAL for a short <cap>.
 */
int ag_cookie_strip(struct ag_str hdr, const char *const *drop, size_t n_drop, char *out,
                    size_t cap);

#endif
