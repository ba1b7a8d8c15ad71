#!/usr/bin/env python3
"""
tests/integration/upstream.py - an echo upstream for authgate: the integration
suite's fake application, and the quickstart's demo upstream.

    python3 tests/integration/upstream.py --port 8081      # prints "READY 127.0.0.1:8081"
    ... --tls-cert CERT.pem --tls-key KEY.pem              # the same over TLS (https upstreams)

Standard library only: raw sockets, one thread per connection, HTTP/1.1 keep-alive.
It parses requests itself (Content-Length and chunked bodies, hashed with sha256 while
streaming, so a 200 MiB body is never held in memory) and records every request it
received, so a test can see exactly what the gateway forwarded.

Endpoints (any method unless noted):
  GET  /__requests            the recorded requests as a JSON list (not recorded itself)
  POST /__reset               clears the record (not recorded itself)
  GET  /__conns               {"open": N}: connections open right now, not counting this one
  /bytes?n=N[&chunked=1[&ext=E]][&close=1]
                              N bytes of pattern(0, N): with Content-Length, or chunked
                              (E, if given, written after every chunk size, e.g. ' ; a="b c"'),
                              or close-delimited (no length; the socket is closed after)
  /slow?delay=S[&before=1]    reads the request, waits S seconds, then answers like /echo
                              (before=1: waits before reading the body, to stall an upload)
  /partial?n=N                Content-Length N, sends N/2 bytes of the pattern, then hangs
  /status/NNN                 answers status NNN (1xx/204/304 and HEAD without a body)
  /ws                         with Upgrade: websocket: handshake, then echoes frames
                              (text/binary, fragmented messages, ping -> pong, close);
                              without the upgrade headers: answers like /echo. Text
                              commands: "id" answers the tunnel's id (its conn_id);
                              "slow N D" answers a binary frame of N bytes 'w' sent in two
                              halves D seconds apart (a frame mid-flight)
  GET  /__ws                  {"open": [ids of WebSocket tunnels open now], "closed": [...]}
  /stream?n=N&interval=S      a chunked text/event-stream: N events "data: I\n\n", one every
                              S seconds (a response still streaming)
  /hang                       reads the request and never answers (until the peer closes)
  /reset[?rst=1]              reads the request and closes the socket without answering
                              (rst=1: with SO_LINGER 0, so the peer sees a TCP RST)
  /hop-response               200 carrying hop-by-hop response headers (Connection: X-Up-Hop,
                              X-Up-Hop, Keep-Alive, Proxy-Connection, Trailer, Upgrade)
  /badresp/KIND               an ill-framed response then close: clte (CL and TE),
                              dupcl (two differing Content-Length), badcl (CL "abc"),
                              garbage (no status line)
  any path, ?idle_close=S      after answering, close the connection if no next request
                              arrives within S seconds (silently, like a server's keep-alive
                              timeout; the answer itself does not say Connection: close)
  anything else (/echo...)    200 JSON: {method, target, version, headers, body_len,
                              body_sha256, chunked, chunk_extensions, trailers,
                              conn_id, peer_port, requests_on_conn; over TLS also
                              tls_resumed: whether the connection resumed a session}

The byte pattern used by /bytes (and by the tests for uploads) is "position-stamped":
byte i of the stream is byte (i % 8) of the 8-byte big-endian encoding of i // 8. So

    expected = hashlib.sha256(b"".join(w.to_bytes(8, "big") for w in range((N + 7) // 8))[:N])

(pattern_sha256(N) below computes the same thing fast). Unlike a repeated
bytes(range(256)), a dropped, duplicated or reordered block changes the digest.

Each record: {method, target, version, headers: [[name, value], ...], body_len,
body_sha256, chunked, chunk_extensions, trailers, complete, conn_id, peer_port,
requests_on_conn, head}. "complete" is false when the connection ended in the middle
of the body (the request was cut off and never answered).
"""

import argparse
import array
import base64
import hashlib
import http
import itertools
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_HEAD = 256 * 1024
BLOCK = 1 << 20


# ---------------------------------------------------------------- byte pattern

def pattern(offset, length):
    """Returns bytes [offset, offset+length) of the position-stamped pattern."""
    if length <= 0:
        return b""
    first = offset // 8
    last = (offset + length + 7) // 8
    words = array.array("Q", range(first, last))
    if sys.byteorder == "little":
        words.byteswap()
    raw = words.tobytes()
    skip = offset - first * 8
    return raw[skip:skip + length]


def iter_pattern(n, block=BLOCK):
    """Yields the first <n> bytes of the pattern in blocks of <block> bytes."""
    for off in range(0, n, block):
        yield pattern(off, min(block, n - off))


_sha_cache = {}


def pattern_sha256(n):
    """sha256 hex digest of the first <n> bytes of the pattern."""
    if n not in _sha_cache:
        h = hashlib.sha256()
        for b in iter_pattern(n):
            h.update(b)
        _sha_cache[n] = h.hexdigest()
    return _sha_cache[n]


# ---------------------------------------------------------------- state

class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.records = []
        self.conn_ids = itertools.count(1)
        self.open = 0
        self.ws_open, self.ws_closed = set(), []

    def record(self, rec):
        with self.lock:
            self.records.append(rec)

    def snapshot(self):
        with self.lock:
            return list(self.records)

    def reset(self):
        with self.lock:
            self.records.clear()


class BadRequest(Exception):
    pass


class PeerClosed(Exception):
    pass


# ---------------------------------------------------------------- connection

class Conn:
    def __init__(self, sock, state, conn_id, peer):
        self.sock = sock
        self.state = state
        self.conn_id = conn_id
        self.peer = peer
        self.buf = bytearray()
        self.nreq = 0
        self.idle_close = None

    # -- reading
    def _fill(self, want=65536):
        data = self.sock.recv(max(want, 4096))
        if not data:
            raise PeerClosed()
        self.buf += data

    def read_head(self):
        """Returns the raw head (through the blank line) or None on a clean EOF."""
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                head = bytes(self.buf[:i + 4])
                del self.buf[:i + 4]
                return head
            if len(self.buf) > MAX_HEAD:
                raise BadRequest("head too large")
            try:
                self._fill()
            except PeerClosed:
                if self.buf:
                    raise
                return None

    def read_line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return line
            if len(self.buf) > MAX_HEAD:
                raise BadRequest("line too long")
            self._fill()

    def read_exact(self, n, sink=None):
        """Reads <n> bytes; feeds them to <sink> (a callable) or returns them."""
        out = [] if sink is None else None
        while n > 0:
            if not self.buf:
                self._fill(min(n, BLOCK))
            take = min(n, len(self.buf))
            piece = bytes(self.buf[:take])
            del self.buf[:take]
            n -= take
            if sink is None:
                out.append(piece)
            else:
                sink(piece)
        return b"".join(out) if out is not None else None

    # -- writing
    def send(self, data):
        self.sock.sendall(data)


def parse_head(head):
    text = head.decode("latin-1")
    lines = text[:-4].split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise BadRequest("bad request line %r" % lines[0])
    method, target, version = parts
    headers = []
    for line in lines[1:]:
        if ":" not in line:
            raise BadRequest("bad header line %r" % line)
        name, value = line.split(":", 1)
        headers.append([name, value.strip(" \t")])
    return method, target, version, headers


def hget(headers, name, default=None):
    name = name.lower()
    for k, v in headers:
        if k.lower() == name:
            return v
    return default


def hall(headers, name):
    name = name.lower()
    return [v for k, v in headers if k.lower() == name]


def tokens(headers, name):
    out = set()
    for v in hall(headers, name):
        out.update(t.strip().lower() for t in v.split(",") if t.strip())
    return out


def reason(status):
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Status"


def response_head(status, headers, version="HTTP/1.1"):
    lines = ["%s %d %s" % (version, status, reason(status))]
    lines += ["%s: %s" % (k, v) for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


# ---------------------------------------------------------------- request handling

class Request:
    pass


def read_body(conn, req):
    """Reads the request body into req.body_len / req.body_sha256 (streaming)."""
    h = hashlib.sha256()
    req.body_len = 0
    req.chunked = False
    req.chunk_extensions = False
    req.trailers = []

    def sink(piece):
        h.update(piece)
        req.body_len += len(piece)

    te = hall(req.headers, "transfer-encoding")
    cl = hall(req.headers, "content-length")
    if te:
        if [t.strip().lower() for t in ",".join(te).split(",")] != ["chunked"]:
            raise BadRequest("unsupported transfer-encoding %r" % te)
        req.chunked = True
        while True:
            line = conn.read_line().decode("latin-1")
            size_s, _, ext = line.partition(";")
            if ext or ";" in line:
                req.chunk_extensions = True
            try:
                size = int(size_s.strip(), 16)
            except ValueError:
                raise BadRequest("bad chunk size %r" % line)
            if size == 0:
                while True:
                    t = conn.read_line()
                    if not t:
                        break
                    name, _, value = t.decode("latin-1").partition(":")
                    req.trailers.append([name, value.strip()])
                break
            conn.read_exact(size, sink)
            if conn.read_exact(2) != b"\r\n":
                raise BadRequest("chunk data not followed by CRLF")
    elif cl:
        if len(set(cl)) != 1 or not cl[0].isdigit():
            raise BadRequest("bad content-length %r" % cl)
        conn.read_exact(int(cl[0]), sink)
    req.body_sha256 = h.hexdigest()


def as_record(conn, req, complete):
    return {
        "method": req.method,
        "target": req.target,
        "version": req.version,
        "headers": req.headers,
        "body_len": getattr(req, "body_len", 0),
        "body_sha256": getattr(req, "body_sha256", None),
        "chunked": getattr(req, "chunked", False),
        "chunk_extensions": getattr(req, "chunk_extensions", False),
        "trailers": getattr(req, "trailers", []),
        "complete": complete,
        "conn_id": conn.conn_id,
        "peer_port": conn.peer[1],
        "requests_on_conn": conn.nreq,
        "head": req.head.decode("latin-1"),
        "time": time.time(),
        **({"tls_resumed": conn.sock.session_reused} if hasattr(conn.sock, "session_reused") else {}),
    }


def wants_keepalive(req):
    conn_tokens = tokens(req.headers, "connection")
    if req.version == "HTTP/1.1":
        return "close" not in conn_tokens
    return "keep-alive" in conn_tokens


def send_json(conn, req, status, obj, extra=(), keepalive=True):
    body = json.dumps(obj).encode()
    headers = [("Content-Type", "application/json")]
    headers += list(extra)
    no_body = status in (204, 304) or 100 <= status < 200
    if not no_body:
        headers.append(("Content-Length", str(len(body))))
    if not keepalive:
        headers.append(("Connection", "close"))
    data = response_head(status, headers)
    if not no_body and req.method != "HEAD":
        data += body
    conn.send(data)


def echo_obj(conn, req):
    rec = as_record(conn, req, True)
    for k in ("head", "complete", "time"):
        rec.pop(k)
    return rec


def handle_bytes(conn, req, query, keepalive):
    n = int(query.get("n", ["0"])[0])
    chunked = query.get("chunked", ["0"])[0] == "1"
    close = query.get("close", ["0"])[0] == "1"
    ext = query.get("ext", [""])[0].encode("latin-1")
    headers = [("Content-Type", "application/octet-stream")]
    if close:
        headers.append(("Connection", "close"))
    elif chunked:
        headers.append(("Transfer-Encoding", "chunked"))
    else:
        headers.append(("Content-Length", str(n)))
    if not keepalive and not close:
        headers.append(("Connection", "close"))
    conn.send(response_head(200, headers))
    if req.method == "HEAD":
        return keepalive and not close
    for block in iter_pattern(n, 64 * 1024):
        if chunked and not close:
            conn.send(b"%x%s\r\n" % (len(block), ext) + block + b"\r\n")
        else:
            conn.send(block)
    if chunked and not close:
        conn.send(b"0%s\r\n\r\n" % ext)
    return keepalive and not close


BAD_RESPONSES = {
    "clte": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "dupcl": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    "badcl": b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nhello",
    "garbage": b"THIS IS NOT HTTP\r\n\r\n",
}


def ws_send(conn, opcode, payload, fin=True):
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        hdr = struct.pack("!BB", b0, n)
    elif n < 65536:
        hdr = struct.pack("!BBH", b0, 126, n)
    else:
        hdr = struct.pack("!BBQ", b0, 127, n)
    conn.send(hdr + payload)


def ws_unmask(payload, key):
    if not payload:
        return payload
    n = len(payload)
    mask = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(mask, "big")).to_bytes(n, "big")


def handle_ws(conn, req):
    key = hget(req.headers, "sec-websocket-key", "")
    accept = base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()
    conn.send(response_head(101, [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                  ("Sec-WebSocket-Accept", accept)]))
    with conn.state.lock:
        conn.state.ws_open.add(conn.conn_id)
    try:
        ws_echo(conn)
    finally:
        with conn.state.lock:
            conn.state.ws_open.discard(conn.conn_id)
            conn.state.ws_closed.append(conn.conn_id)


def ws_echo(conn):
    msg_op, msg = None, []
    while True:
        b0, b1 = conn.read_exact(2)
        fin, opcode = b0 & 0x80, b0 & 0x0F
        masked, n = b1 & 0x80, b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", conn.read_exact(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", conn.read_exact(8))[0]
        key = conn.read_exact(4) if masked else None
        payload = conn.read_exact(n)
        if key:
            payload = ws_unmask(payload, key)
        if opcode == 0x8:  # close: echo the status code, then close
            ws_send(conn, 0x8, payload[:2])
            return
        if opcode == 0x9:  # ping
            ws_send(conn, 0xA, payload)
            continue
        if opcode == 0xA:  # pong
            continue
        if opcode in (0x1, 0x2):
            msg_op, msg = opcode, [payload]
        elif opcode == 0x0:
            msg.append(payload)
        if fin and msg_op == 0x1 and b"".join(msg) == b"id":
            ws_send(conn, 0x1, str(conn.conn_id).encode())
        elif fin and msg_op == 0x1 and b"".join(msg).startswith(b"slow "):
            _, n, delay = b"".join(msg).split()
            data = b"w" * int(n)
            frame = struct.pack("!BBQ", 0x82, 127, len(data)) + data
            conn.send(frame[:len(frame) // 2])
            time.sleep(float(delay))
            conn.send(frame[len(frame) // 2:])
        elif fin and msg_op is not None:
            ws_send(conn, msg_op, b"".join(msg))
        if fin and msg_op is not None:
            msg_op, msg = None, []


def handle_request(conn, req):
    """Handles one request; returns True to keep the connection open."""
    keepalive = wants_keepalive(req)
    url = urllib.parse.urlsplit(req.target)
    path = url.path
    query = urllib.parse.parse_qs(url.query, encoding="latin-1")
    conn.idle_close = float(query["idle_close"][0]) if "idle_close" in query else None

    if path == "/ws" and "websocket" in tokens(req.headers, "upgrade"):
        conn.state.record(as_record(conn, req, True))
        handle_ws(conn, req)
        return False

    if "100-continue" in tokens(req.headers, "expect") and req.version == "HTTP/1.1":
        conn.send(b"HTTP/1.1 100 Continue\r\n\r\n")
    if path == "/slow" and query.get("before", ["0"])[0] == "1":
        time.sleep(float(query.get("delay", ["1"])[0]))
        query["delay"] = ["0"]
    try:
        read_body(conn, req)
    except PeerClosed:
        conn.state.record(as_record(conn, req, False))
        raise

    if path == "/__requests":
        send_json(conn, req, 200, conn.state.snapshot(), keepalive=keepalive)
        return keepalive
    if path == "/__conns":
        with conn.state.lock:
            n = conn.state.open - 1
        send_json(conn, req, 200, {"open": n}, keepalive=keepalive)
        return keepalive
    if path == "/__ws":
        with conn.state.lock:
            obj = {"open": sorted(conn.state.ws_open), "closed": list(conn.state.ws_closed)}
        send_json(conn, req, 200, obj, keepalive=keepalive)
        return keepalive
    if path == "/__reset":
        conn.state.reset()
        send_json(conn, req, 200, {"reset": True}, keepalive=keepalive)
        return keepalive

    conn.state.record(as_record(conn, req, True))

    if path == "/bytes":
        return handle_bytes(conn, req, query, keepalive)
    if path == "/slow":
        time.sleep(float(query.get("delay", ["1"])[0]))
        send_json(conn, req, 200, echo_obj(conn, req), keepalive=keepalive)
        return keepalive
    if path == "/stream":
        n, interval = int(query.get("n", ["10"])[0]), float(query.get("interval", ["0.1"])[0])
        conn.send(response_head(200, [("Content-Type", "text/event-stream"),
                                      ("Transfer-Encoding", "chunked")]))
        for i in range(n):
            ev = b"data: %d\n\n" % i
            conn.send(b"%x\r\n%s\r\n" % (len(ev), ev))
            time.sleep(interval)
        conn.send(b"0\r\n\r\n")
        return keepalive
    if path.startswith("/status/"):
        status = int(path[len("/status/"):])
        send_json(conn, req, status, {"status": status}, keepalive=keepalive)
        return keepalive
    if path == "/partial":
        n = int(query.get("n", ["1000"])[0])
        conn.send(response_head(200, [("Content-Type", "application/octet-stream"),
                                      ("Content-Length", str(n))]) + pattern(0, n // 2))
        path = "/hang"
    if path == "/hang":
        try:
            while conn.sock.recv(65536):
                pass
        except OSError:
            pass
        return False
    if path == "/reset":
        if query.get("rst", ["0"])[0] == "1":
            conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        return False
    if path == "/hop-response":
        extra = [("Connection", "X-Up-Hop"), ("X-Up-Hop", "secret"), ("Keep-Alive", "timeout=99"),
                 ("Proxy-Connection", "keep-alive"), ("Trailer", "X-Up-Trailer"),
                 ("Upgrade", "foo/1"), ("X-Up-Normal", "kept")]
        send_json(conn, req, 200, echo_obj(conn, req), extra=extra, keepalive=keepalive)
        return keepalive
    if path.startswith("/badresp/"):
        conn.send(BAD_RESPONSES.get(path[len("/badresp/"):], BAD_RESPONSES["garbage"]))
        return False

    send_json(conn, req, 200, echo_obj(conn, req), keepalive=keepalive)
    return keepalive


def serve_conn(state, sock, peer, tls=None):
    if tls is not None:
        try:
            sock.settimeout(10)
            sock = tls.wrap_socket(sock, server_side=True)
            sock.settimeout(None)
        except (OSError, ValueError) as e:  # a client that refused our certificate, or left
            print("upstream: TLS handshake: %s" % e, file=sys.stderr, flush=True)
            sock.close()
            return
    conn = Conn(sock, state, next(state.conn_ids), peer)
    with state.lock:
        state.open += 1
    try:
        while True:
            conn.sock.settimeout(conn.idle_close)
            try:
                head = conn.read_head()
            except socket.timeout:
                return  # idle_close: hang up silently
            conn.sock.settimeout(None)
            if head is None:
                return
            req = Request()
            req.head = head
            req.method, req.target, req.version, req.headers = parse_head(head)
            conn.nreq += 1
            if not handle_request(conn, req):
                return
    except BadRequest as e:
        try:
            conn.send(response_head(400, [("Content-Length", "0"), ("Connection", "close")]))
        except OSError:
            pass
        print("upstream: conn %d: bad request: %s" % (conn.conn_id, e), file=sys.stderr, flush=True)
    except (PeerClosed, OSError):
        pass
    finally:
        with state.lock:
            state.open -= 1
        try:
            sock.close()
        except OSError:
            pass


def main(argv=None):
    ap = argparse.ArgumentParser(description="authgate echo upstream (tests and quickstart)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8081, help="0 picks a free port")
    ap.add_argument("--tls-cert", help="serve over TLS with this PEM certificate (chain)")
    ap.add_argument("--tls-key", help="and this PEM key")
    args = ap.parse_args(argv)
    tls = None
    if args.tls_cert:
        import ssl
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.tls_cert, args.tls_key)

    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    threading.stack_size(512 * 1024)
    state = State()
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    lsock = socket.socket(family, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((args.host, args.port))
    lsock.listen(4096)
    port = lsock.getsockname()[1]
    print("READY %s:%d" % (args.host, port), flush=True)
    while True:
        try:
            sock, peer = lsock.accept()
        except InterruptedError:
            continue
        except OSError as e:  # EMFILE and friends: back off instead of dying
            print("upstream: accept: %s" % e, file=sys.stderr, flush=True)
            time.sleep(0.05)
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=serve_conn, args=(state, sock, peer, tls), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
