/*
 * tests/fuzz/fuzz_config.c - libFuzzer target for policy/config.c: any bytes
 * through ag_config_parse(), with and without environment fallbacks.
 *
 * Owns:     nothing; every config it gets is unref'd before returning.
 * Entry:    LLVMFuzzerTestOneInput() (libFuzzer, or tests/fuzz/replay_main.c).
 * Not here: the corpus replay main (replay_main.c); seeds are in corpus/config/.
 * Spec:     docs/config.md; CONTRACT.md section 3.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Parses <data,size> as a config file: once without environment, once with both
 * variables set (so the env paths run), and once with AG_CONFIG_F_NO_KEY_CHECK.
 * Every line in the error buffer must be NUL-terminated and one line long; a
 * violation aborts, which libFuzzer reports as a crash. Always returns 0.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct ag_config_env env = {
        .master_token = "fuzz-master-token",
        .cryptography_key = "fuzz-cryptography-key-0123456789abcdef",
    };
    const struct ag_config_env *envs[] = {NULL, &env, NULL};
    const unsigned flags[] = {0, 0, AG_CONFIG_F_NO_KEY_CHECK};
    struct ag_err err;

    for (size_t i = 0; i < sizeof(envs) / sizeof(envs[0]); i++) {
        struct ag_config *cfg;

        memset(&err, 0, sizeof(err));
        cfg = ag_config_parse((const char *)data, size, "fuzz.json", envs[i], flags[i], &err);
        if ((cfg == NULL) != (err.n > 0))
            __builtin_trap(); /* NULL comes with a problem line, success without */
        for (int l = 0; l < err.n && l < AG_ERR_MAX; l++)
            if (memchr(err.line[l], '\0', AG_ERR_LINE) == NULL ||
                strpbrk(err.line[l], "\r\n") != NULL)
                __builtin_trap();
        if (cfg != NULL) {
            ag_config_ref(cfg);
            ag_config_unref(cfg);
        }
        ag_config_unref(cfg);
    }
    return 0;
}
