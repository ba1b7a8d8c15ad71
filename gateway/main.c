/*
 * gateway/main.c - the authgate command line: serve, check, keygen, init, and the
 * store commands csu, reset-link, unlock, user, sessions (gateway/admin.c).
 *
 * Owns:     nothing past the command it runs.
 * Entry:    main().
 * Not here: the server itself (gateway/server.c), config rules (policy/config.c).
 * Spec:     CONTRACT.md sections 1 and 2 (commands and exit statuses).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "admin.h"
#include "config.h"
#include "server.h"

#define EXIT_USAGE 2

static const char usage[] =
    "usage: authgate [command] [options]\n"
    "\n"
    "commands:\n"
    "  serve --config FILE   run the gateway in the foreground (the default command)\n"
    "  check --config FILE   validate a config; exit 0, or 2 with one line per problem\n"
    "  keygen                print a fresh HS256 secret (32 random bytes, base64url)\n"
    "  init [--dir DIR]      write authgate.json, and .env with fresh secrets (mode 0600)\n"
    "  csu --config FILE [--username U] [--email E] [--password-stdin]\n"
    "                        create a superuser (prompts for what is missing)\n"
    "  reset-link --config FILE --user U\n"
    "                        print a single-use password reset token for user U\n"
    "  unlock --config FILE --user U\n"
    "                        lift a login lockout of user U\n"
    "  user list --config FILE [--q Q] [--offset N] [--limit N]\n"
    "                        list users, oldest first (Q: part of a username or email)\n"
    "  user set USER --config FILE [--active true|false] [--roles a,b]\n"
    "                        change a user (an id, username or email); revokes what it takes\n"
    "  user delete USER --config FILE\n"
    "                        delete a user and end its sessions\n"
    "  sessions revoke USER --config FILE [--sid SID]\n"
    "                        end one session of a user, or all of them\n"
    "\n"
    "options:\n"
    "  --version             print the version\n"
    "  --help                print this help; COMMAND --help prints the command's own\n"
    "\n"
    "signals: SIGHUP reloads the config; SIGTERM and SIGINT drain and exit.\n"
    "docs: README.md and docs/ in the source tree.\n";

/* What `authgate COMMAND --help` prints: the command's own usage, to stdout. */
static const struct cmd_help {
    const char *name;
    const char *text;
} cmd_helps[] = {
    {"serve", "usage: authgate [serve] --config FILE\n"
              "\n"
              "Runs the gateway in the foreground and logs to stderr. cryptography-key and\n"
              "master-token come from FILE, or from CRYPTOGRAPHY_KEY and MASTER_TOKEN when FILE\n"
              "leaves them out. Exit 2 when the config has a problem.\n"
              "Signals: SIGHUP reloads the config; SIGTERM and SIGINT drain and exit 0.\n"},
    {"check", "usage: authgate check --config FILE\n"
              "\n"
              "Validates FILE (and CRYPTOGRAPHY_KEY / MASTER_TOKEN when FILE leaves them out)\n"
              "with the checks serve runs: exit 0, or 2 with one line per problem naming\n"
              "the key.\n"},
    {"keygen", "usage: authgate keygen\n"
               "\n"
               "Prints a fresh HS256 secret (32 random bytes, base64url), usable as\n"
               "cryptography-key.\n"},
    {"init", "usage: authgate init [--dir DIR]\n"
             "\n"
             "Writes DIR/authgate.json (the settings) and DIR/.env (a fresh CRYPTOGRAPHY_KEY\n"
             "and MASTER_TOKEN), mode 0600, refusing to overwrite. DIR defaults to '.'.\n"
             "The secrets are only in .env: export them before authgate starts\n"
             "(set -a; . DIR/.env; set +a), or name it in systemd's EnvironmentFile=.\n"},
    {"csu", "usage: authgate csu --config FILE [--username U] [--email E] [--password-stdin]\n"
            "\n"
            "Creates a superuser in the store; prompts for what is missing, the password\n"
            "twice without echo.\n"},
    {"reset-link", "usage: authgate reset-link --config FILE --user U\n"
                   "\n"
                   "Prints a single-use password reset token for user U (username or email).\n"},
    {"unlock", "usage: authgate unlock --config FILE --user U\n"
               "\n"
               "Lifts a login lockout of user U (username or email).\n"},
    {"user", "usage: authgate user list --config FILE [--q Q] [--offset N] [--limit N]\n"
             "       authgate user set USER --config FILE [--active true|false] [--roles a,b]\n"
             "       authgate user delete USER --config FILE\n"
             "\n"
             "The users admin API for operators (docs/admin.md). USER is an id, a username or\n"
             "an email. list prints one tab-separated line per user, oldest first (--limit\n"
             "1-500, default 50; Q: part of a username or email, case ignored) and the total\n"
             "on stderr. set --active false ends the user's sessions and tokens; a role taken\n"
             "away (--roles: the whole list, \"\" for none) revokes its access tokens.\n"
             "delete removes the user and ends its sessions; its name is free again.\n"},
    {"sessions", "usage: authgate sessions revoke USER --config FILE [--sid SID]\n"
                 "\n"
                 "Ends session SID of USER (an id, username or email), or every session of it,\n"
                 "on every instance within a second.\n"},
};

/* True when argv[from..] asks for help ("--help" or "-h"). */
static int wants_help(int argc, char **argv, int from)
{
    for (int i = from; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    return 0;
}

/* Finds "--NAME VALUE" or "--NAME=VALUE" in argv[from..]; NULL if absent. Sets *bad on junk. */
static const char *opt_value(int argc, char **argv, int from, const char *name, int *bad)
{
    size_t n = strlen(name);
    const char *v = NULL;

    for (int i = from; i < argc; i++) {
        if (strncmp(argv[i], name, n) == 0 && argv[i][n] == '=') {
            v = argv[i] + n + 1;
        } else if (strcmp(argv[i], name) == 0 && i + 1 < argc) {
            v = argv[++i];
        } else {
            *bad = 1;
            fprintf(stderr, "authgate: unexpected argument '%s'\n", argv[i]);
        }
    }
    return v;
}

static int secret_b64(char *out, size_t outlen)
{
    unsigned char key[32];

    randombytes_buf(key, sizeof(key));
    sodium_bin2base64(out, outlen, key, sizeof(key), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(key, sizeof(key));
    return 0;
}

static int cmd_check(const char *path)
{
    struct ag_gen *g;
    struct ag_err err = {0}, warn = {0};

    g = ag_gen_load(path, 0, &err);
    if (g == NULL) {
        for (int i = 0; i < err.n && i < AG_ERR_MAX; i++)
            fprintf(stderr, "%s\n", err.line[i]);
        if (err.n > AG_ERR_MAX)
            fprintf(stderr, "%s: ... and %d more problems\n", path, err.n - AG_ERR_MAX);
        return EXIT_USAGE;
    }
    /* Lint findings are warnings: the config works, but probably not as meant. */
    ag_gen_lint(g, &warn);
    for (int i = 0; i < warn.n && i < AG_ERR_MAX; i++)
        fprintf(stderr, "warning: %s\n", warn.line[i]);
    printf("%s: ok%s\n", path, warn.n ? " (with warnings)" : "");
    ag_gen_unref(g);
    return 0;
}

static int cmd_keygen(void)
{
    char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];

    secret_b64(b64, sizeof(b64));
    printf("%s\n", b64);
    return 0;
}

/* Creates <path> with mode 0600, refusing to overwrite; writes <text>. */
static int write_new(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    size_t len = strlen(text);

    if (fd < 0) {
        fprintf(stderr, "authgate init: %s: %s%s\n", path, strerror(errno),
                errno == EEXIST ? " (refusing to overwrite)" : "");
        return -1;
    }
    if (write(fd, text, len) != (ssize_t)len || fsync(fd) < 0 || close(fd) < 0) {
        fprintf(stderr, "authgate init: %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Creates <dir> and its missing parents (mode 0755, as `mkdir -p`). 0 or -1 (said why). */
static int mkdir_p(const char *dir)
{
    char path[4096];
    size_t n = strlen(dir);

    if (n == 0 || n >= sizeof(path)) {
        fprintf(stderr, "authgate init: %s: bad directory\n", dir);
        return -1;
    }
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char c = path[i];
        path[i] = '\0';
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
            fprintf(stderr, "authgate init: %s: %s\n", path, strerror(errno));
            return -1;
        }
        path[i] = c;
    }
    return 0;
}

/*
 * Writes <dir>/.env with a fresh CRYPTOGRAPHY_KEY and MASTER_TOKEN, and
 * <dir>/authgate.json with the settings but no secret: the secrets live in one
 * place, so editing .env is what changes them (a key in the file would win over
 * the variable, CONTRACT.md section 3). Both mode 0600, neither overwritten; <dir> is
 * created when missing.
 */
static int cmd_init(const char *dir)
{
    static const char settings[] = "{\n"
                                   "  \"app-name\": \"authgate\",\n"
                                   "  \"listen\": \"127.0.0.1:8080\",\n"
                                   "  \"upstream\": \"http://127.0.0.1:8081\",\n"
                                   "  \"redis\": \"redis://127.0.0.1:6379/0\",\n"
                                   "  \"master-token-paths\": [],\n"
                                   "  \"access-token-paths\": [],\n"
                                   "  \"headers\": {}\n"
                                   "}\n";
    char key[64], master[64], cfg_path[4096], env_path[4096], text[256];
    struct stat st;
    int rc = 1;

    if (mkdir_p(dir) < 0)
        return 1;
    snprintf(cfg_path, sizeof(cfg_path), "%s/authgate.json", dir);
    snprintf(env_path, sizeof(env_path), "%s/.env", dir);
    if (stat(cfg_path, &st) == 0 || stat(env_path, &st) == 0) {
        fprintf(stderr, "authgate init: %s already exists (refusing to overwrite)\n",
                stat(cfg_path, &st) == 0 ? cfg_path : env_path);
        return 1;
    }
    secret_b64(key, sizeof(key));
    secret_b64(master, sizeof(master));
    snprintf(text, sizeof(text), "CRYPTOGRAPHY_KEY=%s\nMASTER_TOKEN=%s\n", key, master);
    if (write_new(env_path, text) < 0)
        goto out;
    if (write_new(cfg_path, settings) < 0) {
        unlink(env_path);
        goto out;
    }
    printf("wrote %s (settings, no secrets) and %s (CRYPTOGRAPHY_KEY, MASTER_TOKEN), mode 0600\n"
           "the secrets are only in %s: authgate reads them from the environment, so\n"
           "  set -a; . %s; set +a\n"
           "  authgate serve --config %s\n"
           "(with systemd: EnvironmentFile=%s)\n",
           cfg_path, env_path, env_path, env_path, cfg_path, env_path);
    rc = 0;
out:
    sodium_memzero(text, sizeof(text));
    sodium_memzero(key, sizeof(key));
    sodium_memzero(master, sizeof(master));
    return rc;
}

int main(int argc, char **argv)
{
    const char *cmd = "serve", *config;
    int first = 1, bad = 0;

    if (sodium_init() < 0) {
        fprintf(stderr, "authgate: libsodium failed to initialise\n");
        return 1;
    }
    if (argc > 1 && argv[1][0] != '-') {
        cmd = argv[1];
        first = 2;
    }
    if (argc > 1 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0)) {
        printf("authgate %s\n", AG_VERSION);
        return 0;
    }
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
                     strcmp(argv[1], "help") == 0)) {
        fputs(usage, stdout);
        return 0;
    }
    if (wants_help(argc, argv, first)) {
        for (size_t i = 0; i < sizeof(cmd_helps) / sizeof(cmd_helps[0]); i++)
            if (strcmp(cmd, cmd_helps[i].name) == 0) {
                fputs(cmd_helps[i].text, stdout);
                return 0;
            }
    }
    if (strcmp(cmd, "keygen") == 0) {
        if (argc > first) {
            fputs(usage, stderr);
            return EXIT_USAGE;
        }
        return cmd_keygen();
    }
    if (strcmp(cmd, "init") == 0) {
        const char *dir = opt_value(argc, argv, first, "--dir", &bad);
        if (bad)
            return EXIT_USAGE;
        return cmd_init(dir ? dir : ".");
    }
    if (strcmp(cmd, "csu") == 0 || strcmp(cmd, "reset-link") == 0 || strcmp(cmd, "unlock") == 0 ||
        strcmp(cmd, "user") == 0 || strcmp(cmd, "sessions") == 0)
        return ag_admin_main(cmd, argc, argv, first);
    if (strcmp(cmd, "serve") != 0 && strcmp(cmd, "check") != 0) {
        fprintf(stderr, "authgate: unknown command '%s'\n\n%s", cmd, usage);
        return EXIT_USAGE;
    }
    config = opt_value(argc, argv, first, "--config", &bad);
    if (bad || config == NULL) {
        if (config == NULL)
            fprintf(stderr, "authgate %s: --config FILE is required\n", cmd);
        return EXIT_USAGE;
    }
    if (strcmp(cmd, "check") == 0)
        return cmd_check(config);
    return ag_server_run(config);
}
