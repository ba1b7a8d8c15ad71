"""Headers the gateway removes, keeps, sets and adds (CONTRACT.md sections 3, 6 and 9)."""

from conftest import hdr_all, simple_get

HOP_BY_HOP = ("keep-alive", "te", "trailer", "upgrade", "proxy-connection", "x-custom-hop",
              "x-other-hop")
IDENTITY = ("x-auth-subject", "x-auth-client-id", "x-auth-scopes", "x-auth-roles")


def echo(gw, extra, path="/echo/h", host="gw.test"):
    c = gw.raw()
    c.send(simple_get(path, host=host, extra=extra))
    r = c.read_response()
    assert r.status == 200, r
    return r.json()


def names(e):
    return [k.lower() for k, _ in e["headers"]]


def test_hop_by_hop_request_headers_removed(upstream, gateway):
    gw = gateway()
    e = echo(gw, "Connection: keep-alive, X-Custom-Hop, x-other-hop\r\n"
                 "Keep-Alive: timeout=5\r\nTE: trailers\r\nTrailer: X-Tr\r\n"
                 "Upgrade: h2c\r\nProxy-Connection: keep-alive\r\n"
                 "X-Custom-Hop: secret\r\nX-Other-Hop: secret2\r\nX-Normal: kept\r\n")
    for name in HOP_BY_HOP:
        assert name not in names(e), "%s forwarded: %r" % (name, e["headers"])
    # The gateway may write its own Connection header for its upstream hop, but none of
    # the client's connection options may leak through it.
    for v in hdr_all(e["headers"], "connection"):
        assert v.strip().lower() in ("keep-alive", "close"), e["headers"]
    assert hdr_all(e["headers"], "x-normal") == ["kept"]


def test_hop_by_hop_response_headers_removed(upstream, gateway):
    gw = gateway()
    c = gw.raw()
    c.send(simple_get("/hop-response"))
    r = c.read_response()
    assert r.status == 200
    got = [k.lower() for k, _ in r.headers]
    assert "x-up-hop" not in got, r.headers
    assert "proxy-connection" not in got and "trailer" not in got and "upgrade" not in got, r.headers
    assert r.header("keep-alive") != "timeout=99", r.headers
    for v in hdr_all(r.headers, "connection"):
        assert "x-up-hop" not in v.lower(), r.headers
    assert r.header("x-up-normal") == "kept"


def test_host_kept(upstream, gateway):
    gw = gateway()
    e = echo(gw, "", host="app.example.test:8443")
    assert hdr_all(e["headers"], "host") == ["app.example.test:8443"]


def test_x_forwarded_for_appended(upstream, gateway):
    gw = gateway()
    e = echo(gw, "X-Forwarded-For: 1.2.3.4\r\n")
    assert hdr_all(e["headers"], "x-forwarded-for") == ["1.2.3.4, 127.0.0.1"]


def test_x_forwarded_for_set_when_absent(upstream, gateway):
    gw = gateway()
    e = echo(gw, "")
    assert hdr_all(e["headers"], "x-forwarded-for") == ["127.0.0.1"]


def test_x_forwarded_proto_and_host_set(upstream, gateway):
    gw = gateway()
    e = echo(gw, "", host="front.example.test")
    assert hdr_all(e["headers"], "x-forwarded-proto") == ["http"]
    assert hdr_all(e["headers"], "x-forwarded-host") == ["front.example.test"]


def test_client_x_forwarded_proto_and_host_overwritten(upstream, gateway):
    """CONTRACT 6: the X-Forwarded-* fields are set by the gateway, not passed through."""
    gw = gateway()
    e = echo(gw, "X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.test\r\n", host="front.example.test")
    assert hdr_all(e["headers"], "x-forwarded-proto") == ["http"]
    assert hdr_all(e["headers"], "x-forwarded-host") == ["front.example.test"]


def test_config_headers_added(upstream, gateway):
    gw = gateway({"headers": {"X-Gateway": "authgate", "X-Env": "integration test"}})
    e = echo(gw, "")
    assert hdr_all(e["headers"], "x-gateway") == ["authgate"]
    assert hdr_all(e["headers"], "x-env") == ["integration test"]
    e = echo(gw, "", path="/echo/other")  # every request, not just the first
    assert hdr_all(e["headers"], "x-gateway") == ["authgate"]


def test_identity_headers_stripped_in_every_spelling(upstream, gateway):
    gw = gateway()
    spoof = ("X-Auth-Subject: admin\r\nx-auth-subject: admin2\r\nX_Auth_Subject: admin3\r\n"
             "X.Auth.Roles: superuser\r\nX-AUTH-CLIENT-ID: c\r\nx_auth_client_id: c2\r\n"
             "X-Auth-Scopes: all\r\nx.auth.scopes: all2\r\nX-Auth_Roles: mixed\r\n"
             "X-Auth-Other: kept\r\n")
    e = echo(gw, spoof)
    for k, _ in e["headers"]:
        norm = k.lower().replace("_", "-").replace(".", "-")
        assert norm not in IDENTITY, "identity header %r reached the upstream" % k
    assert hdr_all(e["headers"], "x-auth-other") == ["kept"]


def test_identity_headers_stripped_on_post_with_body(upstream, gateway):
    gw = gateway()
    c = gw.raw()
    c.send(b"POST /echo/p HTTP/1.1\r\nHost: gw.test\r\nX_Auth_Subject: root\r\n"
           b"Content-Length: 3\r\n\r\nabc")
    e = c.read_response().json()
    assert e["body_len"] == 3
    assert not any(k.lower().replace("_", "-") == "x-auth-subject" for k, _ in e["headers"])


def test_exactly_one_framing_header_upstream(upstream, gateway):
    """Baseline 4: the upstream request carries exactly one framing header, written by the gateway."""
    gw = gateway()
    c = gw.raw()
    c.send(b"POST /echo/f HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"3;ext=v\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n")
    e = c.read_response().json()
    framing = [k.lower() for k in names(e) if k in ("content-length", "transfer-encoding")]
    assert len(framing) == 1, e["headers"]
    assert e["body_len"] == 3 and not e["chunk_extensions"]


def test_other_headers_forwarded_verbatim(upstream, gateway):
    gw = gateway()
    e = echo(gw, "X-Mixed-Case: Value With  Spaces\r\nAccept: */*\r\nCookie: theme=dark\r\n")
    assert hdr_all(e["headers"], "x-mixed-case") == ["Value With  Spaces"]
    assert hdr_all(e["headers"], "accept") == ["*/*"]
    assert hdr_all(e["headers"], "cookie") == ["theme=dark"]


def test_several_x_forwarded_for_fields_combined_in_order(upstream, gateway):
    gw = gateway()
    e = echo(gw, "X-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2, 3.3.3.3\r\n")
    assert hdr_all(e["headers"], "x-forwarded-for") == ["1.1.1.1, 2.2.2.2, 3.3.3.3, 127.0.0.1"]


def test_config_header_not_spoofable_by_client(upstream, gateway):
    """A config header is often how the upstream knows a request came through the
    gateway; a client-sent field of the same name must not reach the upstream beside it
    (contract section 3 says "added"; an upstream reading the first value would see the
    client's)."""
    gw = gateway({"headers": {"X-Gateway": "authgate"}})
    e = echo(gw, "X-Gateway: spoof\r\nx-gateway: spoof2\r\n")
    assert hdr_all(e["headers"], "x-gateway") == ["authgate"], e["headers"]
