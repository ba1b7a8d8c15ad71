/*
 * policy/json_scan.h - a strict, allocation-free JSON scanner (RFC 8259) for small
 * untrusted texts such as a JWS header and payload: one pass, read only, the top-level
 * members recorded as slices of the input, strings decoded only when compared or copied.
 *
 * Owns:     nothing; every value borrows the scanned text.
 * Entry:    ag_json_scan(), ag_json_index(), ag_json_str_is(), ag_json_str_decode().
 * Not here: what the members mean (policy/jwt.c); building JSON (jansson, at load time).
 * Spec:     RFC 8259, RFC 3629 s.4; docs/jwt.md (why not jansson on the request path).
 */
#ifndef AG_POLICY_JSON_SCAN_H
#define AG_POLICY_JSON_SCAN_H

#include <stddef.h>
#include <stdint.h>

/*
 * Limits. A text beyond them is refused as malformed; they are the deliberate differences
 * from jansson (JSON_REJECT_DUPLICATES), which otherwise refuses exactly what this refuses.
 */
#define AG_JSON_MAX_DEPTH 16  /* arrays/objects nested in each other, the outermost included */
#define AG_JSON_MAX_KEYS 64   /* members of any one object */
#define AG_JSON_OPEN_KEYS 128 /* keys of the nested objects open at one time, together */

enum ag_json_type {
    AG_JSON_NONE = 0,
    AG_JSON_STR,  /* p,len: the bytes between the quotes, escapes still in place */
    AG_JSON_INT,  /* no fraction, no exponent; within int64 (checked by the scan) */
    AG_JSON_REAL, /* fraction or exponent; finite as a double (checked by the scan) */
    AG_JSON_LIT,  /* true, false, null */
    AG_JSON_ARR,  /* p,len: from '[' to ']' */
    AG_JSON_OBJ,  /* p,len: from '{' to '}' */
};

/* One scanned value, borrowed from the scanned text. <esc>: a string holding a backslash. */
struct ag_json_val {
    const unsigned char *p;
    size_t len;
    unsigned char type; /* enum ag_json_type */
    unsigned char esc;
};

/* The members of the top-level object, in order. */
struct ag_json_doc {
    size_t n;
    struct ag_json_val key[AG_JSON_MAX_KEYS], val[AG_JSON_MAX_KEYS];
};

/**
 * Scans <p,len> as one JSON text (RFC 8259 s.2) whose value is an object, and fills <doc>
 * with its top-level members (borrowed from <p>). Refuses raw control bytes, invalid UTF-8,
 * "\u0000", lone surrogates, numbers outside int64/double, repeated keys (decoded) in any
 * object, and texts beyond the AG_JSON_* limits. Returns 0, or AG_EPARSE with *<dup> set
 * when the first fault met is a repeated key, clear for any other fault.
 */
int ag_json_scan(const unsigned char *p, size_t len, struct ag_json_doc *doc, int *dup);

/** The int64 value of the scanned AG_JSON_INT <v> (in range: the scan checked it). */
int64_t ag_json_int(const struct ag_json_val *v);

/**
 * The double nearest the number <p,len> (valid JSON number syntax), independent of the
 * locale. Returns 0, or -1 when it overflows a double (underflow gives 0, as in jansson).
 */
int ag_json_real(const unsigned char *p, size_t len, double *out);

/** Whether the scanned strings <a> and <b> decode to the same bytes. */
int ag_json_str_eq(const struct ag_json_val *a, const struct ag_json_val *b);

/** Whether <v> (NULL allowed) is a string that decodes to <want,n>. */
int ag_json_str_is(const struct ag_json_val *v, const char *want, size_t n);

/** Decodes the string <v> into <dst> (capacity <cap>, no NUL added); the length or -1. */
long ag_json_str_decode(const struct ag_json_val *v, char *dst, size_t cap);

/* A member name to look up, with its length. */
struct ag_json_name {
    const char *s;
    size_t len;
};
#define AG_JSON_NAME(s) {(s), sizeof(s) - 1}

/**
 * Points <slot>[i] at the value of the top-level member of <doc> whose decoded key is
 * <names>[i] ("ex\u0070" is "exp"), or NULL. Keys up to 16 bytes decoded are matched.
 */
void ag_json_index(const struct ag_json_doc *doc, const struct ag_json_name *names, size_t n,
                   const struct ag_json_val **slot);

/* Walks the elements of a scanned array (valid, so no checks beyond what it returns). */
struct ag_json_arr {
    const unsigned char *p, *end;
};

/** Starts walking the scanned AG_JSON_ARR <a>. */
void ag_json_arr_init(struct ag_json_arr *it, const struct ag_json_val *a);

/** Puts the next element into <e> and returns 1 when it is a string; 0 at the end, -1 at an
 *  element of another type (callers that want only strings refuse those). */
int ag_json_arr_next(struct ag_json_arr *it, struct ag_json_val *e);

#endif
