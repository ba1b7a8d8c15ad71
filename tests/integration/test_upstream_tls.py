"""https upstreams (CONTRACT.md section 10; docs/tls.md "TLS to the upstream"): the
certificate verified against upstream-ca-file or the system's CA store, SNI and the host
name (or address) checked, a refusal a 502 (never plain HTTP instead), pooled connections
reused with their TLS session, routes' upstreams alike.
"""

import json
import subprocess
import time

import pytest
import requests

from conftest import DEFAULTS, HERE, PYTHON, AUTHGATE_BIN, free_port
from tlscerts import CA


class TLSUpstream:
    """upstream.py over TLS with <cert>/<key>."""

    def __init__(self, tmpdir, cert, key):
        self.err = open(tmpdir / ("up-%s.stderr" % cert.stem), "wb")
        self.proc = subprocess.Popen([PYTHON, str(HERE / "upstream.py"), "--port", "0",
                                      "--tls-cert", str(cert), "--tls-key", str(key)],
                                     stdout=subprocess.PIPE, stderr=self.err)
        line = self.proc.stdout.readline().decode()
        assert line.startswith("READY"), line
        self.port = int(line.split(":")[-1])

    def stop(self):
        self.proc.terminate()
        self.proc.wait(5)
        self.err.close()


@pytest.fixture
def tls_upstreams(tmp_path):
    made = []

    def start(cert, key):
        u = TLSUpstream(tmp_path, cert, key)
        made.append(u)
        return u
    yield start
    for u in made:
        u.stop()


@pytest.fixture
def ca(tmp_path):
    return CA(tmp_path, "upca")


def get(gw, path="/echo"):
    return requests.get(gw.url + path, timeout=10)


def test_verified_upstream_and_pooled_connection(ca, tmp_path, tls_upstreams, gateway):
    u = tls_upstreams(*ca.leaf("up"))
    gw = gateway({"upstream-ca-file": str(ca.path), "workers": 1},
                 upstream="https://127.0.0.1:%d" % u.port)
    first = get(gw)
    assert first.status_code == 200, first.text
    assert first.json()["target"] == "/echo"
    # the pooled connection keeps its TLS session: the same upstream connection again
    seen = [get(gw, "/echo/%d" % i).json() for i in range(3)]
    assert {s["conn_id"] for s in seen} == {first.json()["conn_id"]}
    assert [s["requests_on_conn"] for s in seen] == [2, 3, 4]


def test_new_upstream_connection_resumes_the_session(ca, tmp_path, tls_upstreams, gateway):
    import threading
    u = tls_upstreams(*ca.leaf("up"))
    gw = gateway({"upstream-ca-file": str(ca.path), "workers": 1},
                 upstream="https://127.0.0.1:%d" % u.port)
    first = get(gw).json()
    assert first["tls_resumed"] is False  # nothing to resume yet: a full handshake
    busy = threading.Thread(target=get, args=(gw, "/slow?delay=1.5"))
    busy.start()  # holds the pooled connection...
    deadline = time.monotonic() + 5
    while True:  # ...once the upstream has it (no sleep: its record says so)
        if any(r["target"].startswith("/slow") for r in u_requests(u, ca)):
            break
        assert time.monotonic() < deadline
        time.sleep(0.02)
    second = get(gw, "/echo/second").json()  # so this one needs a new connection
    busy.join(10)
    assert second["conn_id"] != first["conn_id"]
    assert second["tls_resumed"] is True


def u_requests(u, ca):
    """What the TLS upstream <u> recorded, asked directly (not through the gateway)."""
    return requests.get("https://127.0.0.1:%d/__requests" % u.port, verify=str(ca.path),
                        timeout=10).json()


def test_upstream_by_name_with_sni(ca, tmp_path, tls_upstreams, gateway):
    # "localhost" resolves to 127.0.0.1 here (the name is checked, the address is dialled)
    u = tls_upstreams(*ca.leaf("up", names=["localhost"], ips=[]))
    gw = gateway({"upstream-ca-file": str(ca.path)}, upstream="https://localhost:%d" % u.port)
    r = get(gw)
    assert r.status_code == 200, r.text


def test_certificate_of_another_ca_is_502(ca, tmp_path, tls_upstreams, gateway):
    other = CA(tmp_path, "otherca")
    u = tls_upstreams(*other.leaf("up"))
    gw = gateway({"upstream-ca-file": str(ca.path)}, upstream="https://127.0.0.1:%d" % u.port)
    for _ in range(2):  # never retried into a success, never a plain-HTTP downgrade
        r = get(gw)
        assert r.status_code == 502, r.text
        assert r.json()["detail"] == "upstream TLS handshake failed"
    assert "certificate" in gw.stderr()


def test_system_store_does_not_know_a_private_ca(ca, tmp_path, tls_upstreams, gateway):
    u = tls_upstreams(*ca.leaf("up"))
    gw = gateway({}, upstream="https://127.0.0.1:%d" % u.port)
    r = get(gw)
    assert r.status_code == 502 and r.json()["detail"] == "upstream TLS handshake failed"


@pytest.mark.parametrize("url_host, names, ips", [
    ("127.0.0.1", ["other.example"], []),          # an address the certificate does not name
    ("127.0.0.1", ["localhost"], ["127.0.0.2"]),
    ("localhost", ["other.example"], ["127.0.0.1"]),  # a name it does not hold
])
def test_wrong_name_is_502(url_host, names, ips, ca, tmp_path, tls_upstreams, gateway):
    u = tls_upstreams(*ca.leaf("up", names=names, ips=ips))
    gw = gateway({"upstream-ca-file": str(ca.path)}, upstream="https://%s:%d" % (url_host, u.port))
    r = get(gw)
    assert r.status_code == 502, r.text
    assert r.json()["detail"] == "upstream TLS handshake failed"
    assert "mismatch" in gw.stderr()  # "hostname mismatch" / "IP address mismatch"


def test_route_to_an_https_upstream(ca, tmp_path, upstream, tls_upstreams, gateway):
    u = tls_upstreams(*ca.leaf("up"))
    gw = gateway({"upstream-ca-file": str(ca.path),
                  "routes": [{"prefix": "/secure", "upstream": "https://127.0.0.1:%d" % u.port}]})
    r = get(gw, "/secure/x")
    assert r.status_code == 200 and r.json()["target"] == "/secure/x"
    r = get(gw, "/plain")
    assert r.status_code == 200 and r.json()["target"] == "/plain"
    assert [x["target"] for x in upstream.requests()] == ["/plain"]


def run_check(cfg, tmp_path):
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg))
    p = subprocess.run([str(AUTHGATE_BIN), "check", "--config", str(path)], capture_output=True,
                       text=True, timeout=20)
    return p.returncode, p.stdout + p.stderr


def test_check_refuses_a_bad_upstream_ca_file(ca, tmp_path):
    base = dict(DEFAULTS, listen="127.0.0.1:%d" % free_port(), upstream="https://127.0.0.1:9")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("nothing here\n")
    for f, why in ((tmp_path / "missing.pem", "cannot open"), (garbage, "no PEM certificate")):
        rc, out = run_check(dict(base, **{"upstream-ca-file": str(f)}), tmp_path)
        assert rc == 2 and ": upstream-ca-file: " in out and why in out, out
    rc, out = run_check(dict(base, upstream="http://127.0.0.1:9",
                             **{"upstream-ca-file": str(ca.path)}), tmp_path)
    assert rc == 2 and "upstream-ca-file: set, but no upstream is https://" in out, out
    rc, out = run_check(dict(base, upstream="ftp://127.0.0.1:9"), tmp_path)
    assert rc == 2 and ": upstream: " in out, out
    rc, out = run_check(dict(base, **{"upstream-ca-file": str(ca.path)}), tmp_path)
    assert rc == 0, out
