/*
 * policy/rules.c - compiles the path lists, rules, public paths and routes of a
 * config into one byte trie over ASCII-lower-cased prefixes, and decides per request
 * in one pass over the path.
 *
 * Owns:     struct ag_rules: trie nodes, entries and copies of every method, scope
 *           and role (verdicts borrow them); nothing of the config is kept.
 * Entry:    ag_rules_new(), ag_rules_match(), ag_rules_free().
 * Not here: the load-time lint (policy/rules_lint.c), config syntax (policy/config.c),
 *           normalisation (policy/path.c),
 *           credentials and tokens (gateway/auth/authn.c, policy/jwt.c).
 * Spec:     CONTRACT.md section 4; SECURITY-BASELINE.md path rule 7; docs/rules.md.
 */
#include "rules.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "config.h"

#define RULES_NONE UINT32_MAX /* no node, no entry */

/*
 * One thing that applies at a trie node: a list entry (methods none, no scopes)
 * or a rule. Strings are offsets into ag_rules._refs, so the arrays may grow.
 */
struct rules_ent {
    unsigned need;  /* AG_NEED_*; scopes or roles imply AG_NEED_ACCESS */
    bool is_public; /* an exception to deny-by-default */
    uint32_t m_off, n_m; /* methods (n_m 0: every method) */
    uint32_t s_off, n_s; /* scopes, interned: equal scopes are equal pointers */
    uint32_t r_off, n_r; /* roles, interned */
    uint32_t next;  /* next entry of the same node, or RULES_NONE */
};

/* A trie node; node 0 is the root, whose children are the 256-entry table _root. */
struct rules_node {
    unsigned char *keys; /* sorted child bytes (lower-cased) */
    uint32_t *kids;      /* node index per key */
    uint32_t n_kids;
    uint32_t ent;        /* first entry ending here, or RULES_NONE */
    int route;           /* index into cfg->routes ending here, or -1 */
};

struct ag_rules {
    bool deny_by_default;
    uint32_t _root[256];       /* children of the root by byte */
    struct rules_node *_nodes; /* [0] is the root */
    uint32_t _n_nodes, _cap_nodes;
    struct rules_ent *_ents;
    uint32_t _n_ents, _cap_ents;
    const char **_refs; /* method / scope / role pointers into _strs */
    uint32_t _n_refs, _cap_refs;
    char **_strs; /* every distinct string, owned */
    size_t _n_strs, _cap_strs;
};

/* ------------------------------------------------------------------------------------------
 * Helpers shared by compile and lint (rules_lint.c)
 * ------------------------------------------------------------------------------------------ */

/* True when <p> is an ASCII-case-insensitive prefix of <s> (both NUL-terminated). */
bool ag_rules__is_prefix(const char *p, const char *s)
{
    size_t n = strlen(p);

    return strlen(s) >= n && strncasecmp(p, s, n) == 0;
}

/* The requirement of <rule>: "auth" plus AG_NEED_ACCESS when it names scopes or roles. */
unsigned ag_rules__need(const struct ag_rule *rule)
{
    if (rule->is_public)
        return 0;
    return rule->need | ((rule->n_scopes || rule->n_roles) ? AG_NEED_ACCESS : 0u);
}

/*
 * Counts the distinct scopes (<roles> false) or roles that a path matching rule
 * <j> of <cfg> exactly at its prefix would accumulate: the union over every rule
 * whose prefix is a case-insensitive prefix of rule <j>'s, whatever its methods
 * (counting methods in would only make the bound tighter, never safer). Stops at
 * AG_RULES_MAX_REQ + 1. The deepest rule a path matches covers every other one
 * it matches, so checking each rule's prefix checks every path.
 */
size_t ag_rules__union_size(const struct ag_config *cfg, size_t j, bool roles)
{
    const char *seen[AG_RULES_MAX_REQ + 1];
    size_t n = 0;

    for (size_t i = 0; i < cfg->n_rules; i++) {
        const struct ag_rule *ri = &cfg->rules[i];
        char *const *set = roles ? ri->roles : ri->scopes;
        size_t n_set = roles ? ri->n_roles : ri->n_scopes;

        if (ri->prefix == NULL || !ag_rules__is_prefix(ri->prefix, cfg->rules[j].prefix))
            continue;
        for (size_t k = 0; k < n_set; k++) {
            bool dup = false;

            for (size_t m = 0; m < n && !dup; m++)
                dup = strcmp(seen[m], set[k]) == 0;
            if (dup)
                continue;
            if (n == AG_RULES_MAX_REQ + 1)
                return n;
            seen[n++] = set[k];
        }
    }
    return n;
}

/* ------------------------------------------------------------------------------------------
 * Compiling
 * ------------------------------------------------------------------------------------------ */

/* Grows the array *<arr> of *<cap> elements of <size> bytes to hold <need>; false on OOM. */
static bool rules_grow(void **arr, uint32_t *cap, uint32_t need, size_t size)
{
    uint32_t c = *cap ? *cap : 8;
    void *p;

    if (need <= *cap)
        return true;
    while (c < need)
        c *= 2;
    p = realloc(*arr, (size_t)c * size);
    if (p == NULL)
        return false;
    *arr = p;
    *cap = c;
    return true;
}

/* Appends an empty node; returns its index, or RULES_NONE on OOM. */
static uint32_t rules_node_new(struct ag_rules *r)
{
    if (!rules_grow((void **)&r->_nodes, &r->_cap_nodes, r->_n_nodes + 1, sizeof(*r->_nodes)))
        return RULES_NONE;
    r->_nodes[r->_n_nodes] =
        (struct rules_node){.keys = NULL, .kids = NULL, .n_kids = 0, .ent = RULES_NONE, .route = -1};
    return r->_n_nodes++;
}

/* Index in the sorted keys of <n> of byte <b>, or where it would be inserted. */
static uint32_t rules_bsearch(const struct rules_node *n, unsigned char b)
{
    uint32_t lo = 0, hi = n->n_kids;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;

        if (n->keys[mid] < b)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The child of <node> under the (lower-cased) byte <b>, or RULES_NONE. */
static uint32_t rules_child(const struct ag_rules *r, uint32_t node, unsigned char b)
{
    const struct rules_node *n;
    uint32_t i;

    if (node == 0)
        return r->_root[b];
    n = &r->_nodes[node];
    i = rules_bsearch(n, b);
    return (i < n->n_kids && n->keys[i] == b) ? n->kids[i] : RULES_NONE;
}

/* Returns the node for <prefix> (lower-cased), creating the missing ones; RULES_NONE on OOM. */
static uint32_t rules_insert(struct ag_rules *r, const char *prefix)
{
    uint32_t cur = 0;

    for (const char *s = prefix; *s != '\0'; s++) {
        unsigned char b = ag_ascii_lower((unsigned char)*s);
        uint32_t kid = rules_child(r, cur, b), at, nn;
        struct rules_node *n;
        unsigned char *keys;
        uint32_t *kids;

        if (kid != RULES_NONE) {
            cur = kid;
            continue;
        }
        kid = rules_node_new(r);
        if (kid == RULES_NONE)
            return RULES_NONE;
        if (cur == 0) {
            r->_root[b] = kid;
            cur = kid;
            continue;
        }
        n = &r->_nodes[cur]; /* after rules_node_new(), which may move _nodes */
        nn = n->n_kids + 1;
        keys = realloc(n->keys, nn);
        if (keys == NULL)
            return RULES_NONE;
        n->keys = keys;
        kids = realloc(n->kids, nn * sizeof(*kids));
        if (kids == NULL)
            return RULES_NONE;
        n->kids = kids;
        at = rules_bsearch(n, b);
        memmove(n->keys + at + 1, n->keys + at, n->n_kids - at);
        memmove(n->kids + at + 1, n->kids + at, (n->n_kids - at) * sizeof(*kids));
        n->keys[at] = b;
        n->kids[at] = kid;
        n->n_kids = nn;
        cur = kid;
    }
    return cur;
}

/* Returns the owned copy of <s> in <r> (one per distinct string), or NULL on OOM. */
static const char *rules_intern(struct ag_rules *r, const char *s)
{
    char *copy;

    for (size_t i = 0; i < r->_n_strs; i++)
        if (strcmp(r->_strs[i], s) == 0)
            return r->_strs[i];
    if (r->_n_strs == r->_cap_strs) {
        size_t cap = r->_cap_strs ? r->_cap_strs * 2 : 16;
        char **p = realloc(r->_strs, cap * sizeof(*p));

        if (p == NULL)
            return NULL;
        r->_strs = p;
        r->_cap_strs = cap;
    }
    copy = strdup(s);
    if (copy == NULL)
        return NULL;
    r->_strs[r->_n_strs++] = copy;
    return copy;
}

/* Appends interned copies of the <n> strings <set> to _refs; *<off> gets the start. */
static bool rules_add_refs(struct ag_rules *r, char *const *set, size_t n, uint32_t *off)
{
    *off = r->_n_refs;
    if (!rules_grow((void **)&r->_refs, &r->_cap_refs, r->_n_refs + (uint32_t)n, sizeof(*r->_refs)))
        return false;
    for (size_t i = 0; i < n; i++) {
        const char *s = rules_intern(r, set[i] != NULL ? set[i] : "");

        if (s == NULL)
            return false;
        r->_refs[r->_n_refs++] = s;
    }
    return true;
}

/*
 * Adds an entry at <prefix> with <need> and <is_public>; <rule> (may be NULL, for a
 * list entry) gives methods, scopes and roles. A NULL <prefix> is skipped (the
 * parser never leaves one in a config it returns). Returns false on OOM.
 */
static bool rules_add(struct ag_rules *r, const char *prefix, unsigned need, bool is_public,
                      const struct ag_rule *rule)
{
    struct rules_ent e = {.need = need, .is_public = is_public};
    uint32_t node;

    if (prefix == NULL)
        return true;
    node = rules_insert(r, prefix);
    if (node == RULES_NONE)
        return false;
    if (rule != NULL) {
        if (!rules_add_refs(r, rule->methods, rule->n_methods, &e.m_off) ||
            !rules_add_refs(r, rule->scopes, rule->n_scopes, &e.s_off) ||
            !rules_add_refs(r, rule->roles, rule->n_roles, &e.r_off))
            return false;
        e.n_m = (uint32_t)rule->n_methods;
        e.n_s = (uint32_t)rule->n_scopes;
        e.n_r = (uint32_t)rule->n_roles;
    }
    if (!rules_grow((void **)&r->_ents, &r->_cap_ents, r->_n_ents + 1, sizeof(*r->_ents)))
        return false;
    e.next = r->_nodes[node].ent;
    r->_ents[r->_n_ents] = e;
    r->_nodes[node].ent = r->_n_ents++;
    return true;
}

/*
 * Compiles <cfg> (see rules.h). Returns a new object, or NULL when memory runs out
 * or when some path could be required to hold more than AG_RULES_MAX_REQ scopes or
 * roles (ag_rules_lint() reports that case; a verdict never drops a requirement).
 * Of routes with the same prefix (ignoring case) the first one is used.
 */
struct ag_rules *ag_rules_new(const struct ag_config *cfg)
{
    struct ag_rules *r;
    bool ok = true;

    for (size_t j = 0; j < cfg->n_rules; j++)
        if (cfg->rules[j].prefix != NULL && (ag_rules__union_size(cfg, j, false) > AG_RULES_MAX_REQ ||
                                             ag_rules__union_size(cfg, j, true) > AG_RULES_MAX_REQ))
            return NULL;
    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->deny_by_default = cfg->deny_by_default;
    for (size_t b = 0; b < 256; b++)
        r->_root[b] = RULES_NONE;
    if (rules_node_new(r) != 0)
        goto fail;
    for (size_t i = 0; ok && i < cfg->n_master_paths; i++)
        ok = rules_add(r, cfg->master_paths[i], AG_NEED_MASTER, false, NULL);
    for (size_t i = 0; ok && i < cfg->n_access_paths; i++)
        ok = rules_add(r, cfg->access_paths[i], AG_NEED_ACCESS, false, NULL);
    for (size_t i = 0; ok && i < cfg->n_public_paths; i++)
        ok = rules_add(r, cfg->public_paths[i], 0, true, NULL);
    for (size_t i = 0; ok && i < cfg->n_rules; i++)
        ok = rules_add(r, cfg->rules[i].prefix, ag_rules__need(&cfg->rules[i]),
                       cfg->rules[i].is_public, &cfg->rules[i]);
    for (size_t i = 0; ok && i < cfg->n_routes; i++) {
        uint32_t node;

        if (cfg->routes[i].prefix == NULL)
            continue;
        node = rules_insert(r, cfg->routes[i].prefix);
        if (node == RULES_NONE)
            ok = false;
        else if (r->_nodes[node].route < 0)
            r->_nodes[node].route = (int)i;
    }
    if (ok)
        return r;
fail:
    ag_rules_free(r);
    return NULL;
}

/* Frees <r> and every string it holds; NULL is allowed. */
void ag_rules_free(struct ag_rules *r)
{
    if (r == NULL)
        return;
    for (uint32_t i = 0; i < r->_n_nodes; i++) {
        AG_FREE(r->_nodes[i].keys);
        AG_FREE(r->_nodes[i].kids);
    }
    AG_FREE(r->_nodes);
    AG_FREE(r->_ents);
    AG_FREE(r->_refs);
    for (size_t i = 0; i < r->_n_strs; i++)
        AG_FREE(r->_strs[i]);
    AG_FREE(r->_strs);
    free(r);
}

/* ------------------------------------------------------------------------------------------
 * Matching
 * ------------------------------------------------------------------------------------------ */

/*
 * True when <method> is one of the entry's methods (case-sensitive: methods are
 * tokens). An entry naming GET also applies to HEAD: a server answers HEAD as it
 * would GET, minus the body (RFC 9110 section 9.3.2), and most frameworks run the
 * GET handler for it, so a GET-only rule must not leave HEAD open.
 */
static bool rules_method_in(const struct ag_rules *r, const struct rules_ent *e,
                            struct ag_str method)
{
    bool head = method.len == 4 && memcmp(method.p, "HEAD", 4) == 0;

    for (uint32_t i = 0; i < e->n_m; i++) {
        const char *m = r->_refs[e->m_off + i];

        if (strlen(m) == method.len && memcmp(m, method.p, method.len) == 0)
            return true;
        if (head && strcmp(m, "GET") == 0)
            return true;
    }
    return false;
}

/*
 * Adds the <n> interned strings at _refs[<off>] of <r> to <set> (*<n_set> used)
 * without duplicates (interned: equal means the same pointer). Returns false if
 * <set> is full, which ag_rules_new() rules out; the caller then fails closed.
 */
static bool rules_union(const struct ag_rules *r, uint32_t off, uint32_t n, const char **set,
                        size_t *n_set)
{
    for (uint32_t i = 0; i < n; i++) {
        const char *add = r->_refs[off + i];
        size_t k = 0;

        while (k < *n_set && set[k] != add)
            k++;
        if (k < *n_set)
            continue;
        if (*n_set == AG_RULES_MAX_REQ)
            return false;
        set[(*n_set)++] = add;
    }
    return true;
}

/* Applies what ends at <node> to <v>; sets *<pub> when a public exception applies. */
static void rules_visit(const struct ag_rules *r, uint32_t node, struct ag_str method,
                        struct ag_rules_verdict *v, bool *pub)
{
    const struct rules_node *n = &r->_nodes[node];

    if (n->route >= 0)
        v->route = n->route; /* deeper nodes come later: the longest prefix wins */
    for (uint32_t i = n->ent; i != RULES_NONE; i = r->_ents[i].next) {
        const struct rules_ent *e = &r->_ents[i];

        if (e->n_m > 0 && !rules_method_in(r, e, method))
            continue;
        v->need |= e->need;
        *pub = *pub || e->is_public;
        if (!rules_union(r, e->s_off, e->n_s, v->scopes, &v->n_scopes) ||
            !rules_union(r, e->r_off, e->n_r, v->roles, &v->n_roles))
            v->need |= AG_NEED_MASTER | AG_NEED_ACCESS; /* unreachable; never drop one */
    }
}

/*
 * Walks the trie once along the lower-cased <path>, applying every prefix passed
 * (see rules.h). No allocation; O(length of <path>) (the entries per node and the
 * scope sets are bounded by the config). Deny-by-default: when nothing with a
 * requirement matched and no public exception did, an access token is needed.
 * Public exceptions never lift a requirement.
 */
void ag_rules_match(const struct ag_rules *r, struct ag_str method, struct ag_str path,
                    struct ag_rules_verdict *v)
{
    uint32_t node = 0;
    bool pub = false;

    v->need = 0;
    v->n_scopes = 0;
    v->n_roles = 0;
    v->route = -1;
    rules_visit(r, 0, method, v, &pub);
    for (size_t i = 0; i < path.len; i++) {
        node = rules_child(r, node, ag_ascii_lower((unsigned char)path.p[i]));
        if (node == RULES_NONE)
            break;
        rules_visit(r, node, method, v, &pub);
    }
    if (r->deny_by_default && v->need == 0 && !pub)
        v->need = AG_NEED_ACCESS;
}
