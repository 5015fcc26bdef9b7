-- Claiming, in three parts so a script can end runs between them.
-- claim_check(rearm, processingRead): reads the type of every key claim_write
-- writes, so foreign data fails the script before the pop (call it before the
-- first write). The wake key is written only when passing a wake-up on, and a
-- script that already read the processing zset need not check it again.
-- claim_pop(n, withPayload): pop up to n IDs from the head of the queued list
-- (and read their payloads when the payload hash exists).
-- claim_write(ids, payloads, n, rearm, leaseMs): put the popped IDs into the
-- processing zset, scored by the Redis clock in microseconds at the claim, and
-- give each a lease of leaseMs in the leases zset. The score is also the
-- claim's fencing token: a later claim of the same ID (after a stall or a jam)
-- never matches an earlier worker's token.
-- KEYS: queued processing leases payload wake
-- claim_write returns {token, id, payload or false, id, payload or false, ...}
-- ({} when nothing was claimed).
-- Keeps: popped IDs enter processing in the same script (nothing is ever held
-- only by a client), each with a lease, so a claim whose reply is lost is
-- recovered when its lease lapses.
local function claim_check(rearm, processingRead)
  if not processingRead then present(K.processing, 'zset') end
  present(K.leases, 'zset')
  if rearm then redis.call('LLEN', K.wake) end
end

local function claim_pop(n, withPayload)
  if n <= 0 then return {}, {} end
  local ids = redis.call('LPOP', K.queued, n)
  if not ids then return {}, {} end
  if withPayload then return ids, redis.call('HMGET', K.payload, unpack(ids)) end
  return ids, {}
end

local function claim_write(ids, payloads, n, rearm, leaseMs)
  if #ids == 0 then
    -- A worker that was woken but takes nothing (it is stopping) passes the
    -- wake-up on, so the marker is not lost while jobs wait.
    if rearm and redis.call('LLEN', K.queued) > 0 and redis.call('LLEN', K.wake) == 0 then
      redis.call('RPUSH', K.wake, '1')
    end
    return {}
  end
  local t = redis.call('TIME')
  local token = t[1] .. string.format('%06d', tonumber(t[2]))
  local expiry = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + leaseMs
  local zargs, largs, out = {}, {}, { token }
  for i, id in ipairs(ids) do
    zargs[2 * i - 1] = token
    zargs[2 * i] = id
    largs[2 * i - 1] = expiry
    largs[2 * i] = id
    out[2 * i] = id
    out[2 * i + 1] = payloads[i] or false
  end
  redis.call('ZADD', K.processing, unpack(zargs))
  redis.call('ZADD', K.leases, unpack(largs))
  -- A worker woken by the marker that filled every free slot passes the wake-up
  -- on, so other idle workers look at what is left.
  if rearm and #ids == n and redis.call('LLEN', K.queued) > 0 and redis.call('LLEN', K.wake) == 0 then
    redis.call('RPUSH', K.wake, '1')
  end
  return out
end
