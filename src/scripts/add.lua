-- add: publish job IDs. An ID that is not committed joins the committed set and
-- the tail of the queued list in one step; a committed one is left where it is.
-- KEYS: queued committed processing payload rerun failed failinfo wake
-- ARGV: mode ('ignore' | 'rerun'), n, the n ids, then pairs (i, payload JSON)
--       for the ids that carry a payload (most carry none: fewer arguments)
-- INCLUDE: enqueue
-- Returns one code per ID, as a string: '0' queued, '1' committed (already
-- waiting, or earlier in this same call), '2' processing (for mode 'rerun': it
-- will run once more after).
-- Keeps: an ID enters queued exactly when it enters committed, so it is never
-- twice in the list nor both queued and processing. Every key is read before
-- the first write, so data of the wrong type fails the call before it changes
-- anything.
local n = tonumber(ARGV[2])
local ids, payloads = {}, {}
for i = 1, n do
  ids[i] = ARGV[2 + i]
  payloads[i] = ''
end
for j = 3 + n, #ARGV, 2 do
  payloads[tonumber(ARGV[j])] = ARGV[j + 1]
end
local member = redis.call('SMISMEMBER', K.committed, unpack(ids))

local codes, fresh, payloadOf, old, oldAt = {}, {}, {}, {}, {}
for i, id in ipairs(ids) do
  if member[i] == 1 then
    old[#old + 1] = id
    oldAt[#old] = i
  elseif payloadOf[id] then
    codes[i] = '1'
  else
    codes[i] = '0'
    fresh[#fresh + 1] = id
    payloadOf[id] = payloads[i]
  end
end

local reruns = {}
if #old > 0 then
  local scores = redis.call('ZMSCORE', K.processing, unpack(old))
  for j, id in ipairs(old) do
    local i = oldAt[j]
    if scores[j] then
      codes[i] = '2'
      if ARGV[1] == 'rerun' then reruns[#reruns + 1] = i end
    else
      codes[i] = '1'
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
local withPayload = #reruns > 0 or #refailed > 0
for _, id in ipairs(fresh) do
  if payloadOf[id] ~= '' then withPayload = true end
end
if withPayload then redis.call('HLEN', K.payload) end
if #reruns > 0 then redis.call('SCARD', K.rerun) end
local len = enqueue_read()

-- Writes: every key below has been read above.
enqueue(fresh, len)
if #fresh > 0 then redis.call('SADD', K.committed, unpack(fresh)) end
for _, id in ipairs(fresh) do
  if payloadOf[id] ~= '' then redis.call('HSET', K.payload, id, payloadOf[id]) end
end
if #refailed > 0 then
  redis.call('ZREM', K.failed, unpack(refailed))
  redis.call('HDEL', K.failinfo, unpack(refailed))
  -- the payload kept for inspection goes too, unless this add brought one
  for _, id in ipairs(refailed) do
    if payloadOf[id] == '' then redis.call('HDEL', K.payload, id) end
  end
end
for _, i in ipairs(reruns) do
  redis.call('SADD', K.rerun, ids[i])
  if payloads[i] ~= '' then redis.call('HSET', K.payload, ids[i], payloads[i]) end
end
return table.concat(codes)
