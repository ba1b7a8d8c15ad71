"""A user's sessions against the store's current state (issue 9; CONTRACT.md sections 7
and 13; docs/users.md "Sessions"): a refresh re-reads the user (a deactivated user's
refresh is refused and the session ends; changed roles and flags reach the next pair),
the per-user session cap, the bounded and rate-limited listing, and User-Agent text
that cannot hide a session from its owner.
"""

import time

import requests

from test_tokens import decode
from test_users import (api, assert_refused, bearer, login_ok, make_user, redis_cmd,
                        refresh_post, ustart, user_key)

NS = "authgate"


def sessions(gw, access, **kw):
    return requests.get(gw.url + "/auth/sessions", headers=bearer(access), timeout=10, **kw)


def sess_key(sid):
    return "{%s}:sess:%s" % (NS, sid)


def usess_key(uid):
    return "{%s}:usess:%s" % (NS, uid)


# ---------------------------------------------------------------- point 10: refresh re-reads the user

def test_refresh_of_a_deactivated_user_is_403_and_ends_the_session(gateway, redis_server,
                                                                     upstream):
    gw = ustart(gateway, redis_server, upstream)
    u = make_user(gw)
    pair = login_ok(gw, u["username"])
    other = login_ok(gw, u["username"])
    assert redis_cmd(redis_server.port, "HSET", user_key(u["id"]), "is_active", "0") == 0

    r = refresh_post(gw, pair["refresh_token"])
    assert r.status_code == 403 and r.json() == {"detail": "Inactive user"}, r.text
    r = requests.get(gw.url + "/auth/token/refresh",
                     params={"refresh_token": other["refresh_token"]}, timeout=10)
    assert r.status_code == 403, r.text
    assert r.json() == {"status": "error", "message": "Inactive user", "code": 403}

    # The sessions ended: reactivated, the same refresh tokens stay refused, and the
    # access tokens of those sessions are revoked.
    assert redis_cmd(redis_server.port, "HSET", user_key(u["id"]), "is_active", "1") == 0
    assert redis_cmd(redis_server.port, "EXISTS", sess_key(decode(pair["access_token"])["sid"])) == 0
    r = refresh_post(gw, pair["refresh_token"])
    assert r.status_code == 401, r.text
    assert_refused(gw, pair["access_token"])
    assert_refused(gw, other["access_token"])
    # A new login works again.
    assert api(gw, login_ok(gw, u["username"])["access_token"]).status_code == 200


def test_refresh_takes_the_users_current_roles_and_flags(gateway, redis_server):
    gw = ustart(gateway, redis_server, **{"role-scopes": {"staff": ["read"]}})
    u = make_user(gw)
    pair = login_ok(gw, u["username"])
    claims = decode(pair["access_token"])
    assert "roles" not in claims and "scope" not in claims

    assert redis_cmd(redis_server.port, "HSET", user_key(u["id"]), "roles", "editor",
                     "is_staff", "1") == 0
    r = refresh_post(gw, pair["refresh_token"])
    assert r.status_code == 200, r.text
    new = r.json()
    claims = decode(new["access_token"])
    assert claims["roles"] == ["editor", "staff"]
    assert claims["scope"] == "editor read"

    # A role taken away is gone from the next pair too.
    assert redis_cmd(redis_server.port, "HSET", user_key(u["id"]), "roles", "",
                     "is_staff", "0") == 0
    r = refresh_post(gw, new["refresh_token"])
    assert r.status_code == 200, r.text
    claims = decode(r.json()["access_token"])
    assert "roles" not in claims and "scope" not in claims


def test_refresh_of_a_deleted_user_is_401_and_ends_the_session(gateway, redis_server):
    gw = ustart(gateway, redis_server)
    u = make_user(gw)
    pair = login_ok(gw, u["username"])
    assert redis_cmd(redis_server.port, "DEL", user_key(u["id"])) == 1
    r = refresh_post(gw, pair["refresh_token"])
    assert r.status_code == 401 and r.json() == {"detail": "Invalid refresh token"}, r.text
    assert redis_cmd(redis_server.port, "EXISTS", sess_key(decode(pair["access_token"])["sid"])) == 0


# ---------------------------------------------------------------- point 17: cap, bounded scan, limit

LIMITS = {"login": {"limit": 1000, "window": 60}, "login-account": {"limit": 1000, "window": 60},
          "sessions": {"limit": 1000, "window": 60}}


def test_sessions_per_user_are_capped_oldest_ended(gateway, redis_server, upstream):
    gw = ustart(gateway, redis_server, upstream, **{"rate-limits": LIMITS,
                                                    "max-sessions-per-user": 3})
    u = make_user(gw)
    pairs = [login_ok(gw, u["username"]) for _ in range(5)]
    sids = [decode(p["access_token"])["sid"] for p in pairs]

    r = sessions(gw, pairs[-1]["access_token"])
    assert r.status_code == 200, r.text
    assert sorted(s["id"] for s in r.json()) == sorted(sids[2:])
    assert redis_cmd(redis_server.port, "ZCARD", usess_key(u["id"])) == 3
    # The two oldest ended: refresh refused, access tokens revoked.
    for p in pairs[:2]:
        assert refresh_post(gw, p["refresh_token"]).status_code == 401
        assert_refused(gw, p["access_token"])
    assert refresh_post(gw, pairs[2]["refresh_token"]).status_code == 200


def test_sessions_listing_examines_a_bounded_part_of_the_index(gateway, redis_server):
    gw = ustart(gateway, redis_server, **{"rate-limits": LIMITS, "max-sessions-per-user": 3})
    u = make_user(gw)
    pairs = [login_ok(gw, u["username"]) for _ in range(3)]
    # 2,000 index members without a session, as an index grown before the cap holds; they
    # end before the live ones, so the live ones are examined first.
    soon = int(time.time()) + 600
    args = []
    for i in range(2000):
        args += [soon, "dead-%d" % i]
    assert redis_cmd(redis_server.port, "ZADD", usess_key(u["id"]), *args) == 2000

    r = sessions(gw, pairs[0]["access_token"])
    assert r.status_code == 200, r.text
    assert len(r.json()) == 3
    # It looked at 3 + 64 members (max + slack) and pruned the 64 dead ones it saw.
    assert redis_cmd(redis_server.port, "ZCARD", usess_key(u["id"])) == 2003 - 64


def test_sessions_listing_is_rate_limited_per_user(gateway, redis_server):
    limits = dict(LIMITS, sessions={"limit": 2, "window": 60})
    gw = ustart(gateway, redis_server, **{"rate-limits": limits})
    u = make_user(gw)
    access = login_ok(gw, u["username"])["access_token"]
    assert sessions(gw, access).status_code == 200
    assert sessions(gw, access).status_code == 200
    r = sessions(gw, access)
    assert r.status_code == 429 and r.json() == {"detail": "Too many requests"}, r.text
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    # Another user has a bucket of its own.
    v = make_user(gw)
    assert sessions(gw, login_ok(gw, v["username"])["access_token"]).status_code == 200


# ---------------------------------------------------------------- point 18: User-Agent text

def test_a_session_with_an_odd_user_agent_is_listed_cleaned(gateway, redis_server):
    gw = ustart(gateway, redis_server)
    u = make_user(gw)
    bad = login_ok(gw, u["username"], headers={"User-Agent": b"bad\xff\xfe ua"})
    long_ = login_ok(gw, u["username"], headers={"User-Agent": b"a" + "\u00e9".encode() * 300})
    ctl = login_ok(gw, u["username"], headers={"User-Agent": b"tab\there"})
    legacy = login_ok(gw, u["username"])
    # An entry stored before the cleaning (or by hand) still lists.
    assert redis_cmd(redis_server.port, "HSET", sess_key(decode(legacy["access_token"])["sid"]),
                     "ua", b"old\xc3") == 0

    r = sessions(gw, bad["access_token"])
    assert r.status_code == 200, r.text
    by_sid = {s["id"]: s["user_agent"] for s in r.json()}
    sid = lambda p: decode(p["access_token"])["sid"]
    assert len(by_sid) == 4, by_sid
    assert by_sid[sid(bad)] == "bad\ufffd\ufffd ua"
    assert by_sid[sid(long_)] == "a" + "\u00e9" * 255  # 511 bytes: cut between characters
    assert by_sid[sid(ctl)] == "tab\ufffdhere"
    assert by_sid[sid(legacy)] == "old\ufffd"
    # and each still works
    for p in (bad, long_, ctl, legacy):
        assert refresh_post(gw, p["refresh_token"]).status_code == 200
