/*
 * gateway/ep/console_files.h - the admin console's files, compiled into the binary: the
 * page and its assets, each with its media type. The table is generated at build time
 * from gateway/console/ by gateway/console/embed.py (meson's custom_target
 * 'console_files'), which gives each asset a content-hashed name (app.3f9c2a1b.js) and
 * writes those names into the page.
 *
 * Owns:     nothing; the bytes are static.
 * Entry:    ag_console_page, ag_console_assets[], ag_console_nassets.
 * Not here: serving them (gateway/ep/ep_console.c), what they contain (gateway/console/).
 * Spec:     CONTRACT.md section 13; docs/admin.md "Console".
 */
#ifndef AG_GATEWAY_CONSOLE_FILES_H
#define AG_GATEWAY_CONSOLE_FILES_H

#include <stddef.h>

struct ag_console_file {
    const char *name;          /* "index.html", or an asset's hashed name ("app.3f9c2a1b.js") */
    const char *ctype;         /* its Content-Type */
    const unsigned char *body; /* its bytes (static) */
    size_t len;
};

/** The page, served at <auth-prefix>/admin/; it names the assets by relative URL. */
extern const struct ag_console_file ag_console_page;

/** The assets, served at <auth-prefix>/admin/assets/<name>, and their count. */
extern const struct ag_console_file ag_console_assets[];
extern const size_t ag_console_nassets;

#endif
