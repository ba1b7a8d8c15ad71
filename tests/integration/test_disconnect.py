"""Clients that go away mid-request: the gateway keeps serving and shuts down clean
(the fixture's teardown asserts exit 0 and no sanitizer report)."""

import socket
import struct
import time

from conftest import RawConn, simple_get

MB = 1000 * 1000


def gateway_side_upstream_sockets(up_port):
    """Sockets on this host connected TO <up_port> (the gateway's side of its upstream
    connections) that are still open: ESTABLISHED (01) or CLOSE_WAIT (08). Read from the
    kernel, so the upstream's own bookkeeping (a Python thread per connection, slow to
    notice a close on a loaded machine) does not count."""
    n = 0
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(path).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            rem_port, state = int(f[2].rsplit(":", 1)[1], 16), f[3]
            if rem_port == up_port and state in ("01", "08"):
                n += 1
    return n


def check_still_serving(gw):
    with RawConn(gw.port) as c:
        c.send(simple_get("/echo/alive"))
        r = c.read_response()
    assert r.status == 200 and r.json()["target"] == "/echo/alive"


def test_client_disconnects_mid_upload_20_times(upstream, gateway):
    gw = gateway({"max-body-size": 100 * MB})
    chunk = b"u" * (64 * 1024)
    for i in range(20):
        s = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
        s.sendall(b"POST /echo/upload HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 10000000\r\n\r\n")
        sent = 0
        while sent < MB:
            sent += s.send(chunk[:min(len(chunk), MB - sent)])
        if i % 2:  # half of them with a TCP RST instead of a FIN
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    check_still_serving(gw)
    time.sleep(0.5)
    assert not [r for r in upstream.requests() if r["target"] == "/echo/upload" and r["complete"]]
    check_still_serving(gw)


def test_client_disconnects_mid_chunked_upload(upstream, gateway):
    gw = gateway({"max-body-size": 100 * MB})
    for i in range(10):
        s = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
        s.sendall(b"POST /echo/up HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\n"
                  + b"10000\r\n" + b"c" * 0x10000 + b"\r\n" + b"10000\r\n" + b"c" * 100)
        s.close()
    check_still_serving(gw)


def test_client_disconnects_mid_download(upstream, gateway):
    gw = gateway()
    for i in range(10):
        s = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.sendall(simple_get("/bytes?n=50000000" + ("&chunked=1" if i % 2 else "")))
        s.recv(65536)
        if i % 3 == 0:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    check_still_serving(gw)


def test_client_disconnects_while_upstream_is_slow(upstream, gateway):
    gw = gateway()
    for i in range(10):
        s = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
        s.sendall(simple_get("/slow?delay=0.5"))
        time.sleep(0.05)
        s.close()
    time.sleep(0.8)  # let the upstream answers arrive for clients that are gone
    check_still_serving(gw)


def test_client_disconnects_mid_head(upstream, gateway):
    gw = gateway()
    for i in range(20):
        s = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
        s.sendall(b"GET /echo/partial HTTP/1.1\r\nHost: gw.test\r\nX-Half: ")
        s.close()
    check_still_serving(gw)
    assert not [r for r in upstream.requests() if r["target"] == "/echo/partial"]


def test_client_disconnects_during_websocket(upstream, gateway):
    import websocket
    gw = gateway()
    for i in range(5):
        ws = websocket.create_connection("ws://127.0.0.1:%d/ws" % gw.port, timeout=5)
        ws.send("x" * 1000)
        ws.sock.close()  # no close frame
    check_still_serving(gw)


def test_garbage_clients_do_not_hurt(upstream, gateway):
    """Random bytes, truncated heads and resets on 150 connections (a crude fuzz pass;
    the teardown then checks for a clean exit and no sanitizer report)."""
    import random
    rnd = random.Random(1234)
    gw = gateway({"client-header-timeout": 2})
    seeds = [simple_get("/echo/g"), b"POST /echo HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
             b"GET /ws HTTP/1.1\r\nHost: g\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n\x81\xff"]
    for i in range(150):
        base = bytearray(rnd.choice(seeds))
        for _ in range(rnd.randint(0, 4)):
            base[rnd.randrange(len(base))] = rnd.randrange(256)
        data = bytes(base[:rnd.randint(1, len(base))]) if i % 3 else bytes(base) + rnd.randbytes(rnd.randint(0, 300))
        s = socket.socket()
        s.settimeout(0.2)
        try:
            s.connect(("127.0.0.1", gw.port))
            s.sendall(data)
            if i % 4 == 0:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif i % 4 == 1:
                try:
                    s.recv(4096)
                except OSError:
                    pass
        except OSError:
            pass
        finally:
            s.close()
    check_still_serving(gw)


def test_client_gone_right_after_head_releases_upstream_connection(upstream, gateway):
    """A client that sends the head of a POST and goes away at once (FIN or RST): the
    gateway notices and releases the upstream connection promptly, instead of holding
    it (and the request) until client-timeout."""
    gw = gateway({"client-timeout": 30})
    heads = [b"POST /echo/gone HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 10\r\n\r\n",
             b"POST /echo/gone HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\n"]
    for i in range(12):
        s = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
        s.sendall(heads[i % 2])
        if i % 4 < 2:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and gateway_side_upstream_sockets(upstream.port):
        time.sleep(0.1)
    held = gateway_side_upstream_sockets(upstream.port)
    assert held == 0, "%d upstream connections still held 3 s after their clients left" % held
    check_still_serving(gw)
