/*
 * policy/config_int.h - what the policy/config*.c files share while parsing: the parse
 * state, problem reporting, typed getters, value checkers and one parser per key.
 *
 * Owns:     nothing; helpers borrow <c> and store new values into <c>->cfg.
 * Entry:    struct config_ctx, ag_config__problem(), ag_config__get_*(), ag_config__parse_*().
 * Not here: the public API (policy/config.h). Only policy/config*.c include this file.
 * Spec:     docs/config.md lists every key, default and message.
 */
#ifndef AG_POLICY_CONFIG_INT_H
#define AG_POLICY_CONFIG_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "base.h"
#include "config.h"

#define CONFIG_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define CONFIG_MIN_KEY_LEN 32  /* bytes of cryptography-key (HS256, RFC 7518 s.3.2) */
#define CONFIG_MIN_KEY_DISTINCT 8 /* distinct bytes of cryptography-key ("x" * 32 has 1) */
#define CONFIG_YEAR 31536000LL /* 86400 * 365 */

/* ------------------------------------------------------------------------------------------
 * Parse state and problem reporting (config_base.c)
 * ------------------------------------------------------------------------------------------ */

/* The state of one ag_config_parse() call, handed to every helper below. */
struct config_ctx {
    struct ag_config *cfg;
    struct ag_err *err; /* may be NULL: problems are still counted */
    const char *source;
    int problems;
    bool oom;
};

/** Records "SOURCE: PATH: reason" ("SOURCE: reason" when <path> is NULL); <path> printable. */
void ag_config__problem(struct config_ctx *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** Writes <s> as one printable line (\xHH, "..." when cut) into <buf> (<size> >= 8). */
const char *ag_config__printable(const char *s, char *buf, size_t size);

/** calloc() that marks <c> out of memory when it fails (the parse then stops). */
void *ag_config__calloc(struct config_ctx *c, size_t n, size_t size);

/** Returns a new NUL-terminated copy of <s,n>, or NULL with <c>->oom set. */
char *ag_config__strndup(struct config_ctx *c, const char *s, size_t n);

/* ------------------------------------------------------------------------------------------
 * Character classes, ASCII only, never the locale (config_base.c)
 * ------------------------------------------------------------------------------------------ */

/** [0-9A-Za-z]. */
bool ag_config__is_alnum(unsigned char ch);

/** [0-9]. */
bool ag_config__is_digit(unsigned char ch);

/** [0-9A-Fa-f]. */
bool ag_config__is_hex(unsigned char ch);

/** RFC 9110 s.5.6.2 tchar. */
bool ag_config__is_tchar(unsigned char ch);

/** True when every byte of <s,n> is in 0x20..0x7e (<space_ok>) or 0x21..0x7e. */
bool ag_config__all_printable(const char *s, size_t n, bool space_ok);

/** <ch> lower-cased, with '_' read as '-'. */
char ag_config__fold(char ch);

/* ------------------------------------------------------------------------------------------
 * Key names and typed getters (config_base.c): each reports its problem, false on a bad value
 * ------------------------------------------------------------------------------------------ */

/** Reports unknown <key> at <path> (NULL: top level), suggesting the nearest of <names>. */
void ag_config__unknown_key(struct config_ctx *c, const char *path, const char *key,
                            const char *const *names, size_t n);

/** Finds <key> in <names>: true with *<i> and "<path>.<key>" in <kpath>; else reports it. */
bool ag_config__member(struct config_ctx *c, const char *path, const char *key,
                       const char *const *names, size_t n, size_t *i, char *kpath);

/** A string: *<s> (borrowed from <v>) and its length *<n>. */
bool ag_config__get_string(struct config_ctx *c, const char *path, json_t *v, const char **s,
                           size_t *n);

/** Opens the array <v>: a new zeroed table of one <size> slot per element at *<out>, *<n>
 *  (NULL allowed) its length. Returns the length; 0: nothing to parse (problem recorded
 *  when not an array, or when empty and <empty> names the problem). */
size_t ag_config__array_new(struct config_ctx *c, const char *path, json_t *v, const char *what,
                            const char *empty, size_t size, void **out, size_t *n);

/** The string element <e> at index <i> of the array at <path>; "<path>[<i>]" into <ipath>. */
bool ag_config__item_string(struct config_ctx *c, const char *path, size_t i, json_t *e,
                            char *ipath, const char **s, size_t *len);

/** An integer in <min>..<max> into *<out>. */
bool ag_config__get_int(struct config_ctx *c, const char *path, json_t *v, long long min,
                        long long max, long long *out);

/** A number of seconds, more than 0 and at most 86400, into *<out>. */
bool ag_config__get_seconds(struct config_ctx *c, const char *path, json_t *v, double *out);

/** true or false into *<out>. */
bool ag_config__get_bool(struct config_ctx *c, const char *path, json_t *v, bool *out);

/* ------------------------------------------------------------------------------------------
 * HOST:PORT, path prefixes, master token, upstream URL (config_keys.c)
 * ------------------------------------------------------------------------------------------ */

/* Why a HOST:PORT was refused; zero is the failing value. */
enum config_hp {
    CONFIG_HP_BAD = 0, /* not HOST:PORT at all */
    CONFIG_HP_OK = 1,
    CONFIG_HP_BAD_PORT = -1, /* port not 1..65535 */
    CONFIG_HP_BRACKETS = -2, /* IPv6 address without [ ] */
};

/** Splits "HOST:PORT" or "[IPV6]:PORT" <s,n>; on CONFIG_HP_OK <host> points into <s>. */
enum config_hp ag_config__split_hostport(const char *s, size_t n, bool port_optional,
                                         struct ag_str *host, unsigned *port);

/** Reports the HOST:PORT verdict <hp> for the key at <path>, whose form is <form>. */
void ag_config__hostport_problem(struct config_ctx *c, const char *path, enum config_hp hp,
                                 const char *form, const char *v6_example);

/** Checks the master token <s,n>; <what> prefixes the reason. Reports, false when bad. */
bool ag_config__check_master_token(struct config_ctx *c, const char *what, const char *s, size_t n);

/** Checks the signing secret <s,n>; <what> prefixes the reason. Reports, false when bad. */
bool ag_config__check_crypto_key(struct config_ctx *c, const char *what, const char *s, size_t n);

/** ag_config__check_crypto_key() for the secret at <path> (a ring key's "secret"). */
bool ag_config__check_secret(struct config_ctx *c, const char *path, const char *what,
                             const char *s, size_t n);

/** Checks the path prefix <s,len> at <path>. Reports, false when bad. */
bool ag_config__check_prefix(struct config_ctx *c, const char *path, const char *s, size_t len);

/** Parses an array of path prefixes into new *<out> / *<n_out>. */
void ag_config__parse_paths(struct config_ctx *c, const char *path, json_t *v, char ***out,
                            size_t *n_out);

/** Parses "http[s]://HOST:PORT" into new *<o_host>, *<o_port>, *<o_hostport>; https sets *<o_tls>. */
void ag_config__parse_upstream_url(struct config_ctx *c, const char *path, json_t *v, char **o_host,
                                   char **o_port, char **o_hostport, bool *o_tls);

/** Parses "HOST:PORT" or an array of them (maybe empty) into new *<o_list>, *<o_n>. */
void ag_config__parse_listen_list(struct config_ctx *c, const char *path, json_t *v,
                                  struct ag_listen_addr **o_list, size_t *o_n);

/* ------------------------------------------------------------------------------------------
 * Words of rules and role-scopes (config_rules.c)
 * ------------------------------------------------------------------------------------------ */

/* What one string of a rule's array may hold. */
enum config_word {
    CONFIG_W_METHOD = 0, /* an RFC 9110 token, stored upper-cased */
    CONFIG_W_SCOPE = 1,  /* RFC 6749 s.3.3 scope-token: visible ASCII but '"' and '\' */
    CONFIG_W_ROLE = 2,   /* visible ASCII but ',' (X-Auth-Roles is a comma list) */
};

/** True when the NUL-terminated <s> (<n> bytes) is a valid <kind> word. */
bool ag_config__word_ok(enum config_word kind, const char *s, size_t n);

/** Parses an array of <kind> words into new *<out> / *<n_out>; repeats are problems. */
void ag_config__parse_words(struct config_ctx *c, const char *path, json_t *v,
                            enum config_word kind, char ***out, size_t *n_out);

/* ------------------------------------------------------------------------------------------
 * One parser per top-level key, called from the key table in config.c: each checks the
 * value <v> of the key at <path>, reports its problems and stores it in <c>->cfg.
 * ------------------------------------------------------------------------------------------ */

/* config_keys.c */
void ag_config__parse_app_name(struct config_ctx *c, const char *path, json_t *v);
void ag_config__parse_master_token(struct config_ctx *c, const char *path, json_t *v);
void ag_config__parse_crypto_key(struct config_ctx *c, const char *path, json_t *v);
void ag_config__parse_master_paths(struct config_ctx *c, const char *path, json_t *v);
void ag_config__parse_access_paths(struct config_ctx *c, const char *path, json_t *v);
void ag_config__parse_headers(struct config_ctx *c, const char *path, json_t *v);
void ag_config__parse_listen(struct config_ctx *c, const char *path, json_t *v);
void ag_config__parse_upstream(struct config_ctx *c, const char *path, json_t *v);
void ag_config__parse_redis(struct config_ctx *c, const char *path, json_t *v);
void ag_config__parse_redis_sentinel(struct config_ctx *c, const char *path, json_t *v);
void ag_config__parse_auth_prefix(struct config_ctx *c, const char *path, json_t *v);
void ag_config__parse_access_log(struct config_ctx *c, const char *path, json_t *v);
void ag_config__parse_samesite(struct config_ctx *c, const char *path, json_t *v);
void ag_config__parse_metrics_listen(struct config_ctx *c, const char *path, json_t *v);
void ag_config__parse_log_format(struct config_ctx *c, const char *path, json_t *v);

/* config_users.c */
void ag_config__parse_rate_limits(struct config_ctx *c, const char *path, json_t *v);
void ag_config__parse_passwords(struct config_ctx *c, const char *path, json_t *v);
void ag_config__parse_trusted_proxies(struct config_ctx *c, const char *path, json_t *v);
void ag_config__parse_role_scopes(struct config_ctx *c, const char *path, json_t *v);
void ag_config__parse_password_reset(struct config_ctx *c, const char *path, json_t *v);
void ag_config__parse_user_fields(struct config_ctx *c, const char *path, json_t *v);
void ag_config__parse_token_claims(struct config_ctx *c, const char *path, json_t *v);
/** identity-headers.fields: {"FIELD": "HEADER"} into cfg->field_headers. */
void ag_config__parse_field_headers(struct config_ctx *c, const char *path, json_t *v);
/** token-claims and identity-headers.fields against user-fields (after every key). */
void ag_config__user_fields_finish(struct config_ctx *c);
void ag_config__parse_api_key_header(struct config_ctx *c, const char *path, json_t *v);

/* config_rules.c */
void ag_config__parse_public_paths(struct config_ctx *c, const char *path, json_t *v);
void ag_config__parse_rules(struct config_ctx *c, const char *path, json_t *v);
void ag_config__parse_routes(struct config_ctx *c, const char *path, json_t *v);
void ag_config__parse_token_issuer(struct config_ctx *c, const char *path, json_t *v);
void ag_config__parse_token_audience(struct config_ctx *c, const char *path, json_t *v);
void ag_config__parse_legacy_tokens(struct config_ctx *c, const char *path, json_t *v);
/** "YYYY-MM-DD" (a real calendar date) as days since 1970-01-01 into <days>; 0 or -1. */
int ag_config__parse_date(const char *s, size_t n, int64_t *days);
void ag_config__parse_identity_headers(struct config_ctx *c, const char *path, json_t *v);
/** Whether <s,n> may name a header the gateway adds (identity-headers,
 *  upstream-assertion.header): an RFC 9110 token of 1 to 63 characters, not a framing,
 *  hop-by-hop, credential or X-Forwarded-* field (any case, '_' or '.' for '-'); else
 *  reports it at <path>. */
bool ag_config__header_name_ok(struct config_ctx *c, const char *path, const char *s, size_t n);

/* config_cors.c */
void ag_config__parse_cors(struct config_ctx *c, const char *path, json_t *v);

/* config_ring.c */
void ag_config__parse_keys(struct config_ctx *c, const char *path, json_t *v);
/** The signer of the ring and the checks between keys, cryptography-key and master-token. */
void ag_config__keys_finish(struct config_ctx *c, json_t *root, bool key_required);
/** Frees the ring of <cfg>, zeroing its secrets, and upstream-assertion's strings. */
void ag_config__keys_free(struct ag_config *cfg);
void ag_config__parse_upstream_assertion(struct config_ctx *c, const char *path, json_t *v);
/** upstream-assertion's defaults and its checks against the ring and the header names
 *  (after identity-headers' defaults). */
void ag_config__assertion_finish(struct config_ctx *c, json_t *root);

/* config_tls.c */
void ag_config__parse_tls_listen(struct config_ctx *c, const char *path, json_t *v);
void ag_config__parse_tls_cert_file(struct config_ctx *c, const char *path, json_t *v);
void ag_config__parse_tls_key_file(struct config_ctx *c, const char *path, json_t *v);
void ag_config__parse_tls_min_version(struct config_ctx *c, const char *path, json_t *v);
void ag_config__parse_upstream_ca_file(struct config_ctx *c, const char *path, json_t *v);
/** The checks between the TLS keys and listen (after every key is parsed). */
void ag_config__tls_finish(struct config_ctx *c, json_t *root);

#endif
