/*
 * policy/redact.h - what a log may show of a request target: the value of every
 * credential-named query parameter, and the userinfo of an absolute-form target,
 * replaced by "[REDACTED]".
 *
 * Owns:     nothing; the target is borrowed, output goes to a caller buffer.
 * Entry:    ag_redact_target(), ag_redact_is_credential_name().
 * Not here: writing or escaping log lines (gateway/core/conn.c, gateway/base/log.c).
 * Spec:     CONTRACT.md section 8 ("No credential reaches a log"); docs/operations.md#logs.
 */
#ifndef AG_POLICY_REDACT_H
#define AG_POLICY_REDACT_H

#include <stdbool.h>
#include <stddef.h>

#include "base.h"

/* What replaces a redacted value. */
#define AG_REDACT_MARK "[REDACTED]"

/* A parameter name longer than this once decoded is treated as credential-named. */
#define AG_REDACT_NAME_MAX 64

/**
 * Whether query parameter <name> (raw, as it appears in the target) names a credential:
 * percent-decoded ('+' as space), ASCII case folded, '-' and space read as '_', it equals
 * or contains a word of the list in docs/operations.md#logs. Undecodable escapes are
 * compared as they are; a name longer than AG_REDACT_NAME_MAX decoded counts as one.
 */
bool ag_redact_is_credential_name(struct ag_str name);

/**
 * Copies request target <target> into <out> (capacity <cap>) with the value of every
 * credential-named parameter after the first '?' or '#' (separated by '&', ';' or '#')
 * and the userinfo of an absolute-form target replaced by AG_REDACT_MARK. Empty values
 * stay empty. Output longer than <cap> is cut: a cut output is a prefix of the whole one,
 * so it never shows more. Returns the bytes written (<= <cap>); <out> is not NUL-terminated.
 */
size_t ag_redact_target(struct ag_str target, char *out, size_t cap);

#endif
