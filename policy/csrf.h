/*
 * policy/csrf.h - the CSRF verdict on a request from its Origin, Referer,
 * Sec-Fetch-Site and Host fields and the configured CORS origins.
 *
 * Owns:     nothing; the fields are slices borrowed from the request head.
 * Entry:    ag_csrf_note(), ag_csrf_verdict().
 * Not here: what each endpoint does with the verdict (gateway/ep/endpoints.c), the
 *           cookie-samesite "none" check on proxied requests (gateway/core/conn.c).
 * Spec:     docs/users.md "CSRF"; Fetch standard "Sec-Fetch-Site"; RFC 6454 s.7.
 */
#ifndef AG_POLICY_CSRF_H
#define AG_POLICY_CSRF_H

#include "base.h"
#include "config.h"

/* The CSRF verdict on a request's Origin (docs/users.md "CSRF"); zero is the failing value. */
enum ag_csrf {
    AG_CSRF_FOREIGN = 0, /* Origin (a "null" one: the Referer) names another site */
    AG_CSRF_OK = 1,      /* Origin (else Referer) names this host or a CORS origin */
    AG_CSRF_NO_ORIGIN = 2, /* no Origin, and no Referer naming this host or a CORS origin */
};

/* The fields the verdict reads: slices into the head (p NULL when absent). */
struct ag_csrf_req {
    struct ag_str origin;  /* Origin */
    struct ag_str referer; /* Referer */
    struct ag_str host;    /* Host */
    struct ag_str site;    /* Sec-Fetch-Site */
};

/** Keeps the field <name>: <value> in <r> when the verdict reads it (the last one wins). */
void ag_csrf_note(struct ag_csrf_req *r, struct ag_str name, struct ag_str value);

/**
 * The CSRF verdict on <r> under <cfg>. Cookie-authenticated writes need OK; endpoints
 * that set cookies, and (with cookie-samesite "none") cookie-authenticated unsafe
 * proxied requests, refuse FOREIGN.
 */
enum ag_csrf ag_csrf_verdict(const struct ag_config *cfg, const struct ag_csrf_req *r);

#endif
