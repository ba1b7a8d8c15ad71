"""Access-token verification through the real binary (CONTRACT.md sections 4 and 5;
RFC 8725 attack catalogue).

Every attack is sent through each of the three sources (Bearer, ACCESS-TOKEN,
cookie) and must get 401 {"detail":"Unauthorized Access Token"} with
error="invalid_token"; afterwards a good token must still pass (the gateway keeps
serving, and at the end exits 0 with no sanitizer report). Good tokens minted by
PyJWT, in their accepted variants, must pass. The verified-token cache on (the
default) and off ("token-cache-size": 0) must give identical verdicts.
"""

import json
import time

import pytest

from conftest import CRYPTO_KEY
from test_policy import (assert_401_access, assert_403_scope, assert_passed, b64u, bearer, claims,
                         craft, mint, request, running_gateway, running_upstream)

OTHER_KEY = "some-other-key-that-is-long-enough-0123456789"
HS256_HDR = {"alg": "HS256", "typ": "JWT"}
CFG = {"access-token-paths": ["/api"], "max-header-size": 81920,
       "rules": [{"prefix": "/api/scoped", "scopes": ["s"]}]}


@pytest.fixture(scope="module")
def tup(tmp_path_factory):
    with running_upstream(tmp_path_factory.mktemp("tok-up")) as u:
        yield u


@pytest.fixture(scope="module")
def tg(tmp_path_factory, tup):
    with running_gateway(tmp_path_factory.mktemp("tok-gw"), CFG, tup.url) as gw:
        yield gw


def sources(tok):
    return {"bearer": bearer(tok), "header": [("ACCESS-TOKEN", tok)],
            "cookie": [("Cookie", "access_token=" + tok)]}


def with_char(chars, **over):
    """A good token whose encoded form contains one of <chars> (varying jti until it does)."""
    for i in range(2000):
        t = mint(jti="j%d" % i, **over)
        if any(c in t for c in chars):
            return t
    raise AssertionError("no token with %r" % (chars,))


def swap_b64(tok):
    """The same bytes in standard base64 ('+', '/') instead of base64url."""
    return tok.replace("-", "+").replace("_", "/")


def pad(seg):
    return seg + "=" * (-len(seg) % 4 or 4)


def none_token(alg, signed):
    h = {"alg": alg, "typ": "JWT"}
    t = craft(h, claims())
    return t if signed else t.rsplit(".", 1)[0] + "."


def attacks():
    now = int(time.time())
    good = mint()
    h, p, s = good.split(".")
    a = {}
    for alg in ("none", "None", "NONE", "nOnE"):
        a["alg_%s_unsigned" % alg] = none_token(alg, False)
        a["alg_%s_signed" % alg] = none_token(alg, True)
        a["alg_%s_nosig_segment" % alg] = none_token(alg, False)[:-1]
    a["alg_none_pyjwt"] = __import__("jwt").encode(claims(), None, algorithm="none")
    a["hs512_same_key"] = mint(alg="HS512")
    a["hs384_same_key"] = mint(alg="HS384")
    a["hs256_lowercase_alg"] = craft({"alg": "hs256", "typ": "JWT"}, claims())
    a["alg_missing"] = craft({"typ": "JWT"}, claims())
    a["alg_array"] = craft({"alg": ["HS256"], "typ": "JWT"}, claims())
    a["alg_rs256_hmac"] = craft({"alg": "RS256", "typ": "JWT"}, claims())
    a["hs256_other_key"] = mint(key=OTHER_KEY)
    a["hs256_key_prefix"] = mint(key=CRYPTO_KEY[:-1])
    a["hs256_empty_key"] = craft(HS256_HDR, claims(), key="")
    a["sig_stripped"] = h + "." + p
    a["sig_empty"] = h + "." + p + "."
    a["sig_truncated"] = h + "." + p + "." + s[:-4]
    a["sig_of_other_payload"] = h + "." + mint(sub="mallory").split(".")[1] + "." + s
    a["sig_flipped"] = h + "." + p + "." + ("A" if s[0] != "A" else "B") + s[1:]
    a["sig_doubled"] = h + "." + p + "." + s + s
    a["extra_segment"] = good + ".x"
    a["extra_empty_segment"] = good + "."
    a["five_segments_jwe"] = good + ".a.b"
    a["one_segment"] = h
    a["only_dots"] = ".."
    a["empty_header"] = "." + p + "." + s
    a["empty_payload"] = craft(HS256_HDR, "")
    a["payload_array"] = craft(HS256_HDR, "[1,2]")
    a["payload_not_json"] = craft(HS256_HDR, "hello")
    a["header_not_json"] = craft("nope", claims())
    a["refresh_token"] = mint(type="refresh", sid="s1", fam="f1")
    a["type_missing"] = mint(type=None)
    a["type_uppercase"] = mint(type="Access")
    a["type_array"] = mint(type=["access"])
    a["exp_missing"] = mint(exp=None)
    a["exp_string"] = mint(exp=str(now + 600))
    a["exp_null"] = craft(HS256_HDR, json.dumps(dict(claims(), exp=None)))
    a["exp_bool"] = mint(exp=True)
    a["expired"] = mint(exp=now - 3600)
    a["expired_beyond_leeway"] = mint(exp=now - 45)
    a["nbf_future"] = mint(nbf=now + 3600)
    a["nbf_beyond_leeway"] = mint(nbf=now + 120)
    a["nbf_string"] = mint(nbf="0")
    a["iat_future"] = mint(iat=now + 3600)
    a["iss_wrong"] = mint(iss="someone-else")
    a["iss_missing"] = mint(iss=None)
    a["iss_case"] = mint(iss="AuthGate")
    a["aud_unconfigured"] = mint(aud="x")
    a["sub_number"] = mint(sub=42)
    a["scope_number"] = mint(scope=7)
    a["roles_with_comma"] = mint(roles=["a,b"])
    a["sub_with_newline"] = mint(sub="a\r\nX-Auth-Roles: admin")
    a["scope_and_scopes"] = mint(scope="a", scopes=["a"])
    a["scope_with_crlf"] = mint(scope="a\r\nX-Auth-Roles: admin")
    a["client_id_with_crlf"] = mint(client_id="c\r\nX-Evil: 1")
    a["roles_with_crlf"] = mint(roles=["ops\r\nX-Evil: 1"])
    a["sub_with_del"] = mint(sub="a\x7fb")
    for name in ("jwk", "jku", "x5u", "x5c", "crit"):
        val = {"jwk": {"kty": "oct", "k": b64u(CRYPTO_KEY)}, "jku": "http://127.0.0.1:1/jwks",
               "x5u": "http://127.0.0.1:1/cert", "x5c": ["MIIB"], "crit": ["exp"]}[name]
        a["header_" + name] = mint(headers={name: val})
        a["header_%s_null" % name] = craft(dict(HS256_HDR, **{name: None}), claims())
    a["header_kid_unknown"] = mint(headers={"kid": "k1"})
    a["header_kid_empty"] = mint(headers={"kid": ""})
    a["header_kid_path"] = mint(headers={"kid": "../../dev/null"})
    a["typ_not_jwt"] = craft({"alg": "HS256", "typ": "JWE"}, claims())
    a["padded_header"] = pad(h) + "." + p + "." + s
    a["padded_payload"] = h + "." + pad(p) + "." + s
    a["padded_signature"] = h + "." + p + "." + pad(s)
    a["padded_all"] = ".".join(pad(x) for x in (h, p, s))
    a["plus_slash_signature"] = swap_b64(with_char("-_"))
    t = with_char("-_")
    hh, pp, ss = t.split(".")
    a["plus_slash_payload_only"] = hh + "." + swap_b64(pp) + "." + ss if ("-" in pp or "_" in pp) \
        else swap_b64(t)
    a["whitespace_inside"] = h + "." + p[:10] + " " + p[10:] + "." + s
    a["tab_inside"] = h + ".\t" + p + "." + s
    a["high_byte"] = good[:-1] + "\xe9"
    a["token_over_8kib"] = mint(pad="x" * 6100)          # about 8.4 KB > token-max-size 8192
    a["token_60kib"] = mint(pad="x" * (45 * 1024))       # about 61 KB, fits max-header-size
    a["dup_key_header_alg_none_last"] = craft('{"alg":"HS256","typ":"JWT","alg":"none"}', claims())
    a["dup_key_header_alg_hs256_last"] = craft('{"alg":"none","typ":"JWT","alg":"HS256"}', claims())
    a["dup_key_header_same"] = craft('{"alg":"HS256","alg":"HS256"}', claims())
    c = claims()
    body = json.dumps(c, separators=(",", ":"))[:-1]
    a["dup_key_payload_type"] = craft(HS256_HDR, body + ',"type":"refresh"}')
    a["dup_key_payload_type_rev"] = craft(HS256_HDR, '{"type":"refresh",' + body[1:] + "}")
    a["dup_key_payload_exp"] = craft(HS256_HDR, body + ',"exp":%d}' % (now - 3600))
    a["dup_key_payload_sub"] = craft(HS256_HDR, body + ',"sub":"admin"}')
    a["dup_key_payload_same"] = craft(HS256_HDR, body + ',"type":"access"}')
    a["payload_nul_escape"] = craft(HS256_HDR, body + ',"x":"a\\u0000b"}')
    a["garbage_word"] = "garbage"
    a["garbage_dots"] = "a.b.c"
    a["garbage_b64"] = "eyJhbGciOiJIUzI1NiJ9.e30.AAAA"
    a["garbage_quotes"] = '"' + good + '"'
    a["garbage_binaryish"] = "\x7f\x01" + good
    a["bearer_in_token"] = "Bearer " + good
    a["token_repeated"] = good + " " + good
    return a


ATTACKS = attacks()
REFUSED_BY_SCAN = {"garbage_binaryish"}  # a control byte in a field value


def test_there_are_many_attacks():
    assert len(ATTACKS) > 90


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_refused_401(tg, tup, name):
    tok = attacks()[name]  # minted now: times relative to the module's import go stale
    marker = "/api/attack-" + name
    for src, h in sources(tok).items():
        if src == "cookie" and name == "garbage_quotes":
            continue  # a DQUOTE'd cookie-value is the token itself (RFC 6265): that one passes
        r = request(tg, marker, h)
        if name in REFUSED_BY_SCAN and r.status == 400:
            continue  # a control byte in a field value: refused before any token is looked at
        assert_401_access(r, presented=True)
    recs = [x for x in tup.requests() if x["target"] == marker]
    assert recs == [], "an attack reached the upstream via %r" % recs
    # still serving
    assert_passed(request(tg, "/api/after", bearer(mint())))


def test_error_descriptions_name_reasons(tg):
    """error_description is a fixed phrase per reason, never the token."""
    seen = {}
    for name in ("alg_none_signed", "hs512_same_key", "hs256_other_key", "expired", "nbf_future",
                 "refresh_token", "sig_empty", "token_over_8kib", "iss_wrong", "exp_string"):
        r = request(tg, "/api/desc", bearer(ATTACKS[name]))
        www = r.header("www-authenticate")
        assert ATTACKS[name][:20] not in www
        seen[name] = www
    assert len(set(seen.values())) >= 6, seen


GOOD = {
    "pyjwt_default": lambda: mint(),
    "header_reordered": lambda: craft({"typ": "JWT", "alg": "HS256"}, claims()),
    "header_alg_only": lambda: craft({"alg": "HS256"}, claims()),
    "header_typ_lower": lambda: craft({"alg": "HS256", "typ": "jwt"}, claims()),
    "header_unknown_param": lambda: craft({"alg": "HS256", "cty": "x", "foo": 1}, claims()),
    "exp_real": lambda: mint(exp=time.time() + 600.5),
    "nbf_within_leeway": lambda: mint(nbf=int(time.time()) + 10),
    "nbf_past": lambda: mint(nbf=int(time.time()) - 100),
    "iat_missing": lambda: mint(iat=None),
    "only_required_claims": lambda: craft(HS256_HDR, {"type": "access", "iss": "authgate",
                                                      "exp": int(time.time()) + 60}),
    "unknown_claims": lambda: mint(foo={"a": [1, 2]}, bar=None),
    "roles_string": lambda: mint(roles="ops"),
    "unicode_sub": lambda: mint(sub="j\u00fcrgen"),
    "token_just_under_8kib": lambda: mint(pad="x" * 5800),
}


@pytest.mark.parametrize("name", sorted(GOOD))
def test_good_token_variants_pass(tg, name):
    tok = GOOD[name]()
    for src, h in sources(tok).items():
        r = request(tg, "/api/good-" + name, h)
        assert_passed(r, "/api/good-" + name)


def test_token_100kib_refused_and_gateway_still_serving(tmp_path, upstream):
    """With the default max-header-size (16 KiB) a 100 KiB token cannot even arrive: the
    head is refused (431, or 400/401), the upstream sees nothing, the gateway goes on."""
    cfg = {"access-token-paths": ["/api"]}
    big = mint(pad="x" * (100 * 1024))
    with running_gateway(tmp_path / "g", cfg, upstream.url) as gw:
        for h in sources(big).values():
            r = request(gw, "/api/big", h)
            assert r.status in (400, 401, 431), r
        assert upstream.requests() == []
        assert_passed(request(gw, "/api/small", bearer(mint())))


def test_token_55kib_reaches_verifier_with_large_max_header_size(tg, tup):
    """max-header-size 81920 (the top of its range) lets a
    55 KiB token arrive; token-max-size (8192) must then refuse it with 401 "token too large"."""
    big = mint(pad="x" * (40 * 1024))  # about 55 KiB once base64url-encoded
    for h in sources(big).values():
        r = request(tg, "/api/big100", h)
        assert_401_access(r, presented=True)
        assert "too large" in r.header("www-authenticate"), r
    assert [x for x in tup.requests() if x["target"] == "/api/big100"] == []
    assert_passed(request(tg, "/api/after", bearer(mint())))


def test_token_max_size_configurable(tmp_path, upstream):
    cfg = {"access-token-paths": ["/api"], "token-max-size": 1024}
    with running_gateway(tmp_path / "g", cfg, upstream.url) as gw:
        small = mint()
        assert len(small) < 1024
        assert_passed(request(gw, "/api", bearer(small)))
        big = mint(pad="x" * 1200)
        assert_401_access(request(gw, "/api", bearer(big)))


def test_leeway_zero(tmp_path, upstream):
    cfg = {"access-token-paths": ["/api"], "token-leeway": 0}
    now = int(time.time())
    with running_gateway(tmp_path / "g", cfg, upstream.url) as gw:
        assert_401_access(request(gw, "/api", bearer(mint(exp=now - 2))))
        assert_401_access(request(gw, "/api", bearer(mint(nbf=now + 5))))
        assert_passed(request(gw, "/api", bearer(mint(exp=now + 60))))


def test_no_default_leeway_on_exp(tg):
    """Issue 9 point 3 (CONTRACT.md section 4): expired from the exp second on, by default.
    token-leeway (30 s by default) is for nbf and iat only."""
    now = int(time.time())
    for exp in (now - 10, now - 1, now):
        for src, h in sources(mint(exp=exp)).items():
            r = request(tg, "/api/expired-%s" % src, h)
            assert_401_access(r, presented=True)
            assert "expired" in r.header("www-authenticate"), r
    assert_passed(request(tg, "/api/nbf-skew", bearer(mint(nbf=now + 10))))
    assert_passed(request(tg, "/api/live", bearer(mint(exp=now + 60))))


def test_token_exp_leeway_is_an_explicit_opt_in(tmp_path, upstream):
    now = int(time.time())
    cfg = {"access-token-paths": ["/api"], "token-exp-leeway": 30}
    with running_gateway(tmp_path / "g", cfg, upstream.url) as gw:
        assert_passed(request(gw, "/api/a", bearer(mint(exp=now - 10))))
        assert_401_access(request(gw, "/api/a", bearer(mint(exp=now - 31))), presented=True)


# ---------------------------------------------------------------- cache on / off

def cache_sequence(now):
    good = mint(scope="s")
    good2 = mint(sub="other", scope="t")
    h, p, s = good.split(".")
    short = mint(exp=now + 2)
    seq = [
        ("/api/a", good), ("/api/a", good), ("/api/scoped", good), ("/api/scoped", good2),
        ("/api/a", good2), ("/api/a", h + "." + p + "." + s[:-1] + ("A" if s[-1] != "A" else "E")),
        ("/api/a", good), ("/api/a", good + "x"), ("/api/a", good[:-1]),
        ("/api/a", mint(type="refresh")), ("/api/a", ATTACKS["alg_none_signed"]),
        ("/api/a", ATTACKS["hs512_same_key"]), ("/api/a", ATTACKS["expired"]),
        ("/api/a", ATTACKS["dup_key_payload_type"]), ("/api/a", good),
        ("/api/a", short), ("/api/a", short), ("/api/scoped", good2), ("/api/scoped", good),
    ]
    return seq, short


def run_sequence(gw, seq):
    out = []
    for path, tok in seq:
        for h in sources(tok).values():
            r = request(gw, path, h)
            ident = None
            if r.status == 200:
                ident = [(k, v) for k, v in r.json()["headers"] if k.lower().startswith("x-auth-")]
            out.append((path, r.status, r.body if r.status != 200 else None, ident))
    return out


def test_cache_on_and_off_give_identical_verdicts(tmp_path, upstream):
    now = int(time.time())
    seq, short = cache_sequence(now)
    base = {"access-token-paths": ["/api"], "token-leeway": 0, "workers": 1,
            "rules": [{"prefix": "/api/scoped", "scopes": ["s"]}]}
    with running_gateway(tmp_path / "on", base, upstream.url, name="on") as on, \
            running_gateway(tmp_path / "off", dict(base, **{"token-cache-size": 0}), upstream.url,
                            name="off") as off:
        r_on = run_sequence(on, seq)
        r_off = run_sequence(off, seq)
        assert r_on == r_off
        statuses = [x[1] for x in r_on]
        assert 200 in statuses and 401 in statuses and 403 in statuses, statuses
        # the short-lived token passes now, is cached by `on`, and must be refused by both once expired
        assert_passed(request(on, "/api/a", bearer(short)))
        time.sleep(max(0.0, now + 2.2 - time.time()))
        assert_401_access(request(on, "/api/a", bearer(short)))
        assert_401_access(request(off, "/api/a", bearer(short)))
        # and the rest of the sequence once more, everything cached by now
        seq2 = [x for x in seq if x[1] != short]
        assert run_sequence(on, seq2) == run_sequence(off, seq2)


def test_cache_does_not_skip_scope_checks(tmp_path, upstream):
    cfg = {"access-token-paths": ["/api"], "workers": 1,
           "rules": [{"prefix": "/api/admin", "roles": ["admin"]}]}
    with running_gateway(tmp_path / "g", cfg, upstream.url) as gw:
        t = mint(roles=["user"])
        for _ in range(3):
            assert_passed(request(gw, "/api/x", bearer(t)))
            assert_403_scope(request(gw, "/api/admin", bearer(t)))


# ---------------------------------------------------------------- odd numbers in time claims

ODD_TIMES = {
    # name: (claims, expected status or None for "either 200 or 401, but consistent")
    "exp_int64_max": ({"exp": 9223372036854775807}, 200),
    "exp_huge_real": ({"exp": 1e300}, None),
    "exp_1p5e19_real": ({"exp": 1.5e19}, None),
    "exp_negative_huge": ({"exp": -1e300}, 401),
    "exp_int64_min": ({"exp": -9223372036854775808}, 401),
    "exp_zero": ({"exp": 0}, 401),
    "nbf_negative_huge": ({"nbf": -1e300}, 200),
    "nbf_int64_min": ({"nbf": -9223372036854775808}, 200),
    "iat_huge_real": ({"iat": 1e300}, 401),
    "iat_int64_max": ({"iat": 9223372036854775807}, 401),
    "iat_string": ({"iat": "0"}, 401),
    "nbf_int64_max": ({"nbf": 9223372036854775807}, 401),
}


@pytest.mark.parametrize("name", sorted(ODD_TIMES))
def test_odd_time_claims(tg, name):
    over, want = ODD_TIMES[name]
    tok = craft(HS256_HDR, dict(claims(), **over))
    got = []
    for _ in range(2):  # the second time may come from the cache: same verdict
        for h in sources(tok).values():
            got.append(request(tg, "/api/odd-" + name, h).status)
    assert len(set(got)) == 1, got
    if want is None:
        assert got[0] in (200, 401), got
    else:
        assert got[0] == want, got
    assert_passed(request(tg, "/api/after", bearer(mint())))


def test_cache_on_and_off_agree_on_far_future_exp(tmp_path, upstream):
    """exp near the int64 limit (default leeway 30): the cache's own expiry check must not
    overflow into "expired" on the second use of the token."""
    base = {"access-token-paths": ["/api"], "workers": 1}
    toks = [craft(HS256_HDR, dict(claims(), exp=e)) for e in
            (9223372036854775807, 9223372036854775807 - 10, 1e300, 4102444800)]
    with running_gateway(tmp_path / "on", base, upstream.url, name="on") as on, \
            running_gateway(tmp_path / "off", dict(base, **{"token-cache-size": 0}), upstream.url,
                            name="off") as off:
        diffs = []
        for t in toks:
            v_on = [request(on, "/api/far", bearer(t)).status for _ in range(3)]
            v_off = [request(off, "/api/far", bearer(t)).status for _ in range(3)]
            if v_on != v_off:
                diffs.append((json.loads(jwt_payload(t))["exp"], "cache on", v_on, "off", v_off))
        assert diffs == []


def jwt_payload(tok):
    import base64
    p = tok.split(".")[1]
    return base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))


def test_cache_on_and_off_agree_on_fractional_exp(tmp_path, upstream):
    """A real exp in the current second (leeway 0): the uncached check compares reals
    (valid until exp), so the cache must not refuse it earlier by rounding exp down."""
    base = {"access-token-paths": ["/api"], "workers": 1, "token-leeway": 0}
    with running_gateway(tmp_path / "on", base, upstream.url, name="on") as on, \
            running_gateway(tmp_path / "off", dict(base, **{"token-cache-size": 0}), upstream.url,
                            name="off") as off:
        while time.time() % 1 > 0.3:     # start early in a second
            time.sleep(0.02)
        sec = int(time.time())
        t = craft(HS256_HDR, dict(claims(iat=None), exp=sec + 0.95))
        v_on = [request(on, "/api/frac", bearer(t)).status for _ in range(2)]
        v_off = [request(off, "/api/frac", bearer(t)).status for _ in range(2)]
        if int(time.time()) != sec:
            pytest.skip("the second ended before both gateways were asked")
        assert v_on == v_off, ("cache on", v_on, "off", v_off)


def test_reload_with_new_key_drops_cached_tokens(tmp_path, upstream):
    """A token verified (and cached) under the old cryptography-key must be refused once a
    SIGHUP installed a new key; a token of the new key passes. Likewise for new rules."""
    import signal
    new_key = "a-completely-new-cryptography-key-0123456789"
    cfg = {"access-token-paths": ["/api"], "workers": 1, "headers": {"X-Gen": "one"}}
    old_tok = mint()
    with running_gateway(tmp_path / "g", cfg, upstream.url) as gw:
        for _ in range(3):
            assert_passed(request(gw, "/api/r", bearer(old_tok)))
        new_cfg = dict(gw.config, **{"cryptography-key": new_key, "headers": {"X-Gen": "two"},
                                     "rules": [{"prefix": "/api/r2", "roles": ["x"]}]})
        gw.write_config(new_cfg)
        gw.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            r = request(gw, "/free")
            if r.status == 200 and ["X-Gen", "two"] in r.json()["headers"]:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("reload not applied within 5 s")
        assert_401_access(request(gw, "/api/r", bearer(old_tok)))
        assert_passed(request(gw, "/api/r", bearer(mint(key=new_key))))
        assert_403_scope(request(gw, "/api/r2", bearer(mint(key=new_key))))
        assert_passed(request(gw, "/api/r2", bearer(mint(key=new_key, roles=["x"]))))
