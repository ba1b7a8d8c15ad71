/*
 * policy/apikey.c - the API key format (`agk_<id>_<secret>`) and the key creation body.
 *
 * Owns:     nothing long-lived.
 * Entry:    ag_apikey_parse(), ag_apikey_make(), ag_apikey_parse_create(),
 *           ag_apikey_create_clear().
 * Not here: storage (store/apikeys.c), the request check (gateway/auth/keycache.c).
 * Spec:     CONTRACT.md section 14; docs/api-keys.md "The key".
 */
#include "apikey.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

static bool apikey_id_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool apikey_b64url_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_';
}

int ag_apikey_parse(struct ag_str v, struct ag_apikey_parts *out)
{
    const char *id = v.p + 4, *sec = v.p + 4 + AG_APIKEY_ID_LEN + 1;

    if (v.len != AG_APIKEY_LEN || memcmp(v.p, AG_APIKEY_PREFIX, 4) != 0 ||
        id[AG_APIKEY_ID_LEN] != '_')
        return -1;
    for (size_t i = 0; i < AG_APIKEY_ID_LEN; i++)
        if (!apikey_id_char(id[i]))
            return -1;
    for (size_t i = 0; i < AG_APIKEY_SECRET_LEN; i++)
        if (!apikey_b64url_char(sec[i]))
            return -1;
    /* 43 characters carry 258 bits: the last one holds 2 zero bits of padding, which must be
     * zero so that one secret has one spelling. */
    if (strchr("AEIMQUYcgkosw048", sec[AG_APIKEY_SECRET_LEN - 1]) == NULL)
        return -1;
    out->id = (struct ag_str){id, AG_APIKEY_ID_LEN};
    out->secret = (struct ag_str){sec, AG_APIKEY_SECRET_LEN};
    return 0;
}

void ag_apikey_make(const unsigned char *id_rnd, const unsigned char *secret, char *key)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    char *p = key;

    memcpy(p, AG_APIKEY_PREFIX, 4);
    p += 4;
    /* 256 % 36 != 0: a small bias, harmless for an id that is public anyway. */
    for (size_t i = 0; i < AG_APIKEY_ID_LEN; i++)
        *p++ = alphabet[id_rnd[i] % 36];
    *p++ = '_';
    sodium_bin2base64(p, AG_APIKEY_SECRET_LEN + 1, secret, AG_APIKEY_SECRET_BYTES,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* ---------------------------------------------------------------- the creation body */

/* RFC 6749 s.3.3 scope-token: %x21 / %x23-5B / %x5D-7E. */
static bool apikey_scope_char(unsigned char c)
{
    return c == 0x21 || (c >= 0x23 && c <= 0x5B) || (c >= 0x5D && c <= 0x7E);
}

static int apikey_err(struct ag_field_err *e, const char *field, const char *msg,
                      const char *type)
{
    *e = (struct ag_field_err){field, msg, type};
    return AG_EINVAL;
}

/* Appends the scope <s> (its own characters checked) to the space-joined <buf>. */
static bool apikey_add_scope(char *buf, size_t *n, const char *s, size_t len)
{
    if (len == 0 || *n + len + 2 > AG_APIKEY_SCOPES_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!apikey_scope_char((unsigned char)s[i]))
            return false;
    if (*n > 0)
        buf[(*n)++] = ' ';
    memcpy(buf + *n, s, len);
    *n += len;
    buf[*n] = '\0';
    return true;
}

/* <v>: an array of scope names or one space-separated string; into <buf> (space-joined). */
static bool apikey_scopes(json_t *v, char *buf)
{
    size_t n = 0;

    buf[0] = '\0';
    if (json_is_string(v)) {
        const char *s = json_string_value(v), *end = s + json_string_length(v);
        while (s < end) {
            const char *sp = memchr(s, ' ', (size_t)(end - s));
            size_t len = sp ? (size_t)(sp - s) : (size_t)(end - s);
            if (len > 0 && !apikey_add_scope(buf, &n, s, len))
                return false;
            s += len + 1;
        }
        return true;
    }
    if (!json_is_array(v))
        return false;
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *x = json_array_get(v, i);
        if (!json_is_string(x) ||
            !apikey_add_scope(buf, &n, json_string_value(x), json_string_length(x)))
            return false;
    }
    return true;
}

/* Whether <s> (<n> bytes of valid UTF-8) is a name: 1-64 characters, none a control one. */
static bool apikey_name_ok(const char *s, size_t n)
{
    size_t chars = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7F)
            return false;
        chars += (c & 0xC0) != 0x80;
    }
    return chars >= 1 && chars <= AG_APIKEY_NAME_MAX;
}

int ag_apikey_parse_create(const char *body, size_t len, struct ag_apikey_create *out,
                           struct ag_field_err *e)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr), *v;
    const char *key;
    char scopes[AG_APIKEY_SCOPES_MAX];
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (!json_is_object(root)) {
        json_decref(root);
        return apikey_err(e, NULL, "value is not a valid dict", "type_error.dict");
    }
    json_object_foreach(root, key, v) {
        if (strcmp(key, "name") != 0 && strcmp(key, "scopes") != 0 &&
            strcmp(key, "expires_in") != 0) {
            rc = apikey_err(e, "body", "extra fields not permitted", "value_error.extra");
            goto done;
        }
    }
    v = json_object_get(root, "name");
    if (v == NULL) {
        rc = apikey_err(e, "name", "field required", "value_error.missing");
        goto done;
    }
    if (!json_is_string(v) || !apikey_name_ok(json_string_value(v), json_string_length(v))) {
        rc = apikey_err(e, "name", "a name of 1 to 64 characters is required", "value_error.name");
        goto done;
    }
    v = json_object_get(root, "scopes");
    if (v != NULL && !json_is_null(v) && !apikey_scopes(v, scopes)) {
        rc = apikey_err(e, "scopes", "a list of scope names is required", "value_error.scopes");
        goto done;
    }
    if (v != NULL && !json_is_null(v))
        out->scopes = strdup(scopes);
    v = json_object_get(root, "expires_in");
    if (v != NULL && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > AG_APIKEY_TTL_MAX) {
            rc = apikey_err(e, "expires_in", "seconds from 1 to 157680000 (5 years) are required",
                            "value_error.number");
            goto done;
        }
        out->expires_in = (long)json_integer_value(v);
    }
    out->name = strdup(json_string_value(json_object_get(root, "name")));
    if (out->name == NULL || (json_object_get(root, "scopes") != NULL &&
                              !json_is_null(json_object_get(root, "scopes")) && out->scopes == NULL))
        rc = AG_ENOMEM;
done:
    json_decref(root);
    if (rc != 0)
        ag_apikey_create_clear(out);
    return rc;
}

void ag_apikey_create_clear(struct ag_apikey_create *c)
{
    if (c == NULL)
        return;
    free(c->name);
    free(c->scopes);
    memset(c, 0, sizeof(*c));
}
