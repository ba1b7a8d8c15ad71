/*
 * policy/rules.h - which requests need what: the master/access path lists of
 * fastauth-api, authgate's own rules (methods, scopes, roles, deny-by-default
 * with public exceptions) and routes to several upstreams, compiled once into a
 * byte trie so that a decision costs O(length of the path), not O(rules).
 *
 * Owns:     struct ag_rules (the compiled trie and rule table).
 * Entry:    ag_rules_new(), ag_rules_match(), ag_rules_free(); ag_rules_lint() (rules_lint.c).
 * Not here: credentials and tokens (policy/jwt.c, gateway/auth/authn.c), paths
 *           (policy/path.c normalises before matching), config syntax (policy/config.c).
 * Spec:     CONTRACT.md section 4; docs/rules.md.
 */
#ifndef AG_POLICY_RULES_H
#define AG_POLICY_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include "base.h"

struct ag_config;
struct ag_rule;

#define AG_NEED_MASTER 0x0001 /* MASTER-TOKEN header required */
#define AG_NEED_ACCESS 0x0002 /* a valid access token required */

#define AG_RULES_MAX_REQ 16 /* scopes or roles one request can be required to hold */

/* The decision for one request: every matching list and rule, combined. */
struct ag_rules_verdict {
    unsigned need;                      /* AG_NEED_* */
    const char *scopes[AG_RULES_MAX_REQ]; /* the token must hold all of these (borrowed) */
    size_t n_scopes;
    const char *roles[AG_RULES_MAX_REQ];  /* the token must hold all of these (borrowed) */
    size_t n_roles;
    int route;                          /* index into cfg->routes, or -1: the default upstream */
};

struct ag_rules;

/**
 * Compiles the rules of <cfg> (master-token-paths, access-token-paths, rules,
 * public-paths, deny-by-default, routes). Returns a new object, or NULL on OOM.
 * Prefixes are matched case-insensitively (ASCII) as plain prefixes.
 */
struct ag_rules *ag_rules_new(const struct ag_config *cfg);

/** Frees <r>. NULL allowed. */
void ag_rules_free(struct ag_rules *r);

/**
 * Decides what a request with <method> on the normalised <path> needs. Fills
 * <v>; strings in it are borrowed from <r> (valid while <r> lives). Never fails:
 * an unmatched path needs nothing (or an access token under deny-by-default,
 * unless a public path matches).
 */
void ag_rules_match(const struct ag_rules *r, struct ag_str method, struct ag_str path,
                    struct ag_rules_verdict *v);

/**
 * Lints the rules of <cfg>: duplicate prefixes in one list, a rule shadowed by an
 * earlier identical one, a public path that covers a protected prefix (public
 * paths never lift an explicit requirement, so such an entry misleads), and more
 * than AG_RULES_MAX_REQ scopes or roles on one path. One line per finding in
 * <warn> ("FILE: rules[2].prefix: ..."). Returns the number of findings.
 */
int ag_rules_lint(const struct ag_config *cfg, struct ag_err *warn);

/* Shared by rules.c (compile) and rules_lint.c only. */

/** True when <p> is an ASCII-case-insensitive prefix of <s> (both NUL-terminated). */
bool ag_rules__is_prefix(const char *p, const char *s);

/** The requirement of <rule>: "auth" plus AG_NEED_ACCESS when it names scopes or roles. */
unsigned ag_rules__need(const struct ag_rule *rule);

/** The distinct scopes (<roles> false) or roles a path at rule <j>'s prefix accumulates,
 *  counted up to AG_RULES_MAX_REQ + 1. */
size_t ag_rules__union_size(const struct ag_config *cfg, size_t j, bool roles);

#endif
