"""The bound on floods of distinct invalid asymmetric tokens (docs/keys.md "Floods of
invalid tokens"; rate-limits "invalid-signatures" and "invalid-signatures-per-connection").

Each distinct token of an EdDSA, ES256 or RS256 ring key costs a signature check the
verified-token cache cannot save. Through the real binary, with real ring keys (made as
test_key_ring.py does), one worker so that the per-worker counts are exact:
- a connection that sends distinct badly signed EdDSA tokens gets 401 for each and is
  closed after the 8th (Connection: close);
- an address over its budget gets 429 with Retry-After and no signature check, for a
  valid new token too, while a token cached before the flood keeps passing and another
  address (127.0.0.2) keeps getting 200 with a new valid token;
- authgate_token_flood_total counts both, and the gateway logs the flood once.
No timing is asserted: the window is made long enough (60 s) that it cannot end mid-test.
"""

import json

import jwt

from conftest import RawConn, free_port, hdr
from test_key_ring import RingKey, new_private, pem_private
from test_metrics import scrape, val
from test_policy import assert_401_access, assert_passed, bearer, claims, request


def flood_gateway(tmp_path, gateway, per_address, per_connection=8):
    k = RingKey(tmp_path, "EdDSA", "ed-1")
    gw = gateway({"access-token-paths": ["/api"], "keys": [k.entry(private=False)],
                  "workers": 1, "metrics-listen": "127.0.0.1:%d" % free_port(),
                  "rate-limits": {"invalid-signatures": {"limit": per_address, "window": 60},
                                  "invalid-signatures-per-connection": per_connection}})
    return gw, k


def forged(k):
    """A distinct EdDSA token naming k's kid, signed by another Ed25519 key."""
    return jwt.encode(claims(), pem_private(new_private("EdDSA")), algorithm="EdDSA",
                      headers={"kid": k.kid})


def get(conn, tok, path="/api/flood"):
    conn.send("GET %s HTTP/1.1\r\nHost: gw.test\r\nAuthorization: Bearer %s\r\n\r\n"
              % (path, tok))
    return conn.read_response()


def assert_429(resp, endpoint=False):
    """The answer over the budget; <endpoint>: of the gateway's own endpoints, whose error
    bodies carry only "detail" (gateway/ep/)."""
    body = {"detail": "Too many invalid tokens"}
    if not endpoint:
        body["error"] = "rate_limited"
    assert resp.status == 429, resp
    assert resp.header("content-type", "").split(";")[0].strip() == "application/json", resp
    assert json.loads(resp.body) == body, resp
    assert resp.header("retry-after") == "60", resp  # the window's length: an upper bound


def test_connection_closed_after_its_bound(tmp_path, upstream, gateway):
    gw, k = flood_gateway(tmp_path, gateway, per_address=1000)
    with RawConn(gw.port) as c:
        for i in range(7):
            r = get(c, forged(k))
            assert_401_access(r)
            assert (r.header("connection") or "").lower() != "close", (i, r)
        r = get(c, forged(k))
        assert_401_access(r)
        assert r.header("connection").lower() == "close", r
        assert c.closed()
    # the address is not blocked (its budget is 1000): a new connection works
    assert_passed(request(gw, "/api/flood", bearer(k.mint())), "/api/flood")
    s, _ = scrape(gw)
    assert val(s, "authgate_token_flood_total", action="closed") == 1
    assert val(s, "authgate_token_flood_total", action="refused") == 0
    assert gw.stop() == 0  # the worker's batched log lines are written by then
    assert "closing a connection from 127.0.0.1 after 8 failed" in gw.stderr()


def test_hs256_failures_are_not_bounded(tmp_path, upstream, gateway):
    gw, k = flood_gateway(tmp_path, gateway, per_address=2, per_connection=2)
    with RawConn(gw.port) as c:
        for _ in range(6):
            bad = jwt.encode(claims(), "not-the-cryptography-key-0123456789abcdef",
                             algorithm="HS256")
            r = get(c, bad)
            assert_401_access(r)
            assert (r.header("connection") or "").lower() != "close", r
    s, _ = scrape(gw)
    assert val(s, "authgate_token_flood_total", action="closed") == 0


def test_address_over_budget_gets_429_others_pass(tmp_path, upstream, gateway):
    gw, k = flood_gateway(tmp_path, gateway, per_address=4)
    cached = k.mint(sub="cached-user")
    assert_passed(request(gw, "/api/flood", bearer(cached)), "/api/flood")
    # four failed checks from 127.0.0.1, each on a fresh connection: 401
    for _ in range(4):
        assert_401_access(request(gw, "/api/flood", bearer(forged(k))))
    # then no more checks for that address: 429, a forged token or a valid new one
    assert_429(request(gw, "/api/flood", bearer(forged(k))))
    assert_429(request(gw, "/api/flood", bearer(k.mint(sub="new-user"))))
    # on one kept-alive connection too, and the connection stays open
    with RawConn(gw.port) as c:
        for _ in range(3):
            assert_429(get(c, forged(k)))
        # the token verified before the flood is in the cache: it passes, budget untouched
        r = get(c, cached)
        body = assert_passed(r, "/api/flood")
        assert hdr(body["headers"], "x-auth-subject") == "cached-user", body
    # the gateway's own endpoints answer the same: /auth/me needs a token checked
    assert_429(request(gw, "/auth/me", bearer(forged(k))), endpoint=True)
    # kid-less HS256 tokens of cryptography-key are judged as always
    kidless = jwt.encode(claims(sub="hs-user"), gw.config["cryptography-key"], algorithm="HS256")
    assert_passed(request(gw, "/api/flood", bearer(kidless)), "/api/flood")
    # another address keeps its own budget: a new valid token passes, a forged one is 401
    with RawConn(gw.port, source="127.0.0.2") as c:
        body = assert_passed(get(c, k.mint(sub="other-user")), "/api/flood")
        assert hdr(body["headers"], "x-auth-subject") == "other-user", body
        assert_401_access(get(c, forged(k)))
    s, _ = scrape(gw)
    assert val(s, "authgate_token_flood_total", action="refused") == 6
    assert val(s, "authgate_token_flood_total", action="closed") == 0
    assert val(s, "authgate_http_requests_total", status="429") == 6
    assert gw.stop() == 0
    err = gw.stderr()
    assert err.count("token flood: 127.0.0.1 failed 4 asymmetric signature checks") == 1, err


def test_budget_behind_trusted_proxy_is_per_forwarded_address(tmp_path, upstream, gateway):
    k = RingKey(tmp_path, "EdDSA", "ed-1")
    gw = gateway({"access-token-paths": ["/api"], "keys": [k.entry(private=False)],
                  "workers": 1, "trusted-proxies": ["127.0.0.1"],
                  "rate-limits": {"invalid-signatures": {"limit": 2, "window": 60},
                                  "invalid-signatures-per-connection": 2}})

    def via_proxy(c, client, tok):
        c.send("GET /api/p HTTP/1.1\r\nHost: gw.test\r\nX-Forwarded-For: %s\r\n"
               "Authorization: Bearer %s\r\n\r\n" % (client, tok))
        return c.read_response()

    # one kept-alive connection of the proxy carries every client: never closed for them
    with RawConn(gw.port) as c:
        for _ in range(2):
            assert_401_access(via_proxy(c, "198.51.100.7", forged(k)))
        assert_429(via_proxy(c, "198.51.100.7", forged(k)))
        assert_passed(via_proxy(c, "198.51.100.8", k.mint()), "/api/p")
        assert_401_access(via_proxy(c, "198.51.100.8", forged(k)))
        assert_passed(via_proxy(c, "198.51.100.9", k.mint()), "/api/p")
