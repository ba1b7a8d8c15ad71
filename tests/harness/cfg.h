/*
 * tests/harness/cfg.h - a parsed config for unit tests: the two keys every config
 * needs (upstream, cryptography-key) plus the members a test is about.
 *
 * Owns:     nothing; the config returned is the caller's (ag_config_unref()).
 * Entry:    ag_t_config().
 * Not here: the assertions (t.h), config parsing tests (unit/policy/config_test.c).
 */
#ifndef AG_TESTS_CFG_H
#define AG_TESTS_CFG_H

#include <stdio.h>

#include "config.h"

#define AG_T_KEY32 "0123456789abcdef0123456789abcdef"

/**
 * Parses {"upstream":..., "cryptography-key":..., <members>} (<members>: JSON members
 * with ' for ", or ""). A new config, or NULL with the first problem printed and <err>
 * (may be NULL) filled.
 */
static inline struct ag_config *ag_t_config(const char *members, struct ag_err *err)
{
    char json[4096];
    struct ag_err own = {0};
    struct ag_config *cfg;
    int n = snprintf(json, sizeof(json),
                     "{\"upstream\":\"http://127.0.0.1:8081\",\"cryptography-key\":\"" AG_T_KEY32
                     "\"%s%s}",
                     members[0] != '\0' ? "," : "", members);

    if (n < 0 || (size_t)n >= sizeof(json))
        return NULL;
    for (int i = 0; i < n; i++)
        if (json[i] == '\'')
            json[i] = '"';
    if (err == NULL)
        err = &own;
    cfg = ag_config_parse(json, (size_t)n, "t.json", NULL, 0, err);
    if (cfg == NULL && err == &own)
        fprintf(stderr, "config: %s\n", own.n > 0 ? own.line[0] : "?");
    return cfg;
}

#endif
