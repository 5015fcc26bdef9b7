-- end_runs_read(ids, tokens, withRerun, withSuperseded): which runs are still
-- the current claim of their ID; of those, which a newer add superseded (cut)
-- and which of the others have a rerun pending (again) or not (over). Reads only.
-- end_runs_write(o, live, again, cut): take the live runs out of processing
-- (and their leases and progress) and clear the reruns they satisfy; the cut
-- IDs lose their mark, their rerun and their counts: the caller queues them
-- again, afresh, and records nothing of their run.
-- KEYS: processing leases rerun progress superseded attempts stalls
-- A run whose claim was taken away (its lease lapsed, the jam guard requeued
-- it, it was removed; maybe another worker holds it now) is stale: it is left
-- out, so it changes nothing. Returns flags: '1' live, '2' live but
-- superseded (its worker reports nothing), '0' stale.
local function end_runs_read(ids, tokens, withRerun, withSuperseded)
  local flags, live, liveAt, again, over, cut = {}, {}, {}, {}, {}, {}
  local scores = redis.call('ZMSCORE', K.processing, unpack(ids))
  for i, id in ipairs(ids) do
    if scores[i] and tonumber(scores[i]) == tonumber(tokens[i]) then
      live[#live + 1] = id
      liveAt[#live] = i
      flags[i] = '1'
    else
      flags[i] = '0'
    end
  end
  local marked, pending = {}, {}
  if withSuperseded and #live > 0 then marked = redis.call('SMISMEMBER', K.superseded, unpack(live)) end
  if withRerun and #live > 0 then pending = redis.call('SMISMEMBER', K.rerun, unpack(live)) end
  for i, id in ipairs(live) do
    if marked[i] == 1 then
      cut[#cut + 1] = id
      flags[liveAt[i]] = '2'
    elseif pending[i] == 1 then
      again[#again + 1] = id
    else
      over[#over + 1] = id
    end
  end
  return table.concat(flags), live, again, over, cut
end

local function end_runs_write(o, live, again, cut)
  if #live > 0 then
    redis.call('ZREM', K.processing, unpack(live))
    redis.call('ZREM', K.leases, unpack(live))
    if o.progress then redis.call('HDEL', K.progress, unpack(live)) end
  end
  if #again > 0 then redis.call('SREM', K.rerun, unpack(again)) end
  if cut and #cut > 0 then
    redis.call('SREM', K.superseded, unpack(cut))
    if o.rerun then redis.call('SREM', K.rerun, unpack(cut)) end
    if o.attempts then redis.call('HDEL', K.attempts, unpack(cut)) end
    if o.stalls then redis.call('HDEL', K.stalls, unpack(cut)) end
  end
end
