/*
 * policy/claims.c - the claim set of the tokens the gateway mints: access and refresh
 * written directly as JSON (no tree: minting runs twice per refresh), password reset
 * through jansson, and the upstream assertion of a forwarded request (written directly
 * too, and signed: it may be minted on every request).
 *
 * Owns:     nothing long-lived; the result is a new string.
 * Entry:    ag_claims_json(), ag_claims_reset_json(), ag_claims_assertion_sign(),
 *           ag_claims_assertion_size().
 * Not here: signing (policy/jwt_key.c), ids and times (gateway/ep/endpoints.c, and
 *           gateway/core/upassert.c for assertions, which it caches), what a verified
 *           token must say (policy/jwt.c ag_jwt_check_claims()).
 * Spec:     CONTRACT.md section 7; docs/tokens.md.
 */
#include "claims.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* A growing output string; oom once an allocation failed. */
struct claims_out {
    char *p;
    size_t len, cap;
    bool oom;
};

static void claims_put(struct claims_out *o, const char *s, size_t n)
{
    if (o->oom)
        return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = (o->len + n + 1) * 2;
        char *p = realloc(o->p, cap);
        if (p == NULL) {
            o->oom = true;
            return;
        }
        o->p = p;
        o->cap = cap;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

#define claims_lit(o, s) claims_put((o), (s), sizeof(s) - 1)

/* An ag_sink_fn into a claims_out. */
static void claims_sink(void *o, const char *s, size_t n)
{
    claims_put(o, s, n);
}

/* Appends <s,n> as JSON string content, UTF-8 as it is. */
static void claims_escape(struct claims_out *o, const char *s, size_t n)
{
    ag_json_escape_to(claims_sink, o, s, n, true);
}

/* Appends <v> in decimal (minting runs twice per refresh: no printf). */
static void claims_int(struct claims_out *o, int64_t v)
{
    char d[AG_I64_TEXT_MAX], *p = ag_i64_text(d, v);

    claims_put(o, p, (size_t)(d + sizeof(d) - p));
}

/* Appends ,"<name>":"<value,n>" (escaped). */
static void claims_strn(struct claims_out *o, const char *name, const char *value, size_t n)
{
    claims_lit(o, ",\"");
    claims_put(o, name, strlen(name));
    claims_lit(o, "\":\"");
    claims_escape(o, value, n);
    claims_lit(o, "\"");
}

/* Appends ,"<name>":"<value>" (escaped). */
static void claims_str(struct claims_out *o, const char *name, const char *value)
{
    claims_strn(o, name, value, strlen(value));
}

/* Appends ,"<name>":<value> for each field of <fields> (JSON object text) in token-claims. */
static void claims_fields(struct claims_out *o, const struct ag_config *cfg, const char *fields)
{
    json_t *set = json_loads(fields, JSON_REJECT_DUPLICATES, NULL);

    for (size_t i = 0; json_is_object(set) && i < cfg->n_user_fields; i++) {
        const struct ag_user_field *f = &cfg->user_fields[i];
        json_t *v = f->claim ? json_object_get(set, f->name) : NULL;
        char *text;

        if (v == NULL || json_is_null(v))
            continue;
        if ((text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL) {
            o->oom = true;
            break;
        }
        claims_lit(o, ",\"");
        claims_put(o, f->name, strlen(f->name));
        claims_lit(o, "\":");
        claims_put(o, text, strlen(text));
        free(text);
    }
    json_decref(set);
}

char *ag_claims_json(const struct ag_config *cfg, enum ag_claims_type type,
                     const struct ag_claims *c, size_t *len)
{
    struct claims_out o = {.p = malloc(512), .cap = 512}; /* most claim sets: no realloc */
    bool refresh = type == AG_CLAIMS_REFRESH;
    long ttl = refresh ? cfg->refresh_token_ttl : cfg->access_token_ttl;

    o.oom = o.p == NULL;
    claims_lit(&o, "{\"sub\":\"");
    claims_escape(&o, c->sub, strlen(c->sub));
    claims_lit(&o, "\"");
    claims_str(&o, "client_id", c->client_id);
    if (c->client)
        claims_str(&o, "sub_type", "client");
    if (refresh)
        claims_lit(&o, ",\"type\":\"refresh\",\"iat\":");
    else
        claims_lit(&o, ",\"type\":\"access\",\"iat\":");
    claims_int(&o, c->iat);
    claims_lit(&o, ",\"exp\":");
    claims_int(&o, c->iat + ttl);
    claims_str(&o, "jti", c->jti);
    claims_str(&o, "iss", cfg->token_issuer ? cfg->token_issuer : cfg->app_name);
    claims_str(&o, "sid", c->sid);
    if (refresh)
        claims_str(&o, "fam", c->fam);
    if (cfg->token_audience)
        claims_str(&o, "aud", cfg->token_audience);
    if (c->scope != NULL && c->scope[0] != '\0')
        claims_str(&o, "scope", c->scope);
    if (c->roles != NULL && c->roles[0] != '\0') {
        struct ag_str rest = ag_str_c(c->roles), r;
        claims_lit(&o, ",\"roles\":[");
        for (bool first = true; ag_words_next(&rest, ' ', &r); first = false) {
            if (!first)
                claims_lit(&o, ",");
            claims_lit(&o, "\"");
            claims_escape(&o, r.p, r.len);
            claims_lit(&o, "\"");
        }
        claims_lit(&o, "]");
    }
    if (!refresh && c->fields != NULL && c->fields[0] != '\0')
        claims_fields(&o, cfg, c->fields);
    claims_lit(&o, "}");
    if (o.oom) {
        AG_FREE(o.p);
        return NULL;
    }
    *len = o.len;
    return o.p;
}

char *ag_claims_reset_json(const struct ag_config *cfg, const char *uid, const char *jti,
                           const char *pwh, int64_t now, size_t *len)
{
    char *payload = NULL;
    json_t *o;

    o = json_pack("{s:s, s:s, s:I, s:I, s:s, s:s, s:s}", "sub", uid, "type", "reset", "iat",
                  (json_int_t)now, "exp", (json_int_t)(now + cfg->reset_ttl), "jti", jti, "iss",
                  cfg->token_issuer ? cfg->token_issuer : cfg->app_name, "pwh", pwh);
    if (o != NULL && cfg->token_audience != NULL)
        json_object_set_new(o, "aud", json_string(cfg->token_audience));
    if (o != NULL)
        payload = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (payload != NULL)
        *len = strlen(payload);
    return payload;
}

/* ---------------------------------------------------------------- upstream assertions */

#define CLAIMS_ESC 6 /* the most bytes one byte becomes in JSON (\u00XX) */

size_t ag_claims_assertion_size(const struct ag_config *cfg, const struct ag_claims_assertion *a)
{
    const char *iss = cfg->token_issuer ? cfg->token_issuer : cfg->app_name;
    size_t payload = 160 + CLAIMS_ESC * (a->sub.len + a->sid.len + a->jti.len + a->method.len +
                                         a->path.len + strlen(iss));

    return (payload + 2) / 3 * 4 + AG_JWT_SIGN_EXTRA;
}

int ag_claims_assertion_sign(const struct ag_config *cfg, const struct ag_jwt_key *key,
                             const struct ag_claims_assertion *a, char *out, size_t cap)
{
    struct claims_out o = {0};
    char num[96];
    int n;

    claims_lit(&o, "{\"sub\":\"");
    claims_escape(&o, a->sub.p, a->sub.len);
    claims_lit(&o, "\"");
    if (a->sid.len > 0)
        claims_strn(&o, "sid", a->sid.p, a->sid.len);
    claims_str(&o, "iss", cfg->token_issuer ? cfg->token_issuer : cfg->app_name);
    snprintf(num, sizeof(num), ",\"iat\":%lld,\"exp\":%lld", (long long)a->iat,
             (long long)(a->iat + cfg->upstream_assertion.ttl));
    claims_put(&o, num, strlen(num));
    claims_strn(&o, "jti", a->jti.p, a->jti.len);
    claims_strn(&o, "method", a->method.p, a->method.len);
    claims_strn(&o, "path", a->path.p, a->path.len);
    claims_lit(&o, "}");
    n = o.oom ? AG_ENOMEM : ag_jwt_sign(key, o.p, o.len, out, cap);
    AG_FREE(o.p);
    return n;
}
