/*
 * gateway/ep/webhook.c - one-shot JSON POSTs to the password-reset webhook: a bufferevent
 * per delivery (this is not the proxy path: a few per minute at most), HTTP/1.1 with
 * Connection: close, the status line read and logged, everything bounded by 5 s.
 *
 * Owns:     struct webhook_call (one delivery) until it ends.
 * Entry:    ag_webhook_post().
 * Not here: the reset token and its body (gateway/ep/ep_account.c).
 * Spec:     docs/users.md "Password reset".
 */
#include "webhook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <sodium.h>

#include "config.h"
#include "log.h"
#include "gen.h"

#define WEBHOOK_TIMEOUT_S 5

struct webhook_call {
    struct bufferevent *bev;
    char target[96]; /* host:port, for the log line */
};

static void webhook_end(struct webhook_call *c, const char *outcome)
{
    if (outcome != NULL)
        ag_log(AG_LOG_WARN, "password-reset webhook %s: %s", c->target, outcome);
    bufferevent_free(c->bev);
    free(c);
}

static void on_webhook_read(struct bufferevent *bev, void *arg)
{
    struct webhook_call *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    char *line = evbuffer_readln(in, NULL, EVBUFFER_EOL_CRLF);
    int status = 0;

    if (line == NULL) {
        if (evbuffer_get_length(in) > 1024)
            webhook_end(c, "answer without a status line");
        return;
    }
    if (sscanf(line, "HTTP/1.%*d %d", &status) != 1 || status < 200 || status > 299) {
        char why[64];
        snprintf(why, sizeof(why), "answered %d", status);
        free(line);
        webhook_end(c, why);
        return;
    }
    free(line);
    ag_log(AG_LOG_INFO, "password-reset webhook %s: delivered (%d)", c->target, status);
    webhook_end(c, NULL);
}

static void on_webhook_event(struct bufferevent *bev, short what, void *arg)
{
    struct webhook_call *c = arg;

    if (what & BEV_EVENT_CONNECTED)
        return;
    webhook_end(c, (what & BEV_EVENT_TIMEOUT) ? "timed out"
                   : (what & BEV_EVENT_EOF)   ? "closed before answering"
                                              : "connection failed");
}

void ag_webhook_post(struct event_base *base, const struct ag_gen *g, const char *body,
                     size_t len)
{
    const struct ag_config *cfg = g->cfg;
    struct timeval tv = {WEBHOOK_TIMEOUT_S, 0};
    struct webhook_call *c;
    struct evbuffer *out;

    if (g->webhook.addrlen == 0 || (c = calloc(1, sizeof(*c))) == NULL)
        return;
    snprintf(c->target, sizeof(c->target), "%s:%s", cfg->reset_webhook_host,
             cfg->reset_webhook_port);
    c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL) {
        free(c);
        return;
    }
    bufferevent_setcb(c->bev, on_webhook_read, NULL, on_webhook_event, c);
    bufferevent_set_timeouts(c->bev, &tv, &tv);
    out = bufferevent_get_output(c->bev);
    evbuffer_add_printf(out,
                        "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                        "Content-Length: %zu\r\nConnection: close\r\nUser-Agent: authgate/%s\r\n\r\n",
                        cfg->reset_webhook_path, c->target, len, AG_VERSION);
    evbuffer_add(out, body, len);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect(c->bev, (const struct sockaddr *)&g->webhook.addr,
                                   (int)g->webhook.addrlen) < 0)
        webhook_end(c, "connection failed");
}
