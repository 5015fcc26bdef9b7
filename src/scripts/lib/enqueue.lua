-- Where waiting IDs go, and the queue's flow control.
-- A job with a group waits in its group's list (`g:<group>`, taking turns with
-- the other groups through the groups zset); one with a priority above 0 in
-- the prioritized zset; every other job in the queued list.
-- flow_control(): the queue's control hash as a table (paused, until,
--   max/duration, concurrency, gconcurrency, gmax/gduration), read once per call.
-- enqueue_read(ids, opts): reads (type-checks) every key enqueue(ids) will
--   write and works out each ID's place from its options JSON (opts[i], or
--   read from the options hash when opts is nil). Call it before the script's
--   first write, for every ID the script will enqueue; calls add up. Returns
--   whether any of them go to the prioritized zset, and to a group.
-- enqueue(ids, head): put IDs in their places, at the tail (at the head with
--   `head`, keeping their order), and leave a wake-up marker for workers
--   blocked on the wake list when work appeared where there was none. The
--   marker is written in the same script as the push, so a worker that found
--   nothing and then blocks cannot miss the job.
-- group_end_read(ids, gactive) / group_end(groups): runs of these IDs end:
--   their groups run one fewer, and a group held back by its concurrency
--   takes turns again (gactive: whether that key exists, when the caller's
--   optional() looked already).
-- unqueue_read(ids) / unqueue(id): take a queued ID out of its waiting place.
-- KEYS: queued wake options prioritized sequence groups gactive glimited control
-- Keeps: an ID is in exactly one of these places while it waits.

-- A group's turn while it may not start a job (at its concurrency or rate limit).
local BLOCKED = 2 ^ 52
-- scores above 14 digits go to Redis as exact integers (Lua's tostring rounds them)
local function exact(x) return string.format('%.0f', x) end
-- prioritized score: priority × PRIO + MID ± sequence (head: minus), so equal
-- priorities keep their order; exact below 2^53 for 2^32 prioritized adds.
local PRIO, MID = 2 ^ 33, 2 ^ 32
local GROUP_BASE = string.sub(K.groups, 1, -7)
local places, control = {}, nil

-- The sequence is a plain integer string: INCR would fail on anything else
-- halfway through a script, so it is checked before the first write.
local function sequence_read()
  present(K.sequence, 'string')
  local v = redis.call('GET', K.sequence)
  if v and not string.match(v, '^%-?%d+$') then
    return error({ err = 'WRONGTYPE ' .. K.sequence .. ' holds a string that is not a sequence number' })
  end
end

local function group_list(g) return GROUP_BASE .. 'g:' .. g end
local function group_window(g) return GROUP_BASE .. 'gw:' .. g end

local function flow_control()
  if control then return control end
  control = {}
  if present(K.control, 'hash') then
    local raw = redis.call('HGETALL', K.control)
    for i = 1, #raw, 2 do control[raw[i]] = tonumber(raw[i + 1]) end
  end
  return control
end

local function wake_up()
  -- paused workers wait for resume(), which leaves its own markers
  if control and control.paused == 1 then return end
  if redis.call('LLEN', K.wake) == 0 then redis.call('RPUSH', K.wake, '1') end
end

-- A job's place from its options JSON: nil (the queued list), {group} or {priority}.
local function place_of(json)
  if not json or (not string.find(json, '"group"', 1, true) and not string.find(json, '"priority"', 1, true)) then return nil end
  local ok, o = pcall(cjson.decode, json)
  if not ok or type(o) ~= 'table' then return nil end
  if type(o.group) == 'string' then return { group = o.group } end
  local p = tonumber(o.priority)
  if p and p > 0 then return { priority = math.floor(p) } end
  return nil
end

local groups_read = false
local function group_keys_read(groups)
  if not groups_read then
    groups_read = true
    present(K.groups, 'zset')
    present(K.gactive, 'hash')
    present(K.glimited, 'zset')
    sequence_read()
    flow_control()
  end
  for _, g in ipairs(groups) do
    present(group_list(g), 'list')
    present(group_window(g), 'zset')
  end
end

local function enqueue_read(ids, opts)
  -- nothing to enqueue: nothing to read (nil: check the base keys all the same)
  if ids and #ids == 0 then return end
  redis.call('LLEN', K.wake)
  redis.call('LLEN', K.queued)
  if not ids then return end
  if not opts then
    if not present(K.options, 'hash') then return end
    opts = redis.call('HMGET', K.options, unpack(ids))
  end
  local prioritized, groups = false, {}
  for i, id in ipairs(ids) do
    local place = place_of(opts[i] or nil)
    places[id] = place
    if place and place.group then groups[#groups + 1] = place.group elseif place then prioritized = true end
  end
  if prioritized then
    present(K.prioritized, 'zset')
    sequence_read()
  end
  if #groups > 0 then group_keys_read(groups) end
  return prioritized, #groups > 0
end

-- Whether a group may start a job now: under its concurrency, not rate limited.
local function group_free(g)
  local c = flow_control()
  if c.gconcurrency and (tonumber(redis.call('HGET', K.gactive, g)) or 0) >= c.gconcurrency then return false end
  return not redis.call('ZSCORE', K.glimited, g)
end

-- A group with waiting jobs takes its turn after the others (or waits, blocked).
-- Returns whether it may start a job now.
local function group_turn(g)
  local free = group_free(g)
  redis.call('ZADD', K.groups, free and redis.call('INCR', K.sequence) or exact(BLOCKED), g)
  return free
end

local function enqueue(ids, head)
  if #ids == 0 then return end
  local plain, woken = {}, false
  local from, to, step = 1, #ids, 1
  -- at the head, the last ID goes first so the first ends up in front
  if head then from, to, step = #ids, 1, -1 end
  for i = from, to, step do
    local id = ids[i]
    local place = places[id]
    if not place then
      plain[#plain + 1] = id
    elseif place.group then
      local list = group_list(place.group)
      redis.call(head and 'LPUSH' or 'RPUSH', list, id)
      if not redis.call('ZSCORE', K.groups, place.group) and group_turn(place.group) then woken = true end
    else
      local s = redis.call('INCR', K.sequence)
      if redis.call('ZCARD', K.prioritized) == 0 then woken = true end
      redis.call('ZADD', K.prioritized, exact(place.priority * PRIO + (head and MID - s or MID + s)), id)
    end
  end
  if #plain > 0 then
    if redis.call('LLEN', K.queued) == 0 then woken = true end
    redis.call(head and 'LPUSH' or 'RPUSH', K.queued, unpack(plain))
  end
  if woken then wake_up() end
end

-- Runs that end: read which of them belong to a group (only when some group runs).
local function group_end_read(ids, gactive)
  if gactive == nil then gactive = #ids > 0 and present(K.gactive, 'hash') end
  if #ids == 0 or not gactive then return {} end
  local opts = present(K.options, 'hash') and redis.call('HMGET', K.options, unpack(ids)) or {}
  local groups = {}
  for i = 1, #ids do
    local place = place_of(opts[i] or nil)
    if place and place.group then groups[#groups + 1] = place.group end
  end
  if #groups > 0 then group_keys_read(groups) end
  return groups
end

local function group_end(groups)
  for _, g in ipairs(groups) do
    if redis.call('HINCRBY', K.gactive, g, -1) <= 0 then redis.call('HDEL', K.gactive, g) end
    if tonumber(redis.call('ZSCORE', K.groups, g)) == BLOCKED and group_free(g) then
      group_turn(g)
      wake_up()
    end
  end
end

-- Take a queued ID out of its waiting place (unqueue_read first): the
-- prioritized zset, its group's list, or the queued list (LREM: O(length)).
local leaving_group = {}

local function unqueue_read(ids)
  present(K.prioritized, 'zset')
  local opts = present(K.options, 'hash') and redis.call('HMGET', K.options, unpack(ids)) or {}
  local groups = {}
  for i, id in ipairs(ids) do
    local place = place_of(opts[i] or nil)
    if place and place.group then
      leaving_group[id] = place.group
      groups[#groups + 1] = place.group
    end
  end
  if #groups > 0 then group_keys_read(groups) end
end

local function unqueue(id)
  local g = leaving_group[id]
  if g then
    local list = group_list(g)
    redis.call('LREM', list, 0, id)
    if redis.call('LLEN', list) == 0 then redis.call('ZREM', K.groups, g) end
  elseif redis.call('ZREM', K.prioritized, id) == 0 then
    redis.call('LREM', K.queued, 0, id)
  end
end
