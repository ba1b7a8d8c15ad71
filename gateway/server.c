/*
 * gateway/server.c - the process: loads configuration generations, starts the
 * workers, and runs the main thread's event loop for signals: SIGHUP reloads
 * (a broken config is refused and the old one kept), SIGTERM/SIGINT drain and exit.
 *
 * Owns:     the current generation, the worker array, the main event_base, the hashing
 *           pool and the password dummy hashes (both lent to every generation).
 * Entry:    ag_server_run(), ag_gen_load(), ag_gen_ref(), ag_gen_unref().
 * Not here: the CLI (gateway/main.c), per-connection work (gateway/core/conn.c).
 */
#include "server.h"

#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/event.h>
#include <sodium.h>

#include "jwt.h"
#include "log.h"
#include "metrics.h"
#include "password.h"
#include "path.h"
#include "pool.h"
#include "revoke.h"
#include "rules.h"
#include "tls.h"
#include "store.h"
#include "url.h"
#include "worker.h"

#define SERVER_MAX_CONFIG (1024 * 1024)

static atomic_uint gen_ids;

/* Reads the whole file <path> (at most SERVER_MAX_CONFIG bytes). NULL with <err> set. */
static char *read_file(const char *path, size_t *len, struct ag_err *err)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n;

    if (f == NULL) {
        ag_err_add(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    buf = malloc(SERVER_MAX_CONFIG + 1);
    if (buf == NULL) {
        fclose(f);
        ag_err_add(err, "%s: out of memory", path);
        return NULL;
    }
    n = fread(buf, 1, SERVER_MAX_CONFIG + 1, f);
    if (ferror(f) || n > SERVER_MAX_CONFIG) {
        ag_err_add(err, "%s: %s", path, ferror(f) ? strerror(errno) : "larger than 1 MiB");
        AG_FREE(buf);
    }
    fclose(f);
    *len = n;
    return buf;
}

/*
 * The generation's key ring: cryptography-key (kid-less) and each "keys" entry, the PEM
 * files read and judged now (policy/jwt_key.c). Returns the ring, or NULL with one line
 * per refused key in <err> naming it (`check` and a reload refuse the config).
 */
static struct ag_jwt_ring *load_ring(const char *path, const struct ag_config *cfg,
                                     struct ag_err *err)
{
    struct ag_jwt_key *plain = NULL, **keys = calloc(cfg->n_keys + 1, sizeof(*keys));
    struct ag_jwt_ring *r;
    char why[256];
    bool bad = false;

    if (keys == NULL || (cfg->crypto_key != NULL &&
                         (plain = ag_jwt_key_new_hs256(cfg->crypto_key, cfg->crypto_key_len,
                                                       NULL)) == NULL))
        goto oom;
    for (size_t i = 0; i < cfg->n_keys; i++) {
        const struct ag_config_jwk *k = &cfg->keys[i];
        const char *what = k->key_private ? "private-key-file" : "public-key-file";
        struct ag_err ferr = {0};
        size_t len = 0;
        char *pem;

        if (k->secret != NULL) {
            if ((keys[i] = ag_jwt_key_new_hs256(k->secret, k->secret_len, k->kid)) == NULL)
                goto oom;
            continue;
        }
        if ((pem = read_file(k->key_file, &len, &ferr)) == NULL) {
            ag_err_add(err, "%s: keys[%zu].%s: key '%s': %s", path, i, what, k->kid,
                       ferr.n > 0 ? ferr.line[0] : "cannot read");
            bad = true;
            continue;
        }
        keys[i] = ag_jwt_key_new_pem((enum ag_jwt_alg)k->alg, pem, len, k->key_private, k->kid,
                                     why, sizeof(why));
        sodium_memzero(pem, len);
        free(pem);
        if (keys[i] == NULL) {
            ag_err_add(err, "%s: keys[%zu].%s: key '%s': %s: %s", path, i, what, k->kid,
                       k->key_file, why);
            bad = true;
        }
    }
    if (bad)
        goto fail;
    r = ag_jwt_ring_new(plain, keys, cfg->n_keys, cfg->keys_signer);
    free(keys);
    if (r == NULL)
        ag_err_add(err, "%s: out of memory", path);
    return r;
oom:
    ag_err_add(err, "%s: out of memory", path);
fail:
    ag_jwt_key_free(plain);
    for (size_t i = 0; keys != NULL && i < cfg->n_keys; i++)
        ag_jwt_key_free(keys[i]);
    free(keys);
    return NULL;
}

/* Resolves <host>:<port> into <u> (first address). Returns 0 or -1 with <err> set. */
static int resolve(const char *path, const char *key, const char *host, const char *port,
                   const char *hostport, struct ag_upstream_addr *u, struct ag_err *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);

    if (rc != 0) {
        ag_err_add(err, "%s: %s: cannot resolve %s: %s", path, key, host, gai_strerror(rc));
        return -1;
    }
    memcpy(&u->addr, res->ai_addr, res->ai_addrlen);
    u->addrlen = res->ai_addrlen;
    u->hostport = hostport;
    freeaddrinfo(res);
    return 0;
}

void ag_gen_store_addr(const struct ag_config *cfg, struct ag_store_opts *o)
{
    const struct ag_redis_sentinel *rs = cfg->redis_sentinel;

    if (rs == NULL) {
        o->url = cfg->redis_url != NULL ? cfg->redis_url : "redis://127.0.0.1:6379/0";
        return;
    }
    o->sentinel_master = rs->master;
    o->sentinels = (const char *const *)rs->sentinels;
    o->n_sentinels = rs->n_sentinels;
    o->password = rs->password;
    o->sentinel_password = rs->sentinel_password;
    o->db = rs->db;
}

struct ag_gen *ag_gen_load(const char *path, unsigned cfg_flags, struct ag_err *err)
{
    struct ag_config_env env = {getenv("MASTER_TOKEN"), getenv("CRYPTOGRAPHY_KEY")};
    struct ag_gen *g = NULL;
    struct ag_config *cfg;
    size_t len = 0, n = 0;
    char *text;

    text = read_file(path, &len, err);
    if (text == NULL)
        return NULL;
    cfg = ag_config_parse(text, len, path, &env, cfg_flags, err);
    free(text);
    if (cfg == NULL)
        return NULL;
    {
        /* `redis` and a sentinel's "HOST:PORT" have one parser, the store's (policy cannot
         * reach it): what `check` accepts here is what every worker's store connects to. */
        struct ag_store_addr addr;
        const char *why = NULL;
        int rc = cfg->redis_url != NULL ? ag_store_url_parse(cfg->redis_url, &addr, &why) : 0;

        sodium_memzero(&addr, sizeof(addr));
        if (rc < 0) {
            ag_err_add(err, "%s: redis: %s", path, why);
            ag_config_unref(cfg);
            return NULL;
        }
        /* The same for each sentinel of `redis-sentinel`: one line per bad entry. */
        for (size_t i = 0; cfg->redis_sentinel != NULL && i < cfg->redis_sentinel->n_sentinels;
             i++)
            if (ag_store_hostport_parse(cfg->redis_sentinel->sentinels[i], &addr, &why) < 0) {
                ag_err_add(err, "%s: redis-sentinel.sentinels[%zu]: %s", path, i, why);
                rc = -1;
            }
        if (rc < 0) {
            ag_config_unref(cfg);
            return NULL;
        }
    }
    g = calloc(1, sizeof(*g));
    if (g == NULL) {
        ag_config_unref(cfg);
        ag_err_add(err, "%s: out of memory", path);
        return NULL;
    }
    atomic_init(&g->_refs, 1);
    g->cfg = cfg;
    g->n_ups = 1 + cfg->n_routes;
    g->ups = calloc(g->n_ups, sizeof(*g->ups));
    if (g->ups == NULL)
        goto oom;
    if (resolve(path, "upstream", cfg->upstream_host, cfg->upstream_port, cfg->upstream_hostport,
                &g->ups[0], err) < 0)
        goto fail;
    g->ups[0].tls_host = cfg->upstream_tls ? cfg->upstream_host : NULL;
    for (size_t i = 0; i < cfg->n_routes; i++) {
        char key[48];
        snprintf(key, sizeof(key), "routes[%zu].upstream", i);
        if (resolve(path, key, cfg->routes[i].upstream_host, cfg->routes[i].upstream_port,
                    cfg->routes[i].upstream_hostport, &g->ups[1 + i], err) < 0)
            goto fail;
        g->ups[1 + i].tls_host = cfg->routes[i].upstream_tls ? cfg->routes[i].upstream_host : NULL;
    }
    /* The certificate, key and CAs are read here, in the main thread at load (never on a
     * worker's loop); a bad pair fails the load, so `check` and a reload refuse it. */
    if (cfg->n_tls_listen > 0 && (g->tls_server = ag_tls_server_ctx(cfg, err)) == NULL)
        goto fail;
    for (size_t i = 0; i < g->n_ups; i++)
        if (g->ups[i].tls_host != NULL && g->tls_client == NULL &&
            (g->tls_client = ag_tls_client_ctx(cfg, err)) == NULL)
            goto fail;
    if (cfg->reset_webhook != NULL &&
        resolve(path, "password-reset.webhook", cfg->reset_webhook_host, cfg->reset_webhook_port,
                cfg->reset_webhook, &g->webhook, err) < 0)
        goto fail;
    g->rules = ag_rules_new(cfg);
    if (g->rules == NULL) {
        /* The lint names the rule (its "error:" finding); OOM is the only other cause. */
        struct ag_err lint = {0};
        int before = err ? err->n : 0;
        ag_rules_lint(cfg, &lint);
        for (int i = 0; i < lint.n && i < AG_ERR_MAX; i++)
            if (strstr(lint.line[i], "error:") != NULL)
                ag_err_add(err, "%s", lint.line[i]);
        if (err == NULL || err->n == before)
            ag_err_add(err, "%s: rules: cannot compile (out of memory)", path);
        goto fail;
    }
    /* The key files are read here, in the main thread at load; a bad one fails the load. */
    if ((g->ring = load_ring(path, cfg, err)) == NULL)
        goto fail;
    /* The public keys an upstream fetches: written once here, served as they are. */
    if ((g->jwks = ag_jwt_ring_jwks(g->ring, &g->jwks_len)) == NULL)
        goto oom;
    for (size_t i = 0; i < cfg->n_headers; i++)
        n += strlen(cfg->headers[i].name) + strlen(cfg->headers[i].value) + 4;
    g->extra_headers = malloc(n + 1);
    if (g->extra_headers == NULL)
        goto oom;
    g->extra_headers[0] = '\0';
    for (size_t i = 0; i < cfg->n_headers; i++)
        g->extra_headers_len += (size_t)sprintf(g->extra_headers + g->extra_headers_len,
                                                "%s: %s\r\n", cfg->headers[i].name,
                                                cfg->headers[i].value);
    g->access_log = strcmp(cfg->access_log, "off") != 0;
    g->timings = g->access_log || cfg->metrics_listen.host != NULL;
    g->path_flags = cfg->allow_path_semicolon ? AG_PATH_F_ALLOW_SEMICOLON : 0;
    g->id = atomic_fetch_add(&gen_ids, 1) + 1;
    return g;
oom:
    ag_err_add(err, "%s: out of memory", path);
fail:
    ag_gen_unref(g);
    return NULL;
}

int ag_gen_lint(const struct ag_gen *g, struct ag_err *warn)
{
    return ag_rules_lint(g->cfg, warn);
}

/* ---------------------------------------------------------------- running */

static struct {
    const char *path;
    struct ag_gen *gen;
    struct ag_worker **workers;
    size_t n_workers;
    struct event_base *base;
    struct ag_revoke *revoke;  /* shared by every generation; filled by the store */
    struct ag_pool *pool;      /* password hashing, shared by every worker */
    struct ag_password_dummies *pw_dummies; /* used on the pool's threads */
    struct ag_metrics *metrics; /* the metrics port on this thread's loop, or NULL */
} srv;

/* Whether <a> and <b> are the same address (both unset counts as the same). */
static bool same_addr(const struct ag_listen_addr *a, const struct ag_listen_addr *b)
{
    if (a->host == NULL || b->host == NULL)
        return a->host == b->host;
    return strcmp(a->host, b->host) == 0 && strcmp(a->port, b->port) == 0;
}

/* Whether the lists <a> and <b> hold the same addresses, in the same order. */
static bool same_addrs(const struct ag_listen_addr *a, size_t na, const struct ag_listen_addr *b,
                       size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (!same_addr(&a[i], &b[i]))
            return false;
    return true;
}

/* Whether <a> and <b> listen on the same addresses (plain and TLS), in the same order. */
static bool same_listen(const struct ag_config *a, const struct ag_config *b)
{
    return same_addrs(a->listen, a->n_listen, b->listen, b->n_listen) &&
           same_addrs(a->tls_listen, a->n_tls_listen, b->tls_listen, b->n_tls_listen);
}

static void server_log_lint(const struct ag_gen *g)
{
    struct ag_err warn = {0};

    ag_gen_lint(g, &warn);
    for (int i = 0; i < warn.n && i < AG_ERR_MAX; i++)
        ag_log(AG_LOG_WARN, "%s", warn.line[i]);
}

static void server_reload(void)
{
    struct ag_err err = {0};
    struct ag_gen *g = ag_gen_load(srv.path, 0, &err);
    const struct ag_config *old = srv.gen->cfg;

    if (g == NULL) {
        for (int i = 0; i < err.n && i < AG_ERR_MAX; i++)
            ag_log(AG_LOG_ERROR, "reload refused, keeping the running configuration: %s",
                   err.line[i]);
        return;
    }
    g->revoke = srv.revoke;
    g->pool = srv.pool;
    g->pw_dummies = srv.pw_dummies;
    /* The metrics port opened at the start stays, whatever the new file says (restart). */
    g->timings = g->access_log || srv.metrics != NULL;
    server_log_lint(g);
    if (!same_listen(g->cfg, old) || g->cfg->workers != old->workers ||
        !same_addr(&g->cfg->metrics_listen, &old->metrics_listen))
        ag_log(AG_LOG_WARN, "reload: 'listen', 'tls-listen', 'metrics-listen' and 'workers' "
               "changes take effect on restart");
    ag_log_set_json(g->cfg->log_json);
    for (size_t i = 0; i < srv.n_workers; i++)
        ag_worker_post_gen(srv.workers[i], ag_gen_ref(g));
    if (strcmp(g->cfg->access_log, old->access_log) != 0 || strcmp(old->access_log, "stderr"))
        ag_alog_reopen(g->cfg->access_log);
    ag_gen_unref(srv.gen);
    srv.gen = g;
    ag_log(AG_LOG_INFO, "configuration reloaded from %s (generation %u)", srv.path, g->id);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    if (sig == SIGHUP) {
        server_reload();
        return;
    }
    ag_log(AG_LOG_INFO, "%s: draining connections and stopping",
           sig == SIGTERM ? "SIGTERM" : "SIGINT");
    for (size_t i = 0; i < srv.n_workers; i++)
        ag_worker_post_stop(srv.workers[i]);
    event_base_loopbreak(srv.base);
}

/* Raises the soft descriptor limit to the hard one: every connection costs one or two. */
static void raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int ag_server_run(const char *path)
{
    struct ag_err err = {0};
    struct event *sigs[3] = {NULL, NULL, NULL};
    const int signums[3] = {SIGHUP, SIGTERM, SIGINT};
    sigset_t block, old;
    size_t n;
    int status = 1;

    srv.path = path;
    srv.gen = ag_gen_load(path, 0, &err);
    if (srv.gen == NULL) {
        for (int i = 0; i < err.n && i < AG_ERR_MAX; i++)
            fprintf(stderr, "%s\n", err.line[i]);
        return 2;
    }
    srv.revoke = ag_revoke_new();
    if (srv.revoke == NULL) {
        ag_gen_unref(srv.gen);
        return 1;
    }
    srv.gen->revoke = srv.revoke;
    {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        int threads = srv.gen->cfg->hash_threads > 0 ? srv.gen->cfg->hash_threads
                                                     : (int)(cpus > 0 ? cpus : 1);
        srv.pool = ag_pool_new(threads, 0);
        srv.pw_dummies = ag_password_dummies_new();
        if (srv.pool == NULL || srv.pw_dummies == NULL) {
            ag_pool_free(srv.pool);
            ag_password_dummies_free(srv.pw_dummies);
            ag_revoke_free(srv.revoke);
            ag_gen_unref(srv.gen);
            return 1;
        }
        srv.gen->pool = srv.pool;
        srv.gen->pw_dummies = srv.pw_dummies;
    }
    ag_log_set_json(srv.gen->cfg->log_json);
    server_log_lint(srv.gen);
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    if (ag_alog_open(srv.gen->cfg->access_log) < 0) {
        fprintf(stderr, "%s: access-log: cannot open %s: %s\n", path, srv.gen->cfg->access_log,
                strerror(errno));
        ag_gen_unref(srv.gen);
        return 1;
    }
    n = srv.gen->cfg->workers > 0 ? (size_t)srv.gen->cfg->workers
                                  : (size_t)sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    srv.workers = calloc(n, sizeof(*srv.workers));
    srv.base = event_base_new();
    if (srv.workers == NULL || srv.base == NULL)
        goto out;
    /* Signals are watched before any socket is bound: once a client can connect, a
     * SIGTERM already means "drain", never the default "die". */
    for (int i = 0; i < 3; i++) {
        sigs[i] = evsignal_new(srv.base, signums[i], on_signal, NULL);
        if (sigs[i] == NULL || evsignal_add(sigs[i], NULL) < 0) {
            ag_log(AG_LOG_ERROR, "cannot watch signal %d", signums[i]);
            goto out;
        }
    }
    /* Bound first: once the main port accepts, so does this one. It reads the workers
     * only when scraped, from this thread's loop, once all of them exist. */
    if (srv.gen->cfg->metrics_listen.host != NULL &&
        (srv.metrics = ag_metrics_new(srv.base, srv.gen->cfg, srv.workers, n, srv.revoke,
                                      &err)) == NULL) {
        for (int j = 0; j < err.n && j < AG_ERR_MAX; j++)
            ag_log(AG_LOG_ERROR, "%s", err.line[j]);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        srv.workers[i] = ag_worker_new((unsigned)i, srv.gen, &err);
        if (srv.workers[i] == NULL) {
            for (int j = 0; j < err.n && j < AG_ERR_MAX; j++)
                ag_log(AG_LOG_ERROR, "%s", err.line[j]);
            goto out;
        }
        srv.n_workers = i + 1;
    }
    /* Workers inherit a mask without our signals: only the main thread handles them. */
    sigemptyset(&block);
    for (int i = 0; i < 3; i++)
        sigaddset(&block, signums[i]);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    for (size_t i = 0; i < n; i++) {
        if (ag_worker_start(srv.workers[i]) < 0) {
            pthread_sigmask(SIG_SETMASK, &old, NULL);
            ag_log(AG_LOG_ERROR, "cannot start worker %zu", i);
            for (size_t j = 0; j < i; j++) {
                ag_worker_post_stop(srv.workers[j]);
                ag_worker_join(srv.workers[j]);
            }
            goto out;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    for (size_t i = 0; i < srv.gen->cfg->n_listen; i++)
        ag_log(AG_LOG_INFO, "listening on %s:%s, upstream %s, %zu workers",
               srv.gen->cfg->listen[i].host, srv.gen->cfg->listen[i].port,
               srv.gen->cfg->upstream_hostport, n);
    for (size_t i = 0; i < srv.gen->cfg->n_tls_listen; i++)
        ag_log(AG_LOG_INFO, "listening with TLS on %s:%s, upstream %s, %zu workers",
               srv.gen->cfg->tls_listen[i].host, srv.gen->cfg->tls_listen[i].port,
               srv.gen->cfg->upstream_hostport, n);
    if (srv.metrics != NULL)
        ag_log(AG_LOG_INFO, "metrics on %s:%s", srv.gen->cfg->metrics_listen.host,
               srv.gen->cfg->metrics_listen.port);
    event_base_dispatch(srv.base);
    for (size_t i = 0; i < srv.n_workers; i++)
        ag_worker_join(srv.workers[i]);
    ag_log(AG_LOG_INFO, "stopped");
    status = 0;
out:
    for (int i = 0; i < 3; i++)
        if (sigs[i])
            event_free(sigs[i]);
    ag_metrics_free(srv.metrics); /* before the workers it reads */
    srv.metrics = NULL;
    for (size_t i = 0; i < srv.n_workers; i++)
        ag_worker_free(srv.workers[i]);
    AG_FREE(srv.workers);
    if (srv.base)
        event_base_free(srv.base);
    ag_alog_close();
    ag_gen_unref(srv.gen);
    srv.gen = NULL;
    ag_revoke_free(srv.revoke);
    srv.revoke = NULL;
    ag_pool_free(srv.pool); /* after the workers: their inboxes are gone */
    srv.pool = NULL;
    ag_password_dummies_free(srv.pw_dummies); /* after the pool: no job runs any more */
    srv.pw_dummies = NULL;
    return status;
}
