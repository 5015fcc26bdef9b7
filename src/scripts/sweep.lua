-- sweep: the jam guard. Runs that have been processing for longer than the idle
-- time since their claim (a hard cap on run time) go back to the tail of the
-- queued list, keeping their committed entry, payload and options; the jam is
-- logged in the error log (no failure record: the job is not failed).
-- KEYS: queued processing leases payload rerun progress errors wake lock options prioritized sequence groups gactive glimited control superseded events
-- ARGV: lock token, idle time (microseconds), batch limit, error log size,
--       error log TTL (s), lock lifetime (ms)
-- INCLUDE: present events enqueue
-- Returns {id, payload or false, ...} of the requeued jobs, or false when the caller no longer
-- holds the sweep lock (so two sweepers never overlap).
-- Keeps: an ID moves from processing (and leases) to queued in one step;
-- removing it from processing voids the old claim, so the jammed worker's late
-- result is a no-op. Every key is read before the first write.
if redis.call('GET', K.lock) ~= ARGV[1] then return false end
local idle, limit = tonumber(ARGV[2]), tonumber(ARGV[3])
local logSize, logTtl = tonumber(ARGV[4]), tonumber(ARGV[5])
local now, token = clock()
local ids = redis.call('ZRANGEBYSCORE', K.processing, '-inf', tonumber(token) - idle, 'LIMIT', 0, limit)
local o = optional({ 'payload', 'rerun', 'progress', 'superseded' })
local payloads = (o.payload and #ids > 0) and redis.call('HMGET', K.payload, unpack(ids)) or {}
present(K.leases, 'zset')
present(K.errors, 'list')
enqueue_read(ids)
local ended = group_end_read(ids)
if #ids > 0 then events_read() end

redis.call('PEXPIRE', K.lock, ARGV[6])
if #ids == 0 then return {} end
-- The requeue itself is the rerun (or the superseding run) that was asked for.
if o.rerun then redis.call('SREM', K.rerun, unpack(ids)) end
if o.superseded then redis.call('SREM', K.superseded, unpack(ids)) end
redis.call('ZREM', K.processing, unpack(ids))
redis.call('ZREM', K.leases, unpack(ids))
if o.progress then redis.call('HDEL', K.progress, unpack(ids)) end
group_end(ended)
enqueue(ids)
local message = 'jammed: processing for more than ' .. (idle / 1000000) .. ' s'
local out = {}
for i, id in ipairs(ids) do
  redis.call('LPUSH', K.errors, cjson.encode({ id = id, message = message, jammed = true, time = now }))
  emit('stalled', id, 'jammed', '1')
  out[2 * i - 1] = id
  out[2 * i] = payloads[i] or false
end
redis.call('LTRIM', K.errors, 0, logSize - 1)
redis.call('EXPIRE', K.errors, logTtl)
return out
