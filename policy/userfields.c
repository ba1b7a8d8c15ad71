/*
 * policy/userfields.c - the custom fields of the user object: type, length and
 * presence checks of a body's fields, and the merge of a change into the stored set.
 *
 * Owns:     nothing long-lived.
 * Entry:    ag_ufields_read(), ag_ufields_apply(), ag_ufields_headers().
 * Not here: the declarations (policy/config_users.c), storage (store/user.c).
 * Spec:     CONTRACT.md section 14; docs/users.md "Custom fields".
 *
 * The 422 messages and types are pydantic's (v1), which the seed projects' clients read.
 */
#include "userfields.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "jwt.h"

/* The declared field <name,n>, or NULL. */
static const struct ag_user_field *ufields_find(const struct ag_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_user_fields; i++)
        if (strcmp(cfg->user_fields[i].name, name) == 0)
            return &cfg->user_fields[i];
    return NULL;
}

/* Code points of the valid UTF-8 <s,n> (jansson validated it). */
static size_t ufields_chars(const char *s, size_t n)
{
    size_t c = 0;

    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xc0) != 0x80;
    return c;
}

/* Checks the value <v> of the declared field <f>: 0, or AG_EINVAL with <e>. */
static int ufields_check(const struct ag_user_field *f, json_t *v, struct ag_field_err *e)
{
    *e = (struct ag_field_err){f->name, NULL, NULL};
    switch (f->type) {
    case AG_UFIELD_STRING:
        if (!json_is_string(v)) {
            e->msg = "str type expected", e->type = "type_error.str";
        } else if (strlen(json_string_value(v)) != json_string_length(v)) {
            e->msg = "must not contain a NUL character", e->type = "value_error.str.nul";
        } else if (ufields_chars(json_string_value(v), json_string_length(v)) > f->max_len) {
            e->msg = "ensure this value has at most max-length characters";
            e->type = "value_error.any_str.max_length";
        }
        break;
    case AG_UFIELD_INTEGER:
        if (!json_is_integer(v))
            e->msg = "value is not a valid integer", e->type = "type_error.integer";
        break;
    default:
        if (!json_is_boolean(v))
            e->msg = "value could not be parsed to a boolean", e->type = "type_error.bool";
        break;
    }
    return e->msg == NULL ? 0 : AG_EINVAL;
}

int ag_ufields_read(const struct ag_config *cfg, json_t *body, const char *const *known,
                    size_t n_known, bool patch, json_t *out, struct ag_field_err *e)
{
    const char *key;
    json_t *v;

    json_object_foreach(body, key, v)
    {
        const struct ag_user_field *f;
        bool builtin = false;

        for (size_t i = 0; i < n_known && !builtin; i++)
            builtin = strcmp(key, known[i]) == 0;
        if (builtin)
            continue;
        if ((f = ufields_find(cfg, key)) == NULL) {
            *e = (struct ag_field_err){key, "extra fields not permitted", "value_error.extra"};
            return AG_EINVAL;
        }
        if (json_is_null(v)) {
            if (f->required) {
                *e = (struct ag_field_err){f->name, "none is not an allowed value",
                                           "type_error.none.not_allowed"};
                return AG_EINVAL;
            }
            if (patch && json_object_set_new(out, f->name, json_null()) < 0)
                return AG_ENOMEM;
            continue;
        }
        if (ufields_check(f, v, e) < 0)
            return AG_EINVAL;
        if (json_object_set(out, f->name, v) < 0)
            return AG_ENOMEM;
    }
    for (size_t i = 0; !patch && i < cfg->n_user_fields; i++)
        if (cfg->user_fields[i].required && json_object_get(out, cfg->user_fields[i].name) == NULL) {
            *e = (struct ag_field_err){cfg->user_fields[i].name, "field required",
                                       "value_error.missing"};
            return AG_EINVAL;
        }
    return 0;
}

char *ag_ufields_apply(const struct ag_config *cfg, const char *stored, const json_t *changes)
{
    json_t *set = NULL, *v;
    const char *key;
    void *tmp;
    char *text = NULL;

    if (stored != NULL && stored[0] != '\0')
        set = json_loads(stored, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(set)) {
        json_decref(set);
        set = json_object();
    }
    if (set == NULL)
        return NULL;
    json_object_foreach((json_t *)changes, key, v)
    {
        if (json_is_null(v))
            json_object_del(set, key);
        else if (json_object_set(set, key, v) < 0)
            goto out;
    }
    json_object_foreach_safe(set, tmp, key, v)
    {
        if (ufields_find(cfg, key) == NULL)
            json_object_del(set, key);
    }
    text = json_object_size(set) == 0 ? strdup("")
                                      : json_dumps(set, JSON_COMPACT | JSON_SORT_KEYS);
out:
    json_decref(set);
    return text;
}

int ag_ufields_headers(const struct ag_config *cfg, struct ag_str tok, ag_ufields_header_fn *emit,
                       void *arg)
{
    struct ag_str h, p, s;
    unsigned char *buf;
    json_t *claims;
    int n, emitted = 0;

    if (ag_jwt__split(tok, &h, &p, &s) != 0)
        return AG_EPARSE;
    if ((buf = malloc(p.len + 1)) == NULL)
        return AG_ENOMEM;
    n = ag_jwt__b64url_decode(p, buf, p.len + 1);
    claims = n >= 0 ? json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL) : NULL;
    free(buf);
    if (!json_is_object(claims)) {
        json_decref(claims);
        return AG_EPARSE;
    }
    for (size_t i = 0; i < cfg->n_user_fields; i++) {
        const struct ag_user_field *f = &cfg->user_fields[i];
        json_t *v = f->header != NULL ? json_object_get(claims, f->name) : NULL;
        char num[24];

        if (json_is_string(v))
            emit(arg, f->header, json_string_value(v), json_string_length(v));
        else if (json_is_integer(v))
            emit(arg, f->header, num,
                 (size_t)snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v)));
        else if (json_is_boolean(v))
            emit(arg, f->header, json_is_true(v) ? "true" : "false", json_is_true(v) ? 4 : 5);
        else
            continue;
        emitted++;
    }
    json_decref(claims);
    return emitted;
}
