#!/usr/bin/env bash
# tests/bench/instr.sh — CPU instructions per proxied, authenticated request, counted by
# callgrind: deterministic, so two commits can be compared on a busy machine where wall
# clock figures (run.sh) drown in noise. See tests/bench/README.md.
#
#   tests/bench/instr.sh BIN [BIN ...]     one line per binary (release builds, ideally)
#
# Each binary runs under valgrind with one worker before the same nginx upstream and a
# private redis-server; one keep-alive connection sends a protected GET with a Bearer
# token SMALL times, then (a fresh gateway) LARGE times. (total(LARGE) - total(SMALL)) /
# (LARGE - SMALL) cancels start-up and shutdown. Everything on 127.0.0.1, bounded.
# Knobs (env): SMALL=200 LARGE=2200 BASE_PORT=19180 KEEP=DIR (keep the callgrind files
# there, for callgrind_annotate), METRICS=1 (with a metrics port, metrics-listen), NOCACHE=1
# ("token-cache-size": 0: every request verifies its token, HMAC included), ALG=EdDSA|ES256|RS256
# (a ring key of that algorithm and its token instead of cryptography-key's HS256 token:
# with NOCACHE=1, the first-request cost of that algorithm), ASSERT=HS256|EdDSA
# (an upstream assertion signed by a ring key of that algorithm, upstream-assertion),
# DISTINCT=1 (a new path per request: no assertion is reused from the worker's cache),
# APIKEY=1 (an API key in X-API-Key instead of the token: its records are written straight
# into the private Redis; the first request looks it up, the others hit the worker's cache)
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
BASE_PORT=${BASE_PORT:-19180}
# shellcheck source-path=SCRIPTDIR
source "$BENCH_DIR/common.sh"

SMALL=${SMALL:-200}
LARGE=${LARGE:-2200}
(($# > 0)) || die "usage: $0 BIN [BIN ...]"
command -v valgrind >/dev/null || die "missing valgrind (apt-get install -y valgrind)"
command -v nginx >/dev/null || die "missing nginx (apt-get install -y nginx)"
AUTHGATE=$1
mint_token
RUN=$(mktemp -d /tmp/authgate-instr.XXXXXX)
trap 'stop_all; rm -rf "$RUN"' EXIT
trap 'exit 130' INT TERM
start_upstream
start_redis
mint_ring_tokens
AUTH_HDR=Authorization
if [[ -n ${APIKEY:-} ]]; then
  command -v redis-cli >/dev/null || die "missing redis-cli (apt-get install -y redis-tools)"
  KEY_SECRET=$("$PY" -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode())')
  API_KEY=agk_benchbenchbench0_$KEY_SECRET
  rcli() { redis-cli -s "$RUN/redis/redis.sock" "$@" >/dev/null; }
  rcli HSET "{authgate}:user:bench-user" is_active 1 is_staff 0 is_superuser 0 roles ""
  rcli HSET "{authgate}:apikey:benchbenchbench0" uid bench-user name bench scopes "" \
    hash "$(printf %s "$KEY_SECRET" | sha256sum | cut -d' ' -f1)" created_at 0 expires_at 0 \
    last_used_at 0
  AUTH_HDR=X-API-Key
fi

# instructions of one gateway run that answers N requests
# METRICS=1: the gateway has a metrics port (metrics-listen), to compare with it off.
ALG=${ALG:-HS256}
case $ALG in HS256 | EdDSA | ES256 | RS256) ;; *) die "ALG must be HS256, EdDSA, ES256 or RS256" ;; esac
NAME=instr-${ALG,,}${METRICS:+-metrics}${NOCACHE:+-nocache}${ASSERT:+-assert}${APIKEY:+-apikey}
run_once() { # BIN N -> prints the total instruction count
  local bin=$1 n=$2 d out
  d="$RUN/gw-$n"
  mkdir -p "$d"
  PEER_PORT[$NAME]=$((BASE_PORT + 9))
  gen_authgate "$d" "$NAME"
  out="$d/callgrind.out"
  start_proc "$NAME" "$SUT_CPU" valgrind --tool=callgrind --callgrind-out-file="$out" \
    "$bin" serve --config "$d/authgate.json"
  for _ in $(seq 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/${PEER_PORT[$NAME]}") 2>/dev/null && break
    check_alive "$NAME"
    sleep 0.1
  done
  local cred
  if [[ -n ${APIKEY:-} ]]; then cred=$API_KEY; else cred="Bearer $(peer_token "$NAME")"; fi
  timeout 120 "$PY" - "${PEER_PORT[$NAME]}" "$n" "$cred" "$REQ_PATH" "${DISTINCT:-}" "$AUTH_HDR" <<'PY' || die "the request loop failed"
import http.client, sys
port, n, cred, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
distinct, hname = sys.argv[5] == "1", sys.argv[6]
c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
for i in range(n):
    c.request("GET", "%s/%06d" % (path, i) if distinct else path, headers={hname: cred})
    r = c.getresponse()
    r.read()
    if r.status != 200:
        sys.exit("status %d" % r.status)
PY
  stop_proc "$NAME"
  callgrind_total "$out" "$bin" "$n"
}

callgrind_per request requests "$@"
