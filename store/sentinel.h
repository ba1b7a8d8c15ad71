/*
 * store/sentinel.h - Redis Sentinel for one store, as store/link.c sees it: ask the
 * sentinels for the primary, follow +switch-master, say which primary is in use.
 *
 * Owns:     nothing; declares struct ag_sentinel (hung on the store: st->sentinel).
 * Entry:    ag_sentinel__new(), ag_sentinel__ask(), ag_sentinel__describe(),
 *           ag_sentinel__free(); ag_sentinel__parse_switch() (pure, for the tests). Only
 *           store/link.c, store/sentinel.c and the tests include this file.
 * Not here: the links to the primary and their handshake (store/link.c); the calls
 *           store/sentinel.c makes back (ag_link__primary(), store/link.h).
 * Spec:     CONTRACT.md section 15; docs/redis-keys.md "Connections".
 */
#ifndef AG_STORE_SENTINEL_H
#define AG_STORE_SENTINEL_H

#include <stddef.h>

#include "store.h"
#include "url.h"

struct ag_store;
struct ag_sentinel;

/**
 * The Sentinel side of <st> from <o> (sentinel_master, sentinels, sentinel_password; the
 * primary's password and db go into st->addr), with its watch of +switch-master started.
 * NULL on a bad sentinel address or OOM.
 */
struct ag_sentinel *ag_sentinel__new(struct ag_store *st, const struct ag_store_opts *o);

/**
 * Asks the sentinels in turn for the primary, unless a question is under way already.
 * Answers later (never from inside this call on success) through ag_link__primary():
 * st->addr then holds the primary, or a reason says why no sentinel named one.
 */
void ag_sentinel__ask(struct ag_sentinel *s);

/**
 * For the store's "ready" report: "primary HOST:PORT of 'NAME'", with ", after a failover
 * from HOST:PORT" the first time after a switch. Borrowed, valid until the next call.
 */
const char *ag_sentinel__describe(struct ag_sentinel *s);

/**
 * Pure: reads a +switch-master message <msg> (<len> bytes, untrusted) "<name> <old-ip>
 * <old-port> <new-ip> <new-port>". 0 with the new primary's host and port in <a> when it
 * is about <master> and well formed; -1 otherwise (<a> zeroed).
 */
int ag_sentinel__parse_switch(const char *msg, size_t len, const char *master,
                              struct ag_store_addr *a);

/** Closes the sentinel connections and frees <s> (NULL allowed); the password is zeroed. */
void ag_sentinel__free(struct ag_sentinel *s);

#endif
