#!/usr/bin/env bash
# tests/run_all.sh - installs what the tests need (Debian 12, as root), builds authgate
# three ways and runs every suite; the last line is "N passed, N failed" over all of them.
#
#   build-werror  gcc, -Dwerror=true: unit tests and the fuzz corpus replay
#   build-asan    gcc, AddressSanitizer + UndefinedBehaviorSanitizer: unit tests, corpus
#                 replay, and the pytest integration suite against this binary
#   build-fuzz    clang, -Dfuzzing=true: every libFuzzer target fuzzes for FUZZ_SECONDS (60)
#
# Knobs: SKIP_INSTALL=1, FUZZ_SECONDS=N (0 skips fuzzing), PYTEST_ARGS="-k ...".
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
FUZZ_SECONDS=${FUZZ_SECONDS:-60}

packages=(meson ninja-build pkg-config gcc clang libevent-dev libssl-dev libjansson-dev
          libhiredis-dev libsodium-dev libhttp-parser-dev redis-server redis-sentinel python3 python3-pytest
          python3-requests python3-jwt python3-websocket python3-prometheus-client
          python3-cryptography curl nginx man-db groff-base systemd
          chromium chromium-driver python3-selenium)
if [[ ${SKIP_INSTALL:-0} != 1 ]]; then
  missing=()
  for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if ((${#missing[@]})); then
    echo "== installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null && apt-get install -y -q "${missing[@]}" >/dev/null || {
      echo "apt-get install failed"; echo "0 passed, 1 failed"; exit 1; }
  fi
fi

logs=$root/build-logs   # every step's full output (git-ignored)
mkdir -p "$logs"
passed=0 failed=0
note() { echo; echo "== $*"; }
count() { passed=$((passed + $1)); failed=$((failed + $2)); }

# meson test: one point per test executable; a build failure counts as one failure.
meson_suite() {  # dir, setup args...
  local dir=$1; shift
  note "build $dir ($*)"
  if ! { [[ -d $dir ]] || meson setup "$dir" "$@" >"$logs/$dir.setup.log" 2>&1; } ||
     ! meson compile -C "$dir" >"$logs/$dir.compile.log" 2>&1; then
    cat "$logs/$dir.setup.log" "$logs/$dir.compile.log" 2>/dev/null | tail -40
    count 0 1; return 1
  fi
  note "meson test -C $dir"
  meson test -C "$dir" --suite unit --suite fuzz-replay --print-errorlogs >"$logs/$dir.test.log" 2>&1
  grep -E '^ *[0-9]+/[0-9]+ ' "$logs/$dir.test.log"
  local ok fail
  ok=$(grep -E '^Ok:' "$logs/$dir.test.log" | awk '{print $2}')
  fail=$(grep -E '^(Fail|Timeout|Unexpected Pass):' "$logs/$dir.test.log" | awk '{s+=$NF} END {print s+0}')
  [[ -n $ok ]] || { tail -30 "$logs/$dir.test.log"; ok=0; fail=$((fail + 1)); }
  count "$ok" "$fail"
}

meson_suite build-werror -Dwerror=true
asan_ok=0
meson_suite build-asan -Db_sanitize=address,undefined -Db_lundef=false && asan_ok=1

note "integration (pytest, ASan+UBSan binary)"
if ((asan_ok)); then
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=0}
  AUTHGATE_BIN=$root/build-asan/authgate /usr/bin/python3 -m pytest -q -p no:cacheprovider \
    ${PYTEST_ARGS:-} tests/integration 2>&1 | tee "$logs/pytest.log" | tail -40
  line=$(grep -E '[0-9]+ (passed|failed)' "$logs/pytest.log" | tail -1)
  p=$(grep -oE '[0-9]+ passed' <<<"$line" | awk '{print $1}')
  f=$(grep -oE '[0-9]+ (failed|error|errors)' <<<"$line" | awk '{s+=$1} END {print s+0}')
  [[ -n $p || $f -gt 0 ]] || f=1
  count "${p:-0}" "$f"
else
  count 0 1
fi

if ((FUZZ_SECONDS > 0)); then
  note "fuzz (clang libFuzzer, ${FUZZ_SECONDS}s per target)"
  if { [[ -d build-fuzz ]] || CC=clang meson setup build-fuzz -Dfuzzing=true \
         -Db_sanitize=address,undefined -Db_lundef=false >"$logs/build-fuzz.setup.log" 2>&1; } &&
     meson compile -C build-fuzz >"$logs/build-fuzz.compile.log" 2>&1; then
    for t in build-fuzz/tests/fuzz_*; do
      [[ -f $t && -x $t ]] || continue
      name=${t##*/fuzz_}
      work=$(mktemp -d)
      cp -r "tests/fuzz/corpus/$name/." "$work/" 2>/dev/null
      dict=(); [[ -f tests/fuzz/$name.dict ]] && dict=(-dict="tests/fuzz/$name.dict")
      [[ $name == http1 && -f tests/fuzz/http.dict ]] && dict=(-dict=tests/fuzz/http.dict)
      if "$t" "${dict[@]}" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
           -print_final_stats=1 -artifact_prefix="$work/" "$work" >"$logs/fuzz-$name.log" 2>&1; then
        echo "fuzz $name: ok ($(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$logs/fuzz-$name.log" | grep -oE '[0-9]+$') runs)"
        count 1 0
      else
        echo "fuzz $name: FAILED"; tail -30 "$logs/fuzz-$name.log"; ls "$work"/crash-* 2>/dev/null
        count 0 1
      fi
      rm -rf "$work"
    done
  else
    tail -30 "$logs/build-fuzz.setup.log" "$logs/build-fuzz.compile.log" 2>/dev/null
    count 0 1
  fi
fi

echo
echo "$passed passed, $failed failed"
((failed == 0))
