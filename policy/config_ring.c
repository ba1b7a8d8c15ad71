/*
 * policy/config_ring.c - the checks of the "keys" ring: each key's kid, alg and key
 * material as written, which key signs, and how the ring goes with cryptography-key and
 * master-token; and upstream-assertion, the ring key that signs the upstream's assertions.
 *
 * Owns:     the ring of the config being parsed (struct ag_config_jwk, config.h) and
 *           upstream-assertion (struct ag_config_assertion), which names a ring key.
 * Entry:    ag_config__parse_keys(), ag_config__keys_finish(), ag_config__keys_free(),
 *           ag_config__parse_upstream_assertion(), ag_config__assertion_finish().
 * Not here: reading the PEM files and judging the keys in them (gateway/server.c with
 *           policy/jwt_key.c, at load: policy never does I/O), verification (policy/jwt*.c).
 * Spec:     CONTRACT.md sections 3 and 12; docs/keys.md; docs/config.md.
 */
#include "config_int.h"

#include "jwt.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#define RING_KID_MAX 64 /* characters of a kid (AG_JWT_SIGN_EXTRA counts on it) */

/* Parses "kid" <m> at <kpath> into <k>, refusing a kid an earlier key of <ring> has. */
static void ring_parse_kid(struct config_ctx *c, const char *kpath, json_t *m,
                           struct ag_config_jwk *ring, size_t i)
{
    const char *s;
    size_t n;

    if (!ag_config__get_string(c, kpath, m, &s, &n))
        return;
    if (n == 0 || n > RING_KID_MAX || !ag_config__all_printable(s, n, false) ||
        strchr(s, '"') != NULL || strchr(s, '\\') != NULL) {
        ag_config__problem(c, kpath, "must be 1 to %d printable characters without spaces, "
                           "'\"' or '\\'", RING_KID_MAX);
        return;
    }
    for (size_t j = 0; j < i; j++)
        if (ring[j].kid != NULL && strcmp(ring[j].kid, s) == 0) {
            ag_config__problem(c, kpath, "same kid as keys[%zu]", j);
            return;
        }
    ring[i].kid = ag_config__strndup(c, s, n);
}

/* Parses one member <key> = <m> of the ring key <k> at <ipath>. */
static void ring_parse_member(struct config_ctx *c, const char *ipath, const char *key, json_t *m,
                              struct ag_config_jwk *k)
{
    static const char *const names[] = {"kid", "alg", "secret", "private-key-file",
                                        "public-key-file", "sign"};
    char kpath[AG_ERR_LINE];
    const char *s;
    size_t n;
    bool b;

    snprintf(kpath, sizeof(kpath), "%s.%s", ipath, key);
    if (strcmp(key, "alg") == 0) {
        enum ag_jwt_alg alg;
        if (!ag_config__get_string(c, kpath, m, &s, &n))
            return;
        if (ag_jwt_alg_parse(s, &alg) != 0)
            ag_config__problem(c, kpath, "expected \"HS256\", \"EdDSA\", \"ES256\" or \"RS256\"");
        else
            k->alg = (int)alg;
    } else if (strcmp(key, "secret") == 0) {
        if (ag_config__get_string(c, kpath, m, &s, &n) &&
            ag_config__check_secret(c, kpath, "", s, n)) {
            k->secret = ag_config__strndup(c, s, n);
            k->secret_len = n;
        }
    } else if (strcmp(key, "private-key-file") == 0 || strcmp(key, "public-key-file") == 0) {
        if (!ag_config__get_string(c, kpath, m, &s, &n))
            return;
        if (n == 0 || !ag_config__all_printable(s, n, true))
            ag_config__problem(c, kpath, "expected the path of a PEM file");
        else if ((k->key_file = ag_config__strndup(c, s, n)) != NULL)
            k->key_private = key[1] == 'r';
    } else if (strcmp(key, "sign") == 0) {
        if (ag_config__get_bool(c, kpath, m, &b))
            k->sign = b ? 1 : 0;
    } else if (strcmp(key, "kid") != 0) {
        ag_config__unknown_key(c, ipath, key, names, CONFIG_ARRAY_LEN(names));
    }
}

/* The rules between the members of the ring key <e> parsed into <k> at <ipath>. */
static void ring_check_key(struct config_ctx *c, const char *ipath, json_t *e,
                           const struct ag_config_jwk *k)
{
    bool hs = k->alg == AG_JWT_HS256, priv = json_object_get(e, "private-key-file") != NULL,
         pub = json_object_get(e, "public-key-file") != NULL;

    if (json_object_get(e, "kid") == NULL)
        ag_config__problem(c, ipath, "\"kid\" is required");
    if (json_object_get(e, "alg") == NULL)
        ag_config__problem(c, ipath, "\"alg\" is required");
    if (k->alg < 0)
        return; /* missing or unknown: reported */
    if (hs && json_object_get(e, "secret") == NULL)
        ag_config__problem(c, ipath, "HS256 needs \"secret\" (`authgate keygen` makes one)");
    if (hs && (priv || pub))
        ag_config__problem(c, ipath, "HS256 takes \"secret\", not a key file");
    if (!hs && json_object_get(e, "secret") != NULL)
        ag_config__problem(c, ipath, "%s takes \"private-key-file\" or \"public-key-file\", "
                           "not \"secret\"", ag_jwt_alg_name((enum ag_jwt_alg)k->alg));
    if (!hs && priv == pub)
        ag_config__problem(c, ipath, "%s needs exactly one of \"private-key-file\" (signs and "
                           "verifies) and \"public-key-file\" (verifies only)",
                           ag_jwt_alg_name((enum ag_jwt_alg)k->alg));
    if (k->sign == 1 && pub)
        ag_config__problem(c, ipath, "\"sign\": true needs a key that can sign (a secret or "
                           "\"private-key-file\")");
}

void ag_config__parse_keys(struct config_ctx *c, const char *path, json_t *v)
{
    struct ag_config *cfg = c->cfg;
    char ipath[64];
    const char *key;
    size_t i;
    json_t *e, *m;

    if (ag_config__array_new(c, path, v, "an array of key objects", NULL, sizeof(*cfg->keys),
                             (void **)&cfg->keys, &cfg->n_keys) == 0)
        return;
    json_array_foreach(v, i, e)
    {
        struct ag_config_jwk *k = &cfg->keys[i];

        k->sign = -1;
        k->alg = -1;
        snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
        if (!json_is_object(e)) {
            ag_config__problem(c, ipath, "expected an object {\"kid\": ..., \"alg\": ..., ...}");
            continue;
        }
        json_object_foreach(e, key, m)
        {
            if (strcmp(key, "kid") == 0) {
                char kpath[AG_ERR_LINE];
                snprintf(kpath, sizeof(kpath), "%s.kid", ipath);
                ring_parse_kid(c, kpath, m, cfg->keys, i);
            } else {
                ring_parse_member(c, ipath, key, m, k);
            }
        }
        ring_check_key(c, ipath, e, k);
    }
}

/* Whether the ring key <k> can sign as written. */
static bool ring_can_sign(const struct ag_config_jwk *k)
{
    return k->sign != 0 && (k->alg == AG_JWT_HS256 || k->key_private);
}

void ag_config__keys_finish(struct config_ctx *c, json_t *root, bool key_required)
{
    struct ag_config *cfg = c->cfg;
    size_t marked = cfg->n_keys, first = cfg->n_keys;
    char ipath[64];

    (void)root;
    for (size_t i = 0; i < cfg->n_keys; i++) {
        const struct ag_config_jwk *k = &cfg->keys[i];

        snprintf(ipath, sizeof(ipath), "keys[%zu].secret", i);
        if (k->secret != NULL && cfg->master_token != NULL &&
            k->secret_len == cfg->master_token_len &&
            sodium_memcmp(k->secret, cfg->master_token, k->secret_len) == 0)
            ag_config__problem(c, ipath, "must differ from master-token (whoever holds the "
                               "master token could sign tokens)");
        if (k->secret != NULL && cfg->crypto_key != NULL && k->secret_len == cfg->crypto_key_len &&
            sodium_memcmp(k->secret, cfg->crypto_key, k->secret_len) == 0)
            ag_config__problem(c, ipath, "must differ from cryptography-key (a kid-less token "
                               "would pass under either)");
        if (k->sign == 1) {
            if (marked < cfg->n_keys)
                ag_config__problem(c, "keys", "keys[%zu] and keys[%zu] both say \"sign\": true",
                                   marked, i);
            marked = i;
        }
        if (first == cfg->n_keys && ring_can_sign(k))
            first = i;
    }
    /* The key marked "sign": true, else the first that can sign, else cryptography-key. */
    cfg->keys_signer = marked < cfg->n_keys ? marked : first;
    if (key_required && cfg->crypto_key == NULL && cfg->keys_signer == cfg->n_keys)
        ag_config__problem(c, cfg->n_keys > 0 ? "keys" : "cryptography-key",
                           cfg->n_keys > 0 ? "no key can sign: add a secret or a "
                           "\"private-key-file\", or set cryptography-key"
                                           : "required (set it in the file or "
                           "CRYPTOGRAPHY_KEY; `authgate keygen` makes one)");
}

void ag_config__keys_free(struct ag_config *cfg)
{
    for (size_t i = 0; i < cfg->n_keys; i++) {
        struct ag_config_jwk *k = &cfg->keys[i];

        if (k->secret != NULL)
            sodium_memzero(k->secret, k->secret_len);
        AG_FREE(k->secret);
        AG_FREE(k->kid);
        AG_FREE(k->key_file);
    }
    AG_FREE(cfg->keys);
    cfg->n_keys = 0;
    AG_FREE(cfg->upstream_assertion.kid);
    AG_FREE(cfg->upstream_assertion.header);
}

/* ---------------------------------------------------------------- upstream-assertion */

#define ASSERT_TTL_DEFAULT 30 /* s: a cached assertion is reused for at most half of it */
#define ASSERT_TTL_MAX 3600

void ag_config__parse_upstream_assertion(struct config_ctx *c, const char *path, json_t *v)
{
    static const char *const names[] = {"kid", "header", "ttl"};
    struct ag_config_assertion *a = &c->cfg->upstream_assertion;
    char kpath[AG_ERR_LINE];
    const char *key, *s;
    long long ttl;
    size_t i = 0, n;
    json_t *m;

    a->ttl = ASSERT_TTL_DEFAULT;
    if (!json_is_object(v)) {
        ag_config__problem(c, path, "expected an object {\"kid\": ..., \"header\": ..., "
                           "\"ttl\": ...}");
        return;
    }
    if (json_object_get(v, "kid") == NULL)
        ag_config__problem(c, path, "\"kid\" is required (the ring key that signs)");
    json_object_foreach(v, key, m)
    {
        if (!ag_config__member(c, path, key, names, CONFIG_ARRAY_LEN(names), &i, kpath))
            continue;
        if (i == 2) {
            if (ag_config__get_int(c, kpath, m, 1, ASSERT_TTL_MAX, &ttl))
                a->ttl = (long)ttl;
            continue;
        }
        if (!ag_config__get_string(c, kpath, m, &s, &n))
            continue;
        if (i == 0) {
            a->kid = ag_config__strndup(c, s, n);
            continue;
        }
        if (ag_config__header_name_ok(c, kpath, s, n))
            a->header = ag_config__strndup(c, s, n);
    }
}

/*
 * Why upstream-assertion.header <name> cannot be used, or NULL: the gateway writes or keeps
 * a field of that name itself beyond those ag_config__header_name_ok() refuses (the
 * request id, X-Real-IP, an identity header, one of "headers").
 */
static const char *assertion_header_clash(const struct ag_config *cfg, const char *name)
{
    const struct ag_identity_names *id = &cfg->identity;
    const char *const ids[] = {id->subject, id->client_id, id->scopes, id->roles};
    struct ag_str n = ag_str_c(name);

    if (ag_hdr_name_eq(n, "x-request-id") || ag_hdr_name_eq(n, "x-real-ip") ||
        ag_hdr_name_eq(n, "proxy-authorization"))
        return "a forwarding or credential header; pick another";
    for (size_t i = 0; i < CONFIG_ARRAY_LEN(ids); i++)
        if (ids[i] != NULL && ag_hdr_name_eq(n, ids[i]))
            return "the name of an identity header (identity-headers)";
    for (size_t i = 0; i < cfg->n_user_fields; i++)
        if (cfg->user_fields[i].header != NULL && ag_hdr_name_eq(n, cfg->user_fields[i].header))
            return "the name of an identity header (identity-headers.fields)";
    for (size_t i = 0; i < cfg->n_headers; i++)
        if (cfg->headers[i].name != NULL && ag_hdr_name_eq(n, cfg->headers[i].name))
            return "a header the \"headers\" map sets";
    return NULL;
}

void ag_config__assertion_finish(struct config_ctx *c, json_t *root)
{
    struct ag_config *cfg = c->cfg;
    struct ag_config_assertion *a = &cfg->upstream_assertion;
    const char *why;
    size_t i;

    if (json_object_get(root, "upstream-assertion") == NULL || a->kid == NULL)
        return; /* off, or reported */
    for (i = 0; i < cfg->n_keys; i++)
        if (cfg->keys[i].kid != NULL && strcmp(cfg->keys[i].kid, a->kid) == 0)
            break;
    if (i == cfg->n_keys)
        ag_config__problem(c, "upstream-assertion.kid", "no key of \"keys\" has this kid");
    else if (!(cfg->keys[i].alg == AG_JWT_HS256 || cfg->keys[i].key_private))
        ag_config__problem(c, "upstream-assertion.kid", "key '%s' cannot sign: it needs "
                           "\"private-key-file\" (or be HS256 with a secret)", a->kid);
    a->key = i;
    if (a->header == NULL)
        a->header = ag_config__strndup(c, "X-Auth-Assertion", 16);
    if (a->header != NULL && (why = assertion_header_clash(cfg, a->header)) != NULL)
        ag_config__problem(c, "upstream-assertion.header", "%s", why);
}
