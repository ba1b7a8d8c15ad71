/*
 * policy/path.h - request-target forms and path normalisation: the one function
 * whose output is both matched by the rules and forwarded upstream.
 *
 * Owns:     nothing; writes into caller buffers.
 * Entry:    ag_path_split_target(), ag_path_normalize().
 * Not here: prefix matching (policy/rules.c), HTTP framing (gateway/http/http1.c).
 * Spec:     CONTRACT.md section 4; SECURITY-BASELINE.md "Path canonicalization";
 *           RFC 3986 sections 2.3, 5.2.4; RFC 9112 section 3.2.
 */
#ifndef AG_POLICY_PATH_H
#define AG_POLICY_PATH_H

#include <stddef.h>

#include "base.h"

/* Verdicts: zero is the failing value, compare with AG_PATH_OK only. */
enum ag_path_status {
    AG_PATH_REJECT = 0,
    AG_PATH_OK = 1,
    AG_PATH_BAD_FORM = -1,       /* not origin-, absolute- or asterisk-form; authority-form */
    AG_PATH_BAD_CHAR = -2,       /* raw byte not allowed in a URI (CTL, SP, "<>\^`{|}, >= 0x80) */
    AG_PATH_FRAGMENT = -3,       /* raw '#' */
    AG_PATH_BAD_ESCAPE = -4,     /* '%' not followed by two hex digits */
    AG_PATH_ENCODED_SLASH = -5,  /* %2F */
    AG_PATH_BACKSLASH = -6,      /* '\' raw or %5C */
    AG_PATH_ENCODED_CTL = -7,    /* %00-%1F, %7F */
    AG_PATH_DOUBLE_ENCODED = -8, /* %25 followed by two hex digits (any case) */
    AG_PATH_BAD_UTF8 = -9,       /* %80-%FF not forming shortest-form UTF-8 */
    AG_PATH_SEMICOLON = -10,     /* ';' (raw or %3B) without AG_PATH_F_ALLOW_SEMICOLON */
    AG_PATH_ABOVE_ROOT = -11,    /* ".." would climb above "/" */
    AG_PATH_DOT_END = -12,       /* a segment that ends in '.' or SP after decoding */
    AG_PATH_TOO_LONG = -13,      /* output does not fit */
    AG_PATH_AUTHORITY = -14,     /* absolute-form authority differs from Host */
};

enum ag_target_form {
    AG_TARGET_ORIGIN = 1,   /* "/path?query" */
    AG_TARGET_ABSOLUTE = 2, /* "http://authority/path?query" (http or https, any case) */
    AG_TARGET_ASTERISK = 3, /* "*" (only meaningful for OPTIONS) */
};

#define AG_PATH_F_ALLOW_SEMICOLON 0x0001

/**
 * Classifies the request-target <target>. For absolute-form, <authority> is set
 * to the authority (not compared with Host here) and <rest> to everything from the
 * first '/' or '?' after it: "/path[?q]", "?q" (no path: the caller prepends "/")
 * or "" (no path: the caller uses "/"); for origin-form <rest> is the whole target
 * and <authority> is {NULL, 0}; for asterisk-form ("*" only) both are {NULL, 0}.
 * Returns AG_PATH_OK and sets the outputs, or AG_PATH_BAD_FORM (authority-form, an
 * empty target, an unknown scheme, an empty authority, userinfo, a byte not allowed
 * in an authority).
 */
enum ag_path_status ag_path_split_target(struct ag_str target, enum ag_target_form *form,
                                         struct ag_str *authority, struct ag_str *rest);

/**
 * Normalises the origin-form path-and-query <in> (must start with '/') into
 * <out> (capacity <cap>; <in>.len always suffices). Only the path part is
 * rewritten: unreserved escapes decoded, other kept escapes upper-cased, "//"
 * merged, dot-segments removed (a final "", "." or ".." leaves a trailing '/').
 * The query (after the first '?', without it) is returned as a slice of <in> in
 * <query>, byte for byte; query->p is NULL when there is no '?' and non-NULL
 * with len 0 for a trailing '?'. On success *<out_len> is the normalised path
 * length (no NUL is written); outputs are set only on success. The result is a
 * fixed point: normalising it again returns it unchanged. Returns AG_PATH_OK or
 * the first reason for refusal met scanning left to right.
 */
enum ag_path_status ag_path_normalize(struct ag_str in, unsigned flags, char *out, size_t cap,
                                      size_t *out_len, struct ag_str *query);

/** A short fixed phrase for <st>, for logs and error bodies ("encoded slash"). */
const char *ag_path_status_str(enum ag_path_status st);

#endif
