-- enqueue_read(): checks the types of both keys enqueue writes (read before
-- any write). enqueue(ids, head): push IDs onto the tail of the queued list
-- (the head with `head`, keeping their order) and, when it was empty, leave one
-- wake-up marker for workers blocked on the wake list. The marker is written in
-- the same script as the push, so a worker that found the queue empty and then
-- blocks cannot miss the job.
-- KEYS: queued wake
local function enqueue_read()
  redis.call('LLEN', K.wake)
  return redis.call('LLEN', K.queued)
end

local function wake_up()
  if redis.call('LLEN', K.wake) == 0 then redis.call('RPUSH', K.wake, '1') end
end

local function enqueue(ids, head)
  if #ids == 0 then return end
  local len = redis.call('LLEN', K.queued)
  if head then
    for i = #ids, 1, -1 do redis.call('LPUSH', K.queued, ids[i]) end
  else
    redis.call('RPUSH', K.queued, unpack(ids))
  end
  if len == 0 then wake_up() end
end
