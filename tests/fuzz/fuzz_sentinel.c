/*
 * tests/fuzz/fuzz_sentinel.c - libFuzzer target for what a sentinel setup parses from
 * outside: a "HOST:PORT" (store/url.c ag_store_hostport_parse(): the configured sentinels,
 * a sentinel's answer) and a +switch-master message (store/sentinel.c
 * ag_sentinel__parse_switch(), read off a sentinel's pub/sub).
 *
 * Owns:     one exact-size heap copy of the input per run.
 * Entry:    LLVMFuzzerTestOneInput() (libFuzzer, or tests/fuzz/replay_main.c).
 * Not here: the corpus replay main (replay_main.c); seeds are in corpus/sentinel/.
 * Spec:     CONTRACT.md section 15; docs/config.md "redis-sentinel"; store/url.h, sentinel.h.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sentinel.h"
#include "url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An accepted address: a NUL-terminated host, a port of 1-65535, nothing else set. */
static void check_addr(const struct ag_store_addr *a)
{
    if (memchr(a->host, '\0', sizeof(a->host)) == NULL || a->host[0] == '\0' || a->port < 1 ||
        a->port > 65535 || a->path[0] != '\0' || a->password[0] != '\0' || a->db != 0)
        abort();
}

/*
 * The whole input as a "HOST:PORT" and as a +switch-master message for the master "m".
 * Checks, aborting on a violation: an accepted address is well formed and, written back
 * as "HOST:PORT" (brackets for IPv6), parses to the same; a refused one has a reason and
 * leaves the address zeroed.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ag_store_addr a, b;
    const char *why = NULL;
    char *s = malloc(size + 1);
    char again[300];

    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    if (ag_store_hostport_parse(s, &a, &why) == 0) {
        check_addr(&a);
        snprintf(again, sizeof(again), strchr(a.host, ':') ? "[%s]:%d" : "%s:%d", a.host, a.port);
        if (ag_store_hostport_parse(again, &b, &why) < 0 || strcmp(a.host, b.host) != 0 ||
            a.port != b.port)
            abort();
    } else if (why == NULL || a.host[0] != '\0' || a.port != 0) {
        abort();
    }
    if (ag_sentinel__parse_switch(s, size, "m", &a) == 0) {
        check_addr(&a);
        if (size < 2 || memcmp(s, "m ", 2) != 0)
            abort();
    } else if (a.host[0] != '\0' || a.port != 0) {
        abort();
    }
    free(s);
    return 0;
}
