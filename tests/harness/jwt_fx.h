/*
 * tests/harness/jwt_fx.h - ring keys for unit tests: a key loaded from PEM text, the
 * test failing with OpenSSL's reason when it does not load.
 *
 * Owns:     nothing; the key returned is the caller's (ag_jwt_key_free()).
 * Entry:    pem_key().
 * Not here: the PEM texts (tests/vectors/jwt/rfc_keys.h), the assertions (t.h).
 */
#ifndef AG_TESTS_JWT_FX_H
#define AG_TESTS_JWT_FX_H

#include <string.h>

#include "jwt.h"
#include "t.h"

/* The <alg> key of the PEM text <pem> (private when <priv>) named <kid>, or NULL (failed). */
static inline struct ag_jwt_key *pem_key(enum ag_jwt_alg alg, const char *pem, bool priv,
                                         const char *kid)
{
    char why[256] = "";
    struct ag_jwt_key *k = ag_jwt_key_new_pem(alg, pem, strlen(pem), priv, kid, why, sizeof(why));

    if (k == NULL)
        AG_FAIL_("cannot load %s key %s: %s", ag_jwt_alg_name(alg), kid, why);
    return k;
}

#endif
