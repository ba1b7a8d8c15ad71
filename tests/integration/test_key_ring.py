"""The key ring through the real binary (CONTRACT.md section 12; docs/keys.md).

PyJWT and the gateway agree both ways for each algorithm (HS256, EdDSA, ES256, RS256):
tokens PyJWT makes with a ring key pass a protected path, and tokens the gateway mints
with its signer verify in PyJWT with the public key. The kid selects the key and the key
the algorithm (confusion attacks are 401); bad key files stop `check` and `serve` with
exit 2 naming the key; rotation with SIGHUP logs no one out, and a removed key's tokens
are 401 after the next SIGHUP.
"""

import hashlib
import hmac
import json
import signal
import time

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from conftest import CRYPTO_KEY, free_port, hdr, make_config, run_authgate
from test_policy import (assert_401_access, assert_passed, b64u, bearer, claims, request)
from test_tokens import MASTER, refresh_get, start

RING_SECRET = "ring-hs256-secret-for-tests-0123456789abcdef"
ALGS = ["HS256", "EdDSA", "ES256", "RS256"]


def new_private(alg):
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(65537, 2048)


def pem_private(k):
    return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                           serialization.NoEncryption())


def pem_public(k):
    return k.public_key().public_bytes(serialization.Encoding.PEM,
                                       serialization.PublicFormat.SubjectPublicKeyInfo)


class RingKey:
    """One ring key: its private key (or secret), PEM files, and its config entry."""

    def __init__(self, tmp_path, alg, kid):
        self.alg, self.kid = alg, kid
        if alg == "HS256":
            self.sign_key = self.verify_key = RING_SECRET
            return
        self.private = new_private(alg)
        self.sign_key, self.verify_key = pem_private(self.private), pem_public(self.private)
        self.priv_file, self.pub_file = tmp_path / (kid + ".key"), tmp_path / (kid + ".pub")
        self.priv_file.write_bytes(self.sign_key)
        self.priv_file.chmod(0o600)
        self.pub_file.write_bytes(self.verify_key)

    def entry(self, private=True, **extra):
        e = {"kid": self.kid, "alg": self.alg}
        if self.alg == "HS256":
            e["secret"] = RING_SECRET
        elif private:
            e["private-key-file"] = str(self.priv_file)
        else:
            e["public-key-file"] = str(self.pub_file)
        e.update(extra)
        return e

    def mint(self, **over):
        return jwt.encode(claims(**over), self.sign_key, algorithm=self.alg,
                          headers={"kid": self.kid})


def ring_gateway(gateway, keys, **over):
    cfg = {"access-token-paths": ["/api"], "keys": keys}
    cfg.update(over)
    return gateway(cfg)


def new_access(gw):
    r = requests.get(gw.url + "/auth/token/new", headers={"MASTER-TOKEN": MASTER}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def reload_until_signer(gw, config, kid):
    """Writes <config> with a new access-token-ttl (the mark of this generation), sends
    SIGHUP, and returns once new tokens carry that ttl and <kid> (None: no kid) on four
    fresh requests in a row (both workers switched)."""
    ttl = gw.config.get("access-token-ttl", 900) + 1
    config = dict(config, **{"access-token-ttl": ttl})
    gw.write_config(config)
    gw.config = config
    gw.send_signal(signal.SIGHUP)
    deadline, streak, h = time.monotonic() + 10, 0, None
    while time.monotonic() < deadline and streak < 4:
        tok = new_access(gw)["access_token"]
        h, c = jwt.get_unverified_header(tok), jwt.decode(tok, options={"verify_signature": False})
        streak = streak + 1 if c["exp"] - c["iat"] == ttl else 0
        if streak < 4:
            time.sleep(0.05)
    assert streak == 4, "the reload was not applied:\n%s" % gw.stderr()[-2000:]
    assert h.get("kid") == kid, h


# ---------------------------------------------------------------- PyJWT -> gateway

@pytest.mark.parametrize("alg", ALGS)
def test_pyjwt_tokens_pass_with_each_algorithm(tmp_path, upstream, gateway, alg):
    k = RingKey(tmp_path, alg, "k-" + alg)
    gw = ring_gateway(gateway, [k.entry(private=False) if alg != "HS256" else k.entry()])
    body = assert_passed(request(gw, "/api/ring", bearer(k.mint(sub="ring-user"))), "/api/ring")
    assert hdr(body["headers"], "x-auth-subject") == "ring-user", body["headers"]
    # the same claims under a kid the ring does not have
    bad = jwt.encode(claims(), k.sign_key, algorithm=alg, headers={"kid": "k-unknown"})
    assert_401_access(request(gw, "/api/ring", bearer(bad)))
    # cryptography-key still signs kid-less HS256 tokens beside the ring
    kidless = jwt.encode(claims(), CRYPTO_KEY, algorithm="HS256")
    assert_passed(request(gw, "/api/ring", bearer(kidless)), "/api/ring")


def test_kid_less_token_needs_cryptography_key(tmp_path, upstream, gateway):
    k = RingKey(tmp_path, "EdDSA", "only")
    gw = ring_gateway(gateway, [k.entry()], **{"cryptography-key": None})
    assert_passed(request(gw, "/api/x", bearer(k.mint())), "/api/x")
    kidless = jwt.encode(claims(), CRYPTO_KEY, algorithm="HS256")
    assert_401_access(request(gw, "/api/x", bearer(kidless)))
    no_kid_eddsa = jwt.encode(claims(), k.sign_key, algorithm="EdDSA")
    assert_401_access(request(gw, "/api/x", bearer(no_kid_eddsa)))


def hs256_by_hand(header, secret):
    signing = b64u(json.dumps(header)) + "." + b64u(json.dumps(claims()))
    mac = hmac.new(secret, signing.encode(), hashlib.sha256).digest()
    return signing + "." + b64u(mac)


def test_algorithm_confusion_is_401(tmp_path, upstream, gateway):
    rs, es, ed = (RingKey(tmp_path, a, "k-" + a) for a in ("RS256", "ES256", "EdDSA"))
    gw = ring_gateway(gateway, [rs.entry(private=False), es.entry(private=False),
                                ed.entry(private=False)])
    for k in (rs, es, ed):
        assert_passed(request(gw, "/api/x", bearer(k.mint())), "/api/x")
    # RS256 -> HS256 with the public key (as published) as the HMAC secret
    forged = hs256_by_hand({"alg": "HS256", "kid": rs.kid, "typ": "JWT"}, rs.verify_key)
    assert_401_access(request(gw, "/api/x", bearer(forged)))
    # a valid ES256 signature naming the EdDSA key, and the reverse
    es_as_ed = jwt.encode(claims(), es.sign_key, algorithm="ES256", headers={"kid": ed.kid})
    ed_as_es = jwt.encode(claims(), ed.sign_key, algorithm="EdDSA", headers={"kid": es.kid})
    for t in (es_as_ed, ed_as_es):
        assert_401_access(request(gw, "/api/x", bearer(t)))
    # "none" naming a ring key
    none = b64u(json.dumps({"alg": "none", "kid": ed.kid})) + "." + b64u(json.dumps(claims())) + ".e30"
    assert_401_access(request(gw, "/api/x", bearer(none)))


# ---------------------------------------------------------------- gateway -> PyJWT

@pytest.mark.parametrize("alg", ALGS)
def test_gateway_tokens_verify_in_pyjwt(tmp_path, gateway, redis_server, upstream, alg):
    k = RingKey(tmp_path, alg, "sig-" + alg)
    gw = start(gateway, redis_server, upstream, keys=[k.entry()])
    pair = new_access(gw)
    for name in ("access_token", "refresh_token"):
        h = jwt.get_unverified_header(pair[name])
        assert h == {"alg": alg, "kid": k.kid, "typ": "JWT"}, h
        c = jwt.decode(pair[name], k.verify_key, algorithms=[alg], options={"verify_aud": False})
        assert c["type"] == name.split("_")[0]
    assert_passed(request(gw, "/api/mine", bearer(pair["access_token"])), "/api/mine")
    # a refresh gives a new pair under the same signer
    r = refresh_get(gw, pair["refresh_token"])
    assert r.status_code == 200, r.text
    assert jwt.get_unverified_header(r.json()["data"]["access_token"])["kid"] == k.kid


def test_cryptography_key_alone_signs_kid_less(gateway, redis_server, upstream):
    gw = start(gateway, redis_server, upstream)
    tok = new_access(gw)["access_token"]
    assert tok.split(".")[0] == b64u('{"alg":"HS256","typ":"JWT"}')
    jwt.decode(tok, CRYPTO_KEY, algorithms=["HS256"], options={"verify_aud": False})


def test_sign_true_picks_the_signer(tmp_path, gateway, redis_server, upstream):
    a, b = RingKey(tmp_path, "EdDSA", "a"), RingKey(tmp_path, "ES256", "b")
    gw = start(gateway, redis_server, upstream, keys=[a.entry(), b.entry(sign=True)])
    assert jwt.get_unverified_header(new_access(gw)["access_token"])["kid"] == "b"


# ---------------------------------------------------------------- bad keys

def bad_configs(tmp_path):
    ed = RingKey(tmp_path, "EdDSA", "ed")
    small = tmp_path / "small.key"
    small.write_bytes(pem_private(rsa.generate_private_key(65537, 1024)))
    enc = tmp_path / "enc.key"
    enc.write_bytes(ed.private.private_bytes(serialization.Encoding.PEM,
                                             serialization.PrivateFormat.PKCS8,
                                             serialization.BestAvailableEncryption(b"pw")))
    return {
        "missing-file": ({"kid": "gone", "alg": "EdDSA",
                          "private-key-file": str(tmp_path / "nope.key")}, "gone"),
        "ed25519-as-rs256": ({"kid": "wrong", "alg": "RS256",
                              "private-key-file": str(ed.priv_file)}, "not an RSA key"),
        "rsa-1024": ({"kid": "small", "alg": "RS256", "private-key-file": str(small)},
                     "1024 bits"),
        "encrypted": ({"kid": "enc", "alg": "EdDSA", "private-key-file": str(enc)},
                      "not an unencrypted PEM private key"),
        "private-as-public": ({"kid": "pp", "alg": "EdDSA", "public-key-file": str(ed.priv_file)},
                              "not a PEM public key"),
        "short-secret": ({"kid": "hs", "alg": "HS256", "secret": "short"}, "at least 32"),
        "secret-on-eddsa": ({"kid": "x", "alg": "EdDSA", "secret": RING_SECRET}, "not \"secret\""),
        "unknown-alg": ({"kid": "x", "alg": "HS512", "secret": RING_SECRET}, "expected \"HS256\""),
    }


@pytest.mark.parametrize("case", ["missing-file", "ed25519-as-rs256", "rsa-1024", "encrypted",
                                  "private-as-public", "short-secret", "secret-on-eddsa",
                                  "unknown-alg"])
@pytest.mark.parametrize("command", ["check", "serve"])
def test_bad_ring_key_refused_naming_it(tmp_path, command, case):
    entry, why = bad_configs(tmp_path)[case]
    cfg = make_config({"keys": [entry]}, "http://127.0.0.1:%d" % free_port())
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(cfg))
    r = run_authgate(command, "--config", p, timeout=15)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if "keys[0]" in ln]
    assert lines and why in lines[0], r.stderr
    assert r.stdout == ""


def test_ring_without_a_signer_and_no_cryptography_key_refused(tmp_path):
    k = RingKey(tmp_path, "EdDSA", "pub")
    cfg = make_config({"keys": [k.entry(private=False)], "cryptography-key": None},
                      "http://127.0.0.1:%d" % free_port())
    p = tmp_path / "nosigner.json"
    p.write_text(json.dumps(cfg))
    r = run_authgate("check", "--config", p, timeout=15)
    assert r.returncode == 2 and "keys: no key can sign" in r.stderr, r.stderr


# ---------------------------------------------------------------- rotation

def test_rotation_with_sighup_logs_no_one_out(tmp_path, gateway, redis_server, upstream):
    new, newer = RingKey(tmp_path, "EdDSA", "2026-new"), RingKey(tmp_path, "ES256", "2026-newer")
    gw = start(gateway, redis_server, upstream)
    p0 = new_access(gw)  # kid-less, cryptography-key
    base = dict(gw.config)

    # 1. the new key, verify-only: cryptography-key still signs; PyJWT's tokens of it pass
    reload_until_signer(gw, dict(base, keys=[new.entry(private=False)]), None)
    assert_passed(request(gw, "/api/1", bearer(new.mint())), "/api/1")

    # 2. the new key signs; the old pair still works and refreshes into a pair of the new key
    reload_until_signer(gw, dict(base, keys=[new.entry()]), new.kid)
    assert_passed(request(gw, "/api/2", bearer(p0["access_token"])), "/api/2")
    r = refresh_get(gw, p0["refresh_token"])
    assert r.status_code == 200, r.text
    p1 = r.json()["data"]
    assert jwt.get_unverified_header(p1["access_token"])["kid"] == new.kid
    jwt.decode(p1["access_token"], new.verify_key, algorithms=["EdDSA"],
               options={"verify_aud": False})

    # 3. another rotation: "newer" signs, "new" verifies; cryptography-key removed
    cfg3 = dict(base, keys=[new.entry(private=False), newer.entry(sign=True)])
    cfg3.pop("cryptography-key")
    reload_until_signer(gw, cfg3, newer.kid)
    assert_passed(request(gw, "/api/3", bearer(p1["access_token"])), "/api/3")
    assert_401_access(request(gw, "/api/3", bearer(p0["access_token"])))
    r = refresh_get(gw, p1["refresh_token"])
    assert r.status_code == 200, r.text
    p2 = r.json()["data"]
    assert jwt.get_unverified_header(p2["access_token"])["kid"] == newer.kid

    # 4. "new" removed: its tokens are 401 from this generation on (the cache is per generation)
    reload_until_signer(gw, dict(cfg3, keys=[newer.entry()]), newer.kid)
    for _ in range(4):
        assert_401_access(request(gw, "/api/4", bearer(p1["access_token"])))
    assert_passed(request(gw, "/api/4", bearer(p2["access_token"])), "/api/4")
