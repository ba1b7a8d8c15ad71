"""Headers the gateway removes, keeps, sets and adds (CONTRACT.md sections 3, 6 and 9)."""

import pytest

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
    e = echo(gw, "X-Gateway: spoof\r\nx-gateway: spoof2\r\nX_Gateway: spoof3\r\n"
                 "x.gateway: spoof4\r\n")
    # every spelling a CGI/WSGI upstream folds to HTTP_X_GATEWAY (docs/request-lifecycle.md)
    got = [(k, v) for k, v in e["headers"]
           if k.lower().replace("_", "-").replace(".", "-") == "x-gateway"]
    assert got == [("X-Gateway", "authgate")], e["headers"]


# ---------------------------------------------------------------- issue 9: names the client does not get to pass on

TRUSTED = {"trusted-proxies": ["127.0.0.1"]}         # the test client is the trusted proxy
UNTRUSTED = {"trusted-proxies": ["10.0.0.0/8"]}      # a list, but the test client is not in it


def fold(name):
    return name.lower().replace("_", "-").replace(".", "-")


def folded(e, name):
    """Every field the upstream got whose name folds to <name> (any case, '_' '.' for '-')."""
    return [(k, v) for k, v in e["headers"] if fold(k) == name]


def test_framing_header_spellings_never_forwarded(upstream, gateway):
    """CONTRACT 6: a CGI/WSGI upstream reads Content_Length as Content-Length and would
    frame the body differently from the gateway."""
    gw = gateway()
    c = gw.raw()
    c.send(b"POST /echo/f HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 3\r\n"
           b"Content_Length: 100\r\nTransfer_Encoding: chunked\r\ncontent.length: 7\r\n"
           b"Transfer.Encoding: chunked\r\nCONTENT_LENGTH: 9\r\n\r\nabc")
    e = c.read_response().json()
    assert e["body_len"] == 3
    assert folded(e, "content-length") == [("Content-Length", "3")], e["headers"]
    assert folded(e, "transfer-encoding") == [], e["headers"]
    # no body at all: no framing field of any spelling
    e = echo(gw, "Content_Length: 5\r\nTransfer_Encoding: chunked\r\n")
    assert folded(e, "content-length") == [] and folded(e, "transfer-encoding") == [], e["headers"]


def test_connection_cannot_remove_host_framing_or_forwarded_headers(upstream, gateway):
    """CONTRACT 6: Connection names only hop-by-hop options; the gateway's own fields stay."""
    gw = gateway()
    c = gw.raw()
    c.send(b"POST /echo/c HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 3\r\n"
           b"Connection: Host, Content-Length, X-Forwarded-For, x-forwarded-proto, "
           b"X_Forwarded_Host, X-Auth-Subject, X-Custom\r\n"
           b"X-Forwarded-For: 1.2.3.4\r\nX-Custom: dropped\r\n\r\nabc")
    e = c.read_response().json()
    assert e["body_len"] == 3
    assert hdr_all(e["headers"], "host") == ["gw.test"], e["headers"]
    assert hdr_all(e["headers"], "content-length") == ["3"], e["headers"]
    assert hdr_all(e["headers"], "x-forwarded-for") == ["1.2.3.4, 127.0.0.1"], e["headers"]
    assert hdr_all(e["headers"], "x-forwarded-proto") == ["http"], e["headers"]
    assert hdr_all(e["headers"], "x-forwarded-host") == ["gw.test"], e["headers"]
    assert hdr_all(e["headers"], "x-custom") == [], e["headers"]


def test_connection_cannot_remove_trusted_proxy_fields(upstream, gateway):
    gw = gateway(TRUSTED)
    e = echo(gw, "Connection: X-Forwarded-Proto, X-Real-IP\r\nX-Forwarded-Proto: https\r\n"
                 "X-Real-IP: 203.0.113.7\r\n")
    assert hdr_all(e["headers"], "x-forwarded-proto") == ["https"], e["headers"]
    assert hdr_all(e["headers"], "x-real-ip") == ["203.0.113.7"], e["headers"]


def test_forwarded_proto_and_host_from_untrusted_peer_overwritten(upstream, gateway):
    gw = gateway(UNTRUSTED)
    e = echo(gw, "X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.test\r\n", host="front.example.test")
    assert hdr_all(e["headers"], "x-forwarded-proto") == ["http"], e["headers"]
    assert hdr_all(e["headers"], "x-forwarded-host") == ["front.example.test"], e["headers"]


def test_forwarded_proto_and_host_from_trusted_proxy_kept(upstream, gateway):
    """Behind a TLS terminator in trusted-proxies the upstream learns https and the public host."""
    gw = gateway(TRUSTED)
    e = echo(gw, "X-Forwarded-Proto: https\r\nX-Forwarded-Host: www.example.test:8443\r\n",
             host="backend.internal")
    assert folded(e, "x-forwarded-proto") == [("X-Forwarded-Proto", "https")], e["headers"]
    assert folded(e, "x-forwarded-host") == [("X-Forwarded-Host", "www.example.test:8443")], e["headers"]
    assert hdr_all(e["headers"], "host") == ["backend.internal"]
    e = echo(gw, "X-Forwarded-Proto: HTTP\r\n", host="backend.internal")
    assert folded(e, "x-forwarded-proto") == [("X-Forwarded-Proto", "http")], e["headers"]
    assert folded(e, "x-forwarded-host") == [("X-Forwarded-Host", "backend.internal")], e["headers"]


@pytest.mark.parametrize("extra", [
    "X-Forwarded-Proto: ftp\r\nX-Forwarded-Host: evil.test/x\r\n",            # invalid values
    "X-Forwarded-Proto: https, http\r\nX-Forwarded-Host: a.test, b.test\r\n",  # lists
    "X-Forwarded-Proto: https\r\nX-Forwarded-Proto: https\r\n"                 # repeated fields
    "X-Forwarded-Host: a.test\r\nX-Forwarded-Host: a.test\r\n",
    "X_Forwarded_Proto: https\r\nX.Forwarded.Host: evil.test\r\n",            # other spellings
])
def test_forwarded_proto_and_host_from_trusted_proxy_validated(upstream, gateway, extra):
    """A trusted proxy's value is taken only when it is one valid value; else the gateway's."""
    gw = gateway(TRUSTED)
    e = echo(gw, extra, host="front.example.test")
    assert folded(e, "x-forwarded-proto") == [("X-Forwarded-Proto", "http")], e["headers"]
    assert folded(e, "x-forwarded-host") == [("X-Forwarded-Host", "front.example.test")], e["headers"]


METHOD_OVERRIDE = ("X-HTTP-Method-Override", "x_http_method_override", "X.HTTP.Method.Override",
                   "X-HTTP-Method", "x_http_method", "X-Method-Override", "X_METHOD_OVERRIDE",
                   "x-method.override")


@pytest.mark.parametrize("cfg", [UNTRUSTED, TRUSTED], ids=["untrusted", "trusted"])
def test_method_override_headers_stripped(upstream, gateway, cfg):
    """The method judged by the rules is the method the upstream acts on: a POST passes a
    rule limited to DELETE, so it must not reach the upstream asking to be a DELETE."""
    gw = gateway(dict(cfg, **{"master-token": "headers-test-master-token-0123456789",
                              "rules": [{"prefix": "/orders", "methods": ["DELETE"],
                                         "auth": "master"}]}))
    extra = "".join("%s: DELETE\r\n" % n for n in METHOD_OVERRIDE)
    c = gw.raw()
    c.send(b"POST /orders/7 HTTP/1.1\r\nHost: gw.test\r\n" + extra.encode()
           + b"Content-Length: 0\r\n\r\n")
    r = c.read_response()
    assert r.status == 200, r
    e = r.json()
    assert e["method"] == "POST"
    for n in ("x-http-method-override", "x-http-method", "x-method-override"):
        assert folded(e, n) == [], e["headers"]


ROUTING_NEVER = ("X-Original-URL", "X-Rewrite-URL", "X-Forwarded-Uri",
                 # scheme spellings read beside X-Forwarded-Proto: the gateway's is the answer
                 "X-Forwarded-Scheme", "X-Forwarded-Ssl", "Front-End-Https")
PROXY_FIELDS = {"X-Real-IP": "203.0.113.7", "Forwarded": "for=203.0.113.7;proto=https",
                "X-Forwarded-Port": "443", "X-Forwarded-Prefix": "/shop"}


def routing_request(names_values):
    return "".join("%s: %s\r\n" % nv for nv in names_values)


@pytest.mark.parametrize("cfg", [{}, UNTRUSTED], ids=["no-list", "untrusted"])
def test_routing_and_client_address_headers_stripped_from_clients(upstream, gateway, cfg):
    """IIS-style upstreams route on X-Original-URL / X-Rewrite-URL (authorised as /public,
    served as /admin); others take the client address or prefix from the rest."""
    gw = gateway(cfg)
    sent = [(n, "/admin/x") for n in ROUTING_NEVER]
    sent += [(n.replace("-", sep), "/admin/x") for n in ROUTING_NEVER for sep in "_."]
    sent += list(PROXY_FIELDS.items())
    sent += [(n.replace("-", "_").lower(), v) for n, v in PROXY_FIELDS.items()]
    sent += [("X.REAL.IP", "198.51.100.1")]
    e = echo(gw, routing_request(sent), path="/public/x")
    assert e["target"] == "/public/x"
    for n in ROUTING_NEVER + tuple(PROXY_FIELDS):
        assert folded(e, n.lower()) == [], e["headers"]


def test_routing_headers_from_trusted_proxy(upstream, gateway):
    """From a trusted proxy the client-address fields it sets are kept (canonical spelling,
    one valid value); X-Original-URL, X-Rewrite-URL and X-Forwarded-Uri never are."""
    gw = gateway(TRUSTED)
    sent = [(n, "/admin/x") for n in ROUTING_NEVER]
    sent += list(PROXY_FIELDS.items())
    sent += [("X_Real_IP", "198.51.100.1"), ("x.forwarded.port", "1"), ("X_Forwarded_Prefix", "/evil")]
    e = echo(gw, routing_request(sent), path="/public/x")
    for n in ROUTING_NEVER:
        assert folded(e, n.lower()) == [], e["headers"]
    for n, v in PROXY_FIELDS.items():
        assert folded(e, n.lower()) == [(n, v)], e["headers"]


@pytest.mark.parametrize("name,value", [
    ("X-Real-IP", "not-an-address"), ("X-Real-IP", "203.0.113.7, 10.0.0.1"),
    ("X-Forwarded-Port", "https"), ("X-Forwarded-Port", "70000"), ("X-Forwarded-Port", "0"),
    ("X-Forwarded-Prefix", "shop"), ("X-Forwarded-Prefix", "/a b"), ("Forwarded", ""),
])
def test_trusted_proxy_fields_with_bad_values_dropped(upstream, gateway, name, value):
    gw = gateway(TRUSTED)
    e = echo(gw, "%s: %s\r\n" % (name, value))
    assert folded(e, name.lower()) == [], e["headers"]


def test_trusted_proxy_fields_repeated_dropped(upstream, gateway):
    gw = gateway(TRUSTED)
    e = echo(gw, "X-Real-IP: 203.0.113.7\r\nX-Real-IP: 198.51.100.1\r\n"
                 "Forwarded: for=1.2.3.4\r\nforwarded: for=5.6.7.8\r\n")
    assert folded(e, "x-real-ip") == [] and folded(e, "forwarded") == [], e["headers"]


def test_configured_header_wins_over_trusted_proxy_field(upstream, gateway):
    """A `headers` entry replaces the client's field, a trusted proxy's included."""
    gw = gateway(dict(TRUSTED, headers={"X-Real-IP": "192.0.2.9", "Forwarded": "by=gateway"}))
    e = echo(gw, "X-Real-IP: 203.0.113.7\r\nForwarded: for=203.0.113.7\r\n")
    assert folded(e, "x-real-ip") == [("X-Real-IP", "192.0.2.9")], e["headers"]
    assert folded(e, "forwarded") == [("Forwarded", "by=gateway")], e["headers"]
