-- schedule(pairs): put IDs into the scheduled zset at their due times
-- ({due, id, due, id, ...}, ms on the Redis clock). When one of them becomes the
-- earliest due job, leave a wake-up marker: idle workers wake, find nothing
-- due, and block again until the new earliest due time (no polling).
-- Read first: enqueue_read() (the wake key) and present(K.scheduled).
-- KEYS: scheduled wake
local function schedule(pairs)
  if #pairs == 0 then return end
  local first = redis.call('ZRANGE', K.scheduled, 0, 0, 'WITHSCORES')
  local earliest = first[2] and tonumber(first[2]) or nil
  redis.call('ZADD', K.scheduled, unpack(pairs))
  for i = 1, #pairs, 2 do
    if not earliest or pairs[i] < earliest then
      wake_up()
      return
    end
  end
end
