/*
 * gateway/server.h - the process: configuration generations, worker threads,
 * signals (SIGHUP reload, SIGTERM/SIGINT drain and exit).
 *
 * Owns:     the current generation, the workers, the main thread's event_base.
 * Entry:    ag_server_run(), ag_gen_load(), ag_gen_store_addr(), ag_gen_lint().
 * Not here: per-connection work (gateway/core/conn.c), the CLI (gateway/main.c).
 */
#ifndef AG_GATEWAY_SERVER_H
#define AG_GATEWAY_SERVER_H

#include "base.h"
#include "config.h"
#include "gen.h"

/**
 * Reads <path>, parses it (env fallbacks from the process environment) and
 * resolves the upstream. Returns a new generation with one reference, or NULL
 * with one line per problem in <err>.
 */
struct ag_gen *ag_gen_load(const char *path, unsigned cfg_flags, struct ag_err *err);

struct ag_store_opts;

/**
 * Sets where the store connects, in <o>: `redis` of <cfg>, or its `redis-sentinel`
 * (borrowed from <cfg>: valid while <cfg> lives). Checked by ag_gen_load() already.
 */
void ag_gen_store_addr(const struct ag_config *cfg, struct ag_store_opts *o);

/** Appends the rule lint findings of <g> to <warn>; returns how many. */
int ag_gen_lint(const struct ag_gen *g, struct ag_err *warn);

/**
 * Runs the gateway with the config at <path> until SIGTERM/SIGINT. Returns the
 * process exit status: 0 after a clean drain, 2 for a configuration error, 1 otherwise.
 */
int ag_server_run(const char *path);

#endif
