"""A signed-in user's account through the real binary on a real redis-server
(CONTRACT.md section 7 logout / logout-all; docs/users.md): logout and logout-all (also
across two instances), password change, password reset (reset-link, forgot + webhook,
single use, bound to the hash, expiry), the session list, rate limits and lockout,
CSRF on cookie-authenticated writes, and the audit stream.

Helpers come from test_users.py.
"""

import http.server
import json
import os
import threading
import time

import jwt
import requests

from conftest import CRYPTO_KEY, run_authgate
from test_users import (BAD_LOGIN, D401, PW, api, assert_422, assert_refused, bearer,
                        cookie_attrs, decode, login, login_ok, make_user, me, post, pw_fingerprint,
                        redis_cmd, refresh_post, register, set_cookies, token_form, user_key,
                        ustart, wait_status)

PW2 = "new password, longer"
PW3 = "third password here"
RESET_BAD = {"detail": "Invalid or expired reset token"}
TOO_MANY = {"detail": "Too many requests"}
LOCKED = {"detail": "Account locked after too many failed logins"}
FORGOT_202 = {"detail": "If the account exists, a password reset has been sent"}
CSRF_403 = {"detail": "CSRF check failed: Origin does not match"}


def logout(gw, access, all_=False, **kw):
    return requests.post(gw.url + ("/auth/logout-all" if all_ else "/auth/logout"),
                         headers=bearer(access), timeout=10, **kw)


def change_password(gw, access, current, new):
    return post(gw, "/auth/password", {"current_password": current, "new_password": new},
                headers=bearer(access))


def reset(gw, token, new=PW2):
    return post(gw, "/auth/password/reset", {"token": token, "new_password": new})


def reset_link(gw, who):
    r = run_authgate("reset-link", "--config", gw.config_path, "--user", who)
    assert r.returncode == 0, r.stdout + r.stderr
    tok = r.stdout.strip()
    assert tok.count(".") == 2 and "\n" not in tok, r.stdout
    return tok


def assert_refresh_refused(gw, refresh):
    r = refresh_post(gw, refresh)
    assert r.status_code == 401, (r.status_code, r.text)


def assert_works(gw, pair):
    """The access token opens /api and the refresh token rotates; returns the new pair."""
    assert api(gw, pair["access_token"]).status_code == 200
    r = refresh_post(gw, pair["refresh_token"])
    assert r.status_code == 200, r.text
    return r.json()


class Webhook:
    """An http.server on 127.0.0.1 that records every POST (path, headers, JSON body)."""

    def __init__(self):
        self.calls = []
        hook = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                hook.calls.append((self.path, dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        self.url = "http://127.0.0.1:%d/reset-hook" % self.port
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, n, timeout=5.0):
        deadline = time.monotonic() + timeout
        while len(self.calls) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return len(self.calls) >= n

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


# ---------------------------------------------------------------- logout

def test_logout_revokes_only_that_session(gateway, redis_server, upstream):
    gw = ustart(gateway, redis_server, upstream)
    u = make_user(gw)
    a = login_ok(gw, u["username"])
    b = login_ok(gw, u["username"])
    r = logout(gw, a["access_token"])
    assert r.status_code == 200 and r.json() == {"detail": "Logged out"}
    cleared = {}
    for line in set_cookies(r):
        name, value, attrs = cookie_attrs(line)
        cleared[name] = (value, attrs)
    assert set(cleared) == {"access_token", "refresh_token"}
    assert cleared["access_token"][0] == "" and cleared["access_token"][1]["max-age"] == "0"
    assert cleared["access_token"][1]["path"] == "/"
    assert cleared["refresh_token"][0] == "" and cleared["refresh_token"][1]["max-age"] == "0"
    assert cleared["refresh_token"][1]["path"] == "/auth"
    assert_refused(gw, a["access_token"])
    assert_refresh_refused(gw, a["refresh_token"])
    assert me(gw, a["access_token"]).status_code == 401
    # a second logout with the same token: refused as a revoked token
    assert logout(gw, a["access_token"]).status_code == 401
    # the other session is untouched
    b2 = assert_works(gw, b)
    assert me(gw, b2["access_token"]).json()["id"] == u["id"]


def test_logout_all(gateway, redis_server, upstream):
    gw = ustart(gateway, redis_server, upstream)
    u, v = make_user(gw), make_user(gw)
    mine = [login_ok(gw, u["username"]) for _ in range(2)]
    mine.append(token_form(gw, {"username": u["email"], "password": PW}).json())
    theirs = login_ok(gw, v["username"])
    r = logout(gw, mine[0]["access_token"], all_=True)
    assert r.status_code == 200 and r.json() == {"detail": "Logged out everywhere"}
    assert {cookie_attrs(c)[2]["max-age"] for c in set_cookies(r)} == {"0"}
    for p in mine:
        assert_refused(gw, p["access_token"])
        assert_refresh_refused(gw, p["refresh_token"])
    assert_works(gw, theirs)
    # a login right after works, and keeps working
    fresh = login_ok(gw, u["username"])
    fresh2 = assert_works(gw, fresh)
    assert me(gw, fresh2["access_token"]).status_code == 200
    time.sleep(1.1)  # past the watermark's second
    assert_works(gw, fresh2)


def test_logout_through_one_instance_is_refused_by_the_other(gateway, redis_server, upstream):
    a = ustart(gateway, redis_server, upstream)
    b = ustart(gateway, redis_server, upstream)
    u = make_user(a)
    p1 = login_ok(a, u["username"])
    p2 = login_ok(b, u["username"])
    p3 = login_ok(b, u["username"])
    for gw in (a, b):
        for p in (p1, p2, p3):
            assert api(gw, p["access_token"]).status_code == 200
    t0 = time.monotonic()
    assert logout(a, p1["access_token"]).status_code == 200
    took = wait_status(lambda: api(b, p1["access_token"]).status_code, 401, 1.0)
    assert took is not None, "logout through A still accepted by B after 1 s"
    assert time.monotonic() - t0 < 1.5
    assert api(b, p2["access_token"]).status_code == 200
    # logout-all through B: refused by A within 1 s
    assert logout(b, p2["access_token"], all_=True).status_code == 200
    for p in (p2, p3):
        took = wait_status(lambda: api(a, p["access_token"]).status_code, 401, 1.0)
        assert took is not None, "logout-all through B still accepted by A after 1 s"


# ---------------------------------------------------------------- password change

def test_password_change(gateway, redis_server, upstream):
    gw = ustart(gateway, redis_server, upstream)
    u = make_user(gw)
    cur = login_ok(gw, u["username"])
    other = login_ok(gw, u["username"])
    r = change_password(gw, cur["access_token"], "not the password", PW2)
    assert r.status_code == 401 and r.json() == {"detail": "Incorrect password"}
    assert_422(change_password(gw, cur["access_token"], PW, "short"), ["body", "new_password"],
               "password must be at least 10 characters", "value_error.password")
    assert_422(post(gw, "/auth/password", {"new_password": PW2}, headers=bearer(cur["access_token"])),
               ["body", "current_password"], "field required", "value_error.missing")
    r = post(gw, "/auth/password", {"current_password": PW, "new_password": PW2})
    assert r.status_code == 401 and r.json() == D401
    # nothing changed so far
    assert_works(gw, other)
    other = login_ok(gw, u["username"])
    r = change_password(gw, cur["access_token"], PW, PW2)
    assert r.status_code == 200 and r.json() == {"detail": "Password changed"}
    # the other sessions are revoked, the current one stays
    assert_refused(gw, other["access_token"])
    assert_refresh_refused(gw, other["refresh_token"])
    assert api(gw, cur["access_token"]).status_code == 200
    assert_works(gw, cur)
    # new password in, old out
    r = login(gw, u["username"], PW)
    assert r.status_code == 401 and r.json() == BAD_LOGIN
    assert login(gw, u["email"], PW2).status_code == 200


# ---------------------------------------------------------------- password reset

def test_reset_link_single_use_and_bound_to_the_hash(gateway, redis_server, upstream):
    gw = ustart(gateway, redis_server, upstream, **{"password-reset": {"ttl": 600}})
    u = make_user(gw)
    tok = reset_link(gw, u["username"])
    c = decode(tok)
    assert c["type"] == "reset" and c["sub"] == u["id"] and c["exp"] - c["iat"] == 600
    h = redis_cmd(redis_server.port, "HGET", user_key(u["id"]), "hash")
    assert c["pwh"] == pw_fingerprint(h)
    assert "hash" not in c and h not in tok
    # a reset token is not an access token
    assert api(gw, tok).status_code == 401
    # weak new password: 422, token not consumed
    assert_422(reset(gw, tok, "short"), ["body", "new_password"],
               "password must be at least 10 characters", "value_error.password")
    r = reset(gw, tok, PW2)
    assert r.status_code == 200 and r.json() == {"detail": "Password has been reset"}
    assert login(gw, u["username"], PW2).status_code == 200
    assert login(gw, u["username"], PW).status_code == 401
    r = reset(gw, tok, PW3)  # single use
    assert r.status_code == 400 and r.json() == RESET_BAD
    assert login(gw, u["username"], PW2).status_code == 200
    # minted, then the password changed another way: dead
    old = reset_link(gw, u["email"].upper())
    s = login_ok(gw, u["username"], PW2)
    assert change_password(gw, s["access_token"], PW2, PW3).status_code == 200
    r = reset(gw, old, PW)
    assert r.status_code == 400 and r.json() == RESET_BAD
    # two tokens for the same hash: the first used kills the second (the hash changed)
    t1, t2 = reset_link(gw, u["username"]), reset_link(gw, u["username"])
    assert reset(gw, t1, PW).status_code == 200
    assert reset(gw, t2, PW2).json() == RESET_BAD
    # garbage / missing
    assert reset(gw, "not.a.token", PW2).json() == RESET_BAD
    assert_422(post(gw, "/auth/password/reset", {"new_password": PW2}), ["body", "token"],
               "field required", "value_error.missing")
    # unknown user for reset-link
    r = run_authgate("reset-link", "--config", gw.config_path, "--user", "nobody_at_all")
    assert r.returncode == 1 and r.stdout == ""


def _forge(uid, pwh, exp, typ="reset", key=CRYPTO_KEY):
    now = int(time.time())
    claims = {"sub": uid, "type": typ, "iat": now - 100, "exp": exp,
              "jti": os.urandom(16).hex()[:22], "iss": "authgate", "pwh": pwh}
    return jwt.encode(claims, key, algorithm="HS256")


def test_reset_token_expired_or_forged(gateway, redis_server):
    gw = ustart(gateway, redis_server)
    u = make_user(gw)
    pwh = pw_fingerprint(redis_cmd(redis_server.port, "HGET", user_key(u["id"]), "hash"))
    now = int(time.time())
    for bad in (_forge(u["id"], pwh, now - 5),                       # expired
                _forge(u["id"], pwh, now + 300, typ="access"),       # wrong type
                _forge(u["id"], pwh, now + 300, key="x" * 40),       # wrong key
                _forge(u["id"], "A" * 22, now + 300),                # other hash
                _forge("no-such-user", pwh, now + 300)):             # no user
        r = reset(gw, bad, PW2)
        assert r.status_code == 400 and r.json() == RESET_BAD
    assert login(gw, u["username"]).status_code == 200
    # the same forge with a future exp works: only the expiry made the first one fail
    r = reset(gw, _forge(u["id"], pwh, now + 300), PW2)
    assert r.status_code == 200, r.text
    assert login(gw, u["username"], PW2).status_code == 200


def test_reset_revokes_every_session_and_lifts_a_lockout(gateway, redis_server, upstream):
    limits = {"login": {"limit": 1000, "window": 60}, "login-account": {"limit": 1000, "window": 60},
              "lockout": {"failures": 3, "seconds": 600}}
    gw = ustart(gateway, redis_server, upstream, **{"rate-limits": limits})
    u = make_user(gw)
    sessions = [login_ok(gw, u["username"]) for _ in range(2)]
    for _ in range(3):
        assert login(gw, u["username"], "wrong wrong wrong").status_code == 401
    r = login(gw, u["username"])
    assert r.status_code == 429 and r.json() == LOCKED
    tok = reset_link(gw, u["username"])
    assert reset(gw, tok, PW2).status_code == 200
    for p in sessions:
        assert_refused(gw, p["access_token"])
        assert_refresh_refused(gw, p["refresh_token"])
    assert_works(gw, login_ok(gw, u["username"], PW2))


def test_forgot_webhook(gateway, redis_server):
    hook = Webhook()
    try:
        gw = ustart(gateway, redis_server, **{"password-reset": {"ttl": 900, "webhook": hook.url}})
        u = make_user(gw)
        p = login_ok(gw, u["username"])
        # unknown: 202, the same answer, no call
        for who in ("nobody_here", "nobody@example.com"):
            r = post(gw, "/auth/password/forgot", {"username_or_email": who})
            assert r.status_code == 202 and r.json() == FORGOT_202
        time.sleep(0.5)
        assert hook.calls == []
        t0 = int(time.time())
        r = post(gw, "/auth/password/forgot", {"username_or_email": u["email"].upper()})
        assert r.status_code == 202 and r.json() == FORGOT_202
        assert hook.wait(1), "the webhook was not called"
        path, headers, body = hook.calls[0]
        assert path == "/reset-hook"
        assert headers.get("Content-Type", "").startswith("application/json")
        ev = json.loads(body)
        assert set(ev) == {"event", "user_id", "email", "username", "token", "expires_at"}
        assert ev["event"] == "password_reset" and ev["user_id"] == u["id"]
        assert ev["email"] == u["email"] and ev["username"] == u["username"]
        assert t0 + 900 - 5 <= ev["expires_at"] <= t0 + 900 + 5
        assert decode(ev["token"])["type"] == "reset"
        r = reset(gw, ev["token"], PW2)
        assert r.status_code == 200, r.text
        assert login(gw, u["username"], PW2).status_code == 200
        assert_refused(gw, p["access_token"])
        assert reset(gw, ev["token"], PW3).json() == RESET_BAD
        # an inactive account gets no token either
        redis_cmd(redis_server.port, "HSET", user_key(u["id"]), "is_active", "0")
        r = post(gw, "/auth/password/forgot", {"username_or_email": u["username"]})
        assert r.status_code == 202 and r.json() == FORGOT_202
        time.sleep(0.5)
        assert len(hook.calls) == 1
        # malformed: 422 (not a probe of existence)
        assert_422(post(gw, "/auth/password/forgot", {}), ["body", "username_or_email"],
                   "field required", "value_error.missing")
    finally:
        hook.close()


# ---------------------------------------------------------------- sessions

def test_sessions_list_and_delete(gateway, redis_server, upstream):
    gw = ustart(gateway, redis_server, upstream)
    u, v = make_user(gw), make_user(gw)
    a = login_ok(gw, u["username"], headers={"User-Agent": "agent-A"})
    b = login_ok(gw, u["username"], headers={"User-Agent": "agent-B"})
    c = token_form(gw, {"username": u["username"], "password": PW, "client_id": "cli-C"}).json()
    theirs = login_ok(gw, v["username"])
    sid = {k: decode(p["access_token"])["sid"] for k, p in (("a", a), ("b", b), ("c", c))}
    r = requests.get(gw.url + "/auth/sessions", headers=bearer(a["access_token"]), timeout=10)
    assert r.status_code == 200, r.text
    lst = r.json()
    assert isinstance(lst, list) and len(lst) == 3
    for s in lst:
        assert list(s) == ["id", "client_id", "ip", "user_agent", "created_at", "last_used_at",
                           "current"]
        assert s["ip"] == "127.0.0.1" and isinstance(s["created_at"], int)
        assert isinstance(s["last_used_at"], int) and abs(s["created_at"] - time.time()) < 30
    by_id = {s["id"]: s for s in lst}
    assert set(by_id) == set(sid.values())
    assert [s["id"] for s in lst if s["current"]] == [sid["a"]]
    assert by_id[sid["a"]]["user_agent"] == "agent-A" and by_id[sid["b"]]["user_agent"] == "agent-B"
    # the password grant's client_id is not trusted (issue 9): every user session is the app's
    assert by_id[sid["a"]]["client_id"] == "authgate" and by_id[sid["c"]]["client_id"] == "authgate"
    assert theirs["refresh_token"] not in r.text and decode(theirs["access_token"])["sid"] not in r.text
    # another user's session: 404, and it keeps working
    other = decode(theirs["access_token"])["sid"]
    r = requests.delete(gw.url + "/auth/sessions/" + other, headers=bearer(a["access_token"]),
                        timeout=10)
    assert r.status_code == 404 and r.json() == {"detail": "Session not found"}
    r = requests.delete(gw.url + "/auth/sessions/nonexistent", headers=bearer(a["access_token"]),
                        timeout=10)
    assert r.status_code == 404 and r.json() == {"detail": "Session not found"}
    theirs = assert_works(gw, theirs)
    # one of mine
    r = requests.delete(gw.url + "/auth/sessions/" + sid["b"], headers=bearer(a["access_token"]),
                        timeout=10)
    assert r.status_code == 200 and r.json() == {"detail": "Session revoked"}
    assert_refused(gw, b["access_token"])
    assert_refresh_refused(gw, b["refresh_token"])
    r = requests.get(gw.url + "/auth/sessions", headers=bearer(a["access_token"]), timeout=10)
    assert {s["id"] for s in r.json()} == {sid["a"], sid["c"]}
    # my own current session
    r = requests.delete(gw.url + "/auth/sessions/" + sid["a"], headers=bearer(a["access_token"]),
                        timeout=10)
    assert r.status_code == 200 and r.json() == {"detail": "Session revoked"}
    assert_refused(gw, a["access_token"])
    assert_refresh_refused(gw, a["refresh_token"])
    assert_works(gw, c)
    assert_works(gw, theirs)
    # needs a token
    r = requests.get(gw.url + "/auth/sessions", timeout=10)
    assert r.status_code == 401 and r.json() == D401 and "WWW-Authenticate" in r.headers


# ---------------------------------------------------------------- rate limits and lockout

def test_login_per_account_limit_and_recovery(gateway, redis_server):
    limits = {"login-account": {"limit": 3, "window": 2}, "login": {"limit": 1000, "window": 60},
              "lockout": {"failures": 0, "seconds": 60}}
    gw = ustart(gateway, redis_server, **{"rate-limits": limits})
    u, v = make_user(gw), make_user(gw)
    deadline = time.monotonic() + 2.0
    codes = [login(gw, u["username"]).status_code for _ in range(3)]
    r = login(gw, u["username"].upper())  # the same account name, case-folded
    assert time.monotonic() < deadline, "too slow to test a 2 s window"
    assert codes == [200, 200, 200]
    assert r.status_code == 429 and r.json() == TOO_MANY
    assert 1 <= int(r.headers["Retry-After"]) <= 2
    r = token_form(gw, {"username": u["username"], "password": PW})
    assert r.status_code == 429 and r.json() == TOO_MANY
    assert login(gw, v["username"]).status_code == 200  # another account
    time.sleep(int(r.headers["Retry-After"]) + 0.2)
    assert login(gw, u["username"]).status_code == 200


def test_register_per_ip_limit(gateway, redis_server):
    gw = ustart(gateway, redis_server, **{"rate-limits": {"register": {"limit": 2, "window": 60}}})
    assert register(gw).status_code == 201
    assert register(gw).status_code == 201
    r = register(gw)
    assert r.status_code == 429 and r.json() == TOO_MANY
    assert 50 <= int(r.headers["Retry-After"]) <= 60


def test_lockout_and_unlock(gateway, redis_server):
    limits = {"login": {"limit": 1000, "window": 60}, "login-account": {"limit": 1000, "window": 60},
              "lockout": {"failures": 3, "seconds": 120}}
    gw = ustart(gateway, redis_server, **{"rate-limits": limits})
    u, v = make_user(gw), make_user(gw)
    # a success resets the count
    for _ in range(2):
        assert login(gw, u["username"], "wrong wrong wrong").status_code == 401
    assert login(gw, u["username"]).status_code == 200
    for _ in range(2):
        assert login(gw, u["username"], "wrong wrong wrong").status_code == 401
    assert login(gw, u["username"]).status_code == 200
    for _ in range(3):
        r = login(gw, u["username"], "wrong wrong wrong")
        assert r.status_code == 401 and r.json() == BAD_LOGIN
    for pw in (PW, "wrong wrong wrong"):
        r = login(gw, u["email"], pw)
        assert r.status_code == 429 and r.json() == LOCKED
        assert 100 <= int(r.headers["Retry-After"]) <= 120
    r = token_form(gw, {"username": u["username"], "password": PW})
    assert r.status_code == 429 and r.json() == LOCKED
    assert login(gw, v["username"]).status_code == 200
    r = run_authgate("unlock", "--config", gw.config_path, "--user", u["username"].upper())
    assert r.returncode == 0, r.stderr
    assert login(gw, u["username"]).status_code == 200
    r = run_authgate("unlock", "--config", gw.config_path, "--user", "nobody_at_all")
    assert r.returncode == 1
    assert run_authgate("unlock", "--config", gw.config_path).returncode == 2


def test_rate_limits_false_disables_everything(gateway, redis_server):
    gw = ustart(gateway, redis_server, **{"rate-limits": False})
    u = make_user(gw)
    for _ in range(12):
        r = login(gw, u["username"], "wrong wrong wrong")
        assert r.status_code == 401, r.text
    assert login(gw, u["username"]).status_code == 200
    for _ in range(7):
        assert register(gw).status_code == 201
    for _ in range(7):
        assert post(gw, "/auth/password/forgot", {"username_or_email": u["username"]}).status_code == 202
    assert redis_cmd(redis_server.port, "KEYS", "{authgate}:rl:*") == []


# ---------------------------------------------------------------- CSRF

def test_csrf_on_cookie_authenticated_writes(gateway, redis_server, upstream):
    gw = ustart(gateway, redis_server, upstream)
    u = make_user(gw)
    host = "127.0.0.1:%d" % gw.port
    p = login_ok(gw, u["username"])
    jar = {"access_token": p["access_token"]}

    def via_cookie(path, headers=None, body=None):
        return requests.post(gw.url + path, cookies=jar, headers=headers or {}, json=body,
                             timeout=10)

    for h in ({}, {"Origin": "http://evil.example"}, {"Origin": "null"},
              {"Referer": "http://evil.example/page"}, {"Origin": "http://%s.evil.example" % host}):
        for path, body in (("/auth/logout", None), ("/auth/logout-all", None),
                           ("/auth/password", {"current_password": PW, "new_password": PW2})):
            r = via_cookie(path, h, body)
            assert r.status_code == 403 and r.json() == CSRF_403, (path, h, r.text)
    r = requests.delete(gw.url + "/auth/sessions/" + decode(p["access_token"])["sid"], cookies=jar,
                        timeout=10)
    assert r.status_code == 403 and r.json() == CSRF_403
    assert api(gw, p["access_token"]).status_code == 200  # nothing happened
    assert login(gw, u["username"]).status_code == 200
    # reads are not state changing
    assert requests.get(gw.url + "/auth/me", cookies=jar, timeout=10).status_code == 200
    # a Referer of this host, when there is no Origin
    r = via_cookie("/auth/password", {"Referer": "http://%s/account" % host},
                   {"current_password": PW, "new_password": PW2})
    assert r.status_code == 200, r.text
    # Origin naming this host
    r = via_cookie("/auth/logout", {"Origin": "http://" + host})
    assert r.status_code == 200 and r.json() == {"detail": "Logged out"}
    assert_refused(gw, p["access_token"])
    # a Bearer header needs no Origin
    q = login_ok(gw, u["username"], PW2)
    r = logout(gw, q["access_token"])
    assert r.status_code == 200
    assert_refused(gw, q["access_token"])


def test_csrf_cors_allowed_origin(gateway, redis_server):
    gw = ustart(gateway, redis_server, cors={"allow-origins": ["https://app.example"]})
    u = make_user(gw)
    p = login_ok(gw, u["username"])
    r = requests.post(gw.url + "/auth/logout", cookies={"access_token": p["access_token"]},
                      headers={"Origin": "https://other.example"}, timeout=10)
    assert r.status_code == 403
    r = requests.post(gw.url + "/auth/logout", cookies={"access_token": p["access_token"]},
                      headers={"Origin": "https://app.example"}, timeout=10)
    assert r.status_code == 200


# ---------------------------------------------------------------- audit

def test_audit_stream(gateway, redis_server):
    gw = ustart(gateway, redis_server, **{"app-name": "auditapp"})
    u = make_user(gw)
    secrets = {PW, PW2, PW3, "wrong wrong wrong"}
    hashes = {redis_cmd(redis_server.port, "HGET", user_key(u["id"], "auditapp"), "hash")}
    assert login(gw, u["username"], "wrong wrong wrong").status_code == 401
    assert login(gw, "ghost_user", PW).status_code == 401
    p1 = login_ok(gw, u["username"])
    p2 = login_ok(gw, u["username"])
    assert logout(gw, p2["access_token"]).status_code == 200
    assert change_password(gw, p1["access_token"], PW, PW2).status_code == 200
    hashes.add(redis_cmd(redis_server.port, "HGET", user_key(u["id"], "auditapp"), "hash"))
    tok = reset_link(gw, u["username"])
    assert reset(gw, tok, PW3).status_code == 200
    hashes.add(redis_cmd(redis_server.port, "HGET", user_key(u["id"], "auditapp"), "hash"))
    p3 = login_ok(gw, u["username"], PW3)
    assert logout(gw, p3["access_token"], all_=True).status_code == 200
    tokens = {tok}
    for p in (p1, p2, p3):
        tokens |= {p["access_token"], p["refresh_token"]}
    want = {"register", "login_ok", "login_failed", "logout", "logout_all", "password_change",
            "reset_used"}
    deadline = time.monotonic() + 5
    while True:  # the appends are not waited for by the answers
        entries = redis_cmd(redis_server.port, "XRANGE", "{auditapp}:audit", "-", "+")
        events = []
        for _id, fields in entries:
            assert fields[0] == "event"
            events.append(dict(zip(fields[0::2], fields[1::2])))
        if want <= {e["event"] for e in events} or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    names = [e["event"] for e in events]
    assert want <= set(names), names
    for e in events:
        assert e.get("ip") == "127.0.0.1", e
        for k, val in e.items():
            assert "$argon2" not in val, e
            for s in secrets | tokens | hashes:
                assert s not in val, (k, e)
            # no piece of a token either (its signature or payload)
            for t in tokens:
                for part in t.split("."):
                    assert part not in val or len(part) < 10, (k, e)
    by = {}
    for e in events:
        by.setdefault(e["event"], []).append(e)
    assert by["register"][0]["user_id"] == u["id"] and by["register"][0]["username"] == u["username"]
    reasons = {(e["login"], e["reason"]) for e in by["login_failed"]}
    assert reasons == {(u["username"], "wrong_password"), ("ghost_user", "unknown_user")}
    assert {e["sid"] for e in by["login_ok"]} >= {decode(p["access_token"])["sid"] for p in (p1, p2, p3)}
    assert by["logout"][0]["sid"] == decode(p2["access_token"])["sid"]
    assert by["logout"][0]["sub"] == u["id"] and by["logout_all"][0]["sub"] == u["id"]
    assert by["password_change"][0]["user_id"] == u["id"] and by["password_change"][0]["via"] == "change"
    assert by["reset_used"][0]["user_id"] == u["id"]
