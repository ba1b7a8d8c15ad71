"""Sentinel failover with `redis-min-replicas-ack` (CONTRACT.md section 15: "Nothing
acknowledged before a failover is lost when redis-min-replicas-ack is 1 or more"), and a
SIGHUP that moves a gateway from `redis` to `redis-sentinel`. Real processes on 127.0.0.1:
a primary, two replicas and three sentinels (tests/integration/sentinel_cluster.py).

Shown here:
  - with ack 1, pairs, logins and logouts answered right before SIGKILL of the primary
    (no waiting for replication: the acknowledgement is the guarantee) all hold after the
    failover: every pair refreshes once, every logout still refuses, on the gateway and on
    one started after the failover; writes are back within 5 s of the promotion (the
    second replica, re-pointed by the sentinels, acknowledges them);
  - a gateway started on plain `redis` (the primary's address) and reloaded with
    `redis-sentinel` follows the next failover by itself; reloaded the other way, its
    sentinel connections close and a tunnel opened before stays revocable; a changed
    sentinel list is a new store, watched on the sentinel now listed.

Why two replicas: with ack 1 and a single replica, the promoted replica has none left,
and every write answers 503 until one is back (docs/operations.md "redis-min-replicas-ack").
"""

import json
import shutil
import signal
import time

import pytest
import requests

from sentinel_cluster import REDIS_BIN, SentinelCluster
from test_tokens import ENV_503, MASTER, new_pair, refresh_get, wait_ready
from test_users import BASE, api, bearer, login_ok, make_user, uname

PROMOTION_TO_WRITE_MAX = 5.0  # s: CONTRACT.md section 15


@pytest.fixture
def cluster2(tmp_path):
    """A primary, two replicas, three sentinels."""
    if shutil.which(REDIS_BIN) is None:
        pytest.skip("redis-server not installed")
    c = SentinelCluster(tmp_path / "sentinel", replicas=2)
    try:
        c.start()
        yield c
    finally:
        c.stop()


def sconfig(cluster, **over):
    cfg = dict(BASE)
    cfg.update({"redis": None, "redis-sentinel": cluster.config(), "master-token": MASTER,
                "access-token-ttl": 900, "refresh-token-ttl": 3600})
    cfg.update(over)
    return cfg


def first_write_after(gw, t_kill, within=30.0):
    """Sends GET /auth/token/new until one succeeds; every earlier answer must be the JSON
    503 (never a 500, a reset or a hang). Returns the time.time() of the successful one."""
    deadline = time.time() + within
    answers = []
    while time.time() < deadline:
        t0 = time.time()
        try:
            r = requests.get(gw.url + "/auth/token/new", headers={"MASTER-TOKEN": MASTER},
                             timeout=5)
        except requests.RequestException as e:
            pytest.fail("write %.2f s after the kill: %r" % (t0 - t_kill, e))
        if r.status_code == 200:
            return t0
        assert r.status_code == 503 and json.loads(r.text) == ENV_503, \
            (t0 - t_kill, r.status_code, r.text)
        answers.append(t0)
        time.sleep(0.05)
    pytest.fail("no write succeeded within %s s of the kill (%d answers of 503)"
                % (within, len(answers)))


def test_ack_1_keeps_every_write_acknowledged_before_the_failover(gateway, upstream, cluster2):
    cl = cluster2
    gw = gateway(config=sconfig(cl, **{"redis-min-replicas-ack": 1}))
    wait_ready(gw)
    name = uname()
    make_user(gw, name)
    logins = [login_ok(gw, name) for _ in range(3)]
    loggedout = [login_ok(gw, name) for _ in range(3)]
    for t in loggedout:
        r = requests.post(gw.url + "/auth/logout", headers=bearer(t["access_token"]), timeout=10)
        assert r.status_code == 200, r.text
    pairs = [new_pair(gw) for _ in range(20)]

    # No wait_replicated(): each answer above came after WAIT said a replica had it.
    old_port = cl.primary_port()
    t_kill = cl.kill_primary()
    first_ok = first_write_after(gw, t_kill)
    new_port = cl.wait_failover(old_port)
    promoted = cl.promotion_time(new_port)
    assert promoted is not None
    print("\nack 1: kill -> promotion %.2f s, promotion -> first acknowledged write %.3f s"
          % (promoted - t_kill, first_ok - promoted))
    assert first_ok - promoted <= PROMOTION_TO_WRITE_MAX

    for p in pairs:
        r = refresh_get(gw, p["refresh_token"])
        assert r.status_code == 200, r.text
    for t in logins:
        r = requests.post(gw.url + "/auth/refresh",
                          headers={"Authorization": "Bearer " + t["refresh_token"]}, timeout=10)
        assert r.status_code == 200, r.text
    later = gateway(config=sconfig(cl, **{"redis-min-replicas-ack": 1}))
    wait_ready(later)
    for t in loggedout:
        assert api(gw, t["access_token"]).status_code == 401
        assert api(later, t["access_token"]).status_code == 401
        r = requests.post(later.url + "/auth/refresh",
                          headers={"Authorization": "Bearer " + t["refresh_token"]}, timeout=10)
        assert r.status_code == 401, r.text


def reload_until(gw, config, line):
    """Writes <config>, sends SIGHUP, and waits until every worker has logged <line>."""
    gw.write_config(config)
    gw.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while gw.stderr().count(line) < gw.config["workers"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert gw.stderr().count(line) == gw.config["workers"], gw.stderr()[-3000:]


def test_sighup_from_redis_to_sentinel_then_a_failover_is_followed(gateway, upstream, cluster2):
    cl = cluster2
    old_port = cl.primary_port()
    cfg = dict(BASE)
    cfg.update({"redis": "redis://127.0.0.1:%d/0" % old_port, "master-token": MASTER})
    gw = gateway(config=cfg)
    wait_ready(gw)
    before = new_pair(gw)

    moved = {k: v for k, v in gw.config.items() if k != "redis"}
    moved["redis-sentinel"] = cl.config()
    # The switch is logged by every worker once the sentinel store is ready and replayed.
    reload_until(gw, moved, "store switched to redis-sentinel")
    cl.wait_replicated()

    t_kill = cl.kill_primary()
    first_ok = first_write_after(gw, t_kill)
    new_port = cl.wait_failover(old_port)
    assert first_ok - cl.promotion_time(new_port) <= PROMOTION_TO_WRITE_MAX
    r = refresh_get(gw, before["refresh_token"])
    assert r.status_code == 200, r.text
    assert "cmdstat_evalsha" in cl.cmd(new_port, "INFO", "commandstats")


def watchers_on(cl, i):
    """Connections subscribed on sentinel <i> (each store watches +switch-master on one)."""
    return sum(1 for line in cl.scmd(i, "CLIENT", "LIST").splitlines() if "sub=1" in line)


def sentinel_watchers(cl):
    return sum(watchers_on(cl, i) for i in range(len(cl.sentinel_ports)))


def test_sighup_from_sentinel_to_redis_keeps_tunnels_revocable(gateway, upstream, cluster2):
    """The other way: a gateway on `redis-sentinel` reloaded with `redis` (the primary's
    address). Its sentinel connections close with the old store; a tunnel opened before
    the SIGHUP is still closed (1008) by a logout made after the switch."""
    import websocket
    from test_live_revoke import wait_close_1008

    cl = cluster2
    gw = gateway(config=sconfig(cl, **{"access-token-paths": ["/api", "/ws"]}))
    wait_ready(gw)
    u = make_user(gw)
    p = login_ok(gw, u["username"])
    ws = websocket.create_connection("ws://127.0.0.1:%d/ws" % gw.port,
                                     header=["Authorization: Bearer " + p["access_token"]],
                                     timeout=5)
    ws.send("hello")
    assert ws.recv() == "hello"
    assert sentinel_watchers(cl) == gw.config["workers"]

    moved = {k: v for k, v in gw.config.items() if k != "redis-sentinel"}
    moved["redis"] = "redis://127.0.0.1:%d/0" % cl.primary_port()
    reload_until(gw, moved, "closed the old store")
    deadline = time.monotonic() + 2
    while sentinel_watchers(cl) > 0 and time.monotonic() < deadline:
        time.sleep(0.02)  # the sentinels see the close a moment later
    assert sentinel_watchers(cl) == 0

    ws.send("still")
    assert ws.recv() == "still"
    t0 = time.monotonic()
    r = requests.post(gw.url + "/auth/logout", headers=bearer(p["access_token"]), timeout=10)
    assert r.status_code == 200, r.text
    assert wait_close_1008(ws) == 1008
    assert time.monotonic() - t0 < 1.0
    assert api(gw, p["access_token"]).status_code == 401


def test_sighup_with_another_sentinel_list_moves_the_store(gateway, upstream, cluster2):
    """A changed `redis-sentinel` (here: one sentinel listed instead of three) is a new
    store: the workers switch to it, close the old one, and writes go on."""
    cl = cluster2
    gw = gateway(config=sconfig(cl))
    wait_ready(gw)
    before = new_pair(gw)
    watchers = sentinel_watchers(cl)
    assert watchers == gw.config["workers"]

    moved = dict(gw.config)
    moved["redis-sentinel"] = dict(cl.config(), sentinels=["127.0.0.1:%d" % cl.sentinel_ports[2]])
    reload_until(gw, moved, "closed the old store")
    assert gw.stderr().count("store switched to redis-sentinel") == gw.config["workers"]
    r = refresh_get(gw, before["refresh_token"])
    assert r.status_code == 200, r.text
    new_pair(gw)
    # every worker now watches +switch-master on the one sentinel listed, and only there
    deadline = time.monotonic() + 2
    while watchers_on(cl, 0) + watchers_on(cl, 1) > 0 and time.monotonic() < deadline:
        time.sleep(0.02)  # the sentinels see the old watches close a moment later
    assert [watchers_on(cl, i) for i in range(3)] == [0, 0, watchers]
