#!/usr/bin/python3
"""tests/bench/capacity.py - what one deployment costs its Redis, per operation and per
object, and what a (re)starting instance pays to load the live revocations: the figures
docs/scaling.md turns into "when to add an instance, when Redis is the limit".

Starts a private redis-server (free port, no persistence) and one authgate (1 worker,
rate limits off, access log off), then, one client, one request at a time:
  - mints N client token pairs (GET /auth/token/new), refreshes each once (POST
    /auth/refresh), logs each out (POST /auth/logout with its access token);
  - registers U users (POST /auth/register: argon2id on the hashing threads);
  - for each step: Redis's used_memory growth per object, Redis's time in the scripts
    (INFO commandstats, cmdstat_evalsha usec) and Redis's process CPU (utime+stime) per
    operation, and the gateway's process CPU per operation;
  - loads R revocations into the revocation log (redis-cli --pipe, the feed's format),
    restarts the gateway and times start to the first 200 of /auth/ready (the replay), with
    the gateway's RSS before and after the load.

Not a test: nothing here passes or fails. Figures go to stdout (Markdown).

    /usr/bin/python3 tests/bench/capacity.py               # N=5000 U=200 R=100000
    N=20000 R=1000000 /usr/bin/python3 tests/bench/capacity.py
    AUTHGATE=build-asan/authgate ...                       # another binary (default build-rel)

Every process it starts is stopped by its PID when it exits.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import requests

from admin_users import free_port, resp, wait_port  # the same helpers (tests/bench/)

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
AUTHGATE = os.environ.get("AUTHGATE", os.path.join(REPO, "build-rel", "authgate"))
N = int(os.environ.get("N", "5000"))
U = int(os.environ.get("U", "200"))
R = int(os.environ.get("R", "100000"))
MASTER = "bench-master-token-0123456789"
NS = "bench"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    """utime + stime of process <pid> (all threads), seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Redis:
    def __init__(self, port, pid):
        self.port, self.pid = port, pid

    def cli(self, *args):
        p = subprocess.run(["redis-cli", "-p", str(self.port)] + [str(a) for a in args],
                           capture_output=True, text=True, check=True)
        return p.stdout

    def info(self, section):
        out = {}
        for line in self.cli("INFO", section).splitlines():
            if ":" in line and not line.startswith("#"):
                k, v = line.split(":", 1)
                out[k] = v.strip()
        return out

    def snapshot(self):
        mem = int(self.info("memory")["used_memory"])
        stats = self.info("commandstats").get("cmdstat_evalsha", "calls=0,usec=0")
        kv = dict(x.split("=") for x in stats.split(","))
        return {"mem": mem, "calls": int(kv["calls"]), "usec": int(kv["usec"]),
                "cpu": cpu_s(self.pid)}


def step(name, redis, gw_pid, n, fn):
    """Runs fn() (n operations) and returns a table row of what it cost."""
    r0, g0, t0 = redis.snapshot(), cpu_s(gw_pid), time.monotonic()
    fn()
    took = time.monotonic() - t0
    r1, g1 = redis.snapshot(), cpu_s(gw_pid)
    calls = r1["calls"] - r0["calls"]
    return ("| %s | %d | %.0f | %.1f | %.1f | %.1f | %.0f |"
            % (name, n, (r1["mem"] - r0["mem"]) / n,
               (r1["usec"] - r0["usec"]) / max(calls, 1),
               (r1["cpu"] - r0["cpu"]) * 1e6 / n, (g1 - g0) * 1e6 / n, n / took))


def start_gateway(tmp, cfg_path, gport):
    log = open(os.path.join(tmp, "authgate.log"), "ab")
    t0 = time.monotonic()
    gw = subprocess.Popen([AUTHGATE, "serve", "--config", cfg_path], stdout=log, stderr=log)
    if not wait_port(gport):
        sys.exit("authgate did not listen")
    s = requests.Session()
    while time.monotonic() - t0 < 120:
        if s.get("http://127.0.0.1:%d/auth/ready" % gport, timeout=30).status_code == 200:
            return gw, time.monotonic() - t0
        time.sleep(0.005)
    sys.exit("authgate not ready within 120 s")


def stop(p):
    p.terminate()
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def main():
    if not os.path.exists(AUTHGATE):
        sys.exit("no %s: meson setup build-rel --buildtype=release && ninja -C build-rel"
                 % AUTHGATE)
    tmp = tempfile.mkdtemp(prefix="ag-capacity-bench-")
    procs = []
    try:
        rport, gport = free_port(), free_port()
        rp = subprocess.Popen(["redis-server", "--port", str(rport), "--bind", "127.0.0.1",
                               "--save", "", "--appendonly", "no", "--dir", tmp],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(rp)
        if not wait_port(rport):
            sys.exit("redis-server did not start")
        redis = Redis(rport, rp.pid)
        cfg = {"listen": "127.0.0.1:%d" % gport, "upstream": "http://127.0.0.1:9",
               "redis": "redis://127.0.0.1:%d/0" % rport, "app-name": NS,
               "cryptography-key": "bench-cryptography-key-0123456789abcdef",
               "master-token": MASTER, "workers": 1, "access-log": "off",
               "rate-limits": False}
        cfg_path = os.path.join(tmp, "authgate.json")
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        gw, _ = start_gateway(tmp, cfg_path, gport)
        procs.append(gw)
        base = "http://127.0.0.1:%d/auth" % gport
        s = requests.Session()
        pairs = []

        def mint():
            for _ in range(N):
                r = s.get(base + "/token/new", headers={"MASTER-TOKEN": MASTER})
                assert r.status_code == 200, r.text
                pairs.append(r.json()["data"])

        def refresh():
            for i, p in enumerate(pairs):
                r = s.post(base + "/refresh",
                           headers={"Authorization": "Bearer " + p["refresh_token"]})
                assert r.status_code == 200, r.text
                pairs[i] = r.json()

        def logout():
            for p in pairs:
                r = s.post(base + "/logout",
                           headers={"Authorization": "Bearer " + p["access_token"]})
                assert r.status_code in (200, 204), r.text

        def register():
            for i in range(U):
                r = s.post(base + "/register", json={
                    "username": "cap%06d" % i, "email": "cap%06d@example.com" % i,
                    "password": "correct horse battery %d" % i})
                assert r.status_code == 201, r.text

        rows = [step("session created (`/token/new`)", redis, gw.pid, N, mint),
                step("refresh (rotation)", redis, gw.pid, N, refresh),
                step("logout (session revoked)", redis, gw.pid, N, logout),
                step("user registered (argon2id)", redis, gw.pid, U, register)]

        # The revocation log a starting instance replays: R sessions revoked for an hour.
        until = int(time.time()) + 3600
        buf = [resp("ZADD", "{%s}:revlog" % NS, until, "sid cap%020d %d" % (i, until))
               for i in range(R)]
        p = subprocess.run(["redis-cli", "-p", str(rport), "--pipe"], input=b"".join(buf),
                           capture_output=True)
        if p.returncode != 0:
            sys.exit("redis-cli --pipe failed: %s" % p.stderr.decode())
        stop(gw)
        procs.remove(gw)
        # The same start without the entries, for the baseline RSS and start time.
        redis.cli("RENAME", "{%s}:revlog" % NS, "{%s}:revlog:aside" % NS)
        gw, t_empty = start_gateway(tmp, cfg_path, gport)
        rss_empty = rss_kib(gw.pid)
        stop(gw)
        redis.cli("RENAME", "{%s}:revlog:aside" % NS, "{%s}:revlog" % NS)
        gw, t_full = start_gateway(tmp, cfg_path, gport)
        procs.append(gw)
        rss_full = rss_kib(gw.pid)
        zmem = int(redis.cli("MEMORY", "USAGE", "{%s}:revlog" % NS, "SAMPLES", "0").strip())

        print("## capacity: %s, N=%d, U=%d, R=%d\n" % (os.path.basename(AUTHGATE), N, U, R))
        print("One client, one request at a time; one gateway worker. Redis figures are for "
              "the whole Redis process.\n")
        print("| operation | n | Redis memory B/op | Redis script µs/op | Redis CPU µs/op "
              "| gateway CPU µs/op | ops/s (one client) |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for row in rows:
            print(row)
        print()
        print("| revocation log | entries | Redis memory | gateway start to ready "
              "| gateway RSS |")
        print("|---|---:|---:|---:|---:|")
        print("| empty | 0 | - | %.3f s | %.1f MiB |" % (t_empty, rss_empty / 1024))
        print("| loaded | %d | %.1f MiB | %.3f s | %.1f MiB |"
              % (R + N, zmem / 1048576, t_full, rss_full / 1024))
    finally:
        for p in reversed(procs):
            stop(p)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
