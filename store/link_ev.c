/*
 * store/link_ev.c - what the links put between hiredis and the event loop on every
 * command: their own libevent adapter (hiredis's adapters/libevent.h, changed where each
 * command paid for it) and the RESP formatting of a command in one pass.
 *
 * Owns:     the struct link_ev of each redisAsyncContext of a link (freed by hiredis's
 *           cleanup hook).
 * Entry:    ag_link__ev_attach(), ag_link__ev_flush(), ag_link__format() (for store/link.c),
 *           ag_store__num().
 * Not here: connecting, commands and their replies (store/link.c); the sentinels' own
 *           connections (store/sentinel.c, hiredis's adapter as it is).
 * Spec:     RESP (redis.io/docs/reference/protocol-spec); tests/bench/README.md
 *           "Instructions per refresh" for what each saves.
 */
#include "link.h"

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- RESP */

size_t ag_store__num(char out[24], int64_t v)
{
    char d[24];
    size_t i = sizeof(d);
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

    d[--i] = '\0';
    do {
        d[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u > 0);
    if (v < 0)
        d[--i] = '-';
    memcpy(out, d + i, sizeof(d) - i);
    return sizeof(d) - i - 1;
}

/* Writes "<c><n>\r\n" at <w>; returns the end. */
static char *link_resp_len(char *w, char c, size_t n)
{
    char d[24];
    size_t k;

    k = ag_store__num(d, (int64_t)n);
    *w++ = c;
    memcpy(w, d, k);
    w += k;
    *w++ = '\r';
    *w++ = '\n';
    return w;
}

/*
 * Sends <argc> arguments as one RESP command with <fn>(<p>): formatted here, in one pass
 * (hiredis's redisFormatSdsCommandArgv() costs ~700 instructions an argument, on every
 * refresh's 23). REDIS_OK or REDIS_ERR, as redisAsyncCommandArgv().
 */
int ag_link__format(redisAsyncContext *ac, redisCallbackFn *fn, void *p, int argc,
                    char *const *argv, const size_t *lens)
{
    char stack[2048], *cmd = stack, *w;
    size_t need = 32;
    int rc;

    for (int i = 0; i < argc; i++)
        need += lens[i] + 32;
    if (need > sizeof(stack) && (cmd = malloc(need)) == NULL)
        return REDIS_ERR;
    w = link_resp_len(cmd, '*', (size_t)argc);
    for (int i = 0; i < argc; i++) {
        w = link_resp_len(w, '$', lens[i]);
        memcpy(w, argv[i], lens[i]);
        w += lens[i];
        *w++ = '\r';
        *w++ = '\n';
    }
    /* hiredis 0.14 reads the command with strchr() and looks one byte past its last
     * argument (nextArgument(), __redisAsyncCommand()): a NUL there, as an sds has. */
    *w = '\0';
    rc = redisAsyncFormattedCommand(ac, fn, p, cmd, (size_t)(w - cmd));
    if (cmd != stack)
        free(cmd);
    return rc;
}

/* ---------------------------------------------------------------- the adapter */

/*
 * The links' libevent adapter: hiredis's adapters/libevent.h, changed where every command
 * paid for it (tests/bench/refresh_instr.sh, strace: 4 epoll_ctl and an epoll_wait per
 * refresh). The read event persists instead of being deleted and added again around each
 * reply, and a command's write runs from the loop's active queue in the same turn
 * (event_active()) instead of after an epoll round for writability. The connect, and a
 * write that did not finish (a full socket buffer), still wait for writability.
 */
struct link_ev {
    redisAsyncContext *ac;
    struct event *rev, *wev;
};

static _Thread_local bool link_ev_writing; /* inside redisAsyncHandleWrite() */

static void link_ev_read(evutil_socket_t fd, short what, void *arg)
{
    struct link_ev *e = arg;

    redisAsyncHandleRead(e->ac);
}

static void link_ev_write(evutil_socket_t fd, short what, void *arg)
{
    struct link_ev *e = arg;

    link_ev_writing = true;
    redisAsyncHandleWrite(e->ac); /* may free <e> (a failed write frees the context) */
    link_ev_writing = false;
}

static void link_ev_add_read(void *arg)
{
    struct link_ev *e = arg;

    event_add(e->rev, NULL); /* persistent: nothing to do when it is already added */
}

static void link_ev_del_read(void *arg)
{
    struct link_ev *e = arg;

    event_del(e->rev);
}

static void link_ev_add_write(void *arg)
{
    struct link_ev *e = arg;

    if ((e->ac->c.flags & REDIS_CONNECTED) && !link_ev_writing)
        event_active(e->wev, EV_WRITE, 1); /* a new command: written in this turn */
    else
        event_add(e->wev, NULL);
}

static void link_ev_del_write(void *arg)
{
    struct link_ev *e = arg;

    event_del(e->wev);
}

static void link_ev_cleanup(void *arg)
{
    struct link_ev *e = arg;

    if (e->rev != NULL) /* NULL only when ag_link__ev_attach() ran out of memory */
        event_free(e->rev);
    if (e->wev != NULL)
        event_free(e->wev);
    free(e);
}

void ag_link__ev_flush(redisAsyncContext *ac)
{
    int done;

    /*
     * Only the write: redisAsyncHandleWrite() would free <ac> on an error, and we may be
     * inside one of its reply callbacks. The write event a new command made active is
     * still queued: it finishes a short write, or meets the error and disconnects, from
     * the loop.
     */
    if (ac != NULL && (ac->c.flags & REDIS_CONNECTED) && !link_ev_writing && ac->c.err == 0)
        (void)redisBufferWrite(&ac->c, &done);
}

int ag_link__ev_attach(redisAsyncContext *ac, struct event_base *base)
{
    struct link_ev *e;

    if (ac->ev.data != NULL || (e = calloc(1, sizeof(*e))) == NULL)
        return REDIS_ERR;
    e->ac = ac;
    e->rev = event_new(base, ac->c.fd, EV_READ | EV_PERSIST, link_ev_read, e);
    e->wev = event_new(base, ac->c.fd, EV_WRITE, link_ev_write, e);
    if (e->rev == NULL || e->wev == NULL) {
        link_ev_cleanup(e);
        return REDIS_ERR;
    }
    ac->ev.addRead = link_ev_add_read;
    ac->ev.delRead = link_ev_del_read;
    ac->ev.addWrite = link_ev_add_write;
    ac->ev.delWrite = link_ev_del_write;
    ac->ev.cleanup = link_ev_cleanup;
    ac->ev.data = e;
    event_add(e->rev, NULL);
    event_add(e->wev, NULL);
    return REDIS_OK;
}
