/*
 * gateway/ep/ep.h - what the gateway's own endpoints share: struct ag_ep (one endpoint
 * request in progress) and the helpers every ep_*.c file uses to mint tokens, read
 * bodies, answer and record audit events. Internal to gateway/ep/endpoints.c and
 * gateway/ep_*.c; the rest of the gateway sees only gateway/ep/endpoints.h.
 *
 * Owns:     struct ag_ep and everything hanging off it (copies of what the head said,
 *           the body collected, the tokens minted, the per-endpoint state in <u>).
 * Entry:    the ag_ep__* helpers below; the handlers ep_tokens_*, ep_users_*, ep_account_*.
 * Not here: Redis (store/), token cryptography (policy/jwt.c), passwords (policy/password.c).
 * Spec:     CONTRACT.md sections 5, 7, 8; docs/endpoints.md, docs/users.md.
 *
 * Lifetime (STYLE R4): an ep belongs to its request until the request is freed. While a
 * store call or a pool job holds it (<busy>), a request that goes away only detaches
 * (req = NULL); the callback then frees the ep without touching the request.
 */
#ifndef AG_GATEWAY_EP_H
#define AG_GATEWAY_EP_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "endpoints.h"
#include "chunked.h"
#include "http1.h"
#include "password.h"
#include "pool.h"
#include "user.h"
#include "userin.h"

struct evbuffer;
struct ag_gen;
struct ag_config;
struct ag_authn;
struct ag_worker;

#define EP_ID_LEN 22      /* 16 random bytes in base64url without padding */
#define EP_MAX_PARAM 1024 /* longest client_id accepted */
#define EP_MAX_UA 512     /* user agent kept for audit */

enum ep_kind {
    EP_NOT_FOUND = 0,
    EP_HEALTH,
    EP_READY,
    EP_TOKEN_NEW,
    EP_TOKEN_REFRESH,    /* GET /token/refresh: fastauth-api envelope */
    EP_REFRESH,          /* POST /refresh: OAuth2-style answer */
    EP_REGISTER,         /* POST /register */
    EP_LOGIN,            /* POST /login (JSON) */
    EP_TOKEN,            /* POST /token (OAuth2 password form) */
    EP_ME,               /* GET /me */
    EP_LOGOUT,           /* POST /logout */
    EP_LOGOUT_ALL,       /* POST /logout-all */
    EP_PASSWORD,         /* POST /password (change) */
    EP_PASSWORD_FORGOT,  /* POST /password/forgot (ask for a reset token) */
    EP_PASSWORD_RESET,   /* POST /password/reset (use it) */
    EP_SESSIONS,         /* GET /sessions */
    EP_SESSION_DELETE,   /* DELETE /sessions/{id} */
};

/* The identity of a request that carried a valid access token (copies). */
struct ep_ident {
    bool ok;          /* a valid, unrevoked access token was presented */
    bool by_cookie;   /* it came in the access_token cookie (CSRF check applies) */
    bool presented;   /* some token was presented (for the 401's WWW-Authenticate) */
    bool client;      /* a client's token (sub_type "client"): no user behind it */
    bool unsynced;    /* it held, but the revocations were not loaded yet: 503, never a pass */
    char *sub, *client_id, *sid, *jti, *roles, *scopes;
    int64_t exp;
};

/* State of a user endpoint (gateway/ep/ep_users.c, ep_account.c); freed by ep_user_op_free(). */
struct ep_user_op {
    struct ag_pool_job job;       /* password work on the pool */
    struct ag_ep *ep;
    /* What the client sent (copies; secrets zeroed when freed). */
    char *login, *email, *username, *password, *new_password, *scope_req, *client_id;
    /* The user as the store had it (copies). */
    bool found;
    char *uid, *u_email, *u_username, *u_hash, *u_roles;
    bool u_active, u_staff, u_superuser;
    int64_t u_created, u_pwchanged, u_locked_until;
    /* Pool job: inputs and results. */
    struct ag_pwparams params;
    struct ag_password_dummies *dummies; /* the process's (gen->pw_dummies), borrowed */
    int verified;                 /* 1: the password matched */
    bool hashed;                  /* new_hash holds a fresh hash */
    char new_hash[AG_PASSWORD_HASH_MAX];
    char rid[EP_ID_LEN + 1];      /* reset token id (its jti) */
    char pwh[EP_ID_LEN + 1];      /* the hash fingerprint a reset token is bound to */
};

struct ag_ep {
    LIST_ENTRY(ag_ep) entry;   /* in w->eps while its request lives (ag_ep_detach() ends it) */
    struct ag_req *req;        /* NULL once the request is gone (STYLE R4) */
    struct ag_worker *w;
    enum ep_kind kind;
    bool method_ok;            /* the method is the endpoint's */
    bool master_ok;            /* MASTER-TOKEN matched (token/new) */
    bool bad_query;            /* malformed percent-escape or over-long parameter */
    bool bad_cookie;           /* malformed Cookie header */
    bool by_cookie;            /* the refresh token came in a cookie */
    bool expect_100;
    bool busy;                 /* a store call or pool job holds this ep as its argument */
    bool csrf_ok;              /* Origin (or Referer) is this host's or a CORS-allowed one */
    enum ag_csrf csrf;         /* the verdict csrf_ok comes from (ag_ep_csrf()) */
    enum ag_body_type ctype;   /* Content-Type: AG_BODY_JSON, AG_BODY_FORM, or 0 (other, none) */
    enum ag_body_kind body_kind;
    unsigned long long left;   /* AG_BODY_LENGTH: body bytes still to read */
    struct ag_chunked ck;
    struct evbuffer *body;     /* body collected so far (POST endpoints) */

    char *client_id;           /* ?client_id= (token/new), NULL when absent */
    char *query_token;         /* ?refresh_token= (token/refresh) */
    char *bearer;              /* Authorization: Bearer (POST /refresh) */
    char *cookie_token;        /* refresh_token cookie (POST /refresh) */
    char *path_id;             /* {id} of DELETE /sessions/{id} */
    char *ua;
    char ip[INET6_ADDRSTRLEN]; /* the client: the peer, or X-Forwarded-For from a trusted proxy */
    struct ep_ident id;        /* user endpoints that need an access token */

    /* The pair being issued. */
    char sid[EP_ID_LEN + 1], fam[EP_ID_LEN + 1], otid[EP_ID_LEN + 1], ajti[EP_ID_LEN + 1];
    char *sub, *cid;           /* subject and client id of the pair */
    bool client;               /* the pair is a client's: sub "client:<id>", sub_type "client" */
    bool legacy;               /* the pair replaces a fastauth-api refresh token (legacy-tokens) */
    char *roles;               /* space-separated roles of the pair, or NULL */
    char *scope;               /* space-separated scopes of the pair, or NULL */
    char *access, *refresh;    /* minted tokens */
    int64_t now;

    struct ep_user_op *u;      /* user endpoints' state, freed by ep_user_op_free() */
    void (*then)(struct ag_ep *ep); /* what runs once a rate-limit check passed */
};

/* ---- shared helpers (gateway/ep/endpoints.c) ---- */

/** A fresh random id: 16 bytes of libsodium randombytes in base64url. */
void ag_ep__new_id(char out[EP_ID_LEN + 1]);

/** A NUL-terminated copy of <p,n>; NULL on OOM. */
char *ag_ep__strndup(const char *p, size_t n);

/** Whether the worker's store can take a command now. */
bool ag_ep__store_ready(const struct ag_worker *w);

/** Signs the JSON <claims> (<len> bytes) with <g>'s key: a new compact JWS; NULL on OOM. */
char *ag_ep__sign(const struct ag_gen *g, const char *claims, size_t len);

/**
 * Mints the access and refresh tokens of <ep>: sub, cid, sid, fam, otid, ajti, now set;
 * roles and scope when not NULL. 0 or AG_ENOMEM.
 */
int ag_ep__mint_pair(const struct ag_gen *g, struct ag_ep *ep);

/**
 * The Set-Cookie lines for the pair of <ep> as a new string ("" when none are due:
 * <force> or set-cookie-on-login decides). NULL on OOM.
 */
char *ag_ep__cookies(const struct ag_config *cfg, const struct ag_ep *ep, bool force);

/** The Set-Cookie lines that clear both token cookies, as a new string. NULL on OOM. */
char *ag_ep__clear_cookies(const struct ag_config *cfg);

/** Answers 200 with the OAuth2 token body of <ep>'s pair (+ cookies when due). */
void ag_ep__reply_tokens(struct ag_ep *ep, bool cookies);

/** Answers <status> with the JSON object <o> (stolen) and <extra> header lines (may be NULL). */
struct json_t;
void ag_ep__reply_json(struct ag_ep *ep, int status, struct json_t *o, const char *extra);

/** Answers <status> {"detail": <detail>} (<detail> a fixed phrase), with <extra> or NULL. */
void ag_ep__reply_detail(struct ag_ep *ep, int status, const char *detail, const char *extra);

/**
 * Records the security event <event> with <n> field pairs: one JSON log line, and an
 * entry in the audit stream when the store is up (fire and forget). Never secrets.
 */
void ag_ep__audit(struct ag_ep *ep, const char *event, const char *const *k,
                  const char *const *v, size_t n);

/** The log line of ag_ep__audit() only: for events a store script already appended. */
void ag_ep__audit_log(struct ag_ep *ep, const char *event, const char *const *k,
                      const char *const *v, size_t n);

/**
 * Checks the rate-limit buckets <b> (n of them; limits that are off are skipped) and
 * calls <then>(<ep>) when they have room; answers 429 with Retry-After when they do
 * not, 503 when the store is down. With every limit off, calls <then> at once.
 */
struct ag_rl_bucket;
void ag_ep__limit(struct ag_ep *ep, const struct ag_rl_bucket *b, size_t n,
                  void (*then)(struct ag_ep *ep));

/**
 * Records whether the store call or pool job given <ep> as its argument started: <rc> 0
 * means its callback runs exactly once, later (never from inside the call), so <ep> is
 * held (busy) until then. Returns that; on false the caller answers itself.
 */
bool ag_ep__started(struct ag_ep *ep, int rc);

/**
 * First thing in every such callback: <ep> is no longer held; when its request went
 * away meanwhile, frees it and returns true (the callback then touches nothing).
 */
bool ag_ep__orphaned(struct ag_ep *ep);

/* ---- handlers ---- */

/* gateway/ep/ep_tokens.c: /token/new, /token/refresh, /refresh. */
void ep_tokens_new(struct ag_ep *ep);
void ep_tokens_refresh_get(struct ag_ep *ep);
void ep_tokens_refresh_post(struct ag_ep *ep);

/* gateway/ep/ep_users.c: register, login, token, me. */
void ep_users_register(struct ag_ep *ep);
void ep_users_login(struct ag_ep *ep);
void ep_users_me(struct ag_ep *ep);

/* gateway/ep/ep_account.c: logout, logout-all, password change and reset, sessions. */
void ep_account_logout(struct ag_ep *ep);
void ep_account_password(struct ag_ep *ep);
void ep_account_forgot(struct ag_ep *ep);
void ep_account_reset(struct ag_ep *ep);
void ep_account_sessions(struct ag_ep *ep);

/* Shared by the user handlers (gateway/ep/ep_users.c). */

/** A new op for <ep> (ep->u), with the generation's password parameters; NULL on OOM. */
struct ep_user_op *ep_user_op_new(struct ag_ep *ep);

/** Frees <u> and what it holds (passwords zeroed). NULL allowed. */
void ep_user_op_free(struct ep_user_op *u);

/** Copies the store's record <s> into <u>. 0 or AG_ENOMEM. */
int ep_user_copy(struct ep_user_op *u, const struct ag_user *s);

/** The user object of the contract (id, email, username, flags, roles, created_at). */
struct json_t *ep_user_json(const struct ep_user_op *u);

/** The user's roles with "staff" and "superuser" added per its flags (new string, NULL on OOM). */
char *ep_user_roles(const struct ep_user_op *u);

/** Answers 422 naming the field of <e>, FastAPI's shape. */
void ep_unprocessable(struct ag_ep *ep, const struct ag_field_err *e);

/**
 * Whether the request carried a valid access token (else answers 401) and, for a
 * <state_changing> endpoint reached with the cookie, passed the CSRF check (else 403).
 */
bool ep_need_identity(struct ag_ep *ep, bool state_changing);

/**
 * ep_need_identity() for the endpoints that act on the caller's user: a client's token
 * has no user (CONTRACT.md sections 5, 7), answered 404 {"detail":"User not found"}.
 */
bool ep_need_user(struct ag_ep *ep, bool state_changing);

/** Reads the collected body as <t> into the <n> fields <f>; answers 422 and returns false on a problem. */
bool ep_read_fields(struct ag_ep *ep, enum ag_body_type t, struct ag_body_field *f, size_t n);

/**
 * The common start of a user-store callback: true when <st> is OK and the request is still
 * there. Otherwise it answered (404 <unknown> for UNKNOWN when given, else 503) or freed an
 * orphaned <ep>, and the callback returns at once.
 */
bool ep_user_reply_ok(struct ag_ep *ep, enum ag_user_status st, const char *unknown);

/** Submits ep->u's pool job (work and done set); answers 503 and returns false when refused. */
bool ep_user_submit(struct ag_ep *ep);

#endif
