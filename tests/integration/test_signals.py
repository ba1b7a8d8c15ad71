"""SIGHUP reload and SIGTERM/SIGINT drain (CONTRACT.md section 2)."""

import signal
import threading
import time

from conftest import RawConn, hdr_all, port_refuses, simple_get


def slow_in_thread(gw, delay):
    """Starts GET /slow?delay=<delay> on its own connection; returns (thread, result dict)."""
    out = {}
    started = threading.Event()

    def run():
        try:
            with RawConn(gw.port, timeout=delay + 10) as c:
                c.send(simple_get("/slow?delay=%s" % delay))
                started.set()
                out["resp"] = c.read_response()
        except Exception as e:  # noqa: BLE001 - reported by the test
            out["error"] = e
            started.set()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    started.wait(5)
    return t, out


def wait_upstream_saw(upstream, target, timeout=5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        recs = [r for r in upstream.requests() if r["target"] == target]
        if recs:
            return recs
        time.sleep(0.05)
    raise AssertionError("upstream never saw %s" % target)


def x_gen(gw, path):
    c = RawConn(gw.port)
    with c:
        c.send(simple_get(path))
        r = c.read_response()
    assert r.status == 200, r
    return hdr_all(r.json()["headers"], "x-gen")


def test_sighup_applies_new_headers_and_keeps_inflight_request(upstream, gateway):
    gw = gateway({"headers": {"X-Gen": "one"}})
    assert x_gen(gw, "/echo/before") == ["one"]
    t, out = slow_in_thread(gw, 2)
    wait_upstream_saw(upstream, "/slow?delay=2")
    cfg = dict(gw.config, headers={"X-Gen": "two"})
    gw.write_config(cfg)
    gw.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    seen = None
    while time.monotonic() < deadline:
        seen = x_gen(gw, "/echo/after")
        if seen == ["two"]:
            break
        time.sleep(0.1)
    assert seen == ["two"], "new header value not applied 5 s after SIGHUP"
    t.join(10)
    assert "error" not in out, out
    r = out["resp"]
    assert r.status == 200
    assert hdr_all(r.json()["headers"], "x-gen") == ["one"]
    assert gw.proc.poll() is None


def test_sighup_keeps_open_keepalive_connection(upstream, gateway):
    gw = gateway({"headers": {"X-Gen": "one"}})
    c = gw.raw()
    c.send(simple_get("/echo/1"))
    assert c.read_response().status == 200
    gw.write_config(dict(gw.config, headers={"X-Gen": "two"}))
    gw.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    c.send(simple_get("/echo/2"))
    r = c.read_response()
    assert r.status == 200
    assert hdr_all(r.json()["headers"], "x-gen") in (["one"], ["two"])


def test_sighup_with_broken_config_keeps_old_one(upstream, gateway):
    gw = gateway({"headers": {"X-Gen": "one"}})
    gw.write_config(b'{"listen": "127.0.0.1:1", "headers": {"X-Gen": "broken"')  # not JSON
    gw.send_signal(signal.SIGHUP)
    time.sleep(1)
    assert gw.proc.poll() is None, "gateway died on a broken reload:\n" + gw.stderr()
    assert x_gen(gw, "/echo/still") == ["one"]
    assert "reload" in gw.stderr().lower(), "no log line about the refused reload:\n" + gw.stderr()


def test_sighup_with_invalid_key_keeps_old_one(upstream, gateway):
    gw = gateway({"headers": {"X-Gen": "one"}})
    gw.write_config(dict(gw.config, headers={"X-Gen": "two"}, **{"no-such-key": 1}))
    gw.send_signal(signal.SIGHUP)
    time.sleep(1)
    assert gw.proc.poll() is None
    assert x_gen(gw, "/echo/still") == ["one"]
    # and a good config afterwards is taken
    gw.write_config(dict(gw.config, headers={"X-Gen": "three"}))
    gw.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and x_gen(gw, "/echo/x") != ["three"]:
        time.sleep(0.1)
    assert x_gen(gw, "/echo/y") == ["three"]


def test_sigterm_drains_inflight_request_then_exits_0(upstream, gateway):
    gw = gateway()
    t, out = slow_in_thread(gw, 1)
    wait_upstream_saw(upstream, "/slow?delay=1")
    gw.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    # Stopped accepting: a new connection is refused, or closed without being served.
    try:
        with RawConn(gw.port, timeout=3) as c:
            c.send(simple_get("/echo/during-drain"))
            assert c.closed(3), "a new connection was served during the drain"
    except ConnectionRefusedError:
        pass
    t.join(10)
    assert "error" not in out, out
    assert out["resp"].status == 200
    rc = gw.wait_exit(10)
    assert rc == 0, "exit status %r\n%s" % (rc, gw.stderr()[-3000:])
    assert port_refuses(gw.port)
    assert not [r for r in upstream.requests() if r["target"] == "/echo/during-drain"]


def test_sigterm_idle_exits_promptly(upstream, gateway):
    gw = gateway()
    c = gw.raw()
    c.send(simple_get("/echo/idle"))
    assert c.read_response().status == 200
    t0 = time.monotonic()
    gw.send_signal(signal.SIGTERM)
    rc = gw.wait_exit(10)
    assert rc == 0
    assert time.monotonic() - t0 < 6  # an idle keep-alive connection does not hold up the exit
    assert c.closed(1)


def test_sigint_exits_0(upstream, gateway):
    gw = gateway()
    assert x_gen(gw, "/echo/x") == []
    gw.send_signal(signal.SIGINT)
    assert gw.wait_exit(10) == 0
    assert port_refuses(gw.port)


def test_sigterm_drain_is_bounded_by_drain_timeout(upstream, gateway):
    gw = gateway({"drain-timeout": 1})
    t, out = slow_in_thread(gw, 8)
    wait_upstream_saw(upstream, "/slow?delay=8")
    t0 = time.monotonic()
    gw.send_signal(signal.SIGTERM)
    rc = gw.wait_exit(10)
    assert rc == 0, "exit status %r" % rc
    assert time.monotonic() - t0 < 4, "drain not bounded by drain-timeout 1"
    t.join(10)


def test_sighup_reload_under_load(upstream, gateway):
    from conftest import many_requests
    gw = gateway({"headers": {"X-Gen": "one"}})
    results = []
    th = threading.Thread(target=lambda: results.extend(
        many_requests(gw.port, 200, simple_get("/slow?delay=0.5"), timeout=30)))
    th.start()
    for i in range(5):
        gw.write_config(dict(gw.config, headers={"X-Gen": "v%d" % i}))
        gw.send_signal(signal.SIGHUP)
        time.sleep(0.1)
    th.join(30)
    assert len(results) == 200 and all(r is not None and r.startswith(b"HTTP/1.1 200") for r in results)
    assert gw.proc.poll() is None
