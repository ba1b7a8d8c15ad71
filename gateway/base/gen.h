/*
 * gateway/base/gen.h - a configuration generation: one parsed config plus what the
 * gateway derives from it once, refcounted so that a reload frees nothing in use.
 *
 * Owns:     struct ag_gen (immutable once loaded; freed by the last ag_gen_unref()).
 * Entry:    ag_gen_ref(), ag_gen_unref(). Loading one: ag_gen_load() (gateway/server.h).
 * Not here: reading and resolving the config (gateway/server.c), the config keys (policy/config.c).
 */
#ifndef AG_GATEWAY_GEN_H
#define AG_GATEWAY_GEN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "base.h"
#include "config.h"

struct ag_rules;
struct ag_jwt_ring;
struct ag_revoke;
struct ag_pool;
struct ag_password_dummies;
struct ssl_ctx_st;

/* One upstream the gateway forwards to: [0] is `upstream`, [1 + i] is routes[i]. */
struct ag_upstream_addr {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    const char *hostport;          /* borrowed from the config, for Host and messages */
    const char *tls_host;          /* https: the name (or address) checked and sent as SNI; else NULL */
};

/*
 * A generation: one loaded config plus what the gateway derives from it once
 * (the resolved upstream address, the pre-formatted extra headers). Requests
 * hold a reference, so a reload never frees anything in use.
 */
struct ag_gen {
    atomic_int _refs;
    unsigned id;                   /* 1, 2, ... one per successful load */
    struct ag_config *cfg;         /* owned reference */
    struct ag_upstream_addr *ups;  /* resolved at load: 1 + cfg->n_routes entries */
    size_t n_ups;
    struct ag_rules *rules;        /* compiled path rules (owned) */
    struct ag_jwt_ring *ring;      /* cryptography-key and the "keys" ring, prepared (owned) */
    char *jwks;                    /* the ring's JWK Set, the body of /jwks.json (owned) */
    size_t jwks_len;
    struct ag_revoke *revoke;      /* the process's revocation set (borrowed) */
    struct ag_pool *pool;          /* the process's password-hashing threads (borrowed) */
    struct ag_password_dummies *pw_dummies; /* unknown users' dummy hashes (borrowed) */
    char *extra_headers;           /* "Name: value\r\n"... from cfg->headers */
    size_t extra_headers_len;
    bool access_log;               /* cfg->access_log is not "off" */
    bool timings;                  /* requests are timed: access_log or metrics-listen */
    unsigned path_flags;           /* AG_PATH_F_* from cfg */
    struct ag_upstream_addr webhook; /* password-reset webhook, resolved at load (addrlen 0: none) */
    struct ssl_ctx_st *tls_server; /* tls-listen's certificate and key, loaded at load (or NULL) */
    struct ssl_ctx_st *tls_client; /* for https upstreams (or NULL); see gateway/base/tls.h */
};

/** Takes a reference (any thread); returns <g>. */
struct ag_gen *ag_gen_ref(struct ag_gen *g);

/** Drops a reference; NULL allowed. */
void ag_gen_unref(struct ag_gen *g);

#endif
