/*
 * gateway/core/access.c - the access decision on a request for the upstream, written
 * once for the two places that ask it: a proxied request (gateway/core/conn.c) and a
 * forward-auth check of a request another proxy holds (gateway/ep/ep_verify.c).
 *
 * Owns:     nothing.
 * Entry:    ag_access_decide().
 * Not here: the rules (policy/rules.c), credentials and tokens (gateway/auth/authn.c),
 *           the CSRF verdict (policy/csrf.c, asked through w->ep_ops).
 * Spec:     CONTRACT.md sections 4, 6 and 11; docs/users.md "CSRF"; docs/forward-auth.md.
 */
#include "access.h"

#include "config.h"
#include "conn.h"
#include "gen.h"
#include "keycache.h"
#include "worker_types.h"

void ag_access_decide(struct ag_worker *w, const struct ag_gen *g, struct ag_str method,
                      struct ag_str path, const struct ag_http1_head *h,
                      const struct ag_authn_from *from, struct ag_rules_verdict *v,
                      struct ag_authn *a)
{
    const struct ag_config *cfg = g->cfg;

    ag_rules_match(g->rules, method, path, v);
    ag_authn_check(w, g, h, v, from, a);
    /* An API key: its first use starts the lookup (a store that is not ready: the request
     * waits for it as an unsynced one does), a used one records its use once a minute. */
    if (a->st == AG_AUTHN_KEY_WAIT && a->key_lookup && w->ep_ops->key_lookup(w, a->key_id) < 0) {
        ag_keycache_drop(w->kcache, a->key_id);
        a->st = AG_AUTHN_UNSYNCED;
    }
    if (a->key_touch)
        w->ep_ops->key_touch(w, a->key_id);
    /* SameSite=None sends the cookie along with another site's requests: a write it
     * carries must come from this site or a CORS origin (docs/users.md "CSRF"). */
    if (a->st == AG_AUTHN_OK && a->src == AG_AUTHN_SRC_COOKIE &&
        cfg->cookie_samesite == AG_SAMESITE_NONE && !ag_str_ieq(method, "GET") &&
        !ag_str_ieq(method, "HEAD") && !ag_str_ieq(method, "OPTIONS") &&
        w->ep_ops->csrf_foreign(cfg, h))
        a->st = AG_AUTHN_CSRF;
}
