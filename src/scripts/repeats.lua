-- repeats: read the repeatable jobs (read only): the due ones, or all.
-- KEYS: repeats repeatspec
-- ARGV: '1' for the due ones only, '0' for all; the most to return
-- INCLUDE: present
-- Returns {Redis time (ms), ms until the earliest occurrence not returned (0
-- when the limit cut the due ones short) or false, then per repeat: id, next
-- occurrence (ms), stored spec ('<count> <spec JSON>') or false}.
local dueOnly, limit = ARGV[1] == '1', tonumber(ARGV[2])
local now = clock()
local out = { now, false }
if redis.call('EXISTS', K.repeats) == 0 then return out end
local list = redis.call('ZRANGEBYSCORE', K.repeats, '-inf', dueOnly and now or '+inf', 'WITHSCORES', 'LIMIT', 0, limit)
local ids = {}
for i = 1, #list, 2 do ids[#ids + 1] = list[i] end
if dueOnly then
  if #ids == limit then
    out[2] = 0
  else
    local later = redis.call('ZRANGEBYSCORE', K.repeats, '(' .. string.format('%d', now), '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
    if later[2] then out[2] = tonumber(later[2]) - now end
  end
end
if #ids == 0 then return out end
local specs = redis.call('HMGET', K.repeatspec, unpack(ids))
for i, id in ipairs(ids) do
  out[#out + 1] = id
  out[#out + 1] = list[2 * i]
  out[#out + 1] = specs[i]
end
return out
