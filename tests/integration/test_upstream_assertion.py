"""upstream-assertion through the real binary (CONTRACT.md section 12; docs/keys.md
"Upstream assertions").

Every request forwarded with an identity carries a JWT the real upstream records, signed
by the configured ring key: PyJWT verifies it with the public key file (EdDSA, ES256,
RS256) or the shared secret (HS256), with the exact claims (sub, sid, iss, iat, exp =
iat + ttl, jti, method, path without the query). A client's copy of the header never
reaches the upstream, whatever its case, spelling or count; no identity, no header. The
forward-auth answer carries the assertion of the request it describes. A bad
upstream-assertion stops `check` and `serve` with exit 2 naming the field, and SIGHUP
moves assertions to another key.
"""

import json
import signal
import time

import jwt
import pytest

from conftest import free_port, hdr_all, make_config, run_authgate
from test_forward_auth import verify
from test_key_ring import RING_SECRET, RingKey
from test_policy import ISSUER, assert_passed, bearer, claims, request

HEADER = "x-auth-assertion"


def assertion_gateway(gateway, keys, kid, **over):
    cfg = {"access-token-paths": ["/api"], "keys": [k.entry() for k in keys],
           "upstream-assertion": {"kid": kid, "ttl": over.pop("ttl", 45)}}
    cfg.update(over)
    return gateway(cfg)


def assertions_of(body, name=HEADER):
    return hdr_all(body["headers"], name)


def verify_assertion(tok, key, ttl=45, leeway=0):
    """The header and claims of the assertion <tok>, verified with <key>'s public part."""
    h = jwt.get_unverified_header(tok)
    c = jwt.decode(tok, key.verify_key, algorithms=[key.alg], options={"require": ["exp", "iat"]},
                   leeway=leeway)
    assert h == {"alg": key.alg, "kid": key.kid, "typ": "JWT"}, h
    assert c["exp"] - c["iat"] == ttl, c
    assert abs(c["iat"] - time.time()) < 5, c
    assert isinstance(c["jti"], str) and len(c["jti"]) == 32, c
    return c


# ---------------------------------------------------------------- the assertion itself

@pytest.mark.parametrize("alg", ["EdDSA", "ES256", "RS256", "HS256"])
def test_assertion_verifies_with_exact_claims(tmp_path, upstream, gateway, alg):
    k = RingKey(tmp_path, alg, "as-" + alg)
    gw = assertion_gateway(gateway, [k], k.kid)
    user = k.mint(sub="user-7", sid="sess-7")
    body = assert_passed(request(gw, "/api/items/3?x=1&y=%2F", bearer(user)), "/api/items/3?x=1&y=%2F")
    [tok] = assertions_of(body)
    c = verify_assertion(tok, k)
    assert set(c) == {"sub", "sid", "iss", "iat", "exp", "jti", "method", "path"}, c
    assert (c["sub"], c["sid"], c["iss"], c["method"], c["path"]) == \
        ("user-7", "sess-7", ISSUER, "GET", "/api/items/3"), c
    # another method on the normalised path
    body = assert_passed(request(gw, "/api/./a//b", bearer(user), method="DELETE"))
    c = verify_assertion(assertions_of(body)[0], k)
    assert (c["method"], c["path"]) == ("DELETE", body["target"]), (c, body["target"])


def test_hs256_assertion_verifies_with_the_shared_secret(tmp_path, upstream, gateway):
    # "sign": false: the secret the upstream holds never signs the gateway's tokens
    k = RingKey(tmp_path, "HS256", "shared")
    gw = gateway({"access-token-paths": ["/api"], "keys": [k.entry(sign=False)],
                  "upstream-assertion": {"kid": "shared", "ttl": 10}})
    body = assert_passed(request(gw, "/api/x", bearer(k.mint(sub="u", sid="s"))), "/api/x")
    c = jwt.decode(assertions_of(body)[0], RING_SECRET, algorithms=["HS256"])
    assert c["exp"] - c["iat"] == 10 and c["path"] == "/api/x", c


def test_client_token_has_no_sid(tmp_path, upstream, gateway):
    k = RingKey(tmp_path, "EdDSA", "ed")
    gw = assertion_gateway(gateway, [k], "ed")
    client = k.mint(sub="client:c-1", sub_type="client", client_id="c-1")
    c = verify_assertion(assertions_of(assert_passed(request(gw, "/api/c", bearer(client))))[0], k)
    assert c["sub"] == "client:c-1" and "sid" not in c, c


def test_kid_names_a_key_other_than_the_signer(tmp_path, upstream, gateway):
    signer, ed = RingKey(tmp_path, "ES256", "signer"), RingKey(tmp_path, "EdDSA", "asserts")
    gw = assertion_gateway(gateway, [signer, ed], "asserts")
    body = assert_passed(request(gw, "/api/k", bearer(signer.mint())), "/api/k")
    verify_assertion(assertions_of(body)[0], ed)


# ---------------------------------------------------------------- a client's copy

FORGED = [("X-Auth-Assertion", "forged-1"), ("x-auth-assertion", "forged-2"),
          ("X-AUTH-ASSERTION", "forged-3"), ("x_auth_assertion", "forged-4"),
          ("X-Auth.Assertion", "forged-5")]


def test_client_copies_removed_and_none_without_identity(tmp_path, upstream, gateway):
    k = RingKey(tmp_path, "EdDSA", "ed")
    gw = assertion_gateway(gateway, [k], "ed")
    tok = k.mint()
    # public path, with and without a valid token: no identity, so no assertion at all
    for creds in ([], bearer(tok)):
        body = assert_passed(request(gw, "/public", FORGED + creds), "/public")
        names = [n.lower().replace("_", "-").replace(".", "-") for n, _ in body["headers"]]
        assert HEADER not in names, body["headers"]
        assert "x-auth-subject" not in names, body["headers"]
    # protected path: exactly one, the gateway's
    body = assert_passed(request(gw, "/api/f", FORGED + bearer(tok)), "/api/f")
    names = [n.lower().replace("_", "-").replace(".", "-") for n, _ in body["headers"]]
    assert names.count(HEADER) == 1, body["headers"]
    verify_assertion(assertions_of(body)[0], k)


def test_client_copies_removed_when_no_assertion_is_configured(upstream, gateway):
    """CONTRACT 12: a client's copy is always removed: an upstream that verifies assertions
    never gets one the gateway did not make, even while the gateway makes none."""
    gw = gateway({"access-token-paths": ["/api"]})
    body = assert_passed(request(gw, "/public", FORGED), "/public")
    names = [n.lower().replace("_", "-").replace(".", "-") for n, _ in body["headers"]]
    assert HEADER not in names, body["headers"]


def test_custom_header_name(tmp_path, upstream, gateway):
    k = RingKey(tmp_path, "EdDSA", "ed")
    gw = gateway({"access-token-paths": ["/api"], "keys": [k.entry()],
                  "upstream-assertion": {"kid": "ed", "header": "X-Gateway-Proof"}})
    body = assert_passed(request(gw, "/api/h", [("X-Gateway-Proof", "forged"),
                                                 ("x-gateway-proof", "forged")] + bearer(k.mint())))
    [tok] = assertions_of(body, "x-gateway-proof")
    verify_assertion(tok, k, ttl=30)  # the default ttl
    assert assertions_of(body) == [], body["headers"]


# ---------------------------------------------------------------- the per-worker cache

def test_cached_per_token_method_and_path(tmp_path, upstream, gateway):
    k = RingKey(tmp_path, "EdDSA", "ed")
    gw = assertion_gateway(gateway, [k], "ed", workers=1)
    tok, other = k.mint(sub="a"), k.mint(sub="b")

    def jti(path, t=tok, method="GET"):
        body = assert_passed(request(gw, path, bearer(t), method=method))
        return verify_assertion(assertions_of(body)[0], k)["jti"]

    first = jti("/api/c?q=1")
    assert jti("/api/c?q=2") == first  # the query is not part of it
    assert len({first, jti("/api/d"), jti("/api/c", method="POST"), jti("/api/c", other)}) == 4


def test_ttl_of_one_second_is_never_reused(tmp_path, upstream, gateway):
    k = RingKey(tmp_path, "EdDSA", "ed")
    gw = assertion_gateway(gateway, [k], "ed", workers=1, ttl=1)
    tok = k.mint()
    # iat and exp are whole seconds: one minted late in its second may have passed its exp
    # by the time the upstream's echo is read here, so this check allows that one second
    jtis = {verify_assertion(assertions_of(assert_passed(request(gw, "/api/s", bearer(tok))))[0],
                             k, ttl=1, leeway=1)["jti"] for _ in range(3)}
    assert len(jtis) == 3


# ---------------------------------------------------------------- forward-auth

def test_forward_auth_answers_the_assertion(tmp_path, upstream, gateway):
    k = RingKey(tmp_path, "ES256", "es")
    gw = assertion_gateway(gateway, [k], "es", **{"trusted-proxies": ["127.0.0.1"]})
    r = verify(gw, "PUT", "/api/v/1?z=9", bearer(k.mint(sub="fa", sid="s-fa")) + FORGED[:1])
    assert r.status == 200, r
    [tok] = hdr_all(r.headers, HEADER)
    c = verify_assertion(tok, k)
    assert (c["sub"], c["sid"], c["method"], c["path"]) == ("fa", "s-fa", "PUT", "/api/v/1"), c
    r = verify(gw, "GET", "/public")
    assert r.status == 200 and hdr_all(r.headers, HEADER) == [], r


# ---------------------------------------------------------------- config

def bad_assertion_configs(tmp_path):
    ed = RingKey(tmp_path, "EdDSA", "ed")
    pub = {"kid": "pub", "alg": "EdDSA", "public-key-file": str(ed.pub_file)}
    keys = [ed.entry(), pub]
    return {
        "unknown-kid": (keys, {"kid": "nope"}, "upstream-assertion.kid", "no key"),
        "public-key": (keys, {"kid": "pub"}, "upstream-assertion.kid", "cannot sign"),
        "no-kid": (keys, {"ttl": 30}, "upstream-assertion", "\"kid\" is required"),
        "ttl-zero": (keys, {"kid": "ed", "ttl": 0}, "upstream-assertion.ttl", ""),
        "ttl-big": (keys, {"kid": "ed", "ttl": 3601}, "upstream-assertion.ttl", ""),
        "identity-name": (keys, {"kid": "ed", "header": "x-auth-subject"},
                          "upstream-assertion.header", "identity header"),
        "hop-by-hop": (keys, {"kid": "ed", "header": "Connection"},
                       "upstream-assertion.header", "pick another"),
        "not-a-token": (keys, {"kid": "ed", "header": "X Proof"},
                        "upstream-assertion.header", "HTTP token"),
        "unknown-member": (keys, {"kid": "ed", "alg": "EdDSA"}, "upstream-assertion", "alg"),
        "not-an-object": (keys, "ed", "upstream-assertion", "expected an object"),
    }


CASES = ["unknown-kid", "public-key", "no-kid", "ttl-zero", "ttl-big", "identity-name",
         "hop-by-hop", "not-a-token", "unknown-member", "not-an-object"]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("command", ["check", "serve"])
def test_bad_config_refused_naming_the_field(tmp_path, command, case):
    keys, ua, field, why = bad_assertion_configs(tmp_path)[case]
    cfg = make_config({"keys": keys, "upstream-assertion": ua},
                      "http://127.0.0.1:%d" % free_port())
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(cfg))
    r = run_authgate(command, "--config", p, timeout=15)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if field + ":" in ln]
    assert lines and why in lines[0], r.stderr
    assert r.stdout == ""


def wait_for_kid(gw, tok, kid):
    """Requests until the assertion names <kid> on four fresh requests in a row (both
    workers switched), or 10 s; returns the last assertion."""
    deadline, streak, a = time.monotonic() + 10, 0, None
    while time.monotonic() < deadline and streak < 4:
        a = assertions_of(assert_passed(request(gw, "/api/r", bearer(tok))))[0]
        streak = streak + 1 if jwt.get_unverified_header(a)["kid"] == kid else 0
        if streak < 4:
            time.sleep(0.05)
    assert streak == 4, gw.stderr()[-2000:]
    return a


def test_sighup_changes_the_kid_and_refuses_a_bad_one(tmp_path, upstream, gateway):
    a, b = RingKey(tmp_path, "EdDSA", "a"), RingKey(tmp_path, "RS256", "b")
    gw = assertion_gateway(gateway, [a, b], "a")
    tok = a.mint()
    verify_assertion(assertions_of(assert_passed(request(gw, "/api/r", bearer(tok))))[0], a)
    cfg = dict(gw.config, **{"upstream-assertion": {"kid": "b", "ttl": 45}})
    gw.write_config(cfg)
    gw.config = cfg
    gw.send_signal(signal.SIGHUP)
    verify_assertion(wait_for_kid(gw, tok, "b"), b)
    # a bad one is refused and logged naming the field; b keeps signing
    gw.write_config(dict(cfg, **{"upstream-assertion": {"kid": "gone"}}))
    gw.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "upstream-assertion.kid" not in gw.stderr() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "upstream-assertion.kid" in gw.stderr(), gw.stderr()[-2000:]
    verify_assertion(assertions_of(assert_passed(request(gw, "/api/r", bearer(tok))))[0], b)
