"""User accounts through the real binary on a real redis-server (CONTRACT.md sections 2
and 7 "Users"; docs/users.md): register, login, the OAuth2 password grant (/auth/token),
/auth/me, roles and scopes, the unknown-user timing, `authgate csu`, and a Redis outage.

Sessions, logout, password change and reset, rate limits, CSRF and the audit stream are
in test_account.py, which imports the helpers below.

Passwords are hashed with small argon2 parameters (FAST_PW) except in the timing test,
which uses the defaults so that hashing dominates the answer time.
"""

import base64
import hashlib
import itertools
import json
import os
import re
import socket
import statistics
import subprocess
import threading
import time

import requests

from conftest import AUTHGATE_BIN, free_port, get_or_cut, run_authgate
from test_tokens import MASTER, decode, new_pair, start, wait_ready

FAST_PW = {"argon2-iterations": 1, "argon2-memory-kib": 8192, "min-length": 10, "max-length": 64}
BASE = {"passwords": FAST_PW, "cookie-secure": False, "rate-limits": False,
        "access-token-paths": ["/api"]}
PW = "correct horse battery"
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
USER_KEYS = ["id", "email", "username", "is_active", "is_staff", "is_superuser", "roles",
             "created_at"]
TOKEN_KEYS = {"access_token", "refresh_token", "token_type", "expires_in"}
D401 = {"detail": "Unauthorized Access Token"}
D503 = {"detail": "Service Unavailable"}
BAD_LOGIN = {"detail": "Incorrect username or password"}
_seq = itertools.count()


# ---------------------------------------------------------------- helpers (shared with test_account.py)

def ustart(gateway, redis_server, upstream=None, **over):
    """A gateway on <redis_server> with BASE merged under <over> (None removes a key)."""
    cfg = dict(BASE)
    cfg.update(over)
    return start(gateway, redis_server, upstream, **cfg)


def uname(prefix="u"):
    return "%s%d_%s" % (prefix, next(_seq), os.urandom(3).hex())


def post(gw, path, body=None, headers=None, raw=None, **kw):
    h = dict(headers or {})
    if raw is not None:
        h.setdefault("Content-Type", "application/json")
        return requests.post(gw.url + path, data=raw, headers=h, timeout=15, **kw)
    return requests.post(gw.url + path, json=body, headers=h, timeout=15, **kw)


def register(gw, username=None, email=None, password=PW, **kw):
    username = username or uname()
    email = email or "%s@example.com" % username
    return post(gw, "/auth/register", {"email": email, "username": username, "password": password},
                **kw)


def make_user(gw, username=None, email=None, password=PW):
    r = register(gw, username, email, password)
    assert r.status_code == 201, r.text
    return r.json()


def login(gw, who, password=PW, **kw):
    return post(gw, "/auth/login", {"username_or_email": who, "password": password}, **kw)


def login_ok(gw, who, password=PW, **kw):
    r = login(gw, who, password, **kw)
    assert r.status_code == 200, r.text
    return r.json()


def token_form(gw, fields, **kw):
    return requests.post(gw.url + "/auth/token", data=fields, timeout=15, **kw)


def bearer(tok):
    return {"Authorization": "Bearer " + tok}


def api(gw, access, path="/api/x"):
    """GET <path> with <access>; Cut (status 0) when a revocation cut it (conftest.py)."""
    return get_or_cut(gw.url + path, bearer(access))


def me(gw, access):
    return requests.get(gw.url + "/auth/me", headers=bearer(access), timeout=10)


def refresh_post(gw, refresh):
    return requests.post(gw.url + "/auth/refresh", headers=bearer(refresh), timeout=10)


def set_cookies(r):
    return r.raw.headers.getlist("Set-Cookie")


def cookie_attrs(line):
    """'a=b; Path=/; HttpOnly' -> ('a', 'b', {'path': '/', 'httponly': True})."""
    parts = [p.strip() for p in line.split(";")]
    name, _, value = parts[0].partition("=")
    attrs = {}
    for p in parts[1:]:
        k, eq, v = p.partition("=")
        attrs[k.lower()] = v if eq else True
    return name, value, attrs


def wait_status(fn, want, within=1.0):
    """Calls fn() until it returns <want> several times in a row; seconds taken, or None."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < within:
        if all(fn() == want for _ in range(4)):  # each may land on another worker
            return time.monotonic() - t0
        time.sleep(0.01)
    return None


def assert_refused(gw, access, within=1.0):
    took = wait_status(lambda: api(gw, access).status_code, 401, within)
    assert took is not None, "access token still accepted after %.1f s" % within
    r = api(gw, access)
    assert r.status_code == 401 and r.json() == D401


def assert_422(r, loc, msg, typ):
    assert r.status_code == 422, (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json() == {"detail": [{"loc": loc, "msg": msg, "type": typ}]}, r.json()


# ---------------------------------------------------------------- a tiny RESP client

def _resp_read(f):
    line = f.readline()
    if not line:
        raise ConnectionError("redis closed")
    t, rest = line[:1], line[1:-2]
    if t == b"+":
        return rest.decode()
    if t == b"-":
        raise RuntimeError(rest.decode())
    if t == b":":
        return int(rest)
    if t == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data.decode("utf-8", "replace")
    if t == b"*":
        n = int(rest)
        return None if n < 0 else [_resp_read(f) for _ in range(n)]
    raise RuntimeError("bad RESP %r" % line)


def redis_cmd(port, *args):
    enc = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    payload = b"*%d\r\n" % len(enc) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in enc)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(payload)
        with s.makefile("rb") as f:
            return _resp_read(f)


def user_key(uid, ns="authgate"):
    return "{%s}:user:%s" % (ns, uid)


def pw_fingerprint(hash_str):
    """The reset token's "pwh": BLAKE2b-128 of the stored hash, base64url without padding."""
    d = hashlib.blake2b(hash_str.encode(), digest_size=16).digest()
    return base64.urlsafe_b64encode(d).rstrip(b"=").decode()


def csu(gw_or_path, username, email, password, extra=()):
    path = getattr(gw_or_path, "config_path", gw_or_path)
    return run_authgate("csu", "--config", path, "--username", username, "--email", email,
                        "--password-stdin", *extra, input=password + "\n")


# ---------------------------------------------------------------- register

def test_register_returns_the_user_object(gateway, redis_server):
    gw = ustart(gateway, redis_server)
    name = "Alice_" + os.urandom(3).hex()
    r = register(gw, name, "Alice.%s@Example.COM" % name[-6:])
    assert r.status_code == 201, r.text
    assert r.headers["Content-Type"] == "application/json"
    u = r.json()
    assert list(u) == USER_KEYS
    assert UUID4.match(u["id"]), u
    assert u["username"] == name and u["email"] == "Alice.%s@Example.COM" % name[-6:]  # as written
    assert (u["is_active"], u["is_staff"], u["is_superuser"], u["roles"]) == (True, False, False, [])
    assert ISO.match(u["created_at"])
    created = time.mktime(time.strptime(u["created_at"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert abs(created - time.time()) < 10
    # no hash or password anywhere in the answer
    assert PW not in r.text and "argon2" not in r.text
    # the stored record holds an argon2id hash, not the password
    h = redis_cmd(redis_server.port, "HGET", user_key(u["id"]), "hash")
    assert h.startswith("$argon2id$") and PW not in h
    # /auth/me returns the same object
    tok = login_ok(gw, name)["access_token"]
    assert me(gw, tok).json() == u


def test_register_duplicates_are_case_insensitive(gateway, redis_server):
    gw = ustart(gateway, redis_server)
    name = uname("Bob")
    make_user(gw, name, "Bob.%s@Example.com" % name)
    r = register(gw, name.upper(), "other-%s@example.com" % name)
    assert r.status_code == 409 and r.json() == {"detail": "Username already registered"}
    r = register(gw, name.lower(), "other2-%s@example.com" % name)
    assert r.status_code == 409 and r.json() == {"detail": "Username already registered"}
    r = register(gw, uname(), ("bob.%s@EXAMPLE.COM" % name).upper())
    assert r.status_code == 409 and r.json() == {"detail": "Email already registered"}
    r = register(gw, uname(), ("Bob.%s@Example.com" % name).lower())
    assert r.status_code == 409 and r.json() == {"detail": "Email already registered"}
    # nothing was written by the refused attempts: a fresh pair still registers
    make_user(gw)


def test_register_invalid_input_is_422(gateway, redis_server):
    gw = ustart(gateway, redis_server)
    ok = {"email": "v@example.com", "username": "valid_name", "password": PW}

    def with_(**kw):
        b = dict(ok)
        for k, v in kw.items():
            if v is None:
                b.pop(k)
            else:
                b[k] = v
        return post(gw, "/auth/register", b)

    # username is optional (CONTRACT.md section 14: tests/integration/test_user_shapes.py)
    for field in ("email", "password"):
        assert_422(with_(**{field: None}), ["body", field], "field required", "value_error.missing")
    assert_422(with_(username=5), ["body", "username"], "str type expected", "type_error.str")
    assert_422(with_(password=["x" * 12]), ["body", "password"], "str type expected",
               "type_error.str")
    assert_422(post(gw, "/auth/register", dict(ok, email=None)), ["body", "email"],
               "str type expected", "type_error.str")
    # a key twice
    raw = '{"email":"v@example.com","username":"a_name","username":"b_name","password":"%s"}' % PW
    r = post(gw, "/auth/register", raw=raw)
    assert r.status_code == 422, r.text
    d = r.json()["detail"]
    assert len(d) == 1 and d[0]["loc"][0] == "body"
    assert (d[0]["msg"], d[0]["type"]) == ("duplicate field", "value_error.duplicate")
    # bad email / username
    for bad in ("no-at-sign", "a@b", "a@example.123", "a b@example.com", "@example.com",
                "a@-example.com", "x" * 65 + "@example.com"):
        assert_422(with_(email=bad), ["body", "email"], "value is not a valid email address",
                   "value_error.email")
    umsg = ("username must be 3 to 32 characters of letters, digits, '_', '.' or '-', "
            "starting with a letter or digit")
    for bad in ("ab", "x" * 33, "_leading", "has space", "semi;colon", "\u00e9t\u00e9"):
        assert_422(with_(username=bad), ["body", "username"], umsg, "value_error.username")
    # passwords: each rule names its limit (min-length 10, max-length 64 in BASE)
    assert_422(with_(password="ninechars"), ["body", "password"],
               "password must be at least 10 characters", "value_error.password")
    assert_422(with_(password="p" * 65), ["body", "password"],
               "password must be at most 64 characters", "value_error.password")
    assert_422(with_(password=" " * 12), ["body", "password"],
               "password must not be only whitespace", "value_error.password")
    assert_422(with_(password="control\x01chars"), ["body", "password"],
               "password must be valid UTF-8 text", "value_error.password")
    # 10 code points (20 bytes) is long enough: the limit counts characters
    assert register(gw, password="\u00e9" * 10).status_code == 201
    # not an object
    for raw in ("[1, 2]", '"str"', "{", "", "null"):
        assert_422(post(gw, "/auth/register", raw=raw), ["body"], "body must be a JSON object",
                   "value_error.jsondecode")
    # none of that registered anybody
    r = login(gw, "valid_name")
    assert r.status_code == 401


def test_register_body_over_16k_is_413(gateway, redis_server):
    gw = ustart(gateway, redis_server)
    body = json.dumps({"email": "big@example.com", "username": "big_one", "password": PW,
                       "pad": "x" * 16384})
    assert len(body) > 16384
    r = post(gw, "/auth/register", raw=body)
    assert r.status_code == 413
    assert r.headers["Content-Type"].startswith("application/json")
    assert isinstance(r.json()["detail"], str)
    # exactly 16 KiB with an ignored member is accepted
    base = json.dumps({"email": "fit@example.com", "username": "fit_one", "password": PW,
                       "pad": ""})
    body = base[:-2] + "x" * (16384 - len(base)) + '"}'
    assert len(body) == 16384
    assert post(gw, "/auth/register", raw=body).status_code == 201


def test_registration_false_closes_register(gateway, redis_server):
    gw = ustart(gateway, redis_server, registration=False)
    r = register(gw)
    assert r.status_code == 403
    assert isinstance(r.json()["detail"], str)
    # csu still creates users, who can log in
    assert csu(gw, "root_" + os.urandom(2).hex(), "root@example.com", PW).returncode == 0
    assert login(gw, "root@example.com").status_code == 200


def test_registration_race_exactly_one_wins(gateway, redis_server):
    gw = ustart(gateway, redis_server)
    name = uname("race")
    n = 20
    barrier = threading.Barrier(n)
    results = [None] * n

    def go(i):
        s = requests.Session()
        body = json.dumps({"email": "r%d-%s@example.com" % (i, name),
                           "username": name.upper() if i % 2 else name, "password": PW})
        barrier.wait()
        r = s.post(gw.url + "/auth/register", data=body,
                   headers={"Content-Type": "application/json"}, timeout=30)
        results[i] = (r.status_code, r.json())

    threads = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    codes = sorted(c for c, _ in results)
    assert codes == [201] + [409] * (n - 1), codes
    for c, body in results:
        if c == 409:
            assert body == {"detail": "Username already registered"}
    # one record, one index entry
    winner = next(b for c, b in results if c == 201)
    assert redis_cmd(redis_server.port, "GET", "{authgate}:uname:" + name.lower()) == winner["id"]
    assert login(gw, name).status_code == 200


# ---------------------------------------------------------------- login

def test_login_shape_claims_and_cookies(gateway, redis_server, upstream):
    gw = ustart(gateway, redis_server, upstream, **{"access-token-ttl": 600})
    u = make_user(gw)
    r = login(gw, u["username"])
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert set(body) == TOKEN_KEYS
    assert body["token_type"] == "bearer" and body["expires_in"] == 600
    a, f = decode(body["access_token"]), decode(body["refresh_token"])
    assert a["sub"] == u["id"] and a["client_id"] == "authgate" and a["type"] == "access"
    assert f["sub"] == u["id"] and f["type"] == "refresh" and f["sid"] == a["sid"]
    assert a["exp"] - a["iat"] == 600
    cookies = {}
    for line in set_cookies(r):
        name, value, attrs = cookie_attrs(line)
        cookies[name] = (value, attrs)
    assert set(cookies) == {"access_token", "refresh_token"}
    av, aa = cookies["access_token"]
    rv, ra = cookies["refresh_token"]
    assert av == body["access_token"] and rv == body["refresh_token"]
    assert aa["path"] == "/" and ra["path"] == "/auth"
    for attrs in (aa, ra):
        assert attrs.get("httponly") is True
        assert attrs.get("samesite") == "Lax"
        assert "secure" not in attrs  # cookie-secure false
    # the access token opens a protected path and the upstream learns who it is
    upstream.reset()
    assert api(gw, body["access_token"]).status_code == 200
    rec = upstream.requests()[-1]
    hd = {k.lower(): v for k, v in rec["headers"]}
    assert hd["x-auth-subject"] == u["id"] and hd["x-auth-client-id"] == "authgate"
    # the cookie alone works too (requests sends it back: no Secure)
    s = requests.Session()
    s.post(gw.url + "/auth/login", json={"username_or_email": u["email"], "password": PW},
           timeout=10)
    assert s.get(gw.url + "/api/x", timeout=10).status_code == 200
    assert s.get(gw.url + "/auth/me", timeout=10).json()["id"] == u["id"]


def test_login_cookie_secure_samesite_and_off(gateway, redis_server):
    gw = ustart(gateway, redis_server, **{"cookie-secure": True, "cookie-samesite": "strict"})
    u = make_user(gw)
    r = login(gw, u["username"])
    assert r.status_code == 200
    lines = set_cookies(r)
    assert len(lines) == 2
    for line in lines:
        name, _, attrs = cookie_attrs(line)
        assert attrs.get("secure") is True and attrs.get("httponly") is True
        assert attrs.get("samesite") == "Strict"
        assert attrs["path"] == ("/" if name == "access_token" else "/auth")
    # the same for the password grant
    r = token_form(gw, {"username": u["username"], "password": PW})
    assert r.status_code == 200 and len(set_cookies(r)) == 2
    gw2 = ustart(gateway, redis_server, **{"set-cookie-on-login": False})
    r = login(gw2, u["username"])
    assert r.status_code == 200 and set(r.json()) == TOKEN_KEYS
    assert set_cookies(r) == []
    r = token_form(gw2, {"username": u["username"], "password": PW})
    assert r.status_code == 200 and set_cookies(r) == []


def test_login_failures(gateway, redis_server):
    gw = ustart(gateway, redis_server)
    u = make_user(gw, email="Carol.%s@Example.org" % os.urandom(2).hex())
    for who, pw in ((u["username"], PW + "x"), ("nobody_here", PW), ("nobody@example.com", PW)):
        r = login(gw, who, pw)
        assert r.status_code == 401 and r.json() == BAD_LOGIN, r.text
        assert r.headers["Content-Type"] == "application/json"
        assert set_cookies(r) == []
    # by email, in another case; by username in another case
    assert login(gw, u["email"].upper()).status_code == 200
    assert login(gw, u["email"].lower()).status_code == 200
    assert login(gw, u["username"].upper()).status_code == 200
    # missing / wrong type
    assert_422(post(gw, "/auth/login", {"username_or_email": u["username"]}),
               ["body", "password"], "field required", "value_error.missing")
    assert_422(post(gw, "/auth/login", {"username_or_email": 1, "password": PW}),
               ["body", "username_or_email"], "str type expected", "type_error.str")
    # inactive: 403 with the right password, 401 with a wrong one
    assert redis_cmd(redis_server.port, "HSET", user_key(u["id"]), "is_active", "0") == 0
    r = login(gw, u["username"])
    assert r.status_code == 403 and r.json() == {"detail": "Inactive user"}
    assert set_cookies(r) == []
    r = login(gw, u["username"], PW + "x")
    assert r.status_code == 401 and r.json() == BAD_LOGIN
    r = token_form(gw, {"username": u["username"], "password": PW})
    assert r.status_code == 403 and r.json() == {"detail": "Inactive user"}


def paired_gap(a, b):
    """The median of a[i] - b[i] over requests sent back to back: a slow spell of a loaded
    machine lengthens both of a pair, so it cancels, where two separate medians can each
    land in a different spell."""
    return statistics.median(x - y for x, y in zip(a, b))


def test_unknown_user_takes_as_long_as_a_wrong_password(gateway, redis_server):
    """Default argon2 parameters (19 MiB, 2 passes): hashing dominates the answer."""
    gw = ustart(gateway, redis_server, passwords=None)
    u = make_user(gw)
    s = requests.Session()

    def one(who, pw):
        t0 = time.perf_counter()
        r = s.post(gw.url + "/auth/login", json={"username_or_email": who, "password": pw},
                   timeout=30)
        took = time.perf_counter() - t0
        assert r.status_code == 401 and r.json() == BAD_LOGIN
        return took

    for _ in range(3):  # warm up both paths (the dummy hash, the pool's threads)
        one("nobody_" + os.urandom(3).hex(), PW)
        one(u["username"], "wrong password 1")
    unknown, wrong = [], []
    for i in range(20):  # interleaved, so a slow spell hits both
        unknown.append(one("nobody_%d_%s" % (i, os.urandom(3).hex()), "wrong password %d" % i))
        wrong.append(one(u["username"], "wrong password %d" % i))
    mu, mw, gap = statistics.median(unknown), statistics.median(wrong), paired_gap(unknown, wrong)
    print("\nlogin timing: unknown user median %.1f ms, wrong password median %.1f ms, "
          "median gap of a pair %.1f ms" % (mu * 1000, mw * 1000, gap * 1000))
    assert mw > 0.005, "hashing should dominate (%.1f ms)" % (mw * 1000)
    assert abs(gap) <= 0.2 * mw, (gap, mu, mw)


def test_a_hash_of_older_parameters_fails_as_slowly_as_an_unknown_user(gateway, redis_server):
    """After the argon2 parameters are raised, a hash made with the old ones verifies much
    faster than the dummy hash of an unknown user; a failed login against it is padded to
    what the current parameters cost (issue 9). Same method and tolerance as above."""
    old = ustart(gateway, redis_server)  # FAST_PW: 1 pass, 8 MiB
    u = make_user(old)
    old.stop()
    gw = ustart(gateway, redis_server, passwords=None)  # defaults: 2 passes, 19 MiB
    s = requests.Session()

    def one(who, pw):
        t0 = time.perf_counter()
        r = s.post(gw.url + "/auth/login", json={"username_or_email": who, "password": pw},
                   timeout=30)
        took = time.perf_counter() - t0
        assert r.status_code == 401 and r.json() == BAD_LOGIN
        return took

    for _ in range(3):
        one("nobody_" + os.urandom(3).hex(), PW)
        one(u["username"], "wrong password 1")
    unknown, stale = [], []
    for i in range(20):
        unknown.append(one("nobody_%d_%s" % (i, os.urandom(3).hex()), "wrong password %d" % i))
        stale.append(one(u["username"], "wrong password %d" % i))
    mu, ms, gap = statistics.median(unknown), statistics.median(stale), paired_gap(unknown, stale)
    print("\nlogin timing after a parameter change: unknown user median %.1f ms, "
          "old-parameter hash median %.1f ms, median gap of a pair %.1f ms"
          % (mu * 1000, ms * 1000, gap * 1000))
    assert mu > 0.005, "hashing should dominate (%.1f ms)" % (mu * 1000)
    assert abs(gap) <= 0.2 * mu, (gap, mu, ms)


def _redis_calls(port):
    """Scripts Redis has run: every store call on the login path is one (store/user.c,
    store/ratelimit.c), while commandstats counts the commands inside a script as well."""
    n = 0
    for line in redis_cmd(port, "INFO", "commandstats").splitlines():
        if line.startswith(("cmdstat_evalsha:", "cmdstat_eval:")):
            n += int(line.split("calls=", 1)[1].split(",", 1)[0])
    return n


def test_unknown_user_costs_the_same_redis_round_trips_as_a_wrong_password(gateway,
                                                                          redis_server):
    """The structure behind the timing above, with the lockout on (the default): a wrong
    password counts a failure in Redis; an unknown user's login must make the same calls,
    or it answers one round trip sooner (issue 9). Counted, not timed."""
    limits = {"login": {"limit": 1000, "window": 60},
              "login-account": {"limit": 1000, "window": 60}}
    gw = ustart(gateway, redis_server, **{"rate-limits": limits, "audit-stream-max": 0})
    u = make_user(gw)

    def calls(who):
        before = _redis_calls(redis_server.port)
        r = login(gw, who, "wrong password 1")
        assert r.status_code == 401 and r.json() == BAD_LOGIN
        return _redis_calls(redis_server.port) - before

    wrong = [calls(u["username"]) for _ in range(3)]
    unknown = [calls("nobody_" + os.urandom(3).hex()) for _ in range(3)]
    assert wrong == unknown, (wrong, unknown)


# ---------------------------------------------------------------- /auth/token (password grant)

ROLE_SCOPES = {"superuser": ["admin", "read", "write"], "staff": ["read"]}


def test_token_form_grant(gateway, redis_server, upstream):
    gw = ustart(gateway, redis_server, upstream, **{"role-scopes": ROLE_SCOPES,
                                                    "access-token-ttl": 300})
    u = make_user(gw)
    redis_cmd(redis_server.port, "HSET", user_key(u["id"]), "roles", "editor reporter")
    r = token_form(gw, {"username": u["username"], "password": PW})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == TOKEN_KEYS and body["token_type"] == "bearer" and body["expires_in"] == 300
    a = decode(body["access_token"])
    assert a["sub"] == u["id"] and a["roles"] == ["editor", "reporter"]
    assert sorted(a["scope"].split()) == ["editor", "reporter"]  # unlisted role: its own name
    assert decode(body["refresh_token"])["type"] == "refresh"
    assert api(gw, body["access_token"]).status_code == 200
    # a granted subset, with grant_type and client_id (accepted, but a user's token names
    # no client: the unauthenticated client_id never reaches X-Auth-Client-Id, issue 9)
    r = token_form(gw, {"username": u["email"], "password": PW, "scope": "reporter",
                        "grant_type": "password", "client_id": "my-spa"})
    assert r.status_code == 200, r.text
    a = decode(r.json()["access_token"])
    assert a["scope"] == "reporter" and a["client_id"] == "authgate"
    upstream.reset()
    assert api(gw, r.json()["access_token"]).status_code == 200
    hd = {k.lower(): v for k, v in upstream.requests()[-1]["headers"]}
    assert hd["x-auth-scopes"] == "reporter" and hd["x-auth-client-id"] == "authgate"
    assert hd["x-auth-roles"] == "editor,reporter"
    # a refresh keeps scope, roles and client_id
    r2 = refresh_post(gw, r.json()["refresh_token"])
    assert r2.status_code == 200, r2.text
    a2 = decode(r2.json()["access_token"])
    assert (a2["scope"], a2["roles"], a2["client_id"]) == ("reporter", ["editor", "reporter"],
                                                           "authgate")
    # not granted
    for scope in ("admin", "reporter admin"):
        r = token_form(gw, {"username": u["username"], "password": PW, "scope": scope})
        assert r.status_code == 400 and r.json()["error"] == "invalid_scope", r.text
    # other grant types
    for gt in ("client_credentials", "refresh_token", "Password"):
        r = token_form(gw, {"username": u["username"], "password": PW, "grant_type": gt})
        assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type", r.text
    # missing fields
    r = token_form(gw, {"username": u["username"]})
    assert_422(r, ["body", "password"], "field required", "value_error.missing")
    r = token_form(gw, {"password": PW})
    assert_422(r, ["body", "username"], "field required", "value_error.missing")
    # a field twice
    r = requests.post(gw.url + "/auth/token", data="username=a&username=b&password=%s" % PW,
                      headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=10)
    assert_422(r, ["body", "username"], "duplicate field", "value_error.duplicate")
    # wrong credentials as login
    r = token_form(gw, {"username": u["username"], "password": "nope nope nope"})
    assert r.status_code == 401 and r.json() == BAD_LOGIN


def test_token_form_that_is_not_a_form(gateway, redis_server):
    gw = ustart(gateway, redis_server)
    r = requests.post(gw.url + "/auth/token", data="username=a%zz&password=" + PW,
                      headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=10)
    assert_422(r, ["body"], "body must be a form (application/x-www-form-urlencoded)",
               "value_error.formdecode")


def test_superuser_roles_scopes_and_role_rules(gateway, redis_server, upstream):
    cfg = {"role-scopes": ROLE_SCOPES,
           "rules": [{"prefix": "/api/admin", "roles": ["superuser"]},
                     {"prefix": "/api/reports", "scopes": ["read"]}]}
    gw = ustart(gateway, redis_server, upstream, **cfg)
    root = "root_" + os.urandom(3).hex()
    r = csu(gw, root, root + "@example.com", PW)
    assert r.returncode == 0, r.stderr
    plain = make_user(gw)
    body = login_ok(gw, root)
    a = decode(body["access_token"])
    assert a["roles"] == ["staff", "superuser"]
    words = a["scope"].split()
    assert sorted(set(words)) == ["admin", "read", "write"]
    assert len(words) == len(set(words)), "a scope listed twice: %r" % a["scope"]
    m = me(gw, body["access_token"]).json()
    assert list(m) == USER_KEYS and m["is_staff"] is True and m["is_superuser"] is True
    assert m["roles"] == [] and m["username"] == root
    # the upstream gets the roles
    upstream.reset()
    assert api(gw, body["access_token"], "/api/admin/panel").status_code == 200
    hd = {k.lower(): v for k, v in upstream.requests()[-1]["headers"]}
    assert hd["x-auth-roles"] == "staff,superuser"
    assert hd["x-auth-scopes"] == a["scope"]  # space separated (docs/tokens.md)
    # the rules: the superuser passes both, a plain user gets 403 on each
    assert api(gw, body["access_token"], "/api/reports/q").status_code == 200
    pt = login_ok(gw, plain["username"])["access_token"]
    assert "roles" not in decode(pt) or decode(pt)["roles"] == []
    for path in ("/api/admin/panel", "/api/reports/q"):
        r = api(gw, pt, path)
        assert r.status_code == 403, (path, r.status_code)
        assert "insufficient_scope" in r.headers.get("WWW-Authenticate", "")
    assert api(gw, pt, "/api/other").status_code == 200
    # a scope subset through /token: read only -> no admin path via scopes, role still there
    r = token_form(gw, {"username": root, "password": PW, "scope": "read"})
    assert r.status_code == 200 and decode(r.json()["access_token"])["scope"] == "read"
    r = token_form(gw, {"username": root, "password": PW, "scope": "admin write"})
    assert r.status_code == 200
    r = token_form(gw, {"username": plain["username"], "password": PW, "scope": "read"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"


# ---------------------------------------------------------------- /auth/me

def test_me(gateway, redis_server):
    gw = ustart(gateway, redis_server, **{"master-token": MASTER})
    u = make_user(gw)
    tok = login_ok(gw, u["username"])["access_token"]
    r = me(gw, tok)
    assert r.status_code == 200 and r.json() == u
    # ACCESS-TOKEN header and cookie work too
    assert requests.get(gw.url + "/auth/me", headers={"ACCESS-TOKEN": tok},
                        timeout=10).json() == u
    assert requests.get(gw.url + "/auth/me", cookies={"access_token": tok},
                        timeout=10).json() == u
    # a client token has no user
    client = new_pair(gw, "svc-client")["access_token"]
    r = me(gw, client)
    assert r.status_code == 404 and r.json() == {"detail": "User not found"}
    assert r.headers["Content-Type"] == "application/json"
    # no token / a bad one
    r = requests.get(gw.url + "/auth/me", timeout=10)
    assert r.status_code == 401 and r.json() == D401
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="authgate"'
    r = me(gw, tok[:-3] + "AAA")
    assert r.status_code == 401 and r.json() == D401
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    # a refresh token is not an access token
    assert me(gw, login_ok(gw, u["username"])["refresh_token"]).status_code == 401
    # wrong method
    r = requests.post(gw.url + "/auth/me", headers=bearer(tok), timeout=10)
    assert r.status_code == 405 and "GET" in r.headers["Allow"]


# ---------------------------------------------------------------- csu

def test_csu(gateway, redis_server, tmp_path):
    gw = ustart(gateway, redis_server)
    # the unreachable store takes a few seconds to give up: start it first
    cfg = dict(gw.config)
    cfg["redis"] = "redis://127.0.0.1:%d/0" % free_port()
    dead = tmp_path / "dead.json"
    dead.write_text(json.dumps(cfg))
    env = dict(os.environ)
    env.pop("CRYPTOGRAPHY_KEY", None)
    slow = subprocess.Popen([str(AUTHGATE_BIN), "csu", "--config", str(dead), "--username",
                             "nobody_x", "--email", "nobody_x@example.com", "--password-stdin"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        name = "Admin_" + os.urandom(3).hex()
        r = csu(gw, name, name + "@example.com", PW)
        assert r.returncode == 0, r.stdout + r.stderr
        m = me(gw, login_ok(gw, name.lower())["access_token"]).json()
        assert (m["username"], m["email"], m["is_active"], m["is_staff"], m["is_superuser"]) == \
            (name, name + "@example.com", True, True, True)
        # duplicates (either name, any case)
        for u2, e2 in ((name.upper(), "fresh-%s@example.com" % name),
                       ("fresh_" + name, (name + "@example.com").upper())):
            r = csu(gw, u2, e2, PW)
            assert r.returncode == 1 and "duplicate user" in r.stderr, r.stderr
        # weak password
        r = csu(gw, "weak_" + name, "weak-%s@example.com" % name, "short")
        assert r.returncode == 1 and "weak password" in r.stderr, r.stderr
        assert "at least 10 characters" in r.stderr
        # invalid field
        r = csu(gw, "x", "bad-email", PW)
        assert r.returncode == 1 and "username" in r.stderr
        # missing --config
        r = run_authgate("csu", "--username", "a_b_c", "--email", "abc@example.com",
                         "--password-stdin", input=PW + "\n")
        assert r.returncode == 2, r.stderr
        # none of the refused ones exist
        assert login(gw, "weak_" + name, "short").status_code in (401, 422)
        # the unreachable store
        out, err = slow.communicate(PW + "\n", timeout=30)
        assert slow.returncode == 1, (out, err)
        assert "unreachable" in err
    finally:
        if slow.poll() is None:
            slow.kill()
            slow.wait()


# ---------------------------------------------------------------- Redis down

def test_redis_down_register_and_login_are_503(gateway, redis_server):
    gw = ustart(gateway, redis_server)
    u = make_user(gw)
    tok = login_ok(gw, u["username"])["access_token"]
    redis_server.stop()
    wait_ready(gw, want=503)
    r = register(gw)
    assert r.status_code == 503 and r.json() == D503, r.text
    r = login(gw, u["username"])
    assert r.status_code == 503 and r.json() == D503, r.text
    r = token_form(gw, {"username": u["username"], "password": PW})
    assert r.status_code == 503 and r.json() == D503
    assert me(gw, tok).status_code == 503
    r = requests.post(gw.url + "/auth/logout", headers=bearer(tok), timeout=10)
    assert r.status_code == 503 and r.json() == D503
    r = post(gw, "/auth/password/forgot", {"username_or_email": u["username"]})
    assert r.status_code in (202, 503)
    # still alive, and the access token still opens protected paths
    assert requests.get(gw.url + "/auth/health", timeout=5).status_code == 200
    assert api(gw, tok).status_code != 401
    assert gw.proc.poll() is None
    redis_server.start()  # an empty Redis: the test server keeps no data
    wait_ready(gw)
    v = make_user(gw)
    assert login(gw, v["username"]).status_code == 200


def test_login_upgrades_the_hash_when_the_parameters_changed(gateway, redis_server):
    """A hash made with older argon2id parameters is replaced at the next good login;
    a wrong password changes nothing."""
    gw = ustart(gateway, redis_server)
    r = register(gw)
    assert r.status_code == 201, r.text
    uid, name = r.json()["id"], r.json()["username"]
    before = redis_cmd(redis_server.port, "HGET", user_key(uid), "hash")
    assert before.startswith("$argon2id$v=19$m=8192,t=1,"), before
    assert gw.stop() == 0
    stronger = dict(FAST_PW, **{"argon2-iterations": 2, "argon2-memory-kib": 9216})
    gw2 = ustart(gateway, redis_server, passwords=stronger)
    assert login(gw2, name, "wrong password!").status_code == 401
    assert redis_cmd(redis_server.port, "HGET", user_key(uid), "hash") == before
    login_ok(gw2, name)
    deadline = time.monotonic() + 5
    after = before
    while after == before and time.monotonic() < deadline:  # the rehash write is a side write
        time.sleep(0.05)
        after = redis_cmd(redis_server.port, "HGET", user_key(uid), "hash")
    assert after.startswith("$argon2id$v=19$m=9216,t=2,"), after
    login_ok(gw2, name)  # the new hash verifies the same password
