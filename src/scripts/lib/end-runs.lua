-- end_runs(ids, tokens): keep only the runs whose (id, token) is still the current
-- claim, remove them from processing and split them into those with a pending
-- rerun (to be queued again) and those that are over.
-- KEYS: processing rerun
-- A run whose claim was taken away (jamGuard requeued it, maybe another worker
-- holds it now) is a stale run: it is left out, so it changes nothing.
local function end_runs(ids, tokens)
  local flags, live = {}, {}
  local scores = redis.call('ZMSCORE', K.processing, unpack(ids))
  for i, id in ipairs(ids) do
    if scores[i] and tonumber(scores[i]) == tonumber(tokens[i]) then
      live[#live + 1] = id
      flags[i] = '1'
    else
      flags[i] = '0'
    end
  end
  local again, over = {}, {}
  if #live > 0 then
    redis.call('ZREM', K.processing, unpack(live))
    local anyRerun = redis.call('EXISTS', K.rerun) == 1
    for _, id in ipairs(live) do
      if anyRerun and redis.call('SREM', K.rerun, id) == 1 then
        again[#again + 1] = id
      else
        over[#over + 1] = id
      end
    end
  end
  return table.concat(flags), again, over
end
