-- wrk script of benchmarks/load.py: counts statuses and prints one summary line it can read.
--
--   wrk -t2 -c50 -d10s -s benchmarks/wrk_report.lua http://127.0.0.1:8000/healthz
--   wrk -t2 -c50 -d10s -s benchmarks/wrk_report.lua http://127.0.0.1:8000/api/v1/me -- tokens.txt
--
-- With a tokens file (one attendee token a line), every request carries the next token as
-- `Authorization: Bearer`, each thread starting at its own place in the list. done() prints
-- "wrk-report" followed by key=value pairs: latencies in microseconds, wrk's own error
-- counts, and `status_<code>=<n>` for every status seen by response().

local threads = {}

function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

function init(args)
   statuses = {}
   local path = args[1]
   if path == nil then
      return
   end
   local tokens = {}
   for line in io.lines(path) do
      if line ~= "" then
         tokens[#tokens + 1] = "Bearer " .. line
      end
   end
   if #tokens == 0 then
      error("no tokens in " .. path)
   end
   local at = (id * 7919) % #tokens
   request = function()
      at = at % #tokens + 1
      return wrk.format(nil, nil, { ["Authorization"] = tokens[at] })
   end
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
   local counts = {}
   for _, thread in ipairs(threads) do
      for status, n in pairs(thread:get("statuses")) do
         counts[status] = (counts[status] or 0) + n
      end
   end
   local parts = {
      "wrk-report",
      string.format("duration_us=%d", summary.duration),
      string.format("requests=%d", summary.requests),
      string.format("bytes=%d", summary.bytes),
      string.format("connect_errors=%d", summary.errors.connect),
      string.format("read_errors=%d", summary.errors.read),
      string.format("write_errors=%d", summary.errors.write),
      string.format("status_errors=%d", summary.errors.status),
      string.format("timeouts=%d", summary.errors.timeout),
      string.format("p50_us=%d", latency:percentile(50)),
      string.format("p90_us=%d", latency:percentile(90)),
      string.format("p99_us=%d", latency:percentile(99)),
      string.format("max_us=%d", latency.max),
      string.format("mean_us=%.1f", latency.mean),
   }
   for status, n in pairs(counts) do
      parts[#parts + 1] = string.format("status_%d=%d", status, n)
   end
   io.write(table.concat(parts, " ") .. "\n")
end
