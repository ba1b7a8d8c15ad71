"""Pool hygiene: an upstream connection that carried stray bytes is closed, never
handed to the next request (CONTRACT.md section 9, SECURITY-BASELINE.md framing 9).

The upstream here is a raw socket (rawupstream.py) that misbehaves on purpose: it
answers with more bytes than its Content-Length, or writes a whole extra response
while the connection sits idle in the pool. Each honest answer names the upstream
connection it came from, so a reused dirty connection shows as "EVIL" or as a
connection number that did not change."""

import signal
import threading
import time

import pytest

from conftest import simple_get
from rawupstream import RawUpstream, response, wait_stopped

EVIL = response(b"EVIL!")


GO = threading.Event()


def misbehaving(conn, n):
    """/extra: the answer and a second response in one write. /late: the answer, then
    0.3 s later a second response on the idle connection. /park: the answer, then a
    second response once GO is set. Anything else: conn=<n>."""
    while True:
        head = conn.read_head()
        if head is None:
            return
        target = conn.target(head)
        if target == "/extra":
            conn.sendall(response(b"ok") + EVIL)
        elif target == "/late":
            conn.sendall(response(b"ok"))
            time.sleep(0.3)
            conn.sendall(EVIL)
        elif target == "/park":
            conn.sendall(response(b"ok"))
            GO.wait(10)
            conn.sendall(EVIL)
        else:
            conn.sendall(response(b"conn=%d" % n))


@pytest.fixture
def rup():
    u = RawUpstream(misbehaving)
    yield u
    u.stop()


def test_more_bytes_than_content_length_not_reused(rup, gateway):
    gw = gateway(upstream=rup.url)
    c = gw.raw()
    c.send(simple_get("/extra"))
    r = c.read_response()
    assert r.status == 200 and r.body == b"ok", r
    c.send(simple_get("/next"))
    r = c.read_response()
    assert r.status == 200 and r.body == b"conn=1", r
    assert rup.n_conns == 2


def test_more_bytes_than_content_length_pipelined(rup, gateway):
    gw = gateway(upstream=rup.url)
    c = gw.raw()
    c.send(simple_get("/extra") + simple_get("/next"))
    r1, r2 = c.read_response(), c.read_response()
    assert r1.status == 200 and r1.body == b"ok", r1
    assert r2.status == 200 and r2.body == b"conn=1", r2


def test_bytes_sent_while_idle_not_reused(rup, gateway):
    gw = gateway(upstream=rup.url)
    c = gw.raw()
    c.send(simple_get("/late"))
    r = c.read_response()
    assert r.status == 200 and r.body == b"ok", r
    time.sleep(0.8)  # the stray response reaches the idle pooled connection
    c.send(simple_get("/next"))
    r = c.read_response()
    assert r.status == 200 and r.body == b"conn=1", r
    c.send(simple_get("/again"))  # the clean connection is pooled and reused
    r = c.read_response()
    assert r.status == 200 and r.body == b"conn=1", r


def test_stray_bytes_queued_behind_the_reusing_request(rup, gateway):
    """The stray bytes and the next request become ready in the same event-loop pass,
    the request first: the idle connection's read event has not run yet when the
    request looks for a pooled connection. The gateway is stopped (SIGSTOP) while
    both arrive, so their order is fixed. The dirty connection must not be taken."""
    GO.clear()
    gw = gateway(upstream=rup.url)
    c = gw.raw()
    c.send(simple_get("/park"))
    r = c.read_response()
    assert r.status == 200 and r.body == b"ok", r
    time.sleep(0.2)  # pooled and idle
    gw.send_signal(signal.SIGSTOP)
    try:
        wait_stopped(gw.proc.pid)
        c.send(simple_get("/next"))
        time.sleep(0.2)
        GO.set()
        time.sleep(0.2)
    finally:
        gw.send_signal(signal.SIGCONT)
    r = c.read_response()
    assert r.status == 200 and r.body == b"conn=1", r
