/*
 * policy/grants.c - role to scope grants, the scope-subset check and the scope of a
 * refreshed pair, over space-separated word lists.
 *
 * Owns:     nothing long-lived; results are new strings.
 * Entry:    ag_grants_scopes(), ag_grants_subset(), ag_grants_refresh_scope().
 * Not here: parsing "role-scopes" (policy/config_users.c), minting (gateway/endpoints.c).
 * Spec:     CONTRACT.md section 13; docs/users.md "Roles and scopes".
 */
#include "grants.h"

#include <stdlib.h>
#include <string.h>

/* A growing, NUL-terminated list of space-separated words. */
struct grants_list {
    char *p;
    size_t len, cap;
    bool oom; /* an allocation failed: the list is incomplete */
};

/* Whether the word <w,n> is one of the space-separated <list>. */
static bool grants_has_word(const char *list, const char *w, size_t n)
{
    while (*list != '\0') {
        size_t k = strcspn(list, " ");
        if (k == n && memcmp(list, w, n) == 0)
            return true;
        list += k;
        while (*list == ' ')
            list++;
    }
    return false;
}

/* Appends the word <w,n> to <l> unless it is there already. */
static void grants_add(struct grants_list *l, const char *w, size_t n)
{
    size_t need;

    if (l->oom || (l->p != NULL && grants_has_word(l->p, w, n)))
        return;
    need = l->len + (l->len > 0) + n + 1;
    if (need > l->cap) {
        size_t cap = need * 2 > 64 ? need * 2 : 64;
        char *p = realloc(l->p, cap);
        if (p == NULL) {
            l->oom = true;
            return;
        }
        l->p = p;
        l->cap = cap;
    }
    if (l->len > 0)
        l->p[l->len++] = ' ';
    memcpy(l->p + l->len, w, n);
    l->len += n;
    l->p[l->len] = '\0';
}

/* The list of <l> as a new string ("" when empty); NULL on OOM, <l> consumed. */
static char *grants_take(struct grants_list *l)
{
    if (l->oom) {
        AG_FREE(l->p);
        return NULL;
    }
    return l->p != NULL ? l->p : strdup("");
}

char *ag_grants_scopes(const struct ag_config *cfg, const char *roles)
{
    struct grants_list l = {0};
    const char *p = roles;

    while (*p != '\0') {
        size_t k = strcspn(p, " "), i;
        for (i = 0; i < cfg->n_role_scopes; i++)
            if (strlen(cfg->role_scopes[i].role) == k &&
                memcmp(cfg->role_scopes[i].role, p, k) == 0)
                break;
        if (i < cfg->n_role_scopes) {
            for (size_t s = 0; s < cfg->role_scopes[i].n_scopes; s++)
                grants_add(&l, cfg->role_scopes[i].scopes[s],
                           strlen(cfg->role_scopes[i].scopes[s]));
        } else if (k > 0) {
            grants_add(&l, p, k);
        }
        p += k;
        while (*p == ' ')
            p++;
    }
    return grants_take(&l);
}

bool ag_grants_subset(const char *granted, const char *req)
{
    while (*req != '\0') {
        size_t k = strcspn(req, " ");
        if (k > 0 && !grants_has_word(granted, req, k))
            return false;
        req += k;
        while (*req == ' ')
            req++;
    }
    return true;
}

char *ag_grants_refresh_scope(const struct ag_config *cfg, const char *old_roles,
                              const char *old_scope, const char *new_roles)
{
    char *old_g = ag_grants_scopes(cfg, old_roles), *new_g = ag_grants_scopes(cfg, new_roles);
    struct grants_list l = {0};
    char *out = NULL;

    if (old_g == NULL || new_g == NULL)
        goto out;
    if (strcmp(old_g, old_scope) == 0) {
        out = new_g;
        new_g = NULL;
        goto out;
    }
    for (const char *p = old_scope; *p != '\0';) {
        size_t k = strcspn(p, " ");
        if (k > 0 && grants_has_word(new_g, p, k))
            grants_add(&l, p, k);
        p += k;
        while (*p == ' ')
            p++;
    }
    out = grants_take(&l);
out:
    free(old_g);
    free(new_g);
    return out;
}
