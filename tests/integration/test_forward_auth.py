"""Forward-auth: GET <auth-prefix>/verify (CONTRACT.md section 11, docs/forward-auth.md).

/verify judges the request described by X-Forwarded-Method and X-Forwarded-Uri with the
credentials on the verify request, by the proxy path's own decision: every case below
that has a proxied twin is compared with what the gateway answers (or forwards) for that
twin. Only peers in trusted-proxies get an answer; others get 403.

The second half runs Debian's nginx (started here: its own prefix, conf, pid and logs
in a temp dir, 127.0.0.1 ports, daemon off, one process) with the server block of
docs/forward-auth.md in front of the echo upstream, through authgate's /verify.
"""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, RawConn, free_port, hdr_all, stop_process, wait_port
from test_policy import (ACCESS_401, IDENTITY, MASTER, MASTER_401, SCOPE_403, assert_passed,
                         bearer, mint, request, running_gateway, running_upstream)

CFG = {
    "trusted-proxies": ["127.0.0.1"],
    "master-token": MASTER,
    "master-token-paths": ["/admin"],
    "access-token-paths": ["/api"],
    "rules": [
        {"prefix": "/scoped/", "scopes": ["read"]},
        {"prefix": "/onlypost", "methods": ["POST"]},
    ],
}

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
DOC = Path(REPO) / "docs" / "forward-auth.md"


@pytest.fixture(scope="module")
def fup(tmp_path_factory):
    with running_upstream(tmp_path_factory.mktemp("fwd-up")) as u:
        yield u


@pytest.fixture(scope="module")
def fg(tmp_path_factory, fup):
    with running_gateway(tmp_path_factory.mktemp("fwd-gw"), CFG, fup.url) as gw:
        yield gw


def verify(gw, method="GET", uri="/", headers=(), verb="GET", source=None):
    """One /auth/verify on a fresh connection (from <source> when given)."""
    fields = []
    if method is not None:
        fields.append(("X-Forwarded-Method", method))
    if uri is not None:
        fields.append(("X-Forwarded-Uri", uri))
    lines = ["%s /auth/verify HTTP/1.1" % verb, "Host: gw.test"]
    lines += ["%s: %s" % (k, v) for k, v in fields + list(headers)]
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    with RawConn(gw.port, timeout=10, source=source) as c:
        c.send(data)
        return c.read_response(method=verb)


def same_refusal(a, b):
    """<a> (from /verify) is the refusal <b> (the proxy path's): status, body, WWW-Authenticate."""
    assert a.status == b.status, (a, b)
    assert json.loads(a.body) == json.loads(b.body), (a, b)
    assert hdr_all(a.headers, "www-authenticate") == hdr_all(b.headers, "www-authenticate"), (a, b)
    assert a.header("content-type") == "application/json", a


def identity_of(resp):
    return {n: hdr_all(resp.headers, n) for n in IDENTITY}


# ---------------------------------------------------------------- /verify itself

def test_public_path_passes_without_identity(fg):
    r = verify(fg, "GET", "/public/page?x=1")
    assert r.status == 200 and r.body == b"", r
    assert identity_of(r) == {n: [] for n in IDENTITY}, r


def test_access_path_without_token_is_the_proxy_401(fg):
    r = verify(fg, "GET", "/api/x")
    assert json.loads(r.body) == ACCESS_401
    assert hdr_all(r.headers, "www-authenticate") == ['Bearer realm="authgate"'], r
    same_refusal(r, request(fg, "/api/x"))


def test_valid_token_gives_the_identity_the_upstream_would_get(fg):
    tok = mint(sub="alice", client_id="web-app", scope="read write", roles=["ops", "dev"])
    for h in (bearer(tok), [("ACCESS-TOKEN", tok)], [("Cookie", "a=b; access_token=" + tok)]):
        r = verify(fg, "GET", "/api/me?q=1", h)
        assert r.status == 200 and r.body == b"", r
        up = assert_passed(request(fg, "/api/me?q=1", h))["headers"]
        assert identity_of(r) == {n: hdr_all(up, n) for n in IDENTITY}, (r, up)
        assert identity_of(r)["X-Auth-Subject"] == ["alice"], r
        assert identity_of(r)["X-Auth-Client-Id"] == ["web-app"], r
        assert identity_of(r)["X-Auth-Scopes"] == ["read write"], r


def test_client_identity_headers_on_the_verify_request_are_not_echoed(fg):
    spoof = [("X-Auth-Subject", "root"), ("X-Auth-Roles", "admin")]
    r = verify(fg, "GET", "/public/x", spoof)
    assert r.status == 200 and identity_of(r) == {n: [] for n in IDENTITY}, r
    r = verify(fg, "GET", "/api/x", spoof + bearer(mint(sub="bob")))
    assert r.status == 200 and identity_of(r)["X-Auth-Subject"] == ["bob"], r
    assert identity_of(r)["X-Auth-Roles"] == [], r


def test_bad_or_expired_token_is_the_proxy_401(fg):
    for tok in ("not.a.jwt", mint(exp=1), mint(key="another-key-0123456789-0123456789-xyz")):
        r = verify(fg, "GET", "/api/x", bearer(tok))
        assert r.status == 401 and json.loads(r.body) == ACCESS_401, r
        assert 'error="invalid_token"' in r.header("www-authenticate"), r
        same_refusal(r, request(fg, "/api/x", bearer(tok)))


def test_master_path(fg):
    r = verify(fg, "GET", "/admin/users")
    assert r.status == 401 and json.loads(r.body) == MASTER_401, r
    same_refusal(r, request(fg, "/admin/users"))
    r = verify(fg, "GET", "/admin/users", [("MASTER-TOKEN", MASTER + "x")])
    same_refusal(r, request(fg, "/admin/users", [("MASTER-TOKEN", MASTER + "x")]))
    r = verify(fg, "GET", "/admin/users", [("MASTER-TOKEN", MASTER)])
    assert r.status == 200 and identity_of(r) == {n: [] for n in IDENTITY}, r


def test_missing_scope_is_the_proxy_403(fg):
    tok = mint(scope="write")
    r = verify(fg, "GET", "/scoped/doc", bearer(tok))
    assert r.status == 403 and json.loads(r.body) == SCOPE_403, r
    same_refusal(r, request(fg, "/scoped/doc", bearer(tok)))
    assert verify(fg, "GET", "/scoped/doc", bearer(mint(scope="read"))).status == 200


def test_the_forwarded_method_is_what_the_rules_see(fg):
    assert verify(fg, "GET", "/onlypost").status == 200
    r = verify(fg, "POST", "/onlypost")
    assert r.status == 401, r
    same_refusal(r, request(fg, "/onlypost", method="POST", body=b"x"))
    # Methods are case-sensitive; the proxy path refuses one it does not know (400), so
    # "post" is never judged as another method than an application may take it for.
    r = verify(fg, "post", "/onlypost")
    assert r.status == 400 and request(fg, "/onlypost", method="post").status == 400, r


def test_the_uri_is_normalised_as_a_proxied_path(fg):
    for uri in ("/public/../api/x", "/%61pi/x", "/API/x", "//api/x", "/./api/x?next=/public"):
        r = verify(fg, "GET", uri)
        assert r.status == 401 and json.loads(r.body) == ACCESS_401, (uri, r)
        same_refusal(r, request(fg, uri))


def test_a_uri_the_proxy_path_refuses_is_the_same_400(fg):
    for uri in ("/api%2Fx", "/a/../../x", "/x;y", "/x\\y", "/x%5cy", "/%zz", "/x%00",
                "/x#y", "/%2561pi", "/x./y"):
        r = verify(fg, "GET", uri)
        proxied = request(fg, uri)
        assert r.status == 400 and proxied.status == 400, (uri, r, proxied)
        assert json.loads(r.body) == json.loads(proxied.body), (uri, r, proxied)


def test_a_uri_not_in_origin_form_or_with_bytes_no_target_has_is_400(fg):
    for uri, detail in (("api/x", "bad request-target form"),
                        ("http://gw.test/api/x", "bad request-target form"),
                        ("*", "bad request-target form"),
                        ("/a b", "missing or bad X-Forwarded-Uri"),
                        ("/a\tb", "missing or bad X-Forwarded-Uri"),
                        ("/caf\xe9", "missing or bad X-Forwarded-Uri")):
        r = verify(fg, "GET", uri)
        assert r.status == 400, (uri, r)
        assert json.loads(r.body) == {"detail": detail, "error": "bad_request"}, (uri, r)


def test_missing_repeated_or_bad_fields_are_400(fg):
    bad_uri = {"detail": "missing or bad X-Forwarded-Uri", "error": "bad_request"}
    bad_method = {"detail": "missing or bad X-Forwarded-Method", "error": "bad_request"}
    cases = [
        (verify(fg, "GET", None), bad_uri),
        (verify(fg, "GET", "/x", [("X-Forwarded-Uri", "/y")]), bad_uri),
        (verify(fg, None, "/x"), bad_method),
        (verify(fg, "GET", "/x", [("x-forwarded-method", "GET")]), bad_method),
        (verify(fg, "GE T", "/x"), bad_method),
        (verify(fg, "GET,", "/x"), bad_method),
        (verify(fg, "Get", "/x"), bad_method),
    ]
    for r, want in cases:
        assert r.status == 400 and json.loads(r.body) == want, r


def test_head_is_answered_like_get_and_other_methods_405(fg):
    tok = mint(sub="carol")
    r = verify(fg, "GET", "/api/x", bearer(tok), verb="HEAD")
    assert r.status == 200 and r.body == b"", r
    assert identity_of(r)["X-Auth-Subject"] == ["carol"], r
    r = verify(fg, "GET", "/api/x", verb="HEAD")
    assert r.status == 401 and r.body == b"", r
    r = verify(fg, "GET", "/api/x", bearer(tok), verb="POST")
    assert r.status == 405 and r.header("allow") == "GET, HEAD", r


def test_keep_alive_serves_several_verifies_on_one_connection(fg):
    tok = mint(sub="dave")
    with RawConn(fg.port, timeout=10) as c:
        for uri, h, want in (("/api/1", bearer(tok), 200), ("/api/2", [], 401),
                             ("/api%2F3", [], 400), ("/free", [], 200)):
            c.send("GET /auth/verify HTTP/1.1\r\nHost: gw.test\r\nX-Forwarded-Method: GET\r\n"
                   "X-Forwarded-Uri: %s\r\n%s\r\n" % (uri, "".join("%s: %s\r\n" % kv for kv in h)))
            assert c.read_response().status == want, uri
        assert not c.closed(0.3)


def test_a_peer_not_in_trusted_proxies_gets_403(fg):
    want = {"detail": "forward-auth answers trusted-proxies only", "error": "forbidden"}
    for uri, h in (("/public/x", []), ("/api/x", bearer(mint()))):
        r = verify(fg, "GET", uri, h, source="127.0.0.2")
        assert r.status == 403 and json.loads(r.body) == want, r
        assert identity_of(r) == {n: [] for n in IDENTITY}, r


def test_no_trusted_proxies_refuses_everyone(tmp_path, fup):
    cfg = dict(CFG)
    del cfg["trusted-proxies"]
    with running_gateway(tmp_path / "gw", cfg, fup.url) as gw:
        r = verify(gw, "GET", "/public/x")
        assert r.status == 403, r
        assert json.loads(r.body)["detail"] == "forward-auth answers trusted-proxies only"
        assert verify(gw, "GET", "/api/x", bearer(mint())).status == 403


def test_configured_identity_header_names_are_the_ones_answered(tmp_path, fup):
    cfg = dict(CFG, **{"identity-headers": {"subject": "X-User", "roles": "X-User-Roles"}})
    with running_gateway(tmp_path / "gw", cfg, fup.url) as gw:
        h = bearer(mint(sub="gina", client_id="cli", roles=["ops"]))
        r = verify(gw, "GET", "/api/x", h)
        assert r.status == 200, r
        assert hdr_all(r.headers, "X-User") == ["gina"], r
        assert hdr_all(r.headers, "X-User-Roles") == ["ops"], r
        assert hdr_all(r.headers, "X-Auth-Client-Id") == ["cli"], r
        assert hdr_all(r.headers, "X-Auth-Subject") == [] and hdr_all(r.headers, "X-Auth-Roles") == []
        up = assert_passed(request(gw, "/api/x", h))["headers"]
        for name in ("X-User", "X-User-Roles", "X-Auth-Client-Id"):
            assert hdr_all(up, name) == hdr_all(r.headers, name), (name, up)


def test_cross_site_cookie_write_is_the_proxy_403(tmp_path, fup):
    cfg = dict(CFG, **{"cookie-samesite": "none"})
    with running_gateway(tmp_path / "gw", cfg, fup.url) as gw:
        jar = [("Cookie", "access_token=" + mint(sub="erin")), ("Origin", "https://evil.example")]
        r = verify(gw, "POST", "/api/x", jar)
        proxied = request(gw, "/api/x", jar, method="POST", body=b"x")
        assert r.status == 403 and proxied.status == 403, (r, proxied)
        assert json.loads(r.body) == json.loads(proxied.body) == {
            "detail": "CSRF check failed: Origin does not match", "error": "forbidden"}
        r = verify(gw, "GET", "/api/x", jar)
        assert r.status == 200 and identity_of(r)["X-Auth-Subject"] == ["erin"], r
        r = verify(gw, "POST", "/api/x", jar[:1] + [("Origin", "http://gw.test")])
        assert r.status == 200, r


def test_a_token_waits_for_the_revocations_then_503_public_paths_do_not(tmp_path, fup):
    cfg = dict(CFG, redis="redis://127.0.0.1:1/0")  # never reachable: nothing is ever loaded
    with running_gateway(tmp_path / "gw", cfg, fup.url) as gw:
        r = verify(gw, "GET", "/public/x")
        assert r.status == 200, r
        r = verify(gw, "GET", "/api/x", bearer(mint()))
        same_refusal(r, request(gw, "/api/x", bearer(mint())))
        assert r.status == 503 and r.header("retry-after") == "1", r
        assert verify(gw, "GET", "/api/x").status == 401  # no token: at once, as proxied


# ---------------------------------------------------------------- through a real nginx

def doc_server_block():
    """The nginx configuration of docs/forward-auth.md (its first ```nginx block)."""
    m = re.search(r"```nginx\n(.*?)```", DOC.read_text(), re.S)
    assert m, "docs/forward-auth.md has no nginx block"
    return m.group(1)


class Nginx:
    """Debian's nginx in one process, in the foreground, with everything under <d>."""

    def __init__(self, d, http_conf, port):
        self.dir = Path(d)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port
        self.url = "http://127.0.0.1:%d" % port
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.dir / sub).mkdir(exist_ok=True)
        self.error_log = self.dir / "error.log"
        temp = "".join("    %s_temp_path %s;\n" % (sub, self.dir / sub)
                       for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        conf = ("daemon off;\nmaster_process off;\npid %s;\nerror_log %s info;\n"
                "events { worker_connections 256; }\n"
                "http {\n    access_log %s;\n%s%s\n}\n"
                % (self.dir / "nginx.pid", self.error_log, self.dir / "access.log", temp, http_conf))
        self.conf = self.dir / "nginx.conf"
        self.conf.write_text(conf)
        self.out = open(self.dir / "stderr", "wb")
        self.proc = subprocess.Popen([NGINX, "-p", str(self.dir), "-c", str(self.conf),
                                      "-e", str(self.error_log)],
                                     stdin=subprocess.DEVNULL, stdout=self.out, stderr=self.out)
        if not wait_port(port, 10.0, self.proc):
            self.stop()
            raise RuntimeError("nginx did not start:\n%s\n%s" % (
                (self.dir / "stderr").read_text(), self.error_log.read_text()))

    def stop(self):
        stop_process(self.proc, 10.0)
        self.out.close()

    def errors(self):
        return self.error_log.read_text(errors="replace")


@pytest.fixture(scope="module")
def ngx(tmp_path_factory, fg, fup):
    """nginx with the docs' server block on one port, and the same through a verify
    subrequest sent from 127.0.0.2 (not a trusted proxy) on another."""
    if not Path(NGINX).exists():
        pytest.skip("nginx not installed (Debian package nginx)")
    block = doc_server_block()
    port, untrusted_port = free_port(), free_port()
    up = "127.0.0.1:%d" % fup.port
    main = (block.replace("listen 80;", "listen 127.0.0.1:%d;" % port)
                 .replace("127.0.0.1:8080", "127.0.0.1:%d" % fg.port)
                 .replace("127.0.0.1:3000", up))
    assert main != block and up in main and str(fg.port) in main
    untrusted = ("server {\n    listen 127.0.0.1:%d;\n"
                 "    location / {\n        auth_request /_verify;\n        proxy_pass http://%s;\n    }\n"
                 "    location = /_verify {\n        internal;\n        proxy_bind 127.0.0.2;\n"
                 "        proxy_pass http://127.0.0.1:%d/auth/verify;\n"
                 "        proxy_pass_request_body off;\n        proxy_set_header Content-Length \"\";\n"
                 "        proxy_set_header X-Forwarded-Method $request_method;\n"
                 "        proxy_set_header X-Forwarded-Uri $request_uri;\n    }\n}\n"
                 % (untrusted_port, up, fg.port))
    n = Nginx(tmp_path_factory.mktemp("nginx"), main + untrusted, port)
    n.untrusted_port = untrusted_port
    yield n
    n.stop()


def via(ngx, path, headers=(), method="GET", body=b"", port=None):
    return request(None, path, headers, method=method, body=body, port=port or ngx.port)


def reached(fup, marker):
    return [r for r in fup.requests() if marker in r["target"]]


def test_nginx_without_token_401_and_the_upstream_never_sees_it(ngx, fup):
    r = via(ngx, "/api/ngx-no-token")
    assert r.status == 401, r
    assert hdr_all(r.headers, "www-authenticate") == ['Bearer realm="authgate"'], r
    assert reached(fup, "ngx-no-token") == []


def test_nginx_with_token_200_and_the_upstream_sees_the_identity(ngx, fup):
    tok = mint(sub="frank", client_id="mobile", scope="read", roles=["ops"])
    spoof = [("X-Auth-Subject", "root"), ("X-Auth-Client-Id", "evil")]
    body = assert_passed(via(ngx, "/api/ngx-token?a=1", bearer(tok) + spoof), "/api/ngx-token?a=1")
    up = body["headers"]
    assert hdr_all(up, "X-Auth-Subject") == ["frank"], up
    assert hdr_all(up, "X-Auth-Client-Id") == ["mobile"], up
    assert hdr_all(up, "X-Auth-Scopes") == ["read"], up
    assert hdr_all(up, "X-Auth-Roles") == ["ops"], up
    assert hdr_all(up, "Authorization") == [], up  # the token stays at the edge (section 6)
    # another scheme is the application's own
    up = assert_passed(via(ngx, "/ngx-public-basic", [("Authorization", "Basic YTpi")]))["headers"]
    assert hdr_all(up, "Authorization") == ["Basic YTpi"], up
    # a POST with a body: the subrequest carries none, the upstream gets all of it
    body = assert_passed(via(ngx, "/api/ngx-post", bearer(tok), method="POST", body=b"x" * 5000))
    assert body["method"] == "POST" and body["body_len"] == 5000, body


def test_nginx_public_path_strips_spoofed_identity_and_credentials(ngx, fup):
    spoof = [("X-Auth-Subject", "root"), ("X-Auth-Roles", "admin"), ("MASTER-TOKEN", MASTER),
             ("ACCESS-TOKEN", "whatever")]
    up = assert_passed(via(ngx, "/ngx-public", spoof), "/ngx-public")["headers"]
    for name in IDENTITY + ("MASTER-TOKEN", "ACCESS-TOKEN"):
        assert hdr_all(up, name) == [], (name, up)


def test_nginx_master_path(ngx, fup):
    assert via(ngx, "/admin/ngx-m1").status == 401
    assert via(ngx, "/admin/ngx-m2", [("MASTER-TOKEN", "wrong")]).status == 401
    assert reached(fup, "ngx-m1") == [] and reached(fup, "ngx-m2") == []
    up = assert_passed(via(ngx, "/admin/ngx-m3", [("MASTER-TOKEN", MASTER)]))["headers"]
    assert hdr_all(up, "MASTER-TOKEN") == [], up  # the docs' block keeps it back


def test_nginx_scope_403(ngx, fup):
    assert via(ngx, "/scoped/ngx-s1", bearer(mint(scope="write"))).status == 403
    assert reached(fup, "ngx-s1") == []


def test_nginx_refused_uri_never_reaches_the_upstream(ngx, fup):
    # /verify answers 400, which auth_request turns into a 500 for the client.
    r = via(ngx, "/api%2Fngx-bad", bearer(mint()))
    assert r.status == 500, r
    assert reached(fup, "ngx-bad") == []
    assert "auth request unexpected status: 400" in ngx.errors()


def test_nginx_own_endpoints_pass_through_but_not_verify(ngx):
    r = via(ngx, "/auth/health")
    assert r.status == 200 and r.json() == {"status": "ok"}, r
    assert via(ngx, "/auth/verify", [("X-Forwarded-Method", "GET"),
                                     ("X-Forwarded-Uri", "/api/x")]).status == 404


def test_nginx_whose_subrequests_are_not_trusted_gets_403_for_everything(ngx, fup):
    for path, h in (("/ngx-u-public", []), ("/api/ngx-u-api", bearer(mint()))):
        r = via(ngx, path, h, port=ngx.untrusted_port)
        assert r.status == 403, (path, r)
    assert reached(fup, "ngx-u-") == []
