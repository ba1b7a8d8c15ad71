"""Desync attempts: bytes the gateway did not forward must never be parsed as a new
request (SECURITY-BASELINE 6), and Expect: 100-continue (baseline 11)."""

import time

from conftest import RawConn, assert_json_error, simple_get

SMUGGLED = b"GET /echo/smuggled HTTP/1.1\r\nHost: gw.test\r\n\r\n"
CONFIG = {"max-body-size": 1000}


def body_with_smuggled(total):
    return SMUGGLED + b"x" * (total - len(SMUGGLED))


def drain_answers(c, wait=1.0):
    """Every further response the gateway sends on <c> within <wait> s."""
    out = []
    while not c.closed(wait):
        out.append(c.read_response(timeout=wait))
    return out


def assert_never_smuggled(upstream):
    time.sleep(0.3)
    targets = [r["target"] for r in upstream.requests()]
    assert "/echo/smuggled" not in targets, targets


def test_413_body_never_parsed_as_request(upstream, gateway):
    gw = gateway(CONFIG)
    c = gw.raw()
    c.send(b"POST /echo/big HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 5000\r\n\r\n"
           + body_with_smuggled(5000))
    assert_json_error(c.read_response(), 413)
    assert drain_answers(c) == []
    assert_never_smuggled(upstream)


def test_bad_path_body_never_parsed_as_request(upstream, gateway):
    gw = gateway(CONFIG)
    c = gw.raw()
    c.send(b"POST /a%2fb HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 200\r\n\r\n" + body_with_smuggled(200))
    assert_json_error(c.read_response(), 400)
    assert drain_answers(c) == []
    assert_never_smuggled(upstream)


def test_gateway_endpoint_body_never_parsed_as_request(upstream, gateway):
    gw = gateway(CONFIG)
    c = gw.raw()
    c.send(b"POST /auth/whatever HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 200\r\n\r\n"
           + body_with_smuggled(200))
    assert_json_error(c.read_response(), 404)
    extra = drain_answers(c)
    assert extra == [], extra
    assert_never_smuggled(upstream)


def test_gateway_endpoint_with_body_then_next_request(upstream, gateway):
    """After answering a request itself, the gateway skips exactly its body (or closes)."""
    gw = gateway(CONFIG)
    c = gw.raw()
    c.send(b"POST /auth/whatever HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 10\r\n\r\n0123456789"
           + simple_get("/echo/next"))
    assert_json_error(c.read_response(), 404)
    if not c.closed(0.5):
        r = c.read_response()
        assert r.status == 200 and r.json()["target"] == "/echo/next"


def test_pipelined_after_refused_request_not_misparsed(upstream, gateway):
    gw = gateway(CONFIG)
    c = gw.raw()
    c.send(simple_get("/a%2fb") + simple_get("/echo/second"))
    assert_json_error(c.read_response(), 400)
    if not c.closed(0.5):
        r = c.read_response()
        assert r.status == 200 and r.json()["target"] == "/echo/second"
    assert [r["target"] for r in upstream.requests()] in ([], ["/echo/second"])


def test_cl_te_smuggling_refused(upstream, gateway):
    gw = gateway(CONFIG)
    c = gw.raw()
    body = b"0\r\n\r\n" + SMUGGLED
    c.send(b"POST /echo/front HTTP/1.1\r\nHost: gw.test\r\nContent-Length: %d\r\n"
           b"Transfer-Encoding: chunked\r\n\r\n" % len(body) + body)
    assert_json_error(c.read_response(), 400)
    assert c.closed(3)
    assert_never_smuggled(upstream)
    assert upstream.requests() == []


def test_te_with_http10_not_smuggled(upstream, gateway):
    """A chunked body on HTTP/1.0 is faulty framing (RFC 9112 6.1): refused, or decoded as chunked."""
    gw = gateway(CONFIG)
    c = gw.raw()
    c.send(b"POST /echo/ten HTTP/1.0\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"0\r\n\r\n" + SMUGGLED)
    r = c.read_response()
    assert r.status in (200, 400, 501), r
    drain_answers(c)
    assert_never_smuggled(upstream)


def test_expect_100_continue(upstream, gateway):
    gw = gateway(CONFIG)
    c = gw.raw()
    c.send(b"POST /echo/expect HTTP/1.1\r\nHost: gw.test\r\nExpect: 100-continue\r\n"
           b"Content-Length: 5\r\n\r\n")
    # Either a 100 Continue comes, or nothing until the body is sent; both are fine.
    interim = None
    if not c.closed(1.0) and c.buf:
        interim = c.read_response(skip_1xx=False, timeout=2)
        assert interim.status == 100, interim
    c.send(b"hello")
    r = c.read_response()
    assert r.status == 200 and r.json()["body_len"] == 5
    c.send(simple_get("/echo/after-expect"))
    r = c.read_response()
    assert r.status == 200 and r.json()["target"] == "/echo/after-expect"


def test_expect_100_continue_on_refused_request_gets_final_answer(upstream, gateway):
    """Baseline 11: a request refused before forwarding gets its final status, not 100."""
    gw = gateway(CONFIG)
    c = gw.raw()
    c.send(b"POST /auth/whatever HTTP/1.1\r\nHost: gw.test\r\nExpect: 100-continue\r\n"
           b"Content-Length: 5\r\n\r\n")
    r = c.read_response(skip_1xx=False, timeout=3)
    assert_json_error(r, 404)


def test_expect_100_continue_too_large_413_without_body(upstream, gateway):
    gw = gateway(CONFIG)
    with RawConn(gw.port) as c:
        c.send(b"POST /echo/x HTTP/1.1\r\nHost: gw.test\r\nExpect: 100-continue\r\n"
               b"Content-Length: 5000\r\n\r\n")
        r = c.read_response(skip_1xx=False, timeout=3)
        assert_json_error(r, 413)
    assert upstream.requests() == []
