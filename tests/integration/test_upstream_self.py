"""The fake upstream on its own (no gateway): if these fail, every other result is suspect."""

import base64
import hashlib
import os
import socket
import struct

import requests

from conftest import RawConn, pattern, pattern_sha256


def test_pattern_is_position_stamped():
    assert pattern(0, 16) == bytes(8) + (1).to_bytes(8, "big")
    assert pattern(5, 10) == pattern(0, 15)[5:]
    data = b"".join(w.to_bytes(8, "big") for w in range(1000))[:7777]
    assert pattern_sha256(7777) == hashlib.sha256(data).hexdigest()


def test_echo_records_and_reset(upstream):
    with RawConn(upstream.port) as c:
        c.send(b"POST /echo/x?q=1 HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nContent-Length: 5\r\n\r\nhello")
        r = c.read_response()
        c.send(b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"3;ext=1\r\nhel\r\n2\r\nlo\r\n0\r\nX-T: v\r\n\r\n")
        r2 = c.read_response()
    assert r.status == 200
    e = r.json()
    assert e["target"] == "/echo/x?q=1" and e["body_len"] == 5
    assert e["body_sha256"] == hashlib.sha256(b"hello").hexdigest()
    assert ["X-A", "1"] in e["headers"]
    e2 = r2.json()
    assert e2["chunked"] and e2["chunk_extensions"] and e2["trailers"] == [["X-T", "v"]]
    assert e2["body_sha256"] == e["body_sha256"]
    assert e2["conn_id"] == e["conn_id"] and e2["requests_on_conn"] == 2
    recs = upstream.requests()
    assert [x["target"] for x in recs] == ["/echo/x?q=1", "/echo"]
    upstream.reset()
    assert upstream.requests() == []


def test_bytes_modes(upstream):
    for q in ("", "&chunked=1", "&close=1"):
        r = requests.get(upstream.url + "/bytes?n=300000" + q)
        assert r.status_code == 200
        assert hashlib.sha256(r.content).hexdigest() == pattern_sha256(300000)
    r = requests.head(upstream.url + "/bytes?n=10")
    assert r.headers["Content-Length"] == "10" and r.content == b""


def test_status_and_head(upstream):
    with RawConn(upstream.port) as c:
        for st in (204, 304, 404):
            c.send("GET /status/%d HTTP/1.1\r\nHost: h\r\n\r\n" % st)
            r = c.read_response()
            assert r.status == st
            if st != 404:
                assert r.header("content-length") is None
        c.send(b"HEAD /echo HTTP/1.1\r\nHost: h\r\n\r\n")
        r = c.read_response(method="HEAD")
        assert r.status == 200 and r.body == b""
        c.send(b"GET /echo HTTP/1.1\r\nHost: h\r\n\r\n")
        assert c.read_response().status == 200


def test_reset_and_hang(upstream):
    with RawConn(upstream.port) as c:
        c.send(b"GET /reset HTTP/1.1\r\nHost: h\r\n\r\n")
        assert c.closed(2)
    with RawConn(upstream.port) as c:
        c.send(b"GET /hang HTTP/1.1\r\nHost: h\r\n\r\n")
        assert not c.closed(1)


def test_websocket_echo(upstream):
    key = base64.b64encode(os.urandom(16)).decode()
    with RawConn(upstream.port) as c:
        c.send("GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % key)
        r = c.read_response()
        assert r.status == 101
        want = base64.b64encode(hashlib.sha1(key.encode() + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
                                .digest()).decode()
        assert r.header("sec-websocket-accept") == want
        mask = b"\x01\x02\x03\x04"
        payload = b"hi there"
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        c.send(struct.pack("!BB", 0x81, 0x80 | len(payload)) + mask + masked)
        assert c._take(2 + len(payload)) == struct.pack("!BB", 0x81, len(payload)) + payload


def test_slow(upstream):
    r = requests.get(upstream.url + "/slow?delay=0.2")
    assert r.status_code == 200 and r.elapsed.total_seconds() >= 0.2


def test_badresp(upstream):
    s = socket.create_connection(("127.0.0.1", upstream.port), timeout=3)
    s.sendall(b"GET /badresp/clte HTTP/1.1\r\nHost: h\r\n\r\n")
    data = s.recv(4096)
    s.close()
    assert b"Content-Length: 5" in data and b"Transfer-Encoding: chunked" in data
