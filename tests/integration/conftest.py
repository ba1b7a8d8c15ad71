"""
tests/integration/conftest.py - fixtures for authgate's black-box integration suite.

Run:  /usr/bin/python3 -m pytest tests/integration          (from the repo root)
      AUTHGATE_BIN=/path/to/authgate /usr/bin/python3 -m pytest tests/integration
      ... -m "not slow"                                     (skip the 200 MiB / 2,000-conn cases)

Each test starts its own echo upstream (upstream.py, a subprocess) and its own gateway
(`authgate serve --config FILE`) with an inline JSON config merged over DEFAULTS below.
At teardown the gateway gets SIGTERM and must exit 0 within 10 s with no sanitizer
report on stderr.

Entry points for tests:
  upstream               fixture: a running upstream.py (.port, .url, .requests(), .reset())
  gateway                fixture: a factory, gateway(config={...}, upstream=...) -> Gateway
  RawConn                raw-socket client: send(), read_response(), closed()
  raw_request(...)       one request over a fresh socket -> (Response, closed_after)
  pattern_sha256(n)      expected digest of /bytes?n=N (see upstream.py)
"""

import contextlib
import json
import os
import re
import resource
import selectors
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from upstream import iter_pattern, pattern, pattern_sha256  # noqa: E402,F401

REPO = HERE.parent.parent
AUTHGATE_BIN = Path(os.environ.get("AUTHGATE_BIN", REPO / "build" / "authgate"))
PYTHON = sys.executable

CRYPTO_KEY = "integration-test-cryptography-key-0123456789"
SANITIZER_RE = re.compile(r"ERROR: AddressSanitizer|LeakSanitizer|runtime error:")

DEFAULTS = {
    "cryptography-key": CRYPTO_KEY,
    # Replaced by the suite's own redis-server (suite_redis below) when one can run: a
    # gateway accepts an access token only once it has loaded the live revocations from
    # Redis (CONTRACT.md section 8). Nothing listens on port 1.
    "redis": "redis://127.0.0.1:1/0",
    "access-log": "off",
    "workers": 2,
    "drain-timeout": 5,
}


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running case (200 MiB bodies, 2,000 connections); "
                            "runs by default, deselect with -m 'not slow'")


# ---------------------------------------------------------------- helpers

def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0, proc=None):
    """Waits until 127.0.0.1:<port> accepts a connection; False on timeout or if <proc> died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def port_refuses(port):
    """True when a connection to 127.0.0.1:<port> is refused."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


def stop_process(proc, timeout=5.0):
    """SIGTERM to <proc> (a Popen) if it still runs, SIGKILL after <timeout> s; waits for it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def sanitizer_lines(text):
    return [line for line in text.splitlines() if SANITIZER_RE.search(line)]


def hdr(headers, name, default=None):
    """First value of header <name> in a list of (name, value) pairs, case-insensitively."""
    name = name.lower()
    for k, v in headers:
        if k.lower() == name:
            return v
    return default


def hdr_all(headers, name):
    name = name.lower()
    return [v for k, v in headers if k.lower() == name]


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# ---------------------------------------------------------------- raw HTTP client

class Response:
    def __init__(self):
        self.version = None
        self.status = None
        self.reason = None
        self.headers = []
        self.body = b""
        self.raw_head = b""

    def header(self, name, default=None):
        return hdr(self.headers, name, default)

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<Response %s %r %r>" % (self.status, self.headers, self.body[:200])


class ConnectionClosed(Exception):
    """The peer closed the connection before a full response arrived."""

    def __init__(self, partial=b""):
        super().__init__("connection closed after %d bytes: %r" % (len(partial), partial[:200]))
        self.partial = partial


class RawConn:
    """A client socket that speaks raw bytes and reads HTTP/1.1 responses."""

    def __init__(self, port, host="127.0.0.1", timeout=5.0, source=None):
        """<source>: the local address to connect from (another loopback one, say)."""
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.timeout = timeout
        self.eof = False

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def close(self):
        with contextlib.suppress(OSError):
            self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _fill(self):
        if self.eof:
            raise ConnectionClosed(bytes(self.buf))
        try:
            data = self.sock.recv(1 << 20)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            raise ConnectionClosed(bytes(self.buf))
        self.buf += data

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                return self._take(i + 2)[:-2]
            self._fill()

    def read_response(self, method="GET", timeout=None, skip_1xx=True):
        """Reads one full response (head and body, CL/chunked/close-delimited)."""
        if timeout is not None:
            self.sock.settimeout(timeout)
        try:
            while True:
                resp = self._read_one(method)
                if skip_1xx and 100 <= resp.status < 200 and resp.status != 101:
                    continue
                return resp
        finally:
            self.sock.settimeout(self.timeout)

    def _read_one(self, method):
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                break
            self._fill()
        head = self._take(i + 4)
        lines = head[:-4].decode("latin-1").split("\r\n")
        r = Response()
        r.raw_head = head
        parts = lines[0].split(" ", 2)
        r.version, r.status = parts[0], int(parts[1])
        r.reason = parts[2] if len(parts) > 2 else ""
        for line in lines[1:]:
            k, _, v = line.partition(":")
            r.headers.append((k, v.strip(" \t")))
        if method == "HEAD" or r.status in (204, 304) or 100 <= r.status < 200:
            return r
        te = ",".join(hdr_all(r.headers, "transfer-encoding")).lower()
        cl = r.header("content-length")
        if "chunked" in te:
            body = []
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line():
                        pass
                    break
                body.append(self._take(size))
                assert self._take(2) == b"\r\n", "bad chunk terminator"
            r.body = b"".join(body)
        elif cl is not None:
            r.body = self._take(int(cl))
        else:
            while True:
                try:
                    self._fill()
                except ConnectionClosed:
                    break
            r.body = bytes(self.buf)
            self.buf.clear()
        return r

    def closed(self, timeout=3.0):
        """True when the peer closes (EOF or reset) within <timeout> s with no further data.

        Data that arrives first is kept in the buffer and counts as "not closed"."""
        if self.buf:
            return False
        if self.eof:
            return True
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
        finally:
            with contextlib.suppress(OSError):
                self.sock.settimeout(self.timeout)
        if not data:
            self.eof = True
            return True
        self.buf += data
        return False


def raw_request(port, data, method="GET", timeout=5.0, close_timeout=3.0):
    """Sends <data> on a fresh connection; returns (Response or None, closed_after).

    Response is None when the gateway closed without answering."""
    with RawConn(port, timeout=timeout) as c:
        c.send(data)
        try:
            resp = c.read_response(method=method)
        except ConnectionClosed:
            return None, True
        return resp, c.closed(close_timeout)


def simple_get(path="/echo", host="gw.test", extra=""):
    return ("GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (path, host, extra)).encode("latin-1")


def assert_json_error(resp, status):
    """<resp> is a gateway-made error: status, JSON content type, a "detail" string."""
    assert resp is not None, "no response (connection closed without an answer)"
    if isinstance(status, int):
        status = (status,)
    assert resp.status in status, "status %s, expected %s: %r" % (resp.status, status, resp)
    ctype = resp.header("content-type", "")
    assert ctype.split(";")[0].strip().lower() == "application/json", resp
    body = json.loads(resp.body)
    assert isinstance(body, dict) and isinstance(body.get("detail"), str), body
    return body


# ---------------------------------------------------------------- upstream

class Upstream:
    def __init__(self, tmpdir):
        self.stderr_path = Path(tmpdir) / "upstream.stderr"
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen([PYTHON, str(HERE / "upstream.py"), "--port", "0"],
                                     stdout=subprocess.PIPE, stderr=self._err)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("READY"):
            self.stop()
            raise RuntimeError("upstream did not start: %r %s" % (line, self.stderr_path.read_text()))
        self.port = int(line.split(":")[-1])
        self.url = "http://127.0.0.1:%d" % self.port

    def _call(self, method, path):
        with RawConn(self.port, timeout=10) as c:
            c.send("%s %s HTTP/1.1\r\nHost: upstream\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                   % (method, path))
            return c.read_response(method=method).json()

    def requests(self, complete_only=False):
        """Everything this upstream received (see upstream.py for the record's fields)."""
        recs = self._call("GET", "/__requests")
        return [r for r in recs if r["complete"]] if complete_only else recs

    def reset(self):
        self._call("POST", "/__reset")

    def open_connections(self):
        """How many connections (from the gateway) the upstream has open right now."""
        return self._call("GET", "/__conns")["open"]

    def stop(self):
        stop_process(self.proc)
        self._err.close()


@pytest.fixture
def upstream(tmp_path):
    u = Upstream(tmp_path)
    yield u
    u.stop()


# ---------------------------------------------------------------- gateway

class Gateway:
    """A running `authgate serve --config FILE` with its inline config."""

    def __init__(self, tmpdir, config, name="gw"):
        self.tmpdir = Path(tmpdir)
        self.config = config
        listen = config["listen"]
        self.port = int((listen[0] if isinstance(listen, list) else listen).rsplit(":", 1)[1])
        self.url = "http://127.0.0.1:%d" % self.port
        self.config_path = self.tmpdir / ("%s.json" % name)
        self.stderr_path = self.tmpdir / ("%s.stderr" % name)
        self.stopped = False
        self.returncode = None
        self._conns = []
        self.write_config(config)
        env = dict(os.environ)
        env.pop("CRYPTOGRAPHY_KEY", None)
        env.pop("MASTER_TOKEN", None)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen([str(AUTHGATE_BIN), "serve", "--config", str(self.config_path)],
                                     stdin=subprocess.DEVNULL, stdout=self._err, stderr=self._err,
                                     env=env)
        if not wait_port(self.port, 10.0, self.proc):
            self.proc.kill()
            self.proc.wait()
            self._err.close()
            raise RuntimeError("gateway did not listen on %d within 10 s (exit %s):\n%s"
                               % (self.port, self.proc.returncode, self.stderr()))

    def write_config(self, config):
        tmp = self.config_path.with_suffix(".tmp")
        if isinstance(config, (bytes, str)):
            tmp.write_bytes(config if isinstance(config, bytes) else config.encode())
        else:
            tmp.write_text(json.dumps(config, indent=2))
        os.replace(tmp, self.config_path)

    def stderr(self):
        return self.stderr_path.read_text(errors="replace")

    def raw(self, timeout=5.0):
        """A RawConn to the gateway, closed before the gateway is stopped."""
        c = RawConn(self.port, timeout=timeout)
        self._conns.append(c)
        return c

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Sends <sig> and waits; returns the exit status (None if it had to be killed)."""
        for c in self._conns:
            c.close()
        if self.stopped:
            return self.returncode
        self.stopped = True
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self._err.close()
                self.returncode = None
                return None
        self._err.close()
        self.returncode = self.proc.returncode
        return self.returncode

    def wait_exit(self, timeout=10.0):
        """Waits for an exit the test provoked itself; returns the status."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self.stopped = True
        self._err.close()
        self.returncode = self.proc.returncode
        return self.returncode


def make_config(overrides, upstream_url=None, port=None):
    cfg = dict(DEFAULTS)
    cfg["listen"] = "127.0.0.1:%d" % (port or free_port())
    if upstream_url:
        cfg["upstream"] = upstream_url
    for k, v in (overrides or {}).items():
        if v is None:
            cfg.pop(k, None)
        else:
            cfg[k] = v
    return cfg


FAKEDNS = AUTHGATE_BIN.parent / "tests" / "libfakedns.so"


@pytest.fixture
def slow_dns(monkeypatch):
    """Gateways started after it resolve "slow.authgate.test" to 127.0.0.1 in 1.5 s: the
    test build's tests/libfakedns.so (tests/harness/fakedns.c) is LD_PRELOADed. ASan wants
    its runtime first among the libraries; the preload comes first, so that check is off."""
    if not FAKEDNS.exists():
        pytest.fail("%s not built (meson compile -C %s)" % (FAKEDNS, AUTHGATE_BIN.parent))
    monkeypatch.setenv("LD_PRELOAD", str(FAKEDNS))
    monkeypatch.setenv("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:verify_asan_link_order=0")


@pytest.fixture
def gateway(tmp_path, request):
    """Factory: gateway(config=None, upstream=None) -> Gateway.

    <config> is merged over DEFAULTS (a None value removes a key). <upstream> is an
    Upstream (or a URL); by default the test's `upstream` fixture is used if it asked
    for one. At teardown: SIGTERM, exit 0 within 10 s, no sanitizer report."""
    started = []

    def start(config=None, upstream=None):
        if not AUTHGATE_BIN.exists():
            pytest.fail("gateway binary not found: %s (build it or set AUTHGATE_BIN)" % AUTHGATE_BIN)
        if upstream is None and "upstream" in request.fixturenames:
            upstream = request.getfixturevalue("upstream")
        url = upstream if isinstance(upstream, str) or upstream is None else upstream.url
        if url is None and "upstream" not in (config or {}):
            url = "http://127.0.0.1:%d" % free_port()
        cfg = make_config(config, url)
        gw = Gateway(tmp_path, cfg, name="gw%d" % len(started))
        started.append(gw)
        return gw

    yield start

    problems = []
    for gw in started:
        was_stopped = gw.stopped
        rc = gw.stop()
        err = gw.stderr()
        if rc != 0:
            problems.append("gateway %s exit status %r (expected 0)%s\n--- stderr tail ---\n%s"
                            % (gw.config_path.name, rc, " (killed after 10 s)" if rc is None and not was_stopped
                               else "", err[-4000:]))
        bad = sanitizer_lines(err)
        if bad:
            problems.append("sanitizer report in %s:\n%s\n--- stderr tail ---\n%s"
                            % (gw.stderr_path, "\n".join(bad), err[-8000:]))
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


def run_authgate(*args, env_extra=None, input=None, timeout=20):
    env = dict(os.environ)
    env.pop("CRYPTOGRAPHY_KEY", None)
    env.pop("MASTER_TOKEN", None)
    env.update(env_extra or {})
    if not AUTHGATE_BIN.exists():
        pytest.fail("gateway binary not found: %s" % AUTHGATE_BIN)
    return subprocess.run([str(AUTHGATE_BIN)] + [str(a) for a in args], capture_output=True,
                          text=True, env=env, input=input, timeout=timeout,
                          stdin=None if input is not None else subprocess.DEVNULL)


# ---------------------------------------------------------------- many connections

def many_requests(port, n, request_bytes, timeout=60.0):
    """Opens <n> connections at once, sends <request_bytes> on each, and reads every
    response while all sockets stay open. Returns the list of raw responses (bytes,
    None for a connection that closed or failed before a full response)."""
    sel = selectors.DefaultSelector()
    socks = []
    state = {}
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        socks.append(s)
        state[s] = {"out": request_bytes, "in": bytearray(), "done": False, "error": None}
        sel.register(s, selectors.EVENT_WRITE)
    deadline = time.monotonic() + timeout
    pending = n
    while pending and time.monotonic() < deadline:
        for key, ev in sel.select(timeout=1.0):
            s = key.fileobj
            st = state[s]
            try:
                if ev & selectors.EVENT_WRITE:
                    sent = s.send(st["out"])
                    st["out"] = st["out"][sent:]
                    if not st["out"]:
                        sel.modify(s, selectors.EVENT_READ)
                    continue
                data = s.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as e:
                st["error"] = e
                data = b""
            if data:
                st["in"] += data
                if response_complete(st["in"]):
                    st["done"] = True
            if not data or st["done"]:
                sel.unregister(s)
                pending -= 1
    out = [bytes(state[s]["in"]) if state[s]["done"] else None for s in socks]
    for s in socks:  # only now: every connection was held open until all were answered
        s.close()
    sel.close()
    return out


def response_complete(buf):
    i = buf.find(b"\r\n\r\n")
    if i < 0:
        return False
    head = bytes(buf[:i]).decode("latin-1").lower()
    m = re.search(r"\r\ncontent-length:\s*(\d+)", head)
    if m:
        return len(buf) - i - 4 >= int(m.group(1))
    if "transfer-encoding: chunked" in head:
        return buf.endswith(b"0\r\n\r\n")
    return False


# ---------------------------------------------------------------- redis (tests/integration/test_tokens.py)

REDIS_BIN = os.environ.get("REDIS_SERVER", "redis-server")


class RedisServer:
    """A redis-server on a free port with its data directory in a temp dir; no persistence.
    stop() and start() keep the port, so a gateway sees an outage and a recovery."""

    def __init__(self, tmpdir):
        self.dir = Path(tmpdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = "redis://127.0.0.1:%d/0" % self.port
        self.proc = None
        self.start()

    def start(self):
        log = open(self.dir / "redis.log", "ab")
        self.proc = subprocess.Popen([REDIS_BIN, "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no", "--dir", str(self.dir)],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        if not wait_port(self.port, 10.0, self.proc):
            self.stop()
            raise RuntimeError("redis-server did not listen on %d" % self.port)

    def stop(self):
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


@pytest.fixture
def redis_server(tmp_path):
    """A running redis-server (.port, .url, .stop(), .start()) for one test."""
    import shutil
    if shutil.which(REDIS_BIN) is None:
        pytest.skip("redis-server not installed")
    r = RedisServer(tmp_path / "redis")
    yield r
    r.stop()


@pytest.fixture(scope="session", autouse=True)
def suite_redis(tmp_path_factory):
    """One redis-server for every gateway that does not name its own (DEFAULTS["redis"]):
    without a Redis a gateway never loads the revocations, so it refuses every token-bearing
    request with 503 (CONTRACT.md section 8). Tests about Redis itself start their own
    (redis_server) or name an address where nothing listens."""
    import shutil
    if shutil.which(REDIS_BIN) is None:
        yield None
        return
    r = RedisServer(tmp_path_factory.mktemp("suite-redis"))
    old = DEFAULTS["redis"]
    DEFAULTS["redis"] = r.url
    yield r
    DEFAULTS["redis"] = old
    r.stop()


class Cut:
    """What a protected request answers when the gateway cut it: it was upstream when the
    credential that let it through was revoked (CONTRACT.md section 15: such a connection
    is closed). status_code 0 matches no status a test asks for, so a poll waiting for the
    401 polls on, and any other assertion on it fails with "0"."""

    status_code = 0
    text = "(cut by the gateway: its credential was revoked while it was upstream)"


def get_or_cut(url, headers, timeout=10):
    """requests.get(), or Cut when the gateway closed the connection without an answer."""
    import requests  # noqa: PLC0415 (conftest imports no HTTP client at load)
    try:
        return requests.get(url, headers=headers, timeout=timeout)
    except requests.ConnectionError:
        return Cut()
