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
-- KEYS: queued committed processing payload rerun scheduled options attempts stalls failed failinfo wake superseded deadline prioritized sequence groups gactive glimited control events
-- Returns one code per ID, as a string: '0' queued, '1' committed (already
-- queued or scheduled, or earlier in this same call, and left as it was), '2'
-- processing (with 'rerun' or 'supersede' it runs again after), '3' scheduled,
-- '4' replaced (its payload, options or due time are this add's).
-- Keeps: an ID enters queued or scheduled exactly when it enters committed, so
-- it is never in two states nor twice in the list; a waiting ID that moves
-- leaves one state as it enters the other. Every key is read before the first
-- write, so data of the wrong type fails the call before it changes anything.

-- Where a waiting job will be after a 'replace' or 'debounce' add (delay: the
-- add's, or nil when it gives none): its due time (false: queued), its burst's
-- deadline (or nil), and whether this add set that deadline.
local function move(policy, delay, at, deadline, maxWait, now)
  if policy == 'replace' then
    if delay then at = delay > 0 and now + delay end
    return at, deadline, false
  end
  local due, set = now + (delay or 0), false
  if maxWait then
    if not deadline then deadline, set = now + maxWait, true end
    due = math.min(due, deadline)
  end
  return due > now and due, deadline, set
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

  -- Each add in order. A fresh ID is kept by the index of its first add (at:
  -- its due time; dl: its deadline; pay, opt: what a later add of this call
  -- replaced); a committed ID that changes, by a plan.
  local codes, first, fresh, at, dl, pay, opt = {}, {}, {}, {}, {}, {}, {}
  local plans, changed = {}, {}
  local plain = (wait.policy or 'ignore') == 'ignore'
  for i, id in ipairs(ids) do
    local e, f = extra[i], first[id]
    local policy, maxWait
    -- (most jobs carry nothing: they skip this)
    if e or not plain then
      policy = e and e.waiting or wait.policy
      maxWait = policy == 'debounce' and (e and e.maxWait or wait.maxWait)
    end
    if member[i] == 0 and not f then
      first[id] = i
      fresh[#fresh + 1] = i
      local delay = e and e.delay
      if policy == 'debounce' or (delay and delay > 0) then
        now = now or clock()
        at[i], dl[i] = move('debounce', delay, false, nil, maxWait, now)
      end
      codes[i] = at[i] and '3' or '0'
    elseif running[id] then
      local p = plans[id] or { at = true }
      local rule = e and e.processing or mode
      codes[i] = '2'
      if rule == 'rerun' then
        p.rerun = true
        -- the newest payload given wins
        if e and e.payload and e.payload ~= '' then p.payload = e.payload end
      elseif rule == 'supersede' then
        p.supersede = true
        p.payload, p.options = e and e.payload or '', e and e.options or ''
      end
      if (p.rerun or p.supersede) and not plans[id] then
        plans[id] = p
        changed[#changed + 1] = id
      end
    elseif policy == 'replace' or policy == 'debounce' then
      now = now or clock()
      codes[i] = '4'
      local payload, options = e and e.payload or '', e and e.options or ''
      if f then
        pay[f], opt[f] = payload, options
        at[f], dl[f] = move(policy, e and e.delay, at[f], dl[f], maxWait, now)
      else
        local p = plans[id]
        if not p then
          p = { at = placed[id], was = placed[id], deadline = deadlines[id] }
          plans[id] = p
          changed[#changed + 1] = id
        end
        local set
        p.payload, p.options = payload, options
        p.at, p.deadline, set = move(policy, e and e.delay, p.at, p.deadline, maxWait, now)
        p.newDeadline = p.newDeadline or set
      end
    else
      codes[i] = '1'
    end
  end
  -- What a fresh ID carries: its first add's, unless a later add replaced it.
  local function carried(i)
    local e = extra[i]
    return pay[i] or (e and e.payload) or '', opt[i] or (e and e.options) or ''
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
  local o = optional({ 'payload', 'rerun', 'scheduled', 'options', 'attempts', 'stalls', 'superseded', 'deadline', 'control' })
  -- while the queue is paused, adds leave no wake-up marker (lib/enqueue.lua)
  if o.control then flow_control() end
  -- where each ID that joins the queue goes (lib/enqueue.lua), and what moves out of it
  local joining, joiningOpts, leaving = {}, {}, {}
  for j, i in ipairs(fresh) do
    local _, options = carried(i)
    joining[j], joiningOpts[j] = ids[i], options
  end
  for _, id in ipairs(changed) do
    local p = plans[id]
    if p.at ~= p.was and p.at ~= true then
      if p.was == false then leaving[#leaving + 1] = id end
      if not p.at then
        joining[#joining + 1] = id
        joiningOpts[#joining] = p.options ~= '' and p.options or redis.call('HGET', K.options, id) or ''
      end
    end
  end
  if #leaving > 0 then unqueue_read(leaving) end
  -- (schedule() below writes the wake key too: read it even when no ID joins the queue)
  enqueue_read(#joining > 0 and joining or nil, joiningOpts)
  if #fresh > 0 then events_read() end

  -- Writes: every key below has been read above.
  local queued, due, all = {}, {}, {}
  for _, i in ipairs(fresh) do
    local id = ids[i]
    all[#all + 1] = id
    if at[i] then
      due[#due + 1] = at[i]
      due[#due + 1] = id
    else
      queued[#queued + 1] = id
    end
  end
  if #all > 0 then redis.call('SADD', K.committed, unpack(all)) end
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
      else
        queued[#queued + 1] = id
      end
    end
  end
  enqueue(queued)
  schedule(due)
  for _, i in ipairs(fresh) do
    local payload, options = carried(i)
    if payload ~= '' then redis.call('HSET', K.payload, ids[i], payload) end
    if options ~= '' then redis.call('HSET', K.options, ids[i], options) end
    if dl[i] then redis.call('HSET', K.deadline, ids[i], dl[i]) end
  end
  -- one 'added' entry for the call's new jobs, one 'scheduled' entry for the delayed ones
  local added, later, delays = {}, {}, {}
  for _, i in ipairs(fresh) do
    if at[i] then
      later[#later + 1] = ids[i]
      delays[#later] = at[i] - now
    else
      added[#added + 1] = ids[i]
    end
  end
  emit_each('added', added)
  emit_each('scheduled', later, function(k) return { 'delay', delays[k] } end)
  for _, i in ipairs(refailed) do
    local id = ids[i]
    local payload, options = carried(i)
    redis.call('ZREM', K.failed, id)
    redis.call('HDEL', K.failinfo, id)
    -- what was kept for inspection goes too, unless this add brought it anew
    if payload == '' and o.payload then redis.call('HDEL', K.payload, id) end
    if options == '' and o.options then redis.call('HDEL', K.options, id) end
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
