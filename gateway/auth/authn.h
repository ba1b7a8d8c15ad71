/*
 * gateway/auth/authn.h - the authentication step of a request: the credentials it
 * carries (MASTER-TOKEN; an access token from Bearer, ACCESS-TOKEN or the
 * access_token cookie, first present wins) judged against what the rules say
 * it needs, with a per-worker cache of verified tokens.
 *
 * Owns:     the worker's verified-token cache (struct ag_authn_cache).
 * Entry:    ag_authn_check(), ag_authn_refusal(), ag_authn_cache_new(), ag_authn_cache_free().
 * Not here: token cryptography and claims (policy/jwt.c), which paths need what
 *           (policy/rules.c), forwarding the identity (gateway/core/proxy.c).
 * Spec:     CONTRACT.md sections 4-6; RFC 6750 section 3; docs/tokens.md.
 */
#ifndef AG_GATEWAY_AUTHN_H
#define AG_GATEWAY_AUTHN_H

#include <stdbool.h>
#include <stddef.h>

#include "http1.h"
#include <stdint.h>

#include "jwt.h"
#include "rules.h"

struct ag_worker;
struct ag_gen;

/* Verdicts: zero is the failing value; compare with AG_AUTHN_OK only. */
enum ag_authn_status {
    AG_AUTHN_REJECT = 0,
    AG_AUTHN_OK = 1,
    AG_AUTHN_MASTER = -1,   /* 401 {"detail":"Unauthorized Master Token"} */
    AG_AUTHN_NO_TOKEN = -2, /* 401, no token presented */
    AG_AUTHN_INVALID = -3,  /* 401, error="invalid_token" */
    AG_AUTHN_SCOPE = -4,    /* 403, error="insufficient_scope" */
    AG_AUTHN_UNSYNCED = -5, /* the token holds, but the revocations are not loaded yet:
                               wait for them, or 503 (CONTRACT.md section 8) */
    AG_AUTHN_CSRF = -6,     /* 403: a cookie-carried write from another site while
                               cookie-samesite is "none" (ag_access_decide(), gateway/core/) */
    AG_AUTHN_FLOOD = -7,    /* 429 with Retry-After: the client address spent its budget of
                               failed asymmetric signature checks this second; the token was
                               not checked (docs/keys.md "Floods of invalid tokens") */
    AG_AUTHN_KEY_WAIT = -8,  /* an API key's first use on this worker: its Redis lookup is
                                on its way (key_lookup: this check started it); wait for it */
    AG_AUTHN_KEY_LIMIT = -9, /* 429: the client address spent its budget of lookups of
                                uncached API key ids (api-key-lookups) */
};

#define AG_AUTHN_SRC_BEARER 1 /* Authorization: Bearer */
#define AG_AUTHN_SRC_HEADER 2 /* ACCESS-TOKEN */
#define AG_AUTHN_SRC_COOKIE 3 /* cookie access_token */
#define AG_AUTHN_SRC_APIKEY 4 /* the api-key-header (docs/api-keys.md) */

struct ag_authn {
    enum ag_authn_status st;
    enum ag_jwt_status jwt;  /* why a presented token was refused */
    int src;                 /* AG_AUTHN_SRC_* of the token judged, 0 when none */
    bool identity;           /* an access token passed: its identity goes upstream */
    /* Borrowed from the cache or the worker's scratch claims; valid until the next check. */
    struct ag_str sub, client_id, scopes, roles;
    struct ag_str jti, sid;  /* of the access token (sid empty for a token without a session) */
    struct ag_str tok;       /* the access token that passed (a slice of the head), with identity */
    int64_t exp;             /* its end of life */
    bool client;             /* a client's token: it has no user (CONTRACT.md section 5) */
    const char *missing;     /* AG_AUTHN_SCOPE: the first scope or role lacking */
    bool close;              /* the connection reached its bound of failed asymmetric
                                signature checks: answer, then close it */
    /* An API key (src AG_AUTHN_SRC_APIKEY): its public id (a slice of the head), whether
     * this check started its lookup (KEY_WAIT), whether its last_used_at is due (OK). */
    struct ag_str key_id;
    bool key_lookup, key_touch;
    int64_t iat;             /* when the credential that passed was made: the access token's
                                iat, or when the API key's entry was loaded (a subject
                                watermark judges both against it) */
};

/*
 * The identity a credential that passed is judged by when a revocation comes while its
 * request is still live (gateway/core/live.c): an access token's jti, sid and subject
 * with its iat; an API key's id and owner with the time its entry was loaded, and the
 * scopes and roles that entry granted.
 */
struct ag_authn_cred {
    struct ag_str jti, sid, sub, key; /* key: the API key's public id, empty for a token */
    struct ag_str scopes, roles;      /* an API key's grant when it passed; empty for a token */
    int64_t iat;
    int64_t iat_next;                 /* an API key looked up again: its owner's watermark when
                                         the lookup was sent, its iat if the answer holds */
};

/* When ag_authn_live() judges a live credential. */
enum ag_authn_live_at {
    AG_AUTHN_LIVE_AT_SWEEP,      /* a revocation arrived */
    AG_AUTHN_LIVE_AT_ANSWER,     /* the lookup of its API key it waited for (another's) is back */
    AG_AUTHN_LIVE_AT_OWN_ANSWER, /* the lookup it sent (LOOKUP) is back */
};

/* What a revocation does to a live credential (ag_authn_live()). */
enum ag_authn_live {
    AG_AUTHN_LIVE_OK,      /* it still holds */
    AG_AUTHN_LIVE_REVOKED, /* a new request with it would be refused: end its exchange */
    AG_AUTHN_LIVE_LOOKUP,  /* an API key whose owner changed since its entry was loaded: its
                              entry is now PENDING, the caller sends the lookup
                              (ep_ops->key_lookup) and asks again when it is back */
    AG_AUTHN_LIVE_WAIT,    /* an API key whose lookup is under way: ask again when it is back */
};

/*
 * Where a request comes from, for the bound on failed asymmetric signature checks
 * (docs/keys.md "Floods of invalid tokens"): the client address (the peer, or behind a
 * trusted proxy X-Forwarded-For) has a budget per worker and second, a connection
 * from an untrusted peer a budget of its own.
 */
struct ag_authn_from {
    int family;              /* of the peer: AF_INET or AF_INET6 */
    const void *addr;        /* the peer's address, 4 or 16 bytes */
    unsigned *bad_sigs;      /* the connection's count, or NULL: no bound per connection
                                (its answer could not close it) */
    bool tokens_only;        /* an API key is not a credential here (the gateway's own
                                endpoints: docs/api-keys.md); it is not even looked at */
};

/**
 * Decides whether the request <h> from <from> (NULL: no flood bound, for a check that
 * needs no token) satisfies <v> under generation <g>. Fills <a>.
 * Never does I/O; the revocation set is consulted in memory. An API key not in the
 * worker's cache answers KEY_WAIT: the caller starts its lookup (key_lookup) and asks
 * again once it is back (docs/api-keys.md "On the request path").
 */
void ag_authn_check(struct ag_worker *w, const struct ag_gen *g, const struct ag_http1_head *h,
                    const struct ag_rules_verdict *v, const struct ag_authn_from *from,
                    struct ag_authn *a);

/**
 * Judges the live credential <c> at <now> as ag_authn_check() would judge a new request
 * with it, so that a live exchange ends exactly when its credential would now be refused.
 * A token: revoked by its jti, its sid or its subject's watermark over <c>->iat. An API
 * key: revoked by its id at once; when its owner's watermark passes its entry (logout-all,
 * deactivation, a role taken away), a new request would look the key up again, and so
 * does the exchange: a fresh entry another request loaded since is used as it is;
 * otherwise LOOKUP (the caller sends it; <c>->iat_next keeps the watermark it is sent
 * after), or WAIT for a lookup under way. When <at> says its own lookup is back, the
 * answer decides whatever second its entry was loaded in (Redis answered it after the
 * watermark's write). It holds when the entry grants the scopes and roles it passed with,
 * and <c>->iat moves past the watermark; otherwise it is revoked. So an owner's
 * logout-all, which does not revoke keys, leaves their exchanges open. A lookup that
 * failed is the caller's to judge (fail closed). Never does I/O.
 */
enum ag_authn_live ag_authn_live(struct ag_worker *w, const struct ag_gen *g,
                                 struct ag_authn_cred *c, int64_t now, enum ag_authn_live_at at);

/* What a refusal says: the status, the JSON body (NULL: the standard error body for the
 * status, with <detail> when set), and the header lines (RFC 6750 WWW-Authenticate, or
 * Retry-After), maybe "". */
struct ag_authn_refusal {
    int status;
    const char *body;   /* static */
    size_t len;
    char hdr[512];
    const char *detail; /* static; NULL: the status text */
};

/**
 * Describes the refusal of a request that <a> did not let through (any status but
 * AG_AUTHN_OK) into <r>: 401 with the RFC 6750 WWW-Authenticate header, 403 for a
 * missing scope or role or a cross-site write (CSRF), 503 with Retry-After for UNSYNCED,
 * 429 with Retry-After for FLOOD. The reply itself is
 * gateway/core/req.c's (ag_req_refuse()).
 */
void ag_authn_refusal(const struct ag_gen *g, const struct ag_authn *a,
                      struct ag_authn_refusal *r);

struct ag_authn_cache;

/** A cache of at most <max> verified tokens (0: caching off). NULL on OOM. */
struct ag_authn_cache *ag_authn_cache_new(size_t max);

/** Empties the cache (a new generation may have a new key). */
void ag_authn_cache_clear(struct ag_authn_cache *c);

/** Frees <c>. NULL allowed. */
void ag_authn_cache_free(struct ag_authn_cache *c);

/**
 * Whether the Authorization value <v> carries a Bearer credential: 0 when its
 * scheme is another one, 1 when it is Bearer (*<tok>, if not NULL, gets the token,
 * a slice of <v>), -1 when it is Bearer but malformed (a TAB after the scheme).
 * Both the check and the forwarding filter use it, so what is not judged as a
 * Bearer token is exactly what may go upstream.
 */
int ag_authn_bearer(struct ag_str v, struct ag_str *tok);

/** Whether <name> is one of the credential headers (MASTER-TOKEN, ACCESS-TOKEN, any '_' '.' spelling). */
bool ag_authn_is_credential_header(struct ag_str name);

/**
 * Whether <a> and <b> are the same header name up to case and '-' '_' '.' spellings: the one
 * header-name rule (policy/base.h), inline since it runs for every field against every name.
 */
static inline bool ag_authn_name_eq(struct ag_str a, const char *b)
{
    return ag_hdr_name_eq(a, b);
}

#endif
