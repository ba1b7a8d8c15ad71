/*
 * tests/unit/gateway/log_test.c - mirrors gateway/base/log.c where no thread is needed:
 * the error-line formats (text and log-format "json"), JSON escaping of the message, a
 * long message cut and still valid JSON, and audit events merged into the line's object.
 */
#include <jansson.h>

#include <event2/buffer.h>

#include "log.h"
#include "t.h"

/* The lines appended to <b> so far, NUL-terminated (caller frees); <b> is emptied. */
static char *take(struct evbuffer *b)
{
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);

    evbuffer_remove(b, s, n);
    s[n] = '\0';
    return s;
}

/* Parses the one line <s> (ending in "\n") as a JSON object; NULL if it is not one. */
static json_t *parse_line(const char *s)
{
    size_t n = strlen(s);
    json_error_t e;

    if (n == 0 || s[n - 1] != '\n' || memchr(s, '\n', n - 1) != NULL)
        return NULL;
    return json_loadb(s, n - 1, JSON_REJECT_DUPLICATES, &e);
}

static void test_text_lines_by_default(void)
{
    struct evbuffer *b = evbuffer_new();
    char *s;

    ag_log_set_json(false);
    ag_log_to(b, AG_LOG_WARN, "worker %d: %s", 3, "store not ready");
    s = take(b);
    AG_ASSERT(strlen(s) > 25 && s[4] == '-' && s[10] == 'T' && s[23] == 'Z' && s[24] == ' ');
    AG_ASSERT_STR(s + 25, "warn worker 3: store not ready\n");
    free(s);
    ag_log_event_to(b, AG_LOG_INFO, "audit", "{\"event\":\"login_ok\"}", 20);
    s = take(b);
    AG_ASSERT_STR(s + 25, "info audit {\"event\":\"login_ok\"}\n");
    free(s);
    evbuffer_free(b);
}

static void test_json_lines_escape_the_message(void)
{
    struct evbuffer *b = evbuffer_new();
    json_t *o;
    char *s;

    ag_log_set_json(true);
    ag_log_to(b, AG_LOG_ERROR, "request failed: %s", "path=/a\"b\\c\x01\xff");
    s = take(b);
    o = parse_line(s);
    AG_ASSERT(o != NULL);
    if (o != NULL) {
        AG_ASSERT_EQ(json_object_size(o), 3);
        AG_ASSERT_STR(json_string_value(json_object_get(o, "level")), "error");
        AG_ASSERT_STR(json_string_value(json_object_get(o, "msg")),
                      "request failed: path=/a\"b\\c\x01\xc3\xbf"); /* \u00ff, as UTF-8 */
        AG_ASSERT(strlen(json_string_value(json_object_get(o, "time"))) == 24);
        json_decref(o);
    }
    free(s);
    ag_log_set_json(false);
    evbuffer_free(b);
}

static void test_json_long_message_is_cut_and_stays_valid(void)
{
    struct evbuffer *b = evbuffer_new();
    char msg[1500];
    json_t *o;
    char *s;

    /* Escapes of 6 bytes straddle the limit at every offset as the plain run grows. */
    ag_log_set_json(true);
    for (size_t plain = 0; plain < 8; plain++) {
        memset(msg, 'a', plain);
        for (size_t i = plain; i < sizeof(msg) - 1; i++)
            msg[i] = i % 2 ? '\x02' : '"';
        msg[sizeof(msg) - 1] = '\0';
        ag_log_to(b, AG_LOG_INFO, "%s", msg);
        s = take(b);
        AG_ASSERT(strlen(s) <= 1024);
        o = parse_line(s);
        AG_ASSERT(o != NULL);
        json_decref(o);
        free(s);
    }
    ag_log_set_json(false);
    evbuffer_free(b);
}

static void test_json_audit_fields_join_the_line(void)
{
    static const char obj[] = "{\"event\":\"login_ok\",\"user_id\":\"u1\"}";
    struct evbuffer *b = evbuffer_new();
    json_t *o;
    char *s;

    ag_log_set_json(true);
    ag_log_event_to(b, AG_LOG_INFO, "audit", obj, sizeof(obj) - 1);
    s = take(b);
    o = parse_line(s);
    AG_ASSERT(o != NULL);
    if (o != NULL) {
        AG_ASSERT_EQ(json_object_size(o), 5);
        AG_ASSERT_STR(json_string_value(json_object_get(o, "msg")), "audit");
        AG_ASSERT_STR(json_string_value(json_object_get(o, "level")), "info");
        AG_ASSERT_STR(json_string_value(json_object_get(o, "event")), "login_ok");
        AG_ASSERT_STR(json_string_value(json_object_get(o, "user_id")), "u1");
        json_decref(o);
    }
    free(s);
    ag_log_event_to(b, AG_LOG_INFO, "audit", "{}", 2); /* no fields: still one object */
    s = take(b);
    o = parse_line(s);
    AG_ASSERT(o != NULL && json_object_size(o) == 3);
    json_decref(o);
    free(s);
    ag_log_set_json(false);
    evbuffer_free(b);
}

int main(void)
{
    AG_RUN(test_text_lines_by_default);
    AG_RUN(test_json_lines_escape_the_message);
    AG_RUN(test_json_long_message_is_cut_and_stays_valid);
    AG_RUN(test_json_audit_fields_join_the_line);
    return ag_t_done();
}
