"""SIGHUP applies a changed `redis` (CONTRACT.md sections 2 and 15; docs/operations.md
"Reloading", docs/redis-keys.md "Connections").

Two redis-servers, A and B, and a gateway on A. A reload that names B opens a new store
on B beside the one on A (its feed subscribed and B's revocation log replayed); store
calls move to B once it is ready, and A's connections close once the commands they
carry have answered. Moving Redis moves no state: what lives only on A (users, refresh
sessions) is unknown on B; revocations the gateway learnt from A stay in its memory.

Counted on the Redis side: CLIENT LIST, less the connection that asks. A gateway with
2 workers holds 4 connections to the Redis it uses (a command and a pub/sub link each).
"""

import re
import signal
import threading
import time

import requests

from conftest import RedisServer, free_port
from test_tokens import decode
from test_users import (BASE, api, assert_refused, login, login_ok, make_user, redis_cmd,
                        refresh_post, register, uname, user_key, ustart)

WORKERS = 2
LINKS = 2 * WORKERS  # per worker: the command link and the pub/sub link
# A Lua busy loop that holds a Redis for <ms> milliseconds: a Redis that answers late.
BUSY = ("local s = redis.call('TIME') repeat local n = redis.call('TIME') "
        "until (n[1] - s[1]) * 1000000 + (n[2] - s[2]) > tonumber(ARGV[1]) * 1000 return 1")


def where(r):
    return "redis 127.0.0.1:%d" % r.port


def clients(r):
    """The ids of the connections to <r>, less the one asking."""
    out = redis_cmd(r.port, "CLIENT", "LIST")
    return sorted(re.search(r"\bid=(\d+)", line).group(1) for line in out.splitlines()
                  if line and "cmd=client|list" not in line)


def wait_clients(r, n, within=5.0):
    """Waits until <r> has <n> connections besides ours; returns their ids."""
    t0 = time.monotonic()
    ids = clients(r)
    while len(ids) != n and time.monotonic() - t0 < within:
        time.sleep(0.02)
        ids = clients(r)
    assert len(ids) == n, "%s: %d connections, want %d" % (where(r), len(ids), n)
    return ids


def log_count(gw, text):
    return gw.stderr().count(text)


def wait_log(gw, text, n=WORKERS, within=5.0):
    """Waits until the gateway has logged <text> <n> times (once per worker)."""
    t0 = time.monotonic()
    while log_count(gw, text) < n and time.monotonic() - t0 < within:
        time.sleep(0.01)
    assert log_count(gw, text) >= n, "%r not logged %d times:\n%s" % (text, n, gw.stderr()[-3000:])


def reload_to(gw, r):
    gw.write_config(dict(gw.config, redis=r.url))
    gw.send_signal(signal.SIGHUP)


def switched(gw, r):
    return "store switched to %s" % where(r)


def busy(r, ms):
    """Holds <r> for <ms> ms from a thread (started when this returns); join() it."""
    started = threading.Event()

    def run():
        started.set()
        redis_cmd(r.port, "EVAL", BUSY, 0, ms)

    t = threading.Thread(target=run)
    t.start()
    started.wait()
    time.sleep(0.05)  # the script has the server now: every other client waits behind it
    return t


def second_redis(tmp_path):
    return RedisServer(tmp_path / "redis-b")


def test_sighup_moves_the_store_to_the_new_redis(gateway, redis_server, upstream, tmp_path):
    a, b = redis_server, second_redis(tmp_path)
    try:
        gw = ustart(gateway, a, upstream)
        old_ids = wait_clients(a, LINKS)
        alice = make_user(gw)
        pair = login_ok(gw, alice["username"])
        gone = login_ok(gw, alice["username"])
        assert redis_cmd(a.port, "EXISTS", user_key(alice["id"])) == 1
        assert requests.post(gw.url + "/auth/logout", headers={"Authorization": "Bearer " +
                             gone["access_token"]}, timeout=10).status_code == 200
        assert_refused(gw, gone["access_token"])

        reload_to(gw, b)
        wait_log(gw, switched(gw, b))
        # New users and sessions land on B, and only there.
        bob = make_user(gw)
        assert redis_cmd(b.port, "EXISTS", user_key(bob["id"])) == 1
        assert redis_cmd(a.port, "EXISTS", user_key(bob["id"])) == 0
        bobs = login_ok(gw, bob["username"])
        sid = decode(bobs["access_token"])["sid"]
        assert redis_cmd(b.port, "EXISTS", "{authgate}:sess:%s" % sid) == 1
        assert redis_cmd(a.port, "EXISTS", "{authgate}:sess:%s" % sid) == 0
        # What lived only on A is unknown on B: its user, its refresh session.
        assert login(gw, alice["username"]).status_code == 401
        r = refresh_post(gw, pair["refresh_token"])
        assert r.status_code == 401, r.text
        # Access tokens are judged in memory: A's live one passes, A's revoked one stays refused.
        assert api(gw, pair["access_token"]).status_code == 200
        assert api(gw, gone["access_token"]).status_code == 401
        # The feed now listens on B: a revocation published there reaches every worker.
        until = int(time.time()) + 3600
        redis_cmd(b.port, "PUBLISH", "{authgate}:revoked", "sid %s %d" % (sid, until))
        assert_refused(gw, bobs["access_token"])
        # A's connections are gone; B holds the same number A held.
        wait_log(gw, "closed the old store (%s)" % where(a))
        assert wait_clients(a, 0) == []
        assert len(wait_clients(b, LINKS)) == LINKS
        assert old_ids  # A had them before the switch
        assert requests.get(gw.url + "/auth/ready", timeout=5).status_code == 200
    finally:
        b.stop()


def replicate(src, dst, within=10.0):
    """Makes <dst> a copy of <src> (REPLICAOF until in sync), then a primary of its own:
    how an operator moves authgate's state to a new Redis (docs/operations.md)."""
    redis_cmd(dst.port, "REPLICAOF", "127.0.0.1", src.port)
    t0 = time.monotonic()
    while "master_link_status:up" not in redis_cmd(dst.port, "INFO", "replication"):
        assert time.monotonic() - t0 < within, "replica never in sync"
        time.sleep(0.05)
    redis_cmd(dst.port, "REPLICAOF", "NO", "ONE")


def test_moved_state_and_a_command_in_flight_during_the_switch(gateway, redis_server, upstream,
                                                                tmp_path):
    """B is a copy of A (the documented way to move): A's users and refresh sessions go on
    working. A login whose user lookup is held on A while the reload switches to B still
    gets its answer from A (A's store is closed only after), then its session on B."""
    a, b = redis_server, second_redis(tmp_path)
    try:
        gw = ustart(gateway, a, upstream)
        alice = make_user(gw)
        pair = login_ok(gw, alice["username"])
        wait_clients(a, LINKS)
        replicate(a, b)
        out = {}
        held = busy(a, 800)  # A answers nothing for 0.8 s: the login's lookup waits there

        def run():
            t0 = time.monotonic()
            r = login(gw, alice["username"])
            out["status"], out["took"] = r.status_code, time.monotonic() - t0
            out["body"] = r.json()
            out["switched"] = log_count(gw, switched(gw, b))

        t = threading.Thread(target=run)
        t.start()
        time.sleep(0.1)  # the login's command is on its way to A
        reload_to(gw, b)
        wait_log(gw, switched(gw, b))
        t.join(10)
        held.join(10)
        assert out["status"] == 200, out
        assert out["took"] >= 0.5, out  # it did wait for A
        # Both workers had moved to B while A still held the login's command.
        assert out["switched"] == WORKERS, out
        sid = decode(out["body"]["access_token"])["sid"]
        assert redis_cmd(b.port, "EXISTS", "{authgate}:sess:%s" % sid) == 1
        wait_log(gw, "closed the old store (%s)" % where(a))
        assert wait_clients(a, 0) == []
        assert len(wait_clients(b, LINKS)) == LINKS
        # The state moved with the copy: A's pair refreshes on B, and so does the new one.
        assert refresh_post(gw, pair["refresh_token"]).status_code == 200
        assert refresh_post(gw, out["body"]["refresh_token"]).status_code == 200
        assert login(gw, alice["username"]).status_code == 200
    finally:
        b.stop()


def test_sighup_to_the_same_redis_opens_no_connection(gateway, redis_server, upstream):
    gw = ustart(gateway, redis_server, upstream)
    before = wait_clients(redis_server, LINKS)
    for i in range(5):
        gw.write_config(dict(gw.config, headers={"X-Gen": str(i)}))
        gw.send_signal(signal.SIGHUP)
        wait_log(gw, "configuration reloaded", n=i + 1)
    alice = make_user(gw)
    login_ok(gw, alice["username"])
    assert clients(redis_server) == before
    assert "store settings changed" not in gw.stderr()


def test_many_sighups_between_two_redis_leak_nothing(gateway, redis_server, upstream, tmp_path):
    a, b = redis_server, second_redis(tmp_path)
    try:
        gw = ustart(gateway, a, upstream)
        wait_clients(a, LINKS)
        for i in range(12):
            reload_to(gw, b if i % 2 == 0 else a)
            time.sleep(0.02 * (i % 3))  # some new stores are dropped before they are ready
        reload_to(gw, b)
        wait_clients(a, 0)
        wait_clients(b, LINKS)
        alice = make_user(gw)
        assert redis_cmd(b.port, "EXISTS", user_key(alice["id"])) == 1
        # and back to A: the same again, B emptied
        reload_to(gw, a)
        wait_clients(b, 0)
        wait_clients(a, LINKS)
        bob = make_user(gw)
        assert redis_cmd(a.port, "EXISTS", user_key(bob["id"])) == 1
        assert redis_cmd(b.port, "EXISTS", user_key(bob["id"])) == 0
    finally:
        b.stop()
    # The gateway fixture's teardown: exit 0, no LeakSanitizer report.


def test_a_bad_new_redis_is_refused_and_the_old_store_serves(gateway, redis_server, upstream):
    gw = ustart(gateway, redis_server, upstream)
    before = wait_clients(redis_server, LINKS)
    gw.write_config(dict(gw.config, redis="redis://127.0.0.1:notaport/0"))
    gw.send_signal(signal.SIGHUP)
    wait_log(gw, "reload refused", n=1)
    assert "redis" in gw.stderr().split("reload refused", 1)[1].splitlines()[0]
    alice = make_user(gw)
    assert redis_cmd(redis_server.port, "EXISTS", user_key(alice["id"])) == 1
    login_ok(gw, alice["username"])
    assert clients(redis_server) == before


def test_an_unreachable_new_redis_leaves_the_old_store_serving(gateway, redis_server, upstream):
    gw = ustart(gateway, redis_server, upstream)
    before = wait_clients(redis_server, LINKS)
    nowhere = "redis://127.0.0.1:%d/0" % free_port()
    gw.write_config(dict(gw.config, redis=nowhere))
    gw.send_signal(signal.SIGHUP)
    wait_log(gw, "the new store is not ready")
    for _ in range(4):
        alice = make_user(gw)
        assert redis_cmd(redis_server.port, "EXISTS", user_key(alice["id"])) == 1
        assert login(gw, alice["username"]).status_code == 200
        assert requests.get(gw.url + "/auth/ready", timeout=5).status_code == 200
    # Back to A: the pending store is dropped, A's connections were never touched.
    gw.write_config(dict(gw.config, redis=redis_server.url))
    gw.send_signal(signal.SIGHUP)
    wait_log(gw, "dropped the new store")
    assert clients(redis_server) == before


def test_with_the_old_redis_down_store_calls_wait_for_the_new_one(gateway, redis_server, upstream,
                                                                  tmp_path):
    """The startup rule (CONTRACT.md section 2) across a reload: with A down, a request
    that needs Redis, sent while B's first connection is not finished, waits for it
    (bounded by the connect timeout) and gets its real answer, not a 503."""
    a, b = redis_server, second_redis(tmp_path)
    try:
        gw = ustart(gateway, a, upstream)
        a.stop()
        r = register(gw)
        assert r.status_code == 503, r.text  # A is down, no reload yet: at once
        held = busy(b, 1000)  # B accepts but answers nothing for 1 s: not ready yet
        reload_to(gw, b)
        wait_log(gw, "the store settings changed: connecting to %s" % where(b))
        assert log_count(gw, switched(gw, b)) == 0
        t0 = time.monotonic()
        name = uname()
        r = register(gw, name)
        took = time.monotonic() - t0
        held.join(10)
        assert r.status_code == 201, r.text
        assert 0.3 <= took < 2.0, took  # it waited for B, less than the connect timeout
        assert redis_cmd(b.port, "EXISTS", user_key(r.json()["id"])) == 1
        assert requests.get(gw.url + "/auth/ready", timeout=5).status_code == 200
        assert login(gw, name).status_code == 200
    finally:
        b.stop()


def test_at_start_store_calls_wait_for_a_redis_that_answers_late(gateway, redis_server, upstream):
    """The startup rule itself (CONTRACT.md section 2), made certain: Redis is up but holds
    the first connection's handshake for 1 s, so the gateway listens before its store is
    ready; a register sent at once waits for it and gets its 201, not a 503."""
    held = busy(redis_server, 1000)
    cfg = dict(BASE, redis=redis_server.url)
    gw = gateway(config=cfg, upstream=upstream)  # returns once the port accepts
    t0 = time.monotonic()
    r = register(gw)
    took = time.monotonic() - t0
    held.join(10)
    assert r.status_code == 201, r.text
    assert 0.2 <= took < 2.0, took  # it waited for the held handshake, within the bound
    assert "store ready" in gw.stderr()
    assert redis_cmd(redis_server.port, "EXISTS", user_key(r.json()["id"])) == 1
