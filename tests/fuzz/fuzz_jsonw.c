/*
 * tests/fuzz/fuzz_jsonw.c - libFuzzer target for policy/jsonw.c, differential against
 * jansson: any bytes cut into strings, written as one object by ag_jsonw and by
 * json_pack()-like jansson calls + json_dumps(JSON_COMPACT | JSON_PRESERVE_ORDER).
 *
 * Owns:     the buffers and jansson values of one run.
 * Entry:    LLVMFuzzerTestOneInput() (libFuzzer, or tests/fuzz/replay_main.c).
 * Not here: the corpus replay main (replay_main.c); seeds are in corpus/jsonw/.
 * Spec:     policy/jsonw.h (the bytes jansson writes, refused where jansson refuses).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jsonw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_STR 8

/*
 * Input: CAP(1 byte) INT(8 bytes) then strings separated by 0xff 0xfe (any bytes else,
 * NULs included), as "key0":"value0",... members after "n":INT. Checks, aborting on a
 * violation: ag_jsonw is bad exactly when jansson refuses a string (not UTF-8), else
 * writes jansson's bytes; in a buffer cut short (CAP) it is bad or writes the same
 * bytes, never past the buffer.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s[FUZZ_MAX_STR];
    size_t n[FUZZ_MAX_STR], k = 0, cap, at;
    int64_t v;
    json_t *o;
    bool refused = false;
    char key[16], *want = NULL, *buf, *small;
    struct ag_jsonw w, ws;

    if (size < 9)
        return 0;
    cap = data[0];
    memcpy(&v, data + 1, sizeof(v));
    at = 9;
    while (k < FUZZ_MAX_STR && at <= size) {
        const uint8_t *end = NULL;
        for (size_t i = at; i + 1 < size && end == NULL; i++)
            if (data[i] == 0xff && data[i + 1] == 0xfe)
                end = data + i;
        s[k] = (const char *)data + at;
        n[k] = end != NULL ? (size_t)(end - (data + at)) : size - at;
        at += n[k] + 2;
        k++;
        if (end == NULL)
            break;
    }
    o = json_object();
    json_object_set_new(o, "n", json_integer(v));
    for (size_t i = 0; i < k && !refused; i++) {
        json_t *j = json_stringn(s[i], n[i]);
        snprintf(key, sizeof(key), "key%zu", i);
        refused = j == NULL;
        json_object_set_new(o, key, j);
    }
    if (!refused && (want = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL)
        abort();

    size_t total = 64;
    for (size_t i = 0; i < k; i++)
        total += AG_JSONW_STR_MAX(n[i]) + 16;
    buf = malloc(total);
    small = malloc(cap > 0 ? cap : 1);
    if (buf == NULL || small == NULL)
        abort();
    ag_jsonw_init(&w, buf, total);
    ag_jsonw_init(&ws, small, cap);
    for (struct ag_jsonw *x = &w; x != NULL; x = x == &w ? &ws : NULL) {
        ag_jsonw_lit(x, "{\"n\":");
        ag_jsonw_int(x, v);
        for (size_t i = 0; i < k; i++) {
            int m = snprintf(key, sizeof(key), ",\"key%zu\":", i);
            ag_jsonw_raw(x, key, (size_t)m);
            ag_jsonw_str(x, s[i], n[i]);
        }
        ag_jsonw_lit(x, "}");
    }
    if (refused != (ag_jsonw_done(&w) < 0))
        abort(); /* refused exactly where jansson refuses, and the bound is enough */
    if (!refused && (strlen(want) != w.len || memcmp(want, w.p, w.len) != 0))
        abort();
    if (ag_jsonw_done(&ws) >= 0 && (refused || ws.len != w.len || memcmp(ws.p, w.p, w.len) != 0))
        abort();
    free(buf);
    free(small);
    free(want);
    json_decref(o);
    return 0;
}
