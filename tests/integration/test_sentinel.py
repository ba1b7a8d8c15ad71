"""Redis Sentinel (CONTRACT.md section 15; docs/config.md "redis-sentinel"; docs/operations.md
"Sentinel"): real redis-server and redis-sentinel processes on 127.0.0.1 (a primary, a
replica, three sentinels with quorum 2: tests/integration/sentinel_cluster.py) and gateways
configured with `redis-sentinel`.

Shown here:
  - login, register, refresh, logout and the CLI's csu work through Sentinel, with a
    password on Redis and another on the sentinels, and a first sentinel that is dead;
  - SIGKILL of the primary: every write answered before the first success is a 503 with
    the JSON body (never a 500, a reset or a hang), and the first success comes at most
    5 s after the replica's promotion;
  - refresh pairs issued before the failover still refresh (replication had caught up:
    nothing acknowledged is lost then, even with redis-min-replicas-ack 0), revocations
    made before it still refuse (on the same gateway and on one started after it, which
    loads them by the feed's replay), a logout after it reaches a second gateway;
  - the old primary, restarted and turned into a replica by the sentinels, never gets a
    command from a gateway (its INFO commandstats: no EVALSHA, no SCRIPT);
  - a sentinel that names a replica is refused by ROLE before anything else is sent;
  - neither password reaches a log; `check` names the key of every bad value.
"""

import json
import re
import time

import pytest
import requests

from conftest import run_authgate
from sentinel_cluster import SentinelCluster, sentinel_cluster  # noqa: F401 (fixture)
from test_tokens import ENV_503, MASTER, new_pair, refresh_get, wait_ready
from test_users import BASE, PW, api, bearer, csu, login_ok, make_user, refresh_post, uname

PROMOTION_TO_WRITE_MAX = 5.0  # s: CONTRACT.md section 15
PRIMARY_PW = "primary-secret-pw-7f3a91"
SENTINEL_PW = "sentinel-secret-pw-c04d2e"


def sstart(gateway, cluster, first_dead=False, **over):
    cfg = dict(BASE)
    cfg.update({"redis": None, "redis-sentinel": cluster.config(first_dead=first_dead),
                "master-token": MASTER, "access-token-ttl": 900, "refresh-token-ttl": 3600})
    cfg.update(over)
    return gateway(config=cfg)


def token_new(gw, timeout=10):
    return requests.get(gw.url + "/auth/token/new", headers={"MASTER-TOKEN": MASTER},
                        timeout=timeout)


def refused_within(gw, access, seconds):
    """True once <gw> answers 401 to <access> on the protected path (polled for <seconds>).
    A poll still upstream when the revocation reaches <gw> is cut without an answer
    (api() returns conftest.Cut, status 0): the next poll must get the 401."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if api(gw, access).status_code == 401:
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def pw_cluster(tmp_path):
    import shutil
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server not installed")
    c = SentinelCluster(tmp_path / "sentinel", password=PRIMARY_PW, sentinel_password=SENTINEL_PW)
    try:
        c.start()
        yield c
    finally:
        c.stop()


def test_failover_follows_the_new_primary(gateway, upstream, pw_cluster):
    cl = pw_cluster
    gw_a = sstart(gateway, cl, first_dead=True)
    gw_b = sstart(gateway, cl)
    wait_ready(gw_a)
    wait_ready(gw_b)

    # ---- everything works through Sentinel
    name = uname()
    make_user(gw_a, name)
    tok = login_ok(gw_a, name)
    r = refresh_post(gw_a, tok["refresh_token"])
    assert r.status_code == 200, r.text
    tok = r.json()
    assert api(gw_a, tok["access_token"]).status_code == 200
    revoked = login_ok(gw_a, name)
    r = requests.post(gw_a.url + "/auth/logout", headers=bearer(revoked["access_token"]), timeout=10)
    assert r.status_code == 200, r.text
    assert refused_within(gw_b, revoked["access_token"], 1.0)
    r = csu(gw_a, uname("su"), "%s@example.com" % uname("su"), PW)
    assert r.returncode == 0, r.stderr
    pairs = [new_pair(gw_a) for _ in range(10)]
    old_port = cl.primary_port()
    cl.wait_replicated()

    # ---- SIGKILL the primary; write until the first success
    t_kill = cl.kill_primary()
    answers = []
    first_ok = None
    deadline = time.time() + 30
    while time.time() < deadline:
        t0 = time.time()
        try:
            r = token_new(gw_a, timeout=5)
        except requests.RequestException as e:  # a reset or a hang: never acceptable
            pytest.fail("write %.2f s after the kill: %r" % (t0 - t_kill, e))
        answers.append((t0, r.status_code, r.text))
        if r.status_code == 200:
            first_ok = t0
            break
        time.sleep(0.05)
    assert first_ok is not None, answers[-3:]
    for t0, status, text in answers[:-1]:
        assert status == 503 and json.loads(text) == ENV_503, (t0 - t_kill, status, text)
    new_port = cl.wait_failover(old_port)
    promoted = cl.promotion_time(new_port)
    assert promoted is not None
    delay = first_ok - promoted
    print("\nkill -> promotion %.2f s, promotion -> first write %.3f s (+switch-master at %.2f s, "
          "%d answers of 503 before)" % (promoted - t_kill, delay, cl.switch_time() - t_kill,
                                         len(answers) - 1))
    assert delay <= PROMOTION_TO_WRITE_MAX, delay

    # ---- nothing acknowledged before it is lost (replication had caught up)
    for p in pairs:
        r = refresh_get(gw_a, p["refresh_token"])
        assert r.status_code == 200, r.text
    r = refresh_post(gw_a, tok["refresh_token"])
    assert r.status_code == 200, r.text
    tok = r.json()

    # ---- revocations before it still refuse: here, and on a gateway started after it
    assert api(gw_a, revoked["access_token"]).status_code == 401
    gw_c = sstart(gateway, cl)
    wait_ready(gw_c)
    assert api(gw_c, revoked["access_token"]).status_code == 401
    assert api(gw_c, tok["access_token"]).status_code == 200

    # ---- a logout after it reaches the other gateway (its feed followed the failover)
    wait_ready(gw_b)
    assert api(gw_b, tok["access_token"]).status_code == 200
    r = requests.post(gw_a.url + "/auth/logout", headers=bearer(tok["access_token"]), timeout=10)
    assert r.status_code == 200, r.text
    assert refused_within(gw_b, tok["access_token"], 1.0)

    # ---- the old primary comes back as a replica: never written by a gateway
    cl.restart_old_primary()
    # Sentinel waits 8 s, then its next INFO (10 s period)
    assert cl.wait_role(old_port, "slave", 60) == "slave"
    for gw in (gw_a, gw_b, gw_c):
        for p in (new_pair(gw), new_pair(gw)):
            assert refresh_get(gw, p["refresh_token"]).status_code == 200
    login_ok(gw_b, name)
    stats = cl.cmd(old_port, "INFO", "commandstats")
    assert "cmdstat_evalsha" not in stats and "cmdstat_script" not in stats, stats
    assert "cmdstat_evalsha" in cl.cmd(new_port, "INFO", "commandstats")

    # ---- which primary, and the failover, are logged; no password ever
    err = gw_a.stderr()
    assert re.search(r"store ready: primary 127\.0\.0\.1:%d of 'agmaster' \(redis-sentinel\), "
                     r"after a failover from 127\.0\.0\.1:%d" % (new_port, old_port), err), err[-3000:]
    for gw in (gw_a, gw_b, gw_c):
        err = gw.stderr()
        assert PRIMARY_PW not in err and SENTINEL_PW not in err


def test_check_names_the_key_of_bad_sentinel_values(tmp_path):
    base = {"cryptography-key": "integration-test-cryptography-key-0123456789",
            "upstream": "http://127.0.0.1:9"}
    good = {"master": "m", "sentinels": ["127.0.0.1:26379", "[::1]:26380", "sentinel.example:1"],
            "password": PRIMARY_PW, "sentinel-password": SENTINEL_PW, "db": 3}
    cases = [
        ({"master": "m", "sentinels": []}, "redis-sentinel.sentinels: must name at least one"),
        ({"master": "m", "sentinels": "127.0.0.1:26379"}, "redis-sentinel.sentinels: expected an array"),
        ({"master": "m", "sentinels": ["127.0.0.1"]}, "redis-sentinel.sentinels[0]: expected \"HOST:PORT\""),
        ({"master": "m", "sentinels": ["127.0.0.1:1", "::1:26379"]},
         "redis-sentinel.sentinels[1]: IPv6 addresses need brackets"),
        ({"master": "m", "sentinels": ["[::1]"]}, "redis-sentinel.sentinels[0]: expected"),
        ({"master": "m", "sentinels": ["127.0.0.1:0"]}, "redis-sentinel.sentinels[0]: port must be 1-65535"),
        ({"master": "m", "sentinels": ["127.0.0.1:1"], "db": -1}, "redis-sentinel.db: must be between 0"),
        ({"master": "m", "sentinels": ["127.0.0.1:1"], "db": "0"}, "redis-sentinel.db: expected an integer"),
        ({"master": "m", "sentinels": ["127.0.0.1:1"], "passwrd": "x"}, "redis-sentinel: unknown key 'passwrd'"),
        ({"master": "", "sentinels": ["127.0.0.1:1"]}, "redis-sentinel.master: must be 1-255"),
        ({"sentinels": ["127.0.0.1:1"]}, "redis-sentinel: needs \"master\""),
        ({"master": "m"}, "redis-sentinel: needs \"sentinels\""),
        ("127.0.0.1:1", "redis-sentinel: expected an object"),
    ]
    for i, (value, want) in enumerate(cases):
        path = tmp_path / ("c%d.json" % i)
        path.write_text(json.dumps(dict(base, **{"redis-sentinel": value})))
        r = run_authgate("check", "--config", path)
        assert r.returncode == 2 and want in r.stderr, (value, r.stderr)
    path = tmp_path / "both.json"
    path.write_text(json.dumps(dict(base, **{"redis-sentinel": good, "redis": "redis://127.0.0.1:6379/0"})))
    r = run_authgate("check", "--config", path)
    assert r.returncode == 2 and "redis-sentinel: set either 'redis' or 'redis-sentinel', not both" \
        in r.stderr, r.stderr
    assert PRIMARY_PW not in r.stderr + r.stdout and SENTINEL_PW not in r.stderr + r.stdout
    path = tmp_path / "good.json"
    path.write_text(json.dumps(dict(base, **{"redis-sentinel": good})))
    r = run_authgate("check", "--config", path)
    assert r.returncode == 0, r.stderr
    assert PRIMARY_PW not in r.stderr + r.stdout and SENTINEL_PW not in r.stderr + r.stdout


def test_no_sentinel_answers_is_503_then_ready_when_one_does(gateway, upstream, sentinel_cluster):
    """Every sentinel listed dead: not ready, writes 503 with the JSON body, the outage
    names the master; the same gateway with a live one in the list is ready."""
    cl = sentinel_cluster
    dead = dict(cl.config())
    dead["sentinels"] = ["127.0.0.1:1"]
    gw = sstart(gateway, cl, **{"redis-sentinel": dead})
    r = token_new(gw)
    assert r.status_code == 503 and r.json() == ENV_503
    deadline = time.monotonic() + 5
    while "store not ready" not in gw.stderr() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "no sentinel named the primary of 'agmaster'" in gw.stderr(), gw.stderr()[-2000:]
    gw2 = sstart(gateway, cl, first_dead=True)
    wait_ready(gw2)
    assert token_new(gw2).status_code == 200


def test_sentinels_named_by_host(gateway, upstream, sentinel_cluster):
    """Sentinels listed by name ("localhost:PORT") are resolved off the event loop
    (store/resolve.c) before each is asked: the gateway is ready and writes."""
    cl = sentinel_cluster
    named = dict(cl.config())
    named["sentinels"] = ["localhost:%d" % p for p in cl.sentinel_ports]
    gw = sstart(gateway, cl, **{"redis-sentinel": named})
    wait_ready(gw)
    assert token_new(gw).status_code == 200


def test_sentinels_named_by_a_slow_dns_hold_no_request(gateway, upstream, sentinel_cluster,
                                                       slow_dns):
    """The DNS takes 1.5 s to name each sentinel: the worker serves meanwhile (the names
    are resolved on threads of their own, store/resolve.c), then it asks them and writes."""
    cl = sentinel_cluster
    named = dict(cl.config())
    named["sentinels"] = ["slow.authgate.test:%d" % p for p in cl.sentinel_ports]
    gw = sstart(gateway, cl, **{"redis-sentinel": named, "workers": 1})
    t0 = time.monotonic()
    r = requests.get(gw.url + "/hello", timeout=5)
    took = time.monotonic() - t0
    assert r.status_code == 200, r.text
    assert took < 0.5, "the first request waited %.2f s for the DNS" % took
    wait_ready(gw)
    assert token_new(gw).status_code == 200


def test_a_sentinel_naming_a_replica_is_refused_by_role(gateway, upstream, sentinel_cluster):
    """A sentinel whose answer is a replica (stale, mid-failover): ROLE says "slave", the
    link fails before anything else is sent, writes are 503, and the replica got nothing
    from us but ROLE (no TIME, no SCRIPT LOAD, no EVALSHA)."""
    cl = sentinel_cluster
    port, replica = cl.start_stale_sentinel("stale")
    cl.cmd(replica, "CONFIG", "RESETSTAT")
    gw = sstart(gateway, cl, **{"redis-sentinel": {"master": "stale",
                                                   "sentinels": ["127.0.0.1:%d" % port]}})
    r = token_new(gw)
    assert r.status_code == 503 and r.json() == ENV_503
    deadline = time.monotonic() + 5
    while "ROLE slave" not in gw.stderr() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "store not ready: Redis is not the primary (ROLE slave) (redis-sentinel stale, " \
        "primary 127.0.0.1:%d)" % replica in gw.stderr(), gw.stderr()[-2000:]
    stats = cl.cmd(replica, "INFO", "commandstats")
    assert "cmdstat_role" in stats, stats
    # (a SELECT may come from the primary's replication stream: not checked)
    for cmd in ("script", "evalsha", "time"):
        assert "cmdstat_%s:" % cmd not in stats, stats
