/*
 * gateway/http/http1_hdr.h - what becomes of a client's request header field on its way
 * upstream: hop-by-hop or not, the names the gateway owns and their forwarding classes,
 * and which values from a trusted proxy are kept.
 *
 * Owns:     nothing.
 * Entry:    ag_http1_hdr_is_hop(), ag_http1_hdr_is_identity(), ag_http1_hdr_fwd(),
 *           ag_http1_fwd_value_ok(), ag_http1_fwd_method_ok(), ag_http1_fwd_target_ok().
 * Not here: building the upstream head (gateway/core/uphead.c), parsing (http1.h).
 * Spec:     RFC 9110 section 7.6.1; CONTRACT.md section 6.
 */
#ifndef AG_GATEWAY_HTTP1_HDR_H
#define AG_GATEWAY_HTTP1_HDR_H

#include <stdbool.h>

#include "base.h"
#include "http1.h"

/**
 * Whether a header named <name> is hop-by-hop and never forwarded as is:
 * Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding,
 * Upgrade, Content-Length (the gateway writes framing itself), Expect,
 * Proxy-Authorization, Proxy-Authenticate, or any name listed in one of the
 * Connection fields of <h> (case-insensitive) except Host and the names the
 * gateway owns (ag_http1_hdr_fwd() other than AG_FWD_PASS; CONTRACT.md s.6).
 */
bool ag_http1_hdr_is_hop(const struct ag_http1_head *h, struct ag_str name);

/**
 * Whether <name> is one of the identity headers the gateway owns (CONTRACT.md
 * section 6): X-Auth-Subject, X-Auth-Client-Id, X-Auth-Scopes, X-Auth-Roles, in
 * any case and with '_' or '.' in place of any '-'; or X-Forwarded-For,
 * X-Forwarded-Proto, X-Forwarded-Host with the same spellings (the gateway sets those).
 */
bool ag_http1_hdr_is_identity(struct ag_str name);

/* What the gateway does with a client's request field when it builds the upstream head. */
enum ag_http1_fwd {
    AG_FWD_DROP = 0,      /* never forwarded: Content-Length and Transfer-Encoding, the
                             identity headers, X-Original-URL, X-Rewrite-URL,
                             X-Forwarded-Uri, X-HTTP-Method-Override, X-HTTP-Method,
                             X-Method-Override; and every name below spelled with '_' or '.' */
    AG_FWD_PASS = 1,      /* not the gateway's: forwarded (credentials and `headers` aside) */
    AG_FWD_XFF = 2,       /* X-Forwarded-For: the client's list, the peer appended */
    AG_FWD_PROTO = 3,     /* X-Forwarded-Proto: a trusted proxy's, else the gateway's */
    AG_FWD_HOST = 4,      /* X-Forwarded-Host: a trusted proxy's, else Host */
    AG_FWD_REAL_IP = 5,   /* X-Real-IP: kept from a trusted proxy, else dropped */
    AG_FWD_FORWARDED = 6, /* Forwarded: the same */
    AG_FWD_PORT = 7,      /* X-Forwarded-Port: the same */
    AG_FWD_PREFIX = 8,    /* X-Forwarded-Prefix: the same */
};
#define AG_FWD_N 9 /* classes, for arrays indexed by them */

/**
 * Class of the request field named <name>: AG_FWD_PASS unless the gateway owns the
 * name, matched in any case with '-', '_' and '.' equal (the rule of
 * ag_http1_hdr_is_identity()); an owned name spelled with '-' only gets its class,
 * any other spelling AG_FWD_DROP. Hop-by-hop fields are ag_http1_hdr_is_hop()'s.
 */
enum ag_http1_fwd ag_http1_hdr_fwd(struct ag_str name);

/**
 * Whether <v> may go upstream as the value of a trusted proxy's field of class <fwd>
 * (AG_FWD_PROTO .. AG_FWD_PREFIX): "http"/"https"; a valid Host value; one IP
 * address; a port 1..65535; a path prefix "/..."; a non-empty Forwarded.
 */
bool ag_http1_fwd_value_ok(enum ag_http1_fwd fwd, struct ag_str v);

/**
 * Whether <v>, a forward-auth proxy's X-Forwarded-Method, is a method in the shape the
 * gateway's own parser takes: upper-case letters, '-' and '_' (its registered methods
 * have no other bytes, nginx parses no other). Methods are case-sensitive (RFC 9110 s.9.1) and the
 * rules compare them exactly, so a "post" is refused here rather than judged as
 * another method than the POST an application might take it for.
 */
bool ag_http1_fwd_method_ok(struct ag_str v);

/**
 * Whether <v>, a forward-auth proxy's X-Forwarded-Uri, holds only what a request line's
 * target may: one or more visible ASCII bytes (RFC 9112 s.3.2), so no SP, HTAB, CTL or
 * byte >= 0x80 that a field value allows and a target does not.
 */
bool ag_http1_fwd_target_ok(struct ag_str v);

#endif
