-- The PUT mix the bench drives: progress reports, legal moves, same-status retries,
-- a few illegal moves and new tasks. Tasks are seeded `active` in JOBS x TASKS; the
-- first half ("movers") only ever get active/paused (always legal from either), the
-- second half ("steady") stay active, so every request's outcome is known in advance.
local jobs = tonumber(os.getenv("BENCH_JOBS") or "100")
local tasks = tonumber(os.getenv("BENCH_TASKS") or "10")
local first = tonumber(os.getenv("BENCH_FIRST_JOB") or "0")  -- jobs first .. first+jobs-1
local base = "/apis/jobs/v2/workspaces/bench/jobs/"
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(id * 7919 + os.time())
  sent_illegal, got_422, got_other, created = 0, 0, 0, 0
  wrk.headers["Content-Type"] = "application/json"
end

local function task_path(job, task)
  return base .. "job-" .. job .. "/steps/work/tasks/task-" .. task
end

function request()
  local job = first + math.random(0, jobs - 1)
  local half = math.floor(tasks / 2)
  local roll = math.random(100)
  local body, path
  if roll <= 55 then        -- progress report, no status
    path = task_path(job, math.random(0, tasks - 1))
    body = '{"status_details": {"progress": ' .. math.random(1000) .. '}}'
  elseif roll <= 75 then    -- legal move between active and paused
    path = task_path(job, math.random(0, half - 1))
    body = (math.random(2) == 1) and '{"status": "paused"}' or '{"status": "active"}'
  elseif roll <= 90 then    -- same-status retry of a steady task
    path = task_path(job, math.random(half, tasks - 1))
    body = '{"status": "active", "status_details": {"beat": 1}}'
  elseif roll <= 95 then    -- new task
    created = created + 1
    path = base .. "job-" .. job .. "/steps/work/tasks/new-" .. id .. "-" .. created
    body = '{"status": "active"}'
  else                      -- illegal: back to created
    sent_illegal = sent_illegal + 1
    path = task_path(job, math.random(half, tasks - 1))
    body = '{"status": "created"}'
  end
  return wrk.format("PUT", path, nil, body)
end

function response(status, headers, body)
  if status == 422 then
    got_422 = got_422 + 1
  elseif status >= 300 then
    got_other = got_other + 1
  end
end

function done(summary, latency, requests)
  local illegal, r422, other = 0, 0, 0
  for _, t in ipairs(threads) do
    illegal = illegal + t:get("sent_illegal")
    r422 = r422 + t:get("got_422")
    other = other + t:get("got_other")
  end
  io.write(string.format(
    "BENCH requests=%d seconds=%.3f p50_us=%d p99_us=%d illegal_sent=%d got_422=%d got_other_non2xx=%d socket_errors=%d\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
    illegal, r422, other,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
