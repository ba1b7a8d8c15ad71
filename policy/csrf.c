/*
 * policy/csrf.c - the CSRF verdict: does the request come from this site, one of the
 * configured CORS origins, another site, or no browser we can tell?
 *
 * Owns:     nothing.
 * Entry:    ag_csrf_note(), ag_csrf_verdict().
 * Not here: collecting the fields from a head and acting on the verdict
 *           (gateway/ep/endpoints.c, gateway/core/conn.c).
 * Spec:     docs/users.md "CSRF".
 */
#include "csrf.h"

#include <string.h>
#include <strings.h>

void ag_csrf_note(struct ag_csrf_req *r, struct ag_str name, struct ag_str value)
{
    if (ag_str_ieq(name, "Origin"))
        r->origin = value;
    else if (ag_str_ieq(name, "Referer"))
        r->referer = value;
    else if (ag_str_ieq(name, "Host"))
        r->host = value;
    else if (ag_str_ieq(name, "Sec-Fetch-Site"))
        r->site = value;
}

/* "scheme://host[:port]" of an Origin or Referer value: the host[:port] part. */
static struct ag_str csrf_origin_host(struct ag_str v)
{
    const char *p = memchr(v.p, ':', v.len);
    struct ag_str h;

    if (p == NULL || (size_t)(v.p + v.len - p) < 3 || p[1] != '/' || p[2] != '/')
        return (struct ag_str){NULL, 0};
    h.p = p + 3;
    h.len = 0;
    while (h.p + h.len < v.p + v.len && h.p[h.len] != '/')
        h.len++;
    return h;
}

/*
 * OK when the request's Origin (else, when it has none or "null", its Referer's origin)
 * names this host (the Host field) or is one of the configured CORS origins; FOREIGN
 * when an Origin is there and does not, or, without one, when the browser says the
 * request comes from another site (Sec-Fetch-Site: cross-site: a link or an <img> sends
 * no Origin); NO_ORIGIN otherwise (not a browser, or an older one).
 */
enum ag_csrf ag_csrf_verdict(const struct ag_config *cfg, const struct ag_csrf_req *r)
{
    struct ag_str origin = r->origin, host = r->host, site = r->site;
    struct ag_str o, oh;

    o = origin.p != NULL && !ag_str_ieq(origin, "null") ? origin : r->referer;
    if (o.p == NULL)
        return origin.p != NULL || ag_str_ieq(site, "cross-site") ? AG_CSRF_FOREIGN
                                                                  : AG_CSRF_NO_ORIGIN;
    oh = csrf_origin_host(o);
    if (oh.len > 0 && oh.len == host.len && strncasecmp(oh.p, host.p, host.len) == 0)
        return AG_CSRF_OK;
    if (origin.p == NULL) /* a foreign Referer alone: a browser's only if it says so */
        return ag_str_ieq(site, "cross-site") ? AG_CSRF_FOREIGN : AG_CSRF_NO_ORIGIN;
    for (size_t i = 0; i < cfg->cors.n_origins; i++)
        if (origin.len == strlen(cfg->cors.origins[i]) &&
            strncasecmp(origin.p, cfg->cors.origins[i], origin.len) == 0)
            return AG_CSRF_OK;
    return AG_CSRF_FOREIGN;
}
