/*
 * gateway/http/reply.h - every response the gateway makes itself: JSON errors with
 * fixed bodies, JSON answers of the gateway's own endpoints, and bodies of other types
 * (the admin console's files).
 *
 * Owns:     nothing; writes into the caller's output buffer.
 * Entry:    ag_reply_error(), ag_reply_json(), ag_reply_body(), ag_reply_status_text().
 * Not here: deciding the status and the lines (gateway/core/req.c), closing the connection.
 * Spec:     CONTRACT.md section 4 ("Every gateway-made error body is JSON"); docs/errors.md.
 */
#ifndef AG_GATEWAY_REPLY_H
#define AG_GATEWAY_REPLY_H

#include <stdbool.h>
#include <stddef.h>

struct evbuffer;

#define AG_REPLY_F_CLOSE 0x0001      /* add "Connection: close" */
#define AG_REPLY_F_KEEPALIVE 0x0002  /* add "Connection: keep-alive" (HTTP/1.0 clients) */
#define AG_REPLY_F_NO_BODY 0x0004    /* HEAD request: headers only */

/* The bodies of /health and /ready, under auth-prefix and on the metrics port alike
 * (CONTRACT.md sections 7 and 11): written once, so the two can never differ. */
#define AG_REPLY_HEALTH_OK "{\"status\":\"ok\"}"
#define AG_REPLY_READY "{\"status\":\"ready\"}"
#define AG_REPLY_NOT_READY "{\"status\":\"not ready\"}"

/** The reason phrase for <status> ("Bad Request"), "Unknown" for others. */
const char *ag_reply_status_text(int status);

/**
 * Writes a complete error response to <out>: status line, Content-Type
 * application/json, Content-Length, Cache-Control no-store, then
 * {"detail":"<detail>","error":"<code>"}. <detail> must be a fixed phrase of
 * ours (never client input); NULL means the status text. <extra> and <tail> are
 * blocks of complete header lines ("Name: v\r\n...") or NULL: <extra> goes before
 * the Connection line, <tail> (the request's CORS lines) after it.
 */
void ag_reply_error(struct evbuffer *out, int status, const char *detail, const char *extra,
                    const char *tail, unsigned flags);

/** Writes a response with the JSON text <body,len> and optional <extra>, <tail> header lines. */
void ag_reply_json(struct evbuffer *out, int status, const char *body, size_t len,
                   const char *extra, const char *tail, unsigned flags);

/**
 * Writes a response with <body,len> of media type <ctype> and "Cache-Control: <cache>",
 * <extra> and <tail> as for ag_reply_error(). A 204 has neither type, length nor body.
 */
void ag_reply_body(struct evbuffer *out, int status, const char *ctype, const char *cache,
                   const char *body, size_t len, const char *extra, const char *tail,
                   unsigned flags);

#endif
