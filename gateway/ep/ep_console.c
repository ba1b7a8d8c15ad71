/*
 * gateway/ep/ep_console.c - the admin console: GET <auth-prefix>/admin/ serves its page
 * and /admin/assets/<hashed name> its script, style sheet and icon, all compiled into the
 * binary; /admin redirects to /admin/ so that the page's relative URLs resolve. Every
 * answer carries the console's security headers (a CSP without 'unsafe-inline').
 *
 * Owns:     nothing (the files are static: gateway/ep/console_files.h).
 * Entry:    ag_ep_console_redirect(), ag_ep_console_page(), ag_ep_console_asset()
 *           (rows of gateway/ep/routes.c, AG_EP_OPEN: the page is public, the data it
 *           shows comes from the admin API, which is not).
 * Not here: the files themselves (gateway/console/, embedded by embed.py), the admin API
 *           (gateway/ep/ep_admin.c, ep_audit.c).
 * Spec:     CONTRACT.md section 13; docs/admin.md "Console".
 */
#include <string.h>

#include "config.h"
#include "console_files.h"
#include "ep.h"
#include "gen.h"
#include "req.h"

/*
 * The headers of every console answer. The CSP allows this origin's files and nothing
 * else: no inline script or style, no eval, no other origin; Trusted Types forbid the
 * HTML-parsing sinks (innerHTML and friends) outright, so text from the API can reach
 * the page only as text. The page may not be framed (clickjacking on the delete button),
 * and no Referer leaves it (user ids are in its URLs).
 */
#define CONSOLE_HEADERS                                                                        \
    "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; "      \
    "img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "        \
    "base-uri 'none'; require-trusted-types-for 'script'; trusted-types 'none'\r\n"          \
    "X-Frame-Options: DENY\r\n"                                                                \
    "X-Content-Type-Options: nosniff\r\n"                                                      \
    "Referrer-Policy: no-referrer\r\n"                                                         \
    "Cross-Origin-Opener-Policy: same-origin\r\n"                                              \
    "Cross-Origin-Resource-Policy: same-origin\r\n"

/* Hashed names change with their content, so a browser may keep an asset for good. */
#define CONSOLE_CACHE_ASSET "public, max-age=31536000, immutable"
/* The page names the current hashes: revalidated on every visit. */
#define CONSOLE_CACHE_PAGE "no-cache"

static void console_reply(struct ag_ep *ep, const struct ag_console_file *f, const char *cache)
{
    ag_ep_reply_body(ep, 200, f->ctype, cache, (const char *)f->body, f->len, CONSOLE_HEADERS);
}

/*
 * GET <auth-prefix>/admin: 308 to <auth-prefix>/admin/. The page names its files and the
 * API by relative URL ("assets/app.<hash>.js", "users", "../login"), which resolve against
 * the directory only with the slash.
 */
void ag_ep_console_redirect(struct ag_ep *ep)
{
    const char *extra = ag_ep_printf(ep, "Location: %s/admin/\r\n" CONSOLE_HEADERS,
                                     ep->req->gen->cfg->auth_prefix);

    if (extra == NULL) {
        ag_ep_oom(ep);
        return;
    }
    ag_ep_reply_body(ep, 308, "text/plain; charset=utf-8", CONSOLE_CACHE_PAGE, "", 0, extra);
}

/* GET <auth-prefix>/admin/: the page. */
void ag_ep_console_page(struct ag_ep *ep)
{
    console_reply(ep, &ag_console_page, CONSOLE_CACHE_PAGE);
}

/* GET <auth-prefix>/admin/assets/<name>: a file by its hashed name, else 404. */
void ag_ep_console_asset(struct ag_ep *ep)
{
    struct ag_str name = ep->params[0];

    for (size_t i = 0; i < ag_console_nassets; i++) {
        const struct ag_console_file *f = &ag_console_assets[i];
        if (name.len == strlen(f->name) && memcmp(name.p, f->name, name.len) == 0) {
            console_reply(ep, f, CONSOLE_CACHE_ASSET);
            return;
        }
    }
    ag_ep_reply_detail(ep, 404, "Not Found", CONSOLE_HEADERS);
}
