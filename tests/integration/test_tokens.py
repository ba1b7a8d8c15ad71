"""The token service through the real binary on a real redis-server (CONTRACT.md
sections 5, 7 "Token service", 8; docs/endpoints.md).

Issue (/auth/token/new), refresh (GET /auth/token/refresh and POST /auth/refresh) with
one-time rotation and reuse detection, cookies, readiness, a Redis outage and a
gateway restart. Each test starts its own redis-server and gateway.
"""

import json
import re
import threading
import time

import jwt
import pytest
import requests

from conftest import CRYPTO_KEY, RawConn, get_or_cut

MASTER = "master-token-for-tests"
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
ENV_401 = {"status": "error", "message": "Invalid refresh token", "code": 401}
ENV_503 = {"status": "error", "message": "Service unavailable", "code": 503}


def start(gateway, redis_server, upstream=None, **over):
    # Rate limits off unless a test says otherwise: every request here comes from 127.0.0.1.
    cfg = {"redis": redis_server.url, "master-token": MASTER, "access-token-paths": ["/api"],
           "access-token-ttl": 900, "refresh-token-ttl": 3600, "rate-limits": False}
    cfg.update(over)
    gw = gateway(config=cfg, upstream=upstream)
    # Every worker logs its store's first state at once; none means a binary built
    # before store/session.c existed (gateway/meson.build), which has no store at all.
    deadline = time.monotonic() + 2.0
    while "store" not in gw.stderr() and time.monotonic() < deadline:
        time.sleep(0.05)
    if "store" not in gw.stderr():
        pytest.skip("this authgate has no store (built without store/session.c)")
    wait_ready(gw)
    return gw


def wait_ready(gw, want=200, timeout=15.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        # one request per worker-ish: every worker must be ready, so ask a few times
        prefix = gw.config.get("auth-prefix", "/auth")
        codes = [requests.get(gw.url + prefix + "/ready", timeout=5).status_code for _ in range(4)]
        if all(c == want for c in codes):
            return
        last = codes
        time.sleep(0.1)
    raise AssertionError("/auth/ready never answered %d (last %r)" % (want, last))


def new_pair(gw, client_id=None):
    params = {"client_id": client_id} if client_id else None
    r = requests.get(gw.url + "/auth/token/new", params=params, headers={"MASTER-TOKEN": MASTER},
                     timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def decode(tok):
    return jwt.decode(tok, CRYPTO_KEY, algorithms=["HS256"], options={"verify_aud": False})


def refresh_get(gw, tok):
    return requests.get(gw.url + "/auth/token/refresh", params={"refresh_token": tok}, timeout=10)


def api(gw, access):
    """GET /api/x with <access>; Cut (status 0) when a revocation cut it (conftest.py)."""
    return get_or_cut(gw.url + "/api/x", {"Authorization": "Bearer " + access})


# ---------------------------------------------------------------- /auth/token/new

def test_token_new_needs_the_master_token(gateway, redis_server):
    gw = start(gateway, redis_server)
    for h in ({}, {"MASTER-TOKEN": "wrong"}):
        r = requests.get(gw.url + "/auth/token/new", headers=h, timeout=10)
        assert r.status_code == 401
        assert r.json() == {"detail": "Unauthorized Master Token"}


def test_token_new_envelope_and_claims(gateway, redis_server, upstream):
    gw = start(gateway, redis_server, upstream, **{"app-name": "myapp"})
    r = requests.get(gw.url + "/auth/token/new?client_id=svc-1", headers={"MASTER-TOKEN": MASTER},
                     timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert list(body) == ["status", "message", "code", "data"]
    assert (body["status"], body["message"], body["code"]) == ("success", "Token generated", 200)
    data = body["data"]
    assert data["client_id"] == "svc-1"
    a, f = decode(data["access_token"]), decode(data["refresh_token"])
    for c in (a, f):
        assert c["sub"] == "client:svc-1" and c["client_id"] == "svc-1" and c["iss"] == "myapp"
        assert c["sub_type"] == "client"
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", c["jti"]) and re.fullmatch(r"[A-Za-z0-9_-]{22}", c["sid"])
    assert a["type"] == "access" and f["type"] == "refresh"
    assert a["exp"] - a["iat"] == 900 and f["exp"] - f["iat"] == 3600
    assert a["sid"] == f["sid"] and a["jti"] != f["jti"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", f["fam"]) and "fam" not in a
    assert abs(a["iat"] - time.time()) < 5
    # the access token opens the protected path
    assert api(gw, data["access_token"]).status_code == 200


def test_token_new_without_client_id_uses_a_uuid4(gateway, redis_server):
    gw = start(gateway, redis_server)
    data = new_pair(gw)
    assert UUID4.match(data["client_id"]), data["client_id"]
    assert decode(data["access_token"])["client_id"] == data["client_id"]
    assert new_pair(gw)["client_id"] != data["client_id"]


def test_token_new_without_master_when_configured(gateway, redis_server):
    gw = start(gateway, redis_server, **{"token-new-requires-master": False})
    r = requests.get(gw.url + "/auth/token/new?client_id=x", timeout=10)
    assert r.status_code == 200 and r.json()["data"]["client_id"] == "x"


def test_token_new_client_id_is_percent_decoded(gateway, redis_server):
    gw = start(gateway, redis_server)
    data = new_pair(gw, client_id='a b/"é')
    assert data["client_id"] == 'a b/"é'
    assert decode(data["access_token"])["sub"] == 'client:a b/"é'


def test_issued_access_token_dies_at_its_exp_second(gateway, redis_server, upstream):
    """Issue 9 point 3: a 2 s token was still forwarded 3 s later (the 30 s leeway)."""
    gw = start(gateway, redis_server, upstream, **{"access-token-ttl": 2})
    data = new_pair(gw, "short")
    exp = decode(data["access_token"])["exp"]
    assert api(gw, data["access_token"]).status_code == 200
    time.sleep(max(0.0, exp + 1.0 - time.time()))
    r = api(gw, data["access_token"])
    assert r.status_code == 401 and r.json() == {"detail": "Unauthorized Access Token"}
    assert "expired" in r.headers["WWW-Authenticate"]


# ---------------------------------------------------------------- refresh

def test_refresh_get_rotates_and_the_old_token_dies(gateway, redis_server):
    gw = start(gateway, redis_server)
    p1 = new_pair(gw, "c1")
    r = refresh_get(gw, p1["refresh_token"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["message"], body["code"]) == ("success", "Token generated", 200)
    p2 = body["data"]
    assert p2["client_id"] == "c1" and p2["refresh_token"] != p1["refresh_token"]
    a1, f1, f2 = decode(p1["access_token"]), decode(p1["refresh_token"]), decode(p2["refresh_token"])
    assert f2["sid"] == f1["sid"] and f2["fam"] == f1["fam"] and f2["jti"] != f1["jti"]
    assert decode(p2["access_token"])["jti"] != a1["jti"]
    r = refresh_get(gw, p1["refresh_token"])
    assert r.status_code == 401 and r.json() == ENV_401


def test_refresh_get_errors(gateway, redis_server):
    gw = start(gateway, redis_server)
    for tok in ("", "garbage", "a.b.c"):
        r = refresh_get(gw, tok)
        assert r.status_code == 401 and r.json() == ENV_401, (tok, r.text)
    now = int(time.time())
    base = {"sub": "s", "type": "refresh", "iat": now, "exp": now + 60, "jti": "j" * 22,
            "sid": "s" * 22, "fam": "f" * 22, "iss": "authgate"}
    no_cid = jwt.encode(base, CRYPTO_KEY, algorithm="HS256")
    r = refresh_get(gw, no_cid)
    assert r.status_code == 401
    assert r.json() == {"status": "error", "message": "Invalid refresh token: missing client_id",
                        "code": 401}
    # well signed, but no such session
    unknown = jwt.encode(dict(base, client_id="c"), CRYPTO_KEY, algorithm="HS256")
    r = refresh_get(gw, unknown)
    assert r.status_code == 401 and r.json() == ENV_401
    # another key
    forged = jwt.encode(dict(base, client_id="c"), "x" * 40, algorithm="HS256")
    assert refresh_get(gw, forged).json() == ENV_401


def test_type_confusion_both_ways(gateway, redis_server, upstream):
    gw = start(gateway, redis_server, upstream)
    p = new_pair(gw, "c")
    # an access token is not a refresh token
    r = refresh_get(gw, p["access_token"])
    assert r.status_code == 401 and r.json() == ENV_401
    r = requests.post(gw.url + "/auth/refresh", json={"refresh_token": p["access_token"]}, timeout=10)
    assert r.status_code == 401
    # a refresh token is not an access token, in any source
    for h in ({"Authorization": "Bearer " + p["refresh_token"]},
              {"ACCESS-TOKEN": p["refresh_token"]},
              {"Cookie": "access_token=" + p["refresh_token"]}):
        r = requests.get(gw.url + "/api/x", headers=h, timeout=10)
        assert r.status_code == 401 and r.json() == {"detail": "Unauthorized Access Token"}
    # and the pair still works as intended afterwards
    assert api(gw, p["access_token"]).status_code == 200
    assert refresh_get(gw, p["refresh_token"]).status_code == 200


def test_post_refresh_sources(gateway, redis_server):
    gw = start(gateway, redis_server, **{"set-cookie-on-login": False})
    url = gw.url + "/auth/refresh"
    # JSON body
    p = new_pair(gw, "c")
    r = requests.post(url, json={"refresh_token": p["refresh_token"]}, timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer" and body["expires_in"] == 900
    assert decode(body["access_token"])["type"] == "access"
    assert "Set-Cookie" not in r.headers
    # Bearer
    r = requests.post(url, headers={"Authorization": "Bearer " + body["refresh_token"]}, timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    # a Bearer holding an access token is passed over: the body's refresh token is used
    r = requests.post(url, headers={"Authorization": "Bearer " + body["access_token"]},
                      json={"refresh_token": body["refresh_token"]}, timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    # the cookie; the answer then sets the cookies, even with set-cookie-on-login off
    r = requests.post(url, headers={"Cookie": "refresh_token=" + body["refresh_token"]}, timeout=10)
    assert r.status_code == 200, r.text
    # beside cookies RFC 6265's strict grammar refuses (another site's, the app's own)
    r = requests.post(url, headers={"Cookie": 'theme="dark mode"; refresh_token=%s; flag;'
                                              % r.json()["refresh_token"]}, timeout=10)
    assert r.status_code == 200, r.text
    cookies = r.headers["Set-Cookie"]
    assert "access_token=" + r.json()["access_token"] in cookies
    assert "refresh_token=" + r.json()["refresh_token"] in cookies
    # an expired access token in the Bearer is passed over too (why the client refreshes)
    old = decode(r.json()["access_token"])
    expired = jwt.encode(dict(old, iat=old["iat"] - 3600, exp=old["iat"] - 1800), CRYPTO_KEY,
                         algorithm="HS256")
    r = requests.post(url, headers={"Authorization": "Bearer " + expired,
                                    "Cookie": "refresh_token=" + r.json()["refresh_token"]},
                      timeout=10)
    assert r.status_code == 200, r.text
    # a bad Bearer refresh token does not fall through to the body
    r = requests.post(url, headers={"Authorization": "Bearer nonsense"},
                      json={"refresh_token": r.json()["refresh_token"]}, timeout=10)
    assert r.status_code == 401 and r.json() == {"detail": "Invalid refresh token"}


def _hs256(payload_json):
    """A JWS with <payload_json> (text, sent as it is) signed with the gateway's key."""
    import base64
    import hashlib
    import hmac

    def b64(b):
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    head = b64(b'{"alg":"HS256","typ":"JWT"}') + "." + b64(payload_json.encode())
    sig = hmac.new(CRYPTO_KEY.encode(), head.encode(), hashlib.sha256).digest()
    return head + "." + b64(sig)


def test_post_refresh_bearer_type_is_read_not_guessed(gateway, redis_server):
    """The Bearer's "type" decides whether it is passed over (ep_tokens.c's pre-scan for
    the word "access"): a refresh token that holds the word elsewhere is judged, an access
    token that spells "access" with an escape is passed over, and the answers write the
    client id byte for byte as jansson does."""
    gw = start(gateway, redis_server)
    url = gw.url + "/auth/refresh"
    cid = 'access "q" \\ \u00e9'
    p = new_pair(gw, cid)
    assert "access" in json.dumps(decode(p["refresh_token"]))
    r = requests.post(url, headers={"Authorization": "Bearer " + p["refresh_token"]}, timeout=10)
    assert r.status_code == 200, r.text
    fresh = r.json()
    assert r.content == json.dumps({"access_token": fresh["access_token"],
                                    "refresh_token": fresh["refresh_token"],
                                    "token_type": "bearer", "expires_in": 900},
                                   separators=(",", ":")).encode()
    # The GET answer, written by policy/jsonw.c: the bytes json_dumps made before.
    r = refresh_get(gw, fresh["refresh_token"])
    assert r.status_code == 200, r.text
    want = {"status": "success", "message": "Token generated", "code": 200,
            "data": {"client_id": cid, "access_token": r.json()["data"]["access_token"],
                     "refresh_token": r.json()["data"]["refresh_token"]}}
    assert r.content == json.dumps(want, separators=(",", ":"), ensure_ascii=False).encode()
    last = r.json()["data"]
    # "type":"\u0061ccess": no plain "access" in the payload, yet an access token.
    claims = decode(last["access_token"])
    text = json.dumps(claims, separators=(",", ":"), ensure_ascii=False)
    text = text.replace('"type":"access"', '"type":"\\u0061ccess"')
    assert '"type":"\\u0061ccess"' in text
    escaped = _hs256(text)
    r = requests.post(url, headers={"Authorization": "Bearer " + escaped,
                                    "Cookie": "refresh_token=" + last["refresh_token"]},
                      timeout=10)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("auth", ["Bearer\t{tok}", "Bearer \t{tok}", "Bearer"])
def test_post_refresh_malformed_bearer_is_judged_not_passed_over(gateway, redis_server, auth):
    """A malformed Bearer (a TAB after the scheme, or no token) is refused as for proxied
    requests: it does not fall through to the cookie, and the cookie's token still works."""
    gw = start(gateway, redis_server)
    url = gw.url + "/auth/refresh"
    p = new_pair(gw, "c")
    r = requests.post(url, headers={"Authorization": auth.format(tok=p["refresh_token"]),
                                    "Cookie": "refresh_token=" + p["refresh_token"]}, timeout=10)
    assert r.status_code == 401 and r.json() == {"detail": "Invalid refresh token"}, r.text
    r = requests.post(url, headers={"Cookie": "refresh_token=" + p["refresh_token"]}, timeout=10)
    assert r.status_code == 200, r.text


def test_post_refresh_refusals(gateway, redis_server):
    gw = start(gateway, redis_server)
    url = gw.url + "/auth/refresh"
    p = new_pair(gw, "c")
    for data in (b"", b"{}", b"[]", b"not json", b'{"refresh_token": 5}',
                 ('{"refresh_token":"%s","refresh_token":"%s"}'
                  % (p["refresh_token"], p["refresh_token"])).encode()):
        r = requests.post(url, data=data, headers={"Content-Type": "application/json"}, timeout=10)
        assert r.status_code == 401, (data, r.text)
        assert r.json() == {"detail": "Invalid refresh token"}
    # a body of another type: 415, not read for a token (docs/users.md "CSRF": a
    # cross-site text/plain form can carry JSON)
    body = json.dumps({"refresh_token": p["refresh_token"]})
    for ctype in ("text/plain", "text/plain;charset=UTF-8", "multipart/form-data; boundary=x",
                  "application/x-www-form-urlencoded", ""):
        r = requests.post(url, data=body, headers={"Content-Type": ctype}, timeout=10)
        assert r.status_code == 415, (ctype, r.text)
        assert r.json() == {"detail": "Content-Type must be application/json"}
    # over 16 KiB: 413, whether announced or chunked
    big = b'{"refresh_token":"' + b"a" * 17000 + b'"}'
    r = requests.post(url, data=big, timeout=10)
    assert r.status_code == 413
    r = requests.post(url, data=iter([big[:9000], big[9000:]]), timeout=10)
    assert r.status_code == 413
    # the duplicate-key body above did not consume the token
    r = requests.post(url, json={"refresh_token": p["refresh_token"]}, timeout=10)
    assert r.status_code == 200


def test_post_refresh_chunked_body_and_keep_alive(gateway, redis_server):
    gw = start(gateway, redis_server)
    p = new_pair(gw, "c")
    body = json.dumps({"refresh_token": p["refresh_token"]}).encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 100]), body[i:i + 100])
                      for i in range(0, len(body), 100)) + b"0\r\n\r\n"
    with RawConn(gw.port, timeout=10) as c:
        c.send(b"POST /auth/refresh HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n"
               b"Content-Type: application/json\r\n\r\n" + chunks +
               b"GET /auth/health HTTP/1.1\r\nHost: gw.test\r\n\r\n")
        r = c.read_response()
        assert r.status == 200, r.body
        assert json.loads(r.body)["token_type"] == "bearer"
        r = c.read_response()
        assert r.status == 200 and json.loads(r.body) == {"status": "ok"}


def test_expect_100_continue(gateway, redis_server):
    gw = start(gateway, redis_server)
    p = new_pair(gw, "c")
    body = json.dumps({"refresh_token": p["refresh_token"]}).encode()
    with RawConn(gw.port, timeout=10) as c:
        c.send(b"POST /auth/refresh HTTP/1.1\r\nHost: gw.test\r\nExpect: 100-continue\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body))
        r = c.read_response(skip_1xx=False)
        assert r.status == 100
        c.send(body)
        r = c.read_response()
        assert r.status == 200, r.body


def test_concurrent_refresh_exactly_one_wins(gateway, redis_server):
    gw = start(gateway, redis_server, workers=4)
    p = new_pair(gw, "race")
    barrier = threading.Barrier(20)
    results = []
    lock = threading.Lock()

    def one(i):
        s = requests.Session()
        barrier.wait()
        if i % 2:
            r = s.post(gw.url + "/auth/refresh", json={"refresh_token": p["refresh_token"]}, timeout=20)
        else:
            r = s.get(gw.url + "/auth/token/refresh", params={"refresh_token": p["refresh_token"]},
                      timeout=20)
        with lock:
            results.append(r.status_code)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200] + [401] * 19, results


def test_reuse_revokes_the_whole_session(gateway, redis_server, upstream):
    gw = start(gateway, redis_server, upstream)
    p1 = new_pair(gw, "victim")
    p2 = refresh_get(gw, p1["refresh_token"]).json()["data"]
    p3 = refresh_get(gw, p2["refresh_token"]).json()["data"]
    assert api(gw, p3["access_token"]).status_code == 200
    # an attacker replays a rotated refresh token
    r = refresh_get(gw, p1["refresh_token"])
    assert r.status_code == 401 and r.json() == ENV_401
    t0 = time.monotonic()
    # the newest refresh token of the session is dead too
    assert refresh_get(gw, p3["refresh_token"]).status_code == 401
    # and its access token is refused on every worker within 1 s
    deadline = t0 + 1.0
    while True:
        codes = [api(gw, p3["access_token"]).status_code for _ in range(6)]
        if all(c == 401 for c in codes):
            break
        assert time.monotonic() < deadline, "access token still accepted after 1 s: %r" % codes
        time.sleep(0.05)
    # another session is untouched
    other = new_pair(gw, "bystander")
    assert api(gw, other["access_token"]).status_code == 200


# ---------------------------------------------------------------- cookies

def cookie_lines(r):
    return [v for k, v in r.raw.headers.items() if k.lower() == "set-cookie"]


def test_cookies_on_token_new(gateway, redis_server):
    gw = start(gateway, redis_server)
    r = requests.get(gw.url + "/auth/token/new?client_id=c", headers={"MASTER-TOKEN": MASTER},
                     timeout=10)
    lines = cookie_lines(r)
    data = r.json()["data"]
    assert ("access_token=%s; Path=/; Max-Age=900; HttpOnly; Secure; SameSite=Lax"
            % data["access_token"]) in lines
    assert ("refresh_token=%s; Path=/auth; Max-Age=3600; HttpOnly; Secure; SameSite=Lax"
            % data["refresh_token"]) in lines


def test_cookie_attributes_follow_config(gateway, redis_server):
    gw = start(gateway, redis_server, **{"cookie-secure": False, "cookie-samesite": "strict",
                                         "auth-prefix": "/gw"})
    r = requests.get(gw.url + "/gw/token/new", headers={"MASTER-TOKEN": MASTER}, timeout=10)
    lines = cookie_lines(r)
    assert len(lines) == 2
    assert all("Secure" not in v and v.endswith("HttpOnly; SameSite=Strict") for v in lines)
    assert any(v.startswith("refresh_token=") and "; Path=/gw;" in v for v in lines)
    # the endpoints moved with the prefix
    assert requests.get(gw.url + "/gw/ready", timeout=10).status_code == 200
    tok = r.json()["data"]["refresh_token"]
    assert requests.post(gw.url + "/gw/refresh", json={"refresh_token": tok}, timeout=10).status_code == 200


def test_no_cookies_when_off(gateway, redis_server):
    gw = start(gateway, redis_server, **{"set-cookie-on-login": False})
    r = requests.get(gw.url + "/auth/token/new", headers={"MASTER-TOKEN": MASTER}, timeout=10)
    assert r.status_code == 200 and cookie_lines(r) == []
    r = refresh_get(gw, r.json()["data"]["refresh_token"])
    assert r.status_code == 200 and cookie_lines(r) == []


# ---------------------------------------------------------------- routing

def test_methods_and_unknown_paths(gateway, redis_server):
    gw = start(gateway, redis_server)
    for method, path, allow in (("POST", "/auth/token/new", "GET"),
                                ("POST", "/auth/token/refresh", "GET"),
                                ("GET", "/auth/refresh", "POST"),
                                ("DELETE", "/auth/ready", "GET, HEAD"),
                                ("POST", "/auth/health", "GET, HEAD"),
                                ("GET", "/auth/token", "POST"),
                                ("GET", "/auth/login", "POST"),
                                ("POST", "/auth/me", "GET, PATCH"),
                                ("POST", "/auth/sessions/x", "DELETE")):
        r = requests.request(method, gw.url + path, timeout=10)
        assert r.status_code == 405, (method, path)
        assert r.headers["Allow"] == allow
        assert r.headers["Content-Type"] == "application/json"
    for path in ("/auth", "/auth/", "/auth/nope", "/auth/tokens", "/auth/token/new/x",
                 "/auth/sessions/a/b"):
        r = requests.get(gw.url + path, timeout=10)
        assert r.status_code == 404 and r.headers["Content-Type"] == "application/json", path
    assert requests.get(gw.url + "/auth/health", timeout=10).json() == {"status": "ok"}
    r = requests.head(gw.url + "/auth/ready", timeout=10)
    assert r.status_code == 200 and r.content == b""
    assert requests.get(gw.url + "/auth/ready", timeout=10).json() == {"status": "ready"}


def test_client_gone_while_the_store_answers(gateway, redis_server):
    """Requests whose client vanished before the store's answer are freed safely
    (the store callback never touches them: sanitizers and exit status are checked)."""
    gw = start(gateway, redis_server)
    p = new_pair(gw, "c")
    for _ in range(50):
        c = RawConn(gw.port, timeout=5)
        c.send(b"GET /auth/token/new HTTP/1.1\r\nHost: gw.test\r\nMASTER-TOKEN: %s\r\n\r\n"
               % MASTER.encode())
        c.close()
    for _ in range(20):
        c = RawConn(gw.port, timeout=5)
        c.send(b"GET /auth/token/refresh?refresh_token=%s HTTP/1.1\r\nHost: gw.test\r\n\r\n"
               % p["refresh_token"].encode())
        c.close()
    assert requests.get(gw.url + "/auth/health", timeout=10).status_code == 200
    assert new_pair(gw, "after")["client_id"] == "after"


# ---------------------------------------------------------------- Redis down, gateway restart

def test_redis_down_then_back(gateway, redis_server, upstream):
    gw = start(gateway, redis_server, upstream)
    p = new_pair(gw, "c")
    redis_server.stop()
    wait_ready(gw, want=503)
    r = requests.get(gw.url + "/auth/ready", timeout=10)
    assert r.json() == {"status": "not ready"}
    r = requests.get(gw.url + "/auth/token/new", headers={"MASTER-TOKEN": MASTER}, timeout=10)
    assert r.status_code == 503 and r.json() == ENV_503
    r = refresh_get(gw, p["refresh_token"])
    assert r.status_code == 503 and r.json() == ENV_503
    r = requests.post(gw.url + "/auth/refresh", json={"refresh_token": p["refresh_token"]}, timeout=10)
    assert r.status_code == 503 and r.json() == {"detail": "Service Unavailable"}
    # protected traffic keeps flowing on the last known revocations
    for _ in range(10):
        assert api(gw, p["access_token"]).status_code == 200
    redis_server.start()
    wait_ready(gw, want=200, timeout=30)
    assert new_pair(gw, "again")["client_id"] == "again"
    # the outage is logged once per worker, not per request
    err = gw.stderr()
    assert err.count("store not ready:") <= 2 * 2, err[-3000:]


def test_gateway_restart_keeps_sessions(gateway, redis_server):
    gw = start(gateway, redis_server)
    p = new_pair(gw, "durable")
    assert gw.stop() == 0
    gw2 = start(gateway, redis_server)
    r = refresh_get(gw2, p["refresh_token"])
    assert r.status_code == 200, r.text
    assert r.json()["data"]["client_id"] == "durable"


def test_refresh_rate_limit_and_audit_ride_in_the_rotation(gateway, redis_server):
    """The per-IP refresh limit and the "refresh" audit entry are part of the rotation
    script (one round trip): over the limit nothing rotates and the token still works."""
    from test_users import redis_cmd
    gw = start(gateway, redis_server, **{"rate-limits": {"refresh": {"limit": 3, "window": 2}}})
    tok = new_pair(gw, "limited")["refresh_token"]
    for _ in range(3):
        r = refresh_get(gw, tok)
        assert r.status_code == 200, r.text
        tok = r.json()["data"]["refresh_token"]
    r = refresh_get(gw, tok)
    assert r.status_code == 429
    assert r.json() == {"status": "error", "message": "Too many requests", "code": 429}
    assert 1 <= int(r.headers["Retry-After"]) <= 2
    r = requests.post(gw.url + "/auth/refresh", json={"refresh_token": tok}, timeout=10)
    assert r.status_code == 429 and r.json() == {"detail": "Too many requests"}
    time.sleep(2.2)
    r = refresh_get(gw, tok)  # refused ones did not rotate: the same token works now
    assert r.status_code == 200, r.text
    entries = redis_cmd(redis_server.port, "XRANGE", "{authgate}:audit", "-", "+")
    refreshes = [e for e in entries if e[1][:2] == ["event", "refresh"]]
    assert len(refreshes) == 4, entries
    fields = dict(zip(refreshes[0][1][::2], refreshes[0][1][1::2]))
    assert fields["sub"] == "client:limited" and fields["ip"] == "127.0.0.1" and fields["sid"]
    assert "audit {\"event\":\"refresh\"" in gw.stderr()
