#!/usr/bin/env bash
# tests/bench/login_load.sh — does a burst of logins stall proxied traffic? Proxied latency
# (wrk, fixed connections, a public path) measured alone and then while LOGIN_RATE logins/s
# (argon2id with the default OWASP parameters) run against the same gateway. See
# tests/bench/README.md, "Logins under proxied load".
#
# Starts its own redis-server (free port, temp dir), the bench's nginx upstream, and one
# authgate (WORKERS event loops, hash-threads HASH_THREADS); registers one user; then per
# round: wrk alone for DURATION s, and wrk again while login_driver.py paces logins.
# Everything on 127.0.0.1; everything started here is stopped on exit, by PID.
#
# Knobs (env): ROUNDS=3 DURATION=10 CONNS=16 LOGIN_RATE=50 WORKERS=1 HASH_THREADS=0
#   AUTHGATE=build-rel/authgate REDIS_SERVER=redis-server RESULTS_DIR=tests/bench/results/login-<stamp>
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$BENCH_DIR/common.sh"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CONNS=${CONNS:-16}
LOGIN_RATE=${LOGIN_RATE:-50}
WORKERS=${WORKERS:-1}
HASH_THREADS=${HASH_THREADS:-0}
REDIS_SERVER=${REDIS_SERVER:-redis-server}
RESULTS=${RESULTS_DIR:-$BENCH_DIR/results/login-$(date +%Y%m%d-%H%M%S)}

for t in wrk curl nginx setsid taskset "$REDIS_SERVER"; do
  command -v "$t" >/dev/null || die "missing $t (apt-get install -y wrk curl nginx redis-server)"
done
ensure_authgate
mkdir -p "$RESULTS"
RESULTS=$(cd "$RESULTS" && pwd)
RUN=$(mktemp -d /tmp/authgate-login-bench.XXXXXX)
trap 'stop_all; save_logs; rm -rf "$RUN"' EXIT
trap 'exit 130' INT TERM

free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

REDIS_PORT=$(free_port)
AG_PORT=$(free_port)
UP_PORT=$(free_port)
mkdir -p "$RUN/redis-data" "$RUN/authgate"
start_proc redis "$LOAD_CPU" "$REDIS_SERVER" --port "$REDIS_PORT" --bind 127.0.0.1 --save "" \
  --appendonly no --dir "$RUN/redis-data"
wait_port "$REDIS_PORT" redis
start_upstream

KEY=$("$AUTHGATE" keygen)
cat >"$RUN/authgate/authgate.json" <<JSON
{
  "listen": "127.0.0.1:$AG_PORT",
  "upstream": "http://127.0.0.1:$UP_PORT",
  "redis": "redis://127.0.0.1:$REDIS_PORT/0",
  "cryptography-key": "$KEY",
  "workers": $WORKERS,
  "hash-threads": $HASH_THREADS,
  "access-log": "off",
  "set-cookie-on-login": false,
  "rate-limits": false
}
JSON
chmod 600 "$RUN/authgate/authgate.json"
# Not pinned: the hashing threads may use every core, as in production; the event loop
# must keep answering while they do.
mkdir -p "$RUN/authgate"
setsid "$AUTHGATE" serve --config "$RUN/authgate/authgate.json" \
  >"$RUN/authgate/stdout.log" 2>"$RUN/authgate/stderr.log" </dev/null &
PID_OF[authgate]=$!
wait_port "$AG_PORT" authgate
for _ in $(seq 100); do
  [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$AG_PORT/auth/ready") == 200 ]] && break
  sleep 0.1
done
code=$(curl -s -o "$RUN/reg.out" -w '%{http_code}' -X POST "http://127.0.0.1:$AG_PORT/auth/register" \
  -H 'Content-Type: application/json' \
  -d '{"email":"bench@example.com","username":"bench","password":"bench password 1"}')
[[ $code == 201 ]] || die "register answered $code: $(cat "$RUN/reg.out")"

{
  echo "date: $(date -Is)"
  echo "host: $(uname -srm), $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
  echo "authgate: $AUTHGATE ($("$AUTHGATE" --version 2>&1 | head -1)), workers $WORKERS, hash-threads $HASH_THREADS"
  echo "knobs: ROUNDS=$ROUNDS DURATION=$DURATION CONNS=$CONNS LOGIN_RATE=$LOGIN_RATE"
} >"$RESULTS/env.txt"
log "results in $RESULTS"

# wrk's latency distribution: "    99%  1.23ms" -> microseconds
wrk_pct() { # FILE PERCENT
  awk -v p="$2%" '$1 == p { v = $2; u = 1
      if (v ~ /us$/) u = 1; else if (v ~ /ms$/) u = 1000; else if (v ~ /s$/) u = 1000000
      gsub(/[a-z]+$/, "", v); printf "%.0f\n", v * u }' "$1"
}
wrk_rps() { awk '/^Requests\/sec/ {printf "%.0f\n", $2}' "$1"; }

run_wrk() { # OUT
  taskset -c "$LOAD_CPU" wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency --timeout 5s \
    "http://127.0.0.1:$AG_PORT$REQ_PATH" >"$1" 2>&1 || die "wrk failed: $(cat "$1")"
}

CSV=$RESULTS/raw.csv
echo "round,phase,rps,p50_us,p99_us,logins_ok,logins_failed,login_p50_ms,login_p99_ms" >"$CSV"
for ((r = 1; r <= ROUNDS; r++)); do
  run_wrk "$RUN/alone.out"
  echo "$r,alone,$(wrk_rps "$RUN/alone.out"),$(wrk_pct "$RUN/alone.out" 50),$(wrk_pct "$RUN/alone.out" 99),0,0,0,0" >>"$CSV"
  "$PY" "$BENCH_DIR/login_driver.py" --url "http://127.0.0.1:$AG_PORT/auth/login" \
    --rate "$LOGIN_RATE" --seconds $((DURATION + 2)) >"$RUN/logins.out" 2>&1 &
  drv=$!
  sleep 1
  run_wrk "$RUN/busy.out"
  wait "$drv" || die "login driver failed: $(cat "$RUN/logins.out")"
  kill -0 "${PID_OF[authgate]}" || die "authgate died"
  read -r ok failed lp50 lp99 < <(awk '/^RESULT/ {print $2, $3, $4, $5}' "$RUN/logins.out")
  echo "$r,logins,$(wrk_rps "$RUN/busy.out"),$(wrk_pct "$RUN/busy.out" 50),$(wrk_pct "$RUN/busy.out" 99),$ok,$failed,$lp50,$lp99" >>"$CSV"
  tail -2 "$CSV" >&2
done

median() { # PHASE COLUMN
  awk -F, -v ph="$1" -v c="$2" 'NR > 1 && $2 == ph {print $c}' "$CSV" | sort -g |
    awk '{v[NR] = $1} END { if (NR == 0) print "n/a"; else print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
{
  echo "## authgate: proxied latency alone and under $LOGIN_RATE logins/s ($(date +%F))"
  echo
  echo "Medians over $ROUNDS rounds of ${DURATION}s; wrk -t2 -c$CONNS on a public path; argon2id with the default parameters (19 MiB, 2 passes)."
  echo
  echo "| phase | proxied req/s | p50 µs | p99 µs | logins ok/s | login p50 ms | login p99 ms |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  echo "| alone | $(median alone 3) | $(median alone 4) | $(median alone 5) | – | – | – |"
  echo "| with logins | $(median logins 3) | $(median logins 4) | $(median logins 5) | $(awk -F, -v d=$((DURATION + 2)) 'NR > 1 && $2 == "logins" {s += $6; n++} END {if (n) printf "%.1f", s / n / d}' "$CSV") | $(median logins 8) | $(median logins 9) |"
} | tee "$RESULTS/summary.md"
