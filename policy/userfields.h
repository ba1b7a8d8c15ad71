/*
 * policy/userfields.h - the custom fields of the user object ("user-fields"): reading
 * them from a register or PATCH /me body, merging a change into the stored set, and
 * the JSON text the store keeps.
 *
 * Owns:     nothing long-lived; results are new jansson values or strings.
 * Entry:    ag_ufields_read(), ag_ufields_apply(), ag_ufields_headers().
 * Not here: the declarations (policy/config_users.c), the other body members
 *           (policy/userin.c), storing them (store/user.c), tokens (policy/claims.c).
 * Spec:     CONTRACT.md section 14; docs/users.md "Custom fields".
 */
#ifndef AG_POLICY_USERFIELDS_H
#define AG_POLICY_USERFIELDS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "userin.h"

struct json_t;

/**
 * Reads the custom fields of the JSON object <body> under <cfg> into the object <out>
 * (values copied). Members named in <known> (<n_known> of them: the body's built-in
 * members) are skipped. Refuses, with <e> naming the field (<e>->field borrowed from
 * <body> or <cfg>): an undeclared member, a value of the wrong type, a string longer
 * than its max-length (characters) or holding a NUL, and, unless <patch>, a required
 * field that is absent or null. A null sets null in <out> (<patch>: "clear it", refused
 * for a required field); without <patch> an optional null is left out.
 * Returns 0, AG_EINVAL with <e>, or AG_ENOMEM.
 */
int ag_ufields_read(const struct ag_config *cfg, struct json_t *body, const char *const *known,
                    size_t n_known, bool patch, struct json_t *out, struct ag_field_err *e);

/**
 * The stored set <stored> (JSON object text; NULL or "" for none) with the changes
 * <changes> applied (a null member removes the field), members no longer declared in
 * <cfg> dropped: a new compact JSON object text with sorted keys ("" when empty), or
 * NULL on OOM. A <stored> that is not a JSON object reads as empty.
 */
char *ag_ufields_apply(const struct ag_config *cfg, const char *stored,
                       const struct json_t *changes);

/* One identity header of a custom field: <name> (borrowed from the config), <value,len>. */
typedef void ag_ufields_header_fn(void *arg, const char *name, const char *value, size_t len);

/**
 * Calls <emit> once per field of identity-headers.fields that the access token <tok>
 * (already verified: only its payload is read) carries as a claim: a string as it is,
 * an integer in decimal, a boolean as "true" or "false"; null, other types and absent
 * claims give no header. Values are at most the payload's length. Returns the number
 * of headers emitted, or AG_EPARSE / AG_ENOMEM (then none was).
 */
int ag_ufields_headers(const struct ag_config *cfg, struct ag_str tok, ag_ufields_header_fn *emit,
                       void *arg);

#endif
