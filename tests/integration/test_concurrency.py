"""Many client connections held open at once (CONTRACT.md section 9: evented workers)."""

import json

import pytest

from conftest import many_requests, raise_nofile, simple_get

N = 2000


@pytest.fixture(autouse=True)
def enough_fds():
    # The test process holds N sockets; the gateway (our child) inherits the limit and
    # needs N client + up to N upstream sockets.
    got = raise_nofile(4 * N + 1024)
    if got < 2 * N + 256:
        pytest.skip("RLIMIT_NOFILE hard limit too low (%d)" % got)


@pytest.mark.slow
def test_2000_concurrent_connections_all_answered(upstream, gateway):
    gw = gateway({"upstream-timeout": 60, "client-header-timeout": 60})
    out = many_requests(gw.port, N, simple_get("/echo/many"), timeout=90)
    failed = [i for i, r in enumerate(out) if r is None]
    assert not failed, "%d of %d connections got no full response (first: %r)" % (len(failed), N, failed[:5])
    statuses = [r.split(b" ", 2)[1] for r in out]
    bad = [s for s in statuses if s != b"200"]
    assert not bad, "non-200 answers: %r" % sorted(set(bad))
    body = out[0].split(b"\r\n\r\n", 1)[1]
    assert json.loads(body)["target"] == "/echo/many"
    assert len([r for r in upstream.requests() if r["target"] == "/echo/many"]) == N
    # and the gateway still serves afterwards
    again = many_requests(gw.port, 10, simple_get("/echo/again"), timeout=10)
    assert all(r is not None and r.startswith(b"HTTP/1.1 200") for r in again)


def test_100_concurrent_slow_requests_overlap(upstream, gateway):
    """100 requests that each wait 1 s upstream finish in far less than 100 s."""
    import time
    gw = gateway({"upstream-timeout": 30})
    t0 = time.monotonic()
    out = many_requests(gw.port, 100, simple_get("/slow?delay=1"), timeout=30)
    elapsed = time.monotonic() - t0
    assert all(r is not None and r.startswith(b"HTTP/1.1 200") for r in out)
    assert elapsed < 10, elapsed
