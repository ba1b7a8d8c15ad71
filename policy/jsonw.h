/*
 * policy/jsonw.h - a small fixed-format JSON writer into a caller's buffer, for the answers
 * and claim sets that run on every refresh: no tree, no allocation, no printf. Strings are
 * written exactly as jansson's json_dumps() writes them (the same escapes, UTF-8 as it is)
 * and refused where jansson refuses them (invalid UTF-8), so a reply built here is the
 * bytes a json_pack() + json_dumps(JSON_COMPACT | JSON_PRESERVE_ORDER) made before.
 *
 * Owns:     nothing; writes into the buffer it is given.
 * Entry:    ag_jsonw_init(), ag_jsonw_raw(), ag_jsonw_lit(), ag_jsonw_str(),
 *           ag_jsonw_int() (at most AG_I64_TEXT_MAX bytes), ag_jsonw_done(), AG_JSONW_STR_MAX().
 * Not here: reading JSON (policy/json_scan.c), the escaper of log lines and claims
 *           (ag_json_escape_to(), policy/base.c), JSON built at load time (jansson).
 * Spec:     RFC 8259 s.7; tests/fuzz/fuzz_jsonw.c checks it against jansson byte for byte.
 */
#ifndef AG_POLICY_JSONW_H
#define AG_POLICY_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The most bytes a string of <n> bytes takes written, quotes included (\u001F per byte). */
#define AG_JSONW_STR_MAX(n) ((n) * 6 + 2)

/*
 * The output: <p> holds <len> bytes and a NUL after them. <bad> once something did not fit
 * in <cap> or a string was not UTF-8; then the text is unusable and later calls add nothing.
 */
struct ag_jsonw {
    char *p;
    size_t len, cap;
    bool bad;
};

/** Starts writing into <buf> of <cap> bytes (one of them for the closing NUL). */
void ag_jsonw_init(struct ag_jsonw *w, char *buf, size_t cap);

/** Appends <s,n> as it is (the caller's JSON punctuation and member names). */
void ag_jsonw_raw(struct ag_jsonw *w, const char *s, size_t n);

/** ag_jsonw_raw() of a string literal. */
#define ag_jsonw_lit(w, s) ag_jsonw_raw((w), (s), sizeof(s) - 1)

/** Appends <s,n> as a JSON string, quotes included; bad unless <s,n> is valid UTF-8. */
void ag_jsonw_str(struct ag_jsonw *w, const char *s, size_t n);

/** Appends <v> as a JSON integer. */
void ag_jsonw_int(struct ag_jsonw *w, int64_t v);

/** The text's length, or -1 when it is bad. */
long ag_jsonw_done(const struct ag_jsonw *w);

#endif
