-- fail: end failed runs (the handler threw, called done(err) or timed out). A
-- run with attempts left is retried: its ID stays committed and goes to the
-- queue (no delay) or to scheduled at now + its delay; a run without fails for
-- good (a failure record). Then claim up to ARGV[1] next jobs for the freed slots.
-- KEYS: queued committed processing leases payload rerun scheduled options attempts stalls progress failed failinfo errors wake prioritized sequence groups gactive glimited control limiter superseded deadline events results resultorder
-- ARGV: n, rearm, lease (ms), error log size, error log TTL (s), then quads:
--       id, token, error JSON, retry delay in ms ('' = fails for good)
-- INCLUDE: present events results end-runs enqueue schedule claim record-failure
-- Returns {flags, then what claim_write returns}, flags as complete's.
-- Keeps: an ID that fails for good leaves processing and committed (its
-- payload, options and attempts stay for inspection with its failure record);
-- with a pending rerun it is queued again instead, afresh. A superseded run
-- records nothing (no retry, no failure, no error logged): its ID is queued
-- again, afresh (flag '2', as complete's). A retried ID moves from
-- processing to queued or scheduled in one step. A run that fails for good
-- keeps its error as the ID's result (with keepResults); each ending is told
-- as a 'retrying' or 'failed' event. Every key is read before the first write.
local logSize, logTtl = tonumber(ARGV[4]), tonumber(ARGV[5])
-- this call's events are one entry
emit_hold()
local ids, tokens, errs, delays = {}, {}, {}, {}
for i = 6, #ARGV, 4 do
  local id = ARGV[i]
  ids[#ids + 1] = id
  tokens[#tokens + 1] = ARGV[i + 1]
  errs[id] = ARGV[i + 2]
  delays[id] = tonumber(ARGV[i + 3])
end
local n, rearm = tonumber(ARGV[1]), ARGV[2] == '1'
local o = optional({ 'payload', 'rerun', 'scheduled', 'options', 'attempts', 'stalls', 'progress', 'superseded', 'deadline', 'prioritized', 'control', 'groups', 'glimited', 'gactive' })
present(K.committed, 'set')
local flags, live, _, ended, cut = end_runs_read(ids, tokens, false, o.superseded)
-- Retries first; of the runs that fail for good, those with a rerun pending go again.
local retry, final = {}, {}
for _, id in ipairs(ended) do
  if delays[id] then retry[#retry + 1] = id else final[#final + 1] = id end
end
local again, over = {}, final
if o.rerun and #final > 0 then
  local pending = redis.call('SMISMEMBER', K.rerun, unpack(final))
  over = {}
  for i, id in ipairs(final) do
    if pending[i] == 1 then again[#again + 1] = id else over[#over + 1] = id end
  end
end
record_failure_check()
local groups = group_end_read(live, o.gactive or false)
enqueue_read(again)
enqueue_read(retry)
enqueue_read(cut)
local now = clock()
local due = claim_due(o, now)
local plan = claim_check(o, n, rearm, true, due, #live)
if #live > 0 then events_read() end
if #over + #again > 0 then results_read() end
local next = claim_pop(o, plan, due)

end_runs_write(o, live, again, cut)
group_end(groups)
if o.rerun and #retry > 0 then redis.call('SREM', K.rerun, unpack(retry)) end
if #over > 0 then redis.call('SREM', K.committed, unpack(over)) end
local now_queue, later = {}, {}
for _, id in ipairs(retry) do
  emit('retrying', id, 'attempt', redis.call('HINCRBY', K.attempts, id, 1), 'delay', delays[id], 'error', errs[id])
  if delays[id] > 0 then
    later[#later + 1] = now + delays[id]
    later[#later + 1] = id
  else
    now_queue[#now_queue + 1] = id
  end
end
enqueue(again)
enqueue(cut)
enqueue(now_queue)
schedule(later)
-- the claim below tells the worker when the earliest of them falls due
if #later > 0 then o.scheduled = true end
local out = claim_write(o, plan, next, due, rearm, tonumber(ARGV[3]), #live)
for _, id in ipairs(retry) do log_error(errs[id], logSize, logTtl) end
-- A rerun that was asked for starts afresh; the others failed for good.
for _, id in ipairs(again) do
  if o.attempts then redis.call('HDEL', K.attempts, id) end
  log_error(errs[id], logSize, logTtl)
  emit('failed', id, 'error', errs[id])
end
for _, id in ipairs(over) do
  local attempt = redis.call('HINCRBY', K.attempts, id, 1)
  if o.progress then redis.call('HDEL', K.progress, id) end
  record_failure(id, errs[id], logSize, logTtl)
  emit('failed', id, 'attempt', attempt, 'error', errs[id])
end
if KEEP and #over + #again > 0 then
  for _, ids in ipairs({ again, over }) do
    for _, id in ipairs(ids) do keep_result(id, 'e' .. errs[id], now) end
  end
  keep_trim(now, #over + #again)
end
emit_flush()
table.insert(out, 1, flags)
return out
