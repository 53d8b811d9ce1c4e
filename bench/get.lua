-- GET a random seeded task (JOBS x TASKS, as seeded by bench/run.py).
local jobs = tonumber(os.getenv("BENCH_JOBS") or "100")
local tasks = tonumber(os.getenv("BENCH_TASKS") or "10")
local base = "/apis/jobs/v2/workspaces/bench/jobs/"

function init(args)
  math.randomseed(os.time() + math.random(100000))
end

function request()
  local path = base .. "job-" .. math.random(0, jobs - 1) .. "/steps/work/tasks/task-"
    .. math.random(0, tasks - 1)
  return wrk.format("GET", path)
end

function done(summary, latency, requests)
  io.write(string.format(
    "BENCH requests=%d seconds=%.3f p50_us=%d p99_us=%d illegal_sent=0 got_422=0 got_other_non2xx=%d socket_errors=%d\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
    summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
