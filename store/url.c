/*
 * store/url.c - the one parser of the `redis` setting: "redis://[:PASSWORD@]HOST:PORT[/DB]"
 * or "unix:///PATH" into a struct ag_store_addr, and of a Redis "HOST:PORT" (each entry of
 * `redis-sentinel`'s sentinels, a sentinel's answer). Pure: no I/O, no allocation.
 *
 * Owns:     nothing; fills the caller's struct.
 * Entry:    ag_store_url_parse(), ag_store_hostport_parse().
 * Not here: connecting to the address (store/link.c), the config key itself (policy/
 *           keeps it as a string; gateway/server.c ag_gen_load() runs this parser on it).
 * Spec:     CONTRACT.md section 3 (`redis`); docs/config.md "redis"; RFC 3986 s.3.1.
 */
#include "url.h"

#include <stdbool.h>
#include <string.h>

/*
 * `check` and `serve` run this parser when they load a config (gateway/server.c
 * ag_gen_load()), and ag_store_new() runs it again, so what `check` accepts is what the
 * store connects to, and what it refuses is named there.
 */
#define URL_FORM "expected \"redis://[:PASSWORD@]HOST:PORT[/DB]\""
#define URL_DB_MAX 2147483646L /* SELECT takes 0 .. databases-1, and databases is an int */
#define URL_HOST_MAX 253       /* a DNS name */
#define URL_V6_MAX 45          /* longest IPv6 text */

/* Copies <len> bytes of <s> into <dst> (size <cap>) with a NUL; -1 if they do not fit. */
static int copy_n(char *dst, size_t cap, const char *s, size_t len)
{
    if (len >= cap)
        return -1;
    memcpy(dst, s, len);
    dst[len] = '\0';
    return 0;
}

/* Whether <s> starts with <scheme> ("name://"), letter case ignored (RFC 3986 s.3.1). */
static bool url_scheme_is(const char *s, const char *scheme)
{
    for (; *scheme != '\0'; s++, scheme++) {
        char c = *s >= 'A' && *s <= 'Z' ? (char)(*s - 'A' + 'a') : *s;
        if (c != *scheme)
            return false;
    }
    return true;
}

static bool url_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool url_is_hex(char c)
{
    return url_is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool url_is_name(char c)
{
    return url_is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
           c == '.' || c == '_';
}

/*
 * Parses "HOST:PORT" or "[IPV6]:PORT" (<s,n>; the port is required) into <a>. HOST is a
 * name or IPv4 address (letters, digits, '-', '.', '_'), or in brackets hex digits, ':'
 * and '.'. 0, or -1 with <why>: <form> for a malformed one, <v6_hint> for IPv6 without
 * brackets, the port's range otherwise.
 */
static int url_host_port(const char *s, size_t n, struct ag_store_addr *a, const char **why,
                         const char *form, const char *v6_hint)
{
    const char *colon = NULL, *end = s + n;
    long port = 0;

    *why = form;
    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        size_t hl;

        if (close == NULL || close == s + 1 || (size_t)(close - s) - 1 > URL_V6_MAX)
            return -1;
        hl = (size_t)(close - s) - 1;
        for (size_t i = 1; i <= hl; i++)
            if (!url_is_hex(s[i]) && s[i] != ':' && s[i] != '.')
                return -1;
        if (memchr(s + 1, ':', hl) == NULL || close + 1 == end || close[1] != ':')
            return -1;
        copy_n(a->host, sizeof(a->host), s + 1, hl);
        colon = close + 1;
    } else {
        size_t hl;

        for (const char *q = s; q < end; q++)
            if (*q == ':')
                colon = q;
        hl = colon != NULL ? (size_t)(colon - s) : n;
        if (memchr(s, ':', hl) != NULL) {
            *why = v6_hint;
            return -1;
        }
        if (hl == 0 || hl > URL_HOST_MAX || colon == NULL)
            return -1;
        for (size_t i = 0; i < hl; i++)
            if (!url_is_name(s[i]))
                return -1;
        copy_n(a->host, sizeof(a->host), s, hl);
    }
    if (colon + 1 == end)
        return -1;
    for (const char *q = colon + 1; q < end; q++) {
        if (!url_is_digit(*q))
            return -1;
        if (port <= 65535)
            port = port * 10 + (*q - '0');
    }
    if (port < 1 || port > 65535) {
        *why = "port must be 1-65535";
        return -1;
    }
    a->port = (int)port;
    return 0;
}

/* Parses the database number after '/' (<s>, NUL-terminated; empty means 0) into <a>. */
static int url_db(const char *s, struct ag_store_addr *a, const char **why)
{
    size_t n = strlen(s);
    long v = 0;

    *why = "the database after '/' must be a number from 0 to 2147483646";
    if (n > 10)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!url_is_digit(s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v > URL_DB_MAX)
        return -1;
    a->db = (int)v;
    return 0;
}

int ag_store_url_parse(const char *url, struct ag_store_addr *a, const char **why)
{
    const char *p, *at = NULL, *end;

    memset(a, 0, sizeof(*a));
    for (p = url; *p != '\0'; p++)
        if (*p < 0x20 || *p > 0x7e) {
            *why = "must be printable ASCII";
            return -1;
        }
    if (url_scheme_is(url, "unix://")) {
        p = url + 7;
        if (p[0] != '/' || p[1] == '\0') {
            *why = "the socket path must be absolute, as in \"unix:///PATH\"";
            return -1;
        }
        if (copy_n(a->path, sizeof(a->path), p, strlen(p)) < 0) {
            *why = "the socket path is too long (at most 107 bytes)";
            return -1;
        }
        return 0;
    }
    if (url_scheme_is(url, "rediss://")) {
        *why = "TLS to Redis is not supported yet";
        return -1;
    }
    if (!url_scheme_is(url, "redis://")) {
        *why = URL_FORM " or \"unix:///PATH\"";
        return -1;
    }
    p = url + 8;
    /* The password is taken as written up to the last '@' (the rest holds none), so it
     * may contain '@', ':' or '/'; it is not percent-decoded. */
    for (const char *q = p; *q != '\0'; q++)
        if (*q == '@')
            at = q;
    if (at != NULL) {
        if (p[0] != ':') {
            *why = "a user name is not supported; use \"redis://:PASSWORD@HOST:PORT\"";
            return -1;
        }
        if (at == p + 1) {
            *why = "the password after ':' must not be empty";
            return -1;
        }
        if (copy_n(a->password, sizeof(a->password), p + 1, (size_t)(at - p - 1)) < 0) {
            *why = "the password is too long (at most 255 bytes)";
            return -1;
        }
        p = at + 1;
    }
    end = strchr(p, '/');
    if (end == NULL)
        end = p + strlen(p);
    if (url_host_port(p, (size_t)(end - p), a, why, URL_FORM,
                      "IPv6 addresses need brackets, as in \"redis://[::1]:6379/0\"") < 0 ||
        (*end == '/' && url_db(end + 1, a, why) < 0)) {
        memset(a, 0, sizeof(*a)); /* no password left behind */
        return -1;
    }
    return 0;
}

int ag_store_hostport_parse(const char *s, struct ag_store_addr *a, const char **why)
{
    memset(a, 0, sizeof(*a));
    for (const char *p = s; *p != '\0'; p++)
        if (*p < 0x20 || *p > 0x7e) {
            *why = "must be printable ASCII";
            return -1;
        }
    if (url_host_port(s, strlen(s), a, why, "expected \"HOST:PORT\" or \"[IPV6]:PORT\"",
                      "IPv6 addresses need brackets, as in \"[::1]:26379\"") < 0) {
        memset(a, 0, sizeof(*a));
        return -1;
    }
    return 0;
}
