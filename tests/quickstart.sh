#!/usr/bin/env bash
# tests/quickstart.sh - installs what authgate needs (Debian 12, as root), builds it, and runs
# it on 127.0.0.1:8080 in front of a demo upstream (tests/integration/upstream.py on :8081)
# with a private redis-server (127.0.0.1:6390, data in .quickstart/). Ctrl-C stops all three.
# Knobs: SKIP_INSTALL=1, GW_PORT=8080, UP_PORT=8081, REDIS_PORT=6390.
set -euo pipefail
cd "$(dirname "$0")/.."
GW_PORT=${GW_PORT:-8080} UP_PORT=${UP_PORT:-8081} REDIS_PORT=${REDIS_PORT:-6390}

if [[ ${SKIP_INSTALL:-0} != 1 ]]; then
  pkgs=(meson ninja-build pkg-config gcc libevent-dev libssl-dev libjansson-dev libhiredis-dev
        libsodium-dev libhttp-parser-dev redis-server python3 curl)
  missing=(); for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if ((${#missing[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q && apt-get install -y -q "${missing[@]}"
  fi
fi
[[ -d build ]] || meson setup build --buildtype=release
meson compile -C build

dir=$PWD/.quickstart
mkdir -p "$dir"
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT
trap 'exit 0' INT TERM

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$dir" --appendonly yes \
  --save '' --daemonize no >"$dir/redis.log" 2>&1 &
pids+=($!)
/usr/bin/python3 tests/integration/upstream.py --port "$UP_PORT" >"$dir/upstream.log" 2>&1 &
pids+=($!)

# A private config: the example's rules, fresh secrets, the ports above.
if [[ ! -f $dir/authgate.json ]]; then
  key=$(build/authgate keygen) master=$(build/authgate keygen)
  /usr/bin/python3 - "$dir/authgate.json" "$key" "$master" "$GW_PORT" "$UP_PORT" "$REDIS_PORT" <<'PY'
import json, os, sys
path, key, master, gw, up, rp = sys.argv[1:]
cfg = json.load(open("config.example.json"))
cfg.update({"cryptography-key": key, "master-token": master, "listen": "127.0.0.1:" + gw,
            "upstream": "http://127.0.0.1:" + up, "redis": "redis://127.0.0.1:%s/0" % rp})
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, (json.dumps(cfg, indent=2) + "\n").encode())
os.close(fd)
PY
fi
master=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["master-token"])' "$dir/authgate.json")

build/authgate serve --config "$dir/authgate.json" &
pids+=($!)
# Ready = listening, Redis reached, revocations synced; then the gateway mints a demo pair.
for _ in $(seq 100); do
  [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$GW_PORT/auth/ready") == 200 ]] && break
  kill -0 "${pids[-1]}" 2>/dev/null || { echo "authgate exited; see above" >&2; exit 1; }
  sleep 0.1
done
pair=$(curl -s -H "MASTER-TOKEN: $master" "http://127.0.0.1:$GW_PORT/auth/token/new?client_id=quickstart")
token=$(/usr/bin/python3 -c 'import json,sys; print(json.loads(sys.argv[1])["data"]["access_token"])' "$pair")

cat <<EOT

authgate on http://127.0.0.1:$GW_PORT -> demo upstream on :$UP_PORT, redis on :$REDIS_PORT
config: $dir/authgate.json (edit it, then: kill -HUP ${pids[-1]})
try, in another terminal:
  curl -i http://127.0.0.1:$GW_PORT/hello                 # public: forwarded, echoed back
  curl -i http://127.0.0.1:$GW_PORT/admin/x               # master path without the token: 401
  curl -i -H 'MASTER-TOKEN: $master' http://127.0.0.1:$GW_PORT/admin/x
  curl -i http://127.0.0.1:$GW_PORT/api/items             # access path without a token: 401
  curl -i -H 'Authorization: Bearer $token' http://127.0.0.1:$GW_PORT/api/items
                                                          # a client token from /auth/token/new: passes
  curl -i -H 'MASTER-TOKEN: $master' 'http://127.0.0.1:$GW_PORT/auth/token/new?client_id=me'
  curl -i -X POST http://127.0.0.1:$GW_PORT/auth/register -H 'Content-Type: application/json' \\
       -d '{"email":"alice@example.com","username":"alice","password":"correct horse"}'
  curl -i -X POST http://127.0.0.1:$GW_PORT/auth/login -H 'Content-Type: application/json' \\
       -d '{"username_or_email":"alice","password":"correct horse"}'
                                                          # a user's pair; then GET /auth/me with it
  curl -i 'http://127.0.0.1:$GW_PORT/a/%2e%2e/%2e%2e/etc' # climbs above /: 400
Ctrl-C stops everything.

EOT
wait "${pids[-1]}"
