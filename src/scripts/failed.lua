-- failed: read a page of failure records, most failures first (read only).
-- KEYS: failed failinfo payload
-- ARGV: offset, count
-- Returns {id, count, last error JSON or false, payload or false, ...}.
local first = tonumber(ARGV[1])
local rows = redis.call('ZRANGE', K.failed, first, first + tonumber(ARGV[2]) - 1, 'REV', 'WITHSCORES')
if #rows == 0 then return {} end
local ids = {}
for i = 1, #rows, 2 do ids[#ids + 1] = rows[i] end
local infos = redis.call('HMGET', K.failinfo, unpack(ids))
local payloads = redis.call('HMGET', K.payload, unpack(ids))
local out = {}
for i, id in ipairs(ids) do
  out[#out + 1] = id
  out[#out + 1] = rows[2 * i]
  out[#out + 1] = infos[i]
  out[#out + 1] = payloads[i]
end
return out
