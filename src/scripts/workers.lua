-- workers: the live workers of the queue, as their lease renewals left them
-- (read only).
-- KEYS: workers workerinfo
-- ARGV: window (ms): workers not seen for longer are left out (they are
--       pruned only when some worker renews)
-- Returns {info JSON or false, last seen (ms), ...}, most recently seen first.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local seen = redis.call('ZRANGEBYSCORE', K.workers, now - tonumber(ARGV[1]), '+inf', 'WITHSCORES')
if #seen == 0 then return {} end
local ids = {}
for i = 1, #seen, 2 do ids[#ids + 1] = seen[i] end
local infos = redis.call('HMGET', K.workerinfo, unpack(ids))
local out = {}
for i = #ids, 1, -1 do
  out[#out + 1] = infos[i]
  out[#out + 1] = seen[2 * i]
end
return out
