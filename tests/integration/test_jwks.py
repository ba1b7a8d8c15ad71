"""The JWKS endpoint and `authgate keygen --alg` through the real binary (CONTRACT.md
section 12; docs/keys.md "JWKS" and "Making keys").

GET <auth-prefix>/jwks.json lists the public JWK of every asymmetric ring key and nothing
secret; PyJWT's PyJWKSet loads it and verifies the gateway's tokens for each algorithm;
the set follows the ring through SIGHUP rotations. `keygen --alg` writes PKCS#8 keys that
python3-cryptography reads as the right type and size, in files made 0600 and never
overwritten, and the gateway signs with them.
"""

import base64
import json
import os
import stat

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from conftest import CRYPTO_KEY, free_port, make_config, run_authgate
from test_key_ring import (RING_SECRET, RingKey, new_access, reload_until_signer,
                           ring_gateway)
from test_policy import assert_401_access, assert_passed, bearer, request
from test_tokens import refresh_get, start

ASYM = ["EdDSA", "ES256", "RS256"]
CACHE = "public, max-age=300"
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def b64u_int(i, size=None):
    """RFC 7518 s.6: big-endian, <size> bytes, or the fewest that hold <i>."""
    n = size or max(1, (i.bit_length() + 7) // 8)
    return base64.urlsafe_b64encode(i.to_bytes(n, "big")).rstrip(b"=").decode()


def expected_jwk(public, kid, alg):
    """The JWK of <public> written from python3-cryptography's numbers, not the gateway's."""
    if alg == "EdDSA":
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519",
                "x": base64.urlsafe_b64encode(raw).rstrip(b"=").decode(),
                "kid": kid, "alg": alg, "use": "sig"}
    nums = public.public_numbers()
    if alg == "ES256":
        return {"kty": "EC", "crv": "P-256", "x": b64u_int(nums.x, 32), "y": b64u_int(nums.y, 32),
                "kid": kid, "alg": alg, "use": "sig"}
    return {"kty": "RSA", "n": b64u_int(nums.n), "e": b64u_int(nums.e),
            "kid": kid, "alg": alg, "use": "sig"}


def get_jwks(gw):
    """GET the set; asserts the one answer the contract allows and returns the response."""
    r = requests.get(gw.url + "/auth/jwks.json", timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/json", r.headers
    assert r.headers["Cache-Control"] == CACHE, r.headers
    assert int(r.headers["Content-Length"]) == len(r.content)
    return r


def assert_public_only(body):
    for k in body["keys"]:
        assert not PRIVATE_MEMBERS & set(k), k
    assert RING_SECRET not in json.dumps(body) and CRYPTO_KEY not in json.dumps(body)


def verify_with_set(tok, body):
    """Verifies <tok> as an upstream would: PyJWKSet from the JWKS <body>, the key its kid
    names, and only that key's own "alg" (never the token's). Returns the claims."""
    kid = jwt.get_unverified_header(tok)["kid"]
    key = jwt.PyJWKSet.from_dict(body)[kid]
    alg = next(k["alg"] for k in body["keys"] if k["kid"] == kid)
    return jwt.decode(tok, key.key, algorithms=[alg], options={"verify_aud": False})


def keygen_file(tmp_path, alg, name=None):
    path = tmp_path / (name or ("kg-%s.pem" % alg))
    r = run_authgate("keygen", "--alg", alg, "--out", path)
    assert r.returncode == 0, (r.returncode, r.stderr)
    assert r.stdout == "" and r.stderr == "", (r.stdout, r.stderr)
    return path


def check_config(tmp_path, keys, name="kg.json"):
    cfg = make_config({"keys": keys}, "http://127.0.0.1:%d" % free_port())
    p = tmp_path / name
    p.write_text(json.dumps(cfg))
    return run_authgate("check", "--config", p, timeout=15)


# ---------------------------------------------------------------- the endpoint

@pytest.mark.parametrize("alg", ASYM)
def test_jwks_verifies_the_gateways_tokens(tmp_path, gateway, redis_server, upstream, alg):
    """A key made by `keygen --alg` signs; PyJWKSet, fed the JWKS, verifies both tokens."""
    path = keygen_file(tmp_path, alg)
    entry = {"kid": "kg-" + alg, "alg": alg, "private-key-file": str(path)}
    r = check_config(tmp_path, [entry])
    assert r.returncode == 0, r.stderr
    gw = start(gateway, redis_server, upstream, keys=[entry])
    pair = new_access(gw)

    body = get_jwks(gw).json()
    public = serialization.load_pem_private_key(path.read_bytes(), None).public_key()
    assert body == {"keys": [expected_jwk(public, entry["kid"], alg)]}
    assert_public_only(body)
    for name in ("access_token", "refresh_token"):
        assert jwt.get_unverified_header(pair[name])["kid"] == entry["kid"]
        assert verify_with_set(pair[name], body)["type"] == name.split("_")[0]
    assert_passed(request(gw, "/api/kg", bearer(pair["access_token"])), "/api/kg")


def test_jwks_lists_every_asymmetric_key_and_no_secret(tmp_path, gateway):
    """Private and public-only keys alike, in ring order; the HS256 ring key and
    cryptography-key never. The store is not needed (the default config's is down)."""
    ed, es, rs = (RingKey(tmp_path, a, "k-" + a) for a in ASYM)
    hs = RingKey(tmp_path, "HS256", "k-HS256")
    gw = ring_gateway(gateway, [ed.entry(), hs.entry(), es.entry(private=False), rs.entry()])
    r = get_jwks(gw)
    body = r.json()
    assert body == {"keys": [expected_jwk(ed.private.public_key(), ed.kid, "EdDSA"),
                             expected_jwk(es.private.public_key(), es.kid, "ES256"),
                             expected_jwk(rs.private.public_key(), rs.kid, "RS256")]}
    assert_public_only(body)
    keyset = jwt.PyJWKSet.from_dict(body)
    assert [k.key_id for k in keyset.keys] == [ed.kid, es.kid, rs.kid]
    # PyJWT's own tokens of each key verify with the key the set gives for its kid
    for k in (ed, es, rs):
        verify_with_set(k.mint(), body)

    # HEAD: the same head, no body
    h = requests.head(gw.url + "/auth/jwks.json", timeout=10)
    assert h.status_code == 200 and h.content == b""
    assert h.headers["Cache-Control"] == CACHE
    assert h.headers["Content-Length"] == str(len(r.content))
    # other methods: 405 naming the two
    p = requests.post(gw.url + "/auth/jwks.json", timeout=10)
    assert p.status_code == 405 and p.headers["Allow"] == "GET, HEAD", (p.status_code, p.headers)


def test_jwks_of_an_hs256_only_ring_is_empty(tmp_path, gateway):
    hs = RingKey(tmp_path, "HS256", "only-hs")
    gw = ring_gateway(gateway, [hs.entry()])
    r = get_jwks(gw)
    assert r.content == b'{"keys":[]}'
    # cryptography-key alone: the same
    gw2 = gateway({})
    assert get_jwks(gw2).content == b'{"keys":[]}'


def test_jwks_follows_rotation_with_sighup(tmp_path, gateway, redis_server, upstream):
    """The rotation of docs/keys.md, step by step with its commands, as the JWKS shows it."""
    old = RingKey(tmp_path, "ES256", "2026-01")
    # 1. authgate keygen --alg EdDSA --out ed-2026-07.pem
    new_file = keygen_file(tmp_path, "EdDSA", "ed-2026-07.pem")
    new = {"kid": "2026-07", "alg": "EdDSA", "private-key-file": str(new_file)}
    jwk_old = expected_jwk(old.private.public_key(), old.kid, "ES256")
    jwk_new = expected_jwk(serialization.load_pem_private_key(new_file.read_bytes(), None)
                           .public_key(), "2026-07", "EdDSA")
    gw = start(gateway, redis_server, upstream, keys=[old.entry()])
    base = dict(gw.config)
    assert get_jwks(gw).json() == {"keys": [jwk_old]}
    p_old = new_access(gw)

    def jwks_each_worker(want):
        for _ in range(4):  # more requests than workers: each answers from its generation
            assert get_jwks(gw).json() == {"keys": want}

    # 2. the new key joins verify-only: published before it signs anything
    reload_until_signer(gw, dict(base, keys=[old.entry(), dict(new, sign=False)]), old.kid)
    jwks_each_worker([jwk_old, jwk_new])
    # 3. the new key signs; the old one still verifies and is still published
    reload_until_signer(gw, dict(base, keys=[old.entry(), dict(new, sign=True)]), "2026-07")
    jwks_each_worker([jwk_old, jwk_new])
    body = get_jwks(gw).json()
    r = refresh_get(gw, p_old["refresh_token"])
    assert r.status_code == 200, r.text
    p_new = r.json()["data"]
    assert jwt.get_unverified_header(p_new["access_token"])["kid"] == "2026-07"
    for tok in (p_old["access_token"], p_new["access_token"]):
        verify_with_set(tok, body)
    # 4. the old key removed: gone from the set, its tokens 401 at the gateway
    reload_until_signer(gw, dict(base, keys=[new]), "2026-07")
    jwks_each_worker([jwk_new])
    assert_401_access(request(gw, "/api/4", bearer(p_old["access_token"])))
    assert_passed(request(gw, "/api/4", bearer(p_new["access_token"])), "/api/4")


# ---------------------------------------------------------------- keygen

@pytest.mark.parametrize("alg,cls,check", [
    ("EdDSA", ed25519.Ed25519PrivateKey, lambda k: True),
    ("ES256", ec.EllipticCurvePrivateKey, lambda k: isinstance(k.curve, ec.SECP256R1)),
    ("RS256", rsa.RSAPrivateKey, lambda k: k.key_size == 2048 and
     k.private_numbers().public_numbers.e == 65537),
])
def test_keygen_writes_a_0600_pkcs8_key(tmp_path, alg, cls, check):
    path = keygen_file(tmp_path, alg)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    pem = path.read_bytes()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n"), pem[:40]
    assert pem.endswith(b"-----END PRIVATE KEY-----\n")
    k = serialization.load_pem_private_key(pem, None)
    assert isinstance(k, cls) and check(k), k
    # two runs, two keys
    assert keygen_file(tmp_path, alg, "second.pem").read_bytes() != pem
    # and `check` takes it as a ring key
    r = check_config(tmp_path, [{"kid": "k", "alg": alg, "private-key-file": str(path)}])
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("alg", ASYM)
def test_keygen_never_overwrites(tmp_path, alg):
    path = tmp_path / "existing.pem"
    path.write_bytes(b"the operator's old key\n")
    path.chmod(0o640)
    before = path.read_bytes()
    r = run_authgate("keygen", "--alg", alg, "--out", path)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert r.stderr == "authgate keygen: %s: File exists (refusing to overwrite)\n" % path
    assert r.stdout == ""
    assert path.read_bytes() == before
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


@pytest.mark.parametrize("alg", ASYM)
def test_keygen_without_out_prints_the_pem(alg):
    r = run_authgate("keygen", "--alg=" + alg)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert r.stdout.startswith("-----BEGIN PRIVATE KEY-----\n")
    serialization.load_pem_private_key(r.stdout.encode(), None)


def test_plain_keygen_still_prints_an_hs256_secret():
    r = run_authgate("keygen")
    assert r.returncode == 0 and r.stderr == ""
    secret = r.stdout.rstrip("\n")
    assert r.stdout == secret + "\n" and len(secret) == 43
    assert len(base64.urlsafe_b64decode(secret + "=")) == 32


@pytest.mark.parametrize("args,why", [
    (["--alg", "HS256"], "--alg must be EdDSA, ES256 or RS256 (not 'HS256')"),
    (["--alg", "eddsa"], "--alg must be EdDSA, ES256 or RS256 (not 'eddsa')"),
    (["--alg", "RS512"], "--alg must be EdDSA, ES256 or RS256 (not 'RS512')"),
    (["--alg"], "unexpected argument '--alg' (see --help)"),
    (["--out", "OUT"], "--alg must be EdDSA, ES256 or RS256"),
    (["--alg", "EdDSA", "--alg", "ES256"], "unexpected argument '--alg' (see --help)"),
    (["--alg", "EdDSA", "--bogus"], "unexpected argument '--bogus' (see --help)"),
])
def test_keygen_bad_arguments_are_usage_errors(tmp_path, args, why):
    out = tmp_path / "out.pem"
    r = run_authgate("keygen", *[str(out) if a == "OUT" else a for a in args])
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr.splitlines()[0] == "authgate keygen: " + why, r.stderr
    assert r.stdout == "" and not out.exists()
