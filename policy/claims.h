/*
 * policy/claims.h - the claim set of the tokens the gateway mints: an access, refresh
 * or password reset token's JSON payload from plain values and the config, and the
 * upstream assertion of a forwarded request (signed: ag_claims_assertion_sign()).
 *
 * Owns:     nothing; the JSON is a new string the caller frees.
 * Entry:    ag_claims_json(), ag_claims_reset_json(), ag_claims_assertion_sign().
 * Not here: signing (policy/jwt.c ag_jwt_sign(), called where the key is: gateway/
 *           endpoints.c), verifying claims (policy/jwt.c), checking a reset token
 *           (gateway/ep/ep_account.c).
 * Spec:     CONTRACT.md section 7; docs/tokens.md; RFC 7519 s.4.
 */
#ifndef AG_POLICY_CLAIMS_H
#define AG_POLICY_CLAIMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "jwt.h"

/* Which token of a pair; zero is no token. */
enum ag_claims_type {
    AG_CLAIMS_ACCESS = 1,  /* "type":"access", lives access-token-ttl */
    AG_CLAIMS_REFRESH = 2, /* "type":"refresh", lives refresh-token-ttl, carries "fam" */
};

/* What one token says beyond the config: borrowed NUL-terminated strings. */
struct ag_claims {
    const char *sub;       /* "sub" */
    const char *client_id; /* "client_id" */
    bool client;           /* a client's token: "sub_type":"client" */
    const char *jti;       /* "jti" */
    const char *sid;       /* "sid": the session */
    const char *fam;       /* "fam": the refresh family (refresh tokens only) */
    const char *scope;     /* "scope", space-separated; NULL or "" leaves it out */
    const char *roles;     /* "roles" as an array of the space-separated words; NULL or "": none */
    int64_t iat;           /* "iat"; "exp" is iat plus the type's ttl */
    const char *fields;    /* the user's custom fields (JSON object text, NULL or "": none):
                            * those in token-claims go into access tokens, after roles */
};

/**
 * The compact JSON claim set of a <type> token saying <c> under <cfg> (issuer: token-issuer,
 * else app-name; audience: token-audience when set), members in the order sub, client_id,
 * sub_type, type, iat, exp, jti, iss, sid, fam, aud, scope, roles, then (access tokens) the
 * token-claims fields <c> has, in name order; strings escaped, UTF-8 kept as it is. A new NUL-terminated string with its length in *<len>; NULL on OOM.
 */
char *ag_claims_json(const struct ag_config *cfg, enum ag_claims_type type,
                     const struct ag_claims *c, size_t *len);

/**
 * The compact JSON claim set of a password reset token for the user <uid>: sub, type
 * "reset", iat <now>, exp <now> + reset ttl, jti <jti>, iss as ag_claims_json(), pwh <pwh>
 * (the fingerprint of the password hash the token may replace), then aud when
 * token-audience is set. A new NUL-terminated string with its length in *<len>; NULL
 * on OOM.
 */
char *ag_claims_reset_json(const struct ag_config *cfg, const char *uid, const char *jti,
                           const char *pwh, int64_t now, size_t *len);

/* What an upstream assertion says of one forwarded request (docs/keys.md "Upstream
 * assertions"): slices, escaped when written. */
struct ag_claims_assertion {
    struct ag_str sub;    /* the identity's subject */
    struct ag_str sid;    /* its session; empty: no "sid" */
    struct ag_str jti;    /* the assertion's id */
    struct ag_str method; /* the request's method */
    struct ag_str path;   /* the forwarded path, without the query */
    int64_t iat;          /* "iat"; "exp" is iat plus upstream-assertion.ttl */
};

/**
 * Signs with <key> the assertion <a> under <cfg>: the claims sub, sid (when not empty),
 * iss (as ag_claims_json()), iat, exp (iat + upstream-assertion.ttl), jti, method, path,
 * in that order. Writes the NUL-terminated JWS into <out> (capacity <cap>) and returns
 * its length, AG_ETOOBIG when <cap> is short, AG_ENOMEM, or AG_EINVAL (the key cannot
 * sign). Pure: safe from any thread with a shared <key>.
 */
int ag_claims_assertion_sign(const struct ag_config *cfg, const struct ag_jwt_key *key,
                             const struct ag_claims_assertion *a, char *out, size_t cap);

/** A <cap> that ag_claims_assertion_sign() never finds short for <a>. */
size_t ag_claims_assertion_size(const struct ag_config *cfg, const struct ag_claims_assertion *a);

#endif
