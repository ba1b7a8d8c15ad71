/*
 * policy/adminin.h - what administrators send to the admin endpoints: the body of
 * PATCH /admin/users/{id} (flags and roles; duplicate keys, unknown fields and wrong
 * types refused, naming the field), the role names an admin may give, and the paging
 * numbers of a listing.
 *
 * Owns:     the roles string of a parsed patch (ag_adminin_patch_clear() frees it).
 * Entry:    ag_adminin_patch(), ag_adminin_patch_clear(), ag_adminin_count().
 * Not here: the 422 body (gateway/ep/ep_common.c), the store (store/users.c).
 * Spec:     CONTRACT.md section 13; docs/admin.md.
 */
#ifndef AG_POLICY_ADMININ_H
#define AG_POLICY_ADMININ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "userin.h"

#define AG_ADMININ_ROLES_MAX 64     /* roles one user may have */
#define AG_ADMININ_ROLE_LEN 64      /* bytes of one role name */
#define AG_ADMININ_ROLES_BYTES 1024 /* bytes of the stored list (store/user.c's bound) */

/* A PATCH body: the fields given (set_*) and their values. */
struct ag_adminin_patch {
    bool set_active, set_staff, set_superuser, set_roles;
    bool is_active, is_staff, is_superuser;
    char *roles; /* set_roles: the roles space-separated, in the order given ("" for none) */
    char unknown[AG_ADMININ_ROLE_LEN + 1]; /* a failure's unknown member, cleaned and cut */
};

/**
 * Reads <body,len>: one JSON object with any of "is_active", "is_staff", "is_superuser"
 * (booleans) and "roles" (an array of role names: 1..64 bytes of visible ASCII but ',',
 * each once, at most 64, never "staff" or "superuser", which are the flags). An empty
 * object is valid (nothing changes). 0; AG_EPARSE with <e> naming the field (or the body:
 * not an object, a key twice; an unknown member is named from <p>->unknown, so <e> is
 * valid as long as <p>); AG_ENOMEM. On failure nothing is left to free.
 */
int ag_adminin_patch(const char *body, size_t len, struct ag_adminin_patch *p,
                     struct ag_field_err *e);

/** Frees the roles of <p> and zeroes it. */
void ag_adminin_patch_clear(struct ag_adminin_patch *p);

/**
 * A paging number <s> (decimal digits only, no sign or space) within <min>..<max>: 0 with
 * <*out>, or AG_EINVAL (not a number, or out of range).
 */
int ag_adminin_count(const char *s, int64_t min, int64_t max, int64_t *out);

#endif
