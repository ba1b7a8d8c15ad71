/*
 * tests/unit/policy/adminin_test.c - mirrors policy/adminin.c: the PATCH body of a user
 * (each flag, roles, the field named by each refusal, duplicates, non-objects) and the
 * paging numbers.
 *
 * Owns:     exact-size heap copies of each body (ASan sees any over-read).
 * Entry:    main().
 * Not here: the 422 reply (gateway/ep/ep_common.c), the store (store/users.c).
 * Spec:     policy/adminin.h; CONTRACT.md section 13.
 */
#include "adminin.h"

#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "t.h"

/* ag_adminin_patch() on an exact-size copy of <body>. */
static int parse(const char *body, struct ag_adminin_patch *p, struct ag_field_err *e)
{
    size_t len = strlen(body);
    char *copy = malloc(len ? len : 1);
    int rc;

    memcpy(copy, body, len);
    *e = (struct ag_field_err){0};
    rc = ag_adminin_patch(copy, len, p, e);
    free(copy);
    return rc;
}

/* The field a refused <body> is named by ("" for the body as a whole). */
static const char *refused(const char *body)
{
    static char field[80];
    struct ag_adminin_patch p;
    struct ag_field_err e;

    if (parse(body, &p, &e) != AG_EPARSE) {
        ag_adminin_patch_clear(&p);
        return "(accepted)";
    }
    AG_ASSERT(p.roles == NULL);
    AG_ASSERT(e.msg != NULL && e.type != NULL);
    strcpy(field, e.field != NULL ? e.field : "");
    return field;
}

static void test_adminin_patch_reads_each_field(void)
{
    struct ag_adminin_patch p;
    struct ag_field_err e;

    AG_ASSERT_EQ(parse("{\"is_active\": false, \"is_staff\": true, \"is_superuser\": false, "
                       "\"roles\": [\"editor\", \"b-2.x\"]}",
                       &p, &e),
                 0);
    AG_ASSERT(p.set_active && !p.is_active);
    AG_ASSERT(p.set_staff && p.is_staff);
    AG_ASSERT(p.set_superuser && !p.is_superuser);
    AG_ASSERT(p.set_roles);
    AG_ASSERT_STR(p.roles, "editor b-2.x");
    ag_adminin_patch_clear(&p);
    AG_ASSERT(p.roles == NULL && !p.set_roles);
}

static void test_adminin_patch_empty_object_and_empty_roles(void)
{
    struct ag_adminin_patch p;
    struct ag_field_err e;

    AG_ASSERT_EQ(parse("{}", &p, &e), 0);
    AG_ASSERT(!p.set_active && !p.set_staff && !p.set_superuser && !p.set_roles);
    ag_adminin_patch_clear(&p);
    AG_ASSERT_EQ(parse("{\"roles\": []}", &p, &e), 0);
    AG_ASSERT(p.set_roles);
    AG_ASSERT_STR(p.roles, "");
    ag_adminin_patch_clear(&p);
}

static void test_adminin_patch_names_the_field_of_each_refusal(void)
{
    AG_ASSERT_STR(refused("{\"is_active\": \"false\"}"), "is_active");
    AG_ASSERT_STR(refused("{\"is_staff\": 1}"), "is_staff");
    AG_ASSERT_STR(refused("{\"is_superuser\": null}"), "is_superuser");
    AG_ASSERT_STR(refused("{\"roles\": \"a\"}"), "roles");
    AG_ASSERT_STR(refused("{\"roles\": [1]}"), "roles");
    AG_ASSERT_STR(refused("{\"roles\": [\"\"]}"), "roles");
    AG_ASSERT_STR(refused("{\"roles\": [\"a b\"]}"), "roles");
    AG_ASSERT_STR(refused("{\"roles\": [\"a,b\"]}"), "roles");
    AG_ASSERT_STR(refused("{\"roles\": [\"caf\\u00e9\"]}"), "roles");
    AG_ASSERT_STR(refused("{\"roles\": [\"a\\u0000\"]}"), ""); /* jansson: not JSON here */
    AG_ASSERT_STR(refused("{\"roles\": [\"a\", \"a\"]}"), "roles");
    AG_ASSERT_STR(refused("{\"roles\": [\"staff\"]}"), "roles");
    AG_ASSERT_STR(refused("{\"roles\": [\"superuser\"]}"), "roles");
    AG_ASSERT_STR(refused("{\"roles\": [\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"]}"),
                  "roles"); /* 65 bytes */
    AG_ASSERT_STR(refused("{\"is_active\": true, \"email\": \"x@y.z\"}"), "email");
    AG_ASSERT_STR(refused("{\"roles\": [\"ok\"], \"is_active\": 0}"), "is_active");
    /* the body as a whole */
    AG_ASSERT_STR(refused("{\"is_active\": true, \"is_active\": false}"), "");
    AG_ASSERT_STR(refused("{\"roles\": [{\"a\": 1, \"a\": 2}]}"), "");
    AG_ASSERT_STR(refused("[]"), "");
    AG_ASSERT_STR(refused("true"), "");
    AG_ASSERT_STR(refused(""), "");
    AG_ASSERT_STR(refused("{\"is_active\": tru"), "");
}

static void test_adminin_patch_bounds_the_role_list(void)
{
    char body[2048], *o = body;

    o += sprintf(o, "{\"roles\": [");
    for (int i = 0; i < AG_ADMININ_ROLES_MAX; i++)
        o += sprintf(o, "%s\"r%02d\"", i ? "," : "", i);
    strcpy(o, "]}");
    AG_ASSERT_STR(refused(body), "(accepted)");
    o = body + strlen(body) - 2;
    strcpy(o, ",\"r64\"]}");
    AG_ASSERT_STR(refused(body), "roles");
}

static void test_adminin_patch_unknown_field_is_named_cleaned(void)
{
    struct ag_adminin_patch p;
    struct ag_field_err e;

    AG_ASSERT_EQ(parse("{\"bad\\u0001name\": 1}", &p, &e), AG_EPARSE);
    AG_ASSERT_STR(e.field, "bad\xef\xbf\xbdname");
    AG_ASSERT_STR(e.type, "value_error.extra");
}

static void test_adminin_count_takes_digits_within_bounds(void)
{
    int64_t v = -7;

    AG_ASSERT_EQ(ag_adminin_count("0", 0, 10, &v), 0);
    AG_ASSERT_EQ(v, 0);
    AG_ASSERT_EQ(ag_adminin_count("500", 1, 500, &v), 0);
    AG_ASSERT_EQ(v, 500);
    AG_ASSERT_EQ(ag_adminin_count("501", 1, 500, &v), AG_EINVAL);
    AG_ASSERT_EQ(ag_adminin_count("0", 1, 500, &v), AG_EINVAL);
    AG_ASSERT_EQ(ag_adminin_count("-1", 0, 500, &v), AG_EINVAL);
    AG_ASSERT_EQ(ag_adminin_count("+1", 0, 500, &v), AG_EINVAL);
    AG_ASSERT_EQ(ag_adminin_count(" 1", 0, 500, &v), AG_EINVAL);
    AG_ASSERT_EQ(ag_adminin_count("1.0", 0, 500, &v), AG_EINVAL);
    AG_ASSERT_EQ(ag_adminin_count("", 0, 500, &v), AG_EINVAL);
    AG_ASSERT_EQ(ag_adminin_count(NULL, 0, 500, &v), AG_EINVAL);
    AG_ASSERT_EQ(ag_adminin_count("99999999999999999999999", 0, INT64_MAX, &v), AG_EINVAL);
    AG_ASSERT_EQ(v, 500);
}

int main(void)
{
    AG_RUN(test_adminin_patch_reads_each_field);
    AG_RUN(test_adminin_patch_empty_object_and_empty_roles);
    AG_RUN(test_adminin_patch_names_the_field_of_each_refusal);
    AG_RUN(test_adminin_patch_bounds_the_role_list);
    AG_RUN(test_adminin_patch_unknown_field_is_named_cleaned);
    AG_RUN(test_adminin_count_takes_digits_within_bounds);
    return ag_t_done();
}
