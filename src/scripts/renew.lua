-- renew: a live worker renews the leases of its runs in one call, and recovers
-- the runs of any worker whose leases lapsed (it died, hung, or lost Redis for
-- longer than its lease): automatic stall recovery, with no cron.
-- KEYS: queued processing leases rerun failed failinfo errors wake
-- ARGV: lease (ms), recovery limit, error log size, error log TTL (s), then
--       pairs: id, token (this worker's runs)
-- INCLUDE: present enqueue record-failure
-- Returns {flags, stalled id, ...}: flags has '1' for each pair that is still
-- the current claim (its lease is renewed) and '0' for a run that is no longer
-- this worker's (stop it: its result will change nothing).
-- Keeps: a stalled ID moves from processing (and leases) to the tail of queued
-- in one step; its failure count goes up by one, as for a jam. Removing it from
-- processing voids the old claim (fencing). Every key is read before the first write.
local leaseMs, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local logSize, logTtl = tonumber(ARGV[3]), tonumber(ARGV[4])
local ids, tokens = {}, {}
for i = 5, #ARGV, 2 do
  ids[#ids + 1] = ARGV[i]
  tokens[#tokens + 1] = ARGV[i + 1]
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

present(K.processing, 'zset')
present(K.rerun, 'set')
record_failure_check()
local len = enqueue_read()
local flags, mine, renewing = {}, {}, {}
if #ids > 0 then
  local scores = redis.call('ZMSCORE', K.processing, unpack(ids))
  for i, id in ipairs(ids) do
    if scores[i] and tonumber(scores[i]) == tonumber(tokens[i]) then
      flags[i] = '1'
      mine[id] = true
      renewing[#renewing + 1] = now + leaseMs
      renewing[#renewing + 1] = id
    else
      flags[i] = '0'
    end
  end
end
local lapsed = redis.call('ZRANGEBYSCORE', K.leases, '-inf', now, 'LIMIT', 0, limit)
local stalled, orphan = {}, {}
if #lapsed > 0 then
  local scores = redis.call('ZMSCORE', K.processing, unpack(lapsed))
  for i, id in ipairs(lapsed) do
    if not mine[id] then
      if scores[i] then stalled[#stalled + 1] = id else orphan[#orphan + 1] = id end
    end
  end
end

if #renewing > 0 then redis.call('ZADD', K.leases, unpack(renewing)) end
if #orphan > 0 then redis.call('ZREM', K.leases, unpack(orphan)) end
local out = { table.concat(flags) }
if #stalled == 0 then return out end
-- The requeue itself is the rerun that was asked for.
redis.call('SREM', K.rerun, unpack(stalled))
redis.call('ZREM', K.processing, unpack(stalled))
redis.call('ZREM', K.leases, unpack(stalled))
enqueue(stalled, len)
for _, id in ipairs(stalled) do
  record_failure(id, cjson.encode({ id = id, message = 'stalled: its worker stopped renewing the lease', stalled = true, time = now }), logSize, logTtl)
  out[#out + 1] = id
end
return out
