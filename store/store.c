/*
 * store/store.c - the Redis address: parsing of the `redis` setting.
 *
 * Owns:     nothing.
 * Entry:    ag_store_url_parse().
 * Not here: config files (policy/config.c), HTTP (gateway/).
 */
#include "store.h"

#include <stdlib.h>
#include <string.h>

/* Copies <len> bytes of <s> into <dst> (size <cap>) with a NUL; -1 if they do not fit. */
static int copy_n(char *dst, size_t cap, const char *s, size_t len)
{
    if (len >= cap)
        return -1;
    memcpy(dst, s, len);
    dst[len] = '\0';
    return 0;
}

static int parse_int(const char *s, size_t len, long max, int *out)
{
    long v = 0;

    if (len == 0 || len > 6)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v > max)
        return -1;
    *out = (int)v;
    return 0;
}

int ag_store_url_parse(const char *url, struct ag_store_addr *a, const char **why)
{
    const char *p, *at, *host, *end, *colon;

    memset(a, 0, sizeof(*a));
    if (strncmp(url, "unix://", 7) == 0) {
        p = url + 7;
        if (*p != '/' || copy_n(a->path, sizeof(a->path), p, strlen(p)) < 0) {
            *why = "expected unix:///ABSOLUTE/PATH (at most 107 bytes)";
            return -1;
        }
        return 0;
    }
    if (strncmp(url, "redis://", 8) != 0) {
        *why = "expected redis://[:PASSWORD@]HOST:PORT[/DB] or unix:///PATH";
        return -1;
    }
    p = url + 8;
    at = strrchr(p, '@');
    if (at != NULL) {
        const char *pw = p;
        if (*pw == ':')
            pw++;
        if (copy_n(a->password, sizeof(a->password), pw, (size_t)(at - pw)) < 0 ||
            at == pw) {
            *why = "bad password part (expected :PASSWORD@)";
            return -1;
        }
        p = at + 1;
    }
    end = strchr(p, '/');
    if (end == NULL)
        end = p + strlen(p);
    host = p;
    if (*host == '[') {
        const char *rb = memchr(host, ']', (size_t)(end - host));
        if (rb == NULL || copy_n(a->host, sizeof(a->host), host + 1, (size_t)(rb - host - 1)) < 0) {
            *why = "bad IPv6 host (expected [ADDRESS]:PORT)";
            return -1;
        }
        colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
    } else {
        colon = memchr(host, ':', (size_t)(end - host));
        if (copy_n(a->host, sizeof(a->host), host,
                   (size_t)((colon ? colon : end) - host)) < 0) {
            *why = "host too long";
            return -1;
        }
    }
    if (a->host[0] == '\0') {
        *why = "missing host";
        return -1;
    }
    a->port = 6379;
    if (colon != NULL && parse_int(colon + 1, (size_t)(end - colon - 1), 65535, &a->port) < 0) {
        *why = "bad port (expected 1-65535)";
        return -1;
    }
    if (a->port == 0) {
        *why = "bad port (expected 1-65535)";
        return -1;
    }
    if (*end == '/' && end[1] != '\0' && parse_int(end + 1, strlen(end + 1), 1000000, &a->db) < 0) {
        *why = "bad database number";
        return -1;
    }
    return 0;
}
