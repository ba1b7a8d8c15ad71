"""Client and upstream timeouts from the config (docs/config.md "Timeouts and limits")."""

import socket
import time

from conftest import RawConn, assert_json_error, simple_get


def closes_within(c, seconds):
    """Waits for the gateway to end <c>; tolerates one error response (408) first."""
    t0 = time.monotonic()
    if not c.closed(seconds):
        r = c.read_response(timeout=1)
        if r.status != 408:
            raise AssertionError("unexpected answer to a stalled request: %r" % r)
        assert_json_error(r, 408)
        assert c.closed(2)
    return time.monotonic() - t0


def test_slow_head_closed_after_client_header_timeout(upstream, gateway):
    gw = gateway({"client-header-timeout": 1})
    c = gw.raw(timeout=10)
    c.send(b"GET /echo/slowloris HTTP/1.1\r\nHost: gw.test\r\nX-A: ")
    elapsed = closes_within(c, 5)
    assert elapsed < 4, elapsed
    assert upstream.requests() == []


def test_trickled_head_still_bounded_by_client_header_timeout(upstream, gateway):
    """The head timeout covers the whole head, not the gap between bytes."""
    gw = gateway({"client-header-timeout": 2})
    c = gw.raw(timeout=10)
    c.send(b"GET /echo/trickle HTTP/1.1\r\nHost: gw.test\r\n")
    t0 = time.monotonic()
    ended = False
    for i in range(16):  # one header every 0.4 s: ~6.4 s in all if never cut off
        try:
            c.send(b"X-T%d: v\r\n" % i)
        except OSError:
            ended = True
            break
        if c.closed(0.4) or c.buf:  # closed, or an answer (408) arrived
            ended = True
            break
    assert ended, "head trickled for %.1f s without being cut off" % (time.monotonic() - t0)
    assert time.monotonic() - t0 < 4.5
    if c.buf:
        assert_json_error(c.read_response(timeout=2), 408)
        assert c.closed(2)
    assert upstream.requests(complete_only=True) == []


def test_stalled_body_closed_after_client_timeout(upstream, gateway):
    gw = gateway({"client-timeout": 1})
    c = gw.raw(timeout=10)
    c.send(b"POST /echo/stall HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 100\r\n\r\n0123456789")
    elapsed = closes_within(c, 6)
    assert elapsed < 5, elapsed
    assert upstream.requests(complete_only=True) == []


def test_upstream_connect_bounded_by_upstream_connect_timeout(gateway):
    """An upstream whose accept queue is full drops SYNs: connect() hangs until the
    gateway's upstream-connect-timeout (then 502 or 504)."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(0)
    port = lsock.getsockname()[1]
    fillers = []
    for _ in range(3):  # fill the accept queue (never accepted)
        f = socket.socket()
        f.setblocking(False)
        f.connect_ex(("127.0.0.1", port))
        fillers.append(f)
    time.sleep(0.2)
    try:
        gw = gateway({"upstream": "http://127.0.0.1:%d" % port, "upstream-connect-timeout": 1,
                      "upstream-timeout": 30})
        c = gw.raw(timeout=10)
        t0 = time.monotonic()
        c.send(simple_get("/echo"))
        assert_json_error(c.read_response(timeout=8), (502, 504))
        assert time.monotonic() - t0 < 4
    finally:
        for f in fillers:
            f.close()
        lsock.close()


def test_connection_usable_between_slow_requests_within_keepalive(upstream, gateway):
    gw = gateway({"keepalive-timeout": 3})
    with RawConn(gw.port) as c:
        c.send(simple_get("/echo/1"))
        assert c.read_response().status == 200
        time.sleep(1)
        c.send(simple_get("/echo/2"))
        assert c.read_response().status == 200
