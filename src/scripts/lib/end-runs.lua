-- end_runs_read(ids, tokens, withRerun): which runs are still the current claim
-- of their ID, and which of those have a rerun pending. Reads only.
-- end_runs_write(o, live, again): take the live runs out of processing (and
-- their leases and progress) and clear the reruns they satisfy.
-- KEYS: processing leases rerun progress
-- A run whose claim was taken away (its lease lapsed, the jam guard requeued
-- it, it was removed; maybe another worker holds it now) is stale: it is left
-- out, so it changes nothing.
local function end_runs_read(ids, tokens, withRerun)
  local flags, live, again, over = {}, {}, {}, {}
  local scores = redis.call('ZMSCORE', K.processing, unpack(ids))
  for i, id in ipairs(ids) do
    if scores[i] and tonumber(scores[i]) == tonumber(tokens[i]) then
      live[#live + 1] = id
      flags[i] = '1'
    else
      flags[i] = '0'
    end
  end
  local pending = {}
  if withRerun and #live > 0 then pending = redis.call('SMISMEMBER', K.rerun, unpack(live)) end
  for i, id in ipairs(live) do
    if pending[i] == 1 then again[#again + 1] = id else over[#over + 1] = id end
  end
  return table.concat(flags), live, again, over
end

local function end_runs_write(o, live, again)
  if #live > 0 then
    redis.call('ZREM', K.processing, unpack(live))
    redis.call('ZREM', K.leases, unpack(live))
    if o.progress then redis.call('HDEL', K.progress, unpack(live)) end
  end
  if #again > 0 then redis.call('SREM', K.rerun, unpack(again)) end
end
