-- Claiming, in parts so a script can end runs between them.
-- claim_check(o, rearm, processingRead): reads the type of every key the claim
--   writes, so foreign data fails the script before its first write.
-- claim_due(o, now): the scheduled IDs that are due (read only).
-- claim_pop(n, due): the due IDs join the tail of the queue, then up to n IDs
--   leave its head.
-- claim_write(o, ids, due, n, rearm, leaseMs): put the popped IDs into the
--   processing zset, scored by the Redis clock in microseconds at the claim,
--   each with a lease of leaseMs in the leases zset. The score is the claim's
--   fencing token: a later claim of the same ID (after a stall or a jam) never
--   matches an earlier worker's token.
-- o: optional(...) of the calling script (payload, scheduled, options, attempts, deadline).
-- KEYS: queued processing leases payload scheduled options attempts wake deadline
-- claim_write returns {token or false, ms until the next scheduled job is due
-- (when it claimed fewer than n) or false, then per job:
-- id, payload or false, options JSON or false, failed attempts so far or false}.
-- Keeps: popped IDs enter processing in the same script (nothing is ever held
-- only by a client), each with a lease, so a claim whose reply is lost is
-- recovered when its lease lapses. A due ID moves from scheduled to queued in
-- one step. A claimed ID's debounce burst is over: its deadline goes.
local function claim_check(o, rearm, processingRead)
  if not processingRead then present(K.processing, 'zset') end
  present(K.leases, 'zset')
  if rearm or o.scheduled then redis.call('LLEN', K.wake) end
  -- due jobs are pushed onto the queue before the pop, the first write
  if o.scheduled then redis.call('LLEN', K.queued) end
end

local function claim_due(o, now)
  if not o.scheduled then return {} end
  return redis.call('ZRANGEBYSCORE', K.scheduled, '-inf', now, 'LIMIT', 0, 1000)
end

local function claim_pop(n, due)
  if #due > 0 then
    redis.call('ZREM', K.scheduled, unpack(due))
    redis.call('RPUSH', K.queued, unpack(due))
  end
  if n <= 0 then return {} end
  return redis.call('LPOP', K.queued, n) or {}
end

local function claim_write(o, ids, due, n, rearm, leaseMs)
  local out = { false, false }
  if #ids > 0 then
    local payloads = o.payload and redis.call('HMGET', K.payload, unpack(ids)) or {}
    local opts = o.options and redis.call('HMGET', K.options, unpack(ids)) or {}
    local used = o.attempts and redis.call('HMGET', K.attempts, unpack(ids)) or {}
    local now, token = clock()
    local zargs, largs = {}, {}
    for i, id in ipairs(ids) do
      zargs[2 * i - 1] = token
      zargs[2 * i] = id
      largs[2 * i - 1] = now + leaseMs
      largs[2 * i] = id
      out[#out + 1] = id
      out[#out + 1] = payloads[i] or false
      out[#out + 1] = opts[i] or false
      out[#out + 1] = used[i] or false
    end
    redis.call('ZADD', K.processing, unpack(zargs))
    redis.call('ZADD', K.leases, unpack(largs))
    if o.deadline then redis.call('HDEL', K.deadline, unpack(ids)) end
    out[1] = token
  end
  if #ids < n and o.scheduled then
    local first = redis.call('ZRANGE', K.scheduled, 0, 0, 'WITHSCORES')
    if first[2] then out[2] = tonumber(first[2]) - clock() end
  end
  -- A worker woken by the marker that filled every free slot (or that moved
  -- due jobs in) passes the wake-up on when jobs are left, so other idle
  -- workers look at them. A marker passed on unused (n = 0: a wait that ended
  -- by its own timer took it late) may have announced a new earliest
  -- scheduled job: it goes back while any job is scheduled too.
  if ((rearm and #ids == n) or #due > 0) and (redis.call('LLEN', K.queued) > 0 or (n == 0 and o.scheduled)) then wake_up() end
  return out
end
