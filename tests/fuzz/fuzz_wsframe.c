/*
 * tests/fuzz/fuzz_wsframe.c - libFuzzer target for gateway/http/wsframe.c: any bytes as
 * an upstream's side of a WebSocket tunnel, scanned whole and then again in pieces whose
 * sizes the input's first byte picks, with stopping scans mixed in.
 *
 * Owns:     nothing (stack state).
 * Entry:    LLVMFuzzerTestOneInput() (libFuzzer, or tests/fuzz/replay_main.c).
 * Not here: the corpus replay main (replay_main.c); seeds are in corpus/wsframe/.
 * Spec:     RFC 6455 section 5.2; gateway/http/wsframe.h.
 */
#include <stdint.h>
#include <stdlib.h>

#include "wsframe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ag_wsframe whole = {0}, parts = {0};
    size_t step, i = 0, n;

    if (size == 0)
        return 0;
    step = (size_t)data[0] % 7 + 1;
    data++;
    size--;
    /* Boundaries must not depend on how the bytes were split into reads. */
    n = ag_wsframe_scan(&whole, data, size, false);
    if (n != size)
        abort();
    while (i < size) {
        size_t take = size - i < step ? size - i : step;
        bool stop = (i / step) % 2 == 1;
        size_t got = ag_wsframe_scan(&parts, data + i, take, stop);
        if (got > take || (!stop && got != take))
            abort();
        /* A stopping scan ends early only at a boundary. */
        if (got < take && !ag_wsframe_at_boundary(&parts))
            abort();
        if (got == 0 && stop && !ag_wsframe_at_boundary(&parts))
            abort();
        if (got == 0)
            got = ag_wsframe_scan(&parts, data + i, take, false);
        i += got;
    }
    if (ag_wsframe_at_boundary(&whole) != ag_wsframe_at_boundary(&parts) ||
        whole.left != parts.left || whole.broken != parts.broken)
        abort();
    return 0;
}
