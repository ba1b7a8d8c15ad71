/*
 * store/url.h - the one parser of the `redis` setting and of a Redis "HOST:PORT" (the
 * sentinels of `redis-sentinel`), pure (no I/O): what `check` and `serve` accept is what
 * the store connects to.
 *
 * Owns:     nothing; struct ag_store_addr is the caller's.
 * Entry:    ag_store_url_parse(), ag_store_hostport_parse().
 * Not here: connecting (store/store.h ag_store_new(), store/link.c).
 * Spec:     CONTRACT.md sections 3 (`redis`) and 15; docs/config.md "redis", "redis-sentinel".
 */
#ifndef AG_STORE_URL_H
#define AG_STORE_URL_H

struct ag_store_addr {
    char host[256];     /* TCP host, brackets removed; empty for a unix socket */
    int port;           /* TCP port */
    char path[108];     /* unix socket path; empty for TCP */
    char password[256]; /* empty: no AUTH */
    int db;             /* SELECT <db> */
};

/**
 * The one parser of the `redis` setting (pure: no I/O), run by `check` and `serve` when
 * they load a config and by ag_store_new(). <url>: "redis://[:PASSWORD@]HOST:PORT[/DB]"
 * or "unix:///PATH", schemes in any letter case (RFC 3986 s.3.1); printable ASCII; the
 * port required (1-65535); DB 0-2147483646 (what SELECT can take), "/" alone is 0;
 * PASSWORD as written up to the last '@'; no user name, no "rediss://". Returns 0 with
 * <a> filled, or -1 with <a> zeroed and <why> pointing at a fixed phrase (docs/config.md).
 */
int ag_store_url_parse(const char *url, struct ag_store_addr *a, const char **why);

/**
 * The one parser of a Redis "HOST:PORT" (pure): each entry of `redis-sentinel`'s
 * "sentinels", and the address a sentinel answers with. <s>: "HOST:PORT" or
 * "[IPV6]:PORT", printable ASCII, HOST as in a `redis` URL, the port required (1-65535).
 * Returns 0 with <a>'s host and port filled (the rest zero), or -1 with <a> zeroed and
 * <why> pointing at a fixed phrase.
 */
int ag_store_hostport_parse(const char *s, struct ag_store_addr *a, const char **why);

#endif
