/*
 * gateway/admin.c - the operator commands that talk to the store: `csu` (create a
 * superuser), `reset-link` (print a password reset token for a user) and `unlock`
 * (lift a login lockout). Each runs one private event loop until its store calls end.
 *
 * Owns:     struct admin_run (the loop, the store, the answer being waited for).
 * Entry:    ag_admin_main().
 * Not here: the server (gateway/server.c), the records (store/user.c), password rules
 *           (policy/password.c), input checks (policy/userin.c).
 * Spec:     CONTRACT.md section 2 (`csu`); docs/users.md (reset-link, unlock).
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
#include <sodium.h>

#include "config.h"
#include "endpoints.h"
#include "password.h"
#include "server.h"
#include "store.h"
#include "user.h"
#include "userin.h"

#define ADMIN_CONNECT_S 5.0 /* how long to wait for Redis before giving up */

struct admin_run {
    struct event_base *base;
    struct ag_store *st;
    const char *cmd;
    bool done;
    enum ag_user_status status;
    struct ag_user user;        /* copied from a lookup */
    char *buf[5];               /* copies behind <user>'s strings */
};

/* ---------------------------------------------------------------- options */

struct admin_opts {
    const char *config, *username, *email, *user;
    bool password_stdin;
};

static int admin_parse(const char *cmd, int argc, char **argv, int from, struct admin_opts *o)
{
    static const char *const names[] = {"--config", "--username", "--email", "--user"};
    const char **slots[] = {&o->config, &o->username, &o->email, &o->user};

    for (int i = from; i < argc; i++) {
        size_t k;

        if (strcmp(argv[i], "--password-stdin") == 0) {
            o->password_stdin = true;
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
    struct ag_store_opts o = {.url = g->cfg->redis_url, .ns = g->cfg->app_name,
                              .connect_timeout = 2, .command_timeout = 5};
    struct timeval step = {0, 20000};
    double waited = 0;

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
                        "'redis' address did not answer within %.0f s)\n",
                r->cmd, ADMIN_CONNECT_S);
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
                        .created_at = (int64_t)time(NULL)};
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
    tok = ag_ep_reset_token(g, r->user.id, r->user.hash, (int64_t)time(NULL));
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

int ag_admin_main(const char *cmd, int argc, char **argv, int from)
{
    struct admin_opts o = {0};
    struct admin_run r = {.cmd = cmd};
    struct ag_err err = {0};
    struct ag_gen *g;
    int rc;

    if (admin_parse(cmd, argc, argv, from, &o) < 0)
        return 2;
    if (strcmp(cmd, "csu") != 0 && o.user == NULL) {
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
    else
        rc = admin_unlock(&r, g, o.user);
    admin_close(&r);
    ag_gen_unref(g);
    return rc;
}
