"""CORS through the real binary (docs/cors.md): off by default; preflights answered
by the gateway before authentication and never forwarded; CORS lines on proxied
responses (replacing the upstream's own) and on the gateway's own 401s and errors;
credentials mode and "*" mode; Origins not allowed change nothing.
"""

import contextlib
import socket
import threading

import pytest

from conftest import RawConn, hdr_all

APP = "https://app.example.com"
CORS = {"allow-origins": [APP, "http://localhost:3000"],
        "allow-headers": ["Authorization", "X-Req"],
        "expose-headers": ["X-Total"],
        "max-age": 120}
PROTECTED = {"access-token-paths": ["/api"], "cors": CORS}
CORS_NAMES = ("access-control-allow-origin", "access-control-allow-credentials",
              "access-control-allow-methods", "access-control-allow-headers",
              "access-control-max-age", "access-control-expose-headers")


def req(gw, method, path, *lines, body=b""):
    head = "%s %s HTTP/1.1\r\nHost: gw.test\r\n" % (method, path)
    head += "".join(l + "\r\n" for l in lines)
    if body:
        head += "Content-Length: %d\r\n" % len(body)
    with RawConn(gw.port) as c:
        c.send(head.encode() + b"\r\n" + body)
        return c.read_response(method=method)


def preflight(gw, path, origin=APP, method="PUT", headers=None):
    lines = ["Origin: " + origin, "Access-Control-Request-Method: " + method]
    if headers is not None:
        lines.append("Access-Control-Request-Headers: " + headers)
    return req(gw, "OPTIONS", path, *lines)


def cors_fields(resp):
    return {k.lower(): v for k, v in resp.headers if k.lower() in CORS_NAMES}


def reached(up, marker):
    return [r for r in up.requests() if marker in r["target"]]


# ---------------------------------------------------------------- off by default

def test_off_by_default_preflight_is_forwarded_and_no_headers(gateway, upstream):
    gw = gateway()
    r = preflight(gw, "/echo/off-1")
    assert r.status == 200
    assert cors_fields(r) == {}
    assert reached(upstream, "/echo/off-1"), "with CORS off an OPTIONS is proxied as before"
    r = req(gw, "GET", "/echo/off-2", "Origin: " + APP)
    assert r.status == 200 and cors_fields(r) == {}


def test_cors_false_is_off(gateway, upstream):
    gw = gateway({"cors": False})
    r = req(gw, "GET", "/echo/false", "Origin: " + APP)
    assert r.status == 200 and cors_fields(r) == {}


# ---------------------------------------------------------------- preflight

def test_preflight_allowed_answered_by_gateway(gateway, upstream):
    gw = gateway(PROTECTED)
    r = preflight(gw, "/api/items-pf1", headers="authorization, x-req, content-type")
    assert r.status == 200, r
    assert r.body == b""
    assert r.header("Access-Control-Allow-Origin") == APP
    assert r.header("Access-Control-Allow-Methods") == "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS"
    assert r.header("Access-Control-Allow-Headers") == "authorization, x-req, content-type"
    assert r.header("Access-Control-Max-Age") == "120"
    assert r.header("Access-Control-Allow-Credentials") is None
    assert "Origin" in hdr_all(r.headers, "Vary")
    # a protected path, no token, and still never forwarded
    assert reached(upstream, "items-pf1") == []


def test_preflight_keeps_the_connection_open(gateway, upstream):
    gw = gateway(PROTECTED)
    c = gw.raw()
    for i in range(3):
        c.send("OPTIONS /api/ka-%d HTTP/1.1\r\nHost: gw.test\r\nOrigin: %s\r\n"
               "Access-Control-Request-Method: GET\r\n\r\n" % (i, APP))
        assert c.read_response("OPTIONS").status == 200
    c.send("GET /echo/after HTTP/1.1\r\nHost: gw.test\r\n\r\n")
    assert c.read_response().status == 200


@pytest.mark.parametrize("origin,method,headers,detail", [
    ("https://evil.test", "PUT", None, "Disallowed CORS origin"),
    (APP + "/", "PUT", None, "Disallowed CORS origin"),
    ("http://app.example.com", "PUT", None, "Disallowed CORS origin"),
    (APP, "PROPFIND", None, "Disallowed CORS method"),
    (APP, "PUT", "x-req, x-secret", "Disallowed CORS headers"),
    ("https://evil.test", "PROPFIND", "x-secret", "Disallowed CORS origin, method, headers"),
])
def test_preflight_refused_400(gateway, upstream, origin, method, headers, detail):
    gw = gateway(PROTECTED)
    r = preflight(gw, "/api/refused-pf", origin=origin, method=method, headers=headers)
    assert r.status == 400, r
    assert r.header("Content-Type") == "application/json"
    assert r.json() == {"detail": detail}
    assert r.header("Access-Control-Allow-Origin") is None
    assert reached(upstream, "refused-pf") == []


def test_options_without_request_method_is_not_a_preflight(gateway, upstream):
    gw = gateway(PROTECTED)
    r = req(gw, "OPTIONS", "/echo/plain-options", "Origin: " + APP)
    assert r.status == 200
    assert reached(upstream, "plain-options"), "a plain OPTIONS is forwarded"
    assert r.header("Access-Control-Allow-Origin") == APP
    # and on a protected path it needs a token like any request
    r = req(gw, "OPTIONS", "/api/plain-options", "Origin: " + APP)
    assert r.status == 401


def test_preflight_to_the_gateways_own_endpoints(gateway, upstream):
    gw = gateway(PROTECTED)
    r = preflight(gw, "/auth/health", method="GET")
    assert r.status == 200 and r.header("Access-Control-Allow-Origin") == APP


# ---------------------------------------------------------------- actual requests

def test_actual_request_gets_cors_lines(gateway, upstream):
    gw = gateway(PROTECTED)
    r = req(gw, "GET", "/echo/actual", "Origin: http://localhost:3000")
    assert r.status == 200
    assert r.header("Access-Control-Allow-Origin") == "http://localhost:3000"
    assert r.header("Access-Control-Expose-Headers") == "X-Total"
    assert r.header("Access-Control-Allow-Credentials") is None
    assert "Origin" in hdr_all(r.headers, "Vary")
    # the Origin still goes upstream: the application may want it
    rec = reached(upstream, "/echo/actual")[0]
    assert ["Origin", "http://localhost:3000"] in rec["headers"]


def test_401_from_the_gateway_is_readable(gateway, upstream):
    gw = gateway(PROTECTED)
    r = req(gw, "GET", "/api/needs-token", "Origin: " + APP)
    assert r.status == 401
    assert r.json() == {"detail": "Unauthorized Access Token"}
    assert r.header("WWW-Authenticate", "").startswith("Bearer")
    assert r.header("Access-Control-Allow-Origin") == APP
    assert r.header("Access-Control-Expose-Headers") == "X-Total"
    assert "Origin" in hdr_all(r.headers, "Vary")
    assert reached(upstream, "needs-token") == []


def test_gateway_errors_are_readable(gateway, upstream):
    gw = gateway(dict(PROTECTED, **{"max-body-size": 10}))
    r = req(gw, "POST", "/echo/big", "Origin: " + APP, body=b"x" * 100)
    assert r.status == 413
    assert r.header("Access-Control-Allow-Origin") == APP
    r = req(gw, "GET", "/auth/nothing", "Origin: " + APP)
    assert r.status == 404 and r.header("Access-Control-Allow-Origin") == APP
    r = req(gw, "POST", "/auth/health", "Origin: " + APP)
    assert r.status == 405
    assert r.header("Allow") == "GET, HEAD"
    assert r.header("Access-Control-Allow-Origin") == APP


def test_disallowed_or_missing_origin_changes_nothing(gateway, upstream):
    gw = gateway(PROTECTED)
    for lines in (["Origin: https://evil.test"], [], ["Origin: " + APP, "Origin: " + APP]):
        r = req(gw, "GET", "/echo/nothing", *lines)
        assert r.status == 200 and cors_fields(r) == {}, (lines, r)
        r = req(gw, "GET", "/api/nothing", *lines)
        assert r.status == 401 and cors_fields(r) == {}, (lines, r)


def test_credentials_mode(gateway, upstream):
    gw = gateway({"cors": dict(CORS, **{"allow-credentials": True})})
    r = preflight(gw, "/echo/cred", headers="x-req")
    assert r.status == 200
    assert r.header("Access-Control-Allow-Origin") == APP
    assert r.header("Access-Control-Allow-Credentials") == "true"
    r = req(gw, "GET", "/echo/cred", "Origin: " + APP, "Cookie: a=b")
    assert r.header("Access-Control-Allow-Origin") == APP
    assert r.header("Access-Control-Allow-Credentials") == "true"


def test_star_mode(gateway, upstream):
    gw = gateway({"cors": {"allow-origins": ["*"], "allow-headers": ["*"]}})
    r = preflight(gw, "/echo/star", origin="https://anyone.test", headers="X-Anything")
    assert r.status == 200
    assert r.header("Access-Control-Allow-Origin") == "*"
    assert r.header("Access-Control-Allow-Headers") == "x-anything"
    assert r.header("Access-Control-Allow-Credentials") is None
    r = req(gw, "GET", "/echo/star", "Origin: https://anyone.test")
    assert r.header("Access-Control-Allow-Origin") == "*"
    r = req(gw, "GET", "/echo/star")
    assert cors_fields(r) == {}


def test_star_with_credentials_refused_at_load(tmp_path):
    import json
    import subprocess
    from conftest import AUTHGATE_BIN, make_config
    cfg = make_config({"cors": {"allow-origins": ["*"], "allow-credentials": True}},
                      "http://127.0.0.1:9")
    p = tmp_path / "c.json"
    p.write_text(json.dumps(cfg))
    out = subprocess.run([str(AUTHGATE_BIN), "check", "--config", str(p)],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode != 0
    assert "cors.allow-credentials: cannot be true" in out.stdout + out.stderr


# ---------------------------------------------------------------- the upstream's own CORS lines

@contextlib.contextmanager
def cors_upstream():
    """An upstream that answers every request with its own (wrong) CORS lines."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                c, _ = srv.accept()
            except OSError:
                return
            with c:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = c.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                          b"Access-Control-Allow-Origin: https://evil.test\r\n"
                          b"Access-Control-Allow-Credentials: true\r\n"
                          b"Access-Control-Expose-Headers: X-Secret\r\n"
                          b"Vary: Accept-Encoding\r\nConnection: close\r\n\r\nok")

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield "http://127.0.0.1:%d" % srv.getsockname()[1]
    finally:
        stop.set()
        srv.close()


def test_gateway_lines_replace_the_upstreams(gateway):
    with cors_upstream() as url:
        gw = gateway(PROTECTED, upstream=url)
        r = req(gw, "GET", "/x", "Origin: " + APP)
        assert r.status == 200 and r.body == b"ok"
        assert hdr_all(r.headers, "Access-Control-Allow-Origin") == [APP]
        assert hdr_all(r.headers, "Access-Control-Allow-Credentials") == []
        assert hdr_all(r.headers, "Access-Control-Expose-Headers") == ["X-Total"]
        assert sorted(hdr_all(r.headers, "Vary")) == ["Accept-Encoding", "Origin"]
        # no allowed Origin: the upstream's answer passes untouched
        r = req(gw, "GET", "/x")
        assert hdr_all(r.headers, "Access-Control-Allow-Origin") == ["https://evil.test"]
