"""TLS termination (CONTRACT.md section 10; docs/tls.md): tls-listen with tls-cert-file and
tls-key-file, TLS 1.2 and 1.3 clients, tls-min-version, ALPN, ECDHE only, resumption,
X-Forwarded-Proto, Secure cookies, the certificate swapped by SIGHUP, bad files refused by
`check` and `serve`, and what a TLS port does with plain HTTP, garbage and a stalled
handshake. Every certificate comes from a throwaway CA (tlscerts.py).
"""

import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time

import pytest

from conftest import AUTHGATE_BIN, DEFAULTS, free_port, hdr, pattern_sha256, wait_port
from tlscerts import CA


def tls_config(cert, key, port, **over):
    cfg = {"tls-listen": "127.0.0.1:%d" % port, "tls-cert-file": str(cert), "tls-key-file": str(key)}
    cfg.update(over)
    return cfg


def client_ctx(ca, minv=None, maxv=None, alpn=None, ciphers=None):
    ctx = ssl.create_default_context(cafile=str(ca.path))
    if minv:
        ctx.minimum_version = minv
    if maxv:
        ctx.maximum_version = maxv
    if alpn:
        ctx.set_alpn_protocols(alpn)
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


class TLSConn:
    """A TLS client connection that sends requests and reads whole responses (keep-alive)."""

    def __init__(self, ctx, port, name="localhost", session=None, timeout=5.0):
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock = ctx.wrap_socket(raw, server_hostname=name, session=session)
        self.buf = b""

    def request(self, path="/echo", extra="", body=None):
        """GET <path>, or POST <body> (<extra> then holds its Content-Length and the blank line)."""
        if body is None:
            self.sock.sendall(("GET %s HTTP/1.1\r\nHost: gw.test\r\n%s\r\n" % (path, extra)).encode())
        else:
            self.sock.sendall(("POST %s HTTP/1.1\r\nHost: gw.test\r\n%s" % (path, extra)).encode() + body)
        while b"\r\n\r\n" not in self.buf:
            d = self.sock.recv(65536)
            assert d, "closed before a response head"
            self.buf += d
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = [tuple(x.split(": ", 1)) for x in lines[1:]]
        n = int(hdr(headers, "Content-Length", "0"))
        while len(rest) < n:
            d = self.sock.recv(65536)
            assert d, "closed mid-body"
            rest += d
        self.buf = rest[n:]
        return int(lines[0].split()[1]), headers, rest[:n]

    def peer_cert(self):
        return self.sock.getpeercert(binary_form=True)

    def close(self):
        self.sock.close()


def der(path):
    return ssl.PEM_cert_to_DER_cert(path.read_text().split("-----END CERTIFICATE-----")[0]
                                    + "-----END CERTIFICATE-----\n")


def forwarded_proto(body):
    return [v for k, v in json.loads(body)["headers"] if k.lower() == "x-forwarded-proto"]


@pytest.fixture
def ca(tmp_path):
    return CA(tmp_path, "ca1")


def test_tls12_and_tls13_clients_and_forwarded_proto(ca, upstream, gateway):
    cert, key = ca.leaf("gw")
    port = free_port()
    gw = gateway(tls_config(cert, key, port))
    for ver, cipher in ((ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-AES128-GCM-SHA256"),
                        (ssl.TLSVersion.TLSv1_3, "TLS_AES_128_GCM_SHA256")):
        c = TLSConn(client_ctx(ca, minv=ver, maxv=ver), port)
        assert c.sock.version() == ver.name.replace("_", ".")
        assert c.sock.cipher()[0] == cipher  # server preference: AES-128-GCM first, ECDHE only
        st, _, body = c.request()
        assert st == 200
        assert forwarded_proto(body) == ["https"]
        st, _, body = c.request("/echo/again")  # keep-alive over TLS
        assert st == 200 and json.loads(body)["target"] == "/echo/again"
        c.close()
    # the plain listener next to it says http
    with socket.create_connection(("127.0.0.1", gw.port)) as s:
        s.sendall(b"GET /echo HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n")
        data = b""
        while (d := s.recv(65536)):
            data += d
    assert forwarded_proto(data.split(b"\r\n\r\n", 1)[1]) == ["http"]


def test_large_bodies_both_ways(ca, upstream, gateway):
    cert, key = ca.leaf("gw")
    port = free_port()
    gateway(tls_config(cert, key, port))
    c = TLSConn(client_ctx(ca), port, timeout=20)
    st, _, body = c.request("/bytes?n=3000000")
    assert st == 200 and len(body) == 3000000
    assert hashlib.sha256(body).hexdigest() == pattern_sha256(3000000)
    payload = os.urandom(2_000_000)
    st, _, body = c.request("/echo/upload", "Content-Length: %d\r\n\r\n" % len(payload), payload)
    assert st == 200
    assert json.loads(body)["body_sha256"] == hashlib.sha256(payload).hexdigest()
    c.close()


def test_min_version_13_refuses_a_12_client(ca, upstream, gateway):
    cert, key = ca.leaf("gw")
    port = free_port()
    gateway(tls_config(cert, key, port, **{"tls-min-version": "1.3"}))
    with pytest.raises(ssl.SSLError):
        TLSConn(client_ctx(ca, maxv=ssl.TLSVersion.TLSv1_2), port)
    c = TLSConn(client_ctx(ca), port)
    assert c.sock.version() == "TLSv1.3"
    assert c.request()[0] == 200
    c.close()


def test_alpn_http11_only(ca, upstream, gateway):
    cert, key = ca.leaf("gw")
    port = free_port()
    gateway(tls_config(cert, key, port))
    c = TLSConn(client_ctx(ca, alpn=["h2", "http/1.1"]), port)
    assert c.sock.selected_alpn_protocol() == "http/1.1"
    assert c.request()[0] == 200
    c.close()
    c = TLSConn(client_ctx(ca), port)  # no ALPN at all is fine
    assert c.sock.selected_alpn_protocol() is None
    assert c.request()[0] == 200
    c.close()
    with pytest.raises(ssl.SSLError, match="NO_APPLICATION_PROTOCOL|no application protocol"):
        TLSConn(client_ctx(ca, alpn=["h2"]), port)


def test_rsa_key_and_ecdhe_only(ca, upstream, gateway):
    cert, key = ca.leaf("gw", kind="rsa")
    port = free_port()
    gateway(tls_config(cert, key, port))
    c = TLSConn(client_ctx(ca, maxv=ssl.TLSVersion.TLSv1_2), port)
    assert c.sock.cipher()[0] == "ECDHE-RSA-AES128-GCM-SHA256"
    assert c.request()[0] == 200
    c.close()
    # RSA key exchange (no forward secrecy) is not offered
    with pytest.raises(ssl.SSLError):
        TLSConn(client_ctx(ca, maxv=ssl.TLSVersion.TLSv1_2, ciphers="AES128-GCM-SHA256"), port)


def test_session_resumption_by_ticket(ca, upstream, gateway):
    cert, key = ca.leaf("gw")
    port = free_port()
    gateway(tls_config(cert, key, port))
    for ver in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = client_ctx(ca, minv=ver, maxv=ver)
        c = TLSConn(ctx, port)
        assert c.request()[0] == 200  # a TLS 1.3 ticket arrives after the handshake
        sess = c.sock.session
        assert not c.sock.session_reused
        c.close()
        c = TLSConn(ctx, port, session=sess)
        assert c.sock.session_reused, ver
        assert c.request()[0] == 200
        c.close()


def test_only_tls_listener_with_empty_listen(ca, upstream, tmp_path):
    cert, key = ca.leaf("gw")
    port = free_port()
    cfg = dict(DEFAULTS, upstream=upstream.url, listen=[], **tls_config(cert, key, port))
    path = tmp_path / "only-tls.json"
    path.write_text(json.dumps(cfg))
    err = open(tmp_path / "only-tls.stderr", "wb")
    p = subprocess.Popen([str(AUTHGATE_BIN), "serve", "--config", str(path)], stdout=err, stderr=err)
    try:
        assert wait_port(port, 10.0, p)
        c = TLSConn(client_ctx(ca), port)
        st, _, body = c.request()
        assert st == 200 and forwarded_proto(body) == ["https"]
        c.close()
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(10) == 0
        err.close()
    log = (tmp_path / "only-tls.stderr").read_text()
    assert "listening with TLS on 127.0.0.1:%d" % port in log
    assert "Sanitizer" not in log and "runtime error" not in log


def wait_log(gw, text, timeout=5.0):
    deadline = time.monotonic() + timeout
    while text not in gw.stderr():
        assert time.monotonic() < deadline, "no %r in the log:\n%s" % (text, gw.stderr())
        time.sleep(0.05)


def start_with_live_files(ca, tmp_path, gateway):
    """A gateway whose tls-cert-file / tls-key-file are copies that a test may replace:
    (gateway, port, the first certificate's path, the live cert path, the live key path)."""
    cert, key = ca.leaf("gw")
    live_cert, live_key = tmp_path / "live.crt", tmp_path / "live.key"
    shutil.copy(cert, live_cert)
    shutil.copy(key, live_key)
    port = free_port()
    return gateway(tls_config(live_cert, live_key, port)), port, cert, live_cert, live_key


def test_sighup_swaps_the_certificate_open_connections_keep_theirs(ca, tmp_path, upstream, gateway):
    gw, port, cert, live_cert, live_key = start_with_live_files(ca, tmp_path, gateway)
    ca2 = CA(tmp_path, "ca2")
    both = ssl.create_default_context(cafile=str(ca.path))
    both.load_verify_locations(cafile=str(ca2.path))
    old = TLSConn(both, port)
    assert old.request()[0] == 200
    assert old.peer_cert() == der(cert)

    cert2, key2 = ca2.leaf("gw2")
    shutil.copy(cert2, live_cert)
    shutil.copy(key2, live_key)
    gw.send_signal(signal.SIGHUP)
    wait_log(gw, "configuration reloaded")
    # every worker switches at its next loop pass: the first handshakes may still be older
    deadline = time.monotonic() + 5
    while True:
        c = TLSConn(both, port)
        if c.peer_cert() == der(cert2):
            break
        c.close()
        assert time.monotonic() < deadline, "the new certificate never served"
    assert c.request()[0] == 200
    c.close()
    # a client that trusts only the new CA now connects; one that trusts only the old fails
    TLSConn(client_ctx(ca2), port).close()
    with pytest.raises(ssl.SSLCertVerificationError):
        TLSConn(client_ctx(ca), port)
    # the connection opened before the reload is untouched, with its certificate
    st, _, body = old.request("/echo/after-reload")
    assert st == 200 and json.loads(body)["target"] == "/echo/after-reload"
    assert old.peer_cert() == der(cert)
    old.close()


def test_sighup_with_a_bad_pair_keeps_the_old_certificate(ca, tmp_path, upstream, gateway):
    gw, port, cert, _, live_key = start_with_live_files(ca, tmp_path, gateway)
    _, other_key = ca.leaf("other")
    shutil.copy(other_key, live_key)  # does not match the certificate
    gw.send_signal(signal.SIGHUP)
    wait_log(gw, "reload refused")
    assert "tls-key-file" in gw.stderr() and "does not match" in gw.stderr()
    for _ in range(4):
        c = TLSConn(client_ctx(ca), port)
        assert c.peer_cert() == der(cert)
        assert c.request()[0] == 200
        c.close()


def run_cli(cmd, cfg, tmp_path):
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg))
    p = subprocess.run([str(AUTHGATE_BIN), cmd, "--config", str(path)], capture_output=True,
                       text=True, timeout=20)
    return p.returncode, p.stdout + p.stderr


@pytest.mark.parametrize("cmd", ["check", "serve"])
def test_bad_files_are_refused_naming_the_key(cmd, ca, tmp_path):
    cert, key = ca.leaf("gw")
    _, other_key = ca.leaf("other")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("this is not PEM\n")
    base = dict(DEFAULTS, upstream="http://127.0.0.1:9", listen="127.0.0.1:%d" % free_port())
    port = free_port()
    cases = [
        (tls_config(tmp_path / "missing.crt", key, port), "tls-cert-file", "cannot open"),
        (tls_config(cert, tmp_path / "missing.key", port), "tls-key-file", "cannot open"),
        (tls_config(garbage, key, port), "tls-cert-file", "no PEM certificate"),
        (tls_config(key, key, port), "tls-cert-file", "no PEM certificate"),
        (tls_config(cert, garbage, port), "tls-key-file", "no PEM private key"),
        (tls_config(cert, cert, port), "tls-key-file", "no PEM private key"),
        (tls_config(cert, other_key, port), "tls-key-file", "does not match the certificate"),
        ({"tls-listen": "127.0.0.1:%d" % port}, "tls-cert-file", "required with tls-listen"),
        (tls_config(cert, key, port, **{"tls-min-version": "1.1"}), "tls-min-version",
         'expected "1.2" or "1.3"'),
        ({"listen": []}, "listen", "must not be an empty array"),
    ]
    for over, keyname, why in cases:
        rc, out = run_cli(cmd, dict(base, **over), tmp_path)
        assert rc == 2, (over, out)
        assert ": %s: " % keyname in out and why in out, (over, out)
    if os.geteuid() != 0:  # root reads any file
        unreadable = tmp_path / "unreadable.key"
        shutil.copy(key, unreadable)
        unreadable.chmod(0)
        rc, out = run_cli(cmd, dict(base, **tls_config(cert, unreadable, port)), tmp_path)
        assert rc == 2 and ": tls-key-file: cannot open" in out, out
    rc, out = run_cli("check", dict(base, **tls_config(cert, key, port)), tmp_path)
    assert rc == 0, out


def assert_closed_quietly(sock, timeout=3.0):
    """The gateway closes <sock> without an HTTP answer (maybe with a TLS alert)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while (d := sock.recv(4096)):
            data += d
    except ConnectionResetError:
        pass
    assert not data.startswith(b"HTTP/"), data
    return data


def test_plain_http_and_garbage_on_the_tls_port(ca, upstream, gateway):
    cert, key = ca.leaf("gw")
    port = free_port()
    gateway(tls_config(cert, key, port))
    good = TLSConn(client_ctx(ca), port)
    assert good.request()[0] == 200
    for junk in (b"GET / HTTP/1.1\r\nHost: gw.test\r\n\r\n", os.urandom(3000),
                 b"\x16\x03\x01\x00\x05hello"):
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(junk)
            t0 = time.monotonic()
            assert_closed_quietly(s)
            assert time.monotonic() - t0 < 2.5
    # the others were not disturbed
    st, _, body = good.request("/echo/still")
    assert st == 200 and json.loads(body)["target"] == "/echo/still"
    good.close()


def test_stalled_handshake_closed_after_the_header_timeout(ca, upstream, gateway):
    cert, key = ca.leaf("gw")
    port = free_port()
    gateway(tls_config(cert, key, port, **{"client-header-timeout": 1}))
    with socket.create_connection(("127.0.0.1", port)) as idle, \
            socket.create_connection(("127.0.0.1", port)) as half:
        half.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # a ClientHello cut short
        t0 = time.monotonic()
        # a handshake that completes meanwhile is served
        c = TLSConn(client_ctx(ca), port)
        assert c.request()[0] == 200
        assert_closed_quietly(idle, timeout=5)
        assert_closed_quietly(half, timeout=5)
        elapsed = time.monotonic() - t0
        assert 0.5 < elapsed < 3.5, elapsed
        c.close()


def test_cookies_are_secure_over_tls(ca, upstream, gateway, redis_server):
    import requests
    cert, key = ca.leaf("gw")
    port = free_port()
    gw = gateway(tls_config(cert, key, port, redis=redis_server.url, **{
        "master-token": "master-token-for-tls-tests", "rate-limits": False}))
    deadline = time.monotonic() + 15
    url = "https://localhost:%d" % port
    while requests.get(url + "/auth/ready", verify=str(ca.path), timeout=5).status_code != 200:
        assert time.monotonic() < deadline, gw.stderr()
        time.sleep(0.1)
    r = requests.get(url + "/auth/token/new", headers={"MASTER-TOKEN": "master-token-for-tls-tests"},
                     verify=str(ca.path), timeout=10)
    assert r.status_code == 200, r.text
    cookies = [v for k, v in r.raw.headers.items() if k.lower() == "set-cookie"]
    assert cookies and all("; Secure" in v for v in cookies), cookies


def test_websocket_over_tls(ca, upstream, gateway):
    import websocket
    cert, key = ca.leaf("gw")
    port = free_port()
    gateway(tls_config(cert, key, port))
    ws = websocket.create_connection("wss://localhost:%d/ws" % port, timeout=5,
                                     sslopt={"ca_certs": str(ca.path)})
    try:
        ws.send("over TLS")
        assert ws.recv() == "over TLS"
        big = os.urandom(300_000)  # many records each way through the tunnel
        ws.send_binary(big)
        assert ws.recv_data()[1] == big
    finally:
        ws.close()
