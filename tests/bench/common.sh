# shellcheck shell=bash
# Helpers shared by tests/bench/run.sh and tests/bench/mem.sh. Source it.
#
# Everything listens on 127.0.0.1 only. Every server is started in its own
# session (setsid) and stopped by the PID recorded here, never by name.

BENCH_DIR=${BENCH_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
REPO_DIR=$(cd "$BENCH_DIR/../.." && pwd)
AUTHGATE=${AUTHGATE:-$REPO_DIR/build-rel/authgate}
# Another authgate binary (e.g. a build of the commit before a change), run as the peers
# authgate-b and authgate-jwt-b beside the others in the same run: a paired comparison.
AUTHGATE_B=${AUTHGATE_B:-}
PY=${PY:-/usr/bin/python3}

BASE_PORT=${BASE_PORT:-19080}
SUT_CPU=${SUT_CPU:-1}    # the peer under test, alone on its core
LOAD_CPU=${LOAD_CPU:-0}  # wrk (or idle_conns.py) and the upstream
REQ_PATH=${REQ_PATH:-/bench}
# per-peer connection limit (clients + upstream); haproxy wants 2 fds per conn
_hard_nofile=$(ulimit -Hn)
[[ $_hard_nofile == unlimited ]] && _hard_nofile=1048576
_cap=${CONN_CAP:-9000}
MAX_CONNS=${MAX_CONNS:-$(( (_hard_nofile - 200) / 2 < _cap ? (_hard_nofile - 200) / 2 : _cap ))}

UP_PORT=$BASE_PORT
declare -A PEER_PORT=(
  [nginx]=$((BASE_PORT + 1))     # nginx proxy_pass, upstream keepalive 128
  [haproxy]=$((BASE_PORT + 2))   # haproxy, http-reuse safe
  [authgate]=$((BASE_PORT + 3))  # this project, proxying only
  [haproxy-jwt]=$((BASE_PORT + 4))          # haproxy jwt_verify HS256 + alg + exp on every request
  [authgate-jwt]=$((BASE_PORT + 5))         # authgate verifying every request (token cache on)
  [authgate-jwt-nocache]=$((BASE_PORT + 6)) # the same with "token-cache-size": 0
  [authgate-b]=$((BASE_PORT + 7))           # authgate as AUTHGATE_B, proxying only
  [authgate-jwt-b]=$((BASE_PORT + 8))       # authgate-jwt as AUTHGATE_B
  [nginx-tls]=$((BASE_PORT + 9))            # nginx terminating TLS, then proxy_pass
  [authgate-tls]=$((BASE_PORT + 10))        # authgate terminating TLS, proxying only
  [authgate-jwt-tls]=$((BASE_PORT + 11))    # authgate terminating TLS, verifying every request
  [authgate-jwt-metrics]=$((BASE_PORT + 12)) # authgate-jwt with metrics-listen (port + 100)
  # Ring keys (docs/keys.md): an EdDSA, ES256 or RS256 token, the public key in "keys"; the
  # same with "token-cache-size": 0 (the first-request cost, every request); haproxy
  # jwt_verify with the same RS256 and ES256 public keys (no cache: every request).
  [authgate-eddsa]=$((BASE_PORT + 13))
  [authgate-es256]=$((BASE_PORT + 14))
  [authgate-rs256]=$((BASE_PORT + 15))
  [authgate-eddsa-nocache]=$((BASE_PORT + 16))
  [authgate-es256-nocache]=$((BASE_PORT + 17))
  [authgate-rs256-nocache]=$((BASE_PORT + 18))
  [haproxy-rs256]=$((BASE_PORT + 19))
  [haproxy-es256]=$((BASE_PORT + 20))
)
ALL_PEERS="nginx haproxy authgate haproxy-jwt authgate-jwt authgate-jwt-nocache"
KEY_PEERS="authgate-eddsa authgate-es256 authgate-rs256 haproxy-rs256 haproxy-es256 authgate-eddsa-nocache authgate-es256-nocache authgate-rs256-nocache"
# TLS (ECDSA P-256 certificate, TLS 1.3): keep-alive requests; "-resume" variants of the
# same servers where every request is a new connection resuming a session (wrk with
# Connection: close); "-hs" variants where every one is a full handshake (openssl s_time -new).
TLS_PEERS="nginx-tls authgate-tls authgate-jwt-tls nginx-tls-resume authgate-tls-resume nginx-tls-hs authgate-tls-hs"

# The server a peer name runs on: "-hs" and "-resume" peers load their base peer differently.
peer_base() { local b=${1%-hs}; echo "${b%-resume}"; }
# http or https
peer_scheme() { if [[ $(peer_base "$1") == *-tls ]]; then echo https; else echo http; fi; }
PY=${PY:-/usr/bin/python3} # Debian's python3 (python3-jwt mints the token)

# One secret and one access token for every peer that checks tokens (made by mint_token).
JWT_SECRET= JWT_TOKEN=
# A ring key per algorithm (PEM files in $RUN/keys) and its token (made by mint_ring_tokens).
declare -A RING_TOKEN=()

# The algorithm of a peer's token: its name says it, HS256 (cryptography-key) otherwise.
peer_alg() { case $1 in *eddsa*) echo EdDSA ;; *es256*) echo ES256 ;; *rs256*) echo RS256 ;; *) echo HS256 ;; esac; }
# The access token a peer's requests carry.
peer_token() {
  local a
  a=$(peer_alg "$1")
  if [[ $a == HS256 ]]; then echo "$JWT_TOKEN"; else echo "${RING_TOKEN[$a]}"; fi
}

# exactly 100 bytes: the upstream's response body
UP_BODY='{"ok":true,"service":"bench-upstream","pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}'

declare -A PID_OF=()

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

check_tools() { # nginx, haproxy, wrk (+ the usual curl, taskset, setsid, ss)
  local t missing=()
  for t in nginx haproxy wrk; do command -v "$t" >/dev/null || missing+=("$t"); done
  if ((${#missing[@]})); then
    log "missing: ${missing[*]}; this script installs nothing. Install them with:"
    echo "  apt-get install -y nginx haproxy wrk" >&2
    exit 1
  fi
  for t in curl taskset setsid ss; do
    command -v "$t" >/dev/null || die "missing $t (apt-get install -y curl util-linux iproute2)"
  done
  (($(nproc) >= 2)) || die "needs 2 CPUs (SUT_CPU=$SUT_CPU, LOAD_CPU=$LOAD_CPU)"
}

ensure_authgate() {
  [[ -x $AUTHGATE ]] && return 0
  log "building authgate in $REPO_DIR/build-rel"
  if [[ ! -f $REPO_DIR/build-rel/build.ninja ]]; then
    (cd "$REPO_DIR" && meson setup build-rel --buildtype=release) >&2
  fi
  ninja -C "$REPO_DIR/build-rel" >&2 || die "build failed"
  [[ -x $AUTHGATE ]] || die "no $AUTHGATE after build"
}

# ---- configs ---------------------------------------------------------------
# nginx gets twice MAX_CONNS (1 fd per connection): near its limit it closes idle
# keep-alive connections to free some, which would skew mem.sh
nginx_head() { # $1 dir
  cat <<EOF
worker_processes 1;
worker_rlimit_nofile $((2 * MAX_CONNS + 100));
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections $((2 * MAX_CONNS)); }
http {
  access_log off;
  server_tokens off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  default_type application/json;
  client_body_temp_path $1/tmp;
  proxy_temp_path $1/tmp;
  fastcgi_temp_path $1/tmp;
  uwsgi_temp_path $1/tmp;
  scgi_temp_path $1/tmp;
EOF
}

# UP_IDLE: the upstream's own keep-alive timeout in seconds (nginx_head's 300 s if unset);
# UP_STATUS_PORT: a stub_status server on that port (its "accepts" counts the connections
# the peers opened to the upstream)
gen_upstream() { # $1 dir
  mkdir -p "$1"
  { nginx_head "$1"
    echo "  server { listen 127.0.0.1:$UP_PORT backlog=4096;${UP_IDLE:+ keepalive_timeout ${UP_IDLE}s;} location / { return 200 '$UP_BODY'; } }"
    [[ -z ${UP_STATUS_PORT:-} ]] || echo "  server { listen 127.0.0.1:$UP_STATUS_PORT; location / { stub_status; } }"
    echo "}"
  } >"$1/nginx.conf"
}

# POOL_IDLE: how long a pooled upstream connection may stay idle, in seconds, for nginx
# (upstream keepalive_timeout, 300 s if unset) and authgate ("keepalive-timeout", its
# default 75 s if unset)
# nginx proxy_pass; for nginx-tls with TLS set to negotiate what authgate-tls does
# (gateway/base/tls.c): the same certificate, TLS 1.3 with AES-128-GCM first, X25519, one
# session ticket; and the server session cache the issue asks for.
gen_nginx() { # $1 dir, $2 peer name (nginx or nginx-tls)
  local ssl=""
  mkdir -p "$1"
  if [[ $2 == nginx-tls ]]; then
    ssl=" ssl;
    ssl_certificate $RUN/certs/cert.pem;
    ssl_certificate_key $RUN/certs/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers ECDHE+AESGCM:ECDHE+CHACHA20;
    ssl_prefer_server_ciphers on;
    ssl_ecdh_curve X25519:prime256v1:secp384r1;
    ssl_session_cache shared:SSL:10m;
    ssl_session_tickets on;
    ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256;
    ssl_conf_command NumTickets 1;"
  fi
  { nginx_head "$1"
    cat <<EOF
  upstream up {
    server 127.0.0.1:$UP_PORT;
    keepalive 128;
    keepalive_requests 100000000;
    keepalive_timeout ${POOL_IDLE:-300}s;
  }
  server {
    listen 127.0.0.1:${PEER_PORT[$2]} backlog=4096${ssl:-;}
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
  } >"$1/nginx.conf"
}

# One ECDSA P-256 certificate (and its CA) for every TLS peer, made once per run.
make_certs() {
  [[ -s $RUN/certs/cert.pem ]] && return 0
  "$PY" "$REPO_DIR/tests/integration/tlscerts.py" "$RUN/certs" >/dev/null ||
    die "making the certificate failed (apt-get install -y python3-cryptography)"
}

gen_haproxy() { # $1 dir, $2 peer name (haproxy, haproxy-jwt, haproxy-rs256, haproxy-es256)
  mkdir -p "$1"
  cat >"$1/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn $MAX_CONNS
  pidfile $1/haproxy.pid

defaults
  mode http
  maxconn $MAX_CONNS
  timeout connect 5s
  timeout client 300s
  timeout server 300s
  timeout http-request 300s
  timeout http-keep-alive 300s
  option http-keep-alive

frontend fe
  bind 127.0.0.1:${PEER_PORT[$2]}
$(if [[ $2 == haproxy-?* ]]; then
  # Every request checked: a Bearer token, its alg, the signature (HS256 with the secret;
  # RS256 and ES256 with the public key of the ring peers), and exp in the future.
  alg=$(peer_alg "$2") key=@SECRET@
  [[ $alg == HS256 ]] || key=$RUN/keys/$alg.pub
  cat <<JWT
  http-request set-var(txn.bearer) http_auth_bearer
  http-request set-var(txn.alg) var(txn.bearer),jwt_header_query('\$.alg')
  http-request deny deny_status 401 unless { var(txn.alg) -m str $alg }
  http-request deny deny_status 401 unless { var(txn.bearer),jwt_verify("$alg","$key") -m int 1 }
  http-request set-var(txn.exp) var(txn.bearer),jwt_payload_query('\$.exp','int')
  http-request set-var(txn.now) date()
  http-request deny deny_status 401 unless { var(txn.exp) -m found }
  http-request deny deny_status 401 if { var(txn.exp),sub(txn.now) -m int le 0 }
JWT
fi)
  default_backend be

backend be
  http-reuse safe
  server up 127.0.0.1:$UP_PORT
EOF
}

# The secret (from authgate keygen) and an HS256 access token minted with PyJWT, valid 1 day.
mint_token() {
  JWT_SECRET=$("$AUTHGATE" keygen) || die "authgate keygen failed"
  [[ ${#JWT_SECRET} -eq 43 ]] || die "authgate keygen printed ${#JWT_SECRET} chars, expected 43"
  JWT_TOKEN=$("$PY" -c '
import sys, time, jwt
now = int(time.time())
print(jwt.encode({"sub": "bench-user", "client_id": "bench", "type": "access", "iss": "authgate",
                  "jti": "bench-0001", "scope": "read", "iat": now, "exp": now + 86400},
                 sys.argv[1], algorithm="HS256"))' "$JWT_SECRET") ||
    die "minting the token failed (apt-get install -y python3-jwt)"
}

# An EdDSA, ES256 and RS256 key (PEM files in $RUN/keys) and a token of each, kid
# "bench-<alg>", the claims of mint_token's. Needs $RUN; after mint_token.
mint_ring_tokens() {
  local a
  mkdir -p "$RUN/keys"
  for a in EdDSA ES256 RS256; do
    RING_TOKEN[$a]=$("$PY" -c '
import sys, time, jwt
from cryptography.hazmat.primitives import serialization as s
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
alg, d = sys.argv[1], sys.argv[2]
k = {"EdDSA": lambda: ed25519.Ed25519PrivateKey.generate(),
     "ES256": lambda: ec.generate_private_key(ec.SECP256R1()),
     "RS256": lambda: rsa.generate_private_key(65537, 2048)}[alg]()
open("%s/%s.pub" % (d, alg), "wb").write(k.public_key().public_bytes(
    s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo))
now = int(time.time())
print(jwt.encode({"sub": "bench-user", "client_id": "bench", "type": "access", "iss": "authgate",
                  "jti": "bench-0001", "scope": "read", "iat": now, "exp": now + 86400},
                 k, algorithm=alg, headers={"kid": "bench-" + alg}))' "$a" "$RUN/keys") ||
      die "minting the $a token failed (apt-get install -y python3-jwt python3-cryptography)"
  done
}

gen_authgate() { # $1 dir, $2 peer name (one ending in -metrics gets a metrics port too)
  local paths='[]' cache=4096 metrics= listen keys= alg assert= ring=
  mkdir -p "$1"
  # ASSERT=HS256|EdDSA: an upstream assertion on every authenticated request (docs/keys.md)
  case ${ASSERT:-} in
    '') ;;
    HS256) ring="{\"kid\": \"up\", \"alg\": \"HS256\", \"secret\": \"$("$AUTHGATE" keygen)\"}"
      assert="\"upstream-assertion\": {\"kid\": \"up\"}," ;;
    EdDSA)
      openssl genpkey -algorithm ed25519 -out "$1/up.key" 2>/dev/null || die "openssl genpkey failed"
      ring="{\"kid\": \"up\", \"alg\": \"EdDSA\", \"private-key-file\": \"$1/up.key\"}"
      assert="\"upstream-assertion\": {\"kid\": \"up\"}," ;;
    *) die "ASSERT must be HS256 or EdDSA" ;;
  esac
  [[ $2 == authgate || $2 == authgate-b || $2 == authgate-tls ]] || paths='["/"]'
  [[ $2 == *-nocache ]] && cache=0
  [[ $2 == *-metrics ]] && metrics="\"metrics-listen\": \"127.0.0.1:$((PEER_PORT[$2] + 100))\","
  alg=$(peer_alg "$2")
  [[ $alg == HS256 ]] ||
    ring="${ring:+$ring, }{\"kid\": \"bench-$alg\", \"alg\": \"$alg\", \"public-key-file\": \"$RUN/keys/$alg.pub\"}"
  [[ -z $ring ]] || keys="\"keys\": [$ring],"
  listen="\"listen\": \"127.0.0.1:${PEER_PORT[$2]}\""
  if [[ $2 == *-tls ]]; then
    listen="\"listen\": [], \"tls-listen\": \"127.0.0.1:${PEER_PORT[$2]}\",
  \"tls-cert-file\": \"$RUN/certs/cert.pem\", \"tls-key-file\": \"$RUN/certs/key.pem\""
  fi
  # The private redis-server of start_redis: an authgate accepts a token only once it has
  # loaded the live revocations (CONTRACT.md section 8). No request of the run touches it.
  cat >"$1/authgate.json" <<EOF
{
  $listen,
  "upstream": "http://127.0.0.1:$UP_PORT",
  "cryptography-key": "$JWT_SECRET",
  "access-token-paths": $paths,
  "token-cache-size": $cache, $keys $assert
  "workers": 1, $metrics${POOL_IDLE:+ \"keepalive-timeout\": $POOL_IDLE,}
  "access-log": "off",
  "redis": "unix://$RUN/redis/redis.sock"
}
EOF
  chmod 600 "$1/authgate.json"
}

# One redis-server on a unix socket for every authgate peer, on LOAD_CPU: started once.
start_redis() {
  [[ -n ${PID_OF[redis]:-} ]] && return 0
  command -v "${REDIS_SERVER:-redis-server}" >/dev/null || die "missing redis-server (apt-get install -y redis-server)"
  mkdir -p "$RUN/redis"
  start_proc redis "$LOAD_CPU" "${REDIS_SERVER:-redis-server}" --port 0 --unixsocket "$RUN/redis/redis.sock" \
    --save '' --appendonly no --dir "$RUN/redis"
  for _ in $(seq 100); do [[ -S $RUN/redis/redis.sock ]] && return 0; check_alive redis; sleep 0.1; done
  die "redis-server did not create its socket after 10 s"
}

# ---- processes ---------------------------------------------------------------
callgrind_total() { # OUT BIN N: the total of callgrind file OUT (copied to $KEEP when set)
  if [[ -n ${KEEP:-} ]]; then
    mkdir -p "$KEEP"
    cp "$1" "$KEEP/callgrind.$(basename "$(dirname "$(dirname "$2")")").$3"
  fi
  awk '/^(summary|totals):/ {print $2; exit}' "$1"
}
callgrind_per() { # UNIT UNITS BIN...: run_once (the caller's) SMALL and LARGE times, one line per BIN
  local unit=$1 units=$2 bin a b
  shift 2
  for bin in "$@"; do
    [[ -x $bin ]] || die "not an executable: $bin"
    a=$(run_once "$bin" "$SMALL")
    b=$(run_once "$bin" "$LARGE")
    echo "$bin: $(((b - a) / (LARGE - SMALL))) instructions per $unit ($SMALL and $LARGE $units: $a, $b)"
  done
}
start_proc() { # NAME CPU CMD...  (own session, pinned, logs in $RUN/NAME)
  local name=$1 cpu=$2
  shift 2
  mkdir -p "$RUN/$name"
  setsid taskset -c "$cpu" "$@" >"$RUN/$name/stdout.log" 2>"$RUN/$name/stderr.log" </dev/null &
  PID_OF[$name]=$!
  log "started $name (pid ${PID_OF[$name]}, cpu $cpu)"
}

stop_proc() { # NAME: TERM its process group (the session we created), then KILL
  local name=$1 pid=${PID_OF[$1]:-}
  [[ -n $pid ]] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  unset "PID_OF[$name]"
}

save_logs() { # keep the servers' own logs (startup errors, crashes) with the results
  local f
  for f in "$RUN"/*/stderr.log "$RUN"/*/error.log; do
    [[ -s $f ]] || continue
    mkdir -p "$RESULTS/logs"
    cp "$f" "$RESULTS/logs/$(basename "$(dirname "$f")")-$(basename "$f")"
  done
}

stop_all() {
  local n
  for n in "${!PID_OF[@]}"; do stop_proc "$n"; done
}

# die with the reason if NAME's process has exited (its exit status says how)
check_alive() { # NAME
  local pid=${PID_OF[$1]} rc=0
  kill -0 "$pid" 2>/dev/null && return 0
  wait "$pid" 2>/dev/null || rc=$?
  unset "PID_OF[$1]"
  tail -n 5 "$RUN/$1"/*.log >&2 || true
  die "$1 (pid $pid) exited with status $rc$( ((rc > 128)) && echo " (signal $((rc - 128)))")"
}

port_busy() { ss -Hltn "sport = :$1" | grep -q .; }

wait_port() { # PORT NAME
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    if ! kill -0 "${PID_OF[$2]}" 2>/dev/null; then
      tail -n 20 "$RUN/$2"/*.log >&2 || true
      die "$2 exited before listening on port $1"
    fi
    sleep 0.1
  done
  die "$2 is not listening on port $1 after 10 s"
}

start_upstream() {
  port_busy "$UP_PORT" && die "port $UP_PORT is in use (set BASE_PORT)"
  gen_upstream "$RUN/upstream"
  start_proc upstream "$LOAD_CPU" nginx -p "$RUN/upstream" -c "$RUN/upstream/nginx.conf" -g 'daemon off;'
  wait_port "$UP_PORT" upstream
}

start_peer() { # NAME
  local p=$1 d="$RUN/$1"
  if [[ $p == *-hs || $p == *-resume ]]; then # the base peer's server, loaded differently
    [[ -n ${PID_OF[$(peer_base "$p")]:-} ]] || start_peer "$(peer_base "$p")"
    return 0
  fi
  [[ -n ${PEER_PORT[$p]:-} ]] || die "unknown peer '$p' (known: $ALL_PEERS $TLS_PEERS $KEY_PEERS)"
  [[ $p == *-tls ]] && make_certs
  port_busy "${PEER_PORT[$p]}" && die "port ${PEER_PORT[$p]} for $p is in use (set BASE_PORT)"
  case $p in
    nginx | nginx-tls)
      gen_nginx "$d" "$p"
      start_proc "$p" "$SUT_CPU" nginx -p "$d" -c "$d/nginx.conf" -g 'daemon off;' ;;
    haproxy | haproxy-jwt | haproxy-rs256 | haproxy-es256)
      gen_haproxy "$d" "$p"
      sed -i "s|@SECRET@|$JWT_SECRET|" "$d/haproxy.cfg"
      haproxy -c -q -f "$d/haproxy.cfg" || die "haproxy config check failed"
      start_proc "$p" "$SUT_CPU" haproxy -f "$d/haproxy.cfg" ;;
    authgate | authgate-jwt | authgate-jwt-nocache | authgate-jwt-metrics | authgate-tls | \
      authgate-jwt-tls | authgate-eddsa | authgate-es256 | authgate-rs256 | authgate-eddsa-nocache | \
      authgate-es256-nocache | authgate-rs256-nocache)
      start_redis
      gen_authgate "$d" "$p"
      start_proc "$p" "$SUT_CPU" "$AUTHGATE" serve --config "$d/authgate.json" ;;
    authgate-b | authgate-jwt-b)
      [[ -x $AUTHGATE_B ]] || die "peer $p needs AUTHGATE_B, an authgate binary"
      start_redis
      gen_authgate "$d" "$p"
      start_proc "$p" "$SUT_CPU" "$AUTHGATE_B" serve --config "$d/authgate.json" ;;
  esac
  wait_port "${PEER_PORT[$p]}" "$p"
}

# The peer must answer the upstream's 200 with its exact 100-byte body.
check_peer() { # PORT NAME
  local out
  out=$(curl -s -m 5 -o "$RUN/check.body" -w '%{http_code} %{size_download}' --cacert "$RUN/certs/ca.pem" \
        -H "Authorization: Bearer $(peer_token "$2")" "$(peer_scheme "$2")://127.0.0.1:$1$REQ_PATH") || true
  if [[ $out != "200 100" ]] || [[ $(cat "$RUN/check.body") != "$UP_BODY" ]]; then
    die "$2 on port $1: expected 200 with the upstream's 100-byte body, got '$out'"
  fi
  log "check $2: 200, 100-byte upstream body"
}

# ---- /proc accounting -------------------------------------------------------------
proc_tree() { # PID and all its descendants
  local f c kids
  echo "$1"
  for f in /proc/"$1"/task/*/children; do
    kids=()
    read -r -a kids 2>/dev/null <"$f" || true
    for c in "${kids[@]}"; do proc_tree "$c"; done
  done
}

tree_ticks() { # utime+stime (clock ticks) of the tree; a process's stat covers all its threads
  local t=0 p s
  for p in $(proc_tree "$1"); do
    s=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null) || s=0
    t=$((t + ${s:-0}))
  done
  echo "$t"
}

tree_rss_kb() { # VmRSS (kB) of the tree
  local t=0 p s
  for p in $(proc_tree "$1"); do
    s=$(awk '/^VmRSS:/{print $2}' "/proc/$p/status" 2>/dev/null) || s=0
    t=$((t + ${s:-0}))
  done
  echo "$t"
}
