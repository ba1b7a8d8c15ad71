#!/usr/bin/env bash
# tests/bench/mem.sh — memory per idle keep-alive client connection, per peer.
#
# For each peer (same configs as run.sh): start it fresh, send it a few
# requests, read the VmRSS of its process tree, then hold N client connections
# open (tests/bench/idle_conns.py: one GET each, full response read, then idle)
# and read VmRSS again. Prints (RSS held - RSS before) / N per peer.
# Everything on 127.0.0.1; everything started here is stopped on exit by PID.
#
# Knobs (env): N=5000 PEERS="nginx haproxy authgate" SUT_CPU=1 LOAD_CPU=0
#   BASE_PORT=19080 RESULTS_DIR=tests/bench/results/mem-<stamp>
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
N=${N:-5000}
CONN_CAP=$((N + 500 > 9000 ? N + 500 : 9000))  # peers' connection limit, within the fd limit
# shellcheck source-path=SCRIPTDIR
source "$BENCH_DIR/common.sh"

read -r -a PEERS <<<"${PEERS:-$ALL_PEERS}"
RESULTS=${RESULTS_DIR:-$BENCH_DIR/results/mem-$(date +%Y%m%d-%H%M%S)}

check_tools
[[ -x $PY ]] || die "$PY not found (apt-get install -y python3)"
ensure_authgate
mint_token
ulimit -n "$(ulimit -Hn)"
if (($(ulimit -n) < N + 200)) || ((MAX_CONNS < N + 200)); then
  die "N=$N needs an fd limit of at least $((N + 200)) and $((2 * N + 400)) for haproxy (ulimit -Hn is $(ulimit -Hn)); lower N or raise the limit"
fi
mkdir -p "$RESULTS"
RESULTS=$(cd "$RESULTS" && pwd)
RUN=$(mktemp -d /tmp/authgate-mem.XXXXXX)
trap 'stop_all; save_logs; rm -rf "$RUN"' EXIT
trap 'exit 130' INT TERM

start_upstream
check_peer "$UP_PORT" upstream

TABLE=$RESULTS/mem.md
{
  echo "## idle keep-alive connections: RSS per connection, N=$N ($(date +%F))"
  echo
  echo "| peer | N | RSS before kB | RSS held kB | bytes per connection | 200s | still open at end |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
} >"$TABLE"

for p in "${PEERS[@]}"; do
  start_peer "$p"
  check_peer "${PEER_PORT[$p]}" "$p"
  pid=${PID_OF[$p]}
  for _ in $(seq 20); do curl -s -m 5 -o /dev/null "http://127.0.0.1:${PEER_PORT[$p]}$REQ_PATH"; done
  sleep 0.5
  rss0=$(tree_rss_kb "$pid")

  coproc IDLE { exec taskset -c "$LOAD_CPU" "$PY" "$BENCH_DIR/idle_conns.py" "${PEER_PORT[$p]}" "$N" "$REQ_PATH" 300; }
  # shellcheck disable=SC2153 # IDLE_PID is set by coproc
  idle_pid=$IDLE_PID in_fd=${IDLE[0]} out_fd=${IDLE[1]}
  PID_OF[idle_conns]=$idle_pid   # so that the exit trap stops it too
  ready=""
  read -r -t 120 -u "$in_fd" ready || true
  [[ $ready == READY* ]] || { kill "$idle_pid" 2>/dev/null || true; die "idle_conns.py did not get ready against $p"; }
  sleep 1   # let the peer settle (lazy buffers, upstream pool)
  rss1=$(tree_rss_kb "$pid")

  exec {out_fd}>&-   # EOF on its stdin: it checks, closes the sockets and exits
  closed=""
  read -r -t 60 -u "$in_fd" closed || true
  wait "$idle_pid" 2>/dev/null || true
  unset 'PID_OF[idle_conns]'
  check_alive "$p"

  per=$(((rss1 - rss0) * 1024 / N))
  ok=${ready##*ok=}
  still=${closed##*still_open=}
  log "$p: $ready; RSS $rss0 -> $rss1 kB = $per bytes/conn; $closed"
  echo "| $p | $N | $rss0 | $rss1 | $per | $ok | ${still:-?} |" >>"$TABLE"
  stop_proc "$p"
done

echo >>"$TABLE"
echo "RSS = VmRSS summed over the peer's process tree (nginx: master + worker)." >>"$TABLE"
cat "$TABLE"
log "wrote $TABLE"
