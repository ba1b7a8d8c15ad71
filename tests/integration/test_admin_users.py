"""The users admin API and CLI (CONTRACT.md section 13; docs/admin.md) through the real
binary on a real redis-server: who may call it, paging and the filter over the user index,
PATCH validation, what a change revokes (on a second instance, within 1 s), delete,
a user's sessions, the backfill of users written before the index, and the `authgate
user` / `authgate sessions` commands.
"""

import json
import time

import requests

from conftest import run_authgate
from test_tokens import MASTER, decode, new_pair
from test_users import (PW, USER_KEYS, api, bearer, login_ok, make_user, redis_cmd,
                        refresh_post, uname, ustart, user_key)

NS = "authgate"
MH = {"MASTER-TOKEN": MASTER}
D403 = {"detail": "Not enough permissions"}
D401 = {"detail": "Unauthorized Access Token"}


def adm(gw, method, path, headers=None, **kw):
    return requests.request(method, gw.url + "/auth/admin" + path, headers=headers or MH,
                            timeout=15, **kw)


def patch(gw, uid, body, headers=None, raw=None):
    if raw is not None:
        h = dict(headers or MH)
        h["Content-Type"] = "application/json"
        return adm(gw, "PATCH", "/users/" + uid, headers=h, data=raw)
    return adm(gw, "PATCH", "/users/" + uid, headers=headers, json=body)


def with_flags(port, uid, **flags):
    """Sets the user's flags straight in Redis (the way tests make admins)."""
    args = []
    for k, v in flags.items():
        args += [k, "1" if v else "0"]
    redis_cmd(port, "HSET", user_key(uid), *args)


def admin_token(gw, port, **flags):
    u = make_user(gw)
    with_flags(port, u["id"], **flags)
    return u, login_ok(gw, u["username"])["access_token"]


def wait_until(fn, within=1.0):
    """Seconds until fn() holds on 4 tries in a row (each may reach another worker), or None."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < within:
        if all(fn() for _ in range(4)):
            return time.monotonic() - t0
        time.sleep(0.005)
    return None


def audit(port, event=None):
    """The newest audit entries (of <event>, when given) as dicts, newest first."""
    entries = redis_cmd(port, "XREVRANGE", "{%s}:audit" % NS, "+", "-", "COUNT", "50")
    out = [dict(zip(e[1][::2], e[1][1::2])) for e in entries]
    return [e for e in out if event is None or e["event"] == event]


def assert_422(r, loc):
    assert r.status_code == 422, (r.status_code, r.text)
    d = r.json()["detail"]
    assert len(d) == 1 and d[0]["loc"] == loc, d


# ---------------------------------------------------------------- who may call

def test_auth_matrix(gateway, redis_server):
    gw = ustart(gateway, redis_server)
    target = make_user(gw)
    plain = login_ok(gw, make_user(gw)["username"])["access_token"]
    _, staff = admin_token(gw, redis_server.port, is_staff=True)
    _, su = admin_token(gw, redis_server.port, is_superuser=True)
    client = new_pair(gw, "billing")["access_token"]
    path = "/users/" + target["id"]

    r = requests.get(gw.url + "/auth/admin/users", timeout=10)
    assert r.status_code == 401 and r.json() == D401
    assert "WWW-Authenticate" in r.headers
    for tok in (plain, client):
        for method, p in (("GET", "/users"), ("GET", path), ("DELETE", path),
                          ("GET", path + "/sessions")):
            r = adm(gw, method, p, headers=bearer(tok))
            assert r.status_code == 403 and r.json() == D403, (method, p, r.text)
        r = patch(gw, target["id"], {"roles": []}, headers=bearer(tok))
        assert r.status_code == 403 and r.json() == D403
    # staff reads, never writes
    assert adm(gw, "GET", "/users", headers=bearer(staff)).status_code == 200
    assert adm(gw, "GET", path, headers=bearer(staff)).status_code == 200
    assert adm(gw, "GET", path + "/sessions", headers=bearer(staff)).status_code == 200
    for r in (patch(gw, target["id"], {"roles": ["x"]}, headers=bearer(staff)),
              adm(gw, "DELETE", path, headers=bearer(staff)),
              adm(gw, "DELETE", path + "/sessions", headers=bearer(staff)),
              adm(gw, "DELETE", path + "/sessions/nope", headers=bearer(staff))):
        assert r.status_code == 403 and r.json() == D403
    # a superuser and the master token do everything
    for h in (bearer(su), MH):
        assert adm(gw, "GET", path, headers=h).json()["id"] == target["id"]
        r = patch(gw, target["id"], {"roles": ["a"]}, headers=h)
        assert r.status_code == 200 and r.json()["roles"] == ["a"], r.text
        assert adm(gw, "DELETE", path + "/sessions", headers=h).status_code == 204
    # a wrong master token and a bad token are 401
    assert adm(gw, "GET", "/users", headers={"MASTER-TOKEN": "wrong"}).status_code == 401
    assert adm(gw, "GET", "/users", headers=bearer("x.y.z")).status_code == 401
    # 405 names the methods of the path
    r = adm(gw, "POST", path)
    assert r.status_code == 405
    assert set(m.strip() for m in r.headers["Allow"].split(",")) == {"GET", "PATCH", "DELETE"}
    assert adm(gw, "DELETE", "/users/" + target["id"], headers=bearer(su)).status_code == 204


def test_cookie_authenticated_patch_from_a_foreign_origin_is_403(gateway, redis_server):
    gw = ustart(gateway, redis_server)
    target = make_user(gw)
    _, su = admin_token(gw, redis_server.port, is_superuser=True)
    cookies = {"access_token": su}
    r = requests.patch(gw.url + "/auth/admin/users/" + target["id"], json={"roles": ["x"]},
                       cookies=cookies, headers={"Origin": "https://evil.example"}, timeout=10)
    assert r.status_code == 403 and r.json() == {"detail": "CSRF check failed: Origin does not match"}
    r = requests.delete(gw.url + "/auth/admin/users/" + target["id"], cookies=cookies,
                        headers={"Origin": "https://evil.example"}, timeout=10)
    assert r.status_code == 403
    # the page's own origin passes, and a GET needs no check
    host = gw.url.split("://", 1)[1]
    r = requests.patch(gw.url + "/auth/admin/users/" + target["id"], json={"roles": ["x"]},
                       cookies=cookies, headers={"Origin": "http://" + host}, timeout=10)
    assert r.status_code == 200 and r.json()["roles"] == ["x"], r.text
    r = requests.get(gw.url + "/auth/admin/users", cookies=cookies,
                     headers={"Origin": "https://evil.example"}, timeout=10)
    assert r.status_code == 200


# ---------------------------------------------------------------- listing

def test_paging_and_filter(gateway, redis_server):
    gw = ustart(gateway, redis_server)
    tag = uname("Pg")
    made = []
    for i in range(7):
        name = "%s_%d" % (tag, i)
        email = ("%s_mail@Example.COM" % name) if i % 2 else ("z%d_%s@example.com" % (i, tag.lower()))
        made.append(make_user(gw, name, email))
    other = make_user(gw)

    r = adm(gw, "GET", "/users", params={"limit": 500})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"users", "total"}
    ids = [u["id"] for u in body["users"]]
    assert body["total"] == len(ids)
    # oldest first: the order of creation, even within one second
    pos = [ids.index(u["id"]) for u in made + [other]]
    assert pos == sorted(pos)
    assert set(body["users"][0]) == set(USER_KEYS)

    # paging without a filter
    n = body["total"]
    page = adm(gw, "GET", "/users", params={"offset": n - 3, "limit": 2}).json()
    assert page["total"] == n and [u["id"] for u in page["users"]] == ids[n - 3:n - 1]
    assert adm(gw, "GET", "/users", params={"offset": n + 5}).json() == {"users": [], "total": n}
    default = adm(gw, "GET", "/users").json()
    assert len(default["users"]) == min(50, n)

    # q: substring of username or email, case ignored; total counts every match
    r = adm(gw, "GET", "/users", params={"q": tag.upper()}).json()
    assert r["total"] == 7 and [u["id"] for u in r["users"]] == [u["id"] for u in made]
    r = adm(gw, "GET", "/users", params={"q": tag.lower() + "_3_MAIL@example"}).json()
    assert r["total"] == 1 and r["users"][0]["id"] == made[3]["id"]
    r = adm(gw, "GET", "/users", params={"q": "z4_" + tag}).json()  # in the email only
    assert r["total"] == 1 and r["users"][0]["id"] == made[4]["id"]
    r = adm(gw, "GET", "/users", params={"q": tag, "offset": 2, "limit": 3}).json()
    assert r["total"] == 7 and [u["id"] for u in r["users"]] == [u["id"] for u in made[2:5]]
    r = adm(gw, "GET", "/users", params={"q": tag, "offset": 6, "limit": 3}).json()
    assert r["total"] == 7 and [u["id"] for u in r["users"]] == [made[6]["id"]]
    assert adm(gw, "GET", "/users", params={"q": "no-such-" + tag}).json() == {"users": [],
                                                                               "total": 0}


def test_limit_offset_and_q_bounds_are_422_naming_the_field(gateway, redis_server):
    gw = ustart(gateway, redis_server)
    for params, field in (({"limit": 0}, "limit"), ({"limit": 501}, "limit"),
                          ({"limit": "ten"}, "limit"), ({"limit": "-1"}, "limit"),
                          ({"limit": "1.5"}, "limit"), ({"offset": "-1"}, "offset"),
                          ({"offset": "x"}, "offset"), ({"q": "a\nb"}, "q"),
                          ({"q": "x" * 257}, "q")):
        r = adm(gw, "GET", "/users", params=params)
        assert_422(r, ["query", field])
    for limit in (1, 500):
        assert adm(gw, "GET", "/users", params={"limit": limit}).status_code == 200


def test_get_one_and_404(gateway, redis_server):
    gw = ustart(gateway, redis_server)
    u = make_user(gw)
    r = adm(gw, "GET", "/users/" + u["id"])
    assert r.status_code == 200 and r.json() == u
    for uid in ("no-such-user", "x" * 65):
        r = adm(gw, "GET", "/users/" + uid)
        assert r.status_code == 404 and r.json() == {"detail": "User not found"}, uid
        assert patch(gw, uid, {"is_active": False}).status_code == 404
        assert adm(gw, "DELETE", "/users/" + uid).status_code == 404
        assert adm(gw, "GET", "/users/%s/sessions" % uid).status_code == 404
        assert adm(gw, "DELETE", "/users/%s/sessions" % uid).status_code == 404


# ---------------------------------------------------------------- PATCH

def test_patch_validation_names_the_field(gateway, redis_server):
    gw = ustart(gateway, redis_server)
    u = make_user(gw)
    cases = [
        ({"is_active": "no"}, ["body", "is_active"]),
        ({"is_staff": 1}, ["body", "is_staff"]),
        ({"is_superuser": None}, ["body", "is_superuser"]),
        ({"roles": "admin"}, ["body", "roles"]),
        ({"roles": [1]}, ["body", "roles"]),
        ({"roles": ["a b"]}, ["body", "roles"]),
        ({"roles": ["a,b"]}, ["body", "roles"]),
        ({"roles": [""]}, ["body", "roles"]),
        ({"roles": ["x" * 65]}, ["body", "roles"]),
        ({"roles": ["a", "a"]}, ["body", "roles"]),
        ({"roles": ["staff"]}, ["body", "roles"]),
        ({"roles": ["superuser"]}, ["body", "roles"]),
        ({"roles": ["r%d" % i for i in range(65)]}, ["body", "roles"]),
        ({"username": "other"}, ["body", "username"]),
        ({"is_active": True, "hash": "x"}, ["body", "hash"]),
    ]
    for body, loc in cases:
        assert_422(patch(gw, u["id"], body), loc)
    for raw in ('{"is_active": true, "is_active": false}', "[]", "nope", ""):
        r = patch(gw, u["id"], None, raw=raw)
        assert_422(r, ["body"])
    r = adm(gw, "PATCH", "/users/" + u["id"], data="is_active=false",
            headers=dict(MH, **{"Content-Type": "application/x-www-form-urlencoded"}))
    assert r.status_code == 415
    # nothing was changed by any of them
    assert adm(gw, "GET", "/users/" + u["id"]).json() == u
    # a valid one changes exactly what it names
    r = patch(gw, u["id"], {"roles": ["editor", "billing"], "is_staff": True})
    assert r.status_code == 200, r.text
    want = dict(u, roles=["editor", "billing"], is_staff=True)
    assert r.json() == want
    assert patch(gw, u["id"], {}).json() == want
    assert adm(gw, "GET", "/users/" + u["id"]).json() == want


def test_deactivation_is_refused_on_a_second_instance_within_1s(gateway, redis_server, upstream):
    a = ustart(gateway, redis_server, upstream)
    b = ustart(gateway, redis_server, upstream)
    u = make_user(a)
    pair = login_ok(a, u["username"])
    other = login_ok(b, u["username"])
    assert api(b, pair["access_token"]).status_code == 200

    t0 = time.monotonic()
    r = patch(a, u["id"], {"is_active": False})
    assert r.status_code == 200 and r.json()["is_active"] is False
    took = wait_until(lambda: api(b, pair["access_token"]).status_code == 401 and
                      api(b, other["access_token"]).status_code == 401, 1.0)
    assert took is not None, "access tokens still pass on the other instance after 1 s"
    assert time.monotonic() - t0 < 1.0
    assert api(b, pair["access_token"]).json() == D401
    # the sessions ended: no refresh on either instance, even once reactivated
    assert refresh_post(b, pair["refresh_token"]).status_code == 401
    assert patch(a, u["id"], {"is_active": True}).json()["is_active"] is True
    r = refresh_post(b, other["refresh_token"])
    assert r.status_code == 401, r.text
    # a new login works again, on both
    fresh = login_ok(b, u["username"])
    assert api(a, fresh["access_token"]).status_code == 200


def test_role_removal_revokes_access_tokens_but_not_the_session(gateway, redis_server, upstream):
    a = ustart(gateway, redis_server, upstream)
    b = ustart(gateway, redis_server, upstream)
    u = make_user(a)
    assert patch(a, u["id"], {"roles": ["editor", "billing"], "is_staff": True}).status_code == 200
    pair = login_ok(a, u["username"])
    assert decode(pair["access_token"])["roles"] == ["editor", "billing", "staff"]

    # adding a role revokes nothing
    assert patch(a, u["id"], {"roles": ["editor", "billing", "ops"]}).status_code == 200
    assert api(b, pair["access_token"]).status_code == 200

    t0 = time.monotonic()
    r = patch(a, u["id"], {"roles": ["editor", "ops"]})
    assert r.status_code == 200 and r.json()["roles"] == ["editor", "ops"]
    took = wait_until(lambda: api(b, pair["access_token"]).status_code == 401, 1.0)
    assert took is not None and time.monotonic() - t0 < 1.0
    # the session lives on: the refresh (at once, the same second) mints the new roles
    r = refresh_post(b, pair["refresh_token"])
    assert r.status_code == 200, r.text
    new = r.json()
    assert decode(new["access_token"])["roles"] == ["editor", "ops", "staff"]
    assert api(b, new["access_token"]).status_code == 200
    assert api(a, new["access_token"]).status_code == 200

    # removing a flag does the same
    r = patch(a, u["id"], {"is_staff": False})
    assert r.status_code == 200 and r.json()["is_staff"] is False
    assert wait_until(lambda: api(a, new["access_token"]).status_code == 401, 1.0) is not None
    r = refresh_post(a, new["refresh_token"])
    assert r.status_code == 200, r.text
    newer = r.json()
    assert decode(newer["access_token"])["roles"] == ["editor", "ops"]
    assert api(b, newer["access_token"]).status_code == 200
    # the audit stream says who did what to whom
    ups = audit(redis_server.port, "admin_user_update")
    assert ups and ups[0]["actor"] == "master" and ups[0]["user_id"] == u["id"]
    assert ups[0]["fields"] == "is_staff" and ups[0]["revoked"] == "tokens"


# ---------------------------------------------------------------- delete

def test_delete_frees_the_name_and_ends_the_sessions(gateway, redis_server, upstream):
    a = ustart(gateway, redis_server, upstream)
    b = ustart(gateway, redis_server, upstream)
    u = make_user(a)
    pair = login_ok(a, u["username"])
    assert api(b, pair["access_token"]).status_code == 200
    t0 = time.monotonic()
    r = adm(a, "DELETE", "/users/" + u["id"])
    assert r.status_code == 204 and r.content == b""
    assert wait_until(lambda: api(b, pair["access_token"]).status_code == 401, 1.0) is not None
    assert time.monotonic() - t0 < 1.0
    assert adm(b, "GET", "/users/" + u["id"]).status_code == 404
    assert adm(a, "DELETE", "/users/" + u["id"]).status_code == 404
    assert refresh_post(b, pair["refresh_token"]).status_code == 401
    listed = adm(a, "GET", "/users", params={"limit": 500}).json()
    assert u["id"] not in [x["id"] for x in listed["users"]]
    # the username and email register again at once
    again = make_user(a, u["username"], u["email"])
    assert again["id"] != u["id"]
    assert api(b, login_ok(b, u["username"])["access_token"]).status_code == 200
    dels = audit(redis_server.port, "admin_user_delete")
    assert dels and dels[0]["user_id"] == u["id"] and dels[0]["actor"] == "master"


# ---------------------------------------------------------------- sessions

def test_sessions_list_revoke_one_and_all(gateway, redis_server, upstream):
    gw = ustart(gateway, redis_server, upstream)
    u = make_user(gw)
    p1 = login_ok(gw, u["username"], headers={"User-Agent": "ua-one"})
    p2 = login_ok(gw, u["username"], headers={"User-Agent": "ua-two"})
    p3 = login_ok(gw, u["username"])
    r = adm(gw, "GET", "/users/%s/sessions" % u["id"])
    assert r.status_code == 200, r.text
    ss = r.json()["sessions"]
    sids = {decode(p["access_token"])["sid"] for p in (p1, p2, p3)}
    assert {s["id"] for s in ss} == sids
    s1 = [s for s in ss if s["id"] == decode(p1["access_token"])["sid"]][0]
    assert s1["user_agent"] == "ua-one" and s1["ip"] == "127.0.0.1"
    assert isinstance(s1["created_at"], int) and isinstance(s1["last_seen"], int)
    # the same formats as the user's own list where they overlap
    own = requests.get(gw.url + "/auth/sessions", headers=bearer(p1["access_token"]), timeout=10)
    mine = [s for s in own.json() if s["id"] == s1["id"]][0]
    assert mine["created_at"] == s1["created_at"] and mine["ip"] == s1["ip"]
    assert mine["user_agent"] == s1["user_agent"]

    sid1 = decode(p1["access_token"])["sid"]
    r = adm(gw, "DELETE", "/users/%s/sessions/%s" % (u["id"], sid1))
    assert r.status_code == 204
    assert wait_until(lambda: api(gw, p1["access_token"]).status_code == 401) is not None
    assert api(gw, p2["access_token"]).status_code == 200
    r = adm(gw, "DELETE", "/users/%s/sessions/%s" % (u["id"], sid1))
    assert r.status_code == 404 and r.json() == {"detail": "Session not found"}
    assert adm(gw, "DELETE", "/users/%s/sessions/no-such" % u["id"]).status_code == 404
    assert len(adm(gw, "GET", "/users/%s/sessions" % u["id"]).json()["sessions"]) == 2

    assert adm(gw, "DELETE", "/users/%s/sessions" % u["id"]).status_code == 204
    assert wait_until(lambda: api(gw, p2["access_token"]).status_code == 401 and
                      api(gw, p3["access_token"]).status_code == 401) is not None
    assert refresh_post(gw, p3["refresh_token"]).status_code == 401
    assert adm(gw, "GET", "/users/%s/sessions" % u["id"]).json() == {"sessions": []}
    # the user is still there and signs in again
    assert api(gw, login_ok(gw, u["username"])["access_token"]).status_code == 200


# ---------------------------------------------------------------- the index of older users

def old_user(port, ns, uid, username, created):
    """A user written the way versions before the index wrote one: no index entry."""
    redis_cmd(port, "HSET", "{%s}:user:%s" % (ns, uid), "id", uid, "email",
              username + "@example.com", "username", username, "hash", "x", "is_active", "1",
              "is_staff", "0", "is_superuser", "0", "roles", "", "created_at", str(created),
              "password_changed_at", str(created), "failures", "0", "locked_until", "0")
    redis_cmd(port, "SET", "{%s}:uname:%s" % (ns, username.lower()), uid)
    redis_cmd(port, "SET", "{%s}:email:%s@example.com" % (ns, username.lower()), uid)


def test_users_written_before_the_index_are_listed(gateway, redis_server):
    ns = "old" + uname("n")
    for i in range(25):
        old_user(redis_server.port, ns, "old-%02d" % i, "Old_%02d" % i, 1_600_000_000 + 10 * i)
    # not a user: other keys under user: and other namespaces are left alone
    redis_cmd(redis_server.port, "SET", "{%s}:user:stray" % ns, "x")
    old_user(redis_server.port, "other" + ns, "elsewhere", "elsewhere", 1)
    gw = ustart(gateway, redis_server, **{"app-name": ns})
    # one worker fills the index at start, without waiting for a listing
    deadline = time.monotonic() + 5
    while "the user index is complete" not in gw.stderr() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "the user index is complete" in gw.stderr()
    assert redis_cmd(redis_server.port, "EXISTS", "{%s}:users:indexed" % ns) == 1
    assert redis_cmd(redis_server.port, "ZCARD", "{%s}:users" % ns) == 25
    newer = make_user(gw)
    r = adm(gw, "GET", "/users", params={"limit": 500})
    assert r.status_code == 200, r.text
    ids = [x["id"] for x in r.json()["users"]]
    assert ids == ["old-%02d" % i for i in range(25)] + [newer["id"]]
    assert r.json()["total"] == 26
    assert adm(gw, "GET", "/users", params={"q": "OLD_1"}).json()["total"] == 10
    assert redis_cmd(redis_server.port, "EXISTS", "{%s}:users:indexed" % ns) == 1
    # the old users are full users: deleted like any other
    assert adm(gw, "DELETE", "/users/old-03").status_code == 204
    assert adm(gw, "GET", "/users", params={"limit": 500}).json()["total"] == 25


def test_a_listing_fills_an_index_never_filled(gateway, redis_server):
    """An instance whose start-up backfill has not run (or stopped) fills the index at the
    first listing: here the marker is removed and an older user added after start."""
    ns = "lazy" + uname("n")
    gw = ustart(gateway, redis_server, **{"app-name": ns})
    deadline = time.monotonic() + 5
    while "the user index is complete" not in gw.stderr() and time.monotonic() < deadline:
        time.sleep(0.02)
    first = make_user(gw)
    redis_cmd(redis_server.port, "DEL", "{%s}:users:indexed" % ns)
    old_user(redis_server.port, ns, "older", "Older", 1_500_000_000)
    r = adm(gw, "GET", "/users", params={"q": "older"})
    assert r.json() == {"users": [adm(gw, "GET", "/users/older").json()], "total": 1}
    assert [u["id"] for u in adm(gw, "GET", "/users").json()["users"]] == ["older", first["id"]]


# ---------------------------------------------------------------- the CLI

def cli(gw, *args):
    return run_authgate(*args, "--config", gw.config_path)


def test_cli_user_list_set_delete_and_sessions_revoke(gateway, redis_server, upstream):
    gw = ustart(gateway, redis_server, upstream)
    tag = uname("Cli")
    a = make_user(gw, tag + "_a")
    b = make_user(gw, tag + "_b", "%s_B@Example.com" % tag)

    r = cli(gw, "user", "list", "--q", tag.upper(), "--limit", "500")
    assert r.returncode == 0, r.stderr
    rows = [line.split("\t") for line in r.stdout.splitlines()]
    assert [row[0] for row in rows] == [a["id"], b["id"]]
    assert rows[1][1:3] == [b["username"], b["email"]] and rows[1][3] == "active=true"
    assert "2 users in total" in r.stderr
    r = cli(gw, "user", "list", "--q", tag, "--offset", "1", "--limit", "1")
    assert [line.split("\t")[0] for line in r.stdout.splitlines()] == [b["id"]]

    # set by username: roles, then deactivation, each revoking what it takes
    pair = login_ok(gw, a["username"])
    r = cli(gw, "user", "set", a["username"], "--roles", "editor,ops")
    assert r.returncode == 0, r.stderr
    assert "revoked: nothing" in r.stdout
    assert adm(gw, "GET", "/users/" + a["id"]).json()["roles"] == ["editor", "ops"]
    pair = refresh_post(gw, pair["refresh_token"]).json()
    r = cli(gw, "user", "set", a["id"], "--roles", "ops")
    assert r.returncode == 0 and "revoked: access tokens" in r.stdout, r.stdout
    assert wait_until(lambda: api(gw, pair["access_token"]).status_code == 401) is not None
    pair = refresh_post(gw, pair["refresh_token"]).json()
    assert decode(pair["access_token"])["roles"] == ["ops"]
    r = cli(gw, "user", "set", a["email"], "--active", "false")
    assert r.returncode == 0 and "revoked: sessions and tokens" in r.stdout, r.stdout
    assert wait_until(lambda: api(gw, pair["access_token"]).status_code == 401) is not None
    assert refresh_post(gw, pair["refresh_token"]).status_code == 401
    assert adm(gw, "GET", "/users/" + a["id"]).json()["is_active"] is False
    assert cli(gw, "user", "set", a["id"], "--active", "true", "--roles", "").returncode == 0
    assert adm(gw, "GET", "/users/" + a["id"]).json()["roles"] == []

    # usage errors are 2 and name the option; an unknown user is 1
    for args in (("user",), ("user", "frob"), ("user", "set", a["id"]),
                 ("user", "set", a["id"], "--active", "maybe"),
                 ("user", "set", a["id"], "--roles", "staff"),
                 ("user", "set", a["id"], "--roles", "a b"),
                 ("user", "list", "--limit", "0"), ("user", "list", "--limit", "501"),
                 ("user", "list", "extra"), ("user", "delete"), ("sessions", "revoke")):
        r = cli(gw, *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert r.stderr.strip(), args
    r = cli(gw, "user", "set", a["id"], "--roles", "staff")
    assert "--roles" in r.stderr
    r = cli(gw, "user", "delete", "nobody-" + tag)
    assert r.returncode == 1 and "no user" in r.stderr
    assert run_authgate("user", "list").returncode == 2  # --config is required

    # sessions revoke: one, then all
    p1 = login_ok(gw, b["username"])
    p2 = login_ok(gw, b["username"])
    sid1 = decode(p1["access_token"])["sid"]
    r = cli(gw, "sessions", "revoke", b["username"], "--sid", sid1)
    assert r.returncode == 0, r.stderr
    assert wait_until(lambda: api(gw, p1["access_token"]).status_code == 401) is not None
    assert api(gw, p2["access_token"]).status_code == 200
    r = cli(gw, "sessions", "revoke", b["username"], "--sid", sid1)
    assert r.returncode == 1 and "no session" in r.stderr
    assert cli(gw, "sessions", "revoke", b["id"]).returncode == 0
    assert wait_until(lambda: api(gw, p2["access_token"]).status_code == 401) is not None

    # delete: gone from the API, the name free again
    r = cli(gw, "user", "delete", b["email"])
    assert r.returncode == 0 and b["id"] in r.stdout, r.stderr
    assert adm(gw, "GET", "/users/" + b["id"]).status_code == 404
    assert make_user(gw, b["username"], b["email"])["id"] != b["id"]
    cli_entries = [e for e in audit(redis_server.port) if e.get("actor") == "cli"]
    assert [e["event"] for e in cli_entries][:4] == ["admin_user_delete", "admin_sessions_revoke",
                                                     "admin_session_revoke", "admin_user_update"]
    assert cli_entries[0]["user_id"] == b["id"] and cli_entries[2]["sid"] == sid1
    # an update names what the API's entry names (docs/admin.md: fields, revoked, the new
    # is_active and roles): the last one reactivated <a> and took its role "ops" away
    u = cli_entries[3]
    assert {k: u.get(k) for k in ("user_id", "fields", "revoked", "is_active", "roles")} == {
        "user_id": a["id"], "fields": "is_active,roles", "revoked": "tokens",
        "is_active": "true", "roles": ""}, u
    demoted = [e for e in audit(redis_server.port, "admin_user_update")
               if e.get("actor") == "cli" and e["user_id"] == a["id"]]
    assert [e.get("revoked") for e in demoted] == ["tokens", "sessions", "tokens", "none"], demoted
