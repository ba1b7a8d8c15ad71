/*
 * gateway/admin.c - the operator commands that talk to the store: `csu` (create a
 * superuser), `reset-link` (print a password reset token for a user), `unlock` (lift a
 * login lockout), and `user list|set|delete` and `sessions revoke` (the users admin API's
 * store calls, for operators without a browser). Each runs one private event loop until
 * its store calls end.
 *
 * Owns:     struct admin_run (the loop, the store, the answer being waited for).
 * Entry:    ag_admin_main().
 * Not here: the server (gateway/server.c), the records (store/user.c, store/users.c),
 *           password rules (policy/password.c), input checks (policy/userin.c, adminin.c).
 * Spec:     CONTRACT.md section 2 (`csu`); docs/users.md (reset-link, unlock); docs/admin.md.
 */
#include "admin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>
#include <sodium.h>

#include "config.h"
#include "endpoints.h"
#include "password.h"
#include "server.h"
#include "store.h"
#include "adminin.h"
#include "audit.h"
#include "user.h"
#include "userin.h"
#include "users.h"

#define ADMIN_CONNECT_S 5.0 /* how long to wait for Redis before giving up */

struct admin_run {
    struct event_base *base;
    struct ag_store *st;
    const char *cmd;
    bool done;
    enum ag_user_status status;
    struct ag_user user;        /* copied from a lookup */
    char *buf[5];               /* copies behind <user>'s strings */
    enum ag_users_revoked revoked; /* what `user set` revoked */
};

/* ---------------------------------------------------------------- options */

struct admin_opts {
    const char *config, *username, *email, *user;
    bool password_stdin;
    /* user list|set|delete, sessions revoke: the subcommand, USER, and their options */
    const char *sub, *who, *q, *offset, *limit, *active, *roles, *sid;
};

static int admin_parse(const char *cmd, int argc, char **argv, int from, struct admin_opts *o)
{
    static const char *const names[] = {"--config", "--username", "--email", "--user",
                                        "--q",      "--offset",   "--limit", "--active",
                                        "--roles",  "--sid"};
    const char **slots[] = {&o->config, &o->username, &o->email,  &o->user,  &o->q,
                            &o->offset, &o->limit,    &o->active, &o->roles, &o->sid};
    bool sub = strcmp(cmd, "user") == 0 || strcmp(cmd, "sessions") == 0;

    for (int i = from; i < argc; i++) {
        size_t k;

        if (strcmp(argv[i], "--password-stdin") == 0) {
            o->password_stdin = true;
            continue;
        }
        if (sub && argv[i][0] != '-' && (o->sub == NULL || o->who == NULL)) {
            /* `user SUB [USER]`, `sessions revoke USER`: positional words come first */
            *(o->sub == NULL ? &o->sub : &o->who) = argv[i];
            continue;
        }
        for (k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
            size_t n = strlen(names[k]);
            if (strncmp(argv[i], names[k], n) == 0 && argv[i][n] == '=') {
                *slots[k] = argv[i] + n + 1;
                break;
            }
            if (strcmp(argv[i], names[k]) == 0 && i + 1 < argc) {
                *slots[k] = argv[++i];
                break;
            }
        }
        if (k == sizeof(names) / sizeof(names[0])) {
            fprintf(stderr, "authgate %s: unexpected argument '%s'\n", cmd, argv[i]);
            return -1;
        }
    }
    if (o->config == NULL) {
        fprintf(stderr, "authgate %s: --config FILE is required\n", cmd);
        return -1;
    }
    return 0;
}

/* Reads one line from stdin into <buf> (newline removed). <echo> false: the terminal stays quiet.
 */
static int admin_read_line(const char *prompt, char *buf, size_t cap, bool echo)
{
    struct termios old, quiet;
    bool tty = isatty(STDIN_FILENO) != 0;
    bool hidden = false;
    size_t n;

    if (prompt != NULL && tty) {
        fputs(prompt, stderr);
        fflush(stderr);
    }
    if (!echo && tty && tcgetattr(STDIN_FILENO, &old) == 0) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        hidden = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
    }
    if (fgets(buf, (int)cap, stdin) == NULL)
        buf[0] = '\0';
    if (hidden) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    n = strlen(buf);
    if (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    if (n > 0 && buf[n - 1] == '\r')
        buf[--n] = '\0';
    return n > 0 ? 0 : -1;
}

/* ---------------------------------------------------------------- the store */

static void on_admin_deadline(evutil_socket_t fd, short what, void *arg)
{
    event_base_loopbreak(arg);
}

/* Connects to the store of <g>; 0, or -1 with a message. */
static int admin_connect(struct admin_run *r, const struct ag_gen *g)
{
    struct ag_store_opts o = {.ns = g->cfg->app_name, .connect_timeout = 2,
                              .command_timeout = 5,
                              .min_replicas_ack = g->cfg->redis_min_replicas_ack};
    const struct ag_redis_sentinel *rs = g->cfg->redis_sentinel;
    struct timeval step = {0, 20000};
    double waited = 0;

    ag_gen_store_addr(g->cfg, &o);
    r->base = event_base_new();
    if (r->base == NULL || (r->st = ag_store_new(r->base, &o)) == NULL) {
        fprintf(stderr, "authgate %s: cannot set up the store (%s)\n", r->cmd, "redis");
        return -1;
    }
    while (!ag_store_ready(r->st) && waited < ADMIN_CONNECT_S) {
        event_base_once(r->base, -1, EV_TIMEOUT, on_admin_deadline, r->base, &step);
        event_base_dispatch(r->base);
        waited += 0.02;
    }
    if (!ag_store_ready(r->st)) {
        fprintf(stderr, "authgate %s: the store is unreachable (redis at the configured "
                        "'%s' address did not answer within %.0f s)\n",
                r->cmd, rs != NULL ? "redis-sentinel" : "redis", ADMIN_CONNECT_S);
        return -1;
    }
    return 0;
}

static void admin_close(struct admin_run *r)
{
    ag_store_free(r->st);
    if (r->base)
        event_base_free(r->base);
    for (size_t i = 0; i < 5; i++)
        free(r->buf[i]);
}

static void on_admin_user(enum ag_user_status st, const struct ag_user *u, void *arg)
{
    struct admin_run *r = arg;

    r->done = true;
    r->status = st;
    if (st == AG_USER_OK && u != NULL && u->id != NULL) {
        r->user = *u;
        r->user.id = r->buf[0] = strdup(u->id);
        r->user.hash = r->buf[1] = strdup(u->hash ? u->hash : "");
        r->user.username = r->buf[2] = strdup(u->username ? u->username : "");
        r->user.email = r->buf[3] = strdup(u->email ? u->email : "");
        r->user.roles = r->buf[4] = strdup(u->roles ? u->roles : "");
    }
}

/* Runs the loop until the pending call answered; its status (DOWN when it could not start). */
static enum ag_user_status admin_wait(struct admin_run *r, int started)
{
    if (started < 0)
        return AG_USER_DOWN;
    r->done = false;
    while (!r->done)
        if (event_base_loop(r->base, EVLOOP_ONCE) < 0)
            return AG_USER_DOWN;
    return r->status;
}

/* ---------------------------------------------------------------- csu */

static int admin_csu(struct admin_run *r, const struct ag_gen *g, const struct admin_opts *o)
{
    const struct ag_config *cfg = g->cfg;
    char username[256], email[256], pw[1024], pw2[1024], hash[AG_PASSWORD_HASH_MAX], id[37];
    char msg[160];
    struct ag_field_err e = {0};
    enum ag_pw_check pc;
    int rc = 1;

    if (o->username != NULL)
        snprintf(username, sizeof(username), "%s", o->username);
    else if (admin_read_line("Username: ", username, sizeof(username), true) < 0)
        username[0] = '\0';
    if (o->email != NULL)
        snprintf(email, sizeof(email), "%s", o->email);
    else if (admin_read_line("Email: ", email, sizeof(email), true) < 0)
        email[0] = '\0';
    if (ag_user_check_username(username, &e) < 0 || ag_user_check_email(email, &e) < 0) {
        fprintf(stderr, "authgate csu: %s: %s\n", e.field ? e.field : "input", e.msg);
        return 1;
    }
    if (o->password_stdin) {
        if (admin_read_line(NULL, pw, sizeof(pw), false) < 0)
            pw[0] = '\0';
    } else {
        if (admin_read_line("Password: ", pw, sizeof(pw), false) < 0)
            pw[0] = '\0';
        if (admin_read_line("Password (again): ", pw2, sizeof(pw2), false) < 0)
            pw2[0] = '\0';
        if (strcmp(pw, pw2) != 0) {
            fprintf(stderr, "authgate csu: the passwords do not match\n");
            goto out;
        }
    }
    pc = ag_password_check(&cfg->passwords, pw, strlen(pw));
    if (pc != AG_PW_OK) {
        fprintf(stderr, "authgate csu: weak password: %s\n",
                ag_password_check_msg(&cfg->passwords, pc, msg, sizeof(msg)));
        goto out;
    }
    if (ag_password_hash(&cfg->passwords, pw, strlen(pw), hash) < 0) {
        fprintf(stderr, "authgate csu: cannot hash the password (out of memory)\n");
        goto out;
    }
    if (admin_connect(r, g) < 0)
        goto out;
    ag_ep_uuid4(id);
    struct ag_user u = {.id = id, .email = email, .username = username, .hash = hash,
                        .is_active = true, .is_staff = true, .is_superuser = true, .roles = "",
                        .created_at = ag_unix_now()};
    u.password_changed_at = u.created_at;
    switch (admin_wait(r, ag_user_create(r->st, &u, on_admin_user, r))) {
    case AG_USER_OK:
        printf("superuser '%s' created (id %s)\n", username, id);
        rc = 0;
        break;
    case AG_USER_DUP_USERNAME:
        fprintf(stderr, "authgate csu: duplicate user: the username '%s' is taken\n", username);
        break;
    case AG_USER_DUP_EMAIL:
        fprintf(stderr, "authgate csu: duplicate user: the email '%s' is taken\n", email);
        break;
    default:
        fprintf(stderr, "authgate csu: the store failed to answer\n");
        break;
    }
out:
    sodium_memzero(pw, sizeof(pw));
    sodium_memzero(pw2, sizeof(pw2));
    sodium_memzero(hash, sizeof(hash));
    return rc;
}

/* ---------------------------------------------------------------- reset-link, unlock */

static int admin_find(struct admin_run *r, const struct ag_gen *g, const char *login)
{
    if (admin_connect(r, g) < 0)
        return 1;
    switch (admin_wait(r, ag_user_find(r->st, login, on_admin_user, r))) {
    case AG_USER_OK:
        return 0;
    case AG_USER_UNKNOWN:
        fprintf(stderr, "authgate %s: no user '%s'\n", r->cmd, login);
        return 1;
    default:
        fprintf(stderr, "authgate %s: the store failed to answer\n", r->cmd);
        return 1;
    }
}

static int admin_reset_link(struct admin_run *r, const struct ag_gen *g, const char *login)
{
    char *tok;

    if (admin_find(r, g, login) != 0)
        return 1;
    tok = ag_ep_reset_token(g, r->user.id, r->user.hash, ag_unix_now());
    if (tok == NULL) {
        fprintf(stderr, "authgate reset-link: cannot make a token (cryptography-key not set?)\n");
        return 1;
    }
    printf("%s\n", tok);
    fprintf(stderr,
            "reset token for '%s' (valid %ld s, single use):\n"
            "  curl -X POST http://HOST%s/password/reset -H 'Content-Type: application/json' "
            "-d '{\"token\":\"<token>\",\"new_password\":\"...\"}'\n",
            r->user.username, g->cfg->reset_ttl, g->cfg->auth_prefix);
    sodium_memzero(tok, strlen(tok));
    free(tok);
    return 0;
}

static int admin_unlock(struct admin_run *r, const struct ag_gen *g, const char *login)
{
    if (admin_find(r, g, login) != 0)
        return 1;
    if (admin_wait(r, ag_user_unlock(r->st, r->user.id, on_admin_user, r)) != AG_USER_OK) {
        fprintf(stderr, "authgate unlock: the store failed to answer\n");
        return 1;
    }
    printf("user '%s' unlocked\n", r->user.username);
    return 0;
}

/* ---------------------------------------------------------------- user, sessions */

static void on_admin_audited(int st, const char *id, void *arg)
{
    struct admin_run *r = arg;

    (void)st;
    (void)id;
    r->done = true;
}

/*
 * Records the admin action <event> on user <id> (+ the <n> pairs <k2>/<v2>, at most 4) in
 * the audit stream as the API does, with actor "cli"; waits for it, and a failure only
 * warns (the action is done).
 */
static void admin_audit(struct admin_run *r, const struct ag_gen *g, const char *event,
                        const char *id, const char *const *k2, const char *const *v2, size_t n)
{
    const char *k[6] = {"actor", "user_id"}, *v[6] = {"cli", id};

    if (g->cfg->audit_stream_max <= 0)
        return;
    for (size_t i = 0; i < n && i < 4; i++) {
        k[2 + i] = k2[i];
        v[2 + i] = v2[i];
    }
    r->done = false;
    if (ag_audit_append(r->st, g->cfg->audit_stream_max, event, k, v, 2 + (n < 4 ? n : 4),
                        on_admin_audited, r) < 0) {
        fprintf(stderr, "authgate %s: warning: the audit entry was not written\n", r->cmd);
        return;
    }
    while (!r->done)
        if (event_base_loop(r->base, EVLOOP_ONCE) < 0)
            return;
}

/* Prints one page: a tab-separated line per user on stdout, the total on stderr. */
static void on_admin_page(enum ag_user_status st, const struct ag_user *u, size_t n,
                          int64_t total, void *arg)
{
    struct admin_run *r = arg;

    r->done = true;
    r->status = st;
    if (st != AG_USER_OK)
        return;
    for (size_t i = 0; i < n; i++) {
        printf("%s\t%s\t%s\tactive=%s\tstaff=%s\tsuperuser=%s\troles=", u[i].id, u[i].username,
               u[i].email, u[i].is_active ? "true" : "false", u[i].is_staff ? "true" : "false",
               u[i].is_superuser ? "true" : "false");
        for (const char *c = u[i].roles; *c != '\0'; c++)
            putchar(*c == ' ' ? ',' : *c);
        printf("\tcreated_at=%lld\n", (long long)u[i].created_at);
    }
    fprintf(stderr, "%lld user%s in total\n", (long long)total, total == 1 ? "" : "s");
}

static void on_admin_updated(enum ag_user_status st, const struct ag_user *u,
                             enum ag_users_revoked what, void *arg)
{
    struct admin_run *r = arg;

    r->revoked = what;
    on_admin_user(st, u, arg);
}

/* Finds USER <who> by id, else by username or email: 0, or 1 with a message. */
static int admin_resolve(struct admin_run *r, const struct ag_gen *g, const char *who)
{
    if (admin_connect(r, g) < 0)
        return 1;
    if (strlen(who) <= AG_USER_ID_MAX) {
        enum ag_user_status st = admin_wait(r, ag_user_get(r->st, who, on_admin_user, r));
        if (st == AG_USER_OK)
            return 0;
        if (st != AG_USER_UNKNOWN) {
            fprintf(stderr, "authgate %s: the store failed to answer\n", r->cmd);
            return 1;
        }
    }
    switch (admin_wait(r, ag_user_find(r->st, who, on_admin_user, r))) {
    case AG_USER_OK:
        return 0;
    case AG_USER_UNKNOWN:
        fprintf(stderr, "authgate %s: no user '%s'\n", r->cmd, who);
        return 1;
    default:
        fprintf(stderr, "authgate %s: the store failed to answer\n", r->cmd);
        return 1;
    }
}

static int admin_user_list(struct admin_run *r, const struct ag_gen *g, const struct admin_opts *o)
{
    int64_t offset = 0, limit = 50;

    if ((o->offset != NULL && ag_adminin_count(o->offset, 0, INT64_MAX / 2, &offset) < 0) ||
        (o->limit != NULL && ag_adminin_count(o->limit, 1, AG_USERS_LIMIT_MAX, &limit) < 0)) {
        fprintf(stderr, "authgate user list: --offset is a whole number from 0, --limit "
                        "from 1 to %d\n", AG_USERS_LIMIT_MAX);
        return 2;
    }
    for (const char *c = o->q; c != NULL && *c != '\0'; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f || c - o->q >= AG_USERS_Q_MAX) {
            fprintf(stderr, "authgate user list: --q is at most %d bytes of text\n",
                    AG_USERS_Q_MAX);
            return 2;
        }
    if (admin_connect(r, g) < 0)
        return 1;
    if (admin_wait(r, ag_users_list(r->st, o->q, offset, (size_t)limit, on_admin_page, r)) !=
        AG_USER_OK) {
        fprintf(stderr, "authgate user list: the store failed to answer\n");
        return 1;
    }
    return 0;
}

/*
 * `user set`: the options as the PATCH body the API takes (--active true|false, --roles
 * a,b: "" for none), checked by the same parser. 0, or 2 with a message.
 */
static int admin_user_change(const struct admin_opts *o, struct ag_adminin_patch *p)
{
    struct ag_field_err e = {0};
    json_t *body = json_object(), *roles;
    char *text;
    int rc = 2;

    if (body == NULL)
        return 1;
    if (o->active != NULL) {
        if (strcmp(o->active, "true") != 0 && strcmp(o->active, "false") != 0) {
            fprintf(stderr, "authgate user set: --active is true or false\n");
            goto out;
        }
        json_object_set_new(body, "is_active", json_boolean(strcmp(o->active, "true") == 0));
    }
    if (o->roles != NULL) {
        const char *w = o->roles;
        roles = json_array();
        json_object_set_new(body, "roles", roles);
        while (*o->roles != '\0') {
            const char *end = strchr(w, ',');
            size_t n = end != NULL ? (size_t)(end - w) : strlen(w);
            json_array_append_new(roles, json_stringn(w, n));
            if (end == NULL)
                break;
            w = end + 1;
        }
    }
    if (json_object_size(body) == 0) {
        fprintf(stderr, "authgate user set: nothing to change (--active, --roles)\n");
        goto out;
    }
    text = json_dumps(body, JSON_COMPACT);
    rc = text == NULL ? 1 : ag_adminin_patch(text, strlen(text), p, &e) == 0 ? 0 : 2;
    if (rc == 2)
        fprintf(stderr, "authgate user set: %s: %s\n",
                e.field == NULL ? "input" : strcmp(e.field, "is_active") == 0 ? "--active"
                                                                           : "--roles",
                e.msg != NULL ? e.msg : "invalid");
    free(text);
out:
    json_decref(body);
    return rc;
}

/* The fields `user set` changes, as the API's audit entry names them. */
static const char *admin_set_fields(const struct admin_opts *o)
{
    return o->active != NULL && o->roles != NULL ? "is_active,roles"
           : o->active != NULL                   ? "is_active"
                                                 : "roles";
}

static int admin_user_set(struct admin_run *r, const struct ag_gen *g, const struct admin_opts *o)
{
    static const char *const revoked[] = {"nothing", "access tokens", "sessions and tokens"};
    struct ag_adminin_patch p;
    struct ag_users_change c = {0};
    int rc = admin_user_change(o, &p);
    enum ag_user_status st;

    if (rc != 0)
        return rc;
    if ((rc = admin_resolve(r, g, o->who)) != 0) {
        ag_adminin_patch_clear(&p);
        return rc;
    }
    ag_ep_admin_windows(g->cfg, ag_unix_now(), &c);
    c.set_active = p.set_active;
    c.is_active = p.is_active;
    c.set_roles = p.set_roles;
    c.roles = p.roles;
    {
        /* The id outlives the lookup's copy of the record, which the answer replaces. */
        char id[AG_USER_ID_MAX + 1];
        snprintf(id, sizeof(id), "%s", r->user.id);
        for (size_t i = 0; i < 5; i++)
            AG_FREE(r->buf[i]);
        st = admin_wait(r, ag_users_update(r->st, id, &c, on_admin_updated, r));
    }
    ag_adminin_patch_clear(&p);
    if (st != AG_USER_OK) {
        fprintf(stderr, "authgate user set: %s\n", st == AG_USER_UNKNOWN
                                                       ? "the user is gone"
                                                       : "the store failed to answer");
        return 1;
    }
    printf("user '%s' (id %s): active=%s roles=%s; revoked: %s\n", r->user.username, r->user.id,
           r->user.is_active ? "true" : "false", r->user.roles, revoked[r->revoked]);
    {
        static const char *const what[] = {"none", "tokens", "sessions"}; /* as the API's */
        const char *k[] = {"fields", "revoked", "is_active", "roles"};
        const char *v[] = {admin_set_fields(o), what[r->revoked],
                           r->user.is_active ? "true" : "false", r->user.roles};
        admin_audit(r, g, "admin_user_update", r->user.id, k, v, 4);
    }
    return 0;
}

static int admin_user_delete(struct admin_run *r, const struct ag_gen *g, const char *who)
{
    struct ag_users_change c = {0};

    if (admin_resolve(r, g, who) != 0)
        return 1;
    ag_ep_admin_windows(g->cfg, ag_unix_now(), &c);
    switch (admin_wait(r, ag_users_delete(r->st, r->user.id, &c, on_admin_user, r))) {
    case AG_USER_OK:
        printf("user '%s' deleted (id %s); its sessions are revoked\n", r->user.username,
               r->user.id);
        admin_audit(r, g, "admin_user_delete", r->user.id, NULL, NULL, 0);
        return 0;
    case AG_USER_UNKNOWN:
        fprintf(stderr, "authgate user delete: the user is gone\n");
        return 1;
    default:
        fprintf(stderr, "authgate user delete: the store failed to answer\n");
        return 1;
    }
}

static int admin_sessions_revoke(struct admin_run *r, const struct ag_gen *g,
                                 const struct admin_opts *o)
{
    struct ag_users_change c = {0};
    enum ag_user_status st;

    if (admin_resolve(r, g, o->who) != 0)
        return 1;
    ag_ep_admin_windows(g->cfg, ag_unix_now(), &c);
    if (o->sid != NULL)
        st = admin_wait(r, ag_user_revoke_session(r->st, r->user.id, o->sid, c.sess_until,
                                                  on_admin_user, r));
    else
        st = admin_wait(r, ag_user_revoke_others(r->st, r->user.id, NULL, c.sess_until,
                                                 on_admin_user, r));
    if (st == AG_USER_UNKNOWN) {
        fprintf(stderr, "authgate sessions revoke: no session '%s' of user '%s'\n", o->sid,
                o->who);
        return 1;
    }
    if (st != AG_USER_OK) {
        fprintf(stderr, "authgate sessions revoke: the store failed to answer\n");
        return 1;
    }
    printf("%s of user '%s' revoked\n", o->sid != NULL ? "the session" : "every session",
           r->user.username);
    if (o->sid != NULL)
        admin_audit(r, g, "admin_session_revoke", r->user.id, (const char *[]){"sid"},
                    (const char *[]){o->sid}, 1);
    else
        admin_audit(r, g, "admin_sessions_revoke", r->user.id, NULL, NULL, 0);
    return 0;
}

/* The usage checks of `user` and `sessions` that need no config: 0, or 2 with a message. */
static int admin_sub_usage(const char *cmd, const struct admin_opts *o)
{
    bool list = o->sub != NULL && strcmp(o->sub, "list") == 0;

    if (o->sub == NULL ||
        (strcmp(cmd, "user") == 0 && !list && strcmp(o->sub, "set") != 0 &&
         strcmp(o->sub, "delete") != 0) ||
        (strcmp(cmd, "sessions") == 0 && strcmp(o->sub, "revoke") != 0)) {
        fprintf(stderr, "authgate %s: expected %s\n", cmd,
                strcmp(cmd, "user") == 0 ? "list, set USER or delete USER" : "revoke USER");
        return 2;
    }
    if (list ? o->who != NULL : o->who == NULL) {
        fprintf(stderr, "authgate %s %s: %s\n", cmd, o->sub,
                list ? "takes no USER" : "USER (an id, a username or an email) is required");
        return 2;
    }
    return 0;
}

int ag_admin_main(const char *cmd, int argc, char **argv, int from)
{
    struct admin_opts o = {0};
    struct admin_run r = {.cmd = cmd};
    struct ag_err err = {0};
    struct ag_gen *g;
    bool sub;
    int rc;

    if (admin_parse(cmd, argc, argv, from, &o) < 0)
        return 2;
    sub = strcmp(cmd, "user") == 0 || strcmp(cmd, "sessions") == 0;
    if (sub && admin_sub_usage(cmd, &o) != 0)
        return 2;
    if (!sub && strcmp(cmd, "csu") != 0 && o.user == NULL) {
        fprintf(stderr, "authgate %s: --user USERNAME_OR_EMAIL is required\n", cmd);
        return 2;
    }
    g = ag_gen_load(o.config, 0, &err);
    if (g == NULL) {
        for (int i = 0; i < err.n && i < AG_ERR_MAX; i++)
            fprintf(stderr, "%s\n", err.line[i]);
        return 2;
    }
    if (strcmp(cmd, "csu") == 0)
        rc = admin_csu(&r, g, &o);
    else if (strcmp(cmd, "reset-link") == 0)
        rc = admin_reset_link(&r, g, o.user);
    else if (sub && strcmp(o.sub, "list") == 0)
        rc = admin_user_list(&r, g, &o);
    else if (sub && strcmp(o.sub, "set") == 0)
        rc = admin_user_set(&r, g, &o);
    else if (sub && strcmp(o.sub, "delete") == 0)
        rc = admin_user_delete(&r, g, o.who);
    else if (sub)
        rc = admin_sessions_revoke(&r, g, &o);
    else
        rc = admin_unlock(&r, g, o.user);
    admin_close(&r);
    ag_gen_unref(g);
    return rc;
}
