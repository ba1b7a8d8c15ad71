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

/*
 * A generation: one loaded config plus what the gateway derives from it once
 * (the resolved upstream address, the pre-formatted extra headers). Requests
 * hold a reference, so a reload never frees anything in use.
 */
struct ag_gen {
    atomic_int _refs;
    unsigned id;                   /* 1, 2, ... one per successful load */
    struct ag_config *cfg;         /* owned reference */
    struct sockaddr_storage up_addr;
    socklen_t up_addrlen;
    char *extra_headers;           /* "Name: value\r\n"... from cfg->headers */
    size_t extra_headers_len;
    bool access_log;               /* cfg->access_log is not "off" */
    unsigned path_flags;           /* AG_PATH_F_* from cfg */
};

/**
 * Reads <path>, parses it (env fallbacks from the process environment) and
 * resolves the upstream. Returns a new generation with one reference, or NULL
 * with one line per problem in <err>.
 */
struct ag_gen *ag_gen_load(const char *path, unsigned cfg_flags, struct ag_err *err);

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
