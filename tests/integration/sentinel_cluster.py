"""
tests/integration/sentinel_cluster.py - a real Redis Sentinel cluster on 127.0.0.1 for the
failover tests (CONTRACT.md section 15): a primary, a replica and three sentinels
(quorum 2, down-after-milliseconds 1000, failover-timeout 5000), started as processes by
the test, each with its own log file.

Entry points:
  SentinelCluster(tmpdir, password=None, sentinel_password=None, replicas=1)
      .start() / .stop()             every process (<replicas> replicas: b, then c)
      .config(first_dead=False)      the gateway's "redis-sentinel" value
      .primary_port()                the port the sentinels name now
      .kill_primary()                SIGKILL the current primary; returns time.time()
      .restart_old_primary()         the killed one again, same port (the sentinels make it
                                     a replica)
      .promotion_time(port)          when the replica on <port> became a primary (its log)
      .switch_time()                 the first +switch-master in the sentinels' logs
      .wait_replicated()             replica offset == primary offset
      .cmd(port, *args)              one command (AUTH first when the cluster has a password)
      .wait_role(port, want, timeout) until ROLE says <want> (a reset while it changes: ask again)
      .start_stale_sentinel(name)    a sentinel naming the replica as the primary of <name>
  sentinel_cluster                   pytest fixture: a started cluster, stopped at teardown

Used by tests/integration/test_sentinel.py; later failover tests reuse it.
"""

import datetime
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import free_port, wait_port
from test_users import _resp_read

REDIS_BIN = os.environ.get("REDIS_SERVER", "redis-server")
MASTER_NAME = "agmaster"
LOG_TIME = re.compile(r"^\d+:[A-Z] (\d\d \w\w\w \d{4} \d\d:\d\d:\d\d\.\d{3}) ")


def resp_cmd(port, *args, password=None, timeout=5):
    """One command to 127.0.0.1:<port> (AUTH <password> first); the decoded reply (an
    error reply comes back as a RuntimeError object, not raised)."""
    cmds = ([("AUTH", password)] if password else []) + [args]
    payload = b""
    for c in cmds:
        enc = [a if isinstance(a, bytes) else str(a).encode() for a in c]
        payload += b"*%d\r\n" % len(enc) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in enc)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(payload)
        with s.makefile("rb") as f:
            out = [_resp_read(f) for _ in cmds]
    return out[-1]


def _log_time(line):
    m = LOG_TIME.match(line)
    if not m:
        return None
    return datetime.datetime.strptime(m.group(1), "%d %b %Y %H:%M:%S.%f").timestamp()


class SentinelCluster:
    def __init__(self, tmpdir, password=None, sentinel_password=None, replicas=1):
        self.dir = Path(tmpdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.password = password
        self.sentinel_password = sentinel_password
        self.ports = {"a": free_port(), "b": free_port()}   # a: first primary, b: replica
        if replicas > 1:
            self.ports["c"] = free_port()                    # a second replica
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.procs = {}
        self.killed = None

    # -------------------------------------------------------- processes

    def _redis_args(self, name):
        args = [REDIS_BIN, "--port", str(self.ports[name]), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(self.dir), "--dbfilename", "%s.rdb" % name,
                "--logfile", str(self.dir / ("redis-%s.log" % name))]
        if self.password:
            args += ["--requirepass", self.password, "--masterauth", self.password]
        return args

    def _start_redis(self, name, replicaof=None):
        args = self._redis_args(name)
        if replicaof:
            args += ["--replicaof", "127.0.0.1", str(replicaof)]
        p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        self.procs[name] = p
        if not wait_port(self.ports[name], 10.0, p):
            raise RuntimeError("redis %s did not listen" % name)

    def _start_sentinel(self, i):
        conf = self.dir / ("sentinel-%d.conf" % i)
        lines = ["port %d" % self.sentinel_ports[i], "bind 127.0.0.1", "dir %s" % self.dir,
                 "logfile %s" % (self.dir / ("sentinel-%d.log" % i)),
                 "sentinel monitor %s 127.0.0.1 %d 2" % (MASTER_NAME, self.ports["a"]),
                 "sentinel down-after-milliseconds %s 1000" % MASTER_NAME,
                 "sentinel failover-timeout %s 5000" % MASTER_NAME,
                 "sentinel parallel-syncs %s 1" % MASTER_NAME]
        if self.password:
            lines.append("sentinel auth-pass %s %s" % (MASTER_NAME, self.password))
        if self.sentinel_password:
            lines += ["requirepass %s" % self.sentinel_password,
                      "sentinel sentinel-pass %s" % self.sentinel_password]
        conf.write_text("\n".join(lines) + "\n")
        p = subprocess.Popen([REDIS_BIN, str(conf), "--sentinel"], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs["s%d" % i] = p
        if not wait_port(self.sentinel_ports[i], 10.0, p):
            raise RuntimeError("sentinel %d did not listen" % i)

    def start(self):
        self._start_redis("a")
        for name in self.ports:
            if name != "a":
                self._start_redis(name, replicaof=self.ports["a"])
        for i in range(3):
            self._start_sentinel(i)
        # The cluster is usable for a failover once every sentinel knows the replica and
        # the two other sentinels (hello messages every 2 s) and the replica is in sync.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                ok = all(len(self.scmd(i, "SENTINEL", "sentinels", MASTER_NAME)) == 2 and
                         len(self.scmd(i, "SENTINEL", "replicas", MASTER_NAME)) ==
                         len(self.ports) - 1 for i in range(3))
                ok = ok and all("master_link_status:up" in self.cmd(port, "INFO", "replication")
                                for name, port in self.ports.items() if name != "a")
            except (OSError, ConnectionError, TypeError):
                ok = False
            if ok:
                return self
            time.sleep(0.2)
        raise RuntimeError("the sentinels never saw each other and the replica")

    def stop(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()

    # -------------------------------------------------------- commands

    def cmd(self, port, *args):
        return resp_cmd(port, *args, password=self.password)

    def scmd(self, i, *args):
        return resp_cmd(self.sentinel_ports[i], *args, password=self.sentinel_password)

    def config(self, first_dead=False):
        """The gateway's "redis-sentinel" value (the first entry dead when asked)."""
        sentinels = ["127.0.0.1:%d" % p for p in self.sentinel_ports]
        if first_dead:
            sentinels.insert(0, "127.0.0.1:%d" % free_port())
        c = {"master": MASTER_NAME, "sentinels": sentinels}
        if self.password:
            c["password"] = self.password
        if self.sentinel_password:
            c["sentinel-password"] = self.sentinel_password
        return c

    def primary_port(self, i=0):
        return int(self.scmd(i, "SENTINEL", "get-master-addr-by-name", MASTER_NAME)[1])

    def name_of(self, port):
        return [n for n, p in self.ports.items() if p == port][0]

    def wait_replicated(self, timeout=10):
        """Until every replica has everything the primary has (the offsets equal)."""
        prim = self.primary_port()
        repls = [p for n, p in self.ports.items() if p != prim and n != self.killed]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            a = re.search(r"master_repl_offset:(\d+)", self.cmd(prim, "INFO", "replication"))
            bs = [re.search(r"slave_repl_offset:(\d+)", self.cmd(r, "INFO", "replication"))
                  for r in repls]
            if a and all(b and a.group(1) == b.group(1) for b in bs):
                return
            time.sleep(0.05)
        raise AssertionError("the replica did not catch up")

    # -------------------------------------------------------- failover

    def kill_primary(self):
        """SIGKILL the primary the sentinels name now; returns the time.time() of the kill."""
        port = self.primary_port()
        name = self.name_of(port)
        self.killed = name
        t = time.time()
        self.procs[name].send_signal(signal.SIGKILL)
        self.procs[name].wait()
        return t

    def restart_old_primary(self):
        """Starts the killed one again on its port (empty: no persistence); the sentinels
        turn it into a replica of the new primary."""
        self._start_redis(self.killed)
        return self.ports[self.killed]

    def wait_failover(self, old_port, timeout=30):
        """Until every sentinel names a primary other than <old_port>; returns its port."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                ports = {self.primary_port(i) for i in range(3)}
            except (OSError, ConnectionError, TypeError):
                ports = set()
            if len(ports) == 1 and old_port not in ports:
                return ports.pop()
            time.sleep(0.05)
        raise AssertionError("no failover within %s s" % timeout)

    def promotion_time(self, port):
        """When the Redis on <port> became a primary: its log's "MASTER MODE enabled"."""
        log = self.dir / ("redis-%s.log" % self.name_of(port))
        for line in log.read_text(errors="replace").splitlines():
            if "MASTER MODE enabled" in line:
                return _log_time(line)
        return None

    def switch_time(self):
        """The earliest +switch-master logged by a sentinel (None: none yet)."""
        times = []
        for i in range(3):
            log = self.dir / ("sentinel-%d.log" % i)
            for line in log.read_text(errors="replace").splitlines():
                if "+switch-master" in line:
                    times.append(_log_time(line))
        return min(times) if times else None

    def start_stale_sentinel(self, name):
        """One more sentinel, alone (quorum 1), that monitors the replica as the master
        <name>: it answers get-master-addr-by-name with a replica, as a stale one would
        during a failover. Returns its port."""
        port = free_port()
        conf = self.dir / ("sentinel-stale.conf")
        replica = [p for p in self.ports.values() if p != self.primary_port()][0]
        conf.write_text("port %d\nbind 127.0.0.1\ndir %s\nlogfile %s\n"
                        "sentinel monitor %s 127.0.0.1 %d 1\n"
                        % (port, self.dir, self.dir / "sentinel-stale.log", name, replica)
                        + ("sentinel auth-pass %s %s\n" % (name, self.password)
                           if self.password else ""))
        p = subprocess.Popen([REDIS_BIN, str(conf), "--sentinel"], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs["stale"] = p
        if not wait_port(port, 10.0, p):
            raise RuntimeError("the stale sentinel did not listen")
        return port, replica

    def role(self, port):
        return self.cmd(port, "ROLE")[0]

    def wait_role(self, port, want, timeout):
        """Until ROLE on <port> says <want> ("slave", "master"); the last answer. A Redis
        that the sentinels turn into a replica closes its clients' connections as it
        does: a reset here means "ask again", not an answer."""
        deadline = time.monotonic() + timeout
        got = None
        while time.monotonic() < deadline:
            try:
                got = self.role(port)
            except OSError:
                got = None
            if got == want:
                break
            time.sleep(0.1)
        return got


@pytest.fixture
def sentinel_cluster(tmp_path):
    """A started SentinelCluster (no passwords) for one test; every process killed after."""
    if shutil.which(REDIS_BIN) is None:
        pytest.skip("redis-server not installed")
    c = SentinelCluster(tmp_path / "sentinel")
    try:
        c.start()
        yield c
    finally:
        c.stop()
