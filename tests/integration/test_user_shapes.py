"""Every seed's request shapes through the real binary on a real redis-server
(CONTRACT.md section 14, second and third points; docs/users.md "Registering" and
"Logging in", docs/endpoints.md): register without a username (the email is the login
name), login by `username_or_email`, `email` or `username` (exactly one), the
unknown-user timing and the lockout for each shape, and POST /auth/logout with only a
refresh token (cookie, Bearer, JSON or form body), seen by a second instance.

Helpers come from test_users.py and test_account.py.
"""

import os
import statistics
import time

import requests

from test_account import CSRF_403, LOCKED
from test_tokens import MASTER
from test_users import (BAD_LOGIN, D401, PW, api, assert_422, assert_refused, bearer,
                        cookie_attrs, make_user, post, refresh_post, set_cookies, token_form,
                        uname, ustart)


def login_as(gw, member, who, password=PW, **kw):
    return post(gw, "/auth/login", {member: who, "password": password}, **kw)


def logout_raw(gw, **kw):
    return requests.post(gw.url + "/auth/logout", timeout=10, **kw)


def assert_logged_out(r):
    assert r.status_code == 200 and r.json() == {"detail": "Logged out"}, (r.status_code, r.text)
    cleared = {cookie_attrs(c)[0]: cookie_attrs(c)[2]["max-age"] for c in set_cookies(r)}
    assert cleared == {"access_token": "0", "refresh_token": "0"}


# ---------------------------------------------------------------- register and login shapes

def test_register_without_username_then_login_by_email(gateway, redis_server):
    gw = ustart(gateway, redis_server)
    email = "%s@Example.com" % uname("Mail")
    r = post(gw, "/auth/register", {"email": email, "password": PW})
    assert r.status_code == 201, r.text
    u = r.json()
    assert u["email"] == email and u["username"] is None
    for member in ("email", "username_or_email"):
        for who in (email, email.lower(), email.upper()):
            assert login_as(gw, member, who).status_code == 200, (member, who)
    assert token_form(gw, {"username": email, "password": PW}).status_code == 200
    # it has no username: a "username" body names none, whatever it holds
    r = login_as(gw, "username", email)
    assert r.status_code == 401 and r.json() == BAD_LOGIN
    # the email stays unique, case-insensitively, with or without a username
    r = post(gw, "/auth/register", {"email": email.lower(), "password": PW})
    assert r.status_code == 409 and r.json() == {"detail": "Email already registered"}
    r = post(gw, "/auth/register", {"email": email.upper(), "username": uname(), "password": PW})
    assert r.status_code == 409 and r.json() == {"detail": "Email already registered"}
    # two users without a username do not collide on the empty one
    other = make_user(gw, email="%s@example.com" % uname())  # with one, for contrast
    r = post(gw, "/auth/register", {"email": "%s@example.org" % uname(), "password": PW})
    assert r.status_code == 201 and r.json()["username"] is None
    # the admin API lists and finds it by its email
    mh = {"MASTER-TOKEN": MASTER}
    r = requests.get(gw.url + "/auth/admin/users/" + u["id"], headers=mh, timeout=10)
    assert r.status_code == 200 and r.json()["email"] == email, r.text
    assert r.json()["username"] is None
    r = requests.get(gw.url + "/auth/admin/users", params={"q": email.split("@")[0].lower()},
                     headers=mh, timeout=10)
    assert r.status_code == 200 and [x["id"] for x in r.json()["users"]] == [u["id"]], r.text
    assert other["username"] is not None


def test_login_with_each_shape(gateway, redis_server):
    gw = ustart(gateway, redis_server)
    u = make_user(gw)
    for member, who in (("username_or_email", u["username"]), ("username_or_email", u["email"]),
                        ("username", u["username"]), ("username", u["username"].upper()),
                        ("email", u["email"]), ("email", u["email"].upper())):
        r = login_as(gw, member, who)
        assert r.status_code == 200, (member, who, r.text)
    # each member is looked up its own way only
    for member, who in (("email", u["username"]), ("username", u["email"])):
        r = login_as(gw, member, who)
        assert r.status_code == 401 and r.json() == BAD_LOGIN, (member, who)
        assert r.headers["WWW-Authenticate"].startswith("Bearer realm=")
    r = login_as(gw, "email", u["email"], "wrong password 1")
    assert r.status_code == 401 and r.json() == BAD_LOGIN


def test_login_needs_exactly_one_login_name(gateway, redis_server):
    gw = ustart(gateway, redis_server)
    u = make_user(gw)
    twice = ("value_error.login_name", "give only one of username_or_email, email and username")
    for body, second in (({"username_or_email": u["email"], "email": u["email"]}, "email"),
                         ({"username_or_email": u["username"], "username": u["username"]},
                          "username"),
                         ({"email": u["email"], "username": u["username"]}, "username"),
                         ({"username_or_email": "a", "email": "b", "username": "c"}, "email")):
        body["password"] = PW
        assert_422(post(gw, "/auth/login", body), ["body", second], twice[1], twice[0])
    assert_422(post(gw, "/auth/login", {"password": PW}), ["body", "username_or_email"],
               "field required", "value_error.missing")
    assert_422(post(gw, "/auth/login", {"email": 7, "password": PW}), ["body", "email"],
               "str type expected", "type_error.str")
    assert_422(post(gw, "/auth/login", {"username": u["username"]}), ["body", "password"],
               "field required", "value_error.missing")


def test_unknown_user_takes_as_long_as_a_wrong_password_for_every_shape(gateway, redis_server):
    """As test_users.py's timing test (default argon2 parameters, medians, 20 % bound),
    for the "email" and "username" members."""
    gw = ustart(gateway, redis_server, passwords=None)
    u = make_user(gw)
    s = requests.Session()

    def one(member, who, pw):
        t0 = time.perf_counter()
        r = s.post(gw.url + "/auth/login", json={member: who, "password": pw}, timeout=30)
        took = time.perf_counter() - t0
        assert r.status_code == 401 and r.json() == BAD_LOGIN
        return took

    for member, known, unknown_of in (
            ("email", u["email"], lambda i: "nobody_%d_%s@example.com" % (i, os.urandom(3).hex())),
            ("username", u["username"], lambda i: "nobody_%d_%s" % (i, os.urandom(3).hex()))):
        for i in range(3):  # warm up both paths
            one(member, unknown_of(i), PW)
            one(member, known, "wrong password 1")
        unknown, wrong = [], []
        for i in range(20):  # interleaved, so a slow spell hits both
            unknown.append(one(member, unknown_of(i), "wrong password %d" % i))
            wrong.append(one(member, known, "wrong password %d" % i))
        mu, mw = statistics.median(unknown), statistics.median(wrong)
        print("\nlogin timing (%s): unknown user median %.1f ms, wrong password median %.1f ms"
              % (member, mu * 1000, mw * 1000))
        assert mw > 0.005, "hashing should dominate (%.1f ms)" % (mw * 1000)
        assert abs(mu - mw) <= 0.2 * mw, (member, mu, mw)


def test_lockout_counts_failures_of_every_shape(gateway, redis_server):
    limits = {"lockout": {"failures": 3, "seconds": 120}}
    gw = ustart(gateway, redis_server, **{"rate-limits": limits})
    u = make_user(gw)
    for member, who in (("email", u["email"]), ("username", u["username"]),
                        ("username_or_email", u["email"])):
        r = login_as(gw, member, who, "wrong password 1")
        assert r.status_code == 401 and r.json() == BAD_LOGIN
    for member, who in (("email", u["email"]), ("username", u["username"]),
                        ("username_or_email", u["username"])):
        r = login_as(gw, member, who)
        assert r.status_code == 429 and r.json() == LOCKED, (member, r.text)


# ---------------------------------------------------------------- logout by refresh token

def _login(gw, u):
    r = login_as(gw, "username", u["username"])
    assert r.status_code == 200, r.text
    return r.json()


def test_logout_with_only_a_refresh_token(gateway, redis_server, upstream):
    a = ustart(gateway, redis_server, upstream)
    b = ustart(gateway, redis_server, upstream)
    u = make_user(a)
    host = "http://127.0.0.1:%d" % a.port
    ways = {
        "cookie": lambda p: logout_raw(a, cookies={"refresh_token": p["refresh_token"]},
                                       headers={"Origin": host}),
        "bearer": lambda p: logout_raw(a, headers=bearer(p["refresh_token"])),
        "json": lambda p: logout_raw(a, json={"refresh_token": p["refresh_token"]}),
        "form": lambda p: logout_raw(a, data={"refresh_token": p["refresh_token"]}),
    }
    other = _login(a, u)
    for name, way in ways.items():
        p = _login(a, u)
        assert api(b, p["access_token"]).status_code == 200
        assert_logged_out(way(p))
        # the session is over: its refresh token is refused, its access token 401 on B
        assert refresh_post(a, p["refresh_token"]).status_code == 401, name
        assert_refused(b, p["access_token"])
        # a second logout with the same refresh token: as for an invalid token
        r = way(p)
        assert r.status_code == 401 and r.json() == D401, (name, r.text)
        assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    # the other session is untouched
    assert api(b, other["access_token"]).status_code == 200
    assert refresh_post(a, other["refresh_token"]).status_code == 200


def test_logout_refresh_token_refusals(gateway, redis_server, upstream):
    gw = ustart(gateway, redis_server, upstream)
    u = make_user(gw)
    # nothing at all: the 401 of today
    r = logout_raw(gw)
    assert r.status_code == 401 and r.json() == D401
    assert 'error=' not in r.headers["WWW-Authenticate"]
    # an access token sent where a refresh token goes is not one
    p = _login(gw, u)
    r = logout_raw(gw, json={"refresh_token": p["access_token"]})
    assert r.status_code == 401 and r.json() == D401
    r = logout_raw(gw, json={"refresh_token": "not.a.token"})
    assert r.status_code == 401 and r.json() == D401
    # a rotated (older) refresh token is reuse: refused, and the session is over
    q = refresh_post(gw, p["refresh_token"]).json()
    r = logout_raw(gw, headers=bearer(p["refresh_token"]))
    assert r.status_code == 401 and r.json() == D401
    assert refresh_post(gw, q["refresh_token"]).status_code == 401
    assert_refused(gw, q["access_token"])
    # expired: refused
    short = ustart(gateway, redis_server, upstream, **{"refresh-token-ttl": 1,
                                                        "token-exp-leeway": 0})
    s = _login(short, u)
    time.sleep(2.1)
    r = logout_raw(short, json={"refresh_token": s["refresh_token"]})
    assert r.status_code == 401 and r.json() == D401


def test_logout_by_refresh_cookie_needs_this_origin(gateway, redis_server, upstream):
    gw = ustart(gateway, redis_server, upstream)
    u = make_user(gw)
    host = "127.0.0.1:%d" % gw.port
    p = _login(gw, u)
    jar = {"refresh_token": p["refresh_token"]}
    for h in ({}, {"Origin": "http://evil.example"}, {"Origin": "null"},
              {"Referer": "http://evil.example/page"}):
        r = logout_raw(gw, cookies=jar, headers=h)
        assert r.status_code == 403 and r.json() == CSRF_403, (h, r.text)
    assert api(gw, p["access_token"]).status_code == 200  # nothing happened
    # an expired access cookie beside it changes nothing; this host's Origin passes
    jar["access_token"] = "expired.or.bad"
    r = logout_raw(gw, cookies=jar, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and r.json() == CSRF_403
    assert_logged_out(logout_raw(gw, cookies=jar, headers={"Origin": "http://" + host}))
    assert_refused(gw, p["access_token"])
