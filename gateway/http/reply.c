/*
 * gateway/http/reply.c - responses made by the gateway itself: JSON, or (the admin
 * console's files) a body of a given type.
 *
 * Owns:     the table of status texts and error codes.
 * Entry:    ag_reply_error(), ag_reply_json(), ag_reply_body().
 * Not here: when to close (the caller passes AG_REPLY_F_CLOSE and acts on it).
 */
#include "reply.h"

#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "base.h"

static const struct {
    int status;
    const char *text;
    const char *code; /* machine-readable, stable: docs/errors.md */
} statuses[] = {
    {200, "OK", "ok"},
    {201, "Created", "created"},
    {202, "Accepted", "accepted"},
    {204, "No Content", "no_content"},
    {308, "Permanent Redirect", "redirect"},
    {400, "Bad Request", "bad_request"},
    {401, "Unauthorized", "unauthorized"},
    {403, "Forbidden", "forbidden"},
    {404, "Not Found", "not_found"},
    {405, "Method Not Allowed", "method_not_allowed"},
    {408, "Request Timeout", "request_timeout"},
    {409, "Conflict", "conflict"},
    {413, "Content Too Large", "body_too_large"},
    {415, "Unsupported Media Type", "unsupported_media_type"},
    {417, "Expectation Failed", "expectation_failed"},
    {422, "Unprocessable Content", "invalid_input"},
    {429, "Too Many Requests", "rate_limited"},
    {431, "Request Header Fields Too Large", "header_too_large"},
    {500, "Internal Server Error", "internal_error"},
    {501, "Not Implemented", "not_implemented"},
    {502, "Bad Gateway", "bad_gateway"},
    {503, "Service Unavailable", "unavailable"},
    {504, "Gateway Timeout", "gateway_timeout"},
};

static int status_index(int status)
{
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
        if (statuses[i].status == status)
            return (int)i;
    return -1;
}

const char *ag_reply_status_text(int status)
{
    int i = status_index(status);

    return i < 0 ? "Unknown" : statuses[i].text;
}

void ag_reply_body(struct evbuffer *out, int status, const char *ctype, const char *cache,
                   const char *body, size_t len, const char *extra, const char *tail,
                   unsigned flags)
{
    const char *conn = (flags & AG_REPLY_F_CLOSE)       ? "Connection: close\r\n"
                       : (flags & AG_REPLY_F_KEEPALIVE) ? "Connection: keep-alive\r\n"
                                                        : "";

    if (status == 204) { /* no content, so no Content-Length either (RFC 9110 8.6) */
        evbuffer_add_printf(out, "HTTP/1.1 204 No Content\r\nCache-Control: %s\r\n%s%s%s\r\n",
                            cache, extra ? extra : "", conn, tail ? tail : "");
        return;
    }
    /* The head put together on the stack, not printed: every endpoint answer passes here. */
    char code[4] = {(char)('0' + status / 100 % 10), (char)('0' + status / 10 % 10),
                    (char)('0' + status % 10), ' '};
    char clen[AG_I64_TEXT_MAX], *cl = ag_i64_text(clen, (int64_t)len);
    const struct ag_str part[] = {
        AG_LIT("HTTP/1.1 "), {code, sizeof(code)}, ag_str_c(ag_reply_status_text(status)),
        AG_LIT("\r\nContent-Type: "), ag_str_c(ctype), AG_LIT("\r\nContent-Length: "),
        {cl, (size_t)(clen + sizeof(clen) - cl)}, AG_LIT("\r\nCache-Control: "),
        ag_str_c(cache), AG_LIT("\r\n"), ag_str_c(extra ? extra : ""), ag_str_c(conn),
        ag_str_c(tail ? tail : ""), AG_LIT("\r\n")};
    char head[1024], *w = head;

    for (size_t i = 0; i < sizeof(part) / sizeof(part[0]); i++) {
        if (part[i].len > sizeof(head) - (size_t)(w - head)) { /* a long extra: flush first */
            evbuffer_add(out, head, (size_t)(w - head));
            w = head;
            if (part[i].len > sizeof(head)) {
                evbuffer_add(out, part[i].p, part[i].len);
                continue;
            }
        }
        memcpy(w, part[i].p, part[i].len);
        w += part[i].len;
    }
    evbuffer_add(out, head, (size_t)(w - head));
    if (!(flags & AG_REPLY_F_NO_BODY))
        evbuffer_add(out, body, len);
}

void ag_reply_json(struct evbuffer *out, int status, const char *body, size_t len,
                   const char *extra, const char *tail, unsigned flags)
{
    ag_reply_body(out, status, "application/json", "no-store", body, len, extra, tail, flags);
}

void ag_reply_error(struct evbuffer *out, int status, const char *detail, const char *extra,
                    const char *tail, unsigned flags)
{
    char body[256];
    int i = status_index(status);
    int n;

    /* <detail> is always one of our fixed phrases: it holds no '"' or '\\' to escape. */
    n = snprintf(body, sizeof(body), "{\"detail\":\"%s\",\"error\":\"%s\"}",
                 detail ? detail : ag_reply_status_text(status),
                 i < 0 ? "error" : statuses[i].code);
    if (n < 0 || (size_t)n >= sizeof(body))
        n = snprintf(body, sizeof(body), "{\"detail\":\"%s\"}", ag_reply_status_text(status));
    ag_reply_json(out, status, body, (size_t)n, extra, tail, flags);
}
