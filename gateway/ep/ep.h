/*
 * gateway/ep/ep.h - the endpoint framework: what every handler of the gateway's own
 * endpoints is given (struct ag_ep), and the few ways it has to act: read the request
 * (head fields, query, body fields), allocate (the request's arena), wait on the store
 * or the hashing pool (one step shape), answer (one JSON reply path), limit, audit and
 * mint tokens. Internal to gateway/ep/; the rest of the gateway sees gateway/ep/endpoints.h.
 *
 * Owns:     struct ag_ep and its arena: everything a handler allocates through
 *           ag_ep_alloc() and friends is freed with the request, zeroed first.
 * Entry:    the ag_ep_* functions below; the route table (gateway/ep/routes.c).
 * Not here: Redis (store/), token cryptography (policy/jwt.c), passwords (policy/password.c).
 * Spec:     CONTRACT.md sections 5, 7, 8; docs/endpoints.md "Writing an endpoint".
 *
 * Writing an endpoint: one row in gateway/ep/routes.c (method, path, auth need, flags,
 * body type and limit, handler) and one handler. The framework has answered 404, 405,
 * 403 (Origin), 415 and 413, read the body whole, and checked the row's authentication
 * before the handler runs. A handler ends in exactly one answer, now or after steps:
 *
 *     if (!ag_ep_await(ep, ag_user_get(ep->w->store, id, ag_ep_on_user, ep), on_user))
 *         ag_ep_down(ep);        // the call did not start: answer now
 *
 * and on_user(ep) runs once, later, with ep->ust and ep->user set, and only while the
 * request is still there (an orphaned ep is freed by the framework, never seen).
 */
#ifndef AG_GATEWAY_EP_H
#define AG_GATEWAY_EP_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>

#include "apikey.h"
#include "audit.h"
#include "chunked.h"
#include "endpoints.h"
#include "http1.h"
#include "jwt.h"
#include "password.h"
#include "pool.h"
#include "route.h"
#include "session.h"
#include "user.h"
#include "userin.h"

struct evbuffer;
struct json_t;
struct ag_arena;
struct ag_gen;
struct ag_config;
struct ag_worker;
struct ag_rl_bucket;

#define EP_ID_LEN 22      /* 16 random bytes in base64url without padding */
#define EP_MAX_PARAM 1024 /* longest client_id accepted */
#define EP_MAX_UA 512     /* user agent kept for audit */

/* The caller of an AG_EP_IDENTITY or AG_EP_USER route (strings in the arena). */
struct ep_ident {
    bool ok;          /* a valid, unrevoked access token was presented */
    bool by_cookie;   /* it came in the access_token cookie (CSRF check applies) */
    bool presented;   /* some token was presented (for the 401's WWW-Authenticate) */
    bool client;      /* a client's token (sub_type "client"): no user behind it */
    bool unsynced;    /* it held, but the revocations were not loaded yet: 503, never a pass */
    bool flood;       /* not checked: the address spent its budget of failed asymmetric
                         signature checks (docs/keys.md "Floods of invalid tokens"): 429 */
    const char *sub, *client_id, *sid, *jti, *roles, *scopes;
    int64_t exp;
};

/* What the user handlers carry between their steps (ep->u, in the arena). */
struct ep_user_op {
    /* What the client sent. */
    const char *login, *email, *username, *password, *new_password, *scope_req;
    enum ag_user_name login_as;   /* login: what <login> is taken to be */
    bool reset;                   /* POST /password/reset, not a change */
    bool all;                     /* POST /logout-all, not a logout */
    bool restamped;               /* login: the user was read again once (its roles changed) */
    /* Pool job: inputs and results. */
    struct ag_pwparams params;
    struct ag_password_dummies *dummies; /* the process's (gen->pw_dummies), borrowed */
    int verified;                 /* 1: the password matched */
    bool hashed;                  /* new_hash holds a fresh hash */
    char new_hash[AG_PASSWORD_HASH_MAX];
    char rid[EP_ID_LEN + 1];      /* reset token id (its jti) */
    char pwh[EP_ID_LEN + 1];      /* the hash fingerprint a reset token is bound to */
    const char *fields;           /* register: the custom fields as stored (JSON text, "" none) */
    struct ep_profile_op *profile; /* PATCH /me (gateway/ep/ep_profile.c) */
};

struct ag_ep {
    struct ag_arena *arena;       /* every pointer below that is not said otherwise lives here */
    struct ag_req *req;           /* NULL once the request is gone (STYLE R4) */
    struct ag_worker *w;

    /* What the framework read from the head (gateway/ep/endpoints.c). */
    const struct ag_ep_route *route; /* NULL: no row (answered 404 or 405) */
    int miss;                     /* AG_EP_ROUTE_NO_PATH / _NO_METHOD when route is NULL */
    struct ag_str path;           /* the path under auth-prefix */
    struct ag_str params[AG_EP_MAX_PARAMS]; /* its "{}" segments (NUL-terminated) */
    struct ag_str query;          /* the query string, "" when none */
    struct ag_http1_header *hdrs; /* the head's fields, copied */
    size_t nhdrs;
    const char *ua;               /* User-Agent, cleaned and cut (session list, audit); or NULL */
    char ip[INET6_ADDRSTRLEN];    /* the client: the peer, or X-Forwarded-For from a trusted proxy */
    enum ag_csrf csrf;            /* the CSRF verdict of the head (ag_ep_csrf()) */
    enum ag_body_type ctype;      /* Content-Type: AG_BODY_JSON, AG_BODY_FORM, or 0 (other, none) */
    bool master_ok;               /* AG_EP_MASTER: MASTER-TOKEN matched, or the route is open;
                                     AG_EP_ADMIN, AG_EP_AUDIT: it matched */
    struct ep_ident id;           /* AG_EP_IDENTITY, AG_EP_USER; AG_EP_ADMIN and AG_EP_AUDIT
                                     when the master token did not match */

    /* The body, collected whole before the handler when the route reads one. */
    enum ag_body_kind body_kind;
    bool expect_100;
    unsigned long long left;      /* AG_BODY_LENGTH: body bytes still to read */
    struct ag_chunked ck;
    struct evbuffer *body;        /* NULL when none was read (freed with the arena) */

    /* The step in progress (ag_ep_await()) and what the last one brought back. */
    bool busy;                    /* a store call or pool job holds this ep as its argument */
    ag_ep_fn *next;
    ag_ep_fn *work;               /* ag_ep_submit(): runs on a pool thread */
    struct ag_pool_job job;
    enum ag_user_status ust;      /* ag_ep_on_user(), ag_ep_on_sessions() */
    bool found;                   /* <user> holds a record */
    struct ag_user user;          /* the user the store last answered with */
    enum ag_sess_status sst;      /* ag_ep_on_sess() */
    struct ag_sess_info sinfo;    /* its info when it had one, else zero */
    struct ag_user_session *sessions; /* ag_ep_on_sessions() */
    size_t nsessions;

    /* The pair being issued (ag_ep_mint_pair()). */
    char sid[EP_ID_LEN + 1], fam[EP_ID_LEN + 1], otid[EP_ID_LEN + 1], ajti[EP_ID_LEN + 1];
    const char *sub, *cid;        /* subject and client id of the pair */
    bool client;                  /* the pair is a client's: sub "client:<id>", sub_type "client" */
    bool legacy;                  /* the pair replaces a fastauth-api refresh token */
    bool created;                 /* the pair starts a session (token/new, legacy exchange) */
    bool by_cookie;               /* the refresh token came in a cookie */
    bool oauth;                   /* answers in the OAuth2 shape, not fastauth-api's envelope */
    const char *roles;            /* space-separated roles of the pair, or NULL */
    const char *scope;            /* space-separated scopes of the pair, or NULL */
    const char *fields;           /* the user's custom fields (JSON text) for token-claims, or NULL */
    const char *access, *refresh; /* minted tokens */
    int64_t now;

    struct ep_user_op *u;         /* the user handlers' state, or NULL */

    /* The audit API (gateway/ep/ep_audit.c): its state and the store's answers. */
    struct ep_audit_op *audit;    /* the handlers' state, or NULL */
    int ast;                      /* ag_ep_on_audit(), ag_ep_on_audit_page(): 1 OK, -1 DOWN */
    const char *audit_id;         /* ag_ep_on_audit(): the entry appended */
    struct ag_audit_page apage;   /* ag_ep_on_audit_page(): the page, copied into the arena */

    /* /verify's wait for an API key's first lookup on this worker (ep_verify.c). */
    struct ag_ep *key_next;       /* the worker's list of such waits (w->key_eps) */
    char key_wait[AG_APIKEY_ID_LEN + 1];
    bool key_waited;              /* it waited once: a second KEY_WAIT is the lookup failing */

    struct ep_admin_op *admin;    /* the admin handlers' state (gateway/ep/ep_admin.c), or NULL */
    struct ep_apikey_op *apikey;  /* the API key handlers' state (gateway/ep/ep_apikeys.c), or NULL */
};

/* ---- memory: the request's arena (gateway/base/arena.h), all zeroed with it ---- */

/** <n> zeroed bytes that live as long as <ep>. NULL on OOM. */
void *ag_ep_alloc(struct ag_ep *ep, size_t n);

/** A copy of <p,n> (NUL-terminated), or of <s> (NULL stays NULL), that lives as long as <ep>. */
char *ag_ep_strndup(struct ag_ep *ep, const char *p, size_t n);
char *ag_ep_strdup(struct ag_ep *ep, const char *s);

/** A printf-formatted string that lives as long as <ep>. NULL on OOM. */
char *ag_ep_printf(struct ag_ep *ep, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- reading the request ---- */

/** The first field <name> of the head (any case), or NULL; <*v> its value. */
bool ag_ep_header(const struct ag_ep *ep, const char *name, struct ag_str *v);

/**
 * Query parameter <name>: 1 with a decoded copy in <*out>, 0 when absent or empty,
 * AG_EPARSE when malformed or longer than <cap>, AG_ENOMEM. The first occurrence wins.
 */
int ag_ep_query(struct ag_ep *ep, const char *name, size_t cap, const char **out);

/**
 * Reads the collected body as <t> into the <n> fields <f> (values then live as long as
 * <ep>). On a problem answers 422 (or 500) and returns false.
 */
bool ag_ep_read_fields(struct ag_ep *ep, enum ag_body_type t, struct ag_body_field *f, size_t n);

/**
 * Moves the values of the <n> fields <f>, read by a policy/userin.c reader, into <ep>'s
 * arena (the copies freed). False on OOM, answered 500.
 */
bool ag_ep_keep_fields(struct ag_ep *ep, struct ag_body_field *f, size_t n);

/** After a policy/userin.c reader returned <rc>: true when 0, else answers (500 on OOM, 422 <e>). */
bool ag_ep_parsed(struct ag_ep *ep, int rc, const struct ag_field_err *e);

/** The whole body as a slice (empty when none), valid as long as <ep>. */
struct ag_str ag_ep_body(struct ag_ep *ep);

/* ---- steps: a store call or a pool job, then the next function ---- */

/**
 * Waits on the store call just made with one of the ag_ep_on_*() callbacks and <ep> as
 * its argument; <rc> is what the call returned. On 0 the callback runs <next>(<ep>)
 * exactly once, later, unless the request went away meanwhile (the ep is then freed and
 * <next> never runs). Returns whether it started; on false the caller answers itself.
 */
bool ag_ep_await(struct ag_ep *ep, int rc, ag_ep_fn *next);

/**
 * First thing in a store callback of a handler's own (one that does not go through
 * ag_ep_on_*()): <ep> is no longer held; false when its request went away (<ep> is freed
 * then: touch nothing).
 */
bool ag_ep_resume(struct ag_ep *ep);

/* The callbacks to give the store: each keeps the result in <ep>, then runs ep->next. */
ag_user_fn ag_ep_on_user;         /* ep->ust; a record goes to ep->user (found) */
ag_sess_fn ag_ep_on_sess;         /* ep->sst, ep->sinfo */
ag_user_sessions_fn ag_ep_on_sessions; /* ep->ust, ep->sessions, ep->nsessions */
ag_audit_fn ag_ep_on_audit;       /* ep->ast, ep->audit_id */
ag_audit_page_fn ag_ep_on_audit_page; /* ep->ast, ep->apage */

/**
 * Runs <work>(<ep>) on a pool thread (it may read and write only the ep's own data), then
 * <next>(<ep>) back on this loop. A full pool, or a job dropped unrun, is answered 503.
 * Returns false when it answered at once.
 */
bool ag_ep_submit(struct ag_ep *ep, ag_ep_fn *work, ag_ep_fn *next);

/**
 * Checks the rate-limit buckets <b> (<n> of them, at most 4; limits that are off are
 * skipped) and runs <next> when they have room; answers 429 with Retry-After when they
 * do not, 503 when the store is down. With every limit off, runs <next> at once.
 */
void ag_ep_limit(struct ag_ep *ep, const struct ag_rl_bucket *b, size_t n, ag_ep_fn *next);

/** Whether the worker's store can take a command now. */
bool ag_ep_store_ready(const struct ag_ep *ep);

/* ---- answers: each ends the request; one of them per request ---- */

/** Answers <status> with the JSON value <o> (stolen; NULL: 500) and <extra> header lines. */
void ag_ep_reply_json(struct ag_ep *ep, int status, struct json_t *o, const char *extra);

struct ag_jsonw;
/* The caller's buffer for ag_ep_jsonw(): answers up to this size are not allocated. */
#define EP_JSONW_STACK 8192
/**
 * A JSON writer (policy/jsonw.h) for an answer written without a tree (the refresh path)
 * that needs at most <need> bytes: on <stack> (EP_JSONW_STACK bytes) when it fits, else on
 * <ep>'s arena; out of memory shows as a bad writer.
 */
void ag_ep_jsonw(struct ag_ep *ep, struct ag_jsonw *w, size_t need, char *stack);

/** Answers <status> with the text of <w> (bad: 500) and <extra> header lines, then zeroes
 *  the text (tokens pass here). */
void ag_ep_reply_jsonw(struct ag_ep *ep, int status, const struct ag_jsonw *w, const char *extra);

/** Answers <status> {"detail": <detail>}, with <extra> header lines or NULL. */
void ag_ep_reply_detail(struct ag_ep *ep, int status, const char *detail, const char *extra);

/** Answers the gateway's error shape {"detail": ..., "error": ...} (gateway/http/reply.c). */
void ag_ep_reply_error(struct ag_ep *ep, int status, const char *detail, const char *extra);

/** Answers 204 No Content (no body, Cache-Control: no-store). */
void ag_ep_reply_empty(struct ag_ep *ep);

/** Answers <status> with <body,len> of media type <ctype>, "Cache-Control: <cache>", <extra> lines. */
void ag_ep_reply_body(struct ag_ep *ep, int status, const char *ctype, const char *cache,
                      const char *body, size_t len, const char *extra);

/**
 * Who acts on an AG_EP_ADMIN or AG_EP_AUDIT route, for the audit log: "master" for the
 * master token, else the caller's subject.
 */
const char *ag_ep_actor(const struct ag_ep *ep);

/** <s> (NULL: "") as a JSON string, cleaned when it is not valid UTF-8 text. New; NULL on OOM. */
struct json_t *ag_ep_json_text(const char *s);

/* One session of a listing as a JSON object (new; NULL on OOM). */
typedef struct json_t *ag_ep_session_json_fn(const struct ag_ep *ep,
                                             const struct ag_user_session *s);

/** ep->sessions as a JSON array of <item>'s objects: new, or NULL when any could not be made. */
struct json_t *ag_ep_sessions_json(struct ag_ep *ep, ag_ep_session_json_fn *item);

/** Answers 503 {"detail":"Service Unavailable"}: the store or the pool could not serve. */
void ag_ep_down(struct ag_ep *ep);

/** Answers 500 and logs that memory ran out. */
void ag_ep_oom(struct ag_ep *ep);

/** Answers 422 naming the field of <e>, FastAPI's shape. */
void ag_ep_unprocessable(struct ag_ep *ep, const struct ag_field_err *e);

/** Answers 422 naming the query parameter of <e> (loc ["query", name]). */
void ag_ep_unprocessable_query(struct ag_ep *ep, const struct ag_field_err *e);

/** Answers 200 with the OAuth2 token body of <ep>'s pair (+ cookies when <cookies> and due). */
void ag_ep_reply_tokens(struct ag_ep *ep, bool cookies);

/* ---- tokens, cookies, audit (gateway/ep/ep_common.c) ---- */

/** A fresh random id: 16 bytes of libsodium randombytes in base64url. */
void ag_ep_new_id(char out[EP_ID_LEN + 1]);

/** A new session's ids (sid, fam, otid, ajti) and <now>, for a pair minted next. */
void ag_ep_new_session(struct ag_ep *ep);

/** Mints the access and refresh tokens of <ep>'s pair (sub, cid, ids, now set). 0 or AG_ENOMEM. */
int ag_ep_mint_pair(struct ag_ep *ep);

/** Signs the JSON <claims> (<len> bytes) with <g>'s key: a new compact JWS (malloc); NULL on OOM. */
char *ag_ep_sign(const struct ag_gen *g, const char *claims, size_t len);

/** The Set-Cookie lines of <ep>'s pair ("" when none are due: <force> or set-cookie-on-login). */
const char *ag_ep_cookies(struct ag_ep *ep, bool force);

/** The Set-Cookie lines that clear both token cookies. NULL on OOM. */
const char *ag_ep_clear_cookies(struct ag_ep *ep);

/**
 * Records the security event <event> with <n> field pairs: one JSON log line, and an
 * entry in the audit stream when the store is up (fire and forget). Never secrets.
 */
void ag_ep_audit(struct ag_ep *ep, const char *event, const char *const *k,
                 const char *const *v, size_t n);

/** The log line of ag_ep_audit() only: for events a store script already appended. */
void ag_ep_audit_log(struct ag_ep *ep, const char *event, const char *const *k,
                     const char *const *v, size_t n);

/**
 * ag_ep_audit() waiting for the stream: <next> runs with ep->ast and ep->audit_id (ast 0
 * and no id when audit-stream-max is 0: the log line only). Returns false when the append
 * could not start (the store is not ready): the caller answers.
 */
bool ag_ep_audit_await(struct ag_ep *ep, const char *event, const char *const *k,
                       const char *const *v, size_t n, ag_ep_fn *next);

/* ---- the user helpers (gateway/ep/ep_users.c) ---- */

/**
 * The user handlers' state for <ep> (ep->u, zeroed), with the generation's password
 * parameters. NULL on OOM, answered 500.
 */
struct ep_user_op *ag_ep_user_op(struct ag_ep *ep);

/** The user object of the contract (id, email, username, flags, roles, created_at). */
struct json_t *ag_ep_user_json(const struct ag_user *u);

/** <t> (seconds since the epoch) as "YYYY-MM-DDTHH:MM:SSZ" in <buf>; returns <buf>. */
const char *ag_ep_iso8601(int64_t t, char buf[32]);

/** Appends the words of the space-separated <s> to the JSON array <a>. */
void ag_ep_words_append(struct json_t *a, const char *s);

/** <u>'s roles with "staff" and "superuser" added per its flags, in <ep>'s arena; NULL on OOM. */
const char *ag_ep_user_roles(struct ag_ep *ep, const struct ag_user *u);

/**
 * After a user-store step: true when ep->ust is OK. Otherwise answers (404 <unknown> for
 * UNKNOWN when given, else 503) and returns false.
 */
bool ag_ep_user_ok(struct ag_ep *ep, const char *unknown);

/* ---- logout by refresh token (CONTRACT.md section 14) ---- */

/** The 401 of a route whose caller has no valid access token (gateway/ep/endpoints.c). */
void ag_ep_reply_no_access(struct ag_ep *ep);

/**
 * The refresh token <ep> presents into <*tok> (arena; NULL: none), as POST /refresh reads
 * it: a Bearer that is not an access token, else the refresh_token cookie (ep->by_cookie
 * set), else the body's "refresh_token" (application/json; with <form>, also a form). False
 * when it answered: 415 for a body of another type that was needed, 500 on OOM
 * (gateway/ep/ep_tokens.c).
 */
bool ag_ep_tokens_presented(struct ag_ep *ep, bool form, const char **tok);

/** Verifies refresh token <tok> (NULL: REJECT) with the generation's ring into <cl>; sets ep->now. */
enum ag_jwt_status ag_ep_tokens_verify(struct ag_ep *ep, const char *tok,
                                       struct ag_jwt_claims *cl);

/* ---- the handlers, by file (named in the route table, gateway/ep/routes.c) ---- */

/* gateway/ep/ep_tokens.c: the token service. */
ag_ep_fn ag_ep_tokens_new, ag_ep_tokens_refresh_get, ag_ep_tokens_refresh_post;

/* gateway/ep/ep_users.c: accounts. */
ag_ep_fn ag_ep_users_register, ag_ep_users_login, ag_ep_users_token, ag_ep_users_me;

/* gateway/ep/ep_profile.c: custom user fields and PATCH /me (CONTRACT.md section 14). */
ag_ep_fn ag_ep_users_patch_me;
/**
 * The custom fields of a register body (members named in <known>, <n_known> of them, are
 * the built-in ones) as the store keeps them, into *<fields> ("" for none; in the arena).
 * Nothing declared: "" and other members ignored. False after answering 422 or 500.
 */
bool ag_ep_fields_register(struct ag_ep *ep, const char *const *known, size_t n_known,
                           const char **fields);

/* gateway/ep/ep_account.c: what a signed-in user does to their account. */
ag_ep_fn ag_ep_account_logout, ag_ep_account_logout_all, ag_ep_account_password,
    ag_ep_account_forgot, ag_ep_account_reset, ag_ep_account_sessions,
    ag_ep_account_session_delete;

/* gateway/ep/ep_console.c: the admin console's page and files. */
ag_ep_fn ag_ep_console_redirect, ag_ep_console_page, ag_ep_console_asset;

/* gateway/ep/ep_verify.c: forward-auth for a proxy in front. */
ag_ep_fn ag_ep_verify;

/** Runs again the /verify requests of worker <w> that waited for API key <id>'s lookup. */
void ag_ep_wake_key(struct ag_worker *w, struct ag_str id);

/* gateway/ep/ep_audit.c: the audit log API (reading it; an application's own events). */
ag_ep_fn ag_ep_audit_list, ag_ep_audit_post;

/* gateway/ep/ep_admin.c: the users admin API. */
ag_ep_fn ag_ep_admin_users, ag_ep_admin_user_get, ag_ep_admin_user_patch,
    ag_ep_admin_user_delete, ag_ep_admin_sessions, ag_ep_admin_sessions_delete,
    ag_ep_admin_session_delete;

/* gateway/ep/ep_apikeys.c: API keys (a user's own; any user's for admins). */
ag_ep_fn ag_ep_apikeys_create, ag_ep_apikeys_list, ag_ep_apikeys_delete,
    ag_ep_apikeys_admin_list, ag_ep_apikeys_admin_delete;

/** The route table (gateway/ep/routes.c) and its length. */
extern const struct ag_ep_route ag_ep_routes[];
extern const size_t ag_ep_nroutes;

#endif
