#!/usr/bin/python3
"""tests/bench/login_driver.py - paces POST /auth/login at a fixed rate (open loop: a slow
answer does not delay the next attempt) and prints 'RESULT ok failed p50_ms p99_ms'.
Used by login_load.sh. Loopback only."""
import argparse
import http.client
import json
import threading
import time
import urllib.parse


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--rate", type=float, default=50)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--login", default="bench")
    ap.add_argument("--password", default="bench password 1")
    a = ap.parse_args()
    u = urllib.parse.urlsplit(a.url)
    assert u.hostname in ("127.0.0.1", "localhost", "::1"), "loopback only"
    body = json.dumps({"username_or_email": a.login, "password": a.password})
    lat, failed, lock = [], [0], threading.Lock()

    def one():
        t0 = time.monotonic()
        try:
            c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
            c.request("POST", u.path, body, {"Content-Type": "application/json"})
            ok = c.getresponse().status == 200
            c.close()
        except OSError:
            ok = False
        with lock:
            if ok:
                lat.append((time.monotonic() - t0) * 1000)
            else:
                failed[0] += 1

    threads, start, n = [], time.monotonic(), int(a.rate * a.seconds)
    for i in range(n):
        delay = start + i / a.rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        t = threading.Thread(target=one, daemon=True)
        t.start()
        threads.append(t)
    for t in threads:
        t.join(15)
    lat.sort()
    pct = lambda p: lat[min(len(lat) - 1, int(len(lat) * p))] if lat else 0
    print("RESULT %d %d %.1f %.1f" % (len(lat), failed[0], pct(0.5), pct(0.99)))


if __name__ == "__main__":
    main()
