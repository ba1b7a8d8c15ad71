/*
 * policy/redact.c - the request target as logs may show it: credential-named query
 * parameters and URI userinfo redacted.
 *
 * Owns:     nothing; pure functions over borrowed bytes.
 * Entry:    ag_redact_target(), ag_redact_is_credential_name().
 * Not here: writing or escaping log lines (gateway/core/conn.c, gateway/base/log.c).
 * Spec:     CONTRACT.md section 8; RFC 3986 sections 3.2.1 and 3.4; RFC 6749 section
 *           4.1.2 and RFC 6819 section 4.4.1.1 (codes and tokens in logs);
 *           docs/operations.md#logs.
 */
#include "redact.h"

#include <string.h>

/*
 * The list, matched on the normalised name (docs/operations.md#logs). Substrings
 * catch the many spellings (access_token, refresh_token, id_token, master_token,
 * x-amz-security-token, client_secret, new_password, x-api-key, client_assertion);
 * whole words cover the short names that would match too much as substrings ("key"
 * is in "monkey", "code" in "zipcode"). Logs lose a little detail when a harmless
 * name matches; a credential that slips through is lost for good.
 */
static const char *const redact_contains[] = {
    "token", "secret", "passw", "apikey", "api_key", "credential", "signature", "assertion",
    "session",
};
static const char *const redact_words[] = {
    "key", "code", "pwd", "pass", "sig", "auth", "authorization", "sid", "jwt", "otp", "ticket",
};
static const char redact_suffix[] = "_key"; /* access_key, private_key, x_api_key */

bool ag_redact_is_credential_name(struct ag_str name)
{
    char n[AG_REDACT_NAME_MAX + 1];
    size_t len = 0, i;

    for (i = 0; i < name.len; i++) {
        unsigned char ch = (unsigned char)name.p[i];
        if (ch == '%' && i + 2 < name.len && ag_hex_digit((unsigned char)name.p[i + 1]) >= 0 &&
            ag_hex_digit((unsigned char)name.p[i + 2]) >= 0) {
            ch = (unsigned char)(ag_hex_digit((unsigned char)name.p[i + 1]) * 16 +
                                 ag_hex_digit((unsigned char)name.p[i + 2]));
            i += 2;
        } else if (ch == '+') {
            ch = ' ';
        }
        if (len == AG_REDACT_NAME_MAX)
            return true; /* too long to judge: fail closed */
        if (ch == '-' || ch == ' ')
            ch = '_';
        ch = ag_ascii_lower((unsigned char)ch);
        n[len++] = (char)ch;
    }
    n[len] = '\0';
    if (memchr(n, '\0', len) != NULL)
        return true; /* "%00" in a name: nothing honest sends it */
    for (i = 0; i < sizeof(redact_words) / sizeof(redact_words[0]); i++)
        if (strcmp(n, redact_words[i]) == 0)
            return true;
    for (i = 0; i < sizeof(redact_contains) / sizeof(redact_contains[0]); i++)
        if (strstr(n, redact_contains[i]) != NULL)
            return true;
    return len >= sizeof(redact_suffix) - 1 &&
           memcmp(n + len - (sizeof(redact_suffix) - 1), redact_suffix,
                  sizeof(redact_suffix) - 1) == 0;
}

/* Output with a capacity: bytes past it are dropped, so a cut output is a prefix. */
struct redact_out {
    char *p;
    size_t len, cap;
};

static void out_put(struct redact_out *o, const char *s, size_t n)
{
    if (n > o->cap - o->len)
        n = o->cap - o->len;
    if (n == 0)
        return;
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

#define out_mark(o) out_put((o), AG_REDACT_MARK, sizeof(AG_REDACT_MARK) - 1)

/*
 * Copies the start of <t> up to the query or fragment, with the userinfo of an
 * absolute-form target ("http://user:pass@host/...") redacted. Returns where the
 * part after it (its '?' or '#', or the end) starts.
 */
static size_t redact_head(struct ag_str t, struct redact_out *o)
{
    size_t end = 0, auth, at = 0, i;

    while (end < t.len && t.p[end] != '?' && t.p[end] != '#')
        end++;
    /* An authority follows "scheme://", the first '/' of the target. */
    for (i = 0; i < end && t.p[i] != '/'; i++)
        ;
    if (i == 0 || i + 1 >= end || t.p[i - 1] != ':' || t.p[i + 1] != '/') {
        out_put(o, t.p, end);
        return end;
    }
    auth = i + 2;
    for (i = auth; i < end && t.p[i] != '/'; i++)
        if (t.p[i] == '@')
            at = i; /* the last '@': userinfo cannot hold one unescaped, a host never does */
    if (at == 0) {
        out_put(o, t.p, end);
        return end;
    }
    out_put(o, t.p, auth);
    out_mark(o);
    out_put(o, t.p + at, end - at);
    return end;
}

size_t ag_redact_target(struct ag_str target, char *out, size_t cap)
{
    struct redact_out o = {out, 0, cap};
    size_t i = redact_head(target, &o);

    /* Each parameter: name, then "=value" when there is a '='. */
    while (i < target.len) {
        size_t start, eq, end;

        out_put(&o, target.p + i, 1); /* the '?', '#', '&' or ';' before it */
        start = ++i;
        while (i < target.len && target.p[i] != '&' && target.p[i] != ';' && target.p[i] != '#')
            i++;
        end = i;
        for (eq = start; eq < end && target.p[eq] != '='; eq++)
            ;
        if (eq + 1 < end &&
            ag_redact_is_credential_name((struct ag_str){target.p + start, eq - start})) {
            out_put(&o, target.p + start, eq + 1 - start);
            out_mark(&o);
        } else {
            out_put(&o, target.p + start, end - start);
        }
    }
    return o.len;
}
