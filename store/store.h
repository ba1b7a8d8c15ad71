/*
 * store/store.h - where authgate keeps its state: Redis. This first part only
 * understands the `redis` address; connections, sessions, users and
 * revocations build on it (issues "Token service" and "Users").
 *
 * Owns:     nothing yet.
 * Entry:    ag_store_url_parse().
 * Not here: HTTP (never), configuration files (policy/config.c).
 * Spec:     CONTRACT.md sections 3 (`redis`) and 8.
 */
#ifndef AG_STORE_STORE_H
#define AG_STORE_STORE_H

#include <stddef.h>

struct ag_store_addr {
    char host[256];     /* TCP host, brackets removed; empty for a unix socket */
    int port;           /* TCP port */
    char path[108];     /* unix socket path; empty for TCP */
    char password[256]; /* empty: no AUTH */
    int db;             /* SELECT <db> */
};

/**
 * Parses <url>: "redis://[:PASSWORD@]HOST:PORT[/DB]" or "unix:///PATH". Returns 0,
 * or -1 with <why> pointing at a fixed phrase.
 */
int ag_store_url_parse(const char *url, struct ag_store_addr *a, const char **why);

#endif
