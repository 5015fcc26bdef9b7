-- enqueue(ids): push IDs onto the tail of the queued list and, when the list was
-- empty before, leave one wake-up marker for workers blocked on the wake list.
-- The marker is written in the same script as the push, so a worker that checks
-- the queue, finds it empty and then blocks cannot miss the job.
-- KEYS: queued wake
local function enqueue(ids)
  if #ids == 0 then return end
  local len = redis.call('RPUSH', K.queued, unpack(ids))
  if len == #ids and redis.call('LLEN', K.wake) == 0 then
    redis.call('RPUSH', K.wake, '1')
  end
end
