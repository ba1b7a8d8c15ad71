/*
 * policy/auditin.c - reads the body of POST <auth-prefix>/audit (an application's event:
 * name, subject, detail object) and checks the query of GET <auth-prefix>/admin/audit.
 *
 * Owns:     the strings of struct ag_audit_in it hands out (ag_audit_in_clear()).
 * Entry:    ag_audit_in_parse(), ag_audit_in_clear(), ag_audit_filter_parse(),
 *           ag_audit_event_ok().
 * Not here: the stream and its scan (store/audit.c), the answers (gateway/ep/ep_audit.c).
 * Spec:     CONTRACT.md section 13; docs/admin.md "Audit API"; RFC 8259; ISO 8601.
 */
#include "auditin.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "base.h"

/* The errors, in FastAPI/pydantic v1 words where it has them; <field> filled in per use. */
static const struct ag_field_err ERR_NOT_JSON = {NULL, "body must be a JSON object",
                                                 "value_error.jsondecode"};
static const struct ag_field_err ERR_DUPLICATE = {NULL, "duplicate field", "value_error.duplicate"};
static const struct ag_field_err ERR_EXTRA = {NULL, "extra fields not permitted",
                                              "value_error.extra"};
static const struct ag_field_err ERR_MISSING = {NULL, "field required", "value_error.missing"};
static const struct ag_field_err ERR_NOT_STR = {NULL, "str type expected", "type_error.str"};
static const struct ag_field_err ERR_TOO_LONG = {NULL, "value is too long",
                                                 "value_error.any_str.max_length"};
static const struct ag_field_err ERR_NOT_DICT = {NULL, "value is not a valid dict",
                                                 "type_error.dict"};
static const struct ag_field_err ERR_EVENT = {
    NULL, "event must be 1 to 64 characters of letters, digits, '_', '.', ':' or '-'",
    "value_error.event"};
static const struct ag_field_err ERR_SUB = {
    NULL, "must be 1 to 512 bytes of text without control characters", "value_error.sub"};
static const struct ag_field_err ERR_DETAIL_SIZE = {
    "detail", "detail must serialize to at most 4096 bytes of JSON", "value_error.detail_size"};
static const struct ag_field_err ERR_LIMIT = {"limit", "limit must be an integer from 1 to 500",
                                              "value_error.limit"};
static const struct ag_field_err ERR_SINCE = {
    "since", "since must be epoch seconds or an ISO 8601 UTC time (YYYY-MM-DDTHH:MM:SSZ)",
    "value_error.since"};
static const struct ag_field_err ERR_BEFORE = {
    "before", "before must be an audit event id (a page's \"next\")", "value_error.before"};

/* Fills <e> (if any) with <proto>, naming <field> when <proto> names none. Returns AG_EPARSE. */
static int auditin_fail(struct ag_field_err *e, const struct ag_field_err *proto,
                        const char *field)
{
    if (e != NULL) {
        *e = *proto;
        if (e->field == NULL)
            e->field = field;
    }
    return AG_EPARSE;
}

bool ag_audit_event_ok(const char *s)
{
    size_t n = s != NULL ? strnlen(s, AG_AUDIT_EVENT_MAX + 1) : 0;

    if (n == 0 || n > AG_AUDIT_EVENT_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '_' || c == '.' || c == ':' || c == '-'))
            return false;
    }
    return true;
}

/* <s,n> is 1..512 bytes of valid UTF-8 without a control character (C0, DEL, C1) or NUL. */
static bool auditin_text_ok(const char *s, size_t n)
{
    if (n == 0 || n > AG_AUDIT_SUB_MAX)
        return false;
    for (size_t i = 0, k; i < n; i += k) {
        uint32_t cp = 0;

        k = ag_utf8_next((const unsigned char *)s + i, n - i, &cp);
        if (k == 0 || cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f))
            return false;
    }
    return true;
}

/* A new NUL-terminated copy of <s,n> into <*out>; 0 or AG_ENOMEM. */
static int auditin_copy(const char *s, size_t n, char **out)
{
    if ((*out = malloc(n + 1)) == NULL)
        return AG_ENOMEM;
    memcpy(*out, s, n);
    (*out)[n] = '\0';
    return 0;
}

/* One member <key> = <v> of the body into <out>; 0, AG_EPARSE with <e>, or AG_ENOMEM. */
static int auditin_member(const char *key, json_t *v, struct ag_audit_in *out,
                          struct ag_field_err *e)
{
    if (strcmp(key, "event") == 0) {
        if (!json_is_string(v))
            return auditin_fail(e, &ERR_NOT_STR, "event");
        /* A NUL inside (\u0000) stops strnlen short of the length: refused as well. */
        if (strlen(json_string_value(v)) != json_string_length(v) ||
            !ag_audit_event_ok(json_string_value(v)))
            return auditin_fail(e, &ERR_EVENT, "event");
        return auditin_copy(json_string_value(v), json_string_length(v), &out->event);
    }
    if (strcmp(key, "sub") == 0) {
        if (!json_is_string(v))
            return auditin_fail(e, &ERR_NOT_STR, "sub");
        if (!auditin_text_ok(json_string_value(v), json_string_length(v)))
            return auditin_fail(e, &ERR_SUB, "sub");
        return auditin_copy(json_string_value(v), json_string_length(v), &out->sub);
    }
    if (strcmp(key, "detail") == 0) {
        char *s;

        if (!json_is_object(v))
            return auditin_fail(e, &ERR_NOT_DICT, "detail");
        if ((s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL)
            return AG_ENOMEM;
        if (strlen(s) > AG_AUDIT_DETAIL_MAX) {
            free(s);
            return auditin_fail(e, &ERR_DETAIL_SIZE, NULL);
        }
        out->detail = s;
        return 0;
    }
    ag_text_clean(key, strlen(key), out->extra, sizeof(out->extra)); /* <key> dies with the body */
    return auditin_fail(e, &ERR_EXTRA, out->extra);
}

/*
 * Duplicate keys are refused at any depth (a duplicate is how two readers are made to see
 * different values); \u0000 is let through jansson so that a string holding one gets its
 * field's own error (inside detail it stays escaped in the stored text). Members are read
 * in the body's order, so the first problem named is the first in the body.
 */
int ag_audit_in_parse(const char *body, size_t len, struct ag_audit_in *out,
                      struct ag_field_err *e)
{
    json_error_t jerr;
    json_t *root, *v;
    const char *key;
    int rc = 0;

    *out = (struct ag_audit_in){NULL, NULL, NULL, ""};
    if (body == NULL || len == 0)
        return auditin_fail(e, &ERR_NOT_JSON, NULL);
    root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (root == NULL) {
        switch (json_error_code(&jerr)) {
        case json_error_out_of_memory:
            return AG_ENOMEM;
        case json_error_duplicate_key:
            return auditin_fail(e, &ERR_DUPLICATE, NULL);
        default:
            return auditin_fail(e, &ERR_NOT_JSON, NULL);
        }
    }
    if (!json_is_object(root)) {
        rc = auditin_fail(e, &ERR_NOT_JSON, NULL);
        goto out;
    }
    json_object_foreach(root, key, v)
    {
        if ((rc = auditin_member(key, v, out, e)) < 0)
            goto out;
    }
    if (out->event == NULL)
        rc = auditin_fail(e, &ERR_MISSING, "event");
out:
    json_decref(root);
    if (rc < 0)
        ag_audit_in_clear(out);
    return rc;
}

void ag_audit_in_clear(struct ag_audit_in *in)
{
    AG_FREE(in->event);
    AG_FREE(in->sub);
    AG_FREE(in->detail);
}

/* ------------------------------------------------------------------------------------------
 * The GET query
 * ------------------------------------------------------------------------------------------ */

/* Reads <n> digits of <s> into <*v>; false when one is not a digit. */
static bool auditin_digits(const char *s, size_t n, long long *v)
{
    *v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        *v = *v * 10 + (s[i] - '0');
    }
    return true;
}

/*
 * <s> as epoch seconds (1..12 digits) or "YYYY-MM-DDTHH:MM:SS[.frac]Z" (years 1970-9999,
 * a date that exists, no leap second), into milliseconds. 0 or AG_EPARSE.
 */
static int auditin_since(const char *s, int64_t *ms)
{
    size_t n = strlen(s);
    long long y, mo, d, h, mi, sec, frac = 0;
    struct tm tm = {0};
    time_t t;

    if (n >= 1 && n <= 12 && auditin_digits(s, n, &y)) {
        *ms = (int64_t)y * 1000;
        return 0;
    }
    if (n < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
        s[n - 1] != 'Z' || !auditin_digits(s, 4, &y) || !auditin_digits(s + 5, 2, &mo) ||
        !auditin_digits(s + 8, 2, &d) || !auditin_digits(s + 11, 2, &h) ||
        !auditin_digits(s + 14, 2, &mi) || !auditin_digits(s + 17, 2, &sec))
        return AG_EPARSE;
    if (n > 20) { /* ".f" to ".fffffffff": the milliseconds are the first three digits */
        long long f;
        size_t fn = n - 21;
        if (s[19] != '.' || fn < 1 || fn > 9 || !auditin_digits(s + 20, fn, &f))
            return AG_EPARSE;
        for (size_t i = 0; i < 3; i++)
            frac = frac * 10 + (i < fn ? s[20 + i] - '0' : 0);
    }
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59)
        return AG_EPARSE;
    tm.tm_year = (int)y - 1900;
    tm.tm_mon = (int)mo - 1;
    tm.tm_mday = (int)d;
    tm.tm_hour = (int)h;
    tm.tm_min = (int)mi;
    tm.tm_sec = (int)sec;
    t = timegm(&tm);
    if (t == (time_t)-1 || tm.tm_mday != (int)d) /* 31 April rolls over into May: refused */
        return AG_EPARSE;
    *ms = (int64_t)t * 1000 + frac;
    return 0;
}

/*
 * A stream id "<ms>-<seq>": two runs of 1..19 digits (so each fits Redis's 64 bits), not
 * "0-0" (nothing is older: Redis refuses the exclusive range).
 */
static bool auditin_id_ok(const char *s)
{
    const char *dash = strchr(s, '-');
    size_t a = dash != NULL ? (size_t)(dash - s) : 0, b = dash != NULL ? strlen(dash + 1) : 0;

    return a >= 1 && a <= 19 && b >= 1 && b <= 19 && strspn(s, "0123456789") == a &&
           strspn(dash + 1, "0123456789") == b && strspn(s, "0-") < a + b + 1;
}

int ag_audit_filter_parse(const char *user, const char *event, const char *since,
                          const char *limit, const char *before, struct ag_audit_filter *out,
                          struct ag_field_err *e)
{
    long long lim = AG_AUDIT_LIMIT_DEFAULT;

    *out = (struct ag_audit_filter){.user = user, .event = event, .before = before};
    if (user != NULL && strlen(user) > AG_AUDIT_SUB_MAX)
        return auditin_fail(e, &ERR_TOO_LONG, "user");
    if (event != NULL && !ag_audit_event_ok(event))
        return auditin_fail(e, &ERR_EVENT, "event");
    if (since != NULL && auditin_since(since, &out->since_ms) < 0)
        return auditin_fail(e, &ERR_SINCE, NULL);
    if (limit != NULL && (strlen(limit) > 3 || !auditin_digits(limit, strlen(limit), &lim) ||
                          lim < 1 || lim > AG_AUDIT_LIMIT_MAX))
        return auditin_fail(e, &ERR_LIMIT, NULL);
    if (before != NULL && !auditin_id_ok(before))
        return auditin_fail(e, &ERR_BEFORE, NULL);
    out->limit = (long)lim;
    return 0;
}
