/*
 * policy/grants.c - role to scope grants, the scope-subset check and the scope of a
 * refreshed pair, over space-separated word lists.
 *
 * Owns:     nothing long-lived; results are new strings.
 * Entry:    ag_grants_scopes(), ag_grants_subset(), ag_grants_refresh_scope().
 * Not here: parsing "role-scopes" (policy/config_users.c), minting (gateway/ep/endpoints.c).
 * Spec:     CONTRACT.md section 13; docs/users.md "Roles and scopes".
 */
#include "grants.h"

#include <stdlib.h>
#include <string.h>

/* A NUL-terminated list of space-separated words, allocated once for its largest size. */
struct grants_list {
    char *p;
    size_t len;
};

/* Starts the empty <l> with room for <cap> bytes, NUL included; AG_ENOMEM. */
static int grants_init(struct grants_list *l, size_t cap)
{
    l->len = 0;
    if ((l->p = malloc(cap)) == NULL)
        return AG_ENOMEM;
    l->p[0] = '\0';
    return 0;
}

/* Appends the word <w,n> to <l> unless it is there already (the room was counted). */
static void grants_add(struct grants_list *l, const char *w, size_t n)
{
    if (ag_words_has((struct ag_str){l->p, l->len}, ' ', (struct ag_str){w, n}))
        return;
    if (l->len > 0)
        l->p[l->len++] = ' ';
    memcpy(l->p + l->len, w, n);
    l->len += n;
    l->p[l->len] = '\0';
}

/* The "role-scopes" entry of the role <r,k>, or NULL when it grants its own name. */
static const struct ag_role_scopes *grants_role(const struct ag_config *cfg, const char *r,
                                                size_t k)
{
    for (size_t i = 0; i < cfg->n_role_scopes; i++)
        if (strlen(cfg->role_scopes[i].role) == k && memcmp(cfg->role_scopes[i].role, r, k) == 0)
            return &cfg->role_scopes[i];
    return NULL;
}

char *ag_grants_scopes(const struct ag_config *cfg, const char *roles)
{
    struct grants_list l = {NULL, 0};
    size_t cap = strlen(roles) + 1;

    /* Each scope is granted once at most: every configured one, and the roles' own names. */
    for (size_t i = 0; i < cfg->n_role_scopes; i++)
        for (size_t s = 0; s < cfg->role_scopes[i].n_scopes; s++)
            cap += strlen(cfg->role_scopes[i].scopes[s]) + 1;
    if (grants_init(&l, cap) < 0)
        return NULL;
    for (struct ag_str rest = ag_str_c(roles), r; ag_words_next(&rest, ' ', &r);) {
        const struct ag_role_scopes *rs = grants_role(cfg, r.p, r.len);
        if (rs == NULL) {
            grants_add(&l, r.p, r.len);
            continue;
        }
        for (size_t s = 0; s < rs->n_scopes; s++)
            grants_add(&l, rs->scopes[s], strlen(rs->scopes[s]));
    }
    return l.p;
}

bool ag_grants_subset(const char *granted, const char *req)
{
    for (struct ag_str rest = ag_str_c(req), w; ag_words_next(&rest, ' ', &w);)
        if (!ag_words_has(ag_str_c(granted), ' ', w))
            return false;
    return true;
}

char *ag_grants_refresh_scope(const struct ag_config *cfg, const char *old_roles,
                              const char *old_scope, const char *new_roles)
{
    char *old_g = ag_grants_scopes(cfg, old_roles), *new_g = ag_grants_scopes(cfg, new_roles);
    struct grants_list l = {NULL, 0};
    char *out = NULL;

    if (old_g == NULL || new_g == NULL)
        goto out;
    if (strcmp(old_g, old_scope) == 0) {
        out = new_g;
        new_g = NULL;
        goto out;
    }
    if (grants_init(&l, strlen(old_scope) + 1) < 0)
        goto out;
    for (struct ag_str rest = ag_str_c(old_scope), w; ag_words_next(&rest, ' ', &w);)
        if (ag_words_has(ag_str_c(new_g), ' ', w))
            grants_add(&l, w.p, w.len);
    out = l.p;
out:
    free(old_g);
    free(new_g);
    return out;
}
