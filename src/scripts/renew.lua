-- renew: a live worker renews the leases of its runs in one call, and recovers
-- the runs of any worker whose leases lapsed (it died, hung, or lost Redis for
-- longer than its lease): automatic stall recovery, with no cron. A stalled run
-- goes back to the tail of the queue, or fails for good once its stalls pass
-- its stallLimit (default 1). It also keeps this worker in the registry of
-- live workers (getWorkers) and forgets those not seen for two leases.
-- KEYS: queued committed processing leases rerun options stalls progress failed failinfo errors wake workers workerinfo prioritized sequence groups gactive glimited control repeats superseded attempts events results resultorder
-- ARGV: lease (ms), recovery limit, error log size, error log TTL (s), worker
--       id, worker info JSON ('' when unchanged since its last renewal), then
--       pairs: id, token (this worker's runs)
-- INCLUDE: present events results enqueue record-failure
-- Returns {flags, {requeued id, ...}, {failed id, ...}, 1 when the registry
-- wants this worker's info, ms until the earliest occurrence of a repeatable
-- job or false}: flags has '1' for each
-- pair that is still the current claim (its lease is renewed), '2' for one
-- that is still this worker's but was superseded by a newer add (its lease is
-- renewed; abort it: its result will change nothing) and '0' for a run that
-- is no longer this worker's (stop it: its result will change nothing).
-- Keeps: a stalled ID moves from processing (and leases) to queued, or leaves
-- committed with a failure record, in one step. Removing it from processing
-- voids the old claim (fencing). A superseded run that stalled goes back to
-- the queue afresh (its counts and its mark go; it counts no stall). Every
-- key is read before the first write;
-- an idle worker's renewal reads and writes only what it must (it runs every
-- stallTimeout / 3 on every worker).
local leaseMs, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local logSize, logTtl = tonumber(ARGV[3]), tonumber(ARGV[4])
local worker, info = ARGV[5], ARGV[6]
local ids, tokens = {}, {}
for i = 7, #ARGV, 2 do
  ids[#ids + 1] = ARGV[i]
  tokens[#tokens + 1] = ARGV[i + 1]
end
local now = clock()

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
  if #renewing > 0 and present(K.superseded, 'set') then
    local marked = redis.call('SMISMEMBER', K.superseded, unpack(ids))
    for i = 1, #ids do
      if marked[i] == 1 and flags[i] == '1' then flags[i] = '2' end
    end
  end
end
local lapsed = limit > 0 and redis.call('ZRANGEBYSCORE', K.leases, '-inf', now, 'LIMIT', 0, limit) or {}
local gone = redis.call('ZRANGEBYSCORE', K.workers, '-inf', now - 2 * leaseMs)
if info ~= '' or #gone > 0 then present(K.workerinfo, 'hash') end
local stalled, orphan = {}, {}
if #lapsed > 0 then
  local scores = redis.call('ZMSCORE', K.processing, unpack(lapsed))
  for i, id in ipairs(lapsed) do
    if not mine[id] then
      if scores[i] then stalled[#stalled + 1] = id else orphan[#orphan + 1] = id end
    end
  end
end
-- Each stalled run counts against its job's stallLimit.
local o, back, dead, counts, cut, ended = {}, {}, {}, {}, {}, {}
if #stalled > 0 then
  o = optional({ 'rerun', 'options', 'stalls', 'progress', 'superseded', 'attempts' })
  present(K.committed, 'set')
  record_failure_check()
  local opts = o.options and redis.call('HMGET', K.options, unpack(stalled)) or {}
  local seen = o.stalls and redis.call('HMGET', K.stalls, unpack(stalled)) or {}
  local marked = o.superseded and redis.call('SMISMEMBER', K.superseded, unpack(stalled)) or {}
  for i, id in ipairs(stalled) do
    local stallLimit = 1
    if opts[i] then
      local ok, parsed = pcall(cjson.decode, opts[i])
      if ok and type(parsed) == 'table' and tonumber(parsed.stallLimit) then stallLimit = tonumber(parsed.stallLimit) end
    end
    counts[id] = (tonumber(seen[i]) or 0) + 1
    if marked[i] == 1 then
      cut[#cut + 1] = id
    elseif counts[id] > stallLimit then
      dead[#dead + 1] = id
    else
      back[#back + 1] = id
    end
  end
  enqueue_read(back)
  enqueue_read(cut)
  ended = group_end_read(stalled)
  events_read()
  if #dead > 0 then results_read() end
end

if #gone > 0 then
  redis.call('ZREM', K.workers, unpack(gone))
  redis.call('HDEL', K.workerinfo, unpack(gone))
end
-- A worker new to the registry (or pruned from it) that sent no info is asked for it.
local askInfo = redis.call('ZADD', K.workers, now, worker) == 1 and info == ''
if info ~= '' then redis.call('HSET', K.workerinfo, worker, info) end
if #renewing > 0 then redis.call('ZADD', K.leases, unpack(renewing)) end
if #orphan > 0 then redis.call('ZREM', K.leases, unpack(orphan)) end
-- Repeatable jobs (only a queue that has some reads more): when the earliest
-- is due, for this worker's scheduler. Data of another type is left to the
-- repeat scripts to report: it must not stop lease renewal.
local repeatDue = false
if redis.call('TYPE', K.repeats)['ok'] == 'zset' then
  local first = redis.call('ZRANGE', K.repeats, 0, 0, 'WITHSCORES')
  if first[2] then repeatDue = tonumber(first[2]) - now end
end
local requeued = { unpack(back) }
for _, id in ipairs(cut) do requeued[#requeued + 1] = id end
local out = { table.concat(flags), requeued, dead, askInfo and 1 or 0, repeatDue }
if #stalled == 0 then return out end
-- The requeue itself is the rerun that was asked for.
if o.rerun then redis.call('SREM', K.rerun, unpack(stalled)) end
redis.call('ZREM', K.processing, unpack(stalled))
redis.call('ZREM', K.leases, unpack(stalled))
if o.progress then redis.call('HDEL', K.progress, unpack(stalled)) end
group_end(ended)
enqueue(requeued)
if #dead > 0 then redis.call('SREM', K.committed, unpack(dead)) end
if #cut > 0 then
  redis.call('SREM', K.superseded, unpack(cut))
  if o.attempts then redis.call('HDEL', K.attempts, unpack(cut)) end
  if o.stalls then redis.call('HDEL', K.stalls, unpack(cut)) end
end
for _, list in ipairs({ back, dead }) do
  for _, id in ipairs(list) do redis.call('HSET', K.stalls, id, counts[id]) end
end
for _, id in ipairs(back) do
  local err = cjson.encode({ id = id, name = 'StalledError', message = 'stalled: its worker stopped renewing the lease; back in the queue', stalled = true, time = now })
  log_error(err, logSize, logTtl)
  emit('stalled', id, 'count', counts[id])
end
for _, id in ipairs(dead) do
  local err = cjson.encode({ id = id, name = 'StalledError', message = 'stalled ' .. counts[id] .. ' times, more than its stallLimit allows', stalled = true, time = now })
  record_failure(id, err, logSize, logTtl)
  emit('stalled', id, 'count', counts[id])
  emit('failed', id, 'error', err)
  if KEEP then keep_result(id, 'e' .. err, now) end
end
if KEEP and #dead > 0 then keep_trim(now, #dead) end
return out
