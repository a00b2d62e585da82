-- wrk script of scripts/bench.sh: sends each line of the file named by TOLLGATE_BENCH_FILE once: as the
-- PAYMENT-SIGNATURE header of a GET (lines written by `tollgate bench --mode presign`; the header named by
-- TOLLGATE_BENCH_HEADER instead, e.g. X-PAYMENT for `--x402-version 1`), or, with
-- TOLLGATE_BENCH_BODY=1, as the body of a POST (paid MCP tools/call requests).
--
-- wrk calls request() on thread 0 before any connection exists, to check the script (those requests are never
-- sent), so thread 0 carries no lines: its connections send one GET /health each and then wait. Threads 1..n-1
-- (TOLLGATE_BENCH_THREADS must equal wrk's -t) take lines k-1, k-1+(n-1), ...; once a thread's lines are all sent
-- its connections wait (delay), and when the last is answered it leaves a file in TOLLGATE_BENCH_DONE and stops, so
-- the caller can end wrk (SIGINT) with the rate measured over the real run. Every line is sent exactly once.
local count = 0

function setup(thread)
  thread:set("id", count)
  count = count + 1
end

local lines, nextLine, answered = {}, 1, 0

function init(args)
  if id == 0 then return end
  local carriers = tonumber(os.getenv("TOLLGATE_BENCH_THREADS") or "2") - 1
  local index = 0
  for line in io.lines(os.getenv("TOLLGATE_BENCH_FILE")) do
    if line ~= "" then
      if index % carriers == id - 1 then lines[#lines + 1] = line end
      index = index + 1
    end
  end
  if #lines == 0 then error("no presigned lines for thread " .. id) end
end

function delay()
  if id == 0 or nextLine > #lines then return 600000 end
  return 0
end

function request()
  if id == 0 then return wrk.format("GET", "/health") end
  local line = lines[nextLine]
  nextLine = nextLine + 1
  -- Only after a timeout made wrk reconnect and ask again (run with --timeout long enough): never resend a line.
  if line == nil then return wrk.format("GET", "/health") end
  if os.getenv("TOLLGATE_BENCH_BODY") == "1" then
    return wrk.format("POST", nil, nil, line)
  end
  return wrk.format(nil, nil, { [os.getenv("TOLLGATE_BENCH_HEADER") or "PAYMENT-SIGNATURE"] = line })
end

function response(status, headers, body)
  if id == 0 then return end
  answered = answered + 1
  -- TOLLGATE_BENCH_FAILURES=path: every answer that is not a 2xx is appended there (status, then body), to see why.
  local failures = os.getenv("TOLLGATE_BENCH_FAILURES")
  if failures and (status < 200 or status > 299) then
    local file = io.open(failures, "a")
    file:write(status .. " " .. (body or "") .. "\n")
    file:close()
  end
  if answered == #lines then
    local done = os.getenv("TOLLGATE_BENCH_DONE")
    if done then
      local file = io.open(done .. "/thread-" .. id, "w")
      file:close()
    end
    wrk.thread:stop()
  end
end
