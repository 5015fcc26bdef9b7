-- enqueue_read(): how long the queued list is now (also checks its type before
-- any write). enqueue(ids, len): push IDs onto the tail of the queued list and,
-- when it was empty, leave one wake-up marker for workers blocked on the wake
-- list. The marker is written in the same script as the push, so a worker that
-- found the queue empty and then blocks cannot miss the job.
-- KEYS: queued wake
local function enqueue_read()
  return redis.call('LLEN', K.queued)
end

local function enqueue(ids, len)
  if #ids == 0 then return end
  redis.call('RPUSH', K.queued, unpack(ids))
  if len == 0 and redis.call('LLEN', K.wake) == 0 then
    redis.call('RPUSH', K.wake, '1')
  end
end
