-- sweep: the jam guard. Runs that have been processing for longer than the idle
-- time (their worker died or hung) go back to the tail of the queued list; each
-- keeps its committed entry and payload, and its failure count goes up by one.
-- KEYS: queued processing leases payload rerun failed failinfo errors wake lock
-- ARGV: lock token, idle time (microseconds), batch limit, error log size,
--       error log TTL (s), lock lifetime (ms)
-- INCLUDE: present enqueue record-failure
-- Returns {id, payload or false, ...} of the requeued jobs, or false when the
-- caller no longer holds the sweep lock (so two sweepers never overlap).
-- Keeps: an ID moves from processing (and leases) to queued in one step;
-- removing it from processing voids the old claim, so the jammed worker's late
-- result is a no-op. Every key is read before the first write.
if redis.call('GET', K.lock) ~= ARGV[1] then return false end
local idle, limit = tonumber(ARGV[2]), tonumber(ARGV[3])
local logSize, logTtl = tonumber(ARGV[4]), tonumber(ARGV[5])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local ids = redis.call('ZRANGEBYSCORE', K.processing, '-inf', now - idle, 'LIMIT', 0, limit)
present(K.leases, 'zset')
present(K.rerun, 'set')
record_failure_check()
local len = enqueue_read()
local payloads = #ids > 0 and redis.call('HMGET', K.payload, unpack(ids)) or {}

redis.call('PEXPIRE', K.lock, ARGV[6])
if #ids == 0 then return {} end
-- The requeue itself is the rerun that was asked for.
redis.call('SREM', K.rerun, unpack(ids))
redis.call('ZREM', K.processing, unpack(ids))
redis.call('ZREM', K.leases, unpack(ids))
enqueue(ids, len)
local message = 'jammed: processing for more than ' .. (idle / 1000000) .. ' s'
local at = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for i, id in ipairs(ids) do
  record_failure(id, cjson.encode({ id = id, message = message, jammed = true, time = at }), logSize, logTtl)
  out[2 * i - 1] = id
  out[2 * i] = payloads[i]
end
return out
