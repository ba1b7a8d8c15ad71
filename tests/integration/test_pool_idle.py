"""The upstream pool after idle (CONTRACT.md section 9; docs/operations.md "The upstream
pool after idle"): a pooled connection idle for longer than `keepalive-timeout` is closed
by the gateway itself, one the upstream closed first (its own keep-alive timeout, shorter
than the gateway's) is dropped at once, and a burst afterwards gets a new upstream
connection per concurrent request, never an old one and never a failed request.

Every request of a burst waits 0.5 s at the upstream (/slow), so the N requests overlap
and need exactly N upstream connections: the counts are exact, not bounds."""

import time

from conftest import many_requests, simple_get

N = 20


def close_wait_to(port):
    """Sockets on this machine connected to <port> that the other side has closed and this
    side has not (CLOSE_WAIT, state 08 in /proc/net/tcp): a pool holding dead connections."""
    with open("/proc/net/tcp") as f:
        rows = [line.split() for line in f.readlines()[1:]]
    return sum(1 for r in rows if int(r[2].split(":")[1], 16) == port and r[3] == "08")


def burst(gw, upstream, path):
    """N requests at once on N client connections: every one 200; returns the set of
    upstream connections that carried them (and clears the upstream's record)."""
    upstream.reset()
    out = many_requests(gw.port, N, simple_get(path), timeout=30)
    assert [r[:12] if r else r for r in out] == [b"HTTP/1.1 200"] * N, out
    ids = [rec["conn_id"] for rec in upstream.requests(complete_only=True)]
    assert len(ids) == N, ids
    return set(ids)


def test_burst_after_keepalive_timeout_reconnects_once_per_request(upstream, gateway):
    gw = gateway({"keepalive-timeout": 1})
    first = burst(gw, upstream, "/slow?delay=0.5")
    assert len(first) == N, first
    assert upstream.open_connections() == N  # all pooled
    time.sleep(2.5)  # past keepalive-timeout: the gateway closes its pooled connections
    assert upstream.open_connections() == 0
    second = burst(gw, upstream, "/slow?delay=0.5")
    assert len(second) == N and not second & first, (first, second)
    assert upstream.open_connections() == N  # pooled again


def test_burst_after_upstream_closed_idle_connections(upstream, gateway):
    """The upstream hangs up idle connections after 0.5 s, the gateway would keep them 75 s."""
    gw = gateway({"keepalive-timeout": 75})
    first = burst(gw, upstream, "/slow?delay=0.5&idle_close=0.5")
    assert len(first) == N, first
    time.sleep(1.5)
    assert upstream.open_connections() == 0
    assert close_wait_to(upstream.port) == 0  # the gateway dropped them when they closed
    second = burst(gw, upstream, "/slow?delay=0.5&idle_close=0.5")
    assert len(second) == N and not second & first, (first, second)
