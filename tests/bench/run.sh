#!/usr/bin/env bash
# tests/bench/run.sh — authgate vs nginx proxy_pass vs HAProxy, same upstream,
# same machine, same run. See tests/bench/README.md.
#
# Upstream: nginx, 1 worker, `return 200` with a fixed 100-byte body, on LOAD_CPU
# together with wrk. Peers (one worker each, access logs off, keep-alive pool to
# the upstream) on SUT_CPU. Everything on 127.0.0.1; every load run is bounded
# (wrk -d, under timeout); everything started here is stopped on exit by PID.
#
# Knobs (env): ROUNDS=5 DURATION=10 CONNS=50
#   PEERS="nginx haproxy authgate haproxy-jwt authgate-jwt authgate-jwt-nocache" (the default)
#   PEERS="nginx-tls authgate-tls authgate-jwt-tls nginx-tls-resume authgate-tls-resume
#          nginx-tls-hs authgate-tls-hs" (TLS_PEERS in common.sh)   HS_CLIENTS=4
#   PEERS="authgate-jwt haproxy-jwt authgate-eddsa authgate-es256 authgate-rs256 haproxy-rs256
#          haproxy-es256 authgate-eddsa-nocache authgate-es256-nocache authgate-rs256-nocache"
#          (KEY_PEERS in common.sh after the two HS256 ones: ring keys, docs/keys.md)
#   SUT_CPU=1 LOAD_CPU=0 BASE_PORT=19080 WARMUP=2 RESULTS_DIR=tests/bench/results/<stamp>
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$BENCH_DIR/common.sh"

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
CONNS=${CONNS:-50}
WARMUP=${WARMUP:-2}
read -r -a PEERS <<<"${PEERS:-$ALL_PEERS}"
RESULTS=${RESULTS_DIR:-$BENCH_DIR/results/$(date +%Y%m%d-%H%M%S)}

check_tools
ensure_authgate
mint_token
mkdir -p "$RESULTS"
RESULTS=$(cd "$RESULTS" && pwd)
RUN=$(mktemp -d /tmp/authgate-bench.XXXXXX)
trap 'stop_all; save_logs; rm -rf "$RUN"' EXIT
mint_ring_tokens
trap 'exit 130' INT TERM
ulimit -n "$(ulimit -Hn)"
CLK_TCK=$(getconf CLK_TCK)

# "other CPU %": busy time on SUT_CPU+LOAD_CPU not spent by the peer, the
# upstream or wrk, i.e. other programs on this machine disturbing the run.
cpus_ticks() { # -> "busy total" ticks of SUT_CPU + LOAD_CPU, from /proc/stat
  awk -v a="cpu$SUT_CPU" -v b="cpu$LOAD_CPU" '$1 == a || $1 == b {
      busy += $2 + $3 + $4 + $7 + $8 + $9; total += $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }
    END {print busy, total}' /proc/stat
}
children_ticks() { # -> $CHILD_TICKS: CPU time of this shell's reaped children (wrk), in ticks
  times >"$RUN/times.txt"   # not in a pipe/subshell: a fork starts with zero child times
  CHILD_TICKS=$(awk -v hz="$CLK_TCK" 'NR == 2 {
      for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); s += t[1] * 60 + t[2] }
      printf "%d\n", s * hz }' "$RUN/times.txt")
}


{
  echo "date: $(date -Is)"
  echo "host: $(uname -srm), $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
  echo "authgate: $("$AUTHGATE" --version 2>&1 | head -1) ($(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo '?'))"
  echo "nginx: $(nginx -v 2>&1 | sed 's/.*version: //')"
  echo "haproxy: $(haproxy -v | head -1)"
  echo "wrk: $(wrk -v 2>&1 | head -1)"
  echo "knobs: ROUNDS=$ROUNDS DURATION=$DURATION CONNS=$CONNS PEERS='${PEERS[*]}' SUT_CPU=$SUT_CPU LOAD_CPU=$LOAD_CPU BASE_PORT=$BASE_PORT"
} >"$RESULTS/env.txt"
log "results in $RESULTS; peers: ${PEERS[*]}"

# other programs busy on our two CPUs make every number noisier: say so up front
read -r -a q0 <<<"$(cpus_ticks)"; sleep 2; read -r -a q1 <<<"$(cpus_ticks)"
busy=$(( 100 * (q1[0] - q0[0]) / (q1[1] - q0[1] + 1) ))
echo "busy before start (CPUs $SUT_CPU,$LOAD_CPU): ${busy}%" >>"$RESULTS/env.txt"
if ((busy > 5)); then
  log "warning: CPUs $SUT_CPU,$LOAD_CPU are ${busy}% busy before the benchmark; results will be noisy"
  ps -eo pid,pcpu,comm --sort=-pcpu | head -4 >&2
fi

start_upstream
check_peer "$UP_PORT" upstream
for p in "${PEERS[@]}"; do
  start_peer "$p"
  check_peer "${PEER_PORT[$(peer_base "$p")]}" "$p"
done

CSV=$RESULTS/raw.csv
echo "round,peer,requests,rps,p50_us,p99_us,non2xx,sockerr,cpu_ticks,cpu_us_per_req,peer_cpu_pct,other_cpu_pct" >"$CSV"

# one bounded wrk run against PEER; appends a CSV row unless ROUND is "warm"
load() { # PEER ROUND SECONDS
  local p=$1 round=$2 secs=$3 base pid t0 t1 u0 u1 w0 w1 c0 c1 out res rc hs=()
  base=$(peer_base "$p")
  pid=${PID_OF[$base]}
  # a "-resume" peer: every request on a new connection that resumes its TLS session
  [[ $p == *-resume ]] && hs=(-H "Connection: close")
  t0=$(tree_ticks "$pid"); u0=$(tree_ticks "${PID_OF[upstream]}")
  children_ticks; w0=$CHILD_TICKS; read -r -a c0 <<<"$(cpus_ticks)"
  # in the background + wait, so that a TERM/INT to this script stops it at once
  if [[ $p == *-hs ]]; then
    handshakes "$base" "$secs" >"$RUN/wrk.out" 2>&1 &
  else
  timeout $((secs + 30)) taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${secs}s" --timeout 5s -H "Authorization: Bearer $(peer_token "$p")" \
    "${hs[@]}" -s "$BENCH_DIR/report.lua" "$(peer_scheme "$p")://127.0.0.1:${PEER_PORT[$base]}$REQ_PATH" >"$RUN/wrk.out" 2>&1 &
  fi
  PID_OF[wrk]=$!
  rc=0
  wait "${PID_OF[wrk]}" || rc=$?
  unset 'PID_OF[wrk]'
  out=$(<"$RUN/wrk.out")
  if ((rc != 0)); then
    echo "$out" >&2
    check_alive "$base"
    die "wrk failed against $p (exit $rc)"
  fi
  t1=$(tree_ticks "$pid"); u1=$(tree_ticks "${PID_OF[upstream]}")
  children_ticks; w1=$CHILD_TICKS; read -r -a c1 <<<"$(cpus_ticks)"
  check_alive "$base"
  [[ $round == warm ]] && return 0
  res=$(grep '^RESULT ' <<<"$out") || { echo "$out" >&2; die "no RESULT line from wrk"; }
  # RESULT requests=N duration_us=N rps=F p50_us=N p99_us=N non2xx=N sockerr=N
  awk -v round="$round" -v peer="$p" -v ticks=$((t1 - t0)) -v hz="$CLK_TCK" \
      -v own=$((t1 - t0 + u1 - u0 + w1 - w0)) -v busy=$((c1[0] - c0[0])) -v total=$((c1[1] - c0[1])) '{
      for (i = 2; i <= NF; i++) { split($i, kv, "="); r[kv[1]] = kv[2] }
      n = r["requests"]; cpu_s = ticks / hz
      other = (total > 0 ? 100 * (busy - own) / total : 0); if (other < 0) other = 0
      printf "%s,%s,%d,%.0f,%d,%d,%d,%d,%d,%.2f,%.1f,%.1f\n", round, peer, n, r["rps"],
        r["p50_us"], r["p99_us"], r["non2xx"], r["sockerr"], ticks,
        (n > 0 ? cpu_s * 1e6 / n : 0), 100 * cpu_s / (r["duration_us"] / 1e6), other }' <<<"$res" >>"$CSV"
  tail -1 "$CSV" | awk -F, '{printf "  round %s %-9s %8s req/s  p50 %5s us  p99 %6s us  cpu %6s us/req  peer cpu %5s%%  other cpu %4s%%  errors %s/%s\n",
                             $1, $2, $4, $5, $6, $10, $11, $12, $7, $8}' >&2
}

# Full TLS 1.3 handshakes, one request each: HS_CLIENTS `openssl s_time -new` in parallel
# on LOAD_CPU (each is sequential), one RESULT line as report.lua prints it (no latencies:
# s_time gives none). Every connection must read the whole answer, or none counts.
HS_CLIENTS=${HS_CLIENTS:-4}
handshakes() { # BASE-PEER SECONDS
  local i n=0 bytes out
  for ((i = 0; i < HS_CLIENTS; i++)); do
    timeout $(($2 + 30)) taskset -c "$LOAD_CPU" openssl s_time -connect "127.0.0.1:${PEER_PORT[$1]}" \
      -new -tls1_3 -CAfile "$RUN/certs/ca.pem" -www "$REQ_PATH" -time "$2" >"$RUN/s_time.$i" 2>&1 &
  done
  wait
  for ((i = 0; i < HS_CLIENTS; i++)); do
    out=$(grep 'real seconds' "$RUN/s_time.$i") || { cat "$RUN/s_time.$i"; return 1; }
    # "N connections in S real seconds, B bytes read per connection"
    bytes=$(awk '{print $(NF - 4)}' <<<"$out")
    ((bytes > ${#UP_BODY})) || { echo "s_time read $bytes bytes per connection: no full answer"; return 1; }
    n=$((n + $(awk '{print $1}' <<<"$out")))
  done
  awk -v n="$n" -v s="$2" 'BEGIN {printf "RESULT requests=%d duration_us=%d rps=%.1f p50_us=0 p99_us=0 non2xx=0 sockerr=0\n", n, s * 1e6, n / s}'
}

if ((WARMUP > 0)); then
  log "warm-up: ${WARMUP}s per peer"
  for p in "${PEERS[@]}"; do load "$p" warm "$WARMUP"; done
fi

n=${#PEERS[@]}
for ((r = 1; r <= ROUNDS; r++)); do
  order=()
  for ((i = 0; i < n; i++)); do order+=("${PEERS[$(((i + r - 1) % n))]}"); done
  log "round $r/$ROUNDS: ${order[*]}"
  for p in "${order[@]}"; do load "$p" "$r" "$DURATION"; done
done

# ---- report: medians per peer ------------------------------------------------------
median() { # PEER COLUMN-NUMBER PRINTF-FORMAT
  awk -F, -v p="$1" -v c="$2" 'NR > 1 && $2 == p {print $c}' "$CSV" | sort -g |
    awk -v f="$3" '{v[NR] = $1} END {
      if (NR == 0) print "n/a"; else printf f "\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
range() { # PEER COLUMN-NUMBER -> "min–max"
  awk -F, -v p="$1" -v c="$2" 'NR > 1 && $2 == p {print $c}' "$CSV" | sort -g | sed -n '1h;$!d;H;x;s/\n/–/p'
}
errors() { awk -F, -v p="$1" 'NR > 1 && $2 == p {s += $7 + $8} END {print s + 0}' "$CSV"; }

# plain, tls or hs: ratios compare like with like (TLS with TLS, handshakes with handshakes)
peer_kind() { case $1 in *-hs) echo hs ;; *-resume) echo resume ;; *-tls) echo tls ;; *) echo plain ;; esac; }

declare -A CPU=()
{
  echo "## authgate bench: $(date +%F), ROUNDS=$ROUNDS DURATION=${DURATION}s CONNS=$CONNS"
  echo
  echo "Medians over $ROUNDS rounds. Peer on CPU $SUT_CPU; wrk and upstream on CPU $LOAD_CPU."
  echo
  echo "| peer | req/s | p50 µs | p99 µs | CPU µs/req | CPU µs/req min–max | peer CPU % | other CPU % | errors |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  for p in "${PEERS[@]}"; do
    CPU[$p]=$(median "$p" 10 %.2f)
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$p" "$(median "$p" 4 %.0f)" \
      "$(median "$p" 5 %.0f)" "$(median "$p" 6 %.0f)" "${CPU[$p]}" "$(range "$p" 10)" \
      "$(median "$p" 11 %.1f)" "$(median "$p" 12 %.1f)" "$(errors "$p")"
  done
  echo
  for ag in authgate authgate-jwt authgate-jwt-nocache authgate-jwt-metrics authgate-tls \
            authgate-jwt-tls authgate-tls-resume authgate-tls-hs authgate-eddsa authgate-es256 \
            authgate-rs256 authgate-eddsa-nocache authgate-es256-nocache authgate-rs256-nocache; do
    [[ -n ${CPU[$ag]:-} ]] || continue
    for ref in nginx haproxy haproxy-jwt haproxy-rs256 haproxy-es256 nginx-tls nginx-tls-resume \
               nginx-tls-hs; do
      [[ $(peer_kind "$ag") == "$(peer_kind "$ref")" ]] || continue
      [[ -n ${CPU[$ref]:-} ]] || continue
      awk -v a="${CPU[$ag]}" -v b="${CPU[$ref]}" -v ag="$ag" -v ref="$ref" \
        'BEGIN {printf "- %s CPU µs/req ÷ %s: **%.2f×**\n", ag, ref, a / b}'
    done
  done
  if [[ -n ${CPU[authgate-jwt-metrics]:-} && -n ${CPU[authgate-jwt]:-} ]]; then
    awk -v a="${CPU[authgate-jwt-metrics]}" -v b="${CPU[authgate-jwt]}" \
      'BEGIN {printf "- authgate-jwt-metrics CPU µs/req ÷ authgate-jwt (metrics on ÷ off): **%.3f×**\n", a / b}'
  fi
  echo
  echo "A -resume peer opens a new connection per request and resumes its TLS session (wrk);"
  echo "a -hs peer makes a full TLS 1.3 handshake per request (openssl s_time -new, no"
  echo "latencies): their CPU µs/req is the CPU per connection, handshake and request."
  echo "Peer CPU % well below 100 means the load side (CPU $LOAD_CPU) saturated first:"
  echo "that peer's req/s is a floor; compare CPU µs/req. Other CPU % above a few %"
  echo "means other programs shared the two CPUs during the runs (numbers are noisier)."
} | tee "$RESULTS/summary.md"
log "wrote $RESULTS/raw.csv, summary.md, env.txt"
