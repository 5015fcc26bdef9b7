-- Claiming, in parts so a script can end runs between them.
-- claim_check(o, n, rearm, processingRead, due, ending): reads the type of
--   every key the claim writes, so foreign data fails the script before its
--   first write, and works out how many jobs may start now under the queue's
--   flow control: none while paused or held back (RateLimitError), at most
--   what the global concurrency leaves (`ending` runs of this script end
--   first) and what the rate limit's sliding window allows. Returns the plan.
-- claim_due(o, now): the scheduled IDs that are due (read only).
-- claim_pop(o, plan, due): the due IDs join their places, then up to plan.n
--   IDs leave: the queued list first, then the prioritized zset (lowest
--   first), then the groups, one job per group per turn (round robin), each
--   group under its own concurrency and rate limit.
-- claim_write(o, plan, ids, due, rearm, leaseMs, freed): put the popped IDs
--   into the processing zset, scored by the Redis clock in microseconds at the
--   claim, each with a lease of leaseMs in the leases zset. The score is the
--   claim's fencing token: a later claim of the same ID (after a stall or a
--   jam) never matches an earlier worker's token.
-- o: optional(...) of the calling script (payload, scheduled, options,
-- attempts, deadline, prioritized, control, groups, glimited).
-- KEYS: queued processing leases payload scheduled options attempts wake prioritized sequence groups gactive glimited control limiter deadline events
-- claim_write returns {token or false, ms until the next scheduled job (or
-- held-back group) is due (when it claimed fewer than asked) or false, held
-- back: false, -1 (paused: wait for resume) or ms to wait before claiming
-- again, then per job: id, payload or false, options JSON or false, failed
-- attempts so far or false}.
-- Keeps: popped IDs enter processing in the same script (nothing is ever held
-- only by a client), each with a lease, so a claim whose reply is lost is
-- recovered when its lease lapses. A due ID moves from scheduled to its
-- waiting place in one step. Every start counts in the rate limit's window.
-- A claimed ID's debounce burst is over: its deadline goes.

-- The oldest start in a window that began at `since`, and when it leaves it.
local function window_opens(key, since, duration)
  local oldest = redis.call('ZRANGEBYSCORE', key, '(' .. since, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  return oldest[2] and tonumber(oldest[2]) + duration or since + duration
end

local function claim_check(o, n, rearm, processingRead, due, ending)
  if not processingRead then present(K.processing, 'zset') end
  present(K.leases, 'zset')
  if rearm or o.scheduled or o.control then redis.call('LLEN', K.wake) end
  -- due jobs that go to the prioritized zset or a group: look there too
  local toPrioritized, toGroups = enqueue_read(due)
  if toPrioritized then o.prioritized = true end
  if toGroups then o.groups = true end
  local plan = { n = n, asked = n, blocked = false }
  if o.control then
    local c = flow_control()
    local now = clock()
    plan.now = now
    if c.paused == 1 then
      plan.n, plan.blocked = 0, -1
    elseif c['until'] and c['until'] > now then
      plan.n, plan.blocked = 0, c['until'] - now
    else
      if c.concurrency then
        plan.n = math.max(0, math.min(plan.n, c.concurrency - redis.call('ZCARD', K.processing) + ending))
      end
      if c.max and c.duration then
        present(K.limiter, 'zset')
        local since = now - c.duration
        local left = c.max - redis.call('ZCOUNT', K.limiter, '(' .. since, '+inf')
        if left <= 0 and plan.n > 0 then
          plan.n, plan.blocked = 0, math.max(1, window_opens(K.limiter, since, c.duration) - now)
        end
        plan.n = math.max(0, math.min(plan.n, left))
        plan.rate = c
      end
    end
  end
  if o.groups and plan.n > 0 then
    -- the groups this claim may visit: those whose rate window reopened, and
    -- the first plan.n in turn (each turn moves a group behind the others)
    group_keys_read({})
    plan.now = plan.now or clock()
    plan.reopened = o.glimited and redis.call('ZRANGEBYSCORE', K.glimited, '-inf', plan.now) or {}
    group_keys_read(plan.reopened)
    group_keys_read(redis.call('ZRANGE', K.groups, 0, plan.n - 1))
  end
  if plan.n > 0 then events_read() end
  return plan
end

local function claim_due(o, now)
  if not o.scheduled then return {} end
  return redis.call('ZRANGEBYSCORE', K.scheduled, '-inf', now, 'LIMIT', 0, 1000)
end

-- Up to `need` jobs from the groups, one per group per turn.
local function claim_groups(plan, need, token)
  local c = flow_control()
  for _, g in ipairs(plan.reopened) do
    redis.call('ZREM', K.glimited, g)
    if tonumber(redis.call('ZSCORE', K.groups, g)) == BLOCKED and group_free(g) then group_turn(g) end
  end
  local taken = {}
  -- each pass takes a job or blocks a group: a bound, not a loop condition
  for _ = 1, 2 * need + 1 do
    if #taken >= need then break end
    local first = redis.call('ZRANGE', K.groups, 0, 0, 'WITHSCORES')
    if not first[1] or tonumber(first[2]) >= BLOCKED then break end
    local g, window = first[1], group_window(first[1])
    local since = c.gduration and plan.now - c.gduration
    if c.gmax and since and redis.call('ZCOUNT', window, '(' .. since, '+inf') >= c.gmax then
      redis.call('ZADD', K.glimited, window_opens(window, since, c.gduration), g)
      redis.call('ZADD', K.groups, exact(BLOCKED), g)
    else
      local list = group_list(g)
      local id = redis.call('LPOP', list)
      if id then
        taken[#taken + 1] = id
        redis.call('HINCRBY', K.gactive, g, 1)
        if since then
          redis.call('ZREMRANGEBYSCORE', window, '-inf', since)
          redis.call('ZADD', window, math.floor(tonumber(token) / 1000), token .. '.' .. #taken)
          redis.call('PEXPIRE', window, c.gduration)
        end
      end
      if not id or redis.call('LLEN', list) == 0 then redis.call('ZREM', K.groups, g) else group_turn(g) end
    end
  end
  return taken
end

local function claim_pop(o, plan, due)
  if #due > 0 then
    redis.call('ZREM', K.scheduled, unpack(due))
    enqueue(due)
  end
  local n = plan.n
  if n <= 0 then return {} end
  local ids = redis.call('LPOP', K.queued, n) or {}
  if #ids < n and o.prioritized then
    local rows = redis.call('ZPOPMIN', K.prioritized, n - #ids)
    for i = 1, #rows, 2 do ids[#ids + 1] = rows[i] end
  end
  -- the claim's token, read here only when groups or the rate limit log starts with it
  local token
  if (#ids < n and o.groups) or plan.rate then
    local _, t = clock()
    token = t
    plan.token = t
  end
  if #ids < n and o.groups then
    for _, id in ipairs(claim_groups(plan, n - #ids, token)) do ids[#ids + 1] = id end
  end
  if plan.rate and #ids > 0 then
    -- scored by the claim's own time (its token), which is the job's startedAt
    local args, at = {}, math.floor(tonumber(token) / 1000)
    for i = 1, #ids do
      args[2 * i - 1] = at
      args[2 * i] = token .. '.' .. i
    end
    redis.call('ZREMRANGEBYSCORE', K.limiter, '-inf', at - plan.rate.duration)
    redis.call('ZADD', K.limiter, unpack(args))
    redis.call('PEXPIRE', K.limiter, plan.rate.duration)
  end
  return ids
end

local function claim_write(o, plan, ids, due, rearm, leaseMs, freed)
  local n = plan.n
  local out = { false, false, plan.blocked }
  if #ids > 0 then
    local payloads = o.payload and redis.call('HMGET', K.payload, unpack(ids)) or {}
    local opts = o.options and redis.call('HMGET', K.options, unpack(ids)) or {}
    local used = o.attempts and redis.call('HMGET', K.attempts, unpack(ids)) or {}
    local now, token = clock()
    token = plan.token or token
    local zargs, largs = {}, {}
    for i, id in ipairs(ids) do
      zargs[2 * i - 1] = token
      zargs[2 * i] = id
      largs[2 * i - 1] = now + leaseMs
      largs[2 * i] = id
      out[#out + 1] = id
      out[#out + 1] = payloads[i] or false
      out[#out + 1] = opts[i] or false
      out[#out + 1] = used[i] or false
    end
    redis.call('ZADD', K.processing, unpack(zargs))
    redis.call('ZADD', K.leases, unpack(largs))
    if o.deadline then redis.call('HDEL', K.deadline, unpack(ids)) end
    emit_each('active', ids, function(i) return { 'attempt', (tonumber(used[i]) or 0) + 1 } end)
    out[1] = token
  end
  if #ids < n and (o.scheduled or o.glimited) then
    local first = o.scheduled and redis.call('ZRANGE', K.scheduled, 0, 0, 'WITHSCORES') or {}
    local limited = o.glimited and redis.call('ZRANGE', K.glimited, 0, 0, 'WITHSCORES') or {}
    local at = math.min(tonumber(first[2]) or math.huge, tonumber(limited[2]) or math.huge)
    if at < math.huge then out[2] = math.max(0, at - clock()) end
  end
  -- A worker woken by the marker that filled every free slot (or that moved
  -- due jobs in) passes the wake-up on when jobs are left, so other idle
  -- workers look at them; under a global concurrency, slots freed and not
  -- taken here are offered to the others. A marker passed on unused (asked
  -- for none: a wait that ended by its own timer took it late) may have
  -- announced a new earliest scheduled job: it goes back while any job is
  -- scheduled too.
  if ((rearm and #ids == plan.asked) or #due > 0) and (redis.call('LLEN', K.queued) > 0 or (plan.asked == 0 and o.scheduled)) then wake_up() end
  if o.control and (freed or 0) > #ids and flow_control().concurrency then wake_up() end
  return out
end
