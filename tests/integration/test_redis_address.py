"""`check` and the store agree on the `redis` address (issue 9 point 9; CONTRACT.md
sections 2 and 3; docs/config.md "redis").

There is one parser (store/url.c ag_store_url_parse()), run by `check` and `serve` when
they load a config and by the store itself: an address `check` accepts is one every
worker's store connects with, and one it refuses is named (exit 2, "FILE: redis: why"),
by `check` and by `serve` alike. Before, `REDIS://...` and a database number of 7-9
digits passed `check`, then every worker failed to set up its store.
"""

import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

from conftest import (REDIS_BIN, RawConn, free_port, make_config, run_authgate, wait_port)
from test_tokens import MASTER

FORM = 'expected "redis://[:PASSWORD@]HOST:PORT[/DB]"'


@pytest.fixture
def redis_unix():
    """A redis-server on a TCP port and a unix socket (short path: sun_path is 108 bytes)."""
    if shutil.which(REDIS_BIN) is None:
        pytest.skip("redis-server not installed")
    d = Path(tempfile.mkdtemp(prefix="agr", dir="/tmp"))
    port = free_port()
    sock = d / "r.sock"
    proc = subprocess.Popen([REDIS_BIN, "--port", str(port), "--bind", "127.0.0.1",
                             "--unixsocket", str(sock), "--unixsocketperm", "700",
                             "--save", "", "--appendonly", "no", "--dir", str(d)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        assert wait_port(port, 10.0, proc)
        yield port, str(sock)
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(d, ignore_errors=True)


def write_config(tmp_path, redis_url, upstream_url="http://127.0.0.1:9"):
    cfg = make_config({"redis": redis_url, "master-token": MASTER, "rate-limits": False},
                      upstream_url)
    path = tmp_path / ("c%d.json" % free_port())
    path.write_text(json.dumps(cfg))
    return path, cfg


def wait_ready(url, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/auth/ready", timeout=2).status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.05)
    return False


def accepted(port, sock):
    return ["REDIS://127.0.0.1:%d/3" % port,
            "Redis://localhost:%d/" % port,
            "redis://127.0.0.1:%d/15" % port,
            "redis://127.0.0.1:%d" % port,
            "unix://%s" % sock,
            "UNIX://%s" % sock]


def test_what_check_accepts_the_store_uses(tmp_path, gateway, redis_unix):
    port, sock = redis_unix
    for url in accepted(port, sock):
        path, _ = write_config(tmp_path, url)
        r = run_authgate("check", "--config", path)
        assert r.returncode == 0, (url, r.stderr)
        gw = gateway(config={"redis": url, "master-token": MASTER, "rate-limits": False})
        assert wait_ready(gw.url), "%s: accepted by check, store never ready:\n%s" % (url, gw.stderr())
        r = requests.get(gw.url + "/auth/token/new", headers={"MASTER-TOKEN": MASTER}, timeout=10)
        assert r.status_code == 200, (url, r.text)
        assert "cannot set up the store" not in gw.stderr()
        gw.stop()


def test_a_database_of_seven_to_nine_digits_reaches_redis(tmp_path, gateway, redis_unix):
    """Accepted by check (SELECT takes up to 2147483646), so the store connects and asks
    Redis, which answers for itself (this one has 16 databases): the store is set up."""
    port, _ = redis_unix
    for db in (1234567, 123456789):
        url = "redis://127.0.0.1:%d/%d" % (port, db)
        path, _ = write_config(tmp_path, url)
        assert run_authgate("check", "--config", path).returncode == 0
        gw = gateway(config={"redis": url})
        deadline = time.monotonic() + 10
        while "DB index is out of range" not in gw.stderr() and time.monotonic() < deadline:
            time.sleep(0.05)
        err = gw.stderr()
        assert "Redis refused the handshake: ERR DB index is out of range" in err, err
        assert "cannot set up the store" not in err
        gw.stop()


def test_a_redis_named_by_a_slow_dns_holds_no_request(gateway, upstream, redis_unix, slow_dns):
    """The DNS takes 1.5 s to name the Redis: the worker serves meanwhile (the name is
    resolved on a thread of its own, store/resolve.c), then the store connects. When
    hiredis resolved it on the loop, the first request waited for the DNS."""
    port, _ = redis_unix
    gw = gateway(config={"redis": "redis://slow.authgate.test:%d/0" % port, "workers": 1,
                         "master-token": MASTER})
    t0 = time.monotonic()
    r = requests.get(gw.url + "/hello", timeout=5)
    took = time.monotonic() - t0
    assert r.status_code == 200, r.text
    assert took < 0.5, "the first request waited %.2f s for the DNS" % took
    assert wait_ready(gw.url), gw.stderr()
    r = requests.get(gw.url + "/auth/token/new", headers={"MASTER-TOKEN": MASTER}, timeout=10)
    assert r.status_code == 200, r.text


REFUSED = [
    ("redis://127.0.0.1", FORM),
    ("redis://127.0.0.1:", FORM),
    ("redis://127.0.0.1:6379?db=1", FORM),
    ("rediss://127.0.0.1:6379", "TLS to Redis is not supported yet"),
    ("http://127.0.0.1:6379", FORM + ' or "unix:///PATH"'),
    ("redis://user:pw@127.0.0.1:6379", 'a user name is not supported; use "redis://:PASSWORD@HOST:PORT"'),
    ("redis://:@127.0.0.1:6379", "the password after ':' must not be empty"),
    ("redis://127.0.0.1:0", "port must be 1-65535"),
    ("redis://::1:6379", 'IPv6 addresses need brackets, as in "redis://[::1]:6379/0"'),
    ("redis://127.0.0.1:6379/x", "the database after '/' must be a number from 0 to 2147483646"),
    ("redis://127.0.0.1:6379/2147483647", "the database after '/' must be a number from 0 to 2147483646"),
    ("unix://run/redis.sock", 'the socket path must be absolute, as in "unix:///PATH"'),
]


@pytest.mark.parametrize("url,why", REFUSED, ids=[u for u, _ in REFUSED])
def test_what_check_refuses_it_names_and_serve_refuses_alike(tmp_path, url, why):
    path, cfg = write_config(tmp_path, url)
    want = "%s: redis: %s" % (path, why)
    r = run_authgate("check", "--config", path)
    assert r.returncode == 2
    assert r.stderr.splitlines() == [want]
    r = run_authgate("serve", "--config", path, timeout=20)
    assert r.returncode == 2
    assert want in r.stderr.splitlines()
    port = int(cfg["listen"].rsplit(":", 1)[1])
    with pytest.raises(OSError):
        RawConn(port, timeout=1)
