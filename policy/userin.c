/*
 * policy/userin.c - reads the named string fields of a user-endpoint body (a JSON
 * object, or an application/x-www-form-urlencoded form) into NUL-terminated copies,
 * and checks emails and usernames.
 *
 * Owns:     the value copies it hands out (ag_body_fields_free() zeroes and frees them).
 * Entry:    ag_body_fields(), ag_body_fields_free(), ag_body_json_object(),
 *           ag_user_check_email(), ag_user_check_username(), ag_user_fold(),
 *           ag_body_login().
 * Not here: collecting the body (gateway/), the 422 reply (gateway/http/reply.c), passwords.
 * Spec:     CONTRACT.md section 7; docs/users.md; WHATWG URL "urlencoded parsing";
 *           RFC 5321 s.4.5.3.1 and RFC 5322 s.3.4.1 (emails); RFC 3629 (UTF-8).
 */
#include "userin.h"

#include <stdint.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "base.h"

#define USERIN_DEFAULT_MAX 4096

/* The errors, FastAPI/pydantic v1 words; <field> is filled in where one is named. */
static const struct ag_field_err ERR_NOT_JSON = {NULL, "body must be a JSON object",
                                                 "value_error.jsondecode"};
static const struct ag_field_err ERR_NOT_FORM = {
    NULL, "body must be a form (application/x-www-form-urlencoded)", "value_error.formdecode"};
static const struct ag_field_err ERR_DUPLICATE = {NULL, "duplicate field", "value_error.duplicate"};
static const struct ag_field_err ERR_MISSING = {NULL, "field required", "value_error.missing"};
static const struct ag_field_err ERR_NOT_STR = {NULL, "str type expected", "type_error.str"};
static const struct ag_field_err ERR_TOO_LONG = {NULL, "value is too long",
                                                 "value_error.any_str.max_length"};
static const struct ag_field_err ERR_NOT_TEXT = {
    NULL, "value must be valid UTF-8 text without NUL characters", "value_error.unicode"};
static const struct ag_field_err ERR_EMAIL = {"email", "value is not a valid email address",
                                              "value_error.email"};
static const struct ag_field_err ERR_USERNAME = {
    "username",
    "username must be 3 to 32 characters of letters, digits, '_', '.' or '-', starting with a "
    "letter or digit",
    "value_error.username"};

/* Fills <e> (if any) with <proto>, naming <field> when <proto> names none. Returns <rc>. */
static int userin_fail(struct ag_field_err *e, const struct ag_field_err *proto,
                       const char *field, int rc)
{
    if (e != NULL) {
        *e = *proto;
        if (e->field == NULL)
            e->field = field;
    }
    return rc;
}

/* True when <s,n> is valid UTF-8. */
static bool userin_utf8_valid(const unsigned char *s, size_t n)
{
    uint32_t cp;

    for (size_t i = 0, k; i < n; i += k)
        if ((k = ag_utf8_next(s + i, n - i, &cp)) == 0)
            return false;
    return true;
}

size_t ag_text_clean(const char *in, size_t n, char *out, size_t cap)
{
    static const char repl[] = "\xef\xbf\xbd"; /* U+FFFD REPLACEMENT CHARACTER */
    const unsigned char *s = (const unsigned char *)in;
    size_t o = 0;

    if (cap == 0)
        return 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp = 0;
        size_t k = ag_utf8_next(s + i, n - i, &cp);
        const char *src = in + i;
        size_t m = k;

        if (k == 0 || cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f)) {
            src = repl; /* an invalid byte, or a control character (C0, DEL, C1) */
            m = 3;
            k = k == 0 ? 1 : k;
        }
        if (o + m > cap - 1)
            break; /* cut before a character that does not fit whole */
        memcpy(out + o, src, m);
        o += m;
        i += k;
    }
    out[o] = '\0';
    return o;
}

static size_t userin_max(const struct ag_body_field *f)
{
    return f->max_len ? f->max_len : USERIN_DEFAULT_MAX;
}

/*
 * Checks the decoded <v,n> of field <f> and stores a NUL-terminated copy in f->value.
 * Returns 0, AG_EPARSE with <e> set (too long, not UTF-8, holds a NUL), or AG_ENOMEM.
 */
static int userin_store(struct ag_body_field *f, const char *v, size_t n, struct ag_field_err *e)
{
    if (n > userin_max(f))
        return userin_fail(e, &ERR_TOO_LONG, f->name, AG_EPARSE);
    if (memchr(v, '\0', n) != NULL || !userin_utf8_valid((const unsigned char *)v, n))
        return userin_fail(e, &ERR_NOT_TEXT, f->name, AG_EPARSE);
    f->value = malloc(n + 1);
    if (f->value == NULL)
        return AG_ENOMEM;
    memcpy(f->value, v, n);
    f->value[n] = '\0';
    return 0;
}

/* ------------------------------------------------------------------------------------------
 * JSON
 * ------------------------------------------------------------------------------------------ */

/*
 * <body,len> must be one JSON object (RFC 8259) with no key twice at any depth: a
 * duplicate is how two parsers are made to read different values, so it is refused
 * rather than resolved. NUL escapes (\u0000) are let through jansson so that a field
 * holding one gets its own error.
 */
int ag_body_json_object(const char *body, size_t len, json_t **root, struct ag_field_err *e)
{
    json_error_t jerr;

    *root = NULL;
    if (body == NULL || len == 0)
        return userin_fail(e, &ERR_NOT_JSON, NULL, AG_EPARSE);
    *root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (*root == NULL) {
        switch (json_error_code(&jerr)) {
        case json_error_out_of_memory:
            return AG_ENOMEM;
        case json_error_duplicate_key:
            return userin_fail(e, &ERR_DUPLICATE, NULL, AG_EPARSE);
        default:
            return userin_fail(e, &ERR_NOT_JSON, NULL, AG_EPARSE);
        }
    }
    if (!json_is_object(*root)) {
        json_decref(*root);
        *root = NULL;
        return userin_fail(e, &ERR_NOT_JSON, NULL, AG_EPARSE);
    }
    return 0;
}

/* The fields <f> of the JSON object <body,len>; members not asked for are ignored. */
static int userin_json(const char *body, size_t len, struct ag_body_field *f, size_t n,
                       struct ag_field_err *e)
{
    json_t *root;
    int rc = ag_body_json_object(body, len, &root, e);

    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *v = json_object_get(root, f[i].name);

        if (v == NULL) {
            if (f[i].required)
                rc = userin_fail(e, &ERR_MISSING, f[i].name, AG_EPARSE);
            continue;
        }
        if (!json_is_string(v)) {
            rc = userin_fail(e, &ERR_NOT_STR, f[i].name, AG_EPARSE);
            continue;
        }
        /* jansson guarantees UTF-8; json_string_length() also counts an embedded NUL */
        rc = userin_store(&f[i], json_string_value(v), json_string_length(v), e);
    }
    json_decref(root);
    return rc;
}

/* ------------------------------------------------------------------------------------------
 * Forms
 * ------------------------------------------------------------------------------------------ */

/*
 * A '%' not followed by two hex digits is refused (the WHATWG parser would keep it
 * literally; a strict reader refuses, so that no two readers of the body disagree).
 */
long ag_form_decode(const char *s, size_t n, char *out)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi, lo;

            if (n - i < 3 || (hi = ag_hex_digit((unsigned char)s[i + 1])) < 0 ||
                (lo = ag_hex_digit((unsigned char)s[i + 2])) < 0)
                return -1;
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
        }
        out[o++] = (char)c;
    }
    return (long)o;
}

/* The index of the field named <name,len> in <f>, or <n> when none is. */
static size_t form_field(const struct ag_body_field *f, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(f[i].name) == len && memcmp(f[i].name, name, len) == 0)
            return i;
    return n;
}

/*
 * <body,len> is name=value pairs separated by '&'. Empty pairs ("a=1&&b=2", a leading
 * or trailing '&') are skipped; a pair without '=' or with a bad %-escape (anywhere,
 * asked-for or not) makes the body not a form. A name asked for twice is refused (the
 * same reason as JSON duplicates); names not asked for are ignored, repeated or not.
 * Decoded names are compared byte for byte.
 */
static int userin_form(const char *body, size_t len, struct ag_body_field *f, size_t n,
                       struct ag_field_err *e)
{
    char *scratch = malloc(len + 1); /* one decoded name or value; may hold a password */
    size_t pos = 0;
    int rc = 0;

    if (scratch == NULL)
        return AG_ENOMEM;
    while (pos < len && rc == 0) {
        const char *pair = body + pos, *amp = memchr(pair, '&', len - pos), *eq;
        size_t plen = amp ? (size_t)(amp - pair) : len - pos, k;
        long dn;

        pos += plen + 1;
        if (plen == 0)
            continue;
        eq = memchr(pair, '=', plen);
        if (eq == NULL || (dn = ag_form_decode(pair, (size_t)(eq - pair), scratch)) < 0) {
            rc = userin_fail(e, &ERR_NOT_FORM, NULL, AG_EPARSE);
            break;
        }
        k = form_field(f, n, scratch, (size_t)dn);
        dn = ag_form_decode(eq + 1, plen - (size_t)(eq + 1 - pair), scratch);
        if (dn < 0)
            rc = userin_fail(e, &ERR_NOT_FORM, NULL, AG_EPARSE);
        else if (k == n)
            continue;
        else if (f[k].value != NULL)
            rc = userin_fail(e, &ERR_DUPLICATE, f[k].name, AG_EPARSE);
        else
            rc = userin_store(&f[k], scratch, (size_t)dn, e);
    }
    for (size_t i = 0; i < n && rc == 0; i++)
        if (f[i].required && f[i].value == NULL)
            rc = userin_fail(e, &ERR_MISSING, f[i].name, AG_EPARSE);
    sodium_memzero(scratch, len + 1);
    free(scratch);
    return rc;
}

/* ------------------------------------------------------------------------------------------
 * Entry points
 * ------------------------------------------------------------------------------------------ */

/*
 * Reads the <n> fields <f> (names and limits in, values out) from <body,len> of type
 * <t>. Returns 0 with each f[i].value a new NUL-terminated copy or NULL when absent and
 * not required; AG_EPARSE with <e> naming the first problem; AG_ENOMEM. On failure
 * every value is zeroed, freed and NULL. <e> may be NULL.
 */
int ag_body_fields(enum ag_body_type t, const char *body, size_t len, struct ag_body_field *f,
                   size_t n, struct ag_field_err *e)
{
    int rc;

    for (size_t i = 0; i < n; i++)
        f[i].value = NULL;
    if (body == NULL)
        len = 0;
    if (t == AG_BODY_JSON)
        rc = userin_json(body, len, f, n, e);
    else if (t == AG_BODY_FORM)
        rc = userin_form(body, len, f, n, e);
    else
        rc = AG_EINVAL;
    if (rc < 0)
        ag_body_fields_free(f, n);
    return rc;
}

/* Zeroes and frees every f[i].value of the <n> fields <f>, leaving them NULL. */
void ag_body_fields_free(struct ag_body_field *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (f[i].value != NULL)
            sodium_memzero(f[i].value, strlen(f[i].value));
        AG_FREE(f[i].value);
    }
}

/* ------------------------------------------------------------------------------------------
 * Emails and usernames
 * ------------------------------------------------------------------------------------------ */

#define EMAIL_MAX 254 /* RFC 5321 s.4.5.3.1.3 path limit less the angle brackets */
#define EMAIL_LOCAL_MAX 64
#define EMAIL_LABEL_MAX 63

static bool user_is_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* RFC 5322 s.3.2.3 atext. */
static bool email_is_atext(unsigned char c)
{
    return user_is_alnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* The local part <s,n>: 1..64 bytes of dot-atom (no leading, trailing or double dot). */
static bool email_local_ok(const char *s, size_t n)
{
    if (n == 0 || n > EMAIL_LOCAL_MAX || s[0] == '.' || s[n - 1] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.' ? s[i + 1] == '.' : !email_is_atext((unsigned char)s[i]))
            return false;
    }
    return true;
}

/* The domain <s,n>: two or more LDH labels of 1..63 bytes, the last not all digits. */
static bool email_domain_ok(const char *s, size_t n)
{
    size_t labels = 0, i = 0;
    bool all_digits = false;

    while (i <= n) {
        size_t b = i;

        while (i < n && s[i] != '.') {
            unsigned char c = (unsigned char)s[i];
            if (!user_is_alnum(c) && c != '-')
                return false;
            i++;
        }
        if (i == b || i - b > EMAIL_LABEL_MAX || s[b] == '-' || s[i - 1] == '-')
            return false;
        all_digits = true;
        for (size_t k = b; k < i; k++)
            if (s[k] < '0' || s[k] > '9')
                all_digits = false;
        labels++;
        i++; /* past the '.', or past the end */
    }
    return labels >= 2 && !all_digits;
}

/*
 * The email syntax a sign-up form accepts (userin.h): ASCII only, no quoted local
 * parts, comments or address literals, which mail providers do not hand out to
 * people. Returns 0, or AG_EINVAL with <e> (may be NULL) set to the "email" error.
 */
int ag_user_check_email(const char *s, struct ag_field_err *e)
{
    const char *at;
    size_t n;

    if (s == NULL)
        return userin_fail(e, &ERR_EMAIL, NULL, AG_EINVAL);
    n = strnlen(s, EMAIL_MAX + 1);
    at = memchr(s, '@', n);
    if (n > EMAIL_MAX || at == NULL || !email_local_ok(s, (size_t)(at - s)) ||
        !email_domain_ok(at + 1, n - (size_t)(at + 1 - s)))
        return userin_fail(e, &ERR_EMAIL, NULL, AG_EINVAL);
    return 0;
}

/*
 * Username: 3..32 bytes of [A-Za-z0-9_.-], the first a letter or digit (so it never
 * looks like an email, a path or an option). Returns 0, or AG_EINVAL with <e> set.
 */
int ag_user_check_username(const char *s, struct ag_field_err *e)
{
    size_t n;

    if (s == NULL)
        return userin_fail(e, &ERR_USERNAME, NULL, AG_EINVAL);
    n = strnlen(s, 33);
    if (n < 3 || n > 32 || !user_is_alnum((unsigned char)s[0]))
        return userin_fail(e, &ERR_USERNAME, NULL, AG_EINVAL);
    for (size_t i = 1; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!user_is_alnum(c) && c != '_' && c != '.' && c != '-')
            return userin_fail(e, &ERR_USERNAME, NULL, AG_EINVAL);
    }
    return 0;
}

/*
 * Copies <in> into <out> with ASCII A-Z lower-cased, cut to <cap> - 1 bytes and
 * NUL-terminated (nothing is written when <cap> is 0). Other bytes are kept as they
 * are: usernames and emails are checked to be ASCII before they are folded.
 */
void ag_user_fold(const char *in, char *out, size_t cap)
{
    size_t i = 0;

    if (cap == 0)
        return;
    for (; in[i] != '\0' && i + 1 < cap; i++) {
        out[i] = (char)ag_ascii_lower((unsigned char)in[i]);
    }
    out[i] = '\0';
}

/* ------------------------------------------------------------------------------------------
 * Login bodies
 * ------------------------------------------------------------------------------------------ */

static const struct ag_field_err ERR_LOGIN_TWICE = {
    NULL, "give only one of username_or_email, email and username", "value_error.login_name"};

/*
 * The seeds' clients send the login name under one of three members (docs/users.md
 * "Login"). Exactly one is taken: with two, which one the user meant is a guess, and
 * a guess is how two readers of a body come to disagree.
 */
int ag_body_login(const char *body, size_t len, struct ag_body_field f[AG_LOGIN_NFIELDS],
                  enum ag_login_by *by, struct ag_field_err *e)
{
    static const char *const names[AG_LOGIN_NFIELDS] = {"username_or_email", "email",
                                                        "username", "password"};
    int rc, given = -1;

    for (size_t i = 0; i < AG_LOGIN_NFIELDS; i++)
        f[i] = (struct ag_body_field){names[i], i == 3, i == 3 ? 4096 : 254, NULL};
    rc = ag_body_fields(AG_BODY_JSON, body, len, f, AG_LOGIN_NFIELDS, e);
    if (rc < 0)
        return rc;
    for (int i = 0; i < 3 && rc == 0; i++) {
        if (f[i].value == NULL)
            continue;
        if (given >= 0)
            rc = userin_fail(e, &ERR_LOGIN_TWICE, names[i], AG_EPARSE);
        given = i;
    }
    if (rc == 0 && given < 0)
        rc = userin_fail(e, &ERR_MISSING, names[0], AG_EPARSE);
    if (rc < 0) {
        ag_body_fields_free(f, AG_LOGIN_NFIELDS);
        return rc;
    }
    *by = (enum ag_login_by)given;
    return 0;
}
