#!/usr/bin/env bash
# tests/bench/refresh_instr.sh — CPU instructions per refresh (POST /auth/refresh) in the
# gateway, counted by callgrind: deterministic, so two commits can be compared on a busy
# machine where refresh.sh's CPU µs/refresh drowns in noise. See tests/bench/README.md.
#
#   tests/bench/refresh_instr.sh BIN [BIN ...]     one line per binary (release builds)
#
# Each binary runs under valgrind with one worker before a private redis-server (the
# rotation script runs there, as in refresh.sh, outside the count); one keep-alive
# connection mints one pair, then refreshes its chain SMALL times, then (a fresh gateway)
# LARGE times. (total(LARGE) - total(SMALL)) / (LARGE - SMALL) cancels start-up, the
# mint and shutdown. The config is refresh.sh's (access log off, rate limits off).
# Everything on 127.0.0.1, bounded; everything started is stopped by PID.
# Knobs (env): SMALL=100 LARGE=1100 KEEP=DIR (keep the callgrind files there, for
#   callgrind_annotate) ACCESS_LOG=1 (access log on, to stderr) OAUTH=0 (GET
#   /auth/token/refresh, the envelope shape, instead of POST /auth/refresh)
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$BENCH_DIR/common.sh"

SMALL=${SMALL:-100}
LARGE=${LARGE:-1100}
(($# > 0)) || die "usage: $0 BIN [BIN ...]"
command -v valgrind >/dev/null || die "missing valgrind (apt-get install -y valgrind)"
RUN=$(mktemp -d /tmp/authgate-refresh-instr.XXXXXX)
trap 'stop_all; rm -rf "$RUN"' EXIT
trap 'exit 130' INT TERM
start_redis
MASTER=bench-master-$RANDOM$RANDOM
ALOG='"off"'
[[ -z ${ACCESS_LOG:-} ]] || ALOG='"stderr"'

run_once() { # BIN N -> prints the total instruction count
  local bin=$1 n=$2 d out port
  d="$RUN/gw-$n"
  mkdir -p "$d"
  port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  cat >"$d/authgate.json" <<JSON
{
  "listen": "127.0.0.1:$port",
  "upstream": "http://127.0.0.1:1",
  "redis": "unix://$RUN/redis/redis.sock",
  "cryptography-key": "$("$bin" keygen)",
  "master-token": "$MASTER",
  "workers": 1,
  "access-log": $ALOG,
  "set-cookie-on-login": false,
  "rate-limits": false
}
JSON
  chmod 600 "$d/authgate.json"
  out="$d/callgrind.out"
  start_proc gw "$SUT_CPU" valgrind --tool=callgrind --callgrind-out-file="$out" \
    "$bin" serve --config "$d/authgate.json"
  timeout 300 "$PY" - "$port" "$n" "$MASTER" "${OAUTH:-1}" <<'PY' || die "the refresh loop failed"
import http.client, json, sys, time
port, n, master, oauth = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4] != "0"
for _ in range(600):  # valgrind starts slowly: wait until /auth/ready answers 200
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("GET", "/auth/ready")
        r = c.getresponse()
        r.read()
        if r.status == 200:
            break
    except OSError:
        pass
    time.sleep(0.1)
else:
    sys.exit("the gateway is not ready")
c.request("GET", "/auth/token/new?client_id=bench", headers={"MASTER-TOKEN": master})
r = c.getresponse()
tok = json.loads(r.read())["data"]["refresh_token"]
for i in range(n):
    if oauth:
        c.request("POST", "/auth/refresh", headers={"Authorization": "Bearer " + tok,
                                                    "Content-Length": "0"})
    else:
        c.request("GET", "/auth/token/refresh?refresh_token=" + tok)
    r = c.getresponse()
    body = r.read()
    if r.status != 200:
        sys.exit("refresh %d: status %d %r" % (i, r.status, body))
    d = json.loads(body)
    tok = d["refresh_token"] if oauth else d["data"]["refresh_token"]
PY
  stop_proc gw
  callgrind_total "$out" "$bin" "$n"
}

callgrind_per refresh refreshes "$@"
