-- Claiming, in two halves so a script can do every read before its first write.
-- claim_read(n): up to n IDs at the head of the queued list, and their payloads.
-- claim_write(ids, payloads, n, rearm): move those IDs into the processing zset,
-- scored by the Redis clock in microseconds at the claim. The score doubles as
-- the claim's fencing token: a later claim of the same ID (after a jam) never
-- matches an earlier worker's token.
-- KEYS: queued processing payload wake
-- claim_write returns a flat list {id, token, payload or false, ...}.
-- Keeps: the IDs leave queued and enter processing in the same script (nothing
-- is ever held only by a client). IDs pushed to the tail between the two halves
-- do not disturb the LTRIM, which drops exactly the IDs read at the head.
local function claim_read(n)
  if n <= 0 then return {}, {} end
  local ids = redis.call('LRANGE', K.queued, 0, n - 1)
  if #ids == 0 then return ids, {} end
  return ids, redis.call('HMGET', K.payload, unpack(ids))
end

local function claim_write(ids, payloads, n, rearm)
  if #ids == 0 then return {} end
  local t = redis.call('TIME')
  local token = t[1] .. string.format('%06d', tonumber(t[2]))
  local zargs, out = {}, {}
  for i, id in ipairs(ids) do
    zargs[2 * i - 1] = token
    zargs[2 * i] = id
    out[3 * i - 2] = id
    out[3 * i - 1] = token
    out[3 * i] = payloads[i]
  end
  redis.call('ZADD', K.processing, unpack(zargs))
  redis.call('LTRIM', K.queued, #ids, -1)
  -- A worker woken by the marker that filled every free slot passes the wake-up
  -- on, so other idle workers look at what is left.
  if rearm and #ids == n and redis.call('LLEN', K.queued) > 0 and redis.call('LLEN', K.wake) == 0 then
    redis.call('RPUSH', K.wake, '1')
  end
  return out
end
