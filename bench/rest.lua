-- wrk script for the REST benchmarks run by scripts/bench.sh.
--
--   wrk ... URL -- TOKEN                 GET URL with a bearer token
--   wrk ... URL -- TOKEN post PREFIX     POST a new message to URL (a .../messages/ URL)
--                                        with client_msg_id PREFIX-<thread>-<n>, unique
--                                        per request, so every request creates a message
--                                        instead of hitting the idempotent-resend path
--
-- Every response's status is checked here: wrk itself only counts statuses above 399, and
-- a benchmark of 3xx or 1xx answers would measure the wrong thing. done() prints one
-- machine-readable line that scripts/bench.sh parses,
--   BENCH requests=N seconds=S rps=R p50_ms=L p99_ms=L non2xx=N socket_errors=N
-- and, when a response was not 2xx, a line "BENCH_FIRST_BAD <status> <start of body>".

local threads = {}

function setup(thread)
   thread:set("thread_no", #threads + 1)
   table.insert(threads, thread)
end

local token, mode, prefix
local sent = 0
-- Globals, not locals: done() reads them from each thread's Lua state with thread:get().
non2xx = 0
first_bad = nil

function init(args)
   token = args[1]
   mode = args[2] or "get"
   prefix = args[3]
   assert(token, "usage: wrk ... URL -- TOKEN [post PREFIX]")
   assert(mode == "get" or (mode == "post" and prefix), "usage: wrk ... URL -- TOKEN [post PREFIX]")
   wrk.headers["Authorization"] = "Bearer " .. token
   wrk.headers["Accept"] = "application/json"
   if mode == "post" then
      wrk.method = "POST"
      wrk.headers["Content-Type"] = "application/json"
      -- Defining request() replaces wrk's single pre-formatted request.
      request = function()
         sent = sent + 1
         local id = string.format("%s-%d-%d", prefix, thread_no, sent)
         local body = string.format(
            '{"text": "Benchmark message %d from thread %d: the quick brown fox.", '
               .. '"client_msg_id": "%s"}', sent, thread_no, id)
         return wrk.format(nil, nil, nil, body)
      end
   end
end

function response(status, headers, body)
   if status < 200 or status > 299 then
      non2xx = non2xx + 1
      if not first_bad then
         first_bad = status .. " " .. string.sub(body or "", 1, 200)
      end
   end
end

function done(summary, latency, requests)
   local bad, first = 0, nil
   for _, t in ipairs(threads) do
      bad = bad + t:get("non2xx")
      first = first or t:get("first_bad")
   end
   local e = summary.errors
   local seconds = summary.duration / 1e6
   io.write(string.format(
      "BENCH requests=%d seconds=%.3f rps=%.1f p50_ms=%.2f p99_ms=%.2f non2xx=%d "
         .. "socket_errors=%d\n",
      summary.requests, seconds, summary.requests / seconds,
      latency:percentile(50) / 1000, latency:percentile(99) / 1000, bad,
      e.connect + e.read + e.write + e.timeout))
   if first then
      io.write("BENCH_FIRST_BAD " .. string.gsub(first, "%s+", " ") .. "\n")
   end
end
