-- complete: end successful runs, then claim up to ARGV[1] next jobs for the
-- slots they free (one round trip per batch of completions).
-- KEYS: queued committed processing leases payload rerun scheduled options attempts stalls progress wake prioritized sequence groups gactive glimited control limiter events results resultorder
-- ARGV: n (jobs to claim), rearm ('1'/'0'), lease (ms), then triples: id,
--       token, result JSON (as stored; '' when results are not kept)
-- INCLUDE: present events results end-runs enqueue claim
-- Returns {flags, then what claim_write returns}: flags has '1' for each pair
-- that was still the current claim and '0' for a stale one, which changed nothing.
-- Keeps: a finished ID leaves processing and committed together (so it can be
-- queued again), with everything kept for it; with a pending rerun it moves
-- from processing back to queued. Each finished run's result is kept (with
-- keepResults) and told as a 'completed' event. Every key is read before the
-- first write.
local ids, tokens, results = {}, {}, {}
for i = 4, #ARGV, 3 do
  ids[#ids + 1] = ARGV[i]
  tokens[#tokens + 1] = ARGV[i + 1]
  results[ARGV[i]] = ARGV[i + 2]
end
local n, rearm = tonumber(ARGV[1]), ARGV[2] == '1'
-- Optional keys cost one EXISTS when a queue uses none of them.
local o = optional({ 'payload', 'rerun', 'scheduled', 'options', 'attempts', 'stalls', 'progress', 'prioritized', 'control', 'groups', 'glimited' })
present(K.committed, 'set')
local flags, live, again, over = end_runs_read(ids, tokens, o.rerun)
local ended = group_end_read(live)
enqueue_read(again)
local due = claim_due(o, o.scheduled and clock() or 0)
local plan = claim_check(o, n, rearm, true, due, #live)
if #live > 0 then
  events_read()
  results_read()
end
local next = claim_pop(o, plan, due)

end_runs_write(o, live, again)
group_end(ended)
if #over > 0 then
  redis.call('SREM', K.committed, unpack(over))
  forget(o, over)
end
enqueue(again)
if #live > 0 and KEEP then
  local now = clock()
  for _, id in ipairs(live) do
    keep_result(id, 'r' .. results[id], now)
    emit('completed', id, 'result', results[id])
  end
  keep_trim(now, #live)
else
  for _, id in ipairs(live) do emit('completed', id) end
end
local out = claim_write(o, plan, next, due, rearm, tonumber(ARGV[3]), #live)
table.insert(out, 1, flags)
return out
