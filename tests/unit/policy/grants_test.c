/*
 * tests/unit/policy/grants_test.c - mirrors policy/grants.c: the scopes a role list
 * grants through "role-scopes", the scope-subset check of /login and /token, and the
 * scope of a refreshed pair when the roles changed.
 *
 * Owns:     one parsed config per test, unref'd at its end (ASan/LSan check it).
 * Entry:    main().
 * Not here: the endpoints (tests/integration/test_users.py).
 * Spec:     CONTRACT.md section 13; docs/users.md "Roles and scopes".
 */
#include "grants.h"

#include <stdio.h>
#include <string.h>

#include "cfg.h"
#include "t.h"

/* A config whose "role-scopes" is test_users.py's ROLE_SCOPES. */
static struct ag_config *cfg_new(void)
{
    return ag_t_config("'role-scopes':{'superuser':['admin','read','write'],'staff':['read']}",
                       NULL);
}

/* Asserts ag_grants_scopes(<roles>) is <want>, then frees it. */
#define SCOPES_ARE(cfg, roles, want)                                                               \
    do {                                                                                           \
        char *s_ = ag_grants_scopes((cfg), (roles));                                               \
        AG_ASSERT_STR(s_, (want));                                                                 \
        free(s_);                                                                                  \
    } while (0)

static void test_grants_scopes_listed_roles_grant_their_scopes_unlisted_their_name(void)
{
    struct ag_config *cfg = cfg_new();

    AG_ASSERT_NOT_NULL(cfg);
    if (cfg == NULL)
        return;
    SCOPES_ARE(cfg, "", "");
    SCOPES_ARE(cfg, "editor reporter", "editor reporter"); /* unlisted: its own name */
    SCOPES_ARE(cfg, "staff", "read");
    SCOPES_ARE(cfg, "superuser", "admin read write");
    SCOPES_ARE(cfg, "staff superuser", "read admin write"); /* each once, first grant first */
    SCOPES_ARE(cfg, "read staff", "read");
    SCOPES_ARE(cfg, "editor editor", "editor");
    SCOPES_ARE(cfg, "  editor   staff  ", "editor read"); /* runs of spaces */
    SCOPES_ARE(cfg, "Staff", "Staff");                    /* roles are case-sensitive */
    SCOPES_ARE(cfg, "staf", "staf");                      /* a prefix is not the role */
    ag_config_unref(cfg);
}

static void test_grants_subset_every_requested_scope_granted(void)
{
    AG_ASSERT(ag_grants_subset("admin read write", ""));
    AG_ASSERT(ag_grants_subset("admin read write", "read"));
    AG_ASSERT(ag_grants_subset("admin read write", "write admin"));
    AG_ASSERT(ag_grants_subset("admin read write", "  read   read "));
    AG_ASSERT(ag_grants_subset("", "   "));
    AG_ASSERT(!ag_grants_subset("editor reporter", "admin"));
    AG_ASSERT(!ag_grants_subset("editor reporter", "reporter admin"));
    AG_ASSERT(!ag_grants_subset("read", "rea")); /* whole words only */
    AG_ASSERT(!ag_grants_subset("read", "reads"));
    AG_ASSERT(!ag_grants_subset("read", "READ")); /* case-sensitive */
    AG_ASSERT(!ag_grants_subset("", "read"));
}

/* Asserts ag_grants_refresh_scope() is <want>, then frees it. */
#define REFRESH_IS(cfg, old_roles, old_scope, new_roles, want)                                     \
    do {                                                                                           \
        char *s_ = ag_grants_refresh_scope((cfg), (old_roles), (old_scope), (new_roles));          \
        AG_ASSERT_STR(s_, (want));                                                                 \
        free(s_);                                                                                  \
    } while (0)

static void test_grants_refresh_scope_follows_roles_and_never_widens(void)
{
    struct ag_config *cfg = cfg_new();

    AG_ASSERT_NOT_NULL(cfg);
    if (cfg == NULL)
        return;
    /* the full grant follows the new roles, up or down */
    REFRESH_IS(cfg, "editor reporter", "editor reporter", "editor reporter", "editor reporter");
    REFRESH_IS(cfg, "staff", "read", "superuser", "admin read write");
    REFRESH_IS(cfg, "superuser", "admin read write", "staff", "read");
    REFRESH_IS(cfg, "superuser", "admin read write", "", "");
    REFRESH_IS(cfg, "", "", "editor", "editor");
    /* a narrower scope keeps what is still granted, never gains */
    REFRESH_IS(cfg, "editor reporter", "reporter", "editor reporter", "reporter");
    REFRESH_IS(cfg, "superuser", "read", "superuser editor", "read");
    REFRESH_IS(cfg, "superuser", "admin write", "staff", "");
    REFRESH_IS(cfg, "superuser", "write read", "staff superuser", "write read");
    REFRESH_IS(cfg, "superuser", " read  read ", "staff", "read");
    /* the same words in another order are not the full grant: kept as they were */
    REFRESH_IS(cfg, "superuser", "write read admin", "staff", "read");
    ag_config_unref(cfg);
}

int main(void)
{
    AG_RUN(test_grants_scopes_listed_roles_grant_their_scopes_unlisted_their_name);
    AG_RUN(test_grants_subset_every_requested_scope_granted);
    AG_RUN(test_grants_refresh_scope_follows_roles_and_never_widens);
    return ag_t_done();
}
