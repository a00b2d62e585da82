-- wrk script of scripts/bench.sh and scripts/bench-mcp.sh: sends each line of the file named by TOLLGATE_BENCH_FILE
-- once (TOLLGATE_BENCH_DONE: a directory where each thread leaves a file when its lines are answered, so the
-- caller can end wrk with SIGINT and get the rate over the real run rather than over -d): as the PAYMENT-SIGNATURE header of a GET (lines written by `tollgate bench --mode presign`), or, with
-- TOLLGATE_BENCH_BODY=1, as the body of a POST (paid MCP tools/call requests). Thread k of n (TOLLGATE_BENCH_THREADS
-- must equal wrk's -t) takes lines k, k+n, k+2n, ...; a thread stops once its lines are answered. A connection that
-- asks for a request after its thread's lines are used sends the thread's last line again (a replay, answered from
-- the stored response); there are at most as many of those as connections.
local count = 0

function setup(thread)
  thread:set("id", count)
  count = count + 1
end

local lines, nextLine, answered = {}, 1, 0

function init(args)
  local threads = tonumber(os.getenv("TOLLGATE_BENCH_THREADS") or "1")
  local index = 0
  for line in io.lines(os.getenv("TOLLGATE_BENCH_FILE")) do
    if line ~= "" then
      if index % threads == id then lines[#lines + 1] = line end
      index = index + 1
    end
  end
  if #lines == 0 then error("no presigned lines for thread " .. id) end
end

function request()
  local line = lines[math.min(nextLine, #lines)]
  nextLine = nextLine + 1
  if os.getenv("TOLLGATE_BENCH_BODY") == "1" then
    return wrk.format("POST", nil, nil, line)
  end
  return wrk.format(nil, nil, { ["PAYMENT-SIGNATURE"] = line })
end

function response(status, headers, body)
  answered = answered + 1
  if answered == #lines then
    local done = os.getenv("TOLLGATE_BENCH_DONE")
    if done then
      local file = io.open(done .. "/thread-" .. id, "w")
      file:close()
    end
    wrk.thread:stop()
  end
end
