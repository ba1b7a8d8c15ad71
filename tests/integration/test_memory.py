"""Bodies are streamed, never held whole (CONTRACT.md section 9): with a stalled reader on
the other side, the gateway's resident memory stays bounded (backpressure works)."""

import hashlib
import socket
import threading
import time

import pytest

from conftest import RawConn, iter_pattern, pattern, pattern_sha256, simple_get

MIB = 1024 * 1024
N = 200 * MIB
LIMIT = 64 * MIB  # far below N: anything near N means the body was buffered


def rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.mark.slow
def test_download_to_stalled_client_is_not_buffered(upstream, gateway):
    gw = gateway({"client-timeout": 30, "upstream-timeout": 30})
    base = rss(gw.proc.pid)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    s.settimeout(30)
    s.connect(("127.0.0.1", gw.port))
    try:
        s.sendall(simple_get("/bytes?n=%d" % N))
        first = s.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        time.sleep(2)  # the client reads nothing: the gateway must stop reading upstream
        grown = rss(gw.proc.pid) - base
        print("download: gateway RSS grew by %.1f MiB" % (grown / MIB))
        assert grown < LIMIT, "gateway grew by %d MiB while the client stalled" % (grown // MIB)
        h = hashlib.sha256()
        data = first[first.index(b"\r\n\r\n") + 4:]
        h.update(data)
        got = len(data)
        while got < N:
            block = s.recv(MIB)
            assert block, "connection closed after %d bytes" % got
            h.update(block)
            got += len(block)
        assert got == N and h.hexdigest() == pattern_sha256(N)
    finally:
        s.close()


@pytest.mark.slow
def test_upload_to_stalled_upstream_is_not_buffered(upstream, gateway):
    gw = gateway({"max-body-size": 512 * MIB, "client-timeout": 30, "upstream-timeout": 30})
    base = rss(gw.proc.pid)
    c = gw.raw(timeout=30)
    err = []

    def send():
        try:
            c.send(b"POST /slow?delay=2&before=1 HTTP/1.1\r\nHost: gw.test\r\nContent-Length: %d\r\n\r\n" % N)
            for block in iter_pattern(N):
                c.sock.sendall(block)
        except OSError as e:
            err.append(e)

    t = threading.Thread(target=send, daemon=True)
    t.start()
    time.sleep(1.5)  # the upstream reads nothing yet: the gateway must stop reading the client
    grown = rss(gw.proc.pid) - base
    print("upload: gateway RSS grew by %.1f MiB" % (grown / MIB))
    assert grown < LIMIT, "gateway grew by %d MiB while the upstream stalled" % (grown // MIB)
    t.join(60)
    assert not err, err
    r = c.read_response(timeout=60)
    assert r.status == 200
    assert r.json()["body_len"] == N and r.json()["body_sha256"] == pattern_sha256(N)


def test_upstream_stalls_mid_body_client_connection_aborted(upstream, gateway):
    """Head already relayed, then the upstream goes quiet: the client must see the
    connection end short of Content-Length (never a silently truncated 'complete' body)."""
    gw = gateway({"upstream-timeout": 1})
    c = gw.raw(timeout=10)
    c.send(simple_get("/partial?n=100000"))
    t0 = time.monotonic()
    with pytest.raises(Exception):
        c.read_response(timeout=8)
    assert time.monotonic() - t0 < 7
    assert c.eof, "connection not closed after the upstream stalled mid-body"
    got = bytes(c.buf)
    assert len(got) < 100000 and got == pattern(0, len(got)), "body bytes relayed wrongly"


def test_small_upstream_pool_under_concurrency(upstream, gateway):
    from conftest import many_requests
    gw = gateway({"upstream-pool-size": 1})
    out = many_requests(gw.port, 50, simple_get("/echo/pool"), timeout=30)
    assert all(r is not None and r.startswith(b"HTTP/1.1 200") for r in out)


def test_many_pipelined_requests_in_one_send(upstream, gateway):
    gw = gateway()
    with RawConn(gw.port, timeout=10) as c:
        c.send(b"".join(simple_get("/echo/pipe?i=%d" % i) for i in range(200)))
        for i in range(200):
            r = c.read_response()
            assert r.status == 200 and r.json()["target"] == "/echo/pipe?i=%d" % i
