/*
 * gateway/base/tls.c - OpenSSL contexts for the listeners and the upstreams (see tls.h).
 *
 * Owns:     the session-ticket keys of the process (tls_tickets), under one mutex.
 * Entry:    ag_tls_server_ctx(), ag_tls_client_ctx().
 * Not here: connections (gateway/base/io.c).
 * Spec:     CONTRACT.md section 10; RFC 8446; RFC 5077 (tickets); RFC 7301 (ALPN).
 */
#include "tls.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

/* ECDHE only: TLS 1.2 suites with forward secrecy and AEAD; 1.3's are all (EC)DHE. */
#define TLS_CIPHERS_12                                                                             \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                                   \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                                   \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS_CIPHERS_13 "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define TLS_GROUPS "X25519:P-256:P-384" /* no finite-field DH */

/* ---------------------------------------------------------------- session tickets */

struct tls_ticket_key {
    unsigned char name[16];
    unsigned char aes[32];
    unsigned char hmac[32];
    time_t born; /* 0: empty slot */
};

/*
 * The ticket keys: [cur] encrypts new tickets, the other slot (the previous key) still
 * decrypts for one more period. Process-wide, so that every worker (they share one
 * SSL_CTX per generation) and every generation after a reload accept the same tickets.
 * A handshake holds the mutex for a copy of one key: uncontended in practice.
 */
static struct {
    pthread_mutex_t mu;
    struct tls_ticket_key key[2];
    int cur;
} tls_tickets = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Makes a fresh current key when there is none or it is older than a period. */
static int tls_ticket_rotate(time_t now)
{
    struct tls_ticket_key *k = &tls_tickets.key[tls_tickets.cur];
    int next = 1 - tls_tickets.cur;

    if (k->born != 0 && now - k->born < AG_TLS_TICKET_PERIOD_S)
        return 0;
    k = &tls_tickets.key[next];
    if (RAND_bytes(k->name, sizeof(k->name)) != 1 || RAND_bytes(k->aes, sizeof(k->aes)) != 1 ||
        RAND_bytes(k->hmac, sizeof(k->hmac)) != 1)
        return -1;
    k->born = now;
    tls_tickets.cur = next;
    return 0;
}

/* Copies the key to encrypt with (<name> NULL), or the one named <name>: 1 current, 2 older, 0 none. */
static int tls_ticket_find(const unsigned char *name, struct tls_ticket_key *out)
{
    time_t now = time(NULL);
    int found = 0;

    pthread_mutex_lock(&tls_tickets.mu);
    if (name == NULL) {
        if (tls_ticket_rotate(now) == 0) {
            *out = tls_tickets.key[tls_tickets.cur];
            found = 1;
        }
    } else {
        for (int i = 0; i < 2 && !found; i++) {
            const struct tls_ticket_key *k = &tls_tickets.key[i];
            if (k->born != 0 && now - k->born < 2 * AG_TLS_TICKET_PERIOD_S &&
                memcmp(k->name, name, sizeof(k->name)) == 0) {
                *out = *k;
                found = i == tls_tickets.cur ? 1 : 2; /* 2: renew the ticket */
            }
        }
    }
    pthread_mutex_unlock(&tls_tickets.mu);
    return found;
}

/* SSL_CTX_set_tlsext_ticket_key_evp_cb(): AES-256-CBC and HMAC-SHA256, as OpenSSL's own. */
static int tls_ticket_cb(SSL *s, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *ectx,
                         EVP_MAC_CTX *hctx, int enc)
{
    struct tls_ticket_key k;
    OSSL_PARAM params[3];
    int r;

    r = tls_ticket_find(enc ? NULL : name, &k);
    if (r == 0)
        return enc ? -1 : 0; /* unknown or expired key: a full handshake */
    params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k.hmac, sizeof(k.hmac));
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[2] = OSSL_PARAM_construct_end();
    if (enc) {
        memcpy(name, k.name, sizeof(k.name));
        if (RAND_bytes(iv, EVP_CIPHER_iv_length(EVP_aes_256_cbc())) != 1 ||
            EVP_EncryptInit_ex(ectx, EVP_aes_256_cbc(), NULL, k.aes, iv) != 1)
            r = -1;
    } else if (EVP_DecryptInit_ex(ectx, EVP_aes_256_cbc(), NULL, k.aes, iv) != 1) {
        r = -1;
    }
    if (r > 0 && EVP_MAC_CTX_set_params(hctx, params) != 1)
        r = -1;
    OPENSSL_cleanse(&k, sizeof(k));
    return r;
}

/* ---------------------------------------------------------------- the server side */

/* ALPN: http/1.1 or nothing (RFC 7301 s.3.2: no common protocol is a fatal alert). */
static int tls_alpn_cb(SSL *s, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned inlen, void *arg)
{
    static const unsigned char ours[] = "\x08http/1.1";
    unsigned char *o = NULL;

    if (SSL_select_next_proto(&o, outlen, ours, sizeof(ours) - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    *out = o;
    return SSL_TLSEXT_ERR_OK;
}

/* A key file with a passphrase is refused, never prompted for. */
static int tls_no_password(char *buf, int size, int rwflag, void *u)
{
    return 0;
}

/* The reason of OpenSSL's last error, for a message; clears the queue. */
static const char *tls_why(char *buf, size_t len)
{
    unsigned long e = ERR_peek_last_error();

    if (e == 0)
        snprintf(buf, len, "unknown error");
    else
        snprintf(buf, len, "%s", ERR_reason_error_string(e) ? ERR_reason_error_string(e)
                                                            : "unknown error");
    ERR_clear_error();
    return buf;
}

/* Opens <file> for the key <key>, or reports why not. */
static BIO *tls_open(const struct ag_config *cfg, const char *key, const char *file,
                     struct ag_err *err)
{
    FILE *f = fopen(file, "r");
    BIO *b;

    if (f == NULL) {
        ag_err_add(err, "%s: %s: cannot open %s: %s", cfg->source, key, file, strerror(errno));
        return NULL;
    }
    b = BIO_new_fp(f, BIO_CLOSE);
    if (b == NULL) {
        fclose(f);
        ag_err_add(err, "%s: %s: out of memory", cfg->source, key);
    }
    return b;
}

/* Loads the leaf and its chain from tls-cert-file into <ctx>. Returns 0 or -1 with <err> set. */
static int tls_load_cert(SSL_CTX *ctx, const struct ag_config *cfg, struct ag_err *err)
{
    BIO *b = tls_open(cfg, "tls-cert-file", cfg->tls_cert_file, err);
    X509 *x;
    char why[160];
    int rc = -1;

    if (b == NULL)
        return -1;
    x = PEM_read_bio_X509_AUX(b, NULL, NULL, NULL);
    if (x == NULL) {
        ag_err_add(err, "%s: tls-cert-file: %s holds no PEM certificate (%s)", cfg->source,
                   cfg->tls_cert_file, tls_why(why, sizeof(why)));
        goto out;
    }
    if (SSL_CTX_use_certificate(ctx, x) != 1) {
        ag_err_add(err, "%s: tls-cert-file: %s: certificate refused: %s", cfg->source,
                   cfg->tls_cert_file, tls_why(why, sizeof(why)));
        X509_free(x);
        goto out;
    }
    X509_free(x);
    SSL_CTX_clear_chain_certs(ctx);
    while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        if (SSL_CTX_add0_chain_cert(ctx, x) != 1) {
            X509_free(x);
            ag_err_add(err, "%s: tls-cert-file: %s: chain certificate refused: %s", cfg->source,
                       cfg->tls_cert_file, tls_why(why, sizeof(why)));
            goto out;
        }
    }
    /* The end of the file is "no start line"; anything else is a broken PEM block. */
    if (ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE &&
        ERR_peek_last_error() != 0) {
        ag_err_add(err, "%s: tls-cert-file: %s: bad certificate in the chain: %s", cfg->source,
                   cfg->tls_cert_file, tls_why(why, sizeof(why)));
        goto out;
    }
    ERR_clear_error();
    rc = 0;
out:
    BIO_free(b);
    return rc;
}

/* Loads tls-key-file into <ctx> and checks it against the certificate. 0 or -1. */
static int tls_load_key(SSL_CTX *ctx, const struct ag_config *cfg, bool have_cert,
                        struct ag_err *err)
{
    BIO *b = tls_open(cfg, "tls-key-file", cfg->tls_key_file, err);
    EVP_PKEY *k;
    char why[160];
    int rc = -1;

    if (b == NULL)
        return -1;
    k = PEM_read_bio_PrivateKey(b, NULL, tls_no_password, NULL);
    if (k == NULL) {
        ag_err_add(err, "%s: tls-key-file: %s holds no PEM private key without a passphrase (%s)",
                   cfg->source, cfg->tls_key_file, tls_why(why, sizeof(why)));
        goto out;
    }
    if (!have_cert) {
        rc = 0;
        goto out;
    }
    if (SSL_CTX_use_PrivateKey(ctx, k) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        ag_err_add(err, "%s: tls-key-file: %s does not match the certificate of tls-cert-file (%s)",
                   cfg->source, cfg->tls_key_file, tls_why(why, sizeof(why)));
        goto out;
    }
    rc = 0;
out:
    EVP_PKEY_free(k);
    BIO_free(b);
    return rc;
}

SSL_CTX *ag_tls_server_ctx(const struct ag_config *cfg, struct ag_err *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    bool cert_ok;

    if (ctx == NULL) {
        ag_err_add(err, "%s: tls-listen: cannot create a TLS context", cfg->source);
        return NULL;
    }
    SSL_CTX_set_default_passwd_cb(ctx, tls_no_password);
    cert_ok = tls_load_cert(ctx, cfg, err) == 0;
    if (tls_load_key(ctx, cfg, cert_ok, err) < 0 || !cert_ok)
        goto fail;
    if (SSL_CTX_set_min_proto_version(ctx, cfg->tls_min_version == 13 ? TLS1_3_VERSION
                                                                      : TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS_12) != 1 ||
        SSL_CTX_set_ciphersuites(ctx, TLS_CIPHERS_13) != 1 ||
        SSL_CTX_set1_groups_list(ctx, TLS_GROUPS) != 1 ||
        SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, tls_ticket_cb) != 1) {
        ag_err_add(err, "%s: tls-listen: cannot set up TLS: %s", cfg->source,
                   ERR_reason_error_string(ERR_peek_last_error()));
        ERR_clear_error();
        goto fail;
    }
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    /* io.c writes from an evbuffer that may move between retries, in pieces */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    /* Read whatever the socket holds in one read(2), not a record header and then its
     * body: io.c reads on until OpenSSL wants more anyway (the edge rule). */
    SSL_CTX_set_read_ahead(ctx, 1);
    /* Resumption by tickets only: no server-side cache shared (and locked) by the workers. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_timeout(ctx, AG_TLS_TICKET_PERIOD_S);
    SSL_CTX_set_num_tickets(ctx, 1);
    SSL_CTX_set_alpn_select_cb(ctx, tls_alpn_cb, NULL);
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

/* ---------------------------------------------------------------- the client side */

SSL_CTX *ag_tls_client_ctx(const struct ag_config *cfg, struct ag_err *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    char why[160];

    if (ctx == NULL) {
        ag_err_add(err, "%s: upstream: cannot create a TLS context", cfg->source);
        return NULL;
    }
    if (cfg->upstream_ca_file != NULL) {
        BIO *b = tls_open(cfg, "upstream-ca-file", cfg->upstream_ca_file, err);
        STACK_OF(X509_INFO) *infos;
        X509_STORE *store = SSL_CTX_get_cert_store(ctx);
        int n = 0;

        if (b == NULL)
            goto fail;
        infos = PEM_X509_INFO_read_bio(b, NULL, NULL, NULL);
        BIO_free(b);
        for (int i = 0; infos != NULL && i < sk_X509_INFO_num(infos); i++) {
            X509_INFO *xi = sk_X509_INFO_value(infos, i);
            if (xi->x509 != NULL && X509_STORE_add_cert(store, xi->x509) == 1)
                n++;
        }
        sk_X509_INFO_pop_free(infos, X509_INFO_free);
        if (n == 0) {
            ag_err_add(err, "%s: upstream-ca-file: %s holds no PEM certificate (%s)",
                       cfg->source, cfg->upstream_ca_file, tls_why(why, sizeof(why)));
            goto fail;
        }
        ERR_clear_error();
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        ag_err_add(err, "%s: upstream: cannot load the system's CA store (%s); set upstream-ca-file",
                   cfg->source, tls_why(why, sizeof(why)));
        goto fail;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(ctx, 1);
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}
