"""Moving over from fastauth-api: its tokens during the legacy-tokens window (issue 9
point 21; CONTRACT.md section 5; docs/migrating.md).

fastauth-api's clients hold HS256 tokens with only client_id, type, iat and exp (no iss,
sub or jti), signed with the bytes of the key string. They are minted here exactly as
fastauth-api did (python3-jwt). Inside the window an access token passes with identity
client_id (in the client namespace: it never acts as a user), and a refresh token is
exchanged once, by any instance, for a normal pair with a session.
"""

import time
from datetime import datetime, timedelta, timezone

import jwt
import requests

from conftest import CRYPTO_KEY
from test_tokens import ENV_401, decode, refresh_get, start
from test_users import bearer, post, redis_cmd

OTHER_KEY = "another-cryptography-key-for-tests-0123456789"


def day(offset):
    return (datetime.now(timezone.utc) + timedelta(days=offset)).strftime("%Y-%m-%d")


def fastauth_token(client_id, type_, lifetime, key=CRYPTO_KEY, **extra):
    """What fastauth-api minted: {client_id, type, iat, exp}, HS256 over the key's bytes."""
    now = datetime.now(timezone.utc)
    claims = {"client_id": client_id, "type": type_, "iat": now, "exp": now + lifetime}
    claims.update(extra)
    return jwt.encode(claims, key, algorithm="HS256")


def legacy_pair(client_id):
    return (fastauth_token(client_id, "access", timedelta(days=30)),
            fastauth_token(client_id, "refresh", timedelta(days=365)))


def window(until=None):
    return {"legacy-tokens": {"until": until or day(30)}, "access-token-paths": ["/api"]}


def api(gw, tok, path="/api/x"):
    return requests.get(gw.url + path, headers=bearer(tok), timeout=10)


def test_legacy_access_token_passes_as_its_client(gateway, redis_server, upstream):
    gw = start(gateway, redis_server, upstream, **window())
    access, _ = legacy_pair("mobile-app")
    assert api(gw, access, "/api/legacy").status_code == 200
    rec = [r for r in upstream.requests() if r["target"] == "/api/legacy"][-1]
    ident = {k.lower(): v for k, v in rec["headers"] if k.lower().startswith("x-auth-")}
    assert ident == {"x-auth-subject": "client:mobile-app", "x-auth-client-id": "mobile-app"}
    # never a user: the user endpoints see no user, and logout has nothing to end
    r = requests.get(gw.url + "/auth/me", headers=bearer(access), timeout=10)
    assert r.status_code == 404 and r.json() == {"detail": "User not found"}
    r = post(gw, "/auth/logout-all", headers=bearer(access))
    assert r.status_code == 404 and r.json() == {"detail": "User not found"}
    r = post(gw, "/auth/logout", headers=bearer(access))
    assert r.status_code == 404 and r.json() == {"detail": "Session not found"}
    # a fastauth-api refresh token is not an access token
    _, refresh = legacy_pair("mobile-app")
    assert api(gw, refresh).status_code == 401


def test_legacy_refresh_token_is_exchanged_once(gateway, redis_server, upstream):
    gw = start(gateway, redis_server, upstream, **window())
    _, refresh = legacy_pair("mobile-app")
    r = refresh_get(gw, refresh)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["message"], body["code"]) == ("success", "Token generated", 200)
    data = body["data"]
    assert data["client_id"] == "mobile-app"
    a, f = decode(data["access_token"]), decode(data["refresh_token"])
    for c in (a, f):
        assert c["sub"] == "client:mobile-app" and c["sub_type"] == "client"
        assert c["client_id"] == "mobile-app" and c["iss"] == "authgate" and c["sid"] and c["jti"]
    assert a["exp"] - a["iat"] == 900  # authgate's lifetimes from now on
    assert api(gw, data["access_token"]).status_code == 200
    # the same legacy token again: 401, on both refresh endpoints
    r = refresh_get(gw, refresh)
    assert r.status_code == 401 and r.json() == ENV_401
    r = requests.post(gw.url + "/auth/refresh", json={"refresh_token": refresh}, timeout=10)
    assert r.status_code == 401 and r.json() == {"detail": "Invalid refresh token"}
    # the new pair is a normal one: it rotates
    r = refresh_get(gw, data["refresh_token"])
    assert r.status_code == 200, r.text
    # the record lives until the legacy token's exp, not longer
    keys = redis_cmd(redis_server.port, "KEYS", "{authgate}:legacy:*")
    assert len(keys) == 1
    ttl = redis_cmd(redis_server.port, "TTL", keys[0])
    left = jwt.decode(refresh, CRYPTO_KEY, algorithms=["HS256"])["exp"] - time.time()
    assert left - 5 <= ttl <= left + 1, (ttl, left)


def test_legacy_exchange_by_post_and_once_across_instances(gateway, redis_server, upstream):
    gw1 = start(gateway, redis_server, upstream, **window())
    gw2 = start(gateway, redis_server, upstream, **window())
    _, refresh = legacy_pair("billing")
    r = requests.post(gw1.url + "/auth/refresh", headers=bearer(refresh), timeout=10)
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert decode(r.json()["access_token"])["sub"] == "client:billing"
    r = requests.post(gw2.url + "/auth/refresh", headers=bearer(refresh), timeout=10)
    assert r.status_code == 401 and r.json() == {"detail": "Invalid refresh token"}


def test_legacy_tokens_refused_without_the_window(gateway, redis_server, upstream):
    gw = start(gateway, redis_server, upstream, **{"access-token-paths": ["/api"]})
    access, refresh = legacy_pair("mobile-app")
    r = api(gw, access)
    assert r.status_code == 401 and "issuer" in r.headers["WWW-Authenticate"]
    assert refresh_get(gw, refresh).status_code == 401


def test_legacy_tokens_refused_after_the_day(gateway, redis_server, upstream):
    gw = start(gateway, redis_server, upstream, **window(until=day(-1)))
    access, refresh = legacy_pair("mobile-app")
    assert api(gw, access).status_code == 401
    r = refresh_get(gw, refresh)
    assert r.status_code == 401 and r.json() == ENV_401


def test_only_fastauth_claims_and_the_key_pass(gateway, redis_server, upstream):
    gw = start(gateway, redis_server, upstream, **window())
    month = timedelta(days=30)
    assert api(gw, fastauth_token("c", "access", month)).status_code == 200
    for tok in (fastauth_token("c", "access", month, key=OTHER_KEY),
                fastauth_token("c", "access", month, jti="j-1"),
                fastauth_token("c", "access", month, sub="some-user-id"),
                fastauth_token("c", "access", month, scope="admin"),
                fastauth_token("", "access", month),
                fastauth_token("c", "access", timedelta(seconds=-1))):
        assert api(gw, tok).status_code == 401, jwt.decode(tok, options={"verify_signature": False})
    r = refresh_get(gw, fastauth_token("c", "refresh", month, jti="j-2"))
    assert r.status_code == 401 and r.json() == ENV_401


def test_legacy_window_is_checked_by_check(tmp_path):
    import subprocess
    from conftest import AUTHGATE_BIN
    cfg = tmp_path / "a.json"
    cfg.write_text('{"upstream":"http://127.0.0.1:9","cryptography-key":"%s",'
                   '"legacy-tokens":{"until":"%s"}}' % (CRYPTO_KEY, day(500)))
    p = subprocess.run([str(AUTHGATE_BIN), "check", "--config", str(cfg)], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 2 and "legacy-tokens.until: must be at most 400 days ahead" in p.stderr
