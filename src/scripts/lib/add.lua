-- add_jobs(ids, extra, mode): publish job IDs. An ID that is not committed
-- joins the committed set and the tail of the queued list (or, with a delay,
-- the scheduled zset) in one step; a committed one is left where it is.
-- extra[i] is nil for a job that carries nothing (most), else
-- { payload = JSON or '', options = JSON or '', delay = ms or nil };
-- mode ('ignore' | 'rerun') is the policy for IDs that are processing.
-- KEYS: queued committed processing payload rerun scheduled options attempts stalls failed failinfo wake prioritized sequence groups gactive glimited control events
-- Returns one code per ID, as a string: '0' queued, '1' committed (already
-- queued or scheduled, or earlier in this same call), '2' processing (for mode
-- 'rerun': it will run once more after), '3' scheduled.
-- Keeps: an ID enters queued or scheduled exactly when it enters committed, so
-- it is never in two states nor twice in the list. Every key is read before
-- the first write, so data of the wrong type fails the call before it changes
-- anything.
local function add_jobs(ids, extra, mode)
  local payloads, options, delays = {}, {}, {}
  for i = 1, #ids do
    local e = extra[i]
    payloads[i] = e and e.payload or ''
    options[i] = e and e.options or ''
    delays[i] = e and e.delay
  end
  local member = redis.call('SMISMEMBER', K.committed, unpack(ids))

  local codes, fresh, seen, old, oldAt = {}, {}, {}, {}, {}
  for i, id in ipairs(ids) do
    if member[i] == 1 then
      old[#old + 1] = id
      oldAt[#old] = i
    elseif seen[id] then
      codes[i] = '1'
    else
      seen[id] = true
      fresh[#fresh + 1] = i
    end
  end

  local reruns = {}
  if #old > 0 then
    local scores = redis.call('ZMSCORE', K.processing, unpack(old))
    for j, id in ipairs(old) do
      local i = oldAt[j]
      if scores[j] then
        codes[i] = '2'
        if mode == 'rerun' then reruns[#reruns + 1] = i end
      else
        codes[i] = '1'
      end
    end
  end

  -- Adding a failed ID again starts it afresh: its failure record goes.
  local refailed = {}
  if #fresh > 0 and redis.call('EXISTS', K.failed) == 1 then
    local freshIds = {}
    for j, i in ipairs(fresh) do freshIds[j] = ids[i] end
    local scores = redis.call('ZMSCORE', K.failed, unpack(freshIds))
    for j, i in ipairs(fresh) do
      if scores[j] then refailed[#refailed + 1] = i end
    end
    if #refailed > 0 then redis.call('HLEN', K.failinfo) end
  end
  local o = optional({ 'payload', 'rerun', 'scheduled', 'options', 'attempts', 'stalls', 'control' })
  -- while the queue is paused, adds leave no wake-up marker (lib/enqueue.lua)
  if o.control then flow_control() end
  local freshIds, freshOpts = {}, {}
  for j, i in ipairs(fresh) do
    freshIds[j] = ids[i]
    freshOpts[j] = options[i]
  end
  enqueue_read(freshIds, freshOpts)
  if #fresh > 0 then events_read() end

  -- Writes: every key below has been read above.
  local now = nil
  local queued, due, all = {}, {}, {}
  for _, i in ipairs(fresh) do
    local id = ids[i]
    all[#all + 1] = id
    if delays[i] and delays[i] > 0 then
      now = now or clock()
      due[#due + 1] = now + delays[i]
      due[#due + 1] = id
      codes[i] = '3'
    else
      queued[#queued + 1] = id
      codes[i] = '0'
    end
  end
  if #all > 0 then redis.call('SADD', K.committed, unpack(all)) end
  enqueue(queued)
  schedule(due)
  for _, i in ipairs(fresh) do
    if payloads[i] ~= '' then redis.call('HSET', K.payload, ids[i], payloads[i]) end
    if options[i] ~= '' then redis.call('HSET', K.options, ids[i], options[i]) end
    if codes[i] == '3' then emit('scheduled', ids[i], 'delay', delays[i]) else emit('added', ids[i]) end
  end
  for _, i in ipairs(refailed) do
    local id = ids[i]
    redis.call('ZREM', K.failed, id)
    redis.call('HDEL', K.failinfo, id)
    -- what was kept for inspection goes too, unless this add brought it anew
    if payloads[i] == '' and o.payload then redis.call('HDEL', K.payload, id) end
    if options[i] == '' and o.options then redis.call('HDEL', K.options, id) end
    if o.attempts then redis.call('HDEL', K.attempts, id) end
    if o.stalls then redis.call('HDEL', K.stalls, id) end
  end
  for _, i in ipairs(reruns) do
    redis.call('SADD', K.rerun, ids[i])
    if payloads[i] ~= '' then redis.call('HSET', K.payload, ids[i], payloads[i]) end
  end
  return codes
end
