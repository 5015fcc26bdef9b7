-- Kept results (the keepResults option; settings from lib/events.lua).
-- results_read(): type-check the kept results (only when results are kept);
-- call it before the script's first write.
-- keep_result(id, record, now): keep a finished run's record ('r' .. result
-- JSON, or 'e' .. its error record) with its ID, replacing an older one.
-- keep_trim(now, added): drop what is past the age or count bound: a bounded
-- amount per call, a little more than the call added, so it keeps up.
-- KEYS: results resultorder
local function results_read()
  if not KEEP then return end
  present(K.results, 'hash')
  present(K.resultorder, 'zset')
end

-- keep_results(ids, records, now): the same for many IDs, one HSET and one ZADD.
local function keep_results(ids, records, now)
  if #ids == 0 then return end
  local h, z = {}, {}
  for i, id in ipairs(ids) do
    h[2 * i - 1], h[2 * i] = id, records[i]
    z[2 * i - 1], z[2 * i] = now, id
  end
  redis.call('HSET', K.results, unpack(h))
  redis.call('ZADD', K.resultorder, unpack(z))
end

local function keep_result(id, record, now)
  keep_results({ id }, { record }, now)
end

local function keep_trim(now, added)
  local limit, gone = added + 100, {}
  if KEEP_AGE > 0 then gone = redis.call('ZRANGEBYSCORE', K.resultorder, '-inf', now - KEEP_AGE * 1000, 'LIMIT', 0, limit) end
  if KEEP_COUNT > 0 and #gone < limit then
    local over = redis.call('ZCARD', K.resultorder) - #gone - KEEP_COUNT
    if over > 0 then gone = redis.call('ZRANGE', K.resultorder, 0, #gone + math.min(over, limit - #gone) - 1) end
  end
  if #gone > 0 then
    redis.call('ZREM', K.resultorder, unpack(gone))
    redis.call('HDEL', K.results, unpack(gone))
  end
end
