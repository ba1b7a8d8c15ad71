#!/usr/bin/python3
"""tests/vectors/jwt/make_vectors.py - regenerates the JWT vectors and the fuzz seed corpus.

Run from the repository root with Debian's python3-jwt (PyJWT 2.6):
    /usr/bin/python3 tests/vectors/jwt/make_vectors.py
Each vector file records the exact Python expression that produced its token
("command"), the key it used ("key_id" + "key") and what ag_jwt_verify() must answer.
HS256 is deterministic, so running this again yields byte-identical files.
tests/unit/policy/jwt_test.c reads every *.json here; tests/fuzz/corpus/jwt/ gets seeds.
"""
import base64, hashlib, hmac, json, os, sys

import jwt  # python3-jwt

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "..", "..", "fuzz", "corpus", "jwt")

KEYS = {
    "test-hs256-1": "authgate-test-key-0001-do-not-use-in-production",
    "test-hs256-2": "a-different-key-the-gateway-does-not-hold-000000",
    "test-hs256-long": "L" * 40 + "-longer-than-the-64-byte-sha256-block-so-hashed-first-" + "0" * 6,
    "fuzz": "fuzz-jwt-key-0123456789abcdef0123",  # tests/fuzz/fuzz_jwt.c holds the same bytes
}
K1, K2, KL, KF = (KEYS[k] for k in ("test-hs256-1", "test-hs256-2", "test-hs256-long", "fuzz"))

NOW = 1700000100
BASE = {"sub": "user-42", "client_id": "web", "type": "access", "iat": 1700000000,
        "exp": 1700000900, "jti": "j-0001", "iss": "authgate", "sid": "s-0001"}


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def mint(header_text, payload_text, key):
    """A token from raw header/payload JSON text (for what PyJWT will not write)."""
    si = b64u(header_text.encode()) + "." + b64u(payload_text.encode())
    return si + "." + b64u(hmac.new(key.encode(), si.encode(), hashlib.sha256).digest())


def claims(**kw):
    d = dict(BASE)
    for k, v in kw.items():
        if v is None:
            d.pop(k, None)
        else:
            d[k] = v
    return d


EXPECT = {"type": "access", "issuer": "authgate", "audience": None, "now": NOW, "leeway": 30,
          "max_len": 8192}

# name: (key id, key kid, expression, expect overrides, status, expected claims or None)
VECTORS = {
    "pyjwt_access_ok": ("test-hs256-1", None,
        'jwt.encode(claims(scope="read write", roles=["admin", "ops"]), K1, algorithm="HS256")',
        {}, "AG_JWT_OK", {"sub": "user-42", "client_id": "web", "jti": "j-0001", "sid": "s-0001",
                          "type": "access", "iss": "authgate", "scope": "read write",
                          "roles": "admin,ops", "exp": 1700000900, "iat": 1700000000}),
    "pyjwt_scopes_array_ok": ("test-hs256-1", None,
        'jwt.encode(claims(scopes=["read", "write"], roles="auditor"), K1, algorithm="HS256")',
        {}, "AG_JWT_OK", {"scope": "read write", "roles": "auditor"}),
    "pyjwt_refresh_ok": ("test-hs256-1", None,
        'jwt.encode(claims(type="refresh", fam="f-0001"), K1, algorithm="HS256")',
        {"type": "refresh"}, "AG_JWT_OK", {"type": "refresh", "family": "f-0001"}),
    "pyjwt_long_key_ok": ("test-hs256-long", None,
        'jwt.encode(claims(), KL, algorithm="HS256")', {}, "AG_JWT_OK", {"sub": "user-42"}),
    "pyjwt_kid_ok": ("test-hs256-1", "k1",
        'jwt.encode(claims(), K1, algorithm="HS256", headers={"kid": "k1"})', {}, "AG_JWT_OK",
        {"sub": "user-42"}),
    "pyjwt_real_exp_ok": ("test-hs256-1", None,
        'jwt.encode(claims(exp=1700000900.5, iat=1700000000.25), K1, algorithm="HS256")', {},
        "AG_JWT_OK", {"exp": 1700000901, "iat": 1700000001}),
    "pyjwt_audience_ok": ("test-hs256-1", None,
        'jwt.encode(claims(aud=["other", "api"]), K1, algorithm="HS256")', {"audience": "api"},
        "AG_JWT_OK", {"sub": "user-42"}),
    "pyjwt_unknown_kid": ("test-hs256-1", "k1",
        'jwt.encode(claims(), K1, algorithm="HS256", headers={"kid": "k2"})', {},
        "AG_JWT_BAD_HEADER", None),
    "pyjwt_kid_for_keyless_key": ("test-hs256-1", None,
        'jwt.encode(claims(), K1, algorithm="HS256", headers={"kid": "k1"})', {},
        "AG_JWT_BAD_HEADER", None),
    "pyjwt_hs512_same_key": ("test-hs256-1", None,
        'jwt.encode(claims(), K1, algorithm="HS512")', {}, "AG_JWT_BAD_ALG", None),
    "pyjwt_hs384_same_key": ("test-hs256-1", None,
        'jwt.encode(claims(), K1, algorithm="HS384")', {}, "AG_JWT_BAD_ALG", None),
    "pyjwt_alg_none": ("test-hs256-1", None,
        'jwt.encode(claims(), None, algorithm="none")', {}, "AG_JWT_MALFORMED", None),
    "pyjwt_other_key": ("test-hs256-1", None,
        'jwt.encode(claims(), K2, algorithm="HS256")', {}, "AG_JWT_BAD_SIG", None),
    "pyjwt_expired": ("test-hs256-1", None,
        'jwt.encode(claims(exp=1700000070), K1, algorithm="HS256")', {}, "AG_JWT_EXPIRED", None),
    "pyjwt_nbf_future": ("test-hs256-1", None,
        'jwt.encode(claims(nbf=1700000131), K1, algorithm="HS256")', {}, "AG_JWT_NOT_YET", None),
    "pyjwt_iat_future": ("test-hs256-1", None,
        'jwt.encode(claims(iat=1700000200), K1, algorithm="HS256")', {}, "AG_JWT_NOT_YET", None),
    "pyjwt_refresh_as_access": ("test-hs256-1", None,
        'jwt.encode(claims(type="refresh", fam="f-0001"), K1, algorithm="HS256")', {},
        "AG_JWT_BAD_TYPE", None),
    "pyjwt_string_exp": ("test-hs256-1", None,
        'jwt.encode(claims(exp="1700000900"), K1, algorithm="HS256")', {}, "AG_JWT_BAD_CLAIMS",
        None),
    "pyjwt_missing_exp": ("test-hs256-1", None,
        'jwt.encode(claims(exp=None), K1, algorithm="HS256")', {}, "AG_JWT_BAD_CLAIMS", None),
    "pyjwt_jwk_header": ("test-hs256-1", None,
        'jwt.encode(claims(), K1, algorithm="HS256", headers={"jwk": {"kty": "oct", "k": "AA"}})',
        {}, "AG_JWT_BAD_HEADER", None),
    "pyjwt_jku_header": ("test-hs256-1", None,
        'jwt.encode(claims(), K1, algorithm="HS256", headers={"jku": "https://evil.example/k"})',
        {}, "AG_JWT_BAD_HEADER", None),
    "pyjwt_wrong_issuer": ("test-hs256-1", None,
        'jwt.encode(claims(iss="someone-else"), K1, algorithm="HS256")', {}, "AG_JWT_BAD_ISS",
        None),
    "pyjwt_audience_missing": ("test-hs256-1", None,
        'jwt.encode(claims(), K1, algorithm="HS256")', {"audience": "api"}, "AG_JWT_BAD_AUD",
        None),
    "manual_alg_none_signed": ("test-hs256-1", None,
        'mint(\'{"alg":"none","typ":"JWT"}\', json.dumps(claims()), K1)', {}, "AG_JWT_BAD_ALG",
        None),
    "manual_duplicate_header_key": ("test-hs256-1", None,
        'mint(\'{"alg":"HS256","alg":"HS256"}\', json.dumps(claims()), K1)', {},
        "AG_JWT_BAD_HEADER", None),
    "manual_duplicate_claim": ("test-hs256-1", None,
        'mint(\'{"alg":"HS256","typ":"JWT"}\', json.dumps(claims())[:-1] + \', "sub": "root"}\', K1)',
        {}, "AG_JWT_MALFORMED", None),
    "manual_padded_base64": ("test-hs256-1", None,
        '(lambda t: t.replace(".", "==.", 1))(jwt.encode(claims(), K1, algorithm="HS256"))', {},
        "AG_JWT_MALFORMED", None),
    "manual_std_base64_alphabet": ("test-hs256-1", None,
        '(lambda t: t.replace("-", "+").replace("_", "/"))(mint(\'{"alg":"HS256","typ":"JWT"}\', json.dumps(claims(sub="??>>??>>")), K1))',
        {}, "AG_JWT_MALFORMED", None),
    "manual_typ_not_jwt": ("test-hs256-1", None,
        'mint(\'{"alg":"HS256","typ":"at+jwt"}\', json.dumps(claims()), K1)', {},
        "AG_JWT_BAD_HEADER", None),
}


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=False)
        f.write("\n")


def main():
    ver = jwt.__version__
    for name, (kid_name, kid, expr, over, status, want) in VECTORS.items():
        tok = eval(expr)
        if isinstance(tok, bytes):
            tok = tok.decode()
        exp = dict(EXPECT)
        exp.update(over)
        v = {"name": name,
             "command": "/usr/bin/python3 tests/vectors/jwt/make_vectors.py: " + expr,
             "produced_with": "python3-jwt %s (Debian 12)" % ver if "jwt.encode" in expr
                              else "make_vectors.py mint(): hmac-sha256 over base64url text",
             "key_id": kid_name, "key": KEYS[kid_name], "kid": kid, "token": tok,
             "expect": exp, "status": status}
        if want is not None:
            v["claims"] = want
        write_json(os.path.join(HERE, name + ".json"), v)

    # RFC 7515 appendix A.1: JWK "k" decoded for the key; header and payload contain CRLF.
    a1 = {"name": "rfc7515_a1",
          "command": "copied from RFC 7515 appendix A.1 (token and JWK 'k'); not generated",
          "produced_with": "RFC 7515", "key_id": "rfc7515-a1-jwk",
          "key_b64url": "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow",
          "kid": None,
          "token": "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
                   ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
                   ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
          "note": "payload has no 'type': the unit test checks the signature step, and verify "
                  "with type=null at a time before exp",
          "expect": {"type": None, "issuer": "joe", "audience": None, "now": 1300819000,
                     "leeway": 30, "max_len": 8192},
          "status": "AG_JWT_OK", "claims": {"iss": "joe", "exp": 1300819380}}
    k = base64.urlsafe_b64decode(a1["key_b64url"] + "==")
    si = a1["token"].rsplit(".", 1)[0]
    assert b64u(hmac.new(k, si.encode(), hashlib.sha256).digest()) == a1["token"].rsplit(".", 1)[1]
    write_json(os.path.join(HERE, "rfc7515_a1.json"), a1)

    # Fuzz seeds for tests/fuzz/fuzz_jwt.c (key "fuzz", expect type access, iss authgate).
    os.makedirs(CORPUS, exist_ok=True)
    seeds = {
        "ok_access": jwt.encode(claims(scope="read write", roles=["a", "b"]), KF, algorithm="HS256"),
        "ok_scopes": jwt.encode(claims(scopes=["x", "y"]), KF, algorithm="HS256"),
        "ok_kid": jwt.encode(claims(), KF, algorithm="HS256", headers={"kid": "k1"}),
        "ok_aud": jwt.encode(claims(aud="api"), KF, algorithm="HS256"),
        "ok_real_exp": jwt.encode(claims(exp=1700000900.5, nbf=1700000000), KF, algorithm="HS256"),
        "ok_header_reordered": mint('{"typ":"JWT","alg":"HS256"}', json.dumps(claims()), KF),
        "bad_hs512": jwt.encode(claims(), KF, algorithm="HS512"),
        "bad_none": jwt.encode(claims(), None, algorithm="none"),
        "bad_none_signed": mint('{"alg":"None"}', json.dumps(claims()), KF),
        "bad_other_key": jwt.encode(claims(), K2, algorithm="HS256"),
        "bad_expired": jwt.encode(claims(exp=1600000000), KF, algorithm="HS256"),
        "bad_nbf": jwt.encode(claims(nbf=1800000000), KF, algorithm="HS256"),
        "bad_refresh": jwt.encode(claims(type="refresh"), KF, algorithm="HS256"),
        "bad_string_exp": jwt.encode(claims(exp="soon"), KF, algorithm="HS256"),
        "bad_jwk": jwt.encode(claims(), KF, algorithm="HS256", headers={"jwk": {"k": "AA"}}),
        "bad_crit": mint('{"alg":"HS256","crit":["exp"]}', json.dumps(claims()), KF),
        "bad_dup_header": mint('{"alg":"HS256","alg":"none"}', json.dumps(claims()), KF),
        "bad_dup_claim": mint('{"alg":"HS256"}', '{"exp":1,"exp":2000000000}', KF),
        "bad_roles_comma": jwt.encode(claims(roles=["a,b"]), KF, algorithm="HS256"),
        "bad_scope_crlf": jwt.encode(claims(scope="a\r\nX-Auth: 1"), KF, algorithm="HS256"),
        "bad_sub_number": jwt.encode(claims(sub=42), KF, algorithm="HS256"),
        "bad_padded": jwt.encode(claims(), KF, algorithm="HS256").replace(".", "=.", 1),
        "bad_four_parts": jwt.encode(claims(), KF, algorithm="HS256") + ".AAAA",
        "bad_empty_sig": jwt.encode(claims(), KF, algorithm="HS256").rsplit(".", 1)[0] + ".",
        "bad_noncanonical": "eyJhbGciOiJIUzI1NiJ9.eyJ9.Zh",
        "edge_dots": "..",
        "edge_b64_only": "Zm9vYmFy",
        "payload_access": json.dumps(claims(scope="read", roles=["r1"])),
        "payload_aud_array": json.dumps(claims(aud=["api", 1])),
        "payload_scp": json.dumps(claims(scp=["a", "b c"])),
        "payload_big_numbers": '{"exp":1e300,"iat":-1e300,"nbf":9223372036854775807,"type":"access","iss":"authgate"}',
        "payload_nested": '{"exp":1700000900,"type":"access","iss":"authgate","roles":[["x"]],"sub":{"a":[1,2,{}]}}',
    }
    for name, tok in seeds.items():
        with open(os.path.join(CORPUS, name), "w") as f:
            f.write(tok if isinstance(tok, str) else tok.decode())
    print("%d vectors, %d seeds" % (len(VECTORS) + 1, len(seeds)))


if __name__ == "__main__":
    sys.exit(main())
