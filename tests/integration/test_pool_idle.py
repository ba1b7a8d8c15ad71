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


ESTABLISHED, CLOSE_WAIT = "01", "08"


def conns_to(port, state):
    """This machine's TCP connections to <port> (the gateway's side of its upstream
    connections) in <state>, from /proc/net/tcp. CLOSE_WAIT: the upstream has closed and
    the gateway has not, a pool holding dead connections."""
    with open("/proc/net/tcp") as f:
        rows = [line.split() for line in f.readlines()[1:]]
    return sum(1 for r in rows if int(r[2].split(":")[1], 16) == port and r[3] == state)


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
    gw = gateway({"keepalive-timeout": 2})
    first = burst(gw, upstream, "/slow?delay=0.5")
    assert len(first) == N, first
    assert conns_to(upstream.port, ESTABLISHED) == N  # all pooled
    time.sleep(3.5)  # past keepalive-timeout: the gateway closes its pooled connections
    assert conns_to(upstream.port, ESTABLISHED) == 0
    second = burst(gw, upstream, "/slow?delay=0.5")
    assert len(second) == N and not second & first, (first, second)
    assert conns_to(upstream.port, ESTABLISHED) == N  # pooled again


def test_burst_after_upstream_closed_idle_connections(upstream, gateway):
    """The upstream hangs up idle connections after 0.5 s, the gateway would keep them 75 s."""
    gw = gateway({"keepalive-timeout": 75})
    first = burst(gw, upstream, "/slow?delay=0.5&idle_close=0.5")
    assert len(first) == N, first
    time.sleep(1.5)  # the upstream has closed them; the gateway has dropped them
    assert (conns_to(upstream.port, ESTABLISHED), conns_to(upstream.port, CLOSE_WAIT)) == (0, 0)
    second = burst(gw, upstream, "/slow?delay=0.5&idle_close=0.5")
    assert len(second) == N and not second & first, (first, second)
