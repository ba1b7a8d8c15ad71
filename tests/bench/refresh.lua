-- wrk script for tests/bench/refresh.sh: every connection follows its own refresh chain.
--
-- Run with as many threads as connections (wrk -tN -cN): each thread owns one connection
-- and one chain. TOKENS_FILE (env) holds one refresh token per line; thread i starts from
-- line i. Each request is POST /auth/refresh with the current refresh token as Bearer; the
-- 200's body gives the next refresh token (one-time rotation: the presented one dies).
-- A non-200 breaks that chain (the next request presents a dead token): counted in
-- "broken" and in wrk's non2xx. Prints one machine-readable RESULT line at the end.

local threads = {}
local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("id", next_id)
  table.insert(threads, thread)
end

function init(args)
  local path = os.getenv("TOKENS_FILE")
  if path == nil then error("TOKENS_FILE is not set") end
  local f = assert(io.open(path, "r"))
  local n = 0
  for line in f:lines() do
    n = n + 1
    if n == id then token = line end
  end
  f:close()
  if token == nil or token == "" then
    error(string.format("TOKENS_FILE has %d tokens, thread %d needs one", n, id))
  end
  ok, bad, broken = 0, 0, 0
end

function request()
  return wrk.format("POST", "/auth/refresh",
                    {["Authorization"] = "Bearer " .. token, ["Content-Length"] = "0"}, "")
end

function response(status, headers, body)
  if status == 200 then
    local t = string.match(body, '"refresh_token"%s*:%s*"([^"]+)"')
    if t then
      token = t
      ok = ok + 1
      return
    end
  end
  bad = bad + 1
  if bad == 1 then
    broken = 1
    io.stderr:write(string.format("chain %d broke: status %d body %s\n", id, status, body))
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local ok_total, broken_total = 0, 0
  for _, t in ipairs(threads) do
    ok_total = ok_total + (t:get("ok") or 0)
    broken_total = broken_total + (t:get("broken") or 0)
  end
  io.write(string.format(
    "RESULT requests=%d refreshed=%d duration_us=%d rps=%.1f p50_us=%d p99_us=%d non2xx=%d sockerr=%d broken_chains=%d\n",
    summary.requests, ok_total, summary.duration, ok_total / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), e.status,
    e.connect + e.read + e.write + e.timeout, broken_total))
end
