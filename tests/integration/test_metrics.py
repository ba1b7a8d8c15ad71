"""The metrics port and log-format (CONTRACT.md section 11; docs/operations.md "Metrics"):
metrics-listen serves /metrics (Prometheus text 0.0.4, read here with prometheus_client's
own parser), /health and /ready on its own port and nowhere else; every counter moves by
exactly what a test did; log-format "json" makes each error and audit line one object.
"""

import json
import signal
import socket
import time

import pytest
import requests

from conftest import CRYPTO_KEY, free_port, run_authgate
from test_tokens import MASTER, new_pair, refresh_get
from test_users import BASE, PW, login, make_user, ustart

parser = pytest.importorskip("prometheus_client.parser")

FAMILIES = {
    "authgate_build_info": "gauge",
    "authgate_http_requests": "counter",
    "authgate_http_request_duration_seconds": "histogram",
    "authgate_auth_decisions": "counter",
    "authgate_token_cache_hits": "counter",
    "authgate_token_cache_misses": "counter",
    "authgate_upstream_errors": "counter",
    "authgate_connections": "gauge",
    "authgate_revocations": "gauge",
    "authgate_store_up": "gauge",
    "authgate_tokens_issued": "counter",
    "authgate_refresh_reuse": "counter",
    "authgate_logins": "counter",
    "authgate_token_flood": "counter",
    "authgate_revoked_connections": "counter",
}


def mport(gw):
    return int(gw.config["metrics-listen"].rsplit(":", 1)[1])


def murl(gw, path):
    return "http://127.0.0.1:%d%s" % (mport(gw), path)


def scrape(gw):
    """{(sample name, ((label, value), ...)): value} of one /metrics answer, and the families."""
    r = requests.get(murl(gw, "/metrics"), timeout=5)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    fams = list(parser.text_string_to_metric_families(r.text))
    samples = {}
    for f in fams:
        for s in f.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples, {f.name: f.type for f in fams}


def val(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def delta(before, after):
    return {k: after[k] - before.get(k, 0.0) for k in after if after[k] != before.get(k, 0.0)}


def mstart(gateway, **over):
    over.setdefault("metrics-listen", "127.0.0.1:%d" % free_port())
    return gateway(config=over)


# ---------------------------------------------------------------- the port

def test_metrics_port_serves_metrics_health_and_ready(upstream, gateway):
    gw = mstart(gateway, redis="redis://127.0.0.1:1/0")  # a store that never comes up
    samples, fams = scrape(gw)
    for name, typ in FAMILIES.items():
        assert fams.get(name) == typ, (name, fams)
    assert val(samples, "authgate_build_info", version=run_authgate("version").stdout.split()[1]) == 1
    assert val(samples, "authgate_store_up") == 0
    r = requests.get(murl(gw, "/health"), timeout=5)
    assert (r.status_code, r.json()) == (200, {"status": "ok"})
    r = requests.get(murl(gw, "/ready"), timeout=5)
    assert (r.status_code, r.json()) == (503, {"status": "not ready"})
    # the same answers as under auth-prefix
    r2 = requests.get(gw.url + "/auth/ready", timeout=5)
    assert (r2.status_code, r2.content) == (r.status_code, r.content)
    r = requests.head(murl(gw, "/health"), timeout=5)
    assert r.status_code == 200 and r.content == b""
    r = requests.get(murl(gw, "/other"), timeout=5)
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = requests.post(murl(gw, "/metrics"), timeout=5)
    assert r.status_code == 405 and r.headers["Allow"] == "GET, HEAD"


def test_metrics_port_keeps_a_connection_and_refuses_garbage(upstream, gateway):
    gw = mstart(gateway)
    with socket.create_connection(("127.0.0.1", mport(gw)), timeout=5) as s:
        f = s.makefile("rb")
        for _ in range(2):  # a scraper's keep-alive connection: two requests on one
            s.sendall(b"GET /health HTTP/1.1\r\nHost: m\r\n\r\n")
            assert f.readline() == b"HTTP/1.1 200 OK\r\n"
            n = 0
            while (line := f.readline()) != b"\r\n":
                if line.lower().startswith(b"content-length:"):
                    n = int(line.split(b":")[1])
            assert f.read(n) == b'{"status":"ok"}'
    with socket.create_connection(("127.0.0.1", mport(gw)), timeout=5) as s:
        s.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        data = s.makefile("rb").read()  # answered, then closed
        assert data.startswith(b"HTTP/1.1 400 ") and b"Connection: close" in data


def test_metrics_port_closes_a_head_that_trickles_in(upstream, gateway):
    """A byte at a time keeps no slot: the whole head has client-header-timeout, as on the
    public listeners, so 64 slow clients cannot keep a probe of /health out (review)."""
    gw = mstart(gateway, **{"client-header-timeout": 1})
    slow = [socket.create_connection(("127.0.0.1", mport(gw)), timeout=5) for _ in range(64)]
    t0 = time.monotonic()
    while time.monotonic() - t0 < 2.5:  # one byte every 0.25 s: each resets an idle timer
        for s in slow:
            try:
                s.sendall(b"G")
            except OSError:
                pass
        time.sleep(0.25)
    r = requests.get(murl(gw, "/health"), timeout=5)
    assert (r.status_code, r.json()) == (200, {"status": "ok"})
    for s in slow:
        s.settimeout(5)
        assert s.recv(100) == b""  # closed by the gateway, with no answer
        s.close()


def test_metrics_port_stops_reading_a_client_that_never_reads(upstream, gateway):
    """Pipelined scrapes whose answers are never read: the gateway stops reading once
    64 KiB of answers wait, instead of queueing them without bound (review)."""
    gw = mstart(gateway)

    def rss_kib():
        with open("/proc/%d/status" % gw.proc.pid) as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))

    rss0 = rss_kib()
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", mport(gw)))
    s.setblocking(False)
    req = b"GET /metrics HTTP/1.1\r\nHost: m\r\n\r\n"
    sent, t0 = 0, time.monotonic()
    while time.monotonic() - t0 < 2:
        try:
            sent += s.send(req * 64)
        except BlockingIOError:
            time.sleep(0.01)
    # each answer is kilobytes: without the bound, the gateway reads every request the
    # kernel holds (megabytes) and queues hundreds of megabytes of answers
    grew = rss_kib() - rss0
    assert grew < 32 * 1024, (grew, sent)
    # the client reads now: the answers come, in order, and reading resumes behind them
    s.setblocking(True)
    s.settimeout(10)
    got = b""
    while got.count(b"HTTP/1.1 200 OK\r\n") < 100:
        chunk = s.recv(1 << 16)
        assert chunk, got[-200:]
        got += chunk
    assert got.startswith(b"HTTP/1.1 200 OK\r\n"), got[:100]
    s.close()
    assert requests.get(murl(gw, "/health"), timeout=5).status_code == 200


def test_public_listener_never_serves_metrics(upstream, gateway):
    gw = mstart(gateway)
    r = requests.get(gw.url + "/metrics", timeout=5)  # an ordinary path: proxied
    assert r.status_code == 200 and "authgate_" not in r.text
    assert upstream.requests()[-1]["target"] == "/metrics"
    r = requests.get(gw.url + "/auth/metrics", timeout=5)
    assert r.status_code == 404


def test_metrics_listen_is_checked(tmp_path):
    def check(extra):
        cfg = {"upstream": "http://127.0.0.1:9", "cryptography-key": CRYPTO_KEY,
               "listen": "127.0.0.1:8080"}
        cfg.update(extra)
        p = tmp_path / "c.json"
        p.write_text(json.dumps(cfg))
        return run_authgate("check", "--config", p)

    assert check({"metrics-listen": "127.0.0.1:9090", "log-format": "json"}).returncode == 0
    r = check({"metrics-listen": "127.0.0.1:8080"})
    assert r.returncode != 0 and "metrics-listen: same address as listen[0]" in r.stderr
    r = check({"metrics-listen": "9090"})
    assert r.returncode != 0 and "metrics-listen" in r.stderr
    r = check({"log-format": "yaml"})
    assert r.returncode != 0 and 'log-format: expected "text" or "json"' in r.stderr


def test_metrics_port_in_use_fails_the_start(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        cfg = {"upstream": "http://127.0.0.1:9", "cryptography-key": CRYPTO_KEY,
               "listen": "127.0.0.1:%d" % free_port(),
               "metrics-listen": "127.0.0.1:%d" % busy.getsockname()[1]}
        p = tmp_path / "c.json"
        p.write_text(json.dumps(cfg))
        r = run_authgate("serve", "--config", p)
        assert r.returncode == 1 and "metrics-listen: cannot listen on" in r.stderr


# ---------------------------------------------------------------- the counters

def test_counters_move_by_exactly_what_happened(upstream, gateway, redis_server):
    gw = ustart(gateway, redis_server, upstream, workers=1,
                **{"metrics-listen": "127.0.0.1:%d" % free_port(),
                   "rules": [{"prefix": "/api/scoped", "scopes": ["nobody-has-this"]}]})
    r = requests.get(murl(gw, "/ready"), timeout=5)
    assert (r.status_code, r.json()) == (200, {"status": "ready"})
    user = make_user(gw)
    before, _ = scrape(gw)
    assert val(before, "authgate_store_up") == 1

    for i in range(5):
        assert requests.get(gw.url + "/echo/%d" % i, timeout=5).status_code == 200
    assert requests.get(gw.url + "/api/x", timeout=5).status_code == 401
    r = login(gw, user["username"])
    assert r.status_code == 200
    access = r.json()["access_token"]
    assert login(gw, user["username"], PW + "x").status_code == 401
    auth = {"Authorization": "Bearer " + access}
    assert requests.get(gw.url + "/api/x", headers=auth, timeout=5).status_code == 200  # miss
    assert requests.get(gw.url + "/api/x", headers=auth, timeout=5).status_code == 200  # hit
    assert requests.get(gw.url + "/api/scoped", headers=auth, timeout=5).status_code == 403
    pair = new_pair(gw)
    assert refresh_get(gw, pair["refresh_token"]).status_code == 200
    assert refresh_get(gw, pair["refresh_token"]).status_code == 401  # replayed: reuse

    after, _ = scrape(gw)
    d = delta(before, after)
    hist = "authgate_http_request_duration_seconds"
    assert d.pop((hist + "_sum", ())) > 0
    buckets = {k: d.pop(k) for k in list(d) if k[0] == hist + "_bucket"}
    assert buckets[(hist + "_bucket", (("le", "+Inf"),))] == 14
    revoked = d.pop(("authgate_revocations", ()), 0)
    d.pop(("authgate_connections", ()), None)  # requests' own connections close meanwhile
    assert d == {
        ("authgate_http_requests_total", (("status", "200"),)): 10,
        ("authgate_http_requests_total", (("status", "401"),)): 3,
        ("authgate_http_requests_total", (("status", "403"),)): 1,
        (hist + "_count", ()): 14,
        ("authgate_auth_decisions_total", (("result", "allow"),)): 7,
        ("authgate_auth_decisions_total", (("result", "unauthorized"),)): 1,
        ("authgate_auth_decisions_total", (("result", "forbidden"),)): 1,
        ("authgate_token_cache_hits_total", ()): 2,
        ("authgate_token_cache_misses_total", ()): 1,
        ("authgate_logins_total", (("result", "success"),)): 1,
        ("authgate_logins_total", (("result", "failure"),)): 1,
        ("authgate_tokens_issued_total", (("grant", "login"),)): 1,
        ("authgate_tokens_issued_total", (("grant", "client"),)): 1,
        ("authgate_tokens_issued_total", (("grant", "refresh"),)): 1,
        ("authgate_refresh_reuse_total", ()): 1,
    }
    assert revoked == 1  # the replayed session (the feed brings the same one)
    # the histogram is whole: cumulative buckets, +Inf = count = every request counted
    les = sorted((float(k[1][0][1]), v) for k, v in after.items() if k[0] == hist + "_bucket")
    assert [le for le, _ in les][:2] == [0.0001, 0.00025] and les[-2][0] == 10.0
    assert all(a[1] <= b[1] for a, b in zip(les, les[1:]))
    total = sum(v for k, v in after.items() if k[0] == "authgate_http_requests_total")
    assert les[-1][1] == val(after, hist + "_count") == total


def test_three_digit_statuses_of_the_upstream_are_counted(upstream, gateway):
    """An upstream's 600-999 is relayed, so it is a line of the family too (review)."""
    gw = mstart(gateway)
    before = scrape(gw)[0]
    for code in (600, 799, 999):
        c = gw.raw()
        c.send(b"GET /status/%d HTTP/1.1\r\nHost: gw.test\r\n\r\n" % code)
        assert c.read_response().status == code
        c.close()
    after = scrape(gw)[0]
    for code in ("600", "799", "999"):
        assert val(after, "authgate_http_requests_total", status=code) - \
            val(before, "authgate_http_requests_total", status=code) == 1
    total = sum(v for (n, _), v in after.items() if n == "authgate_http_requests_total")
    assert after[("authgate_http_request_duration_seconds_count", ())] == total


def test_durations_stay_measured_after_a_reload_that_drops_metrics_listen(upstream, gateway):
    """The port opened at the start stays until a restart, and so do the timings its
    histogram needs, whatever the reloaded file says (review)."""
    gw = mstart(gateway, **{"access-log": "off"})
    cfg = {k: v for k, v in gw.config.items() if k != "metrics-listen"}
    gw.write_config(cfg)
    gw.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while "configuration reloaded" not in gw.stderr() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "configuration reloaded" in gw.stderr()
    before = scrape(gw)[0]
    c = gw.raw()
    c.send(b"GET /slow?delay=0.2 HTTP/1.1\r\nHost: gw.test\r\n\r\n")
    assert c.read_response().status == 200
    c.close()
    after = scrape(gw)[0]
    key = ("authgate_http_request_duration_seconds_sum", ())
    assert after[key] - before.get(key, 0.0) >= 0.2, (before.get(key), after[key])


def test_login_locked_is_counted(gateway, redis_server):
    gw = ustart(gateway, redis_server, workers=1,
                **{"metrics-listen": "127.0.0.1:%d" % free_port(), "rate-limits":
                   {"lockout": {"failures": 1, "seconds": 60}}})
    user = make_user(gw)
    before, _ = scrape(gw)
    assert login(gw, user["username"], PW + "x").status_code == 401
    assert login(gw, user["username"]).status_code == 429
    d = delta(before, scrape(gw)[0])
    assert d[("authgate_logins_total", (("result", "failure"),))] == 1
    assert d[("authgate_logins_total", (("result", "locked"),))] == 1
    assert ("authgate_logins_total", (("result", "success"),)) not in d


@pytest.mark.parametrize("path,kind,status", [("/badresp/garbage", "invalid", 502),
                                              ("/hang", "timeout", 504)])
def test_upstream_errors_by_kind(upstream, gateway, path, kind, status):
    gw = mstart(gateway, **{"upstream-timeout": 1})
    before, _ = scrape(gw)
    assert requests.get(gw.url + path, timeout=10).status_code == status
    d = delta(before, scrape(gw)[0])
    assert d[("authgate_upstream_errors_total", (("kind", kind),))] == 1
    assert not [k for k in d if k[0] == "authgate_upstream_errors_total" and k[1] != (("kind", kind),)]


def test_upstream_refused_is_counted(gateway):
    gw = gateway(config={"metrics-listen": "127.0.0.1:%d" % free_port(),
                         "upstream": "http://127.0.0.1:%d" % free_port()})
    before, _ = scrape(gw)
    assert requests.get(gw.url + "/x", timeout=10).status_code == 502
    d = delta(before, scrape(gw)[0])
    assert d[("authgate_upstream_errors_total", (("kind", "refused"),))] == 1
    assert d[("authgate_http_requests_total", (("status", "502"),))] == 1


def wait_connections(gw, want, timeout=5.0):
    """The connections gauge once it reads <want>: a closed client is seen by the worker
    a moment after the close, so only a change the test made is waited for."""
    deadline = time.monotonic() + timeout
    while True:
        got = val(scrape(gw)[0], "authgate_connections")
        if got == want or time.monotonic() > deadline:
            return got
        time.sleep(0.02)


def test_connections_gauge_follows_open_connections(upstream, gateway):
    gw = mstart(gateway)
    a = gw.raw()
    a.send(b"GET /echo/a HTTP/1.1\r\nHost: gw.test\r\n\r\n")
    assert a.read_response().status == 200
    # only <a> is open now (the start-up probe's connection closes on its own)
    assert wait_connections(gw, 1) == 1
    b = gw.raw()
    b.send(b"GET /echo/b HTTP/1.1\r\nHost: gw.test\r\n\r\n")
    assert b.read_response().status == 200
    assert val(scrape(gw)[0], "authgate_connections") == 2  # at once: both answered, kept open
    a.close()
    b.close()
    assert wait_connections(gw, 0) == 0


# ---------------------------------------------------------------- log-format

def stderr_objects(gw, pred, timeout=5.0):
    """Every stderr line of <gw> parsed as JSON (each must be), once one satisfies <pred>."""
    deadline = time.monotonic() + timeout
    while True:
        objs = [json.loads(line) for line in gw.stderr().splitlines() if line]
        if any(pred(o) for o in objs) or time.monotonic() > deadline:
            return objs
        time.sleep(0.05)


def test_log_format_json_error_and_audit_lines(gateway, redis_server):
    down = "http://127.0.0.1:%d" % free_port()  # nothing listens: a 502 and its error line
    gw = ustart(gateway, redis_server, down, **{"log-format": "json"})
    user = make_user(gw)
    assert login(gw, user["username"]).status_code == 200
    c = gw.raw()
    c.send(b'GET /down?x="q" HTTP/1.1\r\nHost: gw.test\r\n\r\n')
    assert c.read_response().status == 502
    objs = stderr_objects(gw, lambda o: o.get("event") == "login_ok")
    for o in objs:
        assert {"time", "level", "msg"} <= set(o), o
        assert o["level"] in ("debug", "info", "warn", "error")
        assert o["time"].endswith("Z") and o["time"][10] == "T"
    assert any(o["msg"].startswith("listening on 127.0.0.1:") for o in objs)
    fail = [o for o in objs if o["msg"].startswith("request failed: 502")]
    assert len(fail) == 1 and fail[0]["level"] == "error" and "path=/down?x=\\x22q\\x22" in fail[0]["msg"]
    audit = [o for o in objs if o.get("event") == "login_ok"]
    assert len(audit) == 1 and audit[0]["msg"] == "audit" and audit[0]["user_id"] == user["id"]


def test_log_format_text_is_the_default(upstream, gateway):
    gw = gateway()
    assert requests.get(gw.url + "/echo", timeout=5).status_code == 200
    first = gw.stderr().splitlines()[0]
    assert not first.startswith("{") and (" info " in first or " warn " in first), first
