/*
 * gateway/ep/ep_profile.c - the custom user fields at the edge: reading them from a
 * register body, and PATCH /me, which changes them and, with the current password, the
 * email (verified on the pool; uniqueness and the user index kept by one script).
 *
 * Owns:     struct ep_profile_op while a PATCH /me runs (in its arena).
 * Entry:    ag_ep_users_patch_me(), ag_ep_fields_register().
 * Not here: what a field may hold (policy/userfields.c), the record and its indexes
 *           (store/user.c), the other user endpoints (ep_users.c, ep_account.c).
 * Spec:     CONTRACT.md section 14; docs/users.md "Custom fields" and "PATCH /me".
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "arena.h"
#include "config.h"
#include "ep.h"
#include "gen.h"
#include "req.h"
#include "user.h"
#include "userfields.h"
#include "userin.h"
#include "worker_types.h"

#define PROFILE_RETRIES 3 /* compare-and-set rounds against concurrent field changes */

struct ep_profile_op {
    json_t *changes;        /* the custom fields sent (null: clear); owned, freed by a cleanup */
    const char *email;      /* the new email, or NULL */
    const char *password;   /* current_password, or NULL */
    const char *old_email;  /* the email before the change */
    int verified;           /* pool: 1 when current_password matched */
    int rounds;
};

/* Members of a PATCH /me body that name the built-in user object: never changed here. */
static const char *const profile_readonly[] = {
    "id",    "username", "password",   "is_active", "is_staff", "is_superuser",
    "roles", "created_at", "new_password",
};

/* Loads the body as a JSON object into *<root> (new): false after answering 422 or 500. */
static bool profile_body(struct ag_ep *ep, json_t **root)
{
    struct ag_field_err e = {0};
    struct ag_str body = ag_ep_body(ep);
    int r = ag_body_json_object(body.p, body.len, root, &e);

    if (r == AG_ENOMEM)
        ag_ep_oom(ep);
    else if (r < 0)
        ag_ep_unprocessable(ep, &e);
    return r == 0;
}

bool ag_ep_fields_register(struct ag_ep *ep, const char *const *known, size_t n_known,
                           const char **fields)
{
    const struct ag_config *cfg = ep->req->gen->cfg;
    struct ag_field_err e = {0};
    json_t *root = NULL, *out = NULL;
    char *text = NULL;
    bool ok = false;
    int r;

    *fields = "";
    if (cfg->n_user_fields == 0)
        return true; /* nothing declared: other members are ignored, as before issue 14 */
    if (!profile_body(ep, &root))
        return false;
    if ((out = json_object()) == NULL) {
        ag_ep_oom(ep);
        goto out;
    }
    r = ag_ufields_read(cfg, root, known, n_known, false, out, &e);
    if (r == AG_EINVAL) {
        ag_ep_unprocessable(ep, &e); /* e.field may borrow from root: answered before freeing */
        goto out;
    }
    if (r < 0 || (text = ag_ufields_apply(cfg, NULL, out)) == NULL ||
        (*fields = ag_ep_strdup(ep, text)) == NULL) {
        ag_ep_oom(ep);
        goto out;
    }
    ok = true;
out:
    free(text);
    json_decref(out);
    json_decref(root);
    return ok;
}

/* ---------------------------------------------------------------- PATCH /me */

static void on_profile_user(struct ag_ep *ep);

static void profile_free(void *p)
{
    json_decref(p);
}

static void on_profile_written(struct ag_ep *ep)
{
    struct ep_profile_op *op = ep->u->profile;

    if (ep->ust == AG_USER_CONFLICT && op->rounds < PROFILE_RETRIES) {
        /* a concurrent PATCH changed the fields first: merge into what it wrote */
        if (!ag_ep_await(ep, ag_user_get(ep->w->store, ep->id.sub, ag_ep_on_user, ep),
                         on_profile_user))
            ag_ep_down(ep);
        return;
    }
    if (ep->ust == AG_USER_DUP_EMAIL) {
        ag_ep_reply_detail(ep, 409, "Email already registered", NULL);
        return;
    }
    if (ep->ust == AG_USER_CONFLICT) {
        ag_ep_reply_detail(ep, 409, "The profile changed meanwhile; try again", NULL);
        return;
    }
    if (!ag_ep_user_ok(ep, "User not found"))
        return;
    if (op->email != NULL && strcmp(op->email, op->old_email) != 0) {
        const char *k[] = {"user_id", "old_email", "new_email"};
        const char *v[] = {ep->user.id, op->old_email, ep->user.email};
        ag_ep_audit(ep, "email_change", k, v, 3);
    }
    if (json_object_size(op->changes) > 0) {
        const char *k[] = {"user_id", "fields"};
        const char *key;
        json_t *val;
        char *names = ag_ep_strdup(ep, "");

        json_object_foreach(op->changes, key, val)
        {
            (void)val;
            names = names != NULL ? ag_ep_printf(ep, "%s%s%s", names, names[0] ? " " : "", key)
                                  : NULL;
        }
        const char *v[] = {ep->user.id, names != NULL ? names : ""};
        ag_ep_audit(ep, "profile_update", k, v, 2);
    }
    ag_ep_reply_json(ep, 200, ag_ep_user_json(&ep->user), NULL);
}

/* The record read (and, for an email change, the password verified): write the change. */
static void profile_write(struct ag_ep *ep)
{
    struct ep_profile_op *op = ep->u->profile;
    char *text = ag_ufields_apply(ep->req->gen->cfg, ep->user.fields, op->changes);
    const char *fields = text != NULL ? ag_ep_strdup(ep, text) : NULL;

    free(text);
    if (fields == NULL) {
        ag_ep_oom(ep);
        return;
    }
    op->rounds++;
    if (op->old_email == NULL && (op->old_email = ag_ep_strdup(ep, ep->user.email)) == NULL) {
        ag_ep_oom(ep);
        return;
    }
    if (!ag_ep_await(ep, ag_user_update_profile(ep->w->store, ep->user.id, ep->user.fields,
                                                fields, op->email, ag_ep_on_user, ep),
                     on_profile_written))
        ag_ep_down(ep);
}

static void profile_verify_work(struct ag_ep *ep)
{
    struct ep_profile_op *op = ep->u->profile;

    op->verified = ag_password_verify(ep->user.hash, op->password, strlen(op->password));
}

static void on_profile_verified(struct ag_ep *ep)
{
    if (ep->u->profile->verified != 1) {
        ag_ep_reply_detail(ep, 401, "Incorrect password", NULL); /* as POST /password */
        return;
    }
    profile_write(ep);
}

static void on_profile_user(struct ag_ep *ep)
{
    struct ep_profile_op *op = ep->u->profile;

    if (!ag_ep_user_ok(ep, "User not found"))
        return;
    if (op->password != NULL && op->verified != 1) /* once: a retry keeps the verdict */
        ag_ep_submit(ep, profile_verify_work, on_profile_verified);
    else
        profile_write(ep);
}

/* Reads email and current_password of <root> into <op>: false after answering 422. */
static bool profile_email(struct ag_ep *ep, json_t *root, struct ep_profile_op *op)
{
    json_t *em = json_object_get(root, "email"), *pw = json_object_get(root, "current_password");
    struct ag_field_err e = {0};

    if (pw != NULL && (!json_is_string(pw) || json_string_length(pw) == 0 ||
                       json_string_length(pw) > 4096 ||
                       strlen(json_string_value(pw)) != json_string_length(pw))) {
        e = (struct ag_field_err){"current_password", "str type expected", "type_error.str"};
        ag_ep_unprocessable(ep, &e);
        return false;
    }
    if (em == NULL)
        return true;
    if (!json_is_string(em) || strlen(json_string_value(em)) != json_string_length(em)) {
        e = (struct ag_field_err){"email", "str type expected", "type_error.str"};
        ag_ep_unprocessable(ep, &e);
        return false;
    }
    if (ag_user_check_email(json_string_value(em), &e) < 0) {
        ag_ep_unprocessable(ep, &e);
        return false;
    }
    if (pw == NULL) {
        e = (struct ag_field_err){"current_password", "field required with email",
                                  "value_error.missing"};
        ag_ep_unprocessable(ep, &e);
        return false;
    }
    op->email = ag_ep_strdup(ep, json_string_value(em));
    op->password = ag_ep_strdup(ep, json_string_value(pw));
    return op->email != NULL && op->password != NULL;
}

void ag_ep_users_patch_me(struct ag_ep *ep)
{
    static const char *const known[] = {"email", "current_password"};
    const struct ag_config *cfg = ep->req->gen->cfg;
    struct ag_field_err e = {0};
    struct ep_profile_op *op;
    struct ep_user_op *u;
    json_t *root = NULL;
    int r;

    if (!profile_body(ep, &root))
        return;
    for (size_t i = 0; i < sizeof(profile_readonly) / sizeof(profile_readonly[0]); i++)
        if (json_object_get(root, profile_readonly[i]) != NULL) {
            e = (struct ag_field_err){profile_readonly[i], "field cannot be changed here",
                                      "value_error.readonly"};
            ag_ep_unprocessable(ep, &e);
            goto out;
        }
    if ((u = ag_ep_user_op(ep)) == NULL)
        goto out;
    if ((op = ag_ep_alloc(ep, sizeof(*op))) == NULL || (op->changes = json_object()) == NULL ||
        ag_arena_cleanup(ep->arena, profile_free, op->changes) < 0) {
        if (op != NULL)
            json_decref(op->changes);
        ag_ep_oom(ep);
        goto out;
    }
    u->profile = op;
    r = ag_ufields_read(cfg, root, known, 2, true, op->changes, &e);
    if (r == AG_EINVAL) {
        ag_ep_unprocessable(ep, &e);
        goto out;
    }
    if (r < 0) {
        ag_ep_oom(ep);
        goto out;
    }
    if (!profile_email(ep, root, op))
        goto out;
    if (!ag_ep_store_ready(ep)) {
        ag_ep_down(ep);
        goto out;
    }
    if (!ag_ep_await(ep, ag_user_get(ep->w->store, ep->id.sub, ag_ep_on_user, ep),
                     on_profile_user))
        ag_ep_reply_detail(ep, 404, "User not found", NULL);
out:
    json_decref(root);
}
