-- wrk script for tests/bench/run.sh: print one machine-readable line at the end.
-- Latencies are in microseconds (max_us: the slowest request; idle_burst.sh reads it);
-- "non2xx" counts responses that were not 2xx/3xx, "sockerr" the connect/read/write/timeout
-- errors.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d rps=%.1f p50_us=%d p99_us=%d non2xx=%d sockerr=%d max_us=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout, latency.max))
end

-- DISTINCT=1 in the environment: a new path per request, <path>/<n>, so that no upstream
-- assertion is reused from a worker's cache (docs/keys.md "Upstream assertions").
if os.getenv("DISTINCT") == "1" then
  local n = 0
  request = function()
    n = n + 1
    return wrk.format(nil, string.format("%s/%09d", wrk.path, n))
  end
end
