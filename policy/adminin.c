/*
 * policy/adminin.c - the admin endpoints' input: the PATCH body of a user (strict JSON
 * read by jansson with duplicate keys refused, each member's type checked, role names
 * checked as a config's are) and the decimal paging numbers of a listing.
 *
 * Owns:     the roles string of a parsed patch.
 * Entry:    ag_adminin_patch(), ag_adminin_patch_clear(), ag_adminin_count().
 * Not here: HTTP (gateway/ep/ep_admin.c), what a change revokes (store/users.c).
 * Spec:     CONTRACT.md section 13; docs/admin.md "PATCH /admin/users/{id}".
 */
#include "adminin.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base.h"

static const struct ag_field_err ERR_NOT_JSON = {NULL, "body must be a JSON object",
                                                 "value_error.jsondecode"};
static const struct ag_field_err ERR_DUPLICATE = {NULL, "duplicate field", "value_error.duplicate"};
static const struct ag_field_err ERR_BOOL = {NULL, "value could not be parsed to a boolean",
                                             "type_error.bool"};
static const struct ag_field_err ERR_LIST = {"roles", "value is not a valid list",
                                             "type_error.list"};
static const struct ag_field_err ERR_ROLE = {
    "roles", "a role is 1 to 64 characters of visible ASCII without ','", "value_error.role"};
static const struct ag_field_err ERR_FLAG_ROLE = {
    "roles", "'staff' and 'superuser' are flags: set is_staff or is_superuser instead",
    "value_error.role"};
static const struct ag_field_err ERR_ROLE_TWICE = {"roles", "a role is listed twice",
                                                   "value_error.role"};
static const struct ag_field_err ERR_ROLES_MANY = {"roles", "too many roles",
                                                   "value_error.list.max_items"};
static const struct ag_field_err ERR_UNKNOWN = {NULL, "extra fields not permitted",
                                                "value_error.extra"};

static int adminin_fail(struct ag_field_err *e, const struct ag_field_err *what, const char *field)
{
    *e = *what;
    if (field != NULL)
        e->field = field;
    return AG_EPARSE;
}

/* A role an admin may give: visible ASCII without ',' (X-Auth-Roles is a comma list). */
static bool adminin_role_ok(const char *s, size_t n)
{
    if (n == 0 || n > AG_ADMININ_ROLE_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f || s[i] == ',')
            return false;
    return true;
}

/* The "roles" array <v> into p->roles (space-separated). */
static int adminin_roles(json_t *v, struct ag_adminin_patch *p, struct ag_field_err *e)
{
    size_t i, n, len = 0;
    json_t *r;

    if (!json_is_array(v))
        return adminin_fail(e, &ERR_LIST, NULL);
    n = json_array_size(v);
    if (n > AG_ADMININ_ROLES_MAX)
        return adminin_fail(e, &ERR_ROLES_MANY, NULL);
    if ((p->roles = calloc(1, AG_ADMININ_ROLES_BYTES + 1)) == NULL)
        return AG_ENOMEM;
    json_array_foreach(v, i, r)
    {
        const char *s = json_string_value(r);
        size_t sl = json_string_length(r);

        if (!json_is_string(r) || !adminin_role_ok(s, sl))
            return adminin_fail(e, &ERR_ROLE, NULL);
        if (strcmp(s, "staff") == 0 || strcmp(s, "superuser") == 0)
            return adminin_fail(e, &ERR_FLAG_ROLE, NULL);
        for (size_t k = 0; k < i; k++)
            if (strcmp(json_string_value(json_array_get(v, k)), s) == 0)
                return adminin_fail(e, &ERR_ROLE_TWICE, NULL);
        if (len + sl + 1 > AG_ADMININ_ROLES_BYTES)
            return adminin_fail(e, &ERR_ROLES_MANY, NULL);
        if (len > 0)
            p->roles[len++] = ' ';
        memcpy(p->roles + len, s, sl);
        len += sl;
    }
    p->set_roles = true;
    return 0;
}

int ag_adminin_patch(const char *body, size_t len, struct ag_adminin_patch *p,
                     struct ag_field_err *e)
{
    static const char *const flags[] = {"is_active", "is_staff", "is_superuser"};
    bool *const set[] = {&p->set_active, &p->set_staff, &p->set_superuser};
    bool *const val[] = {&p->is_active, &p->is_staff, &p->is_superuser};
    json_error_t jerr;
    json_t *root, *v;
    const char *key;
    int rc = 0;

    memset(p, 0, sizeof(*p));
    root = len > 0 ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (root == NULL) {
        if (len > 0 && json_error_code(&jerr) == json_error_out_of_memory)
            return AG_ENOMEM;
        return adminin_fail(e, len > 0 && json_error_code(&jerr) == json_error_duplicate_key
                                   ? &ERR_DUPLICATE
                                   : &ERR_NOT_JSON,
                            NULL);
    }
    if (!json_is_object(root)) {
        rc = adminin_fail(e, &ERR_NOT_JSON, NULL);
        goto out;
    }
    /* Each member in the body's order, so the first problem named is the first written. */
    json_object_foreach(root, key, v)
    {
        size_t k;

        for (k = 0; k < 3 && strcmp(key, flags[k]) != 0; k++)
            ;
        if (k < 3) {
            if (!json_is_boolean(v)) {
                rc = adminin_fail(e, &ERR_BOOL, flags[k]);
                goto out;
            }
            *set[k] = true;
            *val[k] = json_is_true(v);
        } else if (strcmp(key, "roles") == 0) {
            if ((rc = adminin_roles(v, p, e)) < 0)
                goto out;
        } else {
            /* Client text: named cleaned (valid UTF-8, no control byte) and cut. */
            ag_text_clean(key, strlen(key), p->unknown, sizeof(p->unknown));
            rc = adminin_fail(e, &ERR_UNKNOWN, p->unknown);
            goto out;
        }
    }
out:
    json_decref(root);
    if (rc < 0) {
        free(p->roles);
        p->roles = NULL;
        p->set_roles = p->set_active = p->set_staff = p->set_superuser = false;
    }
    return rc;
}

void ag_adminin_patch_clear(struct ag_adminin_patch *p)
{
    free(p->roles);
    memset(p, 0, sizeof(*p));
}

int ag_adminin_count(const char *s, int64_t min, int64_t max, int64_t *out)
{
    int64_t v = 0;

    if (s == NULL || s[0] == '\0')
        return AG_EINVAL;
    for (const char *c = s; *c != '\0'; c++) {
        if (*c < '0' || *c > '9' || v > (INT64_MAX - 9) / 10)
            return AG_EINVAL;
        v = v * 10 + (*c - '0');
    }
    if (v < min || v > max)
        return AG_EINVAL;
    *out = v;
    return 0;
}
