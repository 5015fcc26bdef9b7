-- present(key, kind): whether an optional key exists, after checking it holds
-- the Redis type convoy-queue keeps there. Reading the type before the first
-- write means foreign data fails the script before it changes anything.
-- forget(o, ids): drop what is kept per job for these IDs (payload, options,
-- attempt and stall counts, debounce deadline), from the hashes optional() found.
-- optional(names): which of the named optional keys exist, each type-checked;
-- one EXISTS call when none does, so a queue that uses none of them pays next
-- to nothing (see GATES).
local function present(key, kind)
  local t = redis.call('TYPE', key)['ok']
  if t == 'none' then return false end
  if t ~= kind then
    return error({ err = 'WRONGTYPE ' .. key .. ' holds a ' .. t .. ', convoy-queue keeps a ' .. kind .. ' there' })
  end
  return true
end

local KINDS = {
  payload = 'hash', rerun = 'set', scheduled = 'zset', options = 'hash',
  attempts = 'hash', stalls = 'hash', progress = 'hash', prioritized = 'zset', control = 'hash',
  groups = 'zset', glimited = 'zset', gactive = 'hash', superseded = 'set', repeats = 'zset', deadline = 'hash',
}

-- Gates: one EXISTS over all the named keys, then one per group of keys that
-- tend to exist together, so a queue pays a TYPE only for the groups it uses:
-- per-job data, the lifecycle, the flow control places, the controls.
local GATES = {
  { 'payload', 'options' },
  { 'rerun', 'scheduled', 'attempts', 'stalls', 'progress', 'deadline', 'superseded' },
  { 'prioritized', 'groups', 'glimited', 'gactive' },
  { 'control', 'repeats' },
}

local function optional(names)
  local o, wanted, all = {}, {}, {}
  for _, name in ipairs(names) do
    wanted[name] = true
    all[#all + 1] = K[name]
  end
  if #all == 0 or redis.call('EXISTS', unpack(all)) == 0 then return o end
  for _, gate in ipairs(GATES) do
    local part, keys = {}, {}
    for _, name in ipairs(gate) do
      if wanted[name] then
        part[#part + 1] = name
        keys[#keys + 1] = K[name]
      end
    end
    -- a gate of one key: its TYPE is the gate
    if #keys == 1 or (#keys > 1 and redis.call('EXISTS', unpack(keys)) > 0) then
      for _, name in ipairs(part) do o[name] = present(K[name], KINDS[name]) end
    end
  end
  return o
end

-- The hashes that hold what is kept per job, beside its ID.
local KEPT = { 'payload', 'options', 'attempts', 'stalls', 'deadline' }

local function forget(o, ids)
  if #ids == 0 then return end
  for _, name in ipairs(KEPT) do
    if o[name] then redis.call('HDEL', K[name], unpack(ids)) end
  end
end

-- The Redis clock in ms, and the claim token (µs) of this script call: read
-- once, as one script call is one instant.
local clock_ms, clock_us
local function clock()
  if not clock_ms then
    local t = redis.call('TIME')
    clock_ms, clock_us = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), t[1] .. string.format('%06d', tonumber(t[2]))
  end
  return clock_ms, clock_us
end
