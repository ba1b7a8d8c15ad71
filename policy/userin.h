/*
 * policy/userin.h - what clients send to the user endpoints: JSON bodies (duplicate keys
 * refused) and OAuth2 password forms (application/x-www-form-urlencoded), read into a
 * list of named string fields; and the checks on emails and usernames.
 *
 * Owns:     the copies of the field values (ag_body_fields_free() zeroes and frees them).
 * Entry:    ag_body_fields(), ag_body_fields_free(), ag_body_json_object(), ag_user_check_email(),
 *           ag_user_check_username(), ag_user_fold(), ag_text_clean(), ag_body_login().
 * Not here: collecting the body from the socket (gateway/), passwords (policy/password.c).
 * Spec:     CONTRACT.md section 7 (users); docs/users.md (the 422 body).
 *
 * Errors name the field as FastAPI does, so clients of the seed projects read them
 * unchanged: the gateway answers 422 {"detail":[{"loc":["body",FIELD],"msg":MSG,"type":TYPE}]}.
 */
#ifndef AG_POLICY_USERIN_H
#define AG_POLICY_USERIN_H

#include <stdbool.h>
#include <stddef.h>

/* One problem with a body. <field> NULL: the body as a whole. Strings are static. */
struct ag_field_err {
    const char *field; /* "email", or NULL */
    const char *msg;   /* "field required", "value is not a valid email address" */
    const char *type;  /* "value_error.missing", "value_error.email", "type_error.str", ... */
};

enum ag_body_type {
    AG_BODY_JSON = 1, /* one JSON object; duplicate keys refused; other members ignored */
    AG_BODY_FORM = 2, /* name=value&...; '+' is a space; %XX decoded; repeated names refused */
};

struct ag_body_field {
    const char *name; /* in: the member or form name */
    bool required;    /* in: absent is an error ("field required") */
    size_t max_len;   /* in: bytes; longer is an error; 0 = 4096 */
    char *value;      /* out: NUL-terminated copy (valid UTF-8, no NUL byte), or NULL when absent */
};

/**
 * Reads the <n> fields <f> from <body,len> of type <t>. A field must be a string (JSON)
 * of valid UTF-8 without NUL. Returns 0; AG_EPARSE with <e> naming the first problem
 * (the body is not a JSON object / not a form, a field missing, not a string, too long,
 * duplicated); or AG_ENOMEM. On failure every value is freed and NULL.
 */
int ag_body_fields(enum ag_body_type t, const char *body, size_t len, struct ag_body_field *f,
                   size_t n, struct ag_field_err *e);

/**
 * Decodes one form-urlencoded name or value <s,n> into <out> (room for <n> bytes): '+' is
 * a space, %XX the byte XX, other bytes as they are. Returns the decoded length, or -1
 * when a '%' is not followed by two hex digits. Query strings are decoded the same way.
 */
long ag_form_decode(const char *s, size_t n, char *out);

/**
 * Client text kept for display (a User-Agent): copies <in,n> into <out> as valid UTF-8,
 * every invalid byte and every control character (C0, DEL, C1) replaced by U+FFFD, cut
 * on a character boundary to at most <cap> - 1 bytes, and NUL-terminated. Returns the
 * bytes written (without the NUL); nothing is written when <cap> is 0.
 */
size_t ag_text_clean(const char *in, size_t n, char *out, size_t cap);

struct json_t;

/**
 * Loads <body,len> as one JSON object into <*root> (a new reference), duplicate keys
 * refused at any depth, \u0000 let through to the caller's checks. 0; AG_EPARSE with <e>
 * (empty, malformed, not an object, a duplicate key; <*root> NULL); or AG_ENOMEM.
 */
int ag_body_json_object(const char *body, size_t len, struct json_t **root,
                        struct ag_field_err *e);

/** Zeroes and frees the values of <f> (passwords included); NULL values allowed. */
void ag_body_fields_free(struct ag_body_field *f, size_t n);

/**
 * Email syntax as a production sign-up form accepts it: local@domain, at most 254
 * bytes, local part at most 64 bytes of atext and dots (no leading, trailing or double
 * dot), domain of at least two labels of letters, digits and hyphens (no label
 * starting or ending with '-', 1..63 bytes each, TLD not all digits). 0 or AG_EINVAL with <e>.
 */
int ag_user_check_email(const char *s, struct ag_field_err *e);

/** Username: 3..32 of [A-Za-z0-9_.-], starting with a letter or digit, no '@'. 0 or AG_EINVAL. */
int ag_user_check_username(const char *s, struct ag_field_err *e);

/** The folded form that makes names unique case-insensitively: ASCII lower-case copy into <out> (cap bytes). */
void ag_user_fold(const char *in, char *out, size_t cap);

/* ---- login bodies: every seed's shape (CONTRACT.md section 14) ---- */

/* Which member of a login body names the user; also the index of its field in ag_body_login(). */
enum ag_login_by {
    AG_LOGIN_BY_ANY = 0,      /* "username_or_email": a username, else an email */
    AG_LOGIN_BY_EMAIL = 1,    /* "email": an email only */
    AG_LOGIN_BY_USERNAME = 2, /* "username": a username only */
};

#define AG_LOGIN_NFIELDS 4 /* the three login names, then "password" */

/**
 * Reads the JSON login body <body,len> into <f> (names and limits set here): exactly one
 * of "username_or_email", "email" or "username" (<*by> says which: f[*by] holds it), and
 * "password" (f[3]). 0; AG_EPARSE with <e> (as ag_body_fields(); no login name:
 * "username_or_email" missing; two: the second named, "value_error.login_name"); AG_ENOMEM.
 */
int ag_body_login(const char *body, size_t len, struct ag_body_field f[AG_LOGIN_NFIELDS],
                  enum ag_login_by *by, struct ag_field_err *e);

#endif
