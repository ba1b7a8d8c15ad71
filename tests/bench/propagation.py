#!/usr/bin/python3
"""tests/bench/propagation.py - how fast a logout reaches the other instances: three
authgate instances (A, B, C) on one private redis-server before one upstream
(tests/integration/upstream.py). For each of ROUNDS sessions: a user signs in on A, its
access token is checked to pass on B and C, a WebSocket tunnel is opened with it on B;
then the logout goes to A and the clock runs until B and C both refuse the token on
every one of their polling connections, and until B's tunnel gets its Close frame (1008).
Reports p50/p99/max of both (CONTRACT.md section 15; goal p99 <= 100 ms for the refusal).

Not a test: nothing here passes or fails. Figures go to stdout (Markdown).

    /usr/bin/python3 tests/bench/propagation.py                 # ROUNDS=20, WORKERS=2
    ROUNDS=100 WORKERS=1 /usr/bin/python3 tests/bench/propagation.py
    AUTHGATE=build-asan/authgate ...                            # another binary (default build-rel)

Each instance is polled over CONNS keep-alive connections (8 by default) opened before
the logout: SO_REUSEPORT spreads them over its workers, and every worker must know (each
has its own feed). A connection that was refused once is not asked again (a revocation
is never undone). The clock starts when the logout request is sent to A. Every process
it starts is stopped by its PID when it exits.
"""

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import requests
import websocket

from admin_users import free_port, pct, wait_port  # the same helpers (tests/bench/)

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
AUTHGATE = os.environ.get("AUTHGATE", os.path.join(REPO, "build-rel", "authgate"))
ROUNDS = int(os.environ.get("ROUNDS", "20"))
WORKERS = int(os.environ.get("WORKERS", "2"))
CONNS = int(os.environ.get("CONNS", "8"))
PW = "bench password 0123"
FAST_PW = {"argon2-iterations": 1, "argon2-memory-kib": 8192, "min-length": 10, "max-length": 64}


class Conn:
    """A keep-alive connection that sends GET /api/x with a Bearer token, status back."""

    def __init__(self, port):
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def _recv(self):
        try:
            return self.sock.recv(65536)
        except ConnectionResetError:
            return b""

    def status(self, token):
        """The answer's status, or None when the connection was cut before its end (a
        request still upstream when the revocation arrived is cut): the next call goes
        out on a new connection."""
        self.sock.sendall(b"GET /api/x HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer %s\r\n\r\n"
                          % token.encode())
        while b"\r\n\r\n" not in self.buf:
            got = self._recv()
            if not got:
                return self._cut()
            self.buf += got
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        n = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                n = int(v)
        while len(rest) < n:
            got = self._recv()
            if not got:
                return self._cut()
            rest += got
        self.buf = rest[n:]
        return int(head.split(b" ", 2)[1])

    def _cut(self):
        self.sock.close()
        self.__init__(self.port)
        return None


def main():
    if not os.path.exists(AUTHGATE):
        sys.exit("no authgate at %s (meson setup build-rel --buildtype=release && ninja -C build-rel)"
                 % AUTHGATE)
    if shutil.which("redis-server") is None:
        sys.exit("missing redis-server (apt-get install -y redis-server)")
    run = tempfile.mkdtemp(prefix="authgate-prop.")
    procs = []
    try:
        rport = free_port()
        procs.append(subprocess.Popen(["redis-server", "--port", str(rport), "--bind", "127.0.0.1",
                                       "--save", "", "--appendonly", "no", "--dir", run],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        up = subprocess.Popen([sys.executable, os.path.join(REPO, "tests/integration/upstream.py"),
                               "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        procs.append(up)
        uport = int(up.stdout.readline().decode().split(":")[-1])
        if not wait_port(rport):
            sys.exit("redis-server did not start")
        gws = []
        for name in "ABC":
            port = free_port()
            cfg = {"listen": "127.0.0.1:%d" % port, "upstream": "http://127.0.0.1:%d" % uport,
                   "cryptography-key": "propagation-bench-key-0123456789abcdef",
                   "redis": "redis://127.0.0.1:%d/0" % rport, "workers": WORKERS,
                   "access-log": "off", "passwords": FAST_PW, "rate-limits": False,
                   "cookie-secure": False, "access-token-paths": ["/api", "/ws"]}
            path = os.path.join(run, "%s.json" % name)
            with open(path, "w") as f:
                json.dump(cfg, f)
            err = open(os.path.join(run, "%s.stderr" % name), "wb")
            procs.append(subprocess.Popen([AUTHGATE, "serve", "--config", path],
                                          stdout=err, stderr=err, stdin=subprocess.DEVNULL))
            if not wait_port(port):
                sys.exit("authgate %s did not start (see %s)" % (name, run))
            gws.append("http://127.0.0.1:%d" % port)
        a, b, c = gws
        for g in gws:
            deadline = time.monotonic() + 10
            while requests.get(g + "/auth/ready", timeout=5).status_code != 200:
                if time.monotonic() > deadline:
                    sys.exit("authgate %s never ready" % g)
                time.sleep(0.05)
        r = requests.post(a + "/auth/register", json={"username": "bench", "email": "b@example.com",
                                                      "password": PW}, timeout=10)
        assert r.status_code == 201, r.text
        ports = [int(g.rsplit(":", 1)[1]) for g in (b, c)]
        refused, closed = [], []
        for i in range(ROUNDS):
            r = requests.post(a + "/auth/login", json={"username_or_email": "bench", "password": PW},
                              timeout=10)
            tok = r.json()["access_token"]
            polls = [Conn(p) for p in ports for _ in range(CONNS)]
            assert all(pc.status(tok) == 200 for pc in polls), "token refused before the logout"
            ws = websocket.create_connection("ws://127.0.0.1:%d/ws" % ports[0],
                                             header=["Authorization: Bearer " + tok], timeout=5)
            ws_done = {}

            def wait_close():
                op, frame = ws.recv_data_frame(True)
                while op != websocket.ABNF.OPCODE_CLOSE:
                    op, frame = ws.recv_data_frame(True)
                ws_done["t"] = time.monotonic()
                ws_done["code"] = int.from_bytes(frame.data[:2], "big")

            th = threading.Thread(target=wait_close)
            th.start()
            t0 = time.monotonic()
            r = requests.post(a + "/auth/logout", headers={"Authorization": "Bearer " + tok},
                              timeout=10)
            assert r.status_code == 200, r.text
            left = list(polls)
            while left and time.monotonic() - t0 < 5:
                left = [pc for pc in left if pc.status(tok) != 401]
            assert not left, "round %d: still accepted 5 s after the logout" % i
            refused.append(time.monotonic() - t0)
            th.join(5)
            assert ws_done.get("code") == 1008, "round %d: no Close 1008 on B's tunnel" % i
            closed.append(ws_done["t"] - t0)
            ws.close()
            for pc in polls:
                pc.sock.close()
        print("## Revocation propagation: logout on A, %d rounds, %d workers per instance\n"
              % (ROUNDS, WORKERS))
        print("| measure | p50 ms | p99 ms | max ms |")
        print("|---|---|---|---|")
        for name, xs in (("B and C refuse the access token", refused),
                         ("B's WebSocket tunnel gets Close 1008", closed)):
            print("| %s | %.1f | %.1f | %.1f |" % (name, statistics.median(xs) * 1000,
                                                   pct(xs, 0.99) * 1000, max(xs) * 1000))
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(run, ignore_errors=True)


if __name__ == "__main__":
    main()
