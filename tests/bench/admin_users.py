#!/usr/bin/python3
"""tests/bench/admin_users.py - the users admin API over a large user base: loads N users
(100,000 by default) into a private redis-server the way versions before the user index
wrote them, starts authgate, times the backfill that indexes them, then the p50/p99/max
of GET /auth/admin/users pages (random offsets, no filter) and of `q` searches, and the
longest single Lua script Redis ran meanwhile (SLOWLOG with a 0 us threshold).

Not a test: nothing here passes or fails. Figures go to stdout (Markdown).

    /usr/bin/python3 tests/bench/admin_users.py            # N=100000, 300 pages, 100 searches
    N=20000 PAGES=100 SEARCHES=30 /usr/bin/python3 tests/bench/admin_users.py
    AUTHGATE=build-asan/authgate ...                       # another binary (default build-rel)

Every process it starts is stopped by its PID when it exits.
"""

import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import requests

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
AUTHGATE = os.environ.get("AUTHGATE", os.path.join(REPO, "build-rel", "authgate"))
N = int(os.environ.get("N", "100000"))
PAGES = int(os.environ.get("PAGES", "300"))
SEARCHES = int(os.environ.get("SEARCHES", "100"))
MASTER = "bench-master-token-0123456789"
NS = "bench"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.02)
    return False


def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def load_users(port):
    """N user records as a version before the user index wrote them (no index entry)."""
    buf = []
    base = 1_600_000_000
    for i in range(N):
        uid = "%08x-0000-4000-8000-%012x" % (i, i)
        name = "user%06d" % i
        email = "%s@%s.example.com" % (name, "north" if i % 10 else "south")
        buf.append(resp("HSET", "{%s}:user:%s" % (NS, uid), "id", uid, "email", email,
                        "username", name, "hash", "$argon2id$bench", "is_active", "1",
                        "is_staff", "0", "is_superuser", "0", "roles", "reader",
                        "created_at", base + i, "password_changed_at", base + i,
                        "failures", "0", "locked_until", "0"))
        buf.append(resp("SET", "{%s}:uname:%s" % (NS, name), uid))
        buf.append(resp("SET", "{%s}:email:%s" % (NS, email), uid))
    p = subprocess.run(["redis-cli", "-p", str(port), "--pipe"], input=b"".join(buf),
                       capture_output=True)
    if p.returncode != 0:
        sys.exit("redis-cli --pipe failed: %s" % p.stderr.decode())


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def row(name, xs):
    return "| %s | %d | %.1f | %.1f | %.1f |" % (name, len(xs), statistics.median(xs) * 1000,
                                                 pct(xs, 0.99) * 1000, max(xs) * 1000)


def timed(session, url, params):
    t0 = time.perf_counter()
    r = session.get(url, params=params, headers={"MASTER-TOKEN": MASTER}, timeout=30)
    took = time.perf_counter() - t0
    if r.status_code != 200:
        sys.exit("GET %s %r: %d %s" % (url, params, r.status_code, r.text[:200]))
    return took, r.json()


def redis_slowlog(port):
    """The EVALSHA durations (us) Redis logged, and the longest."""
    p = subprocess.run(["redis-cli", "-p", str(port), "--json", "SLOWLOG", "GET", "-1"],
                       capture_output=True, text=True)
    try:
        entries = json.loads(p.stdout)
    except ValueError:
        return []
    return [e[2] for e in entries if len(e) > 3 and str(e[3][0]).lower() == "evalsha"]


def main():
    if not os.path.exists(AUTHGATE):
        sys.exit("no %s: meson setup build-rel --buildtype=release && ninja -C build-rel"
                 % AUTHGATE)
    tmp = tempfile.mkdtemp(prefix="ag-admin-bench-")
    procs = []
    try:
        rport, gport = free_port(), free_port()
        redis = subprocess.Popen(["redis-server", "--port", str(rport), "--bind", "127.0.0.1",
                                  "--save", "", "--appendonly", "no", "--dir", tmp],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(redis)
        if not wait_port(rport):
            sys.exit("redis-server did not start")
        t0 = time.monotonic()
        load_users(rport)
        print("loaded %d users in %.1f s" % (N, time.monotonic() - t0), file=sys.stderr)

        cfg = {"listen": "127.0.0.1:%d" % gport, "upstream": "http://127.0.0.1:9",
               "redis": "redis://127.0.0.1:%d/0" % rport, "app-name": NS,
               "cryptography-key": "bench-cryptography-key-0123456789abcdef",
               "master-token": MASTER, "workers": 1, "access-log": "off",
               "rate-limits": False}
        path = os.path.join(tmp, "authgate.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        log = open(os.path.join(tmp, "authgate.log"), "wb")
        t0 = time.monotonic()
        gw = subprocess.Popen([AUTHGATE, "serve", "--config", path], stdout=log, stderr=log)
        procs.append(gw)
        if not wait_port(gport):
            sys.exit("authgate did not listen")
        backfill = None
        while time.monotonic() - t0 < 300:
            with open(os.path.join(tmp, "authgate.log")) as f:
                if "the user index is complete" in f.read():
                    backfill = time.monotonic() - t0
                    break
            time.sleep(0.05)
        if backfill is None:
            sys.exit("the backfill did not end within 300 s")

        subprocess.run(["redis-cli", "-p", str(rport), "CONFIG", "SET",
                        "slowlog-log-slower-than", "0"], capture_output=True)
        subprocess.run(["redis-cli", "-p", str(rport), "CONFIG", "SET", "slowlog-max-len",
                        "1000000"], capture_output=True)
        subprocess.run(["redis-cli", "-p", str(rport), "SLOWLOG", "RESET"], capture_output=True)

        s = requests.Session()
        url = "http://127.0.0.1:%d/auth/admin/users" % gport
        rnd = random.Random(13)
        pages = []
        for _ in range(PAGES):
            took, body = timed(s, url, {"offset": rnd.randrange(0, N - 50), "limit": 50})
            assert body["total"] == N and len(body["users"]) == 50
            pages.append(took)
        deep = [timed(s, url, {"offset": N - 500, "limit": 500})[0] for _ in range(20)]
        page_scripts = redis_slowlog(rport)
        subprocess.run(["redis-cli", "-p", str(rport), "SLOWLOG", "RESET"], capture_output=True)

        searches = {"rare (1 match)": [], "one in ten": [], "every user": []}
        for i in range(SEARCHES):
            k = rnd.randrange(0, N)
            took, body = timed(s, url, {"q": "USER%06d" % k})
            assert body["total"] == 1, body["total"]
            searches["rare (1 match)"].append(took)
            took, body = timed(s, url, {"q": "@south", "offset": rnd.randrange(0, N // 10 - 50)})
            assert body["total"] == N // 10 and len(body["users"]) == 50
            searches["one in ten"].append(took)
            took, body = timed(s, url, {"q": "example.com", "offset": rnd.randrange(0, N - 50)})
            assert body["total"] == N
            searches["every user"].append(took)
        search_scripts = redis_slowlog(rport)

        allq = [x for v in searches.values() for x in v]
        print("## users admin API, %d users (%s)\n" % (N, os.path.basename(AUTHGATE)))
        print("backfill of %d users written before the index: %.2f s (start to "
              "\"the user index is complete\")\n" % (N, backfill))
        print("| request | n | p50 ms | p99 ms | max ms |")
        print("|---|---|---|---|---|")
        print(row("page, limit 50, random offset", pages))
        print(row("page, limit 500, offset N-500", deep))
        for k, v in searches.items():
            print(row("q, %s, limit 50" % k, v))
        print(row("q, all of the above", allq))
        print()
        for name, us in (("page", page_scripts), ("q slice", search_scripts)):
            if us:
                print("Lua scripts of the %s runs: %d, p99 %.0f us, max %.0f us"
                      % (name, len(us), pct(us, 0.99), max(us)))
        print("\ngoals: page p99 <= 20 ms, q p99 <= 100 ms, no script over ~1 ms")
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
