/*
 * gateway/base/log.h - the error log (stderr, one line per event) and the access log
 * (one JSON line per request, written by a logger thread so no worker blocks on
 * file I/O).
 *
 * Owns:     the logger thread, its output file, the per-worker line buffers.
 * Entry:    ag_log(), ag_alog_open(), ag_alog_buf_new(), ag_alog_flush(), ag_alog_close().
 * Not here: what goes into an access line (gateway/core/req.c builds it).
 */
#ifndef AG_GATEWAY_LOG_H
#define AG_GATEWAY_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct evbuffer;

enum ag_log_level { AG_LOG_DEBUG = 0, AG_LOG_INFO = 1, AG_LOG_WARN = 2, AG_LOG_ERROR = 3 };

/**
 * Writes "TIME LEVEL message\n" to stderr in one write(2), or with log-format "json"
 * {"time":"TIME","level":"LEVEL","msg":"message"}; thread safe.
 */
void ag_log(enum ag_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/**
 * Appends the same line as ag_log() to <buf>: a worker's batch of frequent lines (audit
 * events), handed to the logger thread by ag_log_flush() instead of a write(2) each.
 */
void ag_log_to(struct evbuffer *buf, enum ag_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/**
 * Appends the event <what> (a fixed word of ours, e.g. "audit") whose fields are the JSON
 * object <obj,len> ("{...}", escaped by the caller) to <buf>: "TIME LEVEL what {...}" in
 * text, or the fields merged into the line's own object with log-format "json".
 */
void ag_log_event_to(struct evbuffer *buf, enum ag_log_level level, const char *what,
                     const char *obj, size_t len);

/** log-format: true makes every error and audit line one JSON object (any thread reads it). */
void ag_log_set_json(bool on);

/** Hands the lines in <buf> to the logger thread, which writes them to stderr (<buf> left empty). */
void ag_log_flush(struct evbuffer *buf);

/** Starts the logger thread writing to <dest> ("stderr", "off" or a path); 0 or AG_EIO. */
int ag_alog_open(const char *dest);

/** Points the logger at <dest> (re-opening a path, e.g. after logrotate); 0 or AG_EIO. */
int ag_alog_reopen(const char *dest);

/** Hands the complete lines in <buf> to the logger thread (moves them; <buf> is left empty). */
void ag_alog_flush(struct evbuffer *buf);

/** Flushes what is queued, stops the thread, closes the file. */
void ag_alog_close(void);

/** Appends <s,len> to <buf> as the inside of a JSON string (quotes, controls, non-ASCII escaped). */
void ag_json_escape(struct evbuffer *buf, const char *s, size_t len);

/**
 * The same for text known to be UTF-8 (claims we mint, checked query parameters, store
 * records): bytes from 0x80 up pass through, so "é" stays "é" and not two code points.
 */
void ag_json_escape_utf8(struct evbuffer *buf, const char *s, size_t len);

#endif
