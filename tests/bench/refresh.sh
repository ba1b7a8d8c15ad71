#!/usr/bin/env bash
# tests/bench/refresh.sh — refresh-token rotation throughput: POST /auth/refresh against a
# real redis-server. See tests/bench/README.md, "Refresh benchmark".
#
# Starts its own redis-server (free port, data dir in a temp dir, no persistence) and one
# authgate (1 worker), mints CONNS token pairs with GET /auth/token/new + the master token,
# then runs wrk -tCONNS -cCONNS for DURATION s: each thread owns one connection and follows
# its own refresh chain (refresh.lua). Each round mints fresh chains. Everything on
# 127.0.0.1; everything started here is stopped on exit, by PID.
#
# FLOOR=1 runs build-rel/tests/bench_refresh_floor (tests/bench/refresh_floor.c) instead of
# authgate: a server that makes a refresh's system calls and nothing else, its Redis
# command a Lua loop of LOOPS (default 2200) that costs Redis what the rotation does, so
# its "gateway CPU" is the floor of this load's shape (README.md, "The refresh floor").
#
# Knobs (env): ROUNDS=3 DURATION=10 CONNS=8 SUT_CPU=1 LOAD_CPU=0 FLOOR=0 LOOPS=2200
#   ACK=0 (redis-min-replicas-ack) REPLICA=0 (1: a replica of the redis, on LOAD_CPU; ACK>0 implies it)
#   AUTHGATE=build-rel/authgate REDIS_SERVER=redis-server RESULTS_DIR=tests/bench/results/refresh-<stamp>
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$BENCH_DIR/common.sh"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CONNS=${CONNS:-8}
ACK=${ACK:-0}
REPLICA=${REPLICA:-0}
((ACK > 0)) && REPLICA=1
FLOOR=${FLOOR:-0}
LOOPS=${LOOPS:-2200}
REDIS_SERVER=${REDIS_SERVER:-redis-server}
RESULTS=${RESULTS_DIR:-$BENCH_DIR/results/refresh-$(date +%Y%m%d-%H%M%S)}
MASTER=bench-master-$RANDOM$RANDOM

for t in wrk curl taskset setsid "$REDIS_SERVER"; do
  command -v "$t" >/dev/null || die "missing $t (apt-get install -y wrk curl util-linux redis-server)"
done
((REPLICA == 0)) || command -v redis-cli >/dev/null || die "missing redis-cli (apt-get install -y redis-tools)"
"$PY" -c 'import json' || die "no $PY"
(($(nproc) >= 2)) || die "needs 2 CPUs (SUT_CPU=$SUT_CPU, LOAD_CPU=$LOAD_CPU)"
if ((FLOOR)); then
  FLOOR_BIN=${FLOOR_BIN:-$REPO_DIR/build-rel/tests/bench_refresh_floor}
  [[ -x $FLOOR_BIN ]] || die "no $FLOOR_BIN (meson compile -C build-rel)"
else
  ensure_authgate
fi
mkdir -p "$RESULTS"
RESULTS=$(cd "$RESULTS" && pwd)
RUN=$(mktemp -d /tmp/authgate-refresh-bench.XXXXXX)
trap 'stop_all; save_logs; rm -rf "$RUN"' EXIT
trap 'exit 130' INT TERM
CLK_TCK=$(getconf CLK_TCK)

free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime+stime of the process (all threads)
uticks() { awk '{print $14}' "/proc/$1/stat"; }       # utime alone: the rest is the kernel's

REDIS_PORT=$(free_port)
AG_PORT=$(free_port)
while [[ $AG_PORT == "$REDIS_PORT" ]]; do AG_PORT=$(free_port); done
mkdir -p "$RUN/redis-data" "$RUN/authgate"

start_proc redis "$LOAD_CPU" "$REDIS_SERVER" --port "$REDIS_PORT" --bind 127.0.0.1 --save "" \
  --appendonly no --dir "$RUN/redis-data"
wait_port "$REDIS_PORT" redis
if ((REPLICA)); then # a replica on the same CPU as the primary: WAIT's cost is the replica's round trip
  REPLICA_PORT=$(free_port)
  mkdir -p "$RUN/replica-data"
  start_proc replica "$LOAD_CPU" "$REDIS_SERVER" --port "$REPLICA_PORT" --bind 127.0.0.1 --save "" \
    --appendonly no --dir "$RUN/replica-data" --replicaof 127.0.0.1 "$REDIS_PORT"
  wait_port "$REPLICA_PORT" replica
  for _ in $(seq 100); do
    redis-cli -p "$REPLICA_PORT" info replication | grep -q 'master_link_status:up' && break
    sleep 0.1
  done
  redis-cli -p "$REPLICA_PORT" info replication | grep -q 'master_link_status:up' ||
    die "the replica did not sync with the redis on $REDIS_PORT"
fi

start_authgate() { # one worker before the Redis, ready
  local key
  key=$("$AUTHGATE" keygen) || die "authgate keygen failed"
  cat >"$RUN/authgate/authgate.json" <<JSON
{
  "listen": "127.0.0.1:$AG_PORT",
  "upstream": "http://127.0.0.1:1",
  "redis": "redis://127.0.0.1:$REDIS_PORT/0",
  "cryptography-key": "$key",
  "master-token": "$MASTER",
  "workers": 1,
  "access-log": "off",
  "set-cookie-on-login": false,
  "rate-limits": false,
  "redis-min-replicas-ack": $ACK
}
JSON
  chmod 600 "$RUN/authgate/authgate.json"
  # rate limits off: every refresh comes from 127.0.0.1, thousands a second
  "$AUTHGATE" check --config "$RUN/authgate/authgate.json" >&2 || die "authgate check refused the config"
  start_proc authgate "$SUT_CPU" "$AUTHGATE" serve --config "$RUN/authgate/authgate.json"
  wait_port "$AG_PORT" authgate
  for _ in $(seq 100); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$AG_PORT/auth/ready") == 200 ]] && break
    check_alive authgate
    sleep 0.1
  done
  [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$AG_PORT/auth/ready") == 200 ]] ||
    die "authgate not ready (Redis on $REDIS_PORT) after 10 s"
}

if ((FLOOR)); then
  # named "authgate": its CPU is read and reported as the gateway's
  start_proc authgate "$SUT_CPU" "$FLOOR_BIN" "$AG_PORT" "$REDIS_PORT" "$LOOPS"
  wait_port "$AG_PORT" authgate
else
  start_authgate
fi

mint() { # N FILE: N fresh pairs, their refresh tokens one per line
  local i out
  : >"$2"
  if ((FLOOR)); then # the floor server takes any token
    for ((i = 1; i <= $1; i++)); do echo floor >>"$2"; done
    return
  fi
  for ((i = 1; i <= $1; i++)); do
    out=$(curl -s -m 5 -H "MASTER-TOKEN: $MASTER" "http://127.0.0.1:$AG_PORT/auth/token/new?client_id=bench-$i") ||
      die "GET /auth/token/new failed"
    "$PY" -c 'import json, sys; print(json.loads(sys.argv[1])["data"]["refresh_token"])' "$out" >>"$2" ||
      die "GET /auth/token/new answered: $out"
  done
}

{
  echo "date: $(date -Is)"
  echo "host: $(uname -srm), $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
  if ((FLOOR)); then
    echo "authgate: none: $FLOOR_BIN (the floor), LOOPS=$LOOPS"
  else
    echo "authgate: $AUTHGATE ($("$AUTHGATE" --version 2>&1 | head -1))"
  fi
  echo "redis: $("$REDIS_SERVER" --version)"
  echo "wrk: $(wrk -v 2>&1 | head -1)"
  echo "knobs: ROUNDS=$ROUNDS DURATION=$DURATION CONNS=$CONNS SUT_CPU=$SUT_CPU LOAD_CPU=$LOAD_CPU ACK=$ACK REPLICA=$REPLICA"
} >"$RESULTS/env.txt"
log "results in $RESULTS"

CSV=$RESULTS/raw.csv
echo "round,refreshes,rps,p50_us,p99_us,non2xx,sockerr,broken_chains,gw_cpu_us_per_refresh,redis_cpu_us_per_refresh,gw_cpu_pct,gw_user_us_per_refresh,gw_sys_us_per_refresh" >"$CSV"
for ((r = 1; r <= ROUNDS; r++)); do
  mint "$CONNS" "$RUN/tokens.txt"
  g0=$(ticks "${PID_OF[authgate]}"); u0=$(uticks "${PID_OF[authgate]}"); r0=$(ticks "${PID_OF[redis]}")
  rc=0
  TOKENS_FILE=$RUN/tokens.txt timeout $((DURATION + 30)) taskset -c "$LOAD_CPU" \
    wrk -t"$CONNS" -c"$CONNS" -d"${DURATION}s" --timeout 5s -s "$BENCH_DIR/refresh.lua" \
    "http://127.0.0.1:$AG_PORT" >"$RUN/wrk.out" 2>&1 || rc=$?
  g1=$(ticks "${PID_OF[authgate]}"); u1=$(uticks "${PID_OF[authgate]}"); r1=$(ticks "${PID_OF[redis]}")
  check_alive authgate
  check_alive redis
  ((rc == 0)) || { cat "$RUN/wrk.out" >&2; die "wrk failed (exit $rc)"; }
  res=$(grep '^RESULT ' "$RUN/wrk.out") || { cat "$RUN/wrk.out" >&2; die "no RESULT line from wrk"; }
  grep '^chain ' "$RUN/wrk.out" >&2 || true
  awk -v round="$r" -v g=$((g1 - g0)) -v rd=$((r1 - r0)) -v u=$((u1 - u0)) -v hz="$CLK_TCK" '{
      for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      n = v["refreshed"]
      printf "%d,%d,%.0f,%d,%d,%d,%d,%d,%.1f,%.1f,%.1f,%.1f,%.1f\n", round, n, v["rps"], v["p50_us"], v["p99_us"],
        v["non2xx"], v["sockerr"], v["broken_chains"], (n > 0 ? g / hz * 1e6 / n : 0),
        (n > 0 ? rd / hz * 1e6 / n : 0), 100 * (g / hz) / (v["duration_us"] / 1e6),
        (n > 0 ? u / hz * 1e6 / n : 0), (n > 0 ? (g - u) / hz * 1e6 / n : 0) }' <<<"$res" >>"$CSV"
  tail -1 "$CSV" | awk -F, '{printf "  round %s: %s refreshes/s  p50 %s us  p99 %s us  non-2xx %s  sockerr %s  broken chains %s  gateway %s us CPU/refresh (user %s, kernel %s; %s%% of a core)  redis %s us CPU/refresh\n",
                             $1, $3, $4, $5, $6, $7, $8, $9, $12, $13, $11, $10}' >&2
done

median() { # COLUMN-NUMBER PRINTF-FORMAT
  awk -F, -v c="$1" 'NR > 1 {print $c}' "$CSV" | sort -g |
    awk -v f="$2" '{v[NR] = $1} END {
      if (NR == 0) print "n/a"; else printf f "\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
{
  ((FLOOR)) && echo "## THE FLOOR (bench_refresh_floor, LOOPS=$LOOPS), not authgate"
  echo "## authgate refresh bench: $(date +%F), ROUNDS=$ROUNDS DURATION=${DURATION}s CONNS=$CONNS (one chain each), redis-min-replicas-ack $ACK, replica $REPLICA"
  echo
  echo "Medians over $ROUNDS rounds. authgate (1 worker) on CPU $SUT_CPU; wrk and redis-server on CPU $LOAD_CPU."
  echo
  echo "| refreshes/s | p50 µs | p99 µs | non-2xx | socket errors | broken chains | gateway CPU µs/refresh | redis CPU µs/refresh | gateway CPU % | of which user / kernel µs |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s |\n' "$(median 3 %.0f)" "$(median 4 %.0f)" \
    "$(median 5 %.0f)" "$(awk -F, 'NR > 1 {s += $6} END {print s + 0}' "$CSV")" \
    "$(awk -F, 'NR > 1 {s += $7} END {print s + 0}' "$CSV")" \
    "$(awk -F, 'NR > 1 {s += $8} END {print s + 0}' "$CSV")" "$(median 9 %.1f)" "$(median 10 %.1f)" "$(median 11 %.1f)" \
    "$(median 12 %.1f)" "$(median 13 %.1f)"
  echo
  echo "(non-2xx, socket errors and broken chains are totals over all rounds; they should be 0)"
  if ((ACK > 0)); then # how many writes one WAIT covered (the minting's writes included)
    echo
    echo "WAIT: $(redis-cli -p "$REDIS_PORT" info commandstats | tr -d '\r' | grep '^cmdstat_wait:' || echo none)," \
      "for $(awk -F, 'NR > 1 {s += $2} END {print s + 0}' "$CSV") refreshes"
  fi
} | tee "$RESULTS/summary.md"
log "wrote $RESULTS/raw.csv, summary.md, env.txt"
