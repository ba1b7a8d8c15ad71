/*
 * gateway/base/gen.c - the reference count of a configuration generation.
 *
 * Owns:     freeing a generation and what it derived (rules, key, upstream addresses,
 *           TLS contexts: connections opened with them hold their own references).
 * Entry:    ag_gen_ref(), ag_gen_unref().
 * Not here: loading one (gateway/server.c, ag_gen_load()).
 */
#include "gen.h"

#include <stdlib.h>

#include <openssl/ssl.h>

#include "jwt.h"
#include "rules.h"

struct ag_gen *ag_gen_ref(struct ag_gen *g)
{
    atomic_fetch_add(&g->_refs, 1);
    return g;
}

void ag_gen_unref(struct ag_gen *g)
{
    if (g == NULL || atomic_fetch_sub(&g->_refs, 1) != 1)
        return;
    ag_rules_free(g->rules);
    ag_jwt_ring_free(g->ring);
    free(g->jwks);
    ag_config_unref(g->cfg);
    free(g->ups);
    free(g->extra_headers);
    SSL_CTX_free(g->tls_server);
    SSL_CTX_free(g->tls_client);
    free(g);
}
