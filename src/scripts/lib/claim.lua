-- claim(n, rearm): move up to n IDs from the head of the queued list into the
-- processing zset. The score is the Redis clock in microseconds at the claim; it
-- doubles as the claim's fencing token, so a later claim of the same ID (after a
-- jam) never matches an earlier worker's token.
-- KEYS: queued processing payload wake
-- Returns a flat list {id, token, payload or false, ...}.
-- Keeps: each popped ID is added to processing in the same script (nothing is
-- ever held only by a client).
local function claim(n, rearm)
  if n <= 0 then return {} end
  local ids = redis.call('LPOP', K.queued, n)
  if not ids then return {} end
  local t = redis.call('TIME')
  local token = t[1] .. string.format('%06d', tonumber(t[2]))
  local zargs = {}
  for i, id in ipairs(ids) do
    zargs[2 * i - 1] = token
    zargs[2 * i] = id
  end
  redis.call('ZADD', K.processing, unpack(zargs))
  local payloads = redis.call('HMGET', K.payload, unpack(ids))
  local out = {}
  for i, id in ipairs(ids) do
    out[#out + 1] = id
    out[#out + 1] = token
    out[#out + 1] = payloads[i]
  end
  -- A worker woken by the marker that filled every free slot passes the wake-up
  -- on, so other idle workers look at what is left.
  if rearm and #ids == n and redis.call('LLEN', K.queued) > 0 and redis.call('LLEN', K.wake) == 0 then
    redis.call('RPUSH', K.wake, '1')
  end
  return out
end
