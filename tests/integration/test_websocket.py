"""WebSocket upgrade through the gateway (CONTRACT.md section 9, SECURITY-BASELINE 10)."""

import base64
import hashlib
import os
import signal
import threading
import time

import pytest
import websocket

from conftest import hdr_all, simple_get
from rawupstream import RawUpstream, wait_stopped


def ws_connect(gw, path="/ws"):
    return websocket.create_connection("ws://127.0.0.1:%d%s" % (gw.port, path), timeout=5)


def test_websocket_echo_text_binary_and_close(upstream, gateway):
    gw = gateway()
    ws = ws_connect(gw)
    try:
        ws.send("hello through authgate")
        assert ws.recv() == "hello through authgate"
        blob = os.urandom(3000)
        ws.send_binary(blob)
        opcode, data = ws.recv_data()
        assert opcode == websocket.ABNF.OPCODE_BINARY and data == blob
        ws.send("ünïcödé ✓")
        assert ws.recv() == "ünïcödé ✓"
    finally:
        ws.close()
    recs = [r for r in upstream.requests() if r["target"] == "/ws"]
    assert len(recs) == 1
    assert "websocket" in ",".join(hdr_all(recs[0]["headers"], "upgrade")).lower()


def test_websocket_large_message_and_ping(upstream, gateway):
    gw = gateway()
    ws = ws_connect(gw)
    try:
        big = os.urandom(1024 * 1024 + 3)
        ws.send_binary(big)
        opcode, data = ws.recv_data()
        assert data == big
        ws.ping(b"are-you-there")
        frame = ws.recv_data_frame(True)[1]
        assert frame.opcode == websocket.ABNF.OPCODE_PONG and frame.data == b"are-you-there"
    finally:
        ws.close()


def test_websocket_close_handshake(upstream, gateway):
    gw = gateway()
    ws = ws_connect(gw)
    ws.send_close(status=1000, reason=b"bye")
    frame = ws.recv_data_frame(True)[1]
    assert frame.opcode == websocket.ABNF.OPCODE_CLOSE
    assert frame.data[:2] == (1000).to_bytes(2, "big")
    ws.shutdown()


def test_several_websockets_at_once(upstream, gateway):
    gw = gateway()
    socks = [ws_connect(gw) for _ in range(10)]
    try:
        for i, ws in enumerate(socks):
            ws.send("msg %d" % i)
        for i, ws in enumerate(socks):
            assert ws.recv() == "msg %d" % i
    finally:
        for ws in socks:
            ws.close()


def test_plain_get_ws_is_a_normal_request(upstream, gateway):
    gw = gateway()
    c = gw.raw()
    c.send(simple_get("/ws"))
    r = c.read_response()
    assert r.status == 200 and r.json()["target"] == "/ws"
    c.send(simple_get("/echo/after-ws"))
    r = c.read_response()
    assert r.status == 200 and r.json()["target"] == "/echo/after-ws"


def test_upgrade_answered_without_101_stays_http(upstream, gateway):
    """The upstream answers 200 to an upgrade request: relayed, the connection stays HTTP."""
    gw = gateway()
    c = gw.raw()
    c.send(simple_get("/echo/no-upgrade", extra="Upgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"))
    r = c.read_response()
    assert r.status == 200 and r.json()["target"] == "/echo/no-upgrade"
    c.send(simple_get("/echo/next"))
    r = c.read_response()
    assert r.status == 200 and r.json()["target"] == "/echo/next"


def test_upgrade_on_post_is_not_a_tunnel(upstream, gateway):
    gw = gateway()
    c = gw.raw()
    c.send(b"POST /ws HTTP/1.1\r\nHost: gw.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
           b"Content-Length: 2\r\n\r\nhi")
    r = c.read_response()
    assert r.status == 200, r
    e = r.json()
    assert e["body_len"] == 2
    assert not hdr_all(e["headers"], "upgrade"), e["headers"]


def test_upstream_close_with_its_101_reaches_the_client_at_once(gateway):
    """The upstream answers 101 and closes at once; the gateway is frozen (SIGSTOP)
    meanwhile, so the 101 and the EOF arrive in one read. The client must see the close
    promptly, not after tunnel-timeout."""
    got_head, go = threading.Event(), threading.Event()

    def upgrade_then_close(conn, n):
        head = conn.read_head()
        key = [ln.split(b":", 1)[1].strip() for ln in head.split(b"\r\n")
               if ln.lower().startswith(b"sec-websocket-key:")][0]
        accept = base64.b64encode(hashlib.sha1(
            key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
        got_head.set()
        go.wait(10)
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        conn.close()

    up = RawUpstream(upgrade_then_close)
    try:
        gw = gateway({"tunnel-timeout": 30}, upstream=up.url)
        c = gw.raw()
        c.send(b"GET /ws HTTP/1.1\r\nHost: gw.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        assert got_head.wait(10)
        gw.send_signal(signal.SIGSTOP)
        try:
            wait_stopped(gw.proc.pid)
            go.set()
            time.sleep(0.3)  # the 101 and the FIN wait in the gateway's socket
        finally:
            gw.send_signal(signal.SIGCONT)
        r = c.read_response(skip_1xx=False)
        assert r.status == 101, r
        t0 = time.monotonic()
        assert c.closed(5), "the upstream's close did not reach the client"
        assert time.monotonic() - t0 < 2
    finally:
        up.stop()


WS_HEADERS = ("Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
              "Sec-WebSocket-Version: 13\r\n")


KEY = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
V13 = "Sec-WebSocket-Version: 13\r\n"


@pytest.mark.parametrize("fields", [
    "Upgrade: websocket\r\nUpgrade: websocket\r\n" + WS_HEADERS,
    "Upgrade: websocket\r\nUpgrade: h2c\r\n" + WS_HEADERS,
    "Upgrade: h2c\r\nupgrade: WebSocket\r\n" + WS_HEADERS,
    "Upgrade: websocket\r\nConnection: Upgrade\r\n",
    "Upgrade: websocket\r\nConnection: Upgrade\r\n" + V13,
    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: abc\r\n" + V13,
    "Upgrade: websocket\r\nConnection: Upgrade\r\n" + KEY,
    "Upgrade: websocket\r\nConnection: Upgrade\r\n" + KEY + "Sec-WebSocket-Version: 8\r\n",
    "Upgrade: websocket\r\nConnection: Upgrade\r\n" + KEY
    + "Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n" + V13,
], ids=["two-upgrades", "upgrade-and-h2c", "h2c-and-upgrade", "no-key-no-version", "no-key",
        "short-key", "no-version", "version-8", "two-keys"])
def test_malformed_handshakes_never_upgraded(upstream, gateway, fields):
    """CONTRACT 9: a handshake with more than one Upgrade field, or without one
    Sec-WebSocket-Key holding a 16-byte nonce and one Sec-WebSocket-Version: 13 (RFC 6455
    s.4.1), is malformed: it goes upstream as a plain GET, without Upgrade, and the
    connection stays HTTP."""
    gw = gateway()
    c = gw.raw()
    c.send(simple_get("/ws", extra=fields))
    r = c.read_response()
    assert r.status == 200, r
    assert r.json()["target"] == "/ws"
    assert hdr_all(r.json()["headers"], "upgrade") == [], r.json()["headers"]
    c.send(simple_get("/echo/after"))
    r = c.read_response()
    assert r.status == 200 and r.json()["target"] == "/echo/after"
