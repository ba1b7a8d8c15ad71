/*
 * tests/fuzz/fuzz_userin.c - libFuzzer target for policy/userin.c (and the cheap part of
 * policy/password.c): any bytes as a JSON or form body, the fields a user endpoint
 * reads, then the checks run on what was found; a JSON body also as a login body
 * (ag_body_login()); and the same bytes as User-Agent text (ag_text_clean()); and, for
 * JSON, the custom user fields read from it (register and PATCH /me,
 * policy/userfields.c) and merged into a stored set.
 *
 * Owns:     one exact-size heap copy of the body per run, and the field values.
 * Entry:    LLVMFuzzerTestOneInput() (libFuzzer, or tests/fuzz/replay_main.c).
 * Not here: the corpus replay main (replay_main.c); seeds are in corpus/userin/.
 * Spec:     policy/userin.h, policy/password.h.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base.h"
#include "config.h"
#include "password.h"
#include "userfields.h"
#include "userin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The declarations the custom-field checks run under: parsed once, kept for the process. */
static const struct ag_config *fuzz_fields_config(void)
{
    static struct ag_config *cfg;
    static const char json[] =
        "{\"upstream\":\"http://127.0.0.1:8081\","
        "\"cryptography-key\":\"0123456789abcdef0123456789abcdef\","
        "\"user-fields\":{\"dept\":{\"type\":\"string\",\"required\":true,\"max-length\":8},"
        "\"age\":{\"type\":\"integer\"},\"vip\":{\"type\":\"boolean\"}},"
        "\"token-claims\":[\"dept\",\"age\"]}";

    if (cfg == NULL)
        cfg = ag_config_parse(json, sizeof(json) - 1, "fuzz", NULL, 0, NULL);
    return cfg;
}

/*
 * The JSON body <p,n> as register and PATCH /me read its custom fields. Checks: the
 * result is 0, AG_EINVAL (with a field, msg and type) or AG_ENOMEM; on 0 every member
 * read is declared, and the merge into a stored set gives a JSON object of declared
 * fields only (or "").
 */
static void fuzz_fields(const char *p, size_t n)
{
    static const char *const known[] = {"email", "username", "password", "current_password"};
    const struct ag_config *cfg = fuzz_fields_config();
    struct ag_field_err e = {NULL, NULL, NULL};
    json_t *root = NULL;

    if (cfg == NULL)
        __builtin_trap();
    if (ag_body_json_object(p, n, &root, &e) != 0)
        return;
    for (int patch = 0; patch < 2; patch++) {
        json_t *out = json_object(), *v;
        const char *key;
        char *merged;
        int rc = ag_ufields_read(cfg, root, known, 4, patch, out, &e);

        if (rc != 0 && rc != AG_EINVAL && rc != AG_ENOMEM)
            __builtin_trap();
        if (rc == AG_EINVAL && (e.field == NULL || e.msg == NULL || e.type == NULL))
            __builtin_trap();
        if (rc == 0) {
            json_object_foreach(out, key, v)
            {
                if (strcmp(key, "dept") != 0 && strcmp(key, "age") != 0 && strcmp(key, "vip") != 0)
                    __builtin_trap();
            }
            merged = ag_ufields_apply(cfg, "{\"dept\":\"x\",\"old\":1}", out);
            if (merged != NULL && merged[0] != '\0') {
                json_t *m = json_loads(merged, 0, NULL);
                if (!json_is_object(m) || json_object_get(m, "old") != NULL)
                    __builtin_trap();
                json_decref(m);
            }
            free(merged);
        }
        json_decref(out);
    }
    json_decref(root);
}

/* True when <s> is valid UTF-8 (a second, independent reading for the checks below). */
static int fuzz_utf8_ok(const unsigned char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned c = s[i], need, cp;

        if (c < 0x80) {
            i++;
            continue;
        }
        need = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : 1;
        if (c < 0xc2 || c > 0xf4 || n - i <= need)
            return 0;
        cp = c & (0x3f >> need);
        for (unsigned k = 1; k <= need; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += need + 1;
    }
    return 1;
}

/*
 * The login body reader (ag_body_login()) on the same bytes: 0 with exactly one login
 * name, at f[by], and a password; AG_EPARSE with an error naming a field and every
 * value NULL; or AG_ENOMEM.
 */
static void fuzz_login(const char *body, size_t size)
{
    struct ag_body_field f[AG_LOGIN_NFIELDS];
    struct ag_field_err e = {NULL, NULL, NULL};
    enum ag_login_by by = AG_LOGIN_BY_ANY;
    int rc = ag_body_login(body, size, f, &by, &e), given = 0;

    if (rc != 0 && rc != AG_EPARSE && rc != AG_ENOMEM)
        __builtin_trap();
    for (int i = 0; i < AG_LOGIN_NFIELDS; i++)
        if (rc != 0 && f[i].value != NULL)
            __builtin_trap();
    if (rc == AG_EPARSE && (e.msg == NULL || e.type == NULL))
        __builtin_trap();
    if (rc != 0)
        return;
    for (int i = 0; i < 3; i++)
        given += f[i].value != NULL;
    if (given != 1 || (int)by < 0 || (int)by > 2 || f[by].value == NULL || f[3].value == NULL)
        __builtin_trap();
    ag_body_fields_free(f, AG_LOGIN_NFIELDS);
}

/*
 * Input: one byte ('F': form, anything else: JSON), then the body. Checks, aborting on a
 * violation: the result is 0, AG_EPARSE or AG_ENOMEM; on AG_EPARSE an error with a
 * msg and type was given and every value is NULL; on 0 each value is valid UTF-8
 * without NUL, within its limit, and present when required. Then the email, username
 * and password checks and folding run on the values found.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct ag_pwparams pw = {.opslimit = 1, .memlimit = 8u << 20, .min_len = 8,
                                          .max_len = 128};
    struct ag_body_field f[4] = {
        {.name = "username", .required = true, .max_len = 64},
        {.name = "password", .required = true},
        {.name = "email", .required = false, .max_len = 320},
        {.name = "scope", .required = false, .max_len = 16},
    };
    struct ag_field_err e = {NULL, NULL, NULL};
    char fold[64], msg[96], *copy;
    enum ag_body_type t;
    int rc;

    if (size == 0)
        return 0;
    t = data[0] == 'F' ? AG_BODY_FORM : AG_BODY_JSON;
    data++;
    size--;
    copy = malloc(size ? size : 1);
    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    {
        /* Any bytes as User-Agent text: valid UTF-8 without a control byte, within its room. */
        char clean[96];
        size_t n = ag_text_clean(copy, size, clean, sizeof(clean));
        if (n >= sizeof(clean) || strlen(clean) != n ||
            !fuzz_utf8_ok((const unsigned char *)clean, n))
            __builtin_trap();
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)clean[i] < 0x20 || clean[i] == 0x7f)
                __builtin_trap();
    }
    if (t == AG_BODY_JSON)
        fuzz_login(copy, size);
    rc = ag_body_fields(t, copy, size, f, 4, &e);
    if (t == AG_BODY_JSON)
        fuzz_fields(copy, size);
    free(copy);

    if (rc != 0 && rc != AG_EPARSE && rc != AG_ENOMEM)
        __builtin_trap();
    if (rc != 0) {
        if (rc == AG_EPARSE && (e.msg == NULL || e.type == NULL))
            __builtin_trap();
        for (int i = 0; i < 4; i++)
            if (f[i].value != NULL)
                __builtin_trap();
        return 0;
    }
    for (int i = 0; i < 4; i++) {
        size_t n, max = f[i].max_len ? f[i].max_len : 4096;

        if (f[i].value == NULL) {
            if (f[i].required)
                __builtin_trap();
            continue;
        }
        n = strlen(f[i].value);
        if (n > max || !fuzz_utf8_ok((const unsigned char *)f[i].value, n))
            __builtin_trap();
    }

    if (ag_user_check_username(f[0].value, &e) == 0) {
        ag_user_fold(f[0].value, fold, sizeof(fold));
        if (strlen(fold) != strlen(f[0].value))
            __builtin_trap();
    } else if (e.msg == NULL) {
        __builtin_trap();
    }
    if (f[2].value != NULL && ag_user_check_email(f[2].value, &e) == 0) {
        const char *at = strchr(f[2].value, '@');
        if (at == NULL || strchr(at + 1, '@') != NULL || strlen(f[2].value) > 254)
            __builtin_trap();
        ag_user_fold(f[2].value, fold, sizeof(fold));
    }
    ag_password_check_msg(&pw, ag_password_check(&pw, f[1].value, strlen(f[1].value)), msg,
                          sizeof(msg));
    if (msg[0] == '\0')
        __builtin_trap();
    ag_body_fields_free(f, 4);
    for (int i = 0; i < 4; i++)
        if (f[i].value != NULL)
            __builtin_trap();
    return 0;
}
