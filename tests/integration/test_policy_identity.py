"""Identity forwarded upstream and credentials kept back (CONTRACT.md section 6).

For a request that passed with an access token the upstream gets X-Auth-Subject,
X-Auth-Client-Id, X-Auth-Scopes and X-Auth-Roles; a client's own copies of these names
(any case, '_' or '.' for '-') are removed on every path; MASTER-TOKEN, ACCESS-TOKEN,
`Authorization: Bearer ...` and the access_token / refresh_token cookies are not
forwarded unless forward-credentials / forward-authorization say so.
"""

import re

import pytest

from conftest import hdr, hdr_all
from test_policy import (IDENTITY, MASTER, assert_passed, bearer, mint, request,
                         running_gateway, running_upstream)

CFG = {"master-token": MASTER, "master-token-paths": ["/admin"],
       "access-token-paths": ["/api"]}


@pytest.fixture(scope="module")
def iup(tmp_path_factory):
    with running_upstream(tmp_path_factory.mktemp("ident-up")) as u:
        yield u


@pytest.fixture(scope="module")
def ig(tmp_path_factory, iup):
    with running_gateway(tmp_path_factory.mktemp("ident-gw"), CFG, iup.url) as gw:
        yield gw


def fold(name):
    return re.sub(r"[_.]", "-", name.lower())


def spellings(name):
    """Ways a client might spell <name>: cases, and '_' / '.' separators, also mixed
    (at most 20 per name, so that 4 names stay under max-headers 100)."""
    lower, upper = name.lower(), name.upper()
    out = {name, lower, upper, name.swapcase()}
    for base in (name, lower, upper):
        out.add(base.replace("-", "_"))
        out.add(base.replace("-", "."))
        parts = base.split("-")
        for seps in (["-", "_", "."], ["_", ".", "-"], [".", "-", "_"]):
            mixed = parts[0]
            for i, p in enumerate(parts[1:]):
                mixed += seps[i] + p
            out.add(mixed)
    return sorted(out)[:20]


SPOOF_NAMES = [s for n in IDENTITY for s in spellings(n)]


def spoof_headers():
    return [(n, "spoofed-%d" % i) for i, n in enumerate(SPOOF_NAMES)]


def identity_fields(headers):
    """The forwarded fields whose name folds to one of the identity names."""
    want = {fold(n) for n in IDENTITY}
    return [(k, v) for k, v in headers if fold(k) in want]


def test_spoof_spellings_cover_underscore_and_dot():
    assert "x_auth_subject" in SPOOF_NAMES and "X.Auth.Roles" in SPOOF_NAMES
    assert "X_AUTH_CLIENT_ID" in SPOOF_NAMES and "x-auth_scopes" in SPOOF_NAMES
    assert len(SPOOF_NAMES) < 90


def test_identity_forwarded_with_token(ig):
    tok = mint(sub="alice", client_id="web-app", scope="read write", roles=["ops", "dev"])
    for h in (bearer(tok), [("ACCESS-TOKEN", tok)], [("Cookie", "access_token=" + tok)]):
        body = assert_passed(request(ig, "/api/me", h))
        up = body["headers"]
        assert hdr_all(up, "X-Auth-Subject") == ["alice"], up
        assert hdr_all(up, "X-Auth-Client-Id") == ["web-app"], up
        scopes = hdr_all(up, "X-Auth-Scopes")
        assert len(scopes) == 1 and set(re.split(r"[ ,]+", scopes[0])) == {"read", "write"}, up
        assert hdr_all(up, "X-Auth-Roles") == ["ops,dev"], up


def test_identity_from_scopes_array(ig):
    body = assert_passed(request(ig, "/api/me", bearer(mint(scopes=["a", "b"]))))
    s = hdr(body["headers"], "X-Auth-Scopes")
    assert s is not None and set(re.split(r"[ ,]+", s)) == {"a", "b"}, body["headers"]


def test_identity_absent_when_claims_absent(ig):
    tok = mint(sub=None, client_id=None)
    body = assert_passed(request(ig, "/api/anon", bearer(tok) + spoof_headers()))
    assert identity_fields(body["headers"]) == [], body["headers"]


@pytest.mark.parametrize("path,creds", [
    ("/public/p", "none"),
    ("/admin/p", "master"),
    ("/api/p", "token"),
    ("/api/p", "token-cookie"),
])
def test_spoofed_identity_removed_every_spelling(ig, path, creds):
    tok = mint(sub="real-sub", client_id="real-client", scope="s1", roles=["r1"])
    h = spoof_headers()
    if creds == "master":
        h = [("MASTER-TOKEN", MASTER)] + h
    elif creds == "token":
        h = h + bearer(tok)
    elif creds == "token-cookie":
        h = [("Cookie", "access_token=" + tok)] + h
    body = assert_passed(request(ig, path, h))
    got = identity_fields(body["headers"])
    assert not any(v.startswith("spoofed") for _, v in got), got
    if creds.startswith("token"):
        assert sorted(got) == sorted([("X-Auth-Subject", "real-sub"), ("X-Auth-Client-Id", "real-client"),
                                      ("X-Auth-Scopes", "s1"), ("X-Auth-Roles", "r1")]), got
    else:
        assert got == [], got


def test_spoofed_identity_removed_when_refused_request_is_retried(ig, iup):
    # a refused request carries nothing upstream; the next one on the same path is clean
    iup.reset()
    r = request(ig, "/api/refused", spoof_headers())
    assert r.status == 401
    assert iup.requests() == []


def test_credentials_not_forwarded(ig):
    tok = mint()
    h = [("MASTER-TOKEN", MASTER), ("Cookie", "a=1; access_token=%s; refresh_token=rrr; b=2" % tok),
         ("ACCESS-TOKEN", tok)] + bearer(tok)
    body = assert_passed(request(ig, "/api/cred", h))
    up = body["headers"]
    names = {k.lower() for k, _ in up}
    assert "master-token" not in names and "access-token" not in names, up
    assert hdr(up, "Authorization") is None, up
    cookies = hdr_all(up, "Cookie")
    assert len(cookies) == 1, up
    assert "access_token" not in cookies[0] and "refresh_token" not in cookies[0], cookies
    assert cookies[0].replace(" ", "") == "a=1;b=2", cookies
    assert tok not in str(up), up


@pytest.mark.parametrize("path", ["/public/c", "/admin/c"])
def test_credentials_not_forwarded_on_other_paths(ig, path):
    tok = mint()
    h = [("MASTER-TOKEN", MASTER), ("master_token", MASTER), ("Access_Token", tok),
         ("access.token", tok), ("Cookie", "refresh_token=r; access_token=%s" % tok)] + bearer(tok)
    body = assert_passed(request(ig, path, h))
    up = body["headers"]
    assert MASTER not in str(up) and tok not in str(up), up
    assert hdr(up, "Cookie") is None, up   # no cookie left: the header goes


@pytest.mark.parametrize("value", ["Bearer\t%s", "bearer\t\t%s", "BEARER   %s", "Bearer \t%s"])
def test_bearer_spellings_not_forwarded_on_open_paths(ig, value):
    """Whatever the scheme's case and the spaces or TABs after it, a Bearer credential
    never reaches the upstream, even where no token is needed."""
    tok = mint()
    body = assert_passed(request(ig, "/public/bt", [("Authorization", value % tok)]))
    assert hdr(body["headers"], "Authorization") is None, body["headers"]
    assert tok not in str(body["headers"])


def test_other_authorization_schemes_forwarded(ig):
    body = assert_passed(request(ig, "/public/basic", [("Authorization", "Basic dXNlcjpwYXNz")]))
    assert hdr(body["headers"], "Authorization") == "Basic dXNlcjpwYXNz"


def test_forward_credentials_and_authorization(tmp_path, upstream):
    cfg = dict(CFG, **{"forward-credentials": True, "forward-authorization": True})
    tok = mint()
    with running_gateway(tmp_path / "g", cfg, upstream.url) as gw:
        h = [("MASTER-TOKEN", MASTER), ("Cookie", "access_token=%s; refresh_token=r" % tok)] + bearer(tok)
        body = assert_passed(request(gw, "/api/fwd", h))
        up = body["headers"]
        assert hdr(up, "MASTER-TOKEN") == MASTER
        assert hdr(up, "Authorization") == "Bearer " + tok
        assert "access_token=" in hdr(up, "Cookie") and "refresh_token=r" in hdr(up, "Cookie")
        body = assert_passed(request(gw, "/api/fwd", [("ACCESS-TOKEN", tok)]))
        assert hdr(body["headers"], "ACCESS-TOKEN") == tok
        # identity is still the gateway's, spoofing still stripped
        body = assert_passed(request(gw, "/api/fwd", bearer(tok) + [("x_auth_subject", "evil")]))
        assert hdr_all(body["headers"], "X-Auth-Subject") == ["user-1"], body["headers"]
        assert hdr(body["headers"], "x_auth_subject") is None


def test_forward_authorization_only(tmp_path, upstream):
    cfg = dict(CFG, **{"forward-authorization": True})
    tok = mint()
    with running_gateway(tmp_path / "g", cfg, upstream.url) as gw:
        body = assert_passed(request(gw, "/api/fa", bearer(tok) + [("MASTER-TOKEN", MASTER)]))
        assert hdr(body["headers"], "Authorization") == "Bearer " + tok
        assert hdr(body["headers"], "MASTER-TOKEN") is None


def test_custom_identity_header_names(tmp_path, upstream):
    cfg = dict(CFG, **{"identity-headers": {"subject": "X-User", "roles": "X-User-Roles"}})
    tok = mint(sub="bob", roles=["r"])
    with running_gateway(tmp_path / "g", cfg, upstream.url) as gw:
        h = [("x_user", "evil"), ("X.User-Roles", "evil"), ("X-Auth-Subject", "evil")] + bearer(tok)
        up = assert_passed(request(gw, "/api/c", h))["headers"]
        assert hdr_all(up, "X-User") == ["bob"], up
        assert hdr_all(up, "X-User-Roles") == ["r"], up
        assert "evil" not in str(up), up
        up = assert_passed(request(gw, "/public", [("X_USER", "evil")]))["headers"]
        assert "evil" not in str(up), up
