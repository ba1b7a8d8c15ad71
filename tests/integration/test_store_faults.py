"""Redis faults while traffic runs (CONTRACT.md section 8; docs/endpoints.md "Readiness and
outages"): a real redis-server is stopped, restarted on the same port, or frozen with
SIGSTOP while client threads keep sending protected requests and token writes.

Must hold throughout:
  - protected requests (valid access token on an access-token path) keep getting the
    upstream's 200, promptly: they never wait on Redis;
  - every write (/auth/token/new, GET /auth/token/refresh, POST /auth/refresh) sent while
    Redis is unreachable gets 503 with the documented JSON body, within the command
    timeout (2 s, gateway/worker.c) when Redis hangs;
  - a token revoked before the fault stays refused during it and after;
  - the gateway stays up, /auth/ready says 503 during the outage, the outage is logged
    once per worker (not per request);
  - after Redis is back (same port, same gateway process) writes work again within
    seconds, and a revocation written to Redis while this instance was cut off is
    enforced once the instance has resynced (it reports ready only after the replay).

Each write/read is recorded with its start and end (time.monotonic()) and judged against
the fault's timeline: requests that straddle a transition may go either way (200 or the
503), those clearly inside the fault window must be 503. Timing bounds are generous
(2 vCPUs, ASan builds).
"""

import os
import signal
import socket
import threading
import time

import pytest
import requests

from conftest import RedisServer
from test_tokens import ENV_503, MASTER, api, new_pair, refresh_get, start, wait_ready

WORKERS = 2
COMMAND_TIMEOUT = 2.0            # gateway/worker.c: .command_timeout = 2
SLACK = 1.5                      # scheduling slack on a loaded 2-vCPU ASan run
PROMPT = 1.5                     # a protected request never waits this long (< COMMAND_TIMEOUT)
RECOVER_WITHIN = 12.0            # reconnect backoff is capped at 5 s (store/link.c)
DETAIL_503 = {"detail": "Service Unavailable"}
DETAIL_401 = {"detail": "Unauthorized Access Token"}
REQ_TIMEOUT = 8.0                # no request may hang: requests time out and count as failures


# ---------------------------------------------------------------- helpers

def redis_call(port, *args, timeout=10.0):
    """One command over RESP; returns the first reply line (b"+OK", b":1", ...)."""
    enc = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    payload = b"*%d\r\n" % len(enc) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in enc)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(payload)
        buf = b""
        while b"\r\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    return buf.split(b"\r\n", 1)[0]


def revoked_pair(gw):
    """A pair whose session is revoked (refresh-token reuse) and refused by every worker."""
    p1 = new_pair(gw, "revoked-before")
    p2 = refresh_get(gw, p1["refresh_token"]).json()["data"]
    assert refresh_get(gw, p1["refresh_token"]).status_code == 401  # reuse: session revoked
    deadline = time.monotonic() + 2.0
    while not all(api(gw, p2["access_token"]).status_code == 401 for _ in range(6)):
        assert time.monotonic() < deadline, "revocation not in force after 2 s"
        time.sleep(0.05)
    return p2


def all_ready(gw, want=200, timeout=RECOVER_WITHIN, streak=10):
    """Waits until <streak> consecutive /auth/ready answers are <want> (with 2 workers and
    new connections each time, 10 in a row all but rules out an unasked worker)."""
    deadline = time.monotonic() + timeout
    n = 0
    codes = []
    while time.monotonic() < deadline:
        c = requests.get(gw.url + "/auth/ready", timeout=REQ_TIMEOUT).status_code
        codes = (codes + [c])[-20:]
        n = n + 1 if c == want else 0
        if n >= streak:
            return time.monotonic()
        time.sleep(0.02)
    raise AssertionError("/auth/ready not %d %d times in a row within %.0f s (last %r)"
                         % (want, streak, timeout, codes))


def body_json(r):
    try:
        return r.json()
    except ValueError:
        return None


class Load:
    """Client threads against <gw> until stop():

    readers   GET /api/x with a valid access token      -> must be 200 from the upstream
    writers   /auth/token/new, then a refresh of that new pair (GET and POST alternate)
    revoked   GET /api/x with an access token revoked before the fault -> must be 401

    Every request is recorded as (kind, t_start, t_end, status or None, json body or
    repr of the exception, content type)."""

    def __init__(self, gw, access, revoked_access, readers=3, writers=3):
        self.gw = gw
        self.access = access
        self.revoked_access = revoked_access
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()
        self.recs = []
        self.threads = ([threading.Thread(target=self._reader, daemon=True) for _ in range(readers)]
                        + [threading.Thread(target=self._writer, args=(i,), daemon=True)
                           for i in range(writers)]
                        + [threading.Thread(target=self._revoked, daemon=True)])

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(REQ_TIMEOUT + 5)
        assert not any(t.is_alive() for t in self.threads), "a load thread hung"

    def _do(self, kind, session, method, url, **kw):
        t0 = time.monotonic()
        try:
            r = session.request(method, url, timeout=REQ_TIMEOUT, **kw)
            rec = (kind, t0, time.monotonic(), r.status_code, body_json(r),
                   r.headers.get("Content-Type", ""))
        except requests.RequestException as e:
            r = None
            rec = (kind, t0, time.monotonic(), None, repr(e), "")
        with self.lock:
            self.recs.append(rec)
        return r

    def _reader(self):
        s = requests.Session()
        h = {"Authorization": "Bearer " + self.access}
        while not self.stop_ev.is_set():
            self._do("read", s, "GET", self.gw.url + "/api/x", headers=h)
            time.sleep(0.01)

    def _revoked(self):
        s = requests.Session()
        h = {"Authorization": "Bearer " + self.revoked_access}
        while not self.stop_ev.is_set():
            self._do("revoked", s, "GET", self.gw.url + "/api/x", headers=h)
            time.sleep(0.02)

    def _writer(self, i):
        s = requests.Session()
        n = 0
        while not self.stop_ev.is_set():
            n += 1
            r = self._do("new", s, "GET", self.gw.url + "/auth/token/new",
                         params={"client_id": "w%d-%d" % (i, n)}, headers={"MASTER-TOKEN": MASTER})
            if r is not None and r.status_code == 200:
                tok = r.json()["data"]["refresh_token"]
                if n % 2:
                    self._do("refresh_get", s, "GET", self.gw.url + "/auth/token/refresh",
                             params={"refresh_token": tok})
                else:
                    self._do("refresh_post", s, "POST", self.gw.url + "/auth/refresh",
                             headers={"Authorization": "Bearer " + tok})
            time.sleep(0.02)

    def of(self, *kinds):
        with self.lock:
            return [r for r in self.recs if r[0] in kinds]


WRITES = ("new", "refresh_get", "refresh_post")


def expected_503(kind):
    return DETAIL_503 if kind == "refresh_post" else ENV_503


def is_503(rec):
    kind, _, _, status, body, ctype = rec
    return (status == 503 and ctype.split(";")[0].strip() == "application/json"
            and body == expected_503(kind))


def fmt(recs, t0):
    return "\n".join("  %-12s %+8.3f..%+8.3f  %s %r" % (k, a - t0, b - t0, s, str(body)[:100])
                     for k, a, b, s, body, _ in recs[:30])


def check_reads(load, t0, max_latency):
    reads = load.of("read")
    bad = [r for r in reads if r[3] != 200]
    assert not bad, "protected requests failed during the fault:\n" + fmt(bad, t0)
    slow = [r for r in reads if r[2] - r[1] > max_latency]
    assert not slow, "protected requests took over %.1f s:\n%s" % (max_latency, fmt(slow, t0))
    revoked = load.of("revoked")
    bad = [r for r in revoked if r[3] != 401 or r[4] != DETAIL_401]
    assert not bad, "the token revoked before the fault was not refused:\n" + fmt(bad, t0)
    return reads


def check_writes(load, t0, fault_from, fault_to, max_latency=None):
    """Writes that started at or after <fault_from> and ended by <fault_to>: 503 JSON.
    Every write: 200 or that 503 (nothing else, no timeouts). Returns those in the window."""
    writes = load.of(*WRITES)
    odd = [r for r in writes if r[3] != 200 and not is_503(r)]
    assert not odd, "writes answered neither 200 nor the documented 503:\n" + fmt(odd, t0)
    inside = [r for r in writes if r[1] >= fault_from and r[2] <= fault_to]
    bad = [r for r in inside if not is_503(r)]
    assert not bad, "writes during the outage did not get 503:\n" + fmt(bad, t0)
    if max_latency is not None:
        slow = [r for r in writes if fault_from <= r[1] <= fault_to and r[2] - r[1] > max_latency]
        assert not slow, "writes took over %.1f s while Redis hung:\n%s" % (max_latency, fmt(slow, t0))
    return inside


def outage_lines(gw):
    return [l for l in gw.stderr().splitlines() if "store not ready:" in l]


# ---------------------------------------------------------------- 1. stopped under load

def test_redis_stopped_under_load(gateway, redis_server, upstream):
    gw = start(gateway, redis_server, upstream, workers=WORKERS)
    good = new_pair(gw, "reader")
    rev = revoked_pair(gw)
    assert api(gw, good["access_token"]).status_code == 200
    t0 = time.monotonic()
    with Load(gw, good["access_token"], rev["access_token"]) as load:
        time.sleep(1.0)                       # traffic with Redis up
        assert load.of(*WRITES), "no write went through before the outage"
        t_kill = time.monotonic()
        redis_server.stop()                   # SIGTERM by PID, waited for
        t_dead = time.monotonic()
        wait_ready(gw, want=503, timeout=5)   # every worker noticed
        ready_codes = []
        while time.monotonic() < t_dead + 3.0:
            ready_codes.append(requests.get(gw.url + "/auth/ready", timeout=REQ_TIMEOUT).status_code)
            time.sleep(0.05)
        t_end = time.monotonic()
    assert gw.proc.poll() is None, "the gateway died:\n" + gw.stderr()[-3000:]
    assert ready_codes and set(ready_codes) == {503}, ready_codes

    reads = check_reads(load, t0, max_latency=PROMPT)
    assert len([r for r in reads if r[1] > t_dead]) >= 30, "too little protected traffic in the outage"
    before = [r for r in load.of(*WRITES) if r[2] < t_kill]
    assert before and all(r[3] == 200 for r in before), fmt([r for r in before if r[3] != 200], t0)
    inside = check_writes(load, t0, t_dead, t_end)
    assert len(inside) >= 10, "too few writes during the outage: %d" % len(inside)
    assert {r[0] for r in inside} >= {"new"}

    # the outage is logged once per worker, not per request
    lines = outage_lines(gw)
    assert len(lines) == WORKERS, "\n".join(lines[:20])

    # and Redis coming back (same port) is picked up by the same process
    redis_server.start()
    all_ready(gw)
    p = new_pair(gw, "after")
    assert refresh_get(gw, p["refresh_token"]).status_code == 200
    assert api(gw, rev["access_token"]).status_code == 401
    assert len(outage_lines(gw)) == WORKERS


# ---------------------------------------------------------------- 2. restarted under load

def test_redis_restarted_under_load_resyncs_revocations(gateway, redis_server, upstream):
    """The Redis of this test keeps its data across the restart (SAVE before the stop, the
    RDB loaded at start), as a persistent production Redis would. While the gateway under
    test (A) is cut off, another instance (B) on a Redis that holds the same data (same
    RDB, another port) revokes a session through refresh-token reuse; that Redis's RDB is
    what the restarted Redis loads. A never heard the PUBLISH: it must learn the
    revocation from the replay of the revocation log when it reconnects."""
    a = start(gateway, redis_server, upstream, workers=WORKERS)
    good = new_pair(a, "reader")
    rev = revoked_pair(a)
    v1 = new_pair(a, "victim")
    v2 = refresh_get(a, v1["refresh_token"]).json()["data"]
    assert api(a, v2["access_token"]).status_code == 200
    assert redis_call(redis_server.port, "SAVE") == b"+OK"
    t0 = time.monotonic()
    with Load(a, good["access_token"], rev["access_token"]) as load:
        time.sleep(1.0)
        redis_server.stop()
        t_dead = time.monotonic()
        wait_ready(a, want=503, timeout=5)

        # A is cut off: revoke the victim's session elsewhere
        other = RedisServer(redis_server.dir)   # same dir: loads the RDB saved above
        try:
            assert other.port != redis_server.port
            b = start(gateway, other, upstream, workers=1)
            r = refresh_get(b, v1["refresh_token"])      # reuse through B: revokes the session
            assert r.status_code == 401, r.text
            assert api(b, v2["access_token"]).status_code == 401
            assert "refresh token reuse" in b.stderr()
            assert redis_call(other.port, "SAVE") == b"+OK"
            assert b.stop() == 0
        finally:
            other.stop()
        # A has not heard of it
        assert api(a, v2["access_token"]).status_code == 200
        time.sleep(max(0.0, t_dead + 3.0 - time.monotonic()))   # an outage of >= 3 s

        t_restart = time.monotonic()
        redis_server.start()                    # same port, loads B's RDB
        t_up = time.monotonic()
        t_ready = all_ready(a)
        # the replay ran before A reported ready: the revocation is in force at once
        codes = [api(a, v2["access_token"]).status_code for _ in range(8)]
        assert codes == [401] * 8, "revocation made while A was cut off not enforced: %r" % codes
        time.sleep(2.0)                         # traffic with Redis back
    assert a.proc.poll() is None, "the gateway died:\n" + a.stderr()[-3000:]

    check_reads(load, t0, max_latency=PROMPT)
    check_writes(load, t0, t_dead, t_restart)
    writes = load.of(*WRITES)
    ok_after = [r for r in writes if r[1] >= t_up and r[3] == 200]
    assert ok_after, "no write succeeded after the restart"
    first_ok = min(r[2] for r in ok_after)
    assert first_ok - t_up < RECOVER_WITHIN, "writes failed for %.1f s after Redis was back" % (first_ok - t_up)
    late = [r for r in writes if r[1] >= t_ready]
    assert len(late) >= 5 and all(r[3] == 200 for r in late), fmt([r for r in late if r[3] != 200], t0)
    print("\nwrites back %.2f s after Redis listened again; all workers ready after %.2f s"
          % (first_ok - t_up, t_ready - t_up))

    # the session that died before the outage is still dead, and still in Redis
    assert refresh_get(a, v2["refresh_token"]).status_code == 401
    assert api(a, rev["access_token"]).status_code == 401
    assert len(outage_lines(a)) == WORKERS, "\n".join(outage_lines(a)[:20])


# ---------------------------------------------------------------- 3. frozen (SIGSTOP)

def test_redis_frozen_with_sigstop_under_load(gateway, redis_server, upstream):
    """A hang, not a refusal: the TCP connections stay open (the kernel even accepts new
    ones into the backlog), only the command timeout can tell."""
    gw = start(gateway, redis_server, upstream, workers=WORKERS)
    good = new_pair(gw, "reader")
    rev = revoked_pair(gw)
    pid = redis_server.proc.pid
    t0 = time.monotonic()
    frozen = False
    try:
        with Load(gw, good["access_token"], rev["access_token"]) as load:
            time.sleep(1.0)
            os.kill(pid, signal.SIGSTOP)
            frozen = True
            t_stop = time.monotonic()
            time.sleep(5.0)
            t_cont = time.monotonic()
            os.kill(pid, signal.SIGCONT)
            frozen = False
            t_ready = all_ready(gw)
            time.sleep(1.5)
    finally:
        if frozen:
            os.kill(pid, signal.SIGCONT)
    assert gw.proc.poll() is None, "the gateway died:\n" + gw.stderr()[-3000:]

    check_reads(load, t0, max_latency=PROMPT)
    # a write that reached Redis just before the freeze may still be answered; after that
    # every write sent while frozen times out (<= COMMAND_TIMEOUT) or finds the store not
    # ready (at once): 503, never a hang
    inside = check_writes(load, t0, t_stop + 0.1, t_cont, max_latency=COMMAND_TIMEOUT + SLACK)
    assert len([r for r in inside if r[0] == "new"]) >= 5, fmt(load.of(*WRITES), t0)
    late = [r for r in load.of(*WRITES) if r[1] >= t_ready]
    assert len(late) >= 3 and all(r[3] == 200 for r in late), fmt([r for r in late if r[3] != 200], t0)
    print("\nall workers ready %.2f s after SIGCONT" % (t_ready - t_cont))

    lines = outage_lines(gw)
    assert 1 <= len(lines) <= WORKERS, "\n".join(lines[:20])
    assert any("timed out" in l for l in lines), lines
    p = new_pair(gw, "after")
    assert refresh_get(gw, p["refresh_token"]).status_code == 200
    assert api(gw, rev["access_token"]).status_code == 401


# ---------------------------------------------------------------- 4. a 503 that was written anyway

def test_refresh_answered_503_on_a_hang_leaves_the_token_usable(gateway, redis_server, upstream):
    """CONTRACT.md 8 / docs/endpoints.md: a write that cannot reach Redis answers 503 and
    writes nothing, so the client may retry with the same refresh token once Redis is
    back. Redis frozen (SIGSTOP): the refresh times out (503); after SIGCONT the retry
    must rotate normally, not be taken for reuse."""
    gw = start(gateway, redis_server, upstream, workers=1)
    p = new_pair(gw, "retrier")
    pid = redis_server.proc.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        t = time.monotonic()
        r = refresh_get(gw, p["refresh_token"])
        took = time.monotonic() - t
    finally:
        os.kill(pid, signal.SIGCONT)
    assert r.status_code == 503 and r.json() == ENV_503, r.text
    assert took < COMMAND_TIMEOUT + SLACK
    all_ready(gw)
    r = refresh_get(gw, p["refresh_token"])
    assert r.status_code == 200, "retry after the 503: %s %s" % (r.status_code, r.text)
    assert api(gw, p["access_token"]).status_code == 200
