-- add_jobs(ids, extra, mode, wait): publish job IDs. An ID that is not
-- committed joins the committed set and the tail of the queued list (or, with
-- a delay, the scheduled zset) in one step. What an add does to an ID that is
-- committed already is the add's own policy, not the job's:
--   waiting (queued or scheduled): 'ignore' leaves it as it is; 'replace' sets
--     its payload and options to the add's and keeps its place, unless the add
--     gives a delay (0 too): then it is due at now + delay; 'debounce' sets its
--     payload and options and makes it due at now + the add's delay (a queued
--     ID leaves the list), but no later than its burst's deadline (the first
--     add of the burst + maxWait), kept in the deadline hash until the ID is
--     claimed. An ID that is due now stays queued (or is queued).
--   processing: 'ignore'; 'rerun' runs it once more when the run ends (with
--     the add's payload, when it gives one); 'supersede' marks the run
--     superseded (set superseded) and sets the payload and options: the run's
--     end changes nothing and queues the ID again, afresh (lib/end-runs.lua).
-- Adds of one ID within one call take effect in order.
-- ids: the IDs. extra[i]: nil for a job that carries nothing (most), else
-- { payload = JSON or '', options = JSON or '', delay = ms or nil (the add
-- gives none), waiting = policy or nil, processing = policy or nil,
-- maxWait = ms or nil }; nil policies take the queue's:
-- mode: the queue's policy for processing IDs ('ignore' | 'rerun' | 'supersede');
-- wait: nil ('ignore'), or { policy = the queue's policy for waiting IDs
-- ('ignore' | 'replace' | 'debounce'), maxWait = ms or nil }.
-- KEYS: queued committed processing payload rerun scheduled options attempts stalls failed failinfo wake superseded deadline
-- Returns one code per ID, as a string: '0' queued, '1' committed (already
-- queued or scheduled, or earlier in this same call, and left as it was), '2'
-- processing (with 'rerun' or 'supersede' it runs again after), '3' scheduled,
-- '4' replaced (its payload, options or due time are this add's).
-- Keeps: an ID enters queued or scheduled exactly when it enters committed, so
-- it is never in two states nor twice in the list; a waiting ID that moves
-- leaves one state as it enters the other. Every key is read before the first
-- write, so data of the wrong type fails the call before it changes anything.

-- Take a queued ID out of the queue: LREM, O(length of the queue).
local function unqueue(id)
  redis.call('LREM', K.queued, 0, id)
end

-- An add of an ID that waits (or was added earlier in this call), as plan p:
-- where it will be (at: false = queued, else due ms) and what it will carry.
local function wait_add(p, e, policy, maxWait, now)
  p.payload = e and e.payload or ''
  p.options = e and e.options or ''
  local delay = e and e.delay
  if policy == 'replace' then
    if delay then p.at = delay > 0 and now + delay or false end
    return
  end
  local at = now + (delay or 0)
  if maxWait then
    if not p.deadline then p.deadline, p.newDeadline = now + maxWait, true end
    at = math.min(at, p.deadline)
  end
  p.at = at > now and at
end

local function set_or_delete(key, exists, id, value)
  if value ~= '' then
    redis.call('HSET', key, id, value)
  elseif exists then
    redis.call('HDEL', key, id)
  end
end

local function add_jobs(ids, extra, mode, wait)
  wait = wait or {}
  local member = redis.call('SMISMEMBER', K.committed, unpack(ids))
  local now = nil

  -- Where each committed ID is (processing, or waiting: queued or scheduled),
  -- read only as far as its adds need it.
  local old, oldAt = {}, {}
  for i, id in ipairs(ids) do
    if member[i] == 1 then
      old[#old + 1] = id
      oldAt[#old] = i
    end
  end
  local running, placed, deadlines = {}, {}, {}
  if #old > 0 then
    local scores = redis.call('ZMSCORE', K.processing, unpack(old))
    local moving, wants = {}, false
    for j, id in ipairs(old) do
      if scores[j] then
        running[id] = true
      else
        local e = extra[oldAt[j]]
        local policy = e and e.waiting or wait.policy
        if policy == 'replace' or policy == 'debounce' then moving[#moving + 1] = id end
        if policy == 'debounce' and (e and e.maxWait or wait.maxWait) then wants = true end
      end
    end
    if #moving > 0 then
      local due = redis.call('ZMSCORE', K.scheduled, unpack(moving))
      local kept = (wants and present(K.deadline, 'hash')) and redis.call('HMGET', K.deadline, unpack(moving)) or {}
      for j, id in ipairs(moving) do
        placed[id] = due[j] and tonumber(due[j]) or false
        deadlines[id] = tonumber(kept[j])
      end
    end
  end

  -- Each add in order, as a plan per ID: fresh IDs, and the changes to committed ones.
  local codes, plans, fresh, changed = {}, {}, {}, {}
  for i, id in ipairs(ids) do
    local e, p = extra[i], plans[id]
    if not p and member[i] == 0 then
      -- the first add of a fresh ID
      local policy, delay = e and e.waiting or wait.policy, e and e.delay
      p = { payload = e and e.payload or '', options = e and e.options or '', at = false }
      plans[id] = p
      fresh[#fresh + 1] = id
      if policy == 'debounce' or (delay and delay > 0) then
        now = now or clock()
        wait_add(p, e, 'debounce', policy == 'debounce' and (e and e.maxWait or wait.maxWait), now)
      end
      codes[i] = p.at and '3' or '0'
    else
      if not p then
        p = { at = running[id] or placed[id], was = running[id] or placed[id], deadline = deadlines[id] }
        plans[id] = p
        if p.was ~= nil then changed[#changed + 1] = id end
      end
      if p.at == true then
        local policy = e and e.processing or mode
        codes[i] = '2'
        if policy == 'rerun' then
          p.rerun = true
          -- the newest payload given wins
          if e and e.payload and e.payload ~= '' then p.payload = e.payload end
        elseif policy == 'supersede' then
          p.supersede = true
          p.payload = e and e.payload or ''
          p.options = e and e.options or ''
        end
      else
        local policy = e and e.waiting or wait.policy
        if policy == 'replace' or policy == 'debounce' then
          now = now or clock()
          wait_add(p, e, policy, policy == 'debounce' and (e and e.maxWait or wait.maxWait), now)
          codes[i] = '4'
        else
          codes[i] = '1'
        end
      end
    end
  end

  -- Adding a failed ID again starts it afresh: its failure record goes.
  local refailed = {}
  if #fresh > 0 and redis.call('EXISTS', K.failed) == 1 then
    local scores = redis.call('ZMSCORE', K.failed, unpack(fresh))
    for j, id in ipairs(fresh) do
      if scores[j] then refailed[#refailed + 1] = id end
    end
    if #refailed > 0 then redis.call('HLEN', K.failinfo) end
  end
  local o = optional({ 'payload', 'rerun', 'scheduled', 'options', 'attempts', 'stalls', 'superseded', 'deadline' })
  enqueue_read()

  -- Writes: every key below has been read above.
  local queued, due = {}, {}
  for _, id in ipairs(fresh) do
    local at = plans[id].at
    if at then
      due[#due + 1] = at
      due[#due + 1] = id
    else
      queued[#queued + 1] = id
    end
  end
  if #fresh > 0 then redis.call('SADD', K.committed, unpack(fresh)) end
  -- Committed IDs that move: out of their state first, then in with the fresh ones.
  for _, id in ipairs(changed) do
    local p = plans[id]
    if p.at ~= p.was and p.at ~= true then
      if p.was == false then
        unqueue(id)
      elseif p.at == false then
        redis.call('ZREM', K.scheduled, id)
      end
      if p.at then
        due[#due + 1] = p.at
        due[#due + 1] = id
      elseif p.was then
        queued[#queued + 1] = id
      end
    end
  end
  enqueue(queued)
  schedule(due)
  for _, id in ipairs(fresh) do
    local p = plans[id]
    if p.payload ~= '' then redis.call('HSET', K.payload, id, p.payload) end
    if p.options ~= '' then redis.call('HSET', K.options, id, p.options) end
    if p.newDeadline then redis.call('HSET', K.deadline, id, p.deadline) end
  end
  for _, id in ipairs(refailed) do
    local p = plans[id]
    redis.call('ZREM', K.failed, id)
    redis.call('HDEL', K.failinfo, id)
    -- what was kept for inspection goes too, unless this add brought it anew
    if p.payload == '' and o.payload then redis.call('HDEL', K.payload, id) end
    if p.options == '' and o.options then redis.call('HDEL', K.options, id) end
    if o.attempts then redis.call('HDEL', K.attempts, id) end
    if o.stalls then redis.call('HDEL', K.stalls, id) end
  end
  for _, id in ipairs(changed) do
    local p = plans[id]
    if p.rerun then redis.call('SADD', K.rerun, id) end
    if p.supersede then redis.call('SADD', K.superseded, id) end
    if p.rerun and not p.supersede then
      if p.payload then redis.call('HSET', K.payload, id, p.payload) end
    elseif p.payload then
      set_or_delete(K.payload, o.payload, id, p.payload)
      set_or_delete(K.options, o.options, id, p.options)
    end
    if p.newDeadline then redis.call('HSET', K.deadline, id, p.deadline) end
  end
  return codes
end
