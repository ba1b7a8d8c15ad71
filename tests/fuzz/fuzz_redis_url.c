/*
 * tests/fuzz/fuzz_redis_url.c - libFuzzer target for the one parser of the `redis`
 * setting, store/url.c ag_store_url_parse(): any bytes as the address.
 *
 * Owns:     one exact-size heap copy of the input per run.
 * Entry:    LLVMFuzzerTestOneInput() (libFuzzer, or tests/fuzz/replay_main.c).
 * Not here: the corpus replay main (replay_main.c); seeds are in corpus/redis_url/.
 * Spec:     CONTRACT.md section 3 (`redis`); docs/config.md "redis"; store/url.h.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Checks, aborting on a violation: an accepted address is either a unix path (absolute,
 * no host) or a host with a port of 1-65535 and a database of 0-2147483646, every field
 * NUL-terminated inside its array; a refused one has a reason and leaves no password.
 * An accepted TCP address, written back in the documented form, parses to the same.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ag_store_addr a, b;
    const char *why = NULL;
    char *s = malloc(size + 1);
    char again[700];

    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    if (ag_store_url_parse(s, &a, &why) < 0) {
        if (why == NULL || a.password[0] != '\0')
            abort();
        free(s);
        return 0;
    }
    if (memchr(a.host, '\0', sizeof(a.host)) == NULL || memchr(a.path, '\0', sizeof(a.path)) == NULL ||
        memchr(a.password, '\0', sizeof(a.password)) == NULL || a.db < 0)
        abort();
    if (a.path[0] != '\0') {
        if (a.path[0] != '/' || a.host[0] != '\0' || a.password[0] != '\0')
            abort();
    } else {
        if (a.host[0] == '\0' || a.port < 1 || a.port > 65535)
            abort();
        snprintf(again, sizeof(again), strchr(a.host, ':') ? "redis://%s%s%s[%s]:%d/%d"
                                                            : "redis://%s%s%s%s:%d/%d",
                 a.password[0] ? ":" : "", a.password, a.password[0] ? "@" : "", a.host, a.port,
                 a.db);
        if (ag_store_url_parse(again, &b, &why) < 0 || strcmp(a.host, b.host) != 0 ||
            strcmp(a.password, b.password) != 0 || a.port != b.port || a.db != b.db)
            abort();
    }
    free(s);
    return 0;
}
