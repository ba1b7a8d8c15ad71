"""The first moments of a gateway (CONTRACT.md sections 2 and 8; issue 9 points 4 and 4b).

A client may call the gateway the moment its port accepts, before the store has its
first connection and before the live revocations are loaded: nothing here waits for
/auth/ready. Then
  - an endpoint that needs Redis waits for the first connection (bounded by the store's
    connect timeout, 2 s) and gives its real answer, never a 503 at once;
  - a token revoked before this instance started is refused on its very first request;
  - with Redis unreachable, a token-bearing request on a protected path gets 503 JSON
    after the bounded wait, while a public path is served at once;
  - a client that leaves while its request waits costs nothing afterwards.
"""

import json
import os
import signal
import socket
import subprocess
import time

import pytest

from conftest import (AUTHGATE_BIN, RawConn, free_port, make_config, sanitizer_lines)
from test_tokens import MASTER, new_pair, start

STARTS = 30
CONNECT_TIMEOUT = 2.0  # the store's connect timeout (gateway/worker.h AG_WORKER_STORE_CONNECT_S)
D503 = {"detail": "Service Unavailable", "error": "unavailable"}


class FastStart:
    """`authgate serve` whose first connection is made the moment the port accepts and
    kept for the first request (no /auth/ready, no polling interval in between)."""

    def __init__(self, tmpdir, config, name):
        self.config_path = tmpdir / ("%s.json" % name)
        self.stderr_path = tmpdir / ("%s.stderr" % name)
        self.config_path.write_text(json.dumps(config))
        self.port = int(config["listen"].rsplit(":", 1)[1])
        env = dict(os.environ)
        env.pop("CRYPTOGRAPHY_KEY", None)
        env.pop("MASTER_TOKEN", None)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen([str(AUTHGATE_BIN), "serve", "--config", str(self.config_path)],
                                     stdin=subprocess.DEVNULL, stdout=self._err, stderr=self._err,
                                     env=env)

    def first_conn(self, timeout=10.0):
        """A RawConn made on the first try that the port accepts."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "gateway exited:\n" + self.stderr()
            try:
                return RawConn(self.port, timeout=10.0)
            except OSError:
                time.sleep(0.001)
        raise AssertionError("gateway did not listen within %.0f s:\n%s" % (timeout, self.stderr()))

    def stderr(self):
        return self.stderr_path.read_text(errors="replace")

    def stop(self, signal_it=True):
        if signal_it:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = None
        self._err.close()
        err = self.stderr()
        assert rc == 0, "exit %r\n%s" % (rc, err[-4000:])
        assert not sanitizer_lines(err), err[-8000:]


def config(redis_url, upstream_url, **over):
    cfg = make_config({"redis": redis_url, "master-token": MASTER, "access-token-paths": ["/api"],
                       "rate-limits": False, "access-log": "off"}, upstream_url)
    cfg.update(over)
    return cfg


def get(path, headers=""):
    return ("GET %s HTTP/1.1\r\nHost: gw.test\r\n%s\r\n" % (path, headers)).encode()


def post_json(path, obj):
    body = json.dumps(obj).encode()
    return (b"POST %s HTTP/1.1\r\nHost: gw.test\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % (path.encode(), len(body))) + body


def test_store_endpoints_answer_from_the_moment_the_port_accepts(tmp_path, redis_server, upstream):
    """Issue 9 point 4: /auth/token/new and /auth/register sent on the first connection
    the port accepts get their real answer (200, 201), on every one of 30 starts."""
    bad = []
    for i in range(STARTS):
        gw = FastStart(tmp_path, config(redis_server.url, upstream.url), "gw%d" % i)
        try:
            c = gw.first_conn()
            if i % 2 == 0:
                c.send(get("/auth/token/new?client_id=start-%d" % i, "MASTER-TOKEN: %s\r\n" % MASTER))
                want = 200
            else:
                c.send(post_json("/auth/register", {"email": "u%d@example.com" % i,
                                                    "username": "user%d" % i,
                                                    "password": "correct horse battery %d" % i}))
                want = 201
            r = c.read_response()
            c.close()
            if r.status != want:
                bad.append((i, r.status, r.body[:120]))
        finally:
            gw.stop()
    assert not bad, "starts whose first store request was not answered for real: %r" % bad


def logout(port, access):
    with RawConn(port) as c:
        c.send(b"POST /auth/logout HTTP/1.1\r\nHost: gw.test\r\nAuthorization: Bearer %s\r\n"
               b"Content-Length: 0\r\n\r\n" % access.encode())
        return c.read_response()


def test_instance_started_after_a_logout_refuses_the_token_on_its_first_request(
        tmp_path, gateway, redis_server, upstream):
    """Issue 9 point 4b: log out on instance A, start B on the same Redis: B's very first
    request with that access token is refused (401), on every start; a live token passes."""
    a = start(gateway, redis_server, upstream)
    revoked = new_pair(a, "gone")["access_token"]
    live = new_pair(a, "live")["access_token"]
    assert logout(a.port, revoked).status == 200
    bad = []
    for i in range(10):
        b = FastStart(tmp_path, config(redis_server.url, upstream.url), "b%d" % i)
        try:
            c = b.first_conn()
            c.send(get("/api/x", "Authorization: Bearer %s\r\n" % revoked))
            r1 = c.read_response()
            c.send(get("/api/x", "Authorization: Bearer %s\r\n" % live))
            r2 = c.read_response()
            c.close()
            if r1.status != 401 or r2.status != 200:
                bad.append((i, r1.status, r2.status))
        finally:
            b.stop()
    assert not bad, "(start, revoked token, live token): %r" % bad


def test_redis_unreachable_token_waits_then_503_while_public_path_is_served_at_once(
        tmp_path, upstream):
    """Contract 8: with no Redis, a request that presents a good token on a protected path
    waits the store's connect timeout, then gets 503 JSON (never a pass); a public path and
    a request without a token are answered at once."""
    dead = "redis://127.0.0.1:%d/0" % free_port()
    gw = FastStart(tmp_path, config(dead, upstream.url, **{"workers": 1}), "gw")
    try:
        tok = new_local_token()
        c = gw.first_conn()
        t0 = time.monotonic()
        c.send(get("/public/x"))
        r = c.read_response()
        assert r.status == 200 and time.monotonic() - t0 < 0.5
        t0 = time.monotonic()
        c.send(get("/api/x"))
        r = c.read_response()
        assert r.status == 401 and time.monotonic() - t0 < 0.5
        t0 = time.monotonic()
        c.send(get("/api/x", "Authorization: Bearer %s\r\n" % tok))
        r = c.read_response()
        took = time.monotonic() - t0
        assert r.status == 503, r
        assert r.header("Content-Type") == "application/json"
        assert r.json() == D503
        assert CONNECT_TIMEOUT - 0.2 <= took <= CONNECT_TIMEOUT + 1.5, took
        # the connection stays usable, and a public path is still served at once
        t0 = time.monotonic()
        c.send(get("/public/y"))
        assert c.read_response().status == 200 and time.monotonic() - t0 < 0.5
        c.close()
        assert upstream.requests()[-1]["target"] == "/public/y"
        assert all(q["target"] != "/api/x" for q in upstream.requests())
    finally:
        gw.stop()


def test_store_endpoint_waits_then_503_when_redis_stays_unreachable(tmp_path, upstream):
    dead = "redis://127.0.0.1:%d/0" % free_port()
    gw = FastStart(tmp_path, config(dead, upstream.url, **{"workers": 1}), "gw")
    try:
        c = gw.first_conn()
        t0 = time.monotonic()
        c.send(get("/auth/token/new", "MASTER-TOKEN: %s\r\n" % MASTER))
        r = c.read_response()
        took = time.monotonic() - t0
        assert r.status == 503 and r.json()["code"] == 503
        assert CONNECT_TIMEOUT - 0.2 <= took <= CONNECT_TIMEOUT + 1.5, took
        t0 = time.monotonic()
        c.send(get("/auth/health"))
        assert c.read_response().status == 200 and time.monotonic() - t0 < 0.5
        c.close()
    finally:
        gw.stop()


def test_client_that_leaves_while_waiting_is_cleaned_up(tmp_path, upstream):
    """Parked requests whose clients close or reset meanwhile: the gateway keeps serving,
    answers the others, and exits 0 with no leak or sanitizer report."""
    dead = "redis://127.0.0.1:%d/0" % free_port()
    gw = FastStart(tmp_path, config(dead, upstream.url, **{"workers": 1}), "gw")
    try:
        tok = new_local_token()
        first = gw.first_conn()
        first.close()
        gone = []
        for i in range(20):
            s = socket.create_connection(("127.0.0.1", gw.port))
            s.sendall(get("/api/x", "Authorization: Bearer %s\r\n" % tok))
            if i % 2:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            gone.append(s)
        for s in gone:
            s.close()  # a FIN, or (SO_LINGER 0) a reset, while parked
        with RawConn(gw.port) as c:
            c.send(get("/public/z"))
            assert c.read_response().status == 200
        time.sleep(CONNECT_TIMEOUT + 0.5)  # every parked one woke and went
        with RawConn(gw.port) as c:
            c.send(get("/api/x", "Authorization: Bearer %s\r\n" % tok))
            assert c.read_response().status == 503
    finally:
        gw.stop()


def test_sigterm_answers_parked_requests(tmp_path, upstream):
    """A drain finishes in-flight requests: a parked one is answered, not dropped."""
    dead = "redis://127.0.0.1:%d/0" % free_port()
    gw = FastStart(tmp_path, config(dead, upstream.url, **{"workers": 1}), "gw")
    c = gw.first_conn()
    c.send(get("/api/x", "Authorization: Bearer %s\r\n" % new_local_token()))
    time.sleep(0.3)
    gw.proc.send_signal(signal.SIGTERM)
    r = c.read_response()
    assert r.status == 503 and r.header("Content-Type") == "application/json"
    c.close()
    gw.stop(signal_it=False)


def new_local_token():
    import jwt
    from conftest import CRYPTO_KEY
    now = int(time.time())
    return jwt.encode({"sub": "svc", "client_id": "svc", "type": "access", "iat": now,
                       "exp": now + 600, "jti": "j-%d" % now, "iss": "authgate"},
                      CRYPTO_KEY, algorithm="HS256")
