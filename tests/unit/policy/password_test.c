/*
 * tests/unit/policy/password_test.c - mirrors policy/password.c: the policy edges in
 * code points (multibyte characters), blank and non-text passwords, the messages,
 * argon2id hash/verify, needs_rehash, and the dummy verify's cost.
 *
 * Owns:     nothing beyond each test's stack; each dummy test frees its own dummy set.
 * Entry:    main().
 * Not here: running hashes off the loop (tests/unit/gateway/pool_test.c).
 * Spec:     policy/password.h; ISSUE 5 "Passwords".
 */
#include "password.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base.h"
#include "t.h"

/* Small argon2id parameters so that the suite stays fast; one test uses the defaults. */
static const struct ag_pwparams FAST = {.opslimit = 1, .memlimit = 8u << 20, .min_len = 8,
                                        .max_len = 128};
static const struct ag_pwparams OWASP = {.opslimit = 2, .memlimit = 19456u * 1024, .min_len = 8,
                                         .max_len = 128};

/* <n> copies of the UTF-8 character <ch> into <buf>; returns the byte length. */
static size_t repeat(char *buf, const char *ch, size_t n)
{
    size_t l = strlen(ch);

    for (size_t i = 0; i < n; i++)
        memcpy(buf + i * l, ch, l);
    buf[n * l] = '\0';
    return n * l;
}

static enum ag_pw_check check(const char *s)
{
    return ag_password_check(&FAST, s, strlen(s));
}

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ------------------------------------------------------------------------------------------
 * Policy
 * ------------------------------------------------------------------------------------------ */

static void test_password_length_counts_code_points_not_bytes(void)
{
    static const char *const chars[] = {"a", "\xc3\xa9" /* é */, "\xe2\x82\xac" /* € */,
                                        "\xf0\x9f\x98\x80" /* U+1F600 */};
    char buf[129 * 4 + 1];

    for (size_t i = 0; i < sizeof(chars) / sizeof(chars[0]); i++) {
        size_t n;

        n = repeat(buf, chars[i], 7);
        AG_ASSERT_EQ(ag_password_check(&FAST, buf, n), AG_PW_TOO_SHORT);
        n = repeat(buf, chars[i], 8);
        AG_ASSERT_EQ(ag_password_check(&FAST, buf, n), AG_PW_OK);
        n = repeat(buf, chars[i], 128);
        AG_ASSERT_EQ(ag_password_check(&FAST, buf, n), AG_PW_OK);
        n = repeat(buf, chars[i], 129);
        AG_ASSERT_EQ(ag_password_check(&FAST, buf, n), AG_PW_TOO_LONG);
    }
    AG_ASSERT_EQ(ag_password_check(&FAST, "", 0), AG_PW_TOO_SHORT);
}

static void test_password_only_whitespace_is_blank(void)
{
    char buf[64];

    AG_ASSERT_EQ(check("        "), AG_PW_BLANK);
    repeat(buf, "\xc2\xa0", 8); /* NO-BREAK SPACE */
    AG_ASSERT_EQ(check(buf), AG_PW_BLANK);
    repeat(buf, "\xe3\x80\x80", 9); /* IDEOGRAPHIC SPACE */
    AG_ASSERT_EQ(check(buf), AG_PW_BLANK);
    AG_ASSERT_EQ(check("  \xe2\x80\x83  \xe2\x80\xaf  "), AG_PW_BLANK); /* EM SPACE, NNBSP */
    AG_ASSERT_EQ(check("   a    "), AG_PW_OK);
    AG_ASSERT_EQ(check("correct horse battery staple"), AG_PW_OK);
    AG_ASSERT_EQ(check("   "), AG_PW_TOO_SHORT); /* length is judged first */
}

static void test_password_refuses_invalid_utf8_and_controls(void)
{
    static const char *const bad[] = {
        "password\xff",          "password\xc0\xaf",     /* overlong '/' */
        "password\xed\xa0\x80",  /* surrogate */          "password\xe2\x82", /* cut short */
        "password\xf4\x90\x80\x80", /* > U+10FFFF */      "pass\x01word",
        "pass\tword",            "pass\x7fword",         "pass\xc2\x85word", /* C1 NEL */
        "password\r\n",          "\x80password",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (check(bad[i]) != AG_PW_NOT_UTF8)
            AG_FAIL_("bad[%zu] accepted: %d", i, (int)check(bad[i]));
    }
    AG_ASSERT_EQ(ag_password_check(&FAST, "pass\0word", 9), AG_PW_NOT_UTF8);
    AG_ASSERT_EQ(check("p\xc3\xa4ssw\xc3\xb6rd \xf0\x9f\x94\x91"), AG_PW_OK);
}

static void test_password_messages_name_the_limits(void)
{
    struct ag_pwparams p = FAST;
    char buf[128], tiny[9];

    AG_ASSERT_STR(ag_password_check_msg(&p, AG_PW_TOO_SHORT, buf, sizeof(buf)),
                  "password must be at least 8 characters");
    AG_ASSERT_STR(ag_password_check_msg(&p, AG_PW_TOO_LONG, buf, sizeof(buf)),
                  "password must be at most 128 characters");
    AG_ASSERT_STR(ag_password_check_msg(&p, AG_PW_BLANK, buf, sizeof(buf)),
                  "password must not be only whitespace");
    AG_ASSERT_STR(ag_password_check_msg(&p, AG_PW_NOT_UTF8, buf, sizeof(buf)),
                  "password must be valid UTF-8 text");
    p.min_len = 12;
    AG_ASSERT_STR(ag_password_check_msg(&p, AG_PW_TOO_SHORT, buf, sizeof(buf)),
                  "password must be at least 12 characters");
    AG_ASSERT_STR(ag_password_check_msg(&p, AG_PW_TOO_SHORT, tiny, sizeof(tiny)), "password");
}

/* ------------------------------------------------------------------------------------------
 * Hashing
 * ------------------------------------------------------------------------------------------ */

static void test_password_hash_then_verify(void)
{
    const char *pw = "correct horse battery staple";
    char h[AG_PASSWORD_HASH_MAX], h2[AG_PASSWORD_HASH_MAX];

    AG_ASSERT_EQ(ag_password_hash(&FAST, pw, strlen(pw), h), 0);
    AG_ASSERT_EQ(strncmp(h, "$argon2id$v=19$m=8192,t=1,p=1$", 30), 0);
    AG_ASSERT_EQ(ag_password_verify(h, pw, strlen(pw)), 1);
    AG_ASSERT_EQ(ag_password_hash(&FAST, pw, strlen(pw), h2), 0);
    AG_ASSERT(strcmp(h, h2) != 0); /* a fresh salt each time */
    AG_ASSERT_EQ(ag_password_verify(h2, pw, strlen(pw)), 1);
}

static void test_password_verify_refuses_wrong_password_and_bad_hash(void)
{
    const char *pw = "correct horse battery staple";
    char h[AG_PASSWORD_HASH_MAX], bad[AG_PASSWORD_HASH_MAX];

    AG_ASSERT_EQ(ag_password_hash(&FAST, pw, strlen(pw), h), 0);
    AG_ASSERT_EQ(ag_password_verify(h, "correct horse battery stapler", 29), 0);
    AG_ASSERT_EQ(ag_password_verify(h, pw, strlen(pw) - 1), 0); /* a prefix */
    AG_ASSERT_EQ(ag_password_verify(h, "", 0), 0);
    AG_ASSERT_EQ(ag_password_verify(NULL, pw, strlen(pw)), 0);
    AG_ASSERT_EQ(ag_password_verify("$argon2id$garbage", pw, strlen(pw)), 0);
    memset(bad, 'x', sizeof(bad)); /* not NUL-terminated */
    AG_ASSERT_EQ(ag_password_verify(bad, pw, strlen(pw)), 0);
    memcpy(bad, h, sizeof(h));
    bad[strlen(bad) - 2] ^= 1; /* flip a bit of the digest */
    AG_ASSERT_EQ(ag_password_verify(bad, pw, strlen(pw)), 0);
}

static void test_password_needs_rehash_when_params_change(void)
{
    struct ag_pwparams p = FAST;
    char h[AG_PASSWORD_HASH_MAX];

    AG_ASSERT_EQ(ag_password_hash(&p, "secret password", 15, h), 0);
    AG_ASSERT(!ag_password_needs_rehash(&p, h));
    p.min_len = 10; /* policy only: the hash stays */
    AG_ASSERT(!ag_password_needs_rehash(&p, h));
    p.opslimit = 2;
    AG_ASSERT(ag_password_needs_rehash(&p, h));
    p = FAST;
    p.memlimit = 16u << 20;
    AG_ASSERT(ag_password_needs_rehash(&p, h));
    AG_ASSERT(ag_password_needs_rehash(
        &FAST, "$argon2i$v=19$m=8192,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$"
               "9sTbSlTio3Biev89thdrlKKiCaYsjjYVJxGAL3swxpQ"));
    AG_ASSERT(ag_password_needs_rehash(&FAST, "$2b$12$notargon"));
    AG_ASSERT(ag_password_needs_rehash(&FAST, NULL));
}

/* The cost with the production defaults, printed for the record. */
static void test_password_hash_and_verify_with_owasp_defaults(void)
{
    const char *pw = "Tr0ub4dor&3 but longer";
    char h[AG_PASSWORD_HASH_MAX];
    double t0, t1, t2;

    t0 = now_ms();
    AG_ASSERT_EQ(ag_password_hash(&OWASP, pw, strlen(pw), h), 0);
    t1 = now_ms();
    AG_ASSERT_EQ(ag_password_verify(h, pw, strlen(pw)), 1);
    t2 = now_ms();
    AG_ASSERT_EQ(strncmp(h, "$argon2id$v=19$m=19456,t=2,p=1$", 31), 0);
    AG_ASSERT(!ag_password_needs_rehash(&OWASP, h));
    printf("  argon2id t=2 m=19 MiB: hash %.1f ms, verify %.1f ms\n", t1 - t0, t2 - t1);
}

/* ------------------------------------------------------------------------------------------
 * The dummy verify
 * ------------------------------------------------------------------------------------------ */

static void test_password_verify_dummy_costs_about_a_verify(void)
{
    const char *pw = "correct horse battery staple";
    char h[AG_PASSWORD_HASH_MAX];
    double real = 1e9, dummy = 1e9;
    struct ag_password_dummies *dd = ag_password_dummies_new();

    AG_ASSERT_NOT_NULL(dd);
    AG_ASSERT_EQ(ag_password_hash(&FAST, pw, strlen(pw), h), 0);
    AG_ASSERT_EQ(ag_password_verify_dummy(dd, &FAST, pw, strlen(pw)), 0); /* makes the dummy */
    for (int i = 0; i < 3; i++) {
        double t0 = now_ms(), t1, t2;

        AG_ASSERT_EQ(ag_password_verify(h, "wrong password", 14), 0);
        t1 = now_ms();
        AG_ASSERT_EQ(ag_password_verify_dummy(dd, &FAST, "wrong password", 14), 0);
        t2 = now_ms();
        real = t1 - t0 < real ? t1 - t0 : real;
        dummy = t2 - t1 < dummy ? t2 - t1 : dummy;
    }
    printf("  t=1 m=8 MiB: verify %.2f ms, verify_dummy %.2f ms\n", real, dummy);
    AG_ASSERT(dummy > real * 0.25);
    ag_password_dummies_free(dd);
}

struct dummy_arg {
    struct ag_password_dummies *dd;
    const struct ag_pwparams *p;
};

static void *dummy_thread(void *arg)
{
    const struct dummy_arg *a = arg;
    return (void *)(long)ag_password_verify_dummy(a->dd, a->p, "anything at all", 15);
}

/* Several threads asking at once for a parameter set nobody asked for before. */
static void test_password_verify_dummy_is_thread_safe(void)
{
    struct ag_pwparams p = FAST;
    struct dummy_arg a = {ag_password_dummies_new(), &p};
    pthread_t t[4];

    AG_ASSERT_NOT_NULL(a.dd);
    p.memlimit = 9u << 20;
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, dummy_thread, &a);
    for (int i = 0; i < 4; i++) {
        void *rc;

        pthread_join(t[i], &rc);
        AG_ASSERT_EQ((long)rc, 0);
    }
    AG_ASSERT_EQ(ag_password_verify_dummy(a.dd, &p, "", 0), 0);
    ag_password_dummies_free(a.dd);
}

/* More parameter sets than the object remembers: the oldest slot is reused, answers stay 0. */
static void test_password_dummies_reuse_slots_past_their_capacity(void)
{
    struct ag_password_dummies *dd = ag_password_dummies_new();
    struct ag_pwparams p = FAST;

    AG_ASSERT_NOT_NULL(dd);
    for (unsigned i = 0; i < 10; i++) {
        p.memlimit = (8u + i % 10) << 20;
        AG_ASSERT_EQ(ag_password_verify_dummy(dd, &p, "x", 1), 0);
    }
    p.memlimit = 8u << 20;
    AG_ASSERT_EQ(ag_password_verify_dummy(dd, &p, "x", 1), 0);
    ag_password_dummies_free(dd);
    ag_password_dummies_free(NULL);
}

int main(void)
{
    AG_RUN(test_password_length_counts_code_points_not_bytes);
    AG_RUN(test_password_only_whitespace_is_blank);
    AG_RUN(test_password_refuses_invalid_utf8_and_controls);
    AG_RUN(test_password_messages_name_the_limits);
    AG_RUN(test_password_hash_then_verify);
    AG_RUN(test_password_verify_refuses_wrong_password_and_bad_hash);
    AG_RUN(test_password_needs_rehash_when_params_change);
    AG_RUN(test_password_hash_and_verify_with_owasp_defaults);
    AG_RUN(test_password_verify_dummy_costs_about_a_verify);
    AG_RUN(test_password_verify_dummy_is_thread_safe);
    AG_RUN(test_password_dummies_reuse_slots_past_their_capacity);
    return ag_t_done();
}
