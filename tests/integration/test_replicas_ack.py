"""`redis-min-replicas-ack` (CONTRACT.md section 15; docs/operations.md "redis-min-replicas-ack";
docs/redis-keys.md "Acknowledged writes") through the real binary, on a real primary and a
real replica the test starts with REPLICAOF:

  - with ack 1 and the replica up, register, login, refresh and logout answer as before,
    and each write is on the replica when the client has its answer (read at once);
  - with the replica frozen (SIGSTOP) or killed, login, refresh and logout answer 503 with
    the store outage's JSON within the command timeout (2 s, gateway/worker.c);
  - the refresh retried with the same token once the replica is back succeeds, and the
    session is not taken for a replayed token (not revoked);
  - with ack 0 (the default) no WAIT is sent; `check` refuses bad values naming the key.
"""

import os
import signal
import threading
import time

import pytest
import requests

from conftest import RedisServer, REDIS_BIN, run_authgate, sanitizer_lines
from test_errors import good_config, write
from test_tokens import ENV_503, decode
from test_users import (D503, api, bearer, login, login_ok, make_user, redis_cmd, refresh_post,
                        register, ustart, user_key)

COMMAND_TIMEOUT = 2.0  # gateway/worker.c: .command_timeout = 2; WAIT gets a quarter of it
PAUSE = 0.25           # a replica frozen this long delays an acknowledged write (< WAIT's 0.5 s)
NS = "authgate"


def sess_key(sid):
    return "{%s}:sess:%s" % (NS, sid)


def info(port, section):
    text = redis_cmd(port, "INFO", section)
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


@pytest.fixture
def replica(tmp_path, redis_server):
    """A second redis-server replicating <redis_server>, in sync before the test starts."""
    import shutil
    if shutil.which(REDIS_BIN) is None:
        pytest.skip("redis-server not installed")
    r = RedisServer(tmp_path / "replica")
    assert redis_cmd(r.port, "REPLICAOF", "127.0.0.1", str(redis_server.port)) == "OK"
    deadline = time.monotonic() + 10
    while info(r.port, "replication").get("master_link_status") != "up":
        assert time.monotonic() < deadline, "the replica never synced"
        time.sleep(0.05)
    yield r
    if r.proc is not None:
        os.kill(r.proc.pid, signal.SIGCONT)
    r.stop()


def wait_caught_up(primary, replica, timeout=10.0):
    """Until the replica is linked and has every byte the primary wrote (a precondition of
    the retry, not a check of the gateway)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        p, r = info(primary.port, "replication"), info(replica.port, "replication")
        if (r.get("master_link_status") == "up"
                and r.get("slave_repl_offset") == p.get("master_repl_offset")):
            return
        time.sleep(0.05)
    raise AssertionError("the replica did not catch up")


def logout(gw, access):
    return requests.post(gw.url + "/auth/logout", headers=bearer(access), timeout=10)


def timed(fn, *a):
    t0 = time.monotonic()
    r = fn(*a)
    return r, time.monotonic() - t0


def wait_calls(port):
    stats = info(port, "commandstats")
    return stats.get("cmdstat_wait")


# ---------------------------------------------------------------- replica up

def slowed(replica, fn, *a):
    """Runs fn(*a) while the replica is frozen for PAUSE s (SIGSTOP, then SIGCONT from a
    timer): an answer that waited for the replica cannot come sooner. (response, seconds)"""
    os.kill(replica.proc.pid, signal.SIGSTOP)
    wake = threading.Timer(PAUSE, os.kill, (replica.proc.pid, signal.SIGCONT))
    t0 = time.monotonic()
    wake.start()
    try:
        r = fn(*a)
        took = time.monotonic() - t0
    finally:
        wake.join()
    return r, took


def test_ack_1_each_write_is_on_the_replica_when_answered(gateway, redis_server, replica,
                                                          upstream):
    """Each write is answered as before, only after the (slowed) replica has it: read on
    the replica at once, no wait, no retry."""
    gw = ustart(gateway, redis_server, upstream, **{"redis-min-replicas-ack": 1})
    r, took = slowed(replica, register, gw)
    assert r.status_code == 201, r.text
    assert took >= PAUSE, took
    uid = r.json()["id"]
    assert redis_cmd(replica.port, "HGET", user_key(uid), "id") == uid

    r, took = slowed(replica, login, gw, r.json()["username"])
    assert r.status_code == 200, r.text
    assert took >= PAUSE, took
    pair = r.json()
    f = decode(pair["refresh_token"])
    assert redis_cmd(replica.port, "HGET", sess_key(f["sid"]), "otid") == f["jti"]

    r, took = slowed(replica, refresh_post, gw, pair["refresh_token"])
    assert r.status_code == 200, r.text
    assert took >= PAUSE, took
    pair = r.json()
    f2 = decode(pair["refresh_token"])
    assert f2["sid"] == f["sid"]
    assert redis_cmd(replica.port, "HGET", sess_key(f["sid"]), "otid") == f2["jti"]
    assert api(gw, pair["access_token"]).status_code == 200

    r, took = slowed(replica, logout, gw, pair["access_token"])
    assert r.status_code == 200 and r.json() == {"detail": "Logged out"}, r.text
    assert took >= PAUSE, took
    assert redis_cmd(replica.port, "EXISTS", "{%s}:rev:sid:%s" % (NS, f["sid"])) == 1
    assert redis_cmd(replica.port, "EXISTS", sess_key(f["sid"])) == 0
    assert wait_calls(redis_server.port) is not None


def test_ack_0_sends_no_wait(gateway, redis_server, replica, upstream):
    gw = ustart(gateway, redis_server, upstream)
    u = make_user(gw)
    pair = login_ok(gw, u["username"])
    r = refresh_post(gw, pair["refresh_token"])
    assert r.status_code == 200, r.text
    assert logout(gw, r.json()["access_token"]).status_code == 200
    assert wait_calls(redis_server.port) is None


# ---------------------------------------------------------------- replica gone

def test_replica_frozen_writes_503_in_time_and_the_refresh_retry_works(gateway, redis_server,
                                                                         replica, upstream):
    gw = ustart(gateway, redis_server, upstream, **{"redis-min-replicas-ack": 1})
    u = make_user(gw)
    a = login_ok(gw, u["username"])  # refreshed during the outage, retried after it
    b = login_ok(gw, u["username"])  # logged out during the outage
    os.kill(replica.proc.pid, signal.SIGSTOP)
    try:
        r, took = timed(login, gw, u["username"])
        assert r.status_code == 503 and r.json() == D503, r.text
        assert took < COMMAND_TIMEOUT, took

        r, took = timed(refresh_post, gw, a["refresh_token"])
        assert r.status_code == 503 and r.json() == D503, r.text
        assert took < COMMAND_TIMEOUT, took
        # the rotation happened on the primary; the presented token is marked for the retry
        fa = decode(a["refresh_token"])
        assert redis_cmd(redis_server.port, "HGET", sess_key(fa["sid"]),
                         "unconfirmed") == fa["jti"]

        r, took = timed(logout, gw, b["access_token"])
        assert r.status_code == 503 and r.json() == D503, r.text
        assert took < COMMAND_TIMEOUT, took

        r, took = timed(requests.get, gw.url + "/auth/token/refresh?refresh_token=" +
                        a["refresh_token"])
        assert r.status_code == 503 and r.json() == ENV_503, r.text
        assert took < COMMAND_TIMEOUT, took
    finally:
        os.kill(replica.proc.pid, signal.SIGCONT)
    wait_caught_up(redis_server, replica)

    # the client's natural retry: the same refresh token, once the replica is back
    r = refresh_post(gw, a["refresh_token"])
    assert r.status_code == 200, r.text
    pair = r.json()
    f = decode(pair["refresh_token"])
    assert redis_cmd(replica.port, "HGET", sess_key(f["sid"]), "otid") == f["jti"]
    assert redis_cmd(redis_server.port, "EXISTS", "{%s}:rev:sid:%s" % (NS, f["sid"])) == 0
    assert api(gw, pair["access_token"]).status_code == 200
    r = refresh_post(gw, pair["refresh_token"])
    assert r.status_code == 200, r.text
    # the mark was good once: the first token is a replay now
    assert refresh_post(gw, a["refresh_token"]).status_code == 401
    # the logout answered 503 did happen: its retry finds the session ended (documented)
    assert logout(gw, b["access_token"]).status_code == 401


def test_connection_lost_during_the_wait_the_refresh_retry_works(gateway, redis_server, replica,
                                                                 upstream):
    """The connection to Redis drops while a rotation's WAIT is held (a failover, a network
    cut): the client hears 503, and its retry with the same token, once the store is back,
    must not be taken for a replayed token (the mark goes out on the new connection)."""
    gw = ustart(gateway, redis_server, upstream, workers=1, **{"redis-min-replicas-ack": 1})
    u = make_user(gw)
    a = login_ok(gw, u["username"])
    fa = decode(a["refresh_token"])
    os.kill(replica.proc.pid, signal.SIGSTOP)  # the WAIT is held (0.5 s) ...
    cut = threading.Timer(0.15, redis_cmd, (redis_server.port, "CLIENT", "KILL", "TYPE", "normal"))
    try:
        cut.start()  # ... and the connection cut under it, the rotation done on the primary
        r = refresh_post(gw, a["refresh_token"])
        cut.join()
        assert r.status_code == 503 and r.json() == D503, r.text
    finally:
        os.kill(replica.proc.pid, signal.SIGCONT)
    wait_caught_up(redis_server, replica)
    deadline = time.monotonic() + 10
    while requests.get(gw.url + "/auth/ready", timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "the store did not come back"
        time.sleep(0.05)

    r = refresh_post(gw, a["refresh_token"])
    assert r.status_code == 200, r.text  # not 401 with the session revoked as replayed
    assert redis_cmd(redis_server.port, "EXISTS", "{%s}:rev:sid:%s" % (NS, fa["sid"])) == 0
    assert api(gw, r.json()["access_token"]).status_code == 200


def test_sighup_while_a_wait_is_held_the_old_store_answers_then_closes(gateway, redis_server,
                                                                        replica, upstream,
                                                                        tmp_path):
    """A reload to another Redis while a rotation's WAIT is held on the old one: the old
    store, retired, still answers it (503, the mark written there first), then closes."""
    other = RedisServer(tmp_path / "other")
    try:
        gw = ustart(gateway, redis_server, upstream, workers=1, **{"redis-min-replicas-ack": 1})
        u = make_user(gw)
        a = login_ok(gw, u["username"])
        fa = decode(a["refresh_token"])
        moved = dict(gw.config, redis="redis://127.0.0.1:%d/0" % other.port)

        def reload():
            gw.write_config(moved)
            gw.send_signal(signal.SIGHUP)

        os.kill(replica.proc.pid, signal.SIGSTOP)
        hup = threading.Timer(0.1, reload)
        try:
            hup.start()
            r, took = timed(refresh_post, gw, a["refresh_token"])
            hup.join()
        finally:
            os.kill(replica.proc.pid, signal.SIGCONT)
        assert r.status_code == 503 and r.json() == D503, r.text
        assert took < COMMAND_TIMEOUT, took
        assert redis_cmd(redis_server.port, "HGET", sess_key(fa["sid"]),
                         "unconfirmed") == fa["jti"]
        deadline = time.monotonic() + 5
        while "closed the old store" not in gw.stderr() and time.monotonic() < deadline:
            time.sleep(0.02)
        err = gw.stderr()
        assert "store switched to redis 127.0.0.1:%d" % other.port in err, err[-2000:]
        assert "closed the old store" in err, err[-2000:]
        assert gw.stop() == 0
        assert sanitizer_lines(gw.stderr()) == []
    finally:
        other.stop()


def test_replica_killed_register_and_login_503_then_back(gateway, redis_server, replica):
    gw = ustart(gateway, redis_server, **{"redis-min-replicas-ack": 1})
    u = make_user(gw)
    replica.proc.kill()
    replica.proc.wait()
    replica.proc = None
    r, took = timed(login, gw, u["username"])
    assert r.status_code == 503 and r.json() == D503, r.text
    assert took < COMMAND_TIMEOUT, took
    name = "late_%s" % os.urandom(3).hex()
    r, took = timed(register, gw, name)
    assert r.status_code == 503 and r.json() == D503, r.text
    assert took < COMMAND_TIMEOUT, took
    # The user was written on the primary: the retry finds the name taken (documented).
    r = register(gw, name)
    assert r.status_code == 409, r.text
    replica.start()
    assert redis_cmd(replica.port, "REPLICAOF", "127.0.0.1", str(redis_server.port)) == "OK"
    wait_caught_up(redis_server, replica)
    assert login(gw, name).status_code == 200


# ---------------------------------------------------------------- check

@pytest.mark.parametrize("value", [-1, 65, 1.5, "1", True])
def test_check_refuses_a_bad_value_naming_the_key(tmp_path, value):
    cfg = dict(good_config(), **{"redis-min-replicas-ack": value})
    r = run_authgate("check", "--config", write(tmp_path, "bad.json", cfg))
    out = r.stdout + r.stderr
    assert r.returncode == 2, out
    assert any("redis-min-replicas-ack" in line for line in out.splitlines()), out


@pytest.mark.parametrize("value", [0, 1, 64])
def test_check_accepts_0_to_64(tmp_path, value):
    cfg = dict(good_config(), **{"redis-min-replicas-ack": value})
    r = run_authgate("check", "--config", write(tmp_path, "ok.json", cfg))
    assert r.returncode == 0, r.stdout + r.stderr
