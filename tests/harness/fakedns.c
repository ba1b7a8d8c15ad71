/*
 * tests/harness/fakedns.c - a DNS for integration tests, LD_PRELOADed into the gateway
 * (built as tests/libfakedns.so): getaddrinfo(3) answers "slow.authgate.test" with
 * 127.0.0.1 after 1.5 s, as a slow DNS server would; every other name goes to libc.
 * With it, a test shows that a Redis or a sentinel named by host is resolved without
 * holding the worker's event loop (store/resolve.c).
 *
 * Owns:     nothing.
 * Entry:    getaddrinfo().
 * Not here: the unit tests' own fake (tests/unit/store/resolve_test.c).
 */
#include <dlfcn.h>
#include <netdb.h>
#include <string.h>
#include <time.h>

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
    int (*next)(const char *, const char *, const struct addrinfo *, struct addrinfo **);

    *(void **)&next = dlsym(RTLD_NEXT, "getaddrinfo"); /* POSIX's way round C's rule */
    if (node != NULL && strcmp(node, "slow.authgate.test") == 0) {
        struct timespec ts = {1, 500000000L};
        while (nanosleep(&ts, &ts) != 0)
            ;
        node = "127.0.0.1";
    }
    return next(node, service, hints, res);
}
