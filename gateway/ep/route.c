/*
 * gateway/ep/route.c - matching a request's method and path against the route table.
 * Pure: no request, no allocation (tests/unit/gateway/route_test.c).
 *
 * Owns:     nothing.
 * Entry:    ag_ep_route_match(), ag_ep_route_allow().
 * Not here: the table itself (gateway/ep/routes.c), running a route (endpoints.c).
 * Spec:     docs/endpoints.md "Writing an endpoint".
 */
#include "route.h"

#include <stdio.h>
#include <string.h>

/*
 * Whether <path> matches the pattern <pat>; the "{}" segments go to <params> (at most
 * AG_EP_MAX_PARAMS; a pattern with more never matches). Literal bytes compare exactly.
 */
static bool route_path_match(const char *pat, struct ag_str path,
                             struct ag_str params[AG_EP_MAX_PARAMS], size_t *nparams)
{
    size_t i = 0, np = 0;

    while (*pat != '\0') {
        if (pat[0] == '{' && pat[1] == '}') {
            size_t j = i;
            while (j < path.len && path.p[j] != '/')
                j++;
            if (j == i || np == AG_EP_MAX_PARAMS)
                return false;
            params[np++] = (struct ag_str){path.p + i, j - i};
            i = j;
            pat += 2;
            continue;
        }
        if (i == path.len || path.p[i] != *pat)
            return false;
        i++;
        pat++;
    }
    if (i != path.len)
        return false;
    *nparams = np;
    return true;
}

int ag_ep_route_match(const struct ag_ep_route *t, size_t n, struct ag_str method,
                      struct ag_str path, struct ag_str params[AG_EP_MAX_PARAMS],
                      size_t *nparams)
{
    int r = AG_EP_ROUTE_NO_PATH;
    struct ag_str p[AG_EP_MAX_PARAMS];
    size_t np;

    for (size_t i = 0; i < n; i++) {
        if (!route_path_match(t[i].path, path, p, &np))
            continue;
        if (!ag_str_ieq(method, t[i].method)) {
            r = AG_EP_ROUTE_NO_METHOD;
            continue;
        }
        memcpy(params, p, sizeof(p[0]) * np);
        *nparams = np;
        return (int)i;
    }
    *nparams = 0;
    return r;
}

size_t ag_ep_route_allow(const struct ag_ep_route *t, size_t n, struct ag_str path, char *out,
                         size_t cap)
{
    struct ag_str p[AG_EP_MAX_PARAMS];
    size_t len = 0, np;

    if (cap == 0)
        return 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (!route_path_match(t[i].path, path, p, &np))
            continue;
        int w = snprintf(out + len, cap - len, "%s%s", len > 0 ? ", " : "", t[i].method);
        if (w < 0 || (size_t)w >= cap - len) {
            out[len] = '\0';
            break;
        }
        len += (size_t)w;
    }
    return len;
}
