/*
 * store/scripts.c - the table of Lua script texts, in the order of enum ag_store__script.
 * store/link.c SCRIPT LOADs every entry on connect and again after a NOSCRIPT.
 *
 * Owns:     ag_store__script_text[] (static data).
 * Entry:    ag_store__script_text[].
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
};
