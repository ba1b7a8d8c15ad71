/*
 * store/scripts.c - the table of Lua script texts, in the order of enum ag_store__script,
 * and which of them are acknowledged writes. store/link.c SCRIPT LOADs every entry on
 * connect and again after a NOSCRIPT.
 *
 * Owns:     ag_store__script_text[], ag_store__script_acked[] (static data).
 * Entry:    ag_store__script_text[], ag_store__script_acked[].
 * Not here: the texts (each module defines its own, next to the code that calls it).
 * Spec:     docs/redis-keys.md, section "Scripts".
 */
#include "scripts.h"
#include "store_int.h"

const char *const ag_store__script_text[AG_STORE__NSCRIPTS] = {
    [AG_STORE__SESS_CREATE] = ag_sess__lua_create,
    [AG_STORE__SESS_ROTATE] = ag_sess__lua_rotate,
    [AG_STORE__REVOKE] = ag_sess__lua_revoke,
    [AG_STORE__USER_CREATE] = ag_user__lua_create,
    [AG_STORE__USER_FIND] = ag_user__lua_find,
    [AG_STORE__USER_LOGIN] = ag_user__lua_login,
    [AG_STORE__USER_UPDATE] = ag_user__lua_update,
    [AG_STORE__USER_SESSIONS] = ag_user__lua_sessions,
    [AG_STORE__USER_REVOKE] = ag_user__lua_revoke,
    [AG_STORE__RL_HIT] = ag_rl__lua_hit,
    [AG_STORE__SESS_LEGACY] = ag_sess__lua_legacy,
    [AG_STORE__USERS_PAGE] = ag_users__lua_page,
    [AG_STORE__USERS_SEARCH] = ag_users__lua_search,
    [AG_STORE__USERS_BACKFILL] = ag_users__lua_backfill,
    [AG_STORE__USERS_UPDATE] = ag_users__lua_update,
    [AG_STORE__USERS_DELETE] = ag_users__lua_delete,
    [AG_STORE__USER_PROFILE] = ag_user__lua_profile,
    [AG_STORE__APIKEY_CREATE] = ag_apikey__lua_create,
    [AG_STORE__APIKEY_LIST] = ag_apikey__lua_list,
    [AG_STORE__APIKEY_REVOKE] = ag_apikey__lua_revoke,
    [AG_STORE__APIKEY_LOOKUP] = ag_apikey__lua_lookup,
    [AG_STORE__APIKEY_TOUCH] = ag_apikey__lua_touch,
    [AG_STORE__SESS_UNCONFIRMED] = ag_sess__lua_unconfirmed,
};

/*
 * The writes a client is told succeeded: with redis-min-replicas-ack > 0 their successes
 * wait for the replicas (store/ack.c). Not here: reads, rate-limit counters, the login
 * failure count, audit entries, API key touches, the index backfill, and the mark sent
 * when a WAIT falls short (the client was told the write failed).
 */
const bool ag_store__script_acked[AG_STORE__NSCRIPTS] = {
    [AG_STORE__SESS_CREATE] = true,   [AG_STORE__SESS_ROTATE] = true,
    [AG_STORE__SESS_LEGACY] = true,   [AG_STORE__REVOKE] = true,
    [AG_STORE__USER_CREATE] = true,   [AG_STORE__USER_UPDATE] = true,
    [AG_STORE__USER_REVOKE] = true,   [AG_STORE__USER_PROFILE] = true,
    [AG_STORE__USERS_UPDATE] = true,  [AG_STORE__USERS_DELETE] = true,
    [AG_STORE__APIKEY_CREATE] = true, [AG_STORE__APIKEY_REVOKE] = true,
};
