/*
 * gateway/server.h - the process: configuration generations, worker threads,
 * signals (SIGHUP reload, SIGTERM/SIGINT drain and exit).
 *
 * Owns:     the current generation, the workers, the main thread's event_base.
 * Entry:    ag_server_run(), ag_gen_load(), ag_gen_ref(), ag_gen_unref().
 * Not here: per-connection work (gateway/conn.c), the CLI (gateway/main.c).
 */
#ifndef AG_GATEWAY_SERVER_H
#define AG_GATEWAY_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "base.h"
#include "config.h"

struct ag_rules;
struct ag_jwt_key;
struct ag_revoke;

/*
 * A generation: one loaded config plus what the gateway derives from it once
 * (the resolved upstream address, the pre-formatted extra headers). Requests
 * hold a reference, so a reload never frees anything in use.
 */
/* One upstream the gateway forwards to: [0] is `upstream`, [1 + i] is routes[i]. */
struct ag_upstream_addr {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    const char *hostport;          /* borrowed from the config, for Host and messages */
};

struct ag_gen {
    atomic_int _refs;
    unsigned id;                   /* 1, 2, ... one per successful load */
    struct ag_config *cfg;         /* owned reference */
    struct ag_upstream_addr *ups;  /* resolved at load: 1 + cfg->n_routes entries */
    size_t n_ups;
    struct ag_rules *rules;        /* compiled path rules (owned) */
    struct ag_jwt_key *key;        /* cryptography-key with its HMAC state (owned) */
    struct ag_revoke *revoke;      /* the process's revocation set (borrowed) */
    struct ag_pool *pool;          /* the process's password-hashing threads (borrowed) */
    struct ag_password_dummies *pw_dummies; /* unknown users' dummy hashes (borrowed) */
    char *extra_headers;           /* "Name: value\r\n"... from cfg->headers */
    size_t extra_headers_len;
    bool access_log;               /* cfg->access_log is not "off" */
    unsigned path_flags;           /* AG_PATH_F_* from cfg */
    struct ag_upstream_addr webhook; /* password-reset webhook, resolved at load (addrlen 0: none) */
};

/**
 * Reads <path>, parses it (env fallbacks from the process environment) and
 * resolves the upstream. Returns a new generation with one reference, or NULL
 * with one line per problem in <err>.
 */
struct ag_gen *ag_gen_load(const char *path, unsigned cfg_flags, struct ag_err *err);

/** Appends the rule lint findings of <g> to <warn>; returns how many. */
int ag_gen_lint(const struct ag_gen *g, struct ag_err *warn);

/** Takes a reference (any thread); returns <g>. */
struct ag_gen *ag_gen_ref(struct ag_gen *g);

/** Drops a reference; NULL allowed. */
void ag_gen_unref(struct ag_gen *g);

/**
 * Runs the gateway with the config at <path> until SIGTERM/SIGINT. Returns the
 * process exit status: 0 after a clean drain, 2 for a configuration error, 1 otherwise.
 */
int ag_server_run(const char *path);

#endif
