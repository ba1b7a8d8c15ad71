/*
 * tests/unit/policy/config_test.c - mirrors policy/config.c: defaults, every
 * problem message, environment fallback, syntax errors, reference counting.
 *
 * Inputs are written with single quotes, which q() turns into double quotes, so
 * the JSON reads as JSON. Every config parsed is unref'd (ASan/LSan check it).
 */
#include "config.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "rules.h" /* AG_NEED_* */
#include "t.h"

#define SRC "authgate.json"
#define KEY32 "0123456789abcdef0123456789abcdef"
/* The two keys without which any config is refused; prepend to a test's own keys. */
#define BASE "'upstream':'http://127.0.0.1:8081','cryptography-key':'" KEY32 "'"

/* ------------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------------ */

/* Returns <in> with every ' turned into " (static buffer, valid until the next call). */
static const char *q(const char *in)
{
    static char buf[8192];
    size_t i;

    for (i = 0; in[i] != '\0' && i + 1 < sizeof(buf); i++)
        buf[i] = in[i] == '\'' ? '"' : in[i];
    buf[i] = '\0';
    return buf;
}

/* Parses the single-quoted <in> with <env> and <flags>; <err> may be NULL. */
static struct ag_config *parse_env(const char *in, const struct ag_config_env *env, unsigned flags,
                                   struct ag_err *err)
{
    const char *json = q(in);

    return ag_config_parse(json, strlen(json), SRC, env, flags, err);
}

static struct ag_config *parse(const char *in, struct ag_err *err)
{
    return parse_env(in, NULL, 0, err);
}

/*
 * Parses <in> with <env> and returns every problem joined by " | ", "(no problem)"
 * when it parsed (the config is unref'd), or a note when NULL came without a line.
 * Static buffer, valid until the next call.
 */
static const char *problems_env(const char *in, const struct ag_config_env *env, unsigned flags)
{
    static char out[AG_ERR_MAX * (AG_ERR_LINE + 3)];
    struct ag_err err = {0};
    struct ag_config *cfg = parse_env(in, env, flags, &err);

    out[0] = '\0';
    if (cfg != NULL) {
        ag_config_unref(cfg);
        return err.n == 0 ? "(no problem)" : "(parsed, but with problem lines)";
    }
    if (err.n == 0)
        return "(NULL without a problem line)";
    for (int i = 0; i < err.n && i < AG_ERR_MAX; i++) {
        if (i > 0)
            strcat(out, " | ");
        strcat(out, err.line[i]);
    }
    return out;
}

static const char *problems(const char *in)
{
    return problems_env(in, NULL, 0);
}

/* ------------------------------------------------------------------------------------------
 * Defaults and values
 * ------------------------------------------------------------------------------------------ */

static void test_config_minimal_fills_defaults(void)
{
    struct ag_err err = {0};
    struct ag_config *cfg = parse("{" BASE "}", &err);

    AG_ASSERT_NOT_NULL(cfg);
    AG_ASSERT_EQ(err.n, 0);
    if (cfg == NULL)
        return;
    AG_ASSERT_EQ(atomic_load(&cfg->_refs), 1);
    AG_ASSERT_STR(cfg->source, SRC);
    AG_ASSERT_STR(cfg->app_name, "authgate");
    AG_ASSERT_NULL(cfg->master_token);
    AG_ASSERT_EQ(cfg->master_token_len, 0);
    AG_ASSERT_MEM(cfg->crypto_key, cfg->crypto_key_len, KEY32);
    AG_ASSERT_EQ(cfg->n_master_paths, 0);
    AG_ASSERT_EQ(cfg->n_access_paths, 0);
    AG_ASSERT_EQ(cfg->n_headers, 0);
    AG_ASSERT_EQ(cfg->n_listen, 1);
    AG_ASSERT_STR(cfg->listen[0].host, "127.0.0.1");
    AG_ASSERT_STR(cfg->listen[0].port, "8080");
    AG_ASSERT_STR(cfg->upstream_host, "127.0.0.1");
    AG_ASSERT_STR(cfg->upstream_port, "8081");
    AG_ASSERT_STR(cfg->upstream_hostport, "127.0.0.1:8081");
    AG_ASSERT_STR(cfg->redis_url, "redis://127.0.0.1:6379/0");
    AG_ASSERT_STR(cfg->auth_prefix, "/auth");
    AG_ASSERT_EQ(cfg->workers, 0);
    AG_ASSERT_STR(cfg->access_log, "stderr");
    AG_ASSERT(cfg->upstream_timeout == 60.0);
    AG_ASSERT_EQ(cfg->access_token_ttl, 900);
    AG_ASSERT_EQ(cfg->refresh_token_ttl, 604800);
    AG_ASSERT(cfg->token_new_requires_master);
    AG_ASSERT(cfg->accept_header);
    AG_ASSERT(cfg->accept_cookie);
    AG_ASSERT(cfg->set_cookie_on_login);
    AG_ASSERT(cfg->cookie_secure);
    AG_ASSERT_EQ(cfg->cookie_samesite, AG_SAMESITE_LAX);
    AG_ASSERT(cfg->rate_limits);
    AG_ASSERT_EQ(cfg->rl_login.limit, 10);
    AG_ASSERT_EQ(cfg->rl_login.window, 60);
    AG_ASSERT_EQ(cfg->rl_register.limit, 5);
    AG_ASSERT_EQ(cfg->rl_register.window, 3600);
    AG_ASSERT_EQ(cfg->rl_refresh.limit, 60);
    AG_ASSERT_EQ(cfg->rl_refresh.window, 60);
    AG_ASSERT_EQ(cfg->rl_token_new.limit, 30);
    AG_ASSERT_EQ(cfg->rl_token_new.window, 60);
    AG_ASSERT_EQ(cfg->lockout_failures, 5);
    AG_ASSERT_EQ(cfg->lockout_seconds, 900);
    AG_ASSERT(cfg->client_header_timeout == 10.0);
    AG_ASSERT(cfg->client_timeout == 60.0);
    AG_ASSERT(cfg->keepalive_timeout == 75.0);
    AG_ASSERT(cfg->upstream_connect_timeout == 5.0);
    AG_ASSERT(cfg->tunnel_timeout == 3600.0);
    AG_ASSERT(cfg->drain_timeout == 10.0);
    AG_ASSERT_EQ(cfg->max_header_size, 16384);
    AG_ASSERT_EQ(cfg->max_headers, 100);
    AG_ASSERT_EQ(cfg->max_body_size, 1073741824);
    AG_ASSERT_EQ(cfg->upstream_pool_size, 64);
    AG_ASSERT(!cfg->allow_path_semicolon);
    ag_config_unref(cfg);
}

static void test_config_reads_every_key(void)
{
    struct ag_err err = {0};
    struct ag_config *cfg = parse(
        "{'app-name':'shop','master-token':'m-token','cryptography-key':'" KEY32 "X',"
        "'master-token-paths':['/admin','/ops'],'access-token-paths':['/api'],"
        "'headers':{'X-Env':'prod','X-Empty':'','X-Tab':'a\\tb'},"
        "'listen':['0.0.0.0:80','[::1]:8443'],'upstream':'HTTP://[::1]/',"
        "'redis':'redis://:s3cret@redis.local:6380/2','auth-prefix':'/_gw/auth','workers':4,"
        "'access-log':'/var/log/authgate.log','upstream-timeout':2.5,'access-token-ttl':60,"
        "'refresh-token-ttl':120,'token-new-requires-master':false,'accept-header':false,"
        "'accept-cookie':false,'set-cookie-on-login':false,'cookie-secure':true,"
        "'cookie-samesite':'None',"
        "'rate-limits':{'login':{'limit':3},'register':{'window':10},"
        "'refresh':{'limit':0,'window':1},'token-new':{},'lockout':{'failures':0,'seconds':30}},"
        "'client-header-timeout':1,'client-timeout':2,'keepalive-timeout':3,"
        "'upstream-connect-timeout':0.25,'tunnel-timeout':86400,'drain-timeout':0.5,"
        "'max-header-size':1024,'max-headers':8,'max-body-size':0,'upstream-pool-size':0,"
        "'allow-path-semicolon':true}",
        &err);

    AG_ASSERT_NOT_NULL(cfg);
    AG_ASSERT_EQ(err.n, 0);
    if (cfg == NULL) {
        fprintf(stderr, "  %s\n", err.line[0]);
        return;
    }
    AG_ASSERT_STR(cfg->app_name, "shop");
    AG_ASSERT_MEM(cfg->master_token, cfg->master_token_len, "m-token");
    AG_ASSERT_MEM(cfg->crypto_key, cfg->crypto_key_len, KEY32 "X");
    AG_ASSERT_EQ(cfg->n_master_paths, 2);
    AG_ASSERT_STR(cfg->master_paths[1], "/ops");
    AG_ASSERT_EQ(cfg->n_access_paths, 1);
    AG_ASSERT_STR(cfg->access_paths[0], "/api");
    AG_ASSERT_EQ(cfg->n_headers, 3);
    AG_ASSERT_STR(cfg->headers[0].name, "X-Env");
    AG_ASSERT_STR(cfg->headers[0].value, "prod");
    AG_ASSERT_STR(cfg->headers[1].value, "");
    AG_ASSERT_STR(cfg->headers[2].value, "a\tb");
    AG_ASSERT_EQ(cfg->n_listen, 2);
    AG_ASSERT_STR(cfg->listen[0].host, "0.0.0.0");
    AG_ASSERT_STR(cfg->listen[0].port, "80");
    AG_ASSERT_STR(cfg->listen[1].host, "::1");
    AG_ASSERT_STR(cfg->listen[1].port, "8443");
    AG_ASSERT_STR(cfg->upstream_host, "::1");
    AG_ASSERT_STR(cfg->upstream_port, "80");
    AG_ASSERT_STR(cfg->upstream_hostport, "[::1]:80");
    AG_ASSERT_STR(cfg->redis_url, "redis://:s3cret@redis.local:6380/2");
    AG_ASSERT_STR(cfg->auth_prefix, "/_gw/auth");
    AG_ASSERT_EQ(cfg->workers, 4);
    AG_ASSERT_STR(cfg->access_log, "/var/log/authgate.log");
    AG_ASSERT(cfg->upstream_timeout == 2.5);
    AG_ASSERT_EQ(cfg->access_token_ttl, 60);
    AG_ASSERT_EQ(cfg->refresh_token_ttl, 120);
    AG_ASSERT(!cfg->token_new_requires_master);
    AG_ASSERT(!cfg->accept_header);
    AG_ASSERT(!cfg->accept_cookie);
    AG_ASSERT(!cfg->set_cookie_on_login);
    AG_ASSERT(cfg->cookie_secure);
    AG_ASSERT_EQ(cfg->cookie_samesite, AG_SAMESITE_NONE);
    AG_ASSERT(cfg->rate_limits);
    AG_ASSERT_EQ(cfg->rl_login.limit, 3);
    AG_ASSERT_EQ(cfg->rl_login.window, 60);
    AG_ASSERT_EQ(cfg->rl_register.limit, 5);
    AG_ASSERT_EQ(cfg->rl_register.window, 10);
    AG_ASSERT_EQ(cfg->rl_refresh.limit, 0);
    AG_ASSERT_EQ(cfg->rl_refresh.window, 1);
    AG_ASSERT_EQ(cfg->rl_token_new.limit, 30);
    AG_ASSERT_EQ(cfg->lockout_failures, 0);
    AG_ASSERT_EQ(cfg->lockout_seconds, 30);
    AG_ASSERT(cfg->client_header_timeout == 1.0);
    AG_ASSERT(cfg->client_timeout == 2.0);
    AG_ASSERT(cfg->keepalive_timeout == 3.0);
    AG_ASSERT(cfg->upstream_connect_timeout == 0.25);
    AG_ASSERT(cfg->tunnel_timeout == 86400.0);
    AG_ASSERT(cfg->drain_timeout == 0.5);
    AG_ASSERT_EQ(cfg->max_header_size, 1024);
    AG_ASSERT_EQ(cfg->max_headers, 8);
    AG_ASSERT_EQ(cfg->max_body_size, 0);
    AG_ASSERT_EQ(cfg->upstream_pool_size, 0);
    AG_ASSERT(cfg->allow_path_semicolon);
    ag_config_unref(cfg);
}

static void test_config_listen_accepts_a_single_string(void)
{
    struct ag_config *cfg = parse("{" BASE ",'listen':'localhost:9000'}", NULL);

    AG_ASSERT_NOT_NULL(cfg);
    if (cfg == NULL)
        return;
    AG_ASSERT_EQ(cfg->n_listen, 1);
    AG_ASSERT_STR(cfg->listen[0].host, "localhost");
    AG_ASSERT_STR(cfg->listen[0].port, "9000");
    ag_config_unref(cfg);
}

static void test_config_upstream_without_port_uses_80(void)
{
    struct ag_config *cfg =
        parse("{'upstream':'http://app.internal','cryptography-key':'" KEY32 "'}", NULL);

    AG_ASSERT_NOT_NULL(cfg);
    if (cfg == NULL)
        return;
    AG_ASSERT_STR(cfg->upstream_host, "app.internal");
    AG_ASSERT_STR(cfg->upstream_port, "80");
    AG_ASSERT_STR(cfg->upstream_hostport, "app.internal:80");
    ag_config_unref(cfg);
}

static void test_config_rate_limits_false_turns_them_off(void)
{
    struct ag_config *cfg = parse("{" BASE ",'rate-limits':false}", NULL);

    AG_ASSERT_NOT_NULL(cfg);
    if (cfg == NULL)
        return;
    AG_ASSERT(!cfg->rate_limits);
    ag_config_unref(cfg);
    cfg = parse("{" BASE ",'rate-limits':true}", NULL);
    AG_ASSERT_NOT_NULL(cfg);
    if (cfg != NULL)
        AG_ASSERT(cfg->rate_limits);
    ag_config_unref(cfg);
}

static void test_config_accepts_valid_redis_forms(void)
{
    AG_ASSERT_STR(problems("{" BASE ",'redis':'unix:///run/redis/redis.sock'}"), "(no problem)");
    AG_ASSERT_STR(problems("{" BASE ",'redis':'redis://[::1]:6379'}"), "(no problem)");
    AG_ASSERT_STR(problems("{" BASE ",'cookie-samesite':'Strict'}"), "(no problem)");
    AG_ASSERT_STR(problems("{" BASE ",'access-log':'off'}"), "(no problem)");
}

/* ------------------------------------------------------------------------------------------
 * Environment
 * ------------------------------------------------------------------------------------------ */

static void test_config_takes_secrets_from_env_when_absent(void)
{
    struct ag_config_env env = {.master_token = "env-master", .cryptography_key = KEY32 "env"};
    struct ag_err err = {0};
    struct ag_config *cfg = parse_env("{'upstream':'http://h:1'}", &env, 0, &err);

    AG_ASSERT_NOT_NULL(cfg);
    if (cfg == NULL)
        return;
    AG_ASSERT_MEM(cfg->master_token, cfg->master_token_len, "env-master");
    AG_ASSERT_MEM(cfg->crypto_key, cfg->crypto_key_len, KEY32 "env");
    ag_config_unref(cfg);
}

static void test_config_file_wins_over_env(void)
{
    struct ag_config_env env = {.master_token = "env-master", .cryptography_key = "short"};
    struct ag_config *cfg = parse_env("{" BASE ",'master-token':'file-master'}", &env, 0, NULL);

    AG_ASSERT_NOT_NULL(cfg);
    if (cfg == NULL)
        return;
    AG_ASSERT_MEM(cfg->master_token, cfg->master_token_len, "file-master");
    AG_ASSERT_MEM(cfg->crypto_key, cfg->crypto_key_len, KEY32);
    ag_config_unref(cfg);
}

static void test_config_bad_file_value_does_not_fall_back_to_env(void)
{
    struct ag_config_env env = {.master_token = "env-master", .cryptography_key = KEY32};

    AG_ASSERT_STR(problems_env("{'upstream':'http://h:1','cryptography-key':'short'}", &env, 0),
                  SRC ": cryptography-key: must be at least 32 characters (has 5); "
                      "`authgate keygen` makes one");
}

static void test_config_rejects_short_env_key(void)
{
    struct ag_config_env env = {.cryptography_key = "0123456789"};

    AG_ASSERT_STR(problems_env("{'upstream':'http://h:1'}", &env, 0),
                  SRC ": cryptography-key: CRYPTOGRAPHY_KEY must be at least 32 characters "
                      "(has 10); `authgate keygen` makes one");
}

static void test_config_rejects_missing_key(void)
{
    struct ag_config_env empty = {.master_token = "", .cryptography_key = ""};
    const char *want = SRC ": cryptography-key: required (set it in the file or CRYPTOGRAPHY_KEY; "
                           "`authgate keygen` makes one)";

    AG_ASSERT_STR(problems("{'upstream':'http://h:1'}"), want);
    AG_ASSERT_STR(problems_env("{'upstream':'http://h:1'}", &empty, 0), want);
}

static void test_config_no_key_check_allows_missing_key(void)
{
    struct ag_config *cfg =
        parse_env("{'upstream':'http://h:1'}", NULL, AG_CONFIG_F_NO_KEY_CHECK, NULL);

    AG_ASSERT_NOT_NULL(cfg);
    if (cfg != NULL)
        AG_ASSERT_NULL(cfg->crypto_key);
    ag_config_unref(cfg);
    /* the flag waives absence only, never a bad value */
    AG_ASSERT_STR(problems_env("{'upstream':'http://h:1','cryptography-key':'x'}", NULL,
                               AG_CONFIG_F_NO_KEY_CHECK),
                  SRC ": cryptography-key: must be at least 32 characters (has 1); "
                      "`authgate keygen` makes one");
}

static void test_config_rejects_bad_env_master_token(void)
{
    struct ag_config_env env = {.master_token = "abc\r\nX-Evil: 1"};

    AG_ASSERT_STR(problems_env("{" BASE "}", &env, 0),
                  SRC ": master-token: MASTER_TOKEN must be printable ASCII without leading or "
                      "trailing spaces (it is sent as a header value)");
}

/* ------------------------------------------------------------------------------------------
 * Guessable signing keys (CONTRACT.md section 3, issue 9 point 1)
 * ------------------------------------------------------------------------------------------ */

#define PLACEHOLDER_PROBLEM(what, word)                                                            \
    SRC ": cryptography-key: " what "holds the placeholder '" word "' of an example, which "       \
        "anyone can read; `authgate keygen` makes a real key"

/* config.example.json shipped this 45-character key, and `check` said ok. */
static void test_config_refuses_the_old_example_placeholder(void)
{
    AG_ASSERT_STR(problems("{'upstream':'http://h:1',"
                           "'cryptography-key':'REPLACE-ME-with-the-output-of-authgate-keygen'}"),
                  PLACEHOLDER_PROBLEM("", "REPLACE-ME"));
}

static void test_config_refuses_placeholder_words_in_any_case(void)
{
    static const char *const replace[] = {
        "replace-me-0123456789abcdefghijklmnopqrstuvwxyz",
        "0123456789abcdefghijklmnopqrstuvwxyz-Replace-Me",
        "0123456789abcdefREPLACE_ME0123456789abcdefghij",
    };
    static const char *const change[] = {
        "CHANGE-ME-0123456789abcdefghijklmnopqrstuvwxyz",
        "0123456789abcdefghijklmnopqrstuvwxyz-change-me!",
        "my-secret-cHaNgE_mE-0123456789abcdefghijklmnop",
    };
    char in[256];

    for (size_t i = 0; i < sizeof(replace) / sizeof(replace[0]); i++) {
        snprintf(in, sizeof(in), "{'upstream':'http://h:1','cryptography-key':'%s'}", replace[i]);
        AG_ASSERT_STR(problems(in), PLACEHOLDER_PROBLEM("", "REPLACE-ME"));
    }
    for (size_t i = 0; i < sizeof(change) / sizeof(change[0]); i++) {
        snprintf(in, sizeof(in), "{'upstream':'http://h:1','cryptography-key':'%s'}", change[i]);
        AG_ASSERT_STR(problems(in), PLACEHOLDER_PROBLEM("", "CHANGE-ME"));
    }
    /* the words only: neighbours of them are fine */
    AG_ASSERT_STR(problems("{'upstream':'http://h:1',"
                           "'cryptography-key':'replaced-me-change-one-0123456789abc'}"),
                  "(no problem)");
}

static void test_config_refuses_keys_with_few_distinct_characters(void)
{
    AG_ASSERT_STR(problems("{'upstream':'http://h:1',"
                           "'cryptography-key':'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'}"),
                  SRC ": cryptography-key: has only 1 distinct characters (at least 8 needed); "
                      "`authgate keygen` makes one");
    AG_ASSERT_STR(problems("{'upstream':'http://h:1',"
                           "'cryptography-key':'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'}"),
                  SRC ": cryptography-key: has only 1 distinct characters (at least 8 needed); "
                      "`authgate keygen` makes one");
    AG_ASSERT_STR(problems("{'upstream':'http://h:1',"
                           "'cryptography-key':'abcdefgabcdefgabcdefgabcdefgabcdefg'}"),
                  SRC ": cryptography-key: has only 7 distinct characters (at least 8 needed); "
                      "`authgate keygen` makes one");
    AG_ASSERT_STR(problems("{'upstream':'http://h:1',"
                           "'cryptography-key':'abcdefghabcdefghabcdefghabcdefgh'}"),
                  "(no problem)");
}

static void test_config_refuses_key_equal_to_master_token(void)
{
    const char *want = SRC ": cryptography-key: must differ from master-token (whoever holds the "
                           "master token could sign tokens); `authgate keygen` makes one";
    struct ag_config_env env_mt = {.master_token = KEY32};
    struct ag_config_env env_ck = {.cryptography_key = "one-string-for-both-0123456789abcdef"};
    struct ag_config_env env_both = {.master_token = "one-string-for-both-0123456789abcdef",
                                     .cryptography_key = "one-string-for-both-0123456789abcdef"};

    AG_ASSERT_STR(problems("{" BASE ",'master-token':'" KEY32 "'}"), want);
    AG_ASSERT_STR(problems_env("{" BASE "}", &env_mt, 0), want);
    AG_ASSERT_STR(problems_env("{'upstream':'http://h:1',"
                               "'master-token':'one-string-for-both-0123456789abcdef'}",
                               &env_ck, 0),
                  want);
    AG_ASSERT_STR(problems_env("{'upstream':'http://h:1'}", &env_both, 0), want);
    /* a prefix, or the same letters in another case, is another string */
    AG_ASSERT_STR(problems("{" BASE ",'master-token':'" KEY32 "0'}"), "(no problem)");
    AG_ASSERT_STR(problems("{" BASE ",'master-token':'0123456789ABCDEF0123456789ABCDEF'}"),
                  "(no problem)");
}

static void test_config_refuses_guessable_env_keys(void)
{
    struct ag_config_env placeholder = {.cryptography_key = "CHANGE-ME-0123456789abcdefghijklmnop"};
    struct ag_config_env repeated = {.cryptography_key = "abababababababababababababababab"};

    AG_ASSERT_STR(problems_env("{'upstream':'http://h:1'}", &placeholder, 0),
                  PLACEHOLDER_PROBLEM("CRYPTOGRAPHY_KEY ", "CHANGE-ME"));
    AG_ASSERT_STR(problems_env("{'upstream':'http://h:1'}", &repeated, 0),
                  SRC ": cryptography-key: CRYPTOGRAPHY_KEY has only 2 distinct characters "
                      "(at least 8 needed); `authgate keygen` makes one");
    /* AG_CONFIG_F_NO_KEY_CHECK waives a missing key, never a guessable one */
    AG_ASSERT_STR(problems_env("{'upstream':'http://h:1'}", &placeholder, AG_CONFIG_F_NO_KEY_CHECK),
                  PLACEHOLDER_PROBLEM("CRYPTOGRAPHY_KEY ", "CHANGE-ME"));
    AG_ASSERT_STR(problems_env("{'upstream':'http://h:1','cryptography-key':"
                               "'REPLACE-ME-with-the-output-of-authgate-keygen'}",
                               NULL, AG_CONFIG_F_NO_KEY_CHECK),
                  PLACEHOLDER_PROBLEM("", "REPLACE-ME"));
}

/* ------------------------------------------------------------------------------------------
 * Syntax and structure
 * ------------------------------------------------------------------------------------------ */

static void test_config_syntax_error_names_line_and_column(void)
{
    AG_ASSERT_STR(problems("{\n  'upstream': 'http://h:1',\n  }"),
                  SRC ":3:3: string or '}' expected near '}'");
}

static void test_config_rejects_duplicate_key(void)
{
    AG_ASSERT_STR(problems("{" BASE ",\n'workers': 1,\n'workers': 2}"),
                  SRC ":3:9: duplicate object key near '\"workers\"'");
}

static void test_config_rejects_empty_input(void)
{
    struct ag_err err = {0};

    AG_ASSERT_STR(problems(""), SRC ":1:0: '[' or '{' expected near end of file");
    AG_ASSERT_NULL(ag_config_parse(NULL, 0, NULL, NULL, 0, &err));
    AG_ASSERT_EQ(err.n, 1);
    AG_ASSERT_STR(err.line[0], "(config):1:0: '[' or '{' expected near end of file");
}

static void test_config_rejects_top_level_array(void)
{
    AG_ASSERT_STR(problems("[{" BASE "}]"), SRC ": the top level must be a JSON object {...}");
}

static void test_config_rejects_nul_and_control_bytes(void)
{
    AG_ASSERT_STR(problems("{" BASE ",'app-name':'a\\u0000b'}"),
                  SRC ":1:111: \\u0000 is not allowed without JSON_ALLOW_NUL near "
                      "'\"a\\u0000b\"'");
    /* jansson quotes the raw byte it stopped at: the message stays printable */
    AG_ASSERT_STR(problems("{'app-name': \x01}"), SRC ":1:14: invalid token near '\\x01'");
    AG_ASSERT_STR(problems("{'app-name':'a\nb'}"), SRC ":1:14: unexpected newline near '\"a'");
}

static void test_config_rejects_unknown_key(void)
{
    AG_ASSERT_STR(problems("{" BASE ",'colour':'blue'}"), SRC ": unknown key 'colour'");
}

static void test_config_unknown_key_suggests_nearest(void)
{
    AG_ASSERT_STR(problems("{'upstrem':'http://h:1','cryptography-key':'" KEY32 "'}"),
                  SRC ": unknown key 'upstrem' (did you mean 'upstream'?) | " SRC
                      ": upstream: required (\"http://HOST:PORT\" of the application)");
    AG_ASSERT_STR(problems("{" BASE ",'app_name':'x'}"),
                  SRC ": unknown key 'app_name' (did you mean 'app-name'?)");
    AG_ASSERT_STR(problems("{" BASE ",'wrokers':2}"),
                  SRC ": unknown key 'wrokers' (did you mean 'workers'?)");
}

static void test_config_unknown_key_is_printed_safely(void)
{
    AG_ASSERT_STR(problems("{" BASE ",'a\\u0001b':1}"), SRC ": unknown key 'a\\x01b'");
    AG_ASSERT_STR(problems("{" BASE ",'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                           "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx':1}"),
                  SRC ": unknown key 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                      "xxxxxxxxxxxxxxxxxx...'");
}

static void test_config_rejects_database_api_url(void)
{
    AG_ASSERT_STR(problems("{" BASE ",'database-api-url':'http://db'}"),
                  SRC ": database-api-url: not supported; authgate keeps its state in Redis: "
                      "use 'redis'");
}

static void test_config_rejects_wrong_types(void)
{
    AG_ASSERT_STR(problems("{" BASE ",'app-name':5}"), SRC ": app-name: expected a string");
    AG_ASSERT_STR(problems("{" BASE ",'workers':'4'}"), SRC ": workers: expected an integer");
    AG_ASSERT_STR(problems("{" BASE ",'workers':4.0}"), SRC ": workers: expected an integer");
    AG_ASSERT_STR(problems("{" BASE ",'cookie-secure':'yes'}"),
                  SRC ": cookie-secure: expected true or false");
    AG_ASSERT_STR(problems("{" BASE ",'upstream-timeout':'5'}"),
                  SRC ": upstream-timeout: expected a number of seconds");
    AG_ASSERT_STR(problems("{" BASE ",'master-token':null}"),
                  SRC ": master-token: expected a string");
}

/* ------------------------------------------------------------------------------------------
 * One test per key's own problems
 * ------------------------------------------------------------------------------------------ */

static void test_config_rejects_bad_app_name(void)
{
    AG_ASSERT_STR(problems("{" BASE ",'app-name':''}"), SRC ": app-name: must not be empty");
    AG_ASSERT_STR(problems("{" BASE ",'app-name':'"
                           "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                           "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'}"),
                  SRC ": app-name: must be at most 128 characters");
    AG_ASSERT_STR(problems("{" BASE ",'app-name':'caf\\u00e9'}"),
                  SRC ": app-name: must be printable ASCII without '\"' or '\\'");
    AG_ASSERT_STR(problems("{" BASE ",'app-name':'a\\\"b'}"),
                  SRC ": app-name: must be printable ASCII without '\"' or '\\'");
    AG_ASSERT_STR(problems("{" BASE ",'app-name':'a\\\\b'}"),
                  SRC ": app-name: must be printable ASCII without '\"' or '\\'");
}

static void test_config_rejects_bad_master_token(void)
{
    AG_ASSERT_STR(problems("{" BASE ",'master-token':''}"),
                  SRC ": master-token: must not be empty");
    AG_ASSERT_STR(problems("{" BASE ",'master-token':' padded'}"),
                  SRC ": master-token: must be printable ASCII without leading or trailing "
                      "spaces (it is sent as a header value)");
    AG_ASSERT_STR(problems("{" BASE ",'master-token':'a\\nb'}"),
                  SRC ": master-token: must be printable ASCII without leading or trailing "
                      "spaces (it is sent as a header value)");
}

static void test_config_rejects_bad_token_paths(void)
{
    AG_ASSERT_STR(problems("{" BASE ",'master-token-paths':'/admin'}"),
                  SRC ": master-token-paths: expected an array of strings");
    AG_ASSERT_STR(problems("{" BASE ",'access-token-paths':['/api',7]}"),
                  SRC ": access-token-paths[1]: expected a string");
    AG_ASSERT_STR(problems("{" BASE ",'access-token-paths':['api']}"),
                  SRC ": access-token-paths[0]: must start with '/'");
    AG_ASSERT_STR(problems("{" BASE ",'access-token-paths':['']}"),
                  SRC ": access-token-paths[0]: must start with '/'");
    AG_ASSERT_STR(problems("{" BASE ",'master-token-paths':['/a','/b?x=1','/c#d']}"),
                  SRC ": master-token-paths[1]: must not contain '?' or '#' (only the path is "
                      "matched) | " SRC ": master-token-paths[2]: must not contain '?' or '#' "
                      "(only the path is matched)");
    AG_ASSERT_STR(problems("{" BASE ",'master-token-paths':['/a b']}"),
                  SRC ": master-token-paths[0]: must be printable ASCII without spaces");
}

static void test_config_rejects_bad_headers(void)
{
    AG_ASSERT_STR(problems("{" BASE ",'headers':['X-A']}"),
                  SRC ": headers: expected an object of header names and string values");
    AG_ASSERT_STR(problems("{" BASE ",'headers':{'X-A':'a\\r\\nX-B: b'}}"),
                  SRC ": headers.X-A: value must not contain CR or LF");
    AG_ASSERT_STR(problems("{" BASE ",'headers':{'X-A':'a\\u0000b'}}"),
                  SRC ":1:117: \\u0000 is not allowed without JSON_ALLOW_NUL near "
                      "'\"a\\u0000b\"'");
    AG_ASSERT_STR(problems("{" BASE ",'headers':{'X-A':'bell\\u0007'}}"),
                  SRC ": headers.X-A: value must contain only visible ASCII, SP and HTAB");
    AG_ASSERT_STR(problems("{" BASE ",'headers':{'X-A':'\\u00e9'}}"),
                  SRC ": headers.X-A: value must contain only visible ASCII, SP and HTAB");
    AG_ASSERT_STR(problems("{" BASE ",'headers':{'X-A':1}}"),
                  SRC ": headers.X-A: expected a string");
    AG_ASSERT_STR(problems("{" BASE ",'headers':{'X A':'v'}}"),
                  SRC ": headers.X A: name must be an HTTP token (RFC 9110 section 5.6.2)");
    AG_ASSERT_STR(problems("{" BASE ",'headers':{'':'v'}}"),
                  SRC ": headers.: name must be an HTTP token (RFC 9110 section 5.6.2)");
    AG_ASSERT_STR(problems("{" BASE ",'headers':{'X-A':'1','x-a':'2'}}"),
                  SRC ": headers.x-a: same name as 'X-A' (header names ignore case)");
}

static void test_config_rejects_gateway_owned_headers(void)
{
    const char *owned[] = {"Host",
                           "content-length",
                           "Transfer-Encoding",
                           "CONNECTION",
                           "Upgrade",
                           "Keep-Alive",
                           "TE",
                           "Trailer",
                           "Proxy-Connection",
                           "X-Auth-Subject",
                           "x_auth_roles",
                           "X.Auth.Scopes",
                           "X-Forwarded-For",
                           "x-forwarded-proto",
                           "X_Forwarded_Host",
                           "Content_Length",
                           "transfer.encoding",
                           "Proxy_Connection",
                           "x_auth_subject"};
    char in[256], want[256];

    for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++) {
        snprintf(in, sizeof(in), "{" BASE ",'headers':{'%s':'v'}}", owned[i]);
        snprintf(want, sizeof(want), SRC ": headers.%s: set by the gateway; cannot be configured",
                 owned[i]);
        AG_ASSERT_STR(problems(in), want);
    }
    /* near misses stay allowed */
    AG_ASSERT_STR(problems("{" BASE ",'headers':{'X-Authz':'v','X-Auth':'v','Hosts':'v',"
                           "'X-Forwardedness':'v'}}"),
                  "(no problem)");
}

static void test_config_rejects_bad_listen(void)
{
    AG_ASSERT_STR(problems("{" BASE ",'listen':8080}"),
                  SRC ": listen: expected \"HOST:PORT\" or an array of them");
    AG_ASSERT_STR(problems("{" BASE ",'listen':[]}"),
                  SRC ": listen: must not be an empty array (unless tls-listen is set)");
    AG_ASSERT_STR(problems("{" BASE ",'listen':['127.0.0.1:8080','localhost']}"),
                  SRC ": listen[1]: expected \"HOST:PORT\"");
    AG_ASSERT_STR(problems("{" BASE ",'listen':':8080'}"), SRC ": listen: expected \"HOST:PORT\"");
    AG_ASSERT_STR(problems("{" BASE ",'listen':'h:'}"), SRC ": listen: expected \"HOST:PORT\"");
    AG_ASSERT_STR(problems("{" BASE ",'listen':'h:+80'}"), SRC ": listen: expected \"HOST:PORT\"");
    AG_ASSERT_STR(problems("{" BASE ",'listen':'h:0'}"), SRC ": listen: port must be 1-65535");
    AG_ASSERT_STR(problems("{" BASE ",'listen':'h:65536'}"), SRC ": listen: port must be 1-65535");
    AG_ASSERT_STR(problems("{" BASE ",'listen':'h:99999999999999999999'}"),
                  SRC ": listen: port must be 1-65535");
    AG_ASSERT_STR(problems("{" BASE ",'listen':['::1:8080']}"),
                  SRC ": listen[0]: IPv6 addresses need brackets, as in \"[::1]:8080\"");
    AG_ASSERT_STR(problems("{" BASE ",'listen':'[::1]'}"), SRC ": listen: expected \"HOST:PORT\"");
    AG_ASSERT_STR(problems("{" BASE ",'listen':'[zz]:80'}"),
                  SRC ": listen: expected \"HOST:PORT\"");
    AG_ASSERT_STR(problems("{" BASE ",'listen':['a:1',2]}"), SRC ": listen[1]: expected a string");
    AG_ASSERT_STR(problems("{" BASE ",'listen':['a:1','b:1','A:01']}"),
                  SRC ": listen[2]: same address as listen[0]");
}

static void test_config_rejects_bad_upstream(void)
{
    AG_ASSERT_STR(problems("{'cryptography-key':'" KEY32 "'}"),
                  SRC ": upstream: required (\"http://HOST:PORT\" of the application)");
    AG_ASSERT_STR(problems("{'upstream':'ftp://h','cryptography-key':'" KEY32 "'}"),
                  SRC ": upstream: expected \"http://HOST:PORT\" or \"https://HOST:PORT\"");
    AG_ASSERT_STR(problems("{'upstream':'h:80','cryptography-key':'" KEY32 "'}"),
                  SRC ": upstream: expected \"http://HOST:PORT\" or \"https://HOST:PORT\"");
    AG_ASSERT_STR(problems("{'upstream':'http://','cryptography-key':'" KEY32 "'}"),
                  SRC ": upstream: expected \"http://HOST:PORT\"");
    AG_ASSERT_STR(problems("{'upstream':'http://h:1/app','cryptography-key':'" KEY32 "'}"),
                  SRC ": upstream: must not have a path or query (the request path is "
                      "forwarded as is)");
    AG_ASSERT_STR(problems("{'upstream':'http://h:1?x','cryptography-key':'" KEY32 "'}"),
                  SRC ": upstream: must not have a path or query (the request path is "
                      "forwarded as is)");
    AG_ASSERT_STR(problems("{'upstream':'http://u:p@h:1','cryptography-key':'" KEY32 "'}"),
                  SRC ": upstream: credentials in the URL are not supported (use 'headers')");
    AG_ASSERT_STR(problems("{'upstream':'http://h:70000','cryptography-key':'" KEY32 "'}"),
                  SRC ": upstream: port must be 1-65535");
    AG_ASSERT_STR(problems("{'upstream':'http://::1:80','cryptography-key':'" KEY32 "'}"),
                  SRC ": upstream: IPv6 addresses need brackets, as in \"http://[::1]:8081\"");
    AG_ASSERT_STR(problems("{'upstream':7,'cryptography-key':'" KEY32 "'}"),
                  SRC ": upstream: expected a string");
}

static void test_config_reads_tls_keys(void)
{
    struct ag_config *cfg = parse("{" BASE ",'listen':[],'tls-listen':['0.0.0.0:443','[::]:443'],"
                                  "'tls-cert-file':'/etc/a.crt','tls-key-file':'/etc/a.key',"
                                  "'tls-min-version':'1.3'}",
                                  NULL);

    AG_ASSERT(cfg != NULL);
    if (cfg == NULL)
        return;
    AG_ASSERT_EQ(cfg->n_listen, 0);
    AG_ASSERT_EQ(cfg->n_tls_listen, 2);
    AG_ASSERT_STR(cfg->tls_listen[1].host, "::");
    AG_ASSERT_STR(cfg->tls_listen[1].port, "443");
    AG_ASSERT_STR(cfg->tls_cert_file, "/etc/a.crt");
    AG_ASSERT_STR(cfg->tls_key_file, "/etc/a.key");
    AG_ASSERT_EQ(cfg->tls_min_version, 13);
    AG_ASSERT(cfg->upstream_ca_file == NULL);
    AG_ASSERT(!cfg->upstream_tls);
    ag_config_unref(cfg);

    /* defaults: no TLS listener, the plain one, 1.2 */
    cfg = parse("{" BASE "}", NULL);
    AG_ASSERT(cfg != NULL);
    if (cfg == NULL)
        return;
    AG_ASSERT_EQ(cfg->n_tls_listen, 0);
    AG_ASSERT_EQ(cfg->n_listen, 1);
    AG_ASSERT_EQ(cfg->tls_min_version, 12);
    ag_config_unref(cfg);

    cfg = parse("{'upstream':'HTTPS://app.internal','cryptography-key':'" KEY32 "',"
                "'upstream-ca-file':'/etc/ca.pem','routes':[{'prefix':'/a','upstream':"
                "'https://[::1]:8443'},{'prefix':'/b','upstream':'http://b:1'}]}",
                NULL);
    AG_ASSERT(cfg != NULL);
    if (cfg == NULL)
        return;
    AG_ASSERT(cfg->upstream_tls);
    AG_ASSERT_STR(cfg->upstream_host, "app.internal");
    AG_ASSERT_STR(cfg->upstream_port, "443");
    AG_ASSERT_STR(cfg->upstream_hostport, "app.internal:443");
    AG_ASSERT_STR(cfg->upstream_ca_file, "/etc/ca.pem");
    AG_ASSERT(cfg->routes[0].upstream_tls);
    AG_ASSERT_STR(cfg->routes[0].upstream_host, "::1");
    AG_ASSERT_STR(cfg->routes[0].upstream_hostport, "[::1]:8443");
    AG_ASSERT(!cfg->routes[1].upstream_tls);
    ag_config_unref(cfg);
}

static void test_config_rejects_bad_tls_keys(void)
{
    AG_ASSERT_STR(problems("{" BASE ",'tls-listen':'h:443'}"),
                  SRC ": tls-cert-file: required with tls-listen | "
                  SRC ": tls-key-file: required with tls-listen");
    AG_ASSERT_STR(problems("{" BASE ",'tls-listen':[],'tls-cert-file':'a','tls-key-file':'b'}"),
                  SRC ": tls-listen: must not be an empty array | "
                  SRC ": tls-cert-file: set, but tls-listen is not | "
                  SRC ": tls-key-file: set, but tls-listen is not");
    AG_ASSERT_STR(problems("{" BASE ",'tls-listen':'h','tls-cert-file':'a','tls-key-file':'b'}"),
                  SRC ": tls-listen: expected \"HOST:PORT\"");
    AG_ASSERT_STR(problems("{" BASE ",'tls-listen':['h:1','H:1'],'tls-cert-file':'a',"
                           "'tls-key-file':'b'}"),
                  SRC ": tls-listen[1]: same address as tls-listen[0]");
    AG_ASSERT_STR(problems("{" BASE ",'listen':'h:1','tls-listen':['h:2','h:1'],"
                           "'tls-cert-file':'a','tls-key-file':'b'}"),
                  SRC ": tls-listen[1]: same address as listen[0]");
    AG_ASSERT_STR(problems("{" BASE ",'tls-listen':'h:1','tls-cert-file':'','tls-key-file':7}"),
                  SRC ": tls-cert-file: expected the path of a PEM file | "
                  SRC ": tls-key-file: expected a string");
    AG_ASSERT_STR(problems("{" BASE ",'tls-listen':'h:1','tls-cert-file':'a','tls-key-file':'b',"
                           "'tls-min-version':'1.1'}"),
                  SRC ": tls-min-version: expected \"1.2\" or \"1.3\"");
    AG_ASSERT_STR(problems("{" BASE ",'tls-listen':'h:1','tls-cert-file':'a','tls-key-file':'b',"
                           "'tls-min-version':1.3}"),
                  SRC ": tls-min-version: expected a string");
    AG_ASSERT_STR(problems("{" BASE ",'upstream-ca-file':'/ca.pem'}"),
                  SRC ": upstream-ca-file: set, but no upstream is https://");
    AG_ASSERT_STR(problems("{'upstream':'https://h:0','cryptography-key':'" KEY32 "'}"),
                  SRC ": upstream: port must be 1-65535");
}

static void test_config_redis_is_a_printable_string_kept_as_written(void)
{
    struct ag_config *cfg;

    /* Its syntax is the store's to judge (store/url.c ag_store_url_parse(), run by
     * gateway/server.c ag_gen_load()): policy keeps it as written, whatever the form. */
    cfg = parse("{" BASE ",'redis':'REDIS://:p@ss@h:1/1234567'}", NULL);
    AG_ASSERT_NOT_NULL(cfg);
    if (cfg != NULL)
        AG_ASSERT_STR(cfg->redis_url, "REDIS://:p@ss@h:1/1234567");
    ag_config_unref(cfg);
    AG_ASSERT_STR(problems("{" BASE ",'redis':'redis://h:1\\t'}"),
                  SRC ": redis: must be printable ASCII");
    AG_ASSERT_STR(problems("{" BASE ",'redis':'redis://h\\u00e9:1/0'}"),
                  SRC ": redis: must be printable ASCII");
    AG_ASSERT_STR(problems("{" BASE ",'redis':6379}"), SRC ": redis: expected a string");
}

static void test_config_redis_sentinel_is_kept_for_the_store(void)
{
    struct ag_config *cfg;

    /* The JSON shape is checked here; each "HOST:PORT" is the store's to judge
     * (ag_store_hostport_parse(), run by ag_gen_load()), so it is kept as written. */
    cfg = parse("{" BASE ",'redis-sentinel':{'master':'m1','sentinels':['a:1','[::1]:2','x'],"
                "'password':'pw','sentinel-password':'spw','db':7}}", NULL);
    AG_ASSERT_NOT_NULL(cfg);
    if (cfg != NULL) {
        AG_ASSERT_NULL(cfg->redis_url); /* no default `redis` beside it */
        AG_ASSERT_NOT_NULL(cfg->redis_sentinel);
        AG_ASSERT_STR(cfg->redis_sentinel->master, "m1");
        AG_ASSERT_EQ(cfg->redis_sentinel->n_sentinels, 3);
        AG_ASSERT_STR(cfg->redis_sentinel->sentinels[1], "[::1]:2");
        AG_ASSERT_STR(cfg->redis_sentinel->sentinels[2], "x");
        AG_ASSERT_STR(cfg->redis_sentinel->password, "pw");
        AG_ASSERT_STR(cfg->redis_sentinel->sentinel_password, "spw");
        AG_ASSERT_EQ(cfg->redis_sentinel->db, 7);
    }
    ag_config_unref(cfg);
    cfg = parse("{" BASE ",'redis-sentinel':{'master':'m','sentinels':['a:1']}}", NULL);
    AG_ASSERT_NOT_NULL(cfg);
    if (cfg != NULL) {
        AG_ASSERT_NULL(cfg->redis_sentinel->password);
        AG_ASSERT_NULL(cfg->redis_sentinel->sentinel_password);
        AG_ASSERT_EQ(cfg->redis_sentinel->db, 0);
    }
    ag_config_unref(cfg);
}

static void test_config_redis_sentinel_refusals_name_the_member(void)
{
    AG_ASSERT_STR(problems("{" BASE ",'redis':'redis://h:1','redis-sentinel':{'master':'m',"
                           "'sentinels':['a:1']}}"),
                  SRC ": redis-sentinel: set either 'redis' or 'redis-sentinel', not both");
    AG_ASSERT_STR(problems("{" BASE ",'redis-sentinel':[]}"),
                  SRC ": redis-sentinel: expected an object {\"master\": NAME, \"sentinels\": "
                      "[\"HOST:PORT\", ...]}");
    AG_ASSERT_STR(problems("{" BASE ",'redis-sentinel':{'master':'m','sentinels':[]}}"),
                  SRC ": redis-sentinel.sentinels: must name at least one sentinel");
    AG_ASSERT_STR(problems("{" BASE ",'redis-sentinel':{'master':'m','sentinels':['a:1',2]}}"),
                  SRC ": redis-sentinel.sentinels[1]: expected a string");
    AG_ASSERT_STR(problems("{" BASE ",'redis-sentinel':{'master':'m','sentinels':['a :1']}}"),
                  SRC ": redis-sentinel.sentinels[0]: expected \"HOST:PORT\" or \"[IPV6]:PORT\"");
    AG_ASSERT_STR(problems("{" BASE ",'redis-sentinel':{'master':'m m','sentinels':['a:1']}}"),
                  SRC ": redis-sentinel.master: must be 1-255 printable ASCII characters, no space");
    AG_ASSERT_STR(problems("{" BASE ",'redis-sentinel':{'master':'m','sentinels':['a:1'],"
                           "'password':''}}"),
                  SRC ": redis-sentinel.password: must be 1-255 printable ASCII characters");
    AG_ASSERT_STR(problems("{" BASE ",'redis-sentinel':{'master':'m','sentinels':['a:1'],"
                           "'db':2147483647}}"),
                  SRC ": redis-sentinel.db: must be between 0 and 2147483646");
    AG_ASSERT_STR(problems("{" BASE ",'redis-sentinel':{'sentinels':['a:1']}}"),
                  SRC ": redis-sentinel: needs \"master\": the name the sentinels monitor");
    AG_ASSERT_STR(problems("{" BASE ",'redis-sentinel':{'master':'m','sentinels':['a:1'],"
                           "'dbs':1}}"),
                  SRC ": redis-sentinel: unknown key 'dbs' (did you mean 'db'?)");
}

static void test_config_rejects_bad_auth_prefix(void)
{
    AG_ASSERT_STR(problems("{" BASE ",'auth-prefix':'auth'}"),
                  SRC ": auth-prefix: must start with '/'");
    AG_ASSERT_STR(problems("{" BASE ",'auth-prefix':'/'}"),
                  SRC ": auth-prefix: must not end with '/'");
    AG_ASSERT_STR(problems("{" BASE ",'auth-prefix':'/auth/'}"),
                  SRC ": auth-prefix: must not end with '/'");
    AG_ASSERT_STR(problems("{" BASE ",'auth-prefix':'/a;b'}"),
                  SRC ": auth-prefix: must contain only letters, digits and the characters "
                      "-._~!$&'()*+,=:@/");
    AG_ASSERT_STR(problems("{" BASE ",'auth-prefix':'/a%41'}"),
                  SRC ": auth-prefix: must contain only letters, digits and the characters "
                      "-._~!$&'()*+,=:@/");
    AG_ASSERT_STR(problems("{" BASE ",'auth-prefix':'/a//b'}"),
                  SRC ": auth-prefix: must not have empty segments or segments ending in '.'");
    AG_ASSERT_STR(problems("{" BASE ",'auth-prefix':'/x/../auth'}"),
                  SRC ": auth-prefix: must not have empty segments or segments ending in '.'");
    AG_ASSERT_STR(problems("{" BASE ",'auth-prefix':'/auth.'}"),
                  SRC ": auth-prefix: must not have empty segments or segments ending in '.'");
    AG_ASSERT_STR(problems("{" BASE ",'auth-prefix':'/.well-known/auth'}"), "(no problem)");
}

static void test_config_rejects_out_of_range_integers(void)
{
    AG_ASSERT_STR(problems("{" BASE ",'workers':257}"), SRC ": workers: must be between 0 and 256");
    AG_ASSERT_STR(problems("{" BASE ",'workers':-1}"), SRC ": workers: must be between 0 and 256");
    AG_ASSERT_STR(problems("{" BASE ",'access-token-ttl':0}"),
                  SRC ": access-token-ttl: must be between 1 and 31536000");
    AG_ASSERT_STR(problems("{" BASE ",'refresh-token-ttl':0}"),
                  SRC ": refresh-token-ttl: must be between 1 and 315360000");
    AG_ASSERT_STR(problems("{" BASE ",'max-header-size':1023}"),
                  SRC ": max-header-size: must be between 1024 and 81920");
    AG_ASSERT_STR(problems("{" BASE ",'max-headers':1001}"),
                  SRC ": max-headers: must be between 8 and 1000");
    AG_ASSERT_STR(problems("{" BASE ",'max-body-size':-1}"),
                  SRC ": max-body-size: must be at least 0");
    AG_ASSERT_STR(problems("{" BASE ",'upstream-pool-size':100001}"),
                  SRC ": upstream-pool-size: must be between 0 and 100000");
}

static void test_config_rejects_out_of_range_seconds(void)
{
    const char *keys[] = {"upstream-timeout",  "client-header-timeout",    "client-timeout",
                          "keepalive-timeout", "upstream-connect-timeout", "tunnel-timeout",
                          "drain-timeout"};
    char in[256], want[256];

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        snprintf(want, sizeof(want), SRC ": %s: must be more than 0 and at most 86400 seconds",
                 keys[i]);
        snprintf(in, sizeof(in), "{" BASE ",'%s':0}", keys[i]);
        AG_ASSERT_STR(problems(in), want);
        snprintf(in, sizeof(in), "{" BASE ",'%s':-1.5}", keys[i]);
        AG_ASSERT_STR(problems(in), want);
        snprintf(in, sizeof(in), "{" BASE ",'%s':86400.001}", keys[i]);
        AG_ASSERT_STR(problems(in), want);
        snprintf(in, sizeof(in), "{" BASE ",'%s':0.001}", keys[i]);
        AG_ASSERT_STR(problems(in), "(no problem)");
    }
}

static void test_config_rejects_bad_access_log(void)
{
    AG_ASSERT_STR(problems("{" BASE ",'access-log':''}"),
                  SRC ": access-log: expected \"stderr\", \"off\" or a file path");
    AG_ASSERT_STR(problems("{" BASE ",'access-log':'/var/log/a\\nb'}"),
                  SRC ": access-log: the file path must be printable ASCII");
    AG_ASSERT_STR(problems("{" BASE ",'access-log':false}"), SRC ": access-log: expected a string");
}

static void test_config_metrics_listen_and_log_format(void)
{
    struct ag_err err = {0};
    struct ag_config *cfg = parse("{" BASE "}", &err);

    AG_ASSERT(cfg != NULL);
    AG_ASSERT(cfg != NULL && cfg->metrics_listen.host == NULL && !cfg->log_json); /* defaults */
    ag_config_unref(cfg);
    cfg = parse("{" BASE ",'metrics-listen':'[::1]:9090','log-format':'json'}", &err);
    AG_ASSERT(cfg != NULL);
    if (cfg != NULL) {
        AG_ASSERT_STR(cfg->metrics_listen.host, "::1");
        AG_ASSERT_STR(cfg->metrics_listen.port, "9090");
        AG_ASSERT(cfg->log_json);
        ag_config_unref(cfg);
    }
    AG_ASSERT_STR(problems("{" BASE ",'log-format':'text'}"), "(no problem)");
    AG_ASSERT_STR(problems("{" BASE ",'log-format':'JSON'}"),
                  SRC ": log-format: expected \"text\" or \"json\"");
    AG_ASSERT_STR(problems("{" BASE ",'log-format':1}"), SRC ": log-format: expected a string");
    AG_ASSERT_STR(problems("{" BASE ",'metrics-listen':'127.0.0.1:0'}"),
                  SRC ": metrics-listen: port must be 1-65535");
    AG_ASSERT_STR(problems("{" BASE ",'metrics-listen':'9090'}"),
                  SRC ": metrics-listen: expected \"HOST:PORT\"");
    AG_ASSERT_STR(problems("{" BASE ",'listen':['127.0.0.1:80','127.0.0.1:9090'],"
                           "'metrics-listen':'127.0.0.1:9090'}"),
                  SRC ": metrics-listen: same address as listen[1]: the main listeners never "
                      "serve /metrics");
    AG_ASSERT_STR(problems("{" BASE ",'tls-listen':'127.0.0.1:9443','tls-cert-file':'c.pem',"
                           "'tls-key-file':'k.pem','metrics-listen':'127.0.0.1:9443'}"),
                  SRC ": metrics-listen: same address as tls-listen[0]: the main listeners never "
                      "serve /metrics");
}

static void test_config_rejects_bad_samesite(void)
{
    AG_ASSERT_STR(problems("{" BASE ",'cookie-samesite':'loose'}"),
                  SRC ": cookie-samesite: expected \"lax\", \"strict\" or \"none\"");
    AG_ASSERT_STR(problems("{" BASE ",'cookie-samesite':'none','cookie-secure':false}"),
                  SRC ": cookie-samesite: \"none\" needs cookie-secure true (browsers refuse "
                      "SameSite=None cookies without Secure)");
    AG_ASSERT_STR(problems("{" BASE ",'cookie-samesite':'strict','cookie-secure':false}"),
                  "(no problem)");
}

static void test_config_rejects_bad_rate_limits(void)
{
    AG_ASSERT_STR(problems("{" BASE ",'rate-limits':'on'}"),
                  SRC ": rate-limits: expected true, false or an object");
    AG_ASSERT_STR(problems("{" BASE ",'rate-limits':{'logn':{}}}"),
                  SRC ": rate-limits: unknown key 'logn' (did you mean 'login'?)");
    AG_ASSERT_STR(problems("{" BASE ",'rate-limits':{'signup':{}}}"),
                  SRC ": rate-limits: unknown key 'signup'");
    AG_ASSERT_STR(problems("{" BASE ",'rate-limits':{'login':5}}"),
                  SRC ": rate-limits.login: expected an object {\"limit\": N, \"window\": "
                      "SECONDS}");
    AG_ASSERT_STR(problems("{" BASE ",'rate-limits':{'login':{'limt':5}}}"),
                  SRC ": rate-limits.login: unknown key 'limt' (did you mean 'limit'?)");
    AG_ASSERT_STR(problems("{" BASE ",'rate-limits':{'register':{'limit':-1}}}"),
                  SRC ": rate-limits.register.limit: must be between 0 and 1000000000");
    AG_ASSERT_STR(problems("{" BASE ",'rate-limits':{'refresh':{'window':0}}}"),
                  SRC ": rate-limits.refresh.window: must be between 1 and 31536000");
    AG_ASSERT_STR(problems("{" BASE ",'rate-limits':{'token-new':{'window':1.5}}}"),
                  SRC ": rate-limits.token-new.window: expected an integer");
    AG_ASSERT_STR(problems("{" BASE ",'rate-limits':{'lockout':{'failures':-1,'seconds':0}}}"),
                  SRC ": rate-limits.lockout.failures: must be between 0 and 1000000000 | " SRC
                      ": rate-limits.lockout.seconds: must be between 1 and 31536000");
    AG_ASSERT_STR(problems("{" BASE ",'rate-limits':{'lockout':{'limit':1}}}"),
                  SRC ": rate-limits.lockout: unknown key 'limit'");
}

/* ------------------------------------------------------------------------------------------
 * Many problems, error buffer, reference counting
 * ------------------------------------------------------------------------------------------ */

static void test_config_reports_every_problem_in_file_order(void)
{
    AG_ASSERT_STR(problems("{'listen':['h:0','[::1]:80'],'workers':-3,'upstrem':'http://h',"
                           "'headers':{'Host':'x','X-A':'a\\nb'},'cookie-samesite':'none',"
                           "'cookie-secure':false,'database-api-url':'x'}"),
                  SRC ": listen[0]: port must be 1-65535 | " SRC
                      ": workers: must be between 0 and 256 | " SRC
                      ": unknown key 'upstrem' (did you mean 'upstream'?) | " SRC
                      ": headers.Host: set by the gateway; cannot be configured | " SRC
                      ": headers.X-A: value must not contain CR or LF | " SRC
                      ": database-api-url: not supported; authgate keeps its state in Redis: "
                      "use 'redis' | " SRC
                      ": cryptography-key: required (set it in the file or CRYPTOGRAPHY_KEY; "
                      "`authgate keygen` makes one) | " SRC
                      ": upstream: required (\"http://HOST:PORT\" of the application) | " SRC
                      ": cookie-samesite: \"none\" needs cookie-secure true (browsers refuse "
                      "SameSite=None cookies without Secure)");
}

static void test_config_counts_problems_beyond_the_buffer(void)
{
    char in[4096] = "{" BASE ",'access-token-paths':[";
    struct ag_err err = {0};

    for (int i = 0; i < 40; i++)
        strcat(in, i ? ",'x'" : "'x'");
    strcat(in, "]}");
    AG_ASSERT_NULL(parse(in, &err));
    AG_ASSERT_EQ(err.n, 40);
    AG_ASSERT_STR(err.line[AG_ERR_MAX - 1], SRC ": access-token-paths[31]: must start with '/'");
}

static void test_config_null_err_is_allowed(void)
{
    AG_ASSERT_NULL(parse("{'workers':-1}", NULL));
    AG_ASSERT_NULL(parse("{", NULL));
}

static void test_config_ref_and_unref(void)
{
    struct ag_config *cfg = parse("{" BASE "}", NULL);

    AG_ASSERT_NOT_NULL(cfg);
    if (cfg == NULL)
        return;
    AG_ASSERT(ag_config_ref(cfg) == cfg);
    AG_ASSERT_EQ(atomic_load(&cfg->_refs), 2);
    ag_config_unref(cfg);
    AG_ASSERT_EQ(atomic_load(&cfg->_refs), 1);
    ag_config_unref(cfg); /* the last: LSan proves everything went */
    ag_config_unref(NULL);
}

static void *on_thread_ref_unref(void *arg)
{
    struct ag_config *cfg = arg;

    for (int i = 0; i < 20000; i++) {
        ag_config_ref(cfg);
        ag_config_unref(cfg);
    }
    return NULL;
}

static void test_config_refs_are_thread_safe(void)
{
    struct ag_config *cfg = parse("{" BASE "}", NULL);
    pthread_t th[4];

    AG_ASSERT_NOT_NULL(cfg);
    if (cfg == NULL)
        return;
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, on_thread_ref_unref, cfg);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    AG_ASSERT_EQ(atomic_load(&cfg->_refs), 1);
    ag_config_unref(cfg);
}

/* ------------------------------------------------------------------------------------------
 * Rules, routes and access-token keys (docs/rules.md)
 * ------------------------------------------------------------------------------------------ */

static void test_config_new_keys_have_defaults(void)
{
    struct ag_config *cfg = parse("{" BASE ",'app-name':'shop'}", NULL);

    AG_ASSERT_NOT_NULL(cfg);
    if (cfg == NULL)
        return;
    AG_ASSERT(!cfg->deny_by_default);
    AG_ASSERT_EQ(cfg->n_public_paths, 0);
    AG_ASSERT_NULL(cfg->public_paths);
    AG_ASSERT_EQ(cfg->n_rules, 0);
    AG_ASSERT_EQ(cfg->n_routes, 0);
    AG_ASSERT_STR(cfg->token_issuer, "shop"); /* app-name */
    AG_ASSERT_NULL(cfg->token_audience);
    AG_ASSERT_EQ(cfg->token_leeway, 30);
    AG_ASSERT_EQ(cfg->token_exp_leeway, 0); /* no default leeway on exp */
    AG_ASSERT_EQ(cfg->token_max_size, 8192);
    AG_ASSERT_EQ(cfg->token_cache_size, 4096);
    AG_ASSERT(!cfg->forward_credentials);
    AG_ASSERT(!cfg->forward_authorization);
    AG_ASSERT_STR(cfg->identity.subject, "X-Auth-Subject");
    AG_ASSERT_STR(cfg->identity.client_id, "X-Auth-Client-Id");
    AG_ASSERT_STR(cfg->identity.scopes, "X-Auth-Scopes");
    AG_ASSERT_STR(cfg->identity.roles, "X-Auth-Roles");
    ag_config_unref(cfg);
    cfg = parse("{" BASE "}", NULL);
    AG_ASSERT_NOT_NULL(cfg);
    if (cfg != NULL)
        AG_ASSERT_STR(cfg->token_issuer, "authgate");
    ag_config_unref(cfg);
}

static void test_config_reads_rule_route_and_token_keys(void)
{
    struct ag_err err = {0};
    struct ag_config *cfg = parse(
        "{" BASE ",'deny-by-default':true,'public-paths':['/health','/static/'],"
        "'rules':[{'prefix':'/api','methods':['get','Post'],'auth':'both','scopes':['read',"
        "'write:all'],'roles':['admin','ops']},{'prefix':'/login','auth':'PUBLIC'},"
        "{'prefix':'/m','auth':'master'},{'prefix':'/a'}],"
        "'routes':[{'prefix':'/v2','upstream':'http://[::1]:9002'},"
        "{'upstream':'http://backend','prefix':'/v3/'}],"
        "'token-issuer':'https://issuer.example','token-audience':'shop-api','token-leeway':0,"
        "'token-exp-leeway':5,'token-max-size':512,'token-cache-size':0,'forward-credentials':true,"
        "'forward-authorization':true,'identity-headers':{'subject':'X-User','client-id':"
        "'X-Client','scopes':'X-Scopes','roles':'X-Roles'},'headers':{'X-Tenant':'t1'}}",
        &err);

    if (cfg == NULL) {
        AG_FAIL_("refused: %s", err.line[0]);
        return;
    }
    AG_ASSERT(cfg->deny_by_default);
    AG_ASSERT_EQ(cfg->n_public_paths, 2);
    AG_ASSERT_STR(cfg->public_paths[1], "/static/");
    AG_ASSERT_EQ(cfg->n_rules, 4);
    AG_ASSERT_STR(cfg->rules[0].prefix, "/api");
    AG_ASSERT_EQ(cfg->rules[0].n_methods, 2);
    AG_ASSERT_STR(cfg->rules[0].methods[0], "GET");
    AG_ASSERT_STR(cfg->rules[0].methods[1], "POST");
    AG_ASSERT_EQ(cfg->rules[0].need, AG_NEED_MASTER | AG_NEED_ACCESS);
    AG_ASSERT(!cfg->rules[0].is_public);
    AG_ASSERT_EQ(cfg->rules[0].n_scopes, 2);
    AG_ASSERT_STR(cfg->rules[0].scopes[1], "write:all");
    AG_ASSERT_EQ(cfg->rules[0].n_roles, 2);
    AG_ASSERT_STR(cfg->rules[0].roles[0], "admin");
    AG_ASSERT(cfg->rules[1].is_public);
    AG_ASSERT_EQ(cfg->rules[1].need, 0);
    AG_ASSERT_EQ(cfg->rules[1].n_methods, 0);
    AG_ASSERT_EQ(cfg->rules[2].need, AG_NEED_MASTER);
    AG_ASSERT_EQ(cfg->rules[3].need, AG_NEED_ACCESS); /* "auth" defaults to access */
    AG_ASSERT_EQ(cfg->n_routes, 2);
    AG_ASSERT_STR(cfg->routes[0].prefix, "/v2");
    AG_ASSERT_STR(cfg->routes[0].upstream_host, "::1");
    AG_ASSERT_STR(cfg->routes[0].upstream_port, "9002");
    AG_ASSERT_STR(cfg->routes[0].upstream_hostport, "[::1]:9002");
    AG_ASSERT_STR(cfg->routes[1].prefix, "/v3/");
    AG_ASSERT_STR(cfg->routes[1].upstream_hostport, "backend:80");
    AG_ASSERT_STR(cfg->token_issuer, "https://issuer.example");
    AG_ASSERT_STR(cfg->token_audience, "shop-api");
    AG_ASSERT_EQ(cfg->token_leeway, 0);
    AG_ASSERT_EQ(cfg->token_exp_leeway, 5);
    AG_ASSERT_EQ(cfg->token_max_size, 512);
    AG_ASSERT_EQ(cfg->token_cache_size, 0);
    AG_ASSERT(cfg->forward_credentials);
    AG_ASSERT(cfg->forward_authorization);
    AG_ASSERT_STR(cfg->identity.subject, "X-User");
    AG_ASSERT_STR(cfg->identity.client_id, "X-Client");
    AG_ASSERT_STR(cfg->identity.scopes, "X-Scopes");
    AG_ASSERT_STR(cfg->identity.roles, "X-Roles");
    ag_config_unref(cfg);
}

/* legacy-tokens: {"until": "YYYY-MM-DD"}, UTC, at most 400 days ahead; accepted through that day. */
static void test_config_legacy_tokens(void)
{
    char in[512], day[16];
    time_t soon = time(NULL) + 30 * 86400, far = time(NULL) + 402 * 86400;
    struct ag_err err = {0};
    struct ag_config *cfg;

    cfg = parse("{" BASE "}", &err);
    AG_ASSERT(cfg != NULL && cfg->legacy_tokens_until == 0); /* off by default */
    ag_config_unref(cfg);
    strftime(day, sizeof(day), "%Y-%m-%d", gmtime(&soon));
    snprintf(in, sizeof(in), "{" BASE ",'legacy-tokens':{'until':'%s'}}", day);
    cfg = parse(in, &err);
    AG_ASSERT(cfg != NULL);
    if (cfg != NULL)
        AG_ASSERT_EQ(cfg->legacy_tokens_until, ((int64_t)soon / 86400 + 1) * 86400);
    ag_config_unref(cfg);
    /* a day already past is accepted (the window is simply closed) */
    cfg = parse("{" BASE ",'legacy-tokens':{'until':'2020-02-29'}}", &err);
    AG_ASSERT(cfg != NULL && cfg->legacy_tokens_until == 1583020800); /* 2020-03-01 00:00Z */
    ag_config_unref(cfg);
    strftime(day, sizeof(day), "%Y-%m-%d", gmtime(&far));
    snprintf(in, sizeof(in), "{" BASE ",'legacy-tokens':{'until':'%s'}}", day);
    AG_ASSERT_STR(problems(in), SRC ": legacy-tokens.until: must be at most 400 days ahead");
    AG_ASSERT_STR(problems("{" BASE ",'legacy-tokens':{'until':'2021-02-29'}}"),
                  SRC ": legacy-tokens.until: expected a date \"YYYY-MM-DD\" (UTC)");
    AG_ASSERT_STR(problems("{" BASE ",'legacy-tokens':{'until':'2026-1-01'}}"),
                  SRC ": legacy-tokens.until: expected a date \"YYYY-MM-DD\" (UTC)");
    AG_ASSERT_STR(problems("{" BASE ",'legacy-tokens':{}}"),
                  SRC ": legacy-tokens: \"until\" is required");
    AG_ASSERT_STR(problems("{" BASE ",'legacy-tokens':true}"),
                  SRC ": legacy-tokens: expected an object {\"until\": \"YYYY-MM-DD\"}");
    AG_ASSERT(strstr(problems("{" BASE ",'legacy-tokens':{'until':'2020-01-01','from':'x'}}"),
                     "legacy-tokens: unknown key \"from\"") != NULL);
    cfg = parse("{" BASE ",'legacy-tokens':{'until':'2000-02-29'}}", &err);
    AG_ASSERT(cfg != NULL && cfg->legacy_tokens_until == 951868800); /* 2000-03-01 00:00Z */
    ag_config_unref(cfg);
    cfg = parse("{" BASE ",'legacy-tokens':{'until':'1970-01-01'}}", &err);
    AG_ASSERT(cfg != NULL && cfg->legacy_tokens_until == 86400);
    ag_config_unref(cfg);
    for (size_t i = 0; i < 3; i++) {
        static const char *const bad[] = {"1900-02-29", "2026-04-31", "2026-00-10"};
        snprintf(in, sizeof(in), "{" BASE ",'legacy-tokens':{'until':'%s'}}", bad[i]);
        AG_ASSERT_STR(problems(in),
                      SRC ": legacy-tokens.until: expected a date \"YYYY-MM-DD\" (UTC)");
    }
}

static void test_config_rejects_bad_new_scalars(void)
{
    AG_ASSERT_STR(problems("{" BASE ",'deny-by-default':1}"),
                  SRC ": deny-by-default: expected true or false");
    AG_ASSERT_STR(problems("{" BASE ",'forward-credentials':'no'}"),
                  SRC ": forward-credentials: expected true or false");
    AG_ASSERT_STR(problems("{" BASE ",'forward-authorization':null}"),
                  SRC ": forward-authorization: expected true or false");
    AG_ASSERT_STR(problems("{" BASE ",'token-leeway':3601}"),
                  SRC ": token-leeway: must be between 0 and 3600");
    AG_ASSERT_STR(problems("{" BASE ",'token-leeway':-1}"),
                  SRC ": token-leeway: must be between 0 and 3600");
    AG_ASSERT_STR(problems("{" BASE ",'token-exp-leeway':3601}"),
                  SRC ": token-exp-leeway: must be between 0 and 3600");
    AG_ASSERT_STR(problems("{" BASE ",'token-max-size':511}"),
                  SRC ": token-max-size: must be between 512 and 65536");
    AG_ASSERT_STR(problems("{" BASE ",'token-max-size':65537}"),
                  SRC ": token-max-size: must be between 512 and 65536");
    AG_ASSERT_STR(problems("{" BASE ",'token-cache-size':1000001}"),
                  SRC ": token-cache-size: must be between 0 and 1000000");
    AG_ASSERT_STR(problems("{" BASE ",'token-cache-size':1.5}"),
                  SRC ": token-cache-size: expected an integer");
    AG_ASSERT_STR(problems("{" BASE ",'token-issuer':''}"),
                  SRC ": token-issuer: must be 1 to 256 characters");
    AG_ASSERT_STR(problems("{" BASE ",'token-audience':7}"),
                  SRC ": token-audience: expected a string");
    AG_ASSERT_STR(problems("{" BASE ",'token-audience':'a\\u0001'}"),
                  SRC ": token-audience: must be printable ASCII");
    AG_ASSERT_STR(problems("{" BASE ",'deny-by-defualt':true}"),
                  SRC ": unknown key 'deny-by-defualt' (did you mean 'deny-by-default'?)");
}

static void test_config_rejects_bad_public_paths(void)
{
    AG_ASSERT_STR(problems("{" BASE ",'public-paths':'/health'}"),
                  SRC ": public-paths: expected an array of strings");
    AG_ASSERT_STR(problems("{" BASE ",'public-paths':['health','/a?b']}"),
                  SRC ": public-paths[0]: must start with '/' | " SRC
                      ": public-paths[1]: must not contain '?' or '#' (only the path is matched)");
}

static void test_config_rejects_bad_rules(void)
{
    AG_ASSERT_STR(problems("{" BASE ",'rules':{}}"), SRC ": rules: expected an array of objects");
    AG_ASSERT_STR(problems("{" BASE ",'rules':['/api']}"),
                  SRC ": rules[0]: expected an object {\"prefix\": \"/PATH\", ...}");
    AG_ASSERT_STR(problems("{" BASE ",'rules':[{'auth':'access'}]}"),
                  SRC ": rules[0]: \"prefix\" is required");
    AG_ASSERT_STR(problems("{" BASE ",'rules':[{'prefix':'api'}]}"),
                  SRC ": rules[0].prefix: must start with '/'");
    AG_ASSERT_STR(problems("{" BASE ",'rules':[{'prefix':3}]}"),
                  SRC ": rules[0].prefix: expected a string");
    AG_ASSERT_STR(problems("{" BASE ",'rules':[{'prefix':'/a','method':['GET']}]}"),
                  SRC ": rules[0]: unknown key 'method' (did you mean 'methods'?)");
    AG_ASSERT_STR(problems("{" BASE ",'rules':[{'prefix':'/a','auth':'token'}]}"),
                  SRC ": rules[0].auth: expected \"access\", \"master\", \"both\" or \"public\"");
    AG_ASSERT_STR(problems("{" BASE ",'rules':[{'prefix':'/a','auth':true}]}"),
                  SRC ": rules[0].auth: expected a string");
    AG_ASSERT_STR(problems("{" BASE ",'rules':[{'prefix':'/a','auth':'public','scopes':['x']}]}"),
                  SRC ": rules[0]: \"auth\": \"public\" cannot require scopes or roles (they "
                      "need an access token)");
    AG_ASSERT_STR(problems("{" BASE ",'rules':[{'prefix':'/a','roles':['x'],'auth':'public'}]}"),
                  SRC ": rules[0]: \"auth\": \"public\" cannot require scopes or roles (they "
                      "need an access token)");
}

static void test_config_rejects_bad_rule_arrays(void)
{
    AG_ASSERT_STR(problems("{" BASE ",'rules':[{'prefix':'/a','methods':'GET'}]}"),
                  SRC ": rules[0].methods: expected an array of method names");
    AG_ASSERT_STR(problems("{" BASE ",'rules':[{'prefix':'/a','methods':[]}]}"),
                  SRC ": rules[0].methods: must not be empty (leave the key out instead)");
    AG_ASSERT_STR(problems("{" BASE ",'rules':[{'prefix':'/a','methods':['GET','get']}]}"),
                  SRC ": rules[0].methods[1]: 'GET' is already methods[0]");
    AG_ASSERT_STR(problems("{" BASE ",'rules':[{'prefix':'/a','methods':['GE T','',1]}]}"),
                  SRC ": rules[0].methods[0]: must be an HTTP method token (RFC 9110 section 9.1)"
                      " | " SRC ": rules[0].methods[1]: must be an HTTP method token (RFC 9110 "
                      "section 9.1) | " SRC ": rules[0].methods[2]: expected a string");
    AG_ASSERT_STR(problems("{" BASE ",'rules':[{'prefix':'/a','scopes':['a b']}]}"),
                  SRC ": rules[0].scopes[0]: must be a non-empty scope without spaces, control "
                      "characters, '\"' or '\\'");
    AG_ASSERT_STR(problems("{" BASE ",'rules':[{'prefix':'/a','scopes':['']}]}"),
                  SRC ": rules[0].scopes[0]: must be a non-empty scope without spaces, control "
                      "characters, '\"' or '\\'");
    AG_ASSERT_STR(problems("{" BASE ",'rules':[{'prefix':'/a','scopes':['x','x']}]}"),
                  SRC ": rules[0].scopes[1]: 'x' is already scopes[0]");
    AG_ASSERT_STR(problems("{" BASE ",'rules':[{'prefix':'/a','roles':['a,b']}]}"),
                  SRC ": rules[0].roles[0]: must be a non-empty role without spaces, control "
                      "characters or ','");
    AG_ASSERT_STR(problems("{" BASE ",'rules':[{'prefix':'/a','roles':['r\\t']}]}"),
                  SRC ": rules[0].roles[0]: must be a non-empty role without spaces, control "
                      "characters or ','");
    AG_ASSERT_STR(problems("{" BASE ",'rules':[{'prefix':'/a','roles':{}}]}"),
                  SRC ": rules[0].roles: expected an array of roles");
    AG_ASSERT_STR(problems("{" BASE ",'rules':[{'prefix':'/a','scopes':['1','2','3','4','5','6',"
                           "'7','8','9','10','11','12','13','14','15','16','17']}]}"),
                  SRC ": rules[0].scopes: at most 16 scopes per rule");
    AG_ASSERT_STR(problems("{" BASE ",'rules':[{'prefix':'/a','roles':['r\\u00e9']}]}"),
                  SRC ": rules[0].roles[0]: must be a non-empty role without spaces, control "
                      "characters or ','");
}

static void test_config_rejects_bad_routes(void)
{
    AG_ASSERT_STR(problems("{" BASE ",'routes':{'/a':'http://h:1'}}"),
                  SRC ": routes: expected an array of objects");
    AG_ASSERT_STR(problems("{" BASE ",'routes':['http://h:1']}"),
                  SRC ": routes[0]: expected an object {\"prefix\": \"/PATH\", \"upstream\": "
                      "\"http://HOST:PORT\"}");
    AG_ASSERT_STR(problems("{" BASE ",'routes':[{}]}"),
                  SRC ": routes[0]: \"prefix\" is required | " SRC
                      ": routes[0]: \"upstream\" is required");
    AG_ASSERT_STR(problems("{" BASE ",'routes':[{'prefix':'/a','upstream':'ftp://h:1'}]}"),
                  SRC ": routes[0].upstream: expected \"http://HOST:PORT\" or \"https://HOST:PORT\"");
    AG_ASSERT_STR(problems("{" BASE ",'routes':[{'prefix':'/a','upstream':'http://h:1/x'}]}"),
                  SRC ": routes[0].upstream: must not have a path or query (the request path "
                      "is forwarded as is)");
    AG_ASSERT_STR(problems("{" BASE ",'routes':[{'prefix':'/a','upstream':'http://h:0'}]}"),
                  SRC ": routes[0].upstream: port must be 1-65535");
    AG_ASSERT_STR(problems("{" BASE ",'routes':[{'prefix':'a','upstream':'http://h:1'}]}"),
                  SRC ": routes[0].prefix: must start with '/'");
    AG_ASSERT_STR(problems("{" BASE ",'routes':[{'prefix':'/a','upstream':'http://h:1',"
                           "'upstreams':1}]}"),
                  SRC ": routes[0]: unknown key 'upstreams' (did you mean 'upstream'?)");
}

static void test_config_rejects_bad_identity_headers(void)
{
    AG_ASSERT_STR(problems("{" BASE ",'identity-headers':'X-User'}"),
                  SRC ": identity-headers: expected an object of header names");
    AG_ASSERT_STR(problems("{" BASE ",'identity-headers':{'subjet':'X-U'}}"),
                  SRC ": identity-headers: unknown key 'subjet' (did you mean 'subject'?)");
    AG_ASSERT_STR(problems("{" BASE ",'identity-headers':{'subject':'X User'}}"),
                  SRC ": identity-headers.subject: must be an HTTP token of 1 to 63 characters "
                      "(RFC 9110 section 5.6.2)");
    AG_ASSERT_STR(problems("{" BASE ",'identity-headers':{'roles':''}}"),
                  SRC ": identity-headers.roles: must be an HTTP token of 1 to 63 characters "
                      "(RFC 9110 section 5.6.2)");
    AG_ASSERT_STR(problems("{" BASE ",'identity-headers':{'roles':5}}"),
                  SRC ": identity-headers.roles: expected a string");
    AG_ASSERT_STR(problems("{" BASE ",'identity-headers':{'subject':'Authorization'}}"),
                  SRC ": identity-headers.subject: a framing, forwarding or credential header; "
                      "pick another");
    AG_ASSERT_STR(problems("{" BASE ",'identity-headers':{'client-id':'x_forwarded_for'}}"),
                  SRC ": identity-headers.client-id: a framing, forwarding or credential "
                      "header; pick another");
    AG_ASSERT_STR(problems("{" BASE ",'identity-headers':{'scopes':'Master.Token'}}"),
                  SRC ": identity-headers.scopes: a framing, forwarding or credential header; "
                      "pick another");
    AG_ASSERT_STR(problems("{" BASE ",'identity-headers':{'roles':'x_auth_subject'}}"),
                  SRC ": identity-headers.roles: same header name as identity-headers.subject");
    AG_ASSERT_STR(problems("{" BASE ",'identity-headers':{'subject':'X-User'},"
                           "'headers':{'x-user':'spoof'}}"),
                  SRC ": identity-headers.subject: same header name as headers.x-user (the "
                      "gateway sets it)");
}

/* ------------------------------------------------------------------------------------------
 * Users (docs/users.md)
 * ------------------------------------------------------------------------------------------ */

static void test_config_user_defaults(void)
{
    struct ag_config *cfg = parse("{" BASE "}", NULL);

    AG_ASSERT_NOT_NULL(cfg);
    if (cfg == NULL)
        return;
    AG_ASSERT(cfg->registration);
    AG_ASSERT_EQ(cfg->passwords.min_len, 8);
    AG_ASSERT_EQ(cfg->passwords.max_len, 128);
    AG_ASSERT_EQ(cfg->passwords.opslimit, 2);
    AG_ASSERT_EQ(cfg->passwords.memlimit, 19456 * 1024);
    AG_ASSERT_EQ(cfg->reset_ttl, 900);
    AG_ASSERT_NULL(cfg->reset_webhook);
    AG_ASSERT_EQ(cfg->audit_stream_max, 100000);
    AG_ASSERT_EQ(cfg->rl_login_account.limit, 5);
    AG_ASSERT_EQ(cfg->rl_reset.window, 3600);
    AG_ASSERT_EQ(cfg->rl_audit.limit, 600);
    AG_ASSERT_EQ(cfg->rl_audit.window, 60);
    AG_ASSERT_EQ(cfg->n_trusted_proxies, 0);
    ag_config_unref(cfg);
}

static void test_config_reads_user_keys(void)
{
    struct ag_config *cfg = parse(
        "{" BASE ",'registration':false,'hash-threads':3,"
        "'passwords':{'min-length':12,'max-length':64,'argon2-iterations':3,'argon2-memory-kib':65536},"
        "'trusted-proxies':['10.0.0.0/8','::1','192.168.1.7/32'],"
        "'role-scopes':{'admin':['read','write'],'staff':['read']},"
        "'password-reset':{'ttl':600,'webhook':'http://127.0.0.1:9000/hook/reset'},"
        "'audit-stream-max':0,'max-sessions-per-user':7,"
        "'rate-limits':{'login-account':{'limit':3,'window':10},'reset':{'limit':2},"
        "'sessions':{'limit':4,'window':20},'audit':{'limit':9,'window':30}}}",
        NULL);
    unsigned char a[16] = {10, 200, 3, 4}, b[16] = {11, 0, 0, 1}, six[16] = {0};

    AG_ASSERT_NOT_NULL(cfg);
    if (cfg == NULL)
        return;
    AG_ASSERT(!cfg->registration);
    AG_ASSERT_EQ(cfg->hash_threads, 3);
    AG_ASSERT_EQ(cfg->passwords.min_len, 12);
    AG_ASSERT_EQ(cfg->passwords.max_len, 64);
    AG_ASSERT_EQ(cfg->passwords.opslimit, 3);
    AG_ASSERT_EQ(cfg->passwords.memlimit, 65536 * 1024);
    AG_ASSERT_EQ(cfg->n_trusted_proxies, 3);
    AG_ASSERT(ag_config_trusted_proxy(cfg, AF_INET, a));
    AG_ASSERT(!ag_config_trusted_proxy(cfg, AF_INET, b));
    six[15] = 1;
    AG_ASSERT(ag_config_trusted_proxy(cfg, AF_INET6, six));
    six[15] = 2;
    AG_ASSERT(!ag_config_trusted_proxy(cfg, AF_INET6, six));
    AG_ASSERT_EQ(cfg->n_role_scopes, 2);
    AG_ASSERT_STR(cfg->role_scopes[0].role, "admin");
    AG_ASSERT_EQ(cfg->role_scopes[0].n_scopes, 2);
    AG_ASSERT_STR(cfg->role_scopes[1].scopes[0], "read");
    AG_ASSERT_EQ(cfg->reset_ttl, 600);
    AG_ASSERT_STR(cfg->reset_webhook_host, "127.0.0.1");
    AG_ASSERT_STR(cfg->reset_webhook_port, "9000");
    AG_ASSERT_STR(cfg->reset_webhook_path, "/hook/reset");
    AG_ASSERT_EQ(cfg->audit_stream_max, 0);
    AG_ASSERT_EQ(cfg->rl_login_account.limit, 3);
    AG_ASSERT_EQ(cfg->rl_login_account.window, 10);
    AG_ASSERT_EQ(cfg->rl_reset.limit, 2);
    AG_ASSERT_EQ(cfg->rl_reset.window, 3600);
    AG_ASSERT_EQ(cfg->max_sessions, 7);
    AG_ASSERT_EQ(cfg->rl_sessions.limit, 4);
    AG_ASSERT_EQ(cfg->rl_sessions.window, 20);
    AG_ASSERT_EQ(cfg->rl_audit.limit, 9);
    AG_ASSERT_EQ(cfg->rl_audit.window, 30);
    ag_config_unref(cfg);
}

static void test_config_rejects_bad_user_keys(void)
{
    AG_ASSERT(strstr(problems("{" BASE ",'max-sessions-per-user':0}"),
                     "max-sessions-per-user: must be between 1 and 1000") != NULL);
    AG_ASSERT(strstr(problems("{" BASE ",'passwords':{'min-length':0}}"),
                     "passwords.min-length: must be between 1 and 1024") != NULL);
    AG_ASSERT(strstr(problems("{" BASE ",'passwords':{'min-length':20,'max-length':10}}"),
                     "passwords.max-length: must be at least passwords.min-length") != NULL);
    AG_ASSERT(strstr(problems("{" BASE ",'passwords':{'min-lenght':9}}"),
                     "did you mean 'min-length'") != NULL);
    AG_ASSERT(strstr(problems("{" BASE ",'trusted-proxies':['10.0.0.0/33']}"),
                     "trusted-proxies[0]: expected an IPv4 or IPv6 address") != NULL);
    AG_ASSERT(strstr(problems("{" BASE ",'trusted-proxies':['example.com']}"),
                     "trusted-proxies[0]") != NULL);
    AG_ASSERT(strstr(problems("{" BASE ",'trusted-proxies':'10.0.0.1'}"),
                     "trusted-proxies: expected an array") != NULL);
    AG_ASSERT(strstr(problems("{" BASE ",'role-scopes':{'a,b':['x']}}"),
                     "role-scopes.a,b: a role must be") != NULL);
    AG_ASSERT(strstr(problems("{" BASE ",'role-scopes':{'admin':['has space']}}"),
                     "role-scopes.admin[0]") != NULL);
    AG_ASSERT(strstr(problems("{" BASE ",'password-reset':{'webhook':'https://h:1/x'}}"),
                     "password-reset.webhook: expected \"http://HOST:PORT/PATH\"") != NULL);
    AG_ASSERT(strstr(problems("{" BASE ",'password-reset':{'ttl':5}}"),
                     "password-reset.ttl: must be between 60 and 86400") != NULL);
    AG_ASSERT(strstr(problems("{" BASE ",'rate-limits':{'reset':{'limit':-1}}}"),
                     "rate-limits.reset.limit") != NULL);
    AG_ASSERT(strstr(problems("{" BASE ",'registration':'yes'}"), "registration") != NULL);
}

int main(void)
{
    AG_RUN(test_config_minimal_fills_defaults);
    AG_RUN(test_config_reads_every_key);
    AG_RUN(test_config_listen_accepts_a_single_string);
    AG_RUN(test_config_upstream_without_port_uses_80);
    AG_RUN(test_config_rate_limits_false_turns_them_off);
    AG_RUN(test_config_accepts_valid_redis_forms);
    AG_RUN(test_config_takes_secrets_from_env_when_absent);
    AG_RUN(test_config_file_wins_over_env);
    AG_RUN(test_config_bad_file_value_does_not_fall_back_to_env);
    AG_RUN(test_config_rejects_short_env_key);
    AG_RUN(test_config_rejects_missing_key);
    AG_RUN(test_config_no_key_check_allows_missing_key);
    AG_RUN(test_config_rejects_bad_env_master_token);
    AG_RUN(test_config_refuses_the_old_example_placeholder);
    AG_RUN(test_config_refuses_placeholder_words_in_any_case);
    AG_RUN(test_config_refuses_keys_with_few_distinct_characters);
    AG_RUN(test_config_refuses_key_equal_to_master_token);
    AG_RUN(test_config_refuses_guessable_env_keys);
    AG_RUN(test_config_syntax_error_names_line_and_column);
    AG_RUN(test_config_rejects_duplicate_key);
    AG_RUN(test_config_rejects_empty_input);
    AG_RUN(test_config_rejects_top_level_array);
    AG_RUN(test_config_rejects_nul_and_control_bytes);
    AG_RUN(test_config_rejects_unknown_key);
    AG_RUN(test_config_unknown_key_suggests_nearest);
    AG_RUN(test_config_unknown_key_is_printed_safely);
    AG_RUN(test_config_rejects_database_api_url);
    AG_RUN(test_config_rejects_wrong_types);
    AG_RUN(test_config_rejects_bad_app_name);
    AG_RUN(test_config_rejects_bad_master_token);
    AG_RUN(test_config_rejects_bad_token_paths);
    AG_RUN(test_config_rejects_bad_headers);
    AG_RUN(test_config_rejects_gateway_owned_headers);
    AG_RUN(test_config_rejects_bad_listen);
    AG_RUN(test_config_rejects_bad_upstream);
    AG_RUN(test_config_reads_tls_keys);
    AG_RUN(test_config_rejects_bad_tls_keys);
    AG_RUN(test_config_redis_is_a_printable_string_kept_as_written);
    AG_RUN(test_config_redis_sentinel_is_kept_for_the_store);
    AG_RUN(test_config_redis_sentinel_refusals_name_the_member);
    AG_RUN(test_config_rejects_bad_auth_prefix);
    AG_RUN(test_config_rejects_out_of_range_integers);
    AG_RUN(test_config_rejects_out_of_range_seconds);
    AG_RUN(test_config_rejects_bad_access_log);
    AG_RUN(test_config_metrics_listen_and_log_format);
    AG_RUN(test_config_rejects_bad_samesite);
    AG_RUN(test_config_rejects_bad_rate_limits);
    AG_RUN(test_config_reports_every_problem_in_file_order);
    AG_RUN(test_config_counts_problems_beyond_the_buffer);
    AG_RUN(test_config_null_err_is_allowed);
    AG_RUN(test_config_ref_and_unref);
    AG_RUN(test_config_refs_are_thread_safe);
    AG_RUN(test_config_new_keys_have_defaults);
    AG_RUN(test_config_reads_rule_route_and_token_keys);
    AG_RUN(test_config_rejects_bad_new_scalars);
    AG_RUN(test_config_legacy_tokens);
    AG_RUN(test_config_rejects_bad_public_paths);
    AG_RUN(test_config_rejects_bad_rules);
    AG_RUN(test_config_rejects_bad_rule_arrays);
    AG_RUN(test_config_rejects_bad_routes);
    AG_RUN(test_config_rejects_bad_identity_headers);
    AG_RUN(test_config_user_defaults);
    AG_RUN(test_config_reads_user_keys);
    AG_RUN(test_config_rejects_bad_user_keys);
    return ag_t_done();
}
