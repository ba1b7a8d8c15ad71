/*
 * policy/apikey.h - API keys as text: the key format `agk_<id>_<secret>` (parsing what a
 * client sends, making a new one) and the body of POST <auth-prefix>/api-keys.
 *
 * Owns:     nothing long-lived; a parsed body's strings are the caller's to free.
 * Entry:    ag_apikey_parse(), ag_apikey_make(), ag_apikey_parse_create(),
 *           ag_apikey_create_clear().
 * Not here: storing keys (store/apikeys.c), the per-worker cache and the check of a request
 *           (gateway/auth/keycache.c), the endpoints (gateway/ep/ep_apikeys.c).
 * Spec:     CONTRACT.md section 14; docs/api-keys.md.
 */
#ifndef AG_POLICY_APIKEY_H
#define AG_POLICY_APIKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base.h"
#include "userin.h"

#define AG_APIKEY_PREFIX "agk_"
#define AG_APIKEY_ID_LEN 16      /* the public id: 16 characters of [a-z0-9] (80 bits) */
#define AG_APIKEY_SECRET_LEN 43  /* 32 random bytes in base64url without padding */
#define AG_APIKEY_SECRET_BYTES 32
#define AG_APIKEY_LEN (4 + AG_APIKEY_ID_LEN + 1 + AG_APIKEY_SECRET_LEN) /* 64 */
#define AG_APIKEY_NAME_MAX 64    /* characters of a key's name */
#define AG_APIKEY_TTL_MAX 157680000L /* expires_in at most 5 years (seconds) */
#define AG_APIKEY_SCOPES_MAX 1024 /* bytes of the requested scopes, space-joined */

/* A presented key split in its parts (slices of the value). */
struct ag_apikey_parts {
    struct ag_str id, secret;
};

/**
 * Splits the header value <v> into its id and secret when it has the exact format
 * `agk_` + 16 of [a-z0-9] + `_` + 43 of base64url: 0, or -1 for anything else (then
 * no lookup is ever made for it).
 */
int ag_apikey_parse(struct ag_str v, struct ag_apikey_parts *out);

/**
 * Makes a new key in <key> (AG_APIKEY_LEN + 1 bytes, NUL-ended) from the random bytes
 * <id_rnd> (AG_APIKEY_ID_LEN of them, any values) and <secret> (AG_APIKEY_SECRET_BYTES).
 * The caller draws them (libsodium's randombytes_buf()); this only encodes.
 */
void ag_apikey_make(const unsigned char *id_rnd, const unsigned char *secret, char *key);

/* The body of POST <auth-prefix>/api-keys, parsed. */
struct ag_apikey_create {
    char *name;       /* 1-64 characters, no control characters */
    char *scopes;     /* the requested scopes, space-separated, or NULL: all of the user's */
    long expires_in;  /* seconds, 1..AG_APIKEY_TTL_MAX, or 0: no expiry */
};

/**
 * Parses the JSON body <body,len> of a key creation into <out>: `name` (required string,
 * 1-64 characters), `scopes` (optional: an array of scope names, or one space-separated
 * string), `expires_in` (optional positive integer of seconds, at most 5 years; null is
 * none). Any other member is refused. 0, AG_EINVAL with <e> naming the field (422),
 * or AG_ENOMEM.
 */
int ag_apikey_parse_create(const char *body, size_t len, struct ag_apikey_create *out,
                           struct ag_field_err *e);

/** Frees the strings of <c> (NULL allowed) and zeroes it. */
void ag_apikey_create_clear(struct ag_apikey_create *c);

#endif
