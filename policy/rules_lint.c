/*
 * policy/rules_lint.c - the load-time lint of a config's path lists, rules and routes:
 * duplicates, entries shadowed by another, public paths that lift nothing, and paths
 * that would need more than AG_RULES_MAX_REQ scopes or roles (the one error).
 *
 * Owns:     nothing past a call (scratch tables freed before it returns).
 * Entry:    ag_rules_lint().
 * Not here: compiling and deciding (policy/rules.c), config syntax (policy/config.c).
 * Spec:     docs/rules.md ("check" and the load-time warnings).
 */
#include "rules.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config.h"

/* True when <s> is one of the <n> strings of <set>. */
static bool rules_in(char *const *set, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (set[i] != NULL && strcmp(set[i], s) == 0)
            return true;
    return false;
}

/* True when every one of the <n_a> strings of <a> is in <b> (<n_b>). */
static bool rules_subset(char *const *a, size_t n_a, char *const *b, size_t n_b)
{
    for (size_t i = 0; i < n_a; i++)
        if (a[i] != NULL && !rules_in(b, n_b, a[i]))
            return false;
    return true;
}

/* A uniform view of a list entry or a rule, for the pairwise checks. */
struct rules_item {
    const char *path; /* JSON path, "access-token-paths[2]" or "rules[1].prefix" */
    const char *prefix;
    unsigned need;
    bool is_public;
    const struct ag_rule *rule; /* NULL for a list entry */
};

#define RULES_LINT_PATH 48

struct rules_lint {
    const char *source;
    struct ag_err *warn;
    int findings;
};

static void rules_finding(struct rules_lint *l, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void rules_finding(struct rules_lint *l, const char *path, const char *fmt, ...)
{
    char reason[AG_ERR_LINE];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    ag_err_add(l->warn, "%s: %s: %s", l->source, path, reason);
    l->findings++;
}

/*
 * True when <a>'s methods include all of <b>'s (no methods: every method). A rule
 * naming GET also applies to HEAD (see rules_method_in()).
 */
static bool rules_methods_cover(const struct rules_item *a, const struct rules_item *b)
{
    size_t na = a->rule ? a->rule->n_methods : 0, nb = b->rule ? b->rule->n_methods : 0;

    if (na == 0)
        return true;
    if (nb == 0)
        return false;
    for (size_t i = 0; i < nb; i++) {
        const char *m = b->rule->methods[i];

        if (m != NULL && !rules_in(a->rule->methods, na, m) &&
            !(strcmp(m, "HEAD") == 0 && rules_in(a->rule->methods, na, "GET")))
            return false;
    }
    return true;
}

/* True when <a> applies wherever <b> does and requires at least as much. */
static bool rules_item_covers(const struct rules_item *a, const struct rules_item *b)
{
    const struct ag_rule *ra = a->rule, *rb = b->rule;

    if (a->is_public != b->is_public || (a->need & b->need) != b->need ||
        !ag_rules__is_prefix(a->prefix, b->prefix) || !rules_methods_cover(a, b))
        return false;
    if (rb == NULL)
        return true;
    return rules_subset(rb->scopes, rb->n_scopes, ra ? ra->scopes : NULL, ra ? ra->n_scopes : 0) &&
           rules_subset(rb->roles, rb->n_roles, ra ? ra->roles : NULL, ra ? ra->n_roles : 0);
}

/* True when <a> and <b> are the same entry written twice (prefix ignoring case). */
static bool rules_item_same(const struct rules_item *a, const struct rules_item *b)
{
    return strcasecmp(a->prefix, b->prefix) == 0 && rules_item_covers(a, b) &&
           rules_item_covers(b, a);
}

/* Duplicates and entries made redundant by a shorter one in the same list <items>. */
static void rules_lint_list(struct rules_lint *l, const struct rules_item *items, size_t n)
{
    for (size_t j = 0; j < n; j++)
        for (size_t i = 0; i < n; i++) {
            if (i == j)
                continue;
            if (strcasecmp(items[i].prefix, items[j].prefix) == 0) {
                if (i < j) {
                    rules_finding(l, items[j].path, "same prefix as %s (prefixes ignore case)",
                                  items[i].path);
                    break;
                }
            } else if (ag_rules__is_prefix(items[i].prefix, items[j].prefix)) {
                rules_finding(l, items[j].path,
                              "already covered by %s ('%.60s', a plain prefix); has no effect",
                              items[i].path, items[i].prefix);
                break;
            }
        }
}

/* Rules with the same prefix and methods, and rules shadowed by an earlier one. */
static void rules_lint_rules(struct rules_lint *l, const struct rules_item *items, size_t n)
{
    for (size_t j = 0; j < n; j++)
        for (size_t i = 0; i < j; i++) {
            const struct rules_item *a = &items[i], *b = &items[j];
            bool same_place = strcasecmp(a->prefix, b->prefix) == 0 &&
                              rules_methods_cover(a, b) && rules_methods_cover(b, a);

            if (rules_item_same(a, b)) {
                rules_finding(l, b->path, "identical to %s; has no effect", a->path);
            } else if (rules_item_covers(a, b)) {
                rules_finding(l, b->path,
                              "shadowed by %s ('%.60s'), which already requires all of this; "
                              "has no effect",
                              a->path, a->prefix);
            } else if (same_place) {
                rules_finding(l, b->path,
                              "same prefix and methods as %s; both apply and their "
                              "requirements add up (write one rule)",
                              a->path);
            } else {
                continue;
            }
            break;
        }
}

/*
 * Public exceptions that overlap a protected prefix: they lift nothing there, so
 * they mislead. Only pairs where the protected entry applies to every method the
 * public one does are reported (a method-limited protection leaves other methods
 * open, which is what the public entry is for).
 */
static void rules_lint_public(struct rules_lint *l, const struct rules_item *pub, size_t n_pub,
                              const struct rules_item *prot, size_t n_prot)
{
    for (size_t j = 0; j < n_pub; j++)
        for (size_t i = 0; i < n_prot; i++) {
            const struct rules_item *p = &pub[j], *q = &prot[i];

            if (!rules_methods_cover(q, p))
                continue;
            if (ag_rules__is_prefix(p->prefix, q->prefix)) {
                rules_finding(l, p->path,
                              "covers the protected prefix '%.60s' (%s), which stays "
                              "protected: public paths never lift a requirement",
                              q->prefix, q->path);
            } else if (ag_rules__is_prefix(q->prefix, p->prefix)) {
                rules_finding(l, p->path,
                              "lies under the protected prefix '%.60s' (%s), so it lifts "
                              "nothing: public paths never lift a requirement",
                              q->prefix, q->path);
            } else {
                continue;
            }
            break;
        }
}

/*
 * Lints <cfg> (see rules.h): one "FILE: JSON.PATH: reason" line per finding in
 * <warn> (NULL allowed). Every finding is a warning except "more than
 * AG_RULES_MAX_REQ scopes/roles", for which ag_rules_new() fails: callers treat a
 * NULL from ag_rules_new() after lint as a configuration error. Returns the number
 * of findings (0 also when memory runs out for the scratch tables, with a line).
 */
int ag_rules_lint(const struct ag_config *cfg, struct ag_err *warn)
{
    struct rules_lint l = {.source = cfg->source ? cfg->source : "(config)", .warn = warn};
    size_t n_all = cfg->n_master_paths + cfg->n_access_paths + cfg->n_public_paths +
                   cfg->n_rules + cfg->n_routes;
    struct rules_item *items = calloc(n_all ? n_all : 1, sizeof(*items));
    char(*paths)[RULES_LINT_PATH] = calloc(n_all ? n_all : 1, sizeof(*paths));
    struct rules_item *pub = NULL, *prot = NULL;
    size_t k = 0, n_pub = 0, n_prot = 0, n_lists;
    const struct {
        const char *key;
        char **const *list;
        const size_t *n;
        unsigned need;
    } lists[] = {
        {"master-token-paths", &cfg->master_paths, &cfg->n_master_paths, AG_NEED_MASTER},
        {"access-token-paths", &cfg->access_paths, &cfg->n_access_paths, AG_NEED_ACCESS},
        {"public-paths", &cfg->public_paths, &cfg->n_public_paths, 0},
    };

    pub = calloc(n_all ? n_all : 1, sizeof(*pub));
    prot = calloc(n_all ? n_all : 1, sizeof(*prot));
    if (items == NULL || paths == NULL || pub == NULL || prot == NULL) {
        ag_err_add(warn, "%s: out of memory", l.source);
        goto out;
    }
    /* each list on its own: duplicates and entries covered by a shorter one */
    for (size_t li = 0; li < sizeof(lists) / sizeof(lists[0]); li++) {
        size_t start = k;

        for (size_t i = 0; i < *lists[li].n; i++) {
            if ((*lists[li].list)[i] == NULL)
                continue;
            snprintf(paths[k], RULES_LINT_PATH, "%s[%zu]", lists[li].key, i);
            items[k] = (struct rules_item){.path = paths[k], .prefix = (*lists[li].list)[i],
                                           .need = lists[li].need, .is_public = lists[li].need == 0};
            if (items[k].is_public)
                pub[n_pub++] = items[k];
            else
                prot[n_prot++] = items[k];
            k++;
        }
        rules_lint_list(&l, items + start, k - start);
    }
    n_lists = k;
    for (size_t i = 0; i < cfg->n_rules; i++) {
        const struct ag_rule *rule = &cfg->rules[i];

        if (rule->prefix == NULL)
            continue;
        snprintf(paths[k], RULES_LINT_PATH, "rules[%zu].prefix", i);
        items[k] = (struct rules_item){.path = paths[k], .prefix = rule->prefix,
                                       .need = ag_rules__need(rule), .is_public = rule->is_public,
                                       .rule = rule};
        if (rule->is_public)
            pub[n_pub++] = items[k];
        else
            prot[n_prot++] = items[k];
        k++;
    }
    rules_lint_rules(&l, items + n_lists, k - n_lists);
    if (cfg->deny_by_default) {
        rules_lint_public(&l, pub, n_pub, prot, n_prot);
    } else {
        for (size_t i = 0; i < n_pub; i++)
            rules_finding(&l, pub[i].path, "has no effect: deny-by-default is off");
    }
    for (size_t j = 0; j < cfg->n_routes; j++)
        for (size_t i = 0; i < j; i++)
            if (cfg->routes[i].prefix != NULL && cfg->routes[j].prefix != NULL &&
                strcasecmp(cfg->routes[i].prefix, cfg->routes[j].prefix) == 0) {
                char p[RULES_LINT_PATH];

                snprintf(p, sizeof(p), "routes[%zu].prefix", j);
                rules_finding(&l, p,
                              "same prefix as routes[%zu] (prefixes ignore case); only the "
                              "first is used",
                              i);
                break;
            }
    for (size_t j = 0; j < cfg->n_rules; j++) {
        char p[RULES_LINT_PATH];

        if (cfg->rules[j].prefix == NULL)
            continue;
        for (int roles = 0; roles < 2; roles++)
            if (ag_rules__union_size(cfg, j, roles) > AG_RULES_MAX_REQ) {
                snprintf(p, sizeof(p), "rules[%zu].%s", j, roles ? "roles" : "scopes");
                rules_finding(&l, p,
                              "error: with the rules whose prefix covers it, paths under "
                              "'%.60s' would require more than %d %s; authgate refuses this",
                              cfg->rules[j].prefix, AG_RULES_MAX_REQ, roles ? "roles" : "scopes");
            }
    }
out:
    free(items);
    free(paths);
    free(pub);
    free(prot);
    return l.findings;
}
