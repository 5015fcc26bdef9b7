-- complete: end successful runs, then claim up to ARGV[1] next jobs for the
-- slots they free (one round trip per batch of completions).
-- KEYS: queued committed processing leases payload rerun scheduled options attempts stalls progress wake prioritized sequence groups gactive glimited control limiter superseded deadline events results resultorder
-- ARGV: n (jobs to claim), rearm ('1'/'0'), lease (ms), then triples: id,
--       token, result JSON (as stored; '' when results are not kept)
-- INCLUDE: present events results end-runs enqueue claim
-- Returns {flags, then what claim_write returns}: flags has '1' for each pair
-- that was still the current claim, '2' for one that a newer add superseded
-- (it changed nothing; the ID is queued again, afresh) and '0' for a stale
-- one, which changed nothing.
-- Keeps: a finished ID leaves processing and committed together (so it can be
-- queued again), with everything kept for it; with a pending rerun it moves
-- from processing back to queued, and so does a superseded one. Each
-- finished run's result is kept (with keepResults) and told as a 'completed'
-- event; a superseded run's is not. Every key is read before the first write.
local ids, tokens, results = {}, {}, {}
-- this call's events are one entry
emit_hold()
for i = 4, #ARGV, 3 do
  ids[#ids + 1] = ARGV[i]
  tokens[#tokens + 1] = ARGV[i + 1]
  results[ARGV[i]] = ARGV[i + 2]
end
local n, rearm = tonumber(ARGV[1]), ARGV[2] == '1'
-- Optional keys cost one EXISTS when a queue uses none of them.
local o = optional({ 'payload', 'rerun', 'scheduled', 'options', 'attempts', 'stalls', 'progress', 'superseded', 'deadline', 'prioritized', 'control', 'groups', 'glimited', 'gactive' })
present(K.committed, 'set')
local flags, live, again, over, cut = end_runs_read(ids, tokens, o.rerun, o.superseded)
local ended = group_end_read(live, o.gactive or false)
enqueue_read(again)
enqueue_read(cut)
local due = claim_due(o, o.scheduled and clock() or 0)
local plan = claim_check(o, n, rearm, true, due, #live)
if #live > 0 then
  events_read()
  results_read()
end
local next = claim_pop(o, plan, due)

end_runs_write(o, live, again, cut)
group_end(ended)
if #over > 0 then
  redis.call('SREM', K.committed, unpack(over))
  forget(o, over)
end
enqueue(again)
enqueue(cut)
-- the runs that count (a superseded one records nothing)
local done = {}
if #cut == 0 then done = live else
  local skip = {}
  for _, id in ipairs(cut) do skip[id] = true end
  for _, id in ipairs(live) do if not skip[id] then done[#done + 1] = id end end
end
if #done > 0 and KEEP then
  local now, records = clock(), {}
  for i, id in ipairs(done) do records[i] = 'r' .. results[id] end
  keep_results(done, records, now)
  emit_each('completed', done, function(i) return { 'result', results[done[i]] } end)
  keep_trim(now, #done)
else
  emit_each('completed', done)
end
local out = claim_write(o, plan, next, due, rearm, tonumber(ARGV[3]), #live)
emit_flush()
table.insert(out, 1, flags)
return out
