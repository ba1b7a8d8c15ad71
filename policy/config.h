/*
 * policy/config.h - the parsed, immutable, reference-counted configuration.
 *
 * Owns:     every string and array hanging off struct ag_config.
 * Entry:    ag_config_parse(), ag_config_ref(), ag_config_unref().
 * Not here: reading the file or the environment (gateway/server.c passes bytes and
 *           env values in: policy does no I/O), resolving host names (gateway).
 * Spec:     CONTRACT.md section 3; docs/config.md lists every key.
 */
#ifndef AG_POLICY_CONFIG_H
#define AG_POLICY_CONFIG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "base.h"
#include "password.h"

struct ag_listen_addr {
    char *host; /* "127.0.0.1", "::1" (brackets removed), "0.0.0.0", "::", or a name */
    char *port; /* decimal, 1..65535 */
};

struct ag_header_kv {
    char *name;  /* RFC 9110 token */
    char *value; /* visible ASCII, SP and HTAB; no CR/LF */
};

/*
 * `redis-sentinel` (CONTRACT.md section 15): JSON shape checked here; each sentinel's
 * "HOST:PORT" is kept as written and parsed by store/ (ag_gen_load), as `redis` is.
 */
struct ag_redis_sentinel {
    char *master;            /* the name the sentinels monitor */
    char **sentinels;        /* "HOST:PORT" or "[IPV6]:PORT", as written */
    size_t n_sentinels;      /* at least 1 */
    char *password;          /* AUTH on the primary; NULL: none */
    char *sentinel_password; /* AUTH on the sentinels; NULL: none */
    int db;                  /* SELECT <db> */
};

enum ag_samesite { AG_SAMESITE_LAX = 0, AG_SAMESITE_STRICT = 1, AG_SAMESITE_NONE = 2 };

/* One rate limit: at most <limit> events per <window> seconds. limit 0 = off. */
struct ag_rate {
    long limit;
    long window;
};

/* One entry of "trusted-proxies": an address block whose X-Forwarded-For is believed. */
struct ag_cidr {
    int family;               /* AF_INET or AF_INET6 */
    unsigned char addr[16];   /* network address, host bits cleared */
    unsigned bits;            /* prefix length */
};

/* One entry of "role-scopes": the OAuth2 scopes a role grants. */
struct ag_role_scopes {
    char *role;
    char **scopes;
    size_t n_scopes;
};

/* One entry of "rules" (docs/rules.md). */
struct ag_rule {
    char *prefix;        /* matched case-insensitively as a plain prefix */
    char **methods;      /* upper-case method names; n_methods 0 = every method */
    size_t n_methods;
    unsigned need;       /* AG_NEED_* of policy/rules.h: "auth" access, master or both */
    bool is_public;      /* "auth": "public": an exception to deny-by-default only */
    char **scopes;       /* the access token must hold all of them (implies access) */
    size_t n_scopes;
    char **roles;        /* the access token must hold all of them (implies access) */
    size_t n_roles;
};

/* One entry of "routes": requests under <prefix> go to this upstream (longest prefix wins). */
struct ag_route {
    char *prefix;
    char *upstream_host;
    char *upstream_port;
    char *upstream_hostport;
    bool upstream_tls;   /* "https://" */
};

/* Header names the identity goes upstream under ("identity-headers"). */
struct ag_identity_names {
    char *subject;   /* X-Auth-Subject */
    char *client_id; /* X-Auth-Client-Id */
    char *scopes;    /* X-Auth-Scopes */
    char *roles;     /* X-Auth-Roles */
};

/* The type of one declared user field ("user-fields", docs/users.md "Custom fields"). */
enum ag_ufield_type {
    AG_UFIELD_STRING = 1,
    AG_UFIELD_INTEGER = 2,
    AG_UFIELD_BOOLEAN = 3,
};

/* One entry of "user-fields": a custom member of the user object. */
struct ag_user_field {
    char *name;               /* [A-Za-z][A-Za-z0-9_]*, at most 64 bytes, no built-in name */
    enum ag_ufield_type type;
    bool required;            /* register refuses a body without it; PATCH cannot clear it */
    size_t max_len;           /* strings: characters (code points); default 255 */
    bool claim;               /* listed in "token-claims": copied into access tokens */
    char *header;             /* identity-headers.fields: the header it goes upstream as, or NULL */
};

/* "cors" (docs/cors.md). enabled false: off, and every other field is empty. */
struct ag_cors_config {
    bool enabled;
    bool any_origin;          /* "allow-origins": ["*"] */
    char **origins;           /* exact origins, scheme and host lower-cased as browsers send them */
    size_t n_origins;
    bool any_method;          /* "allow-methods": ["*"]: any method token */
    char **methods;           /* as written (methods are case-sensitive); default the seven usual */
    size_t n_methods;
    bool any_header;          /* "allow-headers": ["*"]: any requested header name */
    char **headers;           /* lower-cased field names (the CORS-safelisted four are implied) */
    size_t n_headers;
    bool credentials;         /* "allow-credentials"; never with any_origin */
    long max_age;             /* s, 0..86400; default 600 */
    char *methods_line;       /* "GET, POST" for Access-Control-Allow-Methods; NULL with any_method */
    char *expose_line;        /* "X-A, X-B" for Access-Control-Expose-Headers, or NULL */
};

/* One key of the "keys" ring as written (docs/keys.md); the gateway reads its file at load. */
struct ag_config_jwk {
    char *kid;                /* 1..64 printable characters, unique in the ring */
    int alg;                  /* enum ag_jwt_alg (policy/jwt.h); -1 only while parsing */
    char *secret;             /* HS256: the secret (zeroed on free); else NULL */
    size_t secret_len;
    char *key_file;           /* EdDSA/ES256/RS256: the PEM file; else NULL */
    bool key_private;         /* key_file is "private-key-file" (signs and verifies) */
    int sign;                 /* "sign": 1 true, 0 false, -1 absent */
};

/* "upstream-assertion" (docs/keys.md "Upstream assertions"): off while kid is NULL. */
struct ag_config_assertion {
    char *kid;                /* the ring key that signs them (it can sign) */
    size_t key;               /* its index in keys */
    char *header;             /* default "X-Auth-Assertion" */
    long ttl;                 /* s, exp - iat; 1..3600, default 30 */
};

struct ag_config {
    atomic_int _refs;
    char *source; /* file name the config came from, for messages */

    /* fastauth-api keys */
    char *app_name;           /* never NULL; default "authgate" */
    char *master_token;       /* NULL: master paths always refuse */
    size_t master_token_len;
    char *crypto_key;         /* NULL when "keys" has a signer, or with AG_CONFIG_F_NO_KEY_CHECK */
    size_t crypto_key_len;
    struct ag_config_jwk *keys; /* the "keys" ring (CONTRACT.md section 12) */
    size_t n_keys;
    size_t keys_signer;       /* index of the ring's signer; n_keys: cryptography-key signs */
    struct ag_config_assertion upstream_assertion;
    char **master_paths;      /* as written; matched after normalisation */
    size_t n_master_paths;
    char **access_paths;
    size_t n_access_paths;
    struct ag_header_kv *headers; /* added to every upstream request */
    size_t n_headers;

    /* authgate keys (CONTRACT.md section 3) */
    struct ag_listen_addr *listen;
    size_t n_listen;
    char *upstream_host;      /* from "http://HOST:PORT"; brackets removed for IPv6 */
    char *upstream_port;
    char *upstream_hostport;  /* "HOST:PORT" as written, for messages */
    bool upstream_tls;        /* "https://HOST:PORT": verified TLS (docs/tls.md) */
    char *redis_url;          /* as written; its syntax is checked by store/ (ag_gen_load);
                                 NULL when redis_sentinel is set */
    struct ag_redis_sentinel *redis_sentinel; /* `redis-sentinel`, or NULL: `redis` */
    int redis_min_replicas_ack; /* replicas a write waits for (WAIT) before it is answered; 0 */
    char *auth_prefix;        /* starts with '/', no trailing '/' */
    int workers;              /* 0: number of online CPUs */
    char *access_log;         /* "stderr", "off" or a path */
    double upstream_timeout;  /* s; response head (and body inactivity) */
    long access_token_ttl;
    long refresh_token_ttl;
    bool token_new_requires_master;
    bool accept_header;
    bool accept_cookie;
    bool set_cookie_on_login;
    bool cookie_secure;
    enum ag_samesite cookie_samesite;
    bool rate_limits;         /* false: every limit and lockout off */
    struct ag_rate rl_login, rl_register, rl_refresh, rl_token_new;
    long lockout_failures, lockout_seconds;
    struct ag_rate rl_login_account, rl_reset;
    struct ag_rate rl_sessions;       /* GET <auth-prefix>/sessions per user */
    struct ag_rate rl_bad_sigs;       /* failed asymmetric signature checks per client
                                         address and worker: then 429 unchecked */
    long bad_sigs_per_conn;           /* ... per connection: then it is closed */
    struct ag_rate rl_audit;          /* POST <auth-prefix>/audit per caller */

    /* users (docs/users.md) */
    bool registration;               /* POST <auth-prefix>/register is open */
    struct ag_pwparams passwords;    /* policy and argon2id parameters */
    int hash_threads;                /* password hashing threads; 0: number of online CPUs */
    struct ag_cidr *trusted_proxies; /* whose X-Forwarded-For names the client */
    size_t n_trusted_proxies;
    struct ag_role_scopes *role_scopes; /* roles not listed grant the scope of their name */
    size_t n_role_scopes;
    long reset_ttl;                  /* s a password reset token lives; default 900 */
    struct ag_user_field *user_fields; /* "user-fields", in name order; claim and header
                                        * filled from "token-claims" and identity-headers */
    size_t n_user_fields;
    char **token_claims;             /* "token-claims" as written (checked at the end) */
    size_t n_token_claims;
    char **field_headers;            /* identity-headers.fields: NAME, HEADER pairs */
    size_t n_field_headers;          /* pairs */
    char *reset_webhook;             /* "http://HOST:PORT/PATH" as written, or NULL */
    char *reset_webhook_host, *reset_webhook_port, *reset_webhook_path;
    long audit_stream_max;           /* entries kept in the audit stream; 0: log lines only */
    long max_sessions;               /* live sessions per subject; more end the oldest */

    /* proxy core (docs/config.md "Timeouts and limits") */
    double client_header_timeout;    /* s; whole request head, first byte to last */
    double client_timeout;           /* s; client body read / response write inactivity */
    double keepalive_timeout;        /* s; idle client connection between requests */
    double upstream_connect_timeout; /* s */
    double tunnel_timeout;           /* s; idle upgraded (websocket) tunnel */
    double drain_timeout;            /* s; in-flight requests on SIGTERM */
    size_t max_header_size;          /* bytes of a request or response head */
    size_t max_headers;              /* header fields in one head */
    unsigned long long max_body_size; /* bytes of a request body; 0 = unlimited */
    size_t upstream_pool_size;       /* idle upstream connections kept per worker */
    bool allow_path_semicolon;       /* allow ';' in paths (CONTRACT.md section 4) */

    /* rules and routes (docs/rules.md) */
    bool deny_by_default;            /* unmatched paths need an access token */
    char **public_paths;             /* exceptions to deny-by-default */
    size_t n_public_paths;
    struct ag_rule *rules;
    size_t n_rules;
    struct ag_route *routes;
    size_t n_routes;

    /* access tokens (docs/tokens.md) */
    char *token_issuer;              /* expected and issued "iss"; default app-name */
    char *token_audience;            /* required "aud", or NULL */
    long token_leeway;               /* s of clock skew for nbf/iat; default 30 */
    long token_exp_leeway;           /* s a token still passes from its exp on; default 0 */
    int64_t legacy_tokens_until;     /* legacy-tokens: first second fastauth-api tokens are
                                      * refused (00:00 UTC after "until"); 0: never accepted */
    size_t token_max_size;           /* bytes; default 8192 */
    size_t token_cache_size;         /* verified tokens cached per worker; 0 = off; 4096 */
    /* API keys (docs/api-keys.md; parsed in config_users.c) */
    char *api_key_header;            /* the request header that carries a key; "X-API-Key" */
    long api_keys_per_user;          /* keys a user may hold at once; 20 */
    size_t api_key_cache_size;       /* keys cached per worker (known and unknown ids); 4096 */
    long api_key_lookups;            /* Redis lookups of uncached key ids per client address,
                                        worker and minute; 0 = no bound; 20 */
    bool forward_credentials;        /* keep MASTER-TOKEN, ACCESS-TOKEN and the token cookies */
    bool forward_authorization;      /* keep an Authorization header that carried the token */
    struct ag_identity_names identity;

    /* browsers (docs/cors.md) */
    struct ag_cors_config cors;

    /* operations (docs/operations.md, CONTRACT.md section 11) */
    struct ag_listen_addr metrics_listen; /* host NULL: off */
    bool log_json;                   /* log-format "json": error and audit lines as JSON */
    /* TLS (policy/config_tls.c, docs/tls.md); the files are read by the gateway at load */
    struct ag_listen_addr *tls_listen;
    size_t n_tls_listen;
    char *tls_cert_file;      /* PEM: the leaf, then its chain */
    char *tls_key_file;       /* PEM private key, RSA or EC */
    int tls_min_version;      /* 12 (default) or 13 */
    char *upstream_ca_file;   /* PEM CAs for https upstreams; NULL: the system's store */
};

/* Values taken from the environment when the file leaves a key out (file wins). */
struct ag_config_env {
    const char *master_token;     /* MASTER_TOKEN */
    const char *cryptography_key; /* CRYPTOGRAPHY_KEY */
};

#define AG_CONFIG_F_NO_KEY_CHECK 0x0001 /* a missing cryptography-key is not an error */

/**
 * Parses the JSON text <json,len> read from <source> (used in messages only).
 * Returns a new config with one reference, or NULL with one line per problem in
 * <err>: "FILE: KEY: reason" (JSON path such as headers.X-A or listen[1]), or
 * "FILE:LINE:COL: reason" for syntax errors. Unknown keys, `database-api-url`,
 * wrong types and out-of-range values are problems. <env> may be NULL.
 */
struct ag_config *ag_config_parse(const char *json, size_t len, const char *source,
                                  const struct ag_config_env *env, unsigned flags,
                                  struct ag_err *err);

/** Whether the address <addr> (4 or 16 bytes of <family>) lies in "trusted-proxies". */
bool ag_config_trusted_proxy(const struct ag_config *cfg, int family, const void *addr);

/** Takes a reference; safe from any thread. Returns <cfg>. */
struct ag_config *ag_config_ref(struct ag_config *cfg);

/** Drops a reference; the last one frees everything (secrets zeroed). NULL is allowed. */
void ag_config_unref(struct ag_config *cfg);

#endif
