/*
 * policy/grants.h - what a user's roles grant: the scopes of a role list (through
 * "role-scopes"), whether a requested scope stays within them, and the scope a
 * refreshed pair carries when the roles changed.
 *
 * Owns:     nothing; every result is a new string the caller frees.
 * Entry:    ag_grants_scopes(), ag_grants_subset(), ag_grants_refresh_scope().
 * Not here: parsing "role-scopes" (policy/config_users.c), the login and refresh
 *           endpoints that use these (gateway/ep/ep_users.c, gateway/ep/ep_tokens.c).
 * Spec:     CONTRACT.md section 13; docs/users.md "Roles and scopes"; RFC 6749 s.3.3.
 */
#ifndef AG_POLICY_GRANTS_H
#define AG_POLICY_GRANTS_H

#include <stdbool.h>

#include "config.h"

/**
 * The scopes the space-separated <roles> grant under <cfg>: a role listed in
 * "role-scopes" grants its scopes, any other the scope of its own name. Each once, in
 * order of first grant, space-separated. A new string ("" for no role); NULL on OOM.
 */
char *ag_grants_scopes(const struct ag_config *cfg, const char *roles);

/** Whether every scope of the space-separated <req> is one of the space-separated <granted>. */
bool ag_grants_subset(const char *granted, const char *req);

/**
 * The scope of a refreshed pair whose roles went from <old_roles> to <new_roles>: what
 * the new roles grant when <old_scope> was all the old roles granted (a login that
 * asked for no narrower scope), else <old_scope> less what the new roles no longer
 * grant (a narrower scope never widens). A new string; NULL on OOM.
 */
char *ag_grants_refresh_scope(const struct ag_config *cfg, const char *old_roles,
                              const char *old_scope, const char *new_roles);

#endif
