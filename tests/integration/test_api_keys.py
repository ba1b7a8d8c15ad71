"""API keys (CONTRACT.md section 14; docs/api-keys.md) through the real binary on a real
redis-server: create, list and revoke; the key shown once, its format, only its hash in
Redis; scopes a subset of the owner's; expiry; a key on the proxy path (identity headers
upstream, 403 for a missing scope, the key itself never forwarded); revocation reaching a
second instance within 1 s; a deleted or deactivated owner; the admin endpoints; the
budget of unknown-key lookups; last_used_at written at most once a minute.
"""

import hashlib
import re
import time

import requests

from test_admin_users import MH, adm, audit, patch, wait_until
from test_users import bearer, login_ok, make_user, redis_cmd, ustart

NS = "authgate"
KEY_RE = re.compile(r"^agk_([a-z0-9]{16})_([A-Za-z0-9_-]{43})$")
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
ROLE_SCOPES = {"editor": ["read", "write"], "viewer": ["read"]}
CFG = {"role-scopes": ROLE_SCOPES, "master-token-paths": ["/master-only"],
       "rules": [{"prefix": "/api/write", "scopes": ["write"]},
                 {"prefix": "/api/read", "scopes": ["read"]}]}


def start(gateway, redis_server, upstream=None, **over):
    cfg = dict(CFG)
    cfg.update(over)
    return ustart(gateway, redis_server, upstream, **cfg)


def user_with_roles(gw, port, roles):
    u = make_user(gw)
    redis_cmd(port, "HSET", "{%s}:user:%s" % (NS, u["id"]), "roles", roles)
    return u, login_ok(gw, u["username"])["access_token"]


def create(gw, access, body):
    return requests.post(gw.url + "/auth/api-keys", json=body, headers=bearer(access), timeout=10)


def create_ok(gw, access, **body):
    body.setdefault("name", "ci")
    r = create(gw, access, body)
    assert r.status_code == 201, r.text
    return r.json()


def listed(gw, access):
    r = requests.get(gw.url + "/auth/api-keys", headers=bearer(access), timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def revoke(gw, access, kid):
    return requests.delete(gw.url + "/auth/api-keys/" + kid, headers=bearer(access), timeout=10)


def with_key(gw, key, path="/api/read/x", name="X-API-Key"):
    return requests.get(gw.url + path, headers={name: key}, timeout=10)


def record(port, kid):
    r = redis_cmd(port, "HGETALL", "{%s}:apikey:%s" % (NS, kid))
    return dict(zip(r[::2], r[1::2]))


def info_calls(port, script_calls=("evalsha",)):
    """How many commands Redis ran, from INFO commandstats (its calls= counters)."""
    text = redis_cmd(port, "INFO", "commandstats")
    n = 0
    for line in text.splitlines():
        m = re.match(r"cmdstat_(\w+):calls=(\d+)", line)
        if m and m.group(1) in script_calls:
            n += int(m.group(2))
    return n


# ---------------------------------------------------------------- create, list, revoke

def test_create_list_revoke(gateway, redis_server, upstream):
    gw = start(gateway, redis_server, upstream)
    u, access = user_with_roles(gw, redis_server.port, "editor")
    k = create_ok(gw, access, name="deploy bot", scopes=["read"], expires_in=3600)
    assert set(k) == {"id", "name", "key", "scopes", "created_at", "expires_at", "last_used_at"}
    m = KEY_RE.match(k["key"])
    assert m and m.group(1) == k["id"], k
    assert k["name"] == "deploy bot" and k["scopes"] == ["read"] and k["last_used_at"] is None
    assert ISO.match(k["created_at"]) and ISO.match(k["expires_at"])
    # listed without the secret, nor its hash
    ks = listed(gw, access)
    assert [x["id"] for x in ks] == [k["id"]]
    assert "key" not in ks[0] and "hash" not in ks[0] and k["key"] not in str(ks)
    # only the SHA-256 of the secret is stored: no Redis key or value holds the key
    rec = record(redis_server.port, k["id"])
    assert rec["hash"] == hashlib.sha256(m.group(2).encode()).hexdigest()
    for name in redis_cmd(redis_server.port, "KEYS", "*"):
        t = redis_cmd(redis_server.port, "TYPE", name)
        if t == "hash":
            vals = redis_cmd(redis_server.port, "HGETALL", name)
        elif t == "string":
            vals = [redis_cmd(redis_server.port, "GET", name)]
        elif t == "set":
            vals = redis_cmd(redis_server.port, "SMEMBERS", name)
        else:
            continue
        assert not any(m.group(2) in v for v in vals if isinstance(v, str)), name
    assert with_key(gw, k["key"]).status_code == 200
    # another user cannot revoke it (404), its owner can (204), then it is gone
    _, other = user_with_roles(gw, redis_server.port, "editor")
    assert revoke(gw, other, k["id"]).status_code == 404
    assert revoke(gw, access, k["id"]).status_code == 204
    assert listed(gw, access) == []
    assert with_key(gw, k["key"]).status_code == 401
    assert revoke(gw, access, k["id"]).status_code == 404
    ev = audit(redis_server.port, "api_key_revoked")
    assert ev and ev[0]["key_id"] == k["id"] and ev[0]["user_id"] == u["id"]


def test_create_validation(gateway, redis_server):
    gw = start(gateway, redis_server)
    _, access = user_with_roles(gw, redis_server.port, "viewer")
    for body, loc in [({}, "name"), ({"name": ""}, "name"), ({"name": "x" * 65}, "name"),
                      ({"name": 5}, "name"), ({"name": "a", "scopes": "bad\"scope"}, "scopes"),
                      ({"name": "a", "scopes": [1]}, "scopes"),
                      ({"name": "a", "expires_in": 0}, "expires_in"),
                      ({"name": "a", "expires_in": 10 ** 10}, "expires_in"),
                      ({"name": "a", "expires_in": "60"}, "expires_in"),
                      ({"name": "a", "admin": True}, "body")]:
        r = create(gw, access, body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["detail"][0]["loc"][-1] == loc, (body, r.text)
    # scopes beyond the owner's: 403, nothing stored
    r = create(gw, access, {"name": "a", "scopes": ["read", "write"]})
    assert r.status_code == 403, r.text
    assert listed(gw, access) == []
    # no scopes asked: all of the owner's
    assert create_ok(gw, access)["scopes"] == ["read"]
    # an API key is no credential for the gateway's own endpoints
    k = create_ok(gw, access)
    r = requests.get(gw.url + "/auth/api-keys", headers={"X-API-Key": k["key"]}, timeout=10)
    assert r.status_code == 401
    # a cap on keys per user
    gw2 = start(gateway, redis_server, **{"api-keys-per-user": 2})
    _, a2 = user_with_roles(gw2, redis_server.port, "viewer")
    create_ok(gw2, a2)
    create_ok(gw2, a2)
    assert create(gw2, a2, {"name": "third"}).status_code == 409


# ---------------------------------------------------------------- the proxy path

def test_key_on_the_proxy_path(gateway, redis_server, upstream):
    gw = start(gateway, redis_server, upstream, **{"api-key-header": "X-Service-Key"})
    u, access = user_with_roles(gw, redis_server.port, "editor")
    k = create_ok(gw, access, scopes=["read"])
    upstream.reset()
    r = with_key(gw, k["key"], name="X-Service-Key")
    assert r.status_code == 200, r.text
    rec = upstream.requests()[-1]
    h = {n.lower(): v for n, v in rec["headers"]}
    assert h["x-auth-subject"] == u["id"] and h["x-auth-scopes"] == "read"
    assert h["x-auth-roles"] == "editor"
    assert "x-service-key" not in h  # the key never goes upstream
    # the key's scopes, not the owner's: 403 on a path needing "write"
    r = with_key(gw, k["key"], "/api/write/x", name="X-Service-Key")
    assert r.status_code == 403
    assert 'scope="write"' in r.headers["WWW-Authenticate"]
    # malformed, unknown id, wrong secret: 401
    bad_secret = k["key"][:-2] + ("AA" if not k["key"].endswith("AA") else "BA")
    for v in ["nope", k["key"] + "x", "agk_" + "0" * 16 + "_" + "A" * 43, bad_secret]:
        r = with_key(gw, v, name="X-Service-Key")
        assert r.status_code == 401, (v, r.status_code)
    # the default name is just a header now: forwarded untouched, no identity
    upstream.reset()
    r = requests.get(gw.url + "/open", headers={"X-API-Key": "client-value"}, timeout=10)
    assert r.status_code == 200
    # a key and a token at once are ambiguous
    r = requests.get(gw.url + "/api/read/x", headers={"X-Service-Key": k["key"],
                                                     **bearer(access)}, timeout=10)
    assert r.status_code == 401


def test_default_header_never_forwarded(gateway, redis_server, upstream):
    gw = start(gateway, redis_server, upstream, **{"public-paths": ["/pub"]})
    _, access = user_with_roles(gw, redis_server.port, "viewer")
    k = create_ok(gw, access)
    upstream.reset()
    assert with_key(gw, k["key"]).status_code == 200
    r = requests.get(gw.url + "/pub/x", headers={"X-API-Key": "anything"}, timeout=10)
    assert r.status_code == 200
    for rec in upstream.requests():
        assert all(n.lower() != "x-api-key" for n, _ in rec["headers"]), rec


def test_expired_key(gateway, redis_server, upstream):
    gw = start(gateway, redis_server, upstream)
    _, access = user_with_roles(gw, redis_server.port, "viewer")
    k = create_ok(gw, access, expires_in=2)
    assert with_key(gw, k["key"]).status_code == 200
    time.sleep(2.2)
    # refused from the cache's own end of life, and gone from Redis with it
    assert with_key(gw, k["key"]).status_code == 401
    assert record(redis_server.port, k["id"]) == {}


def test_revoke_reaches_a_second_instance_within_1s(gateway, redis_server, upstream):
    gw = start(gateway, redis_server, upstream)
    gw2 = start(gateway, redis_server, upstream)
    _, access = user_with_roles(gw, redis_server.port, "viewer")
    k = create_ok(gw, access)
    # every worker of gw2 caches it
    for _ in range(8):
        assert with_key(gw2, k["key"]).status_code == 200
    assert revoke(gw, access, k["id"]).status_code == 204
    took = wait_until(lambda: with_key(gw2, k["key"]).status_code == 401, within=1.0)
    assert took is not None


def test_owner_deleted_or_deactivated(gateway, redis_server, upstream):
    gw = start(gateway, redis_server, upstream, **{"master-token": "m" * 40})
    mh = {"MASTER-TOKEN": "m" * 40}
    u1, a1 = user_with_roles(gw, redis_server.port, "viewer")
    u2, a2 = user_with_roles(gw, redis_server.port, "viewer")
    k1, k2 = create_ok(gw, a1), create_ok(gw, a2)
    for _ in range(4):
        assert with_key(gw, k1["key"]).status_code == 200
        assert with_key(gw, k2["key"]).status_code == 200
    r = adm(gw, "PATCH", "/users/" + u1["id"], headers=mh, json={"is_active": False})
    assert r.status_code == 200, r.text
    assert wait_until(lambda: with_key(gw, k1["key"]).status_code == 401) is not None
    r = adm(gw, "DELETE", "/users/" + u2["id"], headers=mh)
    assert r.status_code == 204, r.text
    assert wait_until(lambda: with_key(gw, k2["key"]).status_code == 401) is not None
    # the deleted user's keys are gone from Redis
    assert record(redis_server.port, k2["id"]) == {}
    assert redis_cmd(redis_server.port, "EXISTS", "{%s}:ukeys:%s" % (NS, u2["id"])) == 0


# ---------------------------------------------------------------- admin

def test_admin_list_and_revoke(gateway, redis_server, upstream):
    gw = start(gateway, redis_server, upstream, **{"master-token": "m" * 40})
    mh = {"MASTER-TOKEN": "m" * 40}
    u, access = user_with_roles(gw, redis_server.port, "viewer")
    k = create_ok(gw, access, name="one")
    r = adm(gw, "GET", "/users/%s/api-keys" % u["id"], headers=mh)
    assert r.status_code == 200 and [x["id"] for x in r.json()] == [k["id"]]
    assert "key" not in r.json()[0]
    # a plain user may not
    r = adm(gw, "GET", "/users/%s/api-keys" % u["id"], headers=bearer(access))
    assert r.status_code == 403
    r = adm(gw, "DELETE", "/users/%s/api-keys/%s" % (u["id"], "0" * 16), headers=mh)
    assert r.status_code == 404
    r = adm(gw, "DELETE", "/users/%s/api-keys/%s" % (u["id"], k["id"]), headers=mh)
    assert r.status_code == 204
    assert with_key(gw, k["key"]).status_code == 401
    ev = audit(redis_server.port, "admin_api_key_revoke")
    assert ev and ev[0]["key_id"] == k["id"] and ev[0]["user_id"] == u["id"]


# ---------------------------------------------------------------- guessing, last use

def test_unknown_key_guessing_costs_redis_nothing_after_the_budget(gateway, redis_server, upstream):
    gw = start(gateway, redis_server, upstream, workers=1, **{"api-key-lookups": 5})
    _, access = user_with_roles(gw, redis_server.port, "viewer")
    k = create_ok(gw, access)
    assert with_key(gw, k["key"]).status_code == 200
    # 4 more lookups fit in this minute's budget of 5 (the key's own took one): 401 each
    for i in range(4):
        assert with_key(gw, "agk_%016d_%s" % (i, "A" * 43)).status_code == 401
    before = info_calls(redis_server.port)
    for i in range(50):
        r = with_key(gw, "agk_%016d_%s" % (100 + i, "A" * 43))
        assert r.status_code == 429
    # malformed keys never cost a lookup either
    for i in range(20):
        assert with_key(gw, "agk_short").status_code == 401
    assert info_calls(redis_server.port) == before
    # a known, cached key still passes
    assert with_key(gw, k["key"]).status_code == 200


def test_last_used_at_once_a_minute(gateway, redis_server, upstream):
    gw = start(gateway, redis_server, upstream, workers=1)
    _, access = user_with_roles(gw, redis_server.port, "viewer")
    k = create_ok(gw, access)
    assert record(redis_server.port, k["id"])["last_used_at"] == "0"
    assert with_key(gw, k["key"]).status_code == 200
    t0 = time.time()
    first = None
    while time.time() - t0 < 1.0:  # the write is fire-and-forget: it lands after the answer
        first = record(redis_server.port, k["id"])["last_used_at"]
        if first != "0":
            break
        time.sleep(0.01)
    assert first != "0" and abs(int(first) - t0) <= 2
    time.sleep(1.1)
    assert with_key(gw, k["key"]).status_code == 200
    time.sleep(0.2)
    assert record(redis_server.port, k["id"])["last_used_at"] == first
    lst = listed(gw, access)
    assert ISO.match(lst[0]["last_used_at"])


def test_forward_auth_waits_for_a_keys_first_lookup(gateway, redis_server):
    """/verify judges a key on its first use on a worker as a proxied request does: it
    waits for the key's one Redis lookup (it answered 503 before) and answers 200 with the
    identity; a second use is answered from the cache."""
    gw = start(gateway, redis_server, **{"trusted-proxies": ["127.0.0.1"]})
    u, access = user_with_roles(gw, redis_server.port, "viewer")
    k = create_ok(gw, access, scopes=["read"])
    ask = {"X-API-Key": k["key"], "X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/api/read/x"}
    for _ in range(2):
        r = requests.get(gw.url + "/auth/verify", headers=ask, timeout=10)
        assert r.status_code == 200, r.text
        assert r.headers["X-Auth-Subject"] == u["id"] and r.headers["X-Auth-Scopes"] == "read"
    r = requests.get(gw.url + "/auth/verify", timeout=10,
                     headers=dict(ask, **{"X-Forwarded-Uri": "/api/write/x"}))
    assert r.status_code == 403
