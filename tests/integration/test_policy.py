"""Path policy through the real binary (CONTRACT.md section 4, docs/rules.md).

Master and access lists, both on one path, the 401/403 bodies and WWW-Authenticate,
token sources and their order, accept-header / accept-cookie, path-normalisation
bypass attempts, deny-by-default with public paths, rules with methods, scopes and
roles, routes to several upstreams (longest prefix), WebSocket upgrades, and the
lint of `authgate check`.

Tokens are minted with PyJWT (Debian's python3-jwt). The helpers at the top are
shared with test_policy_tokens.py and test_policy_identity.py.

Most cases share one gateway per module (started by the `pg` fixture below, stopped
with SIGTERM at the end: exit 0, no sanitizer line), so the file runs in a few seconds.
"""

import base64
import contextlib
import hashlib
import hmac
import json
import time
import uuid

import jwt
import pytest
import websocket

from conftest import (CRYPTO_KEY, Gateway, RawConn, Upstream, hdr, hdr_all, make_config,
                      run_authgate, sanitizer_lines)

MASTER = "policy-master-token-0123456789abcdef"
ISSUER = "authgate"
ACCESS_401 = {"detail": "Unauthorized Access Token"}
MASTER_401 = {"detail": "Unauthorized Master Token"}
SCOPE_403 = {"detail": "Insufficient Scope"}
IDENTITY = ("X-Auth-Subject", "X-Auth-Client-Id", "X-Auth-Scopes", "X-Auth-Roles")


# ---------------------------------------------------------------- helpers (shared)

def b64u(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**over):
    """A good access-token payload; a value of None removes the claim."""
    now = int(time.time())
    p = {"type": "access", "iss": ISSUER, "sub": "user-1", "client_id": "client-1",
         "iat": now, "exp": now + 600, "jti": uuid.uuid4().hex}
    for k, v in over.items():
        if v is None:
            p.pop(k, None)
        else:
            p[k] = v
    return p


def mint(key=CRYPTO_KEY, alg="HS256", headers=None, **over):
    """A token minted by PyJWT."""
    return jwt.encode(claims(**over), key, algorithm=alg, headers=headers)


def craft(header, payload, key=CRYPTO_KEY, sig=None):
    """A token built by hand: <header>/<payload> are dicts or raw JSON text (for
    duplicate keys); signed with HMAC-SHA256 unless <sig> (text) is given."""
    h = header if isinstance(header, str) else json.dumps(header, separators=(",", ":"))
    p = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    signing = b64u(h) + "." + b64u(p)
    if sig is None:
        sig = b64u(hmac.new(key.encode(), signing.encode(), hashlib.sha256).digest())
    return signing + "." + sig


def request(gw, path, headers=(), method="GET", body=b"", port=None, raw_target=False):
    """One request on a fresh connection; returns the Response. <headers> is a list of
    (name, value) pairs sent exactly as given (latin-1)."""
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: gw.test"]
    lines += ["%s: %s" % (k, v) for k, v in headers]
    if body:
        lines.append("Content-Length: %d" % len(body))
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    with RawConn(port or gw.port, timeout=10) as c:
        c.send(data)
        return c.read_response(method=method)


def bearer(tok):
    return [("Authorization", "Bearer " + tok)]


def up_headers(resp):
    """The headers the upstream received, from its echo of the request."""
    return resp.json()["headers"]


def assert_401_access(resp, presented=True, realm=ISSUER):
    assert resp.status == 401, resp
    assert resp.header("content-type", "").split(";")[0].strip().lower() == "application/json", resp
    assert json.loads(resp.body) == ACCESS_401, resp
    www = hdr_all(resp.headers, "www-authenticate")
    assert len(www) == 1, resp
    if presented:
        assert www[0].startswith('Bearer realm="%s", error="invalid_token"' % realm), www
        assert 'error_description="' in www[0], www
    else:
        assert www[0] == 'Bearer realm="%s"' % realm, www


def assert_401_master(resp):
    assert resp.status == 401, resp
    assert resp.header("content-type", "").split(";")[0].strip().lower() == "application/json", resp
    assert json.loads(resp.body) == MASTER_401, resp


def assert_403_scope(resp):
    assert resp.status == 403, resp
    assert resp.header("content-type", "").split(";")[0].strip().lower() == "application/json", resp
    assert json.loads(resp.body) == SCOPE_403, resp
    www = resp.header("www-authenticate", "")
    assert www.startswith("Bearer ") and 'error="insufficient_scope"' in www, resp


def assert_passed(resp, target=None):
    assert resp.status == 200, resp
    body = resp.json()
    assert "headers" in body, resp  # the upstream's echo, not a gateway answer
    if target is not None:
        assert body["target"] == target, body["target"]
    return body


@contextlib.contextmanager
def running_gateway(tmpdir, config, upstream_url, name="gw"):
    """A gateway outside the function-scoped fixture (module-shared); on exit:
    SIGTERM, exit 0, no sanitizer report."""
    tmpdir.mkdir(parents=True, exist_ok=True)
    gw = Gateway(tmpdir, make_config(config, upstream_url), name=name)
    try:
        yield gw
    finally:
        rc = gw.stop()
        err = gw.stderr()
        assert rc == 0, "gateway exit status %r\n%s" % (rc, err[-4000:])
        assert not sanitizer_lines(err), err[-8000:]


@contextlib.contextmanager
def running_upstream(tmpdir):
    tmpdir.mkdir(parents=True, exist_ok=True)
    u = Upstream(tmpdir)
    try:
        yield u
    finally:
        u.stop()


def nothing_reached(up, marker):
    recs = [r for r in up.requests() if marker.lower() in r["target"].lower()]
    assert recs == [], "a refused request reached the upstream: %r" % recs


# ---------------------------------------------------------------- the shared gateway

POLICY = {
    "master-token": MASTER,
    "master-token-paths": ["/admin", "/both"],
    "access-token-paths": ["/api", "/both", "/ws"],
    "rules": [
        {"prefix": "/scoped/", "scopes": ["read"]},
        {"prefix": "/scoped/write", "methods": ["POST"], "scopes": ["write"]},
        {"prefix": "/roled/", "roles": ["ops"]},
        {"prefix": "/mixed/", "auth": "master", "scopes": ["read"]},
        {"prefix": "/onlypost", "methods": ["POST"]},
        {"prefix": "/reports", "methods": ["GET"]},
    ],
}


@pytest.fixture(scope="module")
def pup(tmp_path_factory):
    with running_upstream(tmp_path_factory.mktemp("policy-up")) as u:
        yield u


@pytest.fixture(scope="module")
def pg(tmp_path_factory, pup):
    with running_gateway(tmp_path_factory.mktemp("policy-gw"), POLICY, pup.url) as gw:
        yield gw


@pytest.fixture(scope="module")
def tok():
    return mint(scope="read write", roles=["ops", "dev"])


# ---------------------------------------------------------------- master / access lists

def test_unlisted_path_passes_without_credentials(pg):
    assert_passed(request(pg, "/echo/free"), "/echo/free")


def test_access_path_without_token_401(pg, pup):
    r = request(pg, "/api/nothing-here-1")
    assert_401_access(r, presented=False)
    nothing_reached(pup, "nothing-here-1")


def test_access_path_with_pyjwt_token(pg, tok):
    assert_passed(request(pg, "/api/x", bearer(tok)), "/api/x")


def test_access_path_plain_prefix_covers_apiary(pg, pup, tok):
    assert_401_access(request(pg, "/apiary-2"), presented=False)
    nothing_reached(pup, "apiary-2")
    assert_passed(request(pg, "/apiary-2", bearer(tok)), "/apiary-2")


def test_master_path(pg, pup):
    assert_401_master(request(pg, "/admin/m1"))
    assert_401_master(request(pg, "/admin/m1", [("MASTER-TOKEN", "wrong")]))
    assert_401_master(request(pg, "/admin/m1", [("MASTER-TOKEN", MASTER[:-1])]))
    assert_401_master(request(pg, "/admin/m1", [("MASTER-TOKEN", MASTER + "x")]))
    assert_401_master(request(pg, "/admin/m1", [("MASTER-TOKEN", MASTER.upper())]))
    assert_401_master(request(pg, "/admin/m1", [("MASTER-TOKEN", "")]))
    nothing_reached(pup, "/admin/m1")
    assert_passed(request(pg, "/admin/m2", [("MASTER-TOKEN", MASTER)]), "/admin/m2")
    # field names ignore case (RFC 9110)
    assert_passed(request(pg, "/admin/m3", [("master-token", MASTER)]), "/admin/m3")


def test_master_path_two_master_headers_refused(pg):
    r = request(pg, "/admin/m4", [("MASTER-TOKEN", MASTER), ("MASTER-TOKEN", "wrong")])
    assert_401_master(r)


def test_master_token_does_not_open_access_path(pg):
    assert_401_access(request(pg, "/api/m5", [("MASTER-TOKEN", MASTER)]), presented=False)


def test_access_token_does_not_open_master_path(pg, tok):
    assert_401_master(request(pg, "/admin/m6", bearer(tok)))


def test_master_and_access_on_one_path(pg, pup, tok):
    assert_401_master(request(pg, "/both/b1"))                      # neither
    r = request(pg, "/both/b1", [("MASTER-TOKEN", MASTER)])          # master only
    assert_401_access(r, presented=False)
    assert_401_master(request(pg, "/both/b1", bearer(tok)))          # access only
    assert_401_master(request(pg, "/both/b1", bearer(tok) + [("MASTER-TOKEN", "x")]))
    r = request(pg, "/both/b1", bearer("x.y.z") + [("MASTER-TOKEN", MASTER)])
    assert_401_access(r)
    nothing_reached(pup, "/both/b1")
    assert_passed(request(pg, "/both/b2", bearer(tok) + [("MASTER-TOKEN", MASTER)]), "/both/b2")


def test_master_paths_refuse_when_no_master_token_configured(tmp_path, upstream):
    with running_gateway(tmp_path / "g", {"master-token-paths": ["/admin"]}, upstream.url) as gw:
        assert_401_master(request(gw, "/admin"))
        assert_401_master(request(gw, "/admin", [("MASTER-TOKEN", "")]))
        assert_401_master(request(gw, "/admin", [("MASTER-TOKEN", "anything")]))
        assert upstream.requests() == []


# ---------------------------------------------------------------- 401 / 403 shape

def test_401_without_token_has_bare_realm(pg):
    r = request(pg, "/api/shape")
    assert_401_access(r, presented=False)
    assert r.body == b'{"detail":"Unauthorized Access Token"}', r.body


def test_401_with_bad_token_has_invalid_token_error(pg):
    r = request(pg, "/api/shape", bearer("not-a-jwt"))
    assert_401_access(r, presented=True)
    assert r.body == b'{"detail":"Unauthorized Access Token"}', r.body


def test_401_master_body_exact(pg):
    r = request(pg, "/admin/shape")
    assert r.body == b'{"detail":"Unauthorized Master Token"}', r.body


def test_realm_is_app_name(tmp_path, upstream):
    cfg = {"app-name": "shop-prod", "access-token-paths": ["/api"]}
    with running_gateway(tmp_path / "g", cfg, upstream.url) as gw:
        assert_401_access(request(gw, "/api"), presented=False, realm="shop-prod")
        assert_401_access(request(gw, "/api", bearer("x")), realm="shop-prod")
        # iss defaults to app-name: a token issued for "authgate" is someone else's
        assert_401_access(request(gw, "/api", bearer(mint())), realm="shop-prod")
        assert_passed(request(gw, "/api", bearer(mint(iss="shop-prod"))))


def test_token_issuer_and_audience_config(tmp_path, upstream):
    cfg = {"access-token-paths": ["/api"], "token-issuer": "https://iss.test", "token-audience": "shop"}
    with running_gateway(tmp_path / "g", cfg, upstream.url) as gw:
        good = dict(iss="https://iss.test", aud="shop")
        assert_passed(request(gw, "/api", bearer(mint(**good))))
        assert_passed(request(gw, "/api", bearer(mint(iss="https://iss.test", aud=["x", "shop"]))))
        assert_401_access(request(gw, "/api", bearer(mint(aud="shop"))))             # iss authgate
        assert_401_access(request(gw, "/api", bearer(mint(iss="https://iss.test"))))  # no aud
        assert_401_access(request(gw, "/api", bearer(mint(iss="https://iss.test", aud="other"))))
        assert_401_access(request(gw, "/api", bearer(mint(iss=None, aud="shop"))))


def test_scope_rule_403(pg, pup):
    assert_401_access(request(pg, "/scoped/s1"), presented=False)
    assert_403_scope(request(pg, "/scoped/s1", bearer(mint())))
    assert_403_scope(request(pg, "/scoped/s1", bearer(mint(scope="write"))))
    assert_403_scope(request(pg, "/scoped/s1", bearer(mint(scope="reader"))))
    assert_403_scope(request(pg, "/scoped/s1", bearer(mint(scope="rea"))))
    assert_403_scope(request(pg, "/scoped/s1", bearer(mint(scope="READ"))))
    nothing_reached(pup, "/scoped/s1")
    assert_passed(request(pg, "/scoped/s2", bearer(mint(scope="write read"))), "/scoped/s2")
    assert_passed(request(pg, "/scoped/s3", bearer(mint(scopes=["read"]))), "/scoped/s3")
    assert_passed(request(pg, "/scoped/s4", bearer(mint(scp=["x", "read"]))), "/scoped/s4")


def test_scope_rule_with_method_adds_up(pg, pup):
    # GET /scoped/write needs "read"; POST needs "read" and "write"
    assert_passed(request(pg, "/scoped/write/1", bearer(mint(scope="read"))))
    assert_403_scope(request(pg, "/scoped/write/2", bearer(mint(scope="read")), method="POST"))
    assert_403_scope(request(pg, "/scoped/write/2", bearer(mint(scope="write")), method="POST"))
    nothing_reached(pup, "/scoped/write/2")
    assert_passed(request(pg, "/scoped/write/3", bearer(mint(scope="read write")), method="POST"))


def test_roles_rule_403(pg, pup):
    assert_403_scope(request(pg, "/roled/r1", bearer(mint())))
    assert_403_scope(request(pg, "/roled/r1", bearer(mint(roles=["dev"]))))
    assert_403_scope(request(pg, "/roled/r1", bearer(mint(roles=["OPS"]))))
    assert_403_scope(request(pg, "/roled/r1", bearer(mint(scope="ops"))))  # a scope is no role
    nothing_reached(pup, "/roled/r1")
    assert_passed(request(pg, "/roled/r2", bearer(mint(roles=["dev", "ops"]))), "/roled/r2")


def test_master_rule_with_scopes_needs_both(pg):
    assert_401_master(request(pg, "/mixed/1", bearer(mint(scope="read"))))
    r = request(pg, "/mixed/1", [("MASTER-TOKEN", MASTER)])
    assert_401_access(r, presented=False)
    assert_403_scope(request(pg, "/mixed/1", [("MASTER-TOKEN", MASTER)] + bearer(mint())))
    assert_passed(request(pg, "/mixed/2", [("MASTER-TOKEN", MASTER)] + bearer(mint(scope="read"))))


def test_method_limited_rule(pg):
    assert_passed(request(pg, "/onlypost/a"))
    assert_401_access(request(pg, "/onlypost/a", method="POST", body=b"x"), presented=False)
    assert_passed(request(pg, "/onlypost/a", bearer(mint()), method="POST", body=b"x"))
    # methods are case-sensitive tokens: "post" is another method, which the rule does not name
    r = request(pg, "/onlypost/a", method="post", body=b"x")
    assert r.status != 200 or r.json()["method"] == "post"


def test_get_rule_covers_head(pg, pup):
    """A server answers HEAD as it would GET (RFC 9110 section 9.3.2) and most
    frameworks run the GET handler for it: a rule naming GET covers HEAD."""
    pup.reset()
    assert_401_access(request(pg, "/reports/q1"), presented=False)
    r = request(pg, "/reports/q1", method="HEAD")
    assert r.status == 401, r
    assert r.body == b"", r
    assert r.header("www-authenticate") == 'Bearer realm="%s"' % ISSUER, r
    nothing_reached(pup, "/reports/")
    r = request(pg, "/reports/q1", bearer(mint()), method="HEAD")
    assert r.status == 200, r
    assert [x["method"] for x in pup.requests()] == ["HEAD"]
    assert_passed(request(pg, "/reports/q1", method="POST", body=b"x"))  # not named: open


# ---------------------------------------------------------------- token sources

def test_each_source_accepted(pg, tok):
    assert_passed(request(pg, "/api/src", bearer(tok)))
    assert_passed(request(pg, "/api/src", [("ACCESS-TOKEN", tok)]))
    assert_passed(request(pg, "/api/src", [("Cookie", "access_token=" + tok)]))
    assert_passed(request(pg, "/api/src", [("Cookie", "a=1; access_token=%s; b=2" % tok)]))


def test_invalid_bearer_does_not_fall_through(pg, tok):
    bad = mint(key="another-key-another-key-another-key-0")
    assert_401_access(request(pg, "/api/ft", bearer(bad) + [("Cookie", "access_token=" + tok)]))
    assert_401_access(request(pg, "/api/ft", bearer(bad) + [("ACCESS-TOKEN", tok)]))
    assert_401_access(request(pg, "/api/ft", [("ACCESS-TOKEN", bad), ("Cookie", "access_token=" + tok)]))
    # and in the other order of the fields on the wire: the order of sources counts, not of fields
    assert_401_access(request(pg, "/api/ft", [("Cookie", "access_token=" + tok)] + bearer(bad)))


def test_empty_bearer_is_judged_not_skipped(pg, tok):
    """`Authorization: Bearer` with no token is a Bearer source that is present (and
    invalid): it must not fall through to the next source."""
    assert_401_access(request(pg, "/api/ft", bearer("") + [("ACCESS-TOKEN", tok)]))
    assert_401_access(request(pg, "/api/ft", bearer("") + [("Cookie", "access_token=" + tok)]))


def test_first_source_judged_when_valid(pg, tok):
    assert_passed(request(pg, "/api/ft", bearer(tok) + [("Cookie", "access_token=garbage")]))
    assert_passed(request(pg, "/api/ft", bearer(tok) + [("ACCESS-TOKEN", "garbage")]))
    assert_passed(request(pg, "/api/ft", [("ACCESS-TOKEN", tok), ("Cookie", "access_token=x")]))


def test_bearer_scheme_case_and_spaces(pg, pup, tok):
    """The auth-scheme is case-insensitive and followed by 1*SP (RFC 9110 s.11.1,
    s.11.4): any case and a run of spaces give the same judged Bearer token."""
    for value in ("bearer " + tok, "BEARER " + tok, "Bearer   " + tok):
        body = assert_passed(request(pg, "/api/bsp", [("Authorization", value)]))
        assert hdr(body["headers"], "Authorization") is None, body["headers"]
    assert_401_access(request(pg, "/api/bsp", [("Authorization", "bEaReR   x.y.z")]))


@pytest.mark.parametrize("sep", ["\t", " \t", "\t "])
def test_bearer_with_tab_is_judged_and_refused(pg, pup, tok, sep):
    """A TAB after the scheme makes a malformed Bearer credential: 401, never a
    'not Bearer' header that goes upstream unjudged, and no fall-through."""
    pup.reset()
    assert_401_access(request(pg, "/api/tab", [("Authorization", "Bearer" + sep + tok)]))
    assert_401_access(request(pg, "/api/tab", [("Authorization", "Bearer" + sep + tok),
                                               ("ACCESS-TOKEN", tok)]))
    assert pup.requests() == []


def test_non_bearer_authorization_is_not_a_token(pg, tok):
    r = request(pg, "/api/basic", [("Authorization", "Basic dXNlcjpwYXNz"), ("Cookie", "access_token=" + tok)])
    assert_passed(r)


def test_two_of_one_source_refused(pg, tok):
    assert_401_access(request(pg, "/api/dup", bearer(tok) + bearer(tok)))
    assert_401_access(request(pg, "/api/dup", [("ACCESS-TOKEN", tok), ("ACCESS-TOKEN", tok)]))
    assert_401_access(request(pg, "/api/dup", [("Cookie", "access_token=%s; access_token=%s" % (tok, tok))]))
    assert_401_access(request(pg, "/api/dup", [("Cookie", "access_token=" + tok),
                                               ("Cookie", "access_token=" + tok)]))
    # still serving
    assert_passed(request(pg, "/api/dup", bearer(tok)))


def test_refresh_cookie_is_not_an_access_token(pg, tok):
    assert_401_access(request(pg, "/api/rc", [("Cookie", "refresh_token=" + tok)]), presented=False)


def test_accept_header_false(tmp_path, upstream):
    cfg = {"access-token-paths": ["/api"], "accept-header": False}
    tok = mint()
    with running_gateway(tmp_path / "g", cfg, upstream.url) as gw:
        assert_401_access(request(gw, "/api/h", bearer(tok)), presented=False)
        assert_401_access(request(gw, "/api/h", [("ACCESS-TOKEN", tok)]), presented=False)
        assert_passed(request(gw, "/api/h", [("Cookie", "access_token=" + tok)]))
        # an ignored header does not block the cookie either
        assert_passed(request(gw, "/api/h", bearer("junk") + [("Cookie", "access_token=" + tok)]))
        assert len([r for r in upstream.requests() if r["target"] == "/api/h"]) == 2


def test_accept_cookie_false(tmp_path, upstream):
    cfg = {"access-token-paths": ["/api"], "accept-cookie": False}
    tok = mint()
    with running_gateway(tmp_path / "g", cfg, upstream.url) as gw:
        assert_401_access(request(gw, "/api/c", [("Cookie", "access_token=" + tok)]), presented=False)
        assert_passed(request(gw, "/api/c", bearer(tok)))
        assert_passed(request(gw, "/api/c", [("ACCESS-TOKEN", tok)]))
        body = assert_passed(request(gw, "/api/c", bearer(tok) + [("Cookie", "access_token=junk; a=1")]))
        # the credential cookie is still not forwarded
        assert hdr_all(body["headers"], "cookie") == ["a=1"], body["headers"]


# ---------------------------------------------------------------- normalisation bypasses

BYPASS_NEEDS_TOKEN = {
    "dotdot_from_public": ("/public/../api/z1", "/api/z1"),
    "pct_unreserved": ("/%61pi/z2", "/api/z2"),
    "pct_unreserved_upper": ("/%41PI/z3", "/API/z3"),
    "pct_last_char": ("/ap%69/z4", "/api/z4"),
    "double_slash": ("//api/z5", "/api/z5"),
    "triple_slash": ("///api//z6", "/api/z6"),
    "upper": ("/API/z7", "/API/z7"),
    "mixed_case_trailing_dot": ("/Api/.", "/Api/"),
    "dot_segment": ("/./api/z8", "/api/z8"),
    "dotdot_inside": ("/api/../api/z9", "/api/z9"),
    "pct_dot_segment": ("/x/%2e%2e/api/z10", "/api/z10"),
    "query_not_matched": ("/api/z11?/public", "/api/z11?/public"),
    "bare_prefix": ("/api", "/api"),
}


@pytest.mark.parametrize("name", sorted(BYPASS_NEEDS_TOKEN))
def test_bypass_attempt_needs_token(pg, pup, tok, name):
    path, forwarded = BYPASS_NEEDS_TOKEN[name]
    pup.reset()
    r = request(pg, path)
    assert_401_access(r, presented=False)
    assert pup.requests() == [], "refused request reached the upstream"
    body = assert_passed(request(pg, path, bearer(tok)))
    # the checked path is the forwarded path
    assert body["target"] == forwarded, (path, body["target"])


BYPASS_400 = {
    "encoded_slash": "/api%2f",
    "encoded_slash_upper": "/api%2Fx",
    "encoded_slash_prefix": "/%2fapi",
    "semicolon": "/api;x",
    "semicolon_before": "/;/api",
    "backslash": "/x\\..\\api",
    "encoded_backslash": "/x%5c..%5capi",
    "nul": "/api%00",
    "climb_above_root": "/../api",
    "pct_climb_above_root": "/%2e%2e/api",
    "bad_escape": "/%zzapi",
    "overlong_utf8_a": "/%C1%A1pi",
    "truncated_escape": "/api%2",
    # double encoding of anything: an upstream that decodes twice would see /api
    "double_encoded_letter": "/%2561pi/x",
    "double_encoded_by_escapes": "/%25%36%31pi/x",
}


@pytest.mark.parametrize("name", sorted(BYPASS_400))
def test_bypass_attempt_refused_400(pg, pup, tok, name):
    pup.reset()
    for headers in ([], bearer(tok)):
        r = request(pg, BYPASS_400[name], headers)
        assert r.status == 400, (name, headers and "with token", r)
        assert json.loads(r.body).get("detail"), r
    assert pup.requests() == []


def test_semicolon_allowed_still_needs_token(tmp_path, upstream):
    cfg = {"access-token-paths": ["/api"], "allow-path-semicolon": True}
    with running_gateway(tmp_path / "g", cfg, upstream.url) as gw:
        assert_401_access(request(gw, "/api;x"), presented=False)
        # an empty or dot segment name with parameters is refused outright (400) or needs the token
        for path in ("/;x/../api", "/public/..;x/api", "/x/..;/api"):
            r = request(gw, path)
            assert r.status in (400, 401), (path, r)
        assert upstream.requests() == []
        assert_passed(request(gw, "/api;x", bearer(mint())), "/api;x")


def test_absolute_form_target_needs_token(pg, pup):
    pup.reset()
    r = request(pg, "http://gw.test/api/abs")
    assert r.status in (400, 401), r
    assert pup.requests() == []


# ---------------------------------------------------------------- deny-by-default

DENY = {
    "deny-by-default": True,
    "public-paths": ["/health", "/static/", "/api/health"],
    "access-token-paths": ["/api"],
    "rules": [{"prefix": "/login", "methods": ["POST"], "auth": "public"}],
}


def test_deny_by_default_with_public_paths(tmp_path, upstream):
    tok = mint()
    with running_gateway(tmp_path / "g", DENY, upstream.url) as gw:
        for path in ("/health", "/healthz", "/HEALTH", "/static/app.js", "/Static/x", "/x/../health"):
            assert_passed(request(gw, path))
        for path in ("/", "/other", "/static", "/statics/x", "/static/../other", "/login",
                     "/api/health", "/api/health/x", "/%68ealth/../other"):
            assert_401_access(request(gw, path), presented=False)
        assert_passed(request(gw, "/login", method="POST", body=b"u=1"))
        assert upstream.requests() and all(r["target"] in (
            "/health", "/healthz", "/HEALTH", "/static/app.js", "/Static/x", "/login")
            for r in upstream.requests()), [r["target"] for r in upstream.requests()]
        for path in ("/", "/other", "/static", "/api/health", "/login"):
            body = assert_passed(request(gw, path, bearer(tok)), path)
            assert hdr_all(body["headers"], "X-Auth-Subject") == ["user-1"], body["headers"]
        assert_401_access(request(gw, "/other", bearer("bad")))


def test_public_paths_without_deny_by_default_lift_nothing(tmp_path, upstream):
    cfg = {"public-paths": ["/api/public"], "access-token-paths": ["/api"]}
    with running_gateway(tmp_path / "g", cfg, upstream.url) as gw:
        assert_401_access(request(gw, "/api/public/x"), presented=False)
        assert_passed(request(gw, "/other"))


# ---------------------------------------------------------------- routes

def test_routes_longest_prefix_wins(tmp_path, upstream):
    with running_upstream(tmp_path / "u2") as u2, running_upstream(tmp_path / "u3") as u3:
        cfg = {"routes": [{"prefix": "/v2/", "upstream": u2.url},
                          {"prefix": "/v2/special/", "upstream": u3.url},
                          {"prefix": "/short", "upstream": u2.url}],
               "access-token-paths": ["/v2/special/"]}
        tok = mint()
        cases = [("/x", upstream), ("/v2", upstream), ("/v2/x", u2), ("/V2/Y", u2),
                 ("/v2/special", u2), ("/v2/special/a", u3), ("/V2/SPECIAL/b", u3),
                 ("/v2/../x2", upstream), ("//v2//special/c", u3), ("/shortcut", u2),
                 ("/v2/%73pecial/d", u3)]
        with running_gateway(tmp_path / "g", cfg, upstream.url) as gw:
            for path, _ in cases:
                assert_passed(request(gw, path, bearer(tok)))
            # routes say nothing about authentication: the lists still apply
            assert_401_access(request(gw, "/v2/special/nope"), presented=False)
            assert_passed(request(gw, "/v2/nope2"))
        got = {}
        for name, u in (("main", upstream), ("u2", u2), ("u3", u3)):
            for r in u.requests():
                got.setdefault(r["target"], []).append(name)
        expect = {"/x": "main", "/v2": "main", "/v2/x": "u2", "/V2/Y": "u2", "/v2/special": "u2",
                  "/v2/special/a": "u3", "/V2/SPECIAL/b": "u3", "/x2": "main",
                  "/v2/special/c": "u3", "/shortcut": "u2", "/v2/special/d": "u3",
                  "/v2/nope2": "u2"}
        for target, who in expect.items():
            assert got.get(target) == [who], (target, got.get(target), got)
        assert "/v2/special/nope" not in got


# ---------------------------------------------------------------- websocket

def test_websocket_refused_without_token_before_upgrade(pg, pup):
    pup.reset()
    with pytest.raises(websocket.WebSocketBadStatusException) as ei:
        websocket.create_connection("ws://127.0.0.1:%d/ws" % pg.port, timeout=5)
    assert ei.value.status_code == 401
    # raw: the 401 is a plain HTTP answer, and nothing went upstream
    for path in ("/ws", "/WS", "//ws", "/x/../ws"):
        r = request(pg, path, [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                               ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                               ("Sec-WebSocket-Version", "13")])
        assert_401_access(r, presented=False)
    r = request(pg, "/ws", bearer("bad.token.here") + [
        ("Upgrade", "websocket"), ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13")])
    assert_401_access(r)
    assert pup.requests() == []


def test_websocket_allowed_with_token(pg, pup, tok):
    for hdrs in (["Authorization: Bearer " + tok], ["Cookie: access_token=" + tok]):
        pup.reset()
        ws = websocket.create_connection("ws://127.0.0.1:%d/ws" % pg.port, timeout=5, header=hdrs)
        try:
            ws.send("hi with a token")
            assert ws.recv() == "hi with a token"
        finally:
            ws.close()
        recs = pup.requests()
        assert len(recs) == 1 and recs[0]["target"] == "/ws"
        assert hdr(recs[0]["headers"], "X-Auth-Subject") == "user-1"
        assert hdr(recs[0]["headers"], "Authorization") is None
        assert hdr(recs[0]["headers"], "Cookie") is None


# ---------------------------------------------------------------- lint

def test_check_warns_public_path_covering_protected_prefix(tmp_path):
    cfg = {"cryptography-key": CRYPTO_KEY, "upstream": "http://127.0.0.1:9",
           "deny-by-default": True, "access-token-paths": ["/api"],
           "public-paths": ["/ap", "/static/"], "rules": [{"prefix": "/", "auth": "public"}]}
    path = tmp_path / "lint.json"
    path.write_text(json.dumps(cfg))
    r = run_authgate("check", "--config", path)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    warnings = [line for line in r.stderr.splitlines() if line.startswith("warning:")]
    assert any("public-paths[0]" in w and "/api" in w for w in warnings), r.stderr
    assert any("rules[0]" in w and "/api" in w for w in warnings), r.stderr
    assert not any("public-paths[1]" in w for w in warnings), r.stderr


def test_check_warns_public_path_under_protected_prefix(tmp_path):
    cfg = {"cryptography-key": CRYPTO_KEY, "upstream": "http://127.0.0.1:9",
           "deny-by-default": True, "master-token-paths": ["/Admin"],
           "public-paths": ["/admin/health"]}
    path = tmp_path / "lint.json"
    path.write_text(json.dumps(cfg))
    r = run_authgate("check", "--config", path)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    warnings = [line for line in r.stderr.splitlines() if line.startswith("warning:")]
    assert any("public-paths[0]" in w for w in warnings), r.stderr


def test_check_clean_config_has_no_warnings(tmp_path):
    cfg = {"cryptography-key": CRYPTO_KEY, "upstream": "http://127.0.0.1:9",
           "deny-by-default": True, "access-token-paths": ["/api/"],
           "public-paths": ["/health"]}
    path = tmp_path / "lint.json"
    path.write_text(json.dumps(cfg))
    r = run_authgate("check", "--config", path)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert "warning:" not in r.stderr, r.stderr


# ---------------------------------------------------------------- methods, bodies, keep-alive

@pytest.mark.parametrize("method", ["HEAD", "OPTIONS", "DELETE", "PATCH", "PROPFIND", "PURGE"])
def test_every_method_needs_token(pg, pup, method):
    pup.reset()
    r = request(pg, "/api/meth", method=method)
    assert r.status == 401, r
    if method != "HEAD":
        assert json.loads(r.body) == ACCESS_401
    assert pup.requests() == []
    r = request(pg, "/api/meth", bearer(mint()), method=method)
    assert r.status == 200, r


def test_refused_post_body_not_forwarded(pg, pup):
    pup.reset()
    with RawConn(pg.port) as c:
        c.send(b"POST /api/upload HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 11\r\n\r\nhello world")
        assert_401_access(c.read_response(), presented=False)
    with RawConn(pg.port) as c:
        c.send(b"POST /api/upload HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\n0\r\n\r\n")
        assert_401_access(c.read_response(), presented=False)
    assert pup.requests() == []


def test_keepalive_does_not_carry_authentication_over(pg):
    alice, bob = mint(sub="alice"), mint(sub="bob")
    with RawConn(pg.port) as c:
        for h, want in ((bearer(alice), "alice"), ([], None), (bearer(bob), "bob"),
                        ([("Cookie", "x=1")], None), (bearer(alice), "alice")):
            lines = "".join("%s: %s\r\n" % kv for kv in h)
            c.send(("GET /api/ka HTTP/1.1\r\nHost: gw.test\r\n%s\r\n" % lines).encode())
            r = c.read_response()
            if want is None:
                assert_401_access(r, presented=False)
            else:
                assert r.status == 200 and hdr(r.json()["headers"], "X-Auth-Subject") == want, r
            if c.closed(0.05):
                c.close()
                c = RawConn(pg.port)


def test_pipelined_requests_judged_each(pg):
    tok = mint(sub="pipe")
    with RawConn(pg.port) as c:
        c.send(("GET /api/p1 HTTP/1.1\r\nHost: gw.test\r\nAuthorization: Bearer %s\r\n\r\n"
                "GET /api/p2 HTTP/1.1\r\nHost: gw.test\r\n\r\n" % tok).encode())
        r1 = c.read_response()
        assert r1.status == 200 and r1.json()["target"] == "/api/p1"
        r2 = c.read_response()
        assert_401_access(r2, presented=False)


def test_empty_or_misnamed_cookie_token(pg):
    assert_401_access(request(pg, "/api/ck", [("Cookie", "access_token=")]))
    assert_401_access(request(pg, "/api/ck", [("Cookie", "access_token=; a=1")]))
    assert_401_access(request(pg, "/api/ck", [("Cookie", "ACCESS_TOKEN=garbage")]), presented=False)


def test_cookies_as_browsers_send_them(pg):
    """docs/rules.md "Cookies": the header is read as browsers write it and lenient servers
    read it. Cookies RFC 6265's strict grammar refuses (a quoted value with a space, JSON, a
    ',', a nameless cookie, a trailing ';', spaces around '=') neither hide the token cookie
    nor get lost: CONTRACT 6, only the credentials are removed, other cookies stay."""
    tok = mint()
    cases = [
        ("access_token=%s;" % tok, None),
        ("access_token = %s" % tok, None),
        ('theme="dark mode"; access_token=%s' % tok, 'theme="dark mode"'),
        ('prefs={"a":1}; list=a,b; flag; access_token=%s; sess=abc' % tok,
         'prefs={"a":1}; list=a,b; flag; sess=abc'),
        ("_ga=GA1.2.3; sess=abc; x=a b;access_token=%s" % tok, "_ga=GA1.2.3; sess=abc; x=a b"),
    ]
    for header, forwarded in cases:
        body = assert_passed(request(pg, "/api/ck", [("Cookie", header)]), "/api/ck")
        got = [v for k, v in body["headers"] if k.lower() == "cookie"]
        assert got == ([forwarded] if forwarded else []), (header, got)
    # the app's cookies alone, however written, reach it untouched
    for header in ('theme="dark mode"', "sess=abc;", "sess=abc; flag", 'prefs={"a":1}'):
        body = assert_passed(request(pg, "/pub/ck", [("Cookie", header)]), "/pub/ck")
        got = [v for k, v in body["headers"] if k.lower() == "cookie"]
        assert got == [header.rstrip(";")], (header, got)
