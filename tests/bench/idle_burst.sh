#!/usr/bin/env bash
# tests/bench/idle_burst.sh — the upstream pool after idle: what the first second of a
# burst costs after the pool sat idle longer than its idle limit (IDLE, 2 minutes), and,
# for contrast, after a short idle (SHORT_IDLE) below it. nginx proxy_pass with an
# upstream keepalive pool next to authgate verifying an HS256 token on every request, in
# front of the same upstream nginx. See tests/bench/README.md, "The upstream pool after idle".
#
# Per peer and phase: warm up (wrk -cCONNS for WARM s), leave it idle, then one wrk burst
# of BURST s on CONNS new connections, and report the upstream connections the burst
# opened (the upstream's stub_status "accepts" before and after), the pooled upstream
# connections the peer held before and after (ss), requests, p50/p99/max latency,
# non-2xx and socket errors. The long phase idles both peers at once (one wait).
# Everything on 127.0.0.1; every wrk and curl has a time limit; everything started here
# is stopped on exit, by PID.
#
# Knobs (env): IDLE=120 SHORT_IDLE=5 POOL_IDLE=75 (both peers' idle limit for a pooled
#   upstream connection) UP_IDLE=300 (the upstream's own keep-alive timeout) CONNS=50
#   WARM=3 BURST=1 ROUNDS=1 (the order of the peers rotates every round)
#   PEERS="nginx authgate-jwt" SUT_CPU=1 LOAD_CPU=0 BASE_PORT=19080
#   AUTHGATE=build-rel/authgate RESULTS_DIR=tests/bench/results/idle-<stamp>
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$BENCH_DIR/common.sh"

IDLE=${IDLE:-120}
SHORT_IDLE=${SHORT_IDLE:-5}
POOL_IDLE=${POOL_IDLE:-75}
UP_IDLE=${UP_IDLE:-300}
CONNS=${CONNS:-50}
WARM=${WARM:-3}
BURST=${BURST:-1}
ROUNDS=${ROUNDS:-1}
UP_STATUS_PORT=$((BASE_PORT + 99))
read -r -a PEERS <<<"${PEERS:-nginx authgate-jwt}"
RESULTS=${RESULTS_DIR:-$BENCH_DIR/results/idle-$(date +%Y%m%d-%H%M%S)}

check_tools
ensure_authgate
mkdir -p "$RESULTS"
RESULTS=$(cd "$RESULTS" && pwd)
RUN=$(mktemp -d /tmp/authgate-idle-bench.XXXXXX)
trap 'stop_all; save_logs; rm -rf "$RUN"' EXIT
trap 'exit 130' INT TERM

{
  echo "date: $(date -Is)"
  echo "host: $(uname -srm), $(nproc) CPUs"
  echo "nginx: $(nginx -v 2>&1 | sed 's/.*version: //')"
  echo "wrk: $(wrk -v 2>&1 | head -1)"
  echo "authgate: $AUTHGATE ($(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo '?'))"
  echo "knobs: IDLE=$IDLE SHORT_IDLE=$SHORT_IDLE POOL_IDLE=$POOL_IDLE UP_IDLE=$UP_IDLE CONNS=$CONNS WARM=$WARM BURST=$BURST ROUNDS=$ROUNDS PEERS=${PEERS[*]}"
  echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$RESULTS/env.txt"
log "results in $RESULTS"

mint_token
start_upstream
wait_port "$UP_STATUS_PORT" upstream
for p in "${PEERS[@]}"; do start_peer "$p"; check_peer "${PEER_PORT[$p]}" "$p"; done

accepts() { # connections the upstream has accepted so far (this query's own included)
  local a
  a=$(curl -s -m 5 "http://127.0.0.1:$UP_STATUS_PORT/" | awk 'NR == 3 {print $1}')
  [[ $a =~ ^[0-9]+$ ]] || die "no stub_status answer from the upstream"
  echo "$a"
}

pooled() { # PEER STATE: the peer's TCP connections to the upstream in that ss state
  local pids n=0 p
  pids=$(proc_tree "${PID_OF[$1]}")
  for p in $pids; do
    n=$((n + $(ss -Htnp state "$2" "( dport = :$UP_PORT )" | grep -c "pid=$p,") ))
  done
  echo "$n"
}

wrk_run() { # PEER SECONDS -> $RUN/wrk.out; bounded, in the background so a signal stops it
  local rc=0
  timeout $(($2 + 30)) taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"$2s" --timeout 5s \
    -H "Authorization: Bearer $(peer_token "$1")" -s "$BENCH_DIR/report.lua" \
    "http://127.0.0.1:${PEER_PORT[$1]}$REQ_PATH" >"$RUN/wrk.out" 2>&1 &
  PID_OF[wrk]=$!
  wait "${PID_OF[wrk]}" || rc=$?
  unset 'PID_OF[wrk]'
  if ((rc != 0)); then cat "$RUN/wrk.out" >&2; check_alive "$1"; die "wrk failed against $1 (exit $rc)"; fi
  check_alive "$1"
}

declare -A WARM_END=()
warm() { # PEER
  wrk_run "$1" "$WARM"
  WARM_END[$1]=$(date +%s.%N)
  log "warm $1: $(pooled "$1" established) pooled upstream connections"
}

CSV=$RESULTS/raw.csv
echo "round,phase,peer,idle_s,pooled_before,close_wait_before,new_upstream_conns,pooled_after,requests,p50_us,p99_us,max_us,non2xx,sockerr" >"$CSV"
burst() { # ROUND PHASE PEER
  local round=$1
  shift
  local a0 a1 pb cw pa idle res
  pb=$(pooled "$2" established); cw=$(pooled "$2" close-wait)
  a0=$(accepts)
  idle=$(awk -v a="${WARM_END[$2]}" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
  wrk_run "$2" "$BURST"
  a1=$(accepts)
  pa=$(pooled "$2" established)
  res=$(grep '^RESULT ' "$RUN/wrk.out") || { cat "$RUN/wrk.out" >&2; die "no RESULT line from wrk"; }
  # RESULT requests=N duration_us=N rps=F p50_us=N p99_us=N non2xx=N sockerr=N max_us=N;
  # a1 - a0 - 1: the second stub_status query is an accept too
  awk -v round="$round" -v ph="$1" -v peer="$2" -v idle="$idle" -v pb="$pb" -v cw="$cw" -v new=$((a1 - a0 - 1)) -v pa="$pa" '{
      for (i = 2; i <= NF; i++) { split($i, kv, "="); r[kv[1]] = kv[2] }
      printf "%s,%s,%s,%s,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d\n", round, ph, peer, idle, pb, cw, new, pa,
        r["requests"], r["p50_us"], r["p99_us"], r["max_us"], r["non2xx"], r["sockerr"] }' <<<"$res" >>"$CSV"
  tail -1 "$CSV" | awk -F, '{printf "  r%s %s %-12s idle %6s s  pooled %3s (close-wait %s)  new upstream conns %3s  pooled after %3s  %6s requests  p50 %5s us  p99 %6s us  max %6s us  errors %s/%s\n",
                             $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14}' >&2
}

for ((r = 1; r <= ROUNDS; r++)); do
  order=("${PEERS[@]:$(( (r - 1) % ${#PEERS[@]} ))}" "${PEERS[@]:0:$(( (r - 1) % ${#PEERS[@]} ))}")
  # Short idle, one peer after the other (below every idle limit: the pool must be reused).
  for p in "${order[@]}"; do
    warm "$p"
    sleep "$SHORT_IDLE"
    burst "$r" short "$p"
  done
  # Long idle, all at once: warm each, one wait, then a burst on each (a later peer has
  # idled about BURST s longer than the one before; each row says how long).
  for p in "${order[@]}"; do warm "$p"; done
  log "round $r: idle for $IDLE s"
  sleep "$IDLE"
  for p in "${order[@]}"; do burst "$r" long "$p"; done
done

{
  echo "# The upstream pool after idle ($(date -Is))"
  echo
  echo "CONNS=$CONNS wrk connections; a burst of ${BURST} s after a warm-up of ${WARM} s and an idle of"
  echo "SHORT_IDLE=$SHORT_IDLE s (short) or IDLE=$IDLE s (long). Idle limit of a pooled upstream connection:"
  echo "nginx upstream keepalive_timeout ${POOL_IDLE}s (keepalive 128), authgate keepalive-timeout $POOL_IDLE"
  echo "(upstream-pool-size 64); the upstream's own keepalive_timeout ${UP_IDLE}s."
  echo
  echo "| round | phase | peer | idle s | pooled before | close-wait before | new upstream conns | pooled after | requests | p50 µs | p99 µs | max µs | non-2xx | socket errors |"
  echo "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  tail -n +2 "$CSV" | awk -F, '{printf "| %s |", $1; for (i = 2; i <= NF; i++) printf " %s |", $i; print ""}'
} | tee "$RESULTS/summary.md"
