-- wrk script shared by every wrk case of the benchmark, configured by environment variables:
--   BENCH_METHOD   GET (default) or POST (then Content-Type: application/x-www-form-urlencoded)
--   BENCH_PATH     request path (wrk's URL gives host and port)
--   BENCH_BODY     fixed form body (client_credentials, introspection)
--   BENCH_AUTH     Authorization header value (client_secret_basic)
--   BENCH_POOL     file of single-use tokens, one a line (refresh case): every request takes the next unused one,
--                  body = BENCH_POOL_PREFIX .. token .. BENCH_POOL_SUFFIX; thread i of BENCH_THREADS takes lines
--                  i, i+n, i+2n, ... When a thread runs out it stops; wrk still reports the whole -d duration, so
--                  the time from init to the thread's first miss is recorded (LuaJIT FFI clock_gettime) and
--                  done() reports the longest as active_us: the rate of an exhausted run is requests / active_us
--                  (bench.py). The requests a thread still sends reuse its last token, which the server refuses
--                  (counted as non-2xx, reported as pool exhaustion).
--   BENCH_POOL_HEADER  with BENCH_POOL: the pool line goes into this header (DPoP proofs, single use) and the
--                  body is BENCH_BODY.
-- done() prints one line "BENCH_JSON {...}" that bench.py reads.

local method = os.getenv("BENCH_METHOD") or "GET"
local path = os.getenv("BENCH_PATH") or "/"
local body = os.getenv("BENCH_BODY")
local auth = os.getenv("BENCH_AUTH")
local pool_file = os.getenv("BENCH_POOL")
local pool_prefix = os.getenv("BENCH_POOL_PREFIX") or ""
local pool_suffix = os.getenv("BENCH_POOL_SUFFIX") or ""
local pool_header = os.getenv("BENCH_POOL_HEADER")
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")

local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local function now_us()
  local ts = ffi.new("bench_timespec")
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1000000 + math.floor(tonumber(ts.tv_nsec) / 1000)
end

local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local headers = {}
local fixed = nil
local pool = nil
-- globals, read back by done() through thread:get
pos = 0
exhausted = false
started_us = 0
active_us = 0

function init(args)
  started_us = now_us()
  if auth and auth ~= "" then headers["Authorization"] = auth end
  if method == "POST" then headers["Content-Type"] = "application/x-www-form-urlencoded" end
  if pool_file and pool_file ~= "" then
    pool = {}
    local i = 0
    for line in io.lines(pool_file) do
      if line ~= "" then
        if i % nthreads == tid then table.insert(pool, line) end
        i = i + 1
      end
    end
  else
    fixed = wrk.format(method, path, headers, body)
  end
end

function request()
  if fixed then return fixed end
  pos = pos + 1
  if pos > #pool then
    if not exhausted then
      exhausted = true
      active_us = now_us() - started_us
      wrk.thread:stop()
    end
    pos = #pool
  end
  if pool_header and pool_header ~= "" then
    headers[pool_header] = pool[pos]
    return wrk.format(method, path, headers, body)
  end
  return wrk.format(method, path, headers, pool_prefix .. pool[pos] .. pool_suffix)
end

function done(summary, latency, requests)
  local used, ex, active = 0, false, 0
  for _, t in ipairs(threads) do
    local p = t:get("pos")
    if p then used = used + p end
    if t:get("exhausted") then ex = true end
    local a = t:get("active_us")
    if a and a > active then active = a end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"err_connect":%d,"err_read":%d,"err_write":%d,'
      .. '"err_status":%d,"err_timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d,'
      .. '"pool_used":%d,"pool_exhausted":%s,"active_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max,
    used, tostring(ex), active))
end
