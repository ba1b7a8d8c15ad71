"""Keep-alive to clients, a connection pool to the upstream, pipelining (CONTRACT.md section 9)."""

import socket
import time

import requests

from conftest import simple_get


def test_several_requests_on_one_client_connection(upstream, gateway):
    gw = gateway()
    c = gw.raw()
    echoes = []
    for i in range(6):
        c.send(simple_get("/echo/seq?i=%d" % i))
        r = c.read_response()
        assert r.status == 200, r
        echoes.append(r.json())
        assert not c.eof
    assert [e["target"] for e in echoes] == ["/echo/seq?i=%d" % i for i in range(6)]
    conn_ids = [e["conn_id"] for e in echoes]
    # Sequential requests through one worker: the pool must hand back an idle connection.
    assert len(set(conn_ids)) < len(conn_ids), "no upstream connection was reused: %r" % conn_ids
    assert max(e["requests_on_conn"] for e in echoes) > 1


def test_pipelined_requests_answered_in_order(upstream, gateway):
    gw = gateway()
    c = gw.raw()
    c.send(simple_get("/echo/p?i=1")
           + b"POST /echo/p?i=2 HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 5\r\n\r\nhello"
           + b"GET /bytes?n=1000&chunked=1 HTTP/1.1\r\nHost: gw.test\r\n\r\n"
           + simple_get("/echo/p?i=4"))
    r1, r2, r3, r4 = (c.read_response() for _ in range(4))
    assert r1.status == 200 and r1.json()["target"] == "/echo/p?i=1"
    assert r2.status == 200 and r2.json()["target"] == "/echo/p?i=2" and r2.json()["body_len"] == 5
    assert r3.status == 200 and len(r3.body) == 1000
    assert r4.status == 200 and r4.json()["target"] == "/echo/p?i=4"
    assert [x["target"] for x in upstream.requests()] == ["/echo/p?i=1", "/echo/p?i=2",
                                                         "/bytes?n=1000&chunked=1", "/echo/p?i=4"]


def test_an_uncounted_crlf_after_a_body_is_skipped(upstream, gateway):
    """RFC 9112 s.2.2: a CRLF a client sends after a body it did not count (old browsers
    after a POST) is an empty line before the next request line: ignored, the next request
    is answered on the same connection."""
    gw = gateway()
    c = gw.raw()
    c.send(b"POST /echo/k?i=1 HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 5\r\n\r\nhello\r\n")
    r1 = c.read_response()
    assert r1.status == 200 and r1.json()["body_len"] == 5
    c.send(simple_get("/echo/k?i=2"))
    r2 = c.read_response()
    assert r2.status == 200 and r2.json()["target"] == "/echo/k?i=2"
    assert [x["target"] for x in upstream.requests()] == ["/echo/k?i=1", "/echo/k?i=2"]


def test_pipelined_with_slow_first_request(upstream, gateway):
    """A slow first answer must not let the second overtake it."""
    gw = gateway()
    c = gw.raw()
    c.send(simple_get("/slow?delay=0.5") + simple_get("/echo/after"))
    r1 = c.read_response()
    r2 = c.read_response()
    assert r1.json()["target"] == "/slow?delay=0.5"
    assert r2.json()["target"] == "/echo/after"


def test_connection_close_from_client(upstream, gateway):
    gw = gateway()
    c = gw.raw()
    c.send(simple_get("/echo/close", extra="Connection: close\r\n"))
    r = c.read_response()
    assert r.status == 200
    assert c.closed(3), "gateway kept the connection open after Connection: close"


def test_http10_closes_by_default(upstream, gateway):
    gw = gateway()
    c = gw.raw()
    c.send(b"GET /echo/ten HTTP/1.0\r\nHost: gw.test\r\n\r\n")
    r = c.read_response()
    assert r.status == 200
    assert c.closed(3)


def test_idle_client_connection_closed_after_keepalive_timeout(upstream, gateway):
    gw = gateway({"keepalive-timeout": 1})
    c = gw.raw()
    c.send(simple_get("/echo/idle"))
    assert c.read_response().status == 200
    t0 = time.monotonic()
    assert c.closed(5), "idle connection still open 5 s after keepalive-timeout 1"
    assert time.monotonic() - t0 < 4


def test_upstream_closing_its_side_does_not_break_next_request(upstream, gateway):
    """The upstream closes after each answer: the pool must not hand out the dead connection.

    (The gateway may re-frame the close-delimited body for the client or close the client
    connection too; requests reconnects if so.)"""
    gw = gateway()
    with requests.Session() as s:
        for i in range(3):
            r = s.get(gw.url + "/bytes?n=10&close=1", timeout=10)
            assert r.status_code == 200 and len(r.content) == 10
            r = s.get(gw.url + "/echo/after-close", timeout=10)
            assert r.status_code == 200
    ids = [x["conn_id"] for x in upstream.requests()]
    for i in range(0, len(ids), 2):
        assert ids[i] not in ids[i + 1:], "a closed upstream connection was reused: %r" % ids


def test_pooled_connection_closed_by_upstream_while_idle(upstream, gateway):
    """The upstream hangs up an idle keep-alive connection (its own keep-alive timeout,
    no Connection: close): the next request must not fail on the dead pooled connection."""
    gw = gateway()
    c = gw.raw()
    for i in range(4):
        c.send(simple_get("/echo/idle-close?idle_close=0.2&i=%d" % i))
        r = c.read_response()
        assert r.status == 200, "request %d after the upstream closed its idle side: %r" % (i, r)
        time.sleep(0.6)
    ids = [x["conn_id"] for x in upstream.requests()]
    assert len(set(ids)) == 4, ids


def test_half_closed_client_gets_every_pipelined_answer(upstream, gateway):
    """Two pipelined requests, then shutdown(SHUT_WR): every complete request received
    is answered before the close (as nginx does), in order."""
    gw = gateway()
    c = gw.raw()
    c.send(simple_get("/echo/hc?i=1")
           + b"POST /echo/hc?i=2 HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 5\r\n\r\nhello"
           + simple_get("/echo/hc?i=3"))
    c.sock.shutdown(socket.SHUT_WR)
    r1, r2, r3 = (c.read_response() for _ in range(3))
    assert r1.status == 200 and r1.json()["target"] == "/echo/hc?i=1", r1
    assert r2.status == 200 and r2.json()["target"] == "/echo/hc?i=2", r2
    assert r2.json()["body_len"] == 5
    assert r3.status == 200 and r3.json()["target"] == "/echo/hc?i=3", r3
    assert c.closed(3)


def test_half_closed_client_gets_gateway_made_answers_too(upstream, gateway):
    """The same with answers the gateway makes itself (a 404 under auth-prefix, a 405)."""
    gw = gateway()
    c = gw.raw()
    c.send(simple_get("/auth/nowhere") + b"TRACE /echo HTTP/1.1\r\nHost: gw.test\r\n\r\n"
           + simple_get("/echo/hc-last"))
    c.sock.shutdown(socket.SHUT_WR)
    r1, r2, r3 = (c.read_response() for _ in range(3))
    assert (r1.status, r2.status, r3.status) == (404, 405, 200), (r1, r2, r3)
    assert r3.json()["target"] == "/echo/hc-last", r3
    assert c.closed(3)
